"""The demo city's past: closed incidents of earlier weeks, drawn from the same volumes, category
mixes and hourly curves as the live city (``traffic``), so a fresh demo has a "usual" to compare
this hour with (``ioc.read.anomalies``: the same hour 1…4 weeks before).

Only the hours asked for are drawn, at the city's full rate: the anomaly baseline needs the same
hour of earlier weeks, not every hour of them. No weather, no bursts: an ordinary past (with the
share of 12345 calls in free words that no service names, as ``other``, as the live line has). Each
minute draws from a generator seeded by (seed, stream, minute), so the same hour is the same
records however often it is asked for, and each record's id names its stream and minute.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, tzinfo

from feeds.simulator.calls import DEFAULT_PRIORITY, PRIORITY_WEIGHTS
from feeds.simulator.geography import Places
from feeds.simulator.hotline import FREE_TEXT, FREE_TEXT_SHARE
from feeds.simulator.traffic import STREAMS, minute_arrivals
from feeds.video_ai import DEFAULT_EVENTS
from ioc.records import IncidentRecord

SEED = 20260101
CHANNELS = {"110": "110", "119": "119", "120": "120", "12345": "12345", "urban": "urban", "video": "video"}


def past_hour(places: Places, tz: tzinfo, start: datetime, seed: int = SEED) -> list[IncidentRecord]:
    """The closed incidents of the hour from ``start`` (aware), every stream at its normal rate."""
    out: list[IncidentRecord] = []
    for m in range(60):
        minute = start + timedelta(minutes=m)
        local = minute.astimezone(tz)
        stamp = minute.strftime("%Y%m%d%H%M")
        for name, stream in STREAMS.items():
            rng = random.Random(f"{seed}|history|{name}|{minute.timestamp():.0f}")
            for k, (second, category) in enumerate(minute_arrivals(rng, stream, local.hour, 0.0)):
                if name == "12345" and category in FREE_TEXT and rng.random() < FREE_TEXT_SHARE:
                    category = "other"  # said in the caller's own words, put through no service
                out.append(_record(places, rng, name, DEFAULT_EVENTS.get(category, category),
                                   minute + timedelta(seconds=second), f"hist-{name}-{stamp}{k:03d}"))
    return out


def _record(places: Places, rng: random.Random, stream: str, category: str, at: datetime,
            external_id: str) -> IncidentRecord:
    place = places.report_place(rng, category, near_flood_point=0.6)
    weights = PRIORITY_WEIGHTS.get(category, DEFAULT_PRIORITY)
    priority = rng.choices(("P1", "P2", "P3", "P4"), weights=weights)[0]
    reported = at.replace(microsecond=0)
    return IncidentRecord(
        external_id=external_id, channel=CHANNELS[stream], category=category, priority=priority,
        status="closed", reported_at=reported, closed_at=reported + timedelta(minutes=rng.uniform(20, 600)),
        address=place.address, lon=place.lon, lat=place.lat)
