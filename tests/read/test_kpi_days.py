"""The KPI roll-up gives exactly the figures of the incidents, on SQLite and PostgreSQL, as the
incidents change under it."""

from __future__ import annotations

import json
import random
import sys
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from feeds.base import RawItem
from ioc.chain import sla
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.read import kpi, kpi_days, summary
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

CITY = ZoneInfo("Asia/Shanghai")
DIVISIONS = ("T01", "T02", "T03", "T04")
CHANNELS = ("12345", "110", "app")
CATEGORIES = ("crime", "traffic", "noise")
MARKS = (None, "satisfied", "basically_satisfied", "dissatisfied", "unresolved", "unreachable")


def history(engine, pack, n=160, seed=7) -> list[int]:
    """Incidents over the last 35 days: acknowledged, closed (some late, some today), rated, a few cancelled."""
    rng, now, ids = random.Random(seed), utcnow(), []
    with transaction(engine) as s:
        for i in range(n):
            reported = now - timedelta(days=rng.uniform(0, 35))
            division = rng.choice(DIVISIONS)
            incident = models.Incident(
                source="test", external_id=f"h-{seed}-{i}", channel=rng.choice(CHANNELS),
                category=rng.choice(CATEGORIES),
                priority=rng.choice(("P1", "P2", "P3")), status=rng.choice(("new", "closed", "closed", "cancelled")),
                district_code=division, org_code=f"OFF-{division}", reported_at=reported,
                satisfaction=rng.choice(MARKS), sources=[])
            sla.apply_incident_clocks(s, incident, pack)
            if rng.random() < 0.2:
                incident.acknowledge_due = None  # the definitions' fallback clock
            if rng.random() < 0.8:
                incident.acknowledged_at = min(now, reported + timedelta(minutes=rng.uniform(1, 90)))
            if rng.random() < 0.7:
                incident.closed_at = min(now - timedelta(minutes=1), reported + timedelta(hours=rng.uniform(1, 200)))
            s.add(incident)
            s.flush()
            ids.append(incident.id)
    return ids


def periods(now):
    presets = [summary.period_for(p, CITY, now) for p in ("today", "yesterday", "last7", "last30")]
    today = now.astimezone(CITY).date()
    return [*presets, summary.Period(today - timedelta(days=20), today - timedelta(days=9), CITY)]


def assert_same(engine, defs=None) -> None:
    now = utcnow()
    for p in periods(now):
        for by in kpi_days.ROLLED_BY:
            for scope in ({}, {"division": "T02"}, {"category": "noise"}):
                rolled = kpi_days.tally(engine, p.first, p.last, CITY, by, defs, **scope)
                direct = kpi.tally(engine, p.frm, p.to, by, defs, **scope)
                assert rolled == direct, (p, by, scope)


def change(engine, incident_id, **values) -> None:
    """As the chain writes an incident: the new values and updated_at."""
    with transaction(engine) as s:
        incident = s.get(models.Incident, incident_id)
        for name, value in values.items():
            setattr(incident, name, value)
        incident.updated_at = utcnow()


def old_ones(engine, ids, days=15, count=6) -> list[int]:
    with transaction(engine) as s:
        return list(s.scalars(select(models.Incident.id).where(
            models.Incident.id.in_(ids), models.Incident.reported_at < utcnow() - timedelta(days=days))
            .order_by(models.Incident.id).limit(count)))


def test_the_roll_up_gives_the_figures_of_the_incidents_as_they_change(engine, pack):
    ids = history(engine, pack)
    assert_same(engine)
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.KpiDay)) > 0  # built, and read from

    history(engine, pack, n=5, seed=8)  # new incidents, some on past days
    assert_same(engine)

    a, b, c, d, e, f = old_ones(engine, ids)
    now = utcnow()
    change(engine, a, acknowledged_at=now - timedelta(days=10), status="acknowledged")
    assert_same(engine)
    change(engine, b, closed_at=now - timedelta(hours=2), status="closed")
    assert_same(engine)
    change(engine, c, satisfaction="unresolved")
    assert_same(engine)
    change(engine, c, org_code=f"OFF-{DIVISIONS[0]}", channel="110")  # handed to another office, retagged
    assert_same(engine)
    change(engine, d, district_code="T03", org_code="OFF-T03", category="fire")
    assert_same(engine)
    change(engine, e, status="cancelled")
    assert_same(engine)
    with transaction(engine) as s:  # a deadline brought forward: the day it was due before is recomputed too
        reported = s.get(models.Incident, f).reported_at
    change(engine, f, resolve_due=reported + timedelta(hours=3), acknowledge_due=reported + timedelta(minutes=5))
    assert_same(engine)


