"""Digital urban management (数字城管) and grid (智网) cases over a paged JSON API.

Kind ``urban_cases``. Cases follow GB/T 30428: a case is a 部件 (component: a public asset such
as a manhole cover) or a 事件 (event: a condition or behaviour such as street vending), with a
major and a minor class, and moves 受理 → 立案 → 派遣 → 处置 → 核查 → 结案. Coordinates are
usually GCJ-02 (declare ``crs = "gcj02"`` on the feed).

Endpoint::

    GET {base_url}/cases?since=CURSOR&limit=N
        -> {"cases": [CASE, ...], "next_since": "...", "has_more": false}

A case is sent again, whole, each time it changes. CASE::

    {"case_no": "DG2024070112300001", "source": "监督员上报",   # 公众举报 / 视频 / 智网
     "class": "事件", "major_class": "街面秩序", "minor_class": "占道经营",
     "description": "...", "address": "东莞市南城街道鸿福路12号", "x": 113.757, "y": 23.018,
     "state": "派遣", "times": {"受理": "2024-07-01T12:30:00+08:00", "立案": "...", "派遣": "..."},
     "grid_code": "441900004-0712", "deadline": "2024-07-02T12:30:00+08:00",
     "urgent": false}

States map to incident statuses: 受理 new, 立案 acknowledged, 派遣 dispatched, 处置 on_scene,
核查 resolved, 结案 closed, 作废 cancelled. The exceptions 延期 (extended), 回退 (returned) and
挂账 (parked) keep the status of the last regular state reached and are kept in
``source_status``. Minor classes map to categories through ``category_map`` then the built-in
table (``DEFAULT_CATEGORIES``); an unknown minor class lands as ``facility_damage`` for
components and ``other`` for events, the class names kept in ``extra``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import httpx
from pydantic import Field

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, register
from feeds.cad import dump, fetch_page, load_object, parse_point, parse_time, required_text
from ioc.records import CATEGORIES, IncidentRecord, Record, Reject

log = logging.getLogger(__name__)

STATE_STATUS: dict[str, str] = {
    "受理": "new", "立案": "acknowledged", "派遣": "dispatched", "处置": "on_scene",
    "核查": "resolved", "结案": "closed", "作废": "cancelled",
}
REGULAR_STATES = ("受理", "立案", "派遣", "处置", "核查", "结案")
EXCEPTION_STATES = ("延期", "回退", "挂账")

DEFAULT_CATEGORIES: dict[str, str] = {
    # 部件 components
    "井盖": "manhole_cover", "窨井盖": "manhole_cover", "雨水井盖": "manhole_cover", "污水井盖": "manhole_cover",
    "路灯": "street_light", "景观灯": "street_light",
    "护栏": "facility_damage", "交通标志牌": "facility_damage", "公交站亭": "facility_damage",
    "垃圾箱": "garbage", "公厕": "facility_damage", "消防栓": "facility_damage",
    "行道树": "greening", "绿地": "greening", "上水管": "pipe_burst",
    # 事件 events
    "道路破损": "road_damage", "道路塌陷": "road_damage",
    "占道经营": "street_vending", "流动摊贩": "street_vending", "店外经营": "street_vending",
    "暴露垃圾": "garbage", "积存垃圾渣土": "garbage", "垃圾满溢": "garbage",
    "违章搭建": "illegal_construction", "违法建设": "illegal_construction",
    "道路积水": "waterlogging", "树木倒伏": "fallen_tree",
    "乱张贴": "illegal_ad", "非法小广告": "illegal_ad", "违规户外广告": "illegal_ad",
    "施工扰民": "construction", "施工占道": "construction", "工地扬尘": "construction",
    "渣土撒漏": "muck_spill", "道路遗撒": "muck_spill",
    "水管爆裂": "pipe_burst", "黑臭水体": "pollution", "噪声扰民": "noise",
}

URGENT_CATEGORIES = frozenset({"manhole_cover", "waterlogging", "fallen_tree", "pipe_burst"})


class UrbanCasesConfig(AdapterConfig):
    base_url: str = Field(description="API root of the urban management platform")
    page_size: int = Field(default=200, ge=1, le=5000, description="cases asked for per request")
    category_map: dict[str, str] = Field(
        default_factory=dict, description="minor (or major) class name -> IOC category (checked first)"
    )


@register
class UrbanCasesAdapter(Adapter):
    kind = "urban_cases"
    title = "Urban management cases (数字城管 / 智网)"
    Config: ClassVar[type[AdapterConfig]] = UrbanCasesConfig
    config: UrbanCasesConfig

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        url = f"{self.config.base_url.rstrip('/')}/cases"
        objs, next_since, more = fetch_page(client, url, "cases", cursor, self.config.page_size)
        items = [RawItem(external_id=_case_no(o), payload=dump(o)) for o in objs]
        return FetchResult(items=items, cursor=next_since, more=more)

    def parse(self, item: RawItem) -> list[Record]:
        case = load_object(item.payload)
        case_no = required_text(case, "case_no")
        state = required_text(case, "state")
        times = _times(case.get("times"))
        status = _status(state, times)
        reported = times.get("受理") or (min(times.values()) if times else None)
        if reported is None:
            raise Reject(f"case {case_no}: no 受理 time")
        case_class = str(case.get("class") or "").strip()
        major = str(case.get("major_class") or "").strip()
        minor = str(case.get("minor_class") or "").strip()
        category = self._category(case_class, major, minor)
        lon, lat = parse_point(case.get("x"), case.get("y"))
        source = str(case.get("source") or "").strip()
        deadline = parse_time(case["deadline"], "deadline") if case.get("deadline") else None
        urgent = bool(case.get("urgent")) or major == "突发事件" or category in URGENT_CATEGORIES
        return [
            IncidentRecord(
                external_id=case_no,
                channel="grid" if source == "智网" else "urban",
                category=category,
                type="/".join(p for p in (case_class, major, minor) if p),
                priority="P2" if urgent else "P3",
                status=status,
                source_status=state,
                reported_at=reported,
                closed_at=times.get("结案") or (times.get("作废") if state == "作废" else None),
                title=" ".join(p for p in (minor or major, str(case.get("address") or "")) if p)[:300],
                description=str(case.get("description") or ""),
                address=str(case.get("address") or "")[:300],
                lon=lon,
                lat=lat,
                extra={
                    "case_class": case_class,
                    "major_class": major,
                    "minor_class": minor,
                    "source": source,
                    "grid_code": case.get("grid_code"),
                    "deadline": deadline.isoformat() if deadline else None,
                    "state_times": {k: v.isoformat() for k, v in times.items()},
                },
            )
        ]

    def _category(self, case_class: str, major: str, minor: str) -> str:
        overrides = self.config.category_map
        category = overrides.get(minor) or overrides.get(major) or DEFAULT_CATEGORIES.get(minor)
        if category is None:
            category = "facility_damage" if case_class == "部件" else "other"
        if category not in CATEGORIES:
            raise Reject(f"category_map sends {minor or major!r} to unknown category {category!r}")
        return category


def _case_no(case: dict[str, Any]) -> str | None:
    return str(case["case_no"]) if case.get("case_no") is not None else None


def _times(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Reject("times must be an object of state -> time")
    return {state: parse_time(at, f"times.{state}") for state, at in value.items() if at}


def _status(state: str, times: dict[str, Any]) -> str:
    if state in STATE_STATUS:
        return STATE_STATUS[state]
    if state in EXCEPTION_STATES:
        reached = [s for s in REGULAR_STATES if s in times]
        return STATE_STATUS[reached[-1]] if reached else "new"
    raise Reject(f"unknown case state {state!r}")
