"""The store's tables as SQLAlchemy 2 typed models.

Times are timezone-aware UTC in Python whatever the backend; coordinates are WGS-84 floats.
Indexes follow the page queries: open incidents by status / priority / division / time,
events by incident, readings by sensor and time.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ioc.records import OPEN_STATUSES


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --- the city pack, mirrored ------------------------------------------------------------


class District(Base):
    __tablename__ = "district"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20))
    population: Mapped[int | None]
    area_km2: Mapped[float | None]
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)


class Org(Base):
    __tablename__ = "org"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20))
    service: Mapped[str] = mapped_column(String(30), default="")
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("org.code"))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("district.code"))


class KeyPoint(Base):
    __tablename__ = "key_point"
    __table_args__ = (Index(None, "kind"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    lon: Mapped[float]
    lat: Mapped[float]
    district_code: Mapped[str | None] = mapped_column(ForeignKey("district.code"))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("org.code"))
    demo: Mapped[bool] = mapped_column(Boolean, default=False)


# --- responders -------------------------------------------------------------------------


class Unit(Base):
    __tablename__ = "unit"
    __table_args__ = (Index(None, "unit_type", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(60))
    unit_type: Mapped[str] = mapped_column(String(30))
    org_code: Mapped[str] = mapped_column(ForeignKey("org.code"))
    home_point_id: Mapped[str | None] = mapped_column(ForeignKey("key_point.id"))
    name_zh: Mapped[str] = mapped_column(String(100), default="")
    name_en: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="AVAILABLE")
    status_at: Mapped[datetime | None]
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    position_at: Mapped[datetime | None]
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The feed that named this unit when the pack did not know it (None: one of the pack's units).
    registered_by: Mapped[str | None] = mapped_column(String(80))


# --- what the feeds bring ---------------------------------------------------------------


class RawRecord(Base):
    """Every payload fetched, before parsing: nothing fetched is ever lost."""

    __tablename__ = "raw_record"
    __table_args__ = (
        Index(None, "feed", "external_id"),
        Index(None, "feed", "outcome"),
        Index(None, "feed", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(String(60))
    external_id: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))


# The open set as the partial index ix_incident_open_clocks spells it: a query uses that index
# only when its condition says the same, with the statuses as literals (ioc.read.wall).
OPEN_SET = "status IN ('new', 'acknowledged', 'dispatched', 'on_scene') AND parent_id IS NULL"
OPEN_CLOCK_COLUMNS = ("acknowledge_due", "dispatch_due", "on_scene_due", "resolve_due",
                      "acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")
# The statuses of an incident still on the map (a replay's backlog), and what the replay reads of
# each, as the partial index ix_incident_still_going spells them (migration 0015): on PostgreSQL
# the backlog of a past day is read from the index alone, not from rows scattered over years.
STILL_GOING = ("unverified", *OPEN_STATUSES)
STILL_GOING_SET = f"status IN ({', '.join(repr(s) for s in STILL_GOING)}) AND lon IS NOT NULL"
REPLAY_COLUMNS = ("id", "lon", "lat", "priority", "category", "status", "updated_at", "acknowledged_at",
                  "dispatched_at", "on_scene_at", "resolved_at", "closed_at")
# The event log's steps (the workflow's, merges and splits; a feed's "created" / "updated" when it
# names a status other than new), as the partial index ix_incident_event_steps spells them: most
# of a log is neither, and a replay reads the steps of a day's incidents through that index.
STEP_EVENTS = ("verified", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled", "reopened",
               "fused_into", "split_from")


def postgresql_only(index: Index) -> Index:
    """An index only PostgreSQL gets: one SQLite's planner has no use for, or takes for a worse
    plan. The schema comparison (``migrate.include_object_on``) knows it by ``info``."""
    index.info["only_on"] = "postgresql"
    return index.ddl_if(dialect="postgresql")


# How each database reads an event's status (``data``'s "status") in SQL.
EVENT_STATUS_SQL = {"postgresql": "(data ->> 'status')", "sqlite": "json_extract(data, '$.status')"}


def step_events_where(dialect: str) -> str:
    """The steps' condition as SQL text with literals only, so that PostgreSQL sees in a query the
    condition of the partial index, under a generic plan as well."""
    kinds, status = ", ".join(repr(k) for k in STEP_EVENTS), EVENT_STATUS_SQL[dialect]
    return (f"kind IN ({kinds}) OR (kind IN ('created', 'updated') AND {status} IS NOT NULL "
            f"AND {status} <> 'new')")


class Incident(Base):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "status", "priority", "reported_at"),
        Index(None, "district_code", "status"),
        Index(None, "org_code", "status"),
        Index(None, "reported_at"),
        # Linked reports of a parent only: nearly every incident has none, and an index of NULLs
        # leads SQLite (no statistics by default) to read the whole table through it (0010).
        Index(None, "parent_id", sqlite_where=text("parent_id IS NOT NULL"),
              postgresql_where=text("parent_id IS NOT NULL")),
        # search by a source's own number; the KPI rates' deadline windows (migration 0010)
        Index(None, "external_id"),
        Index(None, "acknowledge_due"),
        Index(None, "resolve_due"),
        # the wall's panels over the open set (by priority, by division, newest P1/P2) from the index alone
        Index(None, "status", "parent_id", "priority", "district_code", "reported_at"),
        # the open set's clocks, for "overdue now" (migration 0014)
        Index("ix_incident_open_clocks", "priority", "district_code",
              postgresql_include=list(OPEN_CLOCK_COLUMNS), postgresql_where=text(OPEN_SET),
              sqlite_where=text(OPEN_SET)),
        # a replay's backlog: every incident still open on a past day (migration 0015)
        postgresql_only(Index("ix_incident_still_going", "reported_at", postgresql_include=list(REPLAY_COLUMNS),
                              postgresql_where=text(STILL_GOING_SET))),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(60))
    external_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(80), default="")
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    status: Mapped[str] = mapped_column(String(20), default="new")
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    location_flag: Mapped[str | None] = mapped_column(String(30))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("district.code"))
    grid_code: Mapped[str | None] = mapped_column(String(40))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("org.code"))
    reported_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    acknowledge_due: Mapped[datetime | None]
    dispatch_due: Mapped[datetime | None]
    on_scene_due: Mapped[datetime | None]
    resolve_due: Mapped[datetime | None]
    satisfaction: Mapped[str | None] = mapped_column(String(30))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class IncidentEvent(Base):
    """The append-only timeline: audit trail, incident page timeline and KPI source."""

    __tablename__ = "incident_event"
    __table_args__ = (
        Index(None, "incident_id", "at"),
        postgresql_only(Index("ix_incident_event_steps", "incident_id", "at",
                              postgresql_where=text(step_events_where("postgresql")))),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WorkOrder(Base):
    """交办: an incident handed to a department or a town office."""

    __tablename__ = "work_order"
    __table_args__ = (Index(None, "org_code", "status"), Index(None, "incident_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    org_code: Mapped[str] = mapped_column(ForeignKey("org.code"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accept_by: Mapped[datetime | None]
    feedback_by: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    feedback: Mapped[str | None] = mapped_column(Text)
    feedback_photo_url: Mapped[str | None] = mapped_column(String(500))
    return_reason: Mapped[str | None] = mapped_column(Text)
    extension_until: Mapped[datetime | None]
    extension_reason: Mapped[str | None] = mapped_column(Text)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction: Mapped[str | None] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, default=1)


class Assignment(Base):
    """A unit dispatched to an incident, with the CAD interval stamps."""

    __tablename__ = "assignment"
    __table_args__ = (Index(None, "unit_id", "status"), Index(None, "incident_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("unit.id"))
    status: Mapped[str] = mapped_column(String(20), default="DISPATCHED")
    dispatched_at: Mapped[datetime] = mapped_column(default=utcnow)
    en_route_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)


class Alert(Base):
    """A CAP message, keyed as CAP keys it: (sender, identifier, sent)."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"), Index(None, "expires"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed: Mapped[str] = mapped_column(String(60))
    sender: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(200))
    sent: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    msg_type: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20), default="Public")
    event: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(40), default="")
    urgency: Mapped[str] = mapped_column(String(20), default="Unknown")
    severity: Mapped[str] = mapped_column(String(20), default="Unknown")
    certainty: Mapped[str] = mapped_column(String(20), default="Unknown")
    headline: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    instruction: Mapped[str] = mapped_column(Text, default="")
    areas: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    effective: Mapped[datetime | None]
    onset: Mapped[datetime | None]
    expires: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Sensor(Base):
    __tablename__ = "sensor"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    key_point_id: Mapped[str | None] = mapped_column(ForeignKey("key_point.id"))
    unit_of_measure: Mapped[str] = mapped_column(String(20), default="")
    warning_level: Mapped[float | None]
    alarm_level: Mapped[float | None]
    hysteresis: Mapped[float] = mapped_column(Float, default=0.0)
    state: Mapped[str] = mapped_column(String(20), default="normal")
    last_value: Mapped[float | None]
    last_at: Mapped[datetime | None]


