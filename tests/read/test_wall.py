"""The wall's read models: figures a room reads at a glance, and the map's compact rows and deltas."""

import json
import re
from datetime import timedelta

from sqlalchemy import update

from ioc.read import citymap, wall
from ioc.records import OPEN_STATUSES
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import T0, add_incident, minutes

ORIGIN = (113.70, 22.90)  # the small pack's south-west corner


def test_tiles_count_open_by_priority_today_and_overdue(engine, pack):
    now = T0 + timedelta(hours=5)
    add_incident(engine, priority="P1", reported_at=now - timedelta(minutes=5),
                 acknowledge_due=now + timedelta(minutes=10))
    add_incident(engine, priority="P2", reported_at=now - timedelta(hours=2), acknowledge_due=now - timedelta(hours=1))
    add_incident(engine, priority="P2", status="closed", reported_at=now - timedelta(hours=1))
    add_incident(engine, priority="P3", reported_at=T0 - timedelta(days=2))  # open, from before today
    tiles = wall.tiles(engine, "Asia/Shanghai", now)
    assert tiles["open"] == {"P1": 1, "P2": 1, "P3": 1, "P4": 0}
    assert tiles["new_today"] == 3  # T0 is 08:00 in the city; the day began at 00:00 local
    assert tiles["overdue"] == 1
    assert tiles["response_rate"] == 0.0  # the one acknowledge deadline that fell today was missed


def test_busiest_divisions_and_the_ticker_newest_first(engine, pack):
    for n in range(3):
        add_incident(engine, district_code="T02", priority="P3", reported_at=minutes(n))
    add_incident(engine, district_code="T01", priority="P1", title="仓库起火", reported_at=minutes(10))
    add_incident(engine, district_code="T01", priority="P2", title="较早", reported_at=minutes(1))
    busiest = wall.busiest_divisions(engine)
    assert [(d["code"], d["open"]) for d in busiest[:2]] == [("T02", 3), ("T01", 2)]
    assert [r["title"] for r in wall.newest_urgent(engine)] == ["仓库起火", "较早"]


def test_trend_puts_each_hour_beside_the_same_hour_a_week_before(engine, pack):
    now = T0 + timedelta(minutes=30)
    add_incident(engine, reported_at=T0 + timedelta(minutes=5))
    add_incident(engine, reported_at=T0 + timedelta(minutes=6) - timedelta(days=7))
    add_incident(engine, reported_at=T0 - timedelta(hours=3) - timedelta(days=7))
    trend = wall.trend(engine, now)
    assert len(trend["hours"]) == 24 and trend["hours"][-1] == T0
    assert trend["this_week"][-1] == 1 and trend["last_week"][-1] == 1
    assert trend["last_week"][-4] == 1 and sum(trend["last_week"]) == 2


def test_compact_rows_cost_at_most_30_bytes_and_deltas_name_what_left(engine, pack):
    first = add_incident(engine, priority="P1", lon=113.81234, lat=23.01234, report_count=3)
    second = add_incident(engine, priority="P4", category="noise")
    full = citymap.incident_rows(engine, ORIGIN, ["test"], now=T0 + timedelta(hours=1))
    assert full["rows"][0] == [first, 11234, 11234, 11, 0, 1]  # P1 + several reports, crime, feed 1
    assert all(len(json.dumps(r, separators=(",", ":"))) <= 30 for r in full["rows"])
    since = models.utcnow()
    with transaction(engine) as s:
        s.execute(update(models.Incident).where(models.Incident.id == second)
                  .values(status="closed", updated_at=models.utcnow()))
    delta = citymap.incident_rows(engine, ORIGIN, ["test"], since=since)
    assert delta == {"rows": [], "gone": [second]}


def test_the_kept_layer_follows_writes_and_lapsing_freshness(engine, pack):
    now = models.utcnow()
    first = add_incident(engine, priority="P1", reported_at=now - timedelta(minutes=5))
    add_incident(engine, priority="P3", reported_at=now - timedelta(hours=2))
    kept = lambda at: citymap.live_layer(engine, ORIGIN, ["test"], now=at)["rows"]  # noqa: E731
    read = lambda at: citymap.incident_rows(engine, ORIGIN, ["test"], now=at)["rows"]  # noqa: E731
    assert kept(now) == read(now) and kept(now)[0][3] == 21  # a fresh P1
    later = now + timedelta(minutes=6)
    assert kept(later)[0][3] == 1 and kept(later) == read(later)  # ten minutes on, no longer fresh
    third = add_incident(engine, priority="P2", reported_at=later)
    with transaction(engine) as s:
        s.execute(update(models.Incident).where(models.Incident.id == first)
                  .values(status="closed", updated_at=models.utcnow()))
    assert kept(later) == read(later) and [r[0] for r in kept(later)][-1] == third
    assert first not in [r[0] for r in kept(later)]


def test_the_open_set_index_names_the_open_statuses():
    """The partial index of the open set (models.OPEN_SET) must say what the reads' condition says,
    or no planner uses it and the overdue count reads every open row again."""
    listed = re.search(r"status IN \(([^)]*)\)", models.OPEN_SET).group(1)
    assert tuple(s.strip(" '") for s in listed.split(",")) == OPEN_STATUSES
