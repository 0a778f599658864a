"""Real sources as they are: a warning with one bad part is kept with its defects named, a
replay after a fix reaches what was already imported, a history import closes what is over, and
a dispatch export's own incidents never fuse with each other while citizens' reports do."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feeds.base import RawItem
from feeds.cap import CapAdapter, CapConfig, alert_items, decode_xml
from feeds.csv_files import CsvAdapter, CsvConfig, read_rows
from feeds.open311 import Open311Adapter, Open311Config, _raw_item
from ioc.chain import sla, workflow
from ioc.chain.links import split_report
from ioc.config import FeedSettings
from ioc.intake.ingest import FeedContext, ingest_batch, replay
from ioc.read import lists
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import OFFICER, make_small_pack

CAP_FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds" / "cap"
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=CST)
GOOD_POLYGON = "23.15,113.52 23.15,114.25 22.66,114.25 22.66,113.52 23.15,113.52"


@pytest.fixture
def city(engine, tmp_path):
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    return engine, pack


def count(engine, model, *where) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_a_warning_with_a_broken_polygon_and_no_urgency_is_stored_with_its_defects(city):
    engine, pack = city
    text = decode_xml((CAP_FIXTURES / "dongguan_typhoon_red.xml").read_bytes())
    text = text.replace(GOOD_POLYGON, "23.15,113.52 23.15,114.25 22.66,114.25 22.66,113.52")  # not closed
    text = text.replace("<urgency>Immediate</urgency>", "")
    adapter = CapAdapter(FeedSettings(name="weather", kind="cap"), CapConfig.model_validate({"url": "http://x"}))
    report = ingest_batch(engine, FeedContext.for_feed("weather", "cap", "wgs84", pack),
                          alert_items(text, "red.xml"), adapter.parse)
    assert (report.alerts, report.rejected) == (1, [])
    # each language's area was repaired; the missing urgency (in both) is named once
    assert [d.split(":")[0] for _, d in report.defects] == [
        "<info/urgency>", "<polygon> of area 'Dongguan'", "<polygon> of area '东莞市全境'"]  # in document order
    assert "repaired 3 defects" in report.summary()
    [alert] = lists.alerts(engine, active_only=False)
    assert alert["urgency"] == "Unknown" and alert["areas"]["features"][0]["geometry"]["type"] == "Polygon"
    assert alert["defects"] == [d for _, d in report.defects]


def incident_item(external_id: str, category: str = "fire", **fields) -> RawItem:
    record = {"external_id": external_id, "channel": "119", "category": category, "lon": 113.75, "lat": 22.95,
              "reported_at": T0.isoformat()} | fields
    return RawItem(external_id, json.dumps(record, ensure_ascii=False, default=str))


def plain(item: RawItem):
    return [IncidentRecord(**json.loads(item.payload))]


def mapped(item: RawItem):
    """The same feed after a mapping fix: what it called 'fire' was really a traffic accident."""
    data = json.loads(item.payload)
    data["category"] = "traffic_accident" if data["category"] == "fire" else data["category"]
    return [IncidentRecord(**data)]


def test_replay_of_everything_applies_a_mapping_fix_as_updates_and_doubles_nothing(city):
    engine, pack = city
    ctx = FeedContext.for_feed("fire", "test", "wgs84", pack)
    items = [incident_item(f"F{i}", lon=113.72 + i * 0.01) for i in range(5)]
    ingest_batch(engine, ctx, items, plain)
    events_before = count(engine, models.IncidentEvent)
    seen: list[tuple[int, int]] = []

    same = replay(engine, ctx, plain, everything=True, batch=2, progress=lambda done, total: seen.append((done, total)))
    assert (same.fetched, same.stored, same.updated) == (5, 0, 0)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert count(engine, models.IncidentEvent) == events_before  # nothing happened, nothing written

    fixed = replay(engine, ctx, mapped, everything=True)
    assert (fixed.stored, fixed.updated) == (0, 5)
    assert count(engine, models.Incident) == 5
    assert count(engine, models.Incident, models.Incident.category == "traffic_accident") == 5
    assert count(engine, models.IncidentEvent, models.IncidentEvent.kind == "updated") == 5

    later = replay(engine, ctx, mapped, everything=True, since=datetime.now(timezone.utc) + timedelta(days=1))
    assert later.fetched == 0


def test_a_history_import_closes_old_open_incidents_and_no_supervision_follows(city):
    engine, pack = city
    ctx = FeedContext.for_feed("history", "test", "wgs84", pack)
    ctx.close_before = T0 - timedelta(days=1)
    old = T0 - timedelta(days=30)
    items = [
        incident_item("OLD-UNIT", reported_at=old.isoformat(), status="dispatched",
                      assignments=[{"unit_id": "ENGINE-9", "dispatched_at": (old + timedelta(minutes=4)).isoformat()}]),
        incident_item("OLD-BARE", reported_at=old.isoformat()),
        incident_item("OLD-SAID", reported_at=old.isoformat(), source_status="处理中"),  # the file gave a status
        incident_item("NEW", reported_at=T0.isoformat()),
    ]
    report = ingest_batch(engine, ctx, items, plain, save_cursor=False)
    assert report.closed_as_history == 2 and "closed as history 2" in report.summary()
    with transaction(engine) as s:
        got = {i.external_id: i for i in s.scalars(select(models.Incident))}
    assert (got["OLD-UNIT"].status, got["OLD-UNIT"].closed_at) == ("closed", old + timedelta(minutes=4))
    assert got["OLD-UNIT"].resolved_at == old + timedelta(minutes=4)
    assert (got["OLD-BARE"].status, got["OLD-BARE"].closed_at) == ("closed", old)
    assert got["OLD-SAID"].status == "new" and got["NEW"].status == "new"
    assert report.units_registered == 1  # ENGINE-9 is no unit of the pack: registered, its dispatch kept
    assert count(engine, models.Assignment) == 1

    swept = sla.sweep(engine, pack, T0)
    supervised = {target_id for kind, target_id, _ in swept.issued if kind == "incident"}
    assert got["OLD-UNIT"].id not in supervised and got["OLD-BARE"].id not in supervised
    assert got["OLD-SAID"].id in supervised  # still open a month on: that one is chased


def test_replay_of_everything_reads_only_the_newest_version_a_source_sent(city):
    engine, pack = city
    ctx = FeedContext.for_feed("fire", "test", "wgs84", pack)
    ingest_batch(engine, ctx, [incident_item("F1", title="Fire at the market")], plain)
    ingest_batch(engine, ctx, [incident_item("F1", title="Fire at the market, spreading", priority="P1")], plain)
    events_before = count(engine, models.IncidentEvent)

    again = replay(engine, ctx, plain, everything=True)
    assert (again.fetched, again.updated) == (1, 0)
    assert count(engine, models.IncidentEvent) == events_before  # the older version does not turn it back
    with transaction(engine) as s:
        [fire] = s.scalars(select(models.Incident)).all()
    assert (fire.title, fire.priority) == ("Fire at the market, spreading", "P1")


# --- fusion within one source -------------------------------------------------------------------

FIRE_EXPORT = {  # a fire department's "calls for service" export: one row per unit sent
    "mapping": {"external_id": "Call Number", "unit_id": "Unit ID", "type": "Call Type", "category": "Call Type",
                "priority": "Priority", "reported_at": "Received DtTm", "dispatched_at": "Dispatch DtTm",
                "en_route_at": "Response DtTm", "on_scene_at": "On Scene DtTm", "cleared_at": "Available DtTm",
                "address": "Address", "location": "case_location"},
    "datetime_format": "%m/%d/%Y %I:%M:%S %p",
    "category_map": {"Structure Fire": "fire", "Medical Incident": "medical"},
    "priority_map": {"1": "P1", "2": "P2", "3": "P3"},
    "channel": "119",
}
EXPORT_HEADER = ("Call Number,Unit ID,Call Type,Priority,Received DtTm,Dispatch DtTm,Response DtTm,On Scene DtTm,"
                 "Available DtTm,Address,case_location")


def fire_export(tmp_path: Path) -> Path:
    """Six calls of this evening in one street, units still on scene: distinct numbers, 40-150 m and
    5-25 minutes apart, so each pair is inside the fusion window of its category. Two units on the
    first fire."""
    calls = [("241830021", "E21", "Structure Fire", "09:05", "113.7500 22.9500"),
             ("241830022", "E23", "Structure Fire", "09:15", "113.7504 22.9503"),
             ("241830023", "E25", "Structure Fire", "09:30", "113.7512 22.9508"),
             ("241830030", "M12", "Medical Incident", "09:08", "113.7502 22.9499"),
             ("241830031", "M14", "Medical Incident", "09:20", "113.7506 22.9501"),
             ("241830032", "M12", "Medical Incident", "09:33", "113.7508 22.9505")]
    rows = [EXPORT_HEADER]
    for number, unit, kind, at, point in calls:
        stamp = f"07/01/2026 {at}:00 PM"
        rows.append(f"{number},{unit},{kind},1,{stamp},{stamp},{stamp},{stamp},,"
                    f"1 Market St,POINT ({point})")
    rows.append(rows[1].replace(",E21,", ",T05,"))  # a second unit on the first fire
    file = tmp_path / "calls.csv"
    file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return file


def csv_feed(file: Path, **settings) -> tuple[FeedSettings, CsvAdapter]:
    feed = FeedSettings.model_validate({"name": "county_fire", "kind": "csv", "path": str(file), **FIRE_EXPORT,
                                        **settings})
    return feed, CsvAdapter(feed, CsvConfig.model_validate(feed.model_extra or {}))


def incidents_of(engine, feed: str) -> dict[str, models.Incident]:
    with transaction(engine) as s:
        return {i.external_id: i for i in s.scalars(select(models.Incident).where(models.Incident.source == feed))}


def test_a_fire_departments_export_keeps_every_call_as_an_incident_of_its_own(city, tmp_path):
    engine, pack = city
    feed, adapter = csv_feed(fire_export(tmp_path))
    report = ingest_batch(engine, FeedContext.of(feed, pack), read_rows(feed_path(feed), adapter.config),
                          adapter.parse)
    assert (report.stored, report.fused) == (6, 0)
    calls = incidents_of(engine, "county_fire")
    assert all(i.parent_id is None and i.report_count == 1 for i in calls.values())
    assert {i.status for i in calls.values()} == {"on_scene"}
    assert lists.incidents(engine, lists.IncidentFilter())["total"] == 6  # none hidden as a linked report


def test_a_feed_may_be_set_to_fuse_its_own_records(city, tmp_path):
    engine, pack = city
    feed, adapter = csv_feed(fire_export(tmp_path), fuse_same_source=True)
    items = read_rows(feed_path(feed), adapter.config)
    report = ingest_batch(engine, FeedContext.of(feed, pack), items, adapter.parse)
    assert (report.stored, report.fused) == (6, 4)  # the old behaviour: two incidents, four linked reports


def feed_path(feed: FeedSettings) -> Path:
    return Path((feed.model_extra or {})["path"])


def hotline_request(number: int, minutes: int, lon: float, lat: float) -> dict:
    """A 12345 work order as an Open311 (GeoReport v2) server answers it."""
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return {"service_request_id": f"DG12345-20260701-{number:06d}", "status": "open", "service_code": "SW-JS",
            "service_name": "道路积水", "description": "地下通道积水约30厘米", "requested_datetime": at,
            "updated_datetime": at, "address": "东莞市东城街道东城中路地下通道", "lat": str(lat), "long": str(lon),
            "agency_responsible": "东莞市水务局"}


def hotline() -> tuple[FeedContext, Open311Adapter]:
    feed = FeedSettings.model_validate({"name": "hotline", "kind": "open311", "base_url": "http://12345.example",
                                        "service_map": {"SW-JS": "waterlogging"}})
    return feed, Open311Adapter(feed, Open311Config.model_validate(feed.model_extra or {}))


def test_citizens_reporting_one_flooded_underpass_to_12345_become_one_incident(city):
    engine, pack = city
    feed, adapter = hotline()
    requests = [hotline_request(101, 0, 113.7600, 22.9600), hotline_request(102, 12, 113.7603, 22.9601),
                hotline_request(103, 25, 113.7598, 22.9602), hotline_request(104, 5, 113.8500, 23.0500)]  # elsewhere
    report = ingest_batch(engine, FeedContext.of(feed, pack), [_raw_item(r) for r in requests], adapter.parse)
    assert (report.stored, report.fused) == (4, 2)
    got = incidents_of(engine, "hotline")
    parent = got["DG12345-20260701-000101"]
    assert parent.report_count == 3 and [s["external_id"][-3:] for s in parent.sources] == ["101", "102", "103"]
    assert got["DG12345-20260701-000104"].parent_id is None
    assert lists.incidents(engine, lists.IncidentFilter())["total"] == 2
    assert lists.incidents(engine, lists.IncidentFilter(include_linked=True))["total"] == 4


def test_a_cad_call_joins_a_citizens_report_but_a_second_call_stays_its_own(city, tmp_path):
    engine, pack = city
    citizen = incident_item("C1", channel="12345", lon=113.7501, lat=22.9500, reported_at=(T0 + timedelta(hours=12)))
    ingest_batch(engine, FeedContext.for_feed("hotline", "open311", "wgs84", pack), [citizen], plain)
    feed, adapter = csv_feed(fire_export(tmp_path))
    report = ingest_batch(engine, FeedContext.of(feed, pack), read_rows(feed_path(feed), adapter.config),
                          adapter.parse)
    assert report.fused == 1  # the first fire call, into the citizen's report: fusion across sources
    calls = incidents_of(engine, "county_fire")
    [linked] = [i for i in calls.values() if i.parent_id is not None]
    assert linked.external_id == "241830021"
    assert calls["241830022"].parent_id is None  # the fire department's next call is its own incident


def test_replaying_everything_splits_off_what_a_feed_had_fused_within_itself(city, tmp_path):
    engine, pack = city
    feed, adapter = csv_feed(fire_export(tmp_path), fuse_same_source=True)
    ingest_batch(engine, FeedContext.of(feed, pack), read_rows(feed_path(feed), adapter.config), adapter.parse)
    calls = incidents_of(engine, "county_fire")
    # A duty officer splits one off and merges it back by hand: that merge is the officer's, and stays.
    by_hand = split_report(engine, calls["241830023"].id, actor="zhang")
    workflow.merge(engine, OFFICER, by_hand.id, calls["241830021"].id, None, None)
    fixed, adapter = csv_feed(feed_path(feed))  # the setting taken out: the kind's default (off)
    report = replay(engine, FeedContext.of(fixed, pack), adapter.parse, everything=True)
    assert report.split_off == 3 and "split off 3" in report.summary()
    calls = incidents_of(engine, "county_fire")
    assert calls["241830023"].parent_id == calls["241830021"].id
    apart = [i for i in calls.values() if i.external_id not in ("241830021", "241830023")]
    assert all(i.parent_id is None and i.report_count == 1 for i in apart)
    assert {i.status for i in apart} == {"on_scene"}  # back to what the source says
    again = replay(engine, FeedContext.of(fixed, pack), adapter.parse, everything=True)
    assert (again.split_off, again.updated) == (0, 0)
