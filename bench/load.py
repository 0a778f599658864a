"""Load and soak: screens refreshing against gunicorn while the worker takes a surge of reports.

    .venv/bin/python -m bench.load [--clients 100] [--seconds 600] [--surge 10] [--json]

What runs, all on loopback and stopping by itself after ``seconds``:
- the demo city (``python -m feeds.simulator``) at ``surge`` × real time: every source sends
  ``surge`` times its normal volume, after an hour of backlog at once;
- ``python -m ioc worker`` polling all its feeds into a throwaway PostgreSQL database (on
  ``IOC_TEST_PG``, default the local server; dropped afterwards);
- ``gunicorn -c gunicorn.conf.py -w 2 app:server`` (the production web process: 2 workers of 4 threads);
- ``clients`` threads, a third each a wall (leader), a board and a dispatch console (duty
  officers), signed in through the sign-in form (SIGNING_AT_ONCE at a time, before the clock
  starts; the sign-ins are reported as their own page, outside the overall percentiles), each
  sending every 5 s the Dash callback POSTs its page sends on its timers (the live map's change check and deltas, the wall's panels; the
  board's grid block; the console's queue and unit board, and its incident when the selection
  changes).

Measured: requests, errors (any answer but 200 / 204, or no answer), p50 / p95 / max latency per
page, records lost (per feed, fetched − landed − sent again: ``BatchReport`` keeps
fetched = landed + duplicates, so anything else is a record lost), peak RSS of the web and worker
processes and their drift (mean RSS of the last fifth against the fifth after warm-up).

A home-made generator rather than locust: locust cannot share the venv with ``dash[testing]``
(see ecosystem.md), and ``run_load`` must be callable in-process by ``bench.run`` and by the CI
test (``tests/test_load.py``); threads on httpx do what is needed here (about 20 requests a
second at 100 clients).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from ioc import PROJECT_ROOT

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REFRESH_S = 5.0
PASSWORD = "load-test-pass-1"
ROLES = {"wall": "leader", "board": "duty_officer", "dispatch": "duty_officer"}
# Screens are switched on a few at a time: each sign-in is a password hash (scrypt, ~0.1–0.7 s of
# a core), and a hundred at once would be a test of the hash, not of the refreshes.
SIGNING_AT_ONCE = 4
OK = (200, 204)  # 204: Dash's answer when a callback changes nothing


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the processes under load ---------------------------------------------------------------------


@dataclass
class Stack:
    folder: Path
    store_url: str
    web_port: int
    sim_port: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
        return env | {"IOC_CONFIG": str(self.folder / "ioc.toml"), "PYTHONUNBUFFERED": "1"}

    def run(self, *args: str) -> None:
        subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=self.env, check=True,
                       capture_output=True, timeout=600)

    def spawn(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process)
        self.procs[name] = subprocess.Popen([sys.executable, *args], cwd=PROJECT_ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def start_stack(folder: Path, store_url: str, surge: float) -> Stack:
    stack = Stack(folder, store_url, free_port(), free_port())
    (folder / "ioc.toml").write_text(
        f'[store]\nurl = "{store_url}"\n[web]\nsecret_key = "{secrets.token_hex(16)}"\n'
        f'[demo]\nenabled = true\nport = {stack.sim_port}\nspeed = {surge}\n'
        f'[briefing]\nfolder = "{folder / "briefings"}"\n', encoding="utf-8")
    stack.run("-m", "ioc", "db", "upgrade")
    stack.run("-m", "ioc", "city", "load")
    stack.spawn("simulator", "-m", "feeds.simulator", "--port", str(stack.sim_port), "--speed", str(surge),
                "--backfill-hours", "1", "--seed", "7")
    stack.spawn("worker", "-m", "ioc", "worker")
    stack.spawn("web", "-m", "gunicorn", "-c", str(PROJECT_ROOT / "gunicorn.conf.py"), "-w", "2",
                "-b", f"127.0.0.1:{stack.web_port}", "app:server")
    wait_until(lambda: _answers(f"http://127.0.0.1:{stack.web_port}/login"), 180, "gunicorn to answer", stack)
    return stack


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        dead = [n for n, p in stack.procs.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"waiting for {what}: " + (f"{', '.join(dead)} exited (see {stack.folder})"
                                                           if dead else f"timed out after {timeout:g} s"))
        time.sleep(0.2)


# --- memory -------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's workers), in MB."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        kids = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


class MemorySampler(threading.Thread):
    def __init__(self, pids: dict[str, int], every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.samples: dict[str, list[float]] = {name: [] for name in pids}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            for name, pid in self.pids.items():
                self.samples[name].append(rss_mb(pid))

    def figures(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, values in self.samples.items():
            if len(values) < 10:
                out[name] = {"peak_mb": round(max(values, default=0.0), 1), "drift_pct": 0.0}
                continue
            fifth = len(values) // 5
            warm, last = statistics.mean(values[fifth:2 * fifth]), statistics.mean(values[-fifth:])
            out[name] = {"peak_mb": round(max(values), 1), "start_mb": round(warm, 1), "end_mb": round(last, 1),
                         "drift_pct": round(100 * (last - warm) / warm, 1)}
        return out


# --- the screens -------------------------------------------------------------------------------------


class Callbacks:
    """The app's server-side callbacks (``/_dash-dependencies``), keyed by their first output."""

    def __init__(self, deps: list[dict[str, Any]]) -> None:
        self.by_output: dict[str, dict[str, Any]] = {}
        for dep in deps:
            if dep.get("clientside_function") or "{" in dep["output"]:
                continue
            self.by_output.setdefault(_outputs(dep["output"])[0]["id"], dep)

    def body(self, first_output: str, values: dict[str, Any]) -> dict[str, Any]:
        """The POST a browser sends for the callback, inputs and state from ``values`` ("id.prop")."""
        dep = self.by_output[first_output]

        def given(items):
            return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                    for i in items]

        inputs = given(dep["inputs"])
        outputs = _outputs(dep["output"])  # a browser sends a lone output as itself, several as a list
        return {"output": dep["output"], "outputs": outputs if dep["output"].startswith("..") else outputs[0],
                "inputs": inputs,
                "state": given(dep["state"]), "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def _outputs(output: str) -> list[dict[str, str]]:
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    out = []
    for part in parts:
        ident, _, prop = part.rpartition(".")
        out.append({"id": ident, "property": prop.split("@")[0]})
    return out


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)  # answers with content (200), per page

    def note(self, page: str, seconds: float, error: str | None, status: int | None = None) -> None:
        with self.lock:
            self.latencies.setdefault(page, []).append(seconds)
            if status == 200:
                self.answered[page] = self.answered.get(page, 0) + 1
            if error and len(self.errors) < 1000:
                self.errors.append(f"{page}: {error}")


