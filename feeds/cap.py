"""CAP warnings (OASIS Common Alerting Protocol 1.2; 1.1 and 1.0 where they map cleanly).

Kind ``cap``. Exactly one source option:

- ``url``: one CAP document, polled whole;
- ``index_url``: an Atom or RSS index whose entries link to CAP documents (``<link>`` or an
  RSS ``<enclosure>``, relative links resolved against the index) or carry the alert inline
  in ``<content>``, as weather services publish them;
- ``folder``: a directory of ``*.xml`` / ``*.cap`` files dropped by another system.

Every CAP ``<alert>`` becomes one ``RawItem`` with external id ``"sender,identifier,sent"`` and
the alert's own text (a document as fetched, or an inline alert's text cut from the index). The
cursor is JSON: ``{"seen": {key: stamp}}`` where key is the url, the index entry's id or the file
name and stamp a digest of the document / entry, or the file's mtime and size. Only keys still
present in the source are kept, so the cursor stays as small as the source's listing; a folder
that grows past ``MAX_SEEN`` files keeps its newest ones plus a ``floor`` mtime below which
unlisted files count as seen.

``parse`` reads XML with ``defusedxml`` only: a document type declaration (the carrier of
external entities and entity bombs) is rejected before anything is resolved. The alert maps to
``AlertRecord``: the alert's own key and kind (identifier, sender, sent, status, msgType, scope,
references) are checked and a bad one rejects the message; ``references`` become
``(sender, identifier, sent)`` triples, of several ``<info>`` blocks the zh-CN (or other zh)
one wins, then en-US, then the first, and every ``<polygon>`` / ``<circle>`` becomes a GeoJSON
feature (circles as a 64-gon on the WGS-84 ellipsoid).

A warning's words matter more than its shape: real services publish alerts with one bad part
(an empty or unclosed polygon, a pair a hair outside the valid range, a missing
``<category>`` or ``<urgency>``). Such a part is repaired (ring closed, tiny overshoot
clamped) or dropped (bad pair, polygon or circle; a bad enumeration becomes ``Unknown``) and
each repair is named in ``AlertRecord.defects``; an area left without a shape keeps its
``areaDesc`` and geocodes. A Chinese meteorological warning signal
(台风 / 暴雨 / 雷雨大风 ... with 白 / 蓝 / 黄 / 橙 / 红 色) is recognised into ``extra``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin

import defusedxml.ElementTree as DET
import httpx
from defusedxml import DefusedXmlException
from pydantic import Field, model_validator
from pyproj import Geod

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, decode_text, get, register
from ioc.records import AlertRecord, Record, Reject

log = logging.getLogger(__name__)

CAP_NAMESPACES: dict[str, str] = {
    "urn:oasis:names:tc:emergency:cap:1.2": "1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
    "urn:oasis:names:tc:emergency:cap:1.0": "1.0",
    "http://www.incident.com/cap/1.0": "1.0",
}
ATOM = "{http://www.w3.org/2005/Atom}"

ALERT_REQUIRED = ("identifier", "sender", "sent", "status", "msgType", "scope")
ENUMS: dict[str, tuple[str, ...]] = {
    "status": ("Actual", "Exercise", "System", "Test", "Draft"),
    "msgType": ("Alert", "Update", "Cancel", "Ack", "Error"),
    "scope": ("Public", "Restricted", "Private"),
    "category": ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
                 "CBRNE", "Other"),
    "responseType": ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear",
                     "None"),
    "urgency": ("Immediate", "Expected", "Future", "Past", "Unknown"),
    "severity": ("Extreme", "Severe", "Moderate", "Minor", "Unknown"),
    "certainty": ("Observed", "Likely", "Possible", "Unlikely", "Unknown"),
}
CERTAINTY_1_0 = {"very likely": "Likely"}

MAX_SEEN = 1000
MAX_DOCS_PER_FETCH = 50  # linked documents or files read per fetch; the rest come with more=True
CIRCLE_SEGMENTS = 64
OVERSHOOT_DEG = 0.01  # a coordinate this far past the valid range is a rounding slip: clamped, not dropped
_GEOD = Geod(ellps="WGS84")

# Guangdong / CMA warning signals; longer names first so 雷雨大风 is not read as 大风.
SIGNALS: tuple[tuple[str, str], ...] = (
    ("雷雨大风", "thunderstorm_gale"), ("雷雨大風", "thunderstorm_gale"), ("台风", "typhoon"), ("颱風", "typhoon"),
    ("暴雨", "rainstorm"), ("道路结冰", "road_icing"),
    ("森林火险", "fire_danger"), ("高温", "heat"), ("寒潮", "cold_wave"), ("寒冷", "cold"), ("大雾", "fog"),
    ("灰霾", "haze"), ("冰雹", "hail"), ("霜冻", "frost"), ("干旱", "drought"), ("雷电", "lightning"),
    ("暴雪", "snowstorm"), ("沙尘暴", "sandstorm"), ("大风", "gale"),
    ("thunderstorm gale", "thunderstorm_gale"), ("thunderstorm and gale", "thunderstorm_gale"),
    ("typhoon", "typhoon"), ("rainstorm", "rainstorm"),
)
COLOURS = {"白": "white", "蓝": "blue", "藍": "blue", "黄": "yellow", "黃": "yellow", "橙": "orange", "红": "red",
           "紅": "red"}
COLOUR_RE = re.compile(r"([白蓝藍黄黃橙红紅])色|\b(white|blue|yellow|orange|red)\b", re.IGNORECASE)
# China's CAP profile pairs the colours with severities (红 Extreme ... 蓝 Minor).
SEVERITY_COLOUR = {"Extreme": "red", "Severe": "orange", "Moderate": "yellow", "Minor": "blue"}
CHANGED_RE = re.compile(r"(?:升级|降级|升級|降級|调整|調整|更改|变更|改)[为為]\s*([白蓝藍黄黃橙红紅])色")  # 红色降级为橙色: orange now
LIFTED_RE = re.compile(r"解除|取消|lifted|cancel", re.IGNORECASE)


class CapConfig(AdapterConfig):
    url: str | None = Field(default=None, description="URL of one CAP document, polled whole")
    index_url: str | None = Field(
        default=None, description="URL of an Atom or RSS index whose entries link to or carry CAP alerts"
    )
    folder: str | None = Field(default=None, description="directory of CAP files (*.xml, *.cap) to pick up")

    @model_validator(mode="after")
    def _one_source(self) -> CapConfig:
        given = [name for name in ("url", "index_url", "folder") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url, index_url, folder (got {', '.join(given) or 'none'})")
        return self


@register
class CapAdapter(Adapter):
    kind = "cap"
    title = "CAP warnings (Common Alerting Protocol)"
    Config: ClassVar[type[AdapterConfig]] = CapConfig
    config: CapConfig

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        state = _read_cursor(cursor)
        if self.config.url:
            return self._fetch_document(self.config.url, state, client)
        if self.config.index_url:
            return self._fetch_index(self.config.index_url, state, client)
        return self._fetch_folder(Path(self.config.folder or ""), state)

    def parse(self, item: RawItem) -> list[Record]:
        root = load_xml(item.payload)
        alerts = [root] if cap_version(root) is not None else [e for e in root.iter() if cap_version(e) is not None]
        if not alerts:
            raise Reject(f"no CAP alert in the document (root element is {_local(root.tag)!r})")
        return [alert_record(el) for el in alerts]

    def _fetch_document(self, url: str, state: _State, client: httpx.Client) -> FetchResult:
        text = decode_xml(get(client, url).content)
        stamp = _digest(text)
        items = [] if state.seen.get(url) == stamp else alert_items(text, url)
        return FetchResult(items=items, cursor=_State({url: stamp}).dump())

    def _fetch_index(self, url: str, state: _State, client: httpx.Client) -> FetchResult:
        text = decode_xml(get(client, url).content)
        root = _index_root(text, url)
        cut = dict(_inline_alerts(text, root))
        items: list[RawItem] = []
        seen: dict[str, str] = {}
        fetched, more = 0, False
        for entry in _entries(root):
            key, stamp = _entry_key(entry), _digest(ET.tostring(entry, encoding="unicode"))
            if state.seen.get(key) != stamp:
                inline = [el for el in entry.iter() if cap_version(el) is not None]
                link = None if inline else _entry_link(entry, url)
                if link and fetched == MAX_DOCS_PER_FETCH:
                    more = True
                    continue  # left unseen: taken on the next fetch
                if link:
                    items += alert_items(decode_xml(get(client, link).content), link)
                    fetched += 1
                items += [RawItem(alert_key(el) or key, cut[el]) for el in inline]
            seen[key] = stamp
        return FetchResult(items=items, cursor=_State(dict(list(seen.items())[:MAX_SEEN])).dump(), more=more)

    def _fetch_folder(self, folder: Path, state: _State) -> FetchResult:
        files = sorted(
            ((p, p.stat()) for p in folder.iterdir() if p.suffix.lower() in (".xml", ".cap") and p.is_file()),
            key=lambda f: (f[1].st_mtime_ns, f[0].name),
        )
        items: list[RawItem] = []
        seen: dict[str, tuple[str, int]] = {}
        pending: list[int] = []
        for path, st in files:
            stamp = f"{st.st_mtime_ns}:{st.st_size}"
            if not state.taken(path.name, stamp, st.st_mtime_ns):
                if len(items) >= MAX_DOCS_PER_FETCH or pending:
                    pending.append(st.st_mtime_ns)
                    continue  # left unseen: taken on the next fetch
                items += alert_items(decode_xml(path.read_bytes()), path.name)
            seen[path.name] = (stamp, st.st_mtime_ns)
        return FetchResult(items=items, cursor=_folder_state(seen, pending, state.floor).dump(), more=bool(pending))


# -- cursor -------------------------------------------------------------------------------------


@dataclass
class _State:
    seen: dict[str, str] = field(default_factory=dict)
    floor: int = 0  # folder only: unlisted files older than this (ns) were taken before

    def taken(self, name: str, stamp: str, mtime_ns: int) -> bool:
        """Whether a file was read before: its stamp is known, or it is unlisted and under the floor."""
        return self.seen.get(name) == stamp or (name not in self.seen and mtime_ns <= self.floor)

    def dump(self) -> str:
        data: dict[str, Any] = {"seen": self.seen}
        if self.floor:
            data["floor"] = self.floor
        return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _read_cursor(cursor: str | None) -> _State:
    if not cursor:
        return _State()
    try:
        data = json.loads(cursor)
        return _State({str(k): str(v) for k, v in data["seen"].items()}, int(data.get("floor", 0)))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignoring unreadable CAP cursor; taking every alert again")
        return _State()


def _folder_state(seen: dict[str, tuple[str, int]], pending: list[int], floor: int) -> _State:
    """Keep the newest ``MAX_SEEN`` files; older unlisted ones fall under the floor."""
    newest = sorted(seen.items(), key=lambda kv: kv[1][1], reverse=True)[:MAX_SEEN]
    if len(newest) < len(seen):
        floor = max(floor, newest[-1][1][1])
    if floor and pending:
        floor = min(floor, min(pending) - 1)
    return _State({name: stamp for name, (stamp, _) in newest}, floor)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


# -- documents and indexes ----------------------------------------------------------------------


def decode_xml(data: bytes) -> str:
    """Text of an XML document: its declared encoding when that is neither UTF-8 nor Chinese."""
    head = re.match(rb"\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", data[:200])
    declared = head.group(1).decode("ascii").lower() if head else ""
    if declared and not declared.startswith(("utf", "gb", "ascii", "us-ascii")):
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def load_xml(text: str) -> ET.Element:
    """Parse untrusted XML: no DTD, so no external entity or entity expansion is ever resolved."""
    try:
        return DET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Reject("XML with a document type declaration (DTD) is refused: it can carry external "
                     "entities or entity expansion") from None
    except ET.ParseError as exc:
        raise Reject(f"not well-formed XML ({_parse_error(exc)})") from None


def _parse_error(exc: ET.ParseError) -> str:
    line, column = getattr(exc, "position", (0, 0))
    return f"{str(exc).split(':')[0]} at line {line}, column {column}"


def cap_version(el: ET.Element) -> str | None:
    """The CAP version of an ``<alert>`` element, or None for any other element."""
    if el.tag == "alert":
        return ""  # no namespace: a sloppy sender; read like 1.2, recorded as "unspecified"
    ns, _, local = el.tag[1:].partition("}")
    return CAP_NAMESPACES.get(ns) if local == "alert" and el.tag.startswith("{") else None


def alert_key(el: ET.Element) -> str | None:
    """``sender,identifier,sent`` of an alert, as written; None when one of them is missing."""
    parts = [(el.findtext(f"{{*}}{name}") or "").strip() for name in ("sender", "identifier", "sent")]
    return ",".join(parts) if all(parts) else None


def alert_items(text: str, source: str) -> list[RawItem]:
    """One item per CAP alert in a fetched document (itself an alert, or e.g. an EDXL-DE wrapper)."""
    try:
        root = load_xml(text)
    except Reject:
        return [RawItem(source, text)]  # parse says why
    if cap_version(root) is not None:
        return [RawItem(alert_key(root) or source, text)]
    found = _inline_alerts(text, root)
    if not found:
        return [RawItem(source, text)]
    return [RawItem(alert_key(el) or f"{source}#{n}", cut) for n, (el, cut) in enumerate(found, 1)]


def _inline_alerts(text: str, root: ET.Element) -> list[tuple[ET.Element, str]]:
    """(element, its text) of the alerts nested in a document, cut from the source when possible."""
    alerts = [el for el in root.iter() if cap_version(el) is not None]
    pattern = re.compile(r"<((?:[\w.-]+:)?)alert(?=[\s>])[^>]*>.*?</\1alert\s*>", re.DOTALL)
    cuts = [m.group(0) for m in pattern.finditer(text)]
    if len(cuts) != len(alerts):
        cuts = [""] * len(alerts)
    return [(el, cut if _same_alert(cut, el) else _serialise(el)) for el, cut in zip(alerts, cuts)]


def _same_alert(cut: str, el: ET.Element) -> bool:
    # A cut that leans on a namespace declared further up does not stand alone.
    try:
        return bool(cut) and alert_key(load_xml(cut)) == alert_key(el)
    except Reject:
        return False


def _serialise(el: ET.Element) -> str:
    el = copy.copy(el)
    el.tail = None
    return ET.tostring(el, encoding="unicode")


def _index_root(text: str, url: str) -> ET.Element:
    try:
        root = load_xml(text)
    except Reject as exc:
        raise ValueError(f"{url}: CAP index is unreadable: {exc}") from None
    if root.tag not in (f"{ATOM}feed", "rss") and _local(root.tag) != "RDF":
        raise ValueError(f"{url}: not an Atom or RSS index (root element {_local(root.tag)!r})")
    return root


def _entries(root: ET.Element) -> list[ET.Element]:
    if root.tag == f"{ATOM}feed":
        return root.findall(f"{ATOM}entry")
    return [el for el in root.iter() if _local(el.tag) == "item"]


def _entry_key(entry: ET.Element) -> str:
    for name in (f"{ATOM}id", "guid", "{*}link"):
        value = (entry.findtext(name) or "").strip()
        if value:
            return value
    link = entry.find(f"{ATOM}link")
    return (link.get("href") if link is not None else None) or _digest(ET.tostring(entry, encoding="unicode"))


def _entry_link(entry: ET.Element, base: str) -> str | None:
    """The entry's CAP document: a link typed as CAP, else the alternate (or only) link."""
    candidates: list[tuple[int, str]] = []
    for link in entry.findall(f"{ATOM}link"):
        href, rel, kind = link.get("href"), link.get("rel", "alternate"), link.get("type", "")
        if href and rel in ("alternate", "enclosure", "related"):
            candidates.append((0 if "cap" in kind else 1, href))
    for enclosure in entry.findall("enclosure"):
        if enclosure.get("url"):
            candidates.append((0 if "cap" in enclosure.get("type", "") else 2, enclosure.get("url", "")))
    text_link = (entry.findtext("{*}link") or "").strip()  # RSS: <link>URL</link>
    if text_link:
        candidates.append((1, text_link))
    return urljoin(base, min(candidates)[1]) if candidates else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# -- the alert ----------------------------------------------------------------------------------


