"""Dispatch: run cards, recommendations with coverage gaps, the dispatch transaction and the race
between two duty officers, and the CAD status chain — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ioc import PROJECT_ROOT
from ioc.chain import dispatch as dispatch_mod
from ioc.chain.actions import Actor
from ioc.chain.dispatch import DispatchRules, dispatch, load_dispatch_rules, recommend, update_assignment_status
from ioc.city.geo import distance_m
from ioc.city.pack import load_pack
from ioc.errors import Conflict, Forbidden, InvalidTransition, NotFound, UserError
from ioc.store import models
from ioc.store.db import make_engine, session_factory, transaction
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=timezone.utc)
OFFICER = Actor("duty1", "duty_officer")
OPERATOR = Actor("op1", "operator")
# Centres of the small pack's four 0.1° squares.
CENTRE = {"T01": (113.75, 22.95), "T02": (113.85, 22.95), "T03": (113.75, 23.05), "T04": (113.85, 23.05)}


@pytest.fixture
def city(engine, tmp_path: Path):
    """The small pack (8 police cars) plus two ambulances, all at known places."""
    load_pack_into_store(engine, make_small_pack(tmp_path))
    with transaction(engine) as s:
        s.add(models.Org(code="DEPT-HEALTH", name_zh="卫健局", kind="department", service="health",
                         parent_code="IOC"))
        s.flush()
        for i, code in enumerate(("T01", "T04")):
            s.add(models.Unit(id=f"AMB-{i}", call_sign=f"急{i}", unit_type="ambulance", org_code="DEPT-HEALTH",
                              home_point_id=f"PS-{code}", status="AVAILABLE", lon=CENTRE[code][0],
                              lat=CENTRE[code][1]))
    return engine


def new_incident(engine, category="traffic_accident", priority="P2", place=CENTRE["T01"], **kw) -> int:
    with transaction(engine) as s:
        values = {"source": "test", "external_id": f"{category}-{time.perf_counter_ns()}", "channel": "110",
                  "reported_at": T0, "address": "东莞大道1号", "district_code": "T01", "org_code": "DEPT-POLICE"}
        inc = models.Incident(**(values | kw), category=category, priority=priority, lon=place[0], lat=place[1])
        s.add(inc)
        s.flush()
        return inc.id


def place_units(engine, where: dict[str, tuple[float, float] | None], others: str = "OUT_OF_SERVICE") -> None:
    """Put the named units at places (None: no position, so their home is used); park the rest."""
    with transaction(engine) as s:
        for unit in s.scalars(select(models.Unit).where(models.Unit.unit_type == "police_car")):
            if unit.id in where:
                unit.status = "AVAILABLE"
                unit.lon, unit.lat = where[unit.id] if where[unit.id] else (None, None)
            else:
                unit.status = others


def get(engine, model, key):
    with session_factory(engine)() as s:
        return s.get(model, key)


# --- rules -------------------------------------------------------------------------------------


def test_dongguan_rules_load_and_cards_add_up_by_priority():
    rules = load_dispatch_rules(PROJECT_ROOT / "geodata" / "dongguan")
    assert rules.detour_factor == 1.4
    fire = {tuple(n.types): n.count for n in rules.needs("fire", "P1")}
    assert fire == {("fire_engine",): 2, ("ambulance",): 1, ("police_car",): 1}
    assert {tuple(n.types): n.count for n in rules.needs("fire", "P3")} == {("fire_engine",): 2, ("ambulance",): 1}
    assert [(n.types, n.count) for n in rules.needs("crime", "P1")] == [(["police_car"], 2)]
    assert [(n.types, n.count) for n in rules.needs("crime", "P3")] == [(["police_car"], 1)]
    assert [n.types for n in rules.needs("traffic_accident", "P4")] == [["police_car"]]
    assert [n.types for n in rules.needs("waterlogging", "P3")] == [["urban_patrol", "rescue_team"]]
    assert rules.needs("garbage", "P3") == []


def test_missing_file_gives_defaults_and_partial_tables_merge(tmp_path: Path):
    assert load_dispatch_rules(tmp_path) == DispatchRules()
    (tmp_path / "dispatch.toml").write_text("[speeds_kmh]\nambulance = 50\n", encoding="utf-8")
    rules = load_dispatch_rules(tmp_path)
    assert rules.speed("ambulance") == 50 and rules.speed("police_car") == 40
    assert rules.needs("medical", "P1")[0].types == ["ambulance"]


@pytest.mark.parametrize("text, fragment", [
    ("detour_factor = 0.5\n", "detour_factor"),
    ("[speeds_kmh]\nfire_engine = -3\n", "speeds_kmh.fire_engine"),
    ("[speeds_kmh]\ntank = 30\n", "speeds_kmh.tank"),
    ("[run_cards]\nvolcano = [{ types = ['police_car'] }]\n", "unknown categories volcano"),
    ("[run_cards]\nfire = [{ types = ['fire_engine'], count = 0 }]\n", "run_cards.fire.0.count"),
    ("[run_cards]\nfire = [{ types = ['fire_engine'], priorities = ['P9'] }]\n", "priorities"),
    ("colour = 'red'\n", "colour: unknown key"),
    ("detour_factor = \n", "not valid TOML"),
])
def test_bad_rules_are_one_clear_error(tmp_path: Path, text: str, fragment: str):
    (tmp_path / "dispatch.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match="dispatch.toml") as err:
        load_dispatch_rules(tmp_path)
    assert fragment in str(err.value)


# --- recommendations ---------------------------------------------------------------------------


def test_recommend_ranks_by_eta_and_explains_itself(city):
    home = CENTRE["T02"]  # PC-01's home station (PS-T02)
    place_units(city, {"PC-00": (113.76, 22.95), "PC-02": (113.80, 22.99), "PC-01": None, "PC-03": (113.75, 22.97)})
    with transaction(city) as s:
        s.get(models.Unit, "PC-03").status = "CLEARED"  # returning units are candidates too
    busy = new_incident(city, category="crime")
    dispatch(city, OFFICER, busy, ["AMB-1"], now=T0)
    incident = new_incident(city, category="traffic_accident", priority="P1")
    recs = recommend(city, incident)
    police = [r for r in recs if r.unit_type == "police_car"]
    assert [r.unit_id for r in police] == ["PC-00", "PC-03", "PC-02", "PC-01"]
    rules = DispatchRules()
    for r, where in zip(police, [(113.76, 22.95), (113.75, 22.97), (113.80, 22.99), home], strict=True):
        km = distance_m(*where, *CENTRE["T01"]) / 1000
        assert r.distance_km == pytest.approx(km, abs=0.01)
        assert r.eta_min == pytest.approx(km * 1.4 / rules.speed("police_car") * 60, abs=0.06)
        assert r.need == "police_car ×1" and r.org_code == "DEPT-POLICE" and r.load == 0
    assert [r.suggested for r in police] == [True, False, False, False]
    assert police[1].status == "CLEARED"
    ambulances = [r for r in recs if r.unit_type == "ambulance"]
    assert [(r.unit_id, r.suggested) for r in ambulances] == [("AMB-0", True)]  # AMB-1 is busy
    assert recommend(city, new_incident(city, category="garbage")) == []
    with pytest.raises(NotFound):
        recommend(city, 999_999)


def test_coverage_gap_names_divisions_only_that_unit_covers(city):
    place_units(city, {"PC-00": CENTRE["T01"], "PC-01": CENTRE["T01"], "PC-02": CENTRE["T02"],
                       "PC-03": CENTRE["T03"]})
    rules = DispatchRules(coverage_minutes={"police_car": 5})  # reach ≈ 2.4 km: each covers its own square
    recs = {r.unit_id: r for r in recommend(city, new_incident(city, category="crime"), rules=rules)}
    assert recs["PC-00"].coverage_gap == () and recs["PC-01"].coverage_gap == ()  # they back each other up
    assert recs["PC-02"].coverage_gap == ("T02",)
    assert recs["PC-03"].coverage_gap == ("T03",)  # T04 had no cover to lose


def test_recommend_on_the_dongguan_fleet_covers_the_run_card(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'dg.db'}")
    upgrade(engine)
    pack = load_pack(PROJECT_ROOT / "geodata" / "dongguan")
    load_pack_into_store(engine, pack)
    rules = load_dispatch_rules(pack.path)
    incident = new_incident(engine, category="fire", priority="P1", place=(113.752, 23.021), district_code=None,
                            org_code=None)
    recs = recommend(engine, incident, rules=rules, limit=5)
    assert {r.need: sum(x.suggested for x in recs if x.need == r.need) for r in recs} == {
        "fire_engine ×2": 2, "ambulance ×1": 1, "police_car ×1": 1}
    assert all(r.eta_min < 15 for r in recs if r.suggested)
    engine.dispose()


# --- dispatch ----------------------------------------------------------------------------------


def test_dispatch_writes_assignments_units_incident_event_outbox_and_audit(city):
    incident = new_incident(city, priority="P1")
    seen = get(city, models.Incident, incident).version
    assignments = dispatch(city, OFFICER, incident, ["PC-00", "AMB-0"], seen_version=seen, now=T0)
    assert sorted(a.unit_id for a in assignments) == ["AMB-0", "PC-00"]
    assert all(a.status == "DISPATCHED" and a.dispatched_at == T0 for a in assignments)
    with session_factory(city)() as s:
        inc = s.get(models.Incident, incident)
        assert (inc.status, inc.dispatched_at, inc.acknowledged_at, inc.version) == ("dispatched", T0, T0, seen + 1)
        for uid in ("PC-00", "AMB-0"):
            unit = s.get(models.Unit, uid)
            assert (unit.status, unit.status_at, unit.version) == ("DISPATCHED", T0, 2)
        events = s.scalars(select(models.IncidentEvent).where(models.IncidentEvent.incident_id == incident)).all()
        assert [e.kind for e in events] == ["dispatched", "units_dispatched"]  # the lifecycle step, then the units
        assert events[1].data["units"] == ["AMB-0", "PC-00"] and events[1].actor == "duty1"
        orders = {o.destination: o for o in s.scalars(select(models.Outbox))}
        assert set(orders) == {"DEPT-POLICE", "DEPT-HEALTH"}
        by_unit = {a.unit_id: a.id for a in assignments}
        assert orders["DEPT-POLICE"].payload == {
            "order_id": by_unit["PC-00"], "unit_id": "PC-00", "incident_id": incident, "lon": 113.75,
            "lat": 22.95, "category": "traffic_accident", "priority": "P1", "address": "东莞大道1号"}
        assert all(o.delivered_at is None and o.attempts == 0 for o in orders.values())
        audits = s.scalars(select(models.Audit).order_by(models.Audit.id)).all()
        assert {(a.action, a.target_id) for a in audits} == {
            ("unit.dispatch", "AMB-0"), ("unit.dispatch", "PC-00"), ("incident.dispatched", str(incident))}
        unit_audit = next(a for a in audits if a.target_id == "PC-00")
        assert unit_audit.before["status"] == "AVAILABLE" and unit_audit.after["status"] == "DISPATCHED"
    # A second unit later keeps the first dispatch time and adds its own event.
    dispatch(city, OFFICER, incident, ["PC-01"], now=T0 + timedelta(minutes=5))
    inc = get(city, models.Incident, incident)
    assert inc.dispatched_at == T0 and inc.status == "dispatched"


def test_a_busy_unit_is_a_conflict_naming_its_incident_and_nothing_is_written(city):
    first = new_incident(city)
    dispatch(city, OFFICER, first, ["PC-00"], now=T0)
    second = new_incident(city)
    with pytest.raises(Conflict, match=rf"unit PC-00 \(巡00\) is already DISPATCHED to incident {first}"):
        dispatch(city, OFFICER, second, ["PC-01", "PC-00"], now=T0)
    assert get(city, models.Unit, "PC-01").status == "AVAILABLE"
    assert get(city, models.Incident, second).status == "new"
    with session_factory(city)() as s:
        assert s.scalar(select(func.count()).select_from(models.Outbox)) == 1
    place_units(city, {"PC-02": None}, others="OUT_OF_SERVICE")
    with pytest.raises(Conflict, match="PC-03 .* is OUT_OF_SERVICE"):
        dispatch(city, OFFICER, second, ["PC-03"], now=T0)


def test_dispatch_refusals(city):
    incident = new_incident(city)
    with pytest.raises(Forbidden):
        dispatch(city, OPERATOR, incident, ["PC-00"])
    with pytest.raises(Conflict, match="you saw version 7"):
        dispatch(city, OFFICER, incident, ["PC-00"], seen_version=7)
    with pytest.raises(NotFound, match="unit NOPE"):
        dispatch(city, OFFICER, incident, ["NOPE"])
    with pytest.raises(NotFound, match="incident 999999"):
        dispatch(city, OFFICER, 999_999, ["PC-00"])
    closed = new_incident(city, status="closed")
    with pytest.raises(InvalidTransition, match="closed"):
        dispatch(city, OFFICER, closed, ["PC-00"])
    assert get(city, models.Unit, "PC-00").status == "AVAILABLE"


def test_two_officers_dispatching_one_unit_at_once_exactly_one_wins(city, monkeypatch):
    incidents = [new_incident(city), new_incident(city)]
    inside = threading.Barrier(2, timeout=20)
    real_lock = dispatch_mod._lock_units

    def lock_after_both_are_in(session, unit_ids):
        inside.wait()  # both transactions are open, each holding its own incident
        return real_lock(session, unit_ids)

    monkeypatch.setattr(dispatch_mod, "_lock_units", lock_after_both_are_in)
    results: dict[int, object] = {}

    def officer(n: int) -> None:
        try:
            results[n] = dispatch(city, Actor(f"duty{n}", "duty_officer"), incidents[n], ["PC-00"], now=T0)
        except Exception as exc:  # the loser's Conflict is the point of the test
            results[n] = exc

    threads = [threading.Thread(target=officer, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wins = [n for n, r in results.items() if isinstance(r, list)]
    losses = [r for r in results.values() if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert f"is already DISPATCHED to incident {incidents[wins[0]]}" in str(losses[0])
    with session_factory(city)() as s:
        assert s.scalar(select(func.count()).select_from(models.Assignment)) == 1
        assert s.scalar(select(func.count()).select_from(models.Outbox)) == 1
        assert s.get(models.Unit, "PC-00").version == 2


# --- the CAD status chain ----------------------------------------------------------------------


def test_status_chain_stamps_assignment_unit_and_incident(city):
    incident = new_incident(city)
    a, b = dispatch(city, OFFICER, incident, ["PC-00", "PC-01"], now=T0)
    t = {k: T0 + timedelta(minutes=m) for k, m in (("en", 1), ("on", 6), ("on2", 9), ("clr", 30))}
    update_assignment_status(city, OPERATOR, a.id, "EN_ROUTE", now=t["en"], seen_version=1)
    assert get(city, models.Unit, "PC-00").status == "EN_ROUTE"
    update_assignment_status(city, OPERATOR, a.id, "ON_SCENE", now=t["on"])
    inc = get(city, models.Incident, incident)
    assert (inc.status, inc.on_scene_at) == ("on_scene", t["on"])
    update_assignment_status(city, OPERATOR, b.id, "ON_SCENE", now=t["on2"])  # skipping EN_ROUTE is allowed
    assert get(city, models.Incident, incident).on_scene_at == t["on"]  # the first unit's arrival stays
    done = update_assignment_status(city, OPERATOR, a.id, "CLEARED", now=t["clr"])
    assert (done.en_route_at, done.on_scene_at, done.cleared_at, done.version) == (t["en"], t["on"], t["clr"], 4)
    unit = get(city, models.Unit, "PC-00")
    assert (unit.status, unit.status_at) == ("AVAILABLE", t["clr"])
    with session_factory(city)() as s:
        kinds = s.scalars(select(models.IncidentEvent.kind).where(models.IncidentEvent.incident_id == incident)
                          .order_by(models.IncidentEvent.id)).all()
        # The lifecycle steps (dispatched, on_scene) come from ioc.chain.workflow, the unit moves from dispatch.
        assert kinds == ["dispatched", "units_dispatched", "unit_status", "on_scene", "unit_status", "unit_status",
                         "unit_status"]
        assert s.scalar(select(func.count()).select_from(models.Audit)
                        .where(models.Audit.action == "unit.status")) == 8
    # The cleared unit can be sent again.
    dispatch(city, OFFICER, new_incident(city), ["PC-00"], now=t["clr"])


def test_status_chain_refuses_backwards_and_stale_moves(city):
    incident = new_incident(city)
    (a,) = dispatch(city, OFFICER, incident, ["PC-00"], now=T0)
    update_assignment_status(city, OPERATOR, a.id, "ON_SCENE", now=T0)
    with pytest.raises(InvalidTransition, match="is ON_SCENE; it can move to CLEARED, not EN_ROUTE"):
        update_assignment_status(city, OPERATOR, a.id, "EN_ROUTE")
    with pytest.raises(Conflict):
        update_assignment_status(city, OPERATOR, a.id, "CLEARED", seen_version=1)
    update_assignment_status(city, OPERATOR, a.id, "CLEARED", seen_version=2)
    with pytest.raises(InvalidTransition, match="nothing"):
        update_assignment_status(city, OPERATOR, a.id, "ON_SCENE")
    with pytest.raises(Forbidden):
        update_assignment_status(city, Actor("wall", "viewer"), a.id, "CLEARED")
    with pytest.raises(NotFound):
        update_assignment_status(city, OPERATOR, 999_999, "CLEARED")
