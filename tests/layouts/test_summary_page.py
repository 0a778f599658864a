"""The summary in headless Chromium: a leader signs in, reads yesterday's 解决率 by town, drills
down to the grid cells and the board, switches language and downloads the day's briefing."""

from __future__ import annotations

import base64
from datetime import datetime, time, timedelta, timezone

import pytest
from selenium.webdriver.common.by import By

from ioc.chain.accounts import add_user
from ioc.config import Settings
from ioc.read import kpi
from ioc.read.briefing_doc import text_of
from ioc.runtime import Runtime
from ioc.store.packload import load_pack_into_store
from tests.conftest import free_port
from tests.factories import add_incident, make_small_pack

pytestmark = pytest.mark.browser

# Yesterday's incidents per town: (division, grid cell, callback marks).
TOWNS = {
    "T01": ("T01-0001", ["satisfied"] * 9 + ["unresolved"] * 3),      # 9 / 12 = 75.0 %
    "T02": ("T02-0005", ["satisfied"] * 10 + ["dissatisfied"] * 1),   # 11 / 11 = 100.0 %
    "T03": ("T03-0002", ["unresolved"] * 6 + ["satisfied"] * 4),      # 4 / 10 = 40.0 %
    "T04": ("T04-0003", ["satisfied"] * 2),                           # too few to rank
}


@pytest.fixture
def summary_app(tmp_path, monkeypatch):
    from app import create_app
    from ioc.store.db import make_engine
    from ioc.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    upgrade(engine)
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    yesterday = datetime.now(pack.timezone).date() - timedelta(days=1)
    start = datetime.combine(yesterday, time(8), pack.timezone)
    for code, (grid, marks) in TOWNS.items():
        for i, mark in enumerate(marks):
            add_incident(engine, pack, reported_at=start + timedelta(minutes=37 * i), district_code=code,
                         org_code=f"OFF-{code}", grid_code=grid, satisfaction=mark, priority="P1" if i == 0 else "P3",
                         title=f"{code} 第{i}件 <b>不是HTML</b>")
    add_user(engine, "lead1", "leader", "leader-pass-1")
    settings = Settings()
    settings.demo.enabled = False
    settings.web.public_read = False
    settings.web.secret_key = "test-secret"
    settings.briefing.folder = str(tmp_path / "briefings")
    runtime = Runtime(settings, engine, pack, secret_key="test-secret")
    monkeypatch.setattr("app.open_city", lambda _settings: runtime)
    app = create_app(settings)
    app.yesterday = yesterday
    app.runtime = runtime
    return app


def sign_in(dash_duo, app) -> None:
    dash_duo.start_server(app, navigate=False, port=free_port())  # "/" is behind the sign-in form
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/login?next=/summary")
    dash_duo.find_element("input[name=username]").send_keys("lead1")
    dash_duo.find_element("input[name=password]").send_keys("leader-pass-1")
    dash_duo.find_element("button[type=submit]").click()
    dash_duo.wait_for_element("#division-table")