def test_a_write_to_a_past_day_is_summed_again_once_not_on_every_read(engine, pack, monkeypatch):
    """A read looks back half a minute for slow commits, so it sees the write the read before took
    in: that write is not summed again, a newer one is, and so is a write a refresh in another
    process took in (this one does not know what that refresh saw)."""
    ids = history(engine, pack, n=40)
    kpi_days.refresh(engine, CITY)
    summed: list = []
    day_rows = kpi_days._day_rows
    monkeypatch.setattr(kpi_days, "_day_rows", lambda *a: summed.append(a[5]) or day_rows(*a))
    today = utcnow().astimezone(CITY).date()

    def read() -> int:
        before = len(summed)
        rolled = kpi_days.tally(engine, today - timedelta(days=30), today - timedelta(days=1), CITY, "division")
        p = summary.Period(today - timedelta(days=30), today - timedelta(days=1), CITY)
        assert rolled == kpi.tally(engine, p.frm, p.to, "division")
        return len(summed) - before

    (a,) = old_ones(engine, ids, count=1)
    change(engine, a, satisfaction="unresolved")
    assert read() >= 15  # every day from its report on
    assert read() == read() == 0
    change(engine, a, satisfaction="satisfied")
    assert read() >= 15
    assert read() == 0
    kpi_days._taken.clear()  # as after the worker's refresh
    assert read() >= 15


def test_a_new_store_sums_no_empty_days_and_takes_in_older_reports_later(engine, pack):
    """Built on an empty store the roll-up holds no day; reports of the last weeks written after
    are summed into it (not read around it), exactly."""
    mark = kpi_days.refresh(engine, CITY)
    today = utcnow().astimezone(CITY).date()
    assert (mark.built_from, mark.covered_to) == (today, today)
    history(engine, pack, n=30)
    assert_same(engine)
    with transaction(engine) as s:
        oldest = s.scalar(select(func.min(models.Incident.reported_at))).astimezone(CITY).date()
        assert s.get(models.KpiDayMark, mark.fingerprint).built_from == oldest
        assert s.scalar(select(func.min(models.KpiDay.day))) < today - timedelta(days=20)


def test_other_definitions_have_their_own_roll_up(engine, pack):
    history(engine, pack, n=80)
    assert_same(engine)
    other = kpi.KpiDefinitions(acknowledge_minutes=10, resolve_hours=48, count_basically_satisfied=False,
                               closed_stamp="resolved_at", excluded_statuses=["cancelled"])
    assert kpi_days.fingerprint(other, CITY) != kpi_days.fingerprint(kpi.KpiDefinitions(), CITY)
    assert_same(engine, other)
    assert_same(engine)


def test_the_summary_reads_the_same_figures_through_the_roll_up(engine, pack):
    history(engine, pack, n=80)
    now = utcnow()
    last30 = summary.period_for("last30", CITY, now)
    volume, rates = kpi.tally(engine, last30.frm, last30.to, "division")
    rows = summary.by_group(engine, last30, "division", "resolution_rate", min_sample=3)
    assert {r.group: (r.incidents, r.value, r.sample) for r in rows} == {
        g: (volume.get(g, 0), rates.get(g, kpi.Rates()).resolution.value, rates.get(g, kpi.Rates()).resolution.total)
        for g in set(volume) | set(rates)}
    figures = {f.name: (f.value, f.hits, f.total) for f in summary.headline(engine, last30, "previous")}
    everything = kpi.tally(engine, last30.frm, last30.to)[1][kpi.ALL]
    assert figures["closure_rate"] == (everything.closure.value, everything.closure.hits, everything.closure.total)
    assert figures["response_rate"] == (everything.response.value, everything.response.hits,
                                        everything.response.total)


