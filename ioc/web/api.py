"""The REST API under /api/v1 (bearer tokens or a signed-in session) and /healthz.

``rest`` is the frame (declared endpoints, parameters, JSON errors, the OpenAPI document); the
route modules declare the endpoints on it when imported, reads first, so the document lists them
in that order.
"""

from ioc.web import action_routes, read_routes  # noqa: F401  (they register their endpoints)
from ioc.web.rest import install

__all__ = ["install"]
