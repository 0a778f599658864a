"""交办: incidents handed to departments and town offices as work orders, and their loop.

    pending ──accept (签收)──► accepted ──report_feedback──► handling ──mark_done──► done ──verify_and_close──► verified
       │                        │  │                         │  ▲                     │
       │                        │  └──request_extension──► extended ──approve / refuse──► handling
       │                        │                            │                          │
       └──return_order (退回)───┴──► returned                └── (from handling too)     └──send_back (返工)──► handling
    Any open status → withdrawn (the city side takes the order back)

Handlers (role ``handler``) act only on their own org's orders; admin may act for anyone. The
city side (duty officers) creates, approves extensions, verifies (核查) or sends back (返工),
and withdraws. ``returned`` and ``withdrawn`` end the order: the duty officer hands the
incident to the right org with a new order.

The incident moves along: creating orders marks it dispatched (派单), the first acceptance
marks it on_scene (办理), and when the last live order is verified it is resolved (办结); the
duty officer closes it after the call-back (回访). An extension request does not stop the due
clock; approving it moves ``due_at`` to the granted time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ioc.chain import sla, workflow
from ioc.chain.actions import Actor, audit, check_version, get_or_404, require, snapshot
from ioc.chain.photos import check_photo
from ioc.city.pack import CityPack
from ioc.errors import ActionRefused, Forbidden, InvalidTransition, NotFound
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

OPEN = ("pending", "accepted", "handling", "extended", "done")
ENDED_ELSEWHERE = ("returned", "withdrawn")   # not counted when deciding the incident is done
TAKES_ORDERS = ("new", "acknowledged", "dispatched", "on_scene")
ORDER_ORG_KINDS = ("department", "office")
AUDIT_FIELDS = ("status", "accept_by", "feedback_by", "due_at", "accepted_at", "done_at", "verified_at",
                "feedback", "feedback_photo_url", "return_reason", "extension_until", "extension_reason",
                "rework_count", "satisfaction", "version")

# action → (verb for messages, statuses it starts from)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "accept": ("accept", ("pending",)),
    "return": ("return", ("pending", "accepted")),
    "request_extension": ("ask for an extension on", ("accepted", "handling")),
    "approve_extension": ("approve the extension of", ("extended",)),
    "refuse_extension": ("refuse the extension of", ("extended",)),
    "report_feedback": ("report feedback on", ("accepted", "handling")),
    "mark_done": ("mark done", ("handling",)),
    "verify": ("verify and close", ("done",)),
    "send_back": ("send back", ("done",)),
    "withdraw": ("withdraw", OPEN),
    "satisfaction": ("record satisfaction for", ("verified",)),
}


def _refusal(order: models.WorkOrder, action: str) -> InvalidTransition:
    verb = ACTIONS[action][0]
    can = [v for v, sources in ACTIONS.values() if order.status in sources]
    options = f"from {order.status} one can {', '.join(can)}" if can else "it is finished"
    return InvalidTransition(f"cannot {verb} work order {order.id}: it is {order.status}; {options}",
                             key="order_state", id=order.id, order_status=order.status)


def _required(text: str | None, what: str, key: str = "need_reason") -> str:
    text = (text or "").strip()
    if not text:
        raise ActionRefused(f"give {what}", key=key)
    return text


# --- creating -------------------------------------------------------------------------------


def create(engine: Engine, actor: Actor, incident_id: int, org_codes: list[str], due_at: datetime | None = None,
           note: str = "", *, pack: CityPack | None = None, seen_version: int | None = None,
           now: datetime | None = None) -> list[models.WorkOrder]:
    """One work order per org (department or town office), with accept / feedback / due clocks."""
    now = now or utcnow()
    codes = list(dict.fromkeys(c.strip() for c in org_codes if c and c.strip()))
    if not codes:
        raise ActionRefused("choose at least one department or office to hand the incident to", key="no_orgs_chosen")
    if due_at is not None and due_at <= now:
        raise ActionRefused(f"the due time {due_at.isoformat()} is already past; choose a later one", key="due_past")
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident")
        require(actor, "work_order.create")
        if incident.status not in TAKES_ORDERS:
            raise InvalidTransition(f"cannot hand incident {incident_id} over: it is {incident.status}; only "
                                    f"{', '.join(TAKES_ORDERS)} incidents get work orders",
                                    key="no_orders_when", id=incident_id, status=incident.status)
        check_version("incident", incident_id, incident.version, seen_version)
        _check_orgs(session, incident_id, codes)
        clocks = sla.work_order_due(pack, incident.priority, now, due_at, incident.resolve_due)
        orders = [models.WorkOrder(incident_id=incident_id, org_code=code, status="pending", created_at=now,
                                   accept_by=clocks.accept_by, feedback_by=clocks.feedback_by,
                                   due_at=clocks.due_at) for code in codes]
        session.add_all(orders)
        session.flush()
        for order in orders:
            session.add(models.IncidentEvent(
                incident_id=incident_id, at=now, kind="work_order_created", actor=actor.username,
                data={"work_order_id": order.id, "org_code": order.org_code, "due_at": order.due_at.isoformat(),
                      "note": note.strip()}))
            audit(session, actor, "work_order.create", "work_order", order.id, None, snapshot(order, AUDIT_FIELDS))
        workflow.advance_in(session, incident, actor, "dispatched", now, {"via": "work_orders"})
    log.info("%s handed incident %s to %s", actor.username, incident_id, ", ".join(codes))
    return orders


def _check_orgs(session: Session, incident_id: int, codes: list[str]) -> None:
    orgs = {o.code: o for o in session.scalars(select(models.Org).where(models.Org.code.in_(codes)))}
    for code in codes:
        if code not in orgs:
            raise NotFound(f"org {code} does not exist", key="no_org", org=code)
        if orgs[code].kind not in ORDER_ORG_KINDS:
            raise ActionRefused(f"org {code} is the {orgs[code].kind} level; hand work to a department or an office",
                                key="org_level", org=code)
    busy = session.scalars(select(models.WorkOrder.org_code).where(
        models.WorkOrder.incident_id == incident_id, models.WorkOrder.org_code.in_(codes),
        models.WorkOrder.status.in_(OPEN))).all()
    if busy:
        raise ActionRefused(f"{', '.join(sorted(set(busy)))} already has an open work order for incident "
                            f"{incident_id}", key="org_busy", orgs=", ".join(sorted(set(busy))), id=incident_id)


# --- one step on one order ------------------------------------------------------------------

Change = Callable[[Session, models.WorkOrder, models.Incident, datetime], dict[str, Any] | None]


def _act(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, action: str,
         permission: str, change: Change, now: datetime | None) -> models.WorkOrder:
    now = now or utcnow()
    with transaction(engine) as session:
        incident_id = session.scalar(select(models.WorkOrder.incident_id).where(models.WorkOrder.id == order_id))
        if incident_id is None:
            raise NotFound(f"work order {order_id} does not exist", key="not_found", kind="work_order", id=order_id)
        # Incident first, then the order: the same lock order as create() and dispatch.
        incident = get_or_404(session, models.Incident, incident_id, "incident")
        order = get_or_404(session, models.WorkOrder, order_id, "work order")
        require(actor, permission)
        if permission == "work_order.handle":
            _check_own(actor, order)
        if order.status not in ACTIONS[action][1]:
            raise _refusal(order, action)
        check_version("work order", order_id, order.version, seen_version)
        before = snapshot(order, AUDIT_FIELDS)
        previous = order.status
        data = change(session, order, incident, now) or {}
        order.version += 1
        session.add(models.IncidentEvent(
            incident_id=incident_id, at=now, kind=f"work_order_{action}", actor=actor.username,
            data={"work_order_id": order.id, "org_code": order.org_code, "from": previous, "to": order.status,
                  **data}))
        audit(session, actor, f"work_order.{action}", "work_order", order.id, before, snapshot(order, AUDIT_FIELDS))
    log.info("%s: work order %s %s → %s", actor.username, order_id, action, order.status)
    return order


def _check_own(actor: Actor, order: models.WorkOrder) -> None:
    if actor.role != "admin" and actor.org_code != order.org_code:
        raise Forbidden(f"{actor.username} ({actor.org_code or 'no org'}) may not act on work order {order.id}: "
                        f"it belongs to {order.org_code}", key="not_your_org", id=order.id, org=order.org_code)


# --- the handler's side ---------------------------------------------------------------------


def accept(engine: Engine, actor: Actor, order_id: int, seen_version: int | None,
           now: datetime | None = None) -> models.WorkOrder:
    """签收: the org takes the order on; the incident is now being handled."""
    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        order.status, order.accepted_at = "accepted", now
        sla.settle(session, "work_order", order.id, now, ("accept",))
        moved = workflow.advance_in(session, incident, actor, "on_scene", now,
                                    {"via": "work_order", "work_order_id": order.id})
        return {"incident_on_scene": moved}
    return _act(engine, actor, order_id, seen_version, "accept", "work_order.handle", change, now)


def return_order(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, reason: str,
                 now: datetime | None = None) -> models.WorkOrder:
    """退回: not ours (or not possible); the city side must hand it elsewhere."""
    reason = _required(reason, "a reason for returning the order")

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        order.status, order.return_reason = "returned", reason
        sla.settle(session, "work_order", order.id, now)
        return {"reason": reason}
    return _act(engine, actor, order_id, seen_version, "return", "work_order.handle", change, now)


def request_extension(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, until: datetime,
                      reason: str, now: datetime | None = None) -> models.WorkOrder:
    """延期: ask the city side for more time; the due clock keeps running until approved."""
    reason = _required(reason, "a reason for the extension")

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        if until <= max(now, order.due_at or now):
            raise ActionRefused(f"the extension must end after the current due time "
                                f"{(order.due_at or now).isoformat()}", key="extension_end")
        order.status, order.extension_until, order.extension_reason = "extended", until, reason
        return {"until": until.isoformat(), "reason": reason}
    return _act(engine, actor, order_id, seen_version, "request_extension", "work_order.handle", change, now)


def report_feedback(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, text: str,
                    photo_url: str | None = None, now: datetime | None = None,
                    photo: bytes | None = None) -> models.WorkOrder:
    """答复 / 处理反馈: what was done, optionally with a photo link or an uploaded photo."""
    text = _required(text, "the feedback text", "need_feedback")
    photo_url = _checked_url(photo_url)
    photo_type = check_photo(photo) if photo is not None else None

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        order.status, order.feedback, order.feedback_photo_url = "handling", text, photo_url
        sla.settle(session, "work_order", order.id, now, ("feedback",))
        data = {"feedback": text, "photo_url": photo_url}
        if photo is not None:
            stored = models.WorkOrderPhoto(work_order_id=order.id, content_type=photo_type, size_bytes=len(photo),
                                           data=photo, uploaded_by=actor.username, uploaded_at=now)
            session.add(stored)
            session.flush()
            data["photo_id"] = stored.id
        return data
    return _act(engine, actor, order_id, seen_version, "report_feedback", "work_order.handle", change, now)


def _checked_url(url: str | None) -> str | None:
    url = (url or "").strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ActionRefused(f"the photo link must be an http(s) URL, not {url!r}", key="photo_url")
    return url


def mark_done(engine: Engine, actor: Actor, order_id: int, seen_version: int | None,
              now: datetime | None = None) -> models.WorkOrder:
    """The handler says the work is finished; the city side checks it next."""
    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> None:
        if not order.feedback:
            raise ActionRefused(f"report feedback on work order {order.id} before marking it done", key="feedback_first",
                                id=order.id)
        order.status, order.done_at = "done", now
        sla.settle(session, "work_order", order.id, now, ("due",))
    return _act(engine, actor, order_id, seen_version, "mark_done", "work_order.handle", change, now)


# --- the city side --------------------------------------------------------------------------


def approve_extension(engine: Engine, actor: Actor, order_id: int, seen_version: int | None,
                      now: datetime | None = None) -> models.WorkOrder:
    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        previous, order.due_at = order.due_at, order.extension_until
        order.status = "handling"
        sla.settle(session, "work_order", order.id, now, ("due",))
        return {"due_from": previous.isoformat() if previous else None, "due_to": order.due_at.isoformat()}
    return _act(engine, actor, order_id, seen_version, "approve_extension", "work_order.verify", change, now)


def refuse_extension(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, reason: str,
                     now: datetime | None = None) -> models.WorkOrder:
    reason = _required(reason, "a reason for refusing the extension")

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        asked, order.extension_until = order.extension_until, None
        order.status = "handling"
        return {"reason": reason, "asked_until": asked.isoformat() if asked else None}
    return _act(engine, actor, order_id, seen_version, "refuse_extension", "work_order.verify", change, now)


def verify_and_close(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, note: str = "",
                     now: datetime | None = None) -> models.WorkOrder:
    """核查结案: the check found the work done. The last live order verified resolves the incident."""
    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        order.status, order.verified_at = "verified", now
        session.flush()
        statuses = session.scalars(select(models.WorkOrder.status).where(
            models.WorkOrder.incident_id == incident.id,
            models.WorkOrder.status.not_in(ENDED_ELSEWHERE))).all()
        resolved = False
        if all(s == "verified" for s in statuses) and incident.status in workflow.OPEN:
            resolved = workflow.advance_in(session, incident, actor, "resolved", now,
                                           {"via": "work_orders_verified"})
        return {"note": note.strip(), "incident_resolved": resolved}
    return _act(engine, actor, order_id, seen_version, "verify", "work_order.verify", change, now)


def send_back(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, reason: str,
              now: datetime | None = None) -> models.WorkOrder:
    """返工: the check found the work not done; the order goes back to handling."""
    reason = _required(reason, "a reason for sending the order back")

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        order.status, order.done_at = "handling", None
        order.rework_count += 1
        return {"reason": reason, "rework_count": order.rework_count}
    return _act(engine, actor, order_id, seen_version, "send_back", "work_order.verify", change, now)


def withdraw(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, reason: str,
             now: datetime | None = None) -> models.WorkOrder:
    """撤回: the city side takes an open order back (wrong org, incident cancelled, duplicate)."""
    reason = _required(reason, "a reason for withdrawing the order")

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        order.status = "withdrawn"
        sla.settle(session, "work_order", order.id, now)
        return {"reason": reason}
    return _act(engine, actor, order_id, seen_version, "withdraw", "work_order.verify", change, now)


def record_satisfaction(engine: Engine, actor: Actor, order_id: int, seen_version: int | None, value: str,
                        now: datetime | None = None) -> models.WorkOrder:
    """The citizen's verdict on this org's handling, after the order is verified."""
    if value not in workflow.SATISFACTION:
        raise ActionRefused(f"satisfaction must be one of {', '.join(workflow.SATISFACTION)}, not {value!r}",
                            key="satisfaction")

    def change(session: Session, order: models.WorkOrder, incident: models.Incident, now: datetime) -> dict:
        previous, order.satisfaction = order.satisfaction, value
        return {"satisfaction_from": previous, "satisfaction": value}
    return _act(engine, actor, order_id, seen_version, "satisfaction", "incident.satisfaction", change, now)


# --- reading --------------------------------------------------------------------------------


def orders_for(engine: Engine, actor: Actor, status: str | None = None,
               incident_id: int | None = None) -> list[models.WorkOrder]:
    """Work orders the actor may see, most urgent first: a handler sees only its own org's."""
    wo = models.WorkOrder
    q = select(wo)
    if actor.role == "handler":
        if not actor.org_code:
            raise Forbidden(f"{actor.username} is a handler with no org; an admin must set one", key="handler_no_org")
        q = q.where(wo.org_code == actor.org_code)
    if status:
        q = q.where(wo.status == status)
    if incident_id is not None:
        q = q.where(wo.incident_id == incident_id)
    with transaction(engine) as session:
        return list(session.scalars(q.order_by(wo.due_at.asc().nulls_last(), wo.id)))
