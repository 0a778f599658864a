"""The ingest pipeline on both backends: nothing lost, nothing doubled, places checked, reports fused."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from feeds.base import RawItem
from ioc.chain.links import split_report
from ioc.city.geo import wgs84_to_gcj02
from ioc.intake.ingest import FeedContext, ingest_batch, replay
from ioc.read.lists import active_alerts
from ioc.records import AlertRecord, IncidentRecord, ReadingRecord, Reject, UnitStatusRecord
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=CST)
KINDS = {"incident": IncidentRecord, "unit_status": UnitStatusRecord, "alert": AlertRecord, "reading": ReadingRecord}


def parse(item: RawItem):
    """The test feed's adapter: one JSON record per item."""
    data = json.loads(item.payload)
    if data.get("poison"):
        raise KeyError("poison")
    if data.get("category") == "unmapped":
        raise Reject("category 'unmapped' has no mapping")
    return [KINDS[data.pop("kind", "incident")](**data)]


def fixed_parse(item: RawItem):
    data = json.loads(item.payload)
    if data.get("category") == "unmapped":
        data["category"] = "garbage"
    return [IncidentRecord(**data)]


def item(external_id: str, **fields) -> RawItem:
    record = {"external_id": external_id, "channel": "110", "category": "traffic_accident",
              "reported_at": T0.isoformat(), "lon": 113.75, "lat": 22.95} | fields
    for key, value in record.items():
        if isinstance(value, datetime):
            record[key] = value.isoformat()
    return RawItem(external_id, json.dumps(record, ensure_ascii=False, sort_keys=True))


@pytest.fixture
def city(engine, tmp_path):
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    return engine, FeedContext.for_feed("police", "test", "wgs84", pack)


def count(engine, model, *where) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def incident(engine, external_id) -> models.Incident:
    with transaction(engine) as s:
        return s.scalar(select(models.Incident).where(models.Incident.external_id == external_id))


def test_batch_lands_every_item_and_enriches(city):
    engine, ctx = city
    report = ingest_batch(engine, ctx, [item("a1"), item("a2", lon=113.85, lat=23.05, category="garbage")],
                          parse, cursor="c1")
    assert (report.fetched, report.stored, report.rejected) == (2, 2, [])
    a1, a2 = incident(engine, "a1"), incident(engine, "a2")
    assert (a1.district_code, a1.org_code) == ("T01", "DEPT-POLICE")  # police matter → police
    # The 100 m unit-grid cell: 113.75 E is ~5.1 km east and 22.95 N ~5.5 km north of the city's
    # south-west corner (113.70, 22.90): row 55, column 51.
    assert a1.grid_code == "T01-00550051"
    assert (a2.district_code, a2.org_code) == ("T04", "OFF-T04")  # garbage → the town's office
    assert count(engine, models.RawRecord, models.RawRecord.outcome == "accepted") == 2
    assert count(engine, models.RawRecord, models.RawRecord.incident_id == a1.id) == 1  # traceable to its source
    assert count(engine, models.IncidentEvent, models.IncidentEvent.kind == "created") == 2
    with transaction(engine) as s:
        assert s.get(models.FeedState, "police").cursor == "c1"


def test_repolling_the_same_page_stores_nothing_new(city):
    engine, ctx = city
    batch = [item("a1"), item("a2", lon=113.78)]
    ingest_batch(engine, ctx, batch, parse, cursor="c1")
    again = ingest_batch(engine, ctx, batch, parse, cursor="c1")
    assert (again.stored, again.updated, again.duplicates) == (0, 0, 2)
    assert count(engine, models.RawRecord) == 2
    assert count(engine, models.Incident) == 2
    assert count(engine, models.IncidentEvent) == 2


