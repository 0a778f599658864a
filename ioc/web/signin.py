"""Signing in to the web app: Flask-Login on the Dash server, the login form, kiosk links.

Anyone may look when ``[web] public_read`` is on (the demo); otherwise pages need a signed-in
user or a valid kiosk link (``/?kiosk=TOKEN``, read-only, revocable). Actions always need a
user whose role allows them — checked again inside every service function.

Failed sign-ins are throttled twice: per account in the store (``accounts.login``) and per
address by Flask-Limiter (``[web] sign_in_limit``, counters in ``[web] rate_limit_storage``;
memory of this process when Redis cannot be reached). Only the form's POSTs count, and only
those that fail; Dash callbacks and the API are not limited. Behind reverse proxies the address
is the one the last ``[web] trusted_proxies`` of them forwarded (werkzeug's ProxyFix); with 0 an
X-Forwarded-For is ignored, so a client cannot pick its own address.
"""

from __future__ import annotations

from html import escape

from flask import Flask, jsonify, redirect, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix

from ioc.chain.accounts import LoginThrottled, accounts_version, actor_for_kiosk, actor_for_user_id, login
from ioc.chain.actions import Actor
from ioc.i18n import t
from ioc.runtime import RUNTIME_KEY, Runtime

LINK_ERRORS = ("kiosk_revoked",)
OPEN_PATHS = ("/login", "/logout", "/healthz", "/api/", "/assets/", "/_dash-component-suites/", "/_favicon")


class WebUser(UserMixin):
    def __init__(self, user_id: str, actor: Actor) -> None:
        self.id = user_id
        self.actor = actor


def install(server: Flask) -> None:
    """Add sign-in, sign-out and the access gate to the Dash app's Flask server."""
    manager = LoginManager(server)
    manager.login_view = "login_page"
    # user id → (account counter, actor): looked up again only after a user or kiosk link was written,
    # so deactivating a user or revoking a link ends its sessions at their next request.
    known: dict[str, tuple[int, Actor | None]] = {}

    @manager.user_loader
    def _load(user_id: str) -> WebUser | None:
        rt: Runtime = server.config[RUNTIME_KEY]
        version = accounts_version(rt.engine)
        hit = known.get(user_id)
        if hit is None or hit[0] != version:
            if hit is not None:
                known.clear()  # every entry is as old; keeps the map to the users of one version
            known[user_id] = hit = (version, _lookup(rt, user_id))
        return WebUser(user_id, hit[1]) if hit[1] else None

    web = server.config[RUNTIME_KEY].settings.web
    if web.trusted_proxies:
        # The client's address (for the limiter) and scheme (https behind a TLS proxy) as forwarded.
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=web.trusted_proxies, x_proto=web.trusted_proxies)
    limiter = Limiter(get_remote_address, app=server, default_limits=[], storage_uri=web.rate_limit_storage,
                      in_memory_fallback_enabled=True, key_prefix="ioc-sign-in")
    failed = limiter.limit(web.sign_in_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
    server.add_url_rule("/login", "login_page", failed(_login_view), methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout_view)
    server.before_request(_gate)

    @server.errorhandler(429)
    def _too_many(exc):
        if request.path == "/login":
            rt = _runtime()
            lang = request.args.get("lang") or rt.settings.web.language
            return _login_html(rt, lang, t("login.throttled_address", lang)), 429
        return exc

    @server.errorhandler(404)
    def _not_found(exc):
        if request.path.startswith("/api/"):
            return jsonify({"error": f"no endpoint {request.path}; see /api/v1/openapi.json"}), 404
        return exc


def _lookup(rt: Runtime, user_id: str) -> Actor | None:
    if user_id.startswith("kiosk:"):
        return actor_for_kiosk(rt.engine, user_id.removeprefix("kiosk:"), rt.secret_key)
    return actor_for_user_id(rt.engine, int(user_id))


def _gate():
    rt = _runtime()
    if request.path.startswith(OPEN_PATHS):
        return None
    kiosk = request.args.get("kiosk")
    if kiosk:
        actor = actor_for_kiosk(rt.engine, kiosk, rt.secret_key)
        if actor is None:
            return _refuse("kiosk_revoked")
        login_user(WebUser(f"kiosk:{kiosk}", actor))
        return None
    if current_user.is_authenticated or rt.settings.web.public_read:
        return None
    return _refuse(None)


def _refuse(reason: str | None):
    """Send a page request to the sign-in form (with a reason code it knows); a callback gets 401."""
    if request.path.startswith("/_dash"):
        return jsonify({"error": "sign in first"}), 401
    return redirect(url_for("login_page", next=request.full_path if request.path != "/" else None, error=reason))


def _runtime() -> Runtime:
    from flask import current_app

    return current_app.config[RUNTIME_KEY]


def _login_view():
    rt = _runtime()
    lang = request.args.get("lang") or rt.settings.web.language
    # Only messages of our own: a link cannot put words of its choosing on the sign-in form.
    error = t(f"login.{request.args['error']}", lang) if request.args.get("error") in LINK_ERRORS else None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        try:
            signed = login(rt.engine, username, password)
        except LoginThrottled:
            error = t("login.throttled", lang)
        else:
            if signed:
                login_user(WebUser(str(signed.user_id), signed.actor))
                nxt = request.args.get("next") or "/"
                return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")
            error = t("login.failed", lang)
    return _login_html(rt, lang, error)


def _logout_view():
    logout_user()
    return redirect(url_for("login_page"))


def _login_html(rt: Runtime, lang: str, error: str | None) -> str:
    city = rt.pack.manifest.name_en if lang == "en" else rt.pack.manifest.name_zh
    other = "en" if lang == "zh-CN" else "zh-CN"
    err = f'<p class="login-error" role="alert">{escape(error)}</p>' if error else ""
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(city)} · {escape(t('app.title', lang))}</title>
<link rel="stylesheet" href="/assets/ioc.css"></head>
<body><form class="login" method="post">
<h1><span class="brand-city">{escape(city)}</span> {escape(t('app.title', lang))}</h1>
<label>{escape(t('login.username', lang))}<input name="username" autocomplete="username" required autofocus></label>
<label>{escape(t('login.password', lang))}<input name="password" type="password" autocomplete="current-password" required></label>
{err}<button type="submit">{escape(t('login.submit', lang))}</button>
<a class="login-lang" href="?lang={other}">{escape(t('lang.switch', lang))}</a>
</form></body></html>"""
