"""Water gauges at flood-prone points, and the CAP warning messages the weather office sends.

Each gauge measures the depth of standing water (m) every five sim-minutes. Water gathers in
proportion to the rain and the point's susceptibility and drains with a time constant of about
an hour, so a sustained 60-70 mm/h downpour pushes most points past warning (0.20 m) and alarm
(0.40 m), and the water falls again within an hour or two of the rain stopping.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feeds.simulator.scenario import SIGNALS, SignalChange

log = logging.getLogger(__name__)

READING_INTERVAL = 300.0
WARNING_LEVEL = 0.20
ALARM_LEVEL = 0.40
FILL_PER_MM = 0.012  # metres of equilibrium depth per mm/h of rain, at susceptibility 1
DRAIN_PER_HOUR = 1.0
SENDER = "dg-weather@dongguan.gov.cn"


@dataclass(slots=True)
class Gauge:
    sensor_id: str
    key_point_id: str
    lon: float
    lat: float
    susceptibility: float
    depth: float = 0.0


@dataclass(slots=True, frozen=True)
class Reading:
    sensor_id: str
    key_point_id: str
    value: float
    at: float
    lon: float
    lat: float


@dataclass(slots=True, frozen=True)
class CapMessage:
    identifier: str
    sent: float
    msg_type: str  # Alert, Update, Cancel
    family: str
    level: str  # for a Cancel: the level being lifted
    references: tuple[tuple[str, str, float], ...] = ()

    @property
    def sender(self) -> str:
        return SENDER


def make_gauges(places: Any, seed: int) -> list[Gauge]:
    gauges = []
    for point in places.kind("water_gauge"):
        rng = random.Random(f"{seed}|gauge|{point.id}")
        number = point.id.split("-")[-1]
        gauges.append(Gauge(f"WL-{number}", point.id, point.lon, point.lat, rng.uniform(0.75, 1.35)))
    return gauges


def read_gauges(gauges: list[Gauge], rain: float, t: float, seed: int) -> list[Reading]:
    """Advance every gauge by one interval of ``rain`` mm/h and read it at ``t``."""
    rng = random.Random(f"{seed}|readings|{t:.0f}")
    hours = READING_INTERVAL / 3600.0
    readings = []
    for g in gauges:
        target = FILL_PER_MM * rain * g.susceptibility
        g.depth += (target - g.depth) * min(1.0, DRAIN_PER_HOUR * hours)
        value = max(0.0, g.depth + rng.uniform(-0.004, 0.004))
        readings.append(Reading(g.sensor_id, g.key_point_id, round(value, 3), t, g.lon, g.lat))
    return readings


class WarningOffice:
    """Turns signal changes into a CAP chain per signal family: Alert, Updates, then a Cancel."""

    def __init__(self, tz: Any) -> None:
        self.tz = tz
        self.messages: list[CapMessage] = []
        self._last: dict[str, CapMessage] = {}

    def issue(self, change: SignalChange) -> CapMessage | None:
        last = self._last.get(change.family)
        if change.level is None:
            if last is None:
                return None
            message = self._message(change, "Cancel", last.level, last)
            del self._last[change.family]
        else:
            message = self._message(change, "Update" if last else "Alert", change.level, last)
            self._last[change.family] = message
        self.messages.append(message)
        return message

    def active(self) -> dict[str, str]:
        """Signal family -> level currently in force."""
        return {family: m.level for family, m in self._last.items()}

    def prune(self, cutoff: float) -> None:
        keep = set(id(m) for m in self._last.values())
        self.messages = [m for m in self.messages if m.sent >= cutoff or id(m) in keep]

    def _message(self, change: SignalChange, msg_type: str, level: str, last: CapMessage | None) -> CapMessage:
        stamp = datetime.fromtimestamp(round(change.at), self.tz).strftime("%Y%m%d%H%M%S")
        suffix = "cancel" if msg_type == "Cancel" else level
        refs = ((last.sender, last.identifier, last.sent),) if last else ()
        if change.family not in SIGNALS:
            raise ValueError(f"unknown signal family {change.family}")
        return CapMessage(f"441900-{stamp}-{change.family}-{suffix}", float(round(change.at)), msg_type,
                          change.family, level, refs)
