"""Response clocks (SLA): when each step of an incident or work order is due, which clock is
running now, and 督办 (supervision) when one runs out.

The limits come from ``geodata/<pack>/sla.toml`` (built-in defaults when it is absent), per
priority, overridden per channel and per category. All limits are calendar minutes.

Incident clocks, all measured from ``reported_at``:
    acknowledge (acknowledged_at) → dispatch (dispatched_at) → on_scene (on_scene_at) → resolve (resolved_at)
Work-order clocks, measured from ``created_at``:
    accept (accepted_at, 签收) → feedback (feedback, 答复) → due (done_at, 办结)

A clock runs until its step is stamped. The *running* clock of an item is its first unmet one;
``sweep`` looks at every unmet clock, so an incident left untouched for a day has each of its
run-out clocks escalated once. Escalating adds an ``overdue`` event and a Supervision row but
does not bump the incident's version: a 督办 is a notice about the item, not a change to it,
and must not make the duty officer's open page stale.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ioc.chain.actions import Actor, audit, get_or_404, require
from ioc.city.pack import CityPack
from ioc.errors import ActionRefused, InvalidTransition, UserError
from ioc.records import CATEGORIES, PRIORITIES
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

SLA_FILE = "sla.toml"
OPEN_INCIDENT = ("unverified", "new", "acknowledged", "dispatched", "on_scene")
OPEN_ORDER = ("pending", "accepted", "handling", "extended", "done")
# (clock, stamp column, due column) in the order the steps happen.
INCIDENT_CLOCKS = (
    ("acknowledge", "acknowledged_at", "acknowledge_due"),
    ("dispatch", "dispatched_at", "dispatch_due"),
    ("on_scene", "on_scene_at", "on_scene_due"),
    ("resolve", "resolved_at", "resolve_due"),
)
# Clocks an incident's status has already passed, stamped or not (an incident moved straight
# to on_scene has no dispatch step left to chase).
PASSED = {"acknowledged": 1, "dispatched": 2, "on_scene": 3}
ORDER_CLOCKS = (
    ("accept", "accepted_at", "accept_by"),
    ("feedback", "feedback", "feedback_by"),
    ("due", "done_at", "due_at"),
)
# A run-out clock at these steps means nobody has taken the item up: suggest sending it elsewhere.
REDISPATCH_CLOCKS = {("incident", "acknowledge"), ("incident", "dispatch"), ("work_order", "accept")}
SWEEP_ACTOR = Actor.system("sla")

State = Literal["ok", "due_soon", "overdue"]


# --- the rules ----------------------------------------------------------------------------


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Clocks(_Table):
    acknowledge_by: PositiveInt | None = None
    dispatch_by: PositiveInt | None = None
    on_scene_by: PositiveInt | None = None
    resolve_by: PositiveInt | None = None

    def given(self) -> dict[str, int]:
        return self.model_dump(exclude_none=True, include=set(Clocks.model_fields))


class Override(Clocks):
    """A channel's or category's clocks, optionally narrowed per priority."""

    P1: Clocks | None = None
    P2: Clocks | None = None
    P3: Clocks | None = None
    P4: Clocks | None = None


class OrderClocks(_Table):
    accept_by: PositiveInt
    feedback_by: PositiveInt
    due_by: PositiveInt


DEFAULT_INCIDENT = {
    "P1": {"acknowledge_by": 1, "dispatch_by": 3, "on_scene_by": 10, "resolve_by": 240},
    "P2": {"acknowledge_by": 3, "dispatch_by": 10, "on_scene_by": 30, "resolve_by": 480},
    "P3": {"acknowledge_by": 10, "dispatch_by": 30, "on_scene_by": 120, "resolve_by": 1440},
    "P4": {"acknowledge_by": 30, "dispatch_by": 120, "on_scene_by": 480, "resolve_by": 4320},
}
DEFAULT_ORDER = {
    "P1": {"accept_by": 30, "feedback_by": 60, "due_by": 240},
    "P2": {"accept_by": 60, "feedback_by": 120, "due_by": 1440},
    "P3": {"accept_by": 120, "feedback_by": 480, "due_by": 2880},
    "P4": {"accept_by": 240, "feedback_by": 1440, "due_by": 7200},
}


class SlaRules(_Table):
    due_soon_fraction: float = Field(default=0.2, gt=0, lt=1)
    supervision_due_by: PositiveInt = 60
    incident: dict[Literal["P1", "P2", "P3", "P4"], Clocks] = Field(
        default_factory=lambda: {p: Clocks(**v) for p, v in DEFAULT_INCIDENT.items()})
    channels: dict[str, Override] = Field(default_factory=dict)
    categories: dict[str, Override] = Field(default_factory=dict)
    work_order: dict[Literal["P1", "P2", "P3", "P4"], OrderClocks] = Field(
        default_factory=lambda: {p: OrderClocks(**v) for p, v in DEFAULT_ORDER.items()})

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: dict[str, Override]) -> dict[str, Override]:
        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown category {unknown[0]!r} (see ioc/records.py CATEGORIES)")
        return value

    def minutes(self, category: str, priority: str, channel: str | None = None) -> dict[str, int]:
        """The four incident limits in minutes, after channel and category overrides."""
        priority = priority if priority in PRIORITIES else "P3"
        limits = self.incident[priority].given()
        for override in (self.channels.get(channel or ""), self.categories.get(category)):
            if override is None:
                continue
            limits |= override.given()
            narrowed = getattr(override, priority)
            if narrowed is not None:
                limits |= narrowed.given()
        # A later step's limit caps the earlier ones (fire dispatches in 1 min even at P4).
        keys = ("acknowledge_by", "dispatch_by", "on_scene_by", "resolve_by")
        for earlier, later in zip(reversed(keys[:-1]), reversed(keys[1:]), strict=True):
            limits[earlier] = min(limits[earlier], limits[later])
        return limits

    def order_minutes(self, priority: str) -> OrderClocks:
        return self.work_order[priority if priority in PRIORITIES else "P3"]


def load_sla(pack: CityPack | None) -> SlaRules:
    """The pack's ``sla.toml`` (defaults when there is no pack or no file); re-read when it changes."""
    if pack is None:
        return SlaRules()
    file = Path(pack.path) / SLA_FILE
    if not file.exists():
        return SlaRules()
    return _load_file(str(file), file.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_file(path: str, _mtime_ns: int) -> SlaRules:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}", key="bad_toml", file=path, error=str(exc)) from None
    # Priority tables the file gives override the built-in ones key by key.
    for key, defaults in (("incident", DEFAULT_INCIDENT), ("work_order", DEFAULT_ORDER)):
        given = data.get(key)
        if isinstance(given, dict):
            merged: dict[str, Any] = {p: dict(v) for p, v in defaults.items()}
            for p, v in given.items():
                merged[p] = {**defaults.get(p, {}), **v} if isinstance(v, dict) else v
            data[key] = merged
    try:
        return SlaRules.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "value"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise UserError(f"{path}: {key}: {msg}", key="bad_setting", file=path, where=key, error=msg) from None


