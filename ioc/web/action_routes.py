"""The API's action endpoints: every write goes through the same service function as the pages.

Each takes a JSON body (a pydantic model: a body that does not fit gets 422 with the reasons);
``version`` is the version the caller last saw (a stale one gets 409 with a message to reload).
Roles are checked inside the services, whatever the caller is.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from ioc.chain import dispatch, major_events, workflow, workorders
from ioc.errors import UserError
from ioc.read import kpi, lists
from ioc.web import schemas as S
from ioc.web.rest import CityTime, CommaList, Id, Limit, Offset, Text, Version, Versioned, When, actor, bp, runtime


class IncidentPath(BaseModel):
    incident_id: Id = Field(description="incident id")


class OrderPath(BaseModel):
    order_id: Id = Field(description="work order id")


class AssignmentPath(BaseModel):
    assignment_id: Id = Field(description="assignment id")


class EventPath(BaseModel):
    event_id: Id = Field(description="event id")


class Note(Versioned):
    note: str = ""


class Reason(Versioned):
    reason: Text


class Merge(Versioned):
    into: Id = Field(description="the incident to merge into")
    into_version: Version = None


class Verdict(Versioned):
    value: Literal["satisfied", "basically_satisfied", "dissatisfied", "unresolved"]


class Dispatch(Versioned):
    units: list[str] = Field(min_length=1, description="unit ids")


class AssignmentStatus(Versioned):
    status: Text = Field(description="EN_ROUTE, ON_SCENE or CLEARED")


class NewWorkOrders(Versioned):
    orgs: list[str] = Field(min_length=1, description="org codes")
    due_at: CityTime = None
    note: str = ""


class Extension(Versioned):
    until: When
    reason: Text


class Feedback(Versioned):
    text: Text
    photo_url: str | None = Field(None, description="http(s) URL of a photo (optional)")


class OrderVerdict(Versioned):
    value: Text


class NewEvent(BaseModel):
    name: Text
    kind: Text = Field(description="typhoon, flood, ...")
    started_at: When
    ended_at: CityTime = None
    categories: list[str] = []
    district_codes: list[str] = []
    area: dict[str, Any] | None = Field(None, description="GeoJSON polygon (optional)")


class KpiQuery(BaseModel):
    from_: CityTime = Field(None, alias="from", description="start (ISO 8601; default 24 h before the end)")
    to: CityTime = Field(None, description="end (ISO 8601; default now)")
    by: Literal["division", "category", "channel", "org", "priority", "hour"] | None = None


class EventIncidentQuery(BaseModel):
    status: CommaList = Field(None, description="comma list")
    category: CommaList = Field(None, description="comma list")
    priority: CommaList = Field(None, description="comma list")
    division: CommaList = Field(None, description="comma list")
    limit: Limit = None
    offset: Offset = None


def _incident(incident: Any) -> dict[str, Any]:
    return lists.as_dict(incident, lists.INCIDENT_FIELDS)


def _order(order: Any) -> dict[str, Any]:
    return lists.as_dict(order, lists.WORK_ORDER_FIELDS)


# --- incident lifecycle ------------------------------------------------------------------------

INCIDENT = "/incidents/<int:incident_id>"
# A write may be refused as asked (400), for the role (403) or a stale version (409), on an id that is no row (404).
WRITE = (400, 403, 404, 409)
WRITE_INCIDENT = S.answers(S.Incident, *WRITE)
WRITE_ORDER = S.answers(S.WorkOrder, *WRITE)


@bp.post(f"{INCIDENT}/verify", responses=WRITE_INCIDENT, summary="Incident step: verify")
def incident_verify(path: IncidentPath, body: Versioned):
    return _incident(workflow.verify(runtime().engine, actor(), path.incident_id, body.version))


@bp.post(f"{INCIDENT}/acknowledge", responses=WRITE_INCIDENT, summary="Incident step: acknowledge")
def incident_acknowledge(path: IncidentPath, body: Versioned):
    return _incident(workflow.acknowledge(runtime().engine, actor(), path.incident_id, body.version))


@bp.post(f"{INCIDENT}/on-scene", responses=WRITE_INCIDENT, summary="Incident step: on scene")
def incident_on_scene(path: IncidentPath, body: Versioned):
    return _incident(workflow.mark_on_scene(runtime().engine, actor(), path.incident_id, body.version))


@bp.post(f"{INCIDENT}/resolve", responses=WRITE_INCIDENT, summary="Resolve (with an optional note)")
def incident_resolve(path: IncidentPath, body: Note):
    return _incident(workflow.resolve(runtime().engine, actor(), path.incident_id, body.version, note=body.note))


@bp.post(f"{INCIDENT}/close", responses=WRITE_INCIDENT, summary="Close")
def incident_close(path: IncidentPath, body: Note):
    return _incident(workflow.close(runtime().engine, actor(), path.incident_id, body.version, note=body.note))


@bp.post(f"{INCIDENT}/cancel", responses=WRITE_INCIDENT, summary="Cancel (false report); reason required")
def incident_cancel(path: IncidentPath, body: Reason):
    return _incident(workflow.cancel(runtime().engine, actor(), path.incident_id, body.version, body.reason))


@bp.post(f"{INCIDENT}/reopen", responses=WRITE_INCIDENT, summary="Reopen a resolved incident; reason required")
def incident_reopen(path: IncidentPath, body: Reason):
    return _incident(workflow.reopen(runtime().engine, actor(), path.incident_id, body.version, body.reason))


@bp.post(f"{INCIDENT}/merge", responses=S.answers(S.Merged, *WRITE), summary="Merge this incident into another")
def incident_merge(path: IncidentPath, body: Merge):
    child, parent = workflow.merge(runtime().engine, actor(), path.incident_id, body.into, body.version,
                                   body.into_version)
    return {"merged": _incident(child), "into": _incident(parent)}


@bp.post(f"{INCIDENT}/split", responses=WRITE_INCIDENT, summary="Split a linked report off its incident")
def incident_split(path: IncidentPath, body: Versioned):
    return _incident(workflow.split(runtime().engine, actor(), path.incident_id, body.version))


@bp.post(f"{INCIDENT}/satisfaction", responses=WRITE_INCIDENT, summary="The citizen's verdict after closing")
def incident_satisfaction(path: IncidentPath, body: Verdict):
    return _incident(workflow.record_satisfaction(runtime().engine, actor(), path.incident_id, body.version,
                                                  body.value))


# --- units --------------------------------------------------------------------------------------


@bp.get(f"{INCIDENT}/recommendations", responses=S.answers(S.items(S.Recommendation), 400, 404),
        summary="Units to send, with ETA and coverage left")
def incident_recommendations(path: IncidentPath):
    rt = runtime()
    recs = dispatch.recommend(rt.engine, path.incident_id, rules=dispatch.load_dispatch_rules(rt.pack.path))
    return {"items": [asdict(r) for r in recs]}


@bp.post(f"{INCIDENT}/dispatch", responses=S.answers(S.Assignments, *WRITE),
         summary="Send units (assignments and agency orders in one go)")
def incident_dispatch(path: IncidentPath, body: Dispatch):
    assignments = dispatch.dispatch(runtime().engine, actor(), path.incident_id, body.units, seen_version=body.version)
    fields = ("id", "incident_id", "unit_id", "status", "dispatched_at", "version")
    return {"assignments": [lists.as_dict(a, fields) for a in assignments]}


@bp.post("/assignments/<int:assignment_id>/status", responses=S.answers(S.Assignment, *WRITE),
         summary="A unit's progress: EN_ROUTE, ON_SCENE, CLEARED")
def assignment_status(path: AssignmentPath, body: AssignmentStatus):
    a = dispatch.update_assignment_status(runtime().engine, actor(), path.assignment_id, body.status,
                                          seen_version=body.version)
    return lists.as_dict(a, ("id", "incident_id", "unit_id", "status", "dispatched_at", "en_route_at", "on_scene_at",
                             "cleared_at", "version"))


# --- work orders ----------------------------------------------------------------------------------


@bp.post(f"{INCIDENT}/work-orders", responses=S.answers(S.items(S.WorkOrder), *WRITE),
         summary="Hand the incident to orgs (交办)")
def work_orders_create(path: IncidentPath, body: NewWorkOrders):
    rt = runtime()
    made = workorders.create(rt.engine, actor(), path.incident_id, body.orgs, body.due_at, body.note, pack=rt.pack,
                             seen_version=body.version)
    return {"items": [_order(o) for o in made]}


ORDER = "/work-orders/<int:order_id>"


@bp.post(f"{ORDER}/accept", responses=WRITE_ORDER, summary="签收: take the order on")
def order_accept(path: OrderPath, body: Versioned):
    return _order(workorders.accept(runtime().engine, actor(), path.order_id, body.version))


@bp.post(f"{ORDER}/return", responses=WRITE_ORDER, summary="退回 with a reason")
def order_return(path: OrderPath, body: Reason):
    return _order(workorders.return_order(runtime().engine, actor(), path.order_id, body.version, body.reason))


@bp.post(f"{ORDER}/extend", responses=WRITE_ORDER, summary="延期: ask for more time")
def order_extend(path: OrderPath, body: Extension):
    return _order(workorders.request_extension(runtime().engine, actor(), path.order_id, body.version, body.until,
                                               body.reason))


@bp.post(f"{ORDER}/approve-extension", responses=WRITE_ORDER, summary="Approve the requested extension")
def order_approve_extension(path: OrderPath, body: Versioned):
    return _order(workorders.approve_extension(runtime().engine, actor(), path.order_id, body.version))


@bp.post(f"{ORDER}/refuse-extension", responses=WRITE_ORDER, summary="Refuse the requested extension")
def order_refuse_extension(path: OrderPath, body: Reason):
    return _order(workorders.refuse_extension(runtime().engine, actor(), path.order_id, body.version, body.reason))


@bp.post(f"{ORDER}/feedback", responses=WRITE_ORDER, summary="答复: report what was done")
def order_feedback(path: OrderPath, body: Feedback):
    return _order(workorders.report_feedback(runtime().engine, actor(), path.order_id, body.version, body.text,
                                             body.photo_url))


@bp.post(f"{ORDER}/done", responses=WRITE_ORDER, summary="The handler has finished")
def order_done(path: OrderPath, body: Versioned):
    return _order(workorders.mark_done(runtime().engine, actor(), path.order_id, body.version))


@bp.post(f"{ORDER}/verify", responses=WRITE_ORDER, summary="核查结案: checked and closed")
def order_verify(path: OrderPath, body: Note):
    return _order(workorders.verify_and_close(runtime().engine, actor(), path.order_id, body.version, body.note))


@bp.post(f"{ORDER}/send-back", responses=WRITE_ORDER, summary="返工: send back for rework")
def order_send_back(path: OrderPath, body: Reason):
    return _order(workorders.send_back(runtime().engine, actor(), path.order_id, body.version, body.reason))


@bp.post(f"{ORDER}/withdraw", responses=WRITE_ORDER, summary="撤回: take an open order back")
def order_withdraw(path: OrderPath, body: Reason):
    return _order(workorders.withdraw(runtime().engine, actor(), path.order_id, body.version, body.reason))


@bp.post(f"{ORDER}/satisfaction", responses=WRITE_ORDER, summary="The citizen's verdict on this org's handling")
def order_satisfaction(path: OrderPath, body: OrderVerdict):
    return _order(workorders.record_satisfaction(runtime().engine, actor(), path.order_id, body.version, body.value))


# --- KPIs and major events -------------------------------------------------------------------------


@bp.get("/kpis", responses=S.answers(S.Kpis, 400),
        summary="Counts, rates (响应率, 解决率, 满意率, 办结率) and CAD intervals for a period")
def get_kpis(query: KpiQuery):
    to = query.to or datetime.now(runtime().pack.timezone)
    frm = query.from_ or to - timedelta(days=1)
    if frm >= to:
        raise UserError("from must be before to")
    return {"from": frm.isoformat(), "to": to.isoformat(), "by": query.by,
            "rows": kpi.export_rows(runtime().engine, frm, to, query.by)}


@bp.get("/major-events", responses=S.answers(S.items(S.MajorEvent)), summary="Emergency events in force")
def get_major_events():
    fields = ("id", "name", "kind", "status", "started_at", "ended_at", "categories", "district_codes", "area",
              "version")
    return {"items": [lists.as_dict(e, fields) for e in major_events.active(runtime().engine)]}


@bp.post("/major-events", responses=S.answers(S.Created, 400, 403, 409),
         summary="Open an emergency event (typhoon, flood) grouping incidents")
def post_major_event(body: NewEvent):
    event = major_events.create(runtime().engine, actor(), body.name, body.kind, body.started_at, body.ended_at,
                                body.categories, body.district_codes, body.area)
    return {"id": event.id, "name": event.name, "version": event.version}


@bp.get("/major-events/<int:event_id>/incidents", responses=S.answers(S.items(S.Incident), 400, 404),
        summary="An event's incidents, filtered")
def get_major_event_incidents(path: EventPath, query: EventIncidentQuery):
    rows = major_events.incidents_of(runtime().engine, path.event_id, query.status, query.category, query.priority,
                                     query.division, query.limit or 100, query.offset or 0)
    return {"items": [_incident(r) for r in rows]}


@bp.get("/major-events/<int:event_id>/kpis", responses=S.answers(S.EventKpis, 404), summary="An event's KPIs")
def get_major_event_kpis(path: EventPath):
    return major_events.kpis_of(runtime().engine, path.event_id)
