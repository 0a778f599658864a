"""Ingest through the whole pipeline against a bare insert of the same rows, as the store grows.

The pipeline (``ioc.intake.ingest.ingest_batch``, batches of 500, one transaction each) lands each
raw item, parses it, converts and checks its place, finds its division and owner, dedupes, fuses,
stores the incident with its SLA clocks and writes its creation event. The baseline stores the
very rows it ends with — the raw record, the incident and its ``created`` event — with one bare
driver ``executemany`` per table and batch, from the same payloads: the floor any pipeline has.

The stored part (the history the store already holds) is written with the same bare inserts, so
a million takes about a minute: a year before the measured items, 2 % still open (the newest).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from feeds.base import RawItem
from ioc.city.pack import CityPack
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.records import IncidentRecord
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store

BATCH = 500
T0 = datetime(2026, 7, 1, tzinfo=timezone(timedelta(hours=8)))  # the measured items start here
CATEGORIES = ("crime", "public_order", "dispute", "traffic_accident", "traffic_jam", "help", "noise",
              "consultation", "fire", "medical", "garbage")
CLOSED_SHARE = 0.98


def store(url: str, pack: CityPack) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    load_pack_into_store(engine, pack)
    return engine


class Items:
    """Synthetic 110 calls, numbered on from run to run; one in twenty repeats an earlier call's
    place and category a few minutes later (a second caller), so fusion has work to do."""

    def __init__(self, pack: CityPack, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.bbox = pack.manifest.bbox
        self.next = 0

    def take(self, n: int) -> list[RawItem]:
        rng, (west, south, east, north) = self.rng, self.bbox
        lons, lats = rng.uniform(west, east, n), rng.uniform(south, north, n)
        cats, prios = rng.integers(0, len(CATEGORIES), n), rng.integers(1, 5, n)
        items = []
        for j in range(n):
            i = self.next + j
            if j >= 10 and j % 20 == 0:  # a second caller about the same event
                lons[j], lats[j], cats[j] = lons[j - 7] + 0.0001, lats[j - 7], cats[j - 7]
            record = {"external_id": f"b{i}", "channel": "110", "category": CATEGORIES[cats[j]],
                      "reported_at": (T0 + timedelta(seconds=4 * i)).isoformat(),
                      "lon": round(float(lons[j]), 6), "lat": round(float(lats[j]), 6),
                      "title": f"警情 {i}", "priority": f"P{prios[j]}", "address": f"东城路 {i % 300} 号"}
            items.append(RawItem(record["external_id"], json.dumps(record, ensure_ascii=False)))
        self.next += n
        return items


def parse(item: RawItem) -> list[IncidentRecord]:
    return [IncidentRecord(**json.loads(item.payload))]


def pipeline(engine: Engine, ctx: FeedContext, items: list[RawItem]) -> None:
    for start in range(0, len(items), BATCH):
        ingest_batch(engine, ctx, items[start:start + BATCH], parse, cursor=str(start))


# --- the bare floor ---------------------------------------------------------------------------

INCIDENT_COLS = ("source", "external_id", "channel", "category", "type", "priority", "status", "title",
                 "description", "address", "lon", "lat", "grid_code", "reported_at", "closed_at",
                 "acknowledge_due", "dispatch_due", "on_scene_due", "resolve_due", "report_count", "sources",
                 "extra", "updated_at", "version")
RAW_COLS = ("feed", "external_id", "content_hash", "received_at", "payload", "outcome", "incident_id")
EVENT_COLS = ("incident_id", "at", "kind", "actor", "data")


def _sql(engine: Engine, table: str, cols: tuple[str, ...]) -> str:
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"


def _stamp(engine: Engine, at: datetime) -> Any:
    """A time as the driver takes it: SQLAlchemy's SQLite text, or the aware datetime itself."""
    at = at.astimezone(timezone.utc)
    return at.isoformat(" ", "microseconds")[:26] if engine.dialect.name == "sqlite" else at


def bare(engine: Engine, source: str, items: list[RawItem]) -> None:
    """The rows the pipeline ends with, written bare: per batch one executemany per table."""
    for start in range(0, len(items), BATCH):
        _bare_batch(engine, source, items[start:start + BATCH])