# --- due times --------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentDue:
    acknowledge: datetime
    dispatch: datetime
    on_scene: datetime
    resolve: datetime


@dataclass(frozen=True)
class OrderDue:
    accept_by: datetime
    feedback_by: datetime
    due_at: datetime


def due_times(pack: CityPack | None, category: str, priority: str, reported_at: datetime,
              channel: str | None = None) -> IncidentDue:
    """When each incident step is due, counted from ``reported_at``."""
    limits = load_sla(pack).minutes(category, priority, channel)
    return IncidentDue(**{name: reported_at + timedelta(minutes=limits[f"{name}_by"])
                          for name in ("acknowledge", "dispatch", "on_scene", "resolve")})


class IncidentClocks:
    """The pack's incident clocks read once (a batch of the intake builds one), the limits of each
    category / priority / channel worked out once."""

    def __init__(self, pack: CityPack | None) -> None:
        self.rules = load_sla(pack)
        self._limits: dict[tuple[str, str, str | None], tuple[timedelta, ...]] = {}

    def due(self, category: str, priority: str, reported_at: datetime,
            channel: str | None = None) -> dict[str, datetime]:
        """The four due columns of an incident, as ``due_times`` gives them."""
        key = (category, priority, channel)
        limits = self._limits.get(key)
        if limits is None:
            minutes = self.rules.minutes(category, priority, channel)
            limits = self._limits[key] = tuple(timedelta(minutes=minutes[f"{name}_by"]) for name in DUE_STEPS)
        return {f"{name}_due": reported_at + limit for name, limit in zip(DUE_STEPS, limits, strict=True)}


