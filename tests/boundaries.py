"""Synthetic city packs and boundary files for geography tests.

A small grid of Dongguan divisions stands in for the real pack. Its "real" boundaries are the
grid squares; the pack itself starts with crude diamonds, as an approximate pack would. Boundary
files hold the squares the way Chinese sources publish them: shifted into GCJ-02, with 12-digit
codes, name variants (南城街道办事处, 石碣镇人民政府, 松山湖（功能区）), a division split in two
pieces and a zone the pack lacks (滨海湾新区).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import box, mapping, shape

from ioc.city.geo import CRS, transform_geometry
from ioc.city.pack import (
    CityPack,
    Division,
    Manifest,
    MapView,
    load_pack,
    write_divisions,
    write_empty_layers,
    write_manifest,
)

CELL = 0.04  # degrees, about 4 km
ORIGIN = (113.70, 22.98)  # south-west corner of the grid, in Nancheng/Dongcheng

# code, name_zh, name_en, kind, population, (column, row) in the grid
GRID = [
    ("441900004", "南城街道", "Nancheng", "subdistrict", 418288, (0, 0)),
    ("441900003", "东城街道", "Dongcheng", "subdistrict", 597192, (1, 0)),
    ("441900401", "松山湖(功能区)", "Songshan Lake", "zone", 120765, (2, 0)),
    ("441900006", "莞城街道", "Guancheng", "subdistrict", 173957, (0, 1)),
    ("441900005", "万江街道", "Wanjiang", "subdistrict", 328856, (1, 1)),
    ("441900101", "石碣镇", "Shijie", "town", 282255, (2, 1)),
]

# How a published boundary file spells each division: (name, English name).
FILE_NAMES = {
    "441900004": ("南城街道办事处", "NANCHENG SUBDISTRICT"),
    "441900003": (" 东城街道 ", "dongcheng"),
    "441900401": ("松山湖（功能区）", "Songshan Lake"),
    "441900006": ("莞城", "Guancheng Subdistrict"),
    "441900005": ("万江街道", "Wanjiang"),
    "441900101": ("石碣镇人民政府", "Shijie Town"),
}
SPLIT_CODE = "441900005"  # published as two pieces
EXTRA_ZONE = ("441900404000", "滨海湾新区", "Binhaiwan New Area", box(113.68, 22.90, 113.72, 22.94))

FOSHAN = [  # name, name_en, population, (column, row) around 113.1 E, 23.0 N
    ("禅城区", "Chancheng", 1464000, (0, 0)),
    ("南海区", "Nanhai", 3667000, (1, 0)),
    ("顺德区", "Shunde", 3229000, (0, -1)),
    ("三水区", "Sanshui", 805000, (0, 1)),
    ("高明区", "Gaoming", 486000, (-1, 0)),
]


def real_polygon(
    column: int, row: int, origin: tuple[float, float] = ORIGIN, cell: float = CELL
) -> shapely.Polygon:
    """A grid square with extra vertices, so the GCJ-02 shift bends it like a real boundary."""
    west, south = origin[0] + column * cell, origin[1] + row * cell
    return shapely.segmentize(box(west, south, west + cell, south + cell), cell / 8)


def real_polygons() -> dict[str, shapely.Polygon]:
    """The true WGS-84 boundary of each grid division, by code."""
    return {code: real_polygon(*cell) for code, *_, cell in GRID}


def approximate_polygon(real: shapely.Polygon) -> shapely.Polygon:
    """A diamond inside the square: what an approximate pack ships before import."""
    c = real.centroid
    r = CELL / 4
    return shapely.Polygon([(c.x + r, c.y), (c.x, c.y + r), (c.x - r, c.y), (c.x, c.y - r)])


def grid_divisions() -> list[Division]:
    real = real_polygons()
    return [
        Division(
            code=code, name_zh=name_zh, name_en=name_en, kind=kind, population=pop,
            geometry=mapping(approximate_polygon(real[code])),
        )
        for code, name_zh, name_en, kind, pop, _ in GRID
    ]


def make_pack(root: Path, name: str = "testcity", divisions: list[Division] | None = None) -> CityPack:
    """Write a small valid pack under ``root/name`` and load it."""
    path = root / name
    path.mkdir(parents=True)
    divisions = grid_divisions() if divisions is None else divisions
    west, south, east, north = shapely.union_all([d.shape for d in divisions]).bounds
    manifest = Manifest(
        name=name, name_zh="测试市", name_en="Test City", timezone="Asia/Shanghai",
        bbox=(round(west - 0.01, 4), round(south - 0.01, 4), round(east + 0.01, 4), round(north + 0.01, 4)),
        map=MapView(center=(113.76, 23.02), zoom=11),
    )
    write_divisions(path, divisions)
    write_manifest(path, manifest)
    write_empty_layers(path)
    return load_pack(path)


def _feature(props: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def dongguan_features(
    crs: CRS = "gcj02", omit: tuple[str, ...] = (), extra: bool = True
) -> list[dict[str, Any]]:
    """Published-style features for the grid, in ``crs``; ``omit`` leaves divisions out by code."""
    features = []
    for code, *_, cell in GRID:
        if code in omit:
            continue
        name, name_en = FILE_NAMES[code]
        props = {"XZQDM": code + "000", "XZQMC": name, "ENAME": name_en}
        for piece in _pieces(code, real_polygon(*cell)):
            features.append(_feature(props, transform_geometry(piece, "wgs84", crs)))
    if extra:
        code, name, name_en, geom = EXTRA_ZONE
        props = {"XZQDM": code, "XZQMC": name, "ENAME": name_en}
        features.append(_feature(props, transform_geometry(geom, "wgs84", crs)))
    return features


def _pieces(code: str, polygon: shapely.Polygon) -> list[shapely.Geometry]:
    if code != SPLIT_CODE:
        return [polygon]
    west, south, east, north = polygon.bounds
    middle = (west + east) / 2
    halves = [box(west, south, middle, north), box(middle, south, east, north)]
    return [polygon.intersection(half) for half in halves]


def foshan_features(crs: CRS = "wgs84") -> list[dict[str, Any]]:
    """Five districts in a plus shape around 113.1 E, 23.0 N, for ``init_city``."""
    origin = (113.05, 22.95)
    return [
        _feature(
            {"name": name, "name_en": name_en, "population": pop},
            transform_geometry(real_polygon(*cell, origin=origin, cell=0.1), "wgs84", crs),
        )
        for name, name_en, pop, cell in FOSHAN
    ]


def write_boundary_file(path: Path, features: list[dict[str, Any]], encoding: str = "UTF-8") -> Path:
    """Write features by suffix: .geojson a FeatureCollection, .json a bare array, .shp/.zip/.gpkg."""
    suffix = path.suffix.lower()
    if suffix == ".geojson":
        collection = {"type": "FeatureCollection", "features": features}
        path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(features, ensure_ascii=False), encoding="utf-8")
    elif suffix == ".shp":
        _frame(features).to_file(path, driver="ESRI Shapefile", encoding=encoding)
    elif suffix == ".gpkg":
        _frame(features).to_file(path, driver="GPKG", layer="boundaries")
    elif suffix == ".zip":
        _zip_shapefile(path, features, encoding)
    else:
        raise ValueError(f"no writer for {suffix}")
    return path


def _frame(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    # Many-polygon files mix Polygon and MultiPolygon; Shapefile wants one type, so promote all.
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    multi = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in frame.geometry]
    return frame.set_geometry(gpd.GeoSeries(multi, index=frame.index, crs="EPSG:4326"))


def _zip_shapefile(path: Path, features: list[dict[str, Any]], encoding: str) -> None:
    folder = path.parent / (path.stem + "_shp")
    folder.mkdir()
    shp = write_boundary_file(folder / f"{path.stem}.shp", features, encoding)
    with zipfile.ZipFile(path, "w") as archive:
        for part in sorted(folder.iterdir()):
            if part.stem == shp.stem:
                archive.write(part, part.name)


def stored_shapes(pack: CityPack) -> dict[str, shapely.Geometry]:
    """Each division's geometry as stored in the pack's districts.geojson, by code."""
    data = json.loads((pack.path / "districts.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["code"]: shape(f["geometry"]) for f in data["features"]}


def published_name(name_zh: str) -> str:
    """The way official lists tend to spell a division: 南城街道 -> 南城街道办事处, 石碣镇 -> 石碣镇人民政府."""
    if name_zh.endswith("街道"):
        return name_zh + "办事处"
    if name_zh.endswith("镇"):
        return name_zh + "人民政府"
    return name_zh.replace("(", "（").replace(")", "）")


def pack_features(divisions: list[Division], crs: CRS = "gcj02") -> list[dict[str, Any]]:
    """Any pack's divisions as a published-style boundary file in ``crs``."""
    return [
        _feature(
            {"XZQDM": d.code + "000", "XZQMC": published_name(d.name_zh)},
            transform_geometry(d.shape, "wgs84", crs),
        )
        for d in divisions
    ]
