"""The worker against real loopback HTTP sources: cursors, failing sources, backoff, one poller per feed."""

import json
import time
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, get, register
from ioc.city.geo import DivisionIndex
from ioc.config import FeedSettings, Settings
from ioc.intake.worker import FeedRunner, feed_lock, schedule
from ioc.read.health import feed_states
from ioc.records import IncidentRecord
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))


class PageConfig(AdapterConfig):
    url: str


@register
class PageAdapter(Adapter):
    """A minimal source: GET url?since=CURSOR → {"items": [...], "next": cursor, "more": bool}."""

    kind = "test_pages"
    title = "test pages"
    Config = PageConfig

    def fetch(self, cursor, client):
        body = get(client, self.config.url, since=cursor).json()
        items = [RawItem(i["external_id"], json.dumps(i)) for i in body["items"]]
        return FetchResult(items, body["next"], body.get("more", False))

    def parse(self, item):
        return [IncidentRecord(**json.loads(item.payload))]


def page(ids, nxt, more=False):
    items = [{"external_id": i, "channel": "110", "category": "crime", "reported_at": T0.isoformat(),
              "lon": 113.75 + 0.01 * n, "lat": 22.95} for n, i in enumerate(ids)]
    return {"items": items, "next": nxt, "more": more}


def runner_for(engine, tmp_path, url, name="src", **feed_options) -> FeedRunner:
    pack = make_small_pack(tmp_path, name=f"city-{name}")
    load_pack_into_store(engine, pack)
    feed = FeedSettings(name=name, kind="test_pages", url=url, interval_seconds=1, **feed_options)
    settings = Settings(feeds=[feed])
    settings.demo.enabled = False
    return FeedRunner(Runtime(settings, engine, pack), feed, DivisionIndex(pack.divisions()))


def state(engine, name):
    return feed_states(engine)[name]


def incidents(engine):
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(models.Incident))


def test_poll_follows_pages_and_the_cursor(engine, tmp_path, httpserver):
    httpserver.expect_request("/feed", query_string="").respond_with_json(page(["a", "b"], "c1", more=True))
    httpserver.expect_request("/feed", query_string="since=c1").respond_with_json(page(["c"], "c2"))
    httpserver.expect_request("/feed", query_string="since=c2").respond_with_json(page([], "c2"))
    runner = runner_for(engine, tmp_path, httpserver.url_for("/feed"))
    first = runner.poll()
    assert (first.report.fetched, first.report.stored) == (3, 3)
    assert state(engine, "src").cursor == "c2" and state(engine, "src").status == "ok"
    again = runner.poll()
    assert again.report.fetched == 0 and incidents(engine) == 3


def test_failing_source_goes_degraded_then_down_while_others_go_on(engine, tmp_path, httpserver):
    httpserver.expect_request("/bad").respond_with_data("boom", status=500)
    httpserver.expect_request("/good").respond_with_json(page(["g1"], "x"))
    bad = runner_for(engine, tmp_path, httpserver.url_for("/bad"), name="bad")
    good = runner_for(engine, tmp_path, httpserver.url_for("/good"), name="good")
    statuses = []
    for _ in range(3):
        bad.backoff_until = 0.0  # poll again now rather than wait out the backoff
        bad.run_job()
        good.run_job()
        statuses.append(state(engine, "bad").status)
    assert statuses == ["degraded", "degraded", "down"]
    st = state(engine, "bad")
    assert st.consecutive_failures == 3 and st.last_error.startswith("HTTP 500 from http://")
    assert state(engine, "good").status == "ok" and incidents(engine) == 1


