"""Rendering the demo city in each source's own format and datum.

CAD JSON (WGS-84), urban cases and video detections JSON (GCJ-02, as AMap-based Chinese
systems send), Open311 GeoReport v2 JSON/XML for 12345 (BD-09, as Baidu-based systems send),
water readings JSON (WGS-84), CAP 1.2 XML and an Atom index of it (WGS-84, ``lat,lon`` order).
Times are ISO-8601 with the city's offset and no fractions, e.g. ``2024-07-01T12:30:05+08:00``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from feeds.simulator.calls import CadIncident
from feeds.simulator.hotline import SERVICES, HotlineRequest
from feeds.simulator.scenario import SIGNALS
from feeds.simulator.urban import Detection, UrbanCase
from feeds.simulator.weather import ALARM_LEVEL, WARNING_LEVEL, CapMessage, Reading
from ioc.city.geo import from_wgs84

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
SENDER_NAME = "东莞市气象台"


class Renderer:
    def __init__(self, tz: ZoneInfo, base_url: str, outline: list[tuple[float, float]]) -> None:
        self.tz = tz
        self.base_url = base_url.rstrip("/")
        self.outline = outline

    def time(self, t: float | None) -> str | None:
        if t is None:
            return None
        return datetime.fromtimestamp(round(t), self.tz).isoformat()

    # -- CAD ------------------------------------------------------------------------------------

    def cad_incident(self, inc: CadIncident) -> dict[str, Any]:
        return {
            "id": inc.id, "centre": inc.centre, "received_at": self.time(inc.received_at),
            "type_code": inc.type_code, "type_name": inc.type_name, "category": inc.vendor_category,
            "priority": inc.priority, "status": inc.status, "address": inc.place.address,
            "description": inc.description, "lon": round(inc.place.lon, 6), "lat": round(inc.place.lat, 6),
            "units": [
                {"unit_id": a.unit_id, "dispatched_at": self.time(a.dispatched_at),
                 "en_route_at": self.time(a.en_route_at), "on_scene_at": self.time(a.on_scene_at),
                 "cleared_at": self.time(a.cleared_at)}
                for a in inc.units
            ],
            "closed_at": self.time(inc.closed_at),
        }

    def cad_unit(self, report: tuple[Any, ...]) -> dict[str, Any]:
        unit_id, code, at, lon, lat, incident_id = report
        return {"unit_id": unit_id, "status": code, "at": self.time(at), "lon": round(lon, 6),
                "lat": round(lat, 6), "incident_id": incident_id}

    # -- urban management and video (GCJ-02) -------------------------------------------------------

    def urban_case(self, case: UrbanCase) -> dict[str, Any]:
        x, y = from_wgs84(case.place.lon, case.place.lat, "gcj02")
        return {
            "case_no": case.case_no, "source": case.source, "class": case.case_class,
            "major_class": case.major, "minor_class": case.minor, "description": case.description,
            "address": case.place.address, "x": round(x, 6), "y": round(y, 6), "state": case.state,
            "times": {state: self.time(at) for state, at in case.times.items()},
            "grid_code": case.place.grid_code, "deadline": self.time(case.deadline),
        }

    def detection(self, det: Detection) -> dict[str, Any]:
        lon, lat = from_wgs84(det.lon, det.lat, "gcj02")
        return {
            "id": det.id, "camera_id": det.camera_id, "event_type": det.event_type,
            "confidence": det.confidence, "at": self.time(det.at), "lon": round(lon, 6), "lat": round(lat, 6),
            "snapshot_url": f"{self.base_url}/video/snapshots/{det.id}.svg",
        }

    # -- sensors (WGS-84) --------------------------------------------------------------------------

    def reading(self, r: Reading) -> dict[str, Any]:
        return {
            "sensor_id": r.sensor_id, "key_point_id": r.key_point_id, "kind": "water_level", "unit": "m",
            "value": r.value, "at": self.time(r.at), "warning_level": WARNING_LEVEL, "alarm_level": ALARM_LEVEL,
            "lon": round(r.lon, 6), "lat": round(r.lat, 6),
        }

    # -- Open311 GeoReport v2 (12345; BD-09) -------------------------------------------------------

    def open311_request(self, req: HotlineRequest) -> dict[str, Any]:
        lon, lat = from_wgs84(req.place.lon, req.place.lat, "bd09") if req.has_location else (None, None)
        return {
            "service_request_id": req.id, "status": req.status, "status_notes": req.notes,
            "service_name": req.service.name, "service_code": req.service.code,
            "description": req.description, "agency_responsible": req.agency, "service_notice": "",
            "requested_datetime": self.time(req.requested), "updated_datetime": self.time(req.updated),
            "expected_datetime": self.time(req.expected), "address": req.place.address,
            "address_id": None, "zipcode": "523000",
            "lat": round(lat, 6) if lat is not None else None, "long": round(lon, 6) if lon is not None else None,
            "media_url": "",
            "extended_attributes": {"stage": req.stage, "town": req.place.division.name_zh, "channel": req.channel},
        }

    @staticmethod
    def open311_services() -> list[dict[str, Any]]:
        return [
            {"service_code": s.code, "service_name": s.name, "description": s.description, "metadata": False,
             "type": "realtime", "keywords": s.category, "group": s.group}
            for s in SERVICES
        ]

    @staticmethod
    def open311_xml(root_tag: str, item_tag: str, rows: list[dict[str, Any]]) -> bytes:
        root = ET.Element(root_tag)
        for row in rows:
            item = ET.SubElement(root, item_tag)
            for key, value in row.items():
                if value is None or isinstance(value, dict):
                    continue
                ET.SubElement(item, key).text = str(value).lower() if isinstance(value, bool) else str(value)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    # -- CAP 1.2 and its Atom index ----------------------------------------------------------------

    def cap_alert(self, m: CapMessage) -> bytes:
        alert = ET.Element(f"{{{CAP_NS}}}alert")
        _sub(alert, "identifier", m.identifier)
        _sub(alert, "sender", m.sender)
        _sub(alert, "sent", self.time(m.sent))
        _sub(alert, "status", "Actual")
        _sub(alert, "msgType", m.msg_type)
        _sub(alert, "scope", "Public")
        if m.references:
            _sub(alert, "references", " ".join(f"{s},{i},{self.time(t)}" for s, i, t in m.references))
        _sub(alert, "incidents", f"441900-{m.family}")
        self._cap_info(alert, m)
        return ET.tostring(alert, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)

    def _cap_info(self, alert: ET.Element, m: CapMessage) -> None:
        family_zh, _ = SIGNALS[m.family]
        colour_zh, urgency, severity, certainty, response = LEVELS[m.level]
        cancel = m.msg_type == "Cancel"
        info = _sub(alert, "info")
        _sub(info, "language", "zh-CN")
        _sub(info, "category", "Met")
        _sub(info, "event", f"{family_zh}预警信号")
        _sub(info, "responseType", "AllClear" if cancel else response)
        _sub(info, "urgency", "Past" if cancel else urgency)
        _sub(info, "severity", "Minor" if cancel else severity)
        _sub(info, "certainty", "Observed" if cancel else certainty)
        code = _sub(info, "eventCode")
        _sub(code, "valueName", "GD_SIGNAL")
        _sub(code, "value", f"{m.family}-{'cancel' if cancel else m.level}")
        _sub(info, "effective", self.time(m.sent))
        _sub(info, "onset", self.time(m.sent))
        # A day: longer than a fast run's replay of the past (12 h), so replayed signals are in force.
        _sub(info, "expires", self.time(m.sent + (3600 if cancel else 24 * 3600)))
        _sub(info, "senderName", SENDER_NAME)
        _sub(info, "headline", _headline(m))
        if cancel:
            _sub(info, "description", f"东莞市气象台解除{family_zh}{colour_zh}预警信号，影响已减弱。")
        else:
            _sub(info, "description", f"东莞市气象台发布{family_zh}{colour_zh}预警信号，请注意防御。")
            _sub(info, "instruction", INSTRUCTIONS[m.level])
        param = _sub(info, "parameter")
        _sub(param, "valueName", "colour")
        _sub(param, "value", colour_zh)
        area = _sub(info, "area")
        _sub(area, "areaDesc", "东莞市全市")
        _sub(area, "polygon", " ".join(f"{lat},{lon}" for lon, lat in self.outline))
        geocode = _sub(area, "geocode")
        _sub(geocode, "valueName", "adcode")
        _sub(geocode, "value", "441900")

    def cap_atom(self, messages: list[CapMessage], updated: float) -> bytes:
        """An Atom index, newest first, each entry linking to its CAP message."""
        index_url = f"{self.base_url}/cap/index.atom"
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<feed xmlns="{ATOM_NS}">',
            f"<id>{escape(index_url)}</id>",
            "<title>东莞市气象预警信号</title>",
            f"<updated>{self.time(updated)}</updated>",
            f"<author><name>{SENDER_NAME}</name></author>",
            f'<link rel="self" href="{escape(index_url)}"/>',
        ]
        for m in sorted(messages, key=lambda m: m.sent, reverse=True):
            title = escape(_headline(m))
            href = escape(f"{self.base_url}/cap/alerts/{m.identifier}.xml")
            lines += [
                "<entry>",
                f"<id>urn:cap:{escape(m.sender)}:{escape(m.identifier)}</id>",
                f"<title>{title}</title>",
                f"<updated>{self.time(m.sent)}</updated>",
                f"<summary>{m.msg_type}: {title}</summary>",
                f'<link rel="alternate" type="application/cap+xml" href="{href}"/>',
                "</entry>",
            ]
        lines.append("</feed>")
        return "\n".join(lines).encode("utf-8")


def _headline(m: CapMessage) -> str:
    family_zh = SIGNALS[m.family][0]
    if m.msg_type == "Cancel":
        return f"东莞市{family_zh}预警信号解除"
    return f"东莞市{family_zh}{LEVELS[m.level][0]}预警信号"


# level -> (colour, urgency, severity, certainty, responseType)
LEVELS = {
    "white": ("白色", "Future", "Minor", "Possible", "Monitor"),
    "blue": ("蓝色", "Expected", "Minor", "Likely", "Prepare"),
    "yellow": ("黄色", "Expected", "Moderate", "Likely", "Prepare"),
    "orange": ("橙色", "Immediate", "Severe", "Likely", "Shelter"),
    "red": ("红色", "Immediate", "Extreme", "Observed", "Shelter"),
}
INSTRUCTIONS = {
    "white": "关注天气变化，做好防御准备。",
    "blue": "做好防风准备，注意媒体报道的最新消息。",
    "yellow": "加固门窗及户外设施，避免前往低洼易涝地带。",
    "orange": "停止户外集体活动，危险地带人员撤离，注意防范内涝。",
    "red": "留在室内或安全场所避险，停课停工停业（必要岗位除外），远离积水和危险建筑。",
}


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


