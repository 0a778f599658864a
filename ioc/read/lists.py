"""Filtered, paged lists and details: what the API, the exports and the boards read.

Every function returns plain dicts; times stay aware datetimes so that each edge (the API's
JSON, the exports) writes them in the city's timezone. Filters are a fixed whitelist, so
nothing a caller sends reaches SQL except as a bound value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from ioc.chain.actions import Actor
from ioc.errors import NotFound, UserError
from ioc.store import models, search
from ioc.store.db import session_factory
from ioc.store.models import utcnow

MAX_LIMIT = 1000
# Counting every match of a broad filter reads every row: lists count this far and say "more".
COUNT_CAP = 10_000
# A text search newest first on PostgreSQL looks in the last week before the whole history (see
# ``newest_rows``).
RECENT = timedelta(days=7)
INCIDENT_FIELDS = ("id", "source", "external_id", "channel", "category", "type", "priority", "status", "title",
                   "description", "address", "lon", "lat", "location_flag", "district_code", "grid_code",
                   "org_code", "reported_at", "acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at",
                   "closed_at", "acknowledge_due", "dispatch_due", "on_scene_due", "resolve_due", "satisfaction",
                   "parent_id", "report_count", "sources", "extra", "updated_at", "version")
UNIT_FIELDS = ("id", "call_sign", "unit_type", "org_code", "home_point_id", "status", "status_at", "lon", "lat",
               "position_at", "version", "registered_by")
WORK_ORDER_FIELDS = ("id", "incident_id", "org_code", "status", "created_at", "accept_by", "feedback_by", "due_at",
                     "accepted_at", "done_at", "verified_at", "feedback", "feedback_photo_url", "return_reason",
                     "extension_until", "extension_reason", "rework_count", "satisfaction", "version")
ALERT_FIELDS = ("id", "feed", "sender", "identifier", "sent", "status", "msg_type", "scope", "event", "category",
                "urgency", "severity", "certainty", "headline", "description", "instruction", "areas",
                "effective", "onset", "expires", "cancelled_at", "superseded_by_id", "extra")


def as_dict(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in fields}


@dataclass
class IncidentFilter:
    status: list[str] | None = None
    category: list[str] | None = None
    priority: list[str] | None = None
    division: list[str] | None = None
    org: list[str] | None = None
    channel: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    include_linked: bool = False  # linked (fused) reports too, each beside its incident
    q_scan: bool = False  # set by ``planned``: q matches so many that pages read newest first

    def planned(self, session: Session) -> IncidentFilter:
        """This filter with the way to search its text chosen for this store (ioc.store.search)."""
        if not self.q:
            return self
        return replace(self, q_scan=search.newest_first_scan(session, self.q))

    def apply(self, stmt):
        m = models.Incident
        for column, values in ((m.category, self.category), (m.priority, self.priority),
                               (m.district_code, self.division), (m.org_code, self.org),
                               (m.channel, self.channel)):
            if values:
                stmt = stmt.where(column.in_(values))
        if self.status:
            stmt = stmt.where(self._status_is(self.status))
        if self.since:
            stmt = stmt.where(m.reported_at >= self.since)
        if self.until:
            stmt = stmt.where(m.reported_at < self.until)
        if self.q:
            stmt = stmt.where(or_(search.matches(self.q, self.q_scan), m.external_id == self.q))
        if not self.include_linked:
            stmt = stmt.where(m.parent_id.is_(None))
        return stmt

    def text_only(self) -> bool:
        """Whether the text is all this filter asks for (linked reports or not)."""
        narrowing = (self.status, self.category, self.priority, self.division, self.org, self.channel,
                     self.since, self.until)
        return bool(self.q) and not any(narrowing)

    def _status_is(self, statuses: list[str]):
        """A linked report's own status is ``fused``: with linked reports included it goes by its
        incident's status too, so the open incidents come with their linked reports."""
        m = models.Incident
        if not self.include_linked:
            return m.status.in_(statuses)
        parent = aliased(models.Incident)
        return or_(m.status.in_(statuses), m.parent_id.in_(select(parent.id).where(parent.status.in_(statuses))))


