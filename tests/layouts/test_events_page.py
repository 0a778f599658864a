"""Major events in headless Chromium: a leader opens a typhoon, reads its board (map, list, KPIs
against the city, units committed, warnings) and closes it — in both languages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ioc.chain import major_events
from ioc.chain.actions import Actor
from ioc.read import events
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow
from tests.factories import add_incident
from tests.layouts.pages import sign_in, small_city, start

pytestmark = pytest.mark.browser

LEADER = Actor("chen", "leader")
SCRIPTY = "<img src=x onerror=window.pwned=1>树倒压车"


@pytest.fixture
def stormy(tmp_path, monkeypatch):
    """Three incidents in T01 (one with a unit on it), one in T02, and a typhoon warning in force."""
    runtime, build = small_city(tmp_path, monkeypatch)
    e, pack, now = runtime.engine, runtime.pack, utcnow()
    ids = [add_incident(e, pack, title=title, category="rescue", priority=p, reported_at=now - timedelta(minutes=m),
                        lon=113.75, lat=22.95 + 0.01 * n)
           for n, (title, p, m) in enumerate([(SCRIPTY, "P1", 30), ("积水", "P2", 20), ("广告牌松动", "P3", 10)])]
    add_incident(e, pack, title="乙镇盗窃", reported_at=now - timedelta(minutes=15), district_code="T02",
                 lon=113.85, lat=22.95)
    with transaction(e) as s:
        s.add(models.Assignment(incident_id=ids[0], unit_id="PC-01", status="ON_SCENE", dispatched_at=now))
        s.add(models.Alert(feed="cap", sender="dg-weather", identifier="T1", sent=now, status="Actual",
                           msg_type="Alert", event="台风", severity="Severe", headline="台风红色预警"))
    return runtime, build(), ids


def test_leader_opens_a_typhoon_and_reads_its_board(dash_duo, stormy):
    runtime, app, ids = stormy
    start(dash_duo, app)
    sign_in(dash_duo, "chen", "/events")
    dash_duo.wait_for_contains_text(".events-list", "暂无重大事件")
    dash_duo.find_element("#event-open").click()
    dash_duo.wait_for_text_to_equal("#event-open-message", "请填写事件名称。")
    dash_duo.find_element("#event-name").send_keys("台风“海葵”")
    start_at = (utcnow() - timedelta(hours=1)).astimezone(runtime.pack.timezone)
    dash_duo.find_element("#event-start").send_keys(start_at.strftime("%m%d%Y\t%I%M%p"))
    dash_duo.select_dcc_dropdown("#event-divisions", "甲街道")
    dash_duo.select_dcc_dropdown("#event-categories", "抢险救援")
    dash_duo.find_element("#event-open").click()
    dash_duo.wait_for_contains_text("#event-open-message", "已启动：台风“海葵”")
    dash_duo.wait_for_contains_text(".events-list", "台风“海葵”")
    dash_duo.find_element("#event-open-message a").click()

    dash_duo.wait_for_contains_text(".event-incidents", "事件内警情（最新 3 起）")
    listed = dash_duo.find_element(".event-incidents").text
    assert SCRIPTY in listed and "积水" in listed and "乙镇盗窃" not in listed
    assert dash_duo.driver.execute_script("return window.pwned") is None
    kpis = dash_duo.find_element(".event-kpis").text
    assert "事件数 3 起 4 起" in kpis and "占全市 75.0% 100%" in kpis
    assert "巡01" in dash_duo.find_element(".event-units").text
    assert "台风红色预警" in dash_duo.find_element(".event-warnings").text
    assert len(dash_duo.find_elements(".event-map path.leaflet-interactive")) >= 3  # the incidents' circles
    dash_duo.find_element("#event-close").click()
    dash_duo.wait_for_text_to_equal("#event-message", "事件已结束。")
    dash_duo.wait_for_contains_text("#event-head", "已结束")
    kept = events.events(runtime.engine)[0]
    assert kept.status == "closed" and list(kept.categories) == ["rescue"] and list(kept.district_codes) == ["T01"]
    assert dash_duo.get_logs() == []


def test_event_board_in_english_and_a_missing_event(dash_duo, stormy):
    runtime, app, _ = stormy
    event = major_events.create(runtime.engine, LEADER, "Typhoon Haikui", "typhoon",
                                utcnow() - timedelta(hours=1), district_codes=["T01"])
    start(dash_duo, app)
    sign_in(dash_duo, "zhang", f"/events/{event.id}", lang="en")
    dash_duo.wait_for_contains_text(".event-incidents", "Incidents in the event (newest 3)")
    assert "Typhoon" in dash_duo.find_element("#event-head").text
    assert "Units committed (1)" in dash_duo.find_element(".event-units").text
    dash_duo.driver.get(f"{dash_duo.server_url}/events/999")
    dash_duo.wait_for_contains_text(".empty-state", "No such major event.")
    assert dash_duo.get_logs() == []


def test_a_handler_reads_but_cannot_open_or_close(dash_duo, stormy):
    runtime, app, _ = stormy
    event = major_events.create(runtime.engine, LEADER, "台风“海葵”", "typhoon", utcnow() - timedelta(hours=1))
    start(dash_duo, app)
    sign_in(dash_duo, "hand1", f"/events/{event.id}")
    dash_duo.wait_for_contains_text(".event-incidents", "事件内警情（最新 4 起）")
    assert dash_duo.find_elements("#event-close") == [] and dash_duo.find_elements("#event-open") == []
    assert dash_duo.get_logs() == []
