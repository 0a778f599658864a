"""The feed worker: polls every enabled feed on its interval, one instance at a time.

Each poll fetches pages while the source has more, storing each page through ``ioc.intake.ingest``.
A failing poll counts against its feed (ok → degraded → down) and backs off exponentially;
it never stops the other feeds. On PostgreSQL an advisory lock per feed makes sure two
workers never poll the same feed at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, select

from ioc.chain import feedcontrol, outbox, sla
from ioc.chain.outbox import Sender
from ioc.city.geo import DivisionIndex
from ioc.config import FeedSettings
from ioc.errors import UserError
from ioc.intake.ingest import BatchReport, FeedContext, ingest_batch, replay
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

DOWN_AFTER = 3  # consecutive failures before a feed is down rather than degraded
MAX_BACKOFF_S = 600.0
MAX_PAGES_PER_POLL = 50


def find_feed(runtime: Runtime, name: str) -> FeedSettings:
    for feed in runtime.feeds:
        if feed.name == name:
            return feed
    names = ", ".join(f.name for f in runtime.feeds) or "none configured"
    raise UserError(f"no feed named {name!r} (feeds: {names})")


@dataclass
class PollResult:
    feed: str
    report: BatchReport
    skipped: str | None = None  # why nothing was polled (another worker holds the feed)


@dataclass
class FeedRunner:
    """One feed's adapter, context and failure/backoff bookkeeping."""

    runtime: Runtime
    feed: FeedSettings
    index: DivisionIndex
    adapter: object = field(init=False)
    failures: int = 0
    backoff_until: float = 0.0

    def __post_init__(self) -> None:
        from feeds.base import build_adapter

        self.adapter = build_adapter(self.feed)
        self.ctx = FeedContext.of(self.feed, self.runtime.pack, self.index)

    def poll(self) -> PollResult:
        """Fetch and store until the source has nothing more; record success or failure."""
        engine = self.runtime.engine
        with feed_lock(engine, self.feed.name) as held:
            if not held:
                return PollResult(self.feed.name, BatchReport(), skipped="another worker is polling this feed")
            try:
                report = self._fetch_and_store(engine)
            except Exception as exc:
                self.failures += 1
                delay = min(self.feed.interval_seconds * 2 ** self.failures, MAX_BACKOFF_S)
                self.backoff_until = time.monotonic() + delay
                record_failure(engine, self.feed, exc)
                raise
            self.failures, self.backoff_until = 0, 0.0
            record_success(engine, self.feed)
            return PollResult(self.feed.name, report)

    def _fetch_and_store(self, engine: Engine) -> BatchReport:
        total = BatchReport()
        cursor = read_cursor(engine, self.feed)
        timeout = httpx.Timeout(self.feed.timeout_seconds or max(5.0, min(30.0, self.feed.interval_seconds)))
        with httpx.Client(timeout=timeout, headers={"User-Agent": "city-ioc/1.0"}) as client:
            for _ in range(MAX_PAGES_PER_POLL):
                result = self.adapter.fetch(cursor, client)
                total.add(ingest_batch(engine, self.ctx, result.items, self.adapter.parse, result.cursor))
                ack = getattr(self.adapter, "ack", None)
                if ack is not None:
                    ack(result.items)  # only now, after the commit, may the source forget them
                cursor = result.cursor
                if not result.more:
                    break
        return total

    def run_job(self) -> None:
        """The scheduler's entry: skip while backing off, log one line per poll."""
        if time.monotonic() < self.backoff_until or feedcontrol.is_paused(self.runtime.engine, self.feed.name):
            return
        try:
            if feedcontrol.replay_wanted(self.runtime.engine, self.feed.name):
                self.replay()
            result = self.poll()
        except Exception as exc:
            log.warning("feed %s failed (%d in a row): %s", self.feed.name, self.failures, describe_error(exc))
            return
        if result.skipped:
            log.info("feed %s skipped: %s", self.feed.name, result.skipped)
        elif result.report.fetched:
            log.info("feed %s: %s", self.feed.name, result.report.summary())

    def replay(self) -> None:
        """Re-run the rejected records an admin asked for (``ioc.chain.feedcontrol``)."""
        report = replay(self.runtime.engine, self.ctx, self.adapter.parse)
        feedcontrol.replay_done(self.runtime.engine, self.feed.name, report.counts())
        log.info("feed %s replayed: %s", self.feed.name, report.summary())

    def close(self) -> None:
        self.adapter.close()


