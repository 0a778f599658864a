"""The major-event board's read model: every event, units committed, the city's figures for
the same window — on SQLite and PostgreSQL."""

from __future__ import annotations

from ioc.chain import major_events
from ioc.read import events
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import LEADER, add_incident, minutes


def test_events_in_force_come_first(engine, pack):
    old = major_events.create(engine, LEADER, "去年台风", "typhoon", minutes(-600), now=minutes(-600))
    major_events.close(engine, LEADER, old.id, None, ended_at=minutes(-100))
    new = major_events.create(engine, LEADER, "暴雨", "rainstorm", minutes(-700), district_codes=["T01"])
    rows = events.events(engine)
    assert [(r.id, r.status) for r in rows] == [(new.id, "active"), (old.id, "closed")]
    assert rows[0].district_codes == ("T01",)


def test_units_committed_are_the_ones_still_on_the_events_incidents(engine, pack):
    a = add_incident(engine, pack, reported_at=minutes(1))
    b = add_incident(engine, pack, reported_at=minutes(2))
    with transaction(engine) as s:
        s.add(models.Assignment(incident_id=a, unit_id="PC-01", status="ON_SCENE", dispatched_at=minutes(3)))
        s.add(models.Assignment(incident_id=b, unit_id="PC-02", status="CLEARED", dispatched_at=minutes(3)))
        s.add(models.Assignment(incident_id=b, unit_id="PC-03", status="EN_ROUTE", dispatched_at=minutes(4)))
    committed = events.committed_units(engine, [a, b])
    assert [(u.call_sign, u.status, u.incident_id) for u in committed] == [("巡01", "ON_SCENE", a),
                                                                          ("巡03", "EN_ROUTE", b)]
    assert events.committed_units(engine, []) == []


def test_city_window_counts_the_whole_city_in_the_window(engine, pack):
    add_incident(engine, pack, reported_at=minutes(10), status="new")
    add_incident(engine, pack, reported_at=minutes(20), status="closed", district_code="T02",
                 resolved_at=minutes(30), closed_at=minutes(40))
    add_incident(engine, pack, reported_at=minutes(25), status="fused")     # counted through its parent
    add_incident(engine, pack, reported_at=minutes(500), status="new")      # after the window
    city = events.city_window(engine, minutes(0), minutes(100))
    assert (city.total, city.open) == (2, 1)
