"""The work-order inbox (交办): a handler answers his org's orders, a duty officer checks the ones he handed out.

The list and the open order come from ``ioc.read.orders`` (which alone decides who sees what);
every button calls one ``ioc.chain.workorders`` service, which checks role, org, state and version
again. ``/orders?order=ID`` opens one order; an order the user may not see answers as missing.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html
from flask import Response, abort

from ioc.chain import workorders
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, Conflict, Forbidden, InvalidTransition, NotFound
from ioc.i18n import t
from ioc.read import orders
from layouts import chips, context
from layouts.timefmt import duration, when

log = logging.getLogger(__name__)

USERS = ("handler", "duty_officer", "admin")
REFRESH_MS = 30_000
HANDLER_ACTIONS = {
    "pending": ("accept", "return"),
    "accepted": ("report_feedback", "request_extension", "return"),
    "handling": ("report_feedback", "mark_done", "request_extension"),
}
CITY_ACTIONS = {"extended": ("approve_extension", "refuse_extension"), "done": ("verify", "send_back")}
# The fields each action's form shows (and reads).
FIELDS = {
    "return": ("reason",), "request_extension": ("until", "ext_reason"), "report_feedback": ("feedback", "photo"),
    "refuse_extension": ("note",), "send_back": ("note",), "verify": ("note",),
}
REFUSALS = ((NotFound, "orders.refused.missing"), (Forbidden, "orders.refused.forbidden"),
            (Conflict, "orders.refused.conflict"), (InvalidTransition, "orders.refused.state"))


def layout(lang: str = "zh-CN", order: str | None = None, **_query: str) -> html.Div:
    who = context.actor()
    if who is None or who.role not in USERS:
        return html.Div(className="empty-state", children=t("orders.not_for_you", lang))
    city_side = who.role != "handler"
    head = [html.H2(t("orders.title_city" if city_side else "orders.title", lang))]
    if city_side:
        head.append(dcc.RadioItems(id="orders-scope", className="orders-scope", inline=True, value="mine", options=[
            {"label": t("orders.scope.mine", lang), "value": "mine"},
            {"label": t("orders.scope.all", lang), "value": "all"}]))
    else:
        head.append(dcc.RadioItems(id="orders-scope", value="mine", options=[], style={"display": "none"}))
    head.append(dcc.Checklist(id="orders-closed", className="orders-closed", inline=True, value=[],
                              options=[{"label": t("orders.show_closed", lang), "value": "closed"}]))
    return html.Div(className="orders-page", children=[
        dcc.Store(id="orders-selected", data=_int(order)),
        dcc.Store(id="orders-changed", data=0),
        dcc.Store(id="orders-version"),
        dcc.Interval(id="orders-tick", interval=REFRESH_MS),
        html.Div(className="orders-head", children=head),
        html.Div(className="orders-body", children=[
            html.Nav(id="orders-list", className="orders-list"),
            html.Section(className="orders-detail", children=[
                html.Div(id="orders-info"), html.Div(id="orders-form"),
                html.Div(id="orders-message", className="orders-message", role="status"),
            ]),
        ]),
    ])


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


# --- the list -------------------------------------------------------------------------------


def render_list(_tick, _changed, scope, closed, selected, lang):
    who, rt = context.actor(), context.current()
    if who is None:
        return []
    try:
        views = orders.inbox(rt.engine, who, rt.pack, scope=scope or "mine", open_only="closed" not in (closed or []))
    except Forbidden:
        return html.P(t("orders.no_org", lang), className="empty-state")
    if not views:
        return html.P(t("orders.empty_city" if who.role != "handler" else "orders.empty", lang),
                      className="orders-empty")
    tz = rt.pack.timezone
    return [_card(v, v.id == selected, tz, lang) for v in views]


def _card(v: orders.OrderView, selected: bool, tz, lang: str) -> dcc.Link:
    classes = ["order-card"] + (["selected"] if selected else []) + ([f"clock-{v.clock.state}"] if v.clock else [])
    return dcc.Link(href=f"/orders?order={v.id}", className=" ".join(classes), id={"type": "order-card", "id": v.id},
                    children=[
        html.Div(className="order-card-top", children=[
            html.Span(v.priority, className=f"prio prio-{v.priority}"),
            html.Span(v.title or t("orders.untitled", lang), className="order-title"),
        ]),
        html.Div(className="order-card-meta", children=[
            html.Span(f"#{v.id}"), html.Span(v.org_zh if lang == "zh-CN" else v.org_en),
            html.Span(t(f"orders.status.{v.status}", lang), className=f"order-status status-{v.status}"),
        ]),
        _countdown(v, tz, lang),
        *_flags(v, lang),
    ])


def _countdown(v: orders.OrderView, tz, lang: str) -> html.Div:
    if v.clock is None:
        return html.Div(className="order-clock")
    left = v.clock.minutes_left
    key = "orders.clock.left" if left > 0 else "orders.clock.over"
    return html.Div(className=f"order-clock clock-{v.clock.state}", children=[
        html.Span(t(f"orders.clock.{v.clock.name}", lang), className="clock-name"),
        html.Span(when(v.clock.due_at, tz, lang), className="clock-due"),
        html.Span(t(key, lang, time=duration(abs(left), lang)), className="clock-left"),
    ])


def _flags(v: orders.OrderView, lang: str) -> list:
    flags = []
    if v.accept_timed_out:
        flags.append(html.Span(t("orders.accept_timed_out", lang), className="flag flag-late"))
    if v.supervised:
        flags.append(html.Span(t("orders.supervised", lang), className="flag flag-supervised"))
    if v.status == "extended":
        flags.append(html.Span(t("orders.extension_asked", lang), className="flag"))
    if v.rework_count:
        flags.append(html.Span(t("orders.reworked", lang, n=v.rework_count), className="flag"))
    return [html.Div(className="order-flags", children=flags)] if flags else []


# --- the open order -------------------------------------------------------------------------


def _visible(selected: int | None) -> orders.OrderView | None:
    who, rt = context.actor(), context.current()
    if who is None or selected is None:
        return None
    try:
        return orders.order(rt.engine, who, selected, rt.pack)
    except (NotFound, Forbidden):
        return None


def render_info(_tick, _changed, selected, lang):
    """What the order says and its clock, refreshed with the list (the form below is not)."""
    if selected is None:
        return html.P(t("orders.pick", lang), className="orders-pick")
    v = _visible(selected)
    if v is None:
        return html.P(t("orders.refused.missing", lang), className="error", role="alert")
    tz = context.current().pack.timezone
    rows = [
        (t("orders.field.incident", lang), f"#{v.incident_id}"),
        (t("orders.field.org", lang), v.org_zh if lang == "zh-CN" else v.org_en),
        (t("orders.field.status", lang), t(f"orders.status.{v.status}", lang)),
        (t("orders.field.created", lang), when(v.created_at, tz, lang) + (f" · {v.created_by}" if v.created_by else "")),
        (t("orders.field.accept_by", lang), when(v.accept_by, tz, lang)),
        (t("orders.field.due", lang), when(v.due_at, tz, lang)),
        (t("orders.field.address", lang), v.address),
    ]
    if v.extension_until:
        rows.append((t("orders.field.extension", lang), f"{when(v.extension_until, tz, lang)} · {v.extension_reason}"))
    if v.return_reason:
        rows.append((t("orders.field.return_reason", lang), v.return_reason))
    body = [
        html.H3(v.title or t("orders.untitled", lang), className="order-detail-title"),
        _countdown(v, tz, lang), *_flags(v, lang),
        html.Table(className="order-facts", children=[html.Tr([html.Th(k), html.Td(val)]) for k, val in rows]),
        html.P(v.description, className="order-description"),
    ]
    if v.feedback:
        body += [html.H4(t("orders.field.feedback", lang)), html.P(v.feedback, className="order-feedback")]
    if v.photo_ids:
        body.append(html.Div(className="order-photos", children=[
            html.A(html.Img(src=f"/orders/photo/{pid}", alt=t("orders.photo_alt", lang, n=i + 1)),
                   href=f"/orders/photo/{pid}", target="_blank", rel="noopener")
            for i, pid in enumerate(v.photo_ids)]))
    return body


def render_form(_changed, selected, lang):
    """The steps this user may take now; re-drawn only after a step, so typing is never lost."""
    v = _visible(selected)
    if v is None:
        return [], None
    return html.Div(className="order-actions", children=_actions(context.actor(), v, lang)), v.version


def _actions(who: Actor, v: orders.OrderView, lang: str) -> list:
    allowed: tuple[str, ...] = ()
    if who.role in ("handler", "admin"):
        allowed += HANDLER_ACTIONS.get(v.status, ())
    if who.role in ("duty_officer", "admin"):
        allowed += CITY_ACTIONS.get(v.status, ())
    if not allowed:
        return [html.P(t(f"orders.waiting.{v.status}", lang), className="note")]
    fields: list[str] = []
    for action in allowed:
        fields += [f for f in FIELDS.get(action, ()) if f not in fields]
    return [html.Div(className="order-form", children=[_field(f, lang) for f in fields]),
            html.Div(className="order-buttons", children=[
                html.Button(t(f"orders.do.{a}", lang), id={"type": "order-act", "action": a}, n_clicks=0,
                            className=f"btn btn-{a}") for a in allowed])]


def _field(name: str, lang: str):
    label = t(f"orders.input.{name}", lang)
    if name == "photo":
        return dcc.Upload(id={"type": "order-photo", "name": "photo"}, className="order-upload", accept="image/*",
                          children=html.Span(t("orders.input.photo", lang), id="orders-photo-name"))
    if name == "until":
        return html.Label([label, dcc.Input(id={"type": "order-field", "name": name}, type="datetime-local")])
    return html.Label([label, dcc.Textarea(id={"type": "order-field", "name": name}, className="order-text",
                                           maxLength=2000)])


def show_photo_name(_contents, filenames, lang):
    name = next((f for f in filenames if f), None)
    return t("orders.photo_chosen", lang, name=name) if name else t("orders.input.photo", lang)


# --- doing one step -------------------------------------------------------------------------


def act(_clicks, field_ids, values, photos, selected, version, changed, lang):
    trigger = ctx.triggered_id
    if not trigger or not ctx.triggered[0]["value"] or selected is None:
        raise dash.exceptions.PreventUpdate
    who, rt = context.actor(), context.current()
    if who is None:
        return t("orders.refused.forbidden", lang), dash.no_update
    given = {fid["name"]: value for fid, value in zip(field_ids, values)}
    action = trigger["action"]
    try:
        _do(rt, who, action, selected, version, given, next((p for p in photos if p), None), lang)
    except _Missing as missing:
        return html.Span(str(missing), className="error", role="alert"), dash.no_update
    except ActionRefused as exc:
        key = next((k for kind, k in REFUSALS if isinstance(exc, kind)), "orders.refused.other")
        return html.Span(f"{t(key, lang)} ({chips.reason(exc, lang)})", className="error", role="alert"), dash.no_update
    return t(f"orders.done.{action}", lang), (changed or 0) + 1


class _Missing(Exception):
    """A form field the action needs was left empty (said in the user's language)."""


def _do(rt, who: Actor, action: str, order_id: int, version: int | None, given: dict, photo: str | None,
        lang: str) -> None:
    def need(name: str) -> str:
        text = (given.get(name) or "").strip()
        if not text:
            raise _Missing(t(f"orders.need.{name}", lang))
        return text

    e = rt.engine
    if action == "accept":
        workorders.accept(e, who, order_id, version)
    elif action == "return":
        workorders.return_order(e, who, order_id, version, need("reason"))
    elif action == "request_extension":
        until = _local_time(need("until"), rt.pack.timezone, lang)
        workorders.request_extension(e, who, order_id, version, until, need("ext_reason"))
    elif action == "report_feedback":
        workorders.report_feedback(e, who, order_id, version, need("feedback"), photo=_photo_bytes(photo, lang))
    elif action == "mark_done":
        workorders.mark_done(e, who, order_id, version)
    elif action == "approve_extension":
        workorders.approve_extension(e, who, order_id, version)
    elif action == "refuse_extension":
        workorders.refuse_extension(e, who, order_id, version, need("note"))
    elif action == "verify":
        workorders.verify_and_close(e, who, order_id, version, given.get("note") or "")
    elif action == "send_back":
        workorders.send_back(e, who, order_id, version, need("note"))
    else:
        raise dash.exceptions.PreventUpdate


def _local_time(text: str, tz, lang: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=tz)
    except ValueError:
        raise _Missing(t("orders.need.until", lang)) from None


def _photo_bytes(contents: str | None, lang: str) -> bytes | None:
    """The upload's bytes (a data URL from the browser); what they are is the service's check."""
    if not contents:
        return None
    try:
        return base64.b64decode(contents.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        raise _Missing(t("orders.need.photo", lang)) from None


# --- photos ---------------------------------------------------------------------------------


def serve_photo(photo_id: int) -> Response:
    """A stored photo, only to someone who may see its order, always as an image, never as a page."""
    who, rt = context.actor(), context.current()
    if who is None:
        abort(404)
    try:
        content_type, data = orders.photo(rt.engine, who, photo_id)
    except (NotFound, Forbidden):
        abort(404)
    return Response(data, mimetype=content_type, headers={
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
        "Content-Disposition": f'inline; filename="photo-{photo_id}"', "Cache-Control": "private, max-age=3600"})


def register(app: dash.Dash) -> None:
    app.server.add_url_rule("/orders/photo/<int:photo_id>", "order_photo", serve_photo)
    app.callback(
        Output("orders-list", "children"),
        Input("orders-tick", "n_intervals"), Input("orders-changed", "data"), Input("orders-scope", "value"),
        Input("orders-closed", "value"), State("orders-selected", "data"), State("lang", "data"),
    )(render_list)
    app.callback(
        Output("orders-info", "children"),
        Input("orders-tick", "n_intervals"), Input("orders-changed", "data"), Input("orders-selected", "data"),
        State("lang", "data"),
    )(render_info)
    app.callback(
        Output("orders-form", "children"), Output("orders-version", "data"),
        Input("orders-changed", "data"), Input("orders-selected", "data"), State("lang", "data"),
    )(render_form)
    app.callback(
        Output("orders-photo-name", "children"),
        Input({"type": "order-photo", "name": ALL}, "contents"), State({"type": "order-photo", "name": ALL}, "filename"),
        State("lang", "data"), prevent_initial_call=True,
    )(show_photo_name)
    app.callback(
        Output("orders-message", "children"), Output("orders-changed", "data"),
        Input({"type": "order-act", "action": ALL}, "n_clicks"),
        State({"type": "order-field", "name": ALL}, "id"), State({"type": "order-field", "name": ALL}, "value"),
        State({"type": "order-photo", "name": ALL}, "contents"),
        State("orders-selected", "data"), State("orders-version", "data"), State("orders-changed", "data"),
        State("lang", "data"), prevent_initial_call=True,
    )(act)
