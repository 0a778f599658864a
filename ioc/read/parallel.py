"""Independent reads of one page at once, each in a thread on its own pooled connection.

A page such as the summary makes a dozen reads that do not wait on each other; the database
runs each in its own backend (PostgreSQL) or connection (SQLite, WAL), so the page takes about
its slowest read instead of their sum. Each call runs in a copy of the caller's context: Flask's
app and request contexts live in contextvars, so code under it can still ask for the runtime.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Threads per page: two cores here, and every thread holds a connection of the engine's pool
# (PostgreSQL: 5 + 10 overflow) while it reads.
WORKERS = 4


def gather(calls: Sequence[Callable[[], Any]], workers: int = WORKERS) -> list[Any]:
    """Each call's result, in the order given; the first call to fail raises its error."""
    if len(calls) <= 1 or workers <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(workers, len(calls)), thread_name_prefix="read") as pool:
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
        return [future.result() for future in futures]
