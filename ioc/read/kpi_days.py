"""The KPI roll-up: exact additive partial sums per city day × division × category × channel ×
handling org (``kpi_day``).

``kpi.tally`` walks every incident of a period three times; over a month at city scale that is
most of the summary's time. The figures are sums, so each wholly past city day is summed once
into rows of (definitions fingerprint, day, division, category, channel, org, closed day): volume and survey
marks of the incidents reported that day, acknowledge clocks due that day (total, met), resolve
clocks due that day (total, on time) split by the city day the incident was closed. A period's
"closed by its end" is then the rows closed before its last midnight (or, ended at now, every
closed row: a stamp is never after now).

Exact, not approximate:
    * only days wholly before now come from the roll-up (their clocks have all run out); today,
      and any day the roll-up does not hold, come from ``kpi.tally`` and are added;
    * before each read (and every minute from the worker, ``ioc.compose``), ``refresh`` takes in
      the incidents written since the last refresh (``updated_at``, looked back by
      ``WRITE_OVERLAP`` for slow commits) by recomputing every day from the earliest one they
      were reported on to yesterday: an incident's deadlines never fall before its report, so
      every cell it was ever in — division, category, deadline moved or not — is recomputed
      (the writes this process's own last refresh took in are not taken again, ``_taken``); the
      days kept begin at the oldest report (``DAYS_KEPT`` at most) and go back with a later
      report of an earlier day;
    * the fingerprint (definitions + city zone) keeps each set of definitions apart.
Only whole city days, groups None / division / category / channel / org, scopes division /
category and
survey marks of incidents; anything else is ``kpi.tally`` unchanged. SQLite has no time zones:
a zone with daylight saving falls back to ``kpi.tally`` there.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy import Date, Engine, and_, case, cast, delete, func, insert, literal, select

from ioc.read import kpi
from ioc.read.citymap import WRITE_OVERLAP
from ioc.store import models
from ioc.store.db import session_factory, transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

DAYS_KEPT = 400
ROLLED_BY = (None, "division", "category", "channel", "org")
# What each roll-up's last refresh in this process took in: (store, fingerprint) → (the mark's
# refreshed_at, {(incident id, updated_at)}). A refresh looks back WRITE_OVERLAP for slow commits,
# so it sees the writes the one before took in again; without this, every read for half a minute
# after a change to a past day summed every day since it again (a summary page reads six times).
_taken: dict[tuple[str, str], tuple[datetime, frozenset[tuple[int, datetime]]]] = {}
MEASURES = ("volume", "ack_total", "ack_met", "resolve_total", "resolve_on_time", "rated", "satisfied", "resolved")
_I, _K, _M = models.Incident, models.KpiDay, models.KpiDayMark


def fingerprint(defs: kpi.KpiDefinitions, tz: ZoneInfo) -> str:
    return hashlib.sha256(f"{defs.model_dump_json()}|{tz.key}".encode()).hexdigest()[:16]


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(timezone.utc)


def usable(engine: Engine, tz: ZoneInfo) -> bool:
    return engine.dialect.name == "postgresql" or _fixed_offset(tz) is not None


def _fixed_offset(tz: ZoneInfo) -> timedelta | None:
    year = utcnow().year
    offsets = {datetime(y, m, 1, tzinfo=tz).utcoffset() for y in range(year - 2, year + 2) for m in (1, 4, 7, 10)}
    return offsets.pop() if len(offsets) == 1 else None


def _city_day(dialect: str, tz: ZoneInfo, col: Any) -> Any:
    if dialect == "postgresql":
        return cast(func.timezone(tz.key, col), Date)
    offset = _fixed_offset(tz)
    assert offset is not None  # usable() said so
    return func.date(col, f"{int(offset.total_seconds()):+d} seconds")


# --- keeping it up to date -------------------------------------------------------------------------


def refresh(engine: Engine, tz: ZoneInfo, definitions: kpi.KpiDefinitions | None = None,
            advance: bool = True) -> models.KpiDayMark:
    """Bring the roll-up of these definitions up to date (the first call builds the days since the
    oldest report, ``DAYS_KEPT`` at most); returns its mark (detached). ``advance=False`` (a
    read) writes nothing when no past day changed, so a read does not take SQLite's write lock
    from the ingest; the worker's refresh moves the mark on."""
    defs = definitions or kpi.KpiDefinitions()
    fp, now = fingerprint(defs, tz), utcnow()
    key, written = (engine.url.render_as_string(), fp), []
    today = now.astimezone(tz).date()
    kept_from = today - timedelta(days=DAYS_KEPT)
    with transaction(engine) as session:
        mark = session.get(_M, fp, with_for_update=True)
        if mark is None:  # from the oldest report kept: a new store has no days to sum yet
            oldest = session.scalar(select(func.min(_I.reported_at)))
            start = min(today, max(kept_from, oldest.astimezone(tz).date())) if oldest else today
            mark = _M(fingerprint=fp, built_from=start, covered_to=start, refreshed_at=now)
            session.add(mark)
            session.flush()
        else:
            # The reports of the incidents written since, through the updated_at index (asked for
            # min(reported_at), SQLite walks the reported_at index instead: 0.9 s at 1 M).
            written = session.execute(select(_I.id, _I.updated_at, _I.reported_at)
                                      .where(_I.updated_at >= mark.refreshed_at - WRITE_OVERLAP)).all()
            new = _not_taken(key, mark, written)
            start = mark.covered_to
            if new:
                earliest = max(kept_from, min(r.reported_at for r in new).astimezone(tz).date())
                start = min(start, earliest)
                mark.built_from = min(mark.built_from, start)  # a report from before the roll-up began
            if mark.recheck_at is not None and mark.recheck_at <= now:
                start = min(start, mark.recheck_from)  # a stamp summed while ahead has passed
        if start >= today and not advance:
            session.expunge(mark)
            return mark
        if start < today:
            session.execute(delete(_K).where(_K.fingerprint == fp, _K.day >= start, _K.day < today))
            if mark.recheck_from is not None and mark.recheck_from >= start:
                mark.recheck_at = mark.recheck_from = None  # those days are summed again below
            day = start
            while day < today:
                rows, ahead = _day_rows(session, engine.dialect.name, tz, defs, fp, day, now)
                if rows:
                    session.execute(insert(_K), rows)
                if ahead is not None:
                    mark.recheck_at = min(mark.recheck_at or ahead, ahead)
                    mark.recheck_from = mark.recheck_from or day  # days go oldest first
                day += timedelta(days=1)
            log.debug("kpi roll-up %s: days %s to %s recomputed", fp, start, today)
        mark.covered_to, mark.refreshed_at = today, now
        session.flush()
        session.expunge(mark)
        # Before the commit, so a reader waiting on the mark's lock finds it (a commit that fails
        # leaves it naming a refresh no mark holds: unused).
        _taken[key] = (now, frozenset((r.id, r.updated_at) for r in written))
    return mark


