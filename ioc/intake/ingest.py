"""The one way into the store for every source. Per batch, in one transaction:

land every raw item → parse and validate → convert coordinates to WGS-84 → check the
location → enrich (division, owning org) → dedupe → fuse → upsert → append events; the
feed's cursor and counts are written in the same transaction, so a crash before the commit
loses nothing and duplicates nothing on the next run.

Alerts (CAP) and sensor readings take the same path and are stored by ``ioc.intake.alerts`` and
``ioc.intake.sensors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import Engine, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from ioc.chain import dispatch, sla
from ioc.chain.actions import Actor
from ioc.chain.links import link_events, link_new
from ioc.city import triage
from ioc.city.geo import DivisionIndex, grid_codes, to_wgs84_arrays
from ioc.city.pack import CityPack
from ioc.config import FeedSettings
from ioc.intake import alerts, sensors
from ioc.intake.fusion import Candidate, FusionFinder, split_own
from ioc.records import (
    OPEN_STATUSES,
    IncidentRecord,
    ReadingRecord,
    Record,
    Reject,
    UnitStatusRecord,
)
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow
from ioc.store.upsert import insert_rows

log = logging.getLogger(__name__)

Parser = Callable[[Any], list[Record]]

# How far along the lifecycle a status is: a source may move an incident forward, never back.
STATUS_RANK = {"unverified": 0, "new": 1, "acknowledged": 2, "dispatched": 3, "on_scene": 4,
               "resolved": 5, "closed": 6, "cancelled": 6, "fused": 6}
# A unit status reported by a CAD feed, as the assignment status it means.
UNIT_TO_ASSIGNMENT = {"EN_ROUTE": "EN_ROUTE", "ON_SCENE": "ON_SCENE", "CLEARED": "CLEARED", "AVAILABLE": "CLEARED"}
# The department whose units answer a channel's calls, or a CAD kind's, when the feed names no agency.
CHANNEL_SERVICE = {"110": "police", "119": "fire", "120": "health"}
KIND_SERVICE = {"police_cad": "police", "emergency_cad": "fire"}
UNIT_ID_MAX = 40  # the store's unit id column
EXTERNAL_ID_MAX = 200  # the store's raw record and incident external id columns
# A source clock may run a little ahead; a time further ahead than this is wrong, not early.
FUTURE_TOLERANCE = timedelta(minutes=10)
# Each kind of located record's own event time.
EVENT_TIME = {"incident": "reported_at", "unit_status": "at", "reading": "at"}
INCIDENT_COPY_FIELDS = ("channel", "category", "type", "priority", "title", "description", "address",
                        "lon", "lat", "location_flag", "district_code", "grid_code", "org_code", "reported_at",
                        "closed_at", "extra")
# What a duty officer's reclassification (ioc.chain.reclassify) decides, and a source update leaves alone.
RECLASSIFIED_FIELDS = ("category", "district_code", "org_code", "grid_code")


@dataclass
class FeedContext:
    """What the pipeline needs to know about one feed and its city."""

    name: str
    kind: str
    crs: str
    pack: CityPack
    index: DivisionIndex
    agency: str | None = None  # org code of the units this feed names (see ``unit_agency``)
    close_before: datetime | None = None  # a history import: open incidents reported earlier are closed
    fuse_same_source: bool = True  # this feed's reports may fuse with each other (``ioc.intake.fusion``)

    @classmethod
    def for_feed(cls, name: str, kind: str, crs: str, pack: CityPack, index: DivisionIndex | None = None,
                 agency: str | None = None, fuse_same_source: bool | None = None) -> FeedContext:
        from feeds.base import fuses_same_source  # the feed's setting, else its kind's default

        fuses = fuses_same_source(FeedSettings(name=name, kind=kind, fuse_same_source=fuse_same_source))
        return cls(name=name, kind=kind, crs=crs, pack=pack, index=index or DivisionIndex(pack.divisions()),
                   agency=agency, fuse_same_source=fuses)

    @classmethod
    def of(cls, feed: FeedSettings, pack: CityPack, index: DivisionIndex | None = None) -> FeedContext:
        return cls.for_feed(feed.name, feed.kind, feed.crs, pack, index, agency=feed.agency,
                            fuse_same_source=feed.fuse_same_source)

    def unit_agency(self, channel: str | None = None) -> str:
        """Whose units this feed names: its ``agency`` setting, else the department that answers
        the channel of the call (110 police, 119 fire, 120 health) or serves the feed's kind,
        else the city's own centre."""
        orgs = self.pack.orgs()
        if self.agency and not any(o.code == self.agency for o in orgs):
            log.warning("feed %s: agency %r is no org of the city pack; its units go by their calls",
                        self.name, self.agency)
        services = [s for s in (CHANNEL_SERVICE.get(channel or ""), KIND_SERVICE.get(self.kind)) if s]
        found = ([o.code for o in orgs if o.code == self.agency]
                 + [o.code for s in services for o in orgs if o.kind == "department" and o.service == s]
                 + [o.code for o in orgs if o.kind == "city"])
        return found[0] if found else orgs[0].code

    def owner(self, category: str, district: str | None) -> str | None:
        """The owning org: the department of the category's service (pack ``rules.toml`` routing),
        or the office of the incident's division."""
        service = self.pack.rules.routing.services.get(category, self.pack.rules.routing.default)
        departments, offices = self._owners
        return offices.get(district) if service == "town" else departments.get(service)

    @cached_property
    def _owners(self) -> tuple[dict[str, str], dict[str | None, str]]:
        """Departments by service and offices by division, the first of each in the pack's order."""
        departments: dict[str, str] = {}
        offices: dict[str | None, str] = {}
        for org in self.pack.orgs():
            if org.kind == "department":
                departments.setdefault(org.service, org.code)
            elif org.kind == "office":
                offices.setdefault(org.district_code, org.code)
        return departments, offices


