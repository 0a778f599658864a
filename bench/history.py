"""A synthetic year of the demo city, for the read benchmarks: built once per size and kept.

    ensure_history(1_000_000)            -> "sqlite:///…/var/bench/history_1000000.db"
    ensure_history(10_000_000, pg=True)  -> "postgresql+psycopg://postgres@127.0.0.1:5432/ioc_bench_10000000"

The history follows the Dongguan pack: divisions weighted by population, the channels' mix, the
simulator's categories, types and priority weights, routing to the pack's orgs, SLA due times
from its sla.toml, a day-and-night rhythm over the year up to the build, about 1.4 days of the
city's volume still open (mostly the newest), CAD stamps and units on the police / fire / ambulance incidents, work orders
and callback marks on the hotline and urban ones, and a timeline (``incident_event``) for each.

Rows go in with bare driver-level bulk statements (``executemany`` on SQLite, ``COPY`` on
PostgreSQL) in chunks, after the store is migrated and the pack loaded, so every trigger and index
of the schema is in place as it would be in service. A finished history is marked in
``bench_history``; a half-built one (interrupted) is thrown away and built again.
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from feeds.simulator.calls import CALL_TYPES, DEFAULT_PRIORITY, PRIORITY_WEIGHTS
from ioc import PROJECT_ROOT
from ioc.city.pack import CityPack, load_pack
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store

# Bump when the generator changes: cached histories of another version are built again.
HISTORY_VERSION = 2
CACHE = PROJECT_ROOT / "var" / "bench"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PACK = PROJECT_ROOT / "geodata" / "dongguan"
CHUNK = 50_000
# The open backlog in days of the city's volume: most of the last day's reports, thinning out over
# the days before, and a tail of long-running work orders across the year (half a day's volume).
OPEN_RECENT_DAYS = 1.0
OPEN_TAIL_DAYS = 0.5
DAY = 86_400.0

# channel → (share, source feed, categories with weights)
CHANNELS: dict[str, tuple[float, str, dict[str, float]]] = {
    "110": (0.42, "police_110", {"crime": 8, "public_order": 8, "dispute": 14, "traffic_accident": 16,
                                 "traffic_jam": 8, "help": 18, "suspicious": 5, "noise": 12, "consultation": 11}),
    "119": (0.03, "fire_119", {"fire": 55, "rescue": 40, "hazmat": 5}),
    "120": (0.07, "ems_120", {"medical": 1}),
    "12345": (0.30, "hotline_12345", {"consultation": 20, "complaint": 22, "suggestion": 6, "noise": 14,
                                      "pollution": 8, "garbage": 10, "road_damage": 6, "street_light": 6,
                                      "illegal_construction": 8}),
    "urban": (0.18, "urban_mgmt", {"garbage": 18, "street_vending": 14, "illegal_ad": 12, "road_damage": 10,
                                   "manhole_cover": 6, "street_light": 8, "fallen_tree": 5, "waterlogging": 6,
                                   "muck_spill": 6, "greening": 5, "facility_damage": 6, "construction": 4}),
}
# Words for what the CAD type table does not name (hotline and urban categories).
TYPE_NAMES = {
    "complaint": ["投诉物业服务", "投诉商家经营", "投诉公交服务"], "suggestion": ["城市建设建议", "交通管理建议"],
    "pollution": ["工厂废气排放", "河涌污水", "油烟扰民"], "garbage": ["垃圾堆放", "垃圾未清运", "垃圾桶满溢"],
    "road_damage": ["路面坑洼", "人行道破损"], "street_light": ["路灯不亮", "路灯损坏"],
    "illegal_construction": ["违章搭建", "违法加建"], "street_vending": ["占道经营", "流动摊贩"],
    "illegal_ad": ["乱张贴小广告", "违规户外广告"], "manhole_cover": ["井盖缺失", "井盖破损"],
    "fallen_tree": ["树木倒伏"], "waterlogging": ["道路积水"], "muck_spill": ["渣土撒漏"],
    "greening": ["绿化带损毁"], "facility_damage": ["护栏损坏", "公共设施损坏"], "construction": ["夜间施工扰民"],
}
ENGLISH = {"traffic_accident": "Traffic collision", "noise": "Noise complaint", "help": "Request for help",
           "medical": "Medical emergency", "fire": "Fire reported", "garbage": "Garbage not collected"}
STREETS = ("东城路", "莞太路", "鸿福路", "元美路", "胜和路", "八达路", "石龙路", "松山湖大道", "长安路", "虎门大道",
           "厚街大道", "东莞大道", "新城路", "可园路", "运河路", "环城路", "银河路", "振华路", "人民路", "健康路",
           "育华路", "光明路", "沿河路", "学院路", "工业大道", "金龙路", "黄旗路", "旗峰路", "体育路", "三元路")
SURVEY = (("satisfied", .78), ("basically_satisfied", .11), ("dissatisfied", .07), ("unresolved", .04))


def progress(text_: str) -> None:
    print(f"\r{text_:<72}", end="", file=sys.stderr, flush=True)


def ensure_history(size: int, pg: bool = False) -> str:
    """A migrated store holding the pack and ``size`` incidents of history; built on first use."""
    url = _pg_url(size) if pg else f"sqlite:///{CACHE / f'history_{size}.db'}"
    if not _finished(url, size):
        _build(url, size, pg)
    engine = make_engine(url)
    upgrade(engine)  # a cached history follows the schema as it moves on
    engine.dispose()
    progress(f"history of {size:,} incidents ready ({'PostgreSQL' if pg else 'SQLite'})")
    print(file=sys.stderr)
    return url


def _pg_url(size: int) -> str:
    return make_url(PG_SERVER).set(database=f"ioc_bench_{size}").render_as_string(hide_password=False)


def _finished(url: str, size: int) -> bool:
    if url.startswith("sqlite") and not Path(make_url(url).database).exists():
        return False
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            if "bench_history" not in inspect(conn).get_table_names():
                return False
            row = conn.execute(text("SELECT size, version FROM bench_history")).first()
        engine.dispose()
    except Exception:  # the database is missing or unreadable: build it
        return False
    return row is not None and tuple(row) == (size, HISTORY_VERSION)


def _build(url: str, size: int, pg: bool) -> None:
    _fresh(url, pg)
    engine = make_engine(url)
    upgrade(engine)
    pack = load_pack(PACK)
    load_pack_into_store(engine, pack)
    started = time.perf_counter()
    gen = Generator(pack, size, datetime.now(timezone.utc))
    written = 0
    for chunk in gen.chunks():
        _write(engine, chunk, pg)
        written += len(chunk["incident"][1])
        rate = written / (time.perf_counter() - started)
        progress(f"history {written:,}/{size:,} incidents, {rate:,.0f}/s")
    with engine.begin() as conn:
        if pg:
            for table in ("incident", "incident_event", "work_order", "assignment"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
        conn.execute(text("CREATE TABLE bench_history (size BIGINT, version INTEGER, built_at VARCHAR(40))"))
        conn.execute(text("INSERT INTO bench_history VALUES (:s, :v, :at)"),
                     {"s": size, "v": HISTORY_VERSION, "at": gen.now.isoformat()})
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    # SQLite: no ANALYZE, as no store in service has one (the planner works without statistics).
    engine.dispose()


def _fresh(url: str, pg: bool) -> None:
    """An empty database at ``url`` (what was there was unfinished or of another version)."""
    if not pg:
        path = Path(make_url(url).database)
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        return
    name = make_url(url).database
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


# --- writing --------------------------------------------------------------------------------------


def _write(engine: Engine, chunk: dict[str, tuple[list[str], list[tuple]]], pg: bool) -> None:
    """One chunk in one transaction. Times come as microseconds since 1970 (UTC) and the database
    writes them in the store's own form (formatting them in Python would take most of the build)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, (columns, rows) in chunk.items():
            if rows:
                (_copy if pg else _insert)(cur, table, columns, rows)
        raw.commit()
    finally:
        raw.close()


