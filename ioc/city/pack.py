"""City packs: the files under ``geodata/<city>/`` that describe one city.

A pack is plain files so that another city is another folder, never code:

- ``pack.toml``         manifest: names, timezone, bbox, map centre and zoom
- ``districts.geojson`` divisions (towns / subdistricts / zones) with code, names, population
- ``orgs.csv``          the city IOC, departments and one office per division
- ``key_points.csv``    stations, hospitals, shelters, flood-prone points, cameras, gauges
- ``units.csv``         responders, each homed at a key point

``load_pack`` reads and validates them; ``ioc.store.packload`` mirrors a pack into the store.
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from ioc.errors import UserError

M = TypeVar("M", bound=BaseModel)

MANIFEST = "pack.toml"
DISTRICTS = "districts.geojson"
ORGS = "orgs.csv"
KEY_POINTS = "key_points.csv"
UNITS = "units.csv"
RULES = "rules.toml"

ORG_FIELDS = ["code", "name_zh", "name_en", "kind", "service", "parent", "district_code"]
KEY_POINT_FIELDS = ["id", "kind", "name_zh", "name_en", "lon", "lat", "district_code", "org_code", "demo"]
UNIT_FIELDS = ["id", "call_sign", "unit_type", "org_code", "home_point_id", "name_zh", "name_en", "demo"]

DivisionKind = Literal["subdistrict", "town", "zone", "district"]
KeyPointKind = Literal[
    "flood_point", "police_station", "fire_station", "ems_station",
    "hospital", "shelter", "camera", "water_gauge", "urban_station", "rescue_base",
]
UnitType = Literal["police_car", "fire_engine", "ambulance", "urban_patrol", "rescue_team"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MapView(_Row):
    center: tuple[float, float] = Field(description="lon, lat (WGS-84)")
    zoom: int = Field(default=10, ge=1, le=18)


class Manifest(_Row):
    name: str
    name_zh: str
    name_en: str
    timezone: str
    adcode: str = ""
    bbox: tuple[float, float, float, float] = Field(description="west, south, east, north")
    map: MapView
    grid_cell_m: float = Field(default=100.0, gt=0, description="unit-grid cell size (万米单元网格: 100 m)")
    boundaries: Literal["approximate", "imported"] = "approximate"
    boundaries_note: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {tz!r} (use an IANA name such as Asia/Shanghai)") from None
        return tz

    @field_validator("bbox")
    @classmethod
    def _ordered_bbox(cls, bbox: tuple[float, float, float, float]) -> tuple[float, ...]:
        west, south, east, north = bbox
        if not (west < east and south < north):
            raise ValueError("must be [west, south, east, north] with west < east and south < north")
        return bbox


class Division(_Row):
    code: str
    name_zh: str
    name_en: str = ""
    kind: DivisionKind = "town"
    population: int | None = Field(default=None, ge=0)
    geometry: dict[str, Any]

    @cached_property
    def shape(self) -> BaseGeometry:
        return shape(self.geometry)

    def name(self, lang: str) -> str:
        """The name in ``lang``, else the one it has (a new pack may know only one language's)."""
        return (self.name_en or self.name_zh) if lang == "en" else (self.name_zh or self.name_en)


class Org(_Row):
    code: str
    name_zh: str
    name_en: str = ""
    kind: Literal["city", "department", "office"]
    service: str = ""
    parent: str | None = None
    district_code: str | None = None


class KeyPoint(_Row):
    id: str
    kind: KeyPointKind
    name_zh: str
    name_en: str = ""
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    district_code: str | None = None
    org_code: str | None = None
    demo: bool = False


class Unit(_Row):
    id: str
    call_sign: str
    unit_type: UnitType
    org_code: str
    home_point_id: str
    name_zh: str = ""
    name_en: str = ""
    demo: bool = False


class Routing(_Row):
    default: str = "town"
    services: dict[str, str] = {}


class FusionWindow(_Row):
    radius_m: float = Field(gt=0)
    minutes: float = Field(gt=0)


class Fusion(_Row):
    radius_m: float = Field(default=200, gt=0)
    minutes: float = Field(default=60, gt=0)
    never: list[str] = ["consultation", "complaint", "suggestion", "other"]
    groups: dict[str, list[str]] = {}
    categories: dict[str, FusionWindow] = {}

    def window(self, category: str) -> FusionWindow:
        return self.categories.get(category) or FusionWindow(radius_m=self.radius_m, minutes=self.minutes)

    def compatible(self, category: str) -> set[str]:
        """Categories a report of ``category`` may fuse with (empty: it never fuses)."""
        if category in self.never:
            return set()
        related = {category}
        for members in self.groups.values():
            if category in members:
                related.update(members)
        return related


class SensorRules(_Row):
    hysteresis: float = Field(default=0.05, ge=0)


class Rules(_Row):
    """Operating rules from ``rules.toml``: routing, fusion, sensors. Defaults when absent."""

    routing: Routing = Routing()
    fusion: Fusion = Fusion()
    sensors: SensorRules = SensorRules()


@dataclass
class CityPack:
    """A validated city pack. Layers load lazily; the manifest is read at once."""

    path: Path
    manifest: Manifest
    _cache: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.manifest.timezone)

    def divisions(self) -> list[Division]:
        return self._layer(DISTRICTS, _read_divisions)

    def orgs(self) -> list[Org]:
        return self._layer(ORGS, lambda p: _read_csv(p, Org))

    def key_points(self) -> list[KeyPoint]:
        return self._layer(KEY_POINTS, lambda p: _read_csv(p, KeyPoint))

    def units(self) -> list[Unit]:
        return self._layer(UNITS, lambda p: _read_csv(p, Unit))

    @cached_property
    def rules(self) -> Rules:
        return read_toml(self.path / RULES, Rules)

    def _layer(self, filename: str, reader: Any) -> list[Any]:
        if filename not in self._cache:
            file = self.path / filename
            self._cache[filename] = reader(file) if file.exists() else []
        return self._cache[filename]

    def check(self) -> list[str]:
        """Cross-file consistency problems (unknown codes, duplicates); empty when sound."""
        problems: list[str] = []
        codes = [d.code for d in self.divisions()]
        problems += _duplicates(DISTRICTS, "code", codes)
        org_codes = [o.code for o in self.orgs()]
        problems += _duplicates(ORGS, "code", org_codes)
        point_ids = [p.id for p in self.key_points()]
        problems += _duplicates(KEY_POINTS, "id", point_ids)
        problems += _duplicates(UNITS, "id", [u.id for u in self.units()])
        known_div, known_org, known_pt = set(codes), set(org_codes), set(point_ids)
        for o in self.orgs():
            if o.parent and o.parent not in known_org:
                problems.append(f"{ORGS}: {o.code}: parent {o.parent} is not an org")
            if o.district_code and o.district_code not in known_div:
                problems.append(f"{ORGS}: {o.code}: district {o.district_code} is not a division")
        for p in self.key_points():
            if p.district_code and p.district_code not in known_div:
                problems.append(f"{KEY_POINTS}: {p.id}: district {p.district_code} is not a division")
            if p.org_code and p.org_code not in known_org:
                problems.append(f"{KEY_POINTS}: {p.id}: org {p.org_code} is not an org")
        for u in self.units():
            if u.org_code not in known_org:
                problems.append(f"{UNITS}: {u.id}: org {u.org_code} is not an org")
            if u.home_point_id not in known_pt:
                problems.append(f"{UNITS}: {u.id}: home {u.home_point_id} is not a key point")
        return problems


