"""What every command-chain write shares: who acts, whether their role may, which version they
saw, and the audit row that records it.

Service functions (``ioc.chain.workflow``, ``ioc.chain.workorders``, ``ioc.chain.dispatch`` ...) call these inside
their own transaction, whatever a page or the API already checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ioc.errors import Forbidden, NotFound, Stale
from ioc.store import models

ROLES = ("viewer", "operator", "duty_officer", "leader", "handler", "admin")

# Which roles may do each action. Handlers act only on their own org's work orders (checked
# by the service). Viewers (wall screens) do nothing.
PERMISSIONS: dict[str, frozenset[str]] = {
    "incident.acknowledge": frozenset({"operator", "duty_officer", "admin"}),
    "incident.dispatch": frozenset({"duty_officer", "admin"}),
    "incident.on_scene": frozenset({"operator", "duty_officer", "admin"}),
    "incident.resolve": frozenset({"duty_officer", "admin"}),
    "incident.close": frozenset({"duty_officer", "admin"}),
    "incident.cancel": frozenset({"duty_officer", "admin"}),
    "incident.merge": frozenset({"operator", "duty_officer", "admin"}),
    "incident.split": frozenset({"operator", "duty_officer", "admin"}),
    "incident.satisfaction": frozenset({"operator", "duty_officer", "admin"}),
    "incident.note": frozenset({"operator", "duty_officer", "admin"}),
    "incident.reclassify": frozenset({"operator", "duty_officer", "admin"}),
    "incident.supervise": frozenset({"duty_officer", "leader", "admin"}),
    "work_order.create": frozenset({"duty_officer", "admin"}),
    "work_order.handle": frozenset({"handler", "admin"}),
    "work_order.verify": frozenset({"duty_officer", "admin"}),
    "unit.dispatch": frozenset({"duty_officer", "admin"}),
    "unit.status": frozenset({"operator", "duty_officer", "admin"}),
    "major_event.manage": frozenset({"duty_officer", "leader", "admin"}),
    "user.manage": frozenset({"admin"}),
    "kiosk.manage": frozenset({"duty_officer", "admin"}),
    "view.save": frozenset(ROLES),  # anyone signed in keeps their own board views (kiosk links are not)
    "feed.manage": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Actor:
    """Who does an action: a user (role, and org for handlers) or a system part like a feed."""

    username: str
    role: str
    org_code: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(username=name, role="admin")

    @classmethod
    def of(cls, user: models.User) -> Actor:
        return cls(username=user.username, role=user.role, org_code=user.org_code)


def require(actor: Actor, action: str) -> None:
    """Refuse unless the actor's role may do ``action``."""
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise KeyError(f"unknown action {action!r}")
    if actor.role not in allowed:
        raise Forbidden(f"{actor.username} ({actor.role}) may not {action.replace('.', ' ').replace('_', ' ')}",
                        key="forbidden", role=actor.role)


def check_version(kind: str, item_id: Any, current: int, seen: int | None) -> None:
    """Refuse a write made on a stale view: someone else changed the item since."""
    if seen is not None and seen != current:
        raise Stale(f"{kind} {item_id} was changed by someone else (you saw version {seen}, it is now "
                    f"{current}); reload it and try again", key="stale", seen=seen, current=current)


def get_or_404(session: Session, model: type, key: Any, kind: str, lock: bool = True) -> Any:
    row = session.get(model, key, with_for_update=lock)
    if row is None:
        raise NotFound(f"{kind} {key} does not exist", key="not_found", kind=kind.replace(" ", "_"), id=key)
    return row


def audit(session: Session, actor: Actor, action: str, target_type: str, target_id: Any,
          before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """One audit row: who, when, what, before → after."""
    session.add(models.Audit(actor=actor.username, action=action, target_type=target_type,
                             target_id=str(target_id), before=before, after=after))


def snapshot(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a row, JSON-ready, for audit before/after."""
    out = {}
    for name in fields:
        value = getattr(row, name)
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return out
