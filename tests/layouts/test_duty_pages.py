"""The duty officer's pages in headless Chromium, signed in through /login: the console sends a
new P1's nearest unit with the keyboard and the board shows it; the incident page acts, shows
refusals and stale versions; a viewer sees no controls and forged requests are refused; text
from feeds is text."""

import csv
import io
import json
import urllib.request
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.keys import Keys

from ioc.chain import dispatch, workflow
from ioc.chain.accounts import add_user
from ioc.config import Settings
from ioc.read import board
from ioc.read.lists import IncidentFilter
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.conftest import free_port
from tests.factories import OFFICER, add_incident, load, make_small_pack

pytestmark = pytest.mark.browser
XSS = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"


@pytest.fixture
def city(tmp_path, monkeypatch):
    """The app on the small city: an old P3, a new P1 robbery, users duty1 / duty2 / wall1."""
    from app import create_app

    engine = make_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    upgrade(engine)
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    from datetime import timedelta

    from ioc.store.models import utcnow
    now = utcnow()
    p3 = add_incident(engine, pack, priority="P3", title="噪音扰民 <script>window.pwned = 3</script>",
                      reported_at=now - timedelta(minutes=30))
    p1 = add_incident(engine, pack, priority="P1", title="持刀抢劫", lon=113.86, lat=23.06,
                      reported_at=now - timedelta(seconds=20), description=XSS)
    for name, role in (("duty1", "duty_officer"), ("duty2", "duty_officer"), ("wall1", "viewer")):
        add_user(engine, name, role, f"{name}-password")
    settings = Settings()
    settings.demo.enabled = False
    settings.web.public_read = True  # pages open to look at (dash_duo waits for one); acting needs a user
    settings.web.secret_key = "test-secret"
    runtime = Runtime(settings, engine, pack, secret_key="test-secret")
    monkeypatch.setattr("app.open_city", lambda _settings: runtime)
    app = create_app(settings)
    app.ids = {"p1": p1, "p3": p3}
    app.engine = engine
    return app


def sign_in(dash_duo, user: str, lang: str = "zh-CN") -> None:
    dash_duo.driver.get(dash_duo.server_url + "/login")
    dash_duo.find_element("input[name=username]").send_keys(user)
    dash_duo.find_element("input[name=password]").send_keys(f"{user}-password")
    dash_duo.find_element("button[type=submit]").click()
    dash_duo.wait_for_element("#lang-switch")
    if lang == "en":
        dash_duo.wait_for_text_to_equal("#lang-switch", "English")
        dash_duo.find_element("#lang-switch").click()
        dash_duo.wait_for_text_to_equal("#lang-switch", "中文")


def open_page(dash_duo, path: str, ready: str) -> None:
    dash_duo.driver.get(dash_duo.server_url + path)
    dash_duo.wait_for_element(ready, timeout=20)


@pytest.mark.parametrize("lang, sent", [("zh-CN", "已派往事件"), ("en", "sent to incident")])
def test_a_new_p1_goes_out_in_three_keys_and_the_board_shows_its_unit(dash_duo, city, lang, sent):
    p1 = city.ids["p1"]
    nearest = dispatch.recommend(city.engine, p1)[0]
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1", lang)
    open_page(dash_duo, "/dispatch", ".recs")
    dash_duo.wait_for_contains_text(".dc-item-selected", f"#{p1}")  # P1 first, though the P3 is older
    dash_duo.wait_for_contains_text(".dc-head", "持刀抢劫")
    # the unit board counts statuses in the reader's words, not the CAD's codes
    dash_duo.wait_for_contains_text(".unit-group", "可用 " if lang == "zh-CN" else "available ")
    assert "AVAILABLE" not in dash_duo.find_element("#dc-unit-board").text
    body = dash_duo.find_element("body")
    body.send_keys("1")                                             # take the first recommendation
    dash_duo.wait_for_contains_text("#dc-confirm-text", nearest.call_sign)
    body.send_keys(Keys.ENTER)                                      # confirm
    dash_duo.wait_for_contains_text("#dc-message", sent)
    assert load(city.engine, models.Incident, p1).status == "dispatched"
    open_page(dash_duo, "/board", ".ag-row")
    dash_duo.wait_for_contains_text(".ag-center-cols-container", nearest.call_sign)
    row = next(r for r in dash_duo.find_elements(".ag-center-cols-container .ag-row") if f"#{p1}" in r.text)
    assert ("已派遣" if lang == "zh-CN" else "dispatched") in row.text and nearest.call_sign in row.text
    assert dash_duo.get_logs() == []