def load_pack(path: Path) -> CityPack:
    """Read and validate a pack's manifest; raise ``UserError`` naming the file and key."""
    manifest_file = path / MANIFEST
    if not manifest_file.exists():
        raise UserError(f"{path}: not a city pack (no {MANIFEST}); create one with `python -m ioc city init`")
    try:
        with manifest_file.open("rb") as fh:
            data = tomllib.load(fh)
        manifest = Manifest.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{manifest_file}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise UserError(f"{manifest_file}: {_first_problem(exc)}") from None
    return CityPack(path=path, manifest=manifest)


def write_divisions(path: Path, divisions: list[Division]) -> None:
    """Write ``districts.geojson`` (compact, one feature per line so diffs stay readable)."""
    lines = []
    for d in divisions:
        props = d.model_dump(exclude={"geometry"})
        feature = {"type": "Feature", "properties": props, "geometry": d.geometry}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    body = ",\n".join(lines)
    (path / DISTRICTS).write_text(
        '{"type":"FeatureCollection","features":[\n' + body + "\n]}\n", encoding="utf-8"
    )


def write_manifest(path: Path, manifest: Manifest) -> None:
    m = manifest
    west, south, east, north = m.bbox
    lines = [
        f"name = {json.dumps(m.name, ensure_ascii=False)}",
        f"name_zh = {json.dumps(m.name_zh, ensure_ascii=False)}",
        f"name_en = {json.dumps(m.name_en, ensure_ascii=False)}",
        f"adcode = {json.dumps(m.adcode)}",
        f"timezone = {json.dumps(m.timezone)}",
        "# west, south, east, north (WGS-84 degrees)",
        f"bbox = [{west:.4f}, {south:.4f}, {east:.4f}, {north:.4f}]",
        f"boundaries = {json.dumps(m.boundaries)}",
        f"boundaries_note = {json.dumps(m.boundaries_note, ensure_ascii=False)}",
        "",
        "[map]",
        "# lon, lat (WGS-84)",
        f"center = [{m.map.center[0]:.4f}, {m.map.center[1]:.4f}]",
        f"zoom = {m.map.zoom}",
    ]
    (path / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_empty_layers(path: Path) -> None:
    """Header-only CSV layers for a new pack, ready to be filled."""
    for filename, fields in ((ORGS, ORG_FIELDS), (KEY_POINTS, KEY_POINT_FIELDS), (UNITS, UNIT_FIELDS)):
        with (path / filename).open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerow(fields)


def _read_divisions(file: Path) -> list[Division]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{file}: not valid GeoJSON: {exc}") from None
    divisions = []
    for i, feature in enumerate(data.get("features", []), start=1):
        props = dict(feature.get("properties") or {})
        try:
            divisions.append(Division.model_validate({**props, "geometry": feature.get("geometry")}))
        except ValidationError as exc:
            raise UserError(f"{file}: feature {i}: {_first_problem(exc)}") from None
    return divisions


def _read_csv(file: Path, model: type[_Row]) -> list[Any]:
    rows = []
    with file.open(encoding="utf-8-sig", newline="") as fh:
        for line, raw in enumerate(csv.DictReader(fh), start=2):
            clean = {k: (v if v != "" else None) for k, v in raw.items() if k is not None}
            clean = {k: v for k, v in clean.items() if v is not None}
            try:
                rows.append(model.model_validate(clean))
            except ValidationError as exc:
                raise UserError(f"{file}:{line}: {_first_problem(exc)}") from None
    return rows


def _duplicates(filename: str, key: str, values: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes = sorted({v for v in values if v in seen or seen.add(v)})
    return [f"{filename}: duplicate {key} {v}" for v in dupes]


def read_toml(file: Path, model: type[M]) -> M:
    """A pack's TOML file read into ``model`` (its defaults when the pack has no such file); a bad
    file is one line naming the file and the first problem."""
    if not file.exists():
        return model()
    try:
        with file.open("rb") as fh:
            return model.model_validate(tomllib.load(fh))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{file}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise UserError(f"{file}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "value"
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    return f"{key}: {msg}"