def alert_record(el: ET.Element) -> AlertRecord:
    version = cap_version(el) or "unspecified"
    el = _strip_cap_namespace(el)
    for name in ALERT_REQUIRED:
        if not _text(el, name):
            raise Reject(f"missing required <{name}>")
    defects: list[str] = []
    infos = [_info(block, defects) for block in el.findall("info")]
    chosen = _choose(infos)
    extra = _alert_extra(el, version, infos, chosen)
    extra.update(chosen.extra if chosen else {})
    if chosen:
        extra.update(warning_signal(chosen))
    return AlertRecord(
        sender=_text(el, "sender"),
        identifier=_text(el, "identifier"),
        sent=parse_cap_time(_text(el, "sent"), "sent"),
        status=_enum(el, "status"),  # type: ignore[arg-type]
        msg_type=_enum(el, "msgType"),  # type: ignore[arg-type]
        scope=_enum(el, "scope"),  # type: ignore[arg-type]
        references=parse_references(_text(el, "references")),
        areas={"type": "FeatureCollection",
               "features": [f for i in infos if chosen and i.language == chosen.language for f in i.features]},
        extra=extra,
        defects=tuple(dict.fromkeys(defects)),
        **(chosen.fields if chosen else {}),
    )


def _strip_cap_namespace(el: ET.Element) -> ET.Element:
    el = copy.deepcopy(el)
    for node in el.iter():
        if node.tag.startswith("{") and node.tag[1:].partition("}")[0] in CAP_NAMESPACES:
            node.tag = _local(node.tag)
    return el