def test_a_report_time_a_feed_moves_to_a_later_day_leaves_no_day_stale(engine, pack):
    """The roll-up finds the days to recompute from the incidents' present report times; the day
    an incident left is marked by the ingest that moved it."""
    history(engine, pack, n=40)
    ctx = FeedContext.for_feed("cad", "police_cad", "wgs84", pack)
    was = utcnow() - timedelta(days=12)

    def send(reported_at) -> None:
        record = {"external_id": "moved-1", "channel": "110", "category": "crime", "priority": "P2",
                  "title": "斗殴", "reported_at": reported_at.isoformat()}
        ingest_batch(engine, ctx, [RawItem("moved-1", json.dumps(record, ensure_ascii=False))],
                     lambda item: [IncidentRecord(**json.loads(item.payload))])

    send(was)
    assert_same(engine)  # the roll-up now holds the incident on the day 12 days ago
    with transaction(engine) as s:  # all that written well before that refresh, past its overlap
        for incident in s.scalars(select(models.Incident)):
            incident.updated_at -= timedelta(hours=1)
    send(was + timedelta(days=6))
    assert_same(engine)


def test_the_workers_kpi_job_catches_the_roll_up_up(engine, pack, tmp_path):
    """The job schedule_anomalies adds, run as the scheduler would: the mark moves on and the
    past days hold the incidents written since, so the next read has no catch-up to do."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from ioc.compose import schedule_kpi_days
    from ioc.config import Settings
    from ioc.runtime import Runtime

    history(engine, pack, n=40)
    scheduler = BackgroundScheduler(timezone="UTC")  # never started: the job is run by hand
    schedule_kpi_days(scheduler, Runtime(Settings(), engine, pack))
    job = scheduler.get_job("kpi_days")
    job.func()
    fp = kpi_days.fingerprint(kpi.KpiDefinitions(), pack.timezone)
    with transaction(engine) as s:
        first = s.get(models.KpiDayMark, fp)
        assert first.covered_to == utcnow().astimezone(pack.timezone).date()
        built = s.scalar(select(func.coalesce(func.sum(models.KpiDay.volume), 0)).where(models.KpiDay.fingerprint == fp))
    assert built > 0

    history(engine, pack, n=10, seed=9)  # written after the job ran, some on past days
    job.func()
    with transaction(engine) as s:
        mark = s.get(models.KpiDayMark, fp)
        assert mark.refreshed_at > first.refreshed_at
        rolled = s.scalar(select(func.coalesce(func.sum(models.KpiDay.volume), 0)).where(models.KpiDay.fingerprint == fp))
    yesterday_end = kpi_days.midnight(utcnow().astimezone(pack.timezone).date(), pack.timezone)
    direct = sum(n for _, n in kpi.counts(engine, kpi_days.midnight(mark.built_from, pack.timezone), yesterday_end,
                                          None))
    assert rolled == direct > built


def test_a_close_stamp_later_today_is_not_closed_yet(engine, pack):
    """The incidents say a stamp after now is not closed (kpi: closed before min(to, now))."""
    ids = history(engine, pack, n=60)
    a = old_ones(engine, ids, days=3, count=1)[0]
    now = utcnow()
    next_midnight = kpi_days.midnight(now.astimezone(CITY).date() + timedelta(days=1), CITY)
    with transaction(engine) as s:
        reported = s.get(models.Incident, a).reported_at
    change(engine, a, resolve_due=reported + timedelta(hours=1), status="closed",
           closed_at=now + (next_midnight - now) / 2)
    assert_same(engine)


def test_a_close_stamp_summed_while_ahead_counts_once_it_has_passed(engine, pack, monkeypatch):
    """Nothing is written when the stamp passes: the roll-up's own mark brings the day back."""
    ids = history(engine, pack, n=60)
    a = old_ones(engine, ids, days=3, count=1)[0]
    with transaction(engine) as s:
        reported = s.get(models.Incident, a).reported_at
    # The readers' clock stands still while a check runs, so a slow machine cannot let the stamp
    # pass between the roll-up's figure and the incidents' own.
    clock = [utcnow()]
    for module in (kpi, kpi_days, sys.modules[__name__]):
        monkeypatch.setattr(module, "utcnow", lambda: clock[0])
    stamp = clock[0] + timedelta(seconds=1)
    change(engine, a, resolve_due=reported + timedelta(hours=1), status="closed", closed_at=stamp)
    assert_same(engine)  # summed now, while the stamp is ahead: not closed
    clock[0] = stamp + timedelta(seconds=1)
    assert_same(engine)  # now closed, in the roll-up too
