"""The REST API under /api/v1 (bearer tokens or a signed-in session) and /healthz.

``rest`` is the frame (the OpenAPI server, the blueprint, authentication, JSON errors); the route
modules declare their endpoints on its blueprint when imported, reads first, so the document
lists them in that order.
"""

from ioc.web import action_routes, read_routes  # noqa: F401  (they register their endpoints)
from ioc.web.rest import install, make_server

__all__ = ["install", "make_server"]
