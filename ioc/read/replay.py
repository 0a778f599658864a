"""City replay: one past day of incidents, units and warnings, read once and played in the browser.

Built from what the store already keeps, never from a copy of it:

- incidents: their row's stamps (the source's own times: reported, acknowledged, dispatched, on
  scene, resolved, closed) and the event log (``incident_event``) for what the stamps do not keep —
  cancellations, merges, splits, reopenings, and steps a feed reported without a time;
- units: the store keeps only each unit's latest position, not a track, so a unit's day is read
  from its assignments (dispatched, en route, on scene, cleared, with the incident's place) and
  its station (the pack's home point): on the map from dispatch to clear, travelling in a straight
  line from where it last was to the incident, then on scene there;
- warnings: CAP alerts with their onset (or effective / sent time), expiry, cancel or the update
  that replaced them, and their areas.

One query per layer; the result is compact rows (times in seconds from the start of the window,
places as for the live map, see ``citymap.SCALE``) that ``layouts/assets/replay.js`` turns into
the map at any moment without asking the server again.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Float, any_, bindparam, func, literal, or_, select, text, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import aliased

from ioc.read.citymap import SCALE, _offsets
from ioc.read.parallel import gather
from ioc.records import CATEGORIES, PRIORITIES, UNIT_STATUSES
from ioc.store import models
from ioc.store.db import session_factory

# A state on the wire is its index here; the map shows 1–4 (the live map's OPEN_STATUSES).
STATES = ("unverified", "new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled",
          "fused")
STATE_INDEX = {s: n for n, s in enumerate(STATES)}
# How far a step goes: a later report of an earlier step never takes an incident back.
RANK = {s: n for n, s in enumerate(STATES)} | {"fused": len(STATES), "cancelled": len(STATES)}
STAMPS = {"acknowledged": "acknowledged_at", "dispatched": "dispatched_at", "on_scene": "on_scene_at",
          "resolved": "resolved_at", "closed": "closed_at"}
# A unit off the map (cleared, free again) on the wire.
OFF = -1
# Incidents reported this long before the window are looked up through ix_incident_still_going
# and the updated_at index (still going, or written since), the rest through reported_at.
LOOKBACK = timedelta(days=1)
# A unit sent out again this soon after clearing a job starts from that job's place, not its station.
BACK_AT_STATION = timedelta(hours=1)


class epoch(FunctionElement):  # noqa: N801 - used like a SQL function
    """A stored time as seconds since 1970, computed by the database: thousands of rows come back
    as plain numbers instead of timezone-aware datetimes built one by one in Python."""

    type = Float()
    inherit_cache = True


@compiles(epoch)
def _epoch(element, compiler, **kw) -> str:
    # date_part gives the double at once; EXTRACT makes a numeric first (a third of the time).
    return f"date_part('epoch', {compiler.process(element.clauses, **kw)})"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element, compiler, **kw) -> str:  # UTCDateTime keeps UTC text there
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A calendar day in the city's timezone, as [start, end)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)


def replay(engine: Engine, start: datetime, end: datetime, origin: tuple[float, float],
           crs: str = "wgs84") -> dict[str, Any]:
    """Everything the replay page needs for [start, end): incident, unit and warning rows."""
    with _collector_paused():
        with engine.connect() as connection:
            stamps = _incident_stamps(connection, start, end)
        in_day = _day_incident_ids(engine.dialect.name, start, end, [r[0] for r in stamps])
        events, assignments, alerts = gather([  # three reads at once, each on its own connection
            _reading(engine, _incident_events, in_day), _reading(engine, _assignments, in_day, end),
            lambda: alert_areas(engine, start, end)])
        return {"start": int(start.timestamp()), "end": int(end.timestamp()), "origin": list(origin), "scale": SCALE,
                "incidents": _incident_rows(stamps, events, start, end, origin, crs),
                "units": _unit_rows(assignments, {r[0]: r for r in stamps}, start, origin, crs), "alerts": alerts}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a day's rows are built. Every one of the
    hundreds of thousands of rows and lists made here lives on in the answer, so each collection
    the allocations set off walks them for nothing: 0.2–0.7 s of a 2 s day at 74,000 incidents,
    more in a process holding more. None of them form cycles; the collector runs again after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _reading(engine: Engine, read: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """``read(connection, *args)`` on a connection of its own, for ``gather``. A Core connection,
    not an ORM session: tens of thousands of plain rows come back without the ORM's per-row work."""
    def call() -> Any:
        with engine.connect() as connection:
            return read(connection, *args)
    return call