@dataclass
class BatchReport:
    fetched: int = 0
    stored: int = 0
    updated: int = 0
    fused: int = 0
    duplicates: int = 0  # items sent again as they were (not landed again): fetched = landed + duplicates
    unchanged: int = 0  # new versions of a record that change nothing stored
    rejected: list[tuple[str, str]] = field(default_factory=list)
    defects: list[tuple[str, str]] = field(default_factory=list)  # (external id, what was repaired or dropped)
    flagged: dict[str, int] = field(default_factory=dict)
    units: int = 0
    units_registered: int = 0
    alerts: int = 0
    readings: int = 0
    closed_as_history: int = 0
    split_off: int = 0  # reports a replay split off an incident of their own feed (``fusion.split_own``)
    newest: datetime | None = None

    def add(self, other: BatchReport) -> None:
        for name in ("fetched", "stored", "updated", "fused", "duplicates", "unchanged", "units", "units_registered",
                     "alerts", "readings", "closed_as_history",
                     "split_off"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += other.rejected
        self.defects += other.defects
        for flag, n in other.flagged.items():
            self.flagged[flag] = self.flagged.get(flag, 0) + n
        if other.newest and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest

    def note_newest(self, times: Iterable[datetime]) -> None:
        """Track the newest event time among what this batch brought (for the feed's lag)."""
        latest = max(times, default=None)
        if latest and (self.newest is None or latest > self.newest):
            self.newest = latest

    def counts(self) -> dict[str, int]:
        return {"fetched": self.fetched, "stored": self.stored, "updated": self.updated, "fused": self.fused,
                "duplicates": self.duplicates, "unchanged": self.unchanged, "rejected": len(self.rejected),
                "units": self.units,
                "units_registered": self.units_registered, "alerts": self.alerts, "readings": self.readings,
                "closed_as_history": self.closed_as_history, "split_off": self.split_off}

    def summary(self) -> str:
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in self.counts().items() if v or k == "fetched"]
        if self.defects:
            parts.append(f"repaired {len(self.defects)} defects")
        if self.flagged:
            parts.append("flagged " + ", ".join(f"{k} {v}" for k, v in sorted(self.flagged.items())))
        return ", ".join(parts)


@dataclass
class _Item:
    """One raw item on its way through: what it became, or why not."""

    external_id: str | None
    payload: str
    content_hash: str
    received_at: datetime
    raw_id: int | None = None  # set when replaying an already-landed item
    records: list[Record] = field(default_factory=list)
    reason: str | None = None

    @classmethod
    def of(cls, raw: Any) -> _Item:
        """A fetched ``feeds.base.RawItem`` as it can be landed: PostgreSQL keeps no NUL character
        in text (it stands as U+FFFD in the kept payload, the hash is of what was sent) and an id
        is at most ``EXTERNAL_ID_MAX`` characters (longer ones are cut, the same way each time)."""
        external_id = raw.external_id.replace("\x00", "")[:EXTERNAL_ID_MAX] if raw.external_id else raw.external_id
        return cls(external_id, raw.payload.replace("\x00", "\ufffd"), raw.content_hash, raw.received_at)


def ingest_batch(engine: Engine, ctx: FeedContext, items: Sequence[Any], parse: Parser,
                 cursor: str | None = None, save_cursor: bool = True) -> BatchReport:
    """Store one fetched batch (``items`` are ``feeds.base.RawItem``) and move the cursor."""
    with transaction(engine) as session:
        report = ingest_items(session, ctx, [_Item.of(i) for i in items], parse)
        if save_cursor:
            _save_state(session, ctx.name, ctx.kind, cursor, report)
    return report


