"""Setting an incident's division and category by hand: accepting the triage suggestion (智能分拨)
in one click, or correcting it.

One transaction: the incident (division, category, owning department, SLA clocks from the new
category, version), its timeline event, the audit row, and the count of every phrase of the
suggestion as accepted or corrected (table ``triage_phrase``), so ``triage.toml`` can be improved
where officers keep correcting it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ioc.chain import sla
from ioc.chain.actions import Actor, audit, check_version, get_or_404, require, snapshot
from ioc.city import triage
from ioc.city.pack import CityPack
from ioc.errors import ActionRefused
from ioc.records import CATEGORIES
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

FIELDS = ("district_code", "category", "org_code", "grid_code", "version")


def accept_suggestion(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None,
                      pack: CityPack, now: datetime | None = None) -> models.Incident:
    """The one click: take the division and category the triage suggested (the version check makes
    sure it is the suggestion the officer saw)."""
    return reclassify(engine, actor, incident_id, seen_version, pack, None, None, now, from_suggestion=True)


def reclassify(engine: Engine, actor: Actor, incident_id: int, seen_version: int | None, pack: CityPack,
               division: str | None, category: str | None, now: datetime | None = None,
               from_suggestion: bool = False) -> models.Incident:
    """Give the incident ``division`` and ``category`` (None: keep the one it has, or with
    ``from_suggestion`` take the suggestion's); the owning department follows the category
    (``triage.toml``, else the pack's routing)."""
    if category is not None and category not in CATEGORIES:
        raise ActionRefused(f"category must be one of the known categories, not {category!r}", key="category_unknown",
                            value=category)
    if division is not None and division not in {d.code for d in pack.divisions()}:
        raise ActionRefused(f"{division!r} is not a division of {pack.name}", key="division_unknown", code=division,
                            city=pack.name)
    now = now or utcnow()
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident")
        require(actor, "incident.reclassify")
        check_version("incident", incident_id, incident.version, seen_version)
        before = snapshot(incident, FIELDS)
        suggestion = triage.Suggestion.of((incident.extra or {}).get("triage"))
        if from_suggestion:
            if not suggestion:
                raise ActionRefused(f"incident {incident_id} has no triage suggestion to accept", key="no_suggestion",
                                    id=incident_id)
            division, category = suggestion.division, suggestion.category
        division = division or incident.district_code
        category = category or incident.category
        if division != incident.district_code:
            incident.grid_code = None  # the old division's cell
        incident.district_code, incident.category = division, category
        incident.org_code = triage.for_pack(pack).owner(category, division)
        sla.apply_incident_clocks(session, incident, pack)
        accepted = suggestion.category in (None, category) and suggestion.division in (None, division)
        incident.extra = {**(incident.extra or {}), "reclassified": {
            "by": actor.username, "at": now.isoformat(), "accepted": bool(suggestion) and accepted}}
        incident.version += 1
        incident.updated_at = now
        after = snapshot(incident, FIELDS)
        session.add(models.IncidentEvent(incident_id=incident.id, at=now, kind="reclassified", actor=actor.username,
                                         data={"division": division, "category": category, "org": incident.org_code,
                                               "suggestion": "accepted" if bool(suggestion) and accepted
                                               else ("corrected" if suggestion else None)}))
        audit(session, actor, "incident.reclassify", "incident", incident.id, before, after)
        count_phrases(session, suggestion, {"division": division, "category": category}, now)
    log.info("%s: incident %s reclassified", actor.username, incident_id)
    return incident


def count_phrases(session: Session, suggestion: triage.Suggestion, chosen: dict[str, Any], now: datetime) -> None:
    """Each phrase of the suggestion: accepted when what it pointed to was kept, else corrected (to what)."""
    for reason in suggestion.reasons:
        key = (reason.kind, reason.phrase[:100], reason.value)
        row = session.get(models.TriagePhrase, key, with_for_update=True)
        if row is None:
            row = models.TriagePhrase(kind=key[0], phrase=key[1], suggested=key[2], accepted=0, corrected=0,
                                      corrected_to={})
            session.add(row)
        final = chosen[reason.kind]
        if final == reason.value:
            row.accepted += 1
        else:
            row.corrected += 1
            row.corrected_to = {**row.corrected_to, str(final): row.corrected_to.get(str(final), 0) + 1}
        row.last_at = now
