"""Police (110) and emergency (119 / 120) computer-aided dispatch over a paged JSON API.

Kinds ``police_cad`` and ``emergency_cad`` share one format; the emergency centre's records
carry their own centre (``"119"`` fire and rescue, ``"120"`` ambulance). Coordinates are WGS-84
unless the feed declares otherwise.

Endpoints (``base_url`` is the CAD's API root)::

    GET {base_url}/incidents?since=CURSOR&limit=N
        -> {"incidents": [INCIDENT, ...], "next_since": "...", "has_more": false}
    GET {base_url}/units?since=CURSOR&limit=N
        -> {"units": [UNIT, ...], "next_since": "...", "has_more": false}

``since`` is opaque: send back the ``next_since`` of the previous page (omit it the first
time). The adapter's cursor is a JSON string holding both: ``{"incidents": ..., "units": ...}``.
An incident is sent again, whole, each time it changes.

INCIDENT (no caller data is ever sent or kept)::

    {"id": "J202407011230001", "centre": "110", "received_at": "2024-07-01T12:30:05+08:00",
     "type_code": "0201", "type_name": "盗窃", "category": "刑事", "priority": 2,   # or "P2"
     "status": "已派警", "address": "东莞市南城街道鸿福路12号", "lon": 113.75, "lat": 23.02,
     "units": [{"unit_id": "PC-0004", "dispatched_at": "...", "en_route_at": "...",
                "on_scene_at": "...", "cleared_at": null}],
     "closed_at": null}

UNIT (one status or position change; a vendor status code, see ``status_map``)::

    {"unit_id": "PC-0004", "status": "ER", "at": "2024-07-01T12:33:40+08:00",
     "lon": 113.74, "lat": 23.01, "incident_id": "J202407011230001"}

Incidents become ``IncidentRecord`` (with one ``AssignmentRecord`` per unit); unit changes
become ``UnitStatusRecord`` with external id ``"{unit_id}@{at}"``. The category comes from
``category_map`` (keyed by type code, type name or vendor category), then the built-in table of
vendor categories; unknown ones land as ``other`` with the vendor's words kept in ``extra``.

The small helpers at the bottom (``fetch_page``, ``parse_time``, ``parse_point``) serve the
other paged JSON sources too (urban cases, video AI).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, decode_text, get, register
from ioc.records import (
    CATEGORIES,
    INCIDENT_STATUSES,
    AssignmentRecord,
    IncidentRecord,
    Record,
    Reject,
    UnitStatusRecord,
)

log = logging.getLogger(__name__)

DEFAULT_STATUS_MAP: dict[str, str] = {
    "AV": "AVAILABLE", "AQ": "AVAILABLE", "AM": "AVAILABLE",
    "DP": "DISPATCHED",
    "ER": "EN_ROUTE", "ENR": "EN_ROUTE", "RESP": "EN_ROUTE",
    "OS": "ON_SCENE", "ARR": "ON_SCENE",
    "PC": "PATIENT_CONTACT",
    "TR": "TRANSPORTING",
    "AH": "AT_HOSPITAL", "AD": "AT_HOSPITAL",
    "CLR": "CLEARED", "RTQ": "CLEARED",
    "OOS": "OUT_OF_SERVICE",
    "ST": "STAGED",
}

# Vendor incident categories as Chinese CAD systems label them.
DEFAULT_CATEGORY_MAP: dict[str, str] = {
    "刑事": "crime", "刑事案件": "crime",
    "治安": "public_order", "治安案件": "public_order",
    "纠纷": "dispute", "矛盾纠纷": "dispute",
    "交通事故": "traffic_accident", "交通拥堵": "traffic_jam", "交通": "traffic_jam",
    "求助": "help", "群众求助": "help",
    "可疑": "suspicious", "可疑情况": "suspicious",
    "火灾": "fire", "抢险救援": "rescue", "社会救助": "rescue",
    "医疗急救": "medical", "急救": "medical", "危化品": "hazmat", "危险化学品": "hazmat",
    "道路积水": "waterlogging", "树木倒伏": "fallen_tree",
}

DEFAULT_INCIDENT_STATUS_MAP: dict[str, str] = {
    "已接警": "new", "待派": "new", "NEW": "new", "RCV": "new",
    "已受理": "acknowledged", "ACK": "acknowledged",
    "已派警": "dispatched", "已派车": "dispatched", "DSP": "dispatched", "ENR": "dispatched",
    "已到场": "on_scene", "ONS": "on_scene",
    "已处置": "resolved", "RES": "resolved",
    "已结警": "closed", "已结案": "closed", "CLS": "closed",
    "已撤销": "cancelled", "CAN": "cancelled",
}

CENTRES = ("110", "119", "120")


class CadConfig(AdapterConfig):
    base_url: str = Field(description="API root of the CAD system, e.g. http://cad.example/api")
    page_size: int = Field(default=200, ge=1, le=5000, description="records asked for per request")
    channel: str | None = Field(
        default="110",
        description="channel of every record (110, 119, 120); empty: take it from each record's centre",
    )
    status_map: dict[str, str] = Field(
        default_factory=dict, description="vendor unit status code -> canonical status (adds to the defaults)"
    )
    category_map: dict[str, str] = Field(
        default_factory=dict,
        description="vendor incident type code, type name or category -> IOC category (checked first)",
    )
    incident_status_map: dict[str, str] = Field(
        default_factory=dict, description="vendor incident status -> IOC incident status (adds to the defaults)"
    )


class EmergencyCadConfig(CadConfig):
    channel: str | None = Field(
        default=None, description="channel of every record; empty: each record's centre (119 or 120)"
    )


class _CadAdapter(Adapter):
    Config: ClassVar[type[AdapterConfig]] = CadConfig
    config: CadConfig
    fuses_own_records = False  # a CAD's incident number is the agency's own incident: callers are merged there

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        since = _read_cursor(cursor)
        base = self.config.base_url.rstrip("/")
        items: list[RawItem] = []
        more = False
        for stream in ("incidents", "units"):
            objs, since[stream], has_more = fetch_page(
                client, f"{base}/{stream}", stream, since[stream], self.config.page_size
            )
            more = more or has_more
            for obj in objs:
                items.append(RawItem(external_id=_item_id(stream, obj), payload=dump(obj)))
        return FetchResult(items=items, cursor=json.dumps(since, sort_keys=True), more=more)

    def parse(self, item: RawItem) -> list[Record]:
        obj = load_object(item.payload)
        if "received_at" in obj or "units" in obj:
            return [self._incident(obj)]
        if "unit_id" in obj:
            return [self._unit(obj)]
        raise Reject("neither a CAD incident (no received_at) nor a unit status (no unit_id)")

    def _incident(self, obj: dict[str, Any]) -> IncidentRecord:
        ext_id = required_text(obj, "id")
        lon, lat = parse_point(obj.get("lon"), obj.get("lat"))
        type_code = str(obj.get("type_code") or "").strip()
        type_name = str(obj.get("type_name") or "").strip()
        vendor_category = str(obj.get("category") or "").strip()
        raw_status = str(obj.get("status") or "").strip()
        return IncidentRecord(
            external_id=ext_id,
            channel=self._channel(obj),
            category=self._category(type_code, type_name, vendor_category),
            type=type_name or type_code,
            priority=parse_priority(obj.get("priority")),
            status=self._incident_status(raw_status),
            source_status=raw_status,
            reported_at=parse_time(obj.get("received_at"), "received_at"),
            closed_at=parse_time(obj["closed_at"], "closed_at") if obj.get("closed_at") else None,
            title=" ".join(p for p in (type_name, str(obj.get("address") or "")) if p)[:300],
            description=str(obj.get("description") or ""),
            address=str(obj.get("address") or "")[:300],
            lon=lon,
            lat=lat,
            assignments=tuple(_assignment(u) for u in _list(obj.get("units"), "units")),
            extra={"type_code": type_code, "vendor_category": vendor_category, "centre": obj.get("centre")},
        )

    def _unit(self, obj: dict[str, Any]) -> UnitStatusRecord:
        unit_id = required_text(obj, "unit_id")
        code = str(obj.get("status") or "").strip()
        status = self._status_map().get(code.upper())
        if status is None:
            raise Reject(f"unit {unit_id}: unknown status code {code!r} (add it to status_map)")
        lon, lat = parse_point(obj.get("lon"), obj.get("lat"))
        incident = obj.get("incident_id")
        return UnitStatusRecord(
            unit_id=unit_id,
            status=status,  # type: ignore[arg-type]
            at=parse_time(obj.get("at"), "at"),
            lon=lon,
            lat=lat,
            incident_external_id=str(incident) if incident else None,
        )

    def _channel(self, obj: dict[str, Any]) -> str:
        channel = self.config.channel or str(obj.get("centre") or "").strip()
        if channel not in CENTRES:
            raise Reject(f"no valid centre (110/119/120) for the record: got {channel or 'nothing'!r}")
        return channel

    def _category(self, type_code: str, type_name: str, vendor: str) -> str:
        for key in (type_code, type_name, vendor):
            if key and key in self.config.category_map:
                category = self.config.category_map[key]
                break
        else:
            category = DEFAULT_CATEGORY_MAP.get(vendor) or (vendor if vendor in CATEGORIES else "other")
        if category not in CATEGORIES:
            raise Reject(f"category_map sends {type_code or vendor!r} to unknown category {category!r}")
        return category

    def _incident_status(self, raw: str) -> str:
        table = {**DEFAULT_INCIDENT_STATUS_MAP, **self.config.incident_status_map}
        status = table.get(raw) or table.get(raw.upper()) or raw.lower()
        if status not in INCIDENT_STATUSES:
            raise Reject(f"unknown incident status {raw!r} (add it to incident_status_map)")
        return status

    def _status_map(self) -> dict[str, str]:
        return {**DEFAULT_STATUS_MAP, **{k.upper(): v for k, v in self.config.status_map.items()}}


@register
class PoliceCadAdapter(_CadAdapter):
    kind = "police_cad"
    title = "Police CAD (110)"


@register
class EmergencyCadAdapter(_CadAdapter):
    kind = "emergency_cad"
    title = "Emergency CAD (119 fire, 120 ambulance)"
    Config = EmergencyCadConfig


def _assignment(obj: Any) -> AssignmentRecord:
    if not isinstance(obj, dict):
        raise Reject("units: each entry must be an object")
    stamps = {
        key: parse_time(obj[key], f"units.{key}") if obj.get(key) else None
        for key in ("dispatched_at", "en_route_at", "on_scene_at", "cleared_at")
    }
    return AssignmentRecord(unit_id=required_text(obj, "unit_id"), **stamps)


def _item_id(stream: str, obj: dict[str, Any]) -> str | None:
    if stream == "units":
        return f"{obj.get('unit_id')}@{obj.get('at')}" if obj.get("unit_id") and obj.get("at") else None
    return str(obj["id"]) if obj.get("id") is not None else None


def _read_cursor(cursor: str | None) -> dict[str, str | None]:
    since: dict[str, str | None] = {"incidents": None, "units": None}
    if cursor:
        try:
            since.update({k: v for k, v in json.loads(cursor).items() if k in since})
        except (ValueError, AttributeError):
            log.warning("ignoring unreadable CAD cursor %r; starting from the beginning", cursor)
    return since


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Reject(f"{name} must be a list")
    return value


# -- helpers shared by the paged JSON sources (CAD, urban cases, video AI) ---------------------


def fetch_page(
    client: httpx.Client, url: str, key: str, since: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None, bool]:
    """One page of a ``{key: [...], "next_since": ..., "has_more": ...}`` endpoint."""
    response = get(client, url, since=since, limit=limit)
    try:
        body = json.loads(decode_text(response.content))  # UTF-8 (BOM or not) or GBK / GB18030
        objs = body[key]
    except (ValueError, KeyError, TypeError, Reject):
        raise ValueError(f"{url}: expected a JSON object with a {key!r} list") from None
    if not isinstance(objs, list):
        raise ValueError(f"{url}: {key!r} is not a list")
    next_since = body.get("next_since")
    return objs, (str(next_since) if next_since is not None else since), bool(body.get("has_more"))


def dump(obj: Any) -> str:
    """The text kept for one item: stable key order, so an unchanged record hashes the same."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def load_object(payload: str) -> dict[str, Any]:
    try:
        obj = json.loads(payload)
    except ValueError as exc:
        raise Reject(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise Reject("not a JSON object")
    return obj


def required_text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None or str(value).strip() == "":
        raise Reject(f"missing {key}")
    return str(value).strip()


def parse_time(value: Any, name: str) -> datetime:
    """An ISO-8601 time with its UTC offset; a time without one is ambiguous and rejected."""
    if not isinstance(value, str) or not value.strip():
        raise Reject(f"missing {name}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Reject(f"{name}: not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise Reject(f"{name}: time has no UTC offset: {value!r}")
    return parsed


def parse_point(lon: Any, lat: Any) -> tuple[float | None, float | None]:
    """Lon/lat as floats, both or neither; out-of-range or one-sided positions are rejected."""
    if lon in (None, "") and lat in (None, ""):
        return None, None
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise Reject(f"coordinates are not numbers: lon={lon!r} lat={lat!r}") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise Reject(f"coordinates out of range: lon={lon!r} lat={lat!r}")
    return x, y


def parse_priority(value: Any) -> str:
    """P1-P4 from ``1``..``4``, ``"2"`` or ``"P2"``; missing means routine (P3)."""
    if value is None or value == "":
        return "P3"
    text = str(value).strip().upper().removeprefix("P")
    if text in ("1", "2", "3", "4"):
        return f"P{text}"
    raise Reject(f"priority {value!r} is not 1-4 or P1-P4")