def _insert(cur, table: str, columns: list[str], rows: list[tuple]) -> None:  # noqa: ANN001 - DBAPI cursor
    # SQLAlchemy keeps SQLite times as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC); NULL stays NULL.
    marks = [f"strftime('%Y-%m-%d %H:%M:%S', ?{i} / 1000000, 'unixepoch') || printf('.%06d', ?{i} % 1000000)"
             if c in TIME_COLUMNS else f"?{i}" for i, c in enumerate(columns, 1)]
    cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})", rows)


def _copy(cur, table: str, columns: list[str], rows: list[tuple]) -> None:  # noqa: ANN001 - DBAPI cursor
    """COPY into a staging table with the times as integers, then one INSERT … SELECT."""
    stage = f"stage_{table}"
    types = ", ".join(f"{c} {'BIGINT' if c in TIME_COLUMNS else 'TEXT'}" for c in columns)
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({types})")
    cur.execute(f"TRUNCATE {stage}")
    with cur.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(map(_from_stage, columns))} "
                f"FROM {stage}")


PG_TYPES = {"id": "bigint", "incident_id": "bigint", "lon": "float8", "lat": "float8", "report_count": "int",
            "version": "int", "rework_count": "int", "sources": "json", "extra": "json", "data": "json"}


def _from_stage(column: str) -> str:
    """A staging column as the target wants it: times from microseconds, text cast where needed."""
    if column in TIME_COLUMNS:
        return f"timestamptz 'epoch' + {column} * interval '1 microsecond'"
    return f"{column}::{PG_TYPES[column]}" if column in PG_TYPES else column


# --- generating -----------------------------------------------------------------------------------


class Generator:
    """Chunks of rows (columns + tuples per table) drawn from the city's distributions."""

    def __init__(self, pack: CityPack, size: int, now: datetime, seed: int = 12) -> None:
        self.pack, self.size, self.now = pack, size, now.replace(microsecond=0)
        self.rng = np.random.default_rng(seed)
        divisions = pack.divisions()
        self.div_codes = [d.code for d in divisions]
        self.div_names = [d.name_zh for d in divisions]
        pop = np.array([d.population or 50_000 for d in divisions], dtype=float)
        self.div_p = pop / pop.sum()
        self.div_box = np.array([d.shape.bounds for d in divisions])  # west, south, east, north
        orgs = pack.orgs()
        self.office = {o.district_code: o.code for o in orgs if o.kind == "office"}
        self.by_service = {o.service: o.code for o in orgs if o.kind == "department"}
        self.routing = pack.rules.routing
        self.units = {kind: [u.id for u in pack.units() if u.unit_type == kind]
                      for kind in ("police_car", "fire_engine", "ambulance")}
        sla = _sla_minutes(pack.path / "sla.toml")
        self.limits = np.array([[sla[p][c] for c in ("acknowledge_by", "dispatch_by", "on_scene_by", "resolve_by")]
                                for p in PRIORITY_NAMES])
        self.now_us = int(self.now.timestamp() * 1e6)
        self.channels = list(CHANNELS)
        shares = np.array([CHANNELS[c][0] for c in self.channels])
        self.channel_p = shares / shares.sum()

    def chunks(self) -> Iterator[dict[str, tuple[list[str], list[tuple]]]]:
        ages = self._ages()
        open_ = self._open_mask(ages)
        for start in range(0, self.size, CHUNK):
            stop = min(start + CHUNK, self.size)
            yield self._chunk(start, ages[start:stop], open_[start:stop])

    def _ages(self) -> np.ndarray:
        """Seconds before now of each report, oldest first, busier by day than by night."""
        rng = self.rng
        day = rng.integers(0, 365, self.size)
        hour_w = np.array([2, 1.5, 1, 1, 1, 1.5, 3, 5, 7, 8, 8, 8, 7, 7, 7, 7, 7, 7, 7, 6, 5, 4, 3, 2.5])
        hour = rng.choice(24, self.size, p=hour_w / hour_w.sum())
        secs = day * DAY + hour * 3600.0 + rng.uniform(0, 3600, self.size)
        return np.sort(secs)[::-1].copy()

    def _open_mask(self, ages: np.ndarray) -> np.ndarray:
        """About 1.4 days of volume still open, as in a centre whose work orders take days: the
        backlog follows the daily volume, not the history's length."""
        tail = OPEN_TAIL_DAYS / 365
        p = np.minimum(1.0, 0.9 * np.exp(-ages / (OPEN_RECENT_DAYS * DAY)) + tail)
        return self.rng.random(self.size) < p

    def _chunk(self, start: int, ages: np.ndarray, open_: np.ndarray) -> dict[str, tuple[list[str], list[tuple]]]:
        rng, n = self.rng, len(ages)
        ids = np.arange(start + 1, start + n + 1)
        reported = self.now_us - (ages * 1e6).astype(np.int64)
        channel = np.array(self.channels, dtype=object)[rng.choice(len(self.channels), n, p=self.channel_p)]
        category = np.empty(n, dtype=object)
        for chan, (_, _, cats) in CHANNELS.items():
            rows = channel == chan
            w = np.array(list(cats.values()), dtype=float)
            category[rows] = np.array(list(cats), dtype=object)[rng.choice(len(cats), rows.sum(), p=w / w.sum())]
        prio = np.zeros(n, dtype=np.int64)
        for cat in np.unique(category):
            rows = category == cat
            w = np.array(PRIORITY_WEIGHTS.get(cat, DEFAULT_PRIORITY), dtype=float)
            prio[rows] = rng.choice(4, rows.sum(), p=w / w.sum())
        division = rng.choice(len(self.div_codes), n, p=self.div_p)
        box = self.div_box[division]
        lon = box[:, 0] + (box[:, 2] - box[:, 0]) * rng.uniform(.25, .75, n)
        lat = box[:, 1] + (box[:, 3] - box[:, 1]) * rng.uniform(.25, .75, n)

        limits = self.limits[prio]  # n x 4 minutes: acknowledge, dispatch, on scene, resolve
        due = reported[:, None] + (limits * 60e6).astype(np.int64)
        scale = np.column_stack([limits * (.5, .4, .4, .35), np.full(n, 30.0)])
        steps = reported[:, None] + np.cumsum(rng.lognormal(0.3, 0.9, (n, 5)) * scale * 60e6, axis=1).astype(np.int64)
        # A step not yet due by now has not happened: what would close in the future is still open.
        by_now = (steps <= self.now_us).sum(axis=1)
        open_ = open_ | (by_now < 5)
        reached = np.where(open_, np.minimum(rng.integers(0, 4, n), np.minimum(by_now, 3)), 4)
        stamps = np.where(np.arange(4)[None, :] < reached[:, None], steps[:, :4], NAT)
        closed = np.where(open_, NAT, steps[:, 4])
        status = np.array(["new", "acknowledged", "dispatched", "on_scene", "closed"], dtype=object)[reached]
        status[(~open_) & (rng.random(n) < 0.015)] = "cancelled"
        last_step = np.where(reached == 0, reported, steps[np.arange(n), np.maximum(reached - 1, 0)])
        updated = np.where(open_, last_step, closed)
        survey = np.isin(channel, ("12345", "urban")) & ~open_ & (rng.random(n) < 0.6)
        marks = np.array([m for m, _ in SURVEY], dtype=object)
        satisfaction = np.where(survey, marks[rng.choice(len(SURVEY), n, p=[w for _, w in SURVEY])], None)

        codes = [self.div_codes[d] for d in division]
        titles, kinds = self._titles(category)
        streets = rng.integers(len(STREETS), size=n)
        numbers = rng.integers(1, 400, size=n)
        address = [f"东莞市{self.div_names[d]}{STREETS[s]}{h}号" for d, s, h in zip(division, streets, numbers)]
        description = [f"市民反映：{a}附近{ti}，请尽快处理。" for a, ti in zip(address, titles)]
        grid = [f"{c}{int((x - 113.5) * 1000):04d}{int((y - 22.5) * 1000):04d}" for c, x, y in zip(codes, lon, lat)]
        org = [self._org(cat, c) for cat, c in zip(category, codes)]
        source = [CHANNELS[c][1] for c in channel]
        t = self._times
        incidents = list(zip(
            ids.tolist(), source, [f"H{i:09d}" for i in ids], channel.tolist(), category.tolist(), kinds,
            [PRIORITY_NAMES[p] for p in prio], status.tolist(), titles, description, address, lon.tolist(),
            lat.tolist(), codes, grid, org, t(reported), *[t(stamps[:, i]) for i in range(4)], t(closed),
            *[t(due[:, i]) for i in range(4)], satisfaction.tolist(), [1] * n, ["[]"] * n, ["{}"] * n, t(updated),
            [1] * n, strict=True))
        return {
            "incident": (INCIDENT_COLUMNS, incidents),
            "incident_event": (EVENT_COLUMNS, self._events(ids, source, prio, reported, closed, status)),
            "work_order": (ORDER_COLUMNS, self._orders(ids, channel, org, reported, closed, satisfaction)),
            "assignment": (ASSIGNMENT_COLUMNS, self._assignments(ids, channel, prio, reached, stamps, closed)),
        }

    def _titles(self, category: np.ndarray) -> tuple[list[str], list[str]]:
        rng, n = self.rng, len(category)
        pick, english = rng.random(n), rng.random(n) < 0.03
        titles, kinds = [], []
        for cat, r, en in zip(category, pick, english):
            if en and cat in ENGLISH:
                titles.append(ENGLISH[cat])
                kinds.append("")
            elif cat in CALL_TYPES:
                types = CALL_TYPES[cat][1]
                code, name = types[int(r * len(types))]
                titles.append(name)
                kinds.append(code)
            else:
                names = TYPE_NAMES.get(cat, ["其他事项"])
                titles.append(names[int(r * len(names))])
                kinds.append("")
        return titles, kinds

    def _org(self, category: str, division: str) -> str | None:
        service = self.routing.services.get(category, self.routing.default)
        if service == "town":
            return self.office.get(division)
        return self.by_service.get(service) or self.office.get(division)

    def _events(self, ids, source, prio, reported, closed, status) -> list[tuple]:
        t = self._times
        created = list(zip(ids.tolist(), t(reported), ["created"] * len(ids), [f"feed:{s}" for s in source],
                           [f'{{"status": "new", "priority": "{PRIORITY_NAMES[p]}"}}' for p in prio], strict=True))
        done = closed != NAT
        ended = list(zip(ids[done].tolist(), t(closed[done]), status[done].tolist(), ["duty01"] * int(done.sum()),
                         ["{}"] * int(done.sum()), strict=True))
        return created + ended

    def _orders(self, ids, channel, org, reported, closed, satisfaction) -> list[tuple]:
        rows = np.isin(channel, ("12345", "urban"))
        n = int(rows.sum())
        created = reported[rows] + (self.rng.uniform(5, 40, n) * 60e6).astype(np.int64)
        end = closed[rows]
        done = end != NAT
        minute = np.int64(60_000_000)
        t = self._times
        return list(zip(
            ids[rows].tolist(), [o or "IOC" for o, r in zip(org, rows) if r],
            np.where(done, "verified", "pending").tolist(), t(created), t(created + 60 * minute),
            t(created + 1440 * minute), t(created + 2880 * minute), t(np.where(done, created + 30 * minute, NAT)),
            t(np.where(done, end - 20 * minute, NAT)), t(end), np.where(done, "已处理", None).tolist(), [0] * n,
            satisfaction[rows].tolist(), [1] * n, strict=True))

    def _assignments(self, ids, channel, prio, reached, stamps, closed) -> list[tuple]:
        rows = np.isin(channel, ("119", "120")) | ((channel == "110") & (prio <= 1))
        rows &= reached >= 2
        n = int(rows.sum())
        pools = {c: self.units[kind] for c, kind in (("110", "police_car"), ("119", "fire_engine"),
                                                      ("120", "ambulance"))}
        picks = self.rng.random(n)
        units = [pools[c][int(r * len(pools[c]))] for c, r in zip(channel[rows], picks)]
        dispatched, on_scene, end = stamps[rows, 1], stamps[rows, 2], closed[rows]
        en_route = dispatched + (self.rng.uniform(30, 120, n) * 1e6).astype(np.int64)
        state = np.where(end != NAT, "CLEARED", np.where(on_scene != NAT, "ON_SCENE", "EN_ROUTE"))
        t = self._times
        return list(zip(ids[rows].tolist(), units, state.tolist(), t(dispatched), t(en_route), t(on_scene), t(end),
                        [1] * n, strict=True))

    @staticmethod
    def _times(us: np.ndarray) -> list[int | None]:
        """Microseconds since 1970 (UTC); NAT → None. The database formats them (see ``_insert``)."""
        us = np.asarray(us)
        return [None if v == NAT else v for v in us.tolist()]


