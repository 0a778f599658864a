"""People who use the system: accounts, roles and hashed passwords."""

from __future__ import annotations

import logging
import re

from sqlalchemy import Engine, select
from werkzeug.security import generate_password_hash

from ioc.actions import ROLES
from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import transaction

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,80}$")


def add_user(engine: Engine, username: str, role: str, password: str, org_code: str | None = None,
             actor: str = "cli") -> models.User:
    """Create an account; a handler must belong to an org. The creation is audited."""
    if not _USERNAME.match(username):
        raise UserError(f"user name {username!r}: use 2-80 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    if role == "handler" and not org_code:
        raise UserError("a handler answers work orders for an org: give --org CODE")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    with transaction(engine) as session:
        if org_code and session.get(models.Org, org_code) is None:
            raise UserError(f"org {org_code!r} is not in the store (see orgs.csv in the city pack)")
        if session.scalar(select(models.User).where(models.User.username == username)):
            raise UserError(f"user {username!r} already exists")
        user = models.User(username=username, role=role, org_code=org_code,
                           password_hash=generate_password_hash(password))
        session.add(user)
        session.flush()
        session.add(models.Audit(actor=actor, action="user.add", target_type="user", target_id=username,
                                 before=None, after={"role": role, "org_code": org_code}))
    log.info("user %s added with role %s", username, role)
    return user
