"""The demo city over real HTTP, read by the real adapters, with the sim clock driven by the tests."""

from __future__ import annotations

import importlib
import json
import queue
import re
import socket
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
import shapely
from defusedxml import ElementTree as SafeET

from feeds.base import REGISTRY
from feeds.cad import EmergencyCadAdapter, PoliceCadAdapter
from feeds.simulator import demo_feeds, start_simulator
from feeds.simulator.__main__ import _host_port, _parser
from feeds.simulator.formats import Renderer
from feeds.simulator.traffic import STREAMS
from feeds.simulator.weather import ALARM_LEVEL, WARNING_LEVEL
from feeds.simulator.world import KEEP_HOURS, World
from feeds.urban_cases import UrbanCasesAdapter
from feeds.video_ai import VideoAiAdapter
from ioc.city.geo import DivisionIndex, to_wgs84
from ioc.city.pack import load_pack
from ioc.config import GEODATA_DIR, FeedSettings
from ioc.records import CATEGORIES, Reject
from tests.conftest import unavailable

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 7, 1, 8, 0, tzinfo=TZ)
HOUR = 3600.0
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
ADAPTER_MODULES = {"police_cad": "feeds.cad", "emergency_cad": "feeds.cad", "urban_cases": "feeds.urban_cases",
                   "video_ai": "feeds.video_ai", "cap": "feeds.cap", "open311": "feeds.open311",
                   "sensors_http": "feeds.sensors_http", "mqtt_sensors": "feeds.mqtt_sensors"}
OWN_ADAPTERS = {"police_cad": PoliceCadAdapter, "emergency_cad": EmergencyCadAdapter,
                "urban_cases": UrbanCasesAdapter, "video_ai": VideoAiAdapter}


def frozen() -> float:
    return 0.0


@pytest.fixture(scope="module")
def pack():
    return load_pack(GEODATA_DIR / "dongguan")


@pytest.fixture(scope="module")
def divisions(pack):
    return DivisionIndex(pack.divisions())


@pytest.fixture(scope="module")
def sim(pack):
    handle = start_simulator(pack, seed=42, scenario="typhoon", backfill_hours=3, start=START, clock=frozen)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def normal_day(pack):
    """A normal-scenario world that has lived exactly one day, from midnight."""
    world = World(pack, scenario="normal", seed=3, backfill_hours=0,
                  start=datetime(2024, 7, 2, tzinfo=TZ), clock=frozen)
    world.advance(24)
    return world


def advance_to(world: World, hours_after_start: float) -> None:
    target = world.start + hours_after_start * HOUR
    if world.processed_to < target:
        world.advance((target - world.processed_to) / HOUR)


def own_adapter(feed: FeedSettings):
    cls = OWN_ADAPTERS[feed.kind]
    return cls(feed, cls.Config.model_validate(feed.model_extra or {}))


def drain(adapter, cursor, client):
    items = []
    while True:
        result = adapter.fetch(cursor, client)
        items += result.items
        cursor = result.cursor
        if not result.more:
            return items, cursor


# -- the sources we own, through the real adapters -------------------------------------------------