DUE_STEPS = ("acknowledge", "dispatch", "on_scene", "resolve")


def apply_incident_clocks(session: Session | None, incident: models.Incident, pack: CityPack | None) -> None:
    """Set the four due columns of a new (or re-prioritised) incident; the ingest pipeline calls this.

    ``session`` is not used today (ingest passes None for rows not yet added); it is there so a
    future rule that needs the store (a holiday calendar) does not change the signature.
    """
    due = due_times(pack, incident.category, incident.priority, incident.reported_at, incident.channel)
    incident.acknowledge_due = due.acknowledge
    incident.dispatch_due = due.dispatch
    incident.on_scene_due = due.on_scene
    incident.resolve_due = due.resolve


def work_order_due(pack: CityPack | None, priority: str, created_at: datetime,
                   due_at: datetime | None = None, incident_resolve_due: datetime | None = None) -> OrderDue:
    """Accept / feedback / due times of a new work order.

    ``due_at`` is the duty officer's own deadline; without one the order inherits the incident's
    resolve deadline while that is still ahead, else gets the priority's ``due_by``. Accept and
    feedback never fall after the due time.
    """
    limits = load_sla(pack).order_minutes(priority)
    if due_at is None:
        own = created_at + timedelta(minutes=limits.due_by)
        due_at = incident_resolve_due if incident_resolve_due and incident_resolve_due > created_at else own
    accept = min(created_at + timedelta(minutes=limits.accept_by), due_at)
    feedback = min(created_at + timedelta(minutes=limits.feedback_by), due_at)
    return OrderDue(accept_by=accept, feedback_by=feedback, due_at=due_at)


# --- clock states -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    target_type: str            # "incident" or "work_order"
    target_id: int
    incident_id: int
    org_code: str | None
    clock: str
    started_at: datetime
    due_at: datetime
    state: State
    minutes_left: float         # negative once overdue


def state_of(started_at: datetime, due_at: datetime, now: datetime, fraction: float) -> tuple[State, float]:
    """ok / due_soon / overdue and the minutes left; a clock at its due time has run out."""
    left = (due_at - now).total_seconds() / 60
    window = max((due_at - started_at).total_seconds() / 60, 0.0)
    if left <= 0:
        return "overdue", round(left, 1)
    return ("due_soon" if left <= fraction * window else "ok"), round(left, 1)


@dataclass(frozen=True)
class _Item:
    target_type: str
    target_id: int
    incident_id: int
    org_code: str | None
    started_at: datetime
    unmet: tuple[tuple[str, datetime], ...]   # (clock, due) not yet stamped, in step order


def _open_items(session: Session, org_code: str | None = None) -> list[_Item]:
    inc = models.Incident
    q = select(inc).where(inc.status.in_(OPEN_INCIDENT))
    if org_code:
        q = q.where(inc.org_code == org_code)
    items = [_Item("incident", i.id, i.id, i.org_code, i.reported_at,
                   _unmet(i, INCIDENT_CLOCKS[PASSED.get(i.status, 0):])) for i in session.scalars(q)]
    wo = models.WorkOrder
    q = select(wo).where(wo.status.in_(OPEN_ORDER))
    if org_code:
        q = q.where(wo.org_code == org_code)
    items += [_Item("work_order", o.id, o.incident_id, o.org_code, o.created_at, _unmet(o, ORDER_CLOCKS))
              for o in session.scalars(q)]
    return [i for i in items if i.unmet]