def _text(el: ET.Element, name: str) -> str:
    return (el.findtext(name) or "").strip()


def _enum(el: ET.Element, name: str, where: str = "") -> str:
    return _enum_value(_text(el, name), name, where)


def _enum_value(value: str, name: str, where: str = "") -> str:
    if name == "certainty" and value.lower() in CERTAINTY_1_0:
        return CERTAINTY_1_0[value.lower()]
    for allowed in ENUMS[name]:
        if value.lower() == allowed.lower():
            return allowed  # tolerate a sender's capitalisation
    raise Reject(f"<{where}{name}>: {_show(value)} is not one of {', '.join(ENUMS[name])}")


def _show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def parse_cap_time(text: str, name: str) -> datetime:
    """A CAP time (``2024-07-01T12:00:00+08:00``); 'Z' and fractional seconds are tolerated."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Reject(f"<{name}>: not a CAP date-time: {_show(text)}") from None
    if parsed.tzinfo is None:
        raise Reject(f"<{name}>: date-time has no UTC offset: {_show(text)}")
    return parsed


def parse_references(text: str) -> tuple[tuple[str, str, datetime], ...]:
    """``sender,identifier,sent`` triples, space separated."""
    triples = []
    for ref in text.split():
        parts = ref.split(",")
        if len(parts) != 3 or not all(parts):
            raise Reject(f"<references>: {_show(ref)} is not sender,identifier,sent")
        triples.append((parts[0], parts[1], parse_cap_time(parts[2], "references")))
    return tuple(triples)


def _alert_extra(el: ET.Element, version: str, infos: list[_Info], chosen: _Info | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"cap_version": version}
    for name in ("source", "restriction", "addresses", "note", "incidents"):
        if _text(el, name):
            extra[name] = _text(el, name)
    codes = [c.text.strip() for c in el.findall("code") if c.text and c.text.strip()]
    if codes:
        extra["codes"] = codes
    others = [{"language": i.language, "headline": i.fields["headline"], "event": i.fields["event"]}
              for i in infos if i is not chosen]
    if others:
        extra["other_info"] = others
    return extra


# -- info blocks --------------------------------------------------------------------------------


@dataclass
class _Info:
    language: str
    fields: dict[str, Any]
    extra: dict[str, Any]
    features: list[dict[str, Any]]


def _info(el: ET.Element, defects: list[str]) -> _Info:
    categories = [c for c in (_lenient_enum((c.text or "").strip(), "category", defects)
                              for c in el.findall("category")) if c != "Unknown"]
    if not categories:
        defects.append("<info/category>: missing or not a CAP category; kept without one")
    if not _text(el, "event"):
        raise Reject("missing required <info/event>")
    fields: dict[str, Any] = {
        "language": _text(el, "language") or "en-US",
        "category": categories[0] if categories else "",
        "event": _text(el, "event"),
        "headline": _text(el, "headline"),
        "description": _text(el, "description"),
        "instruction": _text(el, "instruction"),
    }
    for name in ("urgency", "severity", "certainty"):
        if not _text(el, name):
            defects.append(f"<info/{name}>: missing; taken as Unknown")
        fields[name] = _lenient_enum(_text(el, name), name, defects) if _text(el, name) else "Unknown"
    for name in ("effective", "onset", "expires"):
        fields[name] = parse_cap_time(_text(el, name), f"info/{name}") if _text(el, name) else None
    features = [f for area in el.findall("area") for f in area_features(area, defects)]
    return _Info(fields["language"], fields, _info_extra(el, categories, defects), features)


def _lenient_enum(value: str, name: str, defects: list[str]) -> str:
    """The CAP value, or ``Unknown`` with a defect noted when the sender's is not one of them."""
    try:
        return _enum_value(value, name, "info/")
    except Reject as exc:
        defects.append(f"{exc}; taken as Unknown" if name != "category" else str(exc))
        return "Unknown"


