"""The incident lifecycle as a duty officer meets it: allowed and refused steps, roles, stale
views, the timeline and audit trail, merge and split — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ioc.chain import sla, workflow
from ioc.errors import ActionRefused, Conflict, Forbidden, InvalidTransition
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import LEADER, OFFICER, OPERATOR, VIEWER, add_incident, audits, load, minutes

# --- the whole life ---------------------------------------------------------------------------


def test_full_lifecycle_stamps_versions_events_and_audit(engine, pack):
    iid = add_incident(engine, pack)
    inc = workflow.acknowledge(engine, OPERATOR, iid, 1, now=minutes(1))
    assert (inc.status, inc.version, inc.acknowledged_at) == ("acknowledged", 2, minutes(1))
    inc = workflow.mark_dispatched(engine, OFFICER, iid, 2, now=minutes(4))
    inc = workflow.mark_on_scene(engine, OPERATOR, iid, 3, now=minutes(12))
    inc = workflow.resolve(engine, OFFICER, iid, 4, note="suspect detained", now=minutes(50))
    inc = workflow.close(engine, OFFICER, iid, 5, now=minutes(60))
    inc = workflow.record_satisfaction(engine, OPERATOR, iid, 6, "basically_satisfied", now=minutes(90))

    assert inc.status == "closed" and inc.version == 7 and inc.satisfaction == "basically_satisfied"
    assert (inc.dispatched_at, inc.on_scene_at, inc.resolved_at, inc.closed_at) == (
        minutes(4), minutes(12), minutes(50), minutes(60))
    events = workflow.timeline(engine, iid)
    assert [e.kind for e in events] == ["acknowledged", "dispatched", "on_scene", "resolved", "closed",
                                        "satisfaction"]
    assert events[0].actor == "wang" and events[0].data == {"from": "new", "to": "acknowledged"}
    assert events[3].data["note"] == "suspect detained"
    rows = audits(engine, "incident", iid)
    assert [(a.before["status"], a.after["status"]) for a in rows] == [
        ("new", "acknowledged"), ("acknowledged", "dispatched"), ("dispatched", "on_scene"),
        ("on_scene", "resolved"), ("resolved", "closed"), ("closed", "closed")]
    assert rows[-1].before["satisfaction"] is None and rows[-1].after["satisfaction"] == "basically_satisfied"
    assert [a.after["version"] for a in rows] == [2, 3, 4, 5, 6, 7]


def test_unverified_video_detection_is_verified_or_cancelled(engine, pack):
    real = add_incident(engine, pack, status="unverified", channel="video", category="garbage")
    fake = add_incident(engine, pack, status="unverified", channel="video", category="garbage")
    with pytest.raises(InvalidTransition, match="it is unverified; from unverified it can only verify, cancel"):
        workflow.acknowledge(engine, OPERATOR, real, 1)
    assert workflow.verify(engine, OPERATOR, real, 1).status == "new"
    assert workflow.acknowledge(engine, OPERATOR, real, 2).status == "acknowledged"
    with pytest.raises(ActionRefused, match="give a reason"):
        workflow.cancel(engine, OFFICER, fake, 1, reason="  ")
    cancelled = workflow.cancel(engine, OFFICER, fake, 1, reason="shadow, not garbage")
    assert cancelled.status == "cancelled"
    assert workflow.timeline(engine, fake)[-1].data["reason"] == "shadow, not garbage"


@pytest.mark.parametrize(("status", "action", "says"), [
    ("new", "close", "cannot close incident {id}: it is new; from new it can only acknowledge, mark dispatched"),
    ("acknowledged", "acknowledge", "it is acknowledged"),
    ("closed", "resolve", "it is closed; from closed it can only record satisfaction"),
    ("cancelled", "acknowledge", "it is cancelled; it can no longer change"),
    ("fused", "mark_on_scene", "it is fused; from fused it can only split"),
    ("new", "mark_on_scene", "it is new"),
])
def test_refused_steps_name_the_current_state(engine, pack, status, action, says):
    iid = add_incident(engine, pack, status=status)
    with pytest.raises(InvalidTransition) as err:
        getattr(workflow, action)(engine, OFFICER, iid, 1)
    assert says.format(id=iid) in str(err.value)
    assert load(engine, models.Incident, iid).version == 1


def test_satisfaction_only_after_close_and_from_the_three_values(engine, pack):
    iid = add_incident(engine, pack, status="resolved")
    with pytest.raises(InvalidTransition, match="cannot record satisfaction for incident .* it is resolved"):
        workflow.record_satisfaction(engine, OPERATOR, iid, 1, "satisfied")
    workflow.close(engine, OFFICER, iid, 1)
    with pytest.raises(ActionRefused, match="satisfied, basically_satisfied, dissatisfied"):
        workflow.record_satisfaction(engine, OPERATOR, iid, 2, "great")


def test_reopen_goes_back_to_the_last_stage_reached(engine, pack):
    on_scene = add_incident(engine, pack, status="resolved", acknowledged_at=minutes(1), dispatched_at=minutes(2),
                            on_scene_at=minutes(9), resolved_at=minutes(30))
    phone_only = add_incident(engine, pack, status="resolved", acknowledged_at=minutes(1), resolved_at=minutes(5))
    with pytest.raises(ActionRefused, match="reason"):
        workflow.reopen(engine, OFFICER, on_scene, 1, reason="")
    inc = workflow.reopen(engine, OFFICER, on_scene, 1, reason="citizen says it is back", now=minutes(40))
    assert (inc.status, inc.resolved_at, inc.on_scene_at) == ("on_scene", None, minutes(9))
    last = audits(engine, "incident", on_scene)[-1]
    assert last.before["resolved_at"] == minutes(30).isoformat() and last.after["resolved_at"] is None
    assert workflow.reopen(engine, OFFICER, phone_only, 1, reason="called again").status == "acknowledged"
    closed = add_incident(engine, pack, status="closed")
    with pytest.raises(InvalidTransition, match="it is closed"):
        workflow.reopen(engine, OFFICER, closed, 1, reason="x")


def test_roles_are_refused_with_forbidden(engine, pack):
    iid = add_incident(engine, pack)
    with pytest.raises(Forbidden, match=r"wall \(viewer\) may not incident acknowledge"):
        workflow.acknowledge(engine, VIEWER, iid, 1)
    workflow.acknowledge(engine, OPERATOR, iid, 1)
    with pytest.raises(Forbidden, match="operator"):
        workflow.resolve(engine, OPERATOR, iid, 2)
    with pytest.raises(Forbidden):
        workflow.cancel(engine, LEADER, iid, 2, reason="no")
    assert load(engine, models.Incident, iid).version == 2
    assert len(audits(engine, "incident", iid)) == 1


def test_a_stale_view_gives_conflict_with_the_reload_message(engine, pack):
    iid = add_incident(engine, pack)
    workflow.acknowledge(engine, OPERATOR, iid, 1)
    with pytest.raises(Conflict, match=r"you saw version 1, it is now 2\); reload it and try again"):
        workflow.mark_dispatched(engine, OFFICER, iid, 1)
    assert workflow.mark_dispatched(engine, OFFICER, iid, None).status == "dispatched"  # system callers


def test_dispatch_straight_from_new_also_acknowledges_and_stops_both_clocks(engine, pack):
    iid = add_incident(engine, pack)
    sla.sweep(engine, pack, now=minutes(20))   # acknowledge and dispatch clocks ran out
    inc = workflow.mark_dispatched(engine, OFFICER, iid, 1, now=minutes(21))
    assert inc.acknowledged_at == inc.dispatched_at == minutes(21)
    with transaction(engine) as s:
        open_notices = s.scalars(select(models.Supervision.clock).where(
            models.Supervision.target_id == iid, models.Supervision.resolved_at.is_(None))).all()
    assert "acknowledge" not in open_notices and "dispatch" not in open_notices


def test_advance_in_moves_forward_only_inside_the_callers_session(engine, pack):
    iid = add_incident(engine, pack, status="on_scene", acknowledged_at=minutes(1), dispatched_at=minutes(2),
                       on_scene_at=minutes(5))
    with transaction(engine) as s:
        inc = s.get(models.Incident, iid, with_for_update=True)
        assert workflow.advance_in(s, inc, OFFICER, "dispatched", minutes(6)) is False
        assert workflow.advance_in(s, inc, OFFICER, "resolved", minutes(7)) is True
    inc = load(engine, models.Incident, iid)
    assert (inc.status, inc.version, inc.resolved_at) == ("resolved", 2, minutes(7))
    done = add_incident(engine, pack, status="cancelled")
    with transaction(engine) as s, pytest.raises(InvalidTransition, match="it is cancelled"):
        workflow.advance_in(s, s.get(models.Incident, done), OFFICER, "dispatched", minutes(1))


# --- merge and split --------------------------------------------------------------------------


def test_merge_and_split_round_trip(engine, pack):
    parent = add_incident(engine, pack, source="110", external_id="A1", status="dispatched")
    child = add_incident(engine, pack, source="12345", external_id="H7", channel="12345")
    c, p = workflow.merge(engine, OPERATOR, child, parent, 1, 1, now=minutes(3))
    assert (c.status, c.parent_id, c.version) == ("fused", parent, 2)
    assert p.report_count == 2 and p.version == 2
    assert {"source": "12345", "external_id": "H7", "channel": "12345"} in p.sources
    assert workflow.timeline(engine, child)[-1].kind == "fused_into"
    assert workflow.timeline(engine, parent)[-1].data["report_id"] == child
    merge_audit = audits(engine, "incident", child)[-1]
    assert (merge_audit.action, merge_audit.before["status"], merge_audit.after["status"]) == (
        "incident.merge", "new", "fused")

    with pytest.raises(Conflict, match="reload"):
        workflow.split(engine, OPERATOR, child, 1)
    with pytest.raises(Forbidden):
        workflow.split(engine, VIEWER, child, 2)
    back = workflow.split(engine, OPERATOR, child, 2)
    assert (back.status, back.parent_id) == ("new", None)
    p = load(engine, models.Incident, parent)
    assert p.report_count == 1 and len(p.sources) == 1 and p.version == 3
    assert [e.kind for e in workflow.timeline(engine, parent)][-2:] == ["report_linked", "report_split"]
    split_audit = audits(engine, "incident", child)[-1]
    assert (split_audit.action, split_audit.before["status"], split_audit.after["status"]) == (
        "incident.split", "fused", "new")
    with pytest.raises(InvalidTransition, match="cannot split incident .* it is new"):
        workflow.split(engine, OPERATOR, child, 3)


def test_merge_refuses_itself_a_closed_target_and_chains(engine, pack):
    a = add_incident(engine, pack)
    closed = add_incident(engine, pack, status="closed")
    with pytest.raises(ActionRefused, match="into itself"):
        workflow.merge(engine, OPERATOR, a, a, 1, 1)
    with pytest.raises(InvalidTransition, match=f"cannot merge into incident {closed}: it is closed"):
        workflow.merge(engine, OPERATOR, a, closed, 1, 1)
    b = add_incident(engine, pack)
    c = add_incident(engine, pack)
    workflow.merge(engine, OPERATOR, b, a, 1, 1)
    with pytest.raises(InvalidTransition, match="it is fused"):   # into a linked report
        workflow.merge(engine, OPERATOR, c, b, 1, 2)
    with pytest.raises(InvalidTransition, match="has linked reports of its own"):
        workflow.merge(engine, OPERATOR, a, c, 2, 1)
    with pytest.raises(Conflict):
        workflow.merge(engine, OPERATOR, c, a, 1, 1)
    with pytest.raises(Forbidden):
        workflow.merge(engine, VIEWER, c, a, 1, 2)


def test_urban_steps_map_the_seven_step_case_flow():
    assert [s.zh for s in workflow.URBAN_STEPS.values()] == [
        "信息收集", "案卷建立", "任务派遣", "任务处理", "处理反馈", "核查结案", "综合评价"]
    assert workflow.urban_step("new") == "collect"
    assert workflow.urban_step("on_scene", ("handling",)) == "handle"
    assert workflow.urban_step("on_scene", ("done", "returned")) == "feedback"
    assert workflow.urban_step("closed") == "verify_close"
    assert workflow.urban_step("closed", satisfaction="satisfied") == "evaluate"
    assert workflow.urban_step("cancelled") is None
