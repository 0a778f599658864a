"""The runtime (settings, store, city pack) of the app serving the current request."""

from __future__ import annotations

from flask import current_app

from ioc.runtime import Runtime

KEY = "IOC_RUNTIME"


def current() -> Runtime:
    return current_app.config[KEY]
