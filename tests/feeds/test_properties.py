"""Property tests: random and mutated input to every adapter's parser gives records or a rejection.

Each adapter starts from a real sample of its source (the fixtures), which hypothesis then
mutates: keys dropped, values swapped for other JSON (nulls, huge numbers, NaN, long or odd
text, nested lists), text spliced, whole payloads replaced by noise. A parser may answer with
records or ``Reject`` (or a pydantic ``ValidationError``, which the pipeline turns into a
rejection with the field's name); any other exception is a bug in the mapping.
The pipeline's own property (nothing raised, every item landed once) is in
``tests/intake/test_pipeline_properties.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from feeds.base import RawItem
from feeds.cad import EmergencyCadAdapter, PoliceCadAdapter, dump
from feeds.cap import CapAdapter, CapConfig
from feeds.csv_files import CsvAdapter, CsvConfig, write_payload
from feeds.mqtt_sensors import MqttSensorsAdapter
from feeds.open311 import Open311Adapter, Open311Config
from feeds.sensors_http import SensorsHttpAdapter
from feeds.urban_cases import UrbanCasesAdapter
from feeds.video_ai import VideoAiAdapter
from ioc.config import FeedSettings
from ioc.records import AlertRecord, IncidentRecord, ReadingRecord, Reject, UnitStatusRecord
from tests.feeds.test_csv import CHINESE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds"
# 60 fixed examples per parser in the suite; IOC_HYPOTHESIS_EXAMPLES=1500 hunts with fresh random ones.
HUNT = os.environ.get("IOC_HYPOTHESIS_EXAMPLES")
BOUNDED = settings(max_examples=int(HUNT or 60), deadline=None, derandomize=not HUNT, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def make(cls, **options):
    feed = FeedSettings(name="prop", kind=cls.kind, **options)
    return cls(feed, cls.Config.model_validate(feed.model_extra or {}))


# --- what hostile or broken sources send --------------------------------------------------------

odd_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "null", "NaN", "-1", "1e400", "2024-13-45T99:99:99", "2024-07-01T09:00:00",
                     "2024-07-01T09:00:00+08:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00+00:00",
                     "<script>alert(1)</script>", "'; DROP TABLE incident; --", "\x00", "\u202e",
                     "已派警", "P1", "P9", "113.75", "22.95", "火灾"]),
    st.text(min_size=200, max_size=2000),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), odd_text)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@st.composite
def mutated(draw, sample: dict[str, Any]) -> dict[str, Any]:
    """The sample with some keys dropped or given other values, and perhaps a key added."""
    obj = dict(sample)
    for key in list(obj):
        action = draw(st.sampled_from(["keep", "keep", "drop", "replace"]))
        if action == "drop":
            del obj[key]
        elif action == "replace":
            obj[key] = draw(json_values)
    if draw(st.booleans()):
        obj[draw(st.text(max_size=8))] = draw(json_values)
    return obj


@st.composite
def spliced(draw, text: str) -> str:
    """The text with a slice cut out, or random text put in (a truncated or corrupted body)."""
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 80)))
    return text[:start] + draw(st.text(max_size=30)) + text[end:]


def payloads(samples: list[dict[str, Any]]):
    """Mutated samples as the adapter stores them, spliced text, or anything at all."""
    sample = st.sampled_from(samples)
    return st.one_of(
        sample.flatmap(mutated).map(dump),
        sample.map(dump).flatmap(spliced),
        json_values.map(lambda v: json.dumps(v, allow_nan=True)),
        st.text(max_size=200),
    )


RECORD_TYPES = (IncidentRecord, UnitStatusRecord, AlertRecord, ReadingRecord)


def records_or_rejection(adapter, payload: str, external_id: str | None = None) -> None:
    try:
        records = adapter.parse(RawItem(external_id, payload))
    except (Reject, ValidationError) as exc:
        assert str(exc), "a rejection must say why"
        return
    assert isinstance(records, list)
    assert all(isinstance(r, RECORD_TYPES) for r in records)


# --- the adapters ----------------------------------------------------------------------------------

CAD_SAMPLES = (fixture("cad/police_incidents_page1.json")["incidents"] + fixture("cad/police_units.json")["units"]
               + fixture("cad/emergency_incidents.json")["incidents"])
POLICE = make(PoliceCadAdapter, base_url="http://cad")
EMERGENCY = make(EmergencyCadAdapter, base_url="http://cad")


@BOUNDED
@given(payloads(CAD_SAMPLES))
def test_cad_parsers_give_records_or_a_rejection(payload):
    records_or_rejection(POLICE, payload)
    records_or_rejection(EMERGENCY, payload)


URBAN = make(UrbanCasesAdapter, base_url="http://urban", crs="gcj02")


@BOUNDED
@given(payloads(fixture("urban/cases.json")["cases"]))
def test_urban_case_parser_gives_records_or_a_rejection(payload):
    records_or_rejection(URBAN, payload)


VIDEO = make(VideoAiAdapter, base_url="http://video", crs="gcj02")


@BOUNDED
@given(payloads(fixture("video/detections.json")["detections"]))
def test_video_detection_parser_gives_records_or_a_rejection(payload):
    records_or_rejection(VIDEO, payload)


READINGS = fixture("sensors/readings_page1.json")["readings"] + fixture("sensors/readings_page2.json")["readings"]
SENSORS_HTTP = make(SensorsHttpAdapter, url="http://sensors/readings")
MQTT = make(MqttSensorsAdapter, host="127.0.0.1", port=1, topic="ioc/sensors/+/reading")


@BOUNDED
@given(payloads(READINGS))
def test_sensor_reading_parsers_give_records_or_a_rejection(payload):
    records_or_rejection(SENSORS_HTTP, payload)
    records_or_rejection(MQTT, payload)


OPEN311 = Open311Adapter(FeedSettings(name="prop", kind="open311"), Open311Config.model_validate(
    {"base_url": "http://open311", "service_map": {"CG-ZDJY": "street_vending"}}))


@BOUNDED
@given(payloads(fixture("open311/requests.json")))
def test_open311_parser_gives_records_or_a_rejection(payload):
    records_or_rejection(OPEN311, payload)


CSV = CsvAdapter(FeedSettings(name="prop", kind="csv"), CsvConfig.model_validate({"path": "unused.csv", **CHINESE}))
CSV_HEADER = list(CHINESE["mapping"].values())
CSV_ROW = ["J20240701001", "2024-07-01 08:15:22", "火灾", "一级", "已结警", "东莞市南城街道鸿福路88号", "113.7512",
           "23.0201", "商铺二楼起火", "2024-07-01 09:45:00", "FE-NC01", "2024-07-01 08:16:05", "2024-07-01 08:16:50",
           "2024-07-01 08:24:10", "2024-07-01 09:40:00"]
csv_cells = st.one_of(odd_text, st.integers().map(str), st.floats().map(str))


@st.composite
def csv_payloads(draw) -> str:
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        row = [cell if draw(st.booleans()) else draw(csv_cells) for cell in CSV_ROW]
        rows.append(row[:draw(st.integers(0, len(row)))] if draw(st.booleans()) else row)
    header = CSV_HEADER if draw(st.integers(0, 4)) else draw(st.lists(st.text(max_size=6), max_size=5))
    return write_payload(header, rows)


@BOUNDED
@given(st.one_of(csv_payloads(), st.text(max_size=300)))
def test_csv_parser_gives_records_or_a_rejection(payload):
    records_or_rejection(CSV, payload, external_id="J20240701001")


CAP = CapAdapter(FeedSettings(name="prop", kind="cap"), CapConfig.model_validate({"url": "http://cap/alert.xml"}))
CAP_SAMPLES = [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "cap").glob("*.xml"))]


@st.composite
def cap_payloads(draw) -> str:
    """A real CAP message with an element's text replaced, or spliced, or noise."""
    text = draw(st.sampled_from(CAP_SAMPLES))
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(spliced(text))
    if choice == 1:
        tags = [t for t in ("sent", "identifier", "status", "msgType", "polygon", "circle", "effective", "expires",
                            "references", "severity", "headline", "event", "areaDesc") if f"<{t}>" in text]
        if tags:
            tag = draw(st.sampled_from(tags))
            head, _, rest = text.partition(f"<{tag}>")
            _, _, tail = rest.partition(f"</{tag}>")
            value = draw(odd_text).replace("&", "&amp;").replace("<", "&lt;")
            return f"{head}<{tag}>{value}</{tag}>{tail}"
    return draw(st.text(max_size=300))


@BOUNDED
@given(cap_payloads())
def test_cap_parser_gives_records_or_a_rejection(payload):
    records_or_rejection(CAP, payload, external_id="cap")
