"""Feed health for admins: each feed's state, last poll, lag, throughput, errors and rejected records,
with pause / resume and replay (``ioc.chain.feedcontrol``; the worker carries them out)."""

from __future__ import annotations

import dash
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, dcc, html

from ioc.chain import feedcontrol
from ioc.errors import ActionRefused
from ioc.i18n import t
from ioc.read import feeds as board
from layouts import chips, context
from layouts.timefmt import duration, when

REFRESH_MS = 15_000


def layout(lang: str = "zh-CN", **_query: str) -> html.Div:
    who = context.actor()
    if who is None or who.role != "admin":
        return html.Div(className="empty-state", children=t("feeds.not_for_you", lang))
    return html.Div(className="feeds-page", children=[
        dcc.Store(id="feeds-changed", data=0),
        dcc.Store(id="feeds-shown"),
        dcc.Interval(id="feeds-tick", interval=REFRESH_MS),
        html.Div(className="feeds-head", children=[html.H2(t("feeds.title", lang)),
                                                   html.Div(id="feeds-message", className="orders-message",
                                                            role="status")]),
        html.Div(id="feeds-table", className="feeds-table"),
        html.Section(id="feeds-rejected", className="feeds-rejected"),
    ])


def render_table(_tick, _changed, lang):
    rt = context.current()
    rows = board.board(rt.engine, rt.feeds)
    if not rows:
        return html.P(t("feeds.none", lang), className="orders-empty")
    tz = rt.pack.timezone
    head = html.Tr([html.Th(t(f"feeds.col.{c}", lang)) for c in
                    ("feed", "state", "last_poll", "lag", "throughput", "errors", "last_error", "rejected", "actions")])
    return html.Table(className="feeds-grid", children=[html.Thead(head), html.Tbody([_row(r, tz, lang) for r in rows])])


def _row(r: board.FeedRow, tz, lang: str) -> html.Tr:
    h = r.health
    name = h.name
    state = t(f"feeds.state.{r.state}", lang) + (f" · {r.paused_by}" if r.paused_by else "")
    lag = duration(h.lag_seconds / 60, lang) if h.lag_seconds is not None and h.lag_seconds >= 60 else (
        t("feeds.seconds", lang, n=round(h.lag_seconds)) if h.lag_seconds is not None else "—")
    toggle = "resume" if r.paused else "pause"
    buttons = [html.Button(t(f"feeds.do.{toggle}", lang), id={"type": "feed-act", "action": toggle, "feed": name},
                           n_clicks=0, className=f"btn btn-{toggle}")]
    if r.replay_pending:
        buttons.append(html.Span(t("feeds.replay_pending", lang), className="flag"))
    elif r.rejected:
        buttons.append(html.Button(t("feeds.do.replay", lang), id={"type": "feed-act", "action": "replay", "feed": name},
                                   n_clicks=0, className="btn btn-replay"))
    if r.replay_counts and not r.replay_pending:
        buttons.append(html.Span(t("feeds.replayed", lang, stored=r.replay_counts.get("stored", 0),
                                   rejected=r.replay_counts.get("rejected", 0)), className="note"))
    return html.Tr(className=f"feed-row state-{r.state}", id={"type": "feed-row", "feed": name}, children=[
        html.Td([html.Div(name, className="feed-name"), html.Div(h.kind, className="note")]),
        html.Td(html.Span(state, className=f"feed-state state-{r.state}")),
        html.Td(when(h.last_success_at, tz, lang)),
        html.Td(lag, className="num"),
        html.Td([_sparkline(r.hourly), html.Span(t("feeds.per_day", lang, n=sum(r.hourly)), className="note")]),
        html.Td(str(h.failures), className="num"),
        html.Td(h.last_error or "—", className="feed-error"),
        html.Td(html.Button(t("feeds.rejected_n", lang, n=r.rejected), className="btn-link",
                            id={"type": "feed-show", "feed": name}, n_clicks=0, disabled=not r.rejected)),
        html.Td(buttons, className="feed-buttons"),
    ])


def _sparkline(hourly: tuple[int, ...]) -> dcc.Graph:
    fig = go.Figure(go.Scatter(y=list(hourly), mode="lines", line={"width": 1.5, "color": "#5ec8ff"},
                               fill="tozeroy", fillcolor="rgba(94,200,255,0.15)", hoverinfo="skip"))
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=28, width=120, showlegend=False,
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      xaxis={"visible": False}, yaxis={"visible": False, "rangemode": "tozero"})
    return dcc.Graph(figure=fig, config={"staticPlot": True, "displayModeBar": False}, className="sparkline")


def show_rejected(_clicks, _changed, shown, lang):
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == "feed-show" and ctx.triggered[0]["value"]:
        shown = trigger["feed"]
    if not shown:
        return html.P(t("feeds.pick", lang), className="note"), shown
    rt = context.current()
    records = board.rejected_records(rt.engine, shown)
    tz = rt.pack.timezone
    items = [html.Li(className="rejected-item", children=[
        html.Div([html.Span(when(r.received_at, tz, lang)), html.Span(r.external_id or "—", className="note"),
                  html.Span(r.reason, className="rejected-reason")], className="rejected-top"),
        html.Pre(r.payload, className="rejected-payload"),
    ]) for r in records]
    title = html.H3(t("feeds.rejected_of", lang, feed=shown))
    if not items:
        return [title, html.P(t("feeds.no_rejected", lang), className="note")], shown
    return [title, html.Ul(items, className="rejected-list")], shown


def act(_clicks, changed, lang):
    trigger = ctx.triggered_id
    if not trigger or not ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    who, rt = context.actor(), context.current()
    action, feed = trigger["action"], trigger["feed"]
    do = {"pause": feedcontrol.pause, "resume": feedcontrol.resume, "replay": feedcontrol.request_replay}[action]
    if who is None:
        return html.Span(t("duty.sign_in_to_act", lang), className="error", role="alert"), dash.no_update
    try:
        do(rt.engine, who, feed)
    except ActionRefused as exc:  # the chain's reason, in the reader's language
        return html.Span(chips.reason(exc, lang), className="error", role="alert"), dash.no_update
    return t(f"feeds.done.{action}", lang, feed=feed), (changed or 0) + 1


def register(app: dash.Dash) -> None:
    app.callback(Output("feeds-table", "children"),
                 Input("feeds-tick", "n_intervals"), Input("feeds-changed", "data"), State("lang", "data"))(render_table)
    app.callback(Output("feeds-rejected", "children"), Output("feeds-shown", "data"),
                 Input({"type": "feed-show", "feed": ALL}, "n_clicks"), Input("feeds-changed", "data"),
                 State("feeds-shown", "data"), State("lang", "data"))(show_rejected)
    app.callback(Output("feeds-message", "children"), Output("feeds-changed", "data"),
                 Input({"type": "feed-act", "action": ALL, "feed": ALL}, "n_clicks"), State("feeds-changed", "data"),
                 State("lang", "data"),
                 prevent_initial_call=True)(act)