def _on_the_map(columns: list[Any], start: datetime, end: datetime) -> list[Any]:
    """The incidents on the map at some moment of [start, end) — reported before its end and not
    gone before its start — as three index-friendly reads that share no incident: reported
    lately, still going from before (``ix_incident_still_going``), gone since the start."""
    i = models.Incident
    # Literal statuses: PostgreSQL uses the partial index only when it sees its very condition,
    # which a bound value hides from a generic plan (as for the open set, ioc.read.wall).
    still_going = i.status.in_([literal(s, literal_execute=True) for s in models.STILL_GOING])
    gone_since_start = func.coalesce(i.resolved_at, i.closed_at, i.updated_at) >= start
    placed = i.lon.is_not(None)
    early = start - LOOKBACK
    return [
        select(*columns).where(i.reported_at >= early, i.reported_at < end, placed, or_(still_going, gone_since_start)),
        select(*columns).where(still_going, i.reported_at < early, placed),
        select(*columns).where(i.updated_at >= start, i.reported_at < early, placed, ~still_going, gone_since_start),
    ]


def _day_incident_ids(dialect: str, start: datetime, end: datetime, ids: list[int]) -> Callable[[Any], Any]:
    """``column`` → the condition that it is one of the incidents on the map in [start, end).

    On PostgreSQL the ids already read are bound as an array the row reads look up by index (as
    a subquery each read computed the set again, and the units' read scanned every assignment);
    SQLite asks the subquery (no arrays, and a bounded number of bound values)."""
    if dialect != "postgresql":
        day = union_all(*_on_the_map([models.Incident.id], start, end)).subquery()
        return lambda column: column.in_(select(day.c.id))
    return lambda column: column == any_(bindparam(None, ids, type_=ARRAY(models.Incident.id.type), unique=True))


# --- incidents --------------------------------------------------------------------------------


def _incident_stamps(connection, start: datetime, end: datetime) -> list[Any]:
    """The row stamps of the incidents on the map in [start, end), by id."""
    i = models.Incident
    columns = [i.id, i.lon, i.lat, i.priority, i.category, i.status, epoch(i.reported_at).label("reported"),
               epoch(i.updated_at).label("updated"),
               *(epoch(getattr(i, column)).label(step) for step, column in STAMPS.items())]
    # Sorted here: asked to give them in id order, SQLite reads the whole table in that order for
    # the last part instead of its index.
    return sorted(connection.execute(union_all(*_on_the_map(columns, start, end))).all(), key=itemgetter(0))


def _incident_events(connection, in_day) -> dict[int, list[tuple]]:
    """The steps of the event log, (at, kind, status, to, manual) per incident in time order."""
    e = models.IncidentEvent
    events: dict[int, list[tuple]] = defaultdict(list)
    for incident_id, *event in connection.execute(
            select(e.incident_id, epoch(e.at), e.kind, e.data["status"].as_string(), e.data["to"].as_string(),
                   e.data["manual"].as_string())
            .where(in_day(e.incident_id), text(f"({models.step_events_where(connection.dialect.name)})"))
            .order_by(e.incident_id, e.at, e.id)):
        events[incident_id].append(event)
    return events


def _incident_rows(rows: list[Any], events: dict[int, list[tuple]], start: datetime, end: datetime,
                   origin: tuple[float, float], crs: str) -> list[list[Any]]:
    """[id, x, y, priority 1–4, category index, [t, state, t, state, ...]] per incident."""
    if not rows:
        return []
    xs, ys = _offsets([r[1] for r in rows], [r[2] for r in rows], origin, crs)
    cats = {c: n for n, c in enumerate(CATEGORIES)}
    priorities = {p: n + 1 for n, p in enumerate(PRIORITIES)}
    t0, t_end = start.timestamp(), end.timestamp()
    out = []
    for r, x, y in zip(rows, xs, ys, strict=True):
        changes = []
        for at, state in timeline(r[5], r[6], r[7], dict(zip(STAMPS, r[8:])), events.get(r[0], ()), t_end):
            changes += (max(-1, round(at - t0)), STATE_INDEX[state])
        out.append([r[0], x, y, priorities.get(r[3], 3), cats.get(r[4], len(CATEGORIES) - 1), changes])
    return out