def test_garbage_and_timeouts_count_as_failures(engine, tmp_path, httpserver):
    httpserver.expect_request("/garbage").respond_with_data("<html>not json", content_type="text/html")

    def slow(_request):
        time.sleep(2)  # a source that answers too late, not test synchronisation
        from werkzeug import Response
        return Response("{}")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    garbage = runner_for(engine, tmp_path, httpserver.url_for("/garbage"), name="garbage")
    slowpoke = runner_for(engine, tmp_path, httpserver.url_for("/slow"), name="slow", timeout_seconds=0.3)
    garbage.run_job()
    slowpoke.run_job()
    assert state(engine, "garbage").status == "degraded" and "JSONDecodeError" in state(engine, "garbage").last_error
    assert state(engine, "slow").status == "degraded" and "timed out" in state(engine, "slow").last_error


def test_a_failed_feed_backs_off(engine, tmp_path, httpserver):
    httpserver.expect_request("/bad").respond_with_data("down", status=503)
    bad = runner_for(engine, tmp_path, httpserver.url_for("/bad"), name="bad")
    bad.run_job()
    first_backoff = bad.backoff_until - time.monotonic()
    bad.run_job()  # still backing off: no request, no new failure
    assert state(engine, "bad").consecutive_failures == 1
    assert first_backoff > 1.0 and first_backoff <= 2.0  # interval × 2 for the first failure
    bad.backoff_until = 0.0
    bad.run_job()
    assert bad.backoff_until - time.monotonic() > 3.0  # doubled


def test_one_poller_per_feed_on_postgresql(tmp_path, httpserver, pg_url):
    from ioc.store.db import make_engine
    from ioc.store.migrate import upgrade

    engine = make_engine(pg_url)
    upgrade(engine)
    httpserver.expect_request("/feed").respond_with_json(page(["a"], "c1"))
    runner = runner_for(engine, tmp_path, httpserver.url_for("/feed"))
    with feed_lock(engine, "src") as held:  # another worker is polling this feed
        assert held
        result = runner.poll()
        assert result.skipped == "another worker is polling this feed"
        assert incidents(engine) == 0
    assert runner.poll().report.stored == 1
    engine.dispose()


def test_jobs_run_once_at_a_time_coalesced_with_grace(engine, tmp_path, httpserver):
    runner = runner_for(engine, tmp_path, httpserver.url_for("/feed"))
    runner.feed.interval_seconds = 30
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule(scheduler, [runner])
    job = scheduler.get_job("feed:src")
    assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 30)
    assert job.trigger.interval == timedelta(seconds=30) and job.trigger.jitter == 3.0


def test_mqtt_gauges_reach_the_store_through_the_worker(engine, tmp_path):
    import secrets
    import socket

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tests.conftest import unavailable

    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as exc:
        unavailable(f"MQTT broker at 127.0.0.1:1883 is unreachable: {exc}")
    root = f"ioc-test-{secrets.token_hex(4)}"
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    feed = FeedSettings(name="gauges", kind="mqtt_sensors", topic=f"{root}/+/reading", client_id=root,
                        interval_seconds=1)
    settings = Settings(feeds=[feed])
    settings.demo.enabled = False
    runner = FeedRunner(Runtime(settings, engine, pack), feed, DivisionIndex(pack.divisions()))
    try:
        assert runner.poll().report.readings == 0  # connects and subscribes
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
        publisher.connect("127.0.0.1", 1883)
        publisher.loop_start()
        for minute in range(3):
            body = {"sensor_id": "G9", "value": 0.1 * minute, "unit": "m",
                    "at": (T0 + timedelta(minutes=minute)).isoformat(), "warning_level": 1.0}
            publisher.publish(f"{root}/G9/reading", json.dumps(body), qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
        deadline, stored = time.monotonic() + 10, 0
        while stored < 3 and time.monotonic() < deadline:  # the broker delivers asynchronously
            stored += runner.poll().report.readings
        assert stored == 3
        assert runner.poll().report.fetched == 0  # acknowledged after the commit: not delivered again
        with transaction(engine) as s:
            assert s.scalar(select(func.count()).select_from(models.Reading)) == 3
    finally:
        runner.close()
