"""How much happens, when: daily volumes per channel, hourly curves per category, Poisson arrivals.

Volumes are sized on a real Dongguan day (domain brief §6): 110 about 7,000 calls, 12345 about
5,500 contacts, urban management about 4,000 cases, video analytics about 1,500 detections,
119 about 150 and 120 about 900 calls. Each minute each stream draws a Poisson count whose mean
is the daily volume shaped by the hour of day; each arrival then picks a category in proportion
to that category's share and its own hourly curve (street vending in the evening, traffic at
rush hours, quiet nights). Weather adds a separate stream of waterlogging and fallen-tree
reports whose rate follows the scenario's surge factor.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass, field

# 24 relative weights, local hours 0..23; each is normalised to a mean of 1.
_RAW_PROFILES: dict[str, tuple[float, ...]] = {
    "flat": (1,) * 24,
    "day": (.3, .2, .15, .12, .12, .2, .45, .8, 1.2, 1.5, 1.6, 1.6, 1.4, 1.4, 1.5, 1.5, 1.5, 1.4, 1.3, 1.2, 1.0, .8, .6, .4),
    "office": (.1, .06, .05, .05, .05, .1, .3, .8, 1.6, 2.2, 2.3, 2.0, 1.3, 1.4, 2.0, 2.1, 2.0, 1.7, 1.1, .9, .8, .6, .4, .2),
    "rush": (.2, .12, .1, .1, .15, .4, 1.0, 2.4, 2.6, 1.5, 1.1, 1.1, 1.2, 1.1, 1.1, 1.2, 1.5, 2.5, 2.6, 1.6, 1.0, .7, .5, .3),
    "evening": (.9, .6, .35, .2, .15, .15, .2, .35, .5, .6, .7, .8, .9, .9, .9, 1.0, 1.1, 1.3, 1.7, 2.0, 2.2, 2.1, 1.8, 1.3),
    "vending": (.5, .25, .1, .05, .05, .1, .6, 1.0, .8, .6, .6, .9, 1.1, .7, .5, .5, .8, 1.5, 2.4, 3.0, 3.0, 2.6, 1.8, 1.0),
    "night": (1.6, 1.7, 1.6, 1.4, 1.1, .8, .6, .6, .7, .8, .8, .8, .8, .8, .8, .8, .9, .9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5),
    "morning": (.2, .15, .1, .1, .2, .6, 1.8, 2.4, 2.3, 1.8, 1.4, 1.2, 1.0, 1.0, 1.0, .9, .9, .9, .9, .8, .6, .5, .4, .3),
    "medical": (.6, .5, .45, .45, .5, .6, .8, 1.1, 1.3, 1.3, 1.3, 1.2, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.2, 1.2, 1.1, 1.0, .9, .7),
    "noise": (1.8, 1.2, .6, .3, .2, .2, .4, .8, .9, .9, .9, .9, 1.1, .9, .9, .9, .9, .9, 1.0, 1.2, 1.5, 1.9, 2.2, 2.2),
}
PROFILES: dict[str, tuple[float, ...]] = {
    name: tuple(v * 24 / sum(values) for v in values) for name, values in _RAW_PROFILES.items()
}


@dataclass(frozen=True)
class Stream:
    """One channel's traffic: daily volume, category mix (share, hourly curve), weather mix."""

    name: str
    per_day: float
    mix: dict[str, tuple[float, str]]
    weather_weight: float = 0.0  # extra rate at surge factor 1, as a fraction of the base rate
    weather_mix: dict[str, float] = field(default_factory=dict)

    def hourly(self, hour: int) -> tuple[float, list[str], list[float]]:
        """Rate multiplier for the hour, and the cumulative category weights to draw from."""
        cats = list(self.mix)
        weights = [share * PROFILES[curve][hour] for share, curve in self.mix.values()]
        total_share = sum(share for share, _ in self.mix.values())
        return sum(weights) / total_share, cats, list(itertools.accumulate(weights))


