"""What the incident page shows: the detail, every step's SLA clock, open 督办, the orgs an
incident can be handed to (交办) and the divisions (for the pages' filters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ioc.chain import sla
from ioc.city import triage
from ioc.city.pack import CityPack
from ioc.read import lists
from ioc.store import models
from ioc.store.db import session_factory
from ioc.store.models import utcnow

ORDER_ORG_KINDS = ("department", "office")


def view(engine: Engine, incident_id: int, now: datetime | None = None,
         pack: CityPack | None = None) -> dict[str, Any]:
    """``lists.incident_detail`` plus clocks per step, per work order, supervisions and names."""
    now = now or utcnow()
    fraction = sla.load_sla(pack).due_soon_fraction
    detail = lists.incident_detail(engine, incident_id)
    started = detail["reported_at"]
    detail["clocks"] = [_clock(name, started, detail[due], detail[stamp], now, fraction)
                        for name, stamp, due in sla.INCIDENT_CLOCKS]
    for order in detail["work_orders"]:
        order["clocks"] = [_clock(name, order["created_at"], order[due], order[stamp], now, fraction)
                           for name, stamp, due in sla.ORDER_CLOCKS]
    sv = models.Supervision
    order_ids = [o["id"] for o in detail["work_orders"]]
    with session_factory(engine)() as session:
        rows = session.scalars(select(sv).where(
            ((sv.target_type == "incident") & (sv.target_id == incident_id))
            | ((sv.target_type == "work_order") & sv.target_id.in_(order_ids))).order_by(sv.issued_at, sv.id))
        detail["supervisions"] = [lists.as_dict(r, ("id", "target_type", "target_id", "clock", "org_code",
                                                    "issued_at", "due_at", "note", "resolved_at")) for r in rows]
        names = {c: (zh, en) for c, zh, en in session.execute(select(models.District.code, models.District.name_zh,
                                                                     models.District.name_en))}
    detail["division_names"] = names.get(detail["district_code"] or "", (None, None))
    detail["triage"] = suggestion(detail, names)
    return detail


def suggestion(detail: dict[str, Any], names: dict[str, tuple[str, str]]) -> dict[str, Any] | None:
    """The triage suggestion stored at ingest (ioc.city.triage), with its reasons in both languages
    and whether it is still open: None once the incident has what it suggests, or was reclassified."""
    extra = detail.get("extra") or {}
    s = triage.Suggestion.of(extra.get("triage"))
    if not s or extra.get("reclassified"):
        return None
    division = s.division or detail["district_code"]
    category = s.category or detail["category"]
    if (division, category) == (detail["district_code"], detail["category"]):
        return None
    return {"division": division, "category": category, "org": s.org,
            "division_names": names.get(division or "", (None, None)),
            "reason": {lang: triage.explain(s, lang, names) for lang in ("zh-CN", "en")}}


def _clock(name: str, started: datetime, due: datetime | None, met: Any, now: datetime,
           fraction: float) -> dict[str, Any]:
    """A step's clock: met (when), or running with its state, or none set."""
    if due is None:
        return {"clock": name, "due": None, "met_at": None, "state": "none"}
    if met is not None:
        met_at = met if isinstance(met, datetime) else None
        late = met_at is not None and met_at > due
        return {"clock": name, "due": due, "met_at": met_at, "state": "met_late" if late else "met"}
    state, left = sla.state_of(started, due, now, fraction)
    return {"clock": name, "due": due, "met_at": None, "state": state, "minutes_left": left}


def order_orgs(engine: Engine) -> list[dict[str, str]]:
    """Departments and town offices, the orgs work orders go to."""
    o = models.Org
    with session_factory(engine)() as session:
        return [{"code": c, "name_zh": zh, "name_en": en} for c, zh, en in session.execute(
            select(o.code, o.name_zh, o.name_en).where(o.kind.in_(ORDER_ORG_KINDS)).order_by(o.kind, o.code))]


def division_options(engine: Engine) -> list[dict[str, str]]:
    """Every division's code and names, for filters."""
    d = models.District
    with session_factory(engine)() as session:
        return [{"code": c, "name_zh": zh, "name_en": en}
                for c, zh, en in session.execute(select(d.code, d.name_zh, d.name_en).order_by(d.code))]
