"""The services a feed depends on failing under it: PostgreSQL restarted in the middle of a batch,
the worker process killed with SIGKILL in the middle of a batch and started again, the MQTT
broker restarted. Private servers only (``tests.services``): the shared ones are never touched.

For each: the other feeds go on, every fetched item ends up stored or rejected with a reason,
none is stored twice, and the feed's health says what happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select, text
from werkzeug import Request, Response

from feeds.base import Adapter, FetchResult, RawItem, get, register
from ioc import PROJECT_ROOT
from ioc.city.geo import DivisionIndex
from ioc.config import FeedSettings, Settings
from ioc.intake.worker import FeedRunner
from ioc.read.health import feed_states
from ioc.records import IncidentRecord
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import make_engine, transaction
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack
from tests.intake.test_faults import T0, FaultConfig, count, record
from tests.services import private_mosquitto, private_postgres, wait_for

PAGES, PAGE_SIZE = 6, 40


def page_items(page: int) -> list[dict]:
    return [record(f"P{page}-{n}", reported_at=(T0 + timedelta(minutes=page, seconds=n)).isoformat())
            for n in range(PAGE_SIZE)]


@register
class FaultPagedAdapter(Adapter):
    """GET url?page=N → {"items": [...], "more": bool}; the cursor is the next page."""

    kind = "test_fault_paged"
    title = "fault test paged source"
    Config = FaultConfig
    on_parse = None  # a hook the test sets: called with each item inside the batch's transaction

    def fetch(self, cursor, client):
        page = int(cursor or 0)
        body = json.loads(get(client, self.config.url, page=page).content)
        items = [RawItem(i["external_id"], json.dumps(i)) for i in body["items"]]
        return FetchResult(items, str(page + 1), more=body["more"])

    def parse(self, item):
        if FaultPagedAdapter.on_parse:
            FaultPagedAdapter.on_parse(item)
        return [IncidentRecord(**json.loads(item.payload))]


def serve_pages(request: Request) -> Response:
    page = int(request.args.get("page", 0))
    body = {"items": page_items(page) if page < PAGES else [], "more": page < PAGES - 1}
    return Response(json.dumps(body), content_type="application/json")


def runner(engine, pack, name: str, kind: str, **options) -> FeedRunner:
    feed = FeedSettings(name=name, kind=kind, interval_seconds=1, timeout_seconds=5, **options)
    settings = Settings(feeds=[feed])
    settings.demo.enabled = False
    return FeedRunner(Runtime(settings, engine, pack, feeds=(feed,)), feed, DivisionIndex(pack.divisions()))


def stored_once(engine, feed: str, expected: int) -> None:
    """Every item landed exactly once and became exactly one incident."""
    rr = models.RawRecord
    with transaction(engine) as s:
        per_id = s.execute(select(rr.external_id, func.count()).where(rr.feed == feed)
                           .group_by(rr.external_id)).all()
        incidents = s.scalar(select(func.count()).select_from(models.Incident).where(models.Incident.source == feed))
    assert len(per_id) == expected and all(n == 1 for _, n in per_id)
    assert incidents == expected


# --- PostgreSQL restarted during ingest ----------------------------------------------------------


@pytest.fixture(scope="module")
def private_pg():
    with private_postgres() as server:
        yield server


@pytest.fixture
def pg_city(private_pg, tmp_path):
    engine = make_engine(private_pg.url)
    with engine.connect() as conn:  # a clean store each test: the private server is ours alone
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        conn.commit()
    upgrade(engine)
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    yield engine, pack
    engine.dispose()


def test_postgresql_restarted_in_the_middle_of_a_batch(private_pg, pg_city, httpserver):
    engine, pack = pg_city
    httpserver.expect_request("/pages").respond_with_handler(serve_pages)
    httpserver.expect_request("/good").respond_with_json({"items": [record("G1")]})
    paged = runner(engine, pack, "paged", "test_fault_paged", url=httpserver.url_for("/pages"))
    good = runner(engine, pack, "good", "test_fault_pages", url=httpserver.url_for("/good"))
    restarted = threading.Event()

    def restart_once(item):  # the batch of page 2 is open: its items are being parsed
        if item.external_id == "P2-5" and not restarted.is_set():
            restarted.set()
            private_pg.restart("fast")

    FaultPagedAdapter.on_parse = restart_once
    try:
        paged.run_job()  # must not raise: the worker's job logs and goes on
    finally:
        FaultPagedAdapter.on_parse = None
    assert restarted.is_set()
    state = feed_states(engine)["paged"]
    assert state.status == "degraded" and "OperationalError" in state.last_error
    assert count(engine, models.RawRecord) == 2 * PAGE_SIZE  # pages 0 and 1 committed, page 2 rolled back

    good.run_job()  # the other feed, on the same engine after the restart
    assert feed_states(engine)["good"].status == "ok"
    paged.backoff_until = 0.0
    assert paged.poll().report.stored == (PAGES - 2) * PAGE_SIZE  # from page 2 again, not from the start
    stored_once(engine, "paged", PAGES * PAGE_SIZE)
    state = feed_states(engine)["paged"]
    assert state.status == "ok" and state.consecutive_failures == 0 and state.last_error_at is not None
    assert state.counts["fetched"] == PAGES * PAGE_SIZE


# --- the worker killed with SIGKILL mid-batch, then started again -----------------------------------

WORKER_PAGES, WORKER_PAGE = 6, 300


def cad_page(request: Request) -> Response:
    """A police CAD: WORKER_PAGES pages of incidents, ``since`` = the next page number."""
    page = int(request.args.get("since") or 0)
    if request.path.endswith("/units") or page >= WORKER_PAGES:
        return Response(json.dumps({"incidents": [], "units": [], "next_since": str(page), "has_more": False}))
    start = T0 - timedelta(days=100)  # an hour apart: no two fuse
    incidents = [{"id": f"W{page}-{n}", "centre": "110",
                  "received_at": (start + timedelta(hours=page * WORKER_PAGE + n)).isoformat(), "category": "刑事", "priority": 2, "status": "已接警", "address": f"测试路{n}号",
                  "lon": 113.75, "lat": 22.95} for n in range(WORKER_PAGE)]
    return Response(json.dumps({"incidents": incidents, "next_since": str(page + 1),
                                "has_more": page + 1 < WORKER_PAGES}, ensure_ascii=False))


def start_worker(config, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")} | {"IOC_CONFIG": str(config)}
    return subprocess.Popen([sys.executable, "-m", "ioc", "worker"], cwd=PROJECT_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def in_transaction(engine, app: str) -> bool:
    """The worker's connection is inside an open transaction (a batch being stored)."""
    with engine.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                                     "AND xact_start IS NOT NULL AND state <> 'idle'"), {"app": app}))


