"""Fusion: reports of one real event become one incident with linked reports.

A new report within R metres and T minutes of an open incident of a compatible category
(both per category, from the pack's rules) attaches to it: the report keeps its own row with
status ``fused`` and ``parent_id``; the parent counts the reports and lists their sources
(``ioc.chain.links``, shared with a duty officer's manual merge and split).

Whether two reports of one feed may be one incident is the feed's ``fuse_same_source`` (by
kind: CAD and CSV dispatch exports no, their numbers are the agency's own incidents; citizen
reports yes). A feed that does not fuse within itself never attaches a report to an incident
that already holds one of its reports. ``split_own`` undoes what such a feed fused within
itself before (``feeds replay --all``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from ioc.chain.links import split_report
from ioc.city.geo import distance_m
from ioc.city.pack import Fusion
from ioc.records import CATEGORIES, OPEN_STATUSES, PRIORITIES
from ioc.store import models
from ioc.store.db import session_factory


@dataclass
class Candidate:
    ref: int | dict[str, Any]  # a stored incident's id, or the row of a new one of this batch
    category: str
    lon: float
    lat: float
    reported_at: datetime
    sources: set[str] = field(default_factory=set)  # the feeds whose reports it holds


CELL_DEG = 0.01  # about 1 km: larger than any fusion radius, so a match is in the 3×3 cells around


class FusionFinder:
    """Open incidents that new reports of one batch may attach to, loaded with one query and
    bucketed by category and ~1 km cell so each match looks at a handful of candidates."""

    def __init__(self, session: Session, rules: Fusion, start: datetime, end: datetime,
                 categories: Iterable[str] | None = None, source: str = "", same_source: bool = True) -> None:
        """Candidates for reports made between ``start`` and ``end`` of ``categories`` (None: any):
        only incidents of a category those reports may fuse with, within that report's window."""
        self.rules = rules
        self.source = source  # the feed whose reports are matched
        self.same_source = same_source  # its reports may fuse with each other
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
        # The sources only matter to a feed that does not fuse within itself (read from JSON, they
        # were most of the cost of loading the candidates).
        sources = () if same_source else (i.sources,)
        rows = session.execute(
            select(i.id, i.category, i.lon, i.lat, i.reported_at, i.parent_id, *sources)
            .where(i.status.in_(OPEN_STATUSES), i.priority.in_(PRIORITIES),
                   i.reported_at.between(start - widest, end + widest), i.lon.is_not(None), near)
        ).all()
        for ref, category, lon, lat, at, parent_id, *held in rows:
            if parent_id is None:
                self.add(Candidate(ref, category, lon, lat, at, {s.get("source") for s in held[0] or ()} if held else set()))

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
                        if not self.same_source and self.source in c.sources:
                            continue  # already holds one of this feed's own incidents
                        d = distance_m(lon, lat, c.lon, c.lat)
                        if d <= window.radius_m and (best is None or d < best[0]):
                            best = (d, c)
        if best is None:
            return None
        best[1].sources.add(self.source)
        return best[1].ref


def split_own(engine: Engine, feed: str) -> int:
    """Split off every report the feed itself fused into an incident of its own (links made on
    arrival, not a duty officer's merge): for a feed that no longer fuses within itself. How
    many were split."""
    child, parent, ev = models.Incident, aliased(models.Incident), models.IncidentEvent
    newest_link = (select(func.max(ev.id)).where(ev.incident_id == child.id, ev.kind == "fused_into")
                   .correlate(child).scalar_subquery())
    with session_factory(engine)() as session:
        ids = session.scalars(
            select(child.id).join(parent, parent.id == child.parent_id)
            .where(child.source == feed, parent.source == feed,
                   exists().where(ev.id == newest_link, ev.actor == f"feed:{feed}"))
            .order_by(child.id)).all()
    for report_id in ids:
        split_report(engine, report_id, actor=f"feed:{feed}")
    return len(ids)