def _not_taken(key: tuple[str, str], mark: models.KpiDayMark, written: list[Any]) -> list[Any]:
    """The incidents written since the mark's refresh that it has not taken in yet: all of them,
    unless this process made that refresh (then it knows which writes it saw)."""
    known = _taken.get(key)
    if known is None or known[0] != mark.refreshed_at:
        return written
    return [r for r in written if (r.id, r.updated_at) not in known[1]]


def _day_rows(session: Any, dialect: str, tz: ZoneInfo, defs: kpi.KpiDefinitions, fp: str, day: date,
              now: datetime) -> tuple[list[dict[str, Any]], datetime | None]:
    """The day's cells, and the earliest close stamp still after ``now`` (summed as not closed)."""
    end = midnight(day + timedelta(days=1), tz)
    w = kpi._Window(midnight(day, tz), end, end, defs)
    keys = [_I.district_code.label("d"), _I.category.label("c"), _I.channel.label("ch"), _I.org_code.label("o")]
    cells: dict[tuple[Any, ...], list[int]] = {}

    def cell(key: tuple[Any, ...], closed: Any = None) -> list[int]:
        if isinstance(closed, str):
            closed = date.fromisoformat(closed)
        if closed is not None:  # every period read from this day ends after it: closed by then
            closed = max(closed, day)
        return cells.setdefault((*key, closed), [0] * len(MEASURES))

    for *key, met, total in session.execute(kpi._response_stmt(w, keys, dialect)):
        x = cell(tuple(key))
        x[1], x[2] = int(total), int(met)
    stamp = getattr(_I, defs.closed_stamp)
    closed_day = _city_day(dialect, tz, stamp).label("cd")
    later = case((stamp > now, 1), else_=0).label("later")
    ahead: datetime | None = None
    for *key, closed, is_later, _, first_stamp, on_time, total in session.execute(
            kpi._closure_stmt(w, [*keys, closed_day, later], dialect, (func.min(stamp),))):
        if is_later:
            closed = None
            ahead = min(ahead or first_stamp, first_stamp)
        x = cell(tuple(key), closed)
        x[3], x[4] = x[3] + int(total), x[4] + int(on_time)
    for *key, n, sat, res, rated in session.execute(kpi._reported_stmt(w, keys, survey=True)):
        x = cell(tuple(key))
        x[0], x[5], x[6], x[7] = int(n), int(rated), int(sat), int(res)
    return [{"fingerprint": fp, "day": day, "district_code": d, "category": c, "channel": ch, "org_code": o,
             "closed_day": closed, **dict(zip(MEASURES, values, strict=True))}
            for (d, c, ch, o, closed), values in cells.items()], ahead


