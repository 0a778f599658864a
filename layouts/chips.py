"""Small pieces the duty officer's pages share: times in the city's zone, priority and status
labels, SLA chips (their countdown runs in the browser, assets/duty.js) and action messages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dash import ctx, html

from ioc.errors import Stale, UserError
from ioc.i18n import MESSAGES, t
from ioc.read import citymap
from layouts.context import current


def when(value: datetime | None, with_date: bool = True) -> str:
    """A time in the city's timezone (the pack's), as the people in that city read clocks."""
    if value is None:
        return "—"
    local = value.astimezone(current().pack.timezone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(current().pack.timezone).isoformat()


def on_tiles(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """WGS-84 (lon, lat) points as the configured tiles draw them (GCJ-02 / BD-09 when so set)."""
    crs = current().settings.web.tile_crs
    if crs == "wgs84" or not points:
        return points
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": list(p)}} for p in points]}
    return [tuple(f["geometry"]["coordinates"]) for f in citymap.for_display(fc, crs)["features"]]


def priority(p: str) -> html.Span:
    return html.Span(p, className=f"prio prio-{p}")


def status(s: str, lang: str) -> html.Span:
    return html.Span(t(f"duty.status.{s}", lang), className=f"status status-{s}")


def category(c: str, lang: str) -> str:
    label = t(f"duty.cat.{c}", lang)
    return c if label == f"duty.cat.{c}" else label


def sla_chip(clock: dict[str, Any] | None, lang: str) -> html.Span | None:
    """On time / due soon / overdue / 督办, with a countdown to the due time the browser keeps live."""
    if not clock:
        return None
    state = clock["state"]
    label = f"{t('duty.clock.' + clock['clock'], lang)} · {t('duty.sla.' + state, lang)}"
    running = state in ("ok", "due_soon", "overdue", "supervised")
    late = f"{t('duty.clock.' + clock['clock'], lang)} · {t('duty.sla.overdue', lang)}"
    return html.Span(className=f"sla-chip sla-{state}", title=when(clock.get("due")), **{"data-late": late}, children=[
        html.Span(label, className="sla-label"),
        html.Span(className="sla-countdown", **({"data-due": iso(clock["due"])} if running else {})),
    ])


def clicked() -> dict[str, Any] | str | None:
    """The id of the input that was really clicked in this callback, or None.

    Not ``ctx.triggered_id``: when a redraw adds buttons matched by ALL, they are listed as
    triggered too (with no clicks), and may come first.
    """
    for item in ctx.triggered:
        if item["value"]:
            raw = item["prop_id"].rsplit(".", 1)[0]
            return json.loads(raw) if raw.startswith("{") else raw
    return None


def outcome(exc: Exception | None, lang: str, what: str = "") -> html.Div:
    """What an action did: done, refused with the service's reason, or stale (reloaded)."""
    if exc is None:
        return html.Div(t("duty.done", lang, what=what), className="msg msg-ok", role="status")
    if isinstance(exc, Stale):
        return html.Div([html.Strong(t("duty.stale", lang)), html.Span(reason(exc, lang), className="msg-detail")],
                        className="msg msg-stale", role="alert")
    said = reason(exc, lang) if isinstance(exc, UserError) else type(exc).__name__
    return html.Div([html.Strong(t("duty.refused", lang)), html.Span(said, className="msg-detail")],
                    className="msg msg-refused", role="alert")


# Reason parameters that are words of a vocabulary, said in the reader's language.
_PARAM_WORDS = {"status": "duty.status.", "order_status": "orders.status.", "kind": "reason.kind.",
                "unit_status": "reason.unit.", "to_status": "reason.unit.", "clock": "duty.clock."}


def reason(exc: Exception, lang: str) -> str:
    """A service's refusal in the reader's language (``reason.<key>``); its English message when
    the reason has no key of its own yet."""
    key = getattr(exc, "key", None)
    if not key or f"reason.{key}" not in MESSAGES:
        return str(exc)
    params = {name: t(_PARAM_WORDS[name] + str(value), lang) if name in _PARAM_WORDS else value
              for name, value in exc.params.items()}
    return t(f"reason.{key}", lang, **params)
