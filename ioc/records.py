"""Typed records: what feed adapters hand to the ingest pipeline.

Adapters turn a source's bytes into these (or raise ``Reject``); ``ioc.intake.ingest`` validates,
converts coordinates, enriches and stores them. Coordinates here are in the feed's declared
datum (wgs84, gcj02 or bd09); the pipeline converts them once, to WGS-84.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# The categories every city shares; packs route and fuse by these.
CATEGORIES: tuple[str, ...] = (
    # police (110)
    "crime", "public_order", "dispute", "traffic_accident", "traffic_jam", "help", "suspicious",
    # fire and rescue (119), health (120)
    "fire", "rescue", "medical", "hazmat",
    # urban management: events (事件) and components (部件)
    "waterlogging", "fallen_tree", "road_damage", "manhole_cover", "street_light", "pipe_burst",
    "garbage", "illegal_construction", "street_vending", "illegal_ad", "construction", "muck_spill",
    "greening", "facility_damage",
    # environment, hotline
    "pollution", "noise", "consultation", "complaint", "suggestion",
    # sensors and everything else
    "flood_risk", "other",
)
PRIORITIES = ("P1", "P2", "P3", "P4")
INCIDENT_STATUSES = (
    "unverified", "new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled", "fused",
)
UNIT_STATUSES = (
    "AVAILABLE", "DISPATCHED", "EN_ROUTE", "ON_SCENE", "PATIENT_CONTACT", "TRANSPORTING", "AT_HOSPITAL",
    "CLEARED", "OUT_OF_SERVICE", "STAGED",
)

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
# Open: on the board and the map, and a report of the same event may still be fused into it.
OPEN_STATUSES = ("new", "acknowledged", "dispatched", "on_scene")
IncidentStatus = Literal[INCIDENT_STATUSES]  # type: ignore[valid-type]
UnitStatus = Literal[UNIT_STATUSES]  # type: ignore[valid-type]
Channel = Literal["110", "119", "120", "12345", "urban", "grid", "video", "sensor", "import", "other"]


def clipped(n: int) -> Any:
    """Descriptive text cut to the store's column of ``n`` characters (a long label is no reason
    to lose a record); identifiers instead carry ``max_length`` and a longer one is rejected."""
    return Annotated[str, AfterValidator(lambda s: s[:n])]


class Reject(Exception):
    """Raised by an adapter's ``parse`` for an item it cannot turn into records; the message is the reason."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AssignmentRecord(_Record):
    """One unit's part in an incident, with the CAD interval stamps the source gave."""

    unit_id: str
    dispatched_at: AwareDatetime | None = None
    en_route_at: AwareDatetime | None = None
    on_scene_at: AwareDatetime | None = None
    cleared_at: AwareDatetime | None = None


class IncidentRecord(_Record):
    kind: Literal["incident"] = "incident"
    external_id: str = Field(min_length=1, max_length=200)
    channel: Channel
    category: Category
    type: clipped(80) = ""
    priority: Priority = "P3"
    status: IncidentStatus = "new"
    source_status: str = ""
    reported_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    title: str = Field(default="", max_length=300)
    description: str = ""
    address: str = Field(default="", max_length=300)
    lon: float | None = None
    lat: float | None = None
    assignments: tuple[AssignmentRecord, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)


class UnitStatusRecord(_Record):
    kind: Literal["unit_status"] = "unit_status"
    unit_id: str = Field(min_length=1)
    status: UnitStatus
    at: AwareDatetime
    lon: float | None = None
    lat: float | None = None
    incident_external_id: str | None = None


class AlertRecord(_Record):
    """A CAP message. ``areas`` is a GeoJSON FeatureCollection in WGS-84 (CAP's datum)."""

    kind: Literal["alert"] = "alert"
    sender: str = Field(max_length=200)
    identifier: str = Field(max_length=200)
    sent: AwareDatetime
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"]
    msg_type: Literal["Alert", "Update", "Cancel", "Ack", "Error"]
    scope: Literal["Public", "Restricted", "Private"] = "Public"
    references: tuple[tuple[str, str, datetime], ...] = ()
    event: clipped(200) = ""
    category: clipped(40) = ""
    urgency: clipped(20) = "Unknown"
    severity: clipped(20) = "Unknown"
    certainty: clipped(20) = "Unknown"
    headline: clipped(500) = ""
    description: str = ""
    instruction: str = ""
    language: str = ""
    effective: AwareDatetime | None = None
    onset: AwareDatetime | None = None
    expires: AwareDatetime | None = None
    areas: dict[str, Any] = Field(default_factory=lambda: {"type": "FeatureCollection", "features": []})
    extra: dict[str, Any] = Field(default_factory=dict)
    defects: tuple[str, ...] = ()  # parts the adapter repaired or dropped, each with what it did


class ReadingRecord(_Record):
    kind: Literal["reading"] = "reading"
    sensor_id: str = Field(min_length=1, max_length=60)
    at: AwareDatetime
    value: float
    sensor_kind: clipped(30) = "water_level"
    unit_of_measure: clipped(20) = ""
    key_point_id: str | None = None
    warning_level: float | None = None
    alarm_level: float | None = None
    lon: float | None = None
    lat: float | None = None


Record = IncidentRecord | UnitStatusRecord | AlertRecord | ReadingRecord
