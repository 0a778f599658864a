"""Benchmarks: each case is timed against a baseline run in the same process, reported as a ratio.

    .venv/bin/python -m bench.run [--quick] [--json] [--store URL]

Cases:
- ingest: N synthetic 110 incidents through the whole pipeline (land, parse, convert, locate,
  route, fuse, upsert, events) vs a bare bulk insert of the same rows (the floor).
- locate: the division of 100k points with DivisionIndex.locate_many vs one
  shapely ``contains`` loop over the polygons for a sample of points (per point).
- map payload: the live map's open incidents as compact rows vs a plain SELECT of the same rows;
  also the bytes per point on the wire (≤ 30 wanted) and the cost of the change-counter check
  that a refresh with nothing new makes (figures, not pass/fail).

Results go to bench/results/<timestamp>.json (not committed) and one line per case to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from shapely import points as make_points
from sqlalchemy import select

from feeds.base import RawItem
from ioc import PROJECT_ROOT
from ioc.city.geo import DivisionIndex
from ioc.city.pack import load_pack
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.read import citymap
from ioc.records import CATEGORIES, IncidentRecord
from ioc.store import models
from ioc.store.db import make_engine, session_factory, transaction
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store

RESULTS = PROJECT_ROOT / "bench" / "results"
CST = timezone(timedelta(hours=8))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def progress(text: str) -> None:
    print(f"\r{text:<60}", end="", file=sys.stderr, flush=True)


def synthetic_items(pack, n: int, seed: int = 7) -> list[RawItem]:
    rng = np.random.default_rng(seed)
    west, south, east, north = pack.manifest.bbox
    t0 = datetime(2026, 7, 1, tzinfo=CST)
    items = []
    for i in range(n):
        record = {"external_id": f"b{i}", "channel": "110", "category": str(rng.choice(CATEGORIES[:11])),
                  "reported_at": (t0 + timedelta(seconds=int(i * 12))).isoformat(),
                  "lon": float(rng.uniform(west, east)), "lat": float(rng.uniform(south, north)),
                  "title": f"警情 {i}", "priority": f"P{int(rng.integers(1, 5))}"}
        items.append(RawItem(record["external_id"], json.dumps(record, ensure_ascii=False)))
    return items


def parse(item: RawItem):
    return [IncidentRecord(**json.loads(item.payload))]


def bench_ingest(url: str, pack, n: int) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    load_pack_into_store(engine, pack)
    items = synthetic_items(pack, n)
    ctx = FeedContext.for_feed("bench", "bench", "wgs84", pack)

    def pipeline():
        for start in range(0, n, 500):
            ingest_batch(engine, ctx, items[start:start + 500], parse, cursor=str(start))
            progress(f"ingest {min(start + 500, n)}/{n}")

    def floor():
        rows = []
        for it in items:
            r = json.loads(it.payload)
            rows.append({"source": "floor", "external_id": r["external_id"], "channel": "110",
                         "category": r["category"], "reported_at": datetime.fromisoformat(r["reported_at"]),
                         "lon": r["lon"], "lat": r["lat"], "title": r["title"], "sources": [], "extra": {}})
        with transaction(engine) as s:
            s.execute(models.Incident.__table__.insert(), rows)

    base = timed(floor)
    took = timed(pipeline)
    engine.dispose()
    return {"case": "ingest", "n": n, "seconds": round(took, 3), "baseline_s": round(base, 3),
            "ratio": round(took / base, 1), "per_second": round(n / took)}


def bench_locate(pack, n: int) -> dict:
    index = DivisionIndex(pack.divisions())
    rng = np.random.default_rng(3)
    west, south, east, north = pack.manifest.bbox
    lons, lats = rng.uniform(west, east, n), rng.uniform(south, north, n)
    took = timed(lambda: index.locate_many(lons, lats))
    sample = 2000
    shapes = [d.shape for d in pack.divisions()]
    pts = make_points(lons[:sample], lats[:sample])

    def naive():
        for p in pts:
            next((i for i, s in enumerate(shapes) if s.contains(p)), None)

    base = timed(naive) * n / sample
    return {"case": "locate", "n": n, "seconds": round(took, 3), "baseline_s": round(base, 3),
            "ratio": round(took / base, 3), "per_second": round(n / took)}


def bench_map_payload(url: str, pack) -> dict:
    """The live map's first load as compact rows (bytes per point on the wire, before compression),
    and the "anything changed?" check a refresh that changed nothing costs (ioc.store.changes)."""
    engine = make_engine(url)
    origin = tuple(pack.manifest.bbox[:2])
    rows: list = []

    def layer():
        nonlocal rows
        rows = citymap.incident_rows(engine, origin, ["police_110"])["rows"]

    def plain():
        with session_factory(engine)() as s:
            s.execute(select(models.Incident.id, models.Incident.lon, models.Incident.lat)).all()

    base = timed(plain)
    took = timed(layer)
    wire = len(json.dumps(rows, separators=(",", ":")))
    checks = 200
    check = timed(lambda: [citymap.live_versions(engine) for _ in range(checks)]) / checks
    engine.dispose()
    return {"case": "map_payload", "n": len(rows), "seconds": round(took, 3), "baseline_s": round(base, 3),
            "ratio": round(took / base, 1), "bytes_per_point": round(wire / max(len(rows), 1), 1),
            "unchanged_check_ms": round(check * 1000, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="City IOC benchmarks (ratios against in-process baselines)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--store", help="store URL (default: a temporary SQLite file)")
    args = ap.parse_args(argv)
    pack = load_pack(PROJECT_ROOT / "geodata" / "dongguan")
    n_ingest, n_locate = (1000, 20_000) if args.quick else (10_000, 200_000)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
        results = [bench_ingest(url, pack, n_ingest), bench_locate(pack, n_locate), bench_map_payload(url, pack)]
    print(file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            rate = f", {r['per_second']:,}/s" if "per_second" in r else ""
            if "bytes_per_point" in r:
                rate += f", {r['bytes_per_point']} B/point, unchanged check {r['unchanged_check_ms']} ms"
            print(f"{r['case']:<12} n={r['n']:>7,}  {r['seconds']:>7.3f} s  ×{r['ratio']} of baseline "
                  f"({r['baseline_s']} s){rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