def test_same_id_with_new_content_updates_the_incident(city):
    engine, ctx = city
    ingest_batch(engine, ctx, [item("a1")], parse)
    report = ingest_batch(engine, ctx, [item("a1", status="dispatched", priority="P1")], parse)
    assert (report.stored, report.updated) == (0, 1)
    got = incident(engine, "a1")
    assert (got.status, got.priority, got.version) == ("dispatched", "P1", 2)
    # A source cannot move the incident back along the lifecycle.
    ingest_batch(engine, ctx, [item("a1", status="new", priority="P1", title="later")], parse)
    assert incident(engine, "a1").status == "dispatched"


def test_a_poisoned_record_does_not_stop_its_batch(city):
    engine, ctx = city
    report = ingest_batch(engine, ctx, [item("a1"), item("bad", poison=True), item("a3")], parse)
    assert report.stored == 2
    assert report.rejected == [("bad", "could not parse: KeyError: 'poison'")]
    with transaction(engine) as s:
        raw = s.scalar(select(models.RawRecord).where(models.RawRecord.external_id == "bad"))
        assert raw.outcome == "rejected" and "poison" in raw.reason and '"poison": true' in raw.payload


def test_a_crash_before_commit_loses_and_duplicates_nothing(city):
    engine, ctx = city
    batch = [item("a1"), item("a2"), item("a3")]

    def crashing(raw):
        if raw.external_id == "a3":
            raise KeyboardInterrupt  # the process is killed mid-batch
        return parse(raw)

    with pytest.raises(KeyboardInterrupt):
        ingest_batch(engine, ctx, batch, crashing, cursor="after")
    assert count(engine, models.RawRecord) == 0 and count(engine, models.Incident) == 0
    with transaction(engine) as s:
        assert s.get(models.FeedState, "police") is None  # the cursor did not move
    report = ingest_batch(engine, ctx, batch, parse, cursor="after")
    assert report.stored == 3 and count(engine, models.Incident) == 3 and count(engine, models.RawRecord) == 3


def test_gcj02_feed_is_stored_in_wgs84(city):
    engine, ctx = city
    ctx.crs = "gcj02"
    lon, lat = wgs84_to_gcj02(113.75, 22.95)
    ingest_batch(engine, ctx, [item("g1", lon=lon, lat=lat)], parse)
    got = incident(engine, "g1")
    assert got.lon == pytest.approx(113.75, abs=1e-5) and got.lat == pytest.approx(22.95, abs=1e-5)


@pytest.mark.parametrize("lon, lat, flag, district, stored", [
    (0, 0, "missing", None, (None, None)),
    (None, None, "missing", None, (None, None)),
    (22.95, 113.75, "swapped", "T01", (113.75, 22.95)),
    (113.2, 22.3, "outside", None, (113.2, 22.3)),
])
def test_bad_locations_are_kept_and_flagged(city, lon, lat, flag, district, stored):
    engine, ctx = city
    report = ingest_batch(engine, ctx, [item("p1", lon=lon, lat=lat)], parse)
    got = incident(engine, "p1")
    assert report.flagged == {flag: 1}
    assert (got.location_flag, got.district_code, (got.lon, got.lat)) == (flag, district, stored)


def test_reports_of_one_event_fuse_and_split_again(city):
    engine, ctx = city
    first = item("w1", category="waterlogging", lon=113.750, lat=22.950)
    near = item("w2", category="flood_risk", lon=113.752, lat=22.951, reported_at=T0 + timedelta(minutes=30))
    far = item("w3", category="waterlogging", lon=113.790, lat=22.990)
    other = item("w4", category="traffic_accident", lon=113.750, lat=22.950)
    report = ingest_batch(engine, ctx, [first, near, far, other], parse)
    assert (report.stored, report.fused) == (4, 1)
    parent, child = incident(engine, "w1"), incident(engine, "w2")
    assert (child.status, child.parent_id) == ("fused", parent.id)
    assert parent.report_count == 2
    assert [s["external_id"] for s in parent.sources] == ["w1", "w2"]
    assert incident(engine, "w3").parent_id is None and incident(engine, "w4").parent_id is None
    split_report(engine, child.id, actor="duty1")
    parent, child = incident(engine, "w1"), incident(engine, "w2")
    assert (child.status, child.parent_id, parent.report_count) == ("new", None, 1)


