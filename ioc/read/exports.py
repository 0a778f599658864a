"""Exports for leaders and scripts: incidents, alerts, units, work orders and KPIs as CSV or JSON;
the board's filtered rows as CSV or Excel."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from ioc.chain.actions import Actor
from ioc.errors import UserError
from ioc.read import board, lists
from ioc.runtime import Runtime

EXPORT_LIMIT = 1000  # rows per page read from the store while exporting


@dataclass
class Options:
    filters: lists.IncidentFilter
    by: str = "division"
    active: bool = False

    @classmethod
    def from_args(cls, args: Any, tz: ZoneInfo) -> Options:
        def split(value: str | None) -> list[str] | None:
            return [v.strip() for v in value.split(",") if v.strip()] if value else None

        filters = lists.IncidentFilter(
            status=split(args.status), category=split(args.category), priority=split(args.priority),
            division=split(args.division), org=split(args.org), since=parse_time(args.since, tz, "--since"),
            until=parse_time(args.until, tz, "--until"), q=args.q, include_linked=args.include_linked)
        return cls(filters=filters, by=args.by, active=args.active)


def parse_time(raw: str | None, tz: ZoneInfo, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise UserError(f"{name} {raw!r} is not a time; use ISO 8601 such as 2026-07-01 or 2026-07-01T08:00+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def rows(rt: Runtime, what: str, options: Options) -> list[dict[str, Any]]:
    engine = rt.engine
    if what == "incidents":
        return _all_incidents(engine, options.filters)
    if what == "alerts":
        return lists.alerts(engine, active_only=options.active, limit=lists.MAX_LIMIT)
    if what == "units":
        return lists.units(engine, status=options.filters.status, org=options.filters.org)
    if what == "work-orders":
        return _all_pages(lambda off: lists.work_orders(engine, Actor.system("export"), options.filters.status,
                                                        options.filters.org, EXPORT_LIMIT, off))
    if what == "kpis":
        from ioc.read import kpi

        frm = options.filters.since or (datetime.now(rt.pack.timezone) - timedelta(days=1))
        to = options.filters.until or datetime.now(rt.pack.timezone)
        return kpi.export_rows(engine, frm, to, options.by)
    raise UserError(f"cannot export {what!r}")


def _all_incidents(engine, filters: lists.IncidentFilter) -> list[dict[str, Any]]:
    return _all_pages(lambda off: lists.incidents(engine, filters, EXPORT_LIMIT, off))


def _all_pages(fetch) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = fetch(len(out))
        out += page["items"]
        if len(out) >= page["total"] or not page["items"]:
            return out


def write(data: list[dict[str, Any]], fmt: str, out: IO[str], tz: ZoneInfo) -> None:
    """CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese) or JSON; times in ``tz``."""
    data = [{k: _cell(v, tz) for k, v in row.items()} for row in data]
    if fmt == "json":
        json.dump(data, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    columns: list[str] = []
    for row in data:
        columns += [k for k in row if k not in columns]
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in data:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                         for k, v in row.items()})


def _cell(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, list):
        return [_cell(v, tz) for v in value]
    if isinstance(value, dict):
        return {k: _cell(v, tz) for k, v in value.items()}
    return value


# --- the board's rows, exactly as filtered and sorted, streamed ---------------------------------

BOARD_COLUMNS = ("id", "priority", "status", "category", "channel", "title", "address", "division", "division_zh",
                 "org", "org_zh", "reported_at", "sla_clock", "sla_state", "sla_due", "report_count", "units")


def board_rows(rt: Runtime, filters: lists.IncidentFilter, sort: board.Sort) -> Iterator[list[Any]]:
    """The board's rows as export cells, times in the city's timezone, a page at a time."""
    tz = rt.pack.timezone
    for r in board.walk(rt.engine, filters, sort, pack=rt.pack):
        clock = r["sla"] or {}
        due = clock.get("due")
        yield [r["id"], r["priority"], r["status"], r["category"], r["channel"], r["title"], r["address"],
               r["division"], r["division_zh"], r["org"], r["org_zh"], _local(r["reported_at"], tz),
               clock.get("clock"), clock.get("state"), _local(due, tz), r["report_count"], " ".join(r["units"])]


def _local(value: datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def board_csv(rt: Runtime, filters: lists.IncidentFilter, sort: board.Sort) -> Iterator[str]:
    """CSV text chunks (UTF-8 BOM first, so spreadsheet programs read the Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(BOARD_COLUMNS)
    for n, row in enumerate(board_rows(rt, filters, sort), start=1):
        writer.writerow(row)
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def board_xlsx(rt: Runtime, filters: lists.IncidentFilter, sort: board.Sort, out: IO[bytes]) -> None:
    """An .xlsx of the same rows. openpyxl's write-only mode keeps one row in memory at a time;
    the zip is assembled when saved, so the caller streams the finished file."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("incidents")
    sheet.append(list(BOARD_COLUMNS))
    for row in board_rows(rt, filters, sort):
        sheet.append(row)
    book.save(out)
