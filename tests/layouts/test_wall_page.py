"""The wall screen in headless Chromium at 1920×1080: an operator signs in and watches it; a kiosk
link shows it with no sign-in and no controls; new incidents arrive without a reload; a pan holds."""

from datetime import timedelta

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains

from ioc.chain import major_events
from ioc.chain.accounts import add_user, create_kiosk_link
from ioc.chain.actions import Actor
from ioc.city.pack import load_pack
from ioc.config import load_settings
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.models import utcnow
from ioc.store.packload import load_pack_into_store
from tests.conftest import free_port
from tests.factories import add_incident

pytestmark = pytest.mark.browser

SECRET = "wall-test-secret"
XSS = '<img src=x onerror="window.__xss = 1">'
LIVE_TICK_MS = 2000  # the live layers' tick here (10 s in the app): the same refresh, sooner
REFRESH_S = 30  # the longest wait for one refresh, with room for a loaded machine


@pytest.fixture(autouse=True)
def quick_live_tick(monkeypatch):
    monkeypatch.setattr("layouts.map_page.LIVE_REFRESH_MS", LIVE_TICK_MS)


@pytest.fixture
def store(tmp_path):
    settings = load_settings(env={"IOC_DATABASE_URL": f"sqlite:///{tmp_path / 'ioc.db'}"},
                             default_file=tmp_path / "none.toml")
    settings.web.public_read = False
    settings.web.secret_key = SECRET
    engine = make_engine(settings.store.url)
    upgrade(engine)
    load_pack_into_store(engine, load_pack(settings.city.pack_dir()))
    add_user(engine, "wang", "operator", "operator-password-1")
    return settings, engine


@pytest.fixture
def wall_app(store):
    from app import create_app

    return create_app(store[0])


def p1_tile(dash_duo) -> str:
    return dash_duo.driver.execute_script(  # by script: the tiles are redrawn under a held element
        "const e = document.querySelector('.prio-tile.prio-P1 .wall-tile-value'); return e && e.textContent")


def full_hd(driver) -> None:
    """A 1920×1080 viewport (the window is bigger by its own frame)."""
    driver.set_window_size(1920, 1080)
    w, h = driver.execute_script("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
    driver.set_window_size(1920 + w, 1080 + h)


def sign_in_and_open_wall(dash_duo, lang: str = "zh-CN"):
    full_hd(dash_duo.driver)
    dash_duo.driver.get(dash_duo.server.url + "/login?next=/wall")
    dash_duo.find_element("input[name=username]").send_keys("wang")
    dash_duo.find_element("input[name=password]").send_keys("operator-password-1")
    dash_duo.find_element("button[type=submit]").click()
    dash_duo.wait_for_element(".wall-tiles")
    if lang == "en":
        dash_duo.find_element("#lang-switch").click()
        dash_duo.wait_for_contains_text(".wall-tiles", "Open P1")
    until(lambda: p1_tile(dash_duo) != "–", timeout=REFRESH_S)


def add_p1(engine, title: str = "仓库起火", lon: float = 113.75, lat: float = 23.02) -> int:
    code = engine.connect().exec_driver_sql("select code from district order by code limit 1").scalar()
    return add_incident(engine, title=title, priority="P1", category="fire", district_code=code, org_code=None,
                        lon=lon, lat=lat)


@pytest.mark.parametrize("lang, words", [("zh-CN", ["在办 P1", "今日响应率", "可调派力量", "大屏"]),
                                         ("en", ["Open P1", "Response rate today", "Units available", "Wall"])])
def test_operator_sees_the_wall_in_both_languages_readable_across_the_room(dash_duo, wall_app, store, lang, words):
    add_p1(store[1])
    dash_duo.server(wall_app, port=free_port())  # not start_server: it would wait on the sign-in form
    sign_in_and_open_wall(dash_duo, lang)
    text = dash_duo.find_element(".wall").text + dash_duo.find_element("#nav").text
    assert all(w in text for w in words)
    assert p1_tile(dash_duo) == "1"
    sizes = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('.wall-tile-value')].map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert min(sizes) >= 48
    assert dash_duo.find_element("#wall-follow").is_displayed()
    assert dash_duo.get_logs() == []


