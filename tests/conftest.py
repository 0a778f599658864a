"""Shared fixtures: stores on SQLite and on a real PostgreSQL, settings, the CLI in a subprocess.

PostgreSQL comes from IOC_TEST_PG (default: the local server). When it cannot be reached its
tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ioc import PROJECT_ROOT
from ioc.config import Settings, load_settings
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    """A loopback port nobody listens on now, so browser tests of parallel runs never collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_configure(config: pytest.Config) -> None:
    """Before any xdist worker starts: the secret kept in var/ exists, so no two processes (workers,
    the CLI and servers they start) race to write different ones on a fresh checkout."""
    if not hasattr(config, "workerinput"):
        from ioc.runtime import secret_key

        secret_key(Settings())


def unavailable(reason: str) -> None:
    """Skip for a missing service, or fail when CI must run everything."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> str:
    url = os.environ.get("IOC_TEST_PG", DEFAULT_PG)
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any failure to connect means: no server for these tests
        unavailable(f"PostgreSQL at {make_url(url).render_as_string()} is unreachable: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    return url


@contextmanager
def throwaway_database(server: str, template: str | None = None) -> Iterator[str]:
    """A new database on ``server`` (a copy of ``template`` if given), dropped afterwards."""
    name = f"ioc_test_{secrets.token_hex(4)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A throwaway empty database on the test server, dropped afterwards."""
    with throwaway_database(pg_server) as url:
        yield url


@pytest.fixture(scope="session")
def pg_migrated_template(pg_server: str) -> Iterator[str]:
    """One migrated database per session (per xdist worker): each store test gets a copy of it,
    which is much quicker than running every migration again."""
    with throwaway_database(pg_server) as url:
        eng = make_engine(url)
        upgrade(eng)
        eng.dispose()  # a template must have no connections while it is copied
        yield make_url(url).database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store with no rows on each backend (the store suite runs on both); the PostgreSQL one is
    a copy of the migrated template, so the upgrade in ``engine`` finds nothing left to do."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server = request.getfixturevalue("pg_server")
    with throwaway_database(server, template=request.getfixturevalue("pg_migrated_template")) as url:
        yield url


@pytest.fixture
def engine(store_url: str):
    """A migrated store on each backend."""
    eng = make_engine(store_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@dataclass
class Cli:
    """Runs `python -m ioc` as a user would, with its own config file and environment."""

    config: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ioc", *args], cwd=PROJECT_ROOT, env=self.env,
            input=stdin, capture_output=True, text=True, timeout=300,
        )

    def settings(self) -> Settings:
        return load_settings(env=self.env)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """A CLI on a fresh SQLite store in tmp_path and the default city pack."""
    config = tmp_path / "ioc.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "ioc.db"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env["IOC_CONFIG"] = str(config)
    return Cli(config=config, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A user's mistake: non-zero exit, no traceback, a message naming the problem."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip()
    assert message, "no error message"
    assert len(message.splitlines()) <= 2, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture
def pack(engine, tmp_path):
    """The small four-division pack, mirrored into the store (orgs IOC, DEPT-POLICE, OFF-T01…T04)."""
    city = make_small_pack(tmp_path)
    load_pack_into_store(engine, city)
    return city
