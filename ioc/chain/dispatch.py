"""Dispatching units to incidents: run cards, recommendations that explain themselves, the
dispatch transaction (assignments + orders to agencies in one commit) and the CAD status chain.

Travel is estimated, not routed: straight-line (haversine) distance × a detour factor ÷ a speed
per unit type, all from the pack's ``dispatch.toml``. Good enough to rank nearby units and to
see which divisions a dispatch would leave uncovered; a routing engine can replace ``_eta_min``.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import shape
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ioc.chain import workflow
from ioc.chain.actions import Actor, audit, check_version, get_or_404, require, snapshot
from ioc.city.geo import EARTH_RADIUS_M
from ioc.city.pack import UnitType
from ioc.errors import Conflict, InvalidTransition, NotFound, UserError
from ioc.records import CATEGORIES, Priority
from ioc.store import models
from ioc.store.db import session_factory, transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

DISPATCH_FILE = "dispatch.toml"
FREE = ("AVAILABLE", "CLEARED")  # CLEARED = returning to quarters, can be sent again
ACTIVE = ("DISPATCHED", "EN_ROUTE", "ON_SCENE", "PATIENT_CONTACT", "TRANSPORTING", "AT_HOSPITAL")
OPEN_INCIDENT = ("new", "acknowledged", "dispatched", "on_scene")
# Forward moves only. DISPATCHED → ON_SCENE is allowed (crews forget the en-route button);
# DISPATCHED/EN_ROUTE → CLEARED is a stand-down before arrival.
NEXT_STATUS = {
    "DISPATCHED": ("EN_ROUTE", "ON_SCENE", "CLEARED"),
    "EN_ROUTE": ("ON_SCENE", "CLEARED"),
    "ON_SCENE": ("CLEARED",),
}
STAMP = {"EN_ROUTE": "en_route_at", "ON_SCENE": "on_scene_at", "CLEARED": "cleared_at"}
UNIT_AUDIT = ("status", "status_at", "version")
ASSIGNMENT_AUDIT = ("status", "dispatched_at", "en_route_at", "on_scene_at", "cleared_at", "version")


# --- rules -----------------------------------------------------------------------------------


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Need(_Rules):
    """One line of a run card: ``count`` units of any of ``types`` (for these priorities only)."""

    types: list[UnitType] = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=20)
    priorities: list[Priority] = []

    def label(self) -> str:
        return f"{' | '.join(self.types)} ×{self.count}"


Positive = Annotated[float, Field(gt=0, le=500)]

DEFAULT_SPEEDS = {"police_car": 40.0, "fire_engine": 35.0, "ambulance": 40.0, "urban_patrol": 25.0,
                  "rescue_team": 30.0}
DEFAULT_COVERAGE = {"police_car": 10.0, "fire_engine": 7.0, "ambulance": 12.0, "urban_patrol": 20.0,
                    "rescue_team": 30.0}
DEFAULT_CARDS: dict[str, list[dict[str, Any]]] = {
    "fire": [{"types": ["fire_engine"], "count": 2}, {"types": ["ambulance"]}],
    "rescue": [{"types": ["fire_engine", "rescue_team"]}],
    "hazmat": [{"types": ["fire_engine"], "count": 2}, {"types": ["ambulance"]}],
    "medical": [{"types": ["ambulance"]}],
    "traffic_accident": [{"types": ["police_car"]}, {"types": ["ambulance"], "priorities": ["P1", "P2"]}],
    **{c: [{"types": ["police_car"]}] for c in ("crime", "public_order", "dispute", "help", "suspicious",
                                                "traffic_jam")},
    "waterlogging": [{"types": ["urban_patrol", "rescue_team"]}],
    "fallen_tree": [{"types": ["urban_patrol", "rescue_team"]}],
    "flood_risk": [{"types": ["rescue_team"]}, {"types": ["urban_patrol"]}],
}


class DispatchRules(_Rules):
    """Run cards, speeds and coverage targets of a pack (``dispatch.toml``); defaults when absent."""

    detour_factor: float = Field(default=1.4, ge=1.0, le=3.0, description="road km per straight-line km")
    default_speed_kmh: Positive = 30.0
    speeds_kmh: dict[UnitType, Positive] = Field(default_factory=lambda: dict(DEFAULT_SPEEDS))
    coverage_minutes: dict[UnitType, Positive] = Field(default_factory=lambda: dict(DEFAULT_COVERAGE))
    run_cards: dict[str, list[Need]] = Field(
        default_factory=lambda: {k: [Need.model_validate(n) for n in v] for k, v in DEFAULT_CARDS.items()})

    @field_validator("run_cards")
    @classmethod
    def _known_categories(cls, cards: dict[str, list[Need]]) -> dict[str, list[Need]]:
        unknown = sorted(set(cards) - set(CATEGORIES) - {"default"})
        if unknown:
            raise ValueError(f"unknown categories {', '.join(unknown)} (use those of ioc/records.py or 'default')")
        return cards

    def speed(self, unit_type: str) -> float:
        return self.speeds_kmh.get(unit_type, self.default_speed_kmh)  # type: ignore[call-overload]

    def target_minutes(self, unit_type: str) -> float:
        return self.coverage_minutes.get(unit_type, 15.0)  # type: ignore[call-overload]

    def needs(self, category: str, priority: str) -> list[Need]:
        """The card's lines that apply at ``priority``; lines asking for the same types add up."""
        card = self.run_cards.get(category, self.run_cards.get("default", []))
        merged: dict[tuple[str, ...], int] = {}
        for need in card:
            if not need.priorities or priority in need.priorities:
                key = tuple(need.types)
                merged[key] = merged.get(key, 0) + need.count
        return [Need(types=list(types), count=count) for types, count in merged.items()]


