"""Citizen requests (12345 hotline, photo reports) from an Open311 GeoReport v2 server.

Kind ``open311``. The adapter reads ``GET {base_url}/requests.json`` (or ``.xml``) in time
windows of ``window_hours``: ``start_date``/``end_date`` filter on requested_datetime (the
standard); with ``date_filter = "updated"`` it sends ``updated_after``/``updated_before``
instead, the extension (Chicago, Boston and others) that also brings back requests whose status
changed after they were first seen. Each window is read in pages through the de-facto
``page``/``page_size`` extension until a short page; a server that ignores paging is noticed
(the next page starts with the same request) and read as one page.

The cursor is JSON: ``{"start": ISO}``, the end of the last window read, or while a window is
being paged ``{"start": ISO, "end": ISO, "page": N, "first": ID}``. ``more`` is true while
pages or past windows are waiting. Every request (a JSON object, an XML ``<request>``) is one
``RawItem`` with external id ``service_request_id``.

A request becomes an ``IncidentRecord``: category from ``service_map`` (by service_code, then
service_name; unmapped ones are ``other``), status ``open`` → new and ``closed`` → closed with
``closed_at`` = updated_datetime, and the common extended states (FixMyStreet's, and Chinese
12345 ones such as 已派单 / 已办结) mapped too; the source's word stays in ``source_status``.
A 12345 system following the usual mapping (工单号 → service_request_id, 诉求类型 →
service_code, 承办单位 → agency_responsible, 办理时限 → expected_datetime, 回复 →
status_notes, finer states in ``extended_attributes.status``) needs no more configuration.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import AwareDatetime, Field, field_validator

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, decode_text, get, register
from feeds.cad import load_object
from feeds.cap import decode_xml, load_xml
from ioc.records import CATEGORIES, INCIDENT_STATUSES, PRIORITIES, Channel, IncidentRecord, Record, Reject

log = logging.getLogger(__name__)

# Open311's two states, FixMyStreet's extended ones and the usual 12345 work-order states.
DEFAULT_STATUS_MAP: dict[str, str] = {
    "open": "new", "confirmed": "new", "for triage": "new", "submitted": "new",
    "acknowledged": "acknowledged", "investigating": "acknowledged", "planned": "acknowledged",
    "action scheduled": "dispatched", "in progress": "dispatched", "assigned": "dispatched",
    "fixed": "resolved", "resolved": "resolved",
    "closed": "closed", "duplicate": "closed", "not responsible": "closed", "unable to fix": "closed",
    "internal referral": "closed", "no further action": "closed", "cancelled": "cancelled",
    "待受理": "new", "已受理": "acknowledged", "已签收": "acknowledged", "已派单": "dispatched",
    "已交办": "dispatched", "办理中": "dispatched", "处理中": "dispatched", "已办结": "resolved",
    "已回复": "resolved", "已回访": "closed", "已归档": "closed", "已关闭": "closed", "已撤销": "cancelled",
}
ENDED = ("closed", "cancelled")
EXTRA_FIELDS = ("agency_responsible", "status_notes", "media_url", "service_code", "service_notice", "address_id",
                "zipcode", "updated_datetime", "expected_datetime", "extended_attributes")


class Open311Config(AdapterConfig):
    base_url: str = Field(description="GeoReport v2 endpoint root; requests are read from {base_url}/requests.json")
    format: Literal["json", "xml"] = Field(default="json", description="response format the server is asked for")
    jurisdiction_id: str | None = Field(default=None, description="jurisdiction_id for multi-city servers")
    page_size: int = Field(default=100, ge=1, le=1000, description="requests per page (page/page_size extension)")
    window_hours: float = Field(default=24.0, gt=0, description="hours covered by one start_date/end_date window")
    start: AwareDatetime | None = Field(
        default=None, description="where the first poll starts (ISO time); default: one window before now"
    )
    date_filter: Literal["requested", "updated"] = Field(
        default="requested",
        description="window on requested_datetime (start_date/end_date) or, where the server supports it, "
                    "on updated_datetime (updated_after/updated_before) to see status changes",
    )
    service_map: dict[str, str] = Field(
        default_factory=dict, description="service_code (or service_name) -> IOC category; unmapped: other"
    )
    priority_map: dict[str, str] = Field(
        default_factory=dict, description="service_code (or service_name) -> priority P1-P4; unmapped: P3"
    )
    status_map: dict[str, str] = Field(
        default_factory=dict, description="source status -> IOC incident status (adds to the built-in table)"
    )
    channel: Channel = Field(default="12345", description="channel of every request")
    timezone: str | None = Field(
        default=None, description="IANA zone (e.g. Asia/Shanghai) for times sent without an offset; else rejected"
    )
    params: dict[str, str] = Field(
        default_factory=dict, description="extra query parameters sent with every request (api_key, extensions)"
    )

    @field_validator("service_map")
    @classmethod
    def _known_categories(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_values(value, CATEGORIES, "category")

    @field_validator("priority_map")
    @classmethod
    def _known_priorities(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_values(value, PRIORITIES, "priority")

    @field_validator("status_map")
    @classmethod
    def _known_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        return {_status_key(k): v for k, v in _check_values(value, INCIDENT_STATUSES, "status").items()}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        try:
            return value and str(ZoneInfo(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None


def _check_values(mapping: dict[str, str], allowed: tuple[str, ...], what: str) -> dict[str, str]:
    for key, value in mapping.items():
        if value not in allowed:
            raise ValueError(f"{key!r} maps to unknown {what} {value!r}")
    return mapping


@register
class Open311Adapter(Adapter):
    kind = "open311"
    title = "Open311 GeoReport v2 (12345 hotline, citizen reports)"
    Config: ClassVar[type[AdapterConfig]] = Open311Config
    config: Open311Config

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        window = self._read_cursor(cursor, now)
        if window.start >= now:
            return FetchResult(items=[], cursor=window.dump())
        items = [_raw_item(obj) for obj in self._page(client, window)]
        first = items[0].external_id if items else None
        if window.page > 1 and items and first == window.first:
            log.warning("%s: the server ignores page=; each window is read as one page", self.name)
            items = []  # page 1 again, already taken
        elif len(items) >= self.config.page_size:
            following = _Window(window.start, window.end, window.page + 1, first)
            return FetchResult(items=items, cursor=following.dump(), more=True)
        end = window.end or now
        return FetchResult(items=items, cursor=_Window(end, None).dump(), more=end < now)

    def parse(self, item: RawItem) -> list[Record]:
        return [self.incident(load_request(item.payload))]

    def incident(self, obj: dict[str, Any]) -> IncidentRecord:
        ext_id = _required_text(obj, "service_request_id")
        raw_status = _source_status(obj)
        status = self._status(raw_status)
        updated = self._time(obj.get("updated_datetime"), "updated_datetime", required=False)
        code, name = _text(obj.get("service_code")), _text(obj.get("service_name"))
        lon, lat, location_error = _location(obj.get("long"), obj.get("lat"))
        extra = self._extra(obj)
        if location_error:
            extra["location_error"] = location_error
        return IncidentRecord(
            external_id=ext_id,
            channel=self.config.channel,
            category=_lookup(self.config.service_map, code, name) or "other",  # type: ignore[arg-type]
            type=name or code,
            priority=_lookup(self.config.priority_map, code, name) or "P3",  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            source_status=raw_status,
            reported_at=self._time(obj.get("requested_datetime"), "requested_datetime", required=True),
            closed_at=updated if status in ENDED else None,
            title=_title(_text(obj.get("description")), name or code),
            description=_text(obj.get("description")),
            address=_text(obj.get("address") or obj.get("address_string"))[:300],
            lon=lon,
            lat=lat,
            extra=extra,
        )

    def _read_cursor(self, cursor: str | None, now: datetime) -> _Window:
        if cursor:
            try:
                window = _Window.load(cursor)
                return window if window.end else window.bounded(now, self.config.window_hours)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s: ignoring unreadable cursor %r; starting again", self.name, cursor)
        start = self.config.start or now - timedelta(hours=self.config.window_hours)
        return _Window(start, None).bounded(now, self.config.window_hours)

    def _page(self, client: httpx.Client, window: _Window) -> list[Any]:
        updated = self.config.date_filter == "updated"
        after, before = ("updated_after", "updated_before") if updated else ("start_date", "end_date")
        params: dict[str, Any] = {
            **self.config.params, after: _iso(window.start), before: _iso(window.end or window.start),
            "page": window.page,
            "page_size": self.config.page_size, "jurisdiction_id": self.config.jurisdiction_id,
        }
        url = f"{self.config.base_url.rstrip('/')}/requests.{self.config.format}"
        return read_list(get(client, url, **params), "request")

    def _status(self, raw: str) -> str:
        key = _status_key(raw)
        status = self.config.status_map.get(key) or DEFAULT_STATUS_MAP.get(key)
        if status is None:
            raise Reject(f"unknown status {raw!r} (add it to status_map)" if raw else "missing status")
        return status

    def _time(self, value: Any, name: str, required: bool) -> datetime | None:
        text = _text(value)
        if not text:
            if required:
                raise Reject(f"missing {name}")
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise Reject(f"{name}: not an ISO-8601 time: {text[:40]!r}") from None
        if parsed.tzinfo is not None:
            return parsed
        if self.config.timezone:
            return parsed.replace(tzinfo=ZoneInfo(self.config.timezone))
        raise Reject(f"{name}: time has no UTC offset: {text!r} (set the feed's timezone if the server omits it)")

    def _extra(self, obj: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        for key in EXTRA_FIELDS:
            value = obj.get(key)
            if value not in (None, "", {}, []):
                extra[key] = value.strip() if isinstance(value, str) else value
        if "expected_datetime" in extra:
            extra["expected_datetime"] = self._iso_or_as_sent(extra["expected_datetime"])
        return extra

    def _iso_or_as_sent(self, value: Any) -> Any:
        """An SLA time in ISO form; one that cannot be read stays as the source wrote it."""
        try:
            parsed = self._time(value, "expected_datetime", required=False)
        except Reject:
            return value
        return parsed.isoformat() if parsed else value


def fetch_services(client: httpx.Client, config: Open311Config) -> list[dict[str, Any]]:
    """The server's service list (services.json / .xml): service_code, service_name, group, ..."""
    url = f"{config.base_url.rstrip('/')}/services.{config.format}"
    services = read_list(get(client, url, jurisdiction_id=config.jurisdiction_id, **config.params), "service")
    out = []
    for service in services:
        obj = _xml_dict(service) if isinstance(service, ET.Element) else service
        if isinstance(obj, dict):
            if isinstance(obj.get("metadata"), str):
                obj["metadata"] = obj["metadata"].lower() == "true"
            out.append(obj)
    return out


