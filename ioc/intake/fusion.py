"""Cross-source fusion: reports of one real event become one incident with linked reports.

A new report within R metres and T minutes of an open incident of a compatible category
(both per category, from the pack's rules) attaches to it: the report keeps its own row with
status ``fused`` and ``parent_id``; the parent counts the reports and lists their sources
(``ioc.chain.links``, shared with a duty officer's manual merge and split).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ioc.city.geo import distance_m
from ioc.city.pack import Fusion
from ioc.records import CATEGORIES, OPEN_STATUSES, PRIORITIES
from ioc.store import models


@dataclass
class Candidate:
    ref: int | dict[str, Any]  # a stored incident's id, or the row of a new one of this batch
    category: str
    lon: float
    lat: float
    reported_at: datetime


CELL_DEG = 0.01  # about 1 km: larger than any fusion radius, so a match is in the 3×3 cells around


class FusionFinder:
    """Open incidents that new reports of one batch may attach to, loaded with one query and
    bucketed by category and ~1 km cell so each match looks at a handful of candidates."""

    def __init__(self, session: Session, rules: Fusion, start: datetime, end: datetime,
                 categories: Iterable[str] | None = None) -> None:
        """Candidates for reports made between ``start`` and ``end`` of ``categories`` (None: any):
        only incidents of a category those reports may fuse with, within that report's window."""
        self.rules = rules
        i = models.Incident
        reach = self._reach(rules, categories)
        self.cells: dict[tuple[str, int, int], list[Candidate]] = {}
        if not reach:
            return
        by_slack: dict[int, list[str]] = {}
        for cat, minutes in reach.items():
            by_slack.setdefault(minutes, []).append(cat)
        near = or_(*(and_(i.category.in_(cats), i.reported_at.between(start - timedelta(minutes=m),
                                                                        end + timedelta(minutes=m)))
                     for m, cats in by_slack.items()))
        widest = timedelta(minutes=max(by_slack))
        # Status, priority and the whole time span spelled out so the (status, priority, reported_at)
        # index answers it on any store size; a linked report's parent_id is checked here, not in
        # SQL, where SQLite would take the parent_id index and walk every unlinked incident.
        rows = session.execute(
            select(i.id, i.category, i.lon, i.lat, i.reported_at, i.parent_id)
            .where(i.status.in_(OPEN_STATUSES), i.priority.in_(PRIORITIES),
                   i.reported_at.between(start - widest, end + widest), i.lon.is_not(None), near)
        ).all()
        for *row, parent_id in rows:
            if parent_id is None:
                self.add(Candidate(*row))

    @staticmethod
    def _reach(rules: Fusion, categories: Iterable[str] | None) -> dict[str, int]:
        """Each category a candidate may have → the longest window of a report it may take."""
        if categories is None:
            longest = max([rules.minutes, *(w.minutes for w in rules.categories.values())])
            return {c: longest for c in CATEGORIES}
        reach: dict[str, int] = {}
        for cat in set(categories):
            minutes = rules.window(cat).minutes
            for other in rules.compatible(cat):
                reach[other] = max(reach.get(other, 0), minutes)
        return reach

    def add(self, candidate: Candidate) -> None:
        """An open incident later reports may attach to (new ones of this batch included)."""
        key = (candidate.category, *self._cell(candidate.lon, candidate.lat))
        self.cells.setdefault(key, []).append(candidate)

    @staticmethod
    def _cell(lon: float, lat: float) -> tuple[int, int]:
        return int(math.floor(lon / CELL_DEG)), int(math.floor(lat / CELL_DEG))

    def match(self, category: str, lon: float | None, lat: float | None,
              at: datetime) -> int | dict[str, Any] | None:
        """The nearest compatible open incident in the window (its id, or the new row), or None."""
        if lon is None or lat is None:
            return None
        related = self.rules.compatible(category)
        if not related:
            return None
        window = self.rules.window(category)
        cx, cy = self._cell(lon, lat)
        best: tuple[float, Candidate] | None = None
        for cat in related:
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for c in self.cells.get((cat, cx + dx, cy + dy), ()):
                        if abs((c.reported_at - at).total_seconds()) > window.minutes * 60:
                            continue
                        d = distance_m(lon, lat, c.lon, c.lat)
                        if d <= window.radius_m and (best is None or d < best[0]):
                            best = (d, c)
        return best[1].ref if best else None
