"""Security headers on every response, through flask-talisman.

A Content-Security-Policy without ``unsafe-inline`` scripts: Dash's own inline scripts and
clientside callbacks are allowed by their hashes (``Dash.csp_hashes``, handed in by the app).
Dash defines one more inline script (the pages' title callback) on its first request, so the
hashes are taken again before each request; it costs a few hashes of short strings. Styles stay ``unsafe-inline`` because Dash, Leaflet and AG Grid
set element styles. Pages may be framed only by the same site; no referrer leaves the site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from flask import Flask
from flask_talisman import Talisman


def policy(script_hashes: list[str], tile_url: str = "") -> dict[str, str]:
    """The Content-Security-Policy directives; a tile server's host may serve images."""
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "*"))
        if parts.scheme and parts.netloc:
            images.append(f"{parts.scheme}://{parts.netloc}")
    return {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        "style-src": "'self' 'unsafe-inline'",
        "img-src": " ".join(images),
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'self'",
    }


def install(server: Flask, script_hashes: Callable[[], Sequence[str]], tile_url: str = "") -> None:
    """Headers on the app's Flask server. HTTPS is the reverse proxy's to enforce (``force_https``
    off); session cookies are HttpOnly and SameSite=Lax, and Secure when the request came over
    HTTPS (``SESSION_COOKIE_SECURE`` is set per deployment: ``[web] secure_cookies``)."""
    secure = bool(server.config.get("SESSION_COOKIE_SECURE"))
    talisman = Talisman(
        server,
        force_https=False,
        strict_transport_security=secure,
        session_cookie_secure=secure,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        frame_options="SAMEORIGIN",
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy=policy(list(script_hashes()), tile_url),
        content_security_policy_nonce_in=None,
    )

    @server.before_request
    def _hash_late_scripts() -> None:  # registered after Dash's own first-request set-up
        talisman.content_security_policy = policy(list(script_hashes()), tile_url)

    server.config.update(REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
                         REMEMBER_COOKIE_SECURE=secure)