def _bare_batch(engine: Engine, source: str, items: list[RawItem]) -> None:
    now = _stamp(engine, datetime.now(timezone.utc))
    incidents, raws = [], {}
    for item in items:
        r = json.loads(item.payload)
        at = datetime.fromisoformat(r["reported_at"])
        entry = json.dumps([{"source": source, "external_id": r["external_id"], "channel": "110"}])
        incidents.append((source, r["external_id"], "110", r["category"], "", r["priority"], "new", r["title"], "",
                          r["address"], r["lon"], r["lat"], None, _stamp(engine, at), None,
                          *(_stamp(engine, at + timedelta(minutes=m)) for m in (3, 10, 30, 480)), 1, entry, "{}",
                          now, 1))
        raws[r["external_id"]] = [source, r["external_id"], hashlib.sha256(item.payload.encode()).hexdigest(), now,
                                  item.payload, "accepted", None]
    with engine.begin() as conn:
        cur = conn.connection.cursor()
        cur.executemany(_sql(engine, "incident", INCIDENT_COLS), incidents)
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        cur.execute(f"SELECT external_id, id FROM incident WHERE source = {mark} AND external_id IN "
                    f"({', '.join([mark] * len(raws))})", (source, *raws))
        ids = dict(cur.fetchall())
        for ext, raw in raws.items():
            raw[-1] = ids[ext]
        cur.executemany(_sql(engine, "raw_record", RAW_COLS), [tuple(r) for r in raws.values()])
        cur.executemany(_sql(engine, "incident_event", EVENT_COLS),
                        [(ids[ext], now, "created", f"feed:{source}", '{"status": "new"}') for ext in raws])


# --- the stored part ------------------------------------------------------------------------------


def grow(engine: Engine, pack: CityPack, upto: int, progress=None,  # noqa: ANN001 - a callable
         closed_share: float = CLOSED_SHARE) -> None:
    """Bare-insert history (incident, raw record, event) until the store holds ``upto`` incidents:
    the year before T0, the newest (1 - ``closed_share``) still open."""
    with engine.connect() as conn:
        have = conn.execute(text("SELECT COUNT(*) FROM incident WHERE source = 'history'")).scalar() or 0
    rng = np.random.default_rng(have)
    west, south, east, north = pack.manifest.bbox
    year = 365 * 86_400
    chunk = 50_000
    for start in range(have, upto, chunk):
        n = min(chunk, upto - start)
        idx = np.arange(start, start + n)
        # Spread over the year by index, so the store's newest rows are the newest history whatever its size.
        seconds = (idx.astype(float) / max(upto, 1) - 1.0) * year
        lons, lats = rng.uniform(west, east, n), rng.uniform(south, north, n)
        cats, prios = rng.integers(0, len(CATEGORIES), n), rng.integers(1, 5, n)
        items = []
        for k in range(n):
            at = T0 + timedelta(seconds=float(seconds[k]))
            open_ = idx[k] >= upto * closed_share
            items.append((f"h{idx[k]}", at, open_, float(lons[k]), float(lats[k]), CATEGORIES[cats[k]], prios[k]))
        _write_history(engine, items)
        if progress:
            progress(f"stored history {start + n:,}/{upto:,}")


def _write_history(engine: Engine, items: list[tuple]) -> None:
    incidents, payloads = [], {}
    for ext, at, open_, lon, lat, cat, prio in items:
        stamp = _stamp(engine, at)
        entry = json.dumps([{"source": "history", "external_id": ext, "channel": "110"}])
        incidents.append(("history", ext, "110", cat, "", f"P{prio}", "new" if open_ else "closed", f"警情 {ext}", "",
                          "", round(lon, 6), round(lat, 6), None, stamp,
                          None if open_ else _stamp(engine, at + timedelta(hours=2)),
                          stamp, stamp, stamp, stamp, 1, entry, "{}", stamp, 1))
        payloads[ext] = json.dumps({"external_id": ext, "category": cat, "lon": lon, "lat": lat})
    with engine.begin() as conn:
        cur = conn.connection.cursor()
        cur.executemany(_sql(engine, "incident", INCIDENT_COLS), incidents)
        first = items[0][0]
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        cur.execute(f"SELECT external_id, id FROM incident WHERE source = 'history' AND id >= "
                    f"(SELECT id FROM incident WHERE source = 'history' AND external_id = {mark})", (first,))
        ids = dict(cur.fetchall())
        stamps = {ext: _stamp(engine, at) for ext, at, *_ in items}
        cur.executemany(_sql(engine, "raw_record", RAW_COLS),
                        [("history", ext, hashlib.sha256(p.encode()).hexdigest(), stamps[ext], p, "accepted", ids[ext])
                         for ext, p in payloads.items()])
        cur.executemany(_sql(engine, "incident_event", EVENT_COLS),
                        [(ids[ext], stamps[ext], "created", "feed:history", '{"status": "new"}') for ext in payloads])
