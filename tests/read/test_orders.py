"""The work-order inbox read model: who sees which orders, their running clocks, timed-out
sign-offs and feedback photos — on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ioc.chain import workorders
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Forbidden, NotFound
from ioc.read import orders
from tests.factories import OFFICER, add_incident, minutes

TOWN = Actor("li", "handler", "OFF-T01")
OTHER_TOWN = Actor("sun", "handler", "OFF-T02")
OTHER_OFFICER = Actor("liu", "duty_officer")


def png(size=(4, 3)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def handed(engine, pack):
    """Two incidents: one handed to OFF-T01 by zhang, one to OFF-T02 by liu (both at minute 10)."""
    first = add_incident(engine, pack, title="路灯不亮", status="acknowledged", priority="P3")
    second = add_incident(engine, pack, title="井盖缺失", status="acknowledged", priority="P3")
    [mine] = workorders.create(engine, OFFICER, first, ["OFF-T01"], pack=pack, now=minutes(10))
    [theirs] = workorders.create(engine, OTHER_OFFICER, second, ["OFF-T02"], pack=pack, now=minutes(10))
    return mine.id, theirs.id


def test_handler_sees_only_his_orgs_orders(engine, pack, handed):
    mine, theirs = handed
    assert [v.id for v in orders.inbox(engine, TOWN, pack, now=minutes(20))] == [mine]
    assert [v.id for v in orders.inbox(engine, OTHER_TOWN, pack, now=minutes(20))] == [theirs]
    with pytest.raises(NotFound, match=f"work order {theirs} does not exist"):
        orders.order(engine, TOWN, theirs, pack)
    with pytest.raises(Forbidden, match="no org"):
        orders.inbox(engine, Actor("x", "handler"), pack)


def test_duty_officer_sees_the_orders_he_handed_out_or_all(engine, pack, handed):
    mine, theirs = handed
    assert [v.id for v in orders.inbox(engine, OFFICER, pack, now=minutes(20))] == [mine]
    assert {v.id for v in orders.inbox(engine, OFFICER, pack, scope="all", now=minutes(20))} == {mine, theirs}
    view = orders.order(engine, OFFICER, mine, pack, now=minutes(20))
    assert (view.created_by, view.title, view.org_code) == ("zhang", "路灯不亮", "OFF-T01")


def test_running_clock_and_timed_out_sign_off(engine, pack, handed):
    mine, _ = handed
    # Built-in P3: sign for within 120 minutes of the order (minute 10 → 130).
    fresh = orders.order(engine, TOWN, mine, pack, now=minutes(20))
    assert (fresh.clock.name, fresh.clock.state, fresh.clock.minutes_left) == ("accept", "ok", 110.0)
    assert not fresh.accept_timed_out
    late = orders.order(engine, TOWN, mine, pack, now=minutes(140))
    assert late.accept_timed_out and late.clock.state == "overdue" and late.clock.minutes_left == -10.0
    workorders.accept(engine, TOWN, mine, None, now=minutes(141))
    accepted = orders.order(engine, TOWN, mine, pack, now=minutes(142))
    assert not accepted.accept_timed_out and accepted.clock.name == "feedback"


def test_closed_orders_leave_the_open_inbox(engine, pack, handed):
    mine, _ = handed
    workorders.return_order(engine, TOWN, mine, None, "不属于本镇", now=minutes(30))
    assert orders.inbox(engine, TOWN, pack, now=minutes(31)) == []
    [returned] = orders.inbox(engine, TOWN, pack, open_only=False, now=minutes(31))
    assert (returned.status, returned.return_reason, returned.clock) == ("returned", "不属于本镇", None)


def test_feedback_photo_is_kept_and_served_only_to_who_may_see_it(engine, pack, handed):
    mine, _ = handed
    workorders.accept(engine, TOWN, mine, None, now=minutes(20))
    workorders.report_feedback(engine, TOWN, mine, None, "已更换灯泡", photo=png(), now=minutes(30))
    view = orders.order(engine, TOWN, mine, pack, now=minutes(31))
    assert view.feedback == "已更换灯泡" and len(view.photo_ids) == 1
    content_type, data = orders.photo(engine, OFFICER, view.photo_ids[0])
    assert content_type == "image/png" and Image.open(io.BytesIO(data)).size == (4, 3)
    with pytest.raises(NotFound):
        orders.photo(engine, OTHER_TOWN, view.photo_ids[0])


@pytest.mark.parametrize("data, message", [
    (b"<html><script>alert(1)</script></html>", "not a JPEG, PNG or WebP"),
    (b"", "empty"),
    (b"\x89PNG" + b"0" * (6 * 1024 * 1024), "limit is 5 MB"),
])
def test_a_photo_that_is_not_an_image_is_refused_and_nothing_changes(engine, pack, handed, data, message):
    mine, _ = handed
    workorders.accept(engine, TOWN, mine, None, now=minutes(20))
    with pytest.raises(ActionRefused, match=message):
        workorders.report_feedback(engine, TOWN, mine, None, "已处理", photo=data, now=minutes(30))
    view = orders.order(engine, TOWN, mine, pack, now=minutes(31))
    assert (view.status, view.feedback, view.photo_ids) == ("accepted", None, ())


def test_a_gif_is_refused_by_its_type(engine, pack, handed):
    mine, _ = handed
    workorders.accept(engine, TOWN, mine, None, now=minutes(20))
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, format="GIF")
    with pytest.raises(ActionRefused, match="GIF image is not taken"):
        workorders.report_feedback(engine, TOWN, mine, None, "已处理", photo=out.getvalue(), now=minutes(30))
