"""AI video analytics: detections from street cameras over a paged JSON API.

Kind ``video_ai``. Positions are the camera's, usually GCJ-02 (declare ``crs = "gcj02"``).

Endpoint::

    GET {base_url}/detections?since=CURSOR&limit=N
        -> {"detections": [DETECTION, ...], "next_since": "...", "has_more": false}

DETECTION::

    {"id": "D20240701123000001", "camera_id": "CAM-0012", "event_type": "street_vending",
     "confidence": 0.83, "at": "2024-07-01T12:30:41+08:00", "lon": 113.757, "lat": 23.018,
     "snapshot_url": "http://video.example/snap/D20240701123000001.jpg"}

A camera repeats itself while a condition lasts, so detections fold: every detection of one
camera and event type within the same ``fold_minutes`` window (fixed windows counted from
the epoch, so the key is computed from the detection alone) gets the external id
``"{camera_id}:{event_type}:{window start as YYYYmmddTHHMMZ}"`` and updates one incident.
A detection below ``min_confidence`` becomes an ``unverified`` incident: the verification
queue, kept off the board until someone confirms it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import httpx
from pydantic import Field

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, register
from feeds.cad import dump, fetch_page, load_object, parse_point, parse_time, required_text
from ioc.records import CATEGORIES, IncidentRecord, Record, Reject

log = logging.getLogger(__name__)

DEFAULT_EVENTS: dict[str, str] = {
    "road_waterlogging": "waterlogging",
    "illegal_parking": "traffic_jam",
    "street_vending": "street_vending",
    "garbage_overflow": "garbage",
    "fire_smoke": "fire",
    "crowd": "public_order",
    "fallen_tree": "fallen_tree",
    "illegal_ad": "illegal_ad",
    "muck_spill": "muck_spill",
    "road_damage": "road_damage",
}

EVENT_NAMES_ZH: dict[str, str] = {
    "road_waterlogging": "视频识别：道路积水",
    "illegal_parking": "视频识别：违章停车",
    "street_vending": "视频识别：占道经营",
    "garbage_overflow": "视频识别：垃圾满溢",
    "fire_smoke": "视频识别：烟火",
    "crowd": "视频识别：人员聚集",
    "fallen_tree": "视频识别：树木倒伏",
}

URGENT_EVENTS = frozenset({"fire_smoke", "road_waterlogging", "crowd"})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class VideoAiConfig(AdapterConfig):
    base_url: str = Field(description="API root of the video analytics platform")
    page_size: int = Field(default=200, ge=1, le=5000, description="detections asked for per request")
    min_confidence: float = Field(
        default=0.6, ge=0, le=1, description="below this a detection waits in the verification queue"
    )
    fold_minutes: float = Field(
        default=10, gt=0, le=1440, description="repeats of one camera and event within this window are one incident"
    )
    event_map: dict[str, str] = Field(
        default_factory=dict, description="event_type -> IOC category (adds to the defaults)"
    )


@register
class VideoAiAdapter(Adapter):
    kind = "video_ai"
    title = "AI video detections"
    Config: ClassVar[type[AdapterConfig]] = VideoAiConfig
    config: VideoAiConfig

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        url = f"{self.config.base_url.rstrip('/')}/detections"
        objs, next_since, more = fetch_page(client, url, "detections", cursor, self.config.page_size)
        items = [RawItem(external_id=_detection_id(o), payload=dump(o)) for o in objs]
        return FetchResult(items=items, cursor=next_since, more=more)

    def parse(self, item: RawItem) -> list[Record]:
        det = load_object(item.payload)
        detection_id = required_text(det, "id")
        camera = required_text(det, "camera_id")
        event = required_text(det, "event_type")
        at = parse_time(det.get("at"), "at")
        confidence = _confidence(det.get("confidence"))
        category = {**DEFAULT_EVENTS, **self.config.event_map}.get(event)
        if category is None:
            raise Reject(f"unknown event_type {event!r} (add it to event_map)")
        if category not in CATEGORIES:
            raise Reject(f"event_map sends {event!r} to unknown category {category!r}")
        lon, lat = parse_point(det.get("lon"), det.get("lat"))
        window = fold_window(at, self.config.fold_minutes)
        verified = confidence >= self.config.min_confidence
        title = EVENT_NAMES_ZH.get(event, f"视频识别：{event}")
        return [
            IncidentRecord(
                external_id=f"{camera}:{event}:{window:%Y%m%dT%H%MZ}",
                channel="video",
                category=category,
                type=event,
                priority="P2" if event in URGENT_EVENTS else "P3",
                status="new" if verified else "unverified",
                source_status=f"confidence {confidence:.2f}",
                reported_at=at,
                title=f"{title} {camera}",
                lon=lon,
                lat=lat,
                extra={
                    "camera_id": camera,
                    "confidence": confidence,
                    "snapshot_url": det.get("snapshot_url"),
                    "detection_id": detection_id,
                    "window_start": window.isoformat(),
                },
            )
        ]


def fold_window(at: datetime, minutes: float) -> datetime:
    """Start (UTC) of the fixed window holding ``at``: the same for every repeat inside it."""
    size = timedelta(minutes=minutes)
    return _EPOCH + ((at - _EPOCH) // size) * size


def _confidence(value: Any) -> float:
    try:
        confidence = float(value)
    except (TypeError, ValueError):
        raise Reject(f"confidence {value!r} is not a number") from None
    if not 0 <= confidence <= 1:
        raise Reject(f"confidence {confidence} is outside 0-1")
    return confidence


def _detection_id(det: dict[str, Any]) -> str | None:
    return str(det["id"]) if det.get("id") is not None else None