def test_owned_sources_parse_and_land_inside_the_city(sim, divisions):
    feeds = [f for f in demo_feeds(sim.base_url) if f.kind in OWN_ADAPTERS]
    assert {f.kind for f in feeds} == set(OWN_ADAPTERS)
    with httpx.Client() as client:
        for feed in feeds:
            adapter = own_adapter(feed)
            items, cursor = drain(adapter, None, client)
            assert items, feed.name
            records = [r for item in items for r in adapter.parse(item)]  # a Reject fails the test
            placed = [r for r in records if r.lon is not None]
            assert len(placed) > 0.9 * len(records)
            for r in placed[:: max(1, len(placed) // 300)]:
                lon, lat = to_wgs84(r.lon, r.lat, feed.crs)
                assert divisions.locate(lon, lat) is not None, (feed.name, r)
            assert adapter.fetch(cursor, client).items == [], f"{feed.name}: re-poll returned old items"


def test_incidents_evolve_between_polls(sim):
    feed = next(f for f in demo_feeds(sim.base_url) if f.name == "police_110")
    adapter = own_adapter(feed)
    with httpx.Client() as client:
        first, cursor = drain(adapter, None, client)
        sim.world.advance(0.5)
        later, _ = drain(adapter, cursor, client)
    before = {r.external_id: r for i in first for r in adapter.parse(i) if r.kind == "incident"}
    after = [r for i in later for r in adapter.parse(i) if r.kind == "incident"]
    updated = [r for r in after if r.external_id in before and r.status != before[r.external_id].status]
    assert updated, "no incident changed status in half an hour"
    statuses = Counter(r.status for r in after)
    assert statuses["closed"] and statuses["new"]
    units = [r for i in later for r in adapter.parse(i) if r.kind == "unit_status"]
    assert {"DISPATCHED", "EN_ROUTE", "ON_SCENE"} <= {u.status for u in units}


def test_video_positions_are_the_cameras_in_gcj02(sim, pack):
    cameras = {p.id: p for p in pack.key_points() if p.kind == "camera"}
    feed = next(f for f in demo_feeds(sim.base_url) if f.kind == "video_ai")
    adapter = own_adapter(feed)
    with httpx.Client() as client:
        items, _ = drain(adapter, None, client)
    records = [adapter.parse(i)[0] for i in items]
    for r in records[:50]:
        camera = cameras[r.extra["camera_id"]]
        lon, lat = to_wgs84(r.lon, r.lat, "gcj02")
        assert abs(lon - camera.lon) < 1e-5 and abs(lat - camera.lat) < 1e-5
    statuses = Counter(r.status for r in records)
    assert statuses["unverified"] and statuses["new"]
    assert len({r.external_id for r in records}) < len(records), "repeats should fold"


# -- CAP 1.2 ----------------------------------------------------------------------------------------


def fetch_cap(client: httpx.Client, base_url: str) -> list:
    index = client.get(f"{base_url}/cap/index.atom")
    assert index.status_code == 200
    feed = SafeET.fromstring(index.content)
    assert feed.tag == f"{ATOM}feed"
    links = [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")]
    alerts = []
    for href in links:
        response = client.get(href)
        assert response.status_code == 200
        alerts.append(check_cap(response.content))
    return alerts


def check_cap(xml: bytes):
    """CAP 1.2 structure, enumerations and syntax (OASIS CAP 1.2 §3)."""
    alert = SafeET.fromstring(xml)
    assert alert.tag == f"{CAP}alert"

    def text(parent, tag):
        element = parent.find(f"{CAP}{tag}")
        assert element is not None and element.text, f"missing {tag}"
        return element.text

    for tag in ("identifier", "sender"):
        assert not re.search(r"[\s,<&]", text(alert, tag))
    assert CAP_TIME.match(text(alert, "sent"))
    assert text(alert, "status") in {"Actual", "Exercise", "System", "Test", "Draft"}
    assert text(alert, "msgType") in {"Alert", "Update", "Cancel", "Ack", "Error"}
    assert text(alert, "scope") == "Public"
    if text(alert, "msgType") in ("Update", "Cancel"):
        for ref in text(alert, "references").split():
            sender, identifier, sent = ref.split(",")
            assert sender and identifier and CAP_TIME.match(sent)
    for info in alert.findall(f"{CAP}info"):
        assert text(info, "category") in {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                                          "Transport", "Infra", "CBRNE", "Other"}
        text(info, "event")
        assert text(info, "urgency") in {"Immediate", "Expected", "Future", "Past", "Unknown"}
        assert text(info, "severity") in {"Extreme", "Severe", "Moderate", "Minor", "Unknown"}
        assert text(info, "certainty") in {"Observed", "Likely", "Possible", "Unlikely", "Unknown"}
        for tag in ("effective", "onset", "expires"):
            assert CAP_TIME.match(text(info, tag))
        for area in info.findall(f"{CAP}area"):
            text(area, "areaDesc")
            for polygon in area.findall(f"{CAP}polygon"):
                pairs = [tuple(map(float, p.split(","))) for p in polygon.text.split()]
                assert len(pairs) >= 4 and pairs[0] == pairs[-1]
                assert all(22.5 < lat < 23.3 and 113.4 < lon < 114.4 for lat, lon in pairs), "lat,lon order"
    return alert


def test_cap_signals_rise_then_cancel(sim):
    with httpx.Client() as client:
        advance_to(sim.world, 3.5)
        rising = fetch_cap(client, sim.base_url)
        advance_to(sim.world, 9)
        alerts = fetch_cap(client, sim.base_url)
    headlines = {a.find(f"{CAP}info/{CAP}headline").text for a in rising}
    assert {"东莞市台风红色预警信号", "东莞市暴雨红色预警信号", "东莞市台风白色预警信号"} <= headlines
    by_id = {a.find(f"{CAP}identifier").text: a for a in alerts}
    cancels = [a for a in alerts if a.find(f"{CAP}msgType").text == "Cancel"]
    assert len(cancels) == 2
    for cancel in cancels:
        (ref,) = cancel.find(f"{CAP}references").text.split()
        assert by_id[ref.split(",")[1]].find(f"{CAP}info/{CAP}eventCode/{CAP}value").text.endswith("-red")
    updates = [a for a in alerts if a.find(f"{CAP}msgType").text == "Update"]
    assert len(updates) == 6  # typhoon blue..red, rainstorm orange and red
    for update in updates:
        referenced = update.find(f"{CAP}references").text.split(",")[1]
        assert referenced in by_id
        assert by_id[referenced].find(f"{CAP}sent").text <= update.find(f"{CAP}sent").text


def test_a_cursor_from_another_run_starts_over(sim):
    with httpx.Client() as client:
        fresh = client.get(f"{sim.base_url}/urban/cases", params={"limit": 5}).json()
        stale = client.get(f"{sim.base_url}/urban/cases", params={"limit": 5, "since": "0000100001-999999"}).json()
        assert fresh["cases"] and stale["cases"] == fresh["cases"]
        assert client.get(f"{sim.base_url}/urban/cases", params={"since": "garbage"}).status_code == 400


# -- Open311 GeoReport v2 (12345) --------------------------------------------------------------------


REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


def test_open311_follows_georeport_v2(sim, divisions):
    base = f"{sim.base_url}/open311"
    with httpx.Client() as client:
        services = client.get(f"{base}/services.json").json()
        fields = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
        assert fields <= set(services[0])
        assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)
        codes = {s["service_code"] for s in services}
        end = datetime.fromtimestamp(sim.world.processed_to, TZ)
        window = {"start_date": (end - timedelta(hours=2)).isoformat(), "end_date": end.isoformat()}
        rows = client.get(f"{base}/requests.json", params=window).json()
        assert len(rows) > 100
        for row in rows:
            assert REQUEST_FIELDS <= set(row)
            assert row["status"] in ("open", "closed") and row["service_code"] in (codes | {""})
            if not row["service_code"]:  # a caller in their own words: no service, no point, no address
                assert row["lat"] is None and row["address"] == "" and row["description"]
            requested = datetime.fromisoformat(row["requested_datetime"])
            assert end - timedelta(hours=2) <= requested <= end
            assert datetime.fromisoformat(row["updated_datetime"]) >= requested
            if row["lat"] is not None:
                assert divisions.locate(*to_wgs84(row["long"], row["lat"], "bd09")) is not None
        assert Counter(r["status"] for r in rows)["closed"] > 0
        assert 0 < sum(not r["service_code"] for r in rows) < len(rows) / 4
        pages = [client.get(f"{base}/requests.json", params={**window, "page": p, "page_size": 40}).json()
                 for p in (1, 2)]
        assert [r["service_request_id"] for r in pages[0] + pages[1]] == [r["service_request_id"] for r in rows[:80]]
        xml = SafeET.fromstring(client.get(f"{base}/requests.xml", params=window).content)
        assert xml.tag == "service_requests" and len(xml.findall("request")) == len(rows)
        one = client.get(f"{base}/requests/{rows[0]['service_request_id']}.json").json()
        assert one[0]["service_request_id"] == rows[0]["service_request_id"]
        picked = client.get(f"{base}/requests.json", params={"service_request_id": ",".join(
            r["service_request_id"] for r in rows[:3])}).json()
        assert len(picked) == 3
        assert client.get(f"{base}/requests.json", params={"start_date": "yesterday"}).status_code == 400


# -- water gauges ----------------------------------------------------------------------------------


def test_sensor_readings_page_with_a_cursor(sim, pack):
    gauges = {p.id for p in pack.key_points() if p.kind == "water_gauge"}
    with httpx.Client() as client:
        first = client.get(f"{sim.base_url}/sensors/readings", params={"limit": 100}).json()
        assert first["has_more"] and len(first["readings"]) == 100
        reading = first["readings"][0]
        assert set(reading) == {"sensor_id", "key_point_id", "kind", "unit", "value", "at", "warning_level",
                                "alarm_level", "lon", "lat"}
        assert (reading["kind"], reading["unit"]) == ("water_level", "m")
        assert reading["warning_level"] < reading["alarm_level"]
        seen, rest = list(first["readings"]), first
        while rest["has_more"]:
            rest = client.get(f"{sim.base_url}/sensors/readings",
                              params={"since": rest["next_since"], "limit": 5000}).json()
            seen += rest["readings"]
        assert {r["key_point_id"] for r in seen} == gauges
        assert len({r["sensor_id"] for r in seen}) == len(gauges)
        again = client.get(f"{sim.base_url}/sensors/readings", params={"since": rest["next_since"]}).json()
        assert again["readings"] == []
        assert client.get(f"{sim.base_url}/sensors/readings", params={"since": "x"}).status_code == 400


# -- agency orders -------------------------------------------------------------------------------------


def test_agency_order_moves_the_unit_through_its_statuses(pack):
    handle = start_simulator(pack, seed=9, backfill_hours=0, start=START, clock=frozen)
    try:
        unit = handle.world.fleet.units["PC-0001"]
        target = (unit.home[0] + 0.03, unit.home[1] - 0.02)
        order = {"order_id": "ORD-1", "unit_id": "PC-0001", "incident_id": "IOC-77",
                 "lon": target[0], "lat": target[1], "kind": "dispatch"}
        feed = FeedSettings(name="police_110", kind="police_cad", base_url=f"{handle.base_url}/police")
        adapter = own_adapter(feed)
        with httpx.Client() as client:
            _, cursor = drain(adapter, None, client)
            answer = client.post(f"{handle.base_url}/agency/orders", json=order)
            assert answer.status_code == 202 and answer.json()["status"] == "DISPATCHED"
            assert client.post(f"{handle.base_url}/agency/orders", json=order).status_code == 200
            busy = client.post(f"{handle.base_url}/agency/orders", json=dict(order, order_id="ORD-2"))
            assert busy.status_code == 409
            assert client.post(f"{handle.base_url}/agency/orders",
                               json=dict(order, order_id="ORD-3", unit_id="NOPE")).status_code == 404
            assert client.post(f"{handle.base_url}/agency/orders", json={"unit_id": "PC-0002"}).status_code == 400
            reports = []
            for _ in range(120):
                handle.world.advance(1 / 60)
                items, cursor = drain(adapter, cursor, client)
                reports += [r for i in items for r in adapter.parse(i) if getattr(r, "unit_id", "") == "PC-0001"]
            assert client.get(f"{handle.base_url}/agency/orders/ORD-1").json()["incident_id"] == "IOC-77"
    finally:
        handle.stop()
    back = next(i for i, r in enumerate(reports) if r.status == "AVAILABLE")
    reports = reports[: back + 1]  # once home, the city may send the car out again
    statuses = [r.status for r in reports]
    distinct = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert distinct == ["DISPATCHED", "EN_ROUTE", "ON_SCENE", "CLEARED", "AVAILABLE"]
    assert all(r.incident_external_id == "IOC-77" for r in reports if r.status != "AVAILABLE")
    en_route = [r for r in reports if r.status == "EN_ROUTE"]
    gaps = [abs(r.lon - target[0]) + abs(r.lat - target[1]) for r in en_route]
    assert len(gaps) >= 3 and gaps == sorted(gaps, reverse=True), "the unit should close in on the scene"
    on_scene = next(r for r in reports if r.status == "ON_SCENE")
    assert (round(on_scene.lon, 5), round(on_scene.lat, 5)) == (round(target[0], 5), round(target[1], 5))
    home = reports[-1]
    assert (round(home.lon, 5), round(home.lat, 5)) == (round(unit.home[0], 5), round(unit.home[1], 5))


# -- volumes, curves, population --------------------------------------------------------------------


def day_entities(world: World) -> dict[str, list]:
    """Everything created in the world's first day, by stream."""
    t0, t1 = world.start, world.start + 24 * HOUR
    calls = {o.id: o for name in ("police", "emergency") for o in world.logs[name].items}
    cases = {o.case_no: o for o in world.logs["urban"].items}
    out = {
        "110": [c for c in calls.values() if c.centre == "110"],
        "119": [c for c in calls.values() if c.centre == "119"],
        "120": [c for c in calls.values() if c.centre == "120"],
        "urban": list(cases.values()),
        "12345": list(world.requests),
        "video": list(world.logs["video"].items),
    }
    when = {"110": "received_at", "119": "received_at", "120": "received_at", "12345": "requested", "video": "at"}
    return {k: [o for o in v if t0 <= (getattr(o, when[k]) if k in when else o.times["受理"]) < t1]
            for k, v in out.items()}


def test_volumes_are_near_a_real_dongguan_day(normal_day):
    counts = {k: len(v) for k, v in day_entities(normal_day).items()}
    targets = {name: stream.per_day for name, stream in STREAMS.items()}
    for name, target in targets.items():
        assert 0.8 * target <= counts[name] <= 1.2 * target, (name, counts[name], target)


def test_volumes_follow_population_and_the_hour(normal_day, pack):
    entities = day_entities(normal_day)
    per_division = Counter()
    for name in ("110", "119", "120", "urban", "12345"):
        for o in entities[name]:
            per_division[o.place.division.code] += 1
            assert shapely.contains_xy(o.place.division.shape, o.place.lon, o.place.lat)
    divisions = pack.divisions()
    population = np.array([d.population for d in divisions], dtype=float)
    counts = np.array([per_division[d.code] for d in divisions], dtype=float)
    assert np.corrcoef(population, counts)[0, 1] > 0.95

    def hour(t: float) -> int:
        return datetime.fromtimestamp(t, TZ).hour

    calls_by_hour = Counter(hour(c.received_at) for c in entities["110"])
    assert calls_by_hour[3] + calls_by_hour[4] < 0.5 * (calls_by_hour[9] + calls_by_hour[10])
    vending = Counter(hour(c.times["受理"]) for c in entities["urban"] if c.category == "street_vending")
    assert sum(vending[h] for h in (18, 19, 20)) > 2 * sum(vending[h] for h in (6, 7, 8))
    traffic = Counter(hour(c.received_at) for c in entities["110"] if c.category == "traffic_accident")
    assert traffic[8] > 2 * traffic[3] and traffic[18] > 1.5 * traffic[14]


def test_memory_stays_bounded(normal_day):
    advance_to(normal_day, 52)
    cutoff = normal_day.processed_to - (KEEP_HOURS + 1) * HOUR
    for name, changelog in normal_day.logs.items():
        assert changelog.times and changelog.times[0] >= cutoff, name
    assert normal_day.requests[0].requested >= cutoff
    assert len(normal_day._queue) < 20000


# -- scenario and determinism -------------------------------------------------------------------------


def test_typhoon_floods_then_recovers(pack):
    world = World(pack, scenario="typhoon", seed=5, backfill_hours=0, start=START, clock=frozen)
    calm = World(pack, scenario="normal", seed=5, backfill_hours=0, start=START, clock=frozen)
    peak_depths, signals = [], []
    for _ in range(12):
        world.advance(1)
        peak_depths.append(max(g.depth for g in world.gauges))
        signals.append(dict(world.office.active()))
    calm.advance(12)
    assert {"typhoon": "red", "rainstorm": "red"} in signals
    assert max(peak_depths) > ALARM_LEVEL
    above_alarm = sum(1 for g in world.logs["sensors"].items if g.value > ALARM_LEVEL)
    assert above_alarm > 100
    assert all(g.depth < WARNING_LEVEL for g in world.gauges), "water should have drained by S+12h"
    assert signals[-1] == {}
    weather = ("waterlogging", "fallen_tree")

    def weather_reports(w: World) -> int:
        in_peak = lambda t: w.start + 3 * HOUR <= t < w.start + 6 * HOUR  # noqa: E731
        cases = {c.case_no: c for c in w.logs["urban"].items if c.category in weather and in_peak(c.times["受理"])}
        calls = {c.id: c for c in w.logs["police"].items if c.category in weather and in_peak(c.received_at)}
        reqs = [r for r in w.requests if r.service.category in weather and in_peak(r.requested)]
        return len(cases) + len(calls) + len(reqs)

    assert weather_reports(world) > 3 * max(weather_reports(calm), 1)
    total = lambda w: sum(1 for r in w.requests if w.start + 3 * HOUR <= r.requested < w.start + 6 * HOUR)  # noqa: E731
    assert 2.0 < total(world) / total(calm) < 6.0


def test_same_seed_same_city_however_it_is_polled(pack):
    one = World(pack, scenario="typhoon", seed=11, backfill_hours=1, start=START, clock=frozen)
    many = World(pack, scenario="typhoon", seed=11, backfill_hours=1, start=START, clock=frozen)
    one.advance(2)
    for _ in range(16):
        many.advance(0.125)
    render = Renderer(TZ, "http://sim", [])
    for name, method in (("police", "cad_incident"), ("emergency", "cad_incident"), ("urban", "urban_case"),
                         ("police_units", "cad_unit"), ("video", "detection"), ("sensors", "reading")):
        a = [getattr(render, method)(i) for i in one.read(name, 0, 100000)[0]]
        b = [getattr(render, method)(i) for i in many.read(name, 0, 100000)[0]]
        assert a == b, name
    other = World(pack, scenario="typhoon", seed=12, backfill_hours=1, start=START, clock=frozen)
    assert [i.id for i in other.read("police", 0, 50)[0]] != [i.id for i in one.read("police", 0, 50)[0]]


# -- MQTT -----------------------------------------------------------------------------------------------


def test_readings_are_published_over_mqtt(pack):
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
    except OSError:
        unavailable("no MQTT broker on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt

    received: queue.Queue = queue.Queue()
    subscribed = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: received.put((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *a: subscribed.put(True)
    client.on_connect = lambda c, *a: c.subscribe("ioc/sensors/+/reading")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    handle = None
    try:
        subscribed.get(timeout=5)
        handle = start_simulator(pack, seed=1, backfill_hours=0, start=START, clock=frozen, mqtt=("127.0.0.1", 1883))
        handle.world.advance(11 / 60)  # two reading rounds
        messages = [received.get(timeout=10) for _ in range(45)]
    finally:
        if handle:
            handle.stop()
        client.loop_stop()
        client.disconnect()
    topic, body = messages[0]
    assert topic == f"ioc/sensors/{body['sensor_id']}/reading"
    assert body["kind"] == "water_level" and body["unit"] == "m"


# -- the feed list and the command line ------------------------------------------------------------------


def test_demo_feeds_point_every_adapter_at_the_simulator(sim):
    feeds = demo_feeds(sim.base_url)
    by_name = {f.name: f for f in feeds}
    assert set(by_name) == {"police_110", "emergency_119_120", "urban_cases", "video_ai", "weather_cap",
                            "hotline_12345", "sensors"}
    assert {f.name: (f.kind, f.crs) for f in feeds} == {
        "police_110": ("police_cad", "wgs84"), "emergency_119_120": ("emergency_cad", "wgs84"),
        "urban_cases": ("urban_cases", "gcj02"), "video_ai": ("video_ai", "gcj02"), "weather_cap": ("cap", "wgs84"),
        "hotline_12345": ("open311", "bd09"), "sensors": ("sensors_http", "wgs84"),
    }
    assert all(5 <= f.interval_seconds <= 30 for f in feeds)
    hotline = by_name["hotline_12345"].model_extra
    assert hotline["format"] == "json" and hotline["window_hours"] > 0
    assert set(hotline["service_map"].values()) <= set(CATEGORIES)
    mqtt_feeds = {f.name: f for f in demo_feeds(sim.base_url, mqtt=("127.0.0.1", 1883))}
    assert mqtt_feeds["sensors"].kind == "mqtt_sensors"
    assert mqtt_feeds["sensors"].model_extra == {"host": "127.0.0.1", "port": 1883, "topic": "ioc/sensors/+/reading"}
    for feed in feeds + [mqtt_feeds["sensors"]]:  # every option is one its adapter knows
        try:
            importlib.import_module(ADAPTER_MODULES[feed.kind])
        except ModuleNotFoundError:
            continue
        REGISTRY[feed.kind].Config.model_validate(feed.model_extra or {})


@pytest.fixture(scope="module")
def recent_sim(pack):
    """A typhoon that started two sim-hours before the wall clock: for adapters that window on real time."""
    handle = start_simulator(pack, seed=8, scenario="typhoon", backfill_hours=2,
                             start=datetime.now(TZ) - timedelta(hours=2), clock=frozen)
    handle.world.advance(1.5)
    yield handle
    handle.stop()


@pytest.mark.parametrize("name", ["weather_cap", "hotline_12345", "sensors"])
def test_other_teams_adapters_read_the_simulator(recent_sim, name):
    """Runs once feeds/cap.py, feeds/open311.py and feeds/sensors_http.py exist."""
    feed = next(f for f in demo_feeds(recent_sim.base_url) if f.name == name)
    try:
        importlib.import_module(ADAPTER_MODULES[feed.kind])
    except ModuleNotFoundError as exc:
        pytest.skip(f"adapter for {feed.kind} not written yet ({exc.name})")
    cls = REGISTRY[feed.kind]
    adapter = cls(feed, cls.Config.model_validate(feed.model_extra or {}))
    with httpx.Client() as client:
        items, cursor = drain(adapter, None, client)
        assert items
        rejects = []
        for item in items:
            try:
                adapter.parse(item)
            except Reject as exc:
                rejects.append(str(exc))
        assert not rejects, rejects[:5]
        if cursor is not None and feed.kind != "open311":  # Open311 re-reads its window by design
            assert adapter.fetch(cursor, client).items == []


def test_command_line_arguments():
    argv = ["--speed", "10", "--scenario", "typhoon", "--port", "8060", "--mqtt", "127.0.0.1:1883"]
    args = _parser().parse_args(argv)
    assert (args.speed, args.scenario, args.port) == (10.0, "typhoon", 8060)
    assert _host_port(args.mqtt) == ("127.0.0.1", 1883)
    with pytest.raises(SystemExit):
        _host_port("1883")


def test_raw_items_are_stable_for_unchanged_records(sim):
    feed = next(f for f in demo_feeds(sim.base_url) if f.name == "urban_cases")
    adapter = own_adapter(feed)
    with httpx.Client() as client:
        a = adapter.fetch(None, client).items
        b = adapter.fetch(None, client).items
    assert a and [i.content_hash for i in a] == [i.content_hash for i in b]


def test_a_fast_run_replays_the_past_and_never_runs_ahead_of_the_wall_clock(pack):
    from feeds.simulator.world import REPLAY_HOURS, World

    ticks = [0.0]
    world = World(pack, speed=60, seed=5, backfill_hours=0, clock=lambda: ticks[0])
    wall = world.catch_up_to
    assert world.now() == pytest.approx(wall - REPLAY_HOURS * 3600, abs=1)
    ticks[0] = 600.0  # ten real minutes at ×60: ten sim-hours later, still in the past
    assert world.now() == pytest.approx(wall - 2 * 3600, abs=1)
    ticks[0] = 3600.0  # an hour later the replay has caught up and runs at real time
    assert world.now() == pytest.approx(wall + 3600, abs=1)


def test_12345_closures_reach_the_store_through_the_updated_window(pack, tmp_path, monkeypatch):
    """Requests first seen open come back once closed, because the demo feed filters on updated."""
    from sqlalchemy import select

    from feeds.base import build_adapter
    from ioc.intake.ingest import FeedContext, ingest_batch
    from ioc.store import models
    from ioc.store.db import make_engine, transaction
    from ioc.store.migrate import upgrade
    from ioc.store.packload import load_pack_into_store

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    load_pack_into_store(engine, pack)
    handle = start_simulator(pack, seed=8, backfill_hours=1, start=START, clock=frozen)

    class SimTime(datetime):  # the adapter's "now" is the city's, which the test moves
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(handle.world.now(), tz)

    monkeypatch.setattr("feeds.open311.datetime", SimTime)
    try:
        feed = next(f for f in demo_feeds(handle.base_url) if f.name == "hotline_12345")
        adapter = build_adapter(feed)
        ctx = FeedContext.for_feed(feed.name, feed.kind, feed.crs, pack)

        def poll_all(cursor):
            with httpx.Client(timeout=30) as client:
                while True:
                    result = adapter.fetch(cursor, client)
                    ingest_batch(engine, ctx, result.items, adapter.parse, result.cursor)
                    cursor = result.cursor
                    if not result.more:
                        return cursor

        def still_open(ids=None):
            stmt = select(models.Incident.external_id).where(
                models.Incident.source == feed.name, models.Incident.status.not_in(("resolved", "closed")))
            with transaction(engine) as s:
                found = set(s.scalars(stmt))
            return found if ids is None else found & ids

        cursor = poll_all(None)
        first_seen_open = still_open()
        assert len(first_seen_open) > 50
        # Callers in their own words come with no place and no category; triage suggests both.
        with transaction(engine) as s:
            unstated = [i for i in s.scalars(select(models.Incident).where(models.Incident.source == feed.name,
                                                                            models.Incident.category == "other"))]
        meant = {r.id: (r.place.division.code, r.meant) for r in handle.world.requests}
        assert unstated and all(i.district_code is None for i in unstated)
        assert all((i.extra["triage"]["division"], i.extra["triage"]["category"]) == meant[i.external_id]
                   for i in unstated)
        handle.world.advance(26)  # a day later most of those requests have been answered
        poll_all(cursor)
        assert len(still_open(first_seen_open)) < len(first_seen_open) / 2
    finally:
        handle.stop()
