"""The board's read models on both backends: keyset pages, whitelisted sorts, capped counts,
running clocks, the dispatch queue and the unit board."""

from datetime import timedelta

import pytest

from ioc.chain import dispatch, workflow
from ioc.errors import UserError
from ioc.read import board, console, incident_view
from ioc.read.lists import IncidentFilter
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import OFFICER, add_incident, minutes


@pytest.fixture
def many(engine, pack):
    """25 incidents a minute apart, priorities cycling P1..P4, two channels; one linked report."""
    ids = [add_incident(engine, pack, reported_at=minutes(n), priority=f"P{n % 4 + 1}",
                        channel="110" if n % 2 else "12345", title=f"事件{n}") for n in range(25)]
    child = add_incident(engine, pack, reported_at=minutes(30), parent_id=ids[0], status="fused")
    return ids, child


def test_keyset_pages_cover_every_row_once_in_order(engine, many):
    ids, child = many
    seen, cursor = [], None
    while True:
        got = board.page(engine, IncidentFilter(), board.Sort(), cursor, limit=7, now=minutes(60))
        seen += [r["id"] for r in got.rows]
        if got.cursor is None:
            break
        cursor = got.cursor
    assert seen == list(reversed(ids))  # newest first, linked report left out
    assert child not in seen


@pytest.mark.parametrize("column, direction", [("priority", "asc"), ("channel", "desc"), ("id", "asc")])
def test_sorted_pages_match_one_big_sorted_query(engine, many, column, direction):
    sort = board.Sort.of(column, direction)
    whole = [r["id"] for r in board.page(engine, IncidentFilter(), sort, None, 100).rows]
    paged = [r["id"] for r in board.walk(engine, IncidentFilter(), sort, chunk=4)]
    assert paged == whole and len(whole) == 25
    first = board.page(engine, IncidentFilter(), sort, None, 100).rows
    values = [r[column if column != "id" else "id"] for r in first]
    assert values == sorted(values, reverse=direction == "desc")


def test_filters_and_free_text(engine, many):
    rows = board.page(engine, IncidentFilter(priority=["P1"], channel=["12345"]), board.Sort(), None, 100).rows
    assert {(r["priority"], r["channel"]) for r in rows} == {("P1", "12345")} and len(rows) == 7
    assert [r["title"] for r in board.page(engine, IncidentFilter(q="事件13"), board.Sort(), None, 10).rows] == ["事件13"]
    window = IncidentFilter(since=minutes(3), until=minutes(6))
    assert [r["title"] for r in board.page(engine, window, board.Sort(), None, 10).rows] == ["事件5", "事件4", "事件3"]


def test_unknown_sort_column_is_refused(engine):
    with pytest.raises(UserError, match="cannot sort by 'description'"):
        board.Sort.of("description")


def test_count_stops_at_the_cap(engine, many):
    assert board.count(engine, IncidentFilter()) == (25, False)
    assert board.count(engine, IncidentFilter(), cap=10) == (10, True)


def test_rows_carry_running_clock_units_and_names(engine, pack):
    first = add_incident(engine, pack, priority="P1", category="crime")
    late = add_incident(engine, pack, priority="P1", category="crime")
    dispatch.dispatch(engine, OFFICER, first, ["PC-00"], now=minutes(1))
    rows = {r["id"]: r for r in board.page(engine, IncidentFilter(), board.Sort(), None, 10, now=minutes(2.5),
                                           pack=pack).rows}
    assert rows[first]["units"] == ["巡00"] and rows[first]["status"] == "dispatched"
    assert rows[first]["sla"]["clock"] == "on_scene" and rows[first]["sla"]["state"] == "ok"
    assert rows[late]["sla"]["clock"] == "acknowledge" and rows[late]["sla"]["state"] == "overdue"
    assert rows[late]["division_zh"] == "甲街道" and rows[late]["org_en"] == "Jia office"


def test_queue_is_priority_then_age_and_units_show_their_job(engine, pack):
    p3 = add_incident(engine, pack, priority="P3", reported_at=minutes(0))
    p1_new = add_incident(engine, pack, priority="P1", reported_at=minutes(5))
    p1_old = add_incident(engine, pack, priority="P1", reported_at=minutes(2))
    sent = add_incident(engine, pack, priority="P1", reported_at=minutes(1))
    dispatch.dispatch(engine, OFFICER, sent, ["PC-03"], now=minutes(6))
    assert [r["id"] for r in console.queue(engine, now=minutes(7), pack=pack)] == [p1_old, p1_new, p3]
    units = {u["id"]: u for u in console.unit_board(engine, now=minutes(7))}
    assert units["PC-03"]["status"] == "DISPATCHED" and units["PC-03"]["assignment"]["incident_id"] == sent
    assert units["PC-03"]["in_status_min"] == 1.0 and units["PC-01"]["assignment"] is None
    assert units["PC-01"]["stale"]  # never reported a position


def test_incident_view_has_a_clock_per_step(engine, pack):
    iid = add_incident(engine, pack, priority="P2")
    workflow.acknowledge(engine, OFFICER, iid, None, now=minutes(5))  # P2: acknowledge by 3, dispatch by 10
    detail = incident_view.view(engine, iid, now=minutes(8), pack=pack)
    states = {c["clock"]: c["state"] for c in detail["clocks"]}
    assert states == {"acknowledge": "met_late", "dispatch": "due_soon", "on_scene": "ok", "resolve": "ok"}
    assert detail["division_names"] == ("甲街道", "Jia")
    with transaction(engine) as s:
        s.add(models.Supervision(target_type="incident", target_id=iid, clock="dispatch", org_code="IOC",
                                 issued_at=minutes(11), due_at=minutes(11) + timedelta(hours=1), note="late"))
    assert [s["clock"] for s in incident_view.view(engine, iid, now=minutes(12), pack=pack)["supervisions"]] == ["dispatch"]
    assert {o["code"] for o in incident_view.order_orgs(engine)} >= {"DEPT-POLICE", "OFF-T01"}


def test_kanban_columns_hold_the_most_urgent_cards_with_counts(engine, pack):
    low = add_incident(engine, pack, priority="P4")
    high = add_incident(engine, pack, priority="P1")
    done = add_incident(engine, pack, priority="P2", status="acknowledged")
    workflow.resolve(engine, OFFICER, done, None)
    columns = board.kanban(engine, per_column=1, pack=pack)
    assert [r["id"] for r in columns["new"]["rows"]] == [high] and columns["new"]["count"] == 2
    assert low not in [r["id"] for r in columns["new"]["rows"]]
    assert [r["id"] for r in columns["resolved"]["rows"]] == [done] and columns["acknowledged"]["count"] == 0


def test_linked_reports_show_on_request_beside_their_open_incident(engine, many):
    ids, child = many
    closed_parent = add_incident(engine, status="closed", reported_at=minutes(40))
    closed_child = add_incident(engine, status="fused", parent_id=closed_parent, reported_at=minutes(41))
    plain, _ = board.from_query({"status": "new"})
    linked, _ = board.from_query({"status": "new", "linked": "1"})
    assert child not in [r["id"] for r in board.walk(engine, plain, board.Sort())]
    rows = {r["id"]: r for r in board.walk(engine, linked, board.Sort())}
    assert rows[child]["parent_id"] == ids[0] and rows[ids[0]]["parent_id"] is None
    assert closed_child not in rows  # its incident is closed: not on a board of new ones
    assert board.count(engine, linked) == (26, False) and board.count(engine, plain) == (25, False)
