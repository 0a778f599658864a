"""City replay's load: one day of a store with a long history, read and made ready for the wire.

    .venv/bin/python -m bench.replay [--store URL] [--fill N] [--json]

``measure_replay(url)`` is the case the bench runs (on a store with history, e.g. from
``bench.history``): the newest whole city day and the last 24 hours of the data, each read with
``ioc.read.replay.replay`` and serialised as the page sends it, against the bare SELECT of the same
incidents (the floor). The budget is 2 s for a day at 1 M incidents of history.

``--fill N`` first writes N incidents of a year of synthetic history into the store (bare bulk
inserts: incidents with their stamps, a creation and a closing event each, a unit on a third) — a
store to develop against when no other history is at hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import func, select

from ioc import PROJECT_ROOT
from ioc.city.pack import load_pack
from ioc.read import replay
from ioc.records import CATEGORIES
from ioc.store import models
from ioc.store.db import make_engine, session_factory, transaction
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store

PACK = PROJECT_ROOT / "geodata" / "dongguan"
BUDGET_S = 2.0
RUNS = 3


def measure_replay(url: str) -> dict:
    """Seconds to load a replay day (and the last 24 hours) from the store at ``url``, with the
    floor, the bytes on the wire and what the day holds."""
    pack = load_pack(PACK)
    origin = tuple(pack.manifest.bbox[:2])
    engine = make_engine(url)
    with session_factory(engine)() as s:
        newest = s.scalar(select(func.max(models.Incident.reported_at)))
        total = s.scalar(select(func.count()).select_from(models.Incident)) or 0
    if newest is None:
        engine.dispose()
        raise SystemExit("error: the store holds no incidents; fill it first (--fill N or bench.history)")
    day = newest.astimezone(pack.timezone).date() - timedelta(days=1)
    windows = {"day": replay.day_window(day, pack.timezone), "last_24h": (newest - timedelta(hours=24), newest)}
    out = {"case": "replay", "history": total, "day": day.isoformat(), "budget_s": BUDGET_S}
    for name, (start, end) in windows.items():
        payload: dict = {}

        def load(start=start, end=end):
            nonlocal payload
            payload = replay.replay(engine, start, end, origin)
            return json.dumps(payload, separators=(",", ":"))

        cold = _timed(load)
        warm = statistics.median(_timed(load) for _ in range(RUNS))
        wire = len(load())
        floor = statistics.median(_timed(lambda start=start, end=end: _floor(engine, start, end)) for _ in range(RUNS))
        out[name] = {"seconds_cold": round(cold, 3), "seconds": round(warm, 3), "floor_s": round(floor, 4),
                     "ratio": round(warm / floor, 1) if floor else None, "bytes": wire,
                     "incidents": len(payload["incidents"]), "units": len(payload["units"]),
                     "alert_areas": len(payload["alerts"]["features"]), "within_budget": max(cold, warm) <= BUDGET_S}
    engine.dispose()
    return out


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _floor(engine, start: datetime, end: datetime) -> None:
    """The bare SELECT of the incidents reported in the window (no events, units or shaping)."""
    i = models.Incident
    with session_factory(engine)() as s:
        s.execute(select(i.id, i.lon, i.lat, i.priority, i.category, i.reported_at, i.resolved_at)
                  .where(i.reported_at >= start, i.reported_at < end)).all()


# --- a store to develop against -----------------------------------------------------------------


def fill_history(url: str, n: int, days: int = 365, seed: int = 5) -> None:
    """``n`` incidents over the ``days`` before now in the Dongguan pack's box, some still open (most
    of them new), stamps acknowledged → closed, 'created' and 'closed' events, a police car on a third
    of the closed ones."""
    pack = load_pack(PACK)
    engine = make_engine(url)
    upgrade(engine)
    load_pack_into_store(engine, pack)
    rng = np.random.default_rng(seed)
    west, south, east, north = pack.manifest.bbox
    now = datetime.now(timezone.utc).timestamp()
    units = [u.id for u in pack.units() if u.unit_type == "police_car"] or [u.id for u in pack.units()]
    with session_factory(engine)() as s:
        next_id = (s.scalar(select(func.max(models.Incident.id))) or 0) + 1
    chunk = 50_000
    for first in range(0, n, chunk):
        size = min(chunk, n - first)
        reported = np.sort(now - rng.uniform(0, days * 86400, size))
        steps = np.cumsum(rng.exponential([120, 300, 900, 3600, 3600], (size, 5)), axis=1) + reported[:, None]
        # Half of the last two days' incidents are still open, and one in 200 of the older ones.
        chance = np.where(reported > now - 2 * 86400, 0.5, 0.005)
        still_open = rng.uniform(0, 1, size) < chance
        ids = np.arange(next_id + first, next_id + first + size)
        incidents, events, jobs = [], [], []
        for k in range(size):
            at = [datetime.fromtimestamp(v, timezone.utc) for v in (reported[k], *steps[k])]
            open_ = bool(still_open[k])
            incidents.append({
                "id": int(ids[k]), "source": "bench", "external_id": f"r{ids[k]}", "channel": "110",
                "category": CATEGORIES[int(rng.integers(0, 11))], "priority": f"P{int(rng.integers(1, 5))}",
                "status": "acknowledged" if open_ else "closed", "lon": float(rng.uniform(west, east)),
                "lat": float(rng.uniform(south, north)), "reported_at": at[0], "acknowledged_at": at[1],
                "dispatched_at": None if open_ else at[2], "on_scene_at": None if open_ else at[3],
                "resolved_at": None if open_ else at[4], "closed_at": None if open_ else at[5],
                "updated_at": at[1] if open_ else at[5], "sources": [], "extra": {}})
            events.append({"incident_id": int(ids[k]), "at": at[0], "kind": "created", "actor": "feed:bench",
                           "data": {"status": "new"}})
            if not open_:
                events.append({"incident_id": int(ids[k]), "at": at[5], "kind": "updated", "actor": "feed:bench",
                               "data": {"status": "closed"}})
                if k % 3 == 0:
                    jobs.append({"incident_id": int(ids[k]), "unit_id": units[k % len(units)], "status": "CLEARED",
                                 "dispatched_at": at[2], "en_route_at": at[2], "on_scene_at": at[3],
                                 "cleared_at": at[4]})
        with transaction(engine) as s:
            s.execute(models.Incident.__table__.insert(), incidents)
            s.execute(models.IncidentEvent.__table__.insert(), events)
            if jobs:
                s.execute(models.Assignment.__table__.insert(), jobs)
        print(f"\rfill {first + size:,}/{n:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="City replay's load time on a store with history")
    ap.add_argument("--store", default=f"sqlite:///{PROJECT_ROOT / 'var' / 'bench' / 'replay.db'}")
    ap.add_argument("--fill", type=int, default=0, help="first write this many incidents of history")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.fill:
        (PROJECT_ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        fill_history(args.store, args.fill)
    result = measure_replay(args.store)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name in ("day", "last_24h"):
        r = result[name]
        print(f"replay {name:<8} history={result['history']:,}  {r['seconds']:.3f} s (cold {r['seconds_cold']:.3f} s, "
              f"budget {BUDGET_S} s)  ×{r['ratio']} of the bare SELECT ({r['floor_s']} s)  {r['bytes'] / 1024:,.0f} KiB, "
              f"{r['incidents']:,} incidents, {r['units']:,} units, {r['alert_areas']} warning areas")
    return 0



if __name__ == "__main__":
    sys.exit(main())
