"""Putting a process together: which feeds it knows, how orders leave it, how it logs.

The composition root of ``app.py`` and the CLI (``ioc.cli``): the only place in ``ioc/`` that
names the demo city (``feeds.simulator``). The worker, the API and the pages are handed what
is chosen here and never ask whether the demo is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ioc.chain.outbox import Sender, http_sender, payload_sender
from ioc.config import FeedSettings, Settings
from ioc.runtime import Runtime, open_runtime
from ioc.store.packload import check_pack_loaded
from ioc.store.models import utcnow

log = logging.getLogger(__name__)


def feeds_of(settings: Settings) -> list[FeedSettings]:
    """The feeds from the configuration, plus the demo city's when the demo is on."""
    feeds = list(settings.feeds)
    if settings.demo.enabled:
        from feeds.simulator import demo_feeds

        mqtt = ("127.0.0.1", settings.demo.mqtt_port) if settings.demo.mqtt_port else None
        known = {f.name for f in feeds}
        feeds += [f for f in demo_feeds(settings.demo.url(), mqtt=mqtt) if f.name not in known]
    return feeds


def open_city(settings: Settings) -> Runtime:
    """The runtime of this process: store, pack (loaded into the store), and every feed it knows
    (the demo's too)."""
    runtime = open_runtime(settings, feeds_of(settings))
    check_pack_loaded(runtime.engine, runtime.pack)
    return runtime


def outbox_sender(settings: Settings) -> Sender | None:
    """How orders reach agencies: configured endpoints, else the demo city's agencies, else nowhere."""
    box = settings.outbox
    if box.endpoints or box.base_url:
        return http_sender(box.endpoints or box.base_url)
    if settings.demo.enabled:
        return payload_sender(settings.demo.url() + "/agency/orders")
    return None


def configure_logging(level: int) -> None:
    """Our loggers at ``level``; the chatty libraries (a line per request or job run) at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "apscheduler", "werkzeug", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def schedule_briefing(scheduler: BaseScheduler, runtime: Runtime) -> None:
    """Every morning at ``[briefing] hour`` city time, keep yesterday's briefing (the worker itself
    may not read: the intake never imports ``ioc.read``, so the job is added here)."""
    from ioc.read.briefing_doc import keep_day

    folder, tz = runtime.settings.briefing.path(), runtime.pack.timezone

    def write_yesterday() -> None:
        day = utcnow().astimezone(tz).date() - timedelta(days=1)
        try:
            keep_day(folder, runtime.engine, runtime.pack, day)
        except Exception:  # a failed briefing must not stop the worker; the log says why
            log.exception("briefing of %s failed", day)

    scheduler.add_job(write_yesterday, CronTrigger(hour=runtime.settings.briefing.hour, minute=0, timezone=tz),
                      id="briefing", name="briefing", replace_existing=True, max_instances=1, coalesce=True,
                      misfire_grace_time=3600)


ANOMALY_SCAN_MINUTES = 5


def schedule_anomalies(scheduler: BaseScheduler, runtime: Runtime) -> None:
    """Every few minutes, flag the divisions × categories far above their usual count for this hour
    and the last (``ioc.read.anomalies``; added here for the same reason as the briefing)."""
    from ioc.read import anomalies

    tz = runtime.pack.manifest.timezone

    def scan() -> None:
        try:
            anomalies.scan(runtime.engine, tz)
        except Exception:  # a failed scan must not stop the worker; the log says why
            log.exception("anomaly scan failed")

    scheduler.add_job(scan, IntervalTrigger(minutes=ANOMALY_SCAN_MINUTES), id="anomalies", name="anomalies",
                      replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=300,
                      next_run_time=utcnow())
    schedule_kpi_days(scheduler, runtime)  # the same worker; cli starts it through here


def schedule_kpi_days(scheduler: BaseScheduler, runtime: Runtime) -> None:
    """Every minute, take the incidents written since into the KPI roll-up (``ioc.read.kpi_days``),
    so the summary's read rarely has catch-up work; the first run builds it."""
    from ioc.read import kpi_days

    def catch_up() -> None:
        try:
            kpi_days.refresh(runtime.engine, runtime.pack.timezone)
        except Exception:  # a failed refresh must not stop the worker; the next read catches up itself
            log.exception("KPI roll-up refresh failed")

    scheduler.add_job(catch_up, IntervalTrigger(minutes=1), id="kpi_days", name="kpi roll-up",
                      replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=60,
                      next_run_time=utcnow())


DUTY_INTERVAL_S = 10


def demo_clock(base_url: str) -> Callable[[], datetime]:
    """The demo city's own time (its ``/`` state): a fast replay runs behind the wall clock."""
    def now() -> datetime:
        try:
            state = httpx.get(base_url.rstrip("/") + "/", timeout=5).json()
            return datetime.fromisoformat(state["sim_time"]).astimezone(timezone.utc)
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            return utcnow()  # the city is not answering: nothing new comes in either
    return now