def replay(engine: Engine, ctx: FeedContext, parse: Parser, everything: bool = False,
           since: datetime | None = None, batch: int = 500,
           progress: Callable[[int, int], None] | None = None) -> BatchReport:
    """Re-run a feed's landed raw records through the current mapping and pack: the rejected ones
    (after a mapping fix), or ``everything`` (after a mapping or pack fix). Idempotent: what was
    stored is updated where it now reads differently, nothing is doubled. ``since`` limits it to
    records received then or later; ``progress(done, total)`` is called after each batch. Of the
    versions a source sent of one record, only the newest is read again: an older one would turn
    the incident back and forth and write two events each time. Replaying everything of a feed
    that does not fuse within itself first splits off what it fused within itself before."""
    rr = models.RawRecord
    where = [rr.feed == ctx.name]
    if everything:
        newer = aliased(rr)
        where.append(~exists().where(newer.feed == rr.feed, newer.external_id == rr.external_id, newer.id > rr.id))
    else:
        where.append(rr.outcome == "rejected")
    if since is not None:
        where.append(rr.received_at >= since)
    with transaction(engine) as session:
        todo = session.scalar(select(func.count()).select_from(rr).where(*where)) or 0
    total, last_id = BatchReport(), 0
    if everything and not ctx.fuse_same_source:
        total.split_off = split_own(engine, ctx.name)
    while True:
        with transaction(engine) as session:
            rows = session.scalars(select(rr).where(*where, rr.id > last_id).order_by(rr.id).limit(batch)).all()
            if not rows:
                break
            items = [_Item(r.external_id, r.payload, r.content_hash, r.received_at, raw_id=r.id) for r in rows]
            report = ingest_items(session, ctx, items, parse)
            # The feed's totals count what the replay added, not the records it read again.
            _save_state(session, ctx.name, ctx.kind, None, replace(report, fetched=0, duplicates=0, unchanged=0,
                                                                        rejected=[]),
                        keep_cursor=True)
        last_id = rows[-1].id
        total.add(report)
        if progress:
            progress(total.fetched, todo)
    return total


def ingest_items(session: Session, ctx: FeedContext, items: list[_Item], parse: Parser) -> BatchReport:
    report = BatchReport(fetched=len(items))
    fresh = _drop_seen(session, ctx.name, items, report)
    for item in fresh:
        _parse(item, parse)
        _correct_future(ctx, item, report)
    places = _locate(ctx, [r for it in fresh for r in it.records])
    by_kind: dict[str, list[tuple[_Item, Record]]] = {}
    for item in fresh:
        for record in item.records:
            by_kind.setdefault(record.kind, []).append((item, record))
    readings = [(r, places[id(r)]) for _, r in by_kind.get("reading", [])]
    report.note_newest(r.at for r, _ in readings)
    report.note_newest(r.sent for _, r in by_kind.get("alert", []))
    report.readings, crossings = sensors.store(session, ctx, readings)
    places.update({id(r): place for r, place in crossings})
    incidents = by_kind.get("incident", []) + [(None, r) for r, _ in crossings]
    incident_ids = _store_incidents(session, ctx, incidents, places, report)
    _store_unit_statuses(session, ctx, by_kind.get("unit_status", []), places, report)
    alert_pairs = by_kind.get("alert", [])
    report.defects += [(item.external_id or "?", d) for item, r in alert_pairs for d in r.defects]  # type: ignore[union-attr]
    stored_alerts, updated_alerts = alerts.store(session, ctx.name, [r for _, r in alert_pairs])
    report.alerts += stored_alerts
    report.updated += updated_alerts
    _land(session, ctx.name, fresh, report, incident_ids)
    return report


# --- land, parse ----------------------------------------------------------------------


def _drop_seen(session: Session, feed: str, items: list[_Item], report: BatchReport) -> list[_Item]:
    """Items already landed with identical content are duplicates: nothing new to store."""
    fresh = [i for i in items if i.raw_id is not None]
    new = [i for i in items if i.raw_id is None]
    if not new:
        return fresh
    hashes = {i.content_hash for i in new}
    seen = set(session.execute(
        select(models.RawRecord.external_id, models.RawRecord.content_hash)
        .where(models.RawRecord.feed == feed, models.RawRecord.content_hash.in_(hashes))
    ).all())
    in_batch: set[tuple[str | None, str]] = set()
    for item in new:
        key = (item.external_id, item.content_hash)
        if key in seen or key in in_batch:
            report.duplicates += 1
        else:
            in_batch.add(key)
            fresh.append(item)
    return fresh


def _parse(item: _Item, parse: Parser) -> None:
    from feeds.base import RawItem  # the adapter's own item type

    raw = RawItem(item.external_id, item.payload, item.received_at)
    try:
        item.records = [_without_nul(r) for r in parse(raw)]
    except Reject as exc:
        item.reason = str(exc) or "rejected by the adapter"
    except ValidationError as exc:
        err = exc.errors()[0]
        item.reason = f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    except Exception as exc:  # a poisoned record must not stop its batch
        log.warning("feed item %s: %s: %s", item.external_id, type(exc).__name__, exc)
        item.reason = f"could not parse: {type(exc).__name__}: {exc}"
    if item.reason:
        item.reason = item.reason.replace("\x00", "\ufffd")


