"""Linked reports: attaching a report to the incident it belongs to, and splitting it off again.

Fusion (``ioc.intake.fusion``) links a new report on arrival (``link_new``, on the rows of an
intake batch before they are inserted); a duty officer merges and splits by hand
(``ioc.chain.workflow``). Both write the same entries, so either can undo the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow


def link_new(session: Session, links: list[tuple[dict[str, Any], int | dict[str, Any]]]) -> None:
    """``link`` for reports of one intake batch not stored yet: each child row becomes a fused
    report of its parent (a row of the same batch, changed before it is inserted, or a stored
    incident's id, changed through the session). Its ``parent_id`` is set once the parent has an
    id; ``link_events`` then writes the timeline entries."""
    now = utcnow()
    for child, parent in links:
        child["status"] = "fused"
        child["version"] += 1
        entry = source_entry(child)
        if isinstance(parent, dict):
            parent["report_count"] += 1
            parent["sources"] = [*parent["sources"], entry]
            parent["version"] += 1
            parent["updated_at"] = now
            continue
        stored = session.get(models.Incident, parent, with_for_update=True)
        stored.report_count += 1
        stored.sources = [*stored.sources, entry]
        stored.version += 1
        stored.updated_at = now


def link_events(links: list[tuple[dict[str, Any], int]], actor: str) -> list[dict[str, Any]]:
    """The two timeline entries of each stored (child row, parent id) link, as rows."""
    now = utcnow()
    rows = []
    for child, parent_id in links:
        rows.append({"incident_id": parent_id, "at": now, "kind": "report_linked", "actor": actor,
                     "data": {"report_id": child["id"], **source_entry(child)}})
        rows.append({"incident_id": child["id"], "at": now, "kind": "fused_into", "actor": actor,
                     "data": {"parent_id": parent_id}})
    return rows


def split_report(engine: Engine, report_id: int, actor: str) -> models.Incident:
    """Split a linked report off its parent: it becomes an incident of its own again."""
    with transaction(engine) as session:
        child = session.get(models.Incident, report_id, with_for_update=True)
        if child is None:
            raise UserError(f"incident {report_id} does not exist", key="not_found", kind="incident", id=report_id)
        if child.parent_id is None:
            raise UserError(f"incident {report_id} is not a linked report; nothing to split", key="not_linked", id=report_id)
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


def source_entry(incident: models.Incident | dict[str, Any]) -> dict[str, str]:
    if isinstance(incident, dict):
        return {"source": incident["source"], "external_id": incident["external_id"], "channel": incident["channel"]}
    return {"source": incident.source, "external_id": incident.external_id, "channel": incident.channel}
