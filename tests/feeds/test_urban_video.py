"""Urban management cases and AI video detections on recorded payloads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from feeds.base import RawItem
from feeds.cad import dump
from feeds.urban_cases import UrbanCasesAdapter
from feeds.video_ai import VideoAiAdapter, fold_window
from ioc.config import FeedSettings
from ioc.records import Reject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds"
CST = timezone(timedelta(hours=8))


def fixture(path: str) -> dict:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def make(cls, **options):
    options.setdefault("base_url", "http://source")
    feed = FeedSettings(name="test", kind=cls.kind, crs="gcj02", **options)
    return cls(feed, cls.Config.model_validate(feed.model_extra or {}))


def parse_one(adapter, obj):
    (record,) = adapter.parse(RawItem(external_id=None, payload=dump(obj)))
    return record


CASES = fixture("urban/cases.json")["cases"]
DETECTIONS = fixture("video/detections.json")["detections"]


# -- urban cases ------------------------------------------------------------------------------


def test_case_maps_field_by_field():
    rec = parse_one(make(UrbanCasesAdapter), CASES[0])
    assert rec.external_id == "DG202407010900001"
    assert rec.channel == "urban"
    assert rec.category == "street_vending"
    assert rec.type == "事件/街面秩序/占道经营"
    assert rec.status == "dispatched" and rec.source_status == "派遣"
    assert rec.priority == "P3"
    assert rec.reported_at == datetime(2024, 7, 1, 9, 0, 10, tzinfo=CST)
    assert rec.closed_at is None
    assert (rec.lon, rec.lat) == (113.757193, 23.018278)
    assert rec.address == "东莞市南城街道鸿福路12号"
    assert rec.description.endswith("有商贩占用人行道经营")
    assert rec.extra["grid_code"] == "441900004-0712"
    assert rec.extra["case_class"] == "事件" and rec.extra["minor_class"] == "占道经营"
    assert rec.extra["deadline"] == "2024-07-01T11:30:00+08:00"
    assert rec.extra["state_times"]["立案"] == "2024-07-01T09:12:00+08:00"


def test_states_sources_and_urgency():
    adapter = make(UrbanCasesAdapter)
    closed, extended, voided, waterlogging = (parse_one(adapter, c) for c in CASES[1:])
    assert (closed.channel, closed.category, closed.status, closed.priority) == ("grid", "manhole_cover", "closed", "P2")
    assert closed.closed_at == datetime(2024, 7, 1, 10, 45, tzinfo=CST)
    assert (extended.status, extended.source_status, extended.category) == ("on_scene", "延期", "illegal_construction")
    assert (voided.status, voided.category) == ("cancelled", "illegal_ad")
    assert voided.closed_at == datetime(2024, 7, 1, 9, 40, tzinfo=CST)
    assert (waterlogging.status, waterlogging.category, waterlogging.priority) == ("new", "waterlogging", "P2")


@pytest.mark.parametrize("minor, category", [
    ("井盖", "manhole_cover"), ("路灯", "street_light"), ("道路破损", "road_damage"), ("占道经营", "street_vending"),
    ("暴露垃圾", "garbage"), ("违章搭建", "illegal_construction"), ("道路积水", "waterlogging"),
    ("树木倒伏", "fallen_tree"), ("乱张贴", "illegal_ad"), ("施工扰民", "construction"), ("渣土撒漏", "muck_spill"),
])
def test_default_minor_class_table(minor, category):
    assert parse_one(make(UrbanCasesAdapter), dict(CASES[0], minor_class=minor)).category == category


def test_category_map_overrides_and_unknown_classes():
    case = dict(CASES[0], minor_class="共享单车乱停放")
    assert parse_one(make(UrbanCasesAdapter), case).category == "other"
    assert parse_one(make(UrbanCasesAdapter), dict(case, **{"class": "部件"})).category == "facility_damage"
    assert parse_one(make(UrbanCasesAdapter, category_map={"共享单车乱停放": "traffic_jam"}), case).category == "traffic_jam"
    with pytest.raises(Reject, match="unknown category"):
        parse_one(make(UrbanCasesAdapter, category_map={"共享单车乱停放": "bikes"}), case)


@pytest.mark.parametrize("change, reason", [
    ({"case_no": None}, "missing case_no"),
    ({"state": "漂流"}, "unknown case state"),
    ({"times": {"受理": "2024-07-01 09:00"}}, "no UTC offset"),
    ({"times": {}}, "no 受理 time"),
    ({"times": ["受理"]}, "times must be an object"),
    ({"x": 113.7, "y": None}, "coordinates are not numbers"),
    ({"deadline": "soon"}, "deadline: not an ISO-8601 time"),
])
def test_bad_cases_are_rejected_with_a_reason(change, reason):
    with pytest.raises(Reject, match=reason):
        parse_one(make(UrbanCasesAdapter), dict(CASES[0], **change))


def test_cases_fetch_pages_with_the_cursor(httpserver):
    body = fixture("urban/cases.json")
    httpserver.expect_ordered_request("/um/cases", query_string={"limit": "200"}).respond_with_json(
        dict(body, has_more=True, next_since="5"))
    httpserver.expect_ordered_request("/um/cases", query_string={"since": "5", "limit": "200"}).respond_with_json(
        {"cases": [], "next_since": "5", "has_more": False})
    adapter = make(UrbanCasesAdapter, base_url=httpserver.url_for("/um/"))
    with httpx.Client() as client:
        first = adapter.fetch(None, client)
        second = adapter.fetch(first.cursor, client)
    assert [i.external_id for i in first.items] == [c["case_no"] for c in CASES]
    assert (first.cursor, first.more) == ("5", True)
    assert (second.items, second.cursor, second.more) == ([], "5", False)
    httpserver.check_assertions()


# -- video detections ---------------------------------------------------------------------------


def test_detection_maps_field_by_field():
    rec = parse_one(make(VideoAiAdapter), DETECTIONS[0])
    assert rec.external_id == "CAM-0012:street_vending:20240701T1030Z"
    assert rec.channel == "video"
    assert rec.category == "street_vending"
    assert rec.status == "new"
    assert rec.reported_at == datetime(2024, 7, 1, 18, 31, 10, tzinfo=CST)
    assert (rec.lon, rec.lat) == (113.757193, 23.018278)
    assert rec.extra == {
        "camera_id": "CAM-0012", "confidence": 0.83, "detection_id": "D2024070118300001",
        "snapshot_url": "http://video.example/snap/D2024070118300001.jpg",
        "window_start": "2024-07-01T10:30:00+00:00",
    }


def test_repeats_fold_within_the_window_only():
    adapter = make(VideoAiAdapter)
    ids = [parse_one(adapter, d).external_id for d in DETECTIONS[:3]]
    assert ids[0] == ids[1] != ids[2]
    assert ids[2] == "CAM-0012:street_vending:20240701T1040Z"
    wide = make(VideoAiAdapter, fold_minutes=30)
    assert len({parse_one(wide, d).external_id for d in DETECTIONS[:3]}) == 1


def test_fold_window_is_pure_and_aligned():
    at = datetime(2024, 7, 1, 18, 39, 59, tzinfo=CST)
    assert fold_window(at, 10) == datetime(2024, 7, 1, 10, 30, tzinfo=timezone.utc)
    assert fold_window(at + timedelta(seconds=1), 10) == datetime(2024, 7, 1, 10, 40, tzinfo=timezone.utc)


def test_threshold_sends_weak_detections_to_the_verification_queue():
    adapter = make(VideoAiAdapter)
    weak, edge = parse_one(adapter, DETECTIONS[3]), parse_one(adapter, DETECTIONS[4])
    assert (weak.status, weak.category, weak.priority) == ("unverified", "waterlogging", "P2")
    assert (edge.status, edge.category) == ("new", "fire")  # at the threshold counts as verified
    strict = make(VideoAiAdapter, min_confidence=0.9)
    assert parse_one(strict, DETECTIONS[0]).status == "unverified"


def test_event_map_adds_and_overrides():
    adapter = make(VideoAiAdapter, event_map={"smoking": "pollution", "crowd": "help"})
    assert parse_one(adapter, dict(DETECTIONS[0], event_type="smoking")).category == "pollution"
    assert parse_one(adapter, dict(DETECTIONS[0], event_type="crowd")).category == "help"


@pytest.mark.parametrize("change, reason", [
    ({"id": ""}, "missing id"),
    ({"camera_id": None}, "missing camera_id"),
    ({"event_type": "ufo"}, "unknown event_type"),
    ({"confidence": 1.7}, "outside 0-1"),
    ({"confidence": "high"}, "not a number"),
    ({"at": "2024-07-01T18:31:10"}, "no UTC offset"),
    ({"lat": 95}, "out of range"),
])
def test_bad_detections_are_rejected_with_a_reason(change, reason):
    with pytest.raises(Reject, match=reason):
        parse_one(make(VideoAiAdapter), dict(DETECTIONS[0], **change))


def test_detections_fetch(httpserver):
    httpserver.expect_request("/v/detections", query_string={"limit": "50"}).respond_with_json(
        fixture("video/detections.json"))
    adapter = make(VideoAiAdapter, base_url=httpserver.url_for("/v"), page_size=50)
    with httpx.Client() as client:
        result = adapter.fetch(None, client)
    assert [i.external_id for i in result.items] == [d["id"] for d in DETECTIONS]
    assert (result.cursor, result.more) == ("5", False)
    records = [adapter.parse(i)[0] for i in result.items]
    assert len({r.external_id for r in records}) == 4  # two of the five fold together
