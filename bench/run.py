"""``make bench``: every figure beside a baseline measured in the same run, as a ratio.

    .venv/bin/python -m bench.run [--size 1M] [--pg] [--only reads,load] [--quick] [--repeat N] [--json]
                                  [--results DIR]

This machine's speed drifts (two cores shared with others), so each measure runs several times,
interleaved with its baseline, and is reported as median and p95 with ``ratio = ours / baseline``
(in the measure's unit: for records/s higher is better, for ms and bytes lower is better).

Measures:
- ingest at 0, size/10 and size stored (bench/ingest.py): records/s through the whole pipeline
  against a bare executemany of the rows it ends with;
- map (bench/maps.py): bytes per point of the live layer for 50,000 open incidents against plain
  GeoJSON; ms until headless Chromium draws the layer against the page's own division names; a refresh of
  ours against "what a Dash user would write" (pandas.read_sql of every incident + full GeoJSON)
  at size/10 and size stored;
- reads (bench/reads.py on bench/history.py's cached history) and load (bench/load.py), when those
  modules are present.

Writes bench/results/<date>.json and bench/results/latest.md (latest-pg.md for --pg; the README
shows both). ``--only`` picks the groups to run: ``--size 10M --pg --only reads`` measures the
reads on the cached PostgreSQL history without growing a second 10 M store for the ingest.
``--quick`` is a smoke run of every measure on tiny sizes (under a minute).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from bench import ingest, maps
from ioc import PROJECT_ROOT
from ioc.city.pack import load_pack
from ioc.intake.ingest import FeedContext

RESULTS = PROJECT_ROOT / "bench" / "results"
PACK = PROJECT_ROOT / "geodata" / "dongguan"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MAP_POINTS = 50_000
INGEST_AIM = 25_000
INGEST_RATIO_AIM = 0.4
DRAW_AIM_MS = 1500
DASH_RATIO_AIM = 1 / 20
GROUPS = ("ingest", "map", "reads", "load")


def progress(text_: str) -> None:
    print(f"\r{text_:<78}", end="", file=sys.stderr, flush=True)


def size_arg(value: str) -> int:
    """1M, 100k, 2500 → a count."""
    scale = {"k": 1_000, "m": 1_000_000}.get(value[-1:].lower(), 1)
    try:
        return int(float(value[:-1] if scale > 1 else value) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a size (like 1M, 100k or 5000)") from None


def groups_arg(value: str) -> tuple[str, ...]:
    """ingest,reads → those groups, in the order they run."""
    asked = {g.strip() for g in value.split(",") if g.strip()}
    unknown = asked - set(GROUPS)
    if unknown or not asked:
        raise argparse.ArgumentTypeError(f"{value!r}: give groups from {', '.join(GROUPS)}, separated by commas")
    return tuple(g for g in GROUPS if g in asked)


# --- one measure ----------------------------------------------------------------------------------


def measure(name: str, unit: str, ours: list[float], base: list[float], baseline: str, *,
            aim: str = "", met: bool | None = None, note: str = "", group: str = "") -> dict[str, Any]:
    """A result row: median and p95 of both sides, ratio = ours / baseline (medians)."""
    slow_end = 5 if unit.endswith("/s") else 95  # p95 is the slow end: the 5th percentile of a rate
    med, p95 = float(np.median(ours)), float(np.percentile(ours, slow_end))
    bmed, bp95 = float(np.median(base)), float(np.percentile(base, slow_end))
    return {"group": group, "name": name, "unit": unit, "median": _round(med), "p95": _round(p95), "runs": len(ours),
            "baseline": baseline, "baseline_median": _round(bmed), "baseline_p95": _round(bp95),
            "ratio": round(med / bmed, 3) if bmed else None, "aim": aim, "met": met, "note": note}


def _round(x: float) -> float:
    return round(x, 1) if abs(x) >= 10 else round(x, 3)


def interleaved(repeat: int, ours: Callable[[], Any], base: Callable[[], Any]) -> tuple[list[float], list[float]]:
    """Seconds of each run of both, alternating (so a slow spell of the machine hits both)."""
    a, b = [], []
    for _ in range(repeat):
        a.append(_seconds(ours))
        b.append(_seconds(base))
    return a, b


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- stores ---------------------------------------------------------------------------------------


class Stores:
    """Fresh scratch stores: SQLite files in a temporary folder, or PostgreSQL databases (dropped after)."""

    def __init__(self, pg: bool) -> None:
        self.pg = pg
        self.tmp = tempfile.TemporaryDirectory(prefix="ioc-bench-")
        self.made: list[str] = []

    def url(self, name: str) -> str:
        if not self.pg:
            return f"sqlite:///{Path(self.tmp.name) / f'{name}.db'}"
        db = f"ioc_bench_{name}"
        self._admin(f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
        self.made.append(db)
        return PG_SERVER.rsplit("/", 1)[0] + f"/{db}"

    def _admin(self, *statements: str) -> None:
        engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for s in statements:
                conn.execute(text(s))
        engine.dispose()

    def close(self) -> None:
        if self.made:
            self._admin(*(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in self.made))
        self.tmp.cleanup()


# --- ingest and the Dash comparison, on one growing store ------------------------------------------


def ingest_and_refresh(stores: Stores, pack, size: int, per_run: int, repeat: int) -> list[dict[str, Any]]:  # noqa: ANN001
    engine = ingest.store(stores.url("ingest"), pack)
    ctx = FeedContext.for_feed("bench", "bench", "wgs84", pack)
    items, floor_items = ingest.Items(pack, seed=7), ingest.Items(pack, seed=8)
    out = []
    for stored in (0, size // 10, size):
        ingest.grow(engine, pack, stored, progress)
        progress(f"ingest at {stored:,} stored")
        ours_s, base_s = [], []
        for _ in range(repeat):  # fresh items each run, the two sides alternating
            ours_s.append(_seconds(partial(ingest.pipeline, engine, ctx, items.take(per_run))))
            base_s.append(_seconds(partial(ingest.bare, engine, "bare", floor_items.take(per_run))))
        rate, bare_rate = [per_run / s for s in ours_s], [per_run / s for s in base_s]
        row = measure(f"ingest at {stored:,} stored", "records/s", rate, bare_rate,
                      "bare executemany of the same rows (raw record, incident, event)",
                      aim=f"≥ {INGEST_AIM:,} records/s and ≥ {INGEST_RATIO_AIM} of bare", group="ingest",
                      note=f"{per_run:,} records a run, batches of {ingest.BATCH}")
        row["met"] = row["median"] >= INGEST_AIM and (row["ratio"] or 0) >= INGEST_RATIO_AIM
        out.append(row)
        if stored:
            out.append(refresh_measure(engine, pack, stored, repeat=max(2, min(repeat, 3 if stored < 500_000 else 2))))
    engine.dispose()
    return out


def refresh_measure(engine, pack, stored: int, repeat: int) -> dict[str, Any]:  # noqa: ANN001
    progress(f"refresh against pandas at {stored:,} stored")
    ours, base, sizes = [], [], {}
    for _ in range(repeat):
        since = maps.touch(engine)
        start = time.perf_counter()
        sizes["ours"] = len(maps.our_refresh(engine, pack, since))
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        sizes["dash"] = len(maps.dash_refresh(engine))
        base.append((time.perf_counter() - start) * 1000)
    row = measure(f"map refresh at {stored:,} stored (10 changed)", "ms", ours, base,
                  "pandas.read_sql of every incident + full GeoJSON (a plain Dash app)",
                  aim="≥ 20× faster (ratio ≤ 0.05)", group="map",
                  note=f"{sizes['ours']:,} B sent against {sizes['dash']:,} B")
    row["met"] = row["ratio"] is not None and row["ratio"] <= DASH_RATIO_AIM
    return row


# --- the map layer --------------------------------------------------------------------------------


def map_measures(stores: Stores, pack, points: int, repeat: int, browser: bool) -> list[dict[str, Any]]:  # noqa: ANN001
    url = stores.url("map")
    engine = ingest.store(url, pack)
    ingest.grow(engine, pack, points, progress, closed_share=0.0)
    progress(f"map layer of {points:,} open incidents")
    sizes: dict[str, int] = {}

    def ours(): sizes["ours"] = len(maps.compact_layer(engine, pack))  # noqa: E704
    def base(): sizes["base"] = len(maps.geojson_layer(engine))  # noqa: E704
    ours_s, base_s = interleaved(repeat, ours, base)
    out = [
        measure(f"map layer bytes per point ({points:,} open)", "B/point", [sizes["ours"] / points] * len(ours_s),
                [sizes["base"] / points] * len(base_s), "the same points as plain GeoJSON", aim="≤ 30 B a point",
                met=sizes["ours"] / points <= 30, group="map"),
        measure(f"map layer built ({points:,} open)", "ms", [s * 1000 for s in ours_s], [s * 1000 for s in base_s],
                "the same points built as plain GeoJSON", group="map"),
    ]
    engine.dispose()
    if browser:
        out.append(draw_measure(url, points, repeat))
    return out


def draw_measure(url: str, points: int, repeat: int) -> dict[str, Any]:
    progress(f"map drawn in headless Chromium ({points:,} open)")
    layer, frame = [], []
    with maps.Server(url) as server:
        page = f"http://127.0.0.1:{server.port}/"
        driver = maps.browser()
        try:
            maps.draw_times(driver, page)  # a first load fills the browser's cache, as in service
            for _ in range(repeat):
                drawn, names = maps.draw_times(driver, page)
                layer.append(drawn)
                frame.append(names)
        finally:
            driver.quit()
    row = measure(f"map layer drawn in Chromium ({points:,} open)", "ms", layer, frame,
                  "the same load until the division names are drawn", aim=f"≤ {DRAW_AIM_MS:,} ms", group="map",
                  note="from navigation start, the / page, assets cached")
    row["met"] = row["median"] <= DRAW_AIM_MS
    return row


# --- the other engineers' parts, when present -----------------------------------------------------


def optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def read_measures(size: int, pg: bool) -> list[dict[str, Any]]:
    history, reads = optional("bench.history"), optional("bench.reads")
    if history is None or reads is None:
        return []
    url = history.ensure_history(size, pg=pg)
    repeat = 20
    return [normalise({"runs": repeat, **r}, "reads") for r in reads.measures(url, repeat=repeat)] + replay_measures(url)


def replay_measures(url: str) -> list[dict[str, Any]]:
    """bench/replay.py: a past day and the last 24 hours loaded for /replay, against the bare SELECT
    of the same incidents (aim: a day in ≤ 2 s)."""
    replay = optional("bench.replay")
    if replay is None:
        return []
    out = replay.measure_replay(url)
    return [{"group": "replay", "name": f"replay: {label} ({out[key]['incidents']:,} incidents)", "unit": "ms",
             "median": round(1000 * out[key]["seconds"], 1), "p95": round(1000 * out[key]["seconds_cold"], 1),
             "runs": replay.RUNS, "baseline": "the bare SELECT of the window's incidents",
             "baseline_median": round(1000 * out[key]["floor_s"], 1), "baseline_p95": None,
             "ratio": out[key]["ratio"] or round(out[key]["seconds"] / max(out[key]["floor_s"], 1e-6), 1),
             "aim": f"≤ {out['budget_s'] * 1000:,.0f} ms", "met": out[key]["within_budget"],
             "note": f"p95 column: the cold first load; {out[key]['bytes']:,} B"}
            for key, label in (("day", "a past day"), ("last_24h", "the last 24 hours"))]


def load_measures(size: int, pg: bool, quick: bool) -> list[dict[str, Any]]:
    """bench/load.py's ``measures(size, pg, quick) -> list[dict]`` (clients against gunicorn)."""
    load = optional("bench.load")
    if load is None:
        return []
    return [normalise(r, "load") for r in load.measures(size=size, pg=pg, quick=quick)]


