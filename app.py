"""The City IOC web app.

``python app.py`` runs the embedded default: SQLite under var/, the web app, the simulated demo
city and the feed worker in one process. In production: ``gunicorn app:server`` for pages,
``python -m ioc worker`` for the feeds, PostgreSQL for the store.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

import dash
from apscheduler.schedulers.background import BackgroundScheduler
from dash import Dash, Input

from ioc.compose import (configure_logging, open_city, outbox_sender, schedule_anomalies, schedule_briefing, schedule_demo_duty,
                         schedule_demo_history)
from ioc.config import Settings, load_settings
from ioc.errors import UserError
from ioc.i18n import t
from ioc.intake.worker import build_runners, schedule, schedule_duties
from ioc.runtime import Runtime
from ioc.web import api, briefing_routes, crosssite, export_routes, headers, signin
from layouts import (board_page, context, dispatch_page, events_page, feeds_page, frame, incident_page,
                     kanban_page, map_page, orders_page, replay_page, summary_page, wall_page)

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "layouts" / "assets"


def create_app(settings: Settings | None = None) -> Dash:
    """Build the Dash app on a migrated store and the configured city pack."""
    settings = settings or load_settings()
    runtime = open_city(settings)
    manifest = runtime.pack.manifest
    app = Dash(
        __name__,
        server=api.make_server(__name__),
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        title=f"{manifest.name_zh} · {t('app.title', 'zh-CN')}",
        update_title=None,
        suppress_callback_exceptions=True,
        routing_callback_inputs={"lang": Input("lang", "data")},
    )
    app.server.config[context.KEY] = runtime
    app.server.secret_key = runtime.secret_key
    crosssite.install(app.server)
    api.install(app.server)
    signin.install(app.server)
    export_routes.install(app.server)
    briefing_routes.install(app.server)
    dash.register_page("map", path="/", name="map", layout=map_page.layout)
    dash.register_page("incident", path_template="/incident/<incident_id>", name="incident",
                       layout=incident_page.layout)
    dash.register_page("board", path="/board", name="board", layout=board_page.layout)
    dash.register_page("dispatch", path="/dispatch", name="dispatch", layout=dispatch_page.layout)
    dash.register_page("kanban", path="/kanban", name="kanban", layout=kanban_page.layout)
    dash.register_page("summary", path="/summary", name="summary", layout=summary_page.layout)
    dash.register_page("orders", path="/orders", name="orders", layout=orders_page.layout)
    dash.register_page("feeds", path="/feeds", name="feeds", layout=feeds_page.layout)
    dash.register_page("events", path="/events", name="events", layout=events_page.list_layout)
    dash.register_page("event", path_template="/events/<event_id>", name="event", layout=events_page.board_layout)
    dash.register_page("wall", path="/wall", name="wall", layout=wall_page.layout)
    dash.register_page("replay", path="/replay", name="replay", layout=replay_page.layout)
    for part in (frame, map_page, incident_page, board_page, dispatch_page, kanban_page, summary_page,
                 orders_page, feeds_page, events_page, wall_page, replay_page):
        part.register(app)
    city = {"zh-CN": manifest.name_zh, "en": manifest.name_en, "timezone": manifest.timezone}
    app.layout = frame.layout(settings.web.language, city)
    app.server.config["SESSION_COOKIE_SECURE"] = settings.web.secure_cookies
    headers.install(app.server, app.csp_hashes, settings.web.tile_url)
    return app


def __getattr__(name: str):
    # `gunicorn app:server` asks for `server`; build the app only then, not on every import.
    if name == "server":
        return create_app().server
    raise AttributeError(name)


def start_embedded_worker(runtime: Runtime) -> BackgroundScheduler:
    """The embedded default: the demo city and the feed worker in this process."""
    runners = build_runners(runtime)
    scheduler = BackgroundScheduler(timezone="UTC")
    if runtime.settings.demo.enabled:
        from feeds.simulator import start_simulator

        demo = runtime.settings.demo
        mqtt = ("127.0.0.1", demo.mqtt_port) if demo.mqtt_port else None
        sim = start_simulator(runtime.pack, port=demo.port, speed=demo.speed, scenario=demo.scenario, mqtt=mqtt)
        log.info("demo city (%s, speed %s) serving its sources on %s", demo.scenario, demo.speed, sim.base_url)
        schedule_demo_duty(scheduler, runtime)
        schedule_demo_history(scheduler, runtime)
    schedule(scheduler, runners)
    schedule_duties(scheduler, runtime, outbox_sender(runtime.settings))
    schedule_briefing(scheduler, runtime)
    schedule_anomalies(scheduler, runtime)
    scheduler.start()
    log.info("worker polling %d feeds", len(runners))
    return scheduler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run City IOC in one process (web app, demo city, worker).")
    parser.add_argument("--no-demo", action="store_true", help="do not start the simulated city")
    parser.add_argument("--no-worker", action="store_true", help="serve pages only; poll no feeds")
    args = parser.parse_args(argv)
    configure_logging(logging.INFO)
    try:
        settings = load_settings()
        if args.no_demo:
            settings.demo.enabled = False
        _check_free(settings.web.host, settings.web.port, "[web] port")
        if settings.demo.enabled and not args.no_worker:
            _check_free("127.0.0.1", settings.demo.port, "[demo] port")
        app = create_app(settings)
        if not args.no_worker:
            start_embedded_worker(app.server.config[context.KEY])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("City IOC on http://%s:%s", settings.web.host, settings.web.port)
    app.run(host=settings.web.host, port=settings.web.port, debug=False)
    return 0


def _check_free(host: str, port: int, setting: str) -> None:
    """A port already taken is a clear message, not a traceback from deep inside the server."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind((host, port))
        except OSError:
            raise UserError(f"{host}:{port} is already in use (is City IOC already running?); "
                            f"stop it or choose another {setting}") from None


if __name__ == "__main__":
    sys.exit(main())