def timeline(status: str, reported: float, updated: float, stamps: dict[str, float | None],
             events: list[tuple], end: float) -> list[tuple[float, str]]:
    """An incident's states over time, [(from when, state)] in epoch seconds, up to ``end``;
    ``events`` are (at, kind, status, to, manual) from the event log, in time order.

    A step's time is its stamp (the source's own time) when it happened once, and the event log's
    when it happened several times (resolved, reopened, resolved again). Steps only go forward,
    except a reopening or a split, which take it back."""
    steps: list[tuple[float, str, bool]] = []
    initial = "new"
    by_status: dict[str, list[float]] = {}
    for at, kind, said, to, manual in events:
        target, back = _event_status(kind, said, to)
        if kind == "created" and target == "unverified":
            initial = "unverified"
        elif kind == "fused_into" and manual in (None, "false", "0"):
            steps.append((reported, "fused", False))  # fused on arrival: never on the map alone
        elif back:
            steps.append((at, target, True))
        elif target in RANK and target not in ("new", "unverified") or kind == "verified":
            by_status.setdefault(target, []).append(at)
    for target, times in by_status.items():
        stamp = stamps.get(target)
        steps.extend((at, target, False) for at in (times if len(times) > 1 or stamp is None else [stamp]))
    for target, stamp in stamps.items():
        if stamp is not None and target not in by_status:
            steps.append((stamp, target, False))
    if status not in models.STILL_GOING and all(s != status for _, s, _ in steps):
        steps.append((updated, status, False))  # it got there with no trace of when
    state, rank = initial, RANK[initial]
    out = [(reported, state)]
    if len(steps) > 1:
        steps.sort(key=lambda s: (s[0] if s[0] > reported else reported, RANK[s[1]]))
    for at, target, back in steps:
        if at >= end or target == state or not (back or RANK[target] > rank):
            continue
        state, rank = target, RANK[target]
        out.append((at if at > reported else reported, state))
    return out


def _event_status(kind: str, said: str | None, to: str | None) -> tuple[str | None, bool]:
    """The status an event moved its incident to, and whether that was a move back."""
    if kind == "fused_into":
        return "fused", False
    if kind == "split_from":
        return "new", True
    if kind in ("created", "updated"):
        return said, False
    return to or kind, kind == "reopened"


# --- units ------------------------------------------------------------------------------------


def _assignments(connection, in_day, end: datetime) -> list[Any]:
    """The day's jobs in dispatch order per unit; the incident's place and stamps come from its
    row already read, not from a second fetch of it."""
    a, u = models.Assignment, models.Unit
    home = aliased(models.KeyPoint)
    return connection.execute(
        select(a.unit_id, u.call_sign, u.unit_type, home.lon, home.lat, a.incident_id, epoch(a.dispatched_at),
               epoch(a.en_route_at), epoch(a.on_scene_at), epoch(a.cleared_at))
        .join(u, a.unit_id == u.id).outerjoin(home, u.home_point_id == home.id)
        .where(in_day(a.incident_id), a.dispatched_at < end)
        .order_by(a.unit_id, a.dispatched_at, a.id)).all()


