"""The REST API's read endpoints: incidents, alerts, units, work orders, feeds, the OpenAPI document."""

from __future__ import annotations

from flask import request

from ioc.chain.actions import Actor
from ioc.errors import NotFound
from ioc.read import health, lists
from ioc.web.rest import Param, arg_int, arg_list, arg_time, endpoint, openapi_document, runtime

INCIDENT_PARAMS = (
    Param("status", "comma list: new, acknowledged, dispatched, on_scene, resolved, closed, cancelled, fused"),
    Param("category", "comma list of categories"), Param("priority", "comma list: P1..P4"),
    Param("division", "comma list of division codes"), Param("org", "comma list of org codes"),
    Param("since", "reported at or after (ISO 8601)"), Param("until", "reported before (ISO 8601)"),
    Param("q", "text in title, description or address, or an external id"),
    Param("limit", "page size (1-1000, default 100)", "integer"),
    Param("after", "the next value of the page before: continue from there (every page as fast as the first)"),
    Param("offset", "rows to skip (small skips; prefer after)", "integer"),
)


def incident_filter() -> lists.IncidentFilter:
    return lists.IncidentFilter(status=arg_list("status"), category=arg_list("category"),
                                priority=arg_list("priority"), division=arg_list("division"), org=arg_list("org"),
                                since=arg_time("since"), until=arg_time("until"), q=request.args.get("q") or None)


@endpoint("GET", "/incidents", "Incidents, newest first, filtered and paged (total counted up to 10,000; "
          "total_more when there are more)", INCIDENT_PARAMS)
def get_incidents(actor: Actor):
    return lists.incidents(runtime().engine, incident_filter(), arg_int("limit"), arg_int("offset"),
                           request.args.get("after") or None)


@endpoint("GET", "/incidents/{incident_id}", "One incident with timeline, work orders, assignments, linked reports",
          (Param("incident_id", "incident id", "integer", True, "path"),))
def get_incident(actor: Actor, incident_id: str):
    return lists.incident_detail(runtime().engine, _int_path(incident_id, "incident id"))


@endpoint("GET", "/alerts", "CAP warnings; ?active=1 for those in force",
          (Param("active", "1 for warnings in force only"), Param("limit", "max rows", "integer")))
def get_alerts(actor: Actor):
    return {"items": lists.alerts(runtime().engine, active_only=request.args.get("active") in ("1", "true"),
                                  limit=arg_int("limit"))}


@endpoint("GET", "/units", "Units with status and position",
          (Param("status", "comma list of CAD statuses"), Param("type", "comma list of unit types"),
           Param("org", "comma list of org codes")))
def get_units(actor: Actor):
    return {"items": lists.units(runtime().engine, arg_list("status"), arg_list("type"), arg_list("org"))}


@endpoint("GET", "/work-orders", "Work orders (a handler sees its own org's only)",
          (Param("status", "comma list"), Param("org", "comma list of org codes"),
           Param("limit", "page size", "integer"), Param("offset", "rows to skip", "integer")))
def get_work_orders(actor: Actor):
    return lists.work_orders(runtime().engine, actor, arg_list("status"), arg_list("org"),
                             arg_int("limit"), arg_int("offset"))


@endpoint("GET", "/feeds", "Every feed with its state")
def get_feeds(actor: Actor):
    rt = runtime()
    return {"items": [{
        "name": f.name, "kind": f.kind, "enabled": f.enabled, "status": f.status or "never_polled",
        "last_success_at": f.last_success_at.isoformat() if f.last_success_at else None,
        "consecutive_failures": f.failures, "last_error": f.last_error, "lag_seconds": f.lag_seconds,
        "counts": f.counts,
    } for f in health.feed_health(rt.engine, rt.feeds)]}


@endpoint("GET", "/openapi.json", "This document", auth=False)
def get_openapi():
    return openapi_document()


def _int_path(raw: str, what: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise NotFound(f"{what} {raw!r} does not exist") from None


