"""Notes on the timeline, 督办 and unit statuses by hand: events and audit, roles and versions checked."""

import pytest

from ioc.chain import sla, workflow
from ioc.errors import ActionRefused, Forbidden, InvalidTransition
from ioc.store import models
from tests.factories import OFFICER, VIEWER, add_incident, audits, load, minutes


def test_a_note_lands_on_the_timeline_without_making_pages_stale(engine, pack):
    iid = add_incident(engine, pack)
    workflow.add_note(engine, OFFICER, iid, "  called the caller back  ", now=minutes(2))
    assert load(engine, models.Incident, iid).version == 1
    note = workflow.timeline(engine, iid)[-1]
    assert (note.kind, note.actor, note.data) == ("note", "zhang", {"text": "called the caller back"})
    assert audits(engine, "incident", iid)[-1].action == "incident.note"
    with pytest.raises(ActionRefused, match="give the text"):
        workflow.add_note(engine, OFFICER, iid, "   ")
    with pytest.raises(Forbidden):
        workflow.add_note(engine, VIEWER, iid, "hello")


def test_supervising_by_hand_names_the_running_clock_once(engine, pack):
    iid = add_incident(engine, pack, priority="P2")
    workflow.acknowledge(engine, OFFICER, iid, None, now=minutes(1))
    row = sla.supervise(engine, OFFICER, iid, "chase the dispatch", now=minutes(2))
    assert (row.clock, row.org_code, row.note) == ("dispatch", "IOC", "chase the dispatch")
    assert load(engine, models.Incident, iid).version == 2  # acknowledge bumped it; 督办 did not
    assert workflow.timeline(engine, iid)[-1].kind == "supervised"
    with pytest.raises(ActionRefused, match="already supervised on its dispatch step"):
        sla.supervise(engine, OFFICER, iid, now=minutes(3))
    assert sla.sweep(engine, pack, now=minutes(60)).issued.count(("incident", iid, "dispatch")) == 0


def test_only_open_incidents_and_allowed_roles_are_supervised(engine, pack):
    iid = add_incident(engine, pack, status="closed")
    with pytest.raises(InvalidTransition, match="only open incidents"):
        sla.supervise(engine, OFFICER, iid)
    with pytest.raises(Forbidden):
        sla.supervise(engine, VIEWER, add_incident(engine, pack))


def test_units_go_out_of_service_by_hand_but_not_while_on_a_job(engine, pack):
    from ioc.chain import dispatch
    from ioc.errors import Stale

    unit = dispatch.set_unit_status(engine, OFFICER, "PC-01", "OUT_OF_SERVICE", seen_version=1, now=minutes(1))
    assert (unit.status, unit.version) == ("OUT_OF_SERVICE", 2)
    assert "PC-01" not in {r.unit_id for r in dispatch.recommend(engine, add_incident(engine, pack))}
    with pytest.raises(Stale):
        dispatch.set_unit_status(engine, OFFICER, "PC-01", "AVAILABLE", seen_version=1)
    dispatch.dispatch(engine, OFFICER, add_incident(engine, pack), ["PC-02"])
    with pytest.raises(InvalidTransition, match="on a job"):
        dispatch.set_unit_status(engine, OFFICER, "PC-02", "OUT_OF_SERVICE")
    with pytest.raises(Forbidden):
        dispatch.set_unit_status(engine, VIEWER, "PC-03", "OUT_OF_SERVICE")
    assert audits(engine, "unit", "PC-01")[0].after["status"] == "OUT_OF_SERVICE"