def test_replay_reruns_rejections_after_a_mapping_fix(city):
    engine, ctx = city
    first = ingest_batch(engine, ctx, [item("r1", category="unmapped"), item("r2")], parse)
    assert first.rejected == [("r1", "category 'unmapped' has no mapping")]
    report = replay(engine, ctx, fixed_parse)
    assert (report.stored, report.rejected) == (1, [])
    assert incident(engine, "r1").category == "garbage"
    assert count(engine, models.RawRecord, models.RawRecord.outcome == "rejected") == 0
    assert count(engine, models.RawRecord) == 2


def reading(value: float, minutes: int) -> RawItem:
    data = {"kind": "reading", "sensor_id": "G1", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "value": value, "unit_of_measure": "m", "warning_level": 1.0, "alarm_level": 1.5,
            "key_point_id": "PS-T01", "lon": 113.75, "lat": 22.95}
    return RawItem(f"G1@{minutes}", json.dumps(data))


def test_gauge_crossings_open_escalate_and_resolve_a_flood_incident(city):
    engine, ctx = city

    def flood_incidents():
        with transaction(engine) as s:
            return s.scalars(select(models.Incident).where(models.Incident.category == "flood_risk")).all()

    ingest_batch(engine, ctx, [reading(0.5, 0), reading(0.8, 10)], parse)
    assert flood_incidents() == []
    ingest_batch(engine, ctx, [reading(1.1, 20)], parse)
    [opened] = flood_incidents()
    assert (opened.priority, opened.status, opened.district_code) == ("P2", "new", "T01")
    ingest_batch(engine, ctx, [reading(1.6, 30)], parse)
    assert flood_incidents()[0].priority == "P1"
    ingest_batch(engine, ctx, [reading(0.98, 40)], parse)  # within the hysteresis: still high
    assert flood_incidents()[0].status == "new"
    ingest_batch(engine, ctx, [reading(0.7, 50)], parse)
    [closed] = flood_incidents()
    assert closed.status == "resolved"
    assert count(engine, models.Reading) == 6


def test_unit_status_moves_the_unit_and_a_unit_the_pack_does_not_know_is_registered(city):
    engine, ctx = city
    ok = RawItem("PC-01@1", json.dumps({"kind": "unit_status", "unit_id": "PC-01", "status": "EN_ROUTE",
                                        "at": T0.isoformat(), "lon": 113.76, "lat": 22.96}))
    old = RawItem("PC-01@0", json.dumps({"kind": "unit_status", "unit_id": "PC-01", "status": "DISPATCHED",
                                         "at": (T0 - timedelta(minutes=1)).isoformat()}))
    ghost = RawItem("X@1", json.dumps({"kind": "unit_status", "unit_id": "GHOST", "status": "EN_ROUTE",
                                       "at": T0.isoformat()}))
    report = ingest_batch(engine, ctx, [ok, ghost], parse)
    ingest_batch(engine, ctx, [old], parse)  # late news does not turn the unit back
    with transaction(engine) as s:
        unit = s.get(models.Unit, "PC-01")
        ghost_unit = s.get(models.Unit, "GHOST")
    assert (unit.status, unit.lon, unit.lat) == ("EN_ROUTE", 113.76, 22.96)
    assert report.rejected == [] and report.units_registered == 1
    assert (ghost_unit.status, ghost_unit.registered_by, ghost_unit.unit_type) == ("EN_ROUTE", "police", "unknown")
    assert ghost_unit.org_code == "IOC"  # a feed of no agency and no CAD kind: the city's own centre
    assert unit.registered_by is None


