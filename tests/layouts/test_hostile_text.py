"""Script payloads in every free-text field render inert: on every page, as the role that uses it,
and in the briefing PDF.

Each field gets its own payload, which would set ``window.__xss`` to the field's name if a page
ever put it into the DOM as HTML (and, the CSP blocking inline handlers, would log a console
error). One store for the module; each browser test visits its pages in one session.
(User names cannot carry a payload: accounts take only ``[A-Za-z0-9_.-]``.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from ioc.chain.accounts import add_user
from ioc.chain.actions import Actor
from ioc.chain.major_events import create as create_event
from ioc.read import briefing_doc
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow
from tests.factories import add_incident
from tests.layouts.pages import PASSWORD, sign_in, small_city, start

pytestmark = pytest.mark.browser


def payload(field: str) -> str:
    return f"<img src=x onerror=\"window.__xss='{field}'\"><script>window.__xss='{field}'</script>"


FIELDS = ("title", "description", "address", "feedback", "headline", "call_sign", "event")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    runtime, build = small_city(tmp_path_factory.mktemp("hostile"), mp)
    engine, now = runtime.engine, utcnow()
    add_user(engine, "op1", "operator", PASSWORD)
    iid = add_incident(engine, runtime.pack, title=payload("title"), description=payload("description"),
                       address=payload("address"), priority="P1", reported_at=now - timedelta(minutes=10))
    add_incident(engine, runtime.pack, title=payload("title"), priority="P1", status="dispatched",
                 reported_at=now - timedelta(minutes=20))
    with transaction(engine) as s:
        s.add(models.WorkOrder(incident_id=iid, org_code="OFF-T01", status="accepted", feedback=payload("feedback")))
        # sent before the P1 was reported, so it is in force on that P1's day even when midnight falls between
        s.add(models.Alert(feed="cap", sender="gd", identifier="X1", sent=now - timedelta(minutes=30), status="Actual",
                           msg_type="Alert", event="暴雨", severity="Severe", headline=payload("headline"),
                           expires=now + timedelta(hours=3)))
        s.get(models.Unit, "PC-00").call_sign = payload("call_sign")
    event = create_event(engine, Actor("zhang", "duty_officer"), payload("event"), "typhoon",
                         now - timedelta(hours=1))
    app = build()
    yield app, runtime, iid, event.id, now
    mp.undo()


def settled(dash_duo) -> None:
    """Wait until the page's callbacks are done (no component is loading)."""
    until(lambda: dash_duo.driver.execute_script(
        "return document.readyState === 'complete' && !document.querySelector('[data-dash-is-loading=\"true\"]')"),
        timeout=10)


def visit(dash_duo, path: str, shows: tuple[str, ...] = ()) -> None:
    """Open ``path``; wait for the fields it shows to appear as literal text; no script ran, no error."""
    driver = dash_duo.driver
    driver.get(f"{dash_duo.server_url}{path}")
    dash_duo.wait_for_element("#lang-switch")
    for field in shows:
        until(lambda f=field: payload(f) in driver.find_element(By.TAG_NAME, "body").text, timeout=10,
              msg=f"{path}: the {field} payload is not shown as text")
    settled(dash_duo)
    assert driver.execute_script("return window.__xss") is None, path
    assert dash_duo.get_logs() == [], path


def test_payloads_are_text_on_the_duty_pages(dash_duo, hostile):
    app, _, iid, event_id, _ = hostile
    start(dash_duo, app)
    sign_in(dash_duo, "zhang", "/", lang="en")
    visit(dash_duo, "/")
    visit(dash_duo, f"/incident/{iid}", ("title", "description", "address", "feedback"))
    visit(dash_duo, "/board", ("title",))
    visit(dash_duo, "/kanban", ("title",))
    visit(dash_duo, f"/dispatch?incident={iid}", ("title", "call_sign"))
    visit(dash_duo, "/events", ("event",))
    visit(dash_duo, f"/events/{event_id}", ("event", "title"))
    visit(dash_duo, "/wall", ("title", "headline"))


def test_payloads_are_text_for_leaders_handlers_and_admins(dash_duo, hostile):
    app, *_ = hostile
    start(dash_duo, app)
    sign_in(dash_duo, "chen", "/summary")
    visit(dash_duo, "/summary")
    dash_duo.driver.get(f"{dash_duo.server_url}/logout")
    sign_in(dash_duo, "hand1", "/orders", lang="en")
    visit(dash_duo, "/orders", ("title",))
    dash_duo.driver.get(f"{dash_duo.server_url}/logout")
    sign_in(dash_duo, "admin1", "/feeds")
    visit(dash_duo, "/feeds")


def test_payloads_are_literal_text_in_the_briefing(hostile):
    _, runtime, *_, now = hostile
    # the briefing of the day the P1 was reported, on the fixture's clock: a run may cross the city's midnight
    day = (now - timedelta(minutes=10)).astimezone(runtime.pack.timezone).date()
    document = briefing_doc.render(runtime.engine, runtime.pack, day, "en", "pdf", now=now)
    text = briefing_doc.text_of(document)
    for field in ("title", "headline", "event"):  # long titles are cut with …: the tag's start is there
        assert f"<img src=x onerror=\"window.__xss='{field}'\">" in text, (field, text)