def test_an_incident_arrives_within_one_refresh_without_reload_and_its_title_is_text(dash_duo, wall_app, store):
    dash_duo.server(wall_app, port=free_port())  # not start_server: it would wait on the sign-in form
    sign_in_and_open_wall(dash_duo)
    assert p1_tile(dash_duo) == "0"
    dash_duo.driver.execute_script("window.__same_page = true")
    incident_id = add_p1(store[1], title=XSS)
    until(lambda: p1_tile(dash_duo) == "1", timeout=REFRESH_S)
    dash_duo.wait_for_contains_text("#wall-ticker", XSS, timeout=REFRESH_S)
    on_map = dash_duo.driver.execute_script("""
        const ids = [];
        window.iocMaps.slice(-1)[0].eachLayer(l => {
            const f = l.feature;
            if (f && f.properties.id !== undefined && f.properties.priority) ids.push(f.properties.id);
        });
        return ids;""")
    assert incident_id in on_map
    assert dash_duo.driver.execute_script("return window.__same_page === true && window.__xss === undefined")
    assert dash_duo.find_elements("#wall-ticker img") == []
    assert dash_duo.get_logs() == []


def test_a_pan_by_hand_holds_the_view_through_a_refresh(dash_duo, wall_app, store):
    dash_duo.server(wall_app, port=free_port())  # not start_server: it would wait on the sign-in form
    sign_in_and_open_wall(dash_duo)
    center = "const c = window.iocMaps.slice(-1)[0].getCenter(); return [c.lat, c.lng];"
    settled = dash_duo.driver.execute_script(center)
    ActionChains(dash_duo.driver).move_to_element(dash_duo.find_element(".wall-map .leaflet-container")) \
        .click_and_hold().move_by_offset(-220, 140).release().perform()
    panned = dash_duo.driver.execute_script(center)
    assert panned != settled
    assert "held" in dash_duo.find_element("#wall-follow").get_attribute("class")
    add_p1(store[1])
    until(lambda: p1_tile(dash_duo) == "1", timeout=REFRESH_S)
    assert dash_duo.driver.execute_script(center) == panned
    dash_duo.find_element("#wall-follow").click()
    until(lambda: dash_duo.driver.execute_script(center) != panned, timeout=10)
    # The shading by open incidents per 10,000 residents and the density layer, by their buttons.
    assert not dash_duo.find_element("#wall-legend").is_displayed() and density_cells(dash_duo) == 0
    dash_duo.find_element("#wall-per10k").click()
    dash_duo.wait_for_contains_text("#wall-legend", "每万人在办事件")
    assert dash_duo.find_element("#wall-per10k").get_attribute("aria-pressed") == "true"
    dash_duo.find_element("#wall-density").click()
    until(lambda: density_cells(dash_duo) == 1, timeout=10)  # one incident, one cell
    dash_duo.find_element("#wall-density").click()
    until(lambda: density_cells(dash_duo) == 0, timeout=10)
    assert dash_duo.get_logs() == []


def density_cells(dash_duo) -> int:
    return dash_duo.driver.execute_script("""
        let n = 0;
        window.iocMaps.slice(-1)[0].eachLayer(l => { if (l.feature && l.feature.properties.share) n++; });
        return n;""")


def shown_incidents(dash_duo) -> list:
    return sorted(dash_duo.driver.execute_script("""
        const ids = [];
        window.iocMaps.slice(-1)[0].eachLayer(l => {
            const f = l.feature;
            if (f && f.properties.id !== undefined && f.properties.priority) ids.push(f.properties.id);
        });
        return ids;"""))


