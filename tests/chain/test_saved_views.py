"""Saved board views: each user's own, replaced by name, audited."""

import pytest

from ioc.chain import saved_views
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Forbidden
from ioc.read import board
from tests.factories import OFFICER, VIEWER, audits


def test_views_are_kept_per_user_and_replaced_by_name(engine):
    first = saved_views.save(engine, OFFICER, " 超时P1 ", {"priority": ["P1"]}, [{"colId": "priority", "sort": "asc"}])
    saved_views.save(engine, OFFICER, "超时P1", {"priority": ["P1", "P2"]}, [])
    saved_views.save(engine, VIEWER, "wall", {"status": ["new"]}, [])
    mine = board.saved_views(engine, "zhang")
    assert [(v["id"], v["name"], v["query"]) for v in mine] == [(first.id, "超时P1", {"priority": ["P1", "P2"]})]
    assert [v["name"] for v in board.saved_views(engine, "wall")] == ["wall"]
    assert [a.action for a in audits(engine, "saved_view", first.id)] == ["view.save", "view.save"]


def test_only_the_owner_deletes_and_names_are_required(engine):
    view = saved_views.save(engine, OFFICER, "mine", {}, [])
    with pytest.raises(Forbidden, match="belongs to someone else"):
        saved_views.delete(engine, VIEWER, view.id)
    with pytest.raises(ActionRefused, match="give the view a name"):
        saved_views.save(engine, OFFICER, "  ", {}, [])
    with pytest.raises(Forbidden, match="wall-screen link"):
        saved_views.save(engine, Actor("kiosk:abc", "viewer"), "x", {}, [])
    saved_views.delete(engine, OFFICER, view.id)
    assert board.saved_views(engine, "zhang") == []