# -- windows ------------------------------------------------------------------------------------


class _Window:
    """The time window being read, and the page within it."""

    def __init__(self, start: datetime, end: datetime | None, page: int = 1, first: str | None = None) -> None:
        self.start, self.end, self.page, self.first = start, end, page, first

    def bounded(self, now: datetime, hours: float) -> _Window:
        return _Window(self.start, min(self.start + timedelta(hours=hours), now), self.page, self.first)

    @classmethod
    def load(cls, cursor: str) -> _Window:
        data = json.loads(cursor)
        start = _aware(data["start"])
        end = _aware(data["end"]) if data.get("end") else None
        return cls(start, end, int(data.get("page", 1)), data.get("first"))

    def dump(self) -> str:
        data: dict[str, Any] = {"start": self.start.isoformat()}
        if self.page > 1:
            data.update(end=self.end.isoformat() if self.end else None, page=self.page, first=self.first)
        return json.dumps(data, ensure_ascii=False)


def _aware(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("cursor time without offset")
    return parsed


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- payloads -----------------------------------------------------------------------------------


def read_list(response: httpx.Response, element: str) -> list[Any]:
    """The JSON array (objects) or the XML children named ``element`` (elements) of a list answer."""
    if response.content.lstrip()[:1] == b"<":
        try:
            root = load_xml(decode_xml(response.content))
        except Reject as exc:
            raise ValueError(f"{response.url}: {exc}") from None
        if root.tag == "errors":
            raise ValueError(f"{response.url}: server error: {root.findtext('error/description') or 'no description'}")
        return root.findall(element)
    try:
        body = json.loads(decode_text(response.content))  # UTF-8 (BOM or not) or GBK / GB18030
    except (ValueError, Reject):
        raise ValueError(f"{response.url}: neither JSON nor XML") from None
    if isinstance(body, dict):
        body = body.get("service_requests", body.get("requests", body.get("services")))
    if not isinstance(body, list):
        raise ValueError(f"{response.url}: expected a JSON array of {element}s")
    return body


def _raw_item(obj: Any) -> RawItem:
    if isinstance(obj, ET.Element):
        el = copy.copy(obj)
        el.tail = None
        return RawItem(_text(el.findtext("service_request_id")) or None, ET.tostring(el, encoding="unicode"))
    ext_id = _text(obj.get("service_request_id")) if isinstance(obj, dict) else ""
    return RawItem(ext_id or None, json.dumps(obj, ensure_ascii=False))


def load_request(payload: str) -> dict[str, Any]:
    """One request from its JSON object or XML ``<request>`` text."""
    if payload.lstrip().startswith("<"):
        return _xml_dict(load_xml(payload))
    return load_object(payload)


def _xml_dict(el: ET.Element) -> dict[str, Any]:
    return {child.tag: _xml_dict(child) if len(child) else (child.text or "").strip() for child in el}


# -- fields -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _required_text(obj: dict[str, Any], key: str) -> str:
    value = _text(obj.get(key))
    if not value:
        raise Reject(f"missing {key}")
    if len(value) > 200:
        raise Reject(f"{key} is longer than 200 characters")
    return value


def _source_status(obj: dict[str, Any]) -> str:
    """The finest state the source gives: its extension's status, else the Open311 one."""
    ext = obj.get("extended_attributes")
    finer = _text(ext.get("status")) if isinstance(ext, dict) else ""
    return finer or _text(obj.get("status"))


def _status_key(raw: str) -> str:
    return re.sub(r"[\s_-]+", " ", raw.strip().lower())


def _lookup(mapping: dict[str, str], code: str, name: str) -> str | None:
    return mapping.get(code) or mapping.get(name)


def _location(lon: Any, lat: Any) -> tuple[float | None, float | None, str | None]:
    """Lon/lat, or Nones when missing, (0, 0) (a blank form) or unreadable (with why)."""
    if _text(lon) == "" or _text(lat) == "":
        return None, None, None
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        return None, None, f"coordinates are not numbers: long={lon!r} lat={lat!r}"
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        return None, None, f"coordinates out of range: long={lon!r} lat={lat!r}"
    if x == 0 and y == 0:
        return None, None, None
    return x, y, None


def _title(description: str, fallback: str) -> str:
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    return (first or fallback)[:300]
