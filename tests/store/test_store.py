"""The store on SQLite and on PostgreSQL: schema, constraints, times, upsert, pack loading."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError

from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import check_ready, make_engine, transaction
from ioc.store.migrate import current_revision, downgrade, head_revision, upgrade
from ioc.store.packload import load_pack_into_store
from ioc.store.upsert import upsert
from tests.factories import make_small_pack

TABLES = {"raw_record", "incident", "incident_event", "work_order", "unit", "assignment", "alert", "sensor",
          "reading", "org", "district", "key_point", "feed_state", "outbox", "app_user", "audit"}

CST = timezone(timedelta(hours=8))


def incident(**over) -> models.Incident:
    values = dict(source="police", external_id="110-1", channel="110", category="traffic",
                  reported_at=datetime(2026, 7, 1, 8, 30, tzinfo=CST))
    return models.Incident(**(values | over))


def test_upgrade_creates_every_table_with_page_indexes(engine):
    insp = inspect(engine)
    assert TABLES <= set(insp.get_table_names())
    indexed = {tuple(ix["column_names"]) for ix in insp.get_indexes("incident")}
    assert ("status", "priority", "reported_at") in indexed
    assert ("district_code", "status") in indexed
    assert ("incident_id", "at") in {tuple(ix["column_names"]) for ix in insp.get_indexes("incident_event")}
    assert current_revision(engine) == head_revision()


def test_downgrade_and_upgrade_again(engine):
    assert downgrade(engine, "base") is None
    assert "incident" not in inspect(engine).get_table_names()
    assert upgrade(engine) == head_revision()


def test_times_come_back_as_aware_utc(engine):
    with transaction(engine) as s:
        s.add(incident())
    with transaction(engine) as s:
        got = s.scalar(select(models.Incident.reported_at))
    assert got.tzinfo is not None
    assert got == datetime(2026, 7, 1, 0, 30, tzinfo=timezone.utc)


def test_naive_times_are_refused(engine):
    with pytest.raises(StatementError, match="naive datetime"):
        with transaction(engine) as s:
            s.add(incident(reported_at=datetime(2026, 7, 1, 8, 30)))


def test_one_incident_per_source_and_external_id(engine):
    with transaction(engine) as s:
        s.add(incident())
    with pytest.raises(IntegrityError):
        with transaction(engine) as s:
            s.add(incident(title="again"))


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(IntegrityError):
        with transaction(engine) as s:
            s.add(models.KeyPoint(id="X", kind="shelter", name_zh="x", lon=113.7, lat=23.0, district_code="NOPE"))


def test_upsert_inserts_then_updates_in_bulk(engine):
    rows = [{"name": f"feed{i}", "kind": "csv", "status": "ok", "counts": {"stored": i}} for i in range(50)]
    with transaction(engine) as s:
        assert upsert(s, models.FeedState, rows, ["name"]) == 50
    changed = [r | {"status": "degraded"} for r in rows[:10]]
    with transaction(engine) as s:
        upsert(s, models.FeedState, changed, ["name"])
        statuses = dict(s.execute(select(models.FeedState.name, models.FeedState.status)).all())
    assert len(statuses) == 50
    assert sum(v == "degraded" for v in statuses.values()) == 10


def test_upsert_with_no_update_columns_ignores_conflicts(engine):
    with transaction(engine) as s:
        upsert(s, models.FeedState, [{"name": "a", "kind": "csv", "status": "ok"}], ["name"])
        upsert(s, models.FeedState, [{"name": "a", "kind": "csv", "status": "down"}], ["name"], update=[])
        assert s.scalar(select(models.FeedState.status)) == "ok"


def test_pack_loads_and_reloads_without_resetting_live_units(engine, tmp_path):
    pack = make_small_pack(tmp_path)
    report = load_pack_into_store(engine, pack)
    assert (report.districts, report.orgs, report.key_points, report.units) == (4, 6, 4, 8)
    with transaction(engine) as s:
        s.execute(update(models.Unit).where(models.Unit.id == "PC-01").values(status="ON_SCENE", lon=113.75))
    load_pack_into_store(engine, pack)
    with transaction(engine) as s:
        unit = s.get(models.Unit, "PC-01")
        assert (unit.status, unit.lon) == ("ON_SCENE", 113.75)
        district = s.get(models.District, "T01")
        # A 0.1° square at 23°N is about 11.1 km × 10.2 km.
        assert 110 < district.area_km2 < 118
        assert s.scalar(select(text("count(*)")).select_from(models.District)) == 4


def test_check_ready_says_what_to_run(tmp_path):
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(UserError, match="python -m ioc db upgrade"):
        check_ready(empty)


def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_migrations_build_exactly_the_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ioc.store.migrate import include_object_on

    with engine.connect() as conn:  # the search index's own tables and indexes are the migration's (0010)
        context = MigrationContext.configure(conn, opts={"include_object": include_object_on(conn.dialect.name)})
        assert compare_metadata(context, models.Base.metadata) == []