def normalise(row: dict[str, Any], group: str) -> dict[str, Any]:
    """A row of another part in this file's shape (theirs give ``median_ms``, ``baseline_ms``...)."""
    if "median" in row:
        return {"group": group, **row}
    aim = row.get("aim")
    return {"group": group, "name": row.get("name", "?"), "unit": "ms", "median": row.get("median_ms"),
            "p95": row.get("p95_ms"), "runs": row.get("runs"), "baseline": row.get("baseline", "the same SQL issued bare"),
            "baseline_median": row.get("baseline_ms"), "baseline_p95": row.get("baseline_p95_ms"),
            "ratio": row.get("ratio"), "aim": f"p95 ≤ {aim} ms" if isinstance(aim, (int, float)) else (aim or ""),
            "met": row.get("met"), "note": row.get("note", "") + (f"; {row['bytes']:,} B" if row.get("bytes") else "")}


# --- results --------------------------------------------------------------------------------------


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"Benchmarks of {meta['date']} on {meta['machine']} ({meta['backend']}, history {meta['size']:,}, "
             f"{meta['minutes']} min{_groups(meta)}). Ratio = ours / baseline, both measured in the same run; "
             "for records/s higher is better, for ms and bytes lower.", "",
             "| measure | ours (median) | p95 | baseline | baseline (median) | ratio | aim | met | note |",
             "|---|---:|---:|---|---:|---:|---|:-:|---|"]
    for r in results:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['name']} | {_fmt(r['median'])} {r['unit']} | {_fmt(r['p95'])} | {r['baseline']} | "
                     f"{_fmt(r['baseline_median'])} | {r['ratio']} | {r['aim']} | {met} | {r['note']} |")
    short = [r for r in results if r["met"] is False]
    if short:
        lines += ["", "Short of the aim: " + "; ".join(r["name"] for r in short) + " — README.md, \"Speed at city scale\", says by how much and why."]
    return "\n".join(lines) + "\n"