def test_a_kiosk_link_shows_the_wall_without_sign_in_controls_or_cursor(dash_duo, store):
    """No controls: the playlist sets what the wall shows. The open typhoon (its area, its category's
    incidents, divisions shaded per 10,000 residents), then one category with the density layer."""
    from app import create_app
    from ioc.config import WallView

    settings, engine = store
    humen = engine.connect().exec_driver_sql("select code from district where name_zh = '虎门镇'").scalar()
    fire = add_p1(engine, title="仓库起火", lon=113.67, lat=22.82)
    theft = add_incident(engine, title="入室盗窃", priority="P3", category="crime", district_code=humen,
                         org_code=None, lon=113.95, lat=23.02)
    major_events.create(engine, Actor("chen", "leader"), "台风“海葵”", "typhoon", utcnow() - timedelta(hours=1),
                        categories=["fire"], district_codes=[humen])
    settings.wall.views = [WallView(kind="major_event", seconds=15, layers=["per_10k"]),
                           WallView(kind="category", category="crime", seconds=600, layers=["density"])]
    token = create_kiosk_link(engine, Actor("zhang", "duty_officer"), "hall-left", SECRET)
    dash_duo.server(create_app(settings), port=free_port())  # not start_server: it would wait on the sign-in form
    full_hd(dash_duo.driver)
    dash_duo.driver.get(f"{dash_duo.server.url}/wall?kiosk={token}")
    dash_duo.wait_for_element(".wall.kiosk")
    until(lambda: p1_tile(dash_duo) != "–", timeout=REFRESH_S)
    assert "/login" not in dash_duo.driver.current_url
    assert not dash_duo.find_element(".topbar").is_displayed()
    assert dash_duo.find_elements("#wall-follow") == []
    assert not dash_duo.find_element(".leaflet-control-container").is_displayed()
    cursor = dash_duo.driver.execute_script("return getComputedStyle(document.querySelector('.wall-map')).cursor")
    assert cursor == "none"
    dash_duo.wait_for_text_to_equal("#wall-view-name", "台风“海葵”")
    until(lambda: shown_incidents(dash_duo) == [fire], timeout=REFRESH_S)
    assert dash_duo.find_element("#wall-legend").is_displayed()
    assert dash_duo.driver.execute_script("""
        let n = 0; window.iocMaps.slice(-1)[0].eachLayer(l => { if (l.feature && l.feature.properties.name) n++; });
        return n;""") == 1  # the event's area
    dash_duo.wait_for_text_to_equal("#wall-view-name", "刑事治安", timeout=45)
    until(lambda: shown_incidents(dash_duo) == [theft], timeout=10)
    until(lambda: p1_tile(dash_duo) == "0" and density_cells(dash_duo) == 1, timeout=REFRESH_S)  # crime only
    assert not dash_duo.find_element("#wall-legend").is_displayed()
    assert dash_duo.get_logs() == []


def test_a_new_p1_interrupts_the_rotation_with_its_card_then_the_rotation_resumes(dash_duo, store):
    from app import create_app
    from ioc.config import WallView

    settings, engine = store
    humen = engine.connect().exec_driver_sql("select code from district where name_zh = '虎门镇'").scalar()
    settings.wall.views = [WallView(kind="division", code=humen, seconds=600), WallView(kind="city", seconds=600)]
    settings.wall.p1_card_seconds = 4
    dash_duo.server(create_app(settings), port=free_port())  # not start_server: it would wait on the sign-in form
    sign_in_and_open_wall(dash_duo)
    dash_duo.wait_for_text_to_equal("#wall-view-name", "虎门镇")
    zoom = "return window.iocMaps.slice(-1)[0].getZoom()"
    add_p1(engine, title=XSS, lon=113.80, lat=23.05)
    dash_duo.wait_for_contains_text("#wall-card", XSS, timeout=REFRESH_S)
    assert dash_duo.find_element("#wall-card").is_displayed()
    until(lambda: dash_duo.driver.execute_script(zoom) == 16, timeout=10)
    until(lambda: not dash_duo.find_element("#wall-card").is_displayed(), timeout=15)
    dash_duo.wait_for_text_to_equal("#wall-view-name", "虎门镇")
    until(lambda: dash_duo.driver.execute_script(zoom) < 16, timeout=10)
    assert dash_duo.driver.execute_script("return window.__xss === undefined")
    assert dash_duo.get_logs() == []
