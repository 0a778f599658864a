"""The demo city over loopback HTTP (and MQTT): every source in its own format.

Endpoints under the base URL (see ``formats`` for the bodies)::

    GET  /                                  one-line state of the city (JSON)
    GET  /police/incidents?since=&limit=    110 CAD incidents        {"incidents", "next_since", "has_more"}
    GET  /police/units?since=&limit=        police unit status       {"units", ...}
    GET  /emergency/incidents|units         119 / 120 CAD (fire engines, ambulances, rescue teams, urban patrols)
    GET  /urban/cases?since=&limit=         数字城管 / 智网 cases     {"cases", ...}
    GET  /video/detections?since=&limit=    AI camera detections     {"detections", ...}
    GET  /video/snapshots/<id>.svg          a placeholder snapshot
    GET  /sensors/readings?since=&limit=    water gauges             {"readings", ...}
    GET  /cap/index.atom                    Atom index of CAP 1.2 messages
    GET  /cap/alerts/<identifier>.xml       one CAP 1.2 message
    GET  /open311/services.json|xml         GeoReport v2 service list (12345)
    GET  /open311/requests.json|xml         GeoReport v2 requests: service_request_id, service_code,
                                            status, start_date, end_date, updated_after,
                                            updated_before, page, page_size
    GET  /open311/requests/<id>.json|xml    one request
    POST /agency/orders                     a dispatch order to an agency's unit (202 accepted)
    GET  /agency/orders/<order_id>          the answer given to an order

With ``mqtt=(host, port)`` every live reading is also published as JSON to
``ioc/sensors/{sensor_id}/reading``.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, request
from werkzeug.serving import WSGIRequestHandler, make_server

from feeds.simulator.formats import Renderer
from feeds.simulator.world import World
from ioc.city.pack import CityPack

log = logging.getLogger(__name__)

MAX_LIMIT = 5000
OPEN311_PAGE_SIZE = 1000
PAGED = {
    # url path -> (world log, JSON key, renderer method)
    "police/incidents": ("police", "incidents", "cad_incident"),
    "police/units": ("police_units", "units", "cad_unit"),
    "emergency/incidents": ("emergency", "incidents", "cad_incident"),
    "emergency/units": ("emergency_units", "units", "cad_unit"),
    "urban/cases": ("urban", "cases", "urban_case"),
    "video/detections": ("video", "detections", "detection"),
    "sensors/readings": ("sensors", "readings", "reading"),
}


@dataclass
class SimulatorHandle:
    """A running simulator: where it listens, its world (for tests: ``world.advance``), ``stop()``."""

    base_url: str
    port: int
    world: World
    _stoppers: list[Any] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception:  # stopping must go on whatever one part says
                log.exception("while stopping the simulator")
        self._stoppers.clear()


def start_simulator(
    pack: CityPack,
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float = 1.0,
    scenario: str = "normal",
    seed: int | None = None,
    backfill_hours: float = 6.0,
    mqtt: tuple[str, int] | None = None,
    *,
    start: datetime | None = None,
    clock: Any = None,
    tick_seconds: float = 1.0,
) -> SimulatorHandle:
    """Start the demo city in background threads; ``port=0`` picks a free port.

    ``start`` (sim start time, default now) and ``clock`` (a ``time.monotonic``-like callable; a
    constant one freezes time so tests move it with ``handle.world.advance``) are for tests.
    """
    extra = {"clock": clock} if clock is not None else {}
    world = World(pack, scenario=scenario, seed=seed, speed=speed, backfill_hours=backfill_hours, start=start, **extra)
    holder: dict[str, Renderer] = {}
    server = make_server(host, port, create_app(world, holder), threaded=True, request_handler=_QuietHandler)
    base_url = f"http://{host}:{server.server_port}"
    holder["renderer"] = Renderer(world.tz, base_url, world.places.outline())
    handle = SimulatorHandle(base_url=base_url, port=server.server_port, world=world)
    _thread(server.serve_forever, "sim-http")
    handle._stoppers.append(server.shutdown)
    handle._stoppers.append(server.server_close)
    if mqtt:
        handle._stoppers.append(_start_mqtt(world, *mqtt))
    stop_tick = threading.Event()
    _thread(lambda: _tick(world, stop_tick, tick_seconds), "sim-tick")
    handle._stoppers.append(stop_tick.set)
    log.info("demo city %s (%s, seed %s, speed ×%g) at %s", pack.name, scenario, world.seed, speed, base_url)
    return handle


def create_app(world: World, holder: dict[str, Renderer]) -> Flask:
    app = Flask("city_ioc_simulator")

    def render() -> Renderer:
        return holder["renderer"]

    @app.get("/")
    def status() -> Response:
        return _json(world.summary())

    @app.get("/<group>/<name>")
    def paged(group: str, name: str) -> Response:
        spec = PAGED.get(f"{group}/{name}")
        if spec is None:
            abort(404)
        log_name, key, method = spec
        try:
            since = world.parse_cursor(request.args.get("since"))
        except ValueError:
            return _json({"error": "since must be a next_since this server gave"}, 400)
        limit = min(max(_int_arg("limit", 200), 1), MAX_LIMIT)
        rows, next_since, more = world.read(log_name, since, limit, getattr(render(), method))
        return _json({key: rows, "next_since": world.cursor(next_since), "has_more": more})

    @app.get("/video/snapshots/<det_id>.svg")
    def snapshot(det_id: str) -> Response:
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180">'
            '<rect width="320" height="180" fill="#263238"/><text x="12" y="96" fill="#eceff1" '
            f'font-size="16">snapshot {det_id[:40]}</text></svg>'
        )
        return Response(svg, mimetype="image/svg+xml")

    @app.get("/cap/index.atom")
    def cap_index() -> Response:
        messages = world.cap_messages()
        return Response(render().cap_atom(messages, world.processed_to), mimetype="application/atom+xml")

    @app.get("/cap/alerts/<identifier>.xml")
    def cap_alert(identifier: str) -> Response:
        for message in world.cap_messages():
            if message.identifier == identifier:
                return Response(render().cap_alert(message), mimetype="application/cap+xml")
        abort(404)

    @app.get("/open311/services.<fmt>")
    def services(fmt: str) -> Response:
        rows = render().open311_services()
        return _open311(fmt, "services", "service", rows)

    @app.get("/open311/requests.<fmt>")
    def requests_list(fmt: str) -> Response:
        return _open311(fmt, "service_requests", "request", _select_requests(world, render()))

    @app.get("/open311/requests/<req_id>.<fmt>")
    def request_one(req_id: str, fmt: str) -> Response:
        with world.lock:
            rows = [render().open311_request(r) for r in world.requests_between(0, float("inf")) if r.id == req_id]
        if not rows:
            abort(404)
        return _open311(fmt, "service_requests", "request", rows)

    @app.post("/agency/orders")
    def order() -> Response:
        code, answer = world.order(request.get_json(silent=True))
        return _json(answer, code)

    @app.get("/agency/orders/<order_id>")
    def order_answer(order_id: str) -> Response:
        answer = world.orders.get(order_id)
        if answer is None:
            abort(404)
        return _json(answer)

    return app


def _select_requests(world: World, renderer: Renderer) -> list[dict[str, Any]]:
    """GeoReport v2 filtering: ids override everything; else dates (requested, or updated with the
    updated_after / updated_before extension), code, status; then a page.

    Filters and pages before rendering (a day holds thousands of requests), under the world's
    lock so no request changes while it is read.
    """
    args = request.args
    with world.lock:
        if args.get("service_request_id"):
            wanted = set(args["service_request_id"].split(","))
            return [renderer.open311_request(r) for r in world.requests_between(0, float("inf")) if r.id in wanted]
        if args.get("updated_after") or args.get("updated_before"):
            # The common extension for following changes: filter on updated_datetime instead.
            before = _date_arg("updated_before", world.processed_to)
            after = _date_arg("updated_after", before - 90 * 86400)
            rows = sorted((r for r in world.requests_between(0, float("inf")) if after <= r.updated <= before),
                          key=lambda r: r.updated)
        else:
            end = _date_arg("end_date", world.processed_to)
            start = _date_arg("start_date", end - 90 * 86400)
            rows = world.requests_between(start, end)
        if args.get("service_code"):
            codes = set(args["service_code"].split(","))
            rows = [r for r in rows if r.service.code in codes]
        if args.get("status"):
            statuses = set(args["status"].split(","))
            rows = [r for r in rows if r.status in statuses]
        page_size = min(max(_int_arg("page_size", OPEN311_PAGE_SIZE), 1), OPEN311_PAGE_SIZE)
        page = max(_int_arg("page", 1), 1)
        return [renderer.open311_request(r) for r in rows[(page - 1) * page_size: page * page_size]]


def _open311(fmt: str, root: str, item: str, rows: list[dict[str, Any]]) -> Response:
    if fmt == "json":
        return _json(rows)
    if fmt == "xml":
        return Response(Renderer.open311_xml(root, item, rows), mimetype="text/xml")
    abort(404)


def _json(body: Any, status: int = 200) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, mimetype="application/json")


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        abort(Response(json.dumps({"error": f"{name} must be an integer"}), 400, mimetype="application/json"))


def _date_arg(name: str, default: float) -> float:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "+"))  # a bare + in a query string is a space
    except ValueError:
        abort(Response(json.dumps({"error": f"{name} is not an ISO-8601 time"}), 400, mimetype="application/json"))
    if parsed.tzinfo is None:
        abort(Response(json.dumps({"error": f"{name} needs a UTC offset"}), 400, mimetype="application/json"))
    return parsed.timestamp()


def _tick(world: World, stop: threading.Event, seconds: float) -> None:
    """Keep the city moving between requests, so MQTT readings go out on time."""
    while not stop.wait(seconds):
        try:
            world.step()
        except Exception:
            log.exception("simulator step failed")


def _start_mqtt(world: World, host: str, port: int) -> Any:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"city-ioc-sim-{world.seed}")
    client.connect_async(host, port, keepalive=30)
    client.loop_start()
    render = Renderer(world.tz, "", [])

    def publish(reading: Any) -> None:
        payload = json.dumps(render.reading(reading), ensure_ascii=False)
        client.publish(f"ioc/sensors/{reading.sensor_id}/reading", payload, qos=0)

    world.reading_listeners.append(publish)

    def stop() -> None:
        world.reading_listeners.remove(publish)
        client.disconnect()
        client.loop_stop()

    log.info("publishing water readings to mqtt://%s:%s", host, port)
    return stop


def _thread(target: Any, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class _QuietHandler(WSGIRequestHandler):
    """No access log: feeds poll every few seconds all day."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass
