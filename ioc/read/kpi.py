"""Leaders' figures: volumes, the 12345-style rates and CAD response intervals, aggregated in SQL.

Which incidents count
    Linked reports (``parent_id`` set) never count: their parent is the incident. Incidents in
    ``KpiDefinitions.excluded_statuses`` (default: fused, cancelled) are left out of every figure.

Rates (definitions vary by city, so each is configurable in ``KpiDefinitions``)
    响应率 response     acknowledged by the acknowledge deadline ÷ incidents whose deadline fell in
                        the period. The deadline is ``acknowledge_due``; when unset it is
                        ``reported_at + acknowledge_minutes``.
    办结率 closure      closed by the end of the period ÷ incidents whose resolve deadline fell in it
                        (``resolve_due``, else ``reported_at + resolve_hours`` when that is set,
                        else the incident has no closure clock and is not counted).
    按期办结率 on time  closed by the resolve deadline ÷ the same incidents.
    满意率 satisfaction marks in ``satisfied`` (+ ``basically_satisfied`` when
                        ``count_basically_satisfied``) ÷ marks in ``rated``.
    解决率 resolution   marks in ``resolved`` ÷ marks in ``rated``. One callback mark carries both
                        answers: by default satisfied / basically satisfied / dissatisfied mean the
                        matter was solved (the citizen judged the handling), unresolved means not;
                        marks outside ``rated`` (e.g. unreachable) are not assessed.
    The survey marks come from incidents reported in the period, or, with
    ``survey_of = "work_order"``, from work orders created in it.
    A deadline window ends at ``min(to, now)``: a clock still running is neither met nor missed.

CAD intervals (seconds, per incident, from its stamps and its first assignment by dispatch time)
    processing = dispatched − reported   turnout = en route − dispatched
    travel = on scene − en route         response = first on scene − reported
    on_scene = cleared − on scene
    Median and 90th percentile by linear interpolation (``percentile_cont``). PostgreSQL computes
    them in SQL; SQLite has no percentile aggregate, so it returns only the interval columns of
    the matching incidents and numpy interpolates the same way. Negative intervals (clock skew
    between sources) are dropped. SQLite times are precise to the millisecond.

Scope: every function takes ``division`` (a division code) to count only that division's
incidents, for drilling down from the city to a town and its grid cells; ``counts``, ``rates``
and ``intervals`` take ``category`` too (the wall's category view).

Groups: category, channel, division, grid (the unit-grid cell), org, priority, or ``hour`` = the
UTC hour the incident was reported (aware datetimes; pages show them in the city's zone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, Float, and_, case, cast, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.sql import ColumnElement

from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

GroupBy = Literal["category", "channel", "division", "grid", "org", "priority", "hour"]
INTERVALS = ("processing", "turnout", "travel", "response", "on_scene")
RATE_NAMES = ("response", "resolution", "satisfaction", "closure", "on_time_closure")
ALL = "all"


class KpiDefinitions(BaseModel):
    """How this city counts its rates; see the module docstring for each formula."""

    model_config = ConfigDict(extra="forbid")

    excluded_statuses: list[str] = ["fused", "cancelled"]
    acknowledge_minutes: float = Field(default=30, gt=0, description="acknowledge clock when none is set")
    resolve_hours: float | None = Field(default=None, gt=0, description="resolve clock when none is set")
    closed_stamp: Literal["closed_at", "resolved_at"] = "closed_at"
    survey_of: Literal["incident", "work_order"] = "incident"
    rated: list[str] = ["satisfied", "basically_satisfied", "dissatisfied", "unresolved"]
    satisfied: list[str] = ["satisfied"]
    basically_satisfied: list[str] = ["basically_satisfied"]
    count_basically_satisfied: bool = True
    resolved: list[str] = ["satisfied", "basically_satisfied", "dissatisfied"]

    def satisfied_marks(self) -> list[str]:
        return self.satisfied + (self.basically_satisfied if self.count_basically_satisfied else [])


@dataclass(frozen=True)
class Rate:
    hits: int = 0
    total: int = 0

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass
class Rates:
    response: Rate = Rate()
    resolution: Rate = Rate()
    satisfaction: Rate = Rate()
    closure: Rate = Rate()
    on_time_closure: Rate = Rate()


@dataclass(frozen=True)
class Stat:
    n: int
    median: float | None
    p90: float | None


@dataclass
class RankRow:
    group: Any
    value: float
    sample: int


@dataclass
class _Window:
    frm: datetime
    to: datetime
    end: datetime  # the period's end, but never after now: open clocks are not judged yet
    defs: KpiDefinitions = field(default_factory=KpiDefinitions)
    division: str | None = None
    category: str | None = None


# --- shared SQL pieces -----------------------------------------------------------------------

_I = models.Incident


def _epoch(dialect: str, col: Any) -> ColumnElement[float]:
    """Seconds since 1970 of a timestamp column, portable enough to subtract."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", col), Float)
    return (func.julianday(col) - 2440587.5) * 86400.0


