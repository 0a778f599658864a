"""Reads at city scale: each page's read against the same SQL issued bare, on a cached history.

    .venv/bin/python -m bench.reads [--size 1000000] [--pg] [--repeat 20] [--json] [--only summary]

``measures(url)`` runs every case on the store at ``url`` and returns one dict per case:
``{name, median_ms, p95_ms, baseline_ms, ratio, aim, note}``. The baseline is what the read
costs at the floor: the statements it sent (recorded on its first run, parameters and all),
replayed on a bare DBAPI cursor and fetched, so the ratio is our Python's share on top of the
database's work, measured in the same run (this machine's speed drifts). ``aim`` is the target
in milliseconds from issue 12 (None: a figure, not a target); ``met`` says whether p95 meets it.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import Engine, event, select, update

from ioc import PROJECT_ROOT
from ioc.city.pack import load_pack
from ioc.config import FeedSettings
from ioc.read import board, citymap, kpi, kpi_days, lists, parallel, summary, wall
from ioc.records import OPEN_STATUSES
from ioc.store import models
from ioc.store.db import make_engine

PACK = PROJECT_ROOT / "geodata" / "dongguan"
# Text searches: a two-character word, longer Chinese phrases, English, an address fragment, and
# one that matches nothing (the worst case for a scan: it reads everything).
SEARCHES = {"2-char 噪音": "噪音", "4-char 电梯困人": "电梯困人", "English noise": "noise",
            "address 元美路27": "元美路27", "no match 不存在的事": "不存在的事"}
FEEDS = [FeedSettings(name=n, kind="simulated", interval_seconds=10) for n in
         ("police_110", "fire_119", "ems_120", "hotline_12345", "urban_mgmt")]


@dataclass
class Case:
    name: str
    run: Callable[[], Any]
    aim: float | None
    note: str = ""
    before_each: Callable[[], None] | None = None
    size_of: Callable[[Any], int] | None = None  # bytes on the wire, for the refresh cases


def measures(url: str, repeat: int = 20, only: str | None = None) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        return [_measure(engine, case, repeat) for case in cases(engine) if not only or only in case.name]
    finally:
        engine.dispose()


def cases(engine: Engine) -> list[Case]:
    pack = load_pack(PACK)
    tz = pack.manifest.timezone
    origin = tuple(pack.manifest.bbox[:2])
    sources = [f.name for f in FEEDS]
    everything, newest = lists.IncidentFilter(), board.Sort()
    # Walked to on first use, so that --only skips the walk when it leaves these cases out.
    page_200 = functools.cache(lambda: _cursor_at(engine, everything, newest, 199))
    api_200 = functools.cache(lambda: _api_cursor_at(engine, everything, 199))
    out = [
        Case("board first page", lambda: board.page(engine, everything, newest, pack=pack), 30),
        Case("board page 200", lambda: board.page(engine, everything, newest, page_200(), pack=pack), 30,
             "keyset cursor of row 19,900"),
        Case("board count (capped)", lambda: board.count(engine, everything), 30, "count stops at 10,000"),
        Case("API list first page", lambda: lists.incidents(engine, everything), 30, "GET /api/v1/incidents"),
        Case("API list page 200", lambda: lists.incidents(engine, everything, 100, 0, api_200()), 30,
             "GET /api/v1/incidents?after=<next of page 199>"),
    ]
    for label, q in SEARCHES.items():
        found = lists.IncidentFilter(q=q)
        out.append(Case(f"search {label}", lambda f=found: board.page(engine, f, newest, pack=pack), 100,
                        "board, newest 100 matches"))
    out.append(Case("API search 2-char 噪音", lambda: lists.incidents(engine, lists.IncidentFilter(q="噪音")), 100,
                    "GET /api/v1/incidents?q=噪音"))
    seen = citymap.live_versions(engine)
    out.append(Case("live check", lambda: citymap.live_versions(engine) == seen, 5,
                    "change counters: anything changed?"))
    out.append(Case("wall refresh, nothing changed", lambda: _wall_unchanged(engine, seen), 5,
                    "counters equal: no panel or layer redrawn", size_of=lambda r: len(_json(r))))
    out.append(Case("wall refresh, something changed", lambda: _wall_changed(engine, tz, origin, sources), 100,
                    "20 incidents written since the last look: delta rows + every panel (panels at once, as "
                    "the wall draws them; the baseline issues their statements one after another)",
                    before_each=lambda: _touch(engine, 20), size_of=lambda r: len(_json(r))))
    now = datetime.now(pack.timezone)
    summary_aim = 500 if engine.dialect.name == "postgresql" else 200  # the aims: PostgreSQL at 10 M
    last30 = summary.period_for("last30", pack.timezone, now)
    out.append(Case("KPI rates by division, 30 days",
                    lambda: kpi.rates(engine, last30.frm, last30.to, "division"), None,
                    "kpi.rates over the incidents, for any window (API export, events); the summary's "
                    "whole city days come from the roll-up (below)"))
    _build_roll_up(engine, pack.timezone)  # once per cached history; then only catch-up
    out.append(Case("summary by division, 30 days, no roll-up",
                    lambda: kpi.rank_rates(kpi.tally(engine, last30.frm, last30.to, "division")[1],
                                           "resolution_rate"), None, "before: kpi.tally over the incidents"))
    out.append(Case("summary by division, 30 days",
                    lambda: summary.by_group(engine, last30, "division", "resolution_rate"), summary_aim,
                    "volume, rates and ranking (summary.by_group, roll-up + today)"))
    out.append(Case("summary page, 30 days", lambda: _summary_page(engine, last30), None,
                    "every read the summary page makes, 4 at a time as the page makes them "
                    "(the baseline issues them one after another)"))
    return out


def _cursor_at(engine: Engine, filters: lists.IncidentFilter, sort: board.Sort, pages: int) -> list[Any] | None:
    cursor = None
    for _ in range(pages):
        cursor = board.page(engine, filters, sort, cursor).cursor
    return cursor


def _api_cursor_at(engine: Engine, filters: lists.IncidentFilter, pages: int) -> str | None:
    cursor = None
    for _ in range(pages):
        cursor = lists.incidents(engine, filters, 100, 0, cursor)["next"]
    return cursor


def _wall_unchanged(engine: Engine, seen: dict[str, int]) -> dict | None:
    versions = citymap.live_versions(engine)
    return None if versions == seen else versions


def _wall_changed(engine: Engine, tz: str, origin, sources: list[str]) -> dict[str, Any]:
    """What the wall's two refreshes read when incidents changed (layouts.map_page.refresh_live +
    layouts.wall_page.refresh_panels): the delta since the last look, then every incident panel."""
    now = datetime.now(timezone.utc)
    versions = citymap.live_versions(engine)
    delta = citymap.incident_rows(engine, origin, sources, since=now - timedelta(seconds=40), now=now)
    panels = {"tiles": lambda: wall.tiles(engine, tz, now), "trend": lambda: wall.trend(engine, now),
              "busiest": lambda: wall.busiest_divisions(engine), "ticker": lambda: wall.newest_urgent(engine),
              "signal": lambda: wall.signal(engine, now), "feeds": lambda: wall.feeds(engine, FEEDS, now)}
    # At once, as refresh_panels draws them.
    return {"v": versions, "delta": delta, **dict(zip(panels, parallel.gather(list(panels.values()))))}


def _build_roll_up(engine: Engine, tz: Any) -> None:
    """As the service would before its first summary: the KPI roll-up of the last 400 days."""
    start = time.perf_counter()
    kpi_days.refresh(engine, tz)
    _progress(f"KPI roll-up brought up to date in {time.perf_counter() - start:.1f} s")
    print(file=sys.stderr)


def _touch(engine: Engine, n: int) -> None:
    """Write ``n`` open incidents, as an ingest batch would (bumps the incident counter)."""
    i = models.Incident
    with engine.begin() as conn:
        ids = conn.scalars(select(i.id).where(i.status.in_(OPEN_STATUSES)).order_by(i.id.desc()).limit(n)).all()
        conn.execute(update(i).where(i.id.in_(ids)).values(updated_at=datetime.now(timezone.utc),
                                                           version=i.version + 1))


def _summary_page(engine: Engine, period: summary.Period) -> None:
    """The summary page's reads, at once as the page makes them (layouts.summary_page.render)."""
    parallel.gather([
        lambda: summary.headline(engine, period, "previous"),
        *[lambda by=by: summary.by_group(engine, period, by, "resolution_rate")
          for by in ("division", "category", "channel", "org")],
        lambda: summary.lateness(engine, period),
        lambda: summary.heat_grid(engine, period),
        lambda: summary.recurring_places(engine, period),
    ])