class Reading(Base):
    __tablename__ = "reading"
    __table_args__ = (UniqueConstraint("sensor_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensor.id"))
    at: Mapped[datetime]
    value: Mapped[float]


# --- running the machine ----------------------------------------------------------------


class FeedState(Base):
    __tablename__ = "feed_state"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    cursor: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="ok")
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    lag_seconds: Mapped[float | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Outbox(Base):
    """Orders to agencies, written in the dispatch transaction and delivered with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    destination: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("org.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Audit(Base):
    __tablename__ = "audit"
    __table_args__ = (Index(None, "target_type", "target_id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- the command chain ----------------------------------------------------------------------


class MajorEvent(Base):
    """An emergency event (a typhoon, a flood) that groups incidents by window, area and category."""

    __tablename__ = "major_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="active")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    district_codes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    area: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Supervision(Base):
    """督办: a notice to the level above that a clock ran out on an incident or work order."""

    __tablename__ = "supervision"
    __table_args__ = (UniqueConstraint("target_type", "target_id", "clock"), Index(None, "org_code", "resolved_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(Integer)
    clock: Mapped[str] = mapped_column(String(30))
    org_code: Mapped[str | None] = mapped_column(ForeignKey("org.code"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resolved_at: Mapped[datetime | None]


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    name: Mapped[str] = mapped_column(String(80), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class KioskLink(Base):
    """A revocable read-only link for a wall screen; the URL carries a signed token naming it."""

    __tablename__ = "kiosk_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(80))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    __tablename__ = "login_attempt"
    __table_args__ = (Index(None, "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)


class SavedView(Base):
    """A user's named board view: its filters, sort and column layout."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("username", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- handlers' photos and feed controls (orders and feeds pages) ------------------------------


class WorkOrderPhoto(Base):
    """A photo a handler sent back with feedback, kept in the store so every web worker serves it."""

    __tablename__ = "work_order_photo"
    __table_args__ = (Index(None, "work_order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedControl(Base):
    """What an admin asked of a feed: paused, or its rejected records replayed on the next run."""

    __tablename__ = "feed_control"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str] = mapped_column(String(80), default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    replay_requested_at: Mapped[datetime | None]
    replay_done_at: Mapped[datetime | None]
    replay_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- change counters (ioc.store.changes) ------------------------------------------------------


class ChangeCounter(Base):
    """How many committed write transactions touched each topic; live screens compare these."""

    __tablename__ = "change_counter"

    topic: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


# --- anomalies against the baseline (ioc.read.anomalies) and triage feedback (ioc.chain.reclassify) ----


class Anomaly(Base):
    """A division × category whose count in one city hour stands far above the same hour of the
    week over the previous weeks; rewritten by each scan of that hour."""

    __tablename__ = "anomaly"
    __table_args__ = (UniqueConstraint("hour_start", "district_code", "category"), Index(None, "hour_start"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hour_start: Mapped[datetime]
    district_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer)
    usual: Mapped[float] = mapped_column(Float)  # the median of the same hour in the baseline weeks
    baseline: Mapped[list[Any]] = mapped_column(JSON, default=list)  # those weeks' counts, newest first
    p_value: Mapped[float] = mapped_column(Float)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriagePhrase(Base):
    """How often a triage phrase's suggestion was accepted or corrected by a duty officer, and to
    what: the list of phrases of ``triage.toml`` worth fixing."""

    __tablename__ = "triage_phrase"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # "category" or "division"
    phrase: Mapped[str] = mapped_column(String(100), primary_key=True)
    suggested: Mapped[str] = mapped_column(String(40), primary_key=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    corrected: Mapped[int] = mapped_column(Integer, default=0)
    corrected_to: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # value → times
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


class KpiDay(Base):
    """Additive KPI partial sums of one city day × division × category × channel × handling org
    (``ioc.read.kpi_days``), per definitions ``fingerprint``. The resolve clocks due that day are
    split by the city day their incident was closed (``closed_day``; NULL: not closed); the other
    measures sit on the NULL row."""

    __tablename__ = "kpi_day"
    __table_args__ = (Index(None, "fingerprint", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    district_code: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(30))
    org_code: Mapped[str | None] = mapped_column(String(40))
    closed_day: Mapped[date | None] = mapped_column(Date)
    volume: Mapped[int] = mapped_column(Integer, default=0)             # reported that day
    ack_total: Mapped[int] = mapped_column(Integer, default=0)          # acknowledge clocks due that day
    ack_met: Mapped[int] = mapped_column(Integer, default=0)
    resolve_total: Mapped[int] = mapped_column(Integer, default=0)      # resolve clocks due that day
    resolve_on_time: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)              # survey marks of those reported
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)


class KpiDayMark(Base):
    """How far the roll-up of one definitions fingerprint is built: days ``built_from`` to
    ``covered_to`` (excluded), incidents written before ``refreshed_at`` taken in. A close stamp
    still ahead when its day was summed counts as not closed; at ``recheck_at`` (the earliest
    such stamp) the days from ``recheck_from`` are summed again."""

    __tablename__ = "kpi_day_mark"

    fingerprint: Mapped[str] = mapped_column(String(16), primary_key=True)
    built_from: Mapped[date] = mapped_column(Date)
    covered_to: Mapped[date] = mapped_column(Date)
    refreshed_at: Mapped[datetime]
    recheck_at: Mapped[datetime | None]
    recheck_from: Mapped[date | None] = mapped_column(Date)


# What changed since a screen last looked: incidents written after a time.
Index(None, Incident.updated_at)