def schedule_demo_duty(scheduler: BaseScheduler, runtime: Runtime) -> None:
    """With the demo on, its duty officers and handlers (``ioc.demo_duty``) act every few seconds
    through the chain, on the demo city's clock."""
    if not runtime.settings.demo.enabled:
        return
    from ioc.demo_duty import DemoDuty

    duty = DemoDuty(runtime.engine, runtime.pack, demo_clock(runtime.settings.demo.url()))

    def act() -> None:
        report = duty.run()
        if report.done:
            log.info("%s", report.summary())

    scheduler.add_job(act, IntervalTrigger(seconds=DUTY_INTERVAL_S), id="demo_duty", name="demo duty",
                      replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=DUTY_INTERVAL_S)


DEMO_HISTORY_FEED = "demo_history"
HISTORY_AHEAD_HOURS = 1  # baseline hours kept ready ahead of the clock (the job runs twice an hour)
HISTORY_EVERY_MINUTES = 30
_HISTORY_BATCH = 2000


def baseline_hours(now: datetime, tz: str, ahead: int = HISTORY_AHEAD_HOURS) -> list[datetime]:
    """The past hours the anomaly scan compares with, from the hour before ``now`` to ``ahead``
    hours after it: the same local hours 1…4 weeks before (UTC starts, oldest first). One hour
    more at the start: the scan of the hour before needs a store reaching back past its oldest
    baseline hour's start (``anomalies.has_baseline``), and that hour's first report is later."""
    from ioc.read.anomalies import hour_start, windows

    this = hour_start(now, tz)
    starts = {begin for h in range(-2, ahead + 1) for begin, _ in windows(this + timedelta(hours=h), tz)[1:]}
    return sorted(starts)


def backfill_demo_history(runtime: Runtime, now: datetime | None = None,
                          ahead: int = HISTORY_AHEAD_HOURS) -> int:
    """Give the demo city a past: its closed incidents of the baseline hours the anomaly scan needs
    (``feeds.simulator.history``, the live city's own volumes), ingested through the intake as the
    feed ``demo_history``. An hour already holding that feed's incidents is left alone, so a second
    start adds nothing. The number of incidents added."""
    from sqlalchemy import func, select

    from feeds.base import RawItem
    from feeds.simulator.geography import Places
    from feeds.simulator.history import past_hour
    from ioc.city.geo import DivisionIndex
    from ioc.intake.ingest import FeedContext, ingest_batch
    from ioc.records import IncidentRecord
    from ioc.store.db import session_factory
    from ioc.store.models import Incident

    now = now or utcnow()
    tz = runtime.pack.manifest.timezone
    hours = baseline_hours(now, tz, ahead)
    with session_factory(runtime.engine)() as session:
        held = {h for h in hours if session.scalar(
            select(func.count()).select_from(Incident).where(
                Incident.source == DEMO_HISTORY_FEED, Incident.reported_at >= h,
                Incident.reported_at < h + timedelta(hours=1))) > 0}
    missing = [h for h in hours if h not in held]
    if not missing:
        return 0
    began = datetime.now(timezone.utc)
    places = Places(runtime.pack)
    ctx = FeedContext(name=DEMO_HISTORY_FEED, kind="demo_history", crs="wgs84", pack=runtime.pack,
                      index=DivisionIndex(runtime.pack.divisions()), fuse_same_source=False)
    added = 0
    for hour in missing:
        records = past_hour(places, runtime.pack.timezone, hour)
        items = [RawItem(r.external_id, r.model_dump_json(), received_at=r.reported_at) for r in records]
        for i in range(0, len(items), _HISTORY_BATCH):
            report = ingest_batch(runtime.engine, ctx, items[i:i + _HISTORY_BATCH],
                                  lambda item: [IncidentRecord.model_validate_json(item.payload)], save_cursor=False)
            added += report.stored
    seconds = (datetime.now(timezone.utc) - began).total_seconds()
    log.info("demo history: %d closed incidents in %d baseline hours (the same hours 1-4 weeks back) "
             "ingested in %.1f s", added, len(missing), seconds)
    return added


def schedule_demo_history(scheduler: BaseScheduler, runtime: Runtime) -> None:
    """With the demo on, fill the demo's past now (before the feeds start polling: alone on the
    store it takes seconds, beside six feeds' first pages on SQLite a minute), then keep the
    baseline hours of the next few hours filled as the clock moves."""
    if not runtime.settings.demo.enabled:
        return

    def fill() -> None:
        try:
            backfill_demo_history(runtime)
        except Exception:  # a failed backfill must not stop the worker; the log says why
            log.exception("demo history backfill failed")

    fill()
    scheduler.add_job(fill, IntervalTrigger(minutes=HISTORY_EVERY_MINUTES), id="demo_history", name="demo history",
                      replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=600)
