"""Admins' feed controls as the worker honours them: a paused feed is not polled, a replay asked
for re-runs the rejected records with the fixed mapping — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ioc.chain import feedcontrol
from ioc.chain.actions import Actor
from ioc.errors import Forbidden
from ioc.read import feeds as feedboard
from ioc.records import IncidentRecord
from tests.intake.test_worker import T0, incidents, page, runner_for

ADMIN = Actor("root", "admin")


def test_a_paused_feed_is_not_polled_until_resumed(engine, tmp_path, httpserver):
    httpserver.expect_request("/items").respond_with_json(page(["a1"], "c1"))
    runner = runner_for(engine, tmp_path, httpserver.url_for("/items"))
    feedcontrol.pause(engine, ADMIN, "src")
    runner.run_job()
    assert len(httpserver.log) == 0 and incidents(engine) == 0
    [row] = feedboard.board(engine, [runner.feed])
    assert (row.state, row.paused_by) == ("paused", "root")
    feedcontrol.resume(engine, ADMIN, "src")
    runner.run_job()
    assert len(httpserver.log) == 1 and incidents(engine) == 1
    assert feedboard.board(engine, [runner.feed])[0].state == "ok"


def test_only_admins_control_feeds(engine):
    with pytest.raises(Forbidden):
        feedcontrol.pause(engine, Actor("zhang", "duty_officer"), "src")


def test_replay_after_a_mapping_fix_runs_on_the_workers_next_turn(engine, tmp_path, httpserver):
    body = page(["ok1", "bad1"], "c1")
    del body["items"][1]["reported_at"]   # the source renamed the field: the mapping rejects it
    body["items"][1]["time"] = T0.isoformat()
    httpserver.expect_request("/items").respond_with_json(body)
    runner = runner_for(engine, tmp_path, httpserver.url_for("/items"))
    runner.run_job()
    [bad] = feedboard.rejected_records(engine, "src")
    assert "reported_at" in bad.reason and json.loads(bad.payload)["external_id"] == "bad1"
    assert feedboard.board(engine, [runner.feed])[0].rejected == 1

    def fixed(item):
        data = json.loads(item.payload)
        data.setdefault("reported_at", data.pop("time", None))
        return [IncidentRecord(**data)]
    runner.adapter.parse = fixed
    feedcontrol.request_replay(engine, ADMIN, "src")
    assert feedboard.board(engine, [runner.feed])[0].replay_pending
    runner.run_job()
    row = feedboard.board(engine, [runner.feed])[0]
    assert not row.replay_pending and row.rejected == 0 and row.replay_counts["stored"] == 1
    assert incidents(engine) == 2
    assert sum(row.hourly) == 2 and len(row.hourly) == 24   # both arrived this hour
