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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session, aliased

from ioc.chain.links import split_report
from ioc.city.geo import distance_m
from ioc.city.pack import Fusion
from ioc.records import OPEN_STATUSES
from ioc.store import models
from ioc.store.db import session_factory


@dataclass
class Candidate:
    ref: int | models.Incident  # a stored incident's id, or a new one of this batch
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
                 source: str = "", same_source: bool = True) -> None:
        self.rules = rules
        self.source = source  # the feed whose reports are matched
        self.same_source = same_source  # its reports may fuse with each other
        longest = max([rules.minutes, *(w.minutes for w in rules.categories.values())])
        slack = timedelta(minutes=longest)
        rows = session.execute(
            select(models.Incident.id, models.Incident.category, models.Incident.lon,
                   models.Incident.lat, models.Incident.reported_at, models.Incident.sources)
            .where(models.Incident.status.in_(OPEN_STATUSES),
                   models.Incident.parent_id.is_(None),
                   models.Incident.lon.is_not(None),
                   models.Incident.reported_at.between(start - slack, end + slack))
        ).all()
        self.cells: dict[tuple[str, int, int], list[Candidate]] = {}
        for *row, sources in rows:
            self.add(Candidate(*row, {s.get("source") for s in sources or ()}))

    def add(self, candidate: Candidate) -> None:
        """An open incident later reports may attach to (new ones of this batch included)."""
        key = (candidate.category, *self._cell(candidate.lon, candidate.lat))
        self.cells.setdefault(key, []).append(candidate)

    @staticmethod
    def _cell(lon: float, lat: float) -> tuple[int, int]:
        return int(math.floor(lon / CELL_DEG)), int(math.floor(lat / CELL_DEG))

    def match(self, category: str, lon: float | None, lat: float | None,
              at: datetime) -> int | models.Incident | None:
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