# --- timing ----------------------------------------------------------------------------------


def _measure(engine: Engine, case: Case, repeat: int) -> dict[str, Any]:
    if case.before_each:
        case.before_each()
    statements, result = _recorded(engine, case.run)
    ours, bare = [], []
    for _ in range(repeat):
        if case.before_each:
            case.before_each()
        start = time.perf_counter()
        case.run()
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        _replay(engine, statements)
        bare.append(time.perf_counter() - start)
    median, p95, base = (float(np.percentile(ours, 50)) * 1000, float(np.percentile(ours, 95)) * 1000,
                         float(np.percentile(bare, 50)) * 1000)
    note = case.note + (f"; {len(statements)} statements" if len(statements) != 1 else "")
    out = {"name": case.name, "median_ms": round(median, 2), "p95_ms": round(p95, 2), "baseline_ms": round(base, 2),
           "ratio": round(median / base, 2) if base else None, "aim": case.aim,
           "met": None if case.aim is None else p95 <= case.aim, "note": note}
    if case.size_of:
        out["bytes"] = case.size_of(result)
    _progress(f"{case.name}: p95 {p95:.1f} ms")
    return out


def _recorded(engine: Engine, run: Callable[[], Any]) -> tuple[list[tuple[str, Any]], Any]:
    """Run once and keep every statement sent to the database, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn, _cursor, statement, parameters, _context, executemany):  # noqa: ANN001 - event signature
        if not executemany:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        result = run()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return seen, result


def _replay(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in statements:
            cur.execute(statement, parameters)
            if cur.description is not None:
                cur.fetchall()
        raw.rollback()
    finally:
        raw.close()


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode() if value else b""


def _progress(text: str) -> None:
    print(f"\r{text:<72}", end="", file=sys.stderr, flush=True)


def table(results: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = ["| read | median ms | p95 ms | bare SQL ms | ratio | aim ms | met | bytes | note |",
             "|---|---:|---:|---:|---:|---:|:-:|---:|---|"]
    for r in results:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['name']} | {r['median_ms']} | {r['p95_ms']} | {r['baseline_ms']} | {r['ratio']} | "
                     f"{r['aim'] or ''} | {met} | {r.get('bytes', '')} | {r['note']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.history import ensure_history

    ap = argparse.ArgumentParser(description="read benchmarks on a cached synthetic history")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", help="run only the cases whose name contains this, e.g. summary")
    args = ap.parse_args(argv)
    results = measures(ensure_history(args.size, args.pg), args.repeat, args.only)
    print(file=sys.stderr)
    print(json.dumps(results, indent=2, ensure_ascii=False) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
