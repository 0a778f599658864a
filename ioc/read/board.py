"""The incident board: filtered, sorted rows over the whole history, keyset-paged in SQL.

Paging walks ``(sort column, reported_at, id)`` from the last row a page ended on (the
cursor), never ``OFFSET``, so page 500 costs what page 1 does. The count stops at a cap: past
it the board says "10,000+" instead of scanning every matching row. Sorting and filtering take
only the whitelisted columns below; nothing a browser sends reaches SQL but as a bound value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, tuple_
from sqlalchemy.orm import aliased

from ioc.chain import sla
from ioc.city.pack import CityPack
from ioc.errors import UserError
from ioc.read.lists import IncidentFilter, count, newest_rows
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

MAX_PAGE = 500
_inc = models.Incident
SORTABLE = {
    "reported_at": _inc.reported_at, "priority": _inc.priority, "status": _inc.status,
    "category": _inc.category, "channel": _inc.channel, "division": func.coalesce(_inc.district_code, ""),
    "org": func.coalesce(_inc.org_code, ""), "report_count": _inc.report_count, "id": _inc.id,
}
TIME_KEYS = {"reported_at"}


@dataclass(frozen=True)
class Sort:
    column: str = "reported_at"
    descending: bool = True

    @classmethod
    def of(cls, column: str | None, direction: str | None = "desc") -> Sort:
        column = column or "reported_at"
        if column not in SORTABLE:
            raise UserError(f"cannot sort by {column!r}; choose one of {', '.join(SORTABLE)}")
        if direction not in ("asc", "desc", None):
            raise UserError(f"sort direction must be asc or desc, not {direction!r}")
        return cls(column, direction != "asc")

    def keys(self) -> list[tuple[str, bool]]:
        """The sort column, then the tie-breakers that make every row's place unique."""
        keys = [(self.column, self.descending)]
        keys += [(k, True) for k in ("reported_at", "id") if k != self.column]
        return keys


@dataclass
class Page:
    rows: list[dict[str, Any]]
    cursor: list[Any] | None  # where the next page starts; None when this was the last


def _after(keys: list[tuple[str, bool]], cursor: list[Any]):
    """Rows after ``cursor`` in the sort order: (a > x) or (a = x and b > y) or ..."""
    values = [datetime.fromisoformat(v) if name in TIME_KEYS else v for (name, _), v in zip(keys, cursor, strict=True)]
    if len({desc for _, desc in keys}) == 1:  # one direction: a row value, which both backends seek in an index
        row = tuple_(*[SORTABLE[name] for name, _ in keys])
        return row < tuple_(*values) if keys[0][1] else row > tuple_(*values)
    terms = []
    for i, (name, desc) in enumerate(keys):
        column = SORTABLE[name]
        beyond = column < values[i] if desc else column > values[i]
        terms.append(and_(*[SORTABLE[n] == values[j] for j, (n, _) in enumerate(keys[:i])], beyond))
    return or_(*terms)


def _cursor_of(keys: list[tuple[str, bool]], row: Any) -> list[Any]:
    out = []
    for i, (name, _) in enumerate(keys):
        value = getattr(row, f"k{i}")
        out.append(value.isoformat() if isinstance(value, datetime) else value)
    return out


def page(engine: Engine, filters: IncidentFilter, sort: Sort, after: list[Any] | None = None, limit: int = 100,
         now: datetime | None = None, pack: CityPack | None = None) -> Page:
    """One page of board rows after ``after`` (None: the first page)."""
    if not 1 <= limit <= MAX_PAGE:
        raise UserError(f"a page holds 1 to {MAX_PAGE} rows")
    keys = sort.keys()
    district, org = aliased(models.District), aliased(models.Org)
    stmt = (select(_inc, district.name_zh.label("district_zh"), district.name_en.label("district_en"),
                   org.name_zh.label("org_zh"), org.name_en.label("org_en"),
                   *[SORTABLE[name].label(f"k{i}") for i, (name, _) in enumerate(keys)])
            .outerjoin(district, district.code == _inc.district_code)
            .outerjoin(org, org.code == _inc.org_code))
    if after is not None and len(after) != len(keys):
        raise UserError("the page cursor does not belong to this sort; start from the first page")
    with session_factory(engine)() as session:
        planned = filters.planned(session)
        stmt = planned.apply(stmt)
        if after is not None:
            stmt = stmt.where(_after(keys, after))
        stmt = stmt.order_by(*[SORTABLE[n].desc() if d else SORTABLE[n].asc() for n, d in keys])
        if sort == Sort():  # newest first: a search may find its page in the last week
            found = newest_rows(session, planned, stmt, limit, datetime.fromisoformat(after[0]) if after else None)
        else:
            found = session.execute(stmt.limit(limit)).all()
        ids = [r[0].id for r in found]
        units = _units_on(session, ids)
        supervised = _supervised(session, ids)
    now = now or utcnow()
    fraction = sla.load_sla(pack).due_soon_fraction
    rows = [_row(r, units.get(r[0].id, []), r[0].id in supervised, now, fraction) for r in found]
    return Page(rows, _cursor_of(keys, found[-1]) if len(found) == limit else None)


