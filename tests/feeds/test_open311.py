"""The Open311 adapter: 12345-style requests parsed field by field, windows and pages fetched from a
loopback GeoReport server, and the real samples in ../shared either parsed or rejected."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from werkzeug import Request, Response

from feeds.base import REGISTRY, RawItem
from feeds.open311 import Open311Adapter, Open311Config, fetch_services
from ioc.config import FeedSettings
from ioc.records import IncidentRecord, Reject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds" / "open311"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "open311"
CST = timezone(timedelta(hours=8))
SERVICE_MAP = {"CG-ZDJY": "street_vending", "SW-JS": "waterlogging", "LD": "street_light", "HJ-ZY": "noise",
               "DL-PS": "road_damage", "BJ-JG": "manhole_cover", "HW-LJ": "garbage", "树木倒伏": "fallen_tree"}


def adapter(**options: Any) -> Open311Adapter:
    options = {"base_url": "http://unused.example/georeport/v2", "service_map": SERVICE_MAP, **options}
    return Open311Adapter(FeedSettings(name="dg-12345", kind="open311"), Open311Config.model_validate(options))


def fixture_requests() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "requests.json").read_text(encoding="utf-8"))


def parse_obj(obj: dict[str, Any], **options: Any) -> IncidentRecord:
    [record] = adapter(**options).parse(RawItem(obj.get("service_request_id"), json.dumps(obj, ensure_ascii=False)))
    assert isinstance(record, IncidentRecord)
    return record


def by_id(ext_id: str) -> dict[str, Any]:
    return next(r for r in fixture_requests() if r.get("service_request_id") == ext_id)


def test_registered_with_its_kind() -> None:
    assert REGISTRY["open311"] is Open311Adapter


@pytest.mark.parametrize(("options", "message"), [
    ({"service_map": {"X": "potholes"}}, "unknown category"),
    ({"priority_map": {"X": "P9"}}, "unknown priority"),
    ({"status_map": {"挂起": "paused"}}, "unknown status"),
    ({"timezone": "China/Dongguan"}, "unknown time zone"),
    ({"format": "csv"}, "format"),
    ({"page_size": 0}, "page_size"),
    ({"channel": "999"}, "channel"),
    ({"timeout": 5}, "timeout"),
])
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Open311Config.model_validate({"base_url": "http://x", **options})


# -- parsing ------------------------------------------------------------------------------------


def test_open_request_field_by_field() -> None:
    record = parse_obj(by_id("DG12345-20240701-000123"))
    assert record.external_id == "DG12345-20240701-000123"
    assert (record.channel, record.category, record.type, record.priority) == ("12345", "street_vending", "占道经营", "P3")
    assert (record.status, record.source_status) == ("new", "open")
    assert record.reported_at == datetime(2024, 7, 1, 9, 12, 30, tzinfo=CST)
    assert record.closed_at is None
    assert record.title == "鸿福路与元美路交叉口有流动摊贩占道经营，影响行人通行。"  # the description's first line
    assert record.description.endswith("晚上八点以后尤其严重。")
    assert record.address == "东莞市南城街道鸿福路与元美路交叉口"
    assert (record.lon, record.lat) == (113.7512, 23.0148)  # sent as strings
    assert record.extra == {
        "agency_responsible": "南城街道综合行政执法办公室",
        "media_url": "https://12345.dg.example.cn/media/000123.jpg",
        "service_code": "CG-ZDJY",
        "zipcode": "523000",
        "updated_datetime": "2024-07-01T09:12:30+08:00",
        "expected_datetime": "2024-07-03T09:12:30+08:00",
    }


def test_closed_request_takes_its_close_time_from_updated_datetime() -> None:
    record = parse_obj(by_id("DG12345-20240701-000124"))
    assert (record.status, record.source_status, record.category) == ("closed", "closed", "waterlogging")
    assert record.closed_at == datetime(2024, 7, 1, 16, 40, tzinfo=CST)
    assert record.extra["status_notes"] == "已安排排水所清理雨水篦子，积水已消退。"
    assert (record.lon, record.lat) == (113.7733, 23.0301)  # sent as numbers


@pytest.mark.parametrize(("ext_id", "status", "source_status", "closed"), [
    ("DG12345-20240701-000125", "dispatched", "in progress", False),
    ("DG12345-20240701-000126", "dispatched", "已派单", False),  # the finer state in extended_attributes
    ("DG12345-20240702-000127", "closed", "duplicate", True),
    ("DG12345-20240702-000128", "closed", "not_responsible", True),
    ("DG12345-20240702-000129", "dispatched", "action scheduled", False),
    ("DG12345-20240702-000130", "acknowledged", "investigating", False),
])
def test_extended_statuses(ext_id: str, status: str, source_status: str, closed: bool) -> None:
    record = parse_obj(by_id(ext_id))
    assert (record.status, record.source_status) == (status, source_status)
    assert (record.closed_at is not None) is closed


def test_title_falls_back_to_the_service_name_and_unmapped_services_are_other() -> None:
    lamp = parse_obj(by_id("DG12345-20240701-000125"))
    assert (lamp.title, lamp.description, lamp.category) == ("路灯不亮", "", "street_light")
    consult = parse_obj(by_id("DG12345-20240702-000130"))
    assert consult.category == "other"
    assert (consult.lon, consult.lat, consult.address) == (None, None, "")


def test_extended_attributes_are_kept() -> None:
    record = parse_obj(by_id("DG12345-20240701-000126"))
    assert record.extra["extended_attributes"] == {"status": "已派单", "工单来源": "电话"}


def test_priority_map_and_status_map_and_channel() -> None:
    obj = by_id("DG12345-20240702-000129")
    record = parse_obj(obj, priority_map={"BJ-JG": "P1"}, status_map={"Action_Scheduled": "acknowledged"},
                       channel="urban")
    assert (record.priority, record.status, record.channel) == ("P1", "acknowledged", "urban")


@pytest.mark.parametrize(("index", "why"), [
    (8, "missing service_request_id"),
    (9, "requested_datetime: time has no UTC offset"),
    (10, "requested_datetime: not an ISO-8601 time"),
    (11, "unknown status '挂起' (add it to status_map)"),
])
def test_bad_records_are_rejected_with_a_reason(index: int, why: str) -> None:
    obj = fixture_requests()[index]
    with pytest.raises(Reject, match=why.replace("(", r"\(").replace(")", r"\)")):
        adapter().parse(RawItem(obj.get("service_request_id"), json.dumps(obj, ensure_ascii=False)))


def test_naive_times_are_localised_when_the_feed_names_its_zone() -> None:
    record = parse_obj(fixture_requests()[9], timezone="Asia/Shanghai")
    assert record.reported_at == datetime(2024, 7, 2, 12, 30, tzinfo=CST)


def test_missing_and_unusable_positions() -> None:
    obj = by_id("DG12345-20240701-000123")
    assert parse_obj({**obj, "lat": 0, "long": 0}).lon is None  # a blank form, not a place in the Atlantic
    far = parse_obj({**obj, "lat": "123.4", "long": "113.7"})
    assert far.lat is None and "out of range" in far.extra["location_error"]
    assert parse_obj({**obj, "lat": "北纬23度", "long": "113.7"}).extra["location_error"].startswith("coordinates")


def test_payload_must_be_one_object() -> None:
    with pytest.raises(Reject, match="not JSON"):
        adapter().parse(RawItem("x", "{"))
    with pytest.raises(Reject, match="JSON object"):
        adapter().parse(RawItem("x", "[1, 2]"))
    with pytest.raises(Reject, match="document type declaration"):
        adapter().parse(RawItem("x", '<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><request>&e;</request>'))


# -- fetching -----------------------------------------------------------------------------------


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


class FakeGeoReport:
    """A GeoReport v2 server: start_date/end_date (half-open here) on requested_datetime, newest first,
    page/page_size paging; it remembers what it was asked."""

    def __init__(self, requests: list[dict[str, Any]], field: str = "requested_datetime") -> None:
        self.requests, self.field, self.asked = requests, field, []

    def __call__(self, request: Request) -> Response:
        args = request.args
        self.asked.append(dict(args))
        after, before = (("updated_after", "updated_before") if "updated_after" in args else ("start_date", "end_date"))
        start, end = _when(args[after]), _when(args[before])
        hits = [r for r in self.requests if start <= _when(r[self.field]) < end]
        hits.sort(key=lambda r: _when(r[self.field]), reverse=True)
        page, size = int(args.get("page", 1)), int(args.get("page_size", 1000))
        body = json.dumps(hits[(page - 1) * size: page * size], ensure_ascii=False)
        return Response(body, content_type="application/json; charset=utf-8")


def synthetic(day: int, hour: int, n: int) -> dict[str, Any]:
    at = datetime(2024, 7, day, hour, 7, 30, tzinfo=CST).isoformat()
    return {"service_request_id": f"DG12345-202407{day:02d}-{n:06d}", "status": "open", "service_code": "HJ-ZY",
            "service_name": "噪音扰民", "description": f"第{n}号工单", "requested_datetime": at, "updated_datetime": at}


def fake_server(httpserver, requests: list[dict[str, Any]], **kwargs: Any) -> FakeGeoReport:
    server = FakeGeoReport(requests, **kwargs)
    httpserver.expect_request("/georeport/v2/requests.json").respond_with_handler(server)
    return server


def base(httpserver) -> str:
    return httpserver.url_for("/georeport/v2")


def test_windows_and_pages(httpserver, client) -> None:
    requests = [synthetic(1, h, n) for n, h in enumerate((1, 5, 9, 13, 17), 1)] + [synthetic(3, 10, 6)]
    server = fake_server(httpserver, requests)
    feed = adapter(base_url=base(httpserver) + "/", page_size=2, start="2024-07-01T00:00:00+08:00",
                   jurisdiction_id="dongguan.gov.cn")

    results, cursor = [], None
    for _ in range(5):  # day 1: three pages; day 2: empty; day 3: one request
        result = feed.fetch(cursor, client)
        results.append(result)
        cursor = result.cursor
    assert [len(r.items) for r in results] == [2, 2, 1, 0, 1]
    assert all(r.more for r in results)  # every window up to now is ready at once
    ids = [i.external_id for r in results for i in r.items]
    assert sorted(ids) == sorted(r["service_request_id"] for r in requests)

    first = server.asked[0]
    assert (first["start_date"], first["end_date"]) == ("2024-06-30T16:00:00Z", "2024-07-01T16:00:00Z")
    assert (first["page"], first["page_size"], first["jurisdiction_id"]) == ("1", "2", "dongguan.gov.cn")
    assert [a["page"] for a in server.asked[:4]] == ["1", "2", "3", "1"]
    assert server.asked[1]["end_date"] == first["end_date"]  # a window keeps its end while paged
    assert json.loads(results[0].cursor)["page"] == 2
    assert json.loads(results[2].cursor) == {"start": "2024-07-02T00:00:00+08:00"}

    [item] = results[4].items
    assert json.loads(item.payload) == requests[5]  # one object per item, as the server sent it
    assert feed.parse(item)[0].category == "noise"


def test_refetch_with_the_cursor_yields_nothing_seen(httpserver, client) -> None:
    requests = [synthetic(1, 9, 1), synthetic(2, 9, 2)]
    fake_server(httpserver, requests)
    feed = adapter(base_url=base(httpserver), start="2024-06-30T00:00:00+08:00", window_hours=24 * 365 * 10)
    result = feed.fetch(None, client)
    assert len(result.items) == 2 and result.more is False  # one window reaching now
    end = datetime.fromisoformat(json.loads(result.cursor)["start"])
    assert abs(end - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert feed.fetch(result.cursor, client).items == []


def test_first_poll_without_start_reads_one_window_back(httpserver, client) -> None:
    server = fake_server(httpserver, [])
    adapter(base_url=base(httpserver), window_hours=6).fetch(None, client)
    asked = server.asked[0]
    assert _when(asked["end_date"]) - _when(asked["start_date"]) == timedelta(hours=6)


def test_cursor_in_the_future_waits(httpserver, client) -> None:
    server = fake_server(httpserver, [])
    later = json.dumps({"start": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()})
    result = adapter(base_url=base(httpserver)).fetch(later, client)
    assert (result.items, result.cursor, result.more, server.asked) == ([], later, False, [])


def test_updated_date_filter(httpserver, client) -> None:
    request = {**synthetic(1, 9, 1), "status": "closed", "updated_datetime": "2024-07-05T10:00:00+08:00"}
    server = fake_server(httpserver, [request], field="updated_datetime")
    feed = adapter(base_url=base(httpserver), start="2024-07-05T00:00:00+08:00", date_filter="updated")
    [item] = feed.fetch(None, client).items
    assert "updated_after" in server.asked[0] and "start_date" not in server.asked[0]
    assert feed.parse(item)[0].closed_at == datetime(2024, 7, 5, 10, tzinfo=CST)


def test_server_that_ignores_paging(httpserver, client) -> None:
    requests = [synthetic(1, h, n) for n, h in enumerate((1, 2, 3), 1)]
    httpserver.expect_request("/georeport/v2/requests.json").respond_with_json(requests)
    feed = adapter(base_url=base(httpserver), page_size=3, start="2024-07-01T00:00:00+08:00")
    first = feed.fetch(None, client)
    assert len(first.items) == 3 and json.loads(first.cursor)["page"] == 2
    second = feed.fetch(first.cursor, client)
    assert second.items == []  # the same page again: the window is done
    assert json.loads(second.cursor) == {"start": "2024-07-02T00:00:00+08:00"}


def test_xml_pages(httpserver, client) -> None:
    xml = (FIXTURES / "requests.xml").read_bytes()
    httpserver.expect_request("/georeport/v2/requests.xml").respond_with_data(xml, content_type="text/xml")
    feed = adapter(base_url=base(httpserver), format="xml", start="2024-07-03T00:00:00+08:00")
    result = feed.fetch(None, client)
    assert [i.external_id for i in result.items] == ["DG12345-20240703-000201", "DG12345-20240703-000202",
                                                     "DG12345-20240703-000203"]
    garbage, tree, lamp = result.items
    assert garbage.payload.startswith("<request>") and garbage.payload.endswith("</request>")
    record = feed.parse(garbage)[0]
    assert (record.category, record.status, record.closed_at) == ("garbage", "closed",
                                                                  datetime(2024, 7, 3, 14, 10, tzinfo=CST))
    assert (record.lon, record.lat, record.extra["zipcode"]) == (113.6735, 22.9412, "523960")
    assert record.extra["status_notes"] == "已清运，现场恢复整洁。"
    fallen = feed.parse(tree)[0]
    assert (fallen.category, fallen.status, fallen.source_status) == ("fallen_tree", "dispatched", "已交办")
    with pytest.raises(Reject, match="missing requested_datetime"):
        feed.parse(lamp)


def test_xml_error_answer_raises(httpserver, client) -> None:
    body = "<errors><error><code>403</code><description>Invalid api_key</description></error></errors>"
    httpserver.expect_request("/georeport/v2/requests.xml").respond_with_data(body, content_type="text/xml")
    with pytest.raises(ValueError, match="Invalid api_key"):
        adapter(base_url=base(httpserver), format="xml").fetch(None, client)


@pytest.mark.parametrize("status", [500, 404])
def test_http_errors_raise(httpserver, client, status: int) -> None:
    httpserver.expect_request("/georeport/v2/requests.json").respond_with_data("no", status=status)
    with pytest.raises(httpx.HTTPStatusError):
        adapter(base_url=base(httpserver)).fetch(None, client)


def test_extra_params_are_sent(httpserver, client) -> None:
    server = fake_server(httpserver, [])
    adapter(base_url=base(httpserver), params={"extensions": "true"}).fetch(None, client)
    assert server.asked[0]["extensions"] == "true"


def test_fetch_services(httpserver, client) -> None:
    httpserver.expect_request("/georeport/v2/services.json").respond_with_data(
        (FIXTURES / "services.json").read_bytes(), content_type="application/json")
    httpserver.expect_request("/georeport/v2/services.xml").respond_with_data(
        (FIXTURES / "services.xml").read_bytes(), content_type="text/xml")
    services = fetch_services(client, adapter(base_url=base(httpserver)).config)
    assert [(s["service_code"], s["service_name"], s["group"]) for s in services] == [
        ("CG-ZDJY", "占道经营", "城市管理"), ("SW-JS", "道路积水", "水务"), ("LD", "路灯不亮", "城市管理")]
    xml_services = fetch_services(client, adapter(base_url=base(httpserver), format="xml").config)
    assert xml_services[1] == {"service_code": "LH-DF", "service_name": "树木倒伏", "description": "行道树、绿化树倒伏或断枝",
                               "metadata": True, "type": "realtime", "keywords": "树木", "group": "园林绿化"}


# -- the real samples in ../shared --------------------------------------------------------------

needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")


def parsed_or_rejected(feed: Open311Adapter, items: list[RawItem]) -> tuple[int, int]:
    parsed = rejected = 0
    for item in items:
        try:
            records = feed.parse(item)
        except Reject as exc:
            assert str(exc).strip()
            rejected += 1
        else:
            assert len(records) == 1 and isinstance(records[0], IncidentRecord)
            parsed += 1
    return parsed, rejected


@needs_samples
def test_sample_json_requests(httpserver, client) -> None:
    data = (SAMPLES / "bloomington_requests.json").read_bytes()
    httpserver.expect_request("/georeport/v2/requests.json").respond_with_data(data, content_type="application/json")
    feed = adapter(base_url=base(httpserver), start="2012-05-22T00:00:00-04:00")
    result = feed.fetch(None, client)
    assert len(result.items) == len(json.loads(data)) and all(i.external_id for i in result.items)
    parsed, _ = parsed_or_rejected(feed, result.items)
    assert parsed == len(result.items)
    weeds = next(i for i in result.items if i.external_id == "4fbd2b76b1fe2c195f000000")
    assert feed.parse(weeds)[0].lon is None  # lat/long 0,0 in the source


@needs_samples
def test_sample_xml_requests(httpserver, client) -> None:
    httpserver.expect_request("/georeport/v2/requests.xml").respond_with_data(
        (SAMPLES / "service_requests.xml").read_bytes(), content_type="text/xml")
    feed = adapter(base_url=base(httpserver), format="xml", start="2010-04-14T00:00:00-08:00")
    result = feed.fetch(None, client)
    assert parsed_or_rejected(feed, result.items) == (2, 0)
    closed = feed.parse(result.items[0])[0]
    assert (closed.status, closed.extra["status_notes"]) == ("closed", "Duplicate request.")


@needs_samples
def test_sample_services(httpserver, client) -> None:
    data = (SAMPLES / "bloomington_services.json").read_bytes()
    httpserver.expect_request("/georeport/v2/services.json").respond_with_data(data, content_type="application/json")
    services = fetch_services(client, adapter(base_url=base(httpserver)).config)
    assert len(services) == len(json.loads(data)) and all(s["service_code"] and s["service_name"] for s in services)
