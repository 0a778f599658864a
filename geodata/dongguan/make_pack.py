"""Generate the Dongguan city pack (``geodata/dongguan/``) from the facts embedded below.

Run from the project root::

    .venv/bin/python geodata/dongguan/make_pack.py

What is official and what is not:

- Division codes, Chinese names, pinyin names and 2020-census populations are official facts;
  the listed centroids and areas were measured on a public town-boundary dataset that we may
  not redistribute (project domain brief, section 6).
- The division polygons are *approximate*: power-weighted Voronoi cells grown from the listed
  centroids inside an approximate city outline, with weights tuned so each cell's area comes
  close to the listed area. Real boundaries can be imported with
  ``python -m ioc geodata import FILE --layer districts --name-field NAME --crs gcj02``.
- Key points (stations, hospitals, shelters, flood points, gauges, cameras) and units are
  plausible demo data, flagged ``demo=true``, placed with a seeded RNG.

The script is deterministic: running it twice writes byte-identical files.
"""

from __future__ import annotations

import csv
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Point, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

PACK_DIR = Path(__file__).resolve().parent
# Run as a plain script from anywhere: make the project root importable for ``ioc``.
sys.path.insert(0, str(PACK_DIR.parent.parent))

from ioc.city.pack import (  # noqa: E402
    KEY_POINT_FIELDS,
    KEY_POINTS,
    ORG_FIELDS,
    ORGS,
    UNIT_FIELDS,
    UNITS,
    Division,
    Manifest,
    MapView,
    write_divisions,
    write_manifest,
)

SEED = 441900
BBOX = (113.517, 22.650, 114.250, 23.150)  # west, south, east, north
CITY_POPULATION = 10_466_625
IMPORT_COMMAND = "python -m ioc geodata import FILE --layer districts --name-field NAME --crs gcj02"

# code, name_zh, pinyin, lat, lon (WGS-84 centroid), area km², population (2020 census)
DIVISION_TABLE = [
    ("441900006", "莞城街道", "Guancheng", 23.042, 113.736, 12, 173_957),
    ("441900004", "南城街道", "Nancheng", 22.981, 113.727, 57, 418_288),
    ("441900003", "东城街道", "Dongcheng", 23.021, 113.787, 107, 597_192),
    ("441900005", "万江街道", "Wanjiang", 23.049, 113.693, 48, 328_856),
    ("441900101", "石碣镇", "Shijie", 23.108, 113.786, 35, 282_255),
    ("441900102", "石龙镇", "Shilong", 23.113, 113.853, 15, 144_762),
    ("441900103", "茶山镇", "Chashan", 23.067, 113.870, 48, 219_333),
    ("441900104", "石排镇", "Shipai", 23.092, 113.941, 52, 235_194),
    ("441900105", "企石镇", "Qishi", 23.070, 114.039, 58, 169_396),
    ("441900106", "横沥镇", "Hengli", 23.034, 113.969, 48, 278_858),
    ("441900107", "桥头镇", "Qiaotou", 23.023, 114.081, 56, 207_294),
    ("441900108", "谢岗镇", "Xiegang", 22.955, 114.165, 91, 106_152),
    ("441900109", "东坑镇", "Dongkeng", 23.000, 113.930, 25, 187_877),
    ("441900110", "常平镇", "Changping", 22.972, 114.012, 104, 444_894),
    ("441900111", "寮步镇", "Liaobu", 23.003, 113.851, 70, 513_090),
    ("441900112", "樟木头镇", "Zhangmutou", 22.904, 114.082, 119, 173_875),
    ("441900113", "大朗镇", "Dalang", 22.908, 113.957, 98, 556_778),
    ("441900114", "黄江镇", "Huangjiang", 22.866, 113.986, 93, 283_426),
    ("441900115", "清溪镇", "Qingxi", 22.849, 114.164, 141, 344_303),
    ("441900116", "塘厦镇", "Tangxia", 22.803, 114.067, 129, 629_016),
    ("441900117", "凤岗镇", "Fenggang", 22.732, 114.155, 83, 417_430),
    ("441900118", "大岭山镇", "Dalingshan", 22.904, 113.814, 96, 366_101),
    ("441900119", "长安镇", "Chang'an", 22.793, 113.762, 95, 807_391),
    ("441900121", "虎门镇", "Humen", 22.822, 113.692, 172, 838_144),
    ("441900122", "厚街镇", "Houjie", 22.919, 113.686, 126, 550_807),
    ("441900123", "沙田镇", "Shatian", 22.890, 113.598, 84, 210_175),
    ("441900124", "道滘镇", "Daojiao", 22.993, 113.643, 55, 159_502),
    ("441900125", "洪梅镇", "Hongmei", 22.982, 113.596, 33, 65_325),
    ("441900126", "麻涌镇", "Machong", 23.039, 113.556, 85, 182_416),
    ("441900127", "望牛墩镇", "Wangniudun", 23.048, 113.627, 32, 86_960),
    ("441900128", "中堂镇", "Zhongtang", 23.103, 113.659, 59, 196_890),
    ("441900129", "高埗镇", "Gaobu", 23.101, 113.729, 35, 169_923),
    ("441900401", "松山湖(功能区)", "Songshan Lake", 22.918, 113.878, 58, 120_765),
]


