"""Urban management: 数字城管 / 智网 cases moving through their states, and AI camera detections.

A case is reported (受理), filed (立案), dispatched (派遣), handled (处置), checked (核查) and
closed (结案); a few are voided (作废), returned once (回退) or extended (延期). A camera sees a
condition and reports it one to three times a few minutes apart, with its own confidence.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from feeds.simulator.geography import Place, pick

log = logging.getLogger(__name__)

HOUR = 3600.0
# category -> [(class, major class, minor class), ...] after GB/T 30428.
CASE_CLASSES: dict[str, list[tuple[str, str, str]]] = {
    "street_vending": [("事件", "街面秩序", "占道经营"), ("事件", "街面秩序", "流动摊贩")],
    "garbage": [("事件", "市容环境", "暴露垃圾"), ("部件", "市容环境", "垃圾箱")],
    "illegal_ad": [("事件", "宣传广告", "乱张贴"), ("事件", "宣传广告", "非法小广告")],
    "illegal_construction": [("事件", "市容环境", "违章搭建")],
    "construction": [("事件", "施工管理", "施工扰民"), ("事件", "施工管理", "工地扬尘")],
    "muck_spill": [("事件", "市容环境", "渣土撒漏")],
    "road_damage": [("部件", "道路交通", "道路破损"), ("事件", "突发事件", "道路塌陷")],
    "manhole_cover": [("部件", "公用设施", "井盖"), ("部件", "公用设施", "雨水井盖")],
    "street_light": [("部件", "公用设施", "路灯")],
    "facility_damage": [("部件", "道路交通", "护栏"), ("部件", "道路交通", "交通标志牌"), ("部件", "道路交通", "公交站亭")],
    "greening": [("部件", "园林绿化", "行道树")],
    "waterlogging": [("事件", "突发事件", "道路积水")],
    "fallen_tree": [("事件", "突发事件", "树木倒伏")],
}
DETAILS: dict[str, str] = {
    "占道经营": "有商贩占用人行道经营", "流动摊贩": "流动摊贩聚集", "暴露垃圾": "路边有暴露垃圾未清理",
    "垃圾箱": "垃圾箱破损满溢", "乱张贴": "墙面有乱张贴", "非法小广告": "电线杆上有非法小广告",
    "违章搭建": "发现疑似违章搭建", "施工扰民": "工地夜间施工噪音扰民", "工地扬尘": "工地未覆盖扬尘严重",
    "渣土撒漏": "路面有渣土撒漏", "道路破损": "路面破损坑洼", "道路塌陷": "路面出现塌陷",
    "井盖": "井盖缺失", "雨水井盖": "雨水井盖破损移位", "路灯": "路灯不亮", "护栏": "道路护栏损坏",
    "交通标志牌": "交通标志牌倾斜", "公交站亭": "公交站亭玻璃破损", "行道树": "行道树枯死",
    "道路积水": "道路积水较深，影响通行", "树木倒伏": "树木倒伏阻碍交通",
}
SOURCES = {"监督员上报": .45, "智网": .25, "公众举报": .15, "视频": .15}
DEADLINE_HOURS = {
    "manhole_cover": 2, "waterlogging": 2, "fallen_tree": 4, "street_vending": 2, "garbage": 4,
    "muck_spill": 4, "illegal_ad": 24, "construction": 24, "street_light": 48, "road_damage": 72,
    "facility_damage": 72, "greening": 72, "illegal_construction": 120,
}
URGENT = frozenset({"manhole_cover", "waterlogging", "fallen_tree"})


@dataclass(slots=True)
class UrbanCase:
    case_no: str
    source: str
    case_class: str
    major: str
    minor: str
    category: str
    description: str
    place: Place
    state: str = "受理"
    times: dict[str, float] = field(default_factory=dict)
    deadline: float | None = None


@dataclass(slots=True)
class Detection:
    id: str
    camera_id: str
    event_type: str
    confidence: float
    at: float
    lon: float
    lat: float


def new_case(world: Any, rng: random.Random, category: str, t: float, number: str) -> UrbanCase:
    """Create a case reported at ``t`` and schedule every state it will pass through."""
    case_class, major, minor = rng.choice(CASE_CLASSES.get(category, [("事件", "其他", "其他")]))
    place = world.places.report_place(rng, category, near_flood_point=0.7)
    source = pick(rng, SOURCES)
    case = UrbanCase(
        case_no=f"DG{number}", source=source, case_class=case_class, major=major, minor=minor,
        category=category, place=place, description=f"{place.address}{DETAILS.get(minor, minor)}",
    )
    for at, state, extra_hours in _story(rng, category, source, t):
        world.at(at, f"case|{case.case_no}|{state}|{at:.0f}", _enter, world, case, state, at, extra_hours)
    return case


def _story(rng: random.Random, category: str, source: str, t: float) -> list[tuple[float, str, float]]:
    """(time, state, deadline extension hours) for the whole life of a case."""
    fast = source in ("智网", "视频")
    steps = [(t, "受理", 0.0)]
    if rng.random() < 0.05:
        return steps + [(t + rng.uniform(0.2, 1.0) * HOUR, "作废", 0.0)]
    t += rng.uniform(0.05, 0.3 if fast else 0.7) * HOUR
    steps.append((t, "立案", 0.0))
    t += rng.uniform(0.08, 0.5) * HOUR
    steps.append((t, "派遣", 0.0))
    if rng.random() < 0.06:
        t += rng.uniform(0.2, 1.0) * HOUR
        steps.append((t, "回退", 0.0))
        t += rng.uniform(0.1, 0.5) * HOUR
        steps.append((t, "派遣", 0.0))
    urgent = category in URGENT
    t += rng.uniform(0.2, 1.0 if urgent else 4.0) * HOUR
    steps.append((t, "处置", 0.0))
    if not urgent and rng.random() < 0.05:
        t += rng.uniform(1, 6) * HOUR
        steps.append((t, "延期", 48.0))
        t += rng.uniform(2, 20) * HOUR
    else:
        t += rng.uniform(0.3, 2.0 if urgent else 12.0) * HOUR
    steps.append((t, "核查", 0.0))
    t += rng.uniform(0.2, 2.0) * HOUR
    steps.append((t, "结案", 0.0))
    return steps


def _enter(world: Any, case: UrbanCase, state: str, at: float, extra_hours: float) -> None:
    case.state = state
    case.times[state] = at
    if state == "派遣" and case.deadline is None:
        case.deadline = at + DEADLINE_HOURS.get(case.category, 24) * HOUR
    if extra_hours and case.deadline is not None:
        case.deadline += extra_hours * HOUR
    world.changed("urban", case, at)


def new_detections(world: Any, rng: random.Random, event_type: str, t: float, number: str) -> None:
    """A camera notices ``event_type`` at ``t`` and reports it one to three times."""
    cameras = world.places.kind("camera")
    if not cameras:
        return
    camera = _camera(world, rng, cameras)
    base = rng.betavariate(5, 2)
    count = 1 + (rng.random() < 0.5) + (rng.random() < 0.25)
    at = t
    for k in range(count):
        confidence = round(min(0.99, max(0.05, base + rng.uniform(-0.06, 0.06))), 2)
        det = Detection(f"D{number}{k}", camera.id, event_type, confidence, at, camera.lon, camera.lat)
        world.at(at, f"det|{det.id}", world.detected, det)
        at += rng.uniform(60, 480)


def _camera(world: Any, rng: random.Random, cameras: list[Any]) -> Any:
    division = world.places.pick_division(rng)
    local = world.places.kind("camera", division.code)
    return rng.choice(local or cameras)