def test_worker_killed_mid_batch_and_started_again(pg_url, tmp_path, httpserver):
    httpserver.expect_request("/cad/incidents").respond_with_handler(cad_page)
    httpserver.expect_request("/cad/units").respond_with_handler(cad_page)
    httpserver.expect_request("/good").respond_with_json({"incidents": [], "units": [], "has_more": False})
    engine = make_engine(pg_url)
    upgrade(engine)
    pack = make_small_pack(tmp_path / "pack")
    load_pack_into_store(engine, pack)
    app = f"ioc-worker-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "ioc.toml"
    config.write_text(f'[store]\nurl = "{pg_url}?application_name={app}"\n[city]\npack = "{pack.path}"\n'
                      f'[demo]\nenabled = false\n'
                      f'[[feeds]]\nname = "cad"\nkind = "police_cad"\ninterval_seconds = 1\npage_size = {WORKER_PAGE}\n'
                      f'base_url = "{httpserver.url_for("/cad")}"\n'
                      f'[[feeds]]\nname = "other"\nkind = "police_cad"\ninterval_seconds = 1\n'
                      f'base_url = "{httpserver.url_for("/other")}"\n', encoding="utf-8")
    httpserver.expect_request("/other/incidents").respond_with_json(
        {"incidents": [], "next_since": "0", "has_more": False})
    httpserver.expect_request("/other/units").respond_with_json({"units": [], "next_since": "0", "has_more": False})
    with open(tmp_path / "worker.log", "wb") as log:
        worker = start_worker(config, log)
        try:
            wait_for(lambda: count(engine, models.RawRecord) >= WORKER_PAGE and in_transaction(engine, app),
                     60, "the worker inside a batch after its first page")
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            landed = count(engine, models.RawRecord)
            assert 0 < landed < WORKER_PAGES * WORKER_PAGE and landed % WORKER_PAGE == 0  # whole batches only
            worker = start_worker(config, log)
            wait_for(lambda: count(engine, models.RawRecord) == WORKER_PAGES * WORKER_PAGE
                     and feed_states(engine).get("cad") and feed_states(engine)["cad"].status == "ok",
                     120, "the restarted worker to take every page")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    stored_once(engine, "cad", WORKER_PAGES * WORKER_PAGE)
    states = feed_states(engine)
    assert states["cad"].counts["fetched"] == WORKER_PAGES * WORKER_PAGE  # the killed batch was never counted
    assert states["other"].status == "ok"
    engine.dispose()