@dataclass(frozen=True)
class Town:
    """One row of the division table, with the derived names the generator needs."""

    code: str
    name_zh: str
    name_en: str
    lat: float
    lon: float
    area_km2: float
    population: int

    @property
    def kind(self) -> str:
        return {"0": "subdistrict", "1": "town", "4": "zone"}[self.code[6]]

    @property
    def short_zh(self) -> str:
        """莞城街道 -> 莞城, 石碣镇 -> 石碣, 松山湖(功能区) -> 松山湖."""
        for suffix in ("(功能区)", "街道", "镇"):
            if self.name_zh.endswith(suffix):
                return self.name_zh[: -len(suffix)]
        return self.name_zh


TOWNS = [Town(*row) for row in DIVISION_TABLE]
TOWN_BY_CODE = {t.code: t for t in TOWNS}


def town_by_pinyin(name_en: str) -> Town:
    return next(t for t in TOWNS if t.name_en == name_en)


# ---------------------------------------------------------------------------------------------
# Approximate polygons. Geometry is built in a local kilometre grid so areas and distances are
# metric, then converted back to lon/lat (equirectangular about the city centre: < 0.5 % error).

LON0, LAT0 = 113.85, 22.92
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(LAT0))
KM_PER_DEG_LAT = 110.574
SMOOTH_KM = 8.0  # buffer out/in distance that rounds off the union of discs and fills nooks
CENTROID_MARGIN = 0.3  # keep each listed centroid this fraction of a neighbour gap inside its cell
GRID_DEG = 1e-5  # coordinates are rounded to 5 decimals (~1 m)


def to_km(lon: float, lat: float) -> tuple[float, float]:
    return (lon - LON0) * KM_PER_DEG_LON, (lat - LAT0) * KM_PER_DEG_LAT


def _km_to_lonlat(xy):
    return (xy / (KM_PER_DEG_LON, KM_PER_DEG_LAT)) + (LON0, LAT0)


def _lonlat_to_km(xy):
    return (xy - (LON0, LAT0)) * (KM_PER_DEG_LON, KM_PER_DEG_LAT)


def area_km2(geom: BaseGeometry) -> float:
    return shapely.transform(geom, _lonlat_to_km).area


def city_outline(sites: list[tuple[float, float]], radii: list[float], factor: float) -> Polygon:
    """Union of discs (radius ``factor`` x equal-area radius) round each centroid, smoothed."""
    discs = [Point(s).buffer(r * factor, quad_segs=12) for s, r in zip(sites, radii)]
    blob = unary_union(discs).buffer(SMOOTH_KM, quad_segs=12).buffer(-SMOOTH_KM, quad_segs=12)
    west, south = to_km(BBOX[0], BBOX[1])
    east, north = to_km(BBOX[2], BBOX[3])
    blob = blob.intersection(box(west, south, east, north))
    if not isinstance(blob, Polygon):
        raise SystemExit("city outline is not one polygon; raise the disc factor")
    return Polygon(blob.exterior)  # no holes: the city has no enclaves of "outside"


def sized_outline(sites: list[tuple[float, float]], radii: list[float], area: float) -> Polygon:
    """The outline of the given area (km²), by bisection on the disc factor."""
    low, high = 0.6, 1.6
    for _ in range(30):
        mid = (low + high) / 2
        if city_outline(sites, radii, mid).area < area:
            low = mid
        else:
            high = mid
    return city_outline(sites, radii, (low + high) / 2).simplify(0.05)