def _correct_future(ctx: FeedContext, item: _Item, report: BatchReport) -> None:
    """A time later than its arrival (beyond ``FUTURE_TOLERANCE``) is a wrong clock at the source:
    the record is kept at the time it arrived, the source's time in ``extra`` (incidents) and the
    feed's counts (``flagged_future_time``). Left alone, a unit status from 2099 would hide every
    real one after it, and an incident reported tomorrow would sit at the top of the board."""
    latest = item.received_at + FUTURE_TOLERANCE
    for n, record in enumerate(item.records):
        name = EVENT_TIME.get(record.kind)
        if name is None or getattr(record, name) <= latest:
            continue
        sent = getattr(record, name)
        update: dict[str, Any] = {name: item.received_at}
        if isinstance(record, IncidentRecord):
            update["extra"] = {**record.extra, "source_time": sent.isoformat()}
        item.records[n] = record.model_copy(update=update)
        report.flagged["future_time"] = report.flagged.get("future_time", 0) + 1
        log.info("feed %s item %s: time %s is ahead of its arrival; kept at arrival", ctx.name,
                 item.external_id, sent.isoformat())


def _without_nul(record: Record) -> Record:
    """The record with NUL characters taken out of its text (PostgreSQL refuses them, and they
    mean nothing on a screen)."""
    if "\\u0000" not in record.model_dump_json():  # pydantic's JSON escapes every NUL so: the fast common case
        return record
    data = record.model_dump()
    clean = _strip_nul(data)
    return record if clean == data else type(record).model_validate(clean)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_strip_nul(v) for v in value)
    return value


def _land(session: Session, feed: str, items: list[_Item], report: BatchReport,
          incident_ids: dict[str, int]) -> None:
    """Write every raw item with its outcome and the incident it fed (new rows, or updated
    rows when replaying)."""
    rows = []
    for item in items:
        outcome = "rejected" if item.reason else "accepted"
        if item.reason:
            report.rejected.append((item.external_id or "?", item.reason))
        if item.raw_id is not None:
            session.execute(update(models.RawRecord).where(models.RawRecord.id == item.raw_id)
                            .values(outcome=outcome, reason=item.reason,
                                    incident_id=incident_ids.get(item.external_id or "")))
            continue
        rows.append({"feed": feed, "external_id": item.external_id, "content_hash": item.content_hash,
                     "received_at": item.received_at, "payload": item.payload, "outcome": outcome,
                     "reason": item.reason, "incident_id": incident_ids.get(item.external_id or "")})
    insert_rows(session, models.RawRecord, rows)


# --- coordinates and places -------------------------------------------------------------


@dataclass
class _Place:
    lon: float | None
    lat: float | None
    flag: str | None
    district: str | None
    grid: str | None = None


def _locate(ctx: FeedContext, records: list[Record]) -> dict[int, _Place]:
    """Each located record's checked WGS-84 place and division, keyed by ``id(record)``."""
    located = [r for r in records if isinstance(r, (IncidentRecord, UnitStatusRecord, ReadingRecord))]
    lons = np.array([r.lon if r.lon is not None else np.nan for r in located], dtype=float)
    lats = np.array([r.lat if r.lat is not None else np.nan for r in located], dtype=float)
    return {id(r): p for r, p in zip(located, check_points(ctx, lons, lats))}


def check_points(ctx: FeedContext, lons: np.ndarray, lats: np.ndarray) -> list[_Place]:
    """WGS-84 points with a flag: missing, swapped (lat/lon corrected) or outside the city."""
    if len(lons) == 0:
        return []
    west, south, east, north = ctx.pack.manifest.bbox
    missing = np.isnan(lons) | np.isnan(lats) | ((np.abs(lons) < 1e-9) & (np.abs(lats) < 1e-9))
    swap = ~missing & ~_inside(lons, lats, west, south, east, north) & _inside(lats, lons, west, south, east, north)
    lons, lats = np.where(swap, lats, lons), np.where(swap, lons, lats)
    safe_lons, safe_lats = np.where(missing, 0.0, lons), np.where(missing, 0.0, lats)
    wlon, wlat = to_wgs84_arrays(safe_lons, safe_lats, ctx.crs)
    districts = ctx.index.locate_many(wlon, wlat)
    grids = grid_codes(districts, wlon, wlat, ctx.pack.manifest.bbox, ctx.pack.manifest.grid_cell_m)
    places = []
    for i in range(len(lons)):
        if missing[i]:
            places.append(_Place(None, None, "missing", None))
            continue
        flag = "swapped" if swap[i] else (None if districts[i] else "outside")
        places.append(_Place(round(float(wlon[i]), 6), round(float(wlat[i]), 6), flag, districts[i], grids[i]))
    return places


