"""Words on screen in zh-CN and English: one catalogue, looked up by key.

Each entry holds both languages side by side, so a missing translation is visible in review
(and a test checks none is empty).
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh-CN", "en"]
LANGUAGES: tuple[Lang, ...] = ("zh-CN", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # frame
    "app.title": ("城市运行管理中心", "City Operations Centre"),
    "nav.map": ("城市地图", "City map"),
    "lang.switch": ("English", "中文"),
    # map page
    "map.layers": ("图层", "Layers"),
    "map.boundaries_approximate": (
        "边界为近似示意，可导入官方边界文件替换",
        "Outlines are approximate; import an official boundary file to replace them",
    ),
    "map.boundaries_imported": ("边界来自导入文件", "Outlines imported from a boundary file"),
    "map.no_tiles": ("未配置底图，仅显示边界与点位", "No base map configured: outlines and points only"),
    "map.division": ("镇街", "Division"),
    "map.division_count": ("镇街", "Divisions"),
    "map.code": ("代码", "Code"),
    "map.population": ("常住人口（2020）", "Population (2020)"),
    "map.area": ("面积", "Area"),
    "map.points_here": ("辖区点位", "Key points here"),
    "map.pick_division": ("点击地图上的镇街查看详情", "Click a division on the map for its details"),
    "map.empty": (
        "库中还没有城市数据。运行 `python -m ioc city load` 载入城市包。",
        "No city data in the store yet. Run `python -m ioc city load` to load the city pack.",
    ),
    "unit.people": ("人", "people"),
    "unit.km2": ("平方公里", "km²"),
    "map.incidents": ("在办事件", "Open incidents"),
    "map.alert_areas": ("预警区域", "Warning areas"),
    "map.units": ("出动中的力量", "Units on a job"),
    "live.open": ("在办事件", "Open incidents"),
    "live.last_24h": ("24小时内上报", "Reported in 24 h"),
    "live.alerts": ("生效预警", "Warnings in force"),
    "live.no_alerts": ("当前无生效预警", "No warnings in force"),
    "live.feeds": ("数据源", "Feeds"),
    "live.no_feeds": ("还没有数据源接入。配置 [[feeds]] 或开启演示城市。", "No feed has reported yet. Configure [[feeds]] or enable the demo city."),
    "feed.ok": ("正常", "ok"),
    "feed.degraded": ("降级", "degraded"),
    "feed.down": ("中断", "down"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码不正确", "Wrong user name or password"),
    "login.throttled": ("登录失败次数过多，请15分钟后再试", "Too many failed sign-ins; try again in 15 minutes"),
    "login.kiosk_revoked": ("该大屏链接已失效，请向值班员索取新链接", "This wall-screen link is no longer valid; ask the duty officer for a new one"),
    "frame.sign_in": ("登录", "Sign in"),
    "frame.sign_out": ("退出", "Sign out"),
    # key point kinds
    "kind.police_station": ("派出所", "Police stations"),
    "kind.fire_station": ("消防站", "Fire stations"),
    "kind.ems_station": ("急救站", "EMS stations"),
    "kind.hospital": ("医院", "Hospitals"),
    "kind.shelter": ("应急避难场所", "Shelters"),
    "kind.flood_point": ("易涝点", "Flood-prone points"),
    "kind.water_gauge": ("水位计", "Water gauges"),
    "kind.camera": ("视频监控", "Cameras"),
    "kind.urban_station": ("城管中队", "Urban-management squads"),
    "kind.rescue_base": ("救援基地", "Rescue bases"),
    # division kinds
    "division.subdistrict": ("街道", "Subdistrict"),
    "division.town": ("镇", "Town"),
    "division.zone": ("功能区", "Zone"),
    "division.district": ("区划", "District"),
    # wall screen (layouts/wall_page.py) and the map's incident tooltips
    "nav.wall": ("大屏", "Wall"),
    "wall.follow": ("跟随", "Follow"),
    "wall.follow_hint": ("手动拖动或缩放后视图保持不动；按此恢复全市视图并自动跟随",
                         "After a pan or zoom by hand the view holds; press to show the whole city and follow again"),
    "wall.open": ("在办", "Open"),
    "wall.new_today": ("今日新增", "New today"),
    "wall.overdue": ("当前超时", "Overdue now"),
    "wall.response_rate": ("今日响应率", "Response rate today"),
    "wall.response_median": ("今日响应时长中位数", "Median response today"),
    "wall.free_units": ("可调派力量", "Units available"),
    "wall.no_free_units": ("暂无可调派力量", "No unit available"),
    "wall.trend": ("24小时趋势（与上周同时段对比）", "Last 24 hours against the same hours a week before"),
    "wall.last_24h": ("近24小时", "Last 24 h"),
    "wall.week_before": ("上周同期", "Week before"),
    "wall.busiest": ("在办事件最多的镇街", "Busiest divisions (open incidents)"),
    "wall.no_open": ("当前没有在办事件", "No open incident"),
    "wall.no_urgent": ("当前没有在办的一级、二级事件", "No open P1 or P2 incident"),
    "wall.no_signal": ("当前无生效预警信号", "No warning signal in force"),
    "wall.stale": ("数据停更", "stale"),
    "wall.view_city": ("全市", "Whole city"),
    "wall.new_p1": ("新一级警情", "New P1 incident"),
    "unit.minutes": ("分钟", "min"),
    "unit_type.ambulance": ("救护车", "Ambulances"),
    "unit_type.fire_engine": ("消防车", "Fire engines"),
    "unit_type.police_car": ("警车", "Police cars"),
    "unit_type.rescue_team": ("救援队", "Rescue teams"),
    "unit_type.urban_patrol": ("城管巡查", "Urban patrols"),
    "category.crime": ("刑事治安", "Crime"),
    "category.public_order": ("治安秩序", "Public order"),
    "category.dispute": ("纠纷", "Dispute"),
    "category.traffic_accident": ("交通事故", "Traffic accident"),
    "category.traffic_jam": ("交通拥堵", "Traffic jam"),
    "category.help": ("求助", "Call for help"),
    "category.suspicious": ("可疑情况", "Suspicious"),
    "category.fire": ("火灾", "Fire"),
    "category.rescue": ("抢险救援", "Rescue"),
    "category.medical": ("医疗急救", "Medical"),
    "category.hazmat": ("危化品", "Hazmat"),
    "category.waterlogging": ("内涝积水", "Waterlogging"),
    "category.fallen_tree": ("倒树", "Fallen tree"),
    "category.road_damage": ("道路破损", "Road damage"),
    "category.manhole_cover": ("井盖", "Manhole cover"),
    "category.street_light": ("路灯", "Street light"),
    "category.pipe_burst": ("爆管", "Pipe burst"),
    "category.garbage": ("垃圾", "Garbage"),
    "category.illegal_construction": ("违法建设", "Illegal construction"),
    "category.street_vending": ("占道经营", "Street vending"),
    "category.illegal_ad": ("违规广告", "Illegal advertising"),
    "category.construction": ("施工", "Construction"),
    "category.muck_spill": ("渣土撒漏", "Muck spill"),
    "category.greening": ("绿化", "Greening"),
    "category.facility_damage": ("设施损坏", "Facility damage"),
    "category.pollution": ("环境污染", "Pollution"),
    "category.noise": ("噪音扰民", "Noise"),
    "category.consultation": ("咨询", "Consultation"),
    "category.complaint": ("投诉", "Complaint"),
    "category.suggestion": ("建议", "Suggestion"),
    "category.flood_risk": ("内涝风险", "Flood risk"),
    "category.other": ("其他", "Other"),
}


def t(key: str, lang: str, **values: object) -> str:
    """The text for ``key`` in ``lang`` (English for any language but zh-CN)."""
    zh, en = MESSAGES.get(key, (key, key))
    text = zh if lang == "zh-CN" else en
    return text.format(**values) if values else text


def normalise(lang: str | None, default: Lang = "zh-CN") -> Lang:
    return lang if lang in LANGUAGES else default  # type: ignore[return-value]
