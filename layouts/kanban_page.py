"""The board as a kanban by status: dragging a card to another column performs the transition
that move means, through its one service function; a move with no such transition says why.

The drag happens in the browser (assets/duty.js): a drop writes {id, version, from, to} to a
store, and the callback here acts on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dash
from dash import Input, Output, State, dcc, html

from ioc.chain import workflow
from ioc.chain.actions import Actor
from ioc.errors import ActionRefused, UserError
from ioc.i18n import t
from ioc.read import board
from layouts import chips, context
from layouts.context import current

log = logging.getLogger(__name__)

REFRESH_MS = 20_000
# (from, to) → the action a drop means
MOVES: dict[tuple[str, str], str] = {
    ("unverified", "new"): "verify",
    ("new", "acknowledged"): "acknowledge",
    ("dispatched", "on_scene"): "on_scene",
    **{(s, "resolved"): "resolve" for s in ("acknowledged", "dispatched", "on_scene")},
}


def layout(lang: str = "zh-CN", **_query: str) -> html.Div:
    return html.Div(className="kanban-page", children=[
        html.Div(className="board-bar", children=[
            dcc.Link(t("kanban.to_table", lang), href="/board", className="btn btn-small"),
            html.Span(t("kanban.hint", lang), className="note"),
        ]),
        html.Div(id="kanban-message", className="inc-message"),
        dcc.Store(id="kanban-drop"),
        dcc.Interval(id="kanban-tick", interval=REFRESH_MS),
        html.Div(id="kanban-columns", className="kanban", children=columns(lang)),
    ])


def columns(lang: str) -> list:
    rt = current()
    data = board.kanban(rt.engine, pack=rt.pack)
    out = []
    for status in board.KANBAN_COLUMNS:
        col = data[status]
        n = f"{col['count']:,}{'+' if col['more'] else ''}"
        cards = [html.Div(className="kanban-card", draggable="true",
                          **{"data-id": str(r["id"]), "data-version": str(r["version"]), "data-status": status},
                          children=[html.Div([chips.priority(r["priority"]),
                                              dcc.Link(f"#{r['id']}", href=f"/incident/{r['id']}"),
                                              chips.sla_chip(r["sla"], lang)], className="dc-item-top"),
                                    html.Div(r["title"], className="dc-item-title")])
                 for r in col["rows"]]
        out.append(html.Section(className="kanban-column", **{"data-status": status}, children=[
            html.H3([t(f"duty.status.{status}", lang), html.Span(n, className="kanban-count")]),
            *cards]))
    return out


def _call(action: str, actor: Actor, iid: int, version: int) -> Callable[[], object]:
    e = current().engine
    return {"verify": lambda: workflow.verify(e, actor, iid, version),
            "acknowledge": lambda: workflow.acknowledge(e, actor, iid, version),
            "on_scene": lambda: workflow.mark_on_scene(e, actor, iid, version),
            "resolve": lambda: workflow.resolve(e, actor, iid, version)}[action]


def drop(moved, _tick, lang):
    """A card dropped on a column (or the refresh timer): act, then redraw the columns."""
    message = dash.no_update
    if moved and chips.clicked() == "kanban-drop":
        message = _move(moved, lang)
    return message, columns(lang)


def _move(moved: dict, lang: str):
    source, target = moved.get("from"), moved.get("to")
    if source == target:
        return dash.no_update
    action = MOVES.get((source, target))
    try:
        actor = context.actor()
        if actor is None:
            raise ActionRefused(t("duty.sign_in_to_act", lang))
        if action is None:
            key = "kanban.to_console" if target == "dispatched" else "kanban.no_move"
            raise ActionRefused(t(key, lang, src=t(f"duty.status.{source}", lang),
                                  dst=t(f"duty.status.{target}", lang)))
        _call(action, actor, int(moved["id"]), int(moved["version"]))()
        return chips.outcome(None, lang, f"#{moved['id']} {t('inc.act.' + action, lang)}")
    except (UserError, KeyError, ValueError, TypeError) as exc:
        log.info("kanban move %s refused: %s", moved, exc)
        return chips.outcome(exc if isinstance(exc, UserError) else ActionRefused(str(exc)), lang)


def register(app: dash.Dash) -> None:
    app.callback(
        Output("kanban-message", "children"), Output("kanban-columns", "children"),
        Input("kanban-drop", "data"), Input("kanban-tick", "n_intervals"), State("lang", "data"),
        prevent_initial_call=True,
    )(drop)
