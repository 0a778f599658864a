"""CAP alerts in the store: keyed as CAP keys them, chained by ``references``.

An Update supersedes what it references, a Cancel withdraws it; an alert is active until it
is cancelled, superseded or expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ioc.records import AlertRecord
from ioc.store import models

ALERT_FIELDS = ("status", "msg_type", "scope", "event", "category", "urgency", "severity", "certainty",
                "headline", "description", "instruction", "areas", "effective", "onset", "expires", "extra")


def store(session: Session, feed: str, records: Sequence[AlertRecord]) -> tuple[int, int]:
    """Insert new alerts and apply their references; a known (sender, identifier, sent) takes the
    fields it parses to now (a replay after a fix). Returns (stored, updated)."""
    stored = updated = 0
    for record in sorted(records, key=lambda r: r.sent):
        key = (record.sender, record.identifier, record.sent)
        values = _values(record)
        known = _find(session, [key])
        if known:
            changed = {f: v for f, v in values.items() if getattr(known[0], f) != v}
            for name, value in changed.items():
                setattr(known[0], name, value)
            updated += bool(changed)
            continue
        alert = models.Alert(feed=feed, sender=record.sender, identifier=record.identifier, sent=record.sent,
                             references=[[s, i, t.isoformat()] for s, i, t in record.references], **values)
        session.add(alert)
        session.flush()
        _apply_references(session, alert, record)
        stored += 1
    return stored, updated


def _values(record: AlertRecord) -> dict:
    """The stored fields; the adapter's repairs are kept with the alert (``extra["defects"]``)."""
    values = {f: getattr(record, f) for f in ALERT_FIELDS}
    if record.defects:
        values["extra"] = {**record.extra, "defects": list(record.defects)}
    return values


def _apply_references(session: Session, alert: models.Alert, record: AlertRecord) -> None:
    if record.msg_type not in ("Update", "Cancel") or not record.references:
        return
    for old in _find(session, list(record.references)):
        if record.msg_type == "Update":
            old.superseded_by_id = alert.id
        else:
            old.cancelled_at = record.sent


def _find(session: Session, keys: list[tuple[str, str, datetime]]) -> list[models.Alert]:
    return list(session.scalars(select(models.Alert).where(
        tuple_(models.Alert.sender, models.Alert.identifier, models.Alert.sent).in_(keys))))
