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

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, or_, select, union
from sqlalchemy.orm import aliased

from ioc.read.citymap import SCALE, _offsets
from ioc.records import CATEGORIES, OPEN_STATUSES, PRIORITIES, UNIT_STATUSES
from ioc.store import models
from ioc.store.db import session_factory

# A state on the wire is its index here; the map shows 1–4 (the live map's OPEN_STATUSES).
STATES = ("unverified", "new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled",
          "fused")
ON_MAP = tuple(STATES.index(s) for s in OPEN_STATUSES)
STILL_GOING = ("unverified", *OPEN_STATUSES)
# How far a step goes: a later report of an earlier step never takes an incident back.
RANK = {s: n for n, s in enumerate(STATES)} | {"fused": len(STATES), "cancelled": len(STATES)}
STAMPS = {"acknowledged": "acknowledged_at", "dispatched": "dispatched_at", "on_scene": "on_scene_at",
          "resolved": "resolved_at", "closed": "closed_at"}
STATUS_EVENTS = ("created", "updated", "verified", "acknowledged", "dispatched", "on_scene", "resolved", "closed",
                 "cancelled", "reopened", "fused_into", "split_from")
# A unit off the map (cleared, free again) on the wire.
OFF = -1
# Incidents reported this long before the window are looked up through the status and
# updated_at indexes (still open, or written since), the rest through reported_at.
LOOKBACK = timedelta(days=1)
# A unit sent out again this soon after clearing a job starts from that job's place, not its station.
BACK_AT_STATION = timedelta(hours=1)


def day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A calendar day in the city's timezone, as [start, end)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)


def replay(engine: Engine, start: datetime, end: datetime, origin: tuple[float, float],
           crs: str = "wgs84") -> dict[str, Any]:
    """Everything the replay page needs for [start, end): incident, unit and warning rows."""
    with session_factory(engine)() as session:
        ids = _day_incident_ids(start, end)
        incidents = _incident_rows(session, ids, start, end, origin, crs)
        units = _unit_rows(session, ids, start, end, origin, crs)
    alerts = alert_areas(engine, start, end)
    return {"start": int(start.timestamp()), "end": int(end.timestamp()), "origin": list(origin), "scale": SCALE,
            "incidents": incidents, "units": units, "alerts": alerts}


def _day_incident_ids(start: datetime, end: datetime):
    """The incidents on the map at some moment of [start, end): reported before its end and not
    gone before its start. Three index-friendly parts: reported lately, still open, written since."""
    i = models.Incident
    gone_after_start = or_(i.status.in_(STILL_GOING),
                           func.coalesce(i.resolved_at, i.closed_at, i.updated_at) >= start)
    placed = i.lon.is_not(None)
    early = start - LOOKBACK
    return union(
        select(i.id).where(i.reported_at >= early, i.reported_at < end, placed, gone_after_start),
        select(i.id).where(i.status.in_(STILL_GOING), i.reported_at < early, placed),
        select(i.id).where(i.updated_at >= start, i.reported_at < early, placed, gone_after_start),
    ).subquery()


# --- incidents --------------------------------------------------------------------------------


def _incident_rows(session, ids, start: datetime, end: datetime, origin: tuple[float, float],
                   crs: str) -> list[list[Any]]:
    """[id, x, y, priority 1–4, category index, [t, state, t, state, ...]] per incident."""
    i = models.Incident
    cols = (i.id, i.lon, i.lat, i.priority, i.category, i.status, i.reported_at, i.updated_at,
            *(getattr(i, stamp) for stamp in STAMPS.values()))
    rows = session.execute(select(*cols).where(i.id.in_(select(ids.c.id))).order_by(i.id)).all()
    if not rows:
        return []
    e = models.IncidentEvent
    events: dict[int, list[tuple[datetime, str, dict]]] = defaultdict(list)
    for incident_id, at, kind, data in session.execute(
            select(e.incident_id, e.at, e.kind, e.data)
            .where(e.incident_id.in_(select(ids.c.id)), e.kind.in_(STATUS_EVENTS))
            .order_by(e.incident_id, e.at, e.id)):
        events[incident_id].append((at, kind, data or {}))
    xs, ys = _offsets([r.lon for r in rows], [r.lat for r in rows], origin, crs)
    cats = {c: n for n, c in enumerate(CATEGORIES)}
    t0 = start.timestamp()
    out = []
    for r, x, y in zip(rows, xs, ys, strict=True):
        changes = [[max(-1, round(at.timestamp() - t0)), STATES.index(state)]
                   for at, state in timeline(r, events.get(r.id, []), end)]
        out.append([r.id, x, y, PRIORITIES.index(r.priority) + 1 if r.priority in PRIORITIES else 3,
                    cats.get(r.category, len(CATEGORIES) - 1), [v for pair in changes for v in pair]])
    return out


