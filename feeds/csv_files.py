"""Incidents from CSV exports: a dropped file, a folder of them, or a URL that serves one.

Kind ``csv``. Works for dispatch exports of any vendor: ``mapping`` says which source column
holds each of our fields, and the ``*_map`` options translate the source's words.

Our fields (``mapping`` keys; ``external_id`` and ``reported_at`` are required)::

    incident: external_id reported_at category type priority title description address
              lon lat | location status closed_at
    per unit: unit_id dispatched_at en_route_at on_scene_at cleared_at

``location`` is one combined column, ``"113.75,23.02"`` (order per ``location_order``) or WKT
``"POINT(113.75 23.02)"`` (always x y, i.e. lon lat).

Public CAD exports carry one row per dispatched unit, so rows are folded: they are grouped by
``external_id`` in file order, and each incident becomes one ``RawItem`` whose payload is the
header plus that incident's rows as comma-separated CSV text (decoded, re-quoted). ``parse``
turns it into one ``IncidentRecord`` with one ``AssignmentRecord`` per unit. An incident's
rows must sit in one file. Without a status column (or with it empty) the status is derived
from the units: all cleared → resolved, one on scene → on_scene, any dispatched → dispatched;
a ``closed_at`` means closed.

Cursors: a folder → JSON ``{filename: sha256}`` so only new or changed files are read; a single
file or a URL → the sha256 of its bytes (unchanged → no items). A file that cannot be read
(undecodable, mapped column missing from its header) never blocks the other files: they are
returned first (``more``), then the next fetch raises naming the bad file, so the feed shows
degraded until it is fixed. ``read_rows`` loads a history file through the same path for
``python -m ioc import``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, ValidationError, field_validator, model_validator

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, decode_text, get, register
from ioc.errors import UserError
from ioc.records import (
    CATEGORIES,
    INCIDENT_STATUSES,
    PRIORITIES,
    AssignmentRecord,
    Channel,
    IncidentRecord,
    Record,
    Reject,
)

log = logging.getLogger(__name__)

INCIDENT_FIELDS = (
    "external_id", "reported_at", "category", "type", "priority", "title", "description", "address",
    "lon", "lat", "location", "status", "closed_at",
)
UNIT_FIELDS = ("unit_id", "dispatched_at", "en_route_at", "on_scene_at", "cleared_at")
STAMPS = UNIT_FIELDS[1:]
SNIFF_DELIMITERS = ",;\t|"
WKT_POINT = re.compile(r"^POINT\s*Z?\s*\(\s*(\S+)\s+(\S+)(?:\s+\S+)?\s*\)$", re.IGNORECASE)
PAIR_SEPARATOR = re.compile(r"\s*[,，;\s]\s*")


class CsvFileError(UserError):
    """A whole file is unusable (encoding, header); rows are judged one incident at a time."""


class CsvConfig(AdapterConfig):
    path: Path | None = Field(default=None, description="a .csv file, or a folder whose .csv files are all read")
    url: str | None = Field(default=None, description="URL that serves one CSV file (instead of path)")
    mapping: dict[str, str] = Field(
        description="our field -> source column: " + ", ".join(INCIDENT_FIELDS + UNIT_FIELDS)
    )
    location_order: Literal["lonlat", "latlon"] = Field(
        default="lonlat", description="order of the two numbers in a combined location column (WKT is always lon lat)"
    )
    datetime_format: str = Field(
        default="iso", description='strptime format of the time columns, e.g. "%Y-%m-%d %H:%M:%S", or "iso"'
    )
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone of times written without a UTC offset")
    category_map: dict[str, str] = Field(default_factory=dict, description="source category -> IOC category")
    priority_map: dict[str, str] = Field(
        default_factory=dict, description="source priority -> P1..P4 (1-4 and P1-P4 are understood without it)"
    )
    status_map: dict[str, str] = Field(
        default_factory=dict, description="source incident status -> IOC incident status"
    )
    channel: Channel = Field(default="import", description="channel of every incident (110, 119, 120, import, ...)")
    default_category: str | None = Field(
        default="other", description="category of unmapped source categories; empty: reject those rows"
    )
    delimiter: str | None = Field(default=None, description="field separator; empty: sniffed from the file")
    encoding: str = Field(
        default="auto", description='text encoding; "auto" reads UTF-8 (with or without BOM), GBK and GB18030'
    )

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, mapping: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(mapping) - set(INCIDENT_FIELDS + UNIT_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        for needed in ("external_id", "reported_at"):
            if not mapping.get(needed, "").strip():
                raise ValueError(f"{needed} must be mapped to a column")
        if ("lon" in mapping) != ("lat" in mapping):
            raise ValueError("map both lon and lat, or neither")
        if "location" in mapping and "lon" in mapping:
            raise ValueError("map either location or lon/lat, not both")
        return {field: column.strip() for field, column in mapping.items()}

    @field_validator("category_map", "priority_map", "status_map")
    @classmethod
    def _known_targets(cls, table: dict[str, str], info: Any) -> dict[str, str]:
        allowed = {"category_map": CATEGORIES, "priority_map": PRIORITIES, "status_map": INCIDENT_STATUSES}
        bad = sorted({v for v in table.values() if v not in allowed[info.field_name]})
        if bad:
            raise ValueError(f"unknown target value(s) {', '.join(map(repr, bad))}")
        return table

    @field_validator("default_category")
    @classmethod
    def _known_default(cls, value: str | None) -> str | None:
        if value and value not in CATEGORIES:
            raise ValueError(f"{value!r} is not a category")
        return value or None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value and len(value) != 1:
            raise ValueError("must be one character")
        return value or None

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CsvConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("set exactly one of path or url")
        return self


@register
class CsvAdapter(Adapter):
    kind = "csv"
    title = "CSV files (dispatch exports, history imports)"
    Config: ClassVar[type[AdapterConfig]] = CsvConfig
    config: CsvConfig
    fuses_own_records = False  # dispatch exports: each incident number is one of the agency's incidents

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        if self.config.url:
            return self._fetch_url(cursor, client)
        path = self.config.path
        assert path is not None
        if path.is_dir():
            return self._fetch_folder(path, cursor)
        if not path.is_file():
            raise CsvFileError(f"{path}: no such file or folder")
        return self._fetch_single(path.read_bytes(), str(path), cursor)

    def parse(self, item: RawItem) -> list[Record]:
        return [build_incident(read_payload(item.payload), self.config)]

    def _fetch_url(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        assert self.config.url is not None
        return self._fetch_single(get(client, self.config.url).content, self.config.url, cursor)

    def _fetch_single(self, data: bytes, source: str, cursor: str | None) -> FetchResult:
        digest = sha256(data)
        if digest == cursor:
            return FetchResult(items=[], cursor=cursor)
        return FetchResult(items=items_from_bytes(data, self.config, source), cursor=digest)

    def _fetch_folder(self, folder: Path, cursor: str | None) -> FetchResult:
        seen = _folder_cursor(cursor)
        now: dict[str, str] = {}
        items: list[RawItem] = []
        problems: list[str] = []
        for path in csv_files(folder):
            data = path.read_bytes()
            now[path.name] = sha256(data)
            if seen.get(path.name) == now[path.name]:
                continue
            try:
                items += items_from_bytes(data, self.config, str(path))
            except CsvFileError as exc:
                problems.append(str(exc))
                _keep_previous(now, seen, path.name)  # so the file is read again once fixed
        if problems and not items:
            raise CsvFileError("; ".join(problems))
        for problem in problems:
            log.warning("feed %s: %s (reported on the next poll)", self.name, problem)
        return FetchResult(items=items, cursor=json.dumps(now, sort_keys=True), more=bool(problems))


def read_rows(path: Path, config: CsvConfig) -> list[RawItem]:
    """The folded items of a history file (or of every .csv in a folder), for ``ioc import``."""
    files = csv_files(path) if path.is_dir() else [path]
    items: list[RawItem] = []
    for file in files:
        items += items_from_bytes(file.read_bytes(), config, str(file))
    return items


def csv_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        seen = json.loads(cursor)
    except ValueError:
        seen = None
    if not isinstance(seen, dict):
        log.warning("ignoring unreadable csv folder cursor %r; reading every file", cursor)
        return {}
    return {str(k): str(v) for k, v in seen.items()}


def _keep_previous(now: dict[str, str], seen: dict[str, str], name: str) -> None:
    if name in seen:
        now[name] = seen[name]
    else:
        del now[name]


# -- file → folded items -------------------------------------------------------------------


def items_from_bytes(data: bytes, config: CsvConfig, source: str) -> list[RawItem]:
    """One item per incident (its rows in file order); rows without an id are items of their own."""
    text = _decode(data, config.encoding, source)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=config.delimiter or _sniff(text))
    header = [name.strip() for name in next(rows, [])]
    if not any(header):
        return []
    _check_header(header, config, source)
    id_at = header.index(config.mapping["external_id"])
    groups: dict[tuple[bool, Any], list[list[str]]] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        key = row[id_at].strip() if id_at < len(row) else ""
        groups.setdefault((True, key) if key else (False, line), []).append(row)
    return [RawItem(external_id=key if has_id else None, payload=write_payload(header, group))
            for (has_id, key), group in groups.items()]


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        if encoding == "auto":
            return decode_text(data)
        codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
        return data.decode(codec)
    except (Reject, UnicodeDecodeError) as exc:
        raise CsvFileError(f"{source}: cannot decode ({encoding}): {exc}") from None


def _sniff(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _check_header(header: list[str], config: CsvConfig, source: str) -> None:
    for field, column in config.mapping.items():
        if column not in header:
            raise CsvFileError(f"{source}: column {column!r} (mapped to {field}) is not in the header {header}")


def write_payload(header: list[str], rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def read_payload(payload: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(payload, newline=""))
    header = next(reader, [])
    rows = [dict(zip(header, row)) for row in reader]
    if not rows:
        raise Reject("no rows under the header")
    return rows


# -- rows → record -------------------------------------------------------------------------


class _Rows:
    """An incident's rows read through the mapping; every complaint names the source column."""

    def __init__(self, rows: list[dict[str, str]], config: CsvConfig) -> None:
        self.rows = rows
        self.config = config
        self.zone = ZoneInfo(config.timezone)

    def column(self, field: str) -> str:
        return self.config.mapping.get(field, "")

    def cell(self, row: dict[str, str], field: str) -> str:
        column = self.column(field)
        if not column:
            return ""
        if column not in row:
            raise Reject(f"{field}: column {column!r} is missing")
        return (row[column] or "").strip()

    def first(self, field: str) -> str:
        """Incident fields repeat on every unit row; the first non-empty value counts."""
        return next((v for v in (self.cell(r, field) for r in self.rows) if v), "")

    def time(self, field: str, text: str) -> datetime | None:
        if not text:
            return None
        fmt = self.config.datetime_format
        try:
            parsed = datetime.fromisoformat(text) if fmt == "iso" else datetime.strptime(text, fmt)
        except ValueError:
            raise Reject(f"{field}: column {self.column(field)!r} value {text!r} is not a time in format {fmt!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)


def build_incident(rows: list[dict[str, str]], config: CsvConfig) -> IncidentRecord:
    r = _Rows(rows, config)
    external_id = r.first("external_id")
    if not external_id:
        raise Reject(f"external_id: column {r.column('external_id')!r} is empty")
    reported_at = r.time("reported_at", r.first("reported_at"))
    if reported_at is None:
        raise Reject(f"reported_at: column {r.column('reported_at')!r} is empty")
    raw_category = r.first("category")
    assignments = _assignments(r)
    closed_at = r.time("closed_at", r.first("closed_at"))
    raw_status = r.first("status")
    lon, lat = _position(r)
    type_, address = r.first("type") or raw_category, r.first("address")
    try:
        return IncidentRecord(
            external_id=external_id,
            channel=config.channel,
            category=_category(r, raw_category),
            type=type_,
            priority=_priority(r, r.first("priority")),
            status=_status(r, raw_status, assignments, closed_at),
            source_status=raw_status,
            reported_at=reported_at,
            closed_at=closed_at,
            title=(r.first("title") or " ".join(p for p in (type_, address) if p))[:300],
            description=r.first("description"),
            address=address[:300],
            lon=lon,
            lat=lat,
            assignments=assignments,
            extra={"source_category": raw_category} if raw_category else {},
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Reject(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _assignments(r: _Rows) -> tuple[AssignmentRecord, ...]:
    """One per unit; a unit listed on two rows gets the first stamp of each kind."""
    stamps: dict[str, dict[str, datetime | None]] = {}
    for row in r.rows:
        unit = r.cell(row, "unit_id")
        if not unit:
            continue
        mine = stamps.setdefault(unit, dict.fromkeys(STAMPS))
        for field in STAMPS:
            mine[field] = mine[field] or r.time(field, r.cell(row, field))
    return tuple(AssignmentRecord(unit_id=unit, **s) for unit, s in stamps.items())


def _category(r: _Rows, raw: str) -> str:
    config = r.config
    category = config.category_map.get(raw) or (raw if raw in CATEGORIES else config.default_category)
    if category is None:
        where = f"column {r.column('category')!r} value {raw!r}" if raw else "no category value"
        raise Reject(f"category: {where} is not in category_map and there is no default_category")
    return category


def _priority(r: _Rows, raw: str) -> str:
    if not raw:
        return "P3"
    mapped = r.config.priority_map.get(raw)
    if mapped:
        return mapped
    digits = raw.upper().removeprefix("P")
    if digits in ("1", "2", "3", "4"):
        return f"P{digits}"
    raise Reject(f"priority: column {r.column('priority')!r} value {raw!r} is not in priority_map (nor 1-4, P1-P4)")


def _status(r: _Rows, raw: str, assignments: tuple[AssignmentRecord, ...], closed_at: datetime | None) -> str:
    if not raw:
        return _derived_status(assignments, closed_at)
    status = r.config.status_map.get(raw) or (raw.lower() if raw.lower() in INCIDENT_STATUSES else None)
    if status is None:
        raise Reject(f"status: column {r.column('status')!r} value {raw!r} is not in status_map")
    return status


def _derived_status(assignments: tuple[AssignmentRecord, ...], closed_at: datetime | None) -> str:
    if closed_at:
        return "closed"
    busy = [a for a in assignments if a.cleared_at is None]
    if assignments and not busy:
        return "resolved"
    if any(a.on_scene_at for a in busy):
        return "on_scene"
    return "dispatched" if busy else "new"


def _position(r: _Rows) -> tuple[float | None, float | None]:
    if "location" in r.config.mapping:
        return _combined(r, r.first("location"))
    lon_text, lat_text = r.first("lon"), r.first("lat")
    if not lon_text and not lat_text:
        return None, None
    return _checked(_number(r, "lon", lon_text), _number(r, "lat", lat_text), r, "lon")


def _combined(r: _Rows, text: str) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    bad = Reject(f"location: column {r.column('location')!r} value {text!r} is not 'x,y' or POINT(x y)")
    wkt = WKT_POINT.match(text)
    if wkt:
        first, second = wkt.groups()
    else:
        parts = PAIR_SEPARATOR.split(text.strip("()[] "))
        if len(parts) != 2:
            raise bad
        first, second = parts
        if r.config.location_order == "latlon":
            first, second = second, first
    try:
        return _checked(float(first), float(second), r, "location")
    except ValueError:
        raise bad from None


def _number(r: _Rows, field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Reject(f"{field}: column {r.column(field)!r} value {text!r} is not a number") from None


def _checked(lon: float, lat: float, r: _Rows, field: str) -> tuple[float, float]:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        columns = r.column(field) if field == "location" else f"{r.column('lon')}/{r.column('lat')}"
        raise Reject(f"{field}: column {columns!r} gives lon={lon} lat={lat}, out of range")
    return lon, lat