def test_the_loser_of_a_race_for_a_unit_sees_why_and_the_next_unit(dash_duo, city):
    p1, p3 = city.ids["p1"], city.ids["p3"]
    first = dispatch.recommend(city.engine, p1)[0]
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1")
    open_page(dash_duo, "/dispatch", ".recs")
    dash_duo.wait_for_contains_text(".recs", first.call_sign)
    dispatch.dispatch(city.engine, OFFICER, p3, [first.unit_id])    # another officer is quicker
    dash_duo.find_element(f"#{_send_id(first.unit_id)}").click()
    dash_duo.wait_for_contains_text("#dc-message", f"力量 {first.call_sign} 已在事件 {p3}（已派出）")
    next_unit = dispatch.recommend(city.engine, p1)[0]
    dash_duo.wait_for_contains_text(".recs tbody tr:first-child", next_unit.call_sign)
    assert first.call_sign not in dash_duo.find_element(".recs").text
    assert dash_duo.get_logs() == []


def _send_id(unit_id: str) -> str:
    """The CSS id Dash gives a pattern-matching id {"type": "dc-send", "unit": ...} (keys sorted)."""
    raw = json.dumps({"type": "dc-send", "unit": unit_id}, separators=(",", ":"), sort_keys=True)
    return "".join(f"\\{c}" if not c.isalnum() and c not in "-_" else c for c in raw)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_incident_page_acts_refuses_with_reasons_and_reloads_a_stale_view(dash_duo, city, lang):
    p1, p3 = city.ids["p1"], city.ids["p3"]
    en = lang == "en"
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1", lang)
    open_page(dash_duo, f"/incident/{p1}", ".timeline")
    assert "<script>" in dash_duo.find_element(".inc-description").text  # shown as text
    assert dash_duo.driver.execute_script("return window.pwned === undefined")
    dash_duo.find_element("textarea").send_keys("已电话联系报警人" if not en else "called back")
    workflow.merge(city.engine, OFFICER, p3, p1, None, None)        # someone else changes it meanwhile
    dash_duo.find_element(_act("acknowledge")).click()
    dash_duo.wait_for_contains_text(".msg-stale", "Changed by someone else" if en else "已被他人修改")
    assert dash_duo.find_element("textarea").get_attribute("value") in ("已电话联系报警人", "called back")
    dash_duo.wait_for_contains_text("#inc-body", "噪音扰民")         # the reloaded page has the merged report
    dash_duo.find_element(_act("acknowledge")).click()
    dash_duo.wait_for_contains_text(".msg-ok", "Acknowledge" if en else "受理")
    dash_duo.wait_for_contains_text(".facts", "acknowledged" if en else "已受理")
    assert not dash_duo.find_element(_act("acknowledge")).is_displayed()
    dash_duo.find_element(_act("cancel")).click()                   # no reason given
    dash_duo.wait_for_contains_text(".msg-refused", "Give a reason." if en else "请填写理由。")
    dash_duo.find_element(_act("note")).click()
    dash_duo.wait_for_contains_text(".timeline", "called back" if en else "已电话联系报警人")
    assert load(city.engine, models.Incident, p1).status == "acknowledged"
    assert dash_duo.get_logs() == []


def _act(action: str) -> str:
    return f"#{_pattern({'action': action, 'type': 'inc-act'})}"


def _pattern(ident: dict) -> str:
    raw = json.dumps(ident, separators=(",", ":"), sort_keys=True)
    return "".join(f"\\{c}" if not c.isalnum() and c not in "-_" else c for c in raw)


