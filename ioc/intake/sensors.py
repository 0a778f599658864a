"""Sensor readings and their thresholds.

A gauge crossing its warning or alarm level opens a flood-risk incident at its key point; a
rise from warning to alarm raises its priority; recovery below the warning level (less the
hysteresis, so a level hovering at the line does not flap) resolves it. The incidents are
returned as records and stored by the ingest pipeline like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ioc.records import IncidentRecord, ReadingRecord
from ioc.store import models
from ioc.store.upsert import upsert

OPEN = ("new", "acknowledged", "dispatched", "on_scene")


def next_state(state: str, value: float, warning: float | None, alarm: float | None, hysteresis: float) -> str:
    """The gauge's state after ``value``: normal, warning or alarm, with hysteresis on the way down."""
    if alarm is not None and value >= alarm:
        return "alarm"
    if state == "alarm" and alarm is not None and value > alarm - hysteresis:
        return "alarm"
    if warning is not None and value >= warning:
        return "warning"
    if state in ("warning", "alarm") and warning is not None and value > warning - hysteresis:
        return "warning"
    return "normal"


def store(session: Session, ctx: Any, readings: Sequence[tuple[ReadingRecord, Any]]
          ) -> tuple[int, list[tuple[IncidentRecord, Any]]]:
    """Store readings; return their count and the flood-risk incident records their crossings make."""
    if not readings:
        return 0, []
    sensors = _ensure_sensors(session, [r for r, _ in readings])
    upsert(session, models.Reading, [{"sensor_id": r.sensor_id, "at": r.at, "value": r.value}
                                     for r, _ in readings], ["sensor_id", "at"], update=[])
    hysteresis = ctx.pack.rules.sensors.hysteresis
    incidents = []
    for record, place in sorted(readings, key=lambda p: p[0].at):
        sensor = sensors[record.sensor_id]
        if sensor.last_at and record.at <= sensor.last_at:
            continue  # a late reading is kept but does not turn the state back
        before = sensor.state
        sensor.state = next_state(before, record.value, sensor.warning_level, sensor.alarm_level, hysteresis)
        sensor.last_value, sensor.last_at = record.value, record.at
        if sensor.state != before:
            made = _crossing(session, ctx.name, sensor, before, record)
            if made:
                incidents.append((made, place))
    return len(readings), incidents


def _ensure_sensors(session: Session, records: list[ReadingRecord]) -> dict[str, models.Sensor]:
    ids = {r.sensor_id for r in records}
    sensors = {s.id: s for s in session.scalars(select(models.Sensor).where(models.Sensor.id.in_(ids)))}
    points = {r.key_point_id for r in records if r.key_point_id}
    known_points = set(session.scalars(select(models.KeyPoint.id).where(models.KeyPoint.id.in_(points))))
    for r in records:
        sensor = sensors.get(r.sensor_id)
        if sensor is None:
            sensor = models.Sensor(id=r.sensor_id, kind=r.sensor_kind, state="normal", hysteresis=0.0,
                                   key_point_id=r.key_point_id if r.key_point_id in known_points else None)
            session.add(sensor)
            sensors[r.sensor_id] = sensor
        sensor.unit_of_measure = r.unit_of_measure or sensor.unit_of_measure or ""
        if r.warning_level is not None:
            sensor.warning_level = r.warning_level
        if r.alarm_level is not None:
            sensor.alarm_level = r.alarm_level
    session.flush()
    return sensors


def _crossing(session: Session, feed: str, sensor: models.Sensor, before: str,
              reading: ReadingRecord) -> IncidentRecord | None:
    open_id = session.scalar(
        select(models.Incident.external_id)
        .where(models.Incident.source == feed, models.Incident.category == "flood_risk",
               models.Incident.external_id.like(f"sensor:{sensor.id}:%"), models.Incident.status.in_(OPEN))
        .order_by(models.Incident.reported_at.desc()).limit(1)
    )
    point = session.get(models.KeyPoint, sensor.key_point_id) if sensor.key_point_id else None
    where = point.name_zh if point else sensor.id
    common = dict(channel="sensor", category="flood_risk", type="water_level", lon=reading.lon, lat=reading.lat,
                  extra={"sensor_id": sensor.id, "value": reading.value, "state": sensor.state})
    if sensor.state == "normal":
        if open_id is None:
            return None
        return IncidentRecord(external_id=open_id, status="resolved", priority="P2", closed_at=reading.at,
                              reported_at=_reported_at(session, feed, open_id),
                              title=f"水位回落：{where} {reading.value:.2f} {sensor.unit_of_measure}", **common)
    priority = "P1" if sensor.state == "alarm" else "P2"
    label = "超报警水位" if sensor.state == "alarm" else "超警戒水位"
    title = f"{label}：{where} {reading.value:.2f} {sensor.unit_of_measure}".strip()
    if open_id is not None:
        return IncidentRecord(external_id=open_id, status="new", priority=priority, title=title,
                              reported_at=_reported_at(session, feed, open_id), **common)
    return IncidentRecord(external_id=f"sensor:{sensor.id}:{reading.at.isoformat()}", status="new",
                          priority=priority, title=title, reported_at=reading.at, **common)


def _reported_at(session: Session, feed: str, external_id: str):
    return session.scalar(select(models.Incident.reported_at).where(
        models.Incident.source == feed, models.Incident.external_id == external_id))
