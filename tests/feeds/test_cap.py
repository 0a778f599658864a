"""The CAP adapter: parsing our recorded warnings field by field, fetching over loopback HTTP and
from a folder, refusing hostile XML, and every real sample in ../shared either parsed or rejected."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from pyproj import Geod

import feeds.cap as cap
from feeds.base import REGISTRY, RawItem
from feeds.cap import CapAdapter, CapConfig, alert_items, decode_xml
from ioc.config import FeedSettings
from ioc.records import AlertRecord, Reject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds" / "cap"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "cap"
CST = timezone(timedelta(hours=8))
SENDER = "dgqxt@dg.gd.cma.example.cn"
RED_ID = "44190041600000_20240916061500"
RED_SENT = datetime(2024, 9, 16, 6, 15, tzinfo=CST)
UPDATE_SENT = datetime(2024, 9, 16, 15, 0, tzinfo=CST)


def adapter(**options: str) -> CapAdapter:
    options = options or {"url": "http://unused.example/cap.xml"}
    return CapAdapter(FeedSettings(name="dg-warnings", kind="cap"), CapConfig.model_validate(options))


def fixture_text(name: str) -> str:
    return decode_xml((FIXTURES / name).read_bytes())


def parse_text(text: str) -> AlertRecord:
    records = adapter().parse(RawItem("x", text))
    assert len(records) == 1 and isinstance(records[0], AlertRecord)
    return records[0]


def parse_fixture(name: str) -> AlertRecord:
    return parse_text(fixture_text(name))


def rejection(text: str) -> str:
    with pytest.raises(Reject) as caught:
        adapter().parse(RawItem("x", text))
    reason = str(caught.value)
    assert reason
    return reason


def test_registered_with_its_kind() -> None:
    assert REGISTRY["cap"] is CapAdapter


@pytest.mark.parametrize("options", [{}, {"url": "http://a/x.xml", "folder": "/tmp"}])
def test_exactly_one_source(options: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of url, index_url, folder"):
        CapConfig.model_validate(options)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValidationError):
        CapConfig.model_validate({"url": "http://a/x.xml", "timeout": 5})


# -- parsing ------------------------------------------------------------------------------------


def test_typhoon_red_warning_field_by_field() -> None:
    alert = parse_fixture("dongguan_typhoon_red.xml")
    assert (alert.sender, alert.identifier, alert.sent) == (SENDER, RED_ID, RED_SENT)
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert alert.references == ()
    # the zh-CN block wins over the en-US one that comes first
    assert alert.language == "zh-CN"
    assert (alert.event, alert.category) == ("台风", "Met")
    assert (alert.urgency, alert.severity, alert.certainty) == ("Immediate", "Extreme", "Observed")
    assert alert.headline == "东莞市气象台发布台风红色预警信号"
    assert alert.description.startswith("受台风“摩羯”影响")
    assert alert.instruction == "停课、停工、停业；居民留在室内，远离门窗。"
    assert alert.effective == RED_SENT
    assert alert.onset == datetime(2024, 9, 16, 7, 0, tzinfo=CST)
    assert alert.expires == datetime(2024, 9, 17, 6, 15, tzinfo=CST)

    [feature] = alert.areas["features"]  # only the chosen language's areas
    assert alert.areas["type"] == "FeatureCollection"
    assert feature["properties"] == {"areaDesc": "东莞市全境", "geocodes": {"adcode": ["441900"]}, "kind": "polygon"}
    ring = feature["geometry"]["coordinates"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert ring[0] == ring[-1] and len(ring) == 5
    assert {tuple(p) for p in ring} == {(113.52, 23.15), (114.25, 23.15), (114.25, 22.66), (113.52, 22.66)}
    assert signed_area(ring) > 0  # GeoJSON winding: counter-clockwise

    extra = alert.extra
    assert (extra["signal"], extra["colour"]) == ("typhoon", "red")
    assert "lifted" not in extra
    assert extra["other_info"] == [{"language": "en-US", "event": "Typhoon",
                                    "headline": "Dongguan Meteorological Observatory issues Typhoon Red Warning"}]
    assert extra["cap_version"] == "1.2"
    assert extra["source"] == "东莞市气象台"
    assert extra["codes"] == ["GD-WARNING-SIGNAL"]
    assert extra["sender_name"] == "东莞市气象台"
    assert extra["response_types"] == ["Shelter"]
    assert extra["event_codes"] == {"GD_SIGNAL": ["台风红色预警信号"]}
    assert extra["parameters"] == {"SIGNAL_COLOUR": ["红色"]}
    assert extra["web"].endswith(RED_ID)


def signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2


def test_update_references_the_red_warning_and_draws_a_circle() -> None:
    alert = parse_fixture("dongguan_typhoon_update.xml")
    assert alert.msg_type == "Update"
    assert alert.references == ((SENDER, RED_ID, RED_SENT),)
    assert alert.references[0][2].utcoffset() == timedelta(hours=8)
    assert (alert.extra["signal"], alert.extra["colour"]) == ("typhoon", "orange")  # 红色降级为橙色

    circle, polygon = alert.areas["features"]
    assert polygon["properties"]["kind"] == "polygon"
    props = circle["properties"]
    assert props["kind"] == "circle" and props["radius_km"] == 15.0
    assert props["areaDesc"] == "沿海镇街（虎门、长安、沙田）" and props["centre"] == [113.67, 22.82]
    ring = circle["geometry"]["coordinates"][0]
    assert circle["geometry"]["type"] == "Polygon"
    assert len(ring) == cap.CIRCLE_SEGMENTS + 1 and ring[0] == ring[-1]
    assert signed_area(ring) > 0
    geod = Geod(ellps="WGS84")
    for lon, lat in ring:
        _, _, metres = geod.inv(113.67, 22.82, lon, lat)
        assert metres == pytest.approx(15_000, abs=1.0)


def test_cancel_references_both_and_lifts_the_signal() -> None:
    alert = parse_fixture("dongguan_typhoon_cancel.xml")
    assert alert.msg_type == "Cancel"
    assert alert.references == ((SENDER, RED_ID, RED_SENT), (SENDER, "44190041600000_20240916150000", UPDATE_SENT))
    assert alert.extra["lifted"] is True
    assert alert.extra["signal"] == "typhoon"
    [area] = alert.areas["features"]
    assert area["geometry"] is None and area["properties"]["kind"] == "area"
    assert area["properties"]["geocodes"] == {"adcode": ["441900"]}


def test_cap_1_1_with_sloppy_times_prefers_the_chinese_block() -> None:
    alert = parse_fixture("cap11_rainstorm.xml")
    assert alert.extra["cap_version"] == "1.1"
    assert alert.sent == datetime(2024, 6, 20, 0, 30, 0, 250000, tzinfo=timezone.utc)  # 'Z' and a fraction
    assert alert.expires == datetime(2024, 6, 20, 14, 30, tzinfo=timezone.utc)
    assert (alert.language, alert.event) == ("zh-HK", "暴雨")
    assert alert.extra["other_info"][0]["language"] == "en-US"  # the default of a block without <language>
    assert (alert.extra["signal"], alert.extra["colour"]) == ("rainstorm", "yellow")  # 黃色, traditional


def test_cap_1_0_very_likely_reads_as_likely() -> None:
    alert = parse_fixture("cap10_heat.xml")
    assert alert.extra["cap_version"] == "1.0"
    assert alert.certainty == "Likely"
    assert "password" not in json.dumps(alert.extra)
    # no colour named: China's profile pairs Severe with orange
    assert (alert.extra["signal"], alert.extra["colour"]) == ("heat", "orange")


def test_gbk_encoded_alert() -> None:
    raw = (FIXTURES / "gbk_thunderstorm_gale.cap").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    alert = parse_text(decode_xml(raw))
    assert alert.event == "雷雨大风"
    assert alert.headline == "东莞市气象台发布松山湖片区雷雨大风橙色预警信号"
    assert (alert.extra["signal"], alert.extra["colour"]) == ("thunderstorm_gale", "orange")
    [area] = alert.areas["features"]
    assert area["properties"]["radius_km"] == 8.5


def test_utf8_with_bom_and_latin1() -> None:
    text = fixture_text("dongguan_typhoon_red.xml")
    assert parse_text(decode_xml(b"\xef\xbb\xbf" + text.encode("utf-8"))).identifier == RED_ID
    latin = re.sub(r"<info>\s*<language>zh-CN.*</info>", "", text, flags=re.DOTALL)
    latin = latin.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Observatory", "Météo")
    latin = re.sub(r"[^\x00-\xff]", "", latin)
    assert "Météo" in parse_text(decode_xml(latin.encode("latin-1"))).headline


def test_english_event_names_are_no_signal() -> None:
    text = fixture_text("dongguan_typhoon_red.xml")
    text = text.replace("<language>zh-CN</language>", "<language>fr</language>")
    text = text.replace("<event>Typhoon</event>", "<event>Excessive Heat Warning</event>")
    alert = parse_text(text.replace("issues Typhoon Red Warning", "issues a warning"))
    assert alert.language == "en-US"
    assert "signal" not in alert.extra


def test_english_signal_with_a_colour() -> None:
    text = fixture_text("dongguan_typhoon_red.xml").replace("<language>zh-CN</language>", "<language>fr</language>")
    alert = parse_text(text)
    assert (alert.extra["signal"], alert.extra["colour"]) == ("typhoon", "red")


def red_without(element: str) -> str:
    text = fixture_text("dongguan_typhoon_red.xml")
    stripped = re.sub(rf"\s*<{element}>[^<]*</{element}>", "", text, count=1)
    assert stripped != text
    return stripped


@pytest.mark.parametrize("element", ["identifier", "sender", "sent", "status", "msgType", "scope"])
def test_missing_required_element_is_named(element: str) -> None:
    assert f"missing required <{element}>" in rejection(red_without(element))


@pytest.mark.parametrize(("old", "new", "named"), [
    ("<status>Actual</status>", "<status>Real</status>", "<status>"),
    ("<msgType>Alert</msgType>", "<msgType>Warning</msgType>", "<msgType>"),
    ("<scope>Public</scope>", "<scope>Everyone</scope>", "<scope>"),
])
def test_invalid_alert_enumeration_is_rejected_and_named(old: str, new: str, named: str) -> None:
    reason = rejection(fixture_text("dongguan_typhoon_red.xml").replace(old, new))
    assert named in reason and "is not one of" in reason


@pytest.mark.parametrize(("old", "new", "named", "field", "kept"), [
    ("<urgency>Immediate</urgency>", "<urgency>Now</urgency>", "<info/urgency>", "urgency", "Unknown"),
    ("<severity>Extreme</severity>", "<severity>Red</severity>", "<info/severity>", "severity", "Unknown"),
    ("<certainty>Observed</certainty>", "<certainty>Sure</certainty>", "<info/certainty>", "certainty", "Unknown"),
    ("<category>Met</category>", "<category>Weather</category>", "<info/category>", "category", ""),
    ("<urgency>Immediate</urgency>", "", "<info/urgency>: missing", "urgency", "Unknown"),
    ("<category>Met</category>", "", "<info/category>: missing", "category", ""),
])
def test_a_bad_or_missing_info_enumeration_keeps_the_warning_and_names_the_defect(
        old: str, new: str, named: str, field: str, kept: str) -> None:
    alert = parse_text(fixture_text("dongguan_typhoon_red.xml").replace(old, new))
    assert getattr(alert, field) == kept
    assert alert.headline and alert.areas["features"][0]["geometry"]  # the words and the shape survive
    assert any(named in d for d in alert.defects), alert.defects


def test_a_bad_response_type_is_dropped_and_named() -> None:
    alert = parse_text(fixture_text("dongguan_typhoon_red.xml")
                       .replace("<responseType>Shelter</responseType>", "<responseType>Hide</responseType>"))
    assert "Shelter" not in alert.extra.get("response_types", [])
    assert any("<info/responseType>" in d and "'Hide'" in d for d in alert.defects)


def test_enumerations_tolerate_capitalisation() -> None:
    text = fixture_text("dongguan_typhoon_red.xml").replace("<status>Actual</status>", "<status>actual</status>")
    assert parse_text(text).status == "Actual"


GOOD_POLYGON = "23.15,113.52 23.15,114.25 22.66,114.25 22.66,113.52 23.15,113.52"


def red_with_polygon(polygon: str) -> AlertRecord:
    return parse_text(fixture_text("dongguan_typhoon_red.xml").replace(GOOD_POLYGON, polygon))


def ring_of(alert: AlertRecord) -> list[list[float]]:
    return alert.areas["features"][0]["geometry"]["coordinates"][0]


def test_an_open_ring_is_closed_and_named() -> None:
    alert = red_with_polygon("23.15,113.52 23.15,114.25 22.66,114.25 22.66,113.52")
    ring = ring_of(alert)
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert any("not closed; closed" in d for d in alert.defects)


def test_a_hair_outside_the_range_is_clamped_and_named() -> None:
    alert = red_with_polygon("23.15,-180.005 23.15,-179.5 22.66,-179.5 22.66,-180.005 23.15,-180.005")
    assert min(x for x, _ in ring_of(alert)) == -180.0
    assert any("-180.005" in d and "clamped to 23.15,-180" in d for d in alert.defects)


def test_a_malformed_pair_inside_a_good_polygon_is_skipped() -> None:
    alert = red_with_polygon("23.15,113.52 23.15;114.25 23.15,114.25 22.66,114.25 22.66,113.52 23.15,113.52")
    assert len(ring_of(alert)) == 5
    assert any("'23.15;114.25' is not lat,lon; skipped" in d for d in alert.defects)


@pytest.mark.parametrize(("polygon", "why"), [
    ("", "empty; skipped"),
    ("23.15,113.52 23.15,114.25 23.15,113.52", "at least 4 usable"),
    ("93.15,113.52 23.15,114.25 22.66,114.25 93.15,113.52", "at least 4 usable"),
])
def test_an_unusable_polygon_is_dropped_and_the_area_kept_by_its_name_and_codes(polygon: str, why: str) -> None:
    alert = red_with_polygon(polygon)
    [feature] = alert.areas["features"]
    assert feature["geometry"] is None and feature["properties"]["kind"] == "area"
    assert feature["properties"]["areaDesc"] and feature["properties"]["geocodes"]
    assert any(why in d for d in alert.defects), alert.defects
    assert alert.extra["signal"] == "typhoon"  # the warning itself is whole


def test_polygon_tolerates_spaces_after_commas_and_clockwise_rings() -> None:
    clockwise = "23.15,113.52 22.66,113.52 22.66,114.25 23.15, 114.25\n 23.15,113.52"
    alert = parse_text(fixture_text("dongguan_typhoon_red.xml").replace(GOOD_POLYGON, clockwise))
    assert signed_area(alert.areas["features"][0]["geometry"]["coordinates"][0]) > 0


@pytest.mark.parametrize(("circle", "why"), [
    ("22.82,113.67", "is not 'lat,lon radius'"),
    ("22.82,113.67 far", "is not a number"),
    ("22.82,113.67 -3", "0 or more"),
])
def test_an_unusable_circle_is_dropped_and_named(circle: str, why: str) -> None:
    alert = parse_text(fixture_text("dongguan_typhoon_update.xml").replace("22.82,113.67 15", circle))
    assert all(f["properties"]["kind"] != "circle" for f in alert.areas["features"])
    assert any("<circle>" in d and why in d for d in alert.defects), alert.defects


def test_zero_radius_circle_is_a_point() -> None:
    alert = parse_text(fixture_text("dongguan_typhoon_update.xml").replace("22.82,113.67 15", "22.82,113.67 0"))
    assert alert.areas["features"][0]["geometry"] == {"type": "Point", "coordinates": [113.67, 22.82]}


@pytest.mark.parametrize(("old", "new", "why"), [
    ("<sent>2024-09-16T06:15:00+08:00</sent>", "<sent>2024-09-16T06:15:00</sent>",
     "<sent>: date-time has no UTC offset"),
    ("<sent>2024-09-16T06:15:00+08:00</sent>", "<sent>16/09/2024 06:15</sent>", "<sent>: not a CAP date-time"),
    ("<expires>2024-09-17T06:15:00+08:00</expires>", "<expires>tomorrow</expires>", "<info/expires>"),
])
def test_bad_times_are_rejected(old: str, new: str, why: str) -> None:
    assert why in rejection(fixture_text("dongguan_typhoon_red.xml").replace(old, new))


def test_bad_references_are_rejected() -> None:
    text = fixture_text("dongguan_typhoon_update.xml")
    text = text.replace(f",{RED_ID},2024-09-16T06:15:00+08:00", f",{RED_ID}")
    assert "<references>" in rejection(text)


def test_missing_info_elements_are_named() -> None:
    text = fixture_text("dongguan_typhoon_cancel.xml").replace("<event>台风</event>", "")
    assert "missing required <info/event>" in rejection(text)
    text = fixture_text("dongguan_typhoon_cancel.xml").replace("<areaDesc>东莞市</areaDesc>", "")
    assert "<area/areaDesc>: missing" in parse_text(text).defects


def test_not_xml_and_not_cap() -> None:
    assert "not well-formed XML" in rejection("<alert><identifier>x</alert>")
    assert "no CAP alert" in rejection('<feed xmlns="http://www.w3.org/2005/Atom"/>')


def test_alert_without_info_keeps_defaults() -> None:
    text = re.sub(r"<info>.*</info>", "", fixture_text("dongguan_typhoon_cancel.xml"), flags=re.DOTALL)
    alert = parse_text(text)
    assert (alert.event, alert.urgency, alert.language) == ("", "Unknown", "")
    assert alert.areas == {"type": "FeatureCollection", "features": []}


# -- hostile XML ---------------------------------------------------------------------------------


def test_external_entity_is_refused_and_nothing_is_read(tmp_path: Path, httpserver) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    text = fixture_text("xxe.xml").replace("file:///etc/passwd", secret.as_uri())
    text = text.replace("]>", f'<!ENTITY remote SYSTEM "{httpserver.url_for("/evil.dtd")}">]>')
    item = alert_items(text, "xxe.xml")[0]
    with pytest.raises(Reject) as caught:
        adapter().parse(item)
    assert "document type declaration" in str(caught.value)
    assert "TOP-SECRET" not in str(caught.value) and "TOP-SECRET" not in item.payload
    assert httpserver.log == []  # no entity was fetched over the network either


def test_entity_bomb_is_refused() -> None:
    assert "document type declaration" in rejection(fixture_text("entity_bomb.xml"))


# -- fetching -----------------------------------------------------------------------------------


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def serve(httpserver, path: str, name: str) -> None:
    httpserver.expect_request(path).respond_with_data(
        (FIXTURES / name).read_bytes(), content_type="application/cap+xml")


def red_key() -> str:
    return f"{SENDER},{RED_ID},2024-09-16T06:15:00+08:00"


def test_fetch_single_document_and_skip_it_when_unchanged(httpserver, client) -> None:
    serve(httpserver, "/cap/red.xml", "dongguan_typhoon_red.xml")
    feed = adapter(url=httpserver.url_for("/cap/red.xml"))
    first = feed.fetch(None, client)
    [item] = first.items
    assert item.external_id == red_key()
    assert item.payload == fixture_text("dongguan_typhoon_red.xml")
    assert isinstance(first.cursor, str) and first.more is False
    again = feed.fetch(first.cursor, client)
    assert again.items == [] and again.cursor == first.cursor

    httpserver.clear()
    serve(httpserver, "/cap/red.xml", "dongguan_typhoon_update.xml")
    changed = feed.fetch(again.cursor, client)
    update_key = f"{SENDER},44190041600000_20240916150000,2024-09-16T15:00:00+08:00"
    assert [i.external_id for i in changed.items] == [update_key]


def test_fetch_gbk_document(httpserver, client) -> None:
    serve(httpserver, "/gbk.cap", "gbk_thunderstorm_gale.cap")
    [item] = adapter(url=httpserver.url_for("/gbk.cap")).fetch(None, client).items
    assert "雷雨大风橙色预警信号" in item.payload
    assert adapter().parse(item)[0].event == "雷雨大风"


def test_fetch_failure_raises(httpserver, client) -> None:
    httpserver.expect_request("/cap/red.xml").respond_with_data("down", status=500)
    with pytest.raises(httpx.HTTPStatusError):
        adapter(url=httpserver.url_for("/cap/red.xml")).fetch(None, client)


def test_unreadable_document_still_lands_for_parse_to_reject(httpserver, client) -> None:
    serve(httpserver, "/xxe.xml", "xxe.xml")
    [item] = adapter(url=httpserver.url_for("/xxe.xml")).fetch(None, client).items
    assert item.external_id == httpserver.url_for("/xxe.xml")
    with pytest.raises(Reject):
        adapter().parse(item)


def serve_index(httpserver) -> None:
    serve(httpserver, "/cap/index.atom", "index.atom")
    serve(httpserver, "/cap/dongguan_typhoon_red.xml", "dongguan_typhoon_red.xml")
    serve(httpserver, "/cap/dongguan_typhoon_update.xml", "dongguan_typhoon_update.xml")


def requests_to(httpserver, path: str) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == path)


def test_atom_index_with_linked_and_inline_alerts(httpserver, client) -> None:
    serve_index(httpserver)
    feed = adapter(index_url=httpserver.url_for("/cap/index.atom"))
    result = feed.fetch(None, client)
    ids = [i.external_id.split(",")[1] for i in result.items]
    assert ids == [RED_ID, "44190041600000_20240916150000", "44190041600000_20240612143000",
                   "44190041600000_20240115070000"]
    linked, update, inline, prefixed = result.items
    assert linked.payload == fixture_text("dongguan_typhoon_red.xml")  # the linked document, untouched
    assert update.payload == fixture_text("dongguan_typhoon_update.xml")  # the CAP link, not the HTML one
    assert inline.payload.startswith('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">')
    assert inline.payload in fixture_text("index.atom")  # cut from the index as sent
    records = [feed.parse(item)[0] for item in result.items]
    assert [r.extra["signal"] for r in records] == ["typhoon", "typhoon", "rainstorm", "haze"]
    assert records[3].event == "灰霾"  # prefix declared on <feed>: re-serialised so it stands alone
    assert result.more is False

    again = feed.fetch(result.cursor, client)
    assert again.items == []
    assert requests_to(httpserver, "/cap/dongguan_typhoon_red.xml") == 1
    assert len(json.loads(again.cursor)["seen"]) == 4


def test_atom_index_changed_entry_is_taken_again(httpserver, client) -> None:
    serve_index(httpserver)
    feed = adapter(index_url=httpserver.url_for("/cap/index.atom"))
    cursor = feed.fetch(None, client).cursor
    httpserver.clear()
    text = fixture_text("index.atom").replace("<updated>2024-09-16T06:15:00+08:00</updated>",
                                              "<updated>2024-09-16T06:20:00+08:00</updated>")
    httpserver.expect_request("/cap/index.atom").respond_with_data(text.encode(), content_type="application/atom+xml")
    serve(httpserver, "/cap/dongguan_typhoon_red.xml", "dongguan_typhoon_red.xml")
    result = feed.fetch(cursor, client)
    assert [i.external_id for i in result.items] == [red_key()]


def test_index_reads_a_bounded_number_of_documents_per_fetch(httpserver, client, monkeypatch) -> None:
    monkeypatch.setattr(cap, "MAX_DOCS_PER_FETCH", 1)
    serve_index(httpserver)
    feed = adapter(index_url=httpserver.url_for("/cap/index.atom"))
    first = feed.fetch(None, client)
    assert first.more is True
    second = feed.fetch(first.cursor, client)
    assert second.more is False
    seen = [i.external_id for i in first.items + second.items]
    assert len(seen) == len(set(seen)) == 4


def test_rss_index_with_enclosure_and_link(httpserver, client) -> None:
    serve(httpserver, "/rss/index.rss", "index.rss")
    serve(httpserver, "/rss/gbk_thunderstorm_gale.cap", "gbk_thunderstorm_gale.cap")
    serve(httpserver, "/rss/cap10_heat.xml", "cap10_heat.xml")
    feed = adapter(index_url=httpserver.url_for("/rss/index.rss"))
    result = feed.fetch(None, client)
    events = [feed.parse(i)[0].event for i in result.items]
    assert events == ["雷雨大风", "高温"]  # the CAP enclosure, not the HTML page link
    assert feed.fetch(result.cursor, client).items == []


def test_index_failures_raise(httpserver, client) -> None:
    httpserver.expect_request("/cap/index.atom").respond_with_data("busy", status=503)
    with pytest.raises(httpx.HTTPStatusError):
        adapter(index_url=httpserver.url_for("/cap/index.atom")).fetch(None, client)
    httpserver.clear()
    serve(httpserver, "/cap/index.atom", "index.atom")
    httpserver.expect_request("/cap/dongguan_typhoon_red.xml").respond_with_data("gone", status=500)
    with pytest.raises(httpx.HTTPStatusError):
        adapter(index_url=httpserver.url_for("/cap/index.atom")).fetch(None, client)


def test_index_that_is_not_an_index_raises(httpserver, client) -> None:
    serve(httpserver, "/cap/index.atom", "dongguan_typhoon_red.xml")
    with pytest.raises(ValueError, match="not an Atom or RSS index"):
        adapter(index_url=httpserver.url_for("/cap/index.atom")).fetch(None, client)


def drop(folder: Path, name: str, mtime: float) -> Path:
    path = folder / name
    path.write_bytes((FIXTURES / name).read_bytes())
    os.utime(path, (mtime, mtime))
    return path


def test_folder_takes_new_and_changed_files_only(tmp_path: Path, client) -> None:
    for n, name in enumerate(["dongguan_typhoon_red.xml", "gbk_thunderstorm_gale.cap", "xxe.xml"]):
        drop(tmp_path, name, 1_700_000_000 + n)
    (tmp_path / "notes.txt").write_text("not CAP")
    feed = adapter(folder=str(tmp_path))
    first = feed.fetch(None, client)
    assert [i.external_id for i in first.items] == [red_key(), f"{SENDER},44190041600000_20240805163000,"
                                                    "2024-08-05T16:30:00+08:00", "xxe.xml"]
    assert feed.fetch(first.cursor, client).items == []

    drop(tmp_path, "dongguan_typhoon_update.xml", 1_700_000_100)
    os.utime(tmp_path / "xxe.xml", (1_700_000_200, 1_700_000_200))
    later = feed.fetch(first.cursor, client)
    assert [i.external_id for i in later.items] == [
        f"{SENDER},44190041600000_20240916150000,2024-09-16T15:00:00+08:00", "xxe.xml"]


def test_folder_pages_and_keeps_its_cursor_bounded(tmp_path: Path, client, monkeypatch) -> None:
    monkeypatch.setattr(cap, "MAX_DOCS_PER_FETCH", 2)
    monkeypatch.setattr(cap, "MAX_SEEN", 3)
    names = ["dongguan_typhoon_red.xml", "dongguan_typhoon_update.xml", "dongguan_typhoon_cancel.xml",
             "cap11_rainstorm.xml", "cap10_heat.xml"]
    for n, name in enumerate(names):
        drop(tmp_path, name, 1_700_000_000 + 10 * n)
    feed = adapter(folder=str(tmp_path))
    cursor, taken, polls = None, [], 0
    while True:
        result = feed.fetch(cursor, client)
        taken += [i.external_id for i in result.items]
        cursor, polls = result.cursor, polls + 1
        assert len(json.loads(cursor)["seen"]) <= 3
        if not result.more:
            break
    assert polls == 3 and len(taken) == len(set(taken)) == 5
    assert feed.fetch(cursor, client).items == []
    drop(tmp_path, "gbk_thunderstorm_gale.cap", 1_700_000_500)
    assert len(feed.fetch(cursor, client).items) == 1


def test_unreadable_cursor_starts_over(httpserver, client) -> None:
    serve(httpserver, "/cap/red.xml", "dongguan_typhoon_red.xml")
    assert len(adapter(url=httpserver.url_for("/cap/red.xml")).fetch("not json", client).items) == 1


def test_missing_folder_raises(tmp_path: Path, client) -> None:
    with pytest.raises(FileNotFoundError):
        adapter(folder=str(tmp_path / "nowhere")).fetch(None, client)


# -- the real samples in ../shared --------------------------------------------------------------

needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")


@needs_samples
@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()) if SAMPLES.is_dir() else [])
def test_every_sample_parses_or_is_rejected_with_a_reason(name: str) -> None:
    items = alert_items(decode_xml((SAMPLES / name).read_bytes()), name)
    assert items
    for item in items:
        try:
            records = adapter().parse(item)
        except Reject as exc:
            assert str(exc).strip()
        else:
            assert records and all(isinstance(r, AlertRecord) for r in records)


@needs_samples
def test_samples_that_must_be_rejected() -> None:
    assert "missing required <scope>" in rejection((SAMPLES / "invalid.cap").read_text())
    passwd = Path("/etc/passwd")
    leaked = passwd.read_text().splitlines()[0] if passwd.is_file() else "root:x:0:0"
    [item] = alert_items((SAMPLES / "xee.cap").read_text(), "xee.cap")
    reason = rejection(item.payload)
    assert "document type declaration" in reason and leaked not in reason and leaked not in item.payload


@needs_samples
def test_sample_standard_examples() -> None:
    thunder = parse_text((SAMPLES / "v1dot2_appendix_adot2.xml").read_text())
    ring = thunder.areas["features"][0]["geometry"]["coordinates"][0]
    assert [-120.14, 38.47] in ring  # lat,lon swapped to GeoJSON lon,lat
    assert thunder.areas["features"][0]["properties"]["geocodes"] == {"SAME": ["006109", "006009", "006003"]}
    update = parse_text((SAMPLES / "v1dot2_appendix_adot3.xml").read_text())
    assert update.references[0][:2] == ("trinet@caltech.edu", "TRI13970876.1")
    amber = parse_text((SAMPLES / "v1dot2_appendix_adot4.xml").read_text())
    assert amber.language == "en-US" and amber.extra["other_info"][0]["language"] == "es-US"


@needs_samples
def test_sample_atom_index_over_http(httpserver, client) -> None:
    httpserver.expect_request("/alerts.atom").respond_with_data((SAMPLES / "weather.atom").read_bytes())
    feed = adapter(index_url=httpserver.url_for("/alerts.atom"))
    result = feed.fetch(None, client)
    [item] = result.items  # carried inline: the entry's link is not followed
    alert = feed.parse(item)[0]
    assert alert.event == "Flash Flood Watch" and alert.extra["cap_version"] == "1.1"
    assert feed.fetch(result.cursor, client).items == []


# -- real warnings with one bad part: kept, repaired, each defect named --------------------------

@pytest.mark.parametrize(("name", "defects"), [
    ("defect_empty_polygon.xml", ["<polygon> of area 'Köln': empty; skipped"]),
    ("defect_open_ring.xml", ["<polygon> of area '东莞市北部镇街': not closed; closed by repeating the first pair"]),
    ("defect_lon_overshoot.xml", ["<polygon> of area 'Lau waters': '-17.0,-180.005' a hair out of range; clamped to -17,-180",
                                  "<polygon> of area 'Lau waters': '-19.5,-180.005' a hair out of range; clamped to -19.5,-180",
                                  "<polygon> of area 'Southern Lau waters': '-19.5,-198.5' is out of range for lat,lon; skipped"]),
    ("defect_bad_pair.xml", ["<polygon> of area '樟木头镇': '22.93;114.12' is not lat,lon; skipped",
                             "<polygon> of area '樟木头镇': '22.87,114.12,35' is not lat,lon; skipped"]),
    ("defect_no_category_urgency.xml", ["<info/category>: missing or not a CAP category; kept without one",
                                        "<info/urgency>: missing; taken as Unknown"]),
])
def test_a_real_warning_with_one_bad_part_is_kept_with_each_defect_named(name: str, defects: list[str]) -> None:
    alert = parse_fixture(name)
    assert alert.headline and alert.description  # the words survive whole
    assert list(alert.defects) == defects


def test_an_empty_polygon_falls_back_to_the_area_name_and_geocodes() -> None:
    [area] = parse_fixture("defect_empty_polygon.xml").areas["features"]
    assert area["geometry"] is None
    assert area["properties"] == {"kind": "area", "areaDesc": "Köln", "geocodes": {"EMMA_ID": ["DE413"]}}


def test_repaired_shapes_are_valid_rings_in_range() -> None:
    rings = [f["geometry"]["coordinates"][0] for f in parse_fixture("defect_lon_overshoot.xml").areas["features"]]
    assert len(rings) == 3  # the far-out pair cost its polygon one corner, not the polygon
    for ring in rings:
        assert ring[0] == ring[-1] and len(ring) >= 4
        assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring)
    assert [-180.0, -17.0] in rings[0]
    [open_ring] = [f["geometry"]["coordinates"][0] for f in parse_fixture("defect_open_ring.xml").areas["features"]]
    assert len(open_ring) == 5 and open_ring[0] == open_ring[-1]
    [bad_pair] = [f["geometry"]["coordinates"][0] for f in parse_fixture("defect_bad_pair.xml").areas["features"]]
    assert len(bad_pair) == 4 and [114.12, 22.93] in bad_pair


def test_a_warning_without_category_or_urgency_keeps_its_circle() -> None:
    alert = parse_fixture("defect_no_category_urgency.xml")
    assert (alert.category, alert.urgency, alert.severity) == ("", "Unknown", "Severe")
    assert alert.areas["features"][0]["properties"]["kind"] == "circle"


def test_a_clean_warning_has_no_defects() -> None:
    assert parse_fixture("dongguan_typhoon_red.xml").defects == ()
