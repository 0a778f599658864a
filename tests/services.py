"""Private PostgreSQL and Mosquitto servers a test may stop and restart (the shared ones on 5432 /
1883 serve every engineer's tests and are never restarted). Each runs from a fresh temporary
folder on a free loopback port and is removed with the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, unavailable

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class PrivatePostgres:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-s", *args]),
                       check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def restart(self, mode: str = "fast") -> None:
        """Stop (fast: every session's transaction rolled back; immediate: as in a crash) and start."""
        self._ctl("-m", mode, "-w", "stop")
        self.start()


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        unavailable(f"no PostgreSQL 15 binaries in {PG_BIN} for a private server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("running as root without runuser: cannot start a private PostgreSQL")
    folder = Path(tempfile.mkdtemp(prefix="ioc-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(folder, free_port())
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                                     "-A", "trust", "-N", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True, timeout=120)
        server.start()
        yield server
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate",
                                     "-s", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PrivateMosquitto:
    folder: Path
    port: int
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening(self.port), 10, f"mosquitto on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def private_mosquitto() -> Iterator[PrivateMosquitto]:
    if shutil.which("mosquitto") is None:
        unavailable("no mosquitto binary for a private broker")
    folder = Path(tempfile.mkdtemp(prefix="ioc-mqtt-"))
    broker = PrivateMosquitto(folder, free_port())
    # persistence: the broker keeps our session (and its queued QoS 1 messages) across its restart
    (folder / "mosquitto.conf").write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {folder}/\nuser {os.environ.get('USER') or 'root'}\n", encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(folder, "root")
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
