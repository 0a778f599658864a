"""Anomalies against the baseline: a division × category whose count in a city hour stands far
above the same hour of the week over the previous four weeks ("长安 噪音 本小时14起，平时3起").

Every report counts (linked reports too: fourteen calls about one bar are fourteen calls). The
baseline of an hour is the four counts of the same local hour 7, 14, 21 and 28 days before; its
median is what the city is used to. A flag needs all three: at least ``MIN_COUNT`` reports, at least
``RATIO`` × the usual count, and the chance of so many at the baseline's own rate below ``ALPHA``
(``same_rate_tail``: an exact test that knows four hours say little about a rare cell, so a
handful in a usually quiet cell is not enough by chance alone, and one busy week in the baseline
lifts what counts as usual).
No flag is raised before the store holds the whole baseline (a fresh city has no "usual").

Flags are stored (table ``anomaly``), written by a worker job every few minutes for the hour so far
and the hour just ended (``ioc.compose.schedule_anomalies``): the wall and the summary then read a
few rows rather than five weeks of incidents on every refresh, a past period's summary lists what
was flagged at the time, and a flag does not blink as the hour fills. Each scan of an hour rewrites
its flags, so a report re-categorised by hand is counted where it now belongs.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, case, delete, func, or_, select

from ioc.city.names import short_name
from ioc.i18n import t
from ioc.store import models
from ioc.store.db import session_factory, transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

WEEKS = 4
MIN_COUNT = 5
RATIO = 3.0
ALPHA = 0.001
SHOWN_HOURS = 2  # the wall shows the flags of this hour and the one before

_I = models.Incident
_A = models.Anomaly


@dataclass(frozen=True)
class Verdict:
    count: int
    baseline: tuple[int, ...]
    usual: float
    p_value: float
    spike: bool


def judge(count: int, baseline: list[int] | tuple[int, ...]) -> Verdict:
    """Whether ``count`` is a spike against ``baseline`` (the same hour in earlier weeks)."""
    usual = float(statistics.median(baseline)) if baseline else 0.0
    p = same_rate_tail(count, sum(baseline), len(baseline))
    spike = count >= MIN_COUNT and count >= RATIO * max(usual, 1.0) and p < ALPHA
    return Verdict(count, tuple(baseline), usual, p, spike)


def same_rate_tail(count: int, baseline_total: int, weeks: int) -> float:
    """How likely an hour holds ``count`` or more of the ``count + baseline_total`` reports if it
    had the same Poisson rate as each of the ``weeks`` baseline hours: the exact conditional test,
    X | X + S ~ Binomial(X + S, 1 / (weeks + 1)). It weighs how little four hours tell about a
    rare cell, where a rate estimated from them would not."""
    n, q = count + baseline_total, 1.0 / (weeks + 1)
    if count <= 0 or weeks <= 0:
        return 1.0
    return min(1.0, sum(math.comb(n, k) * q ** k * (1 - q) ** (n - k) for k in range(count, n + 1)))


def hour_start(at: datetime, tz: str) -> datetime:
    local = at.astimezone(ZoneInfo(tz))
    return local.replace(minute=0, second=0, microsecond=0).astimezone(timezone.utc)


def windows(start: datetime, tz: str) -> list[tuple[datetime, datetime]]:
    """The hour from ``start`` and the same local hour 1…WEEKS weeks before (UTC bounds), newest first."""
    local = start.astimezone(ZoneInfo(tz))
    out = []
    for week in range(WEEKS + 1):
        begin = (local - timedelta(days=7 * week)).astimezone(timezone.utc)
        out.append((begin, begin + timedelta(hours=1)))
    return out


def counts(engine: Engine, start: datetime, tz: str) -> dict[tuple[str, str], list[int]]:
    """(division, category) → [this hour, 1 week before, …, WEEKS before], one grouped query."""
    spans = windows(start, tz)
    week = case(*[((_I.reported_at >= a) & (_I.reported_at < b), n) for n, (a, b) in enumerate(spans)]).label("w")
    query = (select(_I.district_code, _I.category, week, func.count())
             .where(or_(*[(_I.reported_at >= a) & (_I.reported_at < b) for a, b in spans]),
                    _I.district_code.is_not(None))
             .group_by(_I.district_code, _I.category, week))
    out: dict[tuple[str, str], list[int]] = {}
    with session_factory(engine)() as session:
        for district, category, w, n in session.execute(query):
            out.setdefault((district, category), [0] * (WEEKS + 1))[int(w)] = n
    return out


def has_baseline(engine: Engine, start: datetime, tz: str) -> bool:
    """Whether the store reaches back over the whole baseline (else every hour would look new)."""
    oldest = windows(start, tz)[-1][0]
    with session_factory(engine)() as session:
        first = session.scalar(select(func.min(_I.reported_at)))
    return first is not None and first <= oldest


def scan_hour(engine: Engine, start: datetime, tz: str, now: datetime | None = None) -> list[models.Anomaly]:
    """Judge every division × category of the hour from ``start`` and store its flags (replacing
    the hour's earlier ones; a flag seen before keeps when it was first detected)."""
    now = now or utcnow()
    if not has_baseline(engine, start, tz):
        return []
    found = {key: judge(c[0], c[1:]) for key, c in counts(engine, start, tz).items()}
    spikes = {key: v for key, v in found.items() if v.spike}
    with transaction(engine) as session:
        before = {(a.district_code, a.category): a for a in session.scalars(select(_A).where(_A.hour_start == start))}
        gone = [a.id for key, a in before.items() if key not in spikes]
        if gone:
            session.execute(delete(_A).where(_A.id.in_(gone)))
        kept = []
        for (district, category), v in spikes.items():
            row = before.get((district, category)) or models.Anomaly(
                hour_start=start, district_code=district, category=category, detected_at=now)
            row.count, row.usual, row.baseline, row.p_value, row.updated_at = \
                v.count, v.usual, list(v.baseline), v.p_value, now
            session.add(row)
            kept.append(row)
    if spikes:
        log.info("%d anomalies in the hour from %s", len(spikes), start.isoformat())
    return kept


def scan(engine: Engine, tz: str, now: datetime | None = None) -> int:
    """The worker's job: the hour so far and the hour just ended. The number of flags standing."""
    now = now or utcnow()
    this = hour_start(now, tz)
    return sum(len(scan_hour(engine, h, tz, now)) for h in (this - timedelta(hours=1), this))


# --- reading flags --------------------------------------------------------------------------------


def flags(engine: Engine, since: datetime, until: datetime, division: str | None = None,
          limit: int = 20) -> list[dict[str, Any]]:
    """Flags of the hours in [since, until), the biggest jump first, with division names."""
    d = models.District
    query = (select(_A.hour_start, _A.district_code, _A.category, _A.count, _A.usual, d.name_zh, d.name_en)
             .outerjoin(d, d.code == _A.district_code)
             .where(_A.hour_start >= since, _A.hour_start < until))
    if division:
        query = query.where(_A.district_code == division)
    query = query.order_by(_A.hour_start.desc(), (_A.count - _A.usual).desc(), _A.district_code).limit(limit)
    with session_factory(engine)() as session:
        return [{"hour_start": h, "division": c, "category": cat, "count": n, "usual": u,
                 "division_zh": zh or c, "division_en": en or ""}
                for h, c, cat, n, u, zh, en in session.execute(query)]


def current(engine: Engine, tz: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """What the wall's ticker shows: this hour's flags and the last hour's."""
    now = now or utcnow()
    this = hour_start(now, tz)
    return flags(engine, this - timedelta(hours=SHOWN_HOURS - 1), this + timedelta(hours=1))


def describe(flag: dict[str, Any], lang: str, tz: str, now: datetime | None = None) -> str:
    """"长安 噪音 本小时14起，平时3起" / "Chang'an noise 14 this hour, usual 3" (an earlier hour by its time)."""
    now = now or utcnow()
    where = (flag["division_en"] or flag["division_zh"]) if lang == "en" else short_name(flag["division_zh"])
    what = t(f"cat.{flag['category']}", lang)
    if lang == "en":
        what = what.lower()
    usual = f"{flag['usual']:g}"
    if flag["hour_start"] == hour_start(now, tz):
        return t("anomaly.this_hour", lang, where=where, what=what, n=flag["count"], usual=usual)
    when = flag["hour_start"].astimezone(ZoneInfo(tz))
    return t("anomaly.at_hour", lang, where=where, what=what, n=flag["count"], usual=usual,
             day=when.strftime("%m-%d"), hour=when.strftime("%H:00"))
