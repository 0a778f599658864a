"""City replay in headless Chromium: a duty officer opens a typhoon night, moves through it with
the slider and the keys, plays it, and reads the counts, markers and warnings at each moment — in
both languages; a quiet day says so; a leader finds it in the navigation, an operator does not."""

from __future__ import annotations

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from ioc.chain.accounts import add_user
from tests.factories import NIGHT, add_alert, night_at, typhoon_night
from tests.layouts.pages import PASSWORD, sign_in, small_city, start

pytestmark = pytest.mark.browser

SCRIPTY = "<img src=x onerror=window.pwned=1>暴雨"


@pytest.fixture(scope="module")
def replay_app(tmp_path_factory):
    """One app for the module: the small city with the typhoon night of 1 July 2026."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        runtime, build = small_city(tmp_path_factory.mktemp("replay"), monkeypatch)
        typhoon_night(runtime.engine, runtime.pack)
        add_alert(runtime.engine, "odd", "blue", night_at(22), night_at(22, 30), event=SCRIPTY)
        add_user(runtime.engine, "wang", "operator", PASSWORD)
        yield build()


def seconds(hh: int, mm: int) -> int:
    return hh * 3600 + mm * 60


def move_slider(dash_duo, value: int) -> None:
    """Where a drag of the slider's handle lands (set as the slider sets it)."""
    dash_duo.driver.execute_script("window.dash_clientside.set_props('replay-slider', {value: arguments[0]});", value)


def text(dash_duo, selector: str) -> str:
    return dash_duo.driver.execute_script("const e = document.querySelector(arguments[0]); return e && e.textContent;",
                                          selector)


def incidents_on_map(dash_duo) -> int:
    """Incident markers drawn, counting what each cluster holds."""
    return dash_duo.driver.execute_script(
        "let n = document.querySelectorAll('#replay-map .replay-incident').length;"
        "document.querySelectorAll('#replay-map .incident-cluster').forEach(c => n += parseInt(c.textContent, 10));"
        "return n;")


def counts(dash_duo) -> dict[str, str]:
    return {k: text(dash_duo, f"#replay-count-{k}") for k in ("open", "P1", "P2", "P3", "P4", "units", "alerts")}


@pytest.mark.parametrize("lang, clock_at_2116, words", [
    ("zh-CN", "2026/07/01 21:16:00", ["在办事件", "出动力量", "生效预警", "播放"]),
    ("en", "01/07/2026, 21:16:00", ["Open incidents", "Units out", "Warnings in force", "Play"]),
])
def test_duty_officer_replays_a_typhoon_night(dash_duo, replay_app, lang, clock_at_2116, words):
    start(dash_duo, replay_app)
    sign_in(dash_duo, "zhang", f"/replay?day={NIGHT.isoformat()}", lang)
    dash_duo.wait_for_element("#replay-map .leaflet-pane")
    page = dash_duo.find_element(".replay-page").text
    assert all(w in page for w in words), page
    # Midnight: only the old complaint is open.
    until(lambda: counts(dash_duo)["open"] == "1", timeout=10)
    assert counts(dash_duo) == {"open": "1", "P1": "0", "P2": "0", "P3": "0", "P4": "1", "units": "0", "alerts": "0"}
    until(lambda: incidents_on_map(dash_duo) == 1, timeout=10)

    # 21:16: the underpass and the second call about it, a car on its way, two warnings up.
    move_slider(dash_duo, seconds(21, 16))
    dash_duo.wait_for_text_to_equal("#replay-clock", clock_at_2116)
    assert counts(dash_duo) == {"open": "3", "P1": "0", "P2": "1", "P3": "1", "P4": "1", "units": "1", "alerts": "2"}
    until(lambda: incidents_on_map(dash_duo) == 3, timeout=10)
    assert len(dash_duo.find_elements("#replay-map .replay-unit")) == 1
    warnings = dash_duo.find_element("#replay-warnings").text
    assert "台风红色预警" in warnings and "暴雨橙色预警" in warnings and "暴雨黄色预警" not in warnings

    # → one minute on; the merged call leaves the map at 21:20.
    dash_duo.find_element("body").send_keys(Keys.ARROW_RIGHT)
    dash_duo.wait_for_text_to_equal("#replay-clock", clock_at_2116.replace("21:16", "21:17"))
    for _ in range(3):
        dash_duo.find_element("body").send_keys(Keys.ARROW_RIGHT)
    dash_duo.wait_for_text_to_equal("#replay-clock", clock_at_2116.replace("21:16", "21:20"))
    until(lambda: counts(dash_duo)["open"] == "2", timeout=10)
    until(lambda: incidents_on_map(dash_duo) == 2, timeout=10)

    # 22:10: a warning whose headline is markup shows as text.
    move_slider(dash_duo, seconds(22, 10))
    dash_duo.wait_for_contains_text("#replay-warnings", SCRIPTY)
    assert dash_duo.driver.execute_script("return window.pwned") is None

    # Space plays at 60×: the replayed time runs on; space again pauses it.
    move_slider(dash_duo, seconds(23, 31))
    dash_duo.wait_for_text_to_equal("#replay-clock", clock_at_2116.replace("21:16", "23:31"))
    assert counts(dash_duo)["P1"] == "2"   # people trapped, and the fire from the CAD feed
    dash_duo.find_element("body").send_keys(Keys.SPACE)
    dash_duo.wait_for_text_to_equal("#replay-play", words[3].replace("播放", "暂停").replace("Play", "Pause"))
    until(lambda: text(dash_duo, "#replay-clock") > clock_at_2116.replace("21:16", "23:33"), timeout=20)
    dash_duo.find_element("body").send_keys(Keys.SPACE)
    dash_duo.wait_for_text_to_equal("#replay-play", words[3])
    move_slider(dash_duo, seconds(23, 51))
    dash_duo.wait_for_text_to_equal("#replay-clock", clock_at_2116.replace("21:16", "23:51"))
    assert counts(dash_duo)["units"] == "1"   # the car at the trapped people
    assert dash_duo.get_logs() == []


def test_a_quiet_day_says_to_pick_another(dash_duo, replay_app):
    start(dash_duo, replay_app)
    sign_in(dash_duo, "chen", "/replay?day=2026-03-01", "en")
    dash_duo.wait_for_text_to_equal("#replay-empty", "No incidents on this day — pick another day.")
    assert dash_duo.find_element("#replay-empty").is_displayed()
    assert "City replay" in dash_duo.find_element("#nav").text       # leaders have it in the navigation
    # The last 24 hours (the default): the old noise complaint from June is still open.
    dash_duo.find_element("#replay-last24").click()
    dash_duo.wait_for_contains_text("#replay-window", "Last 24 hours")
    until(lambda: not dash_duo.find_element("#replay-empty").is_displayed(), timeout=10)
    assert counts(dash_duo)["P4"] == "1"
    assert dash_duo.get_logs() == []


def test_an_operator_has_no_replay(dash_duo, replay_app):
    start(dash_duo, replay_app)
    sign_in(dash_duo, "wang", "/replay", "zh-CN")
    dash_duo.wait_for_contains_text(".empty-state", "城市回放供值班长和领导使用")
    assert "城市回放" not in dash_duo.find_element("#nav").text
