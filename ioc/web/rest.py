"""The REST API (JSON, bearer tokens) on the same server as the pages: /api/v1/... and /healthz.

The web app's Flask server is a flask-openapi3 ``OpenAPI`` app (``make_server``); the route
modules declare their endpoints on ``bp``, an ``APIBlueprint``, with pydantic models for the
path, the query and the body. So the OpenAPI document (/api/v1/openapi.json) is made from the
routes themselves and carries their schemas (requests here and in the routes, responses in
``ioc.web.schemas``), and a request that does not fit its model is answered 422 with the
reasons, before the view runs. Every endpoint on ``bp`` needs a bearer
token or a signed-in session, checked before the request is even read. Errors are JSON
``{"error": message}``, never HTML.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from flask import current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user
from flask_openapi3 import APIBlueprint, Info, OpenAPI
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError
from werkzeug.exceptions import HTTPException

from ioc.chain.accounts import actor_for_token
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Conflict, Forbidden, InvalidTransition, NotFound, UserError
from ioc.read import health
from ioc.runtime import RUNTIME_KEY, Runtime
from ioc.web.schemas import Invalid

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer"}}


bp = APIBlueprint("api", __name__, url_prefix=PREFIX, abp_security=[{"bearer": []}])


class Unauthorized(UserError):
    pass


def make_server(import_name: str) -> OpenAPI:
    """The Flask server Dash runs on: an OpenAPI app whose document the API routes feed."""
    server = OpenAPI(import_name, info=Info(title="City IOC API", version="1"), security_schemes=SECURITY_SCHEMES,
                     doc_ui=False, validation_error_model=Invalid, validation_error_callback=_invalid)
    server.json = CityJSON(server)
    return server


def install(server: OpenAPI) -> None:
    """Add the API, its document and /healthz to the web app's server (``make_server``'s)."""
    server.register_api(bp)
    server.add_url_rule(f"{PREFIX}/openapi.json", "openapi_json", lambda: jsonify(server.api_doc))
    server.add_url_rule("/healthz", "healthz", _healthz)
    # Without this, the pages' catch-all route would answer an unknown API path with HTML.
    server.add_url_rule("/api/<path:rest>", "api_unknown", _unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


class CityJSON(DefaultJSONProvider):
    """JSON whose times are ISO 8601 in the city's timezone (not Flask's HTTP-date default)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.astimezone(runtime().pack.timezone).isoformat()
        return super().default(o)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("ensure_ascii", False)
        return super().dumps(obj, **kwargs)


def runtime() -> Runtime:
    return current_app.config[RUNTIME_KEY]


def actor() -> Actor:
    """Who sent this request (``_authenticate`` found out before the view ran)."""
    return g.api_actor


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        found = actor_for_token(runtime().engine, header[len("Bearer "):].strip())
        if found is None:
            raise Unauthorized("the bearer token is unknown or revoked")
        g.api_actor = found
    elif current_user and current_user.is_authenticated:
        g.api_actor = current_user.actor
    else:
        raise Unauthorized("send Authorization: Bearer TOKEN (create one with `python -m ioc tokens create --user NAME`)")


# --- the parts of the models the routes share -----------------------------------------------------


def _comma_list(value: Any) -> list[str] | None:
    """A filter given as ?x=a,b or ?x=a&x=b."""
    if value is None:
        return None
    raw = value if isinstance(value, list) else [value]
    items = [part.strip() for one in raw for part in str(one).split(",") if part.strip()]
    return items or None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _city_time(value: datetime | None) -> datetime | None:
    """A time without an offset is the city's time; the year must leave room for any offset."""
    if value is None:
        return None
    if not 1900 <= value.year <= 9000:
        raise ValueError("must be a time between the years 1900 and 9000")
    return value if value.tzinfo else value.replace(tzinfo=runtime().pack.timezone)


CommaList = Annotated[list[str] | None, BeforeValidator(_comma_list)]
Text = Annotated[str, AfterValidator(_not_blank)]
CityTime = Annotated[datetime | None, AfterValidator(_city_time),
                     Field(description="ISO 8601, e.g. 2026-07-01T08:00:00+08:00 (no offset: the city's time)")]
When = Annotated[datetime, AfterValidator(_city_time), Field(description="ISO 8601, e.g. 2026-07-01T08:00:00+08:00")]
# Whole numbers that reach the store fit its INTEGER columns (a larger one is no row, not an overflow).
MAX_INT = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Limit = Annotated[int | None, Field(ge=1, le=1000, description="page size (1-1000, default 100)")]
Offset = Annotated[int | None, Field(ge=0, le=MAX_INT, description="rows to skip")]
Version = Annotated[int | None, Field(ge=1, le=MAX_INT,
                                      description="the version you last saw (a stale one is refused with 409)")]


class Versioned(BaseModel):
    version: Version = None


# --- errors: JSON with a message, whatever went wrong ----------------------------------------------

STATUS = ((Unauthorized, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409), (InvalidTransition, 409),
          (ActionRefused, 400), (UserError, 400))


def _invalid(exc: ValidationError):
    """422 with one line naming each field and what is wrong with it, and pydantic's details."""
    errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    line = "; ".join(f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in errors)
    response = jsonify({"error": line, "errors": errors})
    response.status_code = 422
    return response


@bp.errorhandler(UserError)
def _user_error(exc: UserError):
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    return jsonify({"error": str(exc)}), status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.response is not None:  # flask-openapi3's 422, already JSON
        return exc.response
    if exc.code == 405:
        return jsonify({"error": f"{request.method} is not allowed on {request.path}"}), 405
    return jsonify({"error": exc.description}), exc.code


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("API error on %s", request.path)
    return jsonify({"error": "internal error; the server log has the details"}), 500


def _unknown(rest: str):
    return jsonify({"error": f"/api/{rest} does not exist; see {PREFIX}/openapi.json"}), 404


def _healthz():
    """Liveness and store reachability, for load balancers (no auth)."""
    problem = health.store_problem(runtime().engine)
    if problem:
        return jsonify({"status": "error", "store": problem}), 503
    return jsonify({"status": "ok", "city": runtime().pack.name})
