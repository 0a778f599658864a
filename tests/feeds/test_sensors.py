"""Sensor readings: the paged HTTP endpoint, and MQTT through the real local broker.

MQTT tests need mosquitto on 127.0.0.1:1883; without it they skip with the reason, except
under CI=true, where that is a failure. Each test uses its own client id and topic root, and
the broker forgets the session afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from feeds.base import RawItem
from feeds.cad import dump
from feeds.mqtt_sensors import MqttSensorsAdapter
from feeds.sensors_http import SensorsHttpAdapter, reading_id
from ioc.config import FeedSettings
from ioc.records import ReadingRecord, Reject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds" / "sensors"
CST = timezone(timedelta(hours=8))
BROKER = ("127.0.0.1", 1883)


def make(cls, **options):
    feed = FeedSettings(name="sensors_test", kind=cls.kind, **options)
    return cls(feed, cls.Config.model_validate(feed.model_extra or {}))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def reading(sensor_id: str | None, minute: int, value: float) -> dict:
    obj = {"key_point_id": "KP-017", "kind": "water_level", "unit": "m", "value": value,
           "at": f"2024-07-01T12:{minute:02d}:00+08:00", "warning_level": 0.3, "alarm_level": 0.5,
           "lon": 113.7512, "lat": 23.0201}
    return {"sensor_id": sensor_id, **obj} if sensor_id else obj


# -- sensors_http ---------------------------------------------------------------------------


def test_http_readings_page_through_the_cursor(httpserver):
    httpserver.expect_ordered_request("/sensors/readings", query_string={"limit": "2"}).respond_with_json(
        fixture("readings_page1.json"))
    httpserver.expect_ordered_request(
        "/sensors/readings", query_string={"since": "1719808200.000001", "limit": "2"}
    ).respond_with_json(fixture("readings_page2.json"))
    adapter = make(SensorsHttpAdapter, url=httpserver.url_for("/sensors/readings"), page_size=2)
    with httpx.Client(timeout=5) as client:
        first = adapter.fetch(None, client)
        assert first.more and first.cursor == "1719808200.000001"
        second = adapter.fetch(first.cursor, client)
    assert not second.more and second.cursor == "1719808500.000002"
    assert [i.external_id for i in first.items + second.items] == [
        "WL-NC-003@2024-07-01T12:30:00+08:00", "WL-DC-011@2024-07-01T12:30:00+08:00",
        "WL-NC-003@2024-07-01T12:35:00+08:00", "WL-HM-002@2024-07-01T12:35:00+08:00",
    ]
    httpserver.check_assertions()


def test_http_reading_maps_field_by_field():
    adapter = make(SensorsHttpAdapter, url="http://unused")
    (rec,) = adapter.parse(RawItem("x", dump(fixture("readings_page1.json")["readings"][1])))
    assert isinstance(rec, ReadingRecord)
    assert rec.sensor_id == "WL-DC-011" and rec.key_point_id == "KP-042"
    assert rec.sensor_kind == "water_level" and rec.unit_of_measure == "m"
    assert rec.value == 0.36 and rec.warning_level == 0.3 and rec.alarm_level == 0.5
    assert rec.at == datetime(2024, 7, 1, 12, 30, tzinfo=CST)
    assert (rec.lon, rec.lat) == (113.7791, 23.0312)


def test_http_reading_with_nulls_and_a_bad_value():
    adapter = make(SensorsHttpAdapter, url="http://unused")
    bad = fixture("readings_page2.json")["readings"][1]
    with pytest.raises(Reject, match="value: 'n/a' is not a number"):
        adapter.parse(RawItem("x", dump(bad)))
    (rec,) = adapter.parse(RawItem("x", dump({**bad, "value": 0.2})))
    assert rec.key_point_id is None and rec.warning_level is None and rec.lon is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"at": "2024-07-01T12:30:00"}, "no UTC offset"),
    ({"sensor_id": ""}, "missing sensor_id"),
    ({"value": None}, "missing value"),
    ({"value": True}, "not a number"),
    ({"lat": 123.0}, "out of range"),
])
def test_http_reading_rejections(change, reason):
    adapter = make(SensorsHttpAdapter, url="http://unused")
    with pytest.raises(Reject, match=reason):
        adapter.parse(RawItem("x", dump({**reading("WL-1", 30, 0.1), **change})))


def test_reading_id_needs_sensor_and_time():
    assert reading_id(reading("WL-1", 5, 0.1)) == "WL-1@2024-07-01T12:05:00+08:00"
    assert reading_id(reading(None, 5, 0.1)) is None


def test_http_failure_raises(httpserver):
    httpserver.expect_request("/sensors/readings").respond_with_data("busy", status=503)
    adapter = make(SensorsHttpAdapter, url=httpserver.url_for("/sensors/readings"))
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.HTTPStatusError):
        adapter.fetch(None, client)


# -- mqtt_sensors ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> None:
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as exc:
        reason = f"MQTT broker at {BROKER[0]}:{BROKER[1]} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def mqtt_names(broker) -> Iterator[tuple[str, str]]:
    """A client id and topic root of this test's own; the broker drops the session afterwards."""
    tag = uuid.uuid4().hex[:12]
    client_id = f"ioc-test-{tag}"
    yield client_id, f"ioc-test/{tag}"
    with _connected(client_id, clean=True):
        pass


