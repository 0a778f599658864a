"""Police and emergency CAD adapters on recorded payloads: mapping, paging, rejections."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from feeds.base import RawItem
from feeds.cad import EmergencyCadAdapter, PoliceCadAdapter, dump
from ioc.config import FeedSettings
from ioc.records import IncidentRecord, Reject, UnitStatusRecord

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds" / "cad"
CST = timezone(timedelta(hours=8))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make(cls, **options):
    feed = FeedSettings(name="cad_test", kind=cls.kind, **options)
    return cls(feed, cls.Config.model_validate(feed.model_extra or {}))


def parse_one(adapter, obj):
    records = adapter.parse(RawItem(external_id=None, payload=dump(obj)))
    assert len(records) == 1
    return records[0]


def test_police_incident_maps_field_by_field():
    adapter = make(PoliceCadAdapter, base_url="http://cad")
    rec = parse_one(adapter, fixture("police_incidents_page1.json")["incidents"][0])
    assert isinstance(rec, IncidentRecord)
    assert rec.external_id == "J202407011230001"
    assert rec.channel == "110"
    assert rec.category == "crime"
    assert rec.type == "入室盗窃"
    assert rec.priority == "P2"
    assert rec.status == "on_scene" and rec.source_status == "已到场"
    assert rec.reported_at == datetime(2024, 7, 1, 12, 30, 5, tzinfo=CST)
    assert rec.closed_at is None
    assert rec.address == "东莞市南城街道鸿福路12号"
    assert (rec.lon, rec.lat) == (113.75201, 23.02105)
    assert rec.description == "报警称家中被盗，现场有人看守"
    assert rec.extra["type_code"] == "0104" and rec.extra["vendor_category"] == "刑事"
    (a,) = rec.assignments
    assert a.unit_id == "PC-0004"
    assert a.dispatched_at == datetime(2024, 7, 1, 12, 32, 10, tzinfo=CST)
    assert a.en_route_at == datetime(2024, 7, 1, 12, 32, 55, tzinfo=CST)
    assert a.on_scene_at == datetime(2024, 7, 1, 12, 39, 30, tzinfo=CST)
    assert a.cleared_at is None


def test_priority_forms_status_and_closing():
    adapter = make(PoliceCadAdapter, base_url="http://cad")
    closed = parse_one(adapter, fixture("police_incidents_page1.json")["incidents"][1])
    assert closed.priority == "P4" and closed.status == "closed" and closed.category == "traffic_jam"
    assert closed.closed_at == datetime(2024, 7, 1, 12, 40, tzinfo=CST)
    fresh = parse_one(adapter, fixture("police_incidents_page2.json")["incidents"][0])
    assert fresh.priority == "P3" and fresh.status == "new" and fresh.category == "dispute"


def test_category_map_overrides_by_type_code_then_name():
    incident = fixture("police_incidents_page1.json")["incidents"][0]
    by_code = make(PoliceCadAdapter, base_url="http://cad", category_map={"0104": "suspicious"})
    assert parse_one(by_code, incident).category == "suspicious"
    by_name = make(PoliceCadAdapter, base_url="http://cad", category_map={"入室盗窃": "public_order"})
    assert parse_one(by_name, incident).category == "public_order"
    unknown = dict(incident, category="新类别", type_code="7777", type_name="新警情")
    rec = parse_one(make(PoliceCadAdapter, base_url="http://cad"), unknown)
    assert rec.category == "other" and rec.extra["vendor_category"] == "新类别"
    with pytest.raises(Reject, match="unknown category"):
        parse_one(make(PoliceCadAdapter, base_url="http://cad", category_map={"0104": "arson"}), incident)


def test_unit_status_codes_map_to_canonical_statuses():
    adapter = make(PoliceCadAdapter, base_url="http://cad")
    records = [parse_one(adapter, u) for u in fixture("police_units.json")["units"]]
    assert all(isinstance(r, UnitStatusRecord) for r in records)
    assert [r.status for r in records] == ["DISPATCHED", "EN_ROUTE", "ON_SCENE", "AVAILABLE"]
    assert records[0].incident_external_id == "J202407011230001"
    assert records[3].incident_external_id is None
    assert records[1].at == datetime(2024, 7, 1, 12, 32, 55, tzinfo=CST)
    assert (records[2].lon, records[2].lat) == (113.75201, 23.02105)
    for code, status in {"ENR": "EN_ROUTE", "RESP": "EN_ROUTE", "ARR": "ON_SCENE", "PC": "PATIENT_CONTACT",
                         "TR": "TRANSPORTING", "AD": "AT_HOSPITAL", "RTQ": "CLEARED", "OOS": "OUT_OF_SERVICE",
                         "am": "AVAILABLE"}.items():
        unit = {"unit_id": "U1", "status": code, "at": "2024-07-01T12:00:00+08:00"}
        assert parse_one(adapter, unit).status == status


def test_status_map_adds_vendor_codes():
    adapter = make(PoliceCadAdapter, base_url="http://cad", status_map={"XJ": "STAGED", "OS": "EN_ROUTE"})
    unit = {"unit_id": "U1", "status": "xj", "at": "2024-07-01T12:00:00+08:00"}
    assert parse_one(adapter, unit).status == "STAGED"
    assert parse_one(adapter, dict(unit, status="OS")).status == "EN_ROUTE"


def test_emergency_records_carry_their_centre():
    adapter = make(EmergencyCadAdapter, base_url="http://cad")
    ems, fire = (parse_one(adapter, i) for i in fixture("emergency_incidents.json")["incidents"])
    assert (ems.channel, ems.category, ems.priority, ems.status) == ("120", "medical", "P1", "dispatched")
    assert (fire.channel, fire.category) == ("119", "fire")
    assert [a.unit_id for a in fire.assignments] == ["FE-0031", "RT-0004"]
    no_centre = dict(fixture("emergency_incidents.json")["incidents"][0], centre=None)
    with pytest.raises(Reject, match="centre"):
        parse_one(adapter, no_centre)


@pytest.mark.parametrize("case", fixture("bad_records.json"), ids=lambda c: c["why"])
def test_bad_records_are_rejected_with_a_reason(case):
    adapter = make(PoliceCadAdapter, base_url="http://cad")
    with pytest.raises(Reject, match=case["why"]):
        parse_one(adapter, case["item"])


def test_payload_that_is_not_json_is_rejected():
    adapter = make(PoliceCadAdapter, base_url="http://cad")
    with pytest.raises(Reject, match="not JSON"):
        adapter.parse(RawItem(external_id="x", payload="<html>"))


def test_options_are_validated():
    with pytest.raises(ValidationError):
        PoliceCadAdapter.Config.model_validate({"base_url": "http://cad", "page_size": 0})
    with pytest.raises(ValidationError):
        PoliceCadAdapter.Config.model_validate({"base_url": "http://cad", "colour": "red"})
    assert EmergencyCadAdapter.Config.model_validate({"base_url": "http://cad"}).channel is None


def test_fetch_pages_both_streams_with_one_cursor(httpserver):
    page1, page2 = fixture("police_incidents_page1.json"), fixture("police_incidents_page2.json")
    units = fixture("police_units.json")
    httpserver.expect_ordered_request("/api/incidents", query_string={"limit": "2"}).respond_with_json(page1)
    httpserver.expect_ordered_request("/api/units", query_string={"limit": "2"}).respond_with_json(units)
    httpserver.expect_ordered_request("/api/incidents", query_string={"since": "2", "limit": "2"}).respond_with_json(page2)
    httpserver.expect_ordered_request("/api/units", query_string={"since": "4", "limit": "2"}).respond_with_json(
        {"units": [], "next_since": "4", "has_more": False})
    adapter = make(PoliceCadAdapter, base_url=httpserver.url_for("/api"), page_size=2)
    with httpx.Client() as client:
        first = adapter.fetch(None, client)
        assert first.more is True
        assert json.loads(first.cursor) == {"incidents": "2", "units": "4"}
        assert [i.external_id for i in first.items][:2] == ["J202407011230001", "J202407011231002"]
        assert "PC-0004@2024-07-01T12:32:10+08:00" in [i.external_id for i in first.items]
        second = adapter.fetch(first.cursor, client)
    assert second.more is False
    assert [i.external_id for i in second.items] == ["J202407011233003"]
    assert json.loads(second.cursor) == {"incidents": "3", "units": "4"}
    kinds = [type(adapter.parse(i)[0]).__name__ for i in first.items]
    assert kinds == ["IncidentRecord"] * 2 + ["UnitStatusRecord"] * 4
    httpserver.check_assertions()


def test_fetch_fails_loudly_on_a_broken_source(httpserver):
    httpserver.expect_request("/api/incidents").respond_with_data("oops", status=500)
    adapter = make(PoliceCadAdapter, base_url=httpserver.url_for("/api"))
    with httpx.Client() as client, pytest.raises(httpx.HTTPStatusError):
        adapter.fetch(None, client)


def test_fetch_rejects_a_body_without_the_list(httpserver):
    httpserver.expect_request("/api/incidents").respond_with_json({"items": []})
    adapter = make(PoliceCadAdapter, base_url=httpserver.url_for("/api"))
    with httpx.Client() as client, pytest.raises(ValueError, match="incidents"):
        adapter.fetch(None, client)


def test_unchanged_record_hashes_the_same_whatever_the_key_order():
    obj = fixture("police_incidents_page1.json")["incidents"][0]
    shuffled = dict(reversed(list(obj.items())))
    assert RawItem(None, dump(obj)).content_hash == RawItem(None, dump(shuffled)).content_hash


def test_cad_pages_in_gbk_or_with_a_bom_read_correctly(httpserver):
    """Chinese sources send GBK or UTF-8 with a BOM; both read the same as plain UTF-8."""
    page = {"incidents": [{"id": "110-GBK-1", "received_at": "2026-07-01T09:00:00+08:00", "type_code": "交通事故",
                           "type_name": "交通事故", "category": "traffic_accident", "priority": 2, "status": "new",
                           "address": "东莞大道与鸿福路交叉口", "lon": 113.75, "lat": 23.02, "units": []}],
            "next_since": "1", "has_more": False}
    text = json.dumps(page, ensure_ascii=False)
    adapter = PoliceCadAdapter(FeedSettings(name="p", kind="police_cad", base_url=httpserver.url_for("/cad")),
                               PoliceCadAdapter.Config(base_url=httpserver.url_for("/cad")))
    for body in (text.encode("gbk"), b"\xef\xbb\xbf" + text.encode("utf-8")):
        httpserver.clear()
        httpserver.expect_request("/cad/incidents").respond_with_data(body, content_type="application/json")
        httpserver.expect_request("/cad/units").respond_with_json({"units": [], "next_since": "0", "has_more": False})
        with httpx.Client() as client:
            [item] = adapter.fetch(None, client).items
        [record] = adapter.parse(item)
        assert record.address == "东莞大道与鸿福路交叉口" and record.type == "交通事故"
