"""The adapter contract: fetch raw items from a source with a cursor, parse each into records.

An adapter never touches the store. ``fetch`` does the I/O and returns raw items plus the next
cursor; ``parse`` is pure: one raw item in, typed records out (``ioc.records``), or ``Reject``
with a reason. Built-in adapters register by kind with ``@register``, exactly as an added one
would; ``build_adapter`` validates a feed's options against the adapter's own config model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from ioc.config import FeedSettings
from ioc.errors import UserError
from ioc.records import Record, Reject  # noqa: F401  (re-exported for adapters)

log = logging.getLogger(__name__)

USER_AGENT = "city-ioc/1.0"


class AdapterConfig(BaseModel):
    """Base of every adapter's options model: unknown keys are errors, fields carry descriptions."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class RawItem:
    """One item as the source sent it: its id there (if any) and its text, untouched."""

    external_id: str | None
    payload: str
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.payload.encode("utf-8")).hexdigest()


@dataclass
class FetchResult:
    items: list[RawItem]
    cursor: str | None
    more: bool = False  # the source has another page ready: poll again at once


class Adapter(ABC):
    kind: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[AdapterConfig]] = AdapterConfig
    # Whether two records of one feed of this kind may be one event (a feed's fuse_same_source
    # overrides it). False where each record is the source's own incident, with its own number.
    fuses_own_records: ClassVar[bool] = True

    def __init__(self, feed: FeedSettings, config: AdapterConfig) -> None:
        self.feed = feed
        self.config = config

    @property
    def name(self) -> str:
        return self.feed.name

    @abstractmethod
    def fetch(self, cursor: str | None, client: httpx.Client) -> FetchResult:
        """Get what is new since ``cursor``. Raise on a failing source; never write anywhere."""

    @abstractmethod
    def parse(self, item: RawItem) -> list[Record]:
        """Turn one raw item into records, or raise ``Reject`` with the reason."""

    def close(self) -> None:
        """Release connections the adapter holds (subscriptions); most hold none."""


REGISTRY: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    if cls.kind in REGISTRY and REGISTRY[cls.kind] is not cls:
        raise ValueError(f"two adapters claim kind {cls.kind!r}")
    REGISTRY[cls.kind] = cls
    return cls


def build_adapter(feed: FeedSettings) -> Adapter:
    """The adapter for ``feed``, its options validated; a bad option is a ``UserError``."""
    load_builtin_adapters()
    cls = REGISTRY.get(feed.kind)
    if cls is None:
        raise UserError(f"feed {feed.name}: unknown kind {feed.kind!r} (known: {', '.join(sorted(REGISTRY))})")
    try:
        config = cls.Config.model_validate(feed.model_extra or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "options"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise UserError(f"feed {feed.name} ({feed.kind}): {key}: {msg}") from None
    return cls(feed, config)


def fuses_same_source(feed: FeedSettings) -> bool:
    """Whether the feed's records may fuse with each other: its setting, else its kind's default
    (a kind no adapter claims, as in tests, fuses)."""
    if feed.fuse_same_source is not None:
        return feed.fuse_same_source
    load_builtin_adapters()
    cls = REGISTRY.get(feed.kind)
    return cls.fuses_own_records if cls else True


def load_builtin_adapters() -> None:
    """Import the built-in adapter modules so they register themselves."""
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)


BUILTIN_MODULES = (
    "feeds.cad",
    "feeds.urban_cases",
    "feeds.video_ai",
    "feeds.cap",
    "feeds.open311",
    "feeds.mqtt_sensors",
    "feeds.csv_files",
    "feeds.sensors_http",
)


def decode_text(data: bytes) -> str:
    """Text from a Chinese source: UTF-8 with or without BOM, else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise Reject(f"text is neither UTF-8 nor GBK/GB18030 (bad byte at {exc.start})") from None


def get(client: httpx.Client, url: str, **params: Any) -> httpx.Response:
    """GET with the shared client; a non-2xx answer raises, so the poll counts as failed.

    The body is read with two bounds a per-read timeout does not give: at most
    ``MAX_BODY_BYTES``, and within ``TOTAL_TIMEOUTS`` read timeouts in all, so a source that
    drips a byte a second or answers without end fails its poll instead of holding the worker."""
    limit = (client.timeout.read or 30.0) * TOTAL_TIMEOUTS
    started = time.monotonic()
    with client.stream("GET", url, params={k: v for k, v in params.items() if v is not None}) as response:
        response.raise_for_status()
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise SourceError(f"answer from {response.url.copy_with(query=None)} is larger than "
                                  f"{MAX_BODY_BYTES // 2**20} MB; refused")
            if time.monotonic() - started > limit:
                raise SourceError(f"answer from {response.url.copy_with(query=None)} took longer than "
                                  f"{limit:g} s; gave up")
            chunks.append(chunk)
    return httpx.Response(response.status_code, headers=response.headers, content=b"".join(chunks),
                          request=response.request)


class SourceError(Exception):
    """A source answered in a way no poll can use (too big, too slow); the poll fails with this."""


MAX_BODY_BYTES = 20 * 2**20  # far above any real page; a 50 MB answer is an accident or an attack
TOTAL_TIMEOUTS = 4
