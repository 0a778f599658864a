"""Daily briefings for download: ``/briefing/2026-07-01.pdf?lang=en`` (or ``.png``).

A kept briefing (written by the worker every morning) is served as it is; any other past day
is made on request. Behind the same sign-in gate as the pages.
"""

from __future__ import annotations

import io

from flask import Flask, Response, current_app, request, send_file

from ioc.errors import UserError
from ioc.i18n import normalise
from ioc.read import briefing
from ioc.read.briefing_doc import archived_or_render
from ioc.read.summary import parse_day
from ioc.runtime import RUNTIME_KEY, Runtime

MIME = {"pdf": "application/pdf", "png": "image/png"}


def install(server: Flask) -> None:
    server.add_url_rule("/briefing/<day>.<fmt>", "briefing", _download)


def _download(day: str, fmt: str):
    rt: Runtime = current_app.config[RUNTIME_KEY]
    lang = normalise(request.args.get("lang"), rt.settings.web.language)
    try:
        wanted = briefing.check_format(fmt)
        content = archived_or_render(briefing.archive_dir(rt.settings), rt.engine, rt.pack,
                                     parse_day(day), lang, wanted)
    except UserError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    return send_file(io.BytesIO(content), mimetype=MIME[wanted], as_attachment=True,
                     download_name=briefing.file_name(parse_day(day), lang, wanted))
