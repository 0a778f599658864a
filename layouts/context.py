"""The runtime (settings, store, city pack) and the signed-in actor of the current request."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from ioc.chain.actions import Actor
from ioc.runtime import RUNTIME_KEY, Runtime

KEY = RUNTIME_KEY


def current() -> Runtime:
    return current_app.config[KEY]


def actor() -> Actor | None:
    """Who is signed in (None for an anonymous visitor)."""
    if current_user and current_user.is_authenticated:
        return current_user.actor
    return None
