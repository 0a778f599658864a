"""The REST API's read endpoints: incidents, alerts, units, work orders, feeds."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ioc.read import health, lists
from ioc.web import schemas as S
from ioc.web.rest import CityTime, CommaList, Id, Limit, Offset, actor, bp, runtime


class IncidentQuery(BaseModel):
    status: CommaList = Field(None, description="comma list: new, acknowledged, dispatched, on_scene, resolved, "
                                                "closed, cancelled, fused")
    category: CommaList = Field(None, description="comma list of categories")
    priority: CommaList = Field(None, description="comma list: P1..P4")
    division: CommaList = Field(None, description="comma list of division codes")
    org: CommaList = Field(None, description="comma list of org codes")
    since: CityTime = Field(None, description="reported at or after (ISO 8601)")
    until: CityTime = Field(None, description="reported before (ISO 8601)")
    q: str | None = Field(None, description="text in title, description or address, or an external id")
    include_linked: bool = Field(False, description="true: linked (fused) reports too, each with its incident's "
                                                    "parent_id")
    limit: Limit = None
    after: str | None = Field(None, max_length=80, description="the next value of the page before: continue "
                                                               "from there (every page as fast as the first)")
    offset: Offset = Field(None, description="rows to skip (small skips; prefer after)")


class IncidentPath(BaseModel):
    incident_id: Id = Field(description="incident id")


class AlertQuery(BaseModel):
    active: bool = Field(False, description="true (or 1) for warnings in force only")
    limit: Limit = None


class UnitQuery(BaseModel):
    status: CommaList = Field(None, description="comma list of CAD statuses")
    type: CommaList = Field(None, description="comma list of unit types")
    org: CommaList = Field(None, description="comma list of org codes")


class WorkOrderQuery(BaseModel):
    status: CommaList = Field(None, description="comma list")
    org: CommaList = Field(None, description="comma list of org codes")
    limit: Limit = None
    offset: Offset = None


@bp.get("/incidents", responses=S.answers(S.IncidentPage, 400),
        summary="Incidents, newest first, filtered and paged (total counted up to 10,000; total_more when there "
                "are more)")
def get_incidents(query: IncidentQuery):
    filters = lists.IncidentFilter(status=query.status, category=query.category, priority=query.priority,
                                   division=query.division, org=query.org, since=query.since, until=query.until,
                                   q=query.q or None, include_linked=query.include_linked)
    return lists.incidents(runtime().engine, filters, query.limit, query.offset, query.after)


@bp.get("/incidents/<int:incident_id>", responses=S.answers(S.IncidentDetail, 404),
        summary="One incident with timeline, work orders, assignments, linked reports")
def get_incident(path: IncidentPath):
    return lists.incident_detail(runtime().engine, path.incident_id)


@bp.get("/alerts", responses=S.answers(S.items(S.Alert), 400), summary="CAP warnings; ?active=1 for those in force")
def get_alerts(query: AlertQuery):
    return {"items": lists.alerts(runtime().engine, active_only=query.active, limit=query.limit)}


@bp.get("/units", responses=S.answers(S.items(S.Unit)), summary="Units with status and position")
def get_units(query: UnitQuery):
    return {"items": lists.units(runtime().engine, query.status, query.type, query.org)}


@bp.get("/work-orders", responses=S.answers(S.WorkOrderPage, 400),
        summary="Work orders (a handler sees its own org's only)")
def get_work_orders(query: WorkOrderQuery):
    return lists.work_orders(runtime().engine, actor(), query.status, query.org, query.limit, query.offset)


@bp.get("/feeds", responses=S.answers(S.items(S.Feed)), summary="Every feed with its state")
def get_feeds():
    rt = runtime()
    return {"items": [{
        "name": f.name, "kind": f.kind, "enabled": f.enabled, "status": f.status or "never_polled",
        "last_success_at": f.last_success_at,
        "consecutive_failures": f.failures, "last_error": f.last_error, "lag_seconds": f.lag_seconds,
        "counts": f.counts,
    } for f in health.feed_health(rt.engine, rt.feeds)]}
