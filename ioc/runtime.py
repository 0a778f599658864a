"""What a running process works with: its settings, the store's engine and the city pack."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ioc.citypack import CityPack, load_pack
from ioc.config import Settings
from ioc.store.db import check_ready, make_engine


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    pack: CityPack


def open_runtime(settings: Settings) -> Runtime:
    """Connect to a migrated store and read the configured pack, or raise a clear UserError."""
    engine = make_engine(settings.store.url)
    check_ready(engine)
    return Runtime(settings=settings, engine=engine, pack=load_pack(settings.city.pack_dir()))
