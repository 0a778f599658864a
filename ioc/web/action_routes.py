"""The API's action endpoints: every write goes through the same service function as the pages.

Each takes a JSON body; ``version`` is the version the caller last saw (a stale one gets 409
with a message to reload). Roles are checked inside the services, whatever the caller is.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from flask import request

from ioc.chain import dispatch, major_events, workflow, workorders
from ioc.chain.actions import Actor
from ioc.errors import NotFound, UserError
from ioc.read import kpi, lists
from ioc.web.rest import Param, arg_int, arg_list, arg_time, body, endpoint, runtime

VERSION = {"version": "integer: the version you last saw (optional; a stale one is refused with 409)"}


def _version(data: dict[str, Any]) -> int | None:
    value = data.get("version")
    if value is None:
        return None
    if not isinstance(value, int):
        raise UserError("version must be a whole number")
    return value


def _text(data: dict[str, Any], key: str, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise UserError(f"{key} is required (text)")
    return value


def _time(data: dict[str, Any], key: str, required: bool = False) -> datetime | None:
    raw = data.get(key)
    if raw in (None, ""):
        if required:
            raise UserError(f"{key} is required (ISO 8601 time)")
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{key} must be an ISO 8601 time such as 2026-07-01T18:00:00+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=runtime().pack.timezone)


def _incident(incident: Any) -> dict[str, Any]:
    return lists.as_dict(incident, lists.INCIDENT_FIELDS)


def _order(order: Any) -> dict[str, Any]:
    return lists.as_dict(order, lists.WORK_ORDER_FIELDS)


def _id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"{raw!r} does not exist")
    return int(raw)


# --- incident lifecycle ------------------------------------------------------------------------

STEPS = {
    "verify": workflow.verify, "acknowledge": workflow.acknowledge, "on-scene": workflow.mark_on_scene,
}
PATH_ID = (Param("incident_id", "incident id", "integer", True, "path"),)


def _step(name: str, fn):
    @endpoint("POST", f"/incidents/{{incident_id}}/{name}", f"Incident step: {name}", PATH_ID, VERSION)
    def step(actor: Actor, incident_id: str):
        data = body()
        return _incident(fn(runtime().engine, actor, _id(incident_id), _version(data)))

    return step


for _name, _fn in STEPS.items():
    _step(_name, _fn)


@endpoint("POST", "/incidents/{incident_id}/resolve", "Resolve (with an optional note)", PATH_ID,
          {**VERSION, "note": "text"})
def incident_resolve(actor: Actor, incident_id: str):
    data = body()
    return _incident(workflow.resolve(runtime().engine, actor, _id(incident_id), _version(data),
                                      note=_text(data, "note", required=False)))


@endpoint("POST", "/incidents/{incident_id}/close", "Close", PATH_ID, {**VERSION, "note": "text"})
def incident_close(actor: Actor, incident_id: str):
    data = body()
    return _incident(workflow.close(runtime().engine, actor, _id(incident_id), _version(data),
                                    note=_text(data, "note", required=False)))


@endpoint("POST", "/incidents/{incident_id}/cancel", "Cancel (false report); reason required", PATH_ID,
          {**VERSION, "reason": "text"})
def incident_cancel(actor: Actor, incident_id: str):
    data = body()
    return _incident(workflow.cancel(runtime().engine, actor, _id(incident_id), _version(data), _text(data, "reason")))


@endpoint("POST", "/incidents/{incident_id}/reopen", "Reopen a resolved incident; reason required", PATH_ID,
          {**VERSION, "reason": "text"})
def incident_reopen(actor: Actor, incident_id: str):
    data = body()
    return _incident(workflow.reopen(runtime().engine, actor, _id(incident_id), _version(data), _text(data, "reason")))


@endpoint("POST", "/incidents/{incident_id}/merge", "Merge this incident into another", PATH_ID,
          {**VERSION, "into": "integer: the incident to merge into", "into_version": "integer"})
def incident_merge(actor: Actor, incident_id: str):
    data = body()
    into = data.get("into")
    if not isinstance(into, int):
        raise UserError("into is required: the id of the incident to merge into")
    child, parent = workflow.merge(runtime().engine, actor, _id(incident_id), into, _version(data),
                                   data.get("into_version"))
    return {"merged": _incident(child), "into": _incident(parent)}


@endpoint("POST", "/incidents/{incident_id}/split", "Split a linked report off its incident", PATH_ID, VERSION)
def incident_split(actor: Actor, incident_id: str):
    data = body()
    return _incident(workflow.split(runtime().engine, actor, _id(incident_id), _version(data)))


@endpoint("POST", "/incidents/{incident_id}/satisfaction", "The citizen's verdict after closing", PATH_ID,
          {**VERSION, "value": "satisfied | basically_satisfied | dissatisfied | unresolved"})
def incident_satisfaction(actor: Actor, incident_id: str):
    data = body()
    return _incident(workflow.record_satisfaction(runtime().engine, actor, _id(incident_id), _version(data),
                                                  _text(data, "value")))


# --- units --------------------------------------------------------------------------------------


@endpoint("GET", "/incidents/{incident_id}/recommendations", "Units to send, with ETA and coverage left", PATH_ID)
def incident_recommendations(actor: Actor, incident_id: str):
    rt = runtime()
    recs = dispatch.recommend(rt.engine, _id(incident_id), rules=dispatch.load_dispatch_rules(rt.pack.path))
    return {"items": [asdict(r) for r in recs]}


@endpoint("POST", "/incidents/{incident_id}/dispatch", "Send units (assignments and agency orders in one go)",
          PATH_ID, {**VERSION, "units": "list of unit ids"})
def incident_dispatch(actor: Actor, incident_id: str):
    data = body()
    units = data.get("units")
    if not isinstance(units, list) or not units or not all(isinstance(u, str) for u in units):
        raise UserError("units is required: a list of unit ids")
    assignments = dispatch.dispatch(runtime().engine, actor, _id(incident_id), units, seen_version=_version(data))
    fields = ("id", "incident_id", "unit_id", "status", "dispatched_at", "version")
    return {"assignments": [lists.as_dict(a, fields) for a in assignments]}


@endpoint("POST", "/assignments/{assignment_id}/status", "A unit's progress: EN_ROUTE, ON_SCENE, CLEARED",
          (Param("assignment_id", "assignment id", "integer", True, "path"),), {**VERSION, "status": "text"})
def assignment_status(actor: Actor, assignment_id: str):
    data = body()
    a = dispatch.update_assignment_status(runtime().engine, actor, _id(assignment_id), _text(data, "status"),
                                          seen_version=_version(data))
    return lists.as_dict(a, ("id", "incident_id", "unit_id", "status", "dispatched_at", "en_route_at", "on_scene_at",
                             "cleared_at", "version"))


# --- work orders ----------------------------------------------------------------------------------


@endpoint("POST", "/incidents/{incident_id}/work-orders", "Hand the incident to orgs (交办)", PATH_ID,
          {**VERSION, "orgs": "list of org codes", "due_at": "ISO 8601 (optional)", "note": "text"})
def work_orders_create(actor: Actor, incident_id: str):
    data = body()
    orgs = data.get("orgs")
    if not isinstance(orgs, list) or not orgs:
        raise UserError("orgs is required: a list of org codes")
    made = workorders.create(runtime().engine, actor, _id(incident_id), orgs, _time(data, "due_at"),
                             _text(data, "note", required=False), pack=runtime().pack, seen_version=_version(data))
    return {"items": [_order(o) for o in made]}


WO_ID = (Param("order_id", "work order id", "integer", True, "path"),)


def _order_action(name: str, summary: str, fields: dict[str, str], call):
    @endpoint("POST", f"/work-orders/{{order_id}}/{name}", summary, WO_ID, {**VERSION, **fields})
    def action(actor: Actor, order_id: str):
        data = body()
        return _order(call(runtime().engine, actor, _id(order_id), _version(data), data))

    return action


_order_action("accept", "签收: take the order on", {}, lambda e, a, i, v, d: workorders.accept(e, a, i, v))
_order_action("return", "退回 with a reason", {"reason": "text"},
              lambda e, a, i, v, d: workorders.return_order(e, a, i, v, _text(d, "reason")))
_order_action("extend", "延期: ask for more time", {"until": "ISO 8601", "reason": "text"},
              lambda e, a, i, v, d: workorders.request_extension(e, a, i, v, _time(d, "until", True),
                                                                 _text(d, "reason")))
_order_action("approve-extension", "Approve the requested extension", {},
              lambda e, a, i, v, d: workorders.approve_extension(e, a, i, v))
_order_action("refuse-extension", "Refuse the requested extension", {"reason": "text"},
              lambda e, a, i, v, d: workorders.refuse_extension(e, a, i, v, _text(d, "reason")))
_order_action("feedback", "答复: report what was done", {"text": "text", "photo_url": "http(s) URL (optional)"},
              lambda e, a, i, v, d: workorders.report_feedback(e, a, i, v, _text(d, "text"), d.get("photo_url")))
_order_action("done", "The handler has finished", {}, lambda e, a, i, v, d: workorders.mark_done(e, a, i, v))
_order_action("verify", "核查结案: checked and closed", {"note": "text"},
              lambda e, a, i, v, d: workorders.verify_and_close(e, a, i, v, _text(d, "note", required=False)))
_order_action("send-back", "返工: send back for rework", {"reason": "text"},
              lambda e, a, i, v, d: workorders.send_back(e, a, i, v, _text(d, "reason")))
_order_action("withdraw", "撤回: take an open order back", {"reason": "text"},
              lambda e, a, i, v, d: workorders.withdraw(e, a, i, v, _text(d, "reason")))
_order_action("satisfaction", "The citizen's verdict on this org's handling", {"value": "text"},
              lambda e, a, i, v, d: workorders.record_satisfaction(e, a, i, v, _text(d, "value")))


# --- KPIs and major events -------------------------------------------------------------------------


@endpoint("GET", "/kpis", "Counts, rates (响应率, 解决率, 满意率, 办结率) and CAD intervals for a period",
          (Param("from", "start (ISO 8601; default 24 h ago)"), Param("to", "end (ISO 8601; default now)"),
           Param("by", "division | category | channel | org | priority | hour")))
def get_kpis(actor: Actor):
    to = arg_time("to") or datetime.now(runtime().pack.timezone)
    frm = arg_time("from") or to - timedelta(days=1)
    by = request.args.get("by") or None
    allowed = ("division", "category", "channel", "org", "priority", "hour")
    if by is not None and by not in allowed:
        raise UserError(f"by must be one of {', '.join(allowed)}")
    if frm >= to:
        raise UserError("from must be before to")
    return {"from": frm.isoformat(), "to": to.isoformat(), "by": by,
            "rows": kpi.export_rows(runtime().engine, frm, to, by)}


@endpoint("GET", "/major-events", "Emergency events in force")
def get_major_events(actor: Actor):
    fields = ("id", "name", "kind", "status", "started_at", "ended_at", "categories", "district_codes", "area",
              "version")
    return {"items": [lists.as_dict(e, fields) for e in major_events.active(runtime().engine)]}


@endpoint("POST", "/major-events", "Open an emergency event (typhoon, flood) grouping incidents", (),
          {"name": "text", "kind": "text", "started_at": "ISO 8601", "ended_at": "ISO 8601 (optional)",
           "categories": "list", "district_codes": "list", "area": "GeoJSON polygon (optional)"})
def post_major_event(actor: Actor):
    data = body()
    event = major_events.create(runtime().engine, actor, _text(data, "name"), _text(data, "kind"),
                                _time(data, "started_at", True), _time(data, "ended_at"),
                                data.get("categories") or (), data.get("district_codes") or (), data.get("area"))
    return {"id": event.id, "name": event.name, "version": event.version}


@endpoint("GET", "/major-events/{event_id}/incidents", "An event's incidents, filtered",
          (Param("event_id", "event id", "integer", True, "path"), Param("status", "comma list"),
           Param("category", "comma list"), Param("priority", "comma list"), Param("division", "comma list"),
           Param("limit", "page size", "integer"), Param("offset", "rows to skip", "integer")))
def get_major_event_incidents(actor: Actor, event_id: str):
    rows = major_events.incidents_of(runtime().engine, _id(event_id), arg_list("status"), arg_list("category"),
                                     arg_list("priority"), arg_list("division"), arg_int("limit") or 100,
                                     arg_int("offset") or 0)
    return {"items": [_incident(r) for r in rows]}


@endpoint("GET", "/major-events/{event_id}/kpis", "An event's KPIs",
          (Param("event_id", "event id", "integer", True, "path"),))
def get_major_event_kpis(actor: Actor, event_id: str):
    return major_events.kpis_of(runtime().engine, _id(event_id))
