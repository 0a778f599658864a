"""Emergency calls (110 police, 119 fire, 120 ambulance) and how the CAD handles each one.

A call becomes a CAD incident at once (已接警). Urgent ones are dispatched after a processing
delay: the nearest free unit of the right type leaves its station (or wherever it is), and the
incident follows its units: 已派警 → 已到场 → 已结警 when the last unit clears. Calls that need
no unit are closed by the call-taker within minutes. All random choices of a call are drawn when
it is created, so its story depends only on the seed and on which units happen to be free.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from feeds.simulator.fleet import SimUnit, response_plan
from feeds.simulator.geography import Place, distance_km

log = logging.getLogger(__name__)

# category -> (vendor category, [(type code, type name), ...])
CALL_TYPES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "crime": ("刑事", [("0101", "盗窃"), ("0102", "抢夺"), ("0103", "电信诈骗"), ("0104", "入室盗窃")]),
    "public_order": ("治安", [("0201", "打架斗殴"), ("0202", "醉酒滋事"), ("0203", "聚众赌博")]),
    "dispute": ("纠纷", [("0301", "家庭纠纷"), ("0302", "邻里纠纷"), ("0303", "劳资纠纷"), ("0304", "经济纠纷")]),
    "traffic_accident": ("交通事故", [("0401", "交通事故（财损）"), ("0402", "交通事故（伤人）")]),
    "traffic_jam": ("交通拥堵", [("0501", "道路拥堵"), ("0502", "车辆乱停堵路")]),
    "help": ("求助", [("0601", "群众求助"), ("0602", "走失人员"), ("0603", "开锁求助")]),
    "suspicious": ("可疑", [("0701", "可疑人员"), ("0702", "可疑车辆")]),
    "consultation": ("咨询", [("0901", "政策咨询"), ("0902", "非警务咨询")]),
    "noise": ("治安", [("0204", "噪音扰民")]),
    "waterlogging": ("道路积水", [("0801", "道路积水")]),
    "fallen_tree": ("树木倒伏", [("0802", "树木倒伏")]),
    "fire": ("火灾", [("1101", "住宅火灾"), ("1102", "车辆火灾"), ("1103", "厂房火灾"), ("1104", "垃圾杂物起火")]),
    "rescue": ("抢险救援", [("1201", "电梯困人"), ("1202", "交通事故救援"), ("1203", "水域救援"), ("1204", "被困救援")]),
    "hazmat": ("危化品", [("1301", "危化品泄漏")]),
    "medical": ("医疗急救", [("2001", "急病"), ("2002", "创伤"), ("2003", "胸痛"), ("2004", "卒中"), ("2005", "交通伤")]),
}
# P1..P4 weights per category.
PRIORITY_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "crime": (.2, .4, .35, .05), "public_order": (.15, .45, .35, .05), "traffic_accident": (.15, .45, .35, .05),
    "fire": (.5, .4, .1, 0), "rescue": (.4, .45, .15, 0), "hazmat": (.6, .4, 0, 0), "medical": (.3, .45, .25, 0),
    "consultation": (0, 0, .3, .7), "noise": (0, .1, .6, .3),
}
DEFAULT_PRIORITY = (.05, .25, .55, .15)
# Probability that a 110 call of each priority gets a patrol car.
POLICE_DISPATCH = (1.0, .4, .1, 0.0)
CENTRE_PREFIX = {"110": "J", "119": "F", "120": "E"}


@dataclass(slots=True)
class Assignment:
    unit_id: str
    dispatched_at: float
    en_route_at: float | None = None
    on_scene_at: float | None = None
    cleared_at: float | None = None


@dataclass(slots=True)
class CadIncident:
    id: str
    centre: str
    received_at: float
    category: str
    type_code: str
    type_name: str
    vendor_category: str
    priority: int
    place: Place
    description: str
    status: str = "已接警"
    units: list[Assignment] = field(default_factory=list)
    closed_at: float | None = None
    # Drawn at creation: processing, turnout, on-scene and close delays (seconds), dispatch or not.
    timing: tuple[float, ...] = ()
    dispatch: bool = False
    withdrawn: bool = False  # the caller called back to cancel

    @property
    def log_name(self) -> str:
        return "police" if self.centre == "110" else "emergency"


def new_call(world: Any, rng: random.Random, centre: str, category: str, t: float, number: str) -> CadIncident:
    """Create one call of ``category`` at ``t`` and schedule what happens to it."""
    vendor, types = CALL_TYPES.get(category, ("其他", [("9999", "其他")]))
    code, name = rng.choice(types)
    priority = 1 + _weighted_index(rng, PRIORITY_WEIGHTS.get(category, DEFAULT_PRIORITY))
    place = world.places.report_place(rng, category, near_flood_point=0.7)
    incident = CadIncident(
        id=f"{CENTRE_PREFIX[centre]}{number}", centre=centre, received_at=t, category=category,
        type_code=code, type_name=name, vendor_category=vendor, priority=priority, place=place,
        description=f"报警称{place.address}附近{name}，请求处置",
        timing=(
            rng.uniform(60, 150) if priority <= 2 else rng.uniform(180, 600),  # processing
            rng.uniform(30, 90),  # turnout
            _on_scene_seconds(rng, centre, category),
            rng.uniform(120, 1200),  # call-taker closes a call without dispatch
            rng.uniform(600, 1500),  # hospital handover
        ),
        dispatch=_needs_unit(rng, centre, priority),
    )
    incident.withdrawn = not incident.dispatch and rng.random() < 0.03
    world.at(t, f"call|{incident.id}", _received, world, incident)
    return incident


def _received(world: Any, incident: CadIncident) -> None:
    world.changed(incident.log_name, incident, incident.received_at)
    processing, _, _, phone_close, _ = incident.timing
    if incident.dispatch:
        world.at(incident.received_at + processing, f"dispatch|{incident.id}", _dispatch, world, incident)
    else:
        closing = incident.received_at + phone_close
        world.at(closing, f"close|{incident.id}", _close, world, incident, closing)


def _dispatch(world: Any, incident: CadIncident) -> None:
    t = incident.received_at + incident.timing[0]
    units = [u for u in (world.fleet.nearest_available(kind, incident.place.lon, incident.place.lat, t)
                         for kind in _unit_types(incident)) if u is not None]
    if not units:
        log.debug("no free unit for %s; closing it by phone", incident.id)
        world.at(t + incident.timing[3], f"close|{incident.id}", _close, world, incident, t + incident.timing[3])
        return
    incident.status = "已派警" if incident.centre == "110" else "已派车"
    for unit in units:
        _send(world, incident, unit, t)
    world.changed(incident.log_name, incident, t)


def _send(world: Any, incident: CadIncident, unit: SimUnit, t: float) -> None:
    _, turnout, on_scene, _, handover = incident.timing
    scene = (incident.place.lon, incident.place.lat)
    hospital = _nearest_hospital(world, scene) if unit.unit_type == "ambulance" else None
    steps = response_plan(unit.unit_type, scene, unit.home, turnout, on_scene, hospital, handover)
    assignment = Assignment(unit.id, t)
    incident.units.append(assignment)

    def hook(code: str, at: float) -> None:
        _unit_progress(world, incident, assignment, code, at)

    world.fleet.start_job(world, unit, t, steps, incident.id, hook)


def _unit_progress(world: Any, incident: CadIncident, assignment: Assignment, code: str, at: float) -> None:
    if code == "ER":
        assignment.en_route_at = at
    elif code == "OS":
        assignment.on_scene_at = at
        if incident.status not in ("已到场", "已结警"):
            incident.status = "已到场"
    elif code == "CLR":
        assignment.cleared_at = at
        if all(a.cleared_at for a in incident.units):
            world.at(at + 180, f"close|{incident.id}", _close, world, incident, at + 180)
    else:
        return
    world.changed(incident.log_name, incident, at)


def _close(world: Any, incident: CadIncident, t: float) -> None:
    if incident.closed_at is not None:
        return
    incident.status = "已撤销" if incident.withdrawn else "已结警"
    incident.closed_at = t
    world.changed(incident.log_name, incident, t)


def _unit_types(incident: CadIncident) -> list[str]:
    if incident.centre == "110":
        return ["police_car"]
    if incident.centre == "120":
        return ["ambulance"]
    types = ["fire_engine"]
    if incident.priority == 1 and incident.category == "fire":
        types.append("fire_engine")
    if incident.category in ("rescue", "waterlogging", "fallen_tree"):
        types.append("rescue_team")
    return types


def _needs_unit(rng: random.Random, centre: str, priority: int) -> bool:
    if centre == "110":
        return rng.random() < POLICE_DISPATCH[priority - 1]
    if centre == "120":
        return rng.random() < 0.85
    return True


def _on_scene_seconds(rng: random.Random, centre: str, category: str) -> float:
    if centre == "120":
        return rng.uniform(600, 1200)
    if category == "fire":
        return rng.uniform(1800, 5400)
    if centre == "119":
        return rng.uniform(1200, 3600)
    return rng.uniform(600, 2400)




def _nearest_hospital(world: Any, scene: tuple[float, float]) -> tuple[float, float] | None:
    hospitals = world.places.kind("hospital")
    if not hospitals:
        return None
    best = min(hospitals, key=lambda h: distance_km(h.lon, h.lat, *scene))
    return best.lon, best.lat


def _weighted_index(rng: random.Random, weights: tuple[float, ...]) -> int:
    x = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return len(weights) - 1
