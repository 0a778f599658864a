"""Feed health in headless Chromium: an admin reads each feed's state, opens its rejected records
(raw payloads shown as text), pauses, resumes and asks for a replay — in both languages."""

from __future__ import annotations

import json

import pytest

from feeds.base import RawItem
from ioc.chain import feedcontrol
from ioc.chain.actions import Actor
from ioc.config import FeedSettings
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.intake.worker import record_success
from ioc.records import IncidentRecord, Reject
from tests.layouts.pages import sign_in, small_city, start

pytestmark = pytest.mark.browser

POLICE = FeedSettings(name="police", kind="cad", url="http://127.0.0.1:9/none", interval_seconds=30)
EVIL = '{"id": "b1", "note": "<img src=x onerror=window.pwned=1>"}'


def parse(item):
    data = json.loads(item.payload)
    if "note" in data:
        raise Reject("no reported_at in the record")
    return [IncidentRecord(**data)]


@pytest.fixture
def fed(tmp_path, monkeypatch):
    runtime, build = small_city(tmp_path, monkeypatch, feeds=[POLICE])
    ctx = FeedContext.for_feed("police", "cad", "wgs84", runtime.pack)
    good = {"external_id": "a1", "channel": "110", "category": "crime", "reported_at": "2026-07-01T09:00:00+08:00",
            "lon": 113.75, "lat": 22.95}
    ingest_batch(runtime.engine, ctx, [RawItem("a1", json.dumps(good)), RawItem("b1", EVIL)], parse)
    record_success(runtime.engine, POLICE)
    return runtime, build()


def test_admin_reads_rejected_records_and_pauses_and_replays_a_feed(dash_duo, fed):
    runtime, app = fed
    start(dash_duo, app)
    sign_in(dash_duo, "admin1", "/feeds")
    dash_duo.wait_for_element(".feed-row")
    row = dash_duo.find_element(".feed-row").text
    assert "police" in row and "正常" in row and "1 条" in row
    dash_duo.find_element(".feed-row .btn-link").click()
    dash_duo.wait_for_text_to_equal(".rejected-payload", EVIL)   # the raw payload, as text
    assert dash_duo.find_element(".rejected-reason").text == "no reported_at in the record"
    assert dash_duo.driver.execute_script("return window.pwned") is None

    dash_duo.find_element(".btn-pause").click()
    dash_duo.wait_for_text_to_equal("#feeds-message", "已暂停 police。")
    dash_duo.wait_for_contains_text(".feed-row", "已暂停 · admin1")
    assert feedcontrol.is_paused(runtime.engine, "police")
    dash_duo.find_element(".btn-replay").click()
    dash_duo.wait_for_contains_text(".feed-row", "重放排队中")
    assert feedcontrol.replay_wanted(runtime.engine, "police")
    assert dash_duo.get_logs() == []


def test_admin_resumes_a_paused_feed_in_english(dash_duo, fed):
    runtime, app = fed
    feedcontrol.pause(runtime.engine, Actor("admin1", "admin"), "police")
    start(dash_duo, app)
    sign_in(dash_duo, "admin1", "/feeds", lang="en")
    dash_duo.wait_for_contains_text(".feed-row", "Paused · admin1")
    assert "Last good poll" in dash_duo.find_element(".feeds-grid").text
    dash_duo.find_element(".btn-resume").click()
    dash_duo.wait_for_text_to_equal("#feeds-message", "police resumed.")
    dash_duo.wait_for_contains_text(".feed-row", "OK")
    assert not feedcontrol.is_paused(runtime.engine, "police")
    assert dash_duo.get_logs() == []


def test_the_feeds_page_is_for_admins_only(dash_duo, fed):
    _, app = fed
    start(dash_duo, app)
    sign_in(dash_duo, "zhang", "/feeds")
    dash_duo.wait_for_text_to_equal(".empty-state", "本页供系统管理员使用。请用管理员账号登录。")
    assert dash_duo.get_logs() == []
