"""The weather the demo city lives through: rain, the surge of reports it brings, warning signals.

``normal``: an ordinary day; on some afternoons a thunderstorm brings a 雷雨大风黄色预警 and
an hour or two of rain. ``typhoon``: starting at the simulator's start time, typhoon signals rise
white → blue → yellow → orange → red and rainstorm signals yellow → orange → red over three
sim-hours; rain peaks for three hours, flood points fill past their warning and alarm levels and
waterlogging / fallen-tree reports surge; then the rain stops, the water falls and both signals
are cancelled. Times are epoch seconds (sim clock).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = 3600.0
PEAK_RAIN = 60.0  # mm/h at which the report surge reaches its nominal factor
SURGE_AT_PEAK = 3.0

# Chinese names of the signal families, as the Guangdong warning signals are titled.
SIGNALS = {
    "typhoon": ("台风", ("white", "blue", "yellow", "orange", "red")),
    "rainstorm": ("暴雨", ("yellow", "orange", "red")),
    "thunderstorm": ("雷雨大风", ("yellow", "orange", "red")),
}


@dataclass(frozen=True)
class SignalChange:
    """At ``at``, the signal ``family`` goes to ``level`` (``None``: the signal is lifted)."""

    at: float
    family: str
    level: str | None


class Scenario:
    name = "base"

    def rain(self, t: float) -> float:
        """Rain intensity in mm/h."""
        return 0.0

    def surge(self, t: float) -> float:
        """Extra weather reports, as a multiple of each stream's weather weight."""
        return SURGE_AT_PEAK * self.rain(t) / PEAK_RAIN

    def signal_changes(self, begin: float, end: float) -> list[SignalChange]:
        """Signal changes with ``begin <= at < end``, in time order."""
        return []


class NormalDay(Scenario):
    """Dry days, with a thunderstorm on some afternoons (decided per day from the seed)."""

    name = "normal"

    def __init__(self, seed: int, tz: ZoneInfo) -> None:
        self.seed = seed
        self.tz = tz
        self._storms: dict[str, tuple[float, float] | None] = {}

    def storm(self, t: float) -> tuple[float, float] | None:
        """(signal issued, signal lifted) for the local day holding ``t``, or ``None``."""
        day = datetime.fromtimestamp(t, self.tz).date()
        key = day.isoformat()
        if key not in self._storms:
            rng = random.Random(f"{self.seed}|storm|{key}")
            if rng.random() < 0.35:
                midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()
                issued = midnight + 13 * HOUR + rng.uniform(0, 3) * HOUR
                self._storms[key] = (issued, issued + rng.uniform(2, 3.5) * HOUR)
            else:
                self._storms[key] = None
        return self._storms[key]

    def rain(self, t: float) -> float:
        storm = self.storm(t)
        if storm is None:
            return 0.0
        issued, lifted = storm
        start, end = issued + 0.5 * HOUR, lifted - 0.5 * HOUR
        return 15.0 if start <= t < end else 0.0

    def signal_changes(self, begin: float, end: float) -> list[SignalChange]:
        changes = []
        day = datetime.fromtimestamp(begin, self.tz).replace(hour=12, minute=0, second=0, microsecond=0)
        while day.timestamp() - 12 * HOUR < end:
            storm = self.storm(day.timestamp())
            if storm:
                changes += [SignalChange(storm[0], "thunderstorm", "yellow"), SignalChange(storm[1], "thunderstorm", None)]
            day += timedelta(days=1)
        return sorted((c for c in changes if begin <= c.at < end), key=lambda c: c.at)


class Typhoon(Scenario):
    """A typhoon passing over the city, timed from the simulator's start (``origin``)."""

    name = "typhoon"
    # (hours after origin, rain mm/h): linear between the points, dry outside them.
    RAIN = ((0.75, 0.0), (1.0, 10.0), (2.0, 30.0), (3.0, 60.0), (3.5, 70.0), (6.0, 70.0), (7.0, 5.0), (7.5, 0.0))
    STEPS = (
        (0.0, "typhoon", "white"),
        (0.5, "typhoon", "blue"),
        (1.0, "typhoon", "yellow"), (1.0, "rainstorm", "yellow"),
        (2.0, "typhoon", "orange"), (2.0, "rainstorm", "orange"),
        (3.0, "typhoon", "red"), (3.0, "rainstorm", "red"),
        (6.5, "rainstorm", None),
        (8.0, "typhoon", None),
    )

    def __init__(self, origin: float) -> None:
        self.origin = origin

    def rain(self, t: float) -> float:
        h = (t - self.origin) / HOUR
        points = self.RAIN
        if h <= points[0][0] or h >= points[-1][0]:
            return 0.0
        for (h0, r0), (h1, r1) in zip(points, points[1:]):
            if h0 <= h < h1:
                return r0 + (r1 - r0) * (h - h0) / (h1 - h0)
        return 0.0

    def signal_changes(self, begin: float, end: float) -> list[SignalChange]:
        changes = [SignalChange(self.origin + h * HOUR, family, level) for h, family, level in self.STEPS]
        return [c for c in changes if begin <= c.at < end]


def make_scenario(name: str, origin: float, seed: int, tz: ZoneInfo) -> Scenario:
    if name == "normal":
        return NormalDay(seed, tz)
    if name == "typhoon":
        return Typhoon(origin)
    raise ValueError(f"unknown scenario {name!r} (normal, typhoon)")