def clip_halfplane(poly: list[tuple[float, float]], a: tuple[float, float], b: float) -> list:
    """Sutherland-Hodgman: the part of convex ``poly`` where a . x <= b."""
    out = []
    for k, p in enumerate(poly):
        q = poly[(k + 1) % len(poly)]
        fp = a[0] * p[0] + a[1] * p[1] - b
        fq = a[0] * q[0] + a[1] * q[1] - b
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def power_cells(sites: list[tuple[float, float]], weights: list[float], outline: Polygon) -> list:
    """Power-diagram cells (|x - p_i|^2 - w_i smallest) clipped to the outline."""
    minx, miny, maxx, maxy = outline.bounds
    frame = [(minx - 1, miny - 1), (maxx + 1, miny - 1), (maxx + 1, maxy + 1), (minx - 1, maxy + 1)]
    cells = []
    for i, (pi, wi) in enumerate(zip(sites, weights)):
        poly = frame
        for j, (pj, wj) in enumerate(zip(sites, weights)):
            if j == i or not poly:
                continue
            a = (2 * (pj[0] - pi[0]), 2 * (pj[1] - pi[1]))
            b = pj[0] ** 2 + pj[1] ** 2 - pi[0] ** 2 - pi[1] ** 2 - wj + wi
            poly = clip_halfplane(poly, a, b)
        cells.append(Polygon(poly).intersection(outline))
    return cells


def keep_centroids_inside(sites: list[tuple[float, float]], weights: list[float]) -> list[float]:
    """Limit weight differences so every listed centroid stays inside its own cell.

    Site i lies in its own power cell iff w_j - w_i <= d_ij^2 for every j; we keep a margin.
    """
    w = list(weights)
    for _ in range(200):
        moved = False
        for i, pi in enumerate(sites):
            for j, pj in enumerate(sites):
                limit = (1 - CENTROID_MARGIN) * ((pi[0] - pj[0]) ** 2 + (pi[1] - pj[1]) ** 2)
                excess = w[j] - w[i] - limit
                if j != i and excess > 1e-9:
                    w[j] -= excess / 2
                    w[i] += excess / 2
                    moved = True
        if not moved:
            break
    mean = sum(w) / len(w)
    return [x - mean for x in w]


def fit_cells(sites: list, targets: list[float], outline: Polygon, rounds: int = 120) -> list:
    """Tune power weights so each cell's area approaches its target area (km²)."""
    weights = [0.0] * len(sites)
    for _ in range(rounds):
        cells = power_cells(sites, weights, outline)
        # Growing w_i by dw moves each of i's edges out by about dw / (2 d); for a roughly round
        # cell that adds about pi/2 * dw of area, so dw = 2/pi * shortfall, damped by half.
        weights = [w + (t - c.area) / math.pi for w, t, c in zip(weights, targets, cells)]
        weights = keep_centroids_inside(sites, weights)
    return power_cells(sites, weights, outline)


def division_shapes() -> list[BaseGeometry]:
    """Approximate division polygons in lon/lat, rounded to 5 decimals, in table order."""
    sites = [to_km(t.lon, t.lat) for t in TOWNS]
    radii = [math.sqrt(t.area_km2 / math.pi) for t in TOWNS]
    targets = [t.area_km2 for t in TOWNS]
    # The listed areas sum to 2,419 km² (the city's official 2,465 km² includes water and the
    # rounding of each figure), so the outline is sized to their sum and every cell can fit.
    outline = sized_outline(sites, radii, sum(targets))
    cells = fit_cells(sites, targets, outline)
    shapes = [shapely.set_precision(shapely.transform(c, _km_to_lonlat), GRID_DEG) for c in cells]
    for town, geom in zip(TOWNS, shapes):
        sound = geom.geom_type in ("Polygon", "MultiPolygon") and geom.is_valid
        if not sound or not geom.contains(Point(town.lon, town.lat)):
            raise SystemExit(f"{town.code} {town.name_en}: polygon invalid or misses its centroid")
    return shapes


def geojson_geometry(geom: BaseGeometry) -> dict:
    """GeoJSON mapping with every coordinate written as a 5-decimal number."""

    def rounded(obj):
        if isinstance(obj, (tuple, list)):
            if obj and isinstance(obj[0], float):
                return [round(c, 5) for c in obj]
            return [rounded(o) for o in obj]
        return obj

    gj = mapping(geom)
    return {"type": gj["type"], "coordinates": rounded(gj["coordinates"])}


