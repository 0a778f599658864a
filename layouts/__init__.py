"""Dash pages and their shared parts. Pages call ``ioc`` queries and services, never the database."""