def _inside(x: np.ndarray, y: np.ndarray, west: float, south: float, east: float, north: float) -> np.ndarray:
    # A margin of about 10 km: a point just over the line is a real report, not a swap.
    m = 0.1
    return (x >= west - m) & (x <= east + m) & (y >= south - m) & (y <= north + m)


# --- incidents ----------------------------------------------------------------------------


def _store_incidents(session: Session, ctx: FeedContext, pairs: list[tuple[_Item, Record]],
                     places: dict[int, _Place], report: BatchReport) -> dict[str, int]:
    """Insert or update the batch's incidents; their ids by external id. New incidents are rows
    written with bulk statements; incidents the store has already are updated through the session."""
    if not pairs:
        return {}
    records: list[IncidentRecord] = [r for _, r in pairs]  # type: ignore[misc]
    ids = [r.external_id for r in records]
    existing = {i.external_id: i for i in session.scalars(
        select(models.Incident).where(models.Incident.source == ctx.name, models.Incident.external_id.in_(ids)))}
    times = [r.reported_at for r in records]
    finder = FusionFinder(session, ctx.pack.rules.fusion, min(times), max(times), {r.category for r in records},
                          ctx.name, ctx.fuse_same_source)
    units = _units(session, ctx, {a.unit_id: r.channel for r in records for a in r.assignments}, report)
    clocks, now = sla.IncidentClocks(ctx.pack), utcnow()
    new: dict[str, dict[str, Any]] = {}
    fused: list[tuple[dict[str, Any], int | dict[str, Any]]] = []
    touched: list[tuple[models.Incident | dict[str, Any], IncidentRecord]] = []
    for record in sorted(records, key=lambda r: r.reported_at):
        place = places[id(record)]
        record = _closed_as_history(ctx, record, report)
        if place.flag:
            report.flagged[place.flag] = report.flagged.get(place.flag, 0) + 1
        values = _incident_values(ctx, record, place)
        incident: models.Incident | dict[str, Any] | None = existing.get(record.external_id)
        if incident is not None:
            _update_incident(session, ctx, incident, values, report)
        elif record.external_id in new:
            incident = new[record.external_id]
            _update_new(incident, values, clocks, report)
        else:
            incident = new[record.external_id] = _new_row(ctx, record.external_id, values, clocks, finder, fused, now)
        touched.append((incident, record))
    for incident, record in touched:
        if isinstance(incident, dict):
            incident.update(_stamps(incident, record))
    _insert_new(session, ctx, list(new.values()), fused)
    report.note_newest(row["reported_at"] for row in new.values())
    report.stored += len(new)
    report.fused += len(fused)
    _store_assignments(session, touched, units)
    for incident, record in touched:
        if not isinstance(incident, dict):
            for name, value in _stamps(_fields(incident, STAMP_FIELDS), record).items():
                setattr(incident, name, value)
    return {ext: incident.id for ext, incident in existing.items()} | {ext: row["id"] for ext, row in new.items()}


def _closed_as_history(ctx: FeedContext, record: IncidentRecord, report: BatchReport) -> IncidentRecord:
    """In a history import, an incident the file gives no status for and that was reported before
    the cut-off is over: closed at its last unit time, else its report time. (Closed, no SLA
    clock can run out and no 督办 is raised for it.)"""
    if (ctx.close_before is None or record.source_status or record.status not in OPEN_STATUSES
            or record.reported_at >= ctx.close_before):
        return record
    stamps = [t for a in record.assignments
              for t in (a.dispatched_at, a.en_route_at, a.on_scene_at, a.cleared_at) if t]
    report.closed_as_history += 1
    return record.model_copy(update={"status": "closed", "closed_at": max(stamps, default=record.reported_at)})


def _incident_values(ctx: FeedContext, record: IncidentRecord, place: _Place) -> dict[str, Any]:
    extra = {**record.extra, **({"source_status": record.source_status} if record.source_status else {})}
    suggestion = _triage(ctx, record, place)
    if suggestion:
        extra["triage"] = suggestion.as_dict()
    return {
        "channel": record.channel, "category": record.category, "type": record.type,
        "priority": record.priority, "status": record.status, "title": record.title or record.type,
        "description": record.description, "address": record.address, "lon": place.lon, "lat": place.lat,
        "location_flag": place.flag, "district_code": place.district,
        "grid_code": record.extra.get("grid_code") or place.grid,  # the source's own grid when it has one
        "org_code": ctx.owner(record.category, place.district),
        "reported_at": _utc(record.reported_at), "closed_at": _utc(record.closed_at),
        "extra": extra,
    }