# ---------------------------------------------------------------------------------------------
# Organisations: the IOC, the departments that own stations and units, one office per division.

IOC = "IOC"
DEPARTMENTS = [
    # code, name_zh, name_en, service
    ("DEPT-POLICE", "东莞市公安局", "Dongguan Public Security Bureau (110)", "police"),
    ("DEPT-URBAN", "东莞市城市管理和综合执法局",
     "Dongguan Urban Management and Comprehensive Law Enforcement Bureau", "urban"),
    ("DEPT-EMERGENCY", "东莞市应急管理局", "Dongguan Emergency Management Bureau", "emergency"),
    ("DEPT-FIRE", "东莞市消防救援支队", "Dongguan Fire and Rescue Detachment (119)", "fire"),
    ("DEPT-HEALTH", "东莞市卫生健康局", "Dongguan Health Bureau (120)", "health"),
    ("DEPT-WATER", "东莞市水务局", "Dongguan Water Affairs Bureau", "water"),
    ("DEPT-TRANSPORT", "东莞市交通运输局", "Dongguan Transport Bureau", "transport"),
    ("DEPT-HOUSING", "东莞市住房和城乡建设局",
     "Dongguan Housing and Urban-Rural Development Bureau", "housing"),
    ("DEPT-ENV", "东莞市生态环境局", "Dongguan Ecology and Environment Bureau", "environment"),
    ("DEPT-12345", "东莞市12345政务服务便民热线中心",
     "Dongguan 12345 Government Service Hotline Centre", "hotline"),
]


def office_code(town: Town) -> str:
    return f"OFF-{town.code}"


def office_names(town: Town) -> tuple[str, str]:
    if town.kind == "subdistrict":
        return f"{town.name_zh}办事处", f"{town.name_en} Subdistrict Office"
    if town.kind == "zone":
        return f"{town.short_zh}管委会", f"{town.name_en} Administrative Committee"
    return f"{town.name_zh}人民政府", f"{town.name_en} Town Government"


def org_rows() -> list[dict]:
    rows = [dict(code=IOC, name_zh="东莞市城市运行管理指挥中心",
                 name_en="Dongguan Intelligent Operations Centre", kind="city", service="ioc")]
    for code, name_zh, name_en, service in DEPARTMENTS:
        rows.append(dict(code=code, name_zh=name_zh, name_en=name_en, kind="department",
                         service=service, parent=IOC))
    for town in TOWNS:
        name_zh, name_en = office_names(town)
        rows.append(dict(code=office_code(town), name_zh=name_zh, name_en=name_en, kind="office",
                         service="town", parent=IOC, district_code=town.code))
    return rows


# ---------------------------------------------------------------------------------------------
# Demo key points. Counts follow population (or, for flood points, low-lying riverside towns);
# every point is drawn by a seeded RNG inside its division's polygon, away from the edge.

EXTRA_POLICE_STATIONS = 12  # on top of one per division, given to the most populous
EXTRA_FIRE_STATIONS = {"Humen": 1, "Chang'an": 1}
EMS_STATIONS = 30
HOSPITALS = {  # pinyin -> count; the centre and the big towns
    "Nancheng": 2, "Dongcheng": 2, "Guancheng": 1, "Wanjiang": 1, "Humen": 2, "Chang'an": 2,
    "Tangxia": 1, "Changping": 1, "Houjie": 1, "Dalang": 1, "Liaobu": 1, "Fenggang": 1,
    "Qingxi": 1, "Shilong": 1, "Songshan Lake": 1, "Zhangmutou": 1,
}
SHELTERS_PER_DIVISION = 2
FLOOD_POINTS = 45
# Low-lying water-network towns on the Dongjiang delta and the estuary flood more often.
FLOOD_PRONE = {
    "Machong": 4, "Zhongtang": 4, "Wangniudun": 4, "Hongmei": 4, "Daojiao": 4, "Shatian": 3,
    "Gaobu": 3, "Shijie": 3, "Wanjiang": 3, "Humen": 3, "Shilong": 2, "Guancheng": 2,
    "Nancheng": 2, "Houjie": 2, "Chashan": 2, "Chang'an": 2, "Dongcheng": 1.5,
}
CAMERAS = 200
RESCUE_BASES = ["Nancheng", "Humen", "Changping", "Tangxia", "Machong", "Songshan Lake"]

