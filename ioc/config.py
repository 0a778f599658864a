"""One typed settings object, loaded from ``ioc.toml`` and a few environment overrides.

This is the only module that reads environment variables. Everything else receives a
``Settings`` (or the part of it that it needs) from its caller.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ioc import PROJECT_ROOT
from ioc.errors import ConfigError
from ioc.records import CATEGORIES

DEFAULT_CONFIG_FILE = PROJECT_ROOT / "ioc.toml"
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "ioc.db"
GEODATA_DIR = PROJECT_ROOT / "geodata"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql+psycopg:", "postgresql:")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url


class CitySettings(_Section):
    pack: str = Field(default="dongguan", description="pack name under geodata/, or a path")

    def pack_dir(self) -> Path:
        path = Path(self.pack)
        if path.is_absolute() or os.sep in self.pack or self.pack.startswith("."):
            return path.resolve()
        return GEODATA_DIR / self.pack


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    language: Literal["zh-CN", "en"] = "zh-CN"
    tile_url: str = Field(
        default="",
        description="XYZ tile URL template; empty draws the map from the pack's outlines only",
    )
    tile_crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="the datum the tiles are drawn in (gcj02 for AMap/Tencent)"
    )
    tile_attribution: str = ""
    secret_key: str = Field(default="", description="signs sessions and kiosk links; kept in var/ if empty")
    public_read: bool = Field(default=True, description="anyone may view pages without signing in")
    secure_cookies: bool = Field(default=False, description="served over HTTPS: cookies are marked Secure and "
                                 "browsers told to keep to HTTPS (HSTS)")
    sign_in_limit: str = Field(default="10 per 15 minutes", description="failed sign-ins allowed from one address "
                               "(Flask-Limiter notation); each account also has its own limit")
    rate_limit_storage: str = Field(default="memory://", description="where the sign-in counters live: memory:// "
                                    "(per process) or redis://HOST:6379 (shared by every web worker)")
    trusted_proxies: int = Field(default=0, ge=0, le=10, description="reverse proxies in front of the app whose "
                                 "X-Forwarded-For/-Proto are believed (0: the headers are ignored)")


class FeedSettings(_Section):
    """One source. The adapter of ``kind`` validates ``options`` against its own model."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    enabled: bool = True
    interval_seconds: float = Field(default=30.0, gt=0)
    timeout_seconds: float | None = Field(default=None, gt=0, description="per request; default from the interval")
    crs: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    agency: str | None = Field(default=None, description="org code whose units this feed names; units the "
                               "pack does not know are registered under it (default: by the feed's kind)")
    fuse_same_source: bool | None = Field(
        default=None, description="reports of this feed may fuse with each other as linked reports (default by "
        "kind: off for CAD and CSV dispatch exports, whose numbers are the agency's own incidents; on for "
        "citizen reports, urban cases, video and sensors, where one event is reported many times)")


class DemoSettings(_Section):
    enabled: bool = Field(default=True, description="run the simulated city and poll its feeds")
    port: int = Field(default=8061, ge=1, le=65535, description="loopback port of the simulator")
    speed: float = Field(default=1.0, gt=0, description="simulated seconds per real second")
    scenario: Literal["normal", "typhoon"] = "normal"
    mqtt_port: int = Field(default=0, ge=0, le=65535,
                           description="publish gauges to the MQTT broker on this local port (0: over HTTP)")

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class WallView(_Section):
    """One view of the wall's rotation: the whole city, one division (``code``), one category
    (``category``: map and panels show only it) or the open major event (skipped when none is open).
    ``layers`` switches the map's shading by open incidents per 10,000 residents (``per_10k``) and
    its density layer (``density``) on for the view; a kiosk has no buttons, so this is how it shows them."""

    kind: Literal["city", "division", "category", "major_event"] = "city"
    code: str = Field(default="", description="the division code, for kind = division")
    category: str = Field(default="", description="the category, for kind = category (see ioc.records)")
    seconds: float = Field(default=60.0, gt=0)
    layers: list[Literal["per_10k", "density"]] | None = Field(
        default=None, description="map layers on during this view; unset keeps what is on")

    @model_validator(mode="after")
    def _target_given(self) -> WallView:
        if self.kind == "division" and not self.code:
            raise ValueError("a division view needs code = the division's code")
        if self.kind == "category" and self.category not in CATEGORIES:
            raise ValueError(f"a category view needs category = one of {', '.join(CATEGORIES)}")
        return self


class WallSettings(_Section):
    views: list[WallView] = Field(default=[WallView()], description="the rotation, in order")
    p1_card_seconds: float = Field(default=30.0, gt=0, description="how long a new P1 holds the wall")


class OutboxSettings(_Section):
    """Where dispatch orders go: one URL per agency org, or a base URL + /ORG_CODE."""

    endpoints: dict[str, str] = {}
    base_url: str = ""
    interval_seconds: float = Field(default=10.0, gt=0)


class BriefingSettings(_Section):
    """The daily briefing the worker writes every morning (for the day before)."""

    folder: str = Field(default="var/briefings", description="where briefings are kept; relative to the project")
    hour: int = Field(default=7, ge=0, le=23, description="city-time hour the worker writes yesterday's briefing")

    def path(self) -> Path:
        path = Path(self.folder)
        return path if path.is_absolute() else PROJECT_ROOT / path


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    city: CitySettings = CitySettings()
    web: WebSettings = WebSettings()
    demo: DemoSettings = DemoSettings()
    outbox: OutboxSettings = OutboxSettings()
    briefing: BriefingSettings = BriefingSettings()
    wall: WallSettings = WallSettings()
    feeds: list[FeedSettings] = []
    source: str = Field(default="", exclude=True, description="where the settings came from")


ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "IOC_DATABASE_URL": ("store", "url"),
    "IOC_CITY": ("city", "pack"),
    "IOC_LANG": ("web", "language"),
}


def load_settings(env: Mapping[str, str] | None = None, default_file: Path = DEFAULT_CONFIG_FILE) -> Settings:
    """Read settings: defaults, then the TOML file (if any), then environment overrides.

    The file is ``IOC_CONFIG`` when set (it must exist), else ``default_file`` when present.
    """
    env = os.environ if env is None else env
    explicit = Path(env["IOC_CONFIG"]) if env.get("IOC_CONFIG") else None
    file = explicit or default_file
    data: dict[str, Any] = {}
    if file.exists():
        data = _read_toml(file)
    elif explicit:
        raise ConfigError(f"{file}: no such configuration file (check IOC_CONFIG)")
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            data.setdefault(section, {})
            if not isinstance(data[section], dict):
                raise ConfigError(f"{file}: [{section}] must be a table")
            data[section][key] = env[var]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file if file.exists() else None)) from None
    settings.source = str(file) if file.exists() else "defaults"
    return settings


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None


def _describe(exc: ValidationError, file: Path | None) -> str:
    where = f"{file}: " if file else "environment: "
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(f"{key}: {msg}")
    return where + "; ".join(problems)
