"""The daily briefing's figures, and the folder of past briefings.

One city day against the same weekday a week before: volumes, hotspots, lateness and 督办, the
day's P1 incidents and major events, the warnings in force at its end, and the three rates.
Every figure comes from ``ioc.read.kpi`` / ``ioc.read.summary`` (SQL aggregates); the PDF and
PNG are drawn by ``ioc.read.briefing_doc``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, or_, select

from ioc.config import Settings
from ioc.errors import UserError
from ioc.read import kpi, summary
from ioc.read.lists import active_alerts
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

Format = Literal["pdf", "png"]
FORMATS: tuple[Format, ...] = ("pdf", "png")
THREE_RATES = ("response", "resolution", "satisfaction")
_FILE = re.compile(r"^briefing-(\d{4}-\d{2}-\d{2})-(zh-CN|en)\.(pdf|png)$")


@dataclass(frozen=True)
class Notable:
    reported_at: datetime  # city time
    priority: str
    category: str
    title: str
    division: tuple[str, str]  # (zh, en)
    status: str
    reports: int


@dataclass(frozen=True)
class Briefing:
    day: date
    city: tuple[str, str]                      # (zh, en)
    tz: ZoneInfo
    volume: int
    volume_week_before: int
    by_category: list[tuple[str, int, int]]     # (category, today, a week before), biggest first
    hourly: list[int]                           # 24 city hours
    hourly_week_before: list[int]
    hotspots: list[tuple[str, str, int]]        # (zh name, en name, incidents), top divisions
    places: list[summary.Place]
    rates: dict[str, kpi.Rate]                  # the three rates of the day
    rates_week_before: dict[str, kpi.Rate]
    lateness: summary.Lateness
    p1: list[Notable]                           # the most reported P1s of the day
    p1_total: int
    events: list[tuple[str, str, str]]          # (name, kind, status)
    warnings: list[tuple[str, str, str]]        # (headline, severity, colour)

    @property
    def volume_change(self) -> float | None:
        return (self.volume - self.volume_week_before) / self.volume_week_before if self.volume_week_before else None


def build(engine: Engine, city: tuple[str, str], tz: ZoneInfo, day: date, now: datetime | None = None,
          definitions: kpi.KpiDefinitions | None = None) -> Briefing:
    now = now or utcnow()
    period = summary.Period(day, day, tz)
    week_before = summary.Period(day - timedelta(days=7), day - timedelta(days=7), tz)
    cats_now = dict(kpi.counts(engine, period.frm, period.to, "category", definitions))
    cats_then = dict(kpi.counts(engine, week_before.frm, week_before.to, "category", definitions))
    names = summary.names(engine, "division")
    hot = kpi.counts(engine, period.frm, period.to, "division", definitions)[:5]
    rates_now = kpi.rates(engine, period.frm, period.to, None, definitions, now).get(kpi.ALL, kpi.Rates())
    rates_then = kpi.rates(engine, week_before.frm, week_before.to, None, definitions, now).get(kpi.ALL, kpi.Rates())
    p1, p1_total = _p1(engine, period, names, definitions or kpi.KpiDefinitions())
    return Briefing(
        day=day, city=city, tz=tz,
        volume=sum(cats_now.values()), volume_week_before=sum(cats_then.values()),
        by_category=sorted(((c, n, cats_then.get(c, 0)) for c, n in cats_now.items()), key=lambda r: (-r[1], r[0])),
        hourly=_hours(engine, period, definitions), hourly_week_before=_hours(engine, week_before, definitions),
        hotspots=[(*names.get(code, (code or "?", code or "?")), n) for code, n in hot],
        places=summary.recurring_places(engine, period, limit=5, definitions=definitions),
        rates={name: getattr(rates_now, name) for name in THREE_RATES},
        rates_week_before={name: getattr(rates_then, name) for name in THREE_RATES},
        lateness=summary.lateness(engine, period, definitions=definitions, now=now),
        p1=p1, p1_total=p1_total,
        events=_events(engine, period),
        warnings=[(a.headline or a.event, a.severity, (a.extra or {}).get("colour") or "")
                  for a in active_alerts(engine, min(period.to, now))],
    )


def _hours(engine: Engine, period: summary.Period, definitions: kpi.KpiDefinitions | None) -> list[int]:
    _, grid = summary.heat_grid(engine, period, definitions=definitions)
    return grid[0]


def _p1(engine: Engine, period: summary.Period, names: dict, defs: kpi.KpiDefinitions,
        limit: int = 8) -> tuple[list[Notable], int]:
    inc = models.Incident
    where = [inc.priority == "P1", inc.reported_at >= period.frm, inc.reported_at < period.to,
             inc.parent_id.is_(None), inc.status.not_in(defs.excluded_statuses)]
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count()).select_from(inc).where(*where)) or 0
        rows = session.execute(select(inc.reported_at, inc.category, inc.title, inc.district_code, inc.status,
                                      inc.report_count)
                               .where(*where).order_by(inc.report_count.desc(), inc.reported_at)
                               .limit(limit)).all()
    return [Notable(r.reported_at.astimezone(period.tz), "P1", r.category, r.title,
                    names.get(r.district_code, (r.district_code or "", r.district_code or "")), r.status, r.report_count)
            for r in rows], total


def _events(engine: Engine, period: summary.Period) -> list[tuple[str, str, str]]:
    ev = models.MajorEvent
    with session_factory(engine)() as session:
        rows = session.execute(select(ev.name, ev.kind, ev.status)
                               .where(ev.started_at < period.to, or_(ev.ended_at.is_(None), ev.ended_at >= period.frm))
                               .order_by(ev.started_at)).all()
    return [tuple(r) for r in rows]


# --- the folder of past briefings -------------------------------------------------------------------


def archive_dir(settings: Settings) -> Path:
    return settings.briefing.path()


def file_name(day: date, lang: str, fmt: Format) -> str:
    return f"briefing-{day.isoformat()}-{lang}.{fmt}"


def archived(folder: Path) -> list[date]:
    """Days with a kept briefing, newest first."""
    if not folder.is_dir():
        return []
    days = {date.fromisoformat(m.group(1)) for p in folder.iterdir() if (m := _FILE.match(p.name))}
    return sorted(days, reverse=True)


def keep(folder: Path, day: date, lang: str, fmt: Format, content: bytes) -> Path:
    """Write a briefing into the folder (whole or not at all: a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file_name(day, lang, fmt)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(content)
    partial.replace(target)
    return target


def url(day: date, fmt: Format, lang: str) -> str:
    """Where the web app serves a day's briefing (``ioc.web.briefing_routes``)."""
    return f"/briefing/{day.isoformat()}.{fmt}?lang={lang}"


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise UserError(f"unknown briefing format {fmt!r}: use pdf or png")
    return fmt  # type: ignore[return-value]
