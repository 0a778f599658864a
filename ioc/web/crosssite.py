"""Cross-site writes refused: a POST (PUT, PATCH, DELETE) whose Origin, or else Referer, names
another site gets 403 before anything reads it.

Browsers send Origin on every cross-site POST, so a page elsewhere cannot make a signed-in
browser sign in, act through a Dash callback or call the API with its session cookie (the
cookie's SameSite=Lax covers the same ground from the other side). Requests without either
header (curl, scripts, feeds) and bearer-token API calls — no cookie, nothing to forge — pass.
Behind a reverse proxy the Host it forwards must be the public one (or use werkzeug's ProxyFix).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

log = logging.getLogger(__name__)

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def install(server: Flask) -> None:
    server.before_request(_refuse_cross_site)


def _refuse_cross_site():
    if request.method not in WRITES or request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or _same_site(source):
        return None
    log.warning("refused a cross-site %s to %s", request.method, request.path)
    return jsonify({"error": "cross-site request refused: send it from this site's own pages"}), 403


def _same_site(source: str) -> bool:
    if source == "null":  # an opaque origin (sandboxed frame, data: URL) is never this site
        return False
    # Host and port only: behind a proxy that ends TLS the request itself arrives over http.
    return urlsplit(source).netloc == request.host