def _seconds(dialect: str, later: Any, earlier: Any) -> ColumnElement[float]:
    """``later − earlier`` in seconds; NULL when either is missing or the result is negative."""
    diff = _epoch(dialect, later) - _epoch(dialect, earlier)
    return case((diff >= 0, diff), else_=None)


def _group(by: GroupBy | None, dialect: str, org_col: Any = None) -> ColumnElement[Any]:
    if by is None:
        return literal(ALL)
    if by == "hour":
        if dialect == "postgresql":
            return func.date_trunc("hour", func.timezone("UTC", _I.reported_at))
        return func.strftime("%Y-%m-%d %H:00:00", _I.reported_at)
    columns = {"category": _I.category, "channel": _I.channel, "division": _I.district_code, "grid": _I.grid_code,
               "org": org_col if org_col is not None else _I.org_code, "priority": _I.priority}
    if by not in columns:
        raise UserError(f"cannot group by {by!r}: use one of {', '.join([*columns, 'hour'])}")
    return columns[by]


def _key(by: GroupBy | None, value: Any) -> Any:
    if by == "hour" and value is not None:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value


def _counted(w: _Window) -> list[ColumnElement[bool]]:
    scope = [_I.district_code == w.division] if w.division else []
    scope += [_I.category == w.category] if w.category else []
    return [_I.parent_id.is_(None), _I.status.not_in(w.defs.excluded_statuses), *scope]


