"""Live screens refreshing on their timers: nothing is sent while the change counters stand
still, what is sent is the same for every screen of the process, and a write shows at once
(after the screen's own action; on a timer, at most layouts.shared.FRESH_S later).
The callbacks are posted as the browser posts them (bench/load.py builds the same bodies)."""

from __future__ import annotations

import pytest

from bench.load import Callbacks
from tests.factories import add_incident
from tests.layouts.pages import PASSWORD, small_city

ORIGIN = "http://localhost"


@pytest.fixture
def app(tmp_path, monkeypatch):
    runtime, build = small_city(tmp_path, monkeypatch)
    add_incident(runtime.engine, runtime.pack, priority="P2", title="first")
    dash_app = build()
    dash_app.runtime = runtime
    return dash_app


class Screen:
    def __init__(self, app, user: str, page: str) -> None:
        self.http = app.server.test_client()
        signed = self.http.post("/login", data={"username": user, "password": PASSWORD}, headers={"Origin": ORIGIN})
        assert signed.status_code in (302, 303)
        self.callbacks = Callbacks(self.http.get("/_dash-dependencies").get_json())
        self.page = page
        self.values = {"lang.data": "en", "incident-layer.hideout": {"lang": "en", "stale": []},
                       "division-layer.hideout": {"lang": "en", "selected": None}}

    def call(self, output: str, changed: str | None = None) -> tuple[int, dict]:
        body = self.callbacks.body(output, self.values)
        if changed:  # another input than the timer (the first one)
            body["changedPropIds"] = [changed]
        r = self.http.post("/_dash-update-component", json=body,
                           headers={"Origin": ORIGIN, "Referer": f"{ORIGIN}/{self.page}"})
        answer = r.get_json()["response"] if r.status_code == 200 else {}
        for ident, props in answer.items():
            for prop, value in props.items():
                self.values[f"{ident}.{prop}"] = value
        return r.status_code, answer


def test_consoles_get_the_same_queue_nothing_while_nothing_changed_and_a_new_incident_at_once(app):
    one, two = Screen(app, "zhang", "dispatch"), Screen(app, "zhang", "dispatch")
    status_one, first = one.call("dc-queue-list")
    status_two, second = two.call("dc-queue-list")
    assert status_one == status_two == 200
    assert first == second and "first" in str(first["dc-queue-list"]["children"])
    assert one.call("dc-queue-list")[0] == 204  # counters unchanged: Dash's empty answer

    # A write shows at once after this console's own action (a timer may see it FRESH_S later).
    new = add_incident(app.runtime.engine, app.runtime.pack, priority="P1", title="new one")
    one.values["dc-done.data"] = 1
    status, answer = one.call("dc-queue-list", changed="dc-done.data")
    assert status == 200 and answer["dc-queue-ids"]["data"][0] == new
    assert "dc-unit-board" not in answer  # the units did not change: their board is not sent again


def test_walls_get_the_same_new_rows_and_nothing_while_nothing_changed(app):
    one, two = Screen(app, "chen", "wall"), Screen(app, "chen", "wall")
    for screen in (one, two):
        status, answer = screen.call("live-delta")
        assert status == 200 and answer["live-delta"]["data"]["reset"]
    assert one.call("live-delta")[0] == 204

    new = add_incident(app.runtime.engine, app.runtime.pack, priority="P1", title="new one")
    seen = []
    for screen in (one, two):
        status, answer = screen.call("live-delta")
        assert status == 200 and not answer["live-delta"]["data"]["reset"]
        seen.append(answer["live-delta"]["data"]["rows"])
        panels = screen.call("wall-tiles")[1]
        assert "P1" in str(panels["wall-tiles"]["children"])
    assert seen[0] == seen[1] and new in [row[0] for row in seen[0]]