def test_a_viewer_sees_no_controls_and_forged_actions_are_refused(dash_duo, city):
    p1 = city.ids["p1"]
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "wall1")
    open_page(dash_duo, f"/incident/{p1}", ".timeline")
    assert dash_duo.find_elements(".incident-actions button") == []
    assert "只读" in dash_duo.find_element(".incident-actions").text
    open_page(dash_duo, "/dispatch", ".recs")
    assert dash_duo.find_elements(".dc-key-first") == [] and dash_duo.find_elements(".recs button") == []
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in dash_duo.driver.get_cookies())
    deps = json.loads(_get(dash_duo.server_url + "/_dash-dependencies", cookie))
    output = next(d["output"] for d in deps if "inc-message.children" in d["output"])
    forged = _post(dash_duo.server_url + "/_dash-update-component", cookie, {
        "output": output,
        "outputs": [{"id": "inc-message", "property": "children"}, {"id": "inc-body", "property": "children"},
                    {"id": "inc-version", "property": "data"},
                    [{"id": {"action": "acknowledge", "type": "inc-act"}, "property": "hidden"}]],
        "inputs": [[{"id": {"action": "acknowledge", "type": "inc-act"}, "property": "n_clicks", "value": 1}], [],
                   {"id": "inc-tick", "property": "n_intervals", "value": None}],
        "changedPropIds": ['{"action":"acknowledge","type":"inc-act"}.n_clicks'],
        "state": [{"id": "inc-id", "property": "data", "value": p1},
                  {"id": "inc-version", "property": "data", "value": 1}, [],
                  {"id": "lang", "property": "data", "value": "en"}],
    })
    assert "Your role may not do this." in forged  # the page says it in the reader's language
    api = _post(dash_duo.server_url + f"/api/v1/incidents/{p1}/acknowledge", cookie, {"version": 1})
    assert "may not incident acknowledge" in api
    assert load(city.engine, models.Incident, p1).status == "new"
    assert dash_duo.get_logs() == []


def _get(url: str, cookie: str) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie})) as resp:
        return resp.read().decode()


def _post(url: str, cookie: str, body: dict) -> str:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Cookie": cookie})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()


def test_board_filters_in_sql_and_exports_exactly_its_rows(dash_duo, city):
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1", "en")
    open_page(dash_duo, "/board", ".ag-row")
    dash_duo.wait_for_text_to_equal("#board-count", "2 matching")
    dash_duo.wait_for_contains_text(".ag-center-cols-container", "<script>window.pwned = 3</script>")
    assert dash_duo.driver.execute_script("return window.pwned === undefined")
    dash_duo.find_element("#board-q").send_keys("抢劫" + Keys.ENTER)
    dash_duo.wait_for_text_to_equal("#board-count", "1 matching")
    dash_duo.wait_for_contains_text(".ag-center-cols-container", "持刀抢劫")
    href = dash_duo.find_element("#board-csv").get_attribute("href")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in dash_duo.driver.get_cookies())
    with urllib.request.urlopen(urllib.request.Request(href, headers={"Cookie": cookie})) as resp:
        text = resp.read().decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    expected = [r["id"] for r in board.walk(city.engine, IncidentFilter(q="抢劫", status=list(workflow.OPEN)),
                                            board.Sort())]
    assert [int(r[0]) for r in rows] == expected == [city.ids["p1"]]
    reported = load(city.engine, models.Incident, city.ids["p1"]).reported_at
    assert rows[0][header.index("reported_at")] == f"{reported.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M:%S}"
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize("lang, count, linked_to", [("zh-CN", "共 {n} 条", "已并入 #{id}"),
                                                    ("en", "{n} matching", "Linked to #{id}")])
