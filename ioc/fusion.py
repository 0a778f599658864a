"""Cross-source fusion: reports of one real event become one incident with linked reports.

A new report within R metres and T minutes of an open incident of a compatible category
(both per category, from the pack's rules) attaches to it: the report keeps its own row with
status ``fused`` and ``parent_id``; the parent counts the reports and lists their sources.
``split_report`` undoes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ioc.citypack import Fusion
from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

OPEN_STATUSES = ("new", "acknowledged", "dispatched", "on_scene")
EARTH_RADIUS_M = 6_371_000.0


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass
class Candidate:
    ref: int | models.Incident  # a stored incident's id, or a new one of this batch
    category: str
    lon: float
    lat: float
    reported_at: datetime


CELL_DEG = 0.01  # about 1 km: larger than any fusion radius, so a match is in the 3×3 cells around


class FusionFinder:
    """Open incidents that new reports of one batch may attach to, loaded with one query and
    bucketed by category and ~1 km cell so each match looks at a handful of candidates."""

    def __init__(self, session: Session, rules: Fusion, start: datetime, end: datetime) -> None:
        self.rules = rules
        longest = max([rules.minutes, *(w.minutes for w in rules.categories.values())])
        slack = timedelta(minutes=longest)
        rows = session.execute(
            select(models.Incident.id, models.Incident.category, models.Incident.lon,
                   models.Incident.lat, models.Incident.reported_at)
            .where(models.Incident.status.in_(OPEN_STATUSES),
                   models.Incident.parent_id.is_(None),
                   models.Incident.lon.is_not(None),
                   models.Incident.reported_at.between(start - slack, end + slack))
        ).all()
        self.cells: dict[tuple[str, int, int], list[Candidate]] = {}
        for row in rows:
            self.add(Candidate(*row))

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
                        d = distance_m(lon, lat, c.lon, c.lat)
                        if d <= window.radius_m and (best is None or d < best[0]):
                            best = (d, c)
        return best[1].ref if best else None


def link(session: Session, child: models.Incident, parent: int | models.Incident, actor: str) -> None:
    """Attach ``child`` to ``parent`` (an incident or its id) as a linked report."""
    if not isinstance(parent, models.Incident):
        parent = session.get(models.Incident, parent, with_for_update=True)
    parent_id = parent.id
    child.parent_id = parent_id
    child.status = "fused"
    child.version += 1
    parent.report_count += 1
    parent.sources = [*parent.sources, source_entry(child)]
    parent.version += 1
    parent.updated_at = utcnow()
    session.add(models.IncidentEvent(incident_id=parent_id, kind="report_linked", actor=actor,
                                     data={"report_id": child.id, **source_entry(child)}))
    session.add(models.IncidentEvent(incident_id=child.id, kind="fused_into", actor=actor,
                                     data={"parent_id": parent_id}))


def split_report(engine: Engine, report_id: int, actor: str) -> models.Incident:
    """Split a linked report off its parent: it becomes an incident of its own again."""
    with transaction(engine) as session:
        child = session.get(models.Incident, report_id, with_for_update=True)
        if child is None:
            raise UserError(f"incident {report_id} does not exist")
        if child.parent_id is None:
            raise UserError(f"incident {report_id} is not a linked report; nothing to split")
        parent = session.get(models.Incident, child.parent_id, with_for_update=True)
        entry = source_entry(child)
        parent.report_count = max(1, parent.report_count - 1)
        parent.sources = [s for s in parent.sources if s != entry]
        parent.version += 1
        parent.updated_at = utcnow()
        child.parent_id = None
        child.status = "new"
        child.version += 1
        child.updated_at = utcnow()
        session.add(models.IncidentEvent(incident_id=parent.id, kind="report_split", actor=actor,
                                         data={"report_id": child.id}))
        session.add(models.IncidentEvent(incident_id=child.id, kind="split_from", actor=actor,
                                         data={"parent_id": parent.id}))
    return child


def source_entry(incident: models.Incident) -> dict[str, str]:
    return {"source": incident.source, "external_id": incident.external_id, "channel": incident.channel}