class Screen(threading.Thread):
    """One signed-in browser tab of ``page`` refreshing every REFRESH_S seconds until ``stop``."""

    def __init__(self, base: str, page: str, user: str, callbacks: Callbacks, tally: Tally,
                 stop: threading.Event, offset: float, go: threading.Event, signing: threading.Semaphore) -> None:
        super().__init__(daemon=True)
        self.base, self.page, self.user, self.cb, self.tally, self.stop, self.offset, self.go = \
            base, page, user, callbacks, tally, stop, offset, go
        self.signing = signing
        self.values: dict[str, Any] = {"lang.data": "zh-CN"}
        self.tick = 0
        self.signed = threading.Event()  # set once the sign-in answered, whatever it said

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30, headers={"Origin": self.base}) as http:
            self.http = http
            if self.stop.wait(self.offset):  # spread the clients over the refresh period
                return
            with self.signing:
                ok = self._sign_in()
            self.signed.set()
            # Screens sign in once a shift: the refresh load is measured once they all have.
            while not self.go.wait(0.2):
                if self.stop.is_set():
                    return
            if not ok or self.stop.wait(self.offset):
                return
            getattr(self, f"open_{self.page}")()
            while not self.stop.wait(REFRESH_S):
                self.tick += 1
                getattr(self, f"refresh_{self.page}")()

    def _sign_in(self) -> bool:
        started = time.perf_counter()
        try:
            r = self.http.post("/login", data={"username": self.user, "password": PASSWORD})
            ok = r.status_code in (302, 303) and "/login" not in r.headers.get("location", "")
            self.tally.note("sign-in", time.perf_counter() - started, None if ok else f"sign-in answered {r.status_code}")
            return ok
        except httpx.HTTPError as exc:
            self.tally.note("sign-in", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            return False

    def call(self, first_output: str) -> dict[str, Any]:
        """POST one callback; its outputs go into ``values`` (as the browser's stores would)."""
        body = self.cb.body(first_output, self.values)
        started = time.perf_counter()
        try:
            r = self.http.post("/_dash-update-component", json=body, headers={"Referer": f"{self.base}/{self.page}"})
        except httpx.HTTPError as exc:
            self.tally.note(self.page, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            return {}
        self.tally.note(self.page, time.perf_counter() - started,
                        None if r.status_code in OK else f"{first_output} answered {r.status_code}", r.status_code)
        if r.status_code != 200:
            return {}
        answer = r.json().get("response", {})
        for ident, props in answer.items():
            for prop, value in props.items():
                self.values[f"{ident}.{prop}"] = value
        return answer

    # wall: the live map's change check, then the panels and the live panel when something changed
    def open_wall(self) -> None:
        self.values["incident-layer.hideout"] = {"lang": "zh-CN", "stale": []}
        self.values["division-layer.hideout"] = {"lang": "zh-CN", "selected": None}
        self.refresh_wall()

    def refresh_wall(self) -> None:
        self.values["live-tick.n_intervals"] = self.tick
        if "live-version" in self.call("live-delta"):
            self.call("wall-tiles")
            self.call("live-panel")

    # board: the filters once (the grid's query), then the first block of rows on every refresh
    def open_board(self) -> None:
        self.values.update({"board-window.value": "24h", "board-q.value": "", "board-cursors.data": {}})
        self.call("board-query")
        self.refresh_board()

    def refresh_board(self) -> None:
        self.values["board-grid.getRowsRequest"] = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
        self.call("board-grid")

    # dispatch: the queue and unit board; the selected incident and its recommendations when it changes
    def open_dispatch(self) -> None:
        self.refresh_dispatch()

    def refresh_dispatch(self) -> None:
        before = self.values.get("dc-selected.data")
        self.values["dc-tick.n_intervals"] = self.tick
        self.call("dc-queue-list")
        if self.values.get("dc-selected.data") != before or self.tick == 0:
            self.call("dc-incident")


# --- records lost -------------------------------------------------------------------------------------


def lost_records(store_url: str) -> dict[str, int]:
    """Per feed: fetched − landed raw records − items sent again unchanged (0 when nothing was lost)."""
    from ioc.store import models

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            landed = dict(conn.execute(select(models.RawRecord.feed, func.count())
                                       .group_by(models.RawRecord.feed)).all())
            states = conn.execute(select(models.FeedState.name, models.FeedState.counts)).all()
    finally:
        engine.dispose()
    return {name: (c or {}).get("fetched", 0) - landed.get(name, 0) - (c or {}).get("duplicates", 0)
            for name, c in states}


def feed_totals(store_url: str) -> dict[str, Any]:
    from ioc.store import models

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            states = conn.execute(select(models.FeedState.name, models.FeedState.status, models.FeedState.counts,
                                         models.FeedState.last_error)).all()
    finally:
        engine.dispose()
    # A feed that is not ok says why first, so a failing run's report names it (the dict is long).
    return dict(sorted(
        ((name, {"status": status, "fetched": (c or {}).get("fetched", 0), "stored": (c or {}).get("stored", 0),
                 "rejected": (c or {}).get("rejected", 0)} | ({"last_error": error} if status != "ok" else {}))
         for name, status, c, error in states), key=lambda item: item[1]["status"] == "ok"))


# --- the run ---------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(clients: int = 20, seconds: float = 60, surge: float = 10.0, pg: str | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One bounded run; the figures as a dict (see the module docstring)."""
    say = progress or (lambda _msg: None)
    server = pg or os.environ.get("IOC_TEST_PG", DEFAULT_PG)
    name = f"ioc_load_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store_url = make_url(server).set(database=name).render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="ioc-load-"))
    stack, kept = None, True
    try:
        say("starting the simulator, the worker and gunicorn")
        stack = start_stack(folder, store_url, surge)
        _add_users(store_url)
        # The surge is what the screens are measured under: start the clock once it is landing.
        wait_until(lambda: sum(f["fetched"] for f in feed_totals(store_url).values()) > 0, 300,
                   "the worker's first records", stack)
        base = f"http://127.0.0.1:{stack.web_port}"
        callbacks = Callbacks(httpx.get(f"{base}/_dash-dependencies", timeout=30).json())
        sampler = MemorySampler({"web": stack.procs["web"].pid, "worker": stack.procs["worker"].pid})
        sampler.start()
        tally, stop, go = Tally(), threading.Event(), threading.Event()
        signing = threading.Semaphore(SIGNING_AT_ONCE)
        pages = list(ROLES)
        screens = [Screen(base, pages[i % 3], f"load_{pages[i % 3]}", callbacks, tally, stop,
                          offset=REFRESH_S * i / max(clients, 1), go=go, signing=signing) for i in range(clients)]
        say(f"{clients} screens signing in")
        for screen in screens:
            screen.start()
        signing_until = time.monotonic() + 300
        for screen in screens:
            screen.signed.wait(max(0.0, signing_until - time.monotonic()))
        say(f"{clients} screens for {seconds:g} s")
        started = time.monotonic()
        go.set()
        while not stop.wait(min(10.0, max(0.0, seconds - (time.monotonic() - started)))):
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                break
            dead = [n for n, p in stack.procs.items() if p.poll() is not None]
            if dead:
                tally.note("stack", 0.0, f"{', '.join(dead)} exited")
                break
            say(f"{elapsed:.0f}/{seconds:g} s, {sum(map(len, tally.latencies.values()))} requests, "
                f"{len(tally.errors)} errors")
        stop.set()
        for screen in screens:
            screen.join(timeout=60)
        sampler.stopping.set()
        sampler.join()
        elapsed = time.monotonic() - started
        kept = bool(tally.errors)  # the processes' logs stay for a run that had errors
        if kept:
            say(f"errors: the processes' logs are in {folder}")
        return _figures(clients, elapsed, surge, tally, sampler, lost_records(store_url), feed_totals(store_url))
    finally:
        if stack is not None:
            stack.stop()
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _add_users(store_url: str) -> None:
    from ioc.chain.accounts import add_user
    from ioc.store.db import make_engine

    engine = make_engine(store_url)
    try:
        for page, role in ROLES.items():
            add_user(engine, f"load_{page}", role, PASSWORD, actor="bench.load")
    finally:
        engine.dispose()


def _figures(clients, elapsed, surge, tally, sampler, lost, feeds) -> dict[str, Any]:
    # The screens' refreshes; the sign-ins before them (a password hash each) are their own page.
    every = [s for page, values in tally.latencies.items() if page != "sign-in" for s in values]
    return {
        "clients": clients, "seconds": round(elapsed, 1), "surge": surge,
        "requests": len(every), "errors": len(tally.errors),
        "timeouts": sum("Timeout" in e for e in tally.errors),  # no answer within 30 s: a server saturated
        "server_errors": sum("answered 5" in e for e in tally.errors), "first_errors": tally.errors[:10],
        "p50_ms": round(1000 * percentile(every, 0.50), 1), "p95_ms": round(1000 * percentile(every, 0.95), 1),
        "max_ms": round(1000 * max(every, default=0.0), 1),
        "callbacks_per_s": round(len(every) / elapsed, 1) if elapsed else 0.0,
        "pages": {page: {"requests": len(v), "answered": tally.answered.get(page, 0),
                         "p50_ms": round(1000 * percentile(v, 0.50), 1), "p95_ms": round(1000 * percentile(v, 0.95), 1)}
                  for page, v in sorted(tally.latencies.items())},
        "records_fetched": sum(f["fetched"] for f in feeds.values()),
        "records_lost": sum(lost.values()), "lost_by_feed": {k: v for k, v in lost.items() if v},
        "feeds": feeds, "memory": sampler.figures(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--surge", type=float, default=10.0, help="the demo city's speed: times its normal volume")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0:
        print("--clients must be at least 1 and --seconds above 0", file=sys.stderr)
        return 2
    result = run_load(args.clients, args.seconds, args.surge,
                      progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        mem = ", ".join(f"{k} peak {v['peak_mb']} MB drift {v['drift_pct']:+}%" for k, v in result["memory"].items())
        print(f"{result['clients']} clients, {result['seconds']} s, surge ×{result['surge']:g}: "
              f"{result['requests']} requests, {result['errors']} errors, p95 {result['p95_ms']} ms, "
              f"{result['records_fetched']} records fetched, {result['records_lost']} lost; {mem}")
    return 0 if not result["errors"] and not result["records_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())


def measures(size: int, pg: bool, quick: bool) -> list[dict[str, Any]]:
    """For ``bench/run.py``: 25, 50 and 100 screens during a 10× surge, each beside one screen alone
    during the same surge in the same run. ``size`` and ``pg`` are not used: the stack always runs
    on a throwaway PostgreSQL database, as in service. Quick runs leave it out (CI's short soak,
    tests/test_load.py, runs the stack)."""
    if quick:
        return []
    alone = run_load(clients=1, seconds=30)
    rows = []
    for clients in (25, 50, 100):
        r = run_load(clients=clients, seconds=60)
        rows.append({
            "name": f"load: {clients} screens during a 10× surge", "unit": "ms", "median": r["p50_ms"],
            "p95": r["p95_ms"], "runs": r["requests"], "baseline": "one screen alone during the same surge",
            "baseline_median": alone["p50_ms"], "baseline_p95": alone["p95_ms"],
            "ratio": round(r["p95_ms"] / alone["p95_ms"], 2) if alone["p95_ms"] else None,
            "aim": "p95 ≤ 200 ms, no errors" if clients == 100 else "",
            "met": (r["p95_ms"] <= 200 and not r["errors"]) if clients == 100 else None,
            "note": f"{r['errors']} errors, {r['records_lost']} records lost, "
                    f"web peak {r['memory']['web']['peak_mb']} MB"})
    return rows