class _connected:
    """A plain paho client, connected (CONNACK received) for the block."""

    def __init__(self, client_id: str, clean: bool = True) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, protocol=mqtt.MQTTv311)
        self.ready = threading.Event()
        self.client.on_connect = lambda *args: self.ready.set()

    def __enter__(self) -> mqtt.Client:
        self.client.connect(*BROKER)
        self.client.loop_start()
        assert self.ready.wait(10), "no CONNACK from the broker"
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(messages: list[tuple[str, str]]) -> None:
    with _connected(f"ioc-test-pub-{uuid.uuid4().hex[:8]}") as client:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)


def drain(adapter: MqttSensorsAdapter, count: int, seconds: float = 10.0) -> list[RawItem]:
    """Poll fetch until ``count`` distinct messages came out, or the deadline passes."""
    got: dict[str, RawItem] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for item in adapter.fetch(None, None).items:
            got.setdefault(item.payload, item)
        if len(got) >= count:
            break
        time.sleep(0.02)  # poll interval, not synchronisation: the loop waits on the count
    return list(got.values())


def adapter_for(names: tuple[str, str], **options) -> MqttSensorsAdapter:
    client_id, root = names
    return make(MqttSensorsAdapter, client_id=client_id, topic=f"{root}/+/reading", **options)


def test_mqtt_readings_come_out_of_fetch(mqtt_names):
    _, root = mqtt_names
    adapter = adapter_for(mqtt_names)
    try:
        assert adapter.fetch(None, None).items == []  # connects and subscribes
        publish([
            (f"{root}/WL-NC-003/reading", json.dumps(reading("WL-NC-003", 30, 0.12))),
            (f"{root}/WL-DC-011/reading", json.dumps(reading(None, 30, 0.36))),  # id only in the topic
            (f"{root}/WL-NC-003/reading", json.dumps(reading("WL-NC-003", 35, 0.55))),
        ])
        items = drain(adapter, 3)
    finally:
        adapter.close()
    assert sorted(i.external_id for i in items) == [
        "WL-DC-011@2024-07-01T12:30:00+08:00",
        "WL-NC-003@2024-07-01T12:30:00+08:00", "WL-NC-003@2024-07-01T12:35:00+08:00",
    ]
    records = {r.external_id: adapter.parse(r)[0] for r in items}
    topic_only = records["WL-DC-011@2024-07-01T12:30:00+08:00"]
    assert topic_only.sensor_id == "WL-DC-011" and topic_only.value == 0.36
    assert records["WL-NC-003@2024-07-01T12:35:00+08:00"].at == datetime(2024, 7, 1, 12, 35, tzinfo=CST)


def test_mqtt_messages_sent_while_away_arrive_on_the_next_connect(mqtt_names):
    _, root = mqtt_names
    first = adapter_for(mqtt_names)
    first.fetch(None, None)  # the broker now holds a session with our subscription
    first.close()
    publish([(f"{root}/WL-{n}/reading", json.dumps(reading(f"WL-{n}", n, 0.1 * n))) for n in range(1, 4)])
    second = adapter_for(mqtt_names)
    try:
        items = drain(second, 3)
    finally:
        second.close()
    assert sorted(i.external_id for i in items) == [f"WL-{n}@2024-07-01T12:{n:02d}:00+08:00" for n in range(1, 4)]


def test_mqtt_manual_ack_redelivers_what_was_never_acked(mqtt_names):
    _, root = mqtt_names
    first = adapter_for(mqtt_names, manual_ack=True)
    first.fetch(None, None)
    publish([(f"{root}/WL-{n}/reading", json.dumps(reading(f"WL-{n}", n, 0.1))) for n in (1, 2)])
    handed = drain(first, 2)
    assert len(handed) == 2
    assert set(first.fetch(None, None).items) == set(handed)  # not acked: the commit failed, so again
    first.close()  # as if the worker died before its commit

    second = adapter_for(mqtt_names, manual_ack=True)
    redelivered = drain(second, 2)
    assert sorted(i.payload for i in redelivered) == sorted(i.payload for i in handed)
    second.ack(redelivered)
    assert second.fetch(None, None).items == []
    second.close()

    third = adapter_for(mqtt_names)
    try:
        third.fetch(None, None)
        publish([(f"{root}/WL-9/reading", json.dumps(reading("WL-9", 9, 0.9)))])
        after = drain(third, 1)
    finally:
        third.close()
    assert [i.external_id for i in after] == ["WL-9@2024-07-01T12:09:00+08:00"]  # acked ones stay gone


def test_mqtt_bad_messages_land_and_are_rejected(mqtt_names):
    _, root = mqtt_names
    adapter = adapter_for(mqtt_names)
    try:
        adapter.fetch(None, None)
        publish([(f"{root}/WL-1/reading", "level=0.3"),
                 (f"{root}/WL-1/reading", json.dumps({**reading("WL-1", 1, 0.1), "value": "high"}))])
        items = drain(adapter, 2)
    finally:
        adapter.close()
    by_payload = {i.payload: i for i in items}
    assert by_payload["level=0.3"].external_id is None
    for item in items:
        with pytest.raises(Reject):
            adapter.parse(item)


def test_mqtt_unreachable_broker_raises_from_fetch():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    adapter = make(MqttSensorsAdapter, port=port, connect_timeout_seconds=2)
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}: cannot connect"):
        adapter.fetch(None, None)
    adapter.close()


def test_mqtt_client_id_defaults_to_the_feed_name():
    assert make(MqttSensorsAdapter).client_id == "city-ioc-sensors_test"
    assert "hunter2" not in repr(make(MqttSensorsAdapter, username="ioc", password="hunter2").config)
