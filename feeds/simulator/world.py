"""The demo city's state and its clock: what has happened up to now, generated lazily.

Sim time is ``start + (clock() - clock at start) × speed + manual offset`` (epoch seconds).
Faster than real time (``speed`` > 1) the run starts ``REPLAY_HOURS`` in the past and, once it
has caught up with the wall clock, goes on at real time.
Nothing runs on its own: whenever someone asks (an HTTP request, the light background tick, a
test calling ``advance``), ``step`` generates the arrivals of every whole minute up to now and
then plays every scheduled event up to now in time order. Each arrival draws from a random
generator seeded by (seed, stream, minute), and each call, case or request draws its whole
story when created, so a seed gives the same city however often it is polled. ``backfill_hours``
of history are generated at once, so a fresh start shows a living city. Changes older than
``KEEP_HOURS`` are dropped, which bounds memory.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from feeds.simulator import calls, hotline, urban
from feeds.simulator.fleet import Fleet, SimUnit, response_plan
from feeds.simulator.geography import Places
from feeds.simulator.scenario import make_scenario
from feeds.simulator.traffic import STREAMS, minute_arrivals, poisson
from feeds.simulator.weather import READING_INTERVAL, Reading, WarningOffice, make_gauges, read_gauges
from ioc.city.pack import CityPack, Division

log = logging.getLogger(__name__)

KEEP_HOURS = 48.0


def _same(item: Any) -> Any:
    return item

UNIT_LOGS = {True: "police_units", False: "emergency_units"}


class ChangeLog:
    """Changes in the order they happened, read by sequence number (the feeds' ``since``).

    A keyed log holds objects that change (incidents, cases): reading it returns each object
    once, at its latest change, rendered as it is now. An unkeyed log holds one-off facts
    (unit status reports, detections, readings).
    """

    def __init__(self, keyed: bool) -> None:
        self.keyed = keyed
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.keys: list[str | None] = []
        self.items: list[Any] = []
        self.latest: dict[str, int] = {}
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self.items)

    def append(self, t: float, item: Any, key: str | None = None) -> None:
        self.last_seq += 1
        self.seqs.append(self.last_seq)
        self.times.append(t)
        self.keys.append(key)
        self.items.append(item)
        if key is not None:
            self.latest[key] = self.last_seq

    def read(self, since: int, limit: int) -> tuple[list[Any], int, bool]:
        """Up to ``limit`` items changed after ``since``; the next ``since``; whether more wait."""
        i = bisect.bisect_right(self.seqs, since)
        out: list[Any] = []
        cursor = max(since, 0)
        while i < len(self.seqs) and len(out) < limit:
            key = self.keys[i]
            if key is None or self.latest.get(key) == self.seqs[i]:
                out.append(self.items[i])
            cursor = self.seqs[i]
            i += 1
        return out, cursor, i < len(self.seqs)

    def prune(self, cutoff: float) -> None:
        k = bisect.bisect_left(self.times, cutoff)
        for i in range(k):
            key = self.keys[i]
            if key is not None and self.latest.get(key) == self.seqs[i]:
                del self.latest[key]
        for column in (self.seqs, self.times, self.keys, self.items):
            del column[:k]


# Now and then one town calls 12345 about noise all at once for an hour (a night market's
# loudspeakers, a banquet, a bar's opening): the spike the IOC's anomaly scan is there to see.
# The first burst runs from an hour before the wall-clock time the city starts at to half an hour
# after, so a fresh demo's backfilled hour already holds it and the first scan shows it.
BURST_PER_HOUR = 30.0  # noise complaints an hour from the town of a burst (usually one or two)
BURST_CHANCE = 0.08  # share of later hours in which a burst starts somewhere
HOUR_S = 3600.0

REPLAY_HOURS = 12.0  # how far back a faster-than-real-time run starts (a typhoon's whole story)


class World:
    def __init__(
        self,
        pack: CityPack,
        scenario: str = "normal",
        seed: int | None = None,
        speed: float = 1.0,
        backfill_hours: float = 6.0,
        start: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.tz = pack.timezone
        self.speed = speed
        self.clock = clock
        self._clock0 = clock()
        wall = datetime.now(self.tz).timestamp()
        # Faster than real time, the city replays the last REPLAY_HOURS and then goes on live:
        # its clock never runs ahead of the wall clock, so every source's times stay in the past
        # (an Open311 client asks for windows up to now, a dashboard checks what is late).
        self.catch_up_to: float | None = wall if (speed > 1 and start is None) else None
        default_start = wall - REPLAY_HOURS * 3600 if self.catch_up_to is not None else wall
        self.start = float(int(start.timestamp() if start else default_start))
        # Cursors carry the run, so a client holding one from an earlier run starts over.
        self.run = f"{self.seed % 100000:05d}{int(self.start) % 100000:05d}"
        self.begin = self.start - backfill_hours * 3600
        self.offset = 0.0
        self.lock = threading.RLock()
        self.places = Places(pack)
        self.fleet = Fleet(pack)
        self.scenario = make_scenario(scenario, self.start, self.seed, self.tz)
        self.office = WarningOffice(self.tz)
        self.gauges = make_gauges(self.places, self.seed)
        self.logs = {name: ChangeLog(keyed) for name, keyed in (
            ("police", True), ("emergency", True), ("urban", True),
            ("police_units", False), ("emergency_units", False), ("video", False), ("sensors", False),
        )}
        self.requests: list[hotline.HotlineRequest] = []
        self._request_times: list[float] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.created: Counter[str] = Counter()
        self.reading_listeners: list[Callable[[Reading], None]] = []
        self._queue: list[tuple[float, str, int, Callable[..., None], tuple[Any, ...]]] = []
        self._tiebreak = itertools.count()
        self.processed_to = self.begin
        self._next_minute = math.floor(self.begin / 60) * 60
        self._next_prune = self.begin + 3600
        for unit in self.fleet.units.values():
            self.emit_unit(unit, "AQ", self.begin)
        first_reading = math.ceil(self.begin / READING_INTERVAL) * READING_INTERVAL
        self.at(first_reading, "readings", self._read_gauges, first_reading)
        self.step()

    # -- the clock ----------------------------------------------------------------------------

    def now(self) -> float:
        elapsed = self.clock() - self._clock0
        t = self.start + elapsed * self.speed + self.offset
        if self.catch_up_to is not None:
            t = min(t, self.catch_up_to + elapsed + self.offset)
        return t

    def advance(self, hours: float) -> float:
        """Move the sim clock forward by ``hours`` (tests, replays) and catch up; the new time."""
        with self.lock:
            self.offset += hours * 3600
            return self.step()

    def step(self) -> float:
        """Generate and play everything up to now; the sim time reached."""
        with self.lock:
            now = self.now()
            if now <= self.processed_to:
                return self.processed_to
            while self._next_minute <= now:
                self._generate_minute(self._next_minute)
                self._next_minute += 60
            while self._queue and self._queue[0][0] <= now:
                _, _, _, fn, args = heapq.heappop(self._queue)
                fn(*args)
            self.processed_to = now
            if now >= self._next_prune:
                self._prune(now - KEEP_HOURS * 3600)
                self._next_prune = now + 3600
            return now

    def at(self, t: float, key: str, fn: Callable[..., None], *args: Any) -> None:
        """Schedule ``fn(*args)`` at sim time ``t``; ``key`` orders events that share a time."""
        heapq.heappush(self._queue, (t, key, next(self._tiebreak), fn, args))

    # -- what the generators report ---------------------------------------------------------------

    def changed(self, log_name: str, obj: Any, t: float) -> None:
        key = getattr(obj, "id", None) or getattr(obj, "case_no")
        self.logs[log_name].append(t, obj, key)

    def emit_unit(self, unit: SimUnit, code: str, t: float) -> None:
        at = max(int(round(t)), unit.last_at + 1)
        unit.last_at = at
        lon, lat = unit.where(t)
        report = (unit.id, code, at, lon, lat, unit.incident_id)
        self.logs[UNIT_LOGS[unit.police]].append(t, report)

    def detected(self, detection: urban.Detection) -> None:
        self.logs["video"].append(detection.at, detection)

    def requested(self, request: hotline.HotlineRequest) -> None:
        self.requests.append(request)
        self._request_times.append(request.requested)

    def touched(self, request: hotline.HotlineRequest, t: float) -> None:
        """A request changed; Open311 clients see it on their next query of its date window."""

    # -- queries (callers hold no lock; each takes it) ---------------------------------------------

    def read(self, log_name: str, since: int, limit: int,
             render: Callable[[Any], Any] = _same) -> tuple[list[Any], int, bool]:
        """A page of a change log, rendered under the lock so no object changes half-way."""
        with self.lock:
            self.step()
            items, next_since, more = self.logs[log_name].read(since, limit)
            return [render(i) for i in items], next_since, more

    def requests_between(self, start: float, end: float,
                         render: Callable[[Any], Any] = _same) -> list[Any]:
        with self.lock:
            self.step()
            lo = bisect.bisect_left(self._request_times, start)
            hi = bisect.bisect_right(self._request_times, end)
            return [render(r) for r in self.requests[lo:hi]]

    def cap_messages(self) -> list[Any]:
        with self.lock:
            self.step()
            return list(self.office.messages)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            self.step()
            busy = sum(1 for u in self.fleet.units.values() if not u.available)
            return {
                "sim_time": datetime.fromtimestamp(self.processed_to, self.tz).isoformat(timespec="seconds"),
                "created": dict(self.created),
                "busy_units": busy,
                "signals": self.office.active(),
                "max_water_m": round(max((g.depth for g in self.gauges), default=0.0), 2),
                "open_requests": sum(1 for r in self.requests if r.status == "open"),
            }

    def cursor(self, seq: int) -> str:
        return f"{self.run}-{seq}"

    def parse_cursor(self, since: str | None) -> int:
        """The sequence number in a ``since``; 0 for none or another run's; ValueError if unreadable."""
        if not since:
            return 0
        run, _, seq = since.rpartition("-")
        number = int(seq)
        if run and run != self.run:
            log.info("cursor %s is from another run of the simulator; starting from the beginning", since)
            return 0
        return number

    # -- agency orders ---------------------------------------------------------------------------

    def order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An agency receives a dispatch order from the IOC; (HTTP status, answer)."""
        problem = _order_problem(body)
        if problem:
            return 400, {"error": problem}
        with self.lock:
            now = self.step()
            order_id = str(body["order_id"])
            if order_id in self.orders:
                return 200, self.orders[order_id]
            unit = self.fleet.units.get(str(body["unit_id"]))
            if unit is None:
                return 404, {"error": f"unknown unit {body['unit_id']}"}
            if not unit.available:
                return 409, {"error": f"unit {unit.id} is busy ({unit.code}) on {unit.incident_id}"}
            rng = random.Random(f"{self.seed}|order|{order_id}")
            scene = (float(body["lon"]), float(body["lat"]))
            steps = response_plan(unit.unit_type, scene, unit.home, rng.uniform(30, 90), rng.uniform(900, 1800))
            self.fleet.start_job(self, unit, now, steps, str(body["incident_id"]))
            answer = {"order_id": order_id, "unit_id": unit.id, "incident_id": str(body["incident_id"]),
                      "accepted": True, "status": "DISPATCHED",
                      "accepted_at": datetime.fromtimestamp(round(now), self.tz).isoformat()}
            self.orders[order_id] = answer
            log.info("agency order %s: %s sent to %s", order_id, unit.id, body["incident_id"])
            return 202, answer

    # -- generation --------------------------------------------------------------------------------

    def _generate_minute(self, minute: float) -> None:
        local = datetime.fromtimestamp(minute, self.tz)
        stamp = local.strftime("%Y%m%d%H%M")
        surge = self.scenario.surge(minute)
        for name, stream in STREAMS.items():
            rng = random.Random(f"{self.seed}|{name}|{minute:.0f}")
            for k, (second, category) in enumerate(minute_arrivals(rng, stream, local.hour, surge)):
                self._create(name, rng, category, minute + second, f"{stamp}{k:03d}")
        town = self.burst_town(minute)
        if town is not None:
            rng = random.Random(f"{self.seed}|burst|{minute:.0f}")
            for k in range(poisson(rng, BURST_PER_HOUR / 60)):
                self.created["12345"] += 1
                hotline.new_request(self, rng, "noise", minute + rng.random() * 60, f"HB{stamp}{k:03d}",
                                    place=self.places.random_place(rng, town))
        for change in self.scenario.signal_changes(minute, minute + 60):
            self.at(change.at, f"signal|{change.family}", self.office.issue, change)

    def burst_town(self, t: float) -> Division | None:
        """The town of the noise burst going on at ``t``, if one is: the first from an hour before
        the wall-clock start to half an hour after, then in whole hours (of the sim clock) drawn
        from the seed."""
        anchor = self.catch_up_to if self.catch_up_to is not None else self.start
        if anchor - HOUR_S <= t < anchor + HOUR_S / 2:
            return self.places.pick_division(random.Random(f"{self.seed}|burst-town|first"))
        if t < anchor + HOUR_S / 2:
            return None
        slot = math.floor(t / HOUR_S)
        rng = random.Random(f"{self.seed}|burst|{slot}")
        return self.places.pick_division(rng) if rng.random() < BURST_CHANCE else None

    def _create(self, stream: str, rng: random.Random, category: str, t: float, number: str) -> None:
        self.created[stream] += 1
        if stream in ("110", "119", "120"):
            calls.new_call(self, rng, stream, category, t, number)
        elif stream == "12345":
            hotline.new_request(self, rng, category, t, f"H{number}")
        elif stream == "urban":
            urban.new_case(self, rng, category, t, number)
        elif stream == "video":
            urban.new_detections(self, rng, category, t, number)

    def _read_gauges(self, t: float) -> None:
        for reading in read_gauges(self.gauges, self.scenario.rain(t), t, self.seed):
            self.logs["sensors"].append(t, reading)
            if t >= self.start:
                for listener in self.reading_listeners:
                    listener(reading)
        self.at(t + READING_INTERVAL, "readings", self._read_gauges, t + READING_INTERVAL)

    def _prune(self, cutoff: float) -> None:
        for changelog in self.logs.values():
            changelog.prune(cutoff)
        k = bisect.bisect_left(self._request_times, cutoff)
        del self.requests[:k]
        del self._request_times[:k]
        self.office.prune(cutoff)


def _order_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the order must be a JSON object"
    missing = [k for k in ("order_id", "unit_id", "incident_id", "lon", "lat") if body.get(k) in (None, "")]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        lon, lat = float(body["lon"]), float(body["lat"])
    except (TypeError, ValueError):
        return "lon and lat must be numbers (WGS-84)"
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return "lon/lat out of range"
    return None
