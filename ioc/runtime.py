"""What a running process works with: its settings, the store's engine, the city pack and its feeds."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ioc import PROJECT_ROOT
from ioc.city.pack import CityPack, load_pack
from ioc.config import FeedSettings, Settings
from ioc.store.db import check_ready, make_engine

# Where a web server keeps its Runtime (Flask app config key), for pages and the API alike.
RUNTIME_KEY = "IOC_RUNTIME"
SECRET_FILE = PROJECT_ROOT / "var" / "secret_key"


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    pack: CityPack
    secret_key: str = ""
    feeds: tuple[FeedSettings, ...] = ()  # every feed this process knows: configured, plus the demo's when on


def open_runtime(settings: Settings, feeds: Iterable[FeedSettings] | None = None) -> Runtime:
    """Connect to a migrated store and read the configured pack, or raise a clear UserError.

    ``feeds`` are the feeds the process knows (the configured ones when not given); the demo city's
    are added by the composition at the top (``ioc.cli.open_city``), never here.
    """
    engine = make_engine(settings.store.url)
    check_ready(engine)
    return Runtime(settings=settings, engine=engine, pack=load_pack(settings.city.pack_dir()),
                   secret_key=secret_key(settings), feeds=tuple(settings.feeds if feeds is None else feeds))


def secret_key(settings: Settings, file: Path = SECRET_FILE) -> str:
    """The configured secret, else one kept in var/ so sessions and kiosk links survive restarts."""
    if settings.web.secret_key:
        return settings.web.secret_key
    if file.exists():
        return file.read_text(encoding="utf-8").strip()
    file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    file.write_text(key, encoding="utf-8")
    file.chmod(0o600)
    return key