def load_dispatch_rules(pack_dir: Path) -> DispatchRules:
    """Read ``<pack>/dispatch.toml``; tables it gives override the defaults key by key."""
    file = pack_dir / DISPATCH_FILE
    if not file.exists():
        return DispatchRules()
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{file}: not valid TOML: {exc}", key="bad_toml", file=str(file), error=str(exc)) from None
    for key, default in (("speeds_kmh", DEFAULT_SPEEDS), ("coverage_minutes", DEFAULT_COVERAGE),
                         ("run_cards", DEFAULT_CARDS)):
        if isinstance(data.get(key), dict):
            data[key] = {**default, **data[key]}
    try:
        return DispatchRules.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "value"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise UserError(f"{file}: {where}: {msg}", key="bad_setting", file=str(file), where=where, error=msg) from None


# --- recommendations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """One candidate unit for one run-card need, with the reasons it ranks where it does."""

    need: str
    unit_id: str
    call_sign: str
    unit_type: str
    org_code: str
    status: str
    distance_km: float
    eta_min: float
    load: int
    coverage_gap: tuple[str, ...]  # divisions left with no unit of this type in target time
    suggested: bool  # among the first units that fill the card


@dataclass
class _Fleet:
    """Free units of the needed types as parallel arrays."""

    ids: list[str]
    call_signs: list[str]
    types: np.ndarray
    orgs: list[str]
    statuses: list[str]
    lon: np.ndarray
    lat: np.ndarray
    load: np.ndarray


