"""The app in headless Chromium: the map draws from the store, speaks both languages, answers clicks."""

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains

from ioc.city.pack import load_pack
from ioc.config import load_settings
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.conftest import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def city_app(tmp_path):
    from app import create_app

    settings = load_settings(env={"IOC_DATABASE_URL": f"sqlite:///{tmp_path / 'ioc.db'}"},
                             default_file=tmp_path / "none.toml")
    engine = make_engine(settings.store.url)
    upgrade(engine)
    load_pack_into_store(engine, load_pack(settings.city.pack_dir()))
    return create_app(settings)


def labels(dash_duo) -> list[str]:
    return [el.text for el in dash_duo.find_elements(".division-label")]


def test_map_draws_divisions_and_layers_without_tiles(dash_duo, city_app):
    dash_duo.start_server(city_app, port=free_port())
    dash_duo.wait_for_text_to_equal("#nav .nav-link", "城市地图")
    dash_duo.wait_for_element(".division-label")
    assert len(labels(dash_duo)) == 33
    assert "南城街道" in labels(dash_duo)
    layer_names = dash_duo.find_element(".leaflet-control-layers").text
    assert "派出所 (45)" in layer_names and "易涝点 (45)" in layer_names
    assert dash_duo.find_elements(".leaflet-tile") == []  # no tile server configured, none requested
    assert "1,046.7" in dash_duo.find_element(".side").text  # 10,466,625 people in 万
    assert dash_duo.get_logs() == []


def test_language_switch_translates_frame_and_map(dash_duo, city_app):
    dash_duo.start_server(city_app, port=free_port())
    dash_duo.wait_for_element(".division-label")
    dash_duo.find_element("#lang-switch").click()
    dash_duo.wait_for_text_to_equal("#nav .nav-link", "City map")
    dash_duo.wait_for_contains_text(".leaflet-control-layers", "Police stations (45)")
    assert "Nancheng" in labels(dash_duo)
    dash_duo.driver.refresh()  # the choice is remembered
    dash_duo.wait_for_text_to_equal("#nav .nav-link", "City map")
    assert dash_duo.get_logs() == []


def test_clicking_a_division_shows_its_facts(dash_duo, city_app):
    dash_duo.start_server(city_app, port=free_port())
    dash_duo.wait_for_element(".division-label")
    label = next(el for el in dash_duo.find_elements(".division-label") if el.text == "虎门镇")
    ActionChains(dash_duo.driver).move_to_element(label).click().perform()
    dash_duo.wait_for_text_to_equal(".division-name", "虎门镇")
    info = dash_duo.find_element("#division-info").text
    assert "441900121" in info and "838,144" in info
    assert dash_duo.get_logs() == []


XSS = '<img src=x onerror="window.__xss = 1">'


def test_feed_text_in_tooltips_is_shown_as_text_and_runs_nothing(dash_duo, city_app, tmp_path):
    from ioc.store import models
    from ioc.store.db import transaction
    from tests.factories import add_incident

    engine = make_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    code = engine.connect().exec_driver_sql("select code from district limit 1").scalar()
    incident_id = add_incident(engine, title=XSS, priority="P1", district_code=code, org_code=None,
                               lon=113.75, lat=23.02)
    with transaction(engine) as s:
        unit = s.query(models.Unit).first()
        unit.call_sign, unit.status, unit.lon, unit.lat = XSS, "EN_ROUTE", 113.76, 23.03
    dash_duo.start_server(city_app, port=free_port())
    dash_duo.wait_for_element(".division-label")
    open_tooltips = lambda: dash_duo.driver.execute_script("""
        const map = (window.iocMaps || [null]).slice(-1)[0];
        map.setView([23.02, 113.75], 18, {animate: false});
        const texts = [];
        map.eachLayer(l => {
            const p = l.feature && l.feature.properties;
            if (p && l.getTooltip() && ((p.priority && p.id === arguments[0]) || p.call_sign === arguments[1])) {
                l.openTooltip(); texts.push(l.getTooltip().getElement().textContent);
            }
        });
        return texts;""", incident_id, XSS)
    shown = until(lambda: len(open_tooltips()) == 2 and open_tooltips(), timeout=10)
    assert "P1 · 刑事治安" in shown and f"{XSS} · EN_ROUTE" in shown
    assert dash_duo.find_elements(".leaflet-tooltip img") == []
    assert dash_duo.driver.execute_script("return window.__xss === undefined")
    assert dash_duo.get_logs() == []
