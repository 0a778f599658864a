"""The leaders' summary: a period of city days against another, by place, kind and hour.

Built on ``ioc.read.kpi`` (the rates and intervals, aggregated in SQL); this module adds the
periods in city time, the change against a comparison period, the day × hour grid, SLA breaches
and 督办, the places that come back again and again, and the link down to the incidents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, select, true

from ioc.errors import UserError
from ioc.i18n import t
from ioc.read import kpi, kpi_days
from ioc.store import models
from ioc.store.db import session_factory

log = logging.getLogger(__name__)

Preset = Literal["today", "yesterday", "last7", "last30", "custom"]
Compare = Literal["previous", "last_year"]
PRESETS: tuple[Preset, ...] = ("yesterday", "today", "last7", "last30")
RATE_METRICS = tuple(f"{name}_rate" for name in kpi.RATE_NAMES)
MAX_DAYS = 366

_I = models.Incident


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole city days, ``first`` to ``last`` inclusive, in the city's timezone."""

    first: date
    last: date
    tz: ZoneInfo

    @property
    def frm(self) -> datetime:
        return datetime.combine(self.first, time(), self.tz).astimezone(timezone.utc)

    @property
    def to(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.tz).astimezone(timezone.utc)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def compared(self, how: Compare) -> Period:
        """The period to compare with: the same number of days just before, or a year earlier."""
        if how == "previous":
            return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.tz)
        if how == "last_year":
            return Period(_year_before(self.first), _year_before(self.last), self.tz)
        raise UserError(f"unknown comparison {how!r}: use previous or last_year")


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise UserError(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-07-01", key="not_a_date",
                        value=text) from None


def period_for(preset: str, tz: ZoneInfo, now: datetime, first: str | None = None,
               last: str | None = None) -> Period:
    """A preset (yesterday, today, last7, last30: days up to today) or ``custom`` from two dates."""
    today = now.astimezone(tz).date()
    if preset == "today":
        return Period(today, today, tz)
    if preset == "yesterday":
        return Period(today - timedelta(days=1), today - timedelta(days=1), tz)
    if preset in ("last7", "last30"):
        return Period(today - timedelta(days=int(preset[4:]) - 1), today, tz)
    if preset != "custom":
        raise UserError(f"unknown period {preset!r}: use {', '.join(PRESETS)} or custom")
    if not first or not last:
        raise UserError("choose both the first and the last day", key="both_days")
    start, end = parse_day(first), parse_day(last)
    if end < start:
        raise UserError(f"the last day {end} is before the first day {start}", key="last_before_first", first=start,
                        last=end)
    if (end - start).days + 1 > MAX_DAYS:
        raise UserError(f"choose at most {MAX_DAYS} days", key="max_days", n=MAX_DAYS)
    return Period(start, end, tz)


