"""交办 work orders: the whole loop a duty officer and a town office go through, who may do
what, and how the incident moves along — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ioc.chain import workflow, workorders
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Conflict, Forbidden, InvalidTransition, NotFound
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import OFFICER, OPERATOR, VIEWER, add_incident, audits, load, minutes

TOWN = Actor("li", "handler", "OFF-T01")
POLICE = Actor("zhao", "handler", "DEPT-POLICE")
OTHER_TOWN = Actor("sun", "handler", "OFF-T02")
ADMIN = Actor("root", "admin")


@pytest.fixture
def case(engine, pack):
    """An acknowledged urban-management case (P3, street light) handed to the town office and the police."""
    iid = add_incident(engine, pack, channel="urban", category="street_light", priority="P3",
                       status="acknowledged", acknowledged_at=minutes(5))
    town, police = workorders.create(engine, OFFICER, iid, ["OFF-T01", "DEPT-POLICE"], None,
                                     "lamp out at the school gate", pack=pack, seen_version=1, now=minutes(10))
    return iid, town.id, police.id


def test_create_sets_clocks_from_sla_and_dispatches_the_incident(engine, pack, case):
    iid, town_id, police_id = case
    town = load(engine, models.WorkOrder, town_id)
    inc = load(engine, models.Incident, iid)
    assert town.status == "pending" and town.org_code == "OFF-T01"
    # The small pack has no sla.toml: built-in P3 limits — accept 120 min, feedback 480 min, and the
    # due time inherits the incident's resolve clock (1 day from the report).
    assert town.accept_by == minutes(130) and town.feedback_by == minutes(490)
    assert town.due_at == inc.resolve_due == minutes(1440)
    assert (inc.status, inc.dispatched_at) == ("dispatched", minutes(10))
    created = [e for e in workflow.timeline(engine, iid) if e.kind == "work_order_created"]
    assert [e.data["org_code"] for e in created] == ["OFF-T01", "DEPT-POLICE"]
    assert created[0].data["note"] == "lamp out at the school gate"
    assert audits(engine, "work_order", town_id)[0].after["status"] == "pending"


def test_create_refusals(engine, pack, case):
    iid, *_ = case
    with pytest.raises(ActionRefused, match="OFF-T01 already has an open work order"):
        workorders.create(engine, OFFICER, iid, ["OFF-T01"], pack=pack)
    with pytest.raises(ActionRefused, match="IOC is the city level"):
        workorders.create(engine, OFFICER, iid, ["IOC"], pack=pack)
    with pytest.raises(NotFound, match="org OFF-NOPE does not exist"):
        workorders.create(engine, OFFICER, iid, ["OFF-NOPE"], pack=pack)
    with pytest.raises(Forbidden):
        workorders.create(engine, OPERATOR, iid, ["OFF-T02"], pack=pack)
    with pytest.raises(Conflict, match="reload"):
        workorders.create(engine, OFFICER, iid, ["OFF-T02"], pack=pack, seen_version=1)
    with pytest.raises(ActionRefused, match="already past"):
        workorders.create(engine, OFFICER, iid, ["OFF-T02"], minutes(0), pack=pack, now=minutes(20))
    closed = add_incident(engine, pack, status="closed")
    with pytest.raises(InvalidTransition, match="it is closed"):
        workorders.create(engine, OFFICER, closed, ["OFF-T01"], pack=pack)


def test_the_full_loop_with_return_extension_rework_and_satisfaction(engine, pack, case):
    iid, town_id, police_id = case
    # The police say it is not theirs: 退回.
    with pytest.raises(ActionRefused, match="reason"):
        workorders.return_order(engine, POLICE, police_id, 1, reason="")
    returned = workorders.return_order(engine, POLICE, police_id, 1, reason="street lights are not police work",
                                       now=minutes(20))
    assert (returned.status, returned.return_reason) == ("returned", "street lights are not police work")

    # The town accepts (签收): the incident is being handled.
    order = workorders.accept(engine, TOWN, town_id, 1, now=minutes(30))
    assert (order.status, order.accepted_at) == ("accepted", minutes(30))
    assert load(engine, models.Incident, iid).status == "on_scene"

    # 延期: asked, then approved — the due time moves.
    first_due = order.due_at
    order = workorders.request_extension(engine, TOWN, town_id, 2, minutes(5 * 1440), "lamp post must be replaced",
                                         now=minutes(40))
    assert (order.status, order.due_at, order.extension_until) == ("extended", first_due, minutes(5 * 1440))
    order = workorders.approve_extension(engine, OFFICER, town_id, 3, now=minutes(50))
    assert (order.status, order.due_at) == ("handling", minutes(5 * 1440))

    # 答复 with a photo, done; the check finds it unfinished: 返工.
    with pytest.raises(ActionRefused, match="http"):
        workorders.report_feedback(engine, TOWN, town_id, 4, "replaced", photo_url="file:///etc/passwd")
    order = workorders.report_feedback(engine, TOWN, town_id, 4, "post replaced",
                                       photo_url="https://photos.example.cn/1.jpg", now=minutes(2000))
    order = workorders.mark_done(engine, TOWN, town_id, 5, now=minutes(2001))
    assert (order.status, order.done_at) == ("done", minutes(2001))
    order = workorders.send_back(engine, OFFICER, town_id, 6, "lamp still dark at night", now=minutes(2100))
    assert (order.status, order.rework_count, order.done_at) == ("handling", 1, None)

    order = workorders.report_feedback(engine, TOWN, town_id, 7, "wiring fixed too", now=minutes(2200))
    order = workorders.mark_done(engine, TOWN, town_id, 8, now=minutes(2201))
    order = workorders.verify_and_close(engine, OFFICER, town_id, 9, "checked at 21:00", now=minutes(2300))
    assert (order.status, order.verified_at) == ("verified", minutes(2300))
    # The returned order does not hold the incident open: the last live order resolves it.
    inc = load(engine, models.Incident, iid)
    assert (inc.status, inc.resolved_at) == ("resolved", minutes(2300))

    order = workorders.record_satisfaction(engine, OPERATOR, town_id, 10, "satisfied")
    assert order.satisfaction == "satisfied" and order.version == 11
    kinds = [e.kind for e in workflow.timeline(engine, iid)]
    for kind in ("work_order_return", "work_order_accept", "work_order_request_extension",
                 "work_order_approve_extension", "work_order_report_feedback", "work_order_mark_done",
                 "work_order_send_back", "work_order_verify", "resolved", "work_order_satisfaction"):
        assert kind in kinds
    trail = [(a.action, (a.before or {}).get("status"), a.after["status"])
             for a in audits(engine, "work_order", town_id)]
    assert trail == [
        ("work_order.create", None, "pending"),
        ("work_order.accept", "pending", "accepted"),
        ("work_order.request_extension", "accepted", "extended"),
        ("work_order.approve_extension", "extended", "handling"),
        ("work_order.report_feedback", "handling", "handling"),
        ("work_order.mark_done", "handling", "done"),
        ("work_order.send_back", "done", "handling"),
        ("work_order.report_feedback", "handling", "handling"),
        ("work_order.mark_done", "handling", "done"),
        ("work_order.verify", "done", "verified"),
        ("work_order.satisfaction", "verified", "verified"),
    ]


def test_who_may_act_on_an_order(engine, pack, case):
    _, town_id, _ = case
    with pytest.raises(Forbidden, match="sun \\(OFF-T02\\) may not act on work order .* belongs to OFF-T01"):
        workorders.accept(engine, OTHER_TOWN, town_id, 1)
    with pytest.raises(Forbidden, match="duty_officer"):
        workorders.accept(engine, OFFICER, town_id, 1)
    with pytest.raises(Forbidden, match="viewer"):
        workorders.accept(engine, VIEWER, town_id, 1)
    workorders.accept(engine, ADMIN, town_id, 1)   # admin may act for anyone
    with pytest.raises(Forbidden, match="handler"):
        workorders.verify_and_close(engine, TOWN, town_id, 2)
    assert load(engine, models.WorkOrder, town_id).version == 2


def test_refused_steps_and_stale_versions(engine, pack, case):
    _, town_id, _ = case
    with pytest.raises(InvalidTransition, match="cannot mark done work order .* it is pending; from pending one can "
                                                "accept, return, withdraw"):
        workorders.mark_done(engine, TOWN, town_id, 1)
    workorders.accept(engine, TOWN, town_id, 1)
    with pytest.raises(Conflict, match=r"work order .* \(you saw version 1, it is now 2\); reload"):
        workorders.report_feedback(engine, TOWN, town_id, 1, "done")
    with pytest.raises(InvalidTransition, match="it is accepted"):
        workorders.verify_and_close(engine, OFFICER, town_id, 2)
    with pytest.raises(InvalidTransition, match="it is accepted"):
        workorders.record_satisfaction(engine, OPERATOR, town_id, 2, "satisfied")
    with pytest.raises(ActionRefused, match="after the current due time"):
        workorders.request_extension(engine, TOWN, town_id, 2, minutes(60), "more time")


def test_refused_extension_keeps_the_due_time(engine, pack, case):
    _, town_id, _ = case
    order = workorders.accept(engine, TOWN, town_id, 1, now=minutes(20))
    due = order.due_at
    workorders.request_extension(engine, TOWN, town_id, 2, minutes(9000), "rain", now=minutes(30))
    order = workorders.refuse_extension(engine, OFFICER, town_id, 3, "three days is enough", now=minutes(40))
    assert (order.status, order.due_at, order.extension_until) == ("handling", due, None)
    with pytest.raises(ActionRefused, match="report feedback .* before marking it done"):
        workorders.mark_done(engine, TOWN, town_id, 4)


def test_open_orders_hold_the_incident_until_verified_or_withdrawn(engine, pack, case):
    iid, town_id, police_id = case
    with pytest.raises(InvalidTransition, match=f"still has open work orders \\(#{town_id} OFF-T01 pending, "
                                                f"#{police_id} DEPT-POLICE pending\\)"):
        workflow.resolve(engine, OFFICER, iid, 2)
    with pytest.raises(InvalidTransition, match="open work orders"):
        workflow.cancel(engine, OFFICER, iid, 2, reason="false report")
    other = add_incident(engine, pack, status="dispatched")
    with pytest.raises(InvalidTransition, match="open work orders"):
        workflow.merge(engine, OFFICER, iid, other, 2, 1)
    for order_id in (town_id, police_id):
        assert workorders.withdraw(engine, OFFICER, order_id, 1, "false report").status == "withdrawn"
    assert workflow.cancel(engine, OFFICER, iid, 2, reason="false report").status == "cancelled"


def test_a_handler_sees_only_its_own_orders(engine, pack, case):
    _, town_id, police_id = case
    assert [o.id for o in workorders.orders_for(engine, TOWN)] == [town_id]
    assert [o.id for o in workorders.orders_for(engine, POLICE)] == [police_id]
    assert {o.id for o in workorders.orders_for(engine, OFFICER)} == {town_id, police_id}
    workorders.accept(engine, TOWN, town_id, 1)
    assert [o.id for o in workorders.orders_for(engine, OFFICER, status="pending")] == [police_id]
    assert workorders.orders_for(engine, TOWN, status="pending") == []
    with pytest.raises(Forbidden, match="no org"):
        workorders.orders_for(engine, Actor("x", "handler"))


def test_every_order_write_is_audited_and_evented(engine, pack, case):
    iid, town_id, _ = case
    workorders.accept(engine, TOWN, town_id, 1, now=minutes(11))
    with transaction(engine) as s:
        event = s.scalars(select(models.IncidentEvent).where(models.IncidentEvent.kind == "work_order_accept")).one()
    assert event.incident_id == iid and event.actor == "li"
    assert event.data == {"work_order_id": town_id, "org_code": "OFF-T01", "from": "pending",
                               "to": "accepted", "incident_on_scene": True}
    last = audits(engine, "work_order", town_id)[-1]
    assert last.actor == "li" and last.before["accepted_at"] is None
    assert last.after["accepted_at"] == minutes(11).isoformat()