def haversine_km(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Great-circle distance in km, broadcasting over numpy arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M / 1000 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def recommend(engine: Engine, incident_id: int, now: datetime | None = None, limit: int = 5,
              rules: DispatchRules | None = None) -> list[Recommendation]:
    """Up to ``limit`` free units per run-card need, nearest ETA first.

    ``now`` is accepted for symmetry with the writes; positions are read as they stand.
    """
    rules = rules or DispatchRules()
    with session_factory(engine)() as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident", lock=False)
        needs = rules.needs(incident.category, incident.priority)
        if not needs:
            return []
        divisions = _division_points(session)
        lon, lat = _incident_place(incident, divisions)
        wanted = sorted({t for need in needs for t in need.types})
        fleet = _free_units(session, wanted, incident.id)
    eta = _eta_min(rules, fleet.types, haversine_km(fleet.lon, fleet.lat, lon, lat))
    gaps = _coverage_gaps(rules, fleet, divisions)
    out: list[Recommendation] = []
    taken: set[str] = set()
    for need in needs:
        pool = np.flatnonzero(np.isin(fleet.types, need.types))
        order = pool[np.lexsort((fleet.load[pool], eta[pool]))]
        picked = 0
        for i in order[:limit]:
            suggested = picked < need.count and fleet.ids[i] not in taken
            if suggested:
                picked += 1
                taken.add(fleet.ids[i])
            out.append(Recommendation(
                need=need.label(), unit_id=fleet.ids[i], call_sign=fleet.call_signs[i],
                unit_type=str(fleet.types[i]), org_code=fleet.orgs[i], status=fleet.statuses[i],
                distance_km=round(float(haversine_km(fleet.lon[i], fleet.lat[i], lon, lat)), 2),
                eta_min=round(float(eta[i]), 1), load=int(fleet.load[i]), coverage_gap=gaps[i],
                suggested=suggested))
    return out


def _eta_min(rules: DispatchRules, types: np.ndarray, km: np.ndarray) -> np.ndarray:
    speeds = np.array([rules.speed(t) for t in types], dtype=float)
    if km.ndim == 2:
        speeds = speeds[np.newaxis, :]
    return km * rules.detour_factor / speeds * 60.0


@dataclass
class _Divisions:
    codes: list[str]
    lon: np.ndarray
    lat: np.ndarray


def _division_points(session: Session) -> _Divisions:
    """A point inside each division: the centroid, or a representative point when it falls outside."""
    rows = session.execute(select(models.District.code, models.District.geometry)
                           .order_by(models.District.code)).all()
    geoms = [shape(g) for _, g in rows]
    centroids = shapely.centroid(geoms)
    inside = shapely.contains(geoms, centroids)
    points = np.where(inside, centroids, shapely.point_on_surface(geoms))
    return _Divisions([c for c, _ in rows], shapely.get_x(points), shapely.get_y(points))


def _incident_place(incident: models.Incident, divisions: _Divisions) -> tuple[float, float]:
    if incident.lon is not None and incident.lat is not None:
        return incident.lon, incident.lat
    if incident.district_code in divisions.codes:
        i = divisions.codes.index(incident.district_code)
        return float(divisions.lon[i]), float(divisions.lat[i])
    raise UserError(f"incident {incident.id} has no location or division; set its place before dispatching",
                    key="no_place", id=incident.id)


def _free_units(session: Session, unit_types: list[str], incident_id: int) -> _Fleet:
    u, home = models.Unit, models.KeyPoint
    load = dict(session.execute(
        select(models.Assignment.unit_id, func.count()).where(models.Assignment.status.in_(ACTIVE))
        .group_by(models.Assignment.unit_id)).all())
    on_this = set(session.scalars(select(models.Assignment.unit_id).where(
        models.Assignment.incident_id == incident_id, models.Assignment.status.in_(ACTIVE))))
    rows = [r for r in session.execute(
        select(u.id, u.call_sign, u.unit_type, u.org_code, u.status,
               func.coalesce(u.lon, home.lon), func.coalesce(u.lat, home.lat))
        .outerjoin(home, home.id == u.home_point_id)
        .where(u.unit_type.in_(unit_types), u.status.in_(FREE))
        .order_by(u.id)).all() if r[0] not in on_this and r[5] is not None]
    return _Fleet(
        ids=[r[0] for r in rows], call_signs=[r[1] for r in rows],
        types=np.array([r[2] for r in rows], dtype=object), orgs=[r[3] for r in rows],
        statuses=[r[4] for r in rows], lon=np.array([r[5] for r in rows], dtype=float),
        lat=np.array([r[6] for r in rows], dtype=float),
        load=np.array([load.get(r[0], 0) for r in rows], dtype=int))


def _coverage_gaps(rules: DispatchRules, fleet: _Fleet, divisions: _Divisions) -> list[tuple[str, ...]]:
    """Per unit: divisions that only it covers within its type's target minutes.

    One (divisions × units) ETA matrix per unit type; a division covered by exactly one unit
    becomes a gap when that unit leaves.
    """
    gaps: list[tuple[str, ...]] = [()] * len(fleet.ids)
    if not divisions.codes:
        return gaps
    codes = np.array(divisions.codes, dtype=object)
    for unit_type in set(fleet.types.tolist()):
        cols = np.flatnonzero(fleet.types == unit_type)
        km = haversine_km(fleet.lon[cols][np.newaxis, :], fleet.lat[cols][np.newaxis, :],
                          divisions.lon[:, np.newaxis], divisions.lat[:, np.newaxis])
        covers = _eta_min(rules, fleet.types[cols], km) <= rules.target_minutes(unit_type)
        sole = covers & (covers.sum(axis=1) == 1)[:, np.newaxis]
        for j, col in enumerate(cols):
            gaps[col] = tuple(codes[sole[:, j]].tolist())
    return gaps


# --- dispatch ----------------------------------------------------------------------------------


def dispatch(engine: Engine, actor: Actor, incident_id: int, unit_ids: list[str], seen_version: int | None = None,
             now: datetime | None = None) -> list[models.Assignment]:
    """Send units to an incident: assignments, unit statuses, the incident and one order per unit
    to its agency's outbox, all in one commit. A unit someone else took first → ``Conflict``."""
    require(actor, "unit.dispatch")
    now = now or utcnow()
    if not unit_ids:
        raise UserError("choose at least one unit to dispatch", key="no_units_chosen")
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident")
        check_version("incident", incident_id, incident.version, seen_version)
        if incident.status not in OPEN_INCIDENT:
            raise InvalidTransition(f"incident {incident_id} is {incident.status}; only open incidents get units",
                                    key="dispatch_state", id=incident_id, status=incident.status)
        units = _lock_units(session, sorted(set(unit_ids)))
        units_before = {u.id: snapshot(u, UNIT_AUDIT) for u in units}
        for unit in units:
            _take_unit(session, unit, now)
        first = incident.dispatched_at is None
        workflow.advance_in(session, incident, actor, "dispatched", now, {"units": [u.id for u in units]})
        assignments = [models.Assignment(incident_id=incident.id, unit_id=u.id, status="DISPATCHED",
                                         dispatched_at=now) for u in units]
        session.add_all(assignments)
        session.flush()
        for unit, assignment in zip(units, assignments, strict=True):
            session.add(_order(incident, unit, assignment, now))
            audit(session, actor, "unit.dispatch", "unit", unit.id, units_before[unit.id],
                  snapshot(unit, UNIT_AUDIT) | {"incident_id": incident.id, "assignment_id": assignment.id})
        session.add(models.IncidentEvent(
            incident_id=incident.id, at=now, kind="units_dispatched", actor=actor.username,
            data={"units": [u.id for u in units], "assignments": [a.id for a in assignments], "first": first}))
    log.info("%s dispatched %s to incident %s", actor.username, ", ".join(u.id for u in units), incident_id)
    return assignments


def _lock_units(session: Session, unit_ids: list[str]) -> list[models.Unit]:
    """The units, row-locked on PostgreSQL (in id order, so two dispatches never deadlock)."""
    units = list(session.scalars(select(models.Unit).where(models.Unit.id.in_(unit_ids))
                                 .order_by(models.Unit.id).with_for_update()))
    missing = sorted(set(unit_ids) - {u.id for u in units})
    if missing:
        raise NotFound(f"unit {', '.join(missing)} does not exist", key="no_unit", units=", ".join(missing))
    return units


def _take_unit(session: Session, unit: models.Unit, now: datetime) -> None:
    """Compare-and-set the unit to DISPATCHED; on SQLite (no row locks) this is what serialises."""
    if unit.status not in FREE:
        raise _busy(session, unit)
    taken = session.execute(
        update(models.Unit)
        .where(models.Unit.id == unit.id, models.Unit.status.in_(FREE), models.Unit.version == unit.version)
        .values(status="DISPATCHED", status_at=now, version=unit.version + 1)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        session.refresh(unit)
        raise _busy(session, unit)
    session.refresh(unit)


def _busy(session: Session, unit: models.Unit) -> Conflict:
    holder = session.execute(
        select(models.Assignment.incident_id, models.Assignment.status)
        .where(models.Assignment.unit_id == unit.id, models.Assignment.status.in_(ACTIVE))
        .order_by(models.Assignment.dispatched_at.desc(), models.Assignment.id.desc()).limit(1)).first()
    name = f"unit {unit.id} ({unit.call_sign})"
    if holder:
        return Conflict(f"{name} is already {holder.status} to incident {holder.incident_id}; choose another unit",
                        key="unit_busy", unit=unit.call_sign, unit_status=holder.status, id=holder.incident_id)
    return Conflict(f"{name} is {unit.status}, not available; choose another unit",
                    key="unit_unavailable", unit=unit.call_sign, unit_status=unit.status)


def _order(incident: models.Incident, unit: models.Unit, assignment: models.Assignment,
           now: datetime) -> models.Outbox:
    """The dispatch order to the unit's agency; the assignment id is the receiver's idempotency key."""
    return models.Outbox(
        kind="dispatch_order", destination=unit.org_code, created_at=now,
        payload={"order_id": assignment.id, "unit_id": unit.id, "incident_id": incident.id,
                 "lon": incident.lon, "lat": incident.lat, "category": incident.category,
                 "priority": incident.priority, "address": incident.address})


# --- a unit's own status, by hand ---------------------------------------------------------------

MANUAL_STATUSES = ("AVAILABLE", "OUT_OF_SERVICE", "STAGED")


def set_unit_status(engine: Engine, actor: Actor, unit_id: str, status: str, seen_version: int | None = None,
                    now: datetime | None = None) -> models.Unit:
    """In service, out of service or staged, set by a person for units whose agency has no feed.
    A unit on a job moves through its assignment (``update_assignment_status``) instead."""
    require(actor, "unit.status")
    if status not in MANUAL_STATUSES:
        raise UserError(f"a unit's status can be set by hand to {', '.join(MANUAL_STATUSES)}, not {status!r}",
                        key="unit_manual_status", unit_status=status)
    now = now or utcnow()
    with transaction(engine) as session:
        unit = get_or_404(session, models.Unit, unit_id, "unit")
        check_version("unit", unit_id, unit.version, seen_version)
        if unit.status in ACTIVE:
            raise InvalidTransition(f"unit {unit_id} ({unit.call_sign}) is {unit.status} on a job; move it through "
                                    "its assignment (en route, on scene, cleared)",
                                    key="unit_on_job", unit=unit.call_sign, unit_status=unit.status)
        before = snapshot(unit, UNIT_AUDIT)
        unit.status, unit.status_at, unit.version = status, now, unit.version + 1
        audit(session, actor, "unit.status", "unit", unit_id, before, snapshot(unit, UNIT_AUDIT))
    log.info("%s set unit %s %s", actor.username, unit_id, status)
    return unit


# --- the CAD status chain ---------------------------------------------------------------------


def update_assignment_status(engine: Engine, actor: Actor, assignment_id: int, status: str,
                             now: datetime | None = None, seen_version: int | None = None) -> models.Assignment:
    """DISPATCHED → EN_ROUTE → ON_SCENE → CLEARED, with the unit and the incident moving along."""
    require(actor, "unit.status")
    now = now or utcnow()
    with transaction(engine) as session:
        keys = session.execute(select(models.Assignment.incident_id, models.Assignment.unit_id)
                               .where(models.Assignment.id == assignment_id)).first()
        if keys is None:
            raise NotFound(f"assignment {assignment_id} does not exist", key="no_assignment", id=assignment_id)
        # Lock in the order dispatch() does: incident, unit, then the assignment.
        incident = get_or_404(session, models.Incident, keys.incident_id, "incident")
        unit = get_or_404(session, models.Unit, keys.unit_id, "unit")
        assignment = get_or_404(session, models.Assignment, assignment_id, "assignment")
        check_version("assignment", assignment_id, assignment.version, seen_version)
        if status not in NEXT_STATUS.get(assignment.status, ()):
            allowed = ", ".join(NEXT_STATUS.get(assignment.status, ())) or "nothing (it is finished)"
            raise InvalidTransition(f"assignment {assignment_id} of unit {unit.id} is {assignment.status}; "
                                    f"it can move to {allowed}, not {status}", key="assignment_move",
                                    unit=unit.call_sign, unit_status=assignment.status, to_status=status)
        move_assignment(session, actor, incident, unit, assignment, status, now)
    return assignment


def move_assignment(session: Session, actor: Actor, incident: models.Incident, unit: models.Unit,
                    assignment: models.Assignment, status: str, now: datetime) -> None:
    """Stamp the assignment, move the unit with it (CLEARED frees it) and the incident on arrival.

    Inside the caller's transaction: used by ``update_assignment_status`` and by the ingest
    pipeline when a CAD feed reports a unit's progress on an order we sent.
    """
    before, unit_before = snapshot(assignment, ASSIGNMENT_AUDIT), snapshot(unit, UNIT_AUDIT)
    previous = assignment.status
    assignment.status = status
    setattr(assignment, STAMP[status], now)
    assignment.version += 1
    unit.status = "AVAILABLE" if status == "CLEARED" else status
    unit.status_at, unit.version = now, unit.version + 1
    first_on_scene = status == "ON_SCENE" and incident.on_scene_at is None
    if status == "ON_SCENE" and incident.status in workflow.OPEN:
        workflow.advance_in(session, incident, actor, "on_scene", now, {"unit": unit.id})
    session.add(models.IncidentEvent(
        incident_id=incident.id, at=now, kind="unit_status", actor=actor.username,
        data={"assignment": assignment.id, "unit": unit.id, "from": previous, "to": status,
              "first_on_scene": first_on_scene}))
    audit(session, actor, "unit.status", "assignment", assignment.id, before, snapshot(assignment, ASSIGNMENT_AUDIT))
    audit(session, actor, "unit.status", "unit", unit.id, unit_before, snapshot(unit, UNIT_AUDIT))