def _triage(ctx: FeedContext, record: IncidentRecord, place: _Place) -> triage.Suggestion:
    """For a report with no place or no category: what its words suggest (shown to the duty
    officer to accept or correct; the report itself keeps what the source said)."""
    no_place, no_category = place.district is None, record.category == "other"
    if not (no_place or no_category):
        return triage.Suggestion()
    text = " ".join(x for x in (record.title, record.description, record.address) if x)
    return triage.for_pack(ctx.pack).suggest(text).only(division=no_place, category=no_category)


def _utc(at: datetime | None) -> datetime | None:
    """In UTC, as the store gives times back (and its bulk writes take them fastest)."""
    return at if at is None or at.tzinfo is timezone.utc else at.astimezone(timezone.utc)


def _new_row(ctx: FeedContext, external_id: str, values: dict[str, Any], clocks: sla.IncidentClocks,
             finder: FusionFinder, fused: list[tuple[dict[str, Any], int | dict[str, Any]]],
             now: datetime) -> dict[str, Any]:
    """A new incident as a row (not yet inserted); notes the open incident it fuses into, if any."""
    row = {"source": ctx.name, "external_id": external_id, **values, "parent_id": None, "report_count": 1,
           "version": 1, "acknowledged_at": None, "dispatched_at": None, "on_scene_at": None,
           "resolved_at": None, "satisfaction": None, "updated_at": now,
           "sources": [{"source": ctx.name, "external_id": external_id, "channel": values["channel"]}],
           **clocks.due(values["category"], values["priority"], values["reported_at"], values["channel"])}
    if row["status"] in ("new", "acknowledged", "dispatched", "on_scene"):
        parent = finder.match(row["category"], row["lon"], row["lat"], row["reported_at"])
        if parent is not None:
            fused.append((row, parent))
        elif row["lon"] is not None:
            finder.add(Candidate(row, row["category"], row["lon"], row["lat"], row["reported_at"], {ctx.name}))
    return row


def _insert_new(session: Session, ctx: FeedContext, rows: list[dict[str, Any]],
                fused: list[tuple[dict[str, Any], int | dict[str, Any]]]) -> None:
    """Insert the batch's new incidents (their ids set on the rows), their creation events and,
    for the fused ones, the links: parents first, then the reports that point at them."""
    created = [(row, row["status"]) for row in rows]  # a fused report was created with its own status
    link_new(session, fused)
    children = {id(child) for child, _ in fused}
    _insert_incidents(session, ctx, [row for row in rows if id(row) not in children])
    for child, parent in fused:
        child["parent_id"] = parent if isinstance(parent, int) else parent["id"]
    _insert_incidents(session, ctx, [child for child, _ in fused])
    actor, now = f"feed:{ctx.name}", utcnow()
    events = []
    for row, status in created:
        events.append({"incident_id": row["id"], "at": now, "kind": "created", "actor": actor,
                       "data": {"status": status, "priority": row["priority"]}})
        if row["location_flag"]:
            events.append({"incident_id": row["id"], "at": now, "kind": "location_flagged", "actor": actor,
                           "data": {"flag": row["location_flag"]}})
    events += link_events([(child, child["parent_id"]) for child, _ in fused], actor)
    insert_rows(session, models.IncidentEvent, events)