# --- reading ---------------------------------------------------------------------------------------


def tally(engine: Engine, frm_day: date, last_day: date, tz: ZoneInfo, by: kpi.GroupBy | None = None,
          definitions: kpi.KpiDefinitions | None = None, now: datetime | None = None,
          division: str | None = None, category: str | None = None) -> tuple[dict[Any, int], dict[Any, kpi.Rates]]:
    """``kpi.tally`` of the city days ``frm_day`` to ``last_day`` (inclusive), the wholly past
    days from the roll-up and the rest from the incidents."""
    defs = definitions or kpi.KpiDefinitions()
    frm, to = midnight(frm_day, tz), midnight(last_day + timedelta(days=1), tz)
    direct = lambda start: kpi.tally(engine, start, to, by, defs, now, division, category)  # noqa: E731
    # A period running past a given ``now`` may hold stamps after it, which only the incidents can tell.
    if (by not in ROLLED_BY or defs.survey_of != "incident" or not usable(engine, tz)
            or (now is not None and to > now)):
        return direct(frm)
    now = now or utcnow()
    try:
        mark = refresh(engine, tz, defs, advance=False)
    except IntegrityError:  # another reader is building it right now
        return direct(frm)
    split = min(last_day + timedelta(days=1), now.astimezone(tz).date(), mark.covered_to)
    if frm_day < mark.built_from or split <= frm_day:
        return direct(frm)
    end_day = last_day + timedelta(days=1) if to <= now else now.astimezone(tz).date() + timedelta(days=1)
    sums = _rolled(engine, fingerprint(defs, tz), frm_day, split, end_day, by, division, category)
    if split <= last_day:
        volume, rates = direct(midnight(split, tz))
        for g, n in volume.items():
            sums.setdefault(g, [0] * 11)[0] += n
        for g, r in rates.items():
            x = sums.setdefault(g, [0] * 11)
            for i, name in enumerate(("response", "closure", "on_time_closure", "satisfaction", "resolution")):
                rate = getattr(r, name)
                x[1 + 2 * i] += rate.hits
                x[2 + 2 * i] += rate.total
    return _as_tally(sums)


def _rolled(engine: Engine, fp: str, first: date, split: date, end_day: date, by: kpi.GroupBy | None,
            division: str | None, category: str | None) -> dict[Any, list[int]]:
    """Per group: volume, then (hits, total) of response, closure, on time, satisfaction, resolution."""
    group = {None: literal(kpi.ALL), "division": _K.district_code, "category": _K.category, "channel": _K.channel,
             "org": _K.org_code}[by].label("g")
    closed = case((and_(_K.closed_day.is_not(None), _K.closed_day < end_day), _K.resolve_total), else_=0)
    s = lambda col: func.coalesce(func.sum(col), 0)  # noqa: E731
    scope = ([_K.district_code == division] if division else []) + ([_K.category == category] if category else [])
    stmt = (select(group, s(_K.volume), s(_K.ack_met), s(_K.ack_total), s(closed), s(_K.resolve_total),
                   s(_K.resolve_on_time), s(_K.resolve_total), s(_K.satisfied), s(_K.rated), s(_K.resolved),
                   s(_K.rated))
            .where(_K.fingerprint == fp, _K.day >= first, _K.day < split, *scope).group_by(group))
    with session_factory(engine)() as session:
        return {g: [int(v) for v in values] for g, *values in session.execute(stmt)}


def _as_tally(sums: dict[Any, list[int]]) -> tuple[dict[Any, int], dict[Any, kpi.Rates]]:
    volume = {g: x[0] for g, x in sums.items() if x[0]}
    out: dict[Any, kpi.Rates] = {}
    for g, x in sums.items():
        for i, name in enumerate(("response", "closure", "on_time_closure", "satisfaction", "resolution")):
            hits, total = x[1 + 2 * i], x[2 + 2 * i]
            if total:
                setattr(out.setdefault(g, kpi.Rates()), name, kpi.Rate(hits, total))
    return volume, out
