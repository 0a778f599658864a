"""Outbox delivery: real HTTP to a loopback server, retries with backoff, isolation of a failing
row, and two deliverers on PostgreSQL sending each row exactly once."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from werkzeug import Response

from ioc.chain.outbox import BACKOFF_CAP, backoff, deliver_due, http_sender
from ioc.store import models
from ioc.store.db import make_engine, session_factory, transaction
from ioc.store.migrate import upgrade

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=timezone.utc)


def add_orders(engine, destinations: list[str]) -> list[int]:
    with transaction(engine) as s:
        rows = [models.Outbox(kind="dispatch_order", destination=d, created_at=T0,
                              payload={"order_id": i, "unit_id": f"U{i}", "incident_id": 7})
                for i, d in enumerate(destinations)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def row(engine, row_id: int) -> models.Outbox:
    with session_factory(engine)() as s:
        return s.get(models.Outbox, row_id)


def test_delivers_as_json_to_the_agency_endpoint(engine, httpserver):
    (order,) = add_orders(engine, ["DEPT-FIRE"])
    httpserver.expect_oneshot_request("/orders/DEPT-FIRE", method="POST",
                                      headers={"Idempotency-Key": f"outbox-{order}"}).respond_with_json({"ok": True})
    report = deliver_due(engine, http_sender(httpserver.url_for("/orders")), now=T0)
    httpserver.check_assertions()
    assert report.delivered == [order] and report.failed == []
    body = json.loads(httpserver.log[0][0].get_data())
    assert body["destination"] == "DEPT-FIRE" and body["payload"]["unit_id"] == "U0" and body["id"] == order
    delivered = row(engine, order)
    assert (delivered.delivered_at, delivered.attempts) == (T0, 1)
    assert deliver_due(engine, http_sender(httpserver.url_for("/orders")), now=T0 + timedelta(hours=1)).delivered == []


def test_a_500_is_retried_after_the_backoff(engine, httpserver):
    (order,) = add_orders(engine, ["DEPT-POLICE"])
    httpserver.expect_ordered_request("/police", method="POST").respond_with_response(Response("down", status=500))
    httpserver.expect_ordered_request("/police", method="POST").respond_with_json({"ok": True})
    send = http_sender({"DEPT-POLICE": httpserver.url_for("/police")})
    assert deliver_due(engine, send, now=T0).failed == [order]
    failed = row(engine, order)
    assert failed.attempts == 1 and "500" in failed.last_error and failed.delivered_at is None
    assert failed.next_attempt_at == T0 + timedelta(seconds=30)
    assert deliver_due(engine, send, now=T0 + timedelta(seconds=29)).delivered == []  # not due yet
    assert deliver_due(engine, send, now=T0 + timedelta(seconds=30)).delivered == [order]
    httpserver.check_assertions()
    done = row(engine, order)
    assert (done.attempts, done.delivered_at) == (2, T0 + timedelta(seconds=30))


def test_backoff_doubles_up_to_the_cap(engine):
    assert [backoff(n).total_seconds() for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    (order,) = add_orders(engine, ["DEPT-WATER"])

    def refuse(_row):
        raise ConnectionError("connection refused")

    now = T0
    for attempt in range(1, 8):
        assert deliver_due(engine, refuse, now=now).failed == [order]
        current = row(engine, order)
        assert current.attempts == attempt
        assert current.next_attempt_at == now + min(BACKOFF_CAP, timedelta(seconds=30 * 2 ** (attempt - 1)))
        assert current.last_error == "ConnectionError: connection refused"
        assert deliver_due(engine, refuse, now=current.next_attempt_at - timedelta(seconds=1)).failed == []
        now = current.next_attempt_at


def test_a_failing_row_never_blocks_the_others(engine, httpserver):
    orders = add_orders(engine, ["DEPT-NOWHERE", "DEPT-FIRE", "DEPT-FIRE"])
    httpserver.expect_request("/fire", method="POST").respond_with_json({"ok": True})
    send = http_sender({"DEPT-FIRE": httpserver.url_for("/fire")})
    report = deliver_due(engine, send, now=T0)
    assert report.failed == [orders[0]] and report.delivered == orders[1:]
    assert "no endpoint configured for DEPT-NOWHERE" in row(engine, orders[0]).last_error
    # The failed row waits for its backoff; new rows still go in the meantime.
    (later,) = add_orders(engine, ["DEPT-FIRE"])
    assert deliver_due(engine, send, now=T0 + timedelta(seconds=5)).delivered == [later]


def test_batch_limits_one_round(engine):
    orders = add_orders(engine, ["A"] * 5)
    sent: list[int] = []
    assert deliver_due(engine, lambda r: sent.append(r.id), now=T0, batch=2).delivered == orders[:2]
    assert deliver_due(engine, lambda r: sent.append(r.id), now=T0, batch=10).delivered == orders[2:]
    assert sent == orders


def test_two_deliverers_on_postgresql_send_each_row_once(pg_url):
    engine = make_engine(pg_url)
    upgrade(engine)
    orders = add_orders(engine, [f"ORG-{i % 3}" for i in range(40)])
    sent: list[tuple[str, int]] = []
    lock = threading.Lock()
    both_sending = threading.Barrier(2, timeout=20)

    def worker(name: str) -> None:
        first = True

        def send(r: models.Outbox) -> None:
            nonlocal first
            if first:  # hold the first send until the other worker is sending too
                first = False
                both_sending.wait()
            with lock:
                sent.append((name, r.id))

        while deliver_due(engine, send, now=T0, batch=5).delivered:
            pass

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = sorted(i for _, i in sent)
    assert ids == orders  # every row once, none twice
    assert {name for name, _ in sent} == {"w1", "w2"}
    with session_factory(engine)() as s:
        assert all(r.delivered_at == T0 and r.attempts == 1 for r in s.scalars(select(models.Outbox)))
    engine.dispose()


def test_base_url_sender_appends_the_org_code(engine, httpserver):
    add_orders(engine, ["DEPT-FIRE"])
    httpserver.expect_request("/agency/DEPT-FIRE", method="POST").respond_with_json({})
    assert len(deliver_due(engine, http_sender(httpserver.url_for("/agency/")), now=T0).delivered) == 1