KIND_LABELS = {  # kind -> (id prefix, owning department, zh suffix, en suffix)
    "police_station": ("PS", "DEPT-POLICE", "派出所", "Police Station"),
    "fire_station": ("FS", "DEPT-FIRE", "消防救援站", "Fire Station"),
    "ems_station": ("EMS", "DEPT-HEALTH", "急救站", "EMS Station"),
    "hospital": ("HOS", "DEPT-HEALTH", "人民医院", "People's Hospital"),
    "shelter": ("SH", "DEPT-EMERGENCY", "应急避难场所", "Emergency Shelter"),
    "urban_station": ("US", "DEPT-URBAN", "城管执法中队", "Urban Management Squad"),
    "rescue_base": ("RB", "DEPT-EMERGENCY", "应急救援基地", "Emergency Rescue Base"),
    "flood_point": ("FP", "DEPT-WATER", "易涝点", "Flood-prone Point"),
    "water_gauge": ("WG", "DEPT-WATER", "水位站", "Water Gauge"),
    "camera": ("CAM", "DEPT-URBAN", "视频监控点", "Camera"),
}
ZH_ORDINALS = "一二三四五六七八九十"


def allocate(total: int, weights: dict[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` over the keys by weight (largest remainder), at least ``minimum`` each."""
    counts = {k: minimum for k in weights}
    rest = total - minimum * len(weights)
    norm = sum(weights.values())
    shares = {k: rest * w / norm for k, w in weights.items()}
    for k, share in shares.items():
        counts[k] += int(share)
    leftover = total - sum(counts.values())
    by_remainder = sorted(weights, key=lambda k: (-(shares[k] - int(shares[k])), k))
    for k in by_remainder[:leftover]:
        counts[k] += 1
    return counts


class Placer:
    """Seeded random points inside each division, at least ~300 m inside its polygon."""

    def __init__(self, shapes: dict[str, BaseGeometry], seed: int = SEED):
        self.rng = random.Random(seed)
        self.inner = {}
        for code, geom in shapes.items():
            inner = geom.buffer(-0.003)
            self.inner[code] = inner if inner.area > 0.2 * geom.area else geom.buffer(-0.001)
            shapely.prepare(self.inner[code])

    def point(self, town: Town, spread: float = 1.0) -> tuple[float, float]:
        """A point drawn uniformly over the division, pulled towards its centroid by ``spread``."""
        inner = self.inner[town.code]
        minx, miny, maxx, maxy = inner.bounds
        for attempt in range(10_000):
            pull = spread if attempt < 1_000 else 1.0  # centroid hard by the edge: stop pulling
            x = self.rng.uniform(minx, maxx)
            y = self.rng.uniform(miny, maxy)
            lon = round(town.lon + pull * (x - town.lon), 5)
            lat = round(town.lat + pull * (y - town.lat), 5)
            if shapely.contains_xy(inner, lon, lat):
                return lon, lat
        raise SystemExit(f"{town.code}: could not place a point inside the division")


def key_point(kind: str, ident: str, town: Town, lonlat: tuple[float, float],
              name_zh: str, name_en: str) -> dict:
    return dict(id=ident, kind=kind, name_zh=name_zh, name_en=name_en, lon=f"{lonlat[0]:.5f}",
                lat=f"{lonlat[1]:.5f}", district_code=town.code, org_code=KIND_LABELS[kind][1],
                demo="true")


def station_names(kind: str, town: Town, n: int) -> tuple[str, str]:
    """南城派出所 / Nancheng Police Station; then 南城第二派出所 / Nancheng No. 2 Police Station."""
    _, _, zh, en = KIND_LABELS[kind]
    if kind == "shelter":
        return f"{town.short_zh}{n}号{zh}", f"{town.name_en} {en} {n}"
    if n == 1:
        return f"{town.short_zh}{zh}", f"{town.name_en} {en}"
    return f"{town.short_zh}第{ZH_ORDINALS[n - 1]}{zh}", f"{town.name_en} No. {n} {en}"


def stations(kind: str, counts: dict[str, int], placer: Placer, spread: float) -> Iterator[dict]:
    """``counts[code]`` stations of ``kind`` per division; the first one near the town centre."""
    prefix = KIND_LABELS[kind][0]
    for town in TOWNS:
        for n in range(1, counts.get(town.code, 0) + 1):
            lonlat = placer.point(town, spread if n == 1 else 1.0)
            yield key_point(kind, f"{prefix}-{town.code}-{n}", town, lonlat,
                            *station_names(kind, town, n))


def numbered_points(kind: str, counts: dict[str, int], placer: Placer) -> Iterator[tuple]:
    """City-wide numbered points (FP-0001, CAM-0001, ...) with a per-division sequence in names."""
    prefix, _, zh, en = KIND_LABELS[kind]
    serial = 0
    for town in TOWNS:
        for n in range(1, counts.get(town.code, 0) + 1):
            serial += 1
            lonlat = placer.point(town)
            yield key_point(kind, f"{prefix}-{serial:04d}", town, lonlat,
                            f"{town.short_zh}{zh}{n:02d}", f"{town.name_en} {en} {n:02d}")


def by_code(counts_by_pinyin: dict[str, int]) -> dict[str, int]:
    return {town_by_pinyin(name).code: n for name, n in counts_by_pinyin.items()}


def key_point_rows(shapes: dict[str, BaseGeometry]) -> list[dict]:
    placer = Placer(shapes)
    population = {t.code: t.population for t in TOWNS}
    every = {t.code: 1 for t in TOWNS}
    police = allocate(len(TOWNS) + EXTRA_POLICE_STATIONS,
                      {c: p ** 2 for c, p in population.items()}, minimum=1)
    extra_fire = by_code(EXTRA_FIRE_STATIONS)
    fire = {c: 1 + extra_fire.get(c, 0) for c in every}
    ems = allocate(EMS_STATIONS, {c: p ** 0.5 for c, p in population.items()}, minimum=0)
    rows: list[dict] = []
    rows += stations("police_station", police, placer, spread=0.25)
    rows += stations("fire_station", fire, placer, spread=0.5)
    rows += stations("ems_station", ems, placer, spread=0.5)
    rows += stations("hospital", by_code(HOSPITALS), placer, spread=0.3)
    rows += stations("shelter", {c: SHELTERS_PER_DIVISION for c in every}, placer, spread=1.0)
    rows += stations("urban_station", every, placer, spread=0.3)
    rows += stations("rescue_base", by_code({name: 1 for name in RESCUE_BASES}), placer, spread=0.6)
    flood_weight = {t.code: FLOOD_PRONE.get(t.name_en, 0.5) for t in TOWNS}
    floods = list(numbered_points("flood_point", allocate(FLOOD_POINTS, flood_weight), placer))
    rows += floods
    rows += [water_gauge(fp) for fp in floods]
    rows += numbered_points("camera", allocate(CAMERAS, population, minimum=2), placer)
    return rows


def water_gauge(flood_point: dict) -> dict:
    """A water-level gauge at the flood point's spot: WG-0001 watches FP-0001."""
    prefix, org, zh, en = KIND_LABELS["water_gauge"]
    return {**flood_point, "id": flood_point["id"].replace("FP-", f"{prefix}-"),
            "kind": "water_gauge", "org_code": org,
            "name_zh": f"{flood_point['name_zh']}{zh}",
            "name_en": f"{flood_point['name_en']} {en}"}


# ---------------------------------------------------------------------------------------------
# Demo units, each homed at a station of the matching kind.

UNIT_TYPES = {  # unit_type -> (id prefix, call-sign word, zh name, en name)
    "police_car": ("PC", "巡", "巡逻警车", "Patrol Car"),
    "fire_engine": ("FE", "消", "消防车", "Fire Engine"),
    "ambulance": ("AMB", "急", "救护车", "Ambulance"),
    "urban_patrol": ("UP", "城管", "城管巡查车", "Urban Patrol"),
    "rescue_team": ("RT", "救援", "救援队", "Rescue Team"),
}
POLICE_CARS = 150
FIRE_ENGINES_PER_STATION = 2
AMBULANCES = 60  # one per EMS station and hospital, the rest at the busiest hospitals
URBAN_PATROLS_PER_STATION = 2
RESCUE_TEAMS_PER_BASE = 3


def unit_homes(points: list[dict]) -> Iterator[tuple[str, dict]]:
    """(unit_type, home key point) for every unit, in a stable order."""
    def of_kind(*kinds: str) -> list[dict]:
        return [p for p in points if p["kind"] in kinds]

    population = {t.code: t.population for t in TOWNS}
    police = of_kind("police_station")
    cars = allocate(POLICE_CARS, population, minimum=2)
    for town in TOWNS:  # a division's cars go round its stations, the main station first
        own = [p for p in police if p["district_code"] == town.code]
        for k in range(cars[town.code]):
            yield "police_car", own[k % len(own)]
    for station in of_kind("fire_station"):
        yield from [("fire_engine", station)] * FIRE_ENGINES_PER_STATION
    medical = of_kind("ems_station", "hospital")
    busiest = sorted(of_kind("hospital"), key=lambda p: (-population[p["district_code"]], p["id"]))
    extra = AMBULANCES - len(medical)
    for home in medical + busiest[:extra]:
        yield "ambulance", home
    for station in of_kind("urban_station"):
        yield from [("urban_patrol", station)] * URBAN_PATROLS_PER_STATION
    for base in of_kind("rescue_base"):
        yield from [("rescue_team", base)] * RESCUE_TEAMS_PER_BASE


def unit_rows(points: list[dict]) -> list[dict]:
    rows = []
    serial: dict[str, int] = {}  # per unit type, city-wide
    per_town: dict[tuple[str, str], int] = {}  # per unit type and division, for call signs
    per_home: dict[tuple[str, str], int] = {}  # per unit type and home, for names
    order = {p["id"]: k for k, p in enumerate(points)}  # a home's units together, in table order
    type_rank = {unit_type: k for k, unit_type in enumerate(UNIT_TYPES)}
    homes = sorted(unit_homes(points), key=lambda th: (type_rank[th[0]], order[th[1]["id"]]))
    for unit_type, home in homes:
        prefix, word, zh, en = UNIT_TYPES[unit_type]
        town = TOWN_BY_CODE[home["district_code"]]
        serial[unit_type] = s = serial.get(unit_type, 0) + 1
        per_town[unit_type, town.code] = t = per_town.get((unit_type, town.code), 0) + 1
        per_home[unit_type, home["id"]] = h = per_home.get((unit_type, home["id"]), 0) + 1
        rows.append(dict(id=f"{prefix}-{s:04d}", call_sign=f"{town.short_zh}{word}{t:02d}",
                         unit_type=unit_type, org_code=home["org_code"], home_point_id=home["id"],
                         name_zh=f"{home['name_zh']}{zh}{h}号",
                         name_en=f"{home['name_en']} {en} {h}", demo="true"))
    return rows


# ---------------------------------------------------------------------------------------------
# Writing the pack.

def manifest() -> Manifest:
    note = (
        "Division polygons are approximate: power-weighted Voronoi cells around each division's "
        "published centroid, clipped to an approximate city outline and sized to the published "
        "areas. They are not authoritative boundaries. Codes, names and 2020-census populations "
        f"are official. To use real boundaries: {IMPORT_COMMAND}"
    )
    return Manifest(name="dongguan", name_zh="东莞市", name_en="Dongguan", adcode="441900",
                    timezone="Asia/Shanghai", bbox=BBOX,
                    map=MapView(center=(113.85, 22.92), zoom=10),
                    boundaries="approximate", boundaries_note=note)


def divisions(shapes: list[BaseGeometry]) -> list[Division]:
    return [
        Division(code=t.code, name_zh=t.name_zh, name_en=t.name_en, kind=t.kind,
                 population=t.population, geometry=geojson_geometry(geom))
        for t, geom in zip(TOWNS, shapes)
    ]


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)


def area_report(shapes: list[BaseGeometry]) -> str:
    errors = sorted(abs(area_km2(g) / t.area_km2 - 1) for t, g in zip(TOWNS, shapes))
    median = errors[len(errors) // 2]
    return f"cell area vs listed area: median error {median:.2%}, max {errors[-1]:.2%}"


def main(out: Path = PACK_DIR) -> None:
    assert sum(t.population for t in TOWNS) == CITY_POPULATION
    shapes = division_shapes()
    write_manifest(out, manifest())
    write_divisions(out, divisions(shapes))
    write_csv(out / ORGS, ORG_FIELDS, org_rows())
    points = key_point_rows({t.code: g for t, g in zip(TOWNS, shapes)})
    write_csv(out / KEY_POINTS, KEY_POINT_FIELDS, points)
    units = unit_rows(points)
    write_csv(out / UNITS, UNIT_FIELDS, units)
    print(f"wrote {out}: {len(TOWNS)} divisions, {len(points)} key points, {len(units)} units")
    print(area_report(shapes))


if __name__ == "__main__":
    main()
