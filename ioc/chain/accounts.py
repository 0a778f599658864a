"""Who may act: accounts with roles and hashed passwords, signing in with throttling, API bearer
tokens, and wall-screen kiosk links.

- Repeated failed logins for one user name are throttled: after ``MAX_FAILURES`` failures in
  ``WINDOW`` further attempts are refused until the window has passed.
- API tokens are random strings shown once; only their SHA-256 is stored, and they can be revoked.
- A kiosk link carries a signed token naming a ``kiosk_link`` row; revoking the row kills the link.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ioc.chain.actions import ROLES, Actor, require
from ioc.errors import NotFound, UserError
from ioc.store import changes, models
from ioc.store.db import transaction
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,80}$")
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
KIOSK_SALT = "ioc-kiosk"


class LoginThrottled(UserError):
    """Too many failed attempts for this user name; try again later."""


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    actor: Actor


def login(engine: Engine, username: str, password: str, now: datetime | None = None) -> SignedIn | None:
    """Check a password; record the attempt; refuse while the name is throttled."""
    now = now or utcnow()
    with transaction(engine) as session:
        failures = session.scalar(
            select(func.count()).select_from(models.LoginAttempt)
            .where(models.LoginAttempt.username == username, models.LoginAttempt.ok.is_(False),
                   models.LoginAttempt.at > now - WINDOW)
        ) or 0
        if failures >= MAX_FAILURES:
            raise LoginThrottled(f"too many failed sign-ins for {username}; try again in {WINDOW.seconds // 60} minutes",
                                 key="throttled", minutes=WINDOW.seconds // 60)
        user = session.scalar(select(models.User).where(models.User.username == username))
        ok = bool(user and user.active and check_password_hash(user.password_hash, password))
        session.add(models.LoginAttempt(username=username, at=now, ok=ok))
        if not ok:
            log.info("failed sign-in for a user name")  # no names or passwords in logs
            return None
        return SignedIn(user.id, Actor.of(user))


def actor_for_user_id(engine: Engine, user_id: int) -> Actor | None:
    with transaction(engine) as session:
        user = session.get(models.User, user_id)
        return Actor.of(user) if user and user.active else None


# --- API tokens ---------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, username: str, name: str = "") -> str:
    """A new bearer token for ``username``; the plain token is returned once and never stored."""
    token = "ioc_" + secrets.token_urlsafe(32)
    with transaction(engine) as session:
        user = session.scalar(select(models.User).where(models.User.username == username))
        if user is None:
            raise NotFound(f"user {username!r} does not exist; add it with `python -m ioc users add`",
                           key="no_user", name=username)
        session.add(models.ApiToken(user_id=user.id, name=name, token_hash=_digest(token)))
        session.add(models.Audit(actor="cli", action="token.create", target_type="user", target_id=username,
                                 before=None, after={"name": name}))
    return token


def actor_for_token(engine: Engine, token: str) -> Actor | None:
    """The actor a bearer token stands for, or None when unknown or revoked."""
    with transaction(engine) as session:
        row = session.scalar(select(models.ApiToken).where(models.ApiToken.token_hash == _digest(token)))
        if row is None or row.revoked_at is not None:
            return None
        user = session.get(models.User, row.user_id)
        if user is None or not user.active:
            return None
        row.last_used_at = utcnow()
        return Actor.of(user)


def revoke_token(engine: Engine, token: str) -> None:
    with transaction(engine) as session:
        row = session.scalar(select(models.ApiToken).where(models.ApiToken.token_hash == _digest(token)))
        if row is None:
            raise NotFound("no such token", key="no_token")
        row.revoked_at = utcnow()


# --- kiosk links -----------------------------------------------------------------------------------


def create_kiosk_link(engine: Engine, actor: Actor, label: str, secret_key: str) -> str:
    """A signed token for a read-only wall-screen link; put it in the URL as ?kiosk=TOKEN."""
    require(actor, "kiosk.manage")
    with transaction(engine) as session:
        link = models.KioskLink(label=label, created_by=actor.username)
        session.add(link)
        session.flush()
        link_id = link.id
        session.add(models.Audit(actor=actor.username, action="kiosk.create", target_type="kiosk_link",
                                 target_id=str(link_id), before=None, after={"label": label}))
    return URLSafeSerializer(secret_key, salt=KIOSK_SALT).dumps({"k": link_id})


def revoke_kiosk_link(engine: Engine, actor: Actor, link_id: int) -> None:
    require(actor, "kiosk.manage")
    with transaction(engine) as session:
        link = session.get(models.KioskLink, link_id)
        if link is None:
            raise NotFound(f"kiosk link {link_id} does not exist", key="no_kiosk_link", id=link_id)
        link.revoked_at = utcnow()
        session.add(models.Audit(actor=actor.username, action="kiosk.revoke", target_type="kiosk_link",
                                 target_id=str(link_id), before={"revoked": False}, after={"revoked": True}))


def actor_for_kiosk(engine: Engine, token: str, secret_key: str) -> Actor | None:
    """A read-only viewer for a valid, unrevoked kiosk token."""
    try:
        data = URLSafeSerializer(secret_key, salt=KIOSK_SALT).loads(token)
    except BadSignature:
        return None
    with transaction(engine) as session:
        link = session.get(models.KioskLink, data.get("k"))
        if link is None or link.revoked_at is not None:
            return None
        return Actor(username=f"kiosk:{link.label}", role="viewer")



def add_user(engine: Engine, username: str, role: str, password: str, org_code: str | None = None,
             actor: str = "cli") -> models.User:
    """Create an account; a handler must belong to an org. The creation is audited."""
    if not _USERNAME.match(username):
        raise UserError(f"user name {username!r}: use 2-80 letters, digits, '.', '_' or '-'", key="user_name",
                        name=username)
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of: {', '.join(ROLES)}", key="role_unknown", role=role,
                        roles=", ".join(ROLES))
    if role == "handler" and not org_code:
        raise UserError("a handler answers work orders for an org: give --org CODE", key="handler_org")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters", key="password_short",
                        n=MIN_PASSWORD_LENGTH)
    with transaction(engine) as session:
        if org_code and session.get(models.Org, org_code) is None:
            raise UserError(f"org {org_code!r} is not in the store (see orgs.csv in the city pack)", key="no_org",
                            org=org_code)
        if session.scalar(select(models.User).where(models.User.username == username)):
            raise UserError(f"user {username!r} already exists", key="user_exists", name=username)
        user = models.User(username=username, role=role, org_code=org_code,
                           password_hash=generate_password_hash(password))
        session.add(user)
        session.flush()
        session.add(models.Audit(actor=actor, action="user.add", target_type="user", target_id=username,
                                 before=None, after={"role": role, "org_code": org_code}))
    log.info("user %s added with role %s", username, role)
    return user


def accounts_version(engine: Engine) -> int:
    """A counter that moves whenever a user or kiosk link is written (sessions check it per request)."""
    return changes.versions(engine, ("account",)).get("account", -1)
