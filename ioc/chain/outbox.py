"""Delivering the outbox: orders written in a dispatch transaction, sent to agencies with retries.

Each due row is first claimed (a short transaction moves its ``next_attempt_at`` a lease ahead,
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and a compare-and-set that also serialises SQLite),
then sent outside any transaction, then marked delivered or scheduled for a retry with
exponential backoff. Two workers never send one row in the same round; a worker that dies
mid-send leaves its rows to be retried once the lease runs out, so delivery is at least once and
receivers deduplicate by the ``Idempotency-Key`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, or_, select, update

from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

Sender = Callable[[models.Outbox], None]

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=10)
LEASE = timedelta(minutes=2)  # longer than any send may take (the HTTP timeout is far shorter)
ERROR_CHARS = 1000


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return f"outbox: {len(self.delivered)} delivered, {len(self.failed)} failed"


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 30 s, 1 min, 2 min ... capped at 10 min."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))


def deliver_due(engine: Engine, send: Sender, now: datetime | None = None, batch: int = 50) -> DeliveryReport:
    """Send up to ``batch`` due rows; ``send`` raising means that row failed, returning means sent."""
    now = now or utcnow()
    report = DeliveryReport()
    for row in _claim(engine, now, batch):
        try:
            send(row)
        except Exception as exc:  # any failure of one row is recorded; the others still go
            _failed(engine, row.id, now, exc)
            report.failed.append(row.id)
        else:
            _delivered(engine, row.id, now)
            report.delivered.append(row.id)
    if report.delivered or report.failed:
        log.info(report.summary())
    return report


def _due(now: datetime):
    o = models.Outbox
    return (o.delivered_at.is_(None), or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now))


def _claim(engine: Engine, now: datetime, batch: int) -> list[models.Outbox]:
    o = models.Outbox
    with transaction(engine) as session:
        rows = list(session.scalars(
            select(o).where(*_due(now)).order_by(o.next_attempt_at.is_not(None), o.next_attempt_at, o.id)
            .limit(batch).with_for_update(skip_locked=True)))
        claimed = []
        for row in rows:
            result = session.execute(
                update(o).where(o.id == row.id, *_due(now)).values(next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                claimed.append(row)
    return claimed


def _delivered(engine: Engine, row_id: int, now: datetime) -> None:
    with transaction(engine) as session:
        row = session.get(models.Outbox, row_id, with_for_update=True)
        row.delivered_at, row.attempts, row.next_attempt_at = now, row.attempts + 1, None


def _failed(engine: Engine, row_id: int, now: datetime, exc: Exception) -> None:
    with transaction(engine) as session:
        row = session.get(models.Outbox, row_id, with_for_update=True)
        row.attempts += 1
        row.last_error = (f"{type(exc).__name__}: {exc}")[:ERROR_CHARS]
        row.next_attempt_at = now + backoff(row.attempts)
    log.warning("outbox %s to %s failed (attempt %s): %s", row_id, row.destination, row.attempts, row.last_error)


def http_sender(endpoints: Mapping[str, str] | str, timeout: float = 10.0,
                client: httpx.Client | None = None) -> Sender:
    """A sender that POSTs each row as JSON: to ``endpoints[org_code]``, or ``base_url/org_code``.

    Any non-2xx answer, a timeout or a refused connection is a failure to retry.
    """
    http = client or httpx.Client(timeout=timeout)

    def url_for(destination: str) -> str:
        if isinstance(endpoints, str):
            return f"{endpoints.rstrip('/')}/{destination}"
        if destination not in endpoints:
            raise LookupError(f"no endpoint configured for {destination}")
        return endpoints[destination]

    def send(row: models.Outbox) -> None:
        body = {"id": row.id, "kind": row.kind, "destination": row.destination, "payload": row.payload,
                "created_at": row.created_at.isoformat() if row.created_at else None}
        response = http.post(url_for(row.destination), json=body,
                             headers={"Idempotency-Key": f"outbox-{row.id}"})
        response.raise_for_status()

    return send


def payload_sender(url: str, timeout: float = 10.0, client: httpx.Client | None = None) -> Sender:
    """A sender that POSTs just the order payload to one agency interface (the demo city's)."""
    http = client or httpx.Client(timeout=timeout)

    def send(row: models.Outbox) -> None:
        response = http.post(url, json={**row.payload, "kind": row.kind},
                             headers={"Idempotency-Key": f"outbox-{row.id}"})
        response.raise_for_status()

    return send
