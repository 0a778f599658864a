"""Major events: managing them, which incidents they take in, and their KPIs — checked against
a known dataset whose answers the test works out on its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import timedelta

import pytest

from ioc.chain import major_events
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Conflict, Forbidden, InvalidTransition, NotFound
from tests.factories import OFFICER, T0, VIEWER, add_incident, audits, minutes

LEADER = Actor("chen", "leader")
# An axis-aligned box in the north-east of division T04, so the test can check "inside" by hand.
BOX = (113.85, 23.05, 113.90, 23.10)
AREA = {"type": "Polygon", "coordinates": [[[BOX[0], BOX[1]], [BOX[2], BOX[1]], [BOX[2], BOX[3]],
                                            [BOX[0], BOX[3]], [BOX[0], BOX[1]]]]}
WEST_SOUTH = {"T01": (113.70, 22.90), "T02": (113.80, 22.90), "T03": (113.70, 23.00), "T04": (113.80, 23.00)}
STATUSES = ["new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled", "fused"]


@pytest.fixture
def dataset(engine, pack):
    """60 incidents spread over time, categories, divisions and statuses; returns what was stored."""
    rng = random.Random(20260701)
    rows = []
    for i in range(60):
        district = "T01 T02 T03 T04".split()[i % 4]
        west, south = WEST_SOUTH[district]
        lon, lat = west + rng.uniform(0.001, 0.099), south + rng.uniform(0.001, 0.099)
        status = STATUSES[(i // 4) % len(STATUSES)]   # every status in every division
        reported = minutes(rng.choice([-90, -1, 0, 30, 95, 180, 240, 359, 360, 361, 500]))
        ack = reported + timedelta(minutes=rng.randint(1, 30))
        row = dict(category=rng.choice(["waterlogging", "fallen_tree", "crime"]),
                   priority=rng.choice(["P1", "P2", "P3"]),
                   status=status, district_code=district, lon=lon, lat=lat, reported_at=reported,
                   acknowledged_at=ack if status not in ("new", "fused") else None,
                   resolved_at=(ack + (ack - reported) * 7) if status in ("resolved", "closed") else None)
        if status == "fused":   # linked reports inside the window, to see them left out
            row.update(reported_at=minutes(30), category="waterlogging", acknowledged_at=None)
        row["id"] = add_incident(engine, pack, **row)
        rows.append(row)
    return rows


def members(rows, start, end, categories=None, districts=None, box=None, fused=False):
    """The event's incidents, worked out by hand from the stored values."""
    def place_ok(r):
        if not districts and not box:
            return True
        inside = box is not None and box[0] <= r["lon"] <= box[2] and box[1] <= r["lat"] <= box[3]
        return bool(districts and r["district_code"] in districts) or inside
    return [r for r in rows if start <= r["reported_at"] <= end and (fused or r["status"] != "fused")
            and (not categories or r["category"] in categories) and place_ok(r)]


def newest_first(rows):
    return [r["id"] for r in sorted(rows, key=lambda r: (r["reported_at"], r["id"]), reverse=True)]


def test_incidents_of_an_event_by_window_category_and_place(engine, dataset):
    event = major_events.create(engine, OFFICER, "Typhoon Wipha", "typhoon", T0, minutes(360),
                                categories=["waterlogging", "fallen_tree"], district_codes=["T01"], area=AREA)
    expected = members(dataset, T0, minutes(360), {"waterlogging", "fallen_tree"}, {"T01"}, BOX)
    assert len(expected) >= 5 and any(r["district_code"] == "T04" for r in expected)   # the area adds some
    assert [i.id for i in major_events.incidents_of(engine, event.id, limit=1000)] == newest_first(expected)
    page = major_events.incidents_of(engine, event.id, limit=3, offset=2)
    assert [i.id for i in page] == newest_first(expected)[2:5]
    only_open = major_events.incidents_of(engine, event.id, status=["new", "acknowledged"], limit=1000)
    assert [i.id for i in only_open] == newest_first([r for r in expected if r["status"] in ("new", "acknowledged")])
    trees_t04 = major_events.incidents_of(engine, event.id, category="fallen_tree", district="T04", limit=1000)
    assert [i.id for i in trees_t04] == newest_first(
        [r for r in expected if r["category"] == "fallen_tree" and r["district_code"] == "T04"])
    fused = major_events.incidents_of(engine, event.id, status="fused", limit=1000)
    linked = [r for r in members(dataset, T0, minutes(360), {"waterlogging", "fallen_tree"}, {"T01"}, BOX, True)
              if r["status"] == "fused"]
    assert linked and [i.id for i in fused] == newest_first(linked)


def test_an_open_ended_event_without_place_or_categories_takes_everything_since_it_began(engine, dataset):
    event = major_events.create(engine, LEADER, "Rainstorm red", "rainstorm", minutes(30))
    expected = members(dataset, minutes(30), minutes(10**6))
    assert [i.id for i in major_events.incidents_of(engine, event.id, limit=1000)] == newest_first(expected)
    by_district = major_events.incidents_of(engine, event.id, district=["T02", "T03"], priority="P1", limit=5,
                                            offset=1)
    assert [i.id for i in by_district] == newest_first(
        [r for r in expected if r["district_code"] in ("T02", "T03") and r["priority"] == "P1"])[1:6]