def _unmet(row: Any, clocks: tuple[tuple[str, str, str], ...]) -> tuple[tuple[str, datetime], ...]:
    return tuple((name, getattr(row, due)) for name, stamp, due in clocks
                 if getattr(row, stamp) is None and getattr(row, due) is not None)


def clock_states(engine: Engine, now: datetime | None = None, pack: CityPack | None = None,
                 org_code: str | None = None) -> list[ClockState]:
    """The running clock of every open incident and open work order, most urgent first."""
    now = now or utcnow()
    fraction = load_sla(pack).due_soon_fraction
    with transaction(engine) as session:
        items = _open_items(session, org_code)
    out = []
    for item in items:
        clock, due = item.unmet[0]
        state, left = state_of(item.started_at, due, now, fraction)
        out.append(ClockState(item.target_type, item.target_id, item.incident_id, item.org_code,
                              clock, item.started_at, due, state, left))
    return sorted(out, key=lambda c: (c.minutes_left, c.target_type, c.target_id))


# --- 督办 -------------------------------------------------------------------------------


@dataclass
class SweepSummary:
    checked: int = 0
    issued: list[tuple[str, int, str]] = field(default_factory=list)   # (target_type, id, clock)

    def text(self) -> str:
        return f"SLA sweep: {self.checked} open items checked, {len(self.issued)} supervision notices issued"

    __str__ = text


def sweep(engine: Engine, pack: CityPack | None = None, now: datetime | None = None) -> SweepSummary:
    """Escalate every run-out clock once: an ``overdue`` event and a Supervision to the level above.

    Idempotent: a clock that already has its Supervision row is skipped. Two sweeps racing would
    collide on the row's unique key and one would roll back; the worker runs one at a time.
    """
    now = now or utcnow()
    rules = load_sla(pack)
    summary = SweepSummary()
    with transaction(engine) as session:
        items = _open_items(session)
        summary.checked = len(items)
        done = _existing(session, items)
        parents, root = _org_tree(session)
        for item in items:
            for clock, due in item.unmet:
                if due > now or (item.target_type, item.target_id, clock) in done:
                    continue
                _escalate(session, item, clock, due, now, rules, parents.get(item.org_code or "", root))
                summary.issued.append((item.target_type, item.target_id, clock))
    if summary.issued:
        log.info(summary.text())
    return summary


def _existing(session: Session, items: list[_Item]) -> set[tuple[str, int, str]]:
    sv = models.Supervision
    found: set[tuple[str, int, str]] = set()
    for kind in ("incident", "work_order"):
        ids = [i.target_id for i in items if i.target_type == kind]
        for start in range(0, len(ids), 500):
            rows = session.execute(select(sv.target_type, sv.target_id, sv.clock)
                                   .where(sv.target_type == kind, sv.target_id.in_(ids[start:start + 500])))
            found |= {tuple(r) for r in rows}
    return found


def _org_tree(session: Session) -> tuple[dict[str, str], str | None]:
    """Each org's parent (the level a 督办 goes to), and the city root for orgs at the top."""
    rows = session.execute(select(models.Org.code, models.Org.parent_code, models.Org.kind)).all()
    root = next((r.code for r in rows if r.kind == "city" and r.parent_code is None), None)
    return {r.code: r.parent_code or r.code for r in rows}, root