def newest_rows(session: Session, filters: IncidentFilter, stmt, limit: int, upper: datetime | None = None
                ) -> list[Any]:
    """``stmt``'s first ``limit`` rows; ``stmt`` is sorted newest reported first and, when paged,
    holds only rows reported at ``upper`` or before.

    A PostgreSQL text search that matches thousands (元美路27: 9,000 of 10 M) fetches and sorts
    every match, each checked again in its row: 150 ms. Asked first for the week before ``upper``,
    the planner joins the trigram index's hits with the reported_at index and reads only the
    week's (15 ms). A full page from that week is the answer (every older match sorts after it);
    otherwise the whole history is read as before."""
    if filters.q and not filters.q_scan and session.get_bind().dialect.name == "postgresql":
        since = (upper or utcnow()) - RECENT
        found = session.execute(stmt.where(models.Incident.reported_at >= since).limit(limit)).all()
        if len(found) == limit:
            return found
    return session.execute(stmt.limit(limit)).all()


def page_bounds(limit: int | None, offset: int | None) -> tuple[int, int]:
    limit = 100 if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise UserError(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise UserError("offset must be 0 or more")
    return limit, offset


def incidents(engine: Engine, filters: IncidentFilter, limit: int | None = 100, offset: int | None = 0,
              after: str | None = None) -> dict[str, Any]:
    """A page of incidents, newest first, and how many match (counted no further than ``COUNT_CAP``:
    ``total_more`` says there are more).

    ``after`` (the ``next`` of the page before) continues from where that page ended by keyset, so
    every page costs what the first does; ``offset`` skips rows from there (a small skip only:
    the database still reads every row skipped).
    """
    limit, offset = page_bounds(limit, offset)
    m = models.Incident
    with session_factory(engine)() as session:
        planned = filters.planned(session)
        stmt = planned.apply(select(m))
        at = None
        if after is not None:
            at, ident = _cursor(after)
            stmt = stmt.where(tuple_(m.reported_at, m.id) < tuple_(at, ident))
        total, more = _count(session, filters)
        stmt = stmt.order_by(m.reported_at.desc(), m.id.desc()).offset(offset)
        rows = [r[0] for r in newest_rows(session, planned, stmt, limit, at)]
        items = [as_dict(r, INCIDENT_FIELDS) for r in rows]
    last = rows[-1] if len(rows) == limit else None
    return {"total": total, "total_more": more, "limit": limit, "offset": offset, "items": items,
            "next": f"{last.reported_at.isoformat()}|{last.id}" if last else None}


def _cursor(text: str) -> tuple[datetime, int]:
    try:
        at, ident = text.rsplit("|", 1)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError(text)
        return when, int(ident)
    except ValueError:
        raise UserError(f"after={text!r} is not a page cursor: pass the next value of the page before") from None


def count(engine: Engine, filters: IncidentFilter, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows match, counting no further than ``cap``; True when there are more."""
    with session_factory(engine)() as session:
        return _count(session, filters, cap)


def _count(session: Session, filters: IncidentFilter, cap: int = COUNT_CAP) -> tuple[int, bool]:
    if filters.text_only():
        # A pair PostgreSQL's statistics put at twice the cap or more (噪音: 900,000 at 10 M) is
        # not counted: finding the cap's worth of its matches took seconds, and the answer is "more".
        estimate = search.pair_estimate(session, filters.q or "")
        if estimate is not None and estimate >= 2 * cap:
            return cap, True
    inner = filters.apply(select(models.Incident.id)).limit(cap + 1).subquery()
    n = session.scalar(select(func.count()).select_from(inner)) or 0
    return min(n, cap), n > cap


def incident_detail(engine: Engine, incident_id: int) -> dict[str, Any]:
    """One incident with its timeline, work orders, assignments and linked reports."""
    with session_factory(engine)() as session:
        incident = session.get(models.Incident, incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} does not exist")
        detail = as_dict(incident, INCIDENT_FIELDS)
        detail["timeline"] = [
            {"at": e.at, "kind": e.kind, "actor": e.actor, "data": e.data}
            for e in session.scalars(select(models.IncidentEvent).where(models.IncidentEvent.incident_id == incident_id)
                                     .order_by(models.IncidentEvent.at, models.IncidentEvent.id))
        ]
        detail["work_orders"] = [as_dict(w, WORK_ORDER_FIELDS) for w in session.scalars(
            select(models.WorkOrder).where(models.WorkOrder.incident_id == incident_id).order_by(models.WorkOrder.id))]
        detail["assignments"] = _assignments(session, incident_id)
        detail["linked_reports"] = [as_dict(r, INCIDENT_FIELDS) for r in session.scalars(
            select(models.Incident).where(models.Incident.parent_id == incident_id).order_by(models.Incident.id))]
    return detail


def _assignments(session: Session, incident_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(models.Assignment, models.Unit.call_sign, models.Unit.unit_type)
        .join(models.Unit, models.Unit.id == models.Assignment.unit_id)
        .where(models.Assignment.incident_id == incident_id).order_by(models.Assignment.dispatched_at)
    ).all()
    fields = ("id", "unit_id", "status", "dispatched_at", "en_route_at", "on_scene_at", "cleared_at", "version")
    return [as_dict(a, fields) | {"call_sign": c, "unit_type": t} for a, c, t in rows]


def units(engine: Engine, status: list[str] | None = None, unit_type: list[str] | None = None,
          org: list[str] | None = None) -> list[dict[str, Any]]:
    stmt = select(models.Unit).order_by(models.Unit.id)
    for column, values in ((models.Unit.status, status), (models.Unit.unit_type, unit_type),
                           (models.Unit.org_code, org)):
        if values:
            stmt = stmt.where(column.in_(values))
    with session_factory(engine)() as session:
        return [as_dict(u, UNIT_FIELDS) for u in session.scalars(stmt)]


def work_orders(engine: Engine, actor: Actor, status: list[str] | None = None, org: list[str] | None = None,
                limit: int | None = 100, offset: int | None = 0) -> dict[str, Any]:
    """Work orders; a handler sees only its own org's."""
    limit, offset = page_bounds(limit, offset)
    stmt = select(models.WorkOrder)
    if actor.role == "handler":
        stmt = stmt.where(models.WorkOrder.org_code == actor.org_code)
    if status:
        stmt = stmt.where(models.WorkOrder.status.in_(status))
    if org:
        stmt = stmt.where(models.WorkOrder.org_code.in_(org))
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = session.scalars(stmt.order_by(models.WorkOrder.created_at.desc(), models.WorkOrder.id.desc())
                               .limit(limit).offset(offset)).all()
        items = [as_dict(w, WORK_ORDER_FIELDS) for w in rows]
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def alerts(engine: Engine, active_only: bool = False, limit: int | None = 100) -> list[dict[str, Any]]:
    """Alerts newest first, each with the defects its adapter repaired or dropped (``defects``)."""
    if active_only:
        return [_alert(a) for a in active_alerts(engine)]
    limit, _ = page_bounds(limit, 0)
    with session_factory(engine)() as session:
        rows = session.scalars(select(models.Alert).order_by(models.Alert.sent.desc()).limit(limit))
        return [_alert(a) for a in rows]


def _alert(row: models.Alert) -> dict[str, Any]:
    return {**as_dict(row, ALERT_FIELDS), "defects": (row.extra or {}).get("defects", [])}


def active_alerts(engine: Engine, now: datetime | None = None) -> list[models.Alert]:
    """Alerts in force: actual alerts and updates, not cancelled, superseded or expired."""
    now = now or utcnow()
    with session_factory(engine)() as session:
        return list(session.scalars(
            select(models.Alert)
            .where(models.Alert.msg_type.in_(("Alert", "Update")), models.Alert.status == "Actual",
                   models.Alert.cancelled_at.is_(None), models.Alert.superseded_by_id.is_(None),
                   or_(models.Alert.expires.is_(None), models.Alert.expires > now))
            .order_by(models.Alert.sent.desc())
        ))