# --- headline figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One headline figure now and in the comparison period.

    ``kind``: ``count`` (incidents), ``rate`` (0..1, with hits / total) or ``seconds``.
    """

    name: str
    kind: Literal["count", "rate", "seconds"]
    value: float | None
    before: float | None
    hits: int = 0
    total: int = 0

    @property
    def change(self) -> float | None:
        """Counts and seconds: relative change (0.1 = +10 %); rates: percentage points as a fraction."""
        if self.value is None or self.before is None:
            return None
        if self.kind == "rate":
            return self.value - self.before
        return (self.value - self.before) / self.before if self.before else None


def headline(engine: Engine, period: Period, compare: Compare, division: str | None = None,
             definitions: kpi.KpiDefinitions | None = None, now: datetime | None = None) -> list[Figure]:
    """Volume, the five rates and the response interval (median, p90), against the comparison."""
    other = period.compared(compare)
    now_vals = _figures(engine, period, division, definitions, now)
    then_vals = _figures(engine, other, division, definitions, now)
    out = []
    for name, (kind, value, hits, total) in now_vals.items():
        out.append(Figure(name, kind, value, then_vals[name][1], hits, total))
    return out


def _figures(engine: Engine, period: Period, division: str | None, defs: kpi.KpiDefinitions | None,
             now: datetime | None) -> dict[str, tuple[Any, float | None, int, int]]:
    counted, by_all = kpi_days.tally(engine, period.first, period.last, period.tz, None, defs, now, division)
    volume, rates = counted.get(kpi.ALL, 0), by_all.get(kpi.ALL, kpi.Rates())
    stats = kpi.intervals(engine, period.frm, period.to, None, defs, division,
                          names=("response",)).get(kpi.ALL, {})
    response = stats.get("response", kpi.Stat(0, None, None))
    figures: dict[str, tuple[Any, float | None, int, int]] = {"volume": ("count", float(volume), volume, volume)}
    for name in kpi.RATE_NAMES:
        rate = getattr(rates, name)
        figures[f"{name}_rate"] = ("rate", rate.value, rate.hits, rate.total)
    figures["response_median"] = ("seconds", response.median, response.n, response.n)
    figures["response_p90"] = ("seconds", response.p90, response.n, response.n)
    return figures


def display(kind: str, value: float | None, lang: str) -> tuple[str, str]:
    """A figure and its unit: rates in %, seconds as minutes, counts as they are."""
    if value is None:
        return "–", ""
    if kind == "rate":
        return f"{value * 100:.1f}", "%"
    if kind == "seconds":
        return f"{value / 60:.1f}", t("unit.minutes", lang)
    return f"{value:,.0f}", t("unit.incidents", lang)


def display_change(kind: str, change: float | None, lang: str) -> str:
    if change is None:
        return t("summary.no_change", lang)
    if kind == "rate":
        return f"{change * 100:+.1f} {t('unit.points', lang)}"
    return f"{change * 100:+.1f} %"


# --- by group ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRow:
    group: Any
    incidents: int
    value: float | None  # the chosen metric
    sample: int          # cases behind the metric
    rank: int | None     # None: fewer cases than the minimum sample, not ranked


def by_group(engine: Engine, period: Period, by: kpi.GroupBy, metric: str = "resolution_rate",
             min_sample: int = 20, division: str | None = None, definitions: kpi.KpiDefinitions | None = None,
             now: datetime | None = None) -> list[GroupRow]:
    """Every group with its volume and ``metric``: ranked ones best first, then the unranked."""
    if metric not in RATE_METRICS:
        raise UserError(f"unknown metric {metric!r}: use one of {', '.join(RATE_METRICS)}")
    volume, all_rates = kpi_days.tally(engine, period.first, period.last, period.tz, by, definitions, now,
                                         division)
    name = metric.removesuffix("_rate")
    ranked = kpi.rank_rates(all_rates, metric, min_sample)
    rows = [GroupRow(r.group, volume.get(r.group, 0), r.value, r.sample, i + 1) for i, r in enumerate(ranked)]
    placed = {r.group for r in ranked}
    rest = []
    for group in set(volume) | set(all_rates):
        if group in placed:
            continue
        rate = getattr(all_rates.get(group, kpi.Rates()), name)
        rest.append(GroupRow(group, volume.get(group, 0), rate.value, rate.total, None))
    rest.sort(key=lambda r: (-r.incidents, str(r.group)))
    return rows + rest


def names(engine: Engine, by: str) -> dict[str, tuple[str, str]]:
    """(zh, en) names of divisions or orgs by code, for the tables."""
    model = {"division": models.District, "org": models.Org}.get(by)
    if model is None:
        return {}
    with session_factory(engine)() as session:
        return {code: (zh, en or zh) for code, zh, en in
                session.execute(select(model.code, model.name_zh, model.name_en))}


# --- when ------------------------------------------------------------------------------------------


def heat_grid(engine: Engine, period: Period, division: str | None = None,
              definitions: kpi.KpiDefinitions | None = None) -> tuple[list[date], list[list[int]]]:
    """Incidents per city day (rows) and city hour (24 columns).

    SQL counts per UTC hour; each hour maps onto the city's clock (whole-hour offsets map exactly).
    """
    days = [period.first + timedelta(days=i) for i in range(period.days)]
    row_of = {d: i for i, d in enumerate(days)}
    grid = [[0] * 24 for _ in days]
    for hour, n in kpi.counts(engine, period.frm, period.to, "hour", definitions, division):
        local = hour.astimezone(period.tz)
        if local.date() in row_of:
            grid[row_of[local.date()]][local.hour] += n
    return days, grid


# --- late ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lateness:
    response_missed: int        # acknowledge deadlines in the period that passed unmet
    closure_missed: int         # resolve deadlines in the period not met in time
    supervisions: dict[str, int]  # 督办 issued in the period, by clock
    supervisions_open: int      # of those, still unresolved

    @property
    def supervision_total(self) -> int:
        return sum(self.supervisions.values())


def lateness(engine: Engine, period: Period, division: str | None = None,
             definitions: kpi.KpiDefinitions | None = None, now: datetime | None = None) -> Lateness:
    rates = kpi_days.tally(engine, period.first, period.last, period.tz, None, definitions, now,
                           division)[1].get(kpi.ALL, kpi.Rates())
    s, wo = models.Supervision, models.WorkOrder
    direct, via_order = _I.__table__.alias("direct"), _I.__table__.alias("via_order")
    place = func.coalesce(direct.c.district_code, via_order.c.district_code)
    still_open = func.coalesce(func.sum(case((s.resolved_at.is_(None), 1), else_=0)), 0)
    stmt = (select(s.clock, func.count(), still_open)
            .select_from(s)
            .outerjoin(direct, and_(s.target_type == "incident", s.target_id == direct.c.id))
            .outerjoin(wo, and_(s.target_type == "work_order", s.target_id == wo.id))
            .outerjoin(via_order, via_order.c.id == wo.incident_id)
            .where(s.issued_at >= period.frm, s.issued_at < period.to,
                   place == division if division else true())
            .group_by(s.clock))
    with session_factory(engine)() as session:
        rows = session.execute(stmt).all()
    return Lateness(rates.response.total - rates.response.hits,
                    rates.on_time_closure.total - rates.on_time_closure.hits,
                    {clock: int(n) for clock, n, _ in sorted(rows)}, sum(int(o) for *_, o in rows))


# --- where -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    kind: Literal["grid", "address"]
    key: str
    division: str | None
    incidents: int


def recurring_places(engine: Engine, period: Period, division: str | None = None, min_count: int = 3,
                     limit: int = 10, definitions: kpi.KpiDefinitions | None = None) -> list[Place]:
    """Grid cells and addresses with at least ``min_count`` incidents in the period, most first."""
    defs = definitions or kpi.KpiDefinitions()
    where = [_I.reported_at >= period.frm, _I.reported_at < period.to, _I.parent_id.is_(None),
             _I.status.not_in(defs.excluded_statuses)]
    if division:
        where.append(_I.district_code == division)
    places: list[Place] = []
    with session_factory(engine)() as session:
        for kind, column in (("grid", _I.grid_code), ("address", _I.address)):
            n = func.count().label("n")
            rows = session.execute(
                select(column, func.max(_I.district_code), n)
                .where(*where, column.is_not(None), column != "")
                .group_by(column).having(func.count() >= min_count).order_by(n.desc(), column).limit(limit)
            ).all()
            places += [Place(kind, key, d, int(c)) for key, d, c in rows]
    return sorted(places, key=lambda p: (-p.incidents, p.kind, p.key))[:limit]


def board_link(period: Period, division: str | None = None, grid: str | None = None,
               address: str | None = None) -> str:
    """The incident board filtered to what a summary row counts (its query string is the filter)."""
    query = {"since": period.frm.astimezone(period.tz).isoformat(), "until": period.to.astimezone(period.tz).isoformat()}
    for name, value in (("division", division), ("grid", grid), ("q", address)):
        if value:
            query[name] = value
    return "/board?" + urlencode(query)