# --- the MQTT broker restarted ---------------------------------------------------------------------


def publish(port: int, sensor: str, minutes: range) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    for minute in minutes:
        reading = {"sensor_id": sensor, "kind": "water_level", "unit": "m", "value": 0.1 + minute / 100,
                   "at": (T0 + timedelta(minutes=minute)).isoformat(), "lon": 113.75, "lat": 22.95}
        client.publish(f"ioc/sensors/{sensor}/reading", json.dumps(reading), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def readings(engine) -> int:
    return count(engine, models.Reading)


def test_mqtt_broker_restarted(engine, tmp_path, httpserver):
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    httpserver.expect_request("/good").respond_with_json({"items": [record("G1")]})
    good = runner(engine, pack, "good", "test_fault_pages", url=httpserver.url_for("/good"))
    with private_mosquitto() as broker:
        sensors = runner(engine, pack, "sensors", "mqtt_sensors", host="127.0.0.1", port=broker.port,
                         client_id=f"ioc-test-{uuid.uuid4().hex[:6]}", connect_timeout_seconds=3)
        try:
            sensors.poll()  # connects and subscribes
            publish(broker.port, "WL-1", range(0, 5))
            wait_for(lambda: (sensors.poll(), readings(engine) >= 5)[1], 10, "the first readings")
            broker.stop()
            wait_for(lambda: not sensors.adapter._ready.is_set(), 10, "the adapter to see the broker gone")
            sensors.run_job()  # fails inside, logged: the broker is away
            state = feed_states(engine)["sensors"]
            assert state.status == "degraded" and "MQTT broker" in state.last_error
            good.run_job()
            assert feed_states(engine)["good"].status == "ok"  # the other feed goes on
            broker.start()
            wait_for(lambda: sensors.adapter._ready.is_set(), 30, "paho to reconnect and subscribe again")
            publish(broker.port, "WL-1", range(5, 10))
            wait_for(lambda: (sensors.poll(), readings(engine) >= 10)[1], 15, "the readings after the restart")
        finally:
            sensors.close()
    assert readings(engine) == 10
    state = feed_states(engine)["sensors"]
    assert state.status == "ok" and state.last_error_at is not None
    # every message fetched was landed once (stored or rejected) or was a redelivery of one landed
    assert state.counts["fetched"] == count(engine, models.RawRecord, models.RawRecord.feed == "sensors") \
        + state.counts["duplicates"]
    with transaction(engine) as s:
        assert s.scalar(select(func.count(func.distinct(models.Reading.at)))) == 10  # none twice
