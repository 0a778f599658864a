"""The work-order inbox in headless Chromium: handlers answer their own org's orders (and no one
else's), duty officers check the ones they handed out — in both languages, text shown as text."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from dash.testing.wait import until as wait_until
from PIL import Image

from ioc.chain import workorders
from ioc.chain.actions import Actor
from ioc.read import orders
from ioc.store import models
from ioc.store.models import utcnow
from tests.factories import add_incident, load
from tests.layouts.pages import sign_in, small_city, start

pytestmark = pytest.mark.browser

OFFICER = Actor("zhang", "duty_officer")
HAND1 = Actor("hand1", "handler", "OFF-T01")
HAND2 = Actor("hand2", "handler", "OFF-T02")
SCRIPTY = "<b>井盖</b><script>window.pwned=1</script>"


@pytest.fixture
def inbox(tmp_path, monkeypatch):
    """OFF-T01 has a fresh order and one whose sign-off ran out; OFF-T02 has one (with a scripty title)."""
    runtime, build = small_city(tmp_path, monkeypatch)
    e, pack, now = runtime.engine, runtime.pack, utcnow()
    fresh = add_incident(e, pack, title="路灯不亮", status="acknowledged", priority="P3", reported_at=now)
    late = add_incident(e, pack, title="占道经营", status="acknowledged", priority="P3",
                        reported_at=now - timedelta(hours=3))
    other = add_incident(e, pack, title=SCRIPTY, status="acknowledged", priority="P3", reported_at=now,
                         district_code="T02", org_code="OFF-T02")
    [a] = workorders.create(e, OFFICER, fresh, ["OFF-T01"], pack=pack)
    [b] = workorders.create(e, OFFICER, late, ["OFF-T01"], pack=pack, now=now - timedelta(hours=3))
    [c] = workorders.create(e, Actor("liu", "duty_officer"), other, ["OFF-T02"], pack=pack)
    return runtime, build(), {"fresh": a.id, "late": b.id, "other": c.id}


def png_file(tmp_path, name="photo.png"):
    path = tmp_path / name
    Image.new("RGB", (40, 30), (30, 160, 90)).save(path, format="PNG")
    return path


def open_order(dash_duo, order_id):
    dash_duo.find_element(f"a[href='/orders?order={order_id}']").click()
    dash_duo.wait_for_element(".order-detail-title")


def click(dash_duo, action):
    dash_duo.find_element(f".btn-{action}").click()


def test_handler_sees_his_orgs_orders_with_clocks_and_signs_for_one(dash_duo, inbox):
    runtime, app, ids = inbox
    start(dash_duo, app)
    sign_in(dash_duo, "hand1", "/orders")
    dash_duo.wait_for_element(".order-card")
    listed = dash_duo.find_element("#orders-list").text
    assert "路灯不亮" in listed and "占道经营" in listed and "井盖" not in listed
    late = dash_duo.find_element(f"a[href='/orders?order={ids['late']}']").text
    assert "签收超时" in late and "已超时 1 小时" in late
    fresh = dash_duo.find_element(f"a[href='/orders?order={ids['fresh']}']").text
    assert "签收时限" in fresh and "剩余 1 小时 59 分" in fresh or "剩余 2 小时 0 分" in fresh
    open_order(dash_duo, ids["fresh"])
    click(dash_duo, "accept")
    dash_duo.wait_for_text_to_equal("#orders-message", "已签收。")
    dash_duo.wait_for_contains_text(f"a[href='/orders?order={ids['fresh']}']", "已签收")
    assert load(runtime.engine, models.WorkOrder, ids["fresh"]).status == "accepted"
    assert dash_duo.get_logs() == []


def test_handler_returns_asks_for_time_and_reports_back_with_a_photo_in_english(dash_duo, inbox, tmp_path):
    runtime, app, ids = inbox
    workorders.accept(runtime.engine, HAND1, ids["fresh"], None)
    start(dash_duo, app)
    sign_in(dash_duo, "hand1", f"/orders?order={ids['late']}", lang="en")
    dash_duo.wait_for_element(".btn-return")
    click(dash_duo, "return")  # no reason given
    dash_duo.wait_for_text_to_equal("#orders-message", "Give a reason for returning the order.")
    dash_duo.find_element("textarea").send_keys("Not in our town: the stall is across the river")
    click(dash_duo, "return")
    dash_duo.wait_for_text_to_equal("#orders-message", "Returned; the centre will hand it elsewhere.")
    assert load(runtime.engine, models.WorkOrder, ids["late"]).return_reason.startswith("Not in our town")
    wait_until(lambda: not dash_duo.find_elements(f"a[href='/orders?order={ids['late']}']"), 10)  # it left the list

    open_order(dash_duo, ids["fresh"])
    html_as_png = tmp_path / "evil.png"
    html_as_png.write_text("<html><script>alert(1)</script></html>")
    dash_duo.find_element(".order-upload input[type=file]").send_keys(str(html_as_png))
    dash_duo.wait_for_contains_text("#orders-photo-name", "evil.png")
    dash_duo.find_element("textarea[id*='feedback']").send_keys("Lamp replaced")
    click(dash_duo, "report_feedback")
    dash_duo.wait_for_contains_text("#orders-message", "not a JPEG, PNG or WebP image")
    dash_duo.find_element(".order-upload input[type=file]").send_keys(str(png_file(tmp_path)))
    dash_duo.wait_for_contains_text("#orders-photo-name", "photo.png")
    click(dash_duo, "report_feedback")
    dash_duo.wait_for_text_to_equal("#orders-message", "Feedback reported.")
    dash_duo.wait_for_element(".order-photos img")
    # Served back as the image it is: once loaded it is 40 pixels wide (a broken image stays 0).
    wait_until(lambda: dash_duo.driver.execute_script(
        "const img = document.querySelector('.order-photos img'); return img.complete && img.naturalWidth") == 40, 10)
    assert dash_duo.find_element(".order-feedback").text == "Lamp replaced"

    until = (utcnow() + timedelta(days=3)).astimezone(runtime.pack.timezone)
    dash_duo.find_element("input[type=datetime-local]").send_keys(until.strftime("%m%d%Y\t%I%M%p"))
    dash_duo.find_element("textarea[id*='ext_reason']").send_keys("Parts on order")
    click(dash_duo, "request_extension")
    dash_duo.wait_for_text_to_equal("#orders-message", "Extension asked; awaiting approval.")
    order = load(runtime.engine, models.WorkOrder, ids["fresh"])
    assert order.status == "extended" and order.extension_until.astimezone(runtime.pack.timezone).day == until.day
    assert dash_duo.get_logs() == []


def test_another_orgs_order_is_neither_shown_nor_answerable(dash_duo, inbox, tmp_path):
    runtime, app, ids = inbox
    workorders.accept(runtime.engine, HAND2, ids["other"], None)
    workorders.report_feedback(runtime.engine, HAND2, ids["other"], None, "已盖好",
                               photo=png_file(tmp_path).read_bytes())
    [photo_id] = orders.order(runtime.engine, HAND2, ids["other"]).photo_ids
    start(dash_duo, app)
    sign_in(dash_duo, "hand1", f"/orders?order={ids['other']}")
    dash_duo.wait_for_text_to_equal("#orders-info", "没有这张工单，或您无权查看。")
    assert "井盖" not in dash_duo.find_element(".orders-page").text

    # Forged requests with hand1's session: the photo, and the mark-done callback for the order.
    cookies = {c["name"]: c["value"] for c in dash_duo.driver.get_cookies()}
    site = httpx.Client(base_url=dash_duo.server_url, cookies=cookies)
    assert site.get(f"/orders/photo/{photo_id}").status_code == 404
    forged = site.post("/_dash-update-component", json={
        "output": "..orders-message.children...orders-changed.data..",
        "outputs": [{"id": "orders-message", "property": "children"}, {"id": "orders-changed", "property": "data"}],
        "inputs": [[{"id": {"type": "order-act", "action": "mark_done"}, "property": "n_clicks", "value": 1}]],
        "changedPropIds": ['{"action":"mark_done","type":"order-act"}.n_clicks'],
        "state": [[], [], [], {"id": "orders-selected", "property": "data", "value": ids["other"]},
                  {"id": "orders-version", "property": "data", "value": None},
                  {"id": "orders-changed", "property": "data", "value": 0},
                  {"id": "lang", "property": "data", "value": "en"}],
    })
    assert forged.status_code == 200
    assert "You may not do this" in json.dumps(forged.json())
    assert load(runtime.engine, models.WorkOrder, ids["other"]).status == "handling"
    assert dash_duo.get_logs() == []


def test_duty_officer_checks_the_orders_he_handed_out(dash_duo, inbox, tmp_path):
    runtime, app, ids = inbox
    e = runtime.engine
    workorders.accept(e, HAND1, ids["fresh"], None)
    workorders.report_feedback(e, HAND1, ids["fresh"], None, "已更换灯泡", photo=png_file(tmp_path).read_bytes())
    workorders.mark_done(e, HAND1, ids["fresh"], None)
    workorders.accept(e, HAND1, ids["late"], None)
    workorders.request_extension(e, HAND1, ids["late"], None, utcnow() + timedelta(days=5), "等待配件")
    start(dash_duo, app)
    sign_in(dash_duo, "zhang", "/orders")
    dash_duo.wait_for_element(".order-card")
    listed = dash_duo.find_element("#orders-list").text
    assert "路灯不亮" in listed and "待核查" in listed and "井盖" not in listed  # liu handed that one out
    dash_duo.find_element(".orders-scope input[value=all]").click()
    dash_duo.wait_for_contains_text("#orders-list", SCRIPTY)  # shown as the text it is
    assert dash_duo.driver.execute_script("return window.pwned") is None

    open_order(dash_duo, ids["fresh"])
    assert dash_duo.find_element(".order-feedback").text == "已更换灯泡"
    click(dash_duo, "send_back")
    dash_duo.wait_for_text_to_equal("#orders-message", "请填写理由。")
    dash_duo.find_element("textarea").send_keys("灯仍不亮")
    click(dash_duo, "send_back")
    dash_duo.wait_for_text_to_equal("#orders-message", "已返工。")
    assert load(e, models.WorkOrder, ids["fresh"]).rework_count == 1
    dash_duo.wait_for_contains_text(f"a[href='/orders?order={ids['fresh']}']", "处置中")  # the list has caught up

    open_order(dash_duo, ids["late"])
    dash_duo.wait_for_contains_text("#orders-info", "等待配件")
    click(dash_duo, "approve_extension")
    dash_duo.wait_for_text_to_equal("#orders-message", "已批准延期。")
    assert load(e, models.WorkOrder, ids["late"]).status == "handling"
    assert dash_duo.get_logs() == []


def test_a_leader_is_told_the_page_is_not_his(dash_duo, inbox):
    _, app, _ = inbox
    start(dash_duo, app)
    sign_in(dash_duo, "chen", "/orders", lang="en")
    dash_duo.wait_for_contains_text(".empty-state", "This page is for department and town handlers")
    assert dash_duo.get_logs() == []