def _unit_rows(rows: list[Any], incidents: dict[int, Any], start: datetime, origin: tuple[float, float],
               crs: str) -> list[list[Any]]:
    """[call sign, unit type, [t, x, y, status index, ...]] per unit sent out in the window (status
    OFF: off the map, free again), from its assignments in dispatch order (``incidents``: the
    stamp rows by id). A job ends when it is cleared, else when its incident is resolved or
    closed. The browser moves a unit between two frames at different places."""
    t0 = start.timestamp()
    jobs = []
    for r in rows:
        incident = incidents.get(r[5])
        if incident is None:  # on SQLite the set is asked again: one that came onto the map since
            continue
        cleared = next((t for t in (r[9], incident.resolved, incident.closed) if t is not None), None)
        if cleared is None or cleared >= t0:
            jobs.append((r, incident, cleared))
    if not jobs:
        return []
    lons = [v for r, i, _ in jobs for v in (r[3] if r[3] is not None else i.lon, i.lon)]
    lats = [v for r, i, _ in jobs for v in (r[4] if r[4] is not None else i.lat, i.lat)]
    xs, ys = _offsets(lons, lats, origin, crs)
    tracks: dict[str, list] = {}
    last: dict[str, tuple[float | None, tuple[int, int]]] = {}
    back_at_station = BACK_AT_STATION.total_seconds()
    for n, (r, _, cleared) in enumerate(jobs):
        unit_id, dispatched, en_route, on_scene = r[0], r[6], r[7], r[8]
        frames = tracks.setdefault(unit_id, [r[1], r[2], []])[2]
        there = (xs[2 * n + 1], ys[2 * n + 1])
        came_from = (xs[2 * n], ys[2 * n])  # its station (the incident itself when it has none)
        if unit_id in last:  # straight from its last job, unless it had time to go back
            was_cleared, was_at = last[unit_id]
            if was_cleared is None or dispatched - was_cleared < back_at_station:
                came_from = was_at
        frames.append(_frame(dispatched, t0, came_from, "DISPATCHED"))
        if en_route:
            frames.append(_frame(en_route, t0, came_from, "EN_ROUTE"))
        if on_scene:
            frames.append(_frame(on_scene, t0, there, "ON_SCENE"))
        if cleared:
            frames.append(_frame(cleared, t0, there, None))
        last[unit_id] = (cleared, there if on_scene else came_from)
    for track in tracks.values():
        track[2] = [v for frame in sorted(track[2], key=lambda f: f[0]) for v in frame]
    return list(tracks.values())


def _frame(at: float, t0: float, place: tuple[int, int], status: str | None) -> list[int]:
    return [max(-1, round(at - t0)), place[0], place[1], UNIT_STATUSES.index(status) if status else OFF]


# --- warnings ---------------------------------------------------------------------------------


def alert_areas(engine: Engine, start: datetime, end: datetime) -> dict[str, Any]:
    """The areas of the warnings in force at some moment of [start, end), each with when it began
    (onset, else effective, else sent) and ended (expiry, cancel, or the update that replaced it),
    in seconds from ``start`` (``off`` None: still in force at the end)."""
    al, newer = models.Alert, aliased(models.Alert)
    began = func.coalesce(al.onset, al.effective, al.sent)
    with session_factory(engine)() as session:
        rows = session.execute(
            select(al.id, began, al.expires, al.cancelled_at, newer.sent, al.headline, al.event, al.severity,
                   al.areas, al.extra)
            .outerjoin(newer, al.superseded_by_id == newer.id)
            .where(al.msg_type.in_(("Alert", "Update")), al.status == "Actual", al.sent < end,
                   or_(al.expires.is_(None), al.expires >= start))
            .order_by(al.sent)).all()
    t0 = start.timestamp()
    features = []
    for ident, on, expires, cancelled, replaced, headline, event, severity, areas, extra in rows:
        ended = min((t for t in (expires, cancelled, replaced) if t is not None), default=None)
        if on >= end or (ended is not None and ended <= start) or (ended is not None and ended <= on):
            continue
        props = {"id": ident, "on": max(-1, round(on.timestamp() - t0)),
                 "off": round(ended.timestamp() - t0) if ended else None,
                 "colour": (extra or {}).get("colour"), "headline": headline or event, "severity": severity}
        for area in (areas or {}).get("features", []):
            if area.get("geometry"):
                features.append({"type": "Feature", "geometry": area["geometry"], "properties": props})
    return {"type": "FeatureCollection", "features": features}


def has_anything(data: dict[str, Any]) -> bool:
    return bool(data["incidents"] or data["units"] or data["alerts"]["features"])

