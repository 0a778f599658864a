"""One answer per change-counter version for every screen a web process serves.

A hundred walls, boards and consoles ask the same question every few seconds, and between two
writes the answer is the same: the live callbacks read it (and serialise it, ``frozen``) once
per version of the counters they depend on (``ioc.store.changes``) and the parameters that shape
it, and every other screen gets the same bytes. Entries live ``TTL_S`` at most, so what depends
on the clock (ages, SLA states) or on tables without a counter is never older than that, and
at most ``SIZE`` are kept. The cache belongs to the Flask app (one per app, as tests build
several in one process, each on its own store).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import orjson
from flask import current_app
from plotly.io.json import to_json_plotly

SIZE = 256
TTL_S = 5.0
FRESH_S = 2.0  # how much later than at once a screen on a timer may see a change
_KEY = "ioc-shared"
_PARTS_KEY = "ioc-shared-parts"
PARTS_SIZE = 8192
PARTS_TTL_S = 120.0


class Shared:
    """A bounded, time-limited memo; concurrent askers of one key wait for one computation.

    A key is (what, counters, parameters). Asked with ``fresh_s``, an answer to the same question
    (what and parameters) made that recently is taken even though the counters moved since: during
    a surge they move every second, and a screen on a 5–10 s timer does not need each version.
    """

    def __init__(self, size: int = SIZE, ttl_s: float = TTL_S) -> None:
        self.size, self.ttl_s = size, ttl_s
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._latest: dict[Hashable, tuple[float, Any]] = {}  # question → its newest answer
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], Any], question: Hashable = None,
            fresh_s: float = 0.0) -> Any:
        hit = self._fresh(key, question, fresh_s)
        if hit is not None:
            return hit[1]
        with self._lock:
            gate = self._computing.setdefault(question if fresh_s else key, threading.Lock())
        with gate:
            hit = self._fresh(key, question, fresh_s)  # another thread may have computed it meanwhile
            if hit is None:
                hit = (time.monotonic(), compute())
                with self._lock:
                    self._items[key] = hit
                    self._items.move_to_end(key)
                    self._drop_old(hit[0])
                    if question is not None:
                        self._latest[question] = hit
            with self._lock:
                self._computing.pop(question if fresh_s else key, None)
        return hit[1]

    def _drop_old(self, now: float) -> None:
        """Expired answers go at once, not when the size bound pushes them out: kept to SIZE, a
        worker's memory grew 19 % over a 10-minute soak (each console's unit board is ~200 kB)."""
        while self._items and (len(self._items) > self.size
                               or now - next(iter(self._items.values()))[0] >= self.ttl_s):
            self._items.popitem(last=False)
        for question in [q for q, (at, _) in self._latest.items() if now - at >= self.ttl_s]:
            del self._latest[question]

    def _fresh(self, key: Hashable, question: Hashable, fresh_s: float) -> tuple[float, Any] | None:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit
            hit = self._latest.get(question) if fresh_s else None
            if hit is not None and now - hit[0] < fresh_s:
                return hit
            return None


def once(what: str, counters: Hashable, params: Hashable, compute: Callable[[], Any], fresh_s: float = 0.0) -> Any:
    """``compute()``, or the answer this app computed for the same ``what``, ``counters`` and
    ``params`` in the last TTL_S; with ``fresh_s``, any answer to ``what`` and ``params`` made in
    the last ``fresh_s`` seconds (so the caller must not assume it was read at ``counters``)."""
    memo = current_app.extensions.get(_KEY)
    if memo is None:
        memo = current_app.extensions.setdefault(_KEY, Shared())
    return memo.get((what, counters, params), compute, (what, params), fresh_s)


class Frozen:
    """A callback output serialised once: Dash passes the bytes through (``orjson.Fragment``)
    instead of walking a tree of thousands of components again for every screen."""

    __slots__ = ("fragment", "digest")

    def __init__(self, value: Any) -> None:
        raw = to_json_plotly(value)
        self.fragment = orjson.Fragment(raw)
        self.digest = hashlib.sha1(raw.encode()).hexdigest()[:16]


def part(key: Hashable, build: Callable[[], Any]) -> orjson.Fragment:
    """A piece of a larger output (a row, a marker) serialised once for as long as ``key``, which
    must name everything it shows, stays the same: a redraw re-serialises only what changed."""
    memo = current_app.extensions.get(_PARTS_KEY)
    if memo is None:
        memo = current_app.extensions.setdefault(_PARTS_KEY, Shared(PARTS_SIZE, PARTS_TTL_S))
    return memo.get(key, lambda: Frozen(build()).fragment)


def versions_key(versions: dict[str, int], topics: set[str] | tuple[str, ...] | None = None) -> tuple:
    """The counters of ``topics`` (all when None) as a hashable key."""
    return tuple(sorted((k, n) for k, n in versions.items() if topics is None or k in topics))
