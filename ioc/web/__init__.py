"""The web server's own parts beside the pages: the REST API and sign-in."""
