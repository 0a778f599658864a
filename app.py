"""The City IOC web app.

``python app.py`` runs the embedded default: SQLite under var/, the web app and (once the demo
city exists) the feed worker in one process. In production: ``gunicorn app:server``.
"""

from __future__ import annotations

import logging
import secrets
import sys
from pathlib import Path

import dash
from dash import Dash, Input

from ioc.config import Settings, load_settings
from ioc.errors import UserError
from ioc.i18n import t
from ioc.runtime import open_runtime
from layouts import context, frame, map_page

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "layouts" / "assets"


def create_app(settings: Settings | None = None) -> Dash:
    """Build the Dash app on a migrated store and the configured city pack."""
    settings = settings or load_settings()
    runtime = open_runtime(settings)
    manifest = runtime.pack.manifest
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        title=f"{manifest.name_zh} · {t('app.title', 'zh-CN')}",
        update_title=None,
        suppress_callback_exceptions=True,
        routing_callback_inputs={"lang": Input("lang", "data")},
    )
    app.server.config[context.KEY] = runtime
    app.server.secret_key = settings.web.secret_key or secrets.token_hex(32)
    dash.register_page("map", path="/", name="map", layout=map_page.layout)
    for part in (frame, map_page):
        part.register(app)
    city = {"zh-CN": manifest.name_zh, "en": manifest.name_en, "timezone": manifest.timezone}
    app.layout = frame.layout(settings.web.language, city)
    return app


def __getattr__(name: str):
    # `gunicorn app:server` asks for `server`; build the app only then, not on every import.
    if name == "server":
        return create_app().server
    raise AttributeError(name)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        app = create_app(settings)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("City IOC on http://%s:%s", settings.web.host, settings.web.port)
    app.run(host=settings.web.host, port=settings.web.port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