def timeline(row: Any, events: list[tuple[datetime, str, dict]], end: datetime) -> list[tuple[datetime, str]]:
    """An incident's states over time, [(from when, state)], up to ``end``.

    A step's time is its stamp (the source's own time) when it happened once, and the event log's
    when it happened several times (resolved, reopened, resolved again). Steps only go forward,
    except a reopening or a split, which take it back."""
    steps: list[tuple[datetime, str, bool]] = []
    initial = "new"
    by_status: dict[str, list[datetime]] = defaultdict(list)
    for at, kind, data in events:
        status, back = _event_status(kind, data)
        if kind == "created" and status == "unverified":
            initial = "unverified"
        elif kind == "fused_into" and not data.get("manual"):
            steps.append((row.reported_at, "fused", False))  # fused on arrival: never on the map alone
        elif back:
            steps.append((at, status, True))
        elif status in RANK and status not in ("new", "unverified") or kind == "verified":
            by_status[status].append(at)
    for status, times in by_status.items():
        stamp = getattr(row, STAMPS[status]) if status in STAMPS else None
        for at in (times if len(times) > 1 or stamp is None else [stamp]):
            steps.append((at, status, False))
    for status, column in STAMPS.items():
        stamp = getattr(row, column)
        if stamp is not None and status not in by_status:
            steps.append((stamp, status, False))
    if row.status not in STILL_GOING and not any(s == row.status for _, s, _ in steps):
        steps.append((row.updated_at, row.status, False))  # it got there with no trace of when
    state = initial
    out = [(row.reported_at, state)]
    for at, status, back in sorted(steps, key=lambda s: (max(s[0], row.reported_at), RANK[s[1]])):
        if at >= end or status == state or not (back or RANK[status] > RANK[state]):
            continue
        state = status
        out.append((max(at, row.reported_at), state))
    return out


def _event_status(kind: str, data: dict) -> tuple[str | None, bool]:
    """The status an event moved its incident to, and whether that was a move back."""
    if kind == "fused_into":
        return "fused", False
    if kind == "split_from":
        return "new", True
    if kind in ("created", "updated"):
        return data.get("status"), False
    return data.get("to", kind), kind == "reopened"


# --- units ------------------------------------------------------------------------------------


def _unit_rows(session, ids, start: datetime, end: datetime, origin: tuple[float, float],
               crs: str) -> list[list[Any]]:
    """[call sign, unit type, [t, x, y, status index, ...]] per unit sent out in the window (status
    OFF: off the map, free again). The browser moves a unit between two frames at different places."""
    a, i, u = models.Assignment, models.Incident, models.Unit
    home = aliased(models.KeyPoint)
    rows = session.execute(
        select(a.unit_id, u.call_sign, u.unit_type, home.lon, home.lat, i.lon, i.lat, a.dispatched_at,
               a.en_route_at, a.on_scene_at, func.coalesce(a.cleared_at, i.resolved_at, i.closed_at))
        .join(i, a.incident_id == i.id).join(u, a.unit_id == u.id)
        .outerjoin(home, u.home_point_id == home.id)
        .where(a.incident_id.in_(select(ids.c.id)), a.dispatched_at < end)
        .order_by(a.unit_id, a.dispatched_at, a.id)).all()
    rows = [r for r in rows if r[10] is None or r[10] >= start]
    if not rows:
        return []
    lons = [v for r in rows for v in (r[3] if r[3] is not None else r[5], r[5])]
    lats = [v for r in rows for v in (r[4] if r[4] is not None else r[6], r[6])]
    xs, ys = _offsets(lons, lats, origin, crs)
    t0 = start.timestamp()
    tracks: dict[str, list] = {}
    last: dict[str, tuple[datetime | None, tuple[int, int]]] = {}
    for n, r in enumerate(rows):
        unit_id, dispatched, en_route, on_scene, cleared = r[0], r[7], r[8], r[9], r[10]
        frames = tracks.setdefault(unit_id, [r[1], r[2], []])[2]
        there = (xs[2 * n + 1], ys[2 * n + 1])
        came_from = (xs[2 * n], ys[2 * n])  # its station (the incident itself when it has none)
        if unit_id in last:  # straight from its last job, unless it had time to go back
            was_cleared, was_at = last[unit_id]
            if was_cleared is None or dispatched - was_cleared < BACK_AT_STATION:
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


def _frame(at: datetime, t0: float, place: tuple[int, int], status: str | None) -> list[int]:
    return [max(-1, round(at.timestamp() - t0)), place[0], place[1], UNIT_STATUSES.index(status) if status else OFF]


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

