"""The incident lifecycle: every change of an incident's status goes through here.

    unverified ──verify──► new ──acknowledge──► acknowledged ──dispatch──► dispatched ──on_scene──► on_scene
        │                   │                        │                        │                        │
        └──cancel           └──dispatch (acknowledges too)                    └─────────resolve────────┤
                                                     └───────────────resolve (no units needed)─────────┤
                                                                                                       ▼
                              closed ◄──close── resolved ──reopen──► back to the last stage it reached
    Any open status (unverified … on_scene) → cancelled (false report, reason required)
    Any open status → fused (merged into another open incident); split brings it back as new.

- ``unverified`` is an AI-video detection below the confidence threshold: a person verifies it
  (→ new) or cancels it.
- ``reopen`` (resolved → on_scene, or dispatched / acknowledged when it never got that far): the
  work turned out unfinished, so it goes back to the people already engaged; its resolve clock
  keeps counting from the report, so a reopened incident is usually overdue at once. ``closed``
  is final: a complaint after closing is a new incident.
- Resolve, cancel and merging an incident away are refused while it has open work orders: they
  are closed first (verified, returned or withdrawn), so no handler is left working on an
  incident that is finished or is now only a linked report.
- Satisfaction (回访 / 评价) is recorded only once the incident is closed.

The 12345 loop 受理→派单→办理→答复→督办→办结→回访→评价 maps onto it as: acknowledge; work orders
created (→ dispatched); a handler accepts (→ on_scene, read "being handled"); the handler's
feedback; ``ioc.chain.sla.sweep`` (督办); the last order verified (→ resolved); close after the call
back; ``record_satisfaction``.

The urban-management case flow (数字城管, seven steps) maps the same way; ``URBAN_STEPS`` holds
the mapping for display and ``urban_step`` names the step an incident is at:
    信息收集 collect   — reported: unverified / new
    案卷建立 file      — acknowledged (受理, 核实, 立案)
    任务派遣 dispatch  — dispatched (work order pending at the handling unit)
    任务处理 handle    — on_scene (order accepted / handling / extension asked)
    处理反馈 feedback  — on_scene with the order done (feedback in, awaiting the field check)
    核查结案 verify/close — resolved when every order is verified, then closed (返工 sends an order back)
    综合评价 evaluate  — closed with satisfaction recorded
Exceptions: 延期 = work-order extension, 回退 = work-order return; 挂账 (parked) has no state of
its own yet.

Engine-level functions run one transaction each. ``advance_in`` is the same step for services
that already hold a session and the incident's row lock (dispatch, work orders).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from ioc.chain import sla
from ioc.chain.actions import Actor, audit, check_version, get_or_404, require, snapshot
from ioc.chain.links import source_entry, split_report
from ioc.errors import ActionRefused, InvalidTransition
from ioc.store import models
from ioc.store.db import session_factory, transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

OPEN = ("unverified", "new", "acknowledged", "dispatched", "on_scene")
MERGEABLE_INTO = ("new", "acknowledged", "dispatched", "on_scene")
LADDER = ("unverified", "new", "acknowledged", "dispatched", "on_scene", "resolved", "closed")
OPEN_ORDERS = ("pending", "accepted", "handling", "extended", "done")
# The call-back survey: how satisfied the citizen is, or that the problem is not solved at all
# (which 解决率 counts against).
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied", "unresolved")
AUDIT_FIELDS = ("status", "acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at",
                "satisfaction", "parent_id", "report_count", "version")


@dataclass(frozen=True)
class Move:
    verb: str                      # what the user does, for messages
    event: str                     # the IncidentEvent kind
    permission: str
    sources: tuple[str, ...]
    target: str
    stamp: str | None = None
    clock: str | None = None       # the SLA clock this step stops (with the ones before it)
    clears: str | None = None      # a stamp this step undoes


MOVES: dict[str, Move] = {
    "verify": Move("verify", "verified", "incident.acknowledge", ("unverified",), "new"),
    "acknowledge": Move("acknowledge", "acknowledged", "incident.acknowledge", ("new",), "acknowledged",
                        "acknowledged_at", "acknowledge"),
    "dispatch": Move("mark dispatched", "dispatched", "incident.dispatch", ("new", "acknowledged"), "dispatched",
                     "dispatched_at", "dispatch"),
    "on_scene": Move("mark on scene", "on_scene", "incident.on_scene", ("dispatched",), "on_scene",
                     "on_scene_at", "on_scene"),
    "resolve": Move("resolve", "resolved", "incident.resolve", ("acknowledged", "dispatched", "on_scene"),
                    "resolved", "resolved_at", "resolve"),
    "close": Move("close", "closed", "incident.close", ("resolved",), "closed", "closed_at"),
    "cancel": Move("cancel", "cancelled", "incident.cancel", OPEN, "cancelled"),
    "reopen": Move("reopen", "reopened", "incident.resolve", ("resolved",), "on_scene", clears="resolved_at"),
}
STAGE_MOVES = {"dispatched": "dispatch", "on_scene": "on_scene", "resolved": "resolve"}


def allowed_from(status: str) -> list[str]:
    """What can be done to an incident in ``status`` (for messages and for pages' buttons)."""
    verbs = [m.verb for m in MOVES.values() if status in m.sources]
    if status in OPEN:
        verbs.append("merge")
    if status == "fused":
        verbs.append("split")
    if status == "closed":
        verbs.append("record satisfaction")
    return verbs


def _refusal(incident: models.Incident, verb: str) -> InvalidTransition:
    can = allowed_from(incident.status)
    options = f"from {incident.status} it can only {_join(can)}" if can else "it can no longer change"
    return InvalidTransition(f"cannot {verb} incident {incident.id}: it is {incident.status}; {options}",
                             key="incident_state", id=incident.id, status=incident.status)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# --- the one place a status changes ---------------------------------------------------------


def _apply(session: Session, incident: models.Incident, actor: Actor, move: Move, now: datetime,
           data: dict[str, Any] | None = None, target: str | None = None) -> None:
    before = snapshot(incident, AUDIT_FIELDS)
    previous = incident.status
    incident.status = target or move.target
    if move.stamp and getattr(incident, move.stamp) is None:
        setattr(incident, move.stamp, now)
    if move.clears:
        setattr(incident, move.clears, None)
    if incident.status in ("dispatched", "on_scene") and incident.acknowledged_at is None:
        incident.acknowledged_at = now  # sending someone is the strongest acknowledgement there is
    incident.version += 1
    incident.updated_at = now
    session.add(models.IncidentEvent(incident_id=incident.id, at=now, kind=move.event, actor=actor.username,
                                     data={"from": previous, "to": incident.status, **(data or {})}))
    audit(session, actor, f"incident.{move.event}", "incident", incident.id, before,
          snapshot(incident, AUDIT_FIELDS))
    if move.clock:
        # Reaching a step answers any 督办 on it and on the steps it passed over.
        order = [name for name, _, _ in sla.INCIDENT_CLOCKS]
        sla.settle(session, "incident", incident.id, now, tuple(order[:order.index(move.clock) + 1]))
    elif incident.status == "cancelled":
        sla.settle(session, "incident", incident.id, now)


def _act(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None, key: str,
         now: datetime | None, data: dict[str, Any] | None = None,
         guard: Callable[[Session, models.Incident], str | None] | None = None) -> models.Incident:
    move = MOVES[key]
    now = now or utcnow()
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident")
        require(actor, move.permission)
        if incident.status not in move.sources:
            raise _refusal(incident, move.verb)
        check_version("incident", incident_id, incident.version, seen_version)
        target = guard(session, incident) if guard else None
        _apply(session, incident, actor, move, now, data, target)
    log.info("%s: incident %s %s", actor.username, incident_id, move.event)
    return incident


def advance_in(session: Session, incident: models.Incident, actor: Actor, stage: str, now: datetime,
               data: dict[str, Any] | None = None) -> bool:
    """Move a locked incident forward to ``stage`` (dispatched / on_scene / resolved) inside the
    caller's transaction; never back. False when it is already there or further.

    The caller has checked its own permission and version; this appends the event and audit.
    """
    move = MOVES[STAGE_MOVES[stage]]
    if incident.status not in (*OPEN, "resolved"):
        raise _refusal(incident, move.verb)
    if LADDER.index(incident.status) >= LADDER.index(stage):
        return False
    _apply(session, incident, actor, move, now, data)
    return True


# --- the steps --------------------------------------------------------------------------------


def verify(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
           now: datetime | None = None) -> models.Incident:
    """An unverified (low-confidence AI) report is real: it becomes a new incident."""
    return _act(engine, actor, incident_id, seen_version, "verify", now)


def acknowledge(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
                now: datetime | None = None) -> models.Incident:
    """受理: a person has seen the incident and takes it on."""
    return _act(engine, actor, incident_id, seen_version, "acknowledge", now)


def mark_dispatched(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
                    now: datetime | None = None) -> models.Incident:
    """The first unit (or work order) has gone; services inside a transaction use ``advance_in``."""
    return _act(engine, actor, incident_id, seen_version, "dispatch", now)


def mark_on_scene(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
                  now: datetime | None = None) -> models.Incident:
    return _act(engine, actor, incident_id, seen_version, "on_scene", now)


def resolve(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
            note: str = "", now: datetime | None = None) -> models.Incident:
    return _act(engine, actor, incident_id, seen_version, "resolve", now,
                {"note": note} if note else None, guard=_no_open_orders)


def close(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
          note: str = "", now: datetime | None = None) -> models.Incident:
    return _act(engine, actor, incident_id, seen_version, "close", now, {"note": note} if note else None)


def cancel(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None, reason: str,
           now: datetime | None = None) -> models.Incident:
    """A false or duplicate report: cancelled with the reason on record."""
    reason = _required(reason, "a reason for cancelling (e.g. false report)")
    return _act(engine, actor, incident_id, seen_version, "cancel", now, {"reason": reason},
                guard=_no_open_orders)


def reopen(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None, reason: str,
           now: datetime | None = None) -> models.Incident:
    """A resolved incident that is not done after all goes back to the last stage it reached."""
    reason = _required(reason, "a reason for reopening")

    def back_to(session: Session, incident: models.Incident) -> str:
        if incident.on_scene_at:
            return "on_scene"
        return "dispatched" if incident.dispatched_at else "acknowledged"

    return _act(engine, actor, incident_id, seen_version, "reopen", now, {"reason": reason}, guard=back_to)


def _no_open_orders(session: Session, incident: models.Incident) -> None:
    rows = session.execute(select(models.WorkOrder.id, models.WorkOrder.status, models.WorkOrder.org_code)
                           .where(models.WorkOrder.incident_id == incident.id,
                                  models.WorkOrder.status.in_(OPEN_ORDERS))
                           .order_by(models.WorkOrder.id)).all()
    if rows:
        listed = ", ".join(f"#{r.id} {r.org_code} {r.status}" for r in rows)
        raise InvalidTransition(f"incident {incident.id} still has open work orders ({listed}); "
                                "verify, or withdraw them first", key="open_orders", id=incident.id, orders=listed)


def _required(text: str | None, what: str, key: str = "need_reason") -> str:
    text = (text or "").strip()
    if not text:
        raise ActionRefused(f"give {what}", key=key)
    return text


def record_satisfaction(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
                        value: str, now: datetime | None = None) -> models.Incident:
    """回访 / 评价: the citizen's verdict, once the incident is closed."""
    if value not in SATISFACTION:
        raise ActionRefused(f"satisfaction must be one of {', '.join(SATISFACTION)}, not {value!r}", key="satisfaction")
    now = now or utcnow()
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident")
        require(actor, "incident.satisfaction")
        if incident.status != "closed":
            raise _refusal(incident, "record satisfaction for")
        check_version("incident", incident_id, incident.version, seen_version)
        before = snapshot(incident, AUDIT_FIELDS)
        previous, incident.satisfaction = incident.satisfaction, value
        incident.version += 1
        incident.updated_at = now
        session.add(models.IncidentEvent(incident_id=incident.id, at=now, kind="satisfaction", actor=actor.username,
                                         data={"from": previous, "to": value}))
        audit(session, actor, "incident.satisfaction", "incident", incident.id, before,
              snapshot(incident, AUDIT_FIELDS))
    return incident


def add_note(engine: Engine, actor: Actor, incident_id: int, text: str,
             now: datetime | None = None) -> models.Incident:
    """A note on the timeline (who was called, what they said). The incident itself does not
    change, so its version stays: a note never makes another officer's open page stale."""
    text = _required(text, "the text of the note", "need_note")
    now = now or utcnow()
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident", lock=False)
        require(actor, "incident.note")
        session.add(models.IncidentEvent(incident_id=incident_id, at=now, kind="note", actor=actor.username,
                                         data={"text": text}))
        audit(session, actor, "incident.note", "incident", incident_id, None, {"text": text})
    return incident


# --- merge and split ------------------------------------------------------------------------


def merge(engine: Engine, actor: Actor, child_id: int, into_id: int, child_version: int | None,
          into_version: int | None, now: datetime | None = None) -> tuple[models.Incident, models.Incident]:
    """Merge a duplicate (``child_id``) into ``into_id``: the child becomes a linked report."""
    if child_id == into_id:
        raise ActionRefused(f"cannot merge incident {child_id} into itself", key="merge_self", id=child_id)
    now = now or utcnow()
    with transaction(engine) as session:
        # Lock in id order so two merges of the same pair never deadlock.
        locked = {i: get_or_404(session, models.Incident, i, "incident") for i in sorted((child_id, into_id))}
        child, parent = locked[child_id], locked[into_id]
        require(actor, "incident.merge")
        _check_mergeable(session, child, parent)
        _no_open_orders(session, child)   # their handlers would be left acting on a linked report
        check_version("incident", child_id, child.version, child_version)
        check_version("incident", into_id, parent.version, into_version)
        child_before, parent_before = snapshot(child, AUDIT_FIELDS), snapshot(parent, AUDIT_FIELDS)
        entry = source_entry(child)  # the same entry fusion writes, so split_report can remove it
        previous = child.status
        child.status, child.parent_id = "fused", parent.id
        parent.report_count += 1
        parent.sources = [*parent.sources, entry]
        for row in (child, parent):
            row.version += 1
            row.updated_at = now
        session.add(models.IncidentEvent(incident_id=child.id, at=now, kind="fused_into", actor=actor.username,
                                         data={"parent_id": parent.id, "from": previous, "manual": True}))
        session.add(models.IncidentEvent(incident_id=parent.id, at=now, kind="report_linked",
                                         actor=actor.username, data={"report_id": child.id, **entry, "manual": True}))
        audit(session, actor, "incident.merge", "incident", child.id, child_before, snapshot(child, AUDIT_FIELDS))
        audit(session, actor, "incident.merge", "incident", parent.id, parent_before, snapshot(parent, AUDIT_FIELDS))
        sla.settle(session, "incident", child.id, now)
    log.info("%s merged incident %s into %s", actor.username, child_id, into_id)
    return child, parent


def _check_mergeable(session: Session, child: models.Incident, parent: models.Incident) -> None:
    if child.status not in OPEN:
        raise _refusal(child, "merge")
    if parent.status not in MERGEABLE_INTO:
        raise InvalidTransition(f"cannot merge into incident {parent.id}: it is {parent.status}; only an open "
                                f"incident ({', '.join(MERGEABLE_INTO)}) takes linked reports",
                                key="merge_into_state", id=parent.id, status=parent.status)
    has_reports = session.scalar(select(models.Incident.id).where(models.Incident.parent_id == child.id).limit(1))
    if has_reports is not None:
        raise InvalidTransition(f"cannot merge incident {child.id}: it has linked reports of its own; merge "
                                f"incident {parent.id} into it instead, or split its reports first",
                                key="merge_has_reports", id=child.id, parent=parent.id)


def split(engine: Engine, actor: Actor, report_id: int, seen_version: int | None) -> models.Incident:
    """Split a linked report off its parent (``ioc.chain.links.split_report``), checked and audited."""
    with engine.begin() as conn:
        # One connection-level transaction: our checks, fusion's split and our audit all commit
        # together, because sessions bound to ``conn`` join its transaction instead of committing.
        with _joined(conn) as session:
            child = get_or_404(session, models.Incident, report_id, "incident")
            require(actor, "incident.split")
            if child.parent_id is None:
                raise _refusal(child, "split")
            check_version("incident", report_id, child.version, seen_version)
            parent_id = child.parent_id
            before = snapshot(child, AUDIT_FIELDS)
            parent_before = snapshot(get_or_404(session, models.Incident, parent_id, "incident"), AUDIT_FIELDS)
        split_report(conn, report_id, actor.username)  # type: ignore[arg-type]  # a Connection binds like an Engine
        with _joined(conn) as session:
            child = session.get(models.Incident, report_id)
            parent = session.get(models.Incident, parent_id)
            audit(session, actor, "incident.split", "incident", report_id, before, snapshot(child, AUDIT_FIELDS))
            audit(session, actor, "incident.split", "incident", parent_id, parent_before,
                  snapshot(parent, AUDIT_FIELDS))
    log.info("%s split incident %s off %s", actor.username, report_id, parent_id)
    return child


def _joined(conn: Connection):  # noqa: ANN202 - a session context manager
    return session_factory(conn).begin()  # type: ignore[arg-type]


# --- reading --------------------------------------------------------------------------------


def timeline(engine: Engine, incident_id: int) -> list[models.IncidentEvent]:
    """The incident's events, oldest first."""
    ev = models.IncidentEvent
    with transaction(engine) as session:
        get_or_404(session, models.Incident, incident_id, "incident", lock=False)
        return list(session.scalars(select(ev).where(ev.incident_id == incident_id).order_by(ev.at, ev.id)))


@dataclass(frozen=True)
class UrbanStep:
    zh: str
    en: str
    statuses: tuple[str, ...]            # incident statuses at this step
    order_statuses: tuple[str, ...] = ()  # work-order statuses that place it here


URBAN_STEPS: dict[str, UrbanStep] = {
    "collect": UrbanStep("信息收集", "collection", ("unverified", "new")),
    "file": UrbanStep("案卷建立", "case creation", ("acknowledged",)),
    "dispatch": UrbanStep("任务派遣", "dispatch", ("dispatched",), ("pending",)),
    "handle": UrbanStep("任务处理", "handling", ("on_scene",), ("accepted", "handling", "extended")),
    "feedback": UrbanStep("处理反馈", "feedback", ("on_scene",), ("done",)),
    "verify_close": UrbanStep("核查结案", "verify and close", ("resolved", "closed"), ("verified",)),
    "evaluate": UrbanStep("综合评价", "evaluation", ("closed",)),
}


def urban_step(status: str, order_statuses: tuple[str, ...] = (), satisfaction: str | None = None) -> str | None:
    """The seven-step key an urban-management case is at (None for cancelled / fused)."""
    if status == "closed" and satisfaction:
        return "evaluate"
    if status == "on_scene" and order_statuses and all(s in ("done", "verified", "returned", "withdrawn")
                                                       for s in order_statuses) and "done" in order_statuses:
        return "feedback"
    for key, step in URBAN_STEPS.items():
        if status in step.statuses:
            return key
    return None