STREAMS: dict[str, Stream] = {
    "110": Stream("110", 7000, {
        "crime": (.12, "night"), "public_order": (.12, "evening"), "dispute": (.16, "evening"),
        "traffic_accident": (.15, "rush"), "traffic_jam": (.10, "rush"), "help": (.17, "day"),
        "suspicious": (.06, "night"), "consultation": (.10, "day"), "noise": (.02, "noise"),
    }, weather_weight=.5, weather_mix={"waterlogging": .5, "fallen_tree": .3, "traffic_jam": .2}),
    "119": Stream("119", 150, {
        "fire": (.45, "day"), "rescue": (.45, "day"), "hazmat": (.04, "day"), "help": (.06, "day"),
    }, weather_weight=1.5, weather_mix={"rescue": .4, "waterlogging": .3, "fallen_tree": .3}),
    "120": Stream("120", 900, {"medical": (1.0, "medical")}),
    "12345": Stream("12345", 5500, {
        "consultation": (.30, "office"), "complaint": (.16, "office"), "suggestion": (.04, "office"),
        "noise": (.09, "noise"), "construction": (.06, "office"), "garbage": (.06, "day"),
        "road_damage": (.05, "day"), "street_light": (.03, "evening"), "pollution": (.05, "day"),
        "street_vending": (.04, "vending"), "traffic_jam": (.05, "rush"), "illegal_construction": (.03, "day"),
        "waterlogging": (.02, "day"), "fallen_tree": (.01, "day"), "help": (.01, "day"),
    }, weather_weight=.6, weather_mix={"waterlogging": .6, "fallen_tree": .4}),
    "urban": Stream("urban", 4000, {
        "street_vending": (.22, "vending"), "garbage": (.18, "morning"), "illegal_ad": (.12, "day"),
        "illegal_construction": (.06, "day"), "construction": (.07, "day"), "muck_spill": (.05, "night"),
        "road_damage": (.08, "day"), "manhole_cover": (.06, "day"), "street_light": (.06, "evening"),
        "facility_damage": (.06, "day"), "greening": (.03, "day"), "waterlogging": (.01, "day"),
    }, weather_weight=.8, weather_mix={"waterlogging": .6, "fallen_tree": .4}),
    "video": Stream("video", 1500, {
        "illegal_parking": (.30, "rush"), "street_vending": (.28, "vending"), "garbage_overflow": (.22, "morning"),
        "crowd": (.12, "evening"), "fire_smoke": (.03, "day"), "road_waterlogging": (.05, "day"),
    }, weather_weight=.5, weather_mix={"road_waterlogging": 1.0}),
}
# Video detections come in bursts (a camera repeats itself); the stream counts episodes.
VIDEO_BURST_MEAN = 1.75


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: multiplication for small means, the normal approximation for large."""
    if mean <= 0:
        return 0
    if mean > 40:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def pick(rng: random.Random, items: list[str], cumulative: list[float]) -> str:
    return items[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def pick_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    items = list(weights)
    return pick(rng, items, list(itertools.accumulate(weights.values())))


def minute_arrivals(rng: random.Random, stream: Stream, hour: int, surge: float) -> list[tuple[float, str]]:
    """(second within the minute, category) for each arrival of one stream in one minute."""
    per_minute = stream.per_day / 1440
    if stream.name == "video":
        per_minute /= VIDEO_BURST_MEAN
    rate, cats, cumulative = stream.hourly(hour)
    arrivals = [(rng.random() * 60, pick(rng, cats, cumulative)) for _ in range(poisson(rng, per_minute * rate))]
    if surge > 0 and stream.weather_weight > 0:
        extra = poisson(rng, per_minute * stream.weather_weight * surge)
        arrivals += [(rng.random() * 60, pick_weighted(rng, stream.weather_mix)) for _ in range(extra)]
    return sorted(arrivals)
