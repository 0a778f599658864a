"""Sensor readings pushed over MQTT (paho-mqtt 2.x, MQTT 3.1.1).

Kind ``mqtt_sensors``. Each message on ``topic`` (default ``ioc/sensors/+/reading``) is one
READING object as documented in ``feeds.sensors_http``. When the object has no ``sensor_id``
the topic's ``+`` segment supplies it and is written into the payload, so the stored item
stands on its own. External id ``"{sensor_id}@{at}"``; the cursor stays None.

How it runs: the first ``fetch`` connects with a persistent session (clean_session False,
fixed ``client_id``), subscribes and starts paho's network thread, which appends every message
to a locked buffer and reconnects by itself after a drop. Each ``fetch`` drains the buffer. A
failed connect, or a fetch while the link is down, raises, so the worker marks the feed
degraded; ``close()`` disconnects (the broker keeps the session).

What is guaranteed, for QoS 1 messages (QoS 0 ones are fire-and-forget throughout):

* Messages published while we are away (worker stopped, broker link down) are queued by the
  broker for our session, once we have subscribed under this ``client_id``, and delivered on the
  next connect, within the broker's queue limits (mosquitto: ``max_queued_messages``) and as
  long as the broker keeps the session (mosquitto keeps it across its own restart only with
  ``persistence true``).
* With ``manual_ack = true`` (default) nothing is acknowledged until the worker calls
  ``ack(items)`` after the batch's commit. Unacknowledged messages are redelivered by the broker on the next connect
  (after a crash or restart), and a ``fetch`` that follows a fetch whose items were never acked
  (the commit failed) hands those items out again. Redeliveries are harmless: the pipeline
  dedupes by external id and content hash. Whoever fetches MUST call ``ack`` (the worker
  does): the broker stops sending once ``max_inflight_messages`` (mosquitto: 20) are
  unacknowledged.
* With ``manual_ack = false`` paho acknowledges a message when it reaches the buffer; a crash
  between that and the pipeline's commit loses what was in the buffer.

One client id must be used by one process: two workers holding the same feed would take the
session from each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import httpx
import paho.mqtt.client as mqtt
from pydantic import Field, SecretStr

from feeds.base import Adapter, AdapterConfig, FetchResult, RawItem, decode_text, register
from feeds.cad import dump, load_object
from feeds.sensors_http import parse_reading, reading_id
from ioc.records import Record, Reject

log = logging.getLogger(__name__)


class MqttSensorsConfig(AdapterConfig):
    host: str = Field(default="127.0.0.1", description="MQTT broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker port")
    topic: str = Field(
        default="ioc/sensors/+/reading", description="subscription pattern; its first + segment is the sensor id"
    )
    qos: Literal[0, 1] = Field(default=1, description="1 for delivery after absences; 2 adds nothing (the pipeline dedupes)")
    client_id: str = Field(default="", description="MQTT client id of the persistent session; empty: city-ioc-FEEDNAME")
    username: str | None = Field(default=None, description="broker user name, if the broker wants one")
    password: SecretStr | None = Field(default=None, description="broker password")
    keepalive_seconds: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval")
    connect_timeout_seconds: float = Field(default=10.0, gt=0, description="wait this long for connect and subscribe")
    manual_ack: bool = Field(
        default=True, description="acknowledge messages only when the pipeline calls ack() after its commit"
    )


@register
class MqttSensorsAdapter(Adapter):
    kind = "mqtt_sensors"
    title = "Sensor readings over MQTT"
    Config: ClassVar[type[AdapterConfig]] = MqttSensorsConfig
    config: MqttSensorsConfig

    def __init__(self, feed: Any, config: AdapterConfig) -> None:
        super().__init__(feed, config)
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()
        self._buffer: list[tuple[RawItem, int | None]] = []  # item and its mid while unacknowledged
        self._pending: dict[RawItem, int] = {}  # handed out by fetch, not acked yet (manual_ack)
        self._ready = threading.Event()  # connected and subscribed
        self._answered = threading.Event()  # the broker accepted or refused us
        self._problem = "not connected yet"
        segments = self.config.topic.split("/")
        self._sensor_segment = segments.index("+") if "+" in segments else None

    @property
    def client_id(self) -> str:
        return self.config.client_id or f"city-ioc-{self.name}"

    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        if self._client is None:
            self._connect()
        elif not self._ready.is_set():
            raise ConnectionError(f"{self._where()}: {self._problem} (reconnecting in the background)")
        with self._lock:
            fresh, self._buffer = self._buffer, []
            retry = list(self._pending)
            if self.config.manual_ack:
                self._pending.update((item, mid) for item, mid in fresh if mid is not None)
        return FetchResult(items=retry + [item for item, _ in fresh], cursor=cursor)

    def parse(self, item: RawItem) -> list[Record]:
        return [parse_reading(load_object(item.payload))]

    def ack(self, items: Iterable[RawItem]) -> None:
        """Acknowledge delivered items to the broker; call after the commit that stored them."""
        with self._lock:
            mids = [self._pending.pop(item) for item in items if item in self._pending]
        if self._client is not None:
            for mid in mids:
                self._client.ack(mid, 1)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.disconnect()
        client.loop_stop()
        self._ready.clear()
        if self.config.manual_ack:
            with self._lock:  # unacknowledged: the broker sends them again on the next connect
                self._buffer, self._pending = [], {}

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> None:
        client = self._new_client()
        self._answered.clear()
        try:
            client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive_seconds)
        except OSError as exc:
            raise ConnectionError(f"{self._where()}: cannot connect: {exc}") from exc
        client.loop_start()
        if not (self._answered.wait(self.config.connect_timeout_seconds) and self._ready.is_set()):
            client.disconnect()
            client.loop_stop()
            problem = self._problem if self._answered.is_set() else "no answer to connect/subscribe"
            raise ConnectionError(f"{self._where()}: {problem}")
        self._client = client
        log.info("feed %s: subscribed to %s on %s as %s", self.name, self.config.topic, self._where(), self.client_id)

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=self.config.manual_ack,
        )
        client.connect_timeout = self.config.connect_timeout_seconds
        if self.config.username:
            password = self.config.password.get_secret_value() if self.config.password else None
            client.username_pw_set(self.config.username, password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _where(self) -> str:
        return f"MQTT broker {self.config.host}:{self.config.port}"

    # -- paho's network thread -----------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._problem = f"connection refused: {reason}"
            self._answered.set()
            return
        client.subscribe(self.config.topic, qos=self.config.qos)  # again after every reconnect

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            self._problem = f"subscription to {self.config.topic!r} refused: {refused[0]}"
        else:
            self._ready.set()
        self._answered.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._ready.clear()
        self._problem = f"disconnected: {reason}"
        if reason.is_failure:
            log.warning("feed %s: %s %s", self.name, self._where(), self._problem)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        item = self._item(message.topic, message.payload)
        with self._lock:
            self._buffer.append((item, message.mid if message.qos > 0 else None))

    def _item(self, topic: str, data: bytes) -> RawItem:
        """Never raises (paho would drop the connection): a bad message lands and is rejected by parse."""
        try:
            text = decode_text(data)
        except Reject:
            return RawItem(external_id=None, payload=data.decode("utf-8", "backslashreplace"))
        try:
            obj = load_object(text)
        except Reject:
            return RawItem(external_id=None, payload=text)
        if not obj.get("sensor_id") and self._topic_sensor(topic):
            obj["sensor_id"] = self._topic_sensor(topic)
            text = dump(obj)
        return RawItem(external_id=reading_id(obj), payload=text)

    def _topic_sensor(self, topic: str) -> str | None:
        segments = topic.split("/")
        if self._sensor_segment is None or self._sensor_segment >= len(segments):
            return None
        return segments[self._sensor_segment] or None
