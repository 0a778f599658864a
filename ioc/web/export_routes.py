"""Downloads behind the pages' sign-in: the board's filtered rows as CSV (streamed) or Excel.

The link carries the board's query (``ioc.read.board.from_query``), so a download holds
exactly the rows the board shows, in its order.
"""

from __future__ import annotations

import tempfile
from datetime import datetime

from flask import Flask, Response, current_app, request, send_file, stream_with_context

from ioc.errors import UserError
from ioc.read import board, exports
from ioc.runtime import RUNTIME_KEY, Runtime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def install(server: Flask) -> None:
    server.add_url_rule("/export/board.<fmt>", "export_board", _board, methods=["GET"])


def _board(fmt: str):
    rt: Runtime = current_app.config[RUNTIME_KEY]
    if fmt not in ("csv", "xlsx"):
        return Response("export as board.csv or board.xlsx", 404, mimetype="text/plain")
    try:
        filters, sort = board.from_query(request.args.to_dict())
    except UserError as exc:
        return Response(str(exc), 400, mimetype="text/plain")
    name = f"incidents-{datetime.now(rt.pack.timezone):%Y%m%d-%H%M}.{fmt}"
    if fmt == "csv":
        return Response(stream_with_context(exports.board_csv(rt, filters, sort)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    exports.board_xlsx(rt, filters, sort, out)
    out.seek(0)
    return send_file(out, mimetype=XLSX, as_attachment=True, download_name=name)
