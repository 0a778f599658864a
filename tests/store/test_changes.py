"""The change counters move with every committed write to a watched table, and only then."""

from sqlalchemy import update

from ioc.store import models
from ioc.store.changes import versions
from ioc.store.db import transaction
from tests.factories import add_incident


def test_a_committed_incident_write_bumps_its_topic_once(engine, pack):
    before = versions(engine)
    add_incident(engine)
    after = versions(engine)
    assert after["incident"] == before["incident"] + 1
    assert {k: v for k, v in after.items() if k != "incident"} == {k: v for k, v in before.items() if k != "incident"}


def test_bulk_updates_count_and_a_rollback_counts_nothing(engine, pack):
    add_incident(engine)
    before = versions(engine)
    try:
        with transaction(engine) as s:
            s.execute(update(models.Incident).values(priority="P1"))
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert versions(engine) == before
    with transaction(engine) as s:
        s.execute(update(models.Incident).values(priority="P1"))
        s.execute(update(models.Unit).values(status="EN_ROUTE"))
        s.execute(update(models.Incident).values(priority="P2"))
    after = versions(engine)
    assert (after["incident"], after["unit"]) == (before["incident"] + 1, before["unit"] + 1)


def test_reading_changes_nothing(engine, pack):
    before = versions(engine)
    with transaction(engine) as s:
        s.query(models.Incident).all()
    assert versions(engine) == before
