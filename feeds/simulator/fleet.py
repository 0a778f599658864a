"""Responders on the ground: who is free, who goes, and how they move.

Every unit of the pack starts in quarters at its home station. A job is a short plan of steps —
change status after a delay, or drive in a straight line to a point at the unit type's speed —
and each step reports a vendor status code (DP, ER, OS, PC, TR, AH, CLR, RTQ, AQ) with the
unit's position, plus a position update every two sim-minutes while it drives. A newer job
(another dispatch, or an agency order) replaces the current one; the old job's pending steps
see that and do nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from feeds.simulator.geography import distance_km, interpolate
from ioc.city.pack import CityPack

log = logging.getLogger(__name__)

POSITION_STEP = 120.0  # seconds between position reports while driving
DETOUR = 1.3  # roads are longer than the straight line
SPEED_KPH = {"police_car": 32.0, "fire_engine": 36.0, "ambulance": 40.0, "rescue_team": 30.0, "urban_patrol": 25.0}
AVAILABLE_CODES = frozenset({"AQ", "AM", "CLR", "RTQ"})
# Which CAD publishes a unit's status: police cars on the 110 system, the rest on the emergency one.
POLICE_TYPES = frozenset({"police_car"})


class Scheduler(Protocol):
    def at(self, t: float, key: str, fn: Callable[..., None], *args: Any) -> None: ...
    def emit_unit(self, unit: SimUnit, code: str, t: float) -> None: ...


@dataclass(slots=True)
class Move:
    start: tuple[float, float]
    end: tuple[float, float]
    t0: float
    t1: float

    def position(self, t: float) -> tuple[float, float]:
        if self.t1 <= self.t0:
            return self.end
        return interpolate(self.start, self.end, (t - self.t0) / (self.t1 - self.t0))


@dataclass(slots=True)
class SimUnit:
    id: str
    unit_type: str
    home: tuple[float, float]
    code: str = "AQ"
    position: tuple[float, float] = (0.0, 0.0)
    move: Move | None = None
    job: int = 0
    incident_id: str | None = None
    last_at: int = 0

    @property
    def available(self) -> bool:
        return self.code in AVAILABLE_CODES

    @property
    def police(self) -> bool:
        return self.unit_type in POLICE_TYPES

    def where(self, t: float) -> tuple[float, float]:
        return self.move.position(t) if self.move else self.position


# A step: ("at", code, delay_seconds) or ("go", code_while_driving, (lon, lat)).
Step = tuple[str, str, Any]
Hook = Callable[[str, float], None]


@dataclass(slots=True)
class Job:
    unit: SimUnit
    number: int
    steps: list[Step]
    incident_id: str | None
    hook: Hook | None = None
    index: int = field(default=0)


class Fleet:
    def __init__(self, pack: CityPack) -> None:
        points = {p.id: p for p in pack.key_points()}
        self.units: dict[str, SimUnit] = {}
        for u in pack.units():
            home = points.get(u.home_point_id)
            if home is None:
                continue
            self.units[u.id] = SimUnit(u.id, u.unit_type, (home.lon, home.lat), position=(home.lon, home.lat))
        self._jobs = 0

    def nearest_available(self, unit_type: str, lon: float, lat: float, t: float) -> SimUnit | None:
        best, best_km = None, float("inf")
        for unit in self.units.values():
            if unit.unit_type == unit_type and unit.available:
                x, y = unit.where(t)
                km = distance_km(x, y, lon, lat)
                if km < best_km:
                    best, best_km = unit, km
        return best

    def start_job(self, world: Scheduler, unit: SimUnit, t: float, steps: list[Step],
                  incident_id: str | None, hook: Hook | None = None) -> Job:
        """Give ``unit`` a new plan from time ``t``, replacing whatever it was doing."""
        unit.position = unit.where(t)
        unit.move = None
        self._jobs += 1
        unit.job = self._jobs
        unit.incident_id = incident_id
        job = Job(unit, self._jobs, steps, incident_id, hook)
        self._run(world, job, t)
        return job

    def _run(self, world: Scheduler, job: Job, t: float) -> None:
        """Carry out steps from ``job.index`` that are due at ``t``; schedule the next one."""
        unit = job.unit
        if unit.job != job.number:
            return
        while job.index < len(job.steps):
            kind, code, arg = job.steps[job.index]
            if kind == "at":
                due = t + float(arg)
                if due > t:
                    job.steps[job.index] = ("at", code, 0)
                    world.at(due, f"unit|{unit.id}|{job.number}|{job.index}", self._run, world, job, due)
                    return
                self._status(world, job, code, t)
                job.index += 1
            else:
                job.index += 1
                self._drive(world, job, code, arg, t)
                return

    def _status(self, world: Scheduler, job: Job, code: str, t: float) -> None:
        unit = job.unit
        unit.code = code
        if code in ("AQ", "AM"):
            unit.incident_id = None
        world.emit_unit(unit, code, t)
        if job.hook:
            job.hook(code, t)

    def _drive(self, world: Scheduler, job: Job, code: str, dest: tuple[float, float], t: float) -> None:
        unit = job.unit
        start = unit.where(t)
        hours = distance_km(*start, *dest) * DETOUR / SPEED_KPH.get(unit.unit_type, 30.0)
        unit.move = Move(start, dest, t, t + max(hours * 3600, 30.0))
        unit.position = start
        tick = t + POSITION_STEP
        while tick < unit.move.t1:
            world.at(tick, f"pos|{unit.id}|{job.number}|{tick:.0f}", self._report, world, job, code, tick)
            tick += POSITION_STEP
        world.at(unit.move.t1, f"arrive|{unit.id}|{job.number}", self._arrive, world, job, unit.move.t1)

    def _report(self, world: Scheduler, job: Job, code: str, t: float) -> None:
        if job.unit.job == job.number:
            world.emit_unit(job.unit, code, t)

    def _arrive(self, world: Scheduler, job: Job, t: float) -> None:
        unit = job.unit
        if unit.job != job.number or unit.move is None:
            return
        unit.position = unit.move.end
        unit.move = None
        self._run(world, job, t)


def response_plan(unit_type: str, scene: tuple[float, float], home: tuple[float, float],
                  turnout: float, on_scene: float, hospital: tuple[float, float] | None = None,
                  handover: float = 900.0) -> list[Step]:
    """The usual plan: dispatched, en route, on scene, (EMS: patient, transport, hospital), back home."""
    steps: list[Step] = [("at", "DP", 0), ("at", "ER", turnout), ("go", "ER", scene), ("at", "OS", 0)]
    if unit_type == "ambulance" and hospital is not None:
        steps += [("at", "PC", 90), ("at", "TR", on_scene), ("go", "TR", hospital), ("at", "AH", 0),
                  ("at", "CLR", handover)]
    else:
        steps += [("at", "CLR", on_scene)]
    steps += [("at", "RTQ", 60), ("go", "RTQ", home), ("at", "AQ", 0)]
    return steps
