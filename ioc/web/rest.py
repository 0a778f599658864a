"""The REST API (JSON, bearer tokens) on the same server as the pages: /api/v1/... and /healthz.

Endpoints are declared with ``@endpoint``, which also feeds the OpenAPI document, so the
document cannot drift from the routes. Errors are JSON ``{"error": message}``, never HTML.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user

from ioc.chain.accounts import actor_for_token
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Conflict, Forbidden, InvalidTransition, NotFound, UserError
from ioc.read import health
from ioc.runtime import RUNTIME_KEY, Runtime

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__)
PREFIX = "/api/v1"


@dataclass
class Param:
    name: str
    description: str
    type: str = "string"
    required: bool = False
    where: str = "query"


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    params: list[Param] = field(default_factory=list)
    body: dict[str, str] | None = None


ENDPOINTS: list[Endpoint] = []


class Unauthorized(UserError):
    pass


def endpoint(method: str, path: str, summary: str, params: tuple[Param, ...] = (),
             body: dict[str, str] | None = None, auth: bool = True) -> Callable:
    """Register a route under /api/v1 and describe it for the OpenAPI document."""
    ENDPOINTS.append(Endpoint(method, PREFIX + path, summary, list(params), body))

    def wrap(fn: Callable) -> Callable:
        def view(**kwargs: Any) -> Response:
            actor = _actor() if auth else None
            result = fn(actor, **kwargs) if auth else fn(**kwargs)
            return result if isinstance(result, Response) else jsonify(result)

        # A unique endpoint name per route, even for views made in a loop.
        view.__name__ = method.lower() + re.sub(r"[^a-z0-9]+", "_", path.lower())
        flask_path = PREFIX + path.replace("{", "<").replace("}", ">")
        bp.add_url_rule(flask_path, view_func=view, methods=[method])
        return fn

    return wrap


class CityJSON(DefaultJSONProvider):
    """JSON whose times are ISO 8601 in the city's timezone (not Flask's HTTP-date default)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.astimezone(runtime().pack.timezone).isoformat()
        return super().default(o)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("ensure_ascii", False)
        return super().dumps(obj, **kwargs)


def install(server: Flask) -> None:
    """Add the API (and /healthz) to the web app's Flask server."""
    server.json = CityJSON(server)
    server.register_blueprint(bp)


def runtime() -> Runtime:
    return current_app.config[RUNTIME_KEY]


def _actor() -> Actor:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        actor = actor_for_token(runtime().engine, header[len("Bearer "):].strip())
        if actor is None:
            raise Unauthorized("the bearer token is unknown or revoked")
        return actor
    if current_user and current_user.is_authenticated:
        return current_user.actor
    raise Unauthorized("send Authorization: Bearer TOKEN (create one with `python -m ioc tokens create --user NAME`)")


# --- errors: JSON with a message, whatever went wrong ----------------------------------------------

STATUS = ((Unauthorized, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409), (InvalidTransition, 409),
          (ActionRefused, 400), (UserError, 400))


@bp.errorhandler(UserError)
def _user_error(exc: UserError):
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    return jsonify({"error": str(exc)}), status


@bp.errorhandler(404)
def _no_route(_exc):
    return jsonify({"error": f"no endpoint {request.path}; see {PREFIX}/openapi.json"}), 404


@bp.errorhandler(405)
def _bad_method(_exc):
    return jsonify({"error": f"{request.method} is not allowed on {request.path}"}), 405


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("API error on %s", request.path)
    return jsonify({"error": "internal error; the server log has the details"}), 500


# --- parameters ---------------------------------------------------------------------------------------


def arg_list(name: str) -> list[str] | None:
    """A filter given as ?x=a,b or ?x=a&x=b."""
    values = [v for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]
    return [v.strip() for v in values] or None


def arg_int(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"{name} must be a whole number, not {raw!r}") from None


def arg_time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name} must be an ISO 8601 time such as 2026-07-01T08:00:00+08:00, not {raw!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=runtime().pack.timezone)
    return value


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise UserError("send a JSON object body with Content-Type: application/json")
    return data


@bp.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def _unknown(rest: str):
    # Without this, the pages' catch-all route would answer an unknown API path with HTML.
    return jsonify({"error": f"no endpoint /api/{rest}; see {PREFIX}/openapi.json"}), 404


@bp.route("/healthz")
def healthz():
    """Liveness and store reachability, for load balancers (no auth)."""
    problem = health.store_problem(runtime().engine)
    if problem:
        return jsonify({"status": "error", "store": problem}), 503
    return jsonify({"status": "ok", "city": runtime().pack.name})


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "parameters": [{"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                            "description": p.description, "schema": {"type": p.type}} for p in ep.params],
            "responses": {"200": {"description": "JSON"}, "4XX": {"description": "JSON {\"error\": message}"}},
        }
        if ep.body:
            op["requestBody"] = {"content": {"application/json": {"schema": {
                "type": "object", "properties": {k: {"type": "string", "description": v} for k, v in ep.body.items()}}}}}
        if not ep.path.endswith("openapi.json"):
            op["security"] = [{"bearer": []}]
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "City IOC API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }

