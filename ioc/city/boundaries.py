"""Real boundaries into city packs: read boundary files, import them, start a pack for a new city.

Boundary files come as GeoJSON (also a bare JSON array of features), Shapefile (.shp or a .zip
holding one) or GeoPackage. Chinese sources are often GCJ-02 or BD-09 without saying so; the
caller names that with ``crs`` and the geometries are converted to WGS-84 here, once.

Matching file features to a pack's divisions tolerates the usual variants: 12-digit codes for
9-digit ones, and names with or without 街道/镇/街道办事处/镇人民政府/管委会/(功能区) and the like.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from ioc.city.geo import CRS, check_crs, transform_geometry
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
from ioc.errors import UserError

log = logging.getLogger(__name__)

FORMATS_HELP = "use GeoJSON (.geojson/.json), a Shapefile (.shp or .zip) or a GeoPackage (.gpkg)"
PRECISION = 1e-6  # degrees, about 0.1 m: finer than any source boundary, keeps files small
PACK_NAME = re.compile(r"[a-z0-9_-]+")
POLYGONAL = ("Polygon", "MultiPolygon")

# Longest first; stripped repeatedly, so 石碣镇人民政府 -> 石碣镇 -> 石碣.
NAME_SUFFIXES = sorted(
    [
        "街道办事处", "街道办", "办事处", "街道", "人民政府", "政府", "管理委员会", "管委会",
        "功能区", "园区", "新区", "镇", "乡", "区", "县",
        "subdistrict", "street", "township", "town", "zone", "district", "county",
    ],
    key=len,
    reverse=True,
)
NAME_EN_COLUMNS = ("name_en", "en_name", "ename", "name_english", "english", "nameen", "name:en")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
Lang = Literal["zh", "en"]
POPULATION_COLUMNS = ("population", "pop", "pop2020", "pop_2020", "常住人口", "人口")


# --- reading ---------------------------------------------------------------------------------


def read_boundaries(file: Path, crs: CRS | None = None, *, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a boundary file into a GeoDataFrame of valid polygons in WGS-84 (EPSG:4326).

    ``crs`` names the coordinate system of unlabelled Chinese sources (gcj02, bd09); ``encoding``
    overrides the attribute encoding (e.g. gbk for a Shapefile without a .cpg).
    """
    file = Path(file)
    if not file.is_file():
        raise UserError(f"{file}: no such file")
    if file.suffix.lower() in (".geojson", ".json"):
        frame = _read_json(file, encoding)
    else:
        frame = _read_ogr(file, file, encoding)
    blank = frame.geometry.isna() | frame.geometry.is_empty
    if blank.any():
        log.warning("%s: skipping %d features without a geometry", file, int(blank.sum()))
        frame = frame[~blank]
    if frame.empty:
        raise UserError(f"{file}: no features with a geometry; is this the right file or layer?")
    frame = _to_lonlat(frame, file)
    if crs is not None and check_crs(crs) != "wgs84":
        converted = transform_geometry(np.asarray(frame.geometry.array), crs, "wgs84")
        frame = frame.set_geometry(gpd.GeoSeries(converted, index=frame.index, crs="EPSG:4326"))
    return frame.set_geometry(_polygons(frame.geometry, file))


def _read_json(file: Path, encoding: str | None) -> gpd.GeoDataFrame:
    try:
        data = json.loads(file.read_text(encoding=encoding or "utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{file}: not valid JSON ({exc}); {FORMATS_HELP}") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        if not data.get("features"):
            raise UserError(f"{file}: the FeatureCollection has no features")
        return _read_ogr(file, file, encoding)
    if _is_feature(data):
        data = [data]
    if not isinstance(data, list) or not all(_is_feature(f) for f in data):
        raise UserError(
            f"{file}: not GeoJSON: expected a FeatureCollection, a Feature or a JSON array of Features"
        )
    if not data:
        raise UserError(f"{file}: the JSON array holds no features")
    collection = {"type": "FeatureCollection", "features": data}
    return _read_ogr(io.BytesIO(json.dumps(collection).encode("utf-8")), file, None)


def _is_feature(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "Feature"


def _read_ogr(source: Path | io.BytesIO, file: Path, encoding: str | None) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(source, engine="pyogrio", encoding=encoding)
        if encoding is None and _needs_gbk(file, frame):
            log.warning("%s: no .cpg and attributes look like GBK; reading them as GBK", file)
            frame = gpd.read_file(source, engine="pyogrio", encoding="gbk")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError, ValueError) as exc:
        problem = _first_line(exc)
        raise UserError(f"{file}: cannot read it as a boundary file ({problem}); {FORMATS_HELP}") from None
    if frame.empty:
        raise UserError(f"{file}: the file holds no features")
    return frame.reset_index(drop=True)


def _needs_gbk(file: Path, frame: gpd.GeoDataFrame) -> bool:
    """True for a Shapefile without .cpg whose text decoded as Latin-1 is really GBK (common in China)."""
    if file.suffix.lower() != ".shp" or file.with_suffix(".cpg").exists():
        return False
    texts = [v for col in _columns(frame) for v in frame[col] if isinstance(v, str)]
    garbled = [t for t in texts if any("\x80" <= ch <= "\xff" for ch in t) and all(ch <= "\xff" for ch in t)]
    if not garbled:
        return False
    try:
        for text in garbled:
            text.encode("latin-1").decode("gbk")
    except UnicodeDecodeError:
        return False
    return True


def _to_lonlat(frame: gpd.GeoDataFrame, file: Path) -> gpd.GeoDataFrame:
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    elif frame.crs.to_epsg() != 4326:
        try:
            frame = frame.to_crs("EPSG:4326")
        except CRSError as exc:
            raise UserError(f"{file}: cannot convert its coordinate system to WGS-84: {exc}") from None
    west, south, east, north = frame.total_bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise UserError(
            f"{file}: coordinates are not longitude/latitude and the file names no coordinate system; "
            "add its .prj or convert it to WGS-84 first"
        )
    return frame


def _polygons(geoms: gpd.GeoSeries, file: Path) -> gpd.GeoSeries:
    """Every geometry as a valid (Multi)Polygon; ``UserError`` for points, lines or beyond repair."""
    fixed = []
    for position, geom in geoms.items():
        number = position + 1  # as the file counts features, blank ones included
        if geom.geom_type not in POLYGONAL and geom.geom_type != "GeometryCollection":
            kind = geom.geom_type
            raise UserError(f"{file}: feature {number} is a {kind}; boundary files must hold polygons")
        if not geom.is_valid or geom.geom_type == "GeometryCollection":
            geom = _polygonal_part(shapely.make_valid(geom))
            if geom.is_empty:
                raise UserError(f"{file}: feature {number} has an invalid polygon that cannot be repaired")
        fixed.append(geom)
    return gpd.GeoSeries(fixed, index=geoms.index, crs="EPSG:4326")


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != frame.geometry.name]


def _require_field(frame: gpd.GeoDataFrame, column: str, file: Path) -> None:
    if column not in frame.columns or column == frame.geometry.name:
        raise UserError(f"{file}: no field {column!r}; the file has: {', '.join(_columns(frame))}")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- importing into an existing pack ---------------------------------------------------------


@dataclass
class ImportReport:
    """What ``import_districts`` did, for the CLI to print or emit as JSON."""

    matched: list[tuple[str, str, str]] = field(default_factory=list)  # code, pack name_zh, file label
    unmatched_features: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # code, name_zh: kept old geometry

    def lines(self) -> list[str]:
        total = len(self.matched) + len(self.missing)
        out = [f"imported boundaries for {len(self.matched)} of {total} divisions"]
        out += [f"  {code} {name} <- {label}" for code, name, label in self.matched]
        if self.unmatched_features:
            out.append(f"{len(self.unmatched_features)} file features match no division (ignored):")
            out += [f"  {label}" for label in self.unmatched_features]
        if self.missing:
            out.append(f"{len(self.missing)} divisions got no boundary and keep their old one:")
            out += [f"  {code} {name}" for code, name in self.missing]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": [{"code": c, "name_zh": n, "feature": f} for c, n, f in self.matched],
            "unmatched_features": list(self.unmatched_features),
            "missing": [{"code": c, "name_zh": n} for c, n in self.missing],
        }


def import_districts(
    pack: CityPack,
    file: Path,
    code_field: str | None = None,
    name_field: str | None = None,
    crs: CRS | None = None,
    *,
    encoding: str | None = None,
) -> ImportReport:
    """Replace the geometry of each pack division found in ``file``; names, codes and populations stay."""
    file = Path(file)
    frame = read_boundaries(file, crs, encoding=encoding)
    if not code_field and not name_field:
        raise UserError(
            f"{file}: say which field holds the division code or name (--code-field / --name-field); "
            f"the file has: {', '.join(_columns(frame))}"
        )
    for column in (code_field, name_field):
        if column:
            _require_field(frame, column, file)
    divisions = pack.divisions()
    matcher = _Matcher(divisions)
    pieces: dict[int, list[BaseGeometry]] = defaultdict(list)
    labels: dict[int, list[str]] = defaultdict(list)
    report = ImportReport()
    for values in frame.to_dict("records"):
        code = _text(values[code_field]) if code_field else ""
        name = _text(values[name_field]) if name_field else ""
        label = name or code or "(unnamed)"
        index = matcher.match(code, name)
        if index is None:
            report.unmatched_features.append(label)
            continue
        pieces[index].append(values[frame.geometry.name])
        if label not in labels[index]:
            labels[index].append(label)
    if not pieces:
        raise UserError(_nothing_matched(file, frame, code_field, name_field, divisions))
    updated = []
    for i, division in enumerate(divisions):
        if i in pieces:
            updated.append(_with_geometry(division, shapely.union_all(pieces[i])))
            report.matched.append((division.code, division.name_zh, " + ".join(labels[i])))
        else:
            updated.append(division)
            report.missing.append((division.code, division.name_zh))
    _save_import(pack, updated, file, crs, report)
    return report


def _save_import(
    pack: CityPack, divisions: list[Division], file: Path, crs: CRS | None, report: ImportReport
) -> None:
    write_divisions(pack.path, divisions)
    note = (
        f"{len(report.matched)} of {len(divisions)} divisions imported from {file.name} "
        f"({crs or 'wgs84'}) on {date.today().isoformat()}"
    )
    manifest = pack.manifest.model_copy(update={"boundaries": "imported", "boundaries_note": note})
    write_manifest(pack.path, manifest)
    # Keep the caller's pack object in step with the files it now describes.
    pack.manifest = manifest
    pack._cache.clear()
    log.info("%s: %s", pack.path, note)


def _nothing_matched(
    file: Path,
    frame: gpd.GeoDataFrame,
    code_field: str | None,
    name_field: str | None,
    divisions: list[Division],
) -> str:
    column = name_field or code_field
    sample_file = [_text(v) for v in frame[column].head(5)]
    sample_pack = [d.name_zh if name_field else d.code for d in divisions[:5]]
    return (
        f"{file}: nothing matched the pack's divisions by {'name' if name_field else 'code'}; "
        f"file {column!r} has {', '.join(sample_file)}; the pack has {', '.join(sample_pack)}. "
        "Check --name-field / --code-field (and --encoding if the names look garbled)"
    )


def _with_geometry(division: Division, geom: BaseGeometry) -> Division:
    # A fresh Division, not model_copy: the copy would carry the old cached ``shape``.
    fields = division.model_dump(exclude={"geometry"})
    return Division.model_validate({**fields, "geometry": _geometry_dict(geom)})


def _geometry_dict(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON geometry on a 1e-6 degree grid (snapped first so rounding cannot break validity)."""
    snapped = shapely.set_precision(geom, PRECISION)
    rounded = shapely.transform(snapped, lambda coords: np.round(coords, 6))
    return json.loads(shapely.to_geojson(rounded))


def _text(value: Any) -> str:
    """A field value as text; numeric codes from Shapefiles lose their '.0'."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


class _Matcher:
    """Find the pack division for a file feature by code, then by name."""

    def __init__(self, divisions: list[Division]) -> None:
        self.codes = {d.code: i for i, d in enumerate(divisions)}
        names = [(n, i) for i, d in enumerate(divisions) for n in (d.name_zh, d.name_en)]
        self.exact = _unique_keys((_exact_key(n), i) for n, i in names)
        self.loose = _unique_keys((_loose_key(n), i) for n, i in names)

    def match(self, code: str, name: str) -> int | None:
        found = self._by_code(code) if code else None
        if found is None and name:
            found = self.exact.get(_exact_key(name))
            if found is None:
                found = self.loose.get(_loose_key(name))
        return found

    def _by_code(self, code: str) -> int | None:
        if code in self.codes:
            return self.codes[code]
        if not code.isdigit():
            return None
        # 12-digit codes (441900006000) nest the 9-digit town code (441900006): take the longest prefix.
        prefixes = [c for c in self.codes if c.isdigit() and code.startswith(c)]
        if prefixes:
            return self.codes[max(prefixes, key=len)]
        for c, i in self.codes.items():
            if c.isdigit() and c.startswith(code) and set(c[len(code):]) == {"0"}:
                return i
        return None


def _unique_keys(pairs) -> dict[str, int]:
    """Key -> division index, dropping empty keys and keys that two divisions share."""
    owners: dict[str, set[int]] = defaultdict(set)
    for key, index in pairs:
        if key:
            owners[key].add(index)
    return {key: next(iter(idx)) for key, idx in owners.items() if len(idx) == 1}


def _exact_key(name: str) -> str:
    # NFKC folds full-width brackets, digits and spaces into their ASCII forms.
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name or "")).lower()


def _loose_key(name: str) -> str:
    key = re.sub(r"\([^)]*\)", "", _exact_key(name))
    key = re.sub(r"[()'’`.\-_·,]", "", key)
    stripped = True
    while stripped:
        stripped = False
        for suffix in NAME_SUFFIXES:
            if key.endswith(suffix) and len(key) - len(suffix) >= 2:
                key, stripped = key[: -len(suffix)], True
                break
    return key


# --- a new city ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameFields:
    """Where a boundary file keeps its division names: one field whose names are in ``lang``
    (None: each name's own script decides, CJK characters → zh), or one field per language."""

    field: str | None = None
    lang: Lang | None = None
    zh: str | None = None
    en: str | None = None

    def columns(self) -> list[str]:
        return [c for c in (self.field, self.zh, self.en) if c]

    def check(self) -> None:
        if self.field and (self.zh or self.en):
            raise UserError("give --name-field (with --name-lang) or --name-field-zh / --name-field-en, not both")
        if not self.columns():
            raise UserError("say which field holds the division names: --name-field F, or --name-field-zh F "
                            "and/or --name-field-en F")
        if self.lang and not self.field:
            raise UserError("--name-lang says the language of --name-field; with --name-field-zh / "
                            "--name-field-en each field already says it")

    def names(self, values: dict[str, Any], found_en: str | None) -> tuple[str, str]:
        """(name_zh, name_en) of one feature; ``found_en`` is an English-name column found by itself."""
        if not self.field:
            return _text(values[self.zh]) if self.zh else "", _text(values[self.en]) if self.en else ""
        name = _text(values[self.field])
        lang = self.lang or language_of(name)
        other_en = _text(values[found_en]) if found_en and found_en != self.field else ""
        return (name, other_en) if lang == "zh" else ("", name)


def language_of(name: str) -> Lang:
    """zh for a name written in Chinese characters, else en."""
    return "zh" if CJK.search(name) else "en"


def init_city(
    name: str,
    districts_file: Path,
    name_field: str | NameFields,
    code_field: str | None,
    timezone: str,
    crs: CRS | None,
    root: Path,
    *,
    encoding: str | None = None,
    city_name_zh: str | None = None,
    city_name_en: str | None = None,
) -> CityPack:
    """Create the pack ``root/name`` from a boundary file: divisions, manifest, empty layers, README.

    ``name_field`` is the field of the names (their language read from each name) or a
    ``NameFields``; the city is called ``city_name_zh`` / ``city_name_en`` (each the other when
    only one is given; the pack's name when neither is)."""
    fields = name_field if isinstance(name_field, NameFields) else NameFields(field=name_field)
    target = Path(root) / name
    if not PACK_NAME.fullmatch(name):
        raise UserError(f"pack name {name!r}: use lower-case letters, digits, '-' and '_' only (e.g. foshan)")
    if target.exists():
        raise UserError(f"{target} already exists; choose another name or remove it first")
    fields.check()
    _check_timezone(timezone)
    districts_file = Path(districts_file)
    frame = read_boundaries(districts_file, crs, encoding=encoding)
    for column in (*fields.columns(), code_field):
        if column:
            _require_field(frame, column, districts_file)
    divisions = _new_divisions(frame, fields, code_field, districts_file)
    city = ((city_name_zh or city_name_en or name).strip(), (city_name_en or city_name_zh or name).strip())
    manifest = _new_manifest(name, city, timezone, divisions, districts_file)
    target.mkdir(parents=True)
    write_divisions(target, divisions)
    write_manifest(target, manifest)
    write_empty_layers(target)
    (target / "README.md").write_text(_readme(name, districts_file, crs, len(divisions)), encoding="utf-8")
    log.info("created pack %s with %d divisions", target, len(divisions))
    return load_pack(target)


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown timezone {timezone!r}; use an IANA name such as Asia/Shanghai") from None


def _new_divisions(
    frame: gpd.GeoDataFrame, fields: NameFields, code_field: str | None, file: Path
) -> list[Division]:
    found_en = None if fields.en else _find_column(frame, NAME_EN_COLUMNS)
    pop_col = _find_column(frame, POPULATION_COLUMNS)
    groups: dict[str, dict[str, Any]] = {}
    for position, values in zip(frame.index, frame.to_dict("records")):
        number = position + 1
        name_zh, name_en = fields.names(values, found_en)
        label = name_zh or name_en
        if not label:
            raise UserError(f"{file}: feature {number} has no name in field {' or '.join(map(repr, fields.columns()))}")
        key = _text(values[code_field]) if code_field else label
        if not key:
            raise UserError(f"{file}: feature {number} ({label}) has no code in field {code_field!r}")
        group = groups.setdefault(key, {"name_zh": "", "pieces": [], "name_en": "", "population": None})
        group["pieces"].append(values[frame.geometry.name])
        group["name_zh"] = group["name_zh"] or name_zh
        group["name_en"] = group["name_en"] or name_en
        if pop_col:
            group["population"] = _add_population(group["population"], values[pop_col])
    keys = list(groups) if code_field else sorted(groups)
    width = max(3, len(str(len(keys))))
    divisions = []
    for n, key in enumerate(keys, start=1):
        group = groups[key]
        divisions.append(
            Division(
                code=key if code_field else f"D{n:0{width}d}",
                name_zh=group["name_zh"],
                name_en=group["name_en"],
                kind="district",
                population=group["population"],
                geometry=_geometry_dict(shapely.union_all(group["pieces"])),
            )
        )
    return divisions


def _find_column(frame: gpd.GeoDataFrame, candidates: tuple[str, ...]) -> str | None:
    by_lower = {c.lower(): c for c in _columns(frame)}
    return next((by_lower[c] for c in candidates if c in by_lower), None)


def _add_population(total: int | None, value: Any) -> int | None:
    number = pd.to_numeric(value, errors="coerce")
    if pd.isna(number) or number < 0:
        return total
    return (total or 0) + int(round(float(number)))


def _new_manifest(name: str, city: tuple[str, str], timezone: str, divisions: list[Division], file: Path
                  ) -> Manifest:
    union = shapely.union_all([d.shape for d in divisions])
    west, south, east, north = union.bounds
    # Round outwards: write_manifest keeps 4 decimals and the bbox must still hold every division.
    bbox = (_floor4(west), _floor4(south), _ceil4(east), _ceil4(north))
    centre = union.centroid
    if not union.contains(centre):
        centre = union.representative_point()
    return Manifest(
        name=name,
        name_zh=city[0],
        name_en=city[1],
        timezone=timezone,
        bbox=bbox,
        map=MapView(center=(round(centre.x, 4), round(centre.y, 4)), zoom=fit_zoom(bbox)),
        boundaries="imported",
        boundaries_note=f"divisions from {file.name}, {date.today().isoformat()}",
    )


def fit_zoom(bbox: tuple[float, float, float, float]) -> int:
    """A web-map zoom that shows the whole bbox (height weighted for a landscape screen), 8..13."""
    west, south, east, north = bbox
    span = max(east - west, (north - south) * 1.5, 1e-9)
    return max(8, min(13, math.floor(math.log2(360.0 / span)) + 1))


def _floor4(value: float) -> float:
    return math.floor(value * 1e4) / 1e4


def _ceil4(value: float) -> float:
    return math.ceil(value * 1e4) / 1e4


def _readme(name: str, file: Path, crs: CRS | None, count: int) -> str:
    return (
        f"# City pack: {name}\n\n"
        f"Created on {date.today().isoformat()} by `python -m ioc city init` from `{file.name}` "
        f"({count} divisions, source coordinates {crs or 'wgs84'}, stored as WGS-84).\n\n"
        "Next: fill in names and populations in `districts.geojson`, the city's offices in `orgs.csv`, "
        "key points in `key_points.csv` and responders in `units.csv`; check the city's `name_zh`/`name_en` "
        "in `pack.toml`. A division without a Chinese name (`name_zh`) shows its English one on "
        "Chinese screens until it has one.\n"
    )