def _escalate(session: Session, item: _Item, clock: str, due: datetime, now: datetime,
              rules: SlaRules, to_org: str | None) -> None:
    late = round((now - due).total_seconds() / 60)
    what = f"{'work order' if item.target_type == 'work_order' else 'incident'} {item.target_id}"
    note = f"{clock} clock of {what} ran out {late} min ago (owner {item.org_code or 'none'})"
    suggestion = None
    if (item.target_type, clock) in REDISPATCH_CLOCKS:
        reason = (f"{item.org_code or 'nobody'} has not accepted it" if item.target_type == "work_order"
                  else f"not {'acknowledged' if clock == 'acknowledge' else 'dispatched'} in time")
        suggestion = {"action": "redispatch", "reason": reason, "from_org": item.org_code}
    row = models.Supervision(
        target_type=item.target_type, target_id=item.target_id, clock=clock, org_code=to_org,
        issued_at=now, due_at=now + timedelta(minutes=rules.supervision_due_by), note=note,
        suggestion=suggestion)
    session.add(row)
    session.add(models.IncidentEvent(
        incident_id=item.incident_id, at=now, kind="overdue", actor=SWEEP_ACTOR.username,
        data={"clock": clock, "target_type": item.target_type, "target_id": item.target_id,
              "due": due.isoformat(), "supervised_by": to_org}))
    session.flush()
    audit(session, SWEEP_ACTOR, "supervision.issue", "supervision", row.id, None,
          {"target": f"{item.target_type}:{item.target_id}", "clock": clock, "org_code": to_org,
           "suggestion": suggestion})


def supervise(engine: Engine, actor: Actor, incident_id: int, note: str = "", pack: CityPack | None = None,
              now: datetime | None = None) -> models.Supervision:
    """督办 by hand: a notice to the level above on the incident's running clock, before (or
    without) the sweep. Like the sweep's, it does not bump the incident's version."""
    require(actor, "incident.supervise")
    now = now or utcnow()
    with transaction(engine) as session:
        incident = get_or_404(session, models.Incident, incident_id, "incident", lock=False)
        if incident.status not in OPEN_INCIDENT:
            raise InvalidTransition(f"incident {incident_id} is {incident.status}; only open incidents are supervised",
                                    key="supervise_state", id=incident_id, status=incident.status)
        unmet = _unmet(incident, INCIDENT_CLOCKS[PASSED.get(incident.status, 0):])
        clock = unmet[0][0] if unmet else "manual"
        sv = models.Supervision
        if session.scalar(select(sv.id).where(sv.target_type == "incident", sv.target_id == incident_id,
                                              sv.clock == clock)) is not None:
            raise ActionRefused(f"incident {incident_id} is already supervised on its {clock} step",
                                key="already_supervised", id=incident_id, clock=clock)
        parents, root = _org_tree(session)
        row = sv(target_type="incident", target_id=incident_id, clock=clock,
                 org_code=parents.get(incident.org_code or "", root), issued_at=now,
                 due_at=now + timedelta(minutes=load_sla(pack).supervision_due_by),
                 note=(note or "").strip() or f"supervised by {actor.username}")
        session.add(row)
        session.add(models.IncidentEvent(incident_id=incident_id, at=now, kind="supervised", actor=actor.username,
                                         data={"clock": clock, "supervised_by": row.org_code, "note": row.note}))
        session.flush()
        audit(session, actor, "supervision.issue", "supervision", row.id, None,
              {"target": f"incident:{incident_id}", "clock": clock, "org_code": row.org_code})
    log.info("%s supervised incident %s (%s)", actor.username, incident_id, clock)
    return row


def settle(session: Session, target_type: str, target_id: int, now: datetime,
           clocks: tuple[str, ...] | None = None) -> None:
    """Mark open 督办 on these clocks (all clocks when None) answered: the step got done."""
    sv = models.Supervision
    q = update(sv).where(sv.target_type == target_type, sv.target_id == target_id, sv.resolved_at.is_(None))
    if clocks is not None:
        q = q.where(sv.clock.in_(clocks))
    session.execute(q.values(resolved_at=now).execution_options(synchronize_session=False))
