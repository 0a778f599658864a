"""SLA clocks: limits from sla.toml, clock states at chosen times, and 督办 sweeps — on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ioc import PROJECT_ROOT
from ioc.chain import sla, workflow, workorders
from ioc.chain.actions import Actor
from ioc.city.pack import load_pack
from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import OFFICER, OPERATOR, T0, add_incident, load, make_small_pack, minutes

DONGGUAN = load_pack(PROJECT_ROOT / "geodata" / "dongguan")


# --- the rules ------------------------------------------------------------------------------


def test_dongguan_limits_follow_the_norms():
    rules = sla.load_sla(DONGGUAN)
    assert rules.minutes("crime", "P1") == {"acknowledge_by": 1, "dispatch_by": 3, "on_scene_by": 5,
                                           "resolve_by": 240}
    assert rules.minutes("manhole_cover", "P3")["resolve_by"] == 120           # ~1–2 h
    assert rules.minutes("illegal_construction", "P3")["resolve_by"] == 5 * 1440
    hotline = rules.minutes("noise", "P3", channel="12345")
    assert (hotline["acknowledge_by"], hotline["on_scene_by"], hotline["resolve_by"]) == (30, 60, 2 * 1440)
    # The category beats the channel: a missing cover reported on 12345 is still a 2-hour job.
    assert rules.minutes("manhole_cover", "P3", channel="12345")["resolve_by"] == 120
    # A later step caps the earlier ones: fire dispatches in 1 min even at P4, so it is acknowledged by then.
    assert rules.minutes("fire", "P4")["acknowledge_by"] == 1
    assert rules.due_soon_fraction == 0.2
    assert rules.order_minutes("P9") == rules.order_minutes("P3")


def test_due_times_and_apply_incident_clocks(engine, pack):
    due = sla.due_times(DONGGUAN, "waterlogging", "P2", T0)
    assert (due.acknowledge, due.dispatch, due.on_scene, due.resolve) == (
        minutes(3), minutes(10), minutes(30), minutes(360))
    iid = add_incident(engine, DONGGUAN, category="waterlogging", priority="P2")
    inc = load(engine, models.Incident, iid)
    assert (inc.acknowledge_due, inc.dispatch_due, inc.on_scene_due, inc.resolve_due) == (
        minutes(3), minutes(10), minutes(30), minutes(360))


def test_work_order_due_caps_accept_and_feedback_at_the_due_time():
    got = sla.work_order_due(DONGGUAN, "P1", T0, due_at=minutes(45))
    assert (got.accept_by, got.feedback_by, got.due_at) == (minutes(30), minutes(45), minutes(45))
    own = sla.work_order_due(DONGGUAN, "P2", T0, incident_resolve_due=minutes(-5))   # incident already late
    assert own.due_at == minutes(1440)


def test_defaults_when_the_pack_has_no_sla_file(tmp_path):
    bare = make_small_pack(tmp_path)
    assert sla.load_sla(bare) == sla.SlaRules() == sla.load_sla(None)
    assert sla.load_sla(bare).minutes("crime", "P3")["acknowledge_by"] == 10


@pytest.mark.parametrize(("text", "says"), [
    ("[incident.P1]\nacknowledge_by = -1\n", "incident.P1.acknowledge_by: Input should be greater than 0"),
    ("[incident.P1]\nack_by = 1\n", "incident.P1.ack_by: unknown key"),
    ("[incident.P7]\nacknowledge_by = 1\n", "incident.P7"),
    ("[categories.lava]\nresolve_by = 60\n", "unknown category 'lava'"),
    ("due_soon_fraction = 1.5\n", "due_soon_fraction: Input should be less than 1"),
    ("[work_order.P2]\naccept_by = 'soon'\n", "work_order.P2.accept_by"),
    ("[incident.P1\n", "not valid TOML"),
])
def test_bad_sla_file_names_the_file_and_the_key(tmp_path, text, says):
    city = make_small_pack(tmp_path)
    (city.path / "sla.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        sla.load_sla(city)
    assert "sla.toml" in str(err.value) and says in str(err.value)


# --- clock states ---------------------------------------------------------------------------


def _state_of(engine, pack, now, target_type="incident", target_id=None):
    states = sla.clock_states(engine, now, pack)
    return next(s for s in states if s.target_type == target_type and s.target_id == target_id)


def test_a_clock_goes_ok_then_due_soon_then_overdue(engine, pack):
    iid = add_incident(engine, pack, priority="P3")   # built-in P3: acknowledge within 10 min
    ok = _state_of(engine, pack, minutes(5), target_id=iid)
    assert (ok.clock, ok.state, ok.minutes_left, ok.due_at) == ("acknowledge", "ok", 5.0, minutes(10))
    soon = _state_of(engine, pack, minutes(8.5), target_id=iid)
    assert (soon.state, soon.minutes_left) == ("due_soon", 1.5)      # under 20 % of the window left
    late = _state_of(engine, pack, minutes(12), target_id=iid)
    assert (late.state, late.minutes_left) == ("overdue", -2.0)
    workflow.acknowledge(engine, OPERATOR, iid, 1, now=minutes(12))
    nxt = _state_of(engine, pack, minutes(12), target_id=iid)
    assert (nxt.clock, nxt.state, nxt.minutes_left) == ("dispatch", "ok", 18.0)


def test_work_order_clocks_run_accept_then_feedback_then_due(engine, pack):
    iid = add_incident(engine, status="acknowledged", priority="P3")    # no incident clocks
    (order,) = workorders.create(engine, OFFICER, iid, ["OFF-T01"], minutes(600), pack=pack, now=T0)
    state = _state_of(engine, pack, minutes(90), "work_order", order.id)
    assert (state.clock, state.state, state.minutes_left, state.incident_id) == ("accept", "ok", 30.0, iid)
    assert _state_of(engine, pack, minutes(119), "work_order", order.id).state == "due_soon"
    workorders.accept(engine, Actor("li", "handler", "OFF-T01"), order.id, 1, now=minutes(100))
    state = _state_of(engine, pack, minutes(500), "work_order", order.id)
    assert (state.clock, state.state, state.minutes_left) == ("feedback", "overdue", -20.0)
    assert [s.target_id for s in sla.clock_states(engine, minutes(500), pack, org_code="OFF-T02")] == []


def test_finished_items_have_no_running_clock(engine, pack):
    add_incident(engine, pack, status="closed")
    add_incident(engine, pack, status="cancelled")
    add_incident(engine, pack, status="fused")
    assert sla.clock_states(engine, minutes(5000), pack) == []


# --- 督办 -------------------------------------------------------------------------------------


def _supervisions(engine):
    with transaction(engine) as s:
        return list(s.scalars(select(models.Supervision).order_by(models.Supervision.id)))


def test_sweep_issues_one_notice_per_run_out_clock_to_the_level_above_and_is_idempotent(engine, pack):
    town_case = add_incident(engine, pack, priority="P3", org_code="OFF-T01")
    city_case = add_incident(engine, pack, priority="P3", org_code="IOC")
    no_owner = add_incident(engine, pack, priority="P3", org_code=None)
    handed = add_incident(engine, status="acknowledged", priority="P3")
    (order,) = workorders.create(engine, OFFICER, handed, ["OFF-T02"], minutes(600), pack=pack, now=T0)

    assert sla.sweep(engine, pack, now=minutes(9)).issued == []
    summary = sla.sweep(engine, pack, now=minutes(15))    # the three acknowledge clocks ran out (10 min)
    assert sorted(summary.issued) == sorted([("incident", town_case, "acknowledge"),
                                             ("incident", city_case, "acknowledge"),
                                             ("incident", no_owner, "acknowledge")])
    notices = {n.target_id: n for n in _supervisions(engine)}
    town = notices[town_case]
    assert town.org_code == "IOC"                 # OFF-T01's parent
    assert notices[city_case].org_code == notices[no_owner].org_code == "IOC"   # the top answers for itself
    assert town.suggestion["action"] == "redispatch" and "acknowledged" in town.suggestion["reason"]
    assert town.due_at == minutes(15 + 60) and "ran out 5 min ago" in town.note

    assert sla.sweep(engine, pack, now=minutes(15)).issued == []     # idempotent
    assert len(_supervisions(engine)) == 3

    later = sla.sweep(engine, pack, now=minutes(60))    # the dispatch clocks (30 min)
    assert sorted(later.issued) == sorted([("incident", i, "dispatch") for i in (town_case, city_case, no_owner)])
    later = sla.sweep(engine, pack, now=minutes(121))   # on-scene clocks (120) and the order's accept (120)
    assert sorted(later.issued) == sorted([("incident", i, "on_scene") for i in (town_case, city_case, no_owner)]
                                          + [("work_order", order.id, "accept")])
    accept = next(n for n in _supervisions(engine) if n.target_type == "work_order")
    assert accept.org_code == "IOC" and accept.suggestion == {
        "action": "redispatch", "reason": "OFF-T02 has not accepted it", "from_org": "OFF-T02"}
    overdue = [e for e in workflow.timeline(engine, handed) if e.kind == "overdue"]
    assert [(e.data["clock"], e.data["target_id"]) for e in overdue] == [("accept", order.id)]
    assert load(engine, models.Incident, town_case).version == 1     # a notice does not make pages stale
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Audit)
                        .where(models.Audit.action == "supervision.issue")) == 10


def test_later_clocks_without_redispatch_suggestion_and_settling(engine, pack):
    iid = add_incident(engine, pack, priority="P3", status="on_scene", acknowledged_at=minutes(1),
                       dispatched_at=minutes(2), on_scene_at=minutes(20))
    assert sla.sweep(engine, pack, now=minutes(1500)).issued == [("incident", iid, "resolve")]
    (notice,) = _supervisions(engine)
    assert notice.suggestion is None and notice.resolved_at is None
    workflow.resolve(engine, OFFICER, iid, 1, now=minutes(1600))
    (notice,) = _supervisions(engine)
    assert notice.resolved_at == minutes(1600)


def test_an_incident_past_a_stage_is_not_chased_for_it(engine, pack):
    # Moved to on_scene without a dispatch stamp (e.g. a patrol found it): no dispatch 督办.
    iid = add_incident(engine, pack, priority="P3", status="on_scene", acknowledged_at=minutes(1),
                       on_scene_at=minutes(5))
    assert sla.sweep(engine, pack, now=minutes(200)).issued == []
    assert _state_of(engine, pack, minutes(200), target_id=iid).clock == "resolve"