def _insert_incidents(session: Session, ctx: FeedContext, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert_rows(session, models.Incident, rows)
    by_ext = {row["external_id"]: row for row in rows}
    for ext, incident_id in session.execute(
            select(models.Incident.external_id, models.Incident.id)
            .where(models.Incident.source == ctx.name, models.Incident.external_id.in_(list(by_ext)))):
        by_ext[ext]["id"] = incident_id


def _changed(current: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """What a source's new version of a record changes: the fields that read differently (a
    missing close time takes back none we have: a history close), and the status when it moves
    forward (a source never moves an incident back, nor a fused report out of its parent)."""
    changed = {}
    for name in INCIDENT_COPY_FIELDS:
        if name not in values or (name == "closed_at" and values[name] is None):
            continue
        if current[name] != values[name]:
            changed[name] = values[name]
    status = values["status"]
    if current["status"] != "fused" and STATUS_RANK[status] > STATUS_RANK.get(current["status"], 0):
        changed["status"] = status
    return changed


def _fields(incident: models.Incident, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(incident, name) for name in names}


def _update_incident(session: Session, ctx: FeedContext, incident: models.Incident, values: dict[str, Any],
                     report: BatchReport) -> None:
    if (incident.extra or {}).get("reclassified"):
        # A duty officer set the division and category by hand: the source's next word keeps them.
        values = {k: v for k, v in values.items() if k not in RECLASSIFIED_FIELDS}
        values["extra"] = {**values["extra"], **{k: incident.extra[k] for k in ("reclassified", "triage")
                                                 if k in incident.extra}}
    changed = _changed(_fields(incident, (*INCIDENT_COPY_FIELDS, "status")), values)
    if not changed:
        report.unchanged += 1
        return
    if "reported_at" in changed:
        _reported_day_left(session, ctx, incident.reported_at)
    for name, value in changed.items():
        setattr(incident, name, value)
    if "priority" in changed or "category" in changed:
        sla.apply_incident_clocks(session, incident, ctx.pack)
    incident.version += 1
    incident.updated_at = utcnow()
    session.add(models.IncidentEvent(incident_id=incident.id, kind="updated", actor=f"feed:{ctx.name}",
                                     data={name: _jsonable(value) for name, value in changed.items()}))
    report.updated += 1


def _reported_day_left(session: Session, ctx: FeedContext, was: datetime) -> None:
    """An incident moved off the city day it was reported on: the KPI roll-up (ioc.read.kpi_days)
    finds the days to recompute from the incidents' present report times, so the day it left is
    marked as not covered any more, in this same transaction."""
    day = was.astimezone(ctx.pack.timezone).date()
    m = models.KpiDayMark
    session.execute(update(m).where(m.covered_to > day).values(covered_to=day))


def _update_new(row: dict[str, Any], values: dict[str, Any], clocks: sla.IncidentClocks,
                report: BatchReport) -> None:
    """A later version of a record first seen in this same batch: its creation event tells the story."""
    changed = _changed(row, values)
    if not changed:
        report.unchanged += 1
        return
    row.update(changed)
    if "priority" in changed or "category" in changed:
        row.update(clocks.due(row["category"], row["priority"], row["reported_at"], row["channel"]))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _units(session: Session, ctx: FeedContext, wanted: dict[str, str | None],
           report: BatchReport) -> dict[str, models.Unit]:
    """The units a batch names (id → the channel of the call it was sent to, if known), by id.
    One the store does not know is registered from this feed (marked ``registered_by``, under
    the feed's agency), so nothing it did is lost; an id too long to be a unit's is left out and
    flagged."""
    if not wanted:
        return {}
    units = {u.id: u for u in session.scalars(select(models.Unit).where(models.Unit.id.in_(list(wanted))))}
    registered = []
    for unit_id in sorted(set(wanted) - set(units)):
        if len(unit_id) > UNIT_ID_MAX:
            report.flagged["unit_id_too_long"] = report.flagged.get("unit_id_too_long", 0) + 1
            continue
        unit = models.Unit(id=unit_id, call_sign=unit_id, unit_type="unknown",
                           org_code=ctx.unit_agency(wanted[unit_id]), status="AVAILABLE", registered_by=ctx.name,
                           version=1)
        session.add(unit)
        units[unit_id] = unit
        registered.append(unit_id)
    if registered:
        session.flush()  # the new units exist before anything points at them
        report.units_registered += len(registered)
        log.info("feed %s registered %d units the city pack does not know", ctx.name, len(registered))
    return units


def _store_assignments(session: Session, touched: list[tuple[models.Incident | dict[str, Any], IncidentRecord]],
                       units: dict[str, models.Unit]) -> None:
    """The units each record names on its incident, with their times (one query for the batch's
    current assignments)."""
    wanted = [(incident, record) for incident, record in touched if record.assignments]
    if not wanted:
        return
    incident_ids = {_id(incident) for incident, _ in wanted}
    current = {(a.incident_id, a.unit_id): a for a in session.scalars(
        select(models.Assignment).where(models.Assignment.incident_id.in_(incident_ids)))}
    for incident, record in wanted:
        incident_id = _id(incident)
        status = incident["status"] if isinstance(incident, dict) else incident.status
        for a in record.assignments:
            if a.unit_id not in units:
                continue  # an id no unit can have (flagged when the units were looked up)
            row = current.get((incident_id, a.unit_id))
            if row is None:
                row = current[(incident_id, a.unit_id)] = models.Assignment(
                    incident_id=incident_id, unit_id=a.unit_id, dispatched_at=a.dispatched_at or record.reported_at)
                session.add(row)
            for stamp in ("en_route_at", "on_scene_at", "cleared_at"):
                if getattr(a, stamp) and getattr(row, stamp) != getattr(a, stamp):
                    setattr(row, stamp, getattr(a, stamp))
            row.status = ("CLEARED" if row.cleared_at else "ON_SCENE" if row.on_scene_at
                          else "EN_ROUTE" if row.en_route_at else "DISPATCHED")
            _follow_assignment(units[a.unit_id], row, status)


def _id(incident: models.Incident | dict[str, Any]) -> int:
    return incident["id"] if isinstance(incident, dict) else incident.id


def _follow_assignment(unit: models.Unit, row: models.Assignment, incident_status: str) -> None:
    """A unit registered from a feed has no status stream of the pack's: its status is that of
    its newest job on an open incident (a closed one's jobs are over)."""
    stamp = row.cleared_at or row.on_scene_at or row.en_route_at or row.dispatched_at
    if (not unit.registered_by or incident_status not in OPEN_STATUSES or stamp is None
            or (unit.status_at is not None and stamp <= unit.status_at)):
        return
    unit.status = "AVAILABLE" if row.status == "CLEARED" else row.status
    unit.status_at = stamp
    unit.version += 1


STAMP_FIELDS = ("status", "acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")


def _stamps(current: dict[str, Any], record: IncidentRecord) -> dict[str, datetime]:
    """Stamps the source's own times give: first unit dispatched (which acknowledges it too) and on
    scene (the CAD intervals),
    and, for an incident the source reports finished, when (its close time, else the last unit
    cleared). A stamp the source does not give stays empty rather than guessed; one we have stays."""
    units = record.assignments
    dispatched = [a.dispatched_at for a in units if a.dispatched_at]
    on_scene = [a.on_scene_at for a in units if a.on_scene_at]
    cleared = [a.cleared_at for a in units if a.cleared_at]
    stamps = {}
    if dispatched and current["dispatched_at"] is None:
        stamps["dispatched_at"] = min(dispatched)
    if on_scene and current["on_scene_at"] is None:
        stamps["on_scene_at"] = min(on_scene)
    sent = stamps.get("dispatched_at") or current["dispatched_at"]
    if sent and current["acknowledged_at"] is None:
        stamps["acknowledged_at"] = sent  # sending a unit acknowledges it (as workflow does)
    finished = record.closed_at or (max(cleared) if cleared and len(cleared) == len(units) else None)
    if current["status"] in ("resolved", "closed") and current["resolved_at"] is None and finished:
        stamps["resolved_at"] = finished
    return stamps


# --- units ----------------------------------------------------------------------------------


def _store_unit_statuses(session: Session, ctx: FeedContext, pairs: list[tuple[_Item, Record]],
                         places: dict[int, _Place], report: BatchReport) -> None:
    """Newest status and position per unit (a unit the pack does not know is registered from the feed)."""
    if not pairs:
        return
    units = _units(session, ctx, dict.fromkeys(r.unit_id for _, r in pairs), report)  # type: ignore[union-attr]
    for item, record in sorted(pairs, key=lambda p: p[1].at):  # type: ignore[union-attr]
        assert isinstance(record, UnitStatusRecord)
        place = places[id(record)]
        unit = units.get(record.unit_id)
        if unit is None:
            item.reason = f"unit id {record.unit_id[:50]!r}... is longer than {UNIT_ID_MAX} characters"
            continue
        if unit.status_at and record.at <= unit.status_at:
            continue
        unit.status, unit.status_at = record.status, record.at
        if place.lon is not None:
            unit.lon, unit.lat, unit.position_at = place.lon, place.lat, record.at
        unit.version += 1
        report.units += 1
        if record.incident_external_id:
            _move_assignment(session, ctx, record, unit)


def _move_assignment(session: Session, ctx: FeedContext, record: UnitStatusRecord, unit: models.Unit) -> None:
    """A unit's progress on a job moves its assignment (and the incident on arrival) forward."""
    target = UNIT_TO_ASSIGNMENT.get(record.status)
    assignment = _assignment_for(session, ctx, record)
    if target is None or assignment is None or target not in dispatch.NEXT_STATUS.get(assignment.status, ()):
        return
    incident = session.get(models.Incident, assignment.incident_id)
    dispatch.move_assignment(session, Actor.system(f"feed:{ctx.name}"), incident, unit, assignment, target,
                             record.at)


def _assignment_for(session: Session, ctx: FeedContext, record: UnitStatusRecord) -> models.Assignment | None:
    """The open assignment a status names: an incident of this feed, or one of ours by id (an order we sent)."""
    ref = record.incident_external_id or ""
    stmt = (select(models.Assignment).join(models.Incident)
            .where(models.Assignment.unit_id == record.unit_id, models.Assignment.status != "CLEARED"))
    found = session.scalars(stmt.where(models.Incident.source == ctx.name, models.Incident.external_id == ref)).first()
    if found is None and ref.isdigit():
        found = session.scalars(stmt.where(models.Incident.id == int(ref))).first()
    return found


# --- feed state -------------------------------------------------------------------------------


def _save_state(session: Session, feed: str, kind: str, cursor: str | None, report: BatchReport,
                keep_cursor: bool = False) -> None:
    state = session.get(models.FeedState, feed, with_for_update=True)
    if state is None:
        state = models.FeedState(name=feed, kind=kind, counts={})
        session.add(state)
    if not keep_cursor:
        state.cursor = cursor
    totals = dict(state.counts or {})
    for key, value in report.counts().items():
        totals[key] = totals.get(key, 0) + value
    for flag, value in report.flagged.items():  # location and time flags, shown with the feed's health
        totals[f"flagged_{flag}"] = totals.get(f"flagged_{flag}", 0) + value
    state.counts = totals
    if report.newest:
        state.lag_seconds = max(0.0, (datetime.now(timezone.utc) - report.newest).total_seconds())