def test_kpis_of_an_event(engine, dataset):
    event = major_events.create(engine, OFFICER, "Typhoon Wipha", "typhoon", T0, minutes(360),
                                categories=["waterlogging", "fallen_tree"], district_codes=["T01"], area=AREA)
    rows = members(dataset, T0, minutes(360), {"waterlogging", "fallen_tree"}, {"T01"}, BOX)
    kpis = major_events.kpis_of(engine, event.id)
    still_open = [r for r in rows if r["status"] in ("new", "acknowledged", "dispatched", "on_scene")]
    assert (kpis["total"], kpis["open"], kpis["closed"]) == (len(rows), len(still_open), len(rows) - len(still_open))
    assert kpis["by_category"] == dict(Counter(r["category"] for r in rows))
    assert kpis["by_status"] == dict(Counter(r["status"] for r in rows))
    assert kpis["by_division"] == dict(Counter(r["district_code"] for r in rows))
    ack = [(r["acknowledged_at"] - r["reported_at"]).total_seconds() / 60 for r in rows if r["acknowledged_at"]]
    res = [(r["resolved_at"] - r["reported_at"]).total_seconds() / 60 for r in rows if r["resolved_at"]]
    assert kpis["acknowledge_minutes"] == {"n": len(ack), "mean": round(statistics.mean(ack), 1),
                                           "median": round(statistics.median(ack), 1)}
    assert kpis["resolve_minutes"] == {"n": len(res), "mean": round(statistics.mean(res), 1),
                                       "median": round(statistics.median(res), 1)}


def test_kpis_of_an_event_with_nothing_in_it(engine, pack):
    event = major_events.create(engine, OFFICER, "Quiet", "other", minutes(-10), minutes(-5))
    kpis = major_events.kpis_of(engine, event.id)
    assert kpis["total"] == 0 and kpis["acknowledge_minutes"] == {"n": 0, "mean": None, "median": None}


def test_manage_update_and_close(engine, pack):
    with pytest.raises(Forbidden, match="viewer"):
        major_events.create(engine, VIEWER, "x", "flood", T0)
    event = major_events.create(engine, LEADER, " Flood of July ", "flood", T0, district_codes=["T01", "T01"])
    assert (event.name, event.status, event.district_codes, event.created_by) == ("Flood of July", "active",
                                                                                  ["T01"], "chen")
    event = major_events.update(engine, OFFICER, event.id, 1, district_codes=["T01", "T02"], area=AREA)
    assert event.version == 2 and event.area == AREA
    with pytest.raises(Conflict, match="reload"):
        major_events.update(engine, OFFICER, event.id, 1, name="y")
    with pytest.raises(ActionRefused, match="no field 'status'"):
        major_events.update(engine, OFFICER, event.id, 2, status="closed")
    event = major_events.close(engine, OFFICER, event.id, 2, now=minutes(720))
    assert (event.status, event.ended_at, event.version) == ("closed", minutes(720), 3)
    with pytest.raises(InvalidTransition, match="it is closed"):
        major_events.update(engine, OFFICER, event.id, 3, name="z")
    with pytest.raises(InvalidTransition, match="already closed"):
        major_events.close(engine, OFFICER, event.id, 3)
    trail = [(a.action, (a.before or {}).get("status"), a.after["status"])
             for a in audits(engine, "major_event", event.id)]
    assert trail == [("major_event.create", None, "active"), ("major_event.update", "active", "active"),
                     ("major_event.close", "active", "closed")]
    assert audits(engine, "major_event", event.id)[1].before["district_codes"] == ["T01"]


@pytest.mark.parametrize(("changes", "error", "says"), [
    ({"kind": "meteor"}, ActionRefused, "unknown kind 'meteor'"),
    ({"ended_at": minutes(-1)}, ActionRefused, "is not after the start"),
    ({"categories": ["lava"]}, ActionRefused, "unknown category 'lava'"),
    ({"district_codes": ["T99"]}, NotFound, "division T99 does not exist"),
    ({"area": {"type": "LineString", "coordinates": [[113.7, 22.9], [113.8, 23.0]]}}, ActionRefused,
     "Polygon or MultiPolygon, not a LineString"),
    ({"area": {"type": "Polygon", "coordinates": [[[113.7, 22.9], [113.8, 23.0], [113.8, 22.9], [113.7, 23.0],
                                                   [113.7, 22.9]]]}}, ActionRefused, "crosses itself"),
    ({"area": {"type": "Polygon"}}, ActionRefused, "not a GeoJSON geometry"),
    ({"name": "  "}, ActionRefused, "give the major event a name"),
])
def test_bad_event_definitions_are_refused(engine, pack, changes, error, says):
    values = dict(name="Typhoon", kind="typhoon", started_at=T0) | changes
    with pytest.raises(error, match=says):
        major_events.create(engine, OFFICER, **values)