def _row(found: Any, units: list[str], supervised: bool, now: datetime, fraction: float) -> dict[str, Any]:
    i = found[0]
    return {"id": i.id, "priority": i.priority, "status": i.status, "category": i.category, "channel": i.channel,
            "title": i.title, "address": i.address, "reported_at": i.reported_at, "division": i.district_code,
            "division_zh": found.district_zh, "division_en": found.district_en, "org": i.org_code,
            "org_zh": found.org_zh, "org_en": found.org_en, "report_count": i.report_count, "parent_id": i.parent_id,
            "units": units, "version": i.version, "sla": running_clock(i, now, fraction, supervised)}


def running_clock(incident: models.Incident, now: datetime, fraction: float, supervised: bool = False
                  ) -> dict[str, Any] | None:
    """The first unmet step of an open incident: its clock, due time and state (督办 when supervised)."""
    if incident.status not in sla.OPEN_INCIDENT:
        return None
    for name, stamp, due in sla.INCIDENT_CLOCKS[sla.PASSED.get(incident.status, 0):]:
        due_at = getattr(incident, due)
        if getattr(incident, stamp) is None and due_at is not None:
            state, left = sla.state_of(incident.reported_at, due_at, now, fraction)
            return {"clock": name, "due": due_at, "state": "supervised" if supervised else state,
                    "minutes_left": left}
    return None


def _units_on(session, ids: list[int]) -> dict[int, list[str]]:
    """Call signs of the units still on each incident (not yet cleared)."""
    if not ids:
        return {}
    a, u = models.Assignment, models.Unit
    out: dict[int, list[str]] = {}
    for incident_id, call_sign in session.execute(
            select(a.incident_id, u.call_sign).join(u, u.id == a.unit_id)
            .where(a.incident_id.in_(ids), a.status != "CLEARED").order_by(a.dispatched_at, a.id)):
        out.setdefault(incident_id, []).append(call_sign)
    return out


def _supervised(session, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    sv = models.Supervision
    return set(session.scalars(select(sv.target_id).where(sv.target_type == "incident", sv.target_id.in_(ids),
                                                          sv.resolved_at.is_(None))))


def walk(engine: Engine, filters: IncidentFilter, sort: Sort, chunk: int = MAX_PAGE,
         now: datetime | None = None, pack: CityPack | None = None) -> Iterator[dict[str, Any]]:
    """Every matching row in the board's order, a page at a time (for streamed exports)."""
    now = now or utcnow()
    cursor = None
    while True:
        got = page(engine, filters, sort, cursor, chunk, now, pack)
        yield from got.rows
        if got.cursor is None:
            return
        cursor = got.cursor


WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
LIST_KEYS = ("status", "priority", "category", "channel", "division", "org")


def from_query(query: dict[str, Any], now: datetime | None = None) -> tuple[IncidentFilter, Sort]:
    """The board's filter and sort from its query (the page's controls, or an export link's
    arguments): lists of values, a time window (1h / 24h / 7d / 30d), free text, linked reports
    too (``linked``: 1), sort, dir."""
    now = now or utcnow()
    lists = {}
    for key in LIST_KEYS:
        value = query.get(key)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        lists[key] = list(value) if value else None
    window = query.get("window") or None
    if window is not None and window not in WINDOWS:
        raise UserError(f"window must be one of {', '.join(WINDOWS)}, not {window!r}", key="bad_window")
    q = (query.get("q") or "").strip() or None
    filters = IncidentFilter(**lists, since=now - WINDOWS[window] if window else None, q=q,
                             include_linked=query.get("linked") in (True, "1", "true"))
    return filters, Sort.of(query.get("sort"), query.get("dir") or "desc")


def saved_views(engine: Engine, username: str) -> list[dict[str, Any]]:
    """A user's saved views, by name."""
    sv = models.SavedView
    with session_factory(engine)() as session:
        return [{"id": v.id, "name": v.name, "query": v.query, "columns": v.columns}
                for v in session.scalars(select(sv).where(sv.username == username).order_by(sv.name))]


KANBAN_COLUMNS = ("unverified", "new", "acknowledged", "dispatched", "on_scene", "resolved")


def kanban(engine: Engine, per_column: int = 40, now: datetime | None = None,
           pack: CityPack | None = None) -> dict[str, dict[str, Any]]:
    """Per status: its most urgent cards (priority, then newest) and how many there are (capped)."""
    sort = Sort.of("priority", "asc")
    out = {}
    for status in KANBAN_COLUMNS:
        filters = IncidentFilter(status=[status])
        n, more = count(engine, filters)
        out[status] = {"rows": page(engine, filters, sort, None, per_column, now, pack).rows, "count": n,
                       "more": more}
    return out