def _hits(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _window(frm: datetime, to: datetime, now: datetime | None, defs: KpiDefinitions | None,
            division: str | None = None, category: str | None = None) -> _Window:
    if not (frm.tzinfo and to.tzinfo):
        raise UserError("KPI periods need timezone-aware datetimes")
    if to <= frm:
        raise UserError(f"empty KPI period: {frm.isoformat()} is not before {to.isoformat()}")
    return _Window(frm, to, min(to, now or utcnow()), defs or KpiDefinitions(), division, category)


# --- volumes -----------------------------------------------------------------------------------


def counts(engine: Engine, frm: datetime, to: datetime, by: GroupBy | None,
           definitions: KpiDefinitions | None = None, division: str | None = None,
           category: str | None = None) -> list[tuple[Any, int]]:
    """Incidents reported in ``[frm, to)`` per group: biggest first (``hour``: in time order)."""
    w = _window(frm, to, to, definitions, division, category)
    dialect = engine.dialect.name
    group = _group(by, dialect).label("g")
    stmt = (select(group, func.count()).where(_I.reported_at >= w.frm, _I.reported_at < w.to, *_counted(w))
            .group_by(group))
    with session_factory(engine)() as session:
        rows = [(_key(by, g), n) for g, n in session.execute(stmt)]
    if by == "hour":
        return sorted(rows, key=lambda r: r[0])
    return sorted(rows, key=lambda r: (-r[1], str(r[0])))


# --- rates -------------------------------------------------------------------------------------


def rates(engine: Engine, frm: datetime, to: datetime, by: GroupBy | None = None,
          definitions: KpiDefinitions | None = None, now: datetime | None = None,
          division: str | None = None, category: str | None = None) -> dict[Any, Rates]:
    """The five rates per group (key ``"all"`` when ``by`` is None)."""
    return tally(engine, frm, to, by, definitions, now, division, category)[1]


def tally(engine: Engine, frm: datetime, to: datetime, by: GroupBy | None = None,
          definitions: KpiDefinitions | None = None, now: datetime | None = None,
          division: str | None = None, category: str | None = None) -> tuple[dict[Any, int], dict[Any, Rates]]:
    """Volume (as ``counts``) and the five rates (as ``rates``) per group, one statement per window:
    the incidents reported in the period give the volume and the survey marks together.

    One statement per window, not one over their union: each walks its own index range and its
    figures need no per-row test of which window the row is in (measured: the union's OR of
    ranges and ten conditional sums cost more than the three plain ranges)."""
    w = _window(frm, to, now, definitions, division, category)
    dialect = engine.dialect.name
    volume: dict[Any, int] = {}
    out: dict[Any, Rates] = {}

    def put(g: Any, name: str, hits: Any, total: Any) -> None:
        if total:  # a group is in the rates when one of its windows holds an incident
            setattr(out.setdefault(_key(by, g), Rates()), name, Rate(int(hits), int(total)))

    by_orders = w.defs.survey_of == "work_order"
    with session_factory(engine)() as session:
        groups = [_group(by, dialect).label("g")]
        for g, acknowledged, total in session.execute(_response_stmt(w, groups, dialect)):
            put(g, "response", acknowledged, total)
        for g, closed, on_time, total in session.execute(_closure_stmt(w, groups, dialect)):
            put(g, "closure", closed, total)
            put(g, "on_time_closure", on_time, total)
        for g, n, sat, res, rated in session.execute(_reported_stmt(w, groups, survey=not by_orders)):
            volume[_key(by, g)] = int(n)
            put(g, "satisfaction", sat, rated)
            put(g, "resolution", res, rated)
        if by_orders:
            for g, sat, res, rated in session.execute(_survey_stmt(w, by, dialect)):
                put(g, "satisfaction", sat, rated)
                put(g, "resolution", res, rated)
    return volume, out


def _clock_stmt(w: _Window, groups: list[Any], dialect: str, due_col: Any, fallback: timedelta | None,
                met: Any, extra: list[Any]) -> Any:
    """Incidents whose deadline (``due_col``, else reported + ``fallback``) fell in the window,
    per ``groups`` (labelled columns; ``ioc.read.kpi_days`` groups by division and category)."""
    in_window = [and_(due_col.is_not(None), due_col >= w.frm, due_col < w.end)]
    on_time = [and_(due_col.is_not(None), met <= due_col)]
    if fallback is not None:
        in_window.append(and_(due_col.is_(None), _I.reported_at >= w.frm - fallback,
                              _I.reported_at < w.end - fallback))
        on_time.append(and_(due_col.is_(None), _seconds(dialect, met, _I.reported_at) <= fallback.total_seconds()))
    met_in_time = and_(met.is_not(None), or_(*on_time))
    return (select(*groups, *extra, _hits(met_in_time), func.count())
            .where(or_(*in_window), *_counted(w)).group_by(*groups))


def _response_stmt(w: _Window, groups: list[Any], dialect: str) -> Any:
    fallback = timedelta(minutes=w.defs.acknowledge_minutes)
    return _clock_stmt(w, groups, dialect, _I.acknowledge_due, fallback, _I.acknowledged_at, [])


def _closure_stmt(w: _Window, groups: list[Any], dialect: str, extra: tuple[Any, ...] = ()) -> Any:
    stamp = getattr(_I, w.defs.closed_stamp)
    fallback = timedelta(hours=w.defs.resolve_hours) if w.defs.resolve_hours else None
    closed = _hits(and_(stamp.is_not(None), stamp < w.end))
    return _clock_stmt(w, groups, dialect, _I.resolve_due, fallback, stamp, [closed, *extra])


def _reported_stmt(w: _Window, groups: list[Any], survey: bool) -> Any:
    """Incidents reported in the period: their number and (``survey``) their survey marks."""
    d = w.defs
    rated = _I.satisfaction.in_(d.rated) if survey else false()
    return (select(*groups, func.count(), _hits(and_(rated, _I.satisfaction.in_(d.satisfied_marks()))),
                   _hits(and_(rated, _I.satisfaction.in_(d.resolved))), _hits(rated))
            .where(_I.reported_at >= w.frm, _I.reported_at < w.to, *_counted(w)).group_by(*groups))


def _survey_stmt(w: _Window, by: GroupBy | None, dialect: str) -> Any:
    """The survey marks of work orders created in the period (``survey_of = "work_order"``)."""
    d, wo = w.defs, models.WorkOrder
    group = _group(by, dialect, org_col=wo.org_code).label("g")
    return (select(group, _hits(wo.satisfaction.in_(d.satisfied_marks())), _hits(wo.satisfaction.in_(d.resolved)),
                   func.count())
            .select_from(wo).join(_I, _I.id == wo.incident_id)
            .where(wo.created_at >= w.frm, wo.created_at < w.to, wo.satisfaction.in_(d.rated), *_counted(w))
            .group_by(group))


# --- CAD intervals -------------------------------------------------------------------------------


def intervals(engine: Engine, frm: datetime, to: datetime, by: GroupBy | None = None,
              definitions: KpiDefinitions | None = None, division: str | None = None,
              category: str | None = None, names: tuple[str, ...] = INTERVALS) -> dict[Any, dict[str, Stat]]:
    """Median and 90th percentile (seconds) of each CAD interval in ``names``, for incidents
    reported in the period (asking for fewer reads fewer columns: SQLite ranks them in Python)."""
    w = _window(frm, to, to, definitions, division, category)
    dialect = engine.dialect.name
    group, columns, source = _interval_columns(w, by, dialect, names)
    with engine.connect() as conn:  # Core rows: on SQLite a month is 80,000 of them at city scale
        if dialect == "postgresql":
            # The intervals stay PostgreSQL intervals, and both percentiles come from one sort:
            # seconds through extract() are numeric, and making and sorting them took twice as long.
            aggregates = []
            for raw in columns:
                col = case((raw >= timedelta(0), raw), else_=None)
                aggregates += [func.count(col), func.percentile_cont(array([0.5, 0.9])).within_group(col)]
            rows = conn.execute(select(group, *aggregates).select_from(source).group_by(group)).all()
            return {_key(by, r[0]): {name: Stat(int(r[1 + 2 * i]), *_seconds_of(r[2 + 2 * i]))
                                     for i, name in enumerate(names)} for r in rows}
        rows = conn.execute(select(group, *columns).select_from(source)).all()
    return _percentiles_in_python(by, rows, names)


def _interval_columns(w: _Window, by: GroupBy | None, dialect: str,
                      names: tuple[str, ...]) -> tuple[Any, list[Any], Any]:
    unknown = set(names) - set(INTERVALS)
    if unknown:
        raise UserError(f"unknown interval {', '.join(sorted(unknown))}: use {', '.join(INTERVALS)}")
    a = models.Assignment
    source = select(_group(by, dialect).label("g")).select_from(_I)
    if dialect == "sqlite" and set(names) <= {"processing", "response"}:
        # The incident's own stamp, else its first unit's, looked up only when the stamp is missing
        # (COALESCE stops at the first value): on SQLite 5x faster than ranking every assignment of
        # a month; PostgreSQL runs the lookup as a subplan per row, slower than its ranking join.
        def first(col: Any) -> Any:
            return (select(col).where(a.incident_id == _I.id).order_by(a.dispatched_at, a.id).limit(1)
                    .correlate(_I).scalar_subquery())
    else:
        # Only the assignments of the period's incidents are ranked, not the whole history's.
        in_period = select(_I.id).where(_I.reported_at >= w.frm, _I.reported_at < w.to)
        if set(names) <= {"processing", "response"}:
            # Only an incident without its own stamp falls back to its first unit's: most of a
            # month's incidents have the stamp (or no unit at all), so few assignments are ranked.
            own = {"processing": _I.dispatched_at, "response": _I.on_scene_at}
            in_period = in_period.where(or_(*[own[n].is_(None) for n in names]))
        ranked = (select(a.incident_id, a.dispatched_at, a.en_route_at, a.on_scene_at, a.cleared_at,
                         func.row_number().over(partition_by=a.incident_id, order_by=(a.dispatched_at, a.id))
                         .label("rank")).where(a.incident_id.in_(in_period)).subquery())
        ranked_first = select(ranked).where(ranked.c.rank == 1).subquery()
        source = source.outerjoin(ranked_first, ranked_first.c.incident_id == _I.id)
        first = lambda col: ranked_first.c[col.key]  # noqa: E731
    # The raw difference (an interval on PostgreSQL, seconds on SQLite): a negative one (clock
    # skew) is dropped by the caller, since _seconds' CASE would evaluate the lookups twice.
    if dialect == "postgresql":
        secs = lambda later, earlier: later - earlier  # noqa: E731
    else:
        secs = lambda later, earlier: _epoch(dialect, later) - _epoch(dialect, earlier)  # noqa: E731
    columns = {
        "processing": lambda: secs(func.coalesce(_I.dispatched_at, first(a.dispatched_at)), _I.reported_at),
        "turnout": lambda: secs(first(a.en_route_at), first(a.dispatched_at)),
        "travel": lambda: secs(first(a.on_scene_at), first(a.en_route_at)),
        "response": lambda: secs(func.coalesce(_I.on_scene_at, first(a.on_scene_at)), _I.reported_at),
        "on_scene": lambda: secs(first(a.cleared_at), first(a.on_scene_at)),
    }
    source = (source.add_columns(*[columns[n]().label(n) for n in names])
              .where(_I.reported_at >= w.frm, _I.reported_at < w.to, *_counted(w))).subquery()
    return source.c.g, [source.c[n] for n in names], source


def _percentiles_in_python(by: GroupBy | None, rows: list[Any], names: tuple[str, ...]) -> dict[Any, dict[str, Stat]]:
    if not rows:
        return {}
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(r[0], len(index)) for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.array([r[1:] for r in rows], dtype=float)  # None → nan
    matrix[matrix < 0] = np.nan  # clock skew: a stamp before the one it follows
    out = {}
    for g, code in index.items():
        part = matrix[codes == code] if len(index) > 1 else matrix
        stats = out[_key(by, g)] = {}
        for i, name in enumerate(names):
            col = part[:, i][~np.isnan(part[:, i])]
            stats[name] = Stat(int(col.size), *(
                (float(np.percentile(col, 50)), float(np.percentile(col, 90))) if col.size else (None, None)))
    return out


def _seconds_of(median_p90: list[timedelta | None] | None) -> tuple[float | None, float | None]:
    """(median, p90) in seconds from PostgreSQL's percentile array of intervals (None: no rows)."""
    if median_p90 is None:
        return None, None
    return tuple(None if d is None else d.total_seconds() for d in median_p90)  # type: ignore[return-value]


# --- ranking -------------------------------------------------------------------------------------


def ranking(engine: Engine, frm: datetime, to: datetime, by: GroupBy, metric: str, min_sample: int = 20,
            definitions: KpiDefinitions | None = None, now: datetime | None = None,
            division: str | None = None) -> list[RankRow]:
    """Groups best first by ``metric``; groups with fewer than ``min_sample`` cases are left out.

    Metrics: ``count``; a rate (``response_rate``, ``resolution_rate``, ``satisfaction_rate``,
    ``closure_rate``, ``on_time_closure_rate``; higher is better); an interval statistic such as
    ``response_p90`` or ``travel_median`` (seconds; lower is better).
    """
    if metric == "count":
        rows = [RankRow(g, float(n), n) for g, n in counts(engine, frm, to, by, definitions, division)]
        return _ranked(rows, min_sample, higher_better=True)
    if metric.endswith("_rate") and metric.removesuffix("_rate") in RATE_NAMES:
        return rank_rates(rates(engine, frm, to, by, definitions, now, division), metric, min_sample)
    interval, _, stat = metric.rpartition("_")
    if interval not in INTERVALS or stat not in ("median", "p90"):
        raise UserError(f"unknown KPI metric {metric!r}: use count, <rate>_rate ({', '.join(RATE_NAMES)}) "
                        f"or <interval>_median / <interval>_p90 ({', '.join(INTERVALS)})")
    rows = [RankRow(g, getattr(s[interval], stat), s[interval].n)
            for g, s in intervals(engine, frm, to, by, definitions, division, names=(interval,)).items()
            if getattr(s[interval], stat) is not None]
    return _ranked(rows, min_sample, higher_better=False)


def rank_rates(by_group: dict[Any, Rates], metric: str, min_sample: int = 20) -> list[RankRow]:
    """``ranking`` of a rate metric from rates already read (``rates`` / ``tally``)."""
    name = metric.removesuffix("_rate")
    rows = [RankRow(g, r.value, r.total) for g, r in ((g, getattr(v, name)) for g, v in by_group.items())
            if r.value is not None]
    return _ranked(rows, min_sample, higher_better=True)


def _ranked(rows: list[RankRow], min_sample: int, higher_better: bool) -> list[RankRow]:
    kept = [r for r in rows if r.sample >= min_sample]
    return sorted(kept, key=lambda r: (-r.value if higher_better else r.value, str(r.group)))


# --- export ----------------------------------------------------------------------------------------


def export_rows(engine: Engine, frm: datetime, to: datetime, by: GroupBy | None = "division",
                definitions: KpiDefinitions | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """One flat row per group for CSV / JSON: volume, each rate (value, hits, total), each
    interval's n, median and p90 in seconds."""
    volume, by_rates = tally(engine, frm, to, by, definitions, now)
    by_intervals = intervals(engine, frm, to, by, definitions)
    groups = sorted(set(volume) | set(by_rates) | set(by_intervals), key=lambda g: (g is None, str(g)))
    out = []
    for g in groups:
        row: dict[str, Any] = {"group": g.isoformat() if isinstance(g, datetime) else g, "incidents": volume.get(g, 0)}
        r = by_rates.get(g, Rates())
        for name in RATE_NAMES:
            rate = getattr(r, name)
            row |= {f"{name}_rate": rate.value, f"{name}_hits": rate.hits, f"{name}_total": rate.total}
        for name in INTERVALS:
            stat = by_intervals.get(g, {}).get(name, Stat(0, None, None))
            row |= {f"{name}_n": stat.n, f"{name}_median_s": stat.median, f"{name}_p90_s": stat.p90}
        out.append(row)
    return out