def test_the_board_shows_linked_reports_when_asked_and_exports_them_too(dash_duo, city, lang, count, linked_to):
    p3 = city.ids["p3"]
    report = add_incident(city.engine, source="hotline", channel="12345", status="fused", parent_id=p3,
                          title="楼上噪音又来了", reported_at=load(city.engine, models.Incident, p3).reported_at)
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1", lang)
    open_page(dash_duo, "/board", ".ag-row")
    dash_duo.wait_for_text_to_equal("#board-count", count.format(n=2))
    assert "楼上噪音又来了" not in dash_duo.find_element(".ag-center-cols-container").text
    dash_duo.find_element("#board-linked input").click()
    dash_duo.wait_for_text_to_equal("#board-count", count.format(n=3))
    dash_duo.wait_for_contains_text(".ag-center-cols-container", "楼上噪音又来了")
    row = next(r for r in dash_duo.find_elements(".ag-center-cols-container .ag-row") if f"#{report}" in r.text)
    assert linked_to.format(id=p3) in row.text
    dash_duo.driver.save_screenshot(f"/tmp/board_linked_{lang}.png")
    href = dash_duo.find_element("#board-csv").get_attribute("href")
    assert "linked=1" in href
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in dash_duo.driver.get_cookies())
    with urllib.request.urlopen(urllib.request.Request(href, headers={"Cookie": cookie})) as resp:
        exported = [int(r[0]) for r in list(csv.reader(io.StringIO(resp.read().decode("utf-8-sig"))))[1:]]
    assert sorted(exported) == sorted([p3, city.ids["p1"], report])
    dash_duo.find_element("#board-linked input").click()
    dash_duo.wait_for_text_to_equal("#board-count", count.format(n=2))
    assert dash_duo.get_logs() == []


def test_a_saved_view_brings_back_its_filters(dash_duo, city):
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1", "en")
    open_page(dash_duo, "/board", ".ag-row")
    dash_duo.find_element("#board-q").send_keys("抢劫" + Keys.ENTER)
    dash_duo.wait_for_text_to_equal("#board-count", "1 matching")
    dash_duo.find_element("#board-view-name").send_keys("robberies")
    dash_duo.find_element("#board-view-save").click()
    dash_duo.wait_for_contains_text("#board-view-msg", "Done: Save view", timeout=30)
    open_page(dash_duo, "/board", ".ag-row")
    dash_duo.wait_for_text_to_equal("#board-count", "2 matching")
    dash_duo.select_dcc_dropdown("#board-view", value="robberies")
    dash_duo.wait_for_text_to_equal("#board-count", "1 matching")
    assert dash_duo.find_element("#board-q").get_attribute("value") == "抢劫"
    assert dash_duo.get_logs() == []


DRAG = """
const card = document.querySelector('.kanban-card[data-id="' + arguments[0] + '"]');
const column = document.querySelector('.kanban-column[data-status="' + arguments[1] + '"]');
const dt = new DataTransfer();
card.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
column.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
column.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
"""


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_dragging_a_card_on_the_kanban_performs_the_step(dash_duo, city, lang):
    p1 = city.ids["p1"]
    en = lang == "en"
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "duty1", lang)
    open_page(dash_duo, "/kanban", f'.kanban-column[data-status="new"] .kanban-card[data-id="{p1}"]')
    dash_duo.driver.execute_script(DRAG, p1, "acknowledged")
    dash_duo.wait_for_element(f'.kanban-column[data-status="acknowledged"] .kanban-card[data-id="{p1}"]')
    dash_duo.wait_for_contains_text(".msg-ok", "Acknowledge" if en else "受理")
    assert load(city.engine, models.Incident, p1).status == "acknowledged"
    dash_duo.driver.execute_script(DRAG, p1, "dispatched")
    dash_duo.wait_for_contains_text(".msg-refused", "dispatch console" if en else "调度台")
    assert load(city.engine, models.Incident, p1).status == "acknowledged"
    assert dash_duo.get_logs() == []


def test_a_viewer_dragging_a_card_is_refused(dash_duo, city):
    p1 = city.ids["p1"]
    dash_duo.start_server(city, port=free_port())
    sign_in(dash_duo, "wall1", "en")
    open_page(dash_duo, "/kanban", f'.kanban-card[data-id="{p1}"]')
    dash_duo.driver.execute_script(DRAG, p1, "acknowledged")
    dash_duo.wait_for_contains_text(".msg-refused", "Your role may not do this.")
    assert load(city.engine, models.Incident, p1).status == "new"
    assert dash_duo.get_logs() == []
