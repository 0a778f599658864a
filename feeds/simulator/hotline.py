"""The 12345 citizen hotline: contacts that become Open311 service requests.

Questions and suggestions are answered on the call and closed within minutes; the rest become
work orders for a department or town office, which closes them hours (sometimes two days) later.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from feeds.simulator.geography import Place, pick
from ioc.city.names import short_name

log = logging.getLogger(__name__)

HOUR = 3600.0


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    category: str
    agency: str  # "{town}" stands for the town / subdistrict office of the request's place
    group: str
    description: str


SERVICES: tuple[Service, ...] = (
    Service("consult", "政策咨询", "consultation", "东莞市12345政务服务便民热线中心", "咨询", "政策法规、办事指南咨询"),
    Service("complaint", "投诉举报", "complaint", "{town}", "投诉", "对单位或个人的投诉举报"),
    Service("suggest", "意见建议", "suggestion", "东莞市12345政务服务便民热线中心", "建议", "对政府工作的意见建议"),
    Service("noise", "噪音扰民", "noise", "东莞市生态环境局", "环境", "生活、商业噪音扰民"),
    Service("construction", "施工扰民", "construction", "东莞市住房和城乡建设局", "城建", "工地施工噪音、扬尘"),
    Service("sanitation", "环境卫生", "garbage", "东莞市城市管理和综合执法局", "城管", "垃圾清运、环境卫生"),
    Service("road", "道路设施", "road_damage", "东莞市交通运输局", "交通", "道路破损、井盖、护栏"),
    Service("streetlight", "路灯照明", "street_light", "东莞市城市管理和综合执法局", "城管", "路灯不亮、照明故障"),
    Service("pollution", "环境污染", "pollution", "东莞市生态环境局", "环境", "废气、污水、异味"),
    Service("vending", "占道经营", "street_vending", "{town}", "城管", "占道经营、流动摊贩"),
    Service("traffic", "交通出行", "traffic_jam", "东莞市交通运输局", "交通", "交通拥堵、公交出行"),
    Service("illegal_building", "违法建设", "illegal_construction", "{town}", "城建", "违章搭建、违法建设"),
    Service("waterlogging", "道路积水", "waterlogging", "东莞市水务局", "三防", "道路、小区积水内涝"),
    Service("fallen_tree", "树木倒伏", "fallen_tree", "东莞市城市管理和综合执法局", "三防", "树木倒伏、断枝"),
    Service("help", "群众求助", "help", "{town}", "求助", "生活困难等求助"),
)
SERVICE_BY_CATEGORY = {s.category: s for s in SERVICES}
# Some callers are not put through a service at all: the operator types what they say, with no
# service code and no map point (the IOC's triage suggests where and what from the words).
FREE_TEXT_SHARE = 0.12
FREE_TEXT = {
    "noise": "{place}这边晚上一直有人放音响，吵得睡不着",
    "construction": "{place}的工地半夜还在打桩施工",
    "garbage": "{place}路边垃圾好几天没人清理，很臭",
    "road_damage": "{place}路面有个大坑，电动车经过很危险",
    "street_light": "{place}这段路灯不亮好几天了，晚上黑漆漆的",
    "pollution": "{place}有工厂排放废气，气味很刺鼻",
    "street_vending": "{place}门口有流动摊贩摆摊，占了人行道",
    "traffic_jam": "{place}每天早上堵车很严重，红绿灯时间太短",
    "illegal_construction": "{place}有人在楼顶违章搭建铁皮房",
    "waterlogging": "{place}下雨后积水到膝盖，车都过不去",
    "fallen_tree": "{place}有棵大树倒了，挡住了半边路",
    "help": "我家老人在{place}附近走失了，请帮忙找一找",
    "complaint": "投诉{place}一家商铺乱收费，态度还很差",
    "consultation": "请问在{place}怎么办理居住证，需要什么材料",
    "suggestion": "建议在{place}增设一个公交站，方便上下班",
}
UNSTATED = Service("", "", "other", "东莞市12345政务服务便民热线中心", "", "")
ANSWERED_ON_CALL = frozenset({"consult", "suggest"})
CONTACT_CHANNELS = {"电话": .75, "微信": .15, "网站": .06, "i莞家": .04}


@dataclass(slots=True)
class HotlineRequest:
    id: str
    service: Service
    requested: float
    place: Place
    description: str
    agency: str
    channel: str
    has_location: bool
    status: str = "open"
    stage: str = "受理"
    updated: float = 0.0
    notes: str = ""
    meant: str = ""  # the category a caller in their own words meant (the service says none)

    @property
    def expected(self) -> float:
        return self.requested + 48 * HOUR  # "close promised items within 2 working days"


def new_request(world: Any, rng: random.Random, category: str, t: float, number: str,
                place: Place | None = None) -> HotlineRequest:
    """A 12345 contact at ``t`` (from ``place``, else anywhere by population) and its way to closure."""
    service = SERVICE_BY_CATEGORY.get(category) or SERVICE_BY_CATEGORY["complaint"]
    place = place or world.places.report_place(rng, category, near_flood_point=0.6)
    free = service.category in FREE_TEXT and rng.random() < FREE_TEXT_SHARE
    description = _in_own_words(rng, service.category, place) if free else \
        f"市民来电反映：{place.address}{service.description}问题，请尽快处理。"
    request = HotlineRequest(
        id=f"{number}", service=UNSTATED if free else service, requested=t, place=place, description=description,
        agency=service.agency.replace("{town}", f"{place.division.name_zh}办事处"),
        channel=pick(rng, CONTACT_CHANNELS), has_location=not free and rng.random() < 0.95, updated=t,
    )
    if free:
        request.meant = service.category
        request.place = Place(lon=place.lon, lat=place.lat, division=place.division, address="")
    world.at(t, f"req|{request.id}", world.requested, request)
    if service.code in ANSWERED_ON_CALL:
        done = t + rng.uniform(180, 900)
        world.at(done, f"req|{request.id}|close", _close, world, request, done, "已当场答复市民")
        return request
    dispatched = t + rng.uniform(300, 2400)
    world.at(dispatched, f"req|{request.id}|order", _stage, world, request, dispatched, "派单")
    done = dispatched + min(rng.lognormvariate(2.2, 0.8), 47.0) * HOUR
    world.at(done, f"req|{request.id}|close", _close, world, request, done, f"已办结：{request.agency}已处理并回复市民")
    return request


def _in_own_words(rng: random.Random, category: str, place: Place) -> str:
    """What a caller says, naming the town in full (长安镇) or short (长安), or a road in it."""
    town = place.division.name_zh
    where = rng.choice([town, short_name(town), f"{short_name(town)}{place.address.removeprefix('东莞市' + town)}"])
    return FREE_TEXT[category].format(place=where)


def _stage(world: Any, request: HotlineRequest, t: float, stage: str) -> None:
    request.stage = stage
    request.updated = t
    request.notes = f"已派单至{request.agency}"
    world.touched(request, t)


def _close(world: Any, request: HotlineRequest, t: float, notes: str) -> None:
    request.status = "closed"
    request.stage = "办结"
    request.updated = t
    request.notes = notes
    world.touched(request, t)