def _groups(meta: dict[str, Any]) -> str:
    groups = meta.get("groups", GROUPS)
    return "" if tuple(groups) == GROUPS else ", only " + ", ".join(groups)


def _fmt(x: Any) -> str:
    return f"{x:,}" if isinstance(x, (int, float)) else str(x or "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="City IOC benchmarks (each figure beside a same-run baseline)")
    ap.add_argument("--size", type=size_arg, help="stored history, e.g. 1M (default), 100k; --quick: 2000")
    ap.add_argument("--pg", action="store_true", help="on PostgreSQL (127.0.0.1:5432) instead of SQLite")
    ap.add_argument("--only", type=groups_arg, default=GROUPS, help=f"groups to run, of {','.join(GROUPS)} (default all)")
    ap.add_argument("--quick", action="store_true", help="every measure on tiny sizes: a smoke run")
    ap.add_argument("--repeat", type=int, help="runs of each measure (default 5; --quick: 3)")
    ap.add_argument("--no-browser", action="store_true", help="leave out the headless Chromium measure")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where the JSON and latest.md go")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    size = args.size or (2_000 if args.quick else 1_000_000)
    repeat = args.repeat or (3 if args.quick else 5)
    per_run, points = (500, 1_000) if args.quick else (10_000, MAP_POINTS)
    pack = load_pack(PACK)
    started = time.monotonic()
    stores = Stores(args.pg)
    results: list[dict[str, Any]] = []
    try:
        if "ingest" in args.only:
            results += ingest_and_refresh(stores, pack, size, per_run, repeat)
        if "map" in args.only:
            results += map_measures(stores, pack, points, repeat, browser=not args.no_browser)
    finally:
        stores.close()
    if "reads" in args.only:
        results += read_measures(size, args.pg)
    if "load" in args.only:
        results += load_measures(size, args.pg, args.quick)
    print(file=sys.stderr)
    now = datetime.now(timezone.utc)
    meta = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "machine": f"{platform.machine()}, {_cores()} cores",
            "backend": "PostgreSQL" if args.pg else "SQLite", "size": size, "quick": args.quick,
            "minutes": round((time.monotonic() - started) / 60, 1), "groups": list(args.only)}
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y-%m-%dT%H%M%SZ") + ("-quick" if args.quick else "") + ("-pg" if args.pg else "")
    (args.results / f"{stamp}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2,
                                                           ensure_ascii=False), encoding="utf-8")
    table = markdown(results, meta)
    if not args.quick or args.results != RESULTS:
        (args.results / ("latest-pg.md" if args.pg else "latest.md")).write_text(table, encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False) if args.json else table)
    return 0


def _cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