NAT = np.datetime64("NaT").astype(np.int64)
PRIORITY_NAMES = ("P1", "P2", "P3", "P4")
EVENT_COLUMNS = ["incident_id", "at", "kind", "actor", "data"]
TIME_COLUMNS = {"reported_at", "acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at",
                "acknowledge_due", "dispatch_due", "on_scene_due", "resolve_due", "updated_at", "at", "created_at",
                "accept_by", "feedback_by", "due_at", "accepted_at", "done_at", "verified_at", "en_route_at",
                "cleared_at"}
ASSIGNMENT_COLUMNS = ["incident_id", "unit_id", "status", "dispatched_at", "en_route_at", "on_scene_at",
                      "cleared_at", "version"]


INCIDENT_COLUMNS = [
    "id", "source", "external_id", "channel", "category", "type", "priority", "status", "title", "description",
    "address", "lon", "lat", "district_code", "grid_code", "org_code", "reported_at", "acknowledged_at",
    "dispatched_at", "on_scene_at", "resolved_at", "closed_at", "acknowledge_due", "dispatch_due", "on_scene_due",
    "resolve_due", "satisfaction", "report_count", "sources", "extra", "updated_at", "version",
]
ORDER_COLUMNS = ["incident_id", "org_code", "status", "created_at", "accept_by", "feedback_by", "due_at",
                 "accepted_at", "done_at", "verified_at", "feedback", "rework_count", "satisfaction", "version"]


def _sla_minutes(path: Path) -> dict[str, dict[str, float]]:
    table = tomllib.loads(path.read_text(encoding="utf-8"))["incident"]
    return {p: {k: float(v) for k, v in table[p].items()} for p in ("P1", "P2", "P3", "P4")}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="build (or find) the cached synthetic history")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args()
    print(ensure_history(args.size, args.pg))
