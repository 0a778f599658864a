"""Property test of the intake pipeline on PostgreSQL (it enforces column lengths; SQLite does not):
a batch of random and mutated items from any source never raises out of ``ingest_batch``, and
every new item is landed exactly once, accepted or rejected with a reason."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from feeds.base import RawItem
from ioc.city.geo import DivisionIndex
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.store import models
from ioc.store.db import make_engine, transaction
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack
from tests.feeds import test_properties as p

SOURCES = {  # kind → (adapter, payload strategy)
    "police_cad": (p.POLICE, p.payloads(p.CAD_SAMPLES)),
    "urban_cases": (p.URBAN, p.payloads(p.fixture("urban/cases.json")["cases"])),
    "video_ai": (p.VIDEO, p.payloads(p.fixture("video/detections.json")["detections"])),
    "sensors_http": (p.SENSORS_HTTP, p.payloads(p.READINGS)),
    "open311": (p.OPEN311, p.payloads(p.fixture("open311/requests.json"))),
    "csv": (p.CSV, p.csv_payloads()),
    "cap": (p.CAP, p.cap_payloads()),
}
external_ids = st.one_of(st.none(), st.sampled_from(["J202407011230001", "PC-0004@2024-07-01T12:32:10+08:00"]),
                         st.text(max_size=20), st.text(min_size=190, max_size=400))


@st.composite
def batches(draw):
    kind = draw(st.sampled_from(sorted(SOURCES)))
    adapter, payloads = SOURCES[kind]
    items = [RawItem(draw(external_ids), draw(payloads)) for _ in range(draw(st.integers(1, 4)))]
    return kind, adapter, items


@pytest.fixture(scope="module")
def city(pg_server, tmp_path_factory):
    name = f"ioc_test_{secrets.token_hex(4)}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(pg_server).set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    pack = make_small_pack(tmp_path_factory.mktemp("pack"))
    load_pack_into_store(engine, pack)
    yield engine, pack, DivisionIndex(pack.divisions())
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def landed(engine, feed: str) -> list[tuple]:
    rr = models.RawRecord
    with transaction(engine) as s:
        return s.execute(select(rr.external_id, rr.content_hash, rr.outcome, rr.reason).where(rr.feed == feed)).all()


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches())
def test_any_batch_is_stored_or_rejected_never_raised(city, batch):
    engine, pack, index = city
    kind, adapter, items = batch
    ctx = FeedContext.for_feed(f"prop_{kind}", kind, "wgs84", pack, index)
    before = landed(engine, ctx.name)
    seen = {(e, h) for e, h, _, _ in before}
    report = ingest_batch(engine, ctx, items, adapter.parse)  # must not raise
    after = landed(engine, ctx.name)
    new = {(i.external_id.replace("\x00", "")[:200] if i.external_id else i.external_id, i.content_hash)
           for i in items} - seen
    assert len(after) - len(before) == len(new)
    assert all(outcome == "accepted" or reason for _, _, outcome, reason in after)
    assert report.fetched == len(items) == report.duplicates + len(new)  # landed or a duplicate, nothing lost
