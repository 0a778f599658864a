"""Where things happen in the demo city: divisions weighted by population, points inside them.

Everything here is WGS-84; the formats convert to each source's datum on the way out.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import random
from dataclasses import dataclass

import shapely
from shapely.geometry import Polygon

from ioc.city.pack import CityPack, Division, KeyPoint

log = logging.getLogger(__name__)

ROADS = (
    "人民路", "振兴路", "工业大道", "环城路", "新城路", "东风路", "文化路", "沿河路", "建设路", "荔枝路",
    "商业街", "创业路", "站前路", "体育路", "富民路", "康乐路", "银湖路", "花园街", "育才路", "政通路",
)
EARTH_RADIUS_KM = 6371.0
GRID_DEGREES = 0.009  # about 1 km: Dongguan has ~2,900 grid (智网) cells


@dataclass(frozen=True)
class Place:
    """A point in the city with the division it lies in and a street address."""

    lon: float
    lat: float
    division: Division
    address: str

    @property
    def grid_code(self) -> str:
        minx, miny, _, _ = self.division.shape.bounds
        ix = int((self.lon - minx) / GRID_DEGREES)
        iy = int((self.lat - miny) / GRID_DEGREES)
        return f"{self.division.code}-{ix:02d}{iy:02d}"


class Places:
    """Population-weighted random places, and the pack's key points by kind."""

    def __init__(self, pack: CityPack) -> None:
        self.divisions = [d for d in pack.divisions() if d.geometry]
        if not self.divisions:
            raise ValueError(f"city pack {pack.name} has no divisions to simulate")
        for d in self.divisions:
            shapely.prepare(d.shape)
        weights = [max(d.population or 0, 1) for d in self.divisions]
        self._cum = list(itertools.accumulate(weights))
        self.by_code = {d.code: d for d in self.divisions}
        self.key_points = pack.key_points()
        self._kinds: dict[tuple[str, str | None], list[KeyPoint]] = {}

    def kind(self, kind: str, division_code: str | None = None) -> list[KeyPoint]:
        key = (kind, division_code)
        if key not in self._kinds:
            self._kinds[key] = [
                p for p in self.key_points
                if p.kind == kind and (division_code is None or p.district_code == division_code)
            ]
        return self._kinds[key]

    def pick_division(self, rng: random.Random) -> Division:
        """A division, chosen with probability proportional to its population."""
        return self.divisions[bisect.bisect_right(self._cum, rng.random() * self._cum[-1])]

    def random_place(self, rng: random.Random, division: Division | None = None) -> Place:
        division = division or self.pick_division(rng)
        minx, miny, maxx, maxy = division.shape.bounds
        for _ in range(200):
            lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if shapely.contains_xy(division.shape, lon, lat):
                return self._place(rng, lon, lat, division)
        point = division.shape.representative_point()
        return self._place(rng, point.x, point.y, division)

    def place_near(self, rng: random.Random, point: KeyPoint, radius_m: float = 250.0) -> Place:
        """A place within ``radius_m`` of a key point, kept inside the key point's division."""
        division = self.by_code.get(point.district_code or "") or self.locate(point.lon, point.lat)
        if division is None:
            return self.random_place(rng)
        for _ in range(20):
            lon, lat = offset(point.lon, point.lat, rng.uniform(0, radius_m), rng.uniform(0, 360))
            if shapely.contains_xy(division.shape, lon, lat):
                return self._place(rng, lon, lat, division)
        return self.random_place(rng, division)

    def report_place(self, rng: random.Random, category: str, near_flood_point: float) -> Place:
        """Where a report comes from: waterlogging mostly at the flood-prone points, else anywhere
        by population."""
        if category == "waterlogging" and rng.random() < near_flood_point:
            points = self.kind("flood_point")
            if points:
                return self.place_near(rng, rng.choice(points))
        return self.random_place(rng)

    def locate(self, lon: float, lat: float) -> Division | None:
        for d in self.divisions:
            if shapely.contains_xy(d.shape, lon, lat):
                return d
        return None

    def outline(self) -> list[tuple[float, float]]:
        """A simple closed ring (lon, lat) around the whole city, for CAP warning areas."""
        union = shapely.union_all([d.shape for d in self.divisions]).buffer(0.005)
        ring = union.convex_hull if not isinstance(union, Polygon) else union
        simple = ring.simplify(0.01, preserve_topology=True)
        coords = list(simple.exterior.coords)
        return [(round(x, 4), round(y, 4)) for x, y in coords]

    def _place(self, rng: random.Random, lon: float, lat: float, division: Division) -> Place:
        address = f"东莞市{division.name_zh}{rng.choice(ROADS)}{rng.randint(1, 388)}号"
        return Place(lon=lon, lat=lat, division=division, address=address)


def distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance; plenty for straight-line unit movement inside one city."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def offset(lon: float, lat: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    bearing = math.radians(bearing_deg)
    dlat = metres * math.cos(bearing) / 111_320.0
    dlon = metres * math.sin(bearing) / (111_320.0 * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


def interpolate(a: tuple[float, float], b: tuple[float, float], fraction: float) -> tuple[float, float]:
    f = min(max(fraction, 0.0), 1.0)
    return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    """A key drawn with probability proportional to its weight."""
    x = rng.random() * sum(weights.values())
    for key, w in weights.items():
        x -= w
        if x < 0:
            return key
    return key