def table_rows(dash_duo, selector: str) -> list[list[str]]:
    rows = dash_duo.find_element(selector).find_elements(By.CSS_SELECTOR, "tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_a_leader_sees_yesterdays_resolution_rate_by_town_at_once(dash_duo, summary_app):
    sign_in(dash_duo, summary_app)
    assert dash_duo.find_element("#summary-preset input:checked").get_attribute("value") == "yesterday"
    dash_duo.wait_for_contains_text("#kpi-resolution_rate", "74.3")  # 26 of 35 marks
    assert "26/35 件" in dash_duo.find_element("#kpi-resolution_rate").text
    assert dash_duo.find_element("#kpi-volume .tile-value").text == "35"
    rows = table_rows(dash_duo, "#division-table")
    assert [r[:3] for r in rows] == [["1", "乙镇", "100.0 %"], ["2", "甲街道", "75.0 %"], ["3", "丙镇", "40.0 %"]]
    assert "丁镇" in dash_duo.find_element(".rank-side .note").text  # listed as too few to rank
    assert "<b>" not in dash_duo.find_element("#summary-body").get_attribute("innerHTML").replace("&lt;b&gt;", "")
    assert dash_duo.get_logs() == []


def test_drill_down_from_city_to_grid_cells_to_the_board(dash_duo, summary_app):
    sign_in(dash_duo, summary_app)
    dash_duo.find_element("#division-table tbody tr:nth-child(2) button").click()
    dash_duo.wait_for_text_to_equal(".crumb-here", "甲街道")
    dash_duo.wait_for_element("#grid-table")
    assert table_rows(dash_duo, "#grid-table")[0][:3] == ["T01-0001", "12", "75.0 %"]
    link = dash_duo.find_element("#grid-table a").get_attribute("href")
    day = summary_app.yesterday.isoformat()
    assert "/board?" in link and "division=T01" in link and "grid=T01-0001" in link and f"since={day}T00" in link
    assert dash_duo.find_element("#kpi-volume .tile-value").text == "12"
    dash_duo.find_element(".crumbs .link-button").click()  # back up to the city
    dash_duo.wait_for_element("#division-table")
    assert dash_duo.get_logs() == []


def test_the_summary_speaks_english(dash_duo, summary_app):
    sign_in(dash_duo, summary_app)
    dash_duo.find_element("#lang-switch").click()
    dash_duo.wait_for_contains_text("#summary-controls, .summary-controls", "Yesterday")
    dash_duo.wait_for_element("#division-table")
    dash_duo.wait_for_contains_text(".summary-where h3", "Resolution rate by division")
    assert [r[1] for r in table_rows(dash_duo, "#division-table")] == ["Yi", "Jia", "Bing"]
    assert "26 of 35" in dash_duo.find_element("#kpi-resolution_rate").text
    assert "Crime" in dash_duo.find_element("#by-category").text
    assert dash_duo.get_logs() == []


def test_the_days_briefing_downloads_as_a_pdf_with_the_kpi_figures(dash_duo, summary_app):
    sign_in(dash_duo, summary_app)
    href = dash_duo.find_element("#briefing-pdf").get_attribute("href")
    assert href.endswith(f"/briefing/{summary_app.yesterday.isoformat()}.pdf?lang=zh-CN")
    fetched = dash_duo.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"}).then(async r => {
            const bytes = new Uint8Array(await r.arrayBuffer());
            let s = ""; bytes.forEach(b => s += String.fromCharCode(b));
            done({type: r.headers.get("content-type"), body: btoa(s)});
        });""", href)
    assert fetched["type"] == "application/pdf"
    text = text_of(base64.b64decode(fetched["body"]))
    rt = summary_app.runtime
    day = summary_app.yesterday
    frm = datetime.combine(day, time(), rt.pack.timezone).astimezone(timezone.utc)
    rates = kpi.rates(rt.engine, frm, frm + timedelta(days=1))[kpi.ALL]
    volume = sum(n for _, n in kpi.counts(rt.engine, frm, frm + timedelta(days=1), None))
    lines = text.splitlines()
    assert lines[lines.index("事件量") + 1] == f"{volume} 件"
    for label, rate in (("解决率", rates.resolution), ("满意率", rates.satisfaction), ("响应率", rates.response)):
        assert lines[lines.index(label) + 1] == f"{rate.value * 100:.1f} %"
        assert f"{rate.hits}/{rate.total} 件" in lines[lines.index(label) + 3]
    assert "P1 共 4 件" in text
    assert dash_duo.get_logs() == []


def test_clicking_a_town_on_the_choropleth_drills_down(dash_duo, summary_app):
    sign_in(dash_duo, summary_app)
    dash_duo.wait_for_element(".summary-map path.leaflet-interactive")
    towns = dash_duo.find_elements(".summary-map path.leaflet-interactive")
    assert len(towns) == 4
    towns[0].click()
    dash_duo.wait_for_element("#grid-table")
    assert dash_duo.find_element(".crumb-here").text in {"甲街道", "乙镇", "丙镇", "丁镇"}
    assert dash_duo.get_logs() == []
