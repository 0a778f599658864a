"""The type of each field of the rows ``ioc.read.lists`` writes, as the store's columns declare it.

For those who describe the rows without touching the store (the API's response models,
``ioc.web.schemas``): a column's type there is the type of its field here.
"""

from __future__ import annotations

import typing
from typing import Any

from ioc.store import models


def field_types(table: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """``{field: type}`` for ``fields`` of the store's ``table`` model (``"Incident"``), e.g. ``datetime | None``."""
    hints = typing.get_type_hints(getattr(models, table))
    return {f: typing.get_args(hints[f])[0] for f in fields}
