"""`python -m ioc`: the command line for operators and deployers.

Every command turns a user's mistake into one line on stderr and exit status 2; nothing a
user can cause ends in a traceback.

This is the CLI's entry module: with ``app.py`` and ``ioc.compose`` it sits at the top, where
the parts are put together, and may load the web app and the demo city.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import secrets
import sys
from datetime import datetime, timedelta, timezone
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from ioc.compose import (configure_logging, open_city, outbox_sender, schedule_anomalies, schedule_briefing, schedule_demo_duty,
                         schedule_demo_history)
from ioc.config import GEODATA_DIR, Settings, load_settings
from ioc.errors import UserError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line plus where to look, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m ioc", description="City IOC: command dashboard for a city's operations centre.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    db = sub.add_parser("db", help="the store's schema").add_subparsers(dest="db_command", required=True, metavar="ACTION")
    _cmd(db, "upgrade", cmd_db_upgrade, "create or migrate the store's tables to the latest schema")
    _cmd(db, "current", cmd_db_current, "show the store's schema revision")

    city = sub.add_parser("city", help="city packs").add_subparsers(dest="city_command", required=True, metavar="ACTION")
    _cmd(city, "load", cmd_city_load, "load the configured city pack into the store")
    _cmd(city, "check", cmd_city_check, "validate the configured city pack")
    init = _cmd(city, "init", cmd_city_init, "make a new city pack from a boundary file")
    init.add_argument("name", help="pack name, e.g. foshan (becomes geodata/NAME)")
    init.add_argument("--districts", required=True, type=Path, help="boundary file: GeoJSON, Shapefile or GeoPackage")
    init.add_argument("--name-field", help="attribute holding the division names (their language: --name-lang, "
                      "else read from each name: Chinese characters are zh)")
    init.add_argument("--name-lang", choices=["zh", "en"], help="the language of the --name-field names")
    init.add_argument("--name-field-zh", help="attribute holding the Chinese names (instead of --name-field)")
    init.add_argument("--name-field-en", help="attribute holding the English names (with or instead of --name-field-zh)")
    init.add_argument("--city-name-zh", help="the city's Chinese name, e.g. 佛山市 (default: the English one, else NAME)")
    init.add_argument("--city-name-en", help="the city's English name, e.g. Foshan (default: the Chinese one, else NAME)")
    init.add_argument("--code-field", help="attribute holding the division code")
    init.add_argument("--timezone", required=True, help="IANA timezone, e.g. Asia/Shanghai")
    init.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], help="datum of unlabelled coordinates")
    init.add_argument("--into", type=Path, default=GEODATA_DIR, help="folder that holds packs (default geodata/)")

    geo = sub.add_parser("geodata", help="boundaries and point lookup").add_subparsers(dest="geo_command", required=True, metavar="ACTION")
    imp = _cmd(geo, "import", cmd_geodata_import, "replace the pack's division outlines from a boundary file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--layer", default="districts", choices=["districts"], help="which pack layer to replace")
    imp.add_argument("--code-field", help="attribute holding the division code")
    imp.add_argument("--name-field", help="attribute holding the division name")
    imp.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], help="datum of unlabelled coordinates")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    loc = _cmd(geo, "locate", cmd_geodata_locate, "which division holds a point (WGS-84)")
    loc.add_argument("lon", type=float)
    loc.add_argument("lat", type=float)
    loc.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84", help="datum of LON LAT")
    loc.add_argument("--json", action="store_true", help="print the answer as JSON")

    feeds = sub.add_parser("feeds", help="sources and their state").add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    lst = _cmd(feeds, "list", cmd_feeds_list, "every feed with its state")
    lst.add_argument("--json", action="store_true", help="print as JSON")
    poll = _cmd(feeds, "poll", cmd_feeds_poll, "poll one feed now and say what happened")
    poll.add_argument("name")
    poll.add_argument("--once", action="store_true", help="poll once and exit (the only mode; for scripts' clarity)")
    poll.add_argument("--json", action="store_true", help="print as JSON")
    replay = _cmd(feeds, "replay", cmd_feeds_replay, "re-run a feed's rejected records, or with --all every one (after a fix)")
    replay.add_argument("name")
    replay.add_argument("--all", action="store_true",
                        help="every landed record, not only the rejected (after a mapping or pack fix)")
    replay.add_argument("--since", help="only records received at or after this time (ISO 8601, city time)")
    replay.add_argument("--json", action="store_true", help="print as JSON")

    imp_hist = _cmd(sub, "import", cmd_import, "load a history file through a feed's adapter (csv feeds)")
    imp_hist.add_argument("file", type=Path)
    imp_hist.add_argument("--feed", required=True, help="the csv feed whose mapping reads this file")
    imp_hist.add_argument("--batch", type=int, default=500, help="rows groups per transaction")
    imp_hist.add_argument("--close-older-than", type=float, default=24.0, metavar="HOURS",
                          help="close incidents the file gives no status for that were reported more than "
                               "HOURS ago (default 24; 0 keeps them as the file says)")
    imp_hist.add_argument("--json", action="store_true", help="print the summary as JSON")

    worker = _cmd(sub, "worker", cmd_worker, "poll every enabled feed on its interval (one process)")
    worker.add_argument("--feed", action="append", help="poll only this feed (repeatable)")

    demo = _cmd(sub, "demo", cmd_demo, "serve the simulated city's sources over loopback HTTP")
    demo.add_argument("--speed", type=float, help="simulated seconds per real second (default [demo] speed)")
    demo.add_argument("--scenario", choices=["normal", "typhoon"], help="default [demo] scenario")
    demo.add_argument("--port", type=int, help="default [demo] port")
    demo.add_argument("--seed", type=int, help="repeatable simulation")

    tokens = sub.add_parser("tokens", help="API bearer tokens").add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    tok = _cmd(tokens, "create", cmd_tokens_create, "create an API token for a user (shown once)")
    tok.add_argument("--user", required=True)
    tok.add_argument("--name", default="", help="what the token is for")
    rev = _cmd(tokens, "revoke", cmd_tokens_revoke, "revoke an API token")
    rev.add_argument("token")

    kiosk = sub.add_parser("kiosk", help="read-only wall-screen links").add_subparsers(dest="kiosk_command", required=True, metavar="ACTION")
    kc = _cmd(kiosk, "create", cmd_kiosk_create, "make a revocable read-only link for a wall screen")
    kc.add_argument("label", help="which screen, e.g. hall-left")
    kr = _cmd(kiosk, "revoke", cmd_kiosk_revoke, "revoke a wall-screen link by its number")
    kr.add_argument("link_id", type=int)

    export = _cmd(sub, "export", cmd_export, "export incidents, alerts, units, work orders or KPIs")
    export.add_argument("what", choices=["incidents", "alerts", "units", "work-orders", "kpis"])
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    for name in ("status", "category", "priority", "division", "org"):
        export.add_argument(f"--{name}", help=f"comma list of {name} values")
    export.add_argument("--since", help="from this time (ISO 8601; city time when no offset)")
    export.add_argument("--until", help="before this time (ISO 8601)")
    export.add_argument("--q", help="text search (incidents)")
    export.add_argument("--include-linked", action="store_true",
                        help="incidents: linked (fused) reports too, each with its incident's parent_id")
    export.add_argument("--by", choices=["category", "channel", "division", "org", "hour"], default="division",
                        help="grouping for kpis")
    export.add_argument("--active", action="store_true", help="alerts in force only")

    brief = _cmd(sub, "briefing", cmd_briefing, "a day's one-page briefing as PDF or PNG (default: yesterday)")
    brief.add_argument("day", nargs="?", help="the city day, YYYY-MM-DD (default: yesterday)")
    brief.add_argument("--format", choices=["pdf", "png"], default="pdf")
    brief.add_argument("--lang", choices=["zh-CN", "en"], help="default [web] language")
    brief.add_argument("--out", type=Path, required=True, help="file to write")

    tri = _cmd(sub, "triage", cmd_triage, "suggest each row's division and category from its free text (智能分拨)")
    tri.add_argument("file", type=Path, help="a CSV file (UTF-8 or GBK) with a header row")
    tri.add_argument("--text-column", required=True, help="the column holding the citizen's words")
    tri.add_argument("--json", action="store_true", help="JSON lines instead of CSV")
    tri.add_argument("--lang", choices=["zh-CN", "en"], help="language of the reasons (default [web] language)")

    phr = _cmd(sub, "phrases", cmd_phrases, "the triage phrases duty officers keep correcting, the most corrected first")
    phr.add_argument("--kind", choices=["category", "division"], help="only one kind of suggestion")
    phr.add_argument("--min", type=int, default=1, metavar="N", help="corrected at least N times (default 1)")
    phr.add_argument("--limit", type=int, default=50, metavar="N", help="at most N phrases (default 50)")
    phr.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    serve = _cmd(sub, "serve", cmd_serve, "run the web app (use gunicorn app:server in production)")
    serve.add_argument("--host", help="listen address (default from [web] host)")
    serve.add_argument("--port", type=int, help="listen port (default from [web] port)")

    users = sub.add_parser("users", help="accounts").add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = _cmd(users, "add", cmd_users_add, "create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="viewer, operator, duty_officer, leader, handler or admin")
    add.add_argument("--org", help="org code (required for handlers)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return parser


def _cmd(sub: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(handler=handler)
    return p


# --- handlers -----------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.store.db import describe, make_engine
    from ioc.store.migrate import upgrade

    engine = make_engine(settings.store.url)
    revision = upgrade(engine)
    print(f"store {describe(engine)} is at schema revision {revision}")
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.store.db import describe, make_engine
    from ioc.store.migrate import current_revision, head_revision

    engine = make_engine(settings.store.url)
    current, head = current_revision(engine), head_revision()
    state = "up to date" if current == head else f"behind (latest is {head}; run `python -m ioc db upgrade`)"
    print(f"store {describe(engine)}: revision {current or 'none'}, {state}")
    return 0 if current == head else 1


def cmd_city_load(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.city.pack import load_pack
    from ioc.store.db import check_ready, make_engine
    from ioc.store.packload import load_pack_into_store

    engine = make_engine(settings.store.url)
    check_ready(engine)
    report = load_pack_into_store(engine, load_pack(settings.city.pack_dir()))
    print(report.summary())
    return 0


def cmd_city_check(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.city.pack import load_pack

    pack = load_pack(settings.city.pack_dir())
    problems = pack.check()
    for problem in problems:
        print(problem)
    print(f"city pack {pack.name}: {len(pack.divisions())} divisions, {len(pack.orgs())} orgs, "
          f"{len(pack.key_points())} key points, {len(pack.units())} units; {len(problems)} problems")
    return 1 if problems else 0


def cmd_city_init(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.city.boundaries import NameFields, init_city

    names = NameFields(field=args.name_field, lang=args.name_lang, zh=args.name_field_zh, en=args.name_field_en)
    pack = init_city(args.name, args.districts, names, code_field=args.code_field, timezone=args.timezone,
                     crs=args.crs, root=args.into, city_name_zh=args.city_name_zh, city_name_en=args.city_name_en)
    where = pack.name if args.into == GEODATA_DIR else str(pack.path)
    divisions = pack.divisions()
    m = pack.manifest
    print(f"made city pack {pack.name} ({m.name_zh} / {m.name_en}) at {pack.path} with {len(divisions)} divisions; "
          f"run it with IOC_CITY={where} make run")
    for lang, key, missing in (("Chinese", "name_zh", [d for d in divisions if not d.name_zh]),
                               ("English", "name_en", [d for d in divisions if not d.name_en])):
        if missing:
            print(f"{len(missing)} of {len(divisions)} divisions have no {lang} name ({key}; e.g. "
                  f"{missing[0].code} {missing[0].name_zh or missing[0].name_en}): screens show the other name "
                  f"until you fill {key} in {pack.path / 'districts.geojson'}")
    if not (args.city_name_zh or args.city_name_en):
        print(f"the city is named {pack.name!r} after its pack; name it with --city-name-zh / --city-name-en "
              "(or name_zh / name_en in pack.toml)")
    return 0


def cmd_geodata_import(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.city.boundaries import import_districts
    from ioc.city.pack import load_pack

    if not (args.code_field or args.name_field):
        raise UserError("say how to match features to divisions: give --code-field F and/or --name-field F")
    pack = load_pack(settings.city.pack_dir())
    report = import_districts(pack, args.file, code_field=args.code_field, name_field=args.name_field, crs=args.crs)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    _reload_store_if_ready(settings)
    return 0


def _reload_store_if_ready(settings: Settings) -> None:
    """After new outlines are written to the pack, mirror them into the store if it exists."""
    from ioc.city.pack import load_pack
    from ioc.store.db import check_ready, make_engine
    from ioc.store.packload import load_pack_into_store

    engine = make_engine(settings.store.url)
    try:
        check_ready(engine)
    except UserError:
        print("the store is not set up yet; the new outlines load with `python -m ioc city load`", file=sys.stderr)
        return
    load_pack_into_store(engine, load_pack(settings.city.pack_dir()))
    print("store updated with the new outlines", file=sys.stderr)


def cmd_geodata_locate(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.city.geo import DivisionIndex, to_wgs84
    from ioc.city.pack import load_pack

    pack = load_pack(settings.city.pack_dir())
    lon, lat = to_wgs84(args.lon, args.lat, args.crs)
    division = DivisionIndex(pack.divisions()).locate(lon, lat)
    if args.json:
        found = {"code": division.code, "name_zh": division.name_zh, "name_en": division.name_en} if division else None
        print(json.dumps({"lon": lon, "lat": lat, "division": found}, ensure_ascii=False))
    elif division:
        print(f"{division.code} {division.name_zh} {division.name_en}".rstrip())
    else:
        print(f"no division of {pack.name} holds {lon:.6f}, {lat:.6f}")
    return 0 if division else 1


def cmd_feeds_list(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.read.health import feed_health

    runtime = open_city(settings)
    rows = [{
        "name": f.name, "kind": f.kind, "enabled": f.enabled, "interval_s": f.interval_s,
        "status": f.status or "never polled",
        "last_success": (f.last_success_at.astimezone(runtime.pack.timezone).isoformat(timespec="seconds")
                         if f.last_success_at else None),
        "failures": f.failures, "last_error": f.last_error if f.failures else None,
        "lag_s": round(f.lag_seconds) if f.lag_seconds is not None else None, "counts": f.counts,
    } for f in feed_health(runtime.engine, runtime.feeds)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no feeds configured: add [[feeds]] to ioc.toml or enable the demo ([demo] enabled = true)")
        return 0
    print(f"{'feed':<20} {'kind':<14} {'status':<13} {'last success':<20} {'stored':>8} {'rejected':>8} {'lag':>7}")
    for r in rows:
        lag = f"{r['lag_s']}s" if r["lag_s"] is not None else "-"
        status = r["status"] if r["enabled"] else "disabled"
        print(f"{r['name']:<20} {r['kind']:<14} {status:<13} {(r['last_success'] or '-')[:19]:<20} "
              f"{_stored(r['counts']):>8} {r['counts'].get('rejected', 0):>8} {lag:>7}")
        if r["last_error"]:
            print(f"  last error: {r['last_error']}")
    return 0


def _stored(counts: dict[str, int]) -> int:
    """What a feed has added: incidents, warnings and readings."""
    return sum(counts.get(k, 0) for k in ("stored", "alerts", "readings"))


def cmd_feeds_poll(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.city.geo import DivisionIndex
    from ioc.intake.worker import FeedRunner, describe_error, find_feed

    runtime = open_city(settings)
    feed = find_feed(runtime, args.name)
    runner = FeedRunner(runtime, feed, DivisionIndex(runtime.pack.divisions()))
    try:
        result = runner.poll()
    except Exception as exc:
        raise UserError(f"feed {feed.name} failed: {describe_error(exc)} (state recorded; see `feeds list`)") from None
    finally:
        runner.close()
    _print_report(feed.name, result.report, args.json, skipped=result.skipped)
    return 0


def cmd_feeds_replay(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.base import build_adapter
    from ioc.intake.ingest import FeedContext, replay
    from ioc.intake.worker import find_feed
    from ioc.read.exports import parse_time

    runtime = open_city(settings)
    feed = find_feed(runtime, args.name)
    since = parse_time(args.since, runtime.pack.timezone, "--since")
    adapter = build_adapter(feed)
    report = replay(runtime.engine, FeedContext.of(feed, runtime.pack), adapter.parse, everything=args.all,
                    since=since, progress=None if args.json else _progress("records"))
    if not args.json and report.fetched:
        print(file=sys.stderr)
    _print_report(feed.name, report, args.json)
    return 0


def _progress(what: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"\r{done}/{total} {what}", end="", file=sys.stderr, flush=True)
    return show


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from feeds.base import build_adapter
    from feeds.csv_files import read_rows
    from ioc.intake.ingest import BatchReport, FeedContext, ingest_batch
    from ioc.intake.worker import find_feed

    runtime = open_city(settings)
    feed = find_feed(runtime, args.feed)
    if feed.kind != "csv":
        raise UserError(f"feed {feed.name} is a {feed.kind} feed; `import` reads files through a csv feed's mapping")
    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    adapter = build_adapter(feed)
    items = read_rows(args.file, adapter.config)
    ctx = FeedContext.of(feed, runtime.pack)
    if args.close_older_than < 0:
        raise UserError("--close-older-than must be 0 (keep as the file says) or more hours")
    if args.close_older_than:
        ctx.close_before = datetime.now(timezone.utc) - timedelta(hours=args.close_older_than)
    total = BatchReport()
    step = max(1, args.batch)
    for start in range(0, len(items), step):
        chunk = items[start:start + step]
        total.add(ingest_batch(runtime.engine, ctx, chunk, adapter.parse, save_cursor=False))
        if not args.json:
            _progress("incidents")(min(start + step, len(items)), len(items))
    if not args.json and items:
        print(file=sys.stderr)
    _print_report(feed.name, total, args.json)
    return 0


def _print_report(feed: str, report: Any, as_json: bool, skipped: str | None = None) -> None:
    if as_json:
        data = {"feed": feed, **report.counts(), "flagged": report.flagged,
                "rejections": [{"external_id": e, "reason": r} for e, r in report.rejected],
                "defects": [{"external_id": e, "defect": d} for e, d in report.defects], "skipped": skipped}
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if skipped:
        print(f"{feed}: skipped: {skipped}")
        return
    _print_some("rejected", report.rejected, "rejections (see raw_record)")
    _print_some("repaired", report.defects, "repairs (kept on each alert)")
    print(f"{feed}: {report.summary()}")


def _print_some(verb: str, pairs: list[tuple[str, str]], rest: str, limit: int = 20) -> None:
    for external_id, reason in pairs[:limit]:
        print(f"  {verb} {external_id}: {reason}")
    if len(pairs) > limit:
        print(f"  ... and {len(pairs) - limit} more {rest}")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from ioc.intake.worker import build_runners, schedule, schedule_duties

    runtime = open_city(settings)
    runners = build_runners(runtime, args.feed)
    if not runners:
        log.warning("no enabled feeds: add [[feeds]] to ioc.toml or enable the demo ([demo] enabled = true)")
    scheduler = BlockingScheduler(timezone="UTC")
    schedule(scheduler, runners)
    schedule_duties(scheduler, runtime, outbox_sender(settings))
    schedule_briefing(scheduler, runtime)
    schedule_anomalies(scheduler, runtime)
    schedule_demo_duty(scheduler, runtime)
    schedule_demo_history(scheduler, runtime)
    log.info("worker polling %d feeds: %s", len(runners), ", ".join(r.feed.name for r in runners))
    try:
        scheduler.start()
    finally:
        for runner in runners:
            runner.close()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    import threading

    from feeds.simulator import start_simulator
    from ioc.city.pack import load_pack

    demo = settings.demo
    handle = start_simulator(load_pack(settings.city.pack_dir()), port=args.port or demo.port,
                             speed=args.speed or demo.speed, scenario=args.scenario or demo.scenario,
                             seed=args.seed,
                             mqtt=("127.0.0.1", demo.mqtt_port) if demo.mqtt_port else None)
    log.info("demo city serving on %s (Ctrl-C stops it)", handle.base_url)
    try:
        threading.Event().wait()
    finally:
        handle.stop()
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.chain.accounts import create_token
    from ioc.runtime import open_runtime

    token = create_token(open_runtime(settings).engine, args.user, args.name)
    print(token)
    print(f"API token for {args.user}; it is shown only now. Send it as: Authorization: Bearer TOKEN",
          file=sys.stderr)
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.chain.accounts import revoke_token
    from ioc.runtime import open_runtime

    revoke_token(open_runtime(settings).engine, args.token)
    print("token revoked")
    return 0


def cmd_kiosk_create(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.chain.accounts import create_kiosk_link
    from ioc.chain.actions import Actor
    from ioc.runtime import open_runtime

    rt = open_runtime(settings)
    token = create_kiosk_link(rt.engine, Actor.system("cli"), args.label, rt.secret_key)
    print(f"http://{settings.web.host}:{settings.web.port}/?kiosk={token}")
    return 0


def cmd_kiosk_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.chain.accounts import revoke_kiosk_link
    from ioc.chain.actions import Actor
    from ioc.runtime import open_runtime

    revoke_kiosk_link(open_runtime(settings).engine, Actor.system("cli"), args.link_id)
    print(f"kiosk link {args.link_id} revoked")
    return 0


def cmd_briefing(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime, timedelta

    from ioc.read.briefing_doc import render
    from ioc.read.summary import parse_day

    runtime = open_city(settings)
    tz = runtime.pack.timezone
    day = parse_day(args.day) if args.day else datetime.now(tz).date() - timedelta(days=1)
    content = render(runtime.engine, runtime.pack, day, args.lang or settings.web.language, args.format)
    try:
        args.out.write_bytes(content)
    except OSError as exc:
        raise UserError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"briefing of {day} written to {args.out} ({len(content):,} bytes)")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.read import exports
    from ioc.runtime import open_runtime

    rt = open_runtime(settings)
    rows = exports.rows(rt, args.what, exports.Options.from_args(args, rt.pack.timezone))
    out = args.out.open("w", encoding="utf-8-sig" if args.format == "csv" else "utf-8", newline="") \
        if args.out else sys.stdout
    try:
        exports.write(rows, args.format, out, rt.pack.timezone)
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"wrote {len(rows)} {args.what} to {args.out}", file=sys.stderr)
    return 0


def cmd_triage(args: argparse.Namespace, settings: Settings) -> int:
    import csv

    from feeds.base import decode_text
    from ioc.city import triage
    from ioc.city.pack import load_pack

    try:
        text = decode_text(args.file.read_bytes())
    except OSError as exc:
        raise UserError(f"cannot read {args.file}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    if args.text_column not in columns:
        raise UserError(f"{args.file} has no column {args.text_column!r} "
                        f"(its columns: {', '.join(columns) or 'none'}); name one with --text-column")
    pack = load_pack(settings.city.pack_dir())
    reader_of = triage.for_pack(pack)
    lang = args.lang or settings.web.language
    out = csv.writer(sys.stdout, lineterminator="\n")
    if not args.json:
        out.writerow(["row", "division_code", "division", "category", "department", "reason"])
    counts = {"rows": 0, "division": 0, "category": 0}
    for n, row in enumerate(reader, start=1):
        s = reader_of.suggest(row.get(args.text_column) or "")
        counts["rows"] += 1
        counts["division"] += s.division is not None
        counts["category"] += s.category is not None
        names = reader_of.names.get(s.division or "", ("", ""))
        division = (names[1] or names[0]) if lang == "en" else names[0]
        reason = triage.explain(s, lang, reader_of.names)
        if args.json:
            print(json.dumps({"row": n, "division_code": s.division, "division": division or None,
                              "category": s.category, "department": s.org, "reason": reason}, ensure_ascii=False))
        else:
            out.writerow([n, s.division or "", division, s.category or "", s.org or "", reason])
        if n % 5000 == 0:
            print(f"... {n:,} rows", file=sys.stderr)
    print(f"triaged {counts['rows']:,} rows: {counts['division']:,} with a division, "
          f"{counts['category']:,} with a category", file=sys.stderr)
    return 0


def cmd_phrases(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.read.triage_phrases import most_corrected
    from ioc.store.db import check_ready, make_engine

    engine = make_engine(settings.store.url)
    check_ready(engine)
    phrases = most_corrected(engine, args.kind, max(args.min, 1), max(args.limit, 1))
    for p in phrases:
        if args.json:
            print(json.dumps(p.as_dict(), ensure_ascii=False))
        else:
            to = ", ".join(f"{value} ×{n}" for value, n in p.corrected_to.items())
            print(f"{p.kind:<9} {p.phrase:<16} {p.suggested:<20} accepted {p.accepted:>4}  "
                  f"corrected {p.corrected:>4} ({p.corrected_share:.0%}) to {to}")
    if not phrases and not args.json:
        print("no phrase has been corrected yet: duty officers' corrections on the incident page are counted here")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.web.host
    port = args.port or settings.web.port
    import app  # the web app lives at the top, outside ioc/ (the core never imports Dash)

    dash_app = app.create_app(settings)
    log.info("serving on http://%s:%s", host, port)
    dash_app.run(host=host, port=port, debug=False)
    return 0


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.chain.accounts import add_user
    from ioc.store.db import check_ready, make_engine

    engine = make_engine(settings.store.url)
    check_ready(engine)
    generated = False
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UserError("the two passwords differ; nothing was saved")
    else:
        password, generated = secrets.token_urlsafe(12), True
    add_user(engine, args.name, args.role, password, org_code=args.org)
    print(f"added {args.name} ({args.role}{', ' + args.org if args.org else ''})")
    if generated:
        print(f"generated password: {password}")
    return 0


# --- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    long_running = args.handler in (cmd_serve, cmd_worker, cmd_demo)
    configure_logging(logging.INFO if (args.verbose or long_running) else logging.WARNING)
    try:
        return args.handler(args, load_settings())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"error: the store cannot be reached or used: {reason} (check [store] url / IOC_DATABASE_URL)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (head, less) went away: stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
