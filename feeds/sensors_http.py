"""Sensor readings (water-level gauges and the like) from a paged JSON endpoint.

Kind ``sensors_http``. The endpoint (the demo simulator serves it at ``/sensors/readings``)::

    GET {url}?since=CURSOR&limit=N
        -> {"readings": [READING, ...], "next_since": "...", "has_more": false}

``since`` is opaque: send back the ``next_since`` of the previous page (omit it the first time);
it is the adapter's cursor. ``has_more`` means another page is ready now.

READING (also the payload of one MQTT message, see ``feeds.mqtt_sensors``)::

    {"sensor_id": "WL-NC-003", "key_point_id": "KP-017", "kind": "water_level", "unit": "m",
     "value": 0.42, "at": "2024-07-01T12:30:00+08:00", "warning_level": 0.3, "alarm_level": 0.5,
     "lon": 113.7512, "lat": 23.0201}

``sensor_id``, ``value`` and ``at`` (ISO-8601 with its UTC offset) are required; the rest may
be missing or null. Each reading is one item with external id ``"{sensor_id}@{at}"`` and becomes
a ``ReadingRecord``. Opening or closing flood-risk incidents when levels are crossed is the
pipeline's work (``ioc.intake.sensors``), not the adapter's.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

import httpx
from pydantic import Field

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, register
from feeds.cad import dump, fetch_page, load_object, parse_point, parse_time, required_text
from ioc.records import ReadingRecord, Record, Reject

log = logging.getLogger(__name__)


class SensorsHttpConfig(AdapterConfig):
    url: str = Field(description="readings endpoint, e.g. http://gauges.example/api/readings")
    page_size: int = Field(default=500, ge=1, le=5000, description="readings asked for per request (limit)")


@register
class SensorsHttpAdapter(Adapter):
    kind = "sensors_http"
    title = "Sensor readings over HTTP (JSON)"
    Config: ClassVar[type[AdapterConfig]] = SensorsHttpConfig
    config: SensorsHttpConfig

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        objs, next_since, more = fetch_page(client, self.config.url, "readings", cursor, self.config.page_size)
        items = [RawItem(external_id=reading_id(obj), payload=dump(obj)) for obj in objs]
        return FetchResult(items=items, cursor=next_since, more=more)

    def parse(self, item: RawItem) -> list[Record]:
        return [parse_reading(load_object(item.payload))]


def reading_id(obj: Any) -> str | None:
    """``"{sensor_id}@{at}"``: one gauge reports once per instant; None when either is missing."""
    if not isinstance(obj, dict) or not obj.get("sensor_id") or not obj.get("at"):
        return None
    return f"{str(obj['sensor_id']).strip()}@{str(obj['at']).strip()}"


def parse_reading(obj: dict[str, Any]) -> ReadingRecord:
    sensor_id = required_text(obj, "sensor_id")
    lon, lat = parse_point(obj.get("lon"), obj.get("lat"))
    return ReadingRecord(
        sensor_id=sensor_id,
        at=parse_time(obj.get("at"), "at"),
        value=_number(obj, "value", required=True),
        sensor_kind=str(obj.get("kind") or "water_level").strip(),
        unit_of_measure=str(obj.get("unit") or "").strip(),
        key_point_id=str(obj["key_point_id"]).strip() if obj.get("key_point_id") else None,
        warning_level=_number(obj, "warning_level"),
        alarm_level=_number(obj, "alarm_level"),
        lon=lon,
        lat=lat,
    )


def _number(obj: dict[str, Any], key: str, required: bool = False) -> float | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise Reject(f"missing {key}")
        return None
    if isinstance(value, bool):
        raise Reject(f"{key}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Reject(f"{key}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise Reject(f"{key}: {value!r} is not a finite number")
    return number
