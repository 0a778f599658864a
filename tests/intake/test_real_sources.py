"""Real sources as they are: a warning with one bad part is kept with its defects named, a
replay after a fix reaches what was already imported, and a history import closes what is over."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feeds.base import RawItem
from feeds.cap import CapAdapter, CapConfig, alert_items, decode_xml
from ioc.chain import sla
from ioc.config import FeedSettings
from ioc.intake.ingest import FeedContext, ingest_batch, replay
from ioc.read import lists
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

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
