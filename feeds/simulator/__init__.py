"""The demo city: a simulated Dongguan that serves realistic source traffic over loopback HTTP/MQTT.

The demo runs through the real adapters: ``start_simulator`` serves every source in its own
format (see ``server``), and ``demo_feeds`` is the feed list that points the adapters at it.
Modules: ``world`` (state and clock), ``traffic`` (volumes and daily curves), ``scenario``
(normal day, typhoon), ``calls`` / ``fleet`` (110/119/120 and units), ``urban`` (cases, video),
``hotline`` (12345), ``weather`` (gauges, CAP), ``formats`` (rendering), ``server`` (HTTP).
"""

from __future__ import annotations

from feeds.simulator.hotline import SERVICES
from feeds.simulator.server import SimulatorHandle, start_simulator
from ioc.config import FeedSettings

__all__ = ["SimulatorHandle", "demo_feeds", "start_simulator"]


def demo_feeds(base_url: str, mqtt: tuple[str, int] | None = None) -> list[FeedSettings]:
    """The feeds that read the simulator at ``base_url`` through the real adapters.

    Water readings come over MQTT when ``mqtt`` is given, else over HTTP.
    """
    base = base_url.rstrip("/")
    feeds = [
        FeedSettings(name="police_110", kind="police_cad", crs="wgs84", interval_seconds=10,
                     base_url=f"{base}/police", channel="110"),
        FeedSettings(name="emergency_119_120", kind="emergency_cad", crs="wgs84", interval_seconds=10,
                     base_url=f"{base}/emergency"),
        FeedSettings(name="urban_cases", kind="urban_cases", crs="gcj02", interval_seconds=15,
                     base_url=f"{base}/urban"),
        FeedSettings(name="video_ai", kind="video_ai", crs="gcj02", interval_seconds=15,
                     base_url=f"{base}/video", min_confidence=0.6, fold_minutes=10),
        FeedSettings(name="weather_cap", kind="cap", crs="wgs84", interval_seconds=30,
                     index_url=f"{base}/cap/index.atom"),
        FeedSettings(name="hotline_12345", kind="open311", crs="bd09", interval_seconds=30,
                     base_url=f"{base}/open311", format="json",
                     service_map={s.code: s.category for s in SERVICES}, window_hours=48,
                     date_filter="updated"),  # so closures of requests already seen come through
    ]
    if mqtt:
        host, port = mqtt
        feeds.append(FeedSettings(name="sensors", kind="mqtt_sensors", crs="wgs84", interval_seconds=5,
                                  host=host, port=port, topic="ioc/sensors/+/reading"))
    else:
        feeds.append(FeedSettings(name="sensors", kind="sensors_http", crs="wgs84", interval_seconds=10,
                                  url=f"{base}/sensors/readings"))
    return feeds