def build_runners(runtime: Runtime, names: list[str] | None = None) -> list[FeedRunner]:
    feeds = [f for f in runtime.feeds if f.enabled]
    if names:
        unknown = set(names) - {f.name for f in feeds}
        if unknown:
            raise UserError(f"no enabled feed named {', '.join(sorted(unknown))}")
        feeds = [f for f in feeds if f.name in names]
    index = DivisionIndex(runtime.pack.divisions())
    return [FeedRunner(runtime, feed, index) for feed in feeds]


def schedule(scheduler: BaseScheduler, runners: list[FeedRunner]) -> None:
    """One job per feed: its interval, one instance at a time, coalesced, jittered."""
    for runner in runners:
        interval = runner.feed.interval_seconds
        scheduler.add_job(
            runner.run_job, IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 5.0)),
            id=f"feed:{runner.feed.name}", name=runner.feed.name, replace_existing=True,
            max_instances=1, coalesce=True, misfire_grace_time=max(1, int(interval)),
            next_run_time=utcnow(),
        )


# --- feed state -----------------------------------------------------------------------------


def read_cursor(engine: Engine, feed: FeedSettings) -> str | None:
    with transaction(engine) as session:
        return session.scalar(select(models.FeedState.cursor).where(models.FeedState.name == feed.name))


def record_success(engine: Engine, feed: FeedSettings) -> None:
    with transaction(engine) as session:
        state = _state(session, feed)
        state.status, state.consecutive_failures, state.last_success_at = "ok", 0, utcnow()


def record_failure(engine: Engine, feed: FeedSettings, exc: BaseException) -> None:
    with transaction(engine) as session:
        state = _state(session, feed)
        state.consecutive_failures += 1
        state.status = "down" if state.consecutive_failures >= DOWN_AFTER else "degraded"
        state.last_error, state.last_error_at = describe_error(exc)[:500], utcnow()


def _state(session, feed: FeedSettings) -> models.FeedState:
    state = session.get(models.FeedState, feed.name, with_for_update=True)
    if state is None:
        state = models.FeedState(name=feed.name, kind=feed.kind, counts={}, consecutive_failures=0, status="ok")
        session.add(state)
    state.kind = feed.kind
    return state


_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def describe_error(exc: BaseException) -> str:
    """A one-line error for logs and feed state, with any credentials in URLs removed."""
    if isinstance(exc, httpx.HTTPStatusError):
        text = f"HTTP {exc.response.status_code} from {exc.request.url.copy_with(query=None)}"
    elif isinstance(exc, httpx.TimeoutException):
        text = f"timed out: {exc.request.url.copy_with(query=None) if exc.request else ''}"
    elif isinstance(exc, httpx.TransportError):
        text = f"cannot connect: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _CREDENTIALS.sub("//***@", text.splitlines()[0] if text else type(exc).__name__)


# --- one poller per feed across workers ----------------------------------------------------------


@contextmanager
def feed_lock(engine: Engine, feed: str) -> Iterator[bool]:
    """Hold the feed's PostgreSQL advisory lock for the poll; SQLite has one worker and needs none."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(f"ioc-feed:{feed}".encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:
        held = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()


# --- the worker's other duties: orders to agencies, SLA clocks -------------------------------------------


def schedule_duties(scheduler: BaseScheduler, runtime: Runtime, sender: Sender | None) -> None:
    """Deliver the outbox through ``sender`` (None: orders wait) and sweep SLA clocks every minute."""
    if sender is not None:
        def deliver() -> None:
            report = outbox.deliver_due(runtime.engine, sender)
            if report.delivered or report.failed:
                log.info("%s", report.summary())

        interval = runtime.settings.outbox.interval_seconds
        scheduler.add_job(deliver, IntervalTrigger(seconds=interval), id="outbox", name="outbox",
                          replace_existing=True, max_instances=1, coalesce=True,
                          misfire_grace_time=max(1, int(interval)), next_run_time=utcnow())

    def sweep() -> None:
        summary = sla.sweep(runtime.engine, runtime.pack, utcnow())
        log.info("%s", summary)

    scheduler.add_job(sweep, IntervalTrigger(seconds=60, jitter=5), id="sla", name="sla", replace_existing=True,
                      max_instances=1, coalesce=True, misfire_grace_time=60)
