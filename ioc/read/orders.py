"""The work-order inbox: a handler's own org's orders, or the orders a duty officer handed out,
each with its running clock (签收 / 答复 / 办结 deadline), 督办 notices and photos.

Visibility is decided here and nowhere else on the read side: a handler sees only his org's
orders; an order he may not see answers exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, String, cast, select

from ioc.chain import sla
from ioc.chain.actions import Actor
from ioc.city.pack import CityPack
from ioc.errors import Forbidden, NotFound
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

Scope = Literal["mine", "all"]
OPEN = sla.OPEN_ORDER
CITY_SIDE = ("duty_officer", "admin")


@dataclass(frozen=True)
class Clock:
    name: str                 # accept / feedback / due
    due_at: datetime
    state: sla.State          # ok / due_soon / overdue
    minutes_left: float       # negative once run out


@dataclass(frozen=True)
class OrderView:
    id: int
    version: int
    status: str
    incident_id: int
    title: str
    description: str
    address: str
    category: str
    priority: str
    org_code: str
    org_zh: str
    org_en: str
    created_at: datetime
    created_by: str | None
    accept_by: datetime | None
    accepted_at: datetime | None
    due_at: datetime | None
    clock: Clock | None       # the running clock of an open order
    accept_timed_out: bool    # still not signed for after its 签收 deadline
    supervised: bool          # an open 督办 notice on it
    feedback: str | None
    return_reason: str | None
    extension_until: datetime | None
    extension_reason: str | None
    rework_count: int
    photo_ids: tuple[int, ...]


def _visible(stmt, actor: Actor):
    wo = models.WorkOrder
    if actor.role == "handler":
        if not actor.org_code:
            raise Forbidden(f"{actor.username} is a handler with no org; an admin must set one")
        return stmt.where(wo.org_code == actor.org_code)
    return stmt


def _created_by():
    audit = models.Audit
    return (select(audit.actor).where(audit.action == "work_order.create", audit.target_type == "work_order",
                                      audit.target_id == cast(models.WorkOrder.id, String))
            .limit(1).correlate(models.WorkOrder).scalar_subquery())


def inbox(engine: Engine, actor: Actor, pack: CityPack | None = None, scope: Scope = "mine",
          open_only: bool = True, now: datetime | None = None, limit: int = 200) -> list[OrderView]:
    """A handler's org's orders; for the city side ``mine`` = the orders this user handed out."""
    wo = models.WorkOrder
    stmt = _visible(select(wo.id), actor)
    if actor.role in CITY_SIDE and scope == "mine":
        stmt = stmt.where(_created_by() == actor.username)
    if open_only:
        stmt = stmt.where(wo.status.in_(OPEN))
    stmt = stmt.order_by(wo.due_at.asc().nulls_last(), wo.id).limit(limit)
    with session_factory(engine)() as session:
        ids = list(session.scalars(stmt))
    views = _views(engine, ids, pack, now or utcnow())
    return sorted(views, key=_urgency)


def order(engine: Engine, actor: Actor, order_id: int, pack: CityPack | None = None,
          now: datetime | None = None) -> OrderView:
    """One order the actor may see; NotFound for one he may not (the same answer as a missing one)."""
    with session_factory(engine)() as session:
        found = session.scalar(_visible(select(models.WorkOrder.id), actor).where(models.WorkOrder.id == order_id))
    if found is None:
        raise NotFound(f"work order {order_id} does not exist")
    return _views(engine, [order_id], pack, now or utcnow())[0]


def photo(engine: Engine, actor: Actor, photo_id: int) -> tuple[str, bytes]:
    """(content type, bytes) of a feedback photo on an order the actor may see."""
    p, wo = models.WorkOrderPhoto, models.WorkOrder
    stmt = _visible(select(p.content_type, p.data).join(wo, wo.id == p.work_order_id), actor).where(p.id == photo_id)
    with session_factory(engine)() as session:
        row = session.execute(stmt).first()
    if row is None:
        raise NotFound(f"photo {photo_id} does not exist")
    return row.content_type, row.data


def _views(engine: Engine, ids: list[int], pack: CityPack | None, now: datetime) -> list[OrderView]:
    if not ids:
        return []
    wo, inc, org = models.WorkOrder, models.Incident, models.Org
    sup, ph = models.Supervision, models.WorkOrderPhoto
    fraction = sla.load_sla(pack).due_soon_fraction
    with session_factory(engine)() as session:
        rows = session.execute(
            select(wo, inc.title, inc.description, inc.address, inc.category, inc.priority, org.name_zh,
                   org.name_en, _created_by().label("created_by"))
            .join(inc, inc.id == wo.incident_id).join(org, org.code == wo.org_code).where(wo.id.in_(ids))).all()
        supervised = set(session.scalars(select(sup.target_id).where(
            sup.target_type == "work_order", sup.target_id.in_(ids), sup.resolved_at.is_(None))))
        photos: dict[int, list[int]] = {}
        for pid, oid in session.execute(select(ph.id, ph.work_order_id).where(ph.work_order_id.in_(ids))
                                        .order_by(ph.id)):
            photos.setdefault(oid, []).append(pid)
    return [_view(r, fraction, now, r.WorkOrder.id in supervised, photos.get(r.WorkOrder.id, [])) for r in rows]


def _view(r, fraction: float, now: datetime, supervised: bool, photo_ids: list[int]) -> OrderView:
    o = r.WorkOrder
    return OrderView(
        id=o.id, version=o.version, status=o.status, incident_id=o.incident_id, title=r.title,
        description=r.description, address=r.address, category=r.category, priority=r.priority,
        org_code=o.org_code, org_zh=r.name_zh, org_en=r.name_en or r.name_zh, created_at=o.created_at,
        created_by=r.created_by, accept_by=o.accept_by, accepted_at=o.accepted_at, due_at=o.due_at,
        clock=_running(o, fraction, now),
        accept_timed_out=o.status == "pending" and o.accept_by is not None and o.accept_by <= now,
        supervised=supervised, feedback=o.feedback, return_reason=o.return_reason,
        extension_until=o.extension_until, extension_reason=o.extension_reason, rework_count=o.rework_count,
        photo_ids=tuple(photo_ids))


def _running(o: models.WorkOrder, fraction: float, now: datetime) -> Clock | None:
    if o.status not in OPEN:
        return None
    for name, stamp, due in sla.ORDER_CLOCKS:
        if getattr(o, stamp) is None and getattr(o, due) is not None:
            state, left = sla.state_of(o.created_at, getattr(o, due), now, fraction)
            return Clock(name, getattr(o, due), state, left)
    return None


def _urgency(v: OrderView) -> tuple:
    return (v.clock is None, v.clock.minutes_left if v.clock else 0.0, v.id)