def _info_extra(el: ET.Element, categories: list[str], defects: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if len(categories) > 1:
        extra["categories"] = categories
    responses = [r for r in (_lenient_enum((r.text or "").strip(), "responseType", defects)
                             for r in el.findall("responseType")) if r != "Unknown"]
    if responses:
        extra["response_types"] = responses
    for name, key in (("senderName", "sender_name"), ("audience", "audience"), ("web", "web"), ("contact", "contact")):
        if _text(el, name):
            extra[key] = _text(el, name)
    for name, key in (("eventCode", "event_codes"), ("parameter", "parameters")):
        pairs = _value_pairs(el, name)
        if pairs:
            extra[key] = pairs
    resources = [{"description": _text(r, "resourceDesc"), "mime_type": _text(r, "mimeType"), "uri": _text(r, "uri")}
                 for r in el.findall("resource")]
    if resources:
        extra["resources"] = resources
    return extra


def _value_pairs(el: ET.Element, name: str) -> dict[str, list[str]]:
    pairs: dict[str, list[str]] = {}
    for node in el.findall(name):
        pairs.setdefault(_text(node, "valueName"), []).append(_text(node, "value"))
    return pairs


def _choose(infos: list[_Info]) -> _Info | None:
    """zh-CN, else another Chinese block, else en-US, else the first."""
    for wanted in (lambda lang: lang == "zh-cn", lambda lang: lang.startswith("zh"), lambda lang: lang == "en-us"):
        for info in infos:
            if wanted(info.language.lower()):
                return info
    return infos[0] if infos else None


# -- areas --------------------------------------------------------------------------------------


def area_features(area: ET.Element, defects: list[str]) -> list[dict[str, Any]]:
    """GeoJSON features of one ``<area>``: each usable polygon and circle, else the bare area."""
    desc = _text(area, "areaDesc")
    if not desc:
        defects.append("<area/areaDesc>: missing")
    props: dict[str, Any] = {"areaDesc": desc, "geocodes": _value_pairs(area, "geocode")}
    for name in ("altitude", "ceiling"):
        if _text(area, name):
            props[name] = _text(area, name)
    where = f"area {desc!r}" if desc else "an area"
    features = []
    for polygon in area.findall("polygon"):
        geometry = parse_polygon(polygon.text or "", defects, where)
        if geometry:
            features.append(_feature(geometry, {**props, "kind": "polygon"}))
    for circle in area.findall("circle"):
        parsed = parse_circle(circle.text or "", defects, where)
        if parsed:
            geometry, centre, radius = parsed
            features.append(_feature(geometry, {**props, "kind": "circle", "radius_km": radius, "centre": centre}))
    return features or [_feature(None, {**props, "kind": "area"})]


def _feature(geometry: dict[str, Any] | None, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _normalised_pairs(text: str) -> list[str]:
    return re.sub(r"\s*,\s*", ",", text.strip()).split()


def _lonlat(pair: str, label: str, defects: list[str]) -> list[float] | None:
    """``lat,lon`` as [lon, lat]; a tiny overshoot is clamped, anything else unusable is None."""
    try:
        lat, lon = (float(v) for v in pair.split(","))
    except ValueError:
        defects.append(f"{label}: {_show(pair)} is not lat,lon; skipped")
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        defects.append(f"{label}: {_show(pair)} is not lat,lon; skipped")
        return None
    clamped_lat, clamped_lon = max(-90.0, min(90.0, lat)), max(-180.0, min(180.0, lon))
    if abs(clamped_lat - lat) > OVERSHOOT_DEG or abs(clamped_lon - lon) > OVERSHOOT_DEG:
        defects.append(f"{label}: {_show(pair)} is out of range for lat,lon; skipped")
        return None
    if (clamped_lat, clamped_lon) != (lat, lon):
        defects.append(f"{label}: {_show(pair)} a hair out of range; clamped to {clamped_lat:g},{clamped_lon:g}")
    return [clamped_lon, clamped_lat]


def parse_polygon(text: str, defects: list[str], where: str = "an area") -> dict[str, Any] | None:
    """``lat,lon lat,lon ...`` as a GeoJSON Polygon, repaired where it can be (bad pairs skipped,
    an open ring closed); None, with the reason in ``defects``, when too little is left."""
    pairs = _normalised_pairs(text)
    if not pairs:
        defects.append(f"<polygon> of {where}: empty; skipped")
        return None
    ring = [point for point in (_lonlat(pair, f"<polygon> of {where}", defects) for pair in pairs) if point]
    if len(ring) >= 3 and ring[0] != ring[-1]:
        defects.append(f"<polygon> of {where}: not closed; closed by repeating the first pair")
        ring.append(ring[0])
    if len(ring) < 4:
        defects.append(f"<polygon> of {where}: needs at least 4 usable lat,lon pairs, got {len(ring)}; skipped")
        return None
    if _signed_area(ring) < 0:
        ring.reverse()  # GeoJSON (RFC 7946) draws outer rings counter-clockwise
    return {"type": "Polygon", "coordinates": [ring]}


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2


def parse_circle(text: str, defects: list[str],
                 where: str = "an area") -> tuple[dict[str, Any], list[float], float] | None:
    """``lat,lon radius_km`` as (geometry, [lon, lat], radius): a geodesic 64-gon, a Point for
    radius 0; None, with the reason in ``defects``, when it is unusable."""
    parts = _normalised_pairs(text)
    if len(parts) != 2:
        defects.append(f"<circle> of {where}: {_show(text.strip())} is not 'lat,lon radius'; skipped")
        return None
    centre = _lonlat(parts[0], f"<circle> of {where}", defects)
    try:
        radius = float(parts[1])
    except ValueError:
        defects.append(f"<circle> of {where}: radius {_show(parts[1])} is not a number; skipped")
        return None
    if not math.isfinite(radius) or radius < 0:
        defects.append(f"<circle> of {where}: radius {_show(parts[1])} must be a distance in km, 0 or more; skipped")
        return None
    if centre is None:
        return None
    lon, lat = centre
    if radius == 0:
        return {"type": "Point", "coordinates": [lon, lat]}, [lon, lat], radius
    azimuths = [360.0 * k / CIRCLE_SEGMENTS for k in range(CIRCLE_SEGMENTS, 0, -1)]  # counter-clockwise
    lons, lats, _ = _GEOD.fwd([lon] * CIRCLE_SEGMENTS, [lat] * CIRCLE_SEGMENTS, azimuths,
                              [radius * 1000.0] * CIRCLE_SEGMENTS)
    ring = [[round(x, 6), round(y, 6)] for x, y in zip(lons, lats)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}, [lon, lat], radius


# -- warning signals ----------------------------------------------------------------------------


def warning_signal(info: _Info) -> dict[str, Any]:
    """``{"signal", "colour"}`` of a Chinese warning signal named in the event, headline or codes."""
    values = [v for key in ("event_codes", "parameters") for vs in info.extra.get(key, {}).values() for v in vs]
    text = " | ".join(t for t in (info.fields["event"], info.fields["headline"], *values) if t)
    hits = [(pos, -len(word), name, word.isascii()) for word, name in SIGNALS
            if (pos := text.lower().find(word)) >= 0]
    if not hits:
        return {}
    pos, _, name, english = min(hits)
    found = CHANGED_RE.search(text) or COLOUR_RE.search(text, pos) or COLOUR_RE.search(text)
    if found:
        colour = COLOURS.get(found.group(1) or "") or found.group(2).lower()  # type: ignore[union-attr]
    elif english:
        return {}  # an English event name alone ("Excessive Heat") is no signal
    else:
        colour = SEVERITY_COLOUR.get(info.fields["severity"], "")
    if not colour:
        return {}
    signal: dict[str, Any] = {"signal": name, "colour": colour}
    if LIFTED_RE.search(text):
        signal["lifted"] = True
    return signal