def cap(identifier: str, msg_type: str, sent: datetime, references=()) -> RawItem:
    data = {"kind": "alert", "sender": "dg-weather", "identifier": identifier, "sent": sent.isoformat(),
            "status": "Actual", "msg_type": msg_type, "event": "台风", "severity": "Severe",
            "references": [["dg-weather", i, s.isoformat()] for i, s in references]}
    return RawItem(identifier, json.dumps(data, ensure_ascii=False))


def test_alert_updates_supersede_and_cancels_withdraw(city):
    engine, ctx = city
    ingest_batch(engine, ctx, [cap("A1", "Alert", T0)], parse)
    assert [a.identifier for a in active_alerts(engine, T0)] == ["A1"]
    ingest_batch(engine, ctx, [cap("A2", "Update", T0 + timedelta(hours=1), [("A1", T0)])], parse)
    assert [a.identifier for a in active_alerts(engine, T0)] == ["A2"]
    again = ingest_batch(engine, ctx, [cap("A2", "Update", T0 + timedelta(hours=1), [("A1", T0)])], parse)
    assert again.alerts == 0
    ingest_batch(engine, ctx, [cap("A3", "Cancel", T0 + timedelta(hours=2), [("A2", T0 + timedelta(hours=1))])],
                 parse)
    assert active_alerts(engine, T0) == []
    assert count(engine, models.Alert) == 3


def test_cad_progress_on_our_order_moves_the_assignment_and_incident(city):
    from ioc.chain.actions import Actor
    from ioc.chain.dispatch import dispatch

    engine, ctx = city
    ingest_batch(engine, ctx, [item("a1")], parse)
    ours = incident(engine, "a1")
    dispatch(engine, Actor("duty1", "duty_officer"), ours.id, ["PC-01"])

    def status(code, minutes):  # ahead of now, within the pipeline's FUTURE_TOLERANCE of 10 minutes
        return RawItem(f"PC-01@{minutes}", json.dumps({
            "kind": "unit_status", "unit_id": "PC-01", "status": code, "incident_external_id": str(ours.id),
            "at": (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat(), "lon": 113.75, "lat": 22.95}))

    ingest_batch(engine, ctx, [status("EN_ROUTE", 1)], parse)
    ingest_batch(engine, ctx, [status("ON_SCENE", 5)], parse)
    with transaction(engine) as s:
        assignment = s.scalar(select(models.Assignment).where(models.Assignment.unit_id == "PC-01"))
        assert assignment.status == "ON_SCENE" and assignment.en_route_at and assignment.on_scene_at
    assert incident(engine, "a1").status == "on_scene"
    ingest_batch(engine, ctx, [status("AVAILABLE", 9)], parse)
    with transaction(engine) as s:
        assert s.scalar(select(models.Assignment.status)) == "CLEARED"
        assert s.get(models.Unit, "PC-01").status == "AVAILABLE"


def test_one_incident_reported_twice_in_a_batch_is_stored_once(city):
    engine, ctx = city
    report = ingest_batch(engine, ctx, [item("v1", priority="P3"), item("v1", priority="P2", title="again")], parse)
    assert report.stored == 1 and count(engine, models.Incident) == 1
    assert incident(engine, "v1").priority == "P2"
    assert count(engine, models.RawRecord) == 2


def test_finished_incidents_get_the_sources_own_times(city):
    engine, ctx = city
    units = [{"unit_id": "PC-01", "dispatched_at": (T0 + timedelta(minutes=2)).isoformat(),
              "on_scene_at": (T0 + timedelta(minutes=9)).isoformat(),
              "cleared_at": (T0 + timedelta(minutes=40)).isoformat()}]
    ingest_batch(engine, ctx, [item("c1", status="resolved", assignments=units),
                               item("c2", status="resolved", lon=113.8)], parse)
    done = incident(engine, "c1")
    assert (done.dispatched_at, done.on_scene_at, done.resolved_at) == (
        T0 + timedelta(minutes=2), T0 + timedelta(minutes=9), T0 + timedelta(minutes=40))
    assert incident(engine, "c2").resolved_at is None  # no time given: not guessed
