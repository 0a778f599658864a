"""Sources that misbehave, over real loopback sockets: each failure is the failing feed's alone,
recorded in its health, and nothing it did send is lost or stored twice."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, get, register
from ioc.city.geo import DivisionIndex
from ioc.config import FeedSettings, Settings
from ioc.intake.worker import FeedRunner
from ioc.read.health import feed_states
from ioc.records import IncidentRecord
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))


class FaultConfig(AdapterConfig):
    url: str


@register
class FaultPagesAdapter(Adapter):
    """GET url → {"items": [...]}; each item one incident record."""

    kind = "test_fault_pages"
    title = "fault test pages"
    Config = FaultConfig

    def fetch(self, cursor, client):
        body = json.loads(get(client, self.config.url).content)
        return FetchResult([RawItem(i["external_id"], json.dumps(i)) for i in body["items"]], cursor)

    def parse(self, item):
        return [IncidentRecord(**json.loads(item.payload))]


def record(external_id: str, **fields) -> dict:
    return {"external_id": external_id, "channel": "110", "category": "crime", "reported_at": T0.isoformat(),
            "lon": 113.75, "lat": 22.95} | fields


@pytest.fixture
def city(engine, tmp_path):
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    return engine, pack


def runner(city, name: str, url: str, timeout: float = 0.5) -> FeedRunner:
    engine, pack = city
    feed = FeedSettings(name=name, kind="test_fault_pages", url=url, interval_seconds=1, timeout_seconds=timeout)
    settings = Settings(feeds=[feed])
    settings.demo.enabled = False
    return FeedRunner(Runtime(settings, engine, pack, feeds=(feed,)), feed, DivisionIndex(pack.divisions()))


def count(engine, model, *where) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


# --- a socket server that misbehaves on purpose (loopback only, stops with the test) -----------------


@contextmanager
def raw_server(behave: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)  # the request
                behave(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/pages"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def hang(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(10)  # says nothing until the test is over


def drip(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    while not stop.wait(0.05):  # a byte at a time, never slow enough for a read timeout
        try:
            conn.sendall(b" ")
        except OSError:
            return


def reset(conn: socket.socket, stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST


# --- the cases -----------------------------------------------------------------------------------------


def poll_failing(bad: FeedRunner) -> str:
    with pytest.raises(Exception):
        bad.poll()
    state = feed_states(bad.runtime.engine)[bad.feed.name]
    assert state.status == "degraded" and state.consecutive_failures == 1
    return state.last_error


@pytest.mark.parametrize(("behave", "said"), [
    (hang, "timed out"),
    (drip, "took longer than 2 s; gave up"),
    (reset, "cannot connect"),
])
def test_a_source_that_hangs_drips_or_resets_fails_its_own_poll_only(city, httpserver, behave, said):
    httpserver.expect_request("/good").respond_with_json({"items": [record("G1")]})
    good = runner(city, "good", httpserver.url_for("/good"))
    with raw_server(behave) as url:
        error = poll_failing(runner(city, "bad", url))
    assert said in error
    assert good.poll().report.stored == 1  # the other feed goes on
    assert feed_states(city[0])["good"].status == "ok"


@pytest.mark.parametrize(("body", "said"), [
    ('{"items": [{"external_id": "T1", "chan', "JSONDecodeError"),
    ("<html>502 Bad Gateway</html>", "JSONDecodeError"),
])
def test_a_truncated_or_foreign_page_fails_the_poll_and_stores_nothing(city, httpserver, body, said):
    httpserver.expect_request("/pages").respond_with_data(body, content_type="application/json")
    assert said in poll_failing(runner(city, "bad", httpserver.url_for("/pages")))
    assert count(city[0], models.RawRecord) == 0


def test_an_answer_of_500_is_recorded_with_its_status(city, httpserver):
    httpserver.expect_request("/pages").respond_with_data("oops", status=500)
    assert "HTTP 500" in poll_failing(runner(city, "bad", httpserver.url_for("/pages")))


def test_a_50_mb_answer_is_refused_without_holding_it(city, httpserver):
    httpserver.expect_request("/pages").respond_with_data(b" " * (50 * 2**20), content_type="application/json")
    assert "larger than 20 MB; refused" in poll_failing(runner(city, "bad", httpserver.url_for("/pages"), timeout=5))


def test_the_same_page_again_and_again_is_stored_once(city, httpserver):
    items = [record("S1"), record("S2")]
    httpserver.expect_request("/pages").respond_with_json({"items": items})
    same = runner(city, "same", httpserver.url_for("/pages"))
    reports = [same.poll().report for _ in range(3)]
    assert [(r.stored, r.duplicates) for r in reports] == [(2, 0), (0, 2), (0, 2)]
    assert count(city[0], models.Incident) == 2 and count(city[0], models.RawRecord) == 2


def test_every_item_of_a_bad_batch_ends_stored_or_rejected_with_a_reason(city, httpserver):
    items = [
        record("OK"),
        record("UPDATE-FIRST", status="on_scene"),  # an update before its create is a create
        record("ZERO", lon=0.0, lat=0.0),
        record("SWAPPED", lon=22.95, lat=113.75),
        record("FAR", lon=116.4, lat=39.9),
        record("BAD-TIME", reported_at="yesterday"),
        {"external_id": "NO-CATEGORY", "channel": "110", "reported_at": T0.isoformat()},
    ]
    httpserver.expect_request("/pages").respond_with_json({"items": items})
    report = runner(city, "mixed", httpserver.url_for("/pages")).poll().report
    engine = city[0]
    assert report.fetched == 7 and report.stored == 5 and len(report.rejected) == 2
    assert {e for e, _ in report.rejected} == {"BAD-TIME", "NO-CATEGORY"}
    assert all(reason for _, reason in report.rejected)
    assert count(engine, models.RawRecord, models.RawRecord.outcome == "accepted") == 5
    assert count(engine, models.RawRecord, models.RawRecord.outcome == "rejected",
                 models.RawRecord.reason.is_not(None)) == 2
    with transaction(engine) as s:
        flags = dict(s.execute(select(models.Incident.external_id, models.Incident.location_flag)).all())
    assert (flags["ZERO"], flags["SWAPPED"], flags["FAR"], flags["OK"]) == ("missing", "swapped", "outside", None)
    counts = feed_states(engine)["mixed"].counts  # the feed's health shows what it sent
    assert (counts["rejected"], counts["flagged_missing"], counts["flagged_swapped"], counts["flagged_outside"]) == \
        (2, 1, 1, 1)


def test_a_time_in_the_future_is_kept_at_its_arrival_and_counted(city, httpserver):
    ahead = datetime.now(timezone.utc) + timedelta(days=2)
    httpserver.expect_request("/pages").respond_with_json(
        {"items": [record("AHEAD", reported_at=ahead.isoformat()), record("NOW")]})
    before = datetime.now(timezone.utc)
    report = runner(city, "skewed", httpserver.url_for("/pages")).poll().report
    assert report.stored == 2 and report.flagged == {"future_time": 1}
    with transaction(city[0]) as s:
        incident = s.scalars(select(models.Incident).where(models.Incident.external_id == "AHEAD")).one()
    assert before <= incident.reported_at <= datetime.now(timezone.utc)  # on the board as arrived now
    assert incident.extra["source_time"] == ahead.isoformat()  # what the source said is kept
    assert feed_states(city[0])["skewed"].counts["flagged_future_time"] == 1
