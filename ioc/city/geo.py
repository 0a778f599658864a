"""Chinese coordinate systems, distances and point-in-division lookup.

The store holds WGS-84 only. AMap/Tencent sources arrive in GCJ-02 and Baidu in BD-09, usually
unlabelled; convert them once at ingress with these functions and convert back only to draw on
AMap/Tencent tiles. Formulas and test vectors: domain brief section 3.

Every conversion is written once with numpy, so the same code serves a single point and a batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from ioc.city.pack import Division
from ioc.errors import UserError

CRS = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: tuple[str, ...] = get_args(CRS)

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 algorithm uses
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
# The crude "China" box most libraries use; it also covers neighbours, which is accepted practice.
_CHINA_LNG = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
_INVERSE_STEPS = 10
_INVERSE_TOLERANCE = 1e-10  # degrees, about 0.01 mm

EARTH_RADIUS_M = 6_371_000.0  # mean radius; fusion and dispatch measure with the same one

Floats = NDArray[np.float64]
Pair = tuple[float, float]


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _in_china(lon: Floats, lat: Floats) -> NDArray[np.bool_]:
    return (
        (lon >= _CHINA_LNG[0]) & (lon <= _CHINA_LNG[1]) & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])
    )


def _delta_lat(x: Floats, y: Floats) -> Floats:
    d = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return d


def _delta_lng(x: Floats, y: Floats) -> Floats:
    d = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return d


def _wgs_to_gcj(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    d_lat = _delta_lat(lon - 105.0, lat - 35.0)
    d_lng = _delta_lng(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * np.pi
    m = 1.0 - _EE * np.sin(rad_lat) ** 2
    s = np.sqrt(m)
    d_lat = d_lat * 180.0 / ((_A * (1.0 - _EE)) / (m * s) * np.pi)
    d_lng = d_lng * 180.0 / (_A / s * np.cos(rad_lat) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + d_lng, lon), np.where(inside, lat + d_lat, lat)


def _gcj_to_wgs(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    # No closed form: iterate w <- w - (f(w) - g); converges to well under 1 mm in 2-3 steps.
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(_INVERSE_STEPS):
        g_lon, g_lat = _wgs_to_gcj(w_lon, w_lat)
        err_lon, err_lat = g_lon - lon, g_lat - lat
        w_lon, w_lat = w_lon - err_lon, w_lat - err_lat
        worst = np.nanmax(np.abs(np.concatenate([err_lon, err_lat])), initial=0.0)
        if worst < _INVERSE_TOLERANCE:
            break
    return w_lon, w_lat


def _gcj_to_bd(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _wgs_to_bd(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    return _gcj_to_bd(*_wgs_to_gcj(lon, lat))


def _bd_to_wgs(lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
    return _gcj_to_wgs(*_bd_to_gcj(lon, lat))


def _arrays(lons: ArrayLike, lats: ArrayLike) -> tuple[Floats, Floats]:
    lon = np.asarray(lons, dtype=np.float64)
    lat = np.asarray(lats, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"lons and lats differ in shape: {lon.shape} vs {lat.shape}")
    return np.atleast_1d(lon), np.atleast_1d(lat)


def _scalar(func: Callable[[Floats, Floats], tuple[Floats, Floats]], lon: float, lat: float) -> Pair:
    x, y = func(*_arrays(lon, lat))
    return float(x[0]), float(y[0])


def wgs84_to_gcj02(lon: float, lat: float) -> Pair:
    return _scalar(_wgs_to_gcj, lon, lat)


def gcj02_to_wgs84(lon: float, lat: float) -> Pair:
    return _scalar(_gcj_to_wgs, lon, lat)


def gcj02_to_bd09(lon: float, lat: float) -> Pair:
    return _scalar(_gcj_to_bd, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> Pair:
    return _scalar(_bd_to_gcj, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> Pair:
    return _scalar(_wgs_to_bd, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> Pair:
    return _scalar(_bd_to_wgs, lon, lat)


_TO_WGS = {"gcj02": _gcj_to_wgs, "bd09": _bd_to_wgs}
_FROM_WGS = {"gcj02": _wgs_to_gcj, "bd09": _wgs_to_bd}


def check_crs(crs: str) -> CRS:
    """Return ``crs`` if it is a known name, else raise ``UserError``."""
    if crs not in CRS_NAMES:
        raise UserError(f"unknown coordinate system {crs!r}: use one of {', '.join(CRS_NAMES)}")
    return crs  # type: ignore[return-value]


def to_wgs84_arrays(lons: ArrayLike, lats: ArrayLike, crs: CRS) -> tuple[Floats, Floats]:
    """Convert a batch of ``crs`` coordinates to WGS-84; returns new arrays."""
    lon, lat = _arrays(lons, lats)
    if check_crs(crs) == "wgs84":
        return lon.copy(), lat.copy()
    return _TO_WGS[crs](lon, lat)


def from_wgs84_arrays(lons: ArrayLike, lats: ArrayLike, crs: CRS) -> tuple[Floats, Floats]:
    """Convert a batch of WGS-84 coordinates to ``crs``; returns new arrays."""
    lon, lat = _arrays(lons, lats)
    if check_crs(crs) == "wgs84":
        return lon.copy(), lat.copy()
    return _FROM_WGS[crs](lon, lat)


def to_wgs84(lon: float, lat: float, crs: CRS) -> Pair:
    x, y = to_wgs84_arrays(lon, lat, crs)
    return float(x[0]), float(y[0])


def from_wgs84(lon: float, lat: float, crs: CRS) -> Pair:
    x, y = from_wgs84_arrays(lon, lat, crs)
    return float(x[0]), float(y[0])


def transform_geometry(geom: BaseGeometry, src: CRS, dst: CRS) -> BaseGeometry:
    """Convert a shapely geometry (or an array of them) between coordinate systems."""
    check_crs(src)
    check_crs(dst)
    if src == dst:
        return geom

    def convert(coords: Floats) -> Floats:
        lon, lat = to_wgs84_arrays(coords[:, 0], coords[:, 1], src)
        lon, lat = from_wgs84_arrays(lon, lat, dst)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


class DivisionIndex:
    """Find the division that contains a WGS-84 point, for one point or millions.

    A point on a border shared by several divisions goes to the first of them in pack order,
    so the answer never depends on how the spatial index happened to be built.
    """

    def __init__(self, divisions: Sequence[Division]) -> None:
        self.divisions = list(divisions)
        self._codes = np.array([d.code for d in self.divisions], dtype=object)
        self._tree = shapely.STRtree([d.shape for d in self.divisions])

    def __len__(self) -> int:
        return len(self.divisions)

    def locate(self, lon: float, lat: float) -> Division | None:
        index = self._first_hits(*_arrays(lon, lat))[0]
        return self.divisions[index] if index >= 0 else None

    def locate_many(self, lons: ArrayLike, lats: ArrayLike) -> list[str | None]:
        """Division code for each point, ``None`` where no division contains it."""
        hits = self._first_hits(*_arrays(lons, lats))
        codes = np.full(hits.shape, None, dtype=object)
        found = hits >= 0
        codes[found] = self._codes[hits[found]]
        return codes.tolist()

    def _first_hits(self, lon: Floats, lat: Floats) -> NDArray[np.intp]:
        """Index of the first containing division per point, -1 for none."""
        hits = np.full(lon.shape, -1, dtype=np.intp)
        if not self.divisions or lon.size == 0:
            return hits
        points = shapely.points(lon, lat)
        point_idx, div_idx = self._tree.query(points, predicate="intersects")
        if point_idx.size == 0:
            return hits
        order = np.lexsort((div_idx, point_idx))
        point_idx, div_idx = point_idx[order], div_idx[order]
        firsts = np.unique(point_idx, return_index=True)[1]
        hits[point_idx[firsts]] = div_idx[firsts]
        return hits


def grid_codes(districts: Sequence[str | None], lons: np.ndarray, lats: np.ndarray,
               bbox: tuple[float, float, float, float], cell_m: float) -> list[str | None]:
    """Unit-grid cell codes (万米单元网格: ``cell_m`` squares from the city's south-west corner),
    as ``<division>-<row><col>``; None where the point has no division."""
    west, south, _east, _north = bbox
    mid_lat = np.radians((bbox[1] + bbox[3]) / 2)
    dx = cell_m / (111_320.0 * np.cos(mid_lat))
    dy = cell_m / 110_574.0
    cols = np.floor((np.asarray(lons, dtype=float) - west) / dx)
    rows = np.floor((np.asarray(lats, dtype=float) - south) / dy)
    return [f"{d}-{int(r):04d}{int(c):04d}" if d else None for d, r, c in zip(districts, rows, cols)]
