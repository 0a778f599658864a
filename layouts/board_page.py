"""The incident board: every incident of the whole history in an AG Grid whose rows come from
SQL a block at a time (the infinite row model), filtered and sorted on the server.

The grid asks for rows [startRow, endRow) in order as the officer scrolls; the page answers
from ``ioc.read.board.page`` with the keyset cursor where the previous block ended (kept in
the browser, one per block boundary). The row count stays unknown to the grid until the last
block, so it never asks for a block in the middle of nowhere.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, dcc, html

from ioc.chain import saved_views
from ioc.errors import ActionRefused, UserError
from ioc.i18n import t
from ioc.read import board, citymap, incident_view
from ioc.records import CATEGORIES, INCIDENT_STATUSES, PRIORITIES
from layouts import chips, context, shared
from layouts.context import current

BLOCK = 100
CHANNELS = ("110", "119", "120", "12345", "urban", "grid", "video", "sensor", "import", "other")
OPEN = ["unverified", "new", "acknowledged", "dispatched", "on_scene"]
REFRESH_MS = 30_000
GRID_THEME = {"function": "themeQuartz.withParams({backgroundColor: '#111a2e', foregroundColor: '#e6edf7', "
                          "headerBackgroundColor: '#0e1628', borderColor: '#22314f', accentColor: '#5ec8ff', "
                          "oddRowBackgroundColor: '#0f1729', fontSize: 13})"}


def layout(lang: str = "zh-CN", **_query: str) -> html.Div:
    rt = current()
    divisions = incident_view.division_options(rt.engine)
    orgs = incident_view.order_orgs(rt.engine)

    def name(o: dict[str, str]) -> str:
        return o["name_en"] if lang == "en" and o["name_en"] else o["name_zh"]

    def pick(key: str, options: list[dict[str, str]], value: list[str] | None = None) -> dcc.Dropdown:
        return dcc.Dropdown(id=f"board-{key}", options=options, value=value, multi=True,
                            placeholder=t(f"board.{key}", lang), className="board-filter")

    controls = html.Div(className="board-controls", children=[
        pick("status", [{"value": s, "label": t(f"duty.status.{s}", lang)} for s in INCIDENT_STATUSES], OPEN),
        pick("priority", [{"value": p, "label": p} for p in PRIORITIES]),
        pick("category", [{"value": c, "label": chips.category(c, lang)} for c in CATEGORIES]),
        pick("channel", [{"value": c, "label": c} for c in CHANNELS]),
        pick("division", [{"value": d["code"], "label": name(d)} for d in divisions]),
        pick("org", [{"value": o["code"], "label": name(o)} for o in orgs]),
        dcc.Dropdown(id="board-window", className="board-filter board-window", clearable=True,
                     placeholder=t("board.window", lang),
                     options=[{"value": w, "label": t(f"board.window.{w}", lang)} for w in board.WINDOWS]),
        dcc.Input(id="board-q", type="search", debounce=True, placeholder=t("board.q", lang), className="field board-q"),
    ])
    return html.Div(className="board-page", children=html.Div(className="board-main", children=[
        controls,
        html.Div(className="board-bar", children=[
            html.Span(id="board-count", className="board-count"),
            dcc.Checklist(id="board-linked", options=[{"value": "1", "label": t("board.linked", lang)}], value=[],
                          className="board-linked", inputClassName="board-linked-box"),
            html.A(t("board.export_csv", lang), id="board-csv", className="btn btn-small", href="/export/board.csv"),
            html.A(t("board.export_xlsx", lang), id="board-xlsx", className="btn btn-small",
                   href="/export/board.xlsx"),
            dcc.Link(t("kanban.open", lang), href="/kanban", className="btn btn-small"),
            html.Span(id="board-error", className="board-error", role="alert"),
            *_view_controls(lang),
        ]),
        dcc.Store(id="board-query"),
        dcc.Store(id="board-cursors", data={}),
        dcc.Store(id="board-reloaded"),
        dcc.Interval(id="board-tick", interval=REFRESH_MS),
        dag.AgGrid(
            id="board-grid", className="board-grid", rowModelType="infinite",
            columnDefs=_columns(lang),
            defaultColDef={"sortable": False, "resizable": True, "suppressHeaderMenuButton": True},
            dashGridOptions={"cacheBlockSize": BLOCK, "maxConcurrentDatasourceRequests": 1,
                             "infiniteInitialRowCount": 1, "rowHeight": 34, "theme": GRID_THEME,
                             "localeText": {"noRowsToShow": t("board.empty", lang),
                                            "loadingOoo": t("board.loading", lang)}},
            style={"height": "calc(100vh - 210px)", "width": "100%"},
        ),
    ]))


def _view_controls(lang: str) -> list:
    """Saved views: pick one of mine, or keep the current filters, sort and columns under a name."""
    actor = context.actor()
    mine = board.saved_views(current().engine, actor.username) if actor else []
    hidden = actor is None or actor.username.startswith("kiosk:")
    return [html.Div(className="board-views", hidden=hidden, children=[
        dcc.Dropdown(id="board-view", options=_view_options(mine), placeholder=t("board.views", lang),
                     className="board-filter board-view"),
        dcc.Input(id="board-view-name", placeholder=t("board.view_name", lang), className="field board-view-name"),
        html.Button(t("board.view_save", lang), id="board-view-save", n_clicks=0, className="btn btn-small"),
        html.Button(t("board.view_delete", lang), id="board-view-delete", n_clicks=0, className="btn btn-small"),
        html.Span(id="board-view-msg", className="board-view-msg", role="status"),
    ])]


def _view_options(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"value": v["id"], "label": v["name"]} for v in views]


def save_view(_save, _delete, name, view_id, query, column_state, lang):
    """Keep (or remove) a view through the saved-views service; the list is read back after."""
    trigger = chips.clicked()
    actor, engine = context.actor(), current().engine
    if trigger is None:
        return dash.no_update, dash.no_update, dash.no_update
    try:
        if actor is None:
            raise ActionRefused(t("duty.sign_in_to_act", lang))
        if trigger == "board-view-save":
            saved = saved_views.save(engine, actor, name or "", query or {}, column_state or [])
            kept, what = saved.id, t("board.view_save", lang)
        else:
            if view_id is None:
                raise ActionRefused(t("board.view_pick", lang))
            saved_views.delete(engine, actor, view_id)
            kept, what = None, t("board.view_delete", lang)
    except UserError as exc:
        return dash.no_update, chips.outcome(exc, lang), dash.no_update
    return _view_options(board.saved_views(engine, actor.username)), chips.outcome(None, lang, what), kept


def apply_view(view_id):
    """A picked view puts back its filters and the grid's columns and sort."""
    actor = context.actor()
    if view_id is None or actor is None:
        return (dash.no_update,) * 11
    view = next((v for v in board.saved_views(current().engine, actor.username) if v["id"] == view_id), None)
    if view is None:
        return (dash.no_update,) * 11
    q = view["query"]
    values = [q.get(k) or [] for k in board.LIST_KEYS] + [q.get("window") or None, q.get("q") or "",
                                                          ["1"] if q.get("linked") else []]
    return (*values, view["columns"] or dash.no_update, view["name"])


def _columns(lang: str) -> list[dict[str, Any]]:
    def col(field: str, sortable: bool = False, **more: Any) -> dict[str, Any]:
        return {"field": field, "headerName": t(f"board.col.{field}", lang), "sortable": sortable, **more}

    return [
        col("id", True, width=90, cellRenderer="IncidentLink"),
        col("priority", True, width=80, cellRenderer="Priority"),
        col("status_label", width=120),
        col("sla", width=190, cellRenderer="SlaChip"),
        col("units", width=120),
        col("category_label", width=110),
        col("title", flex=1, minWidth=220),
        col("division_label", width=110),
        col("org_label", width=140),
        col("channel", True, width=90),
        col("reported", width=170),
        col("age", width=90, cellRenderer="Age"),
        col("report_count", True, width=80),
    ]


SORT_FIELDS = {"id": "id", "priority": "priority", "channel": "channel", "report_count": "report_count"}


def build_query(status, priority, category, channel, division, org, window, q, linked=None) -> dict[str, Any]:
    return {"status": status or [], "priority": priority or [], "category": category or [],
            "channel": channel or [], "division": division or [], "org": org or [], "window": window or "",
            "q": q or "", "linked": "1" if linked else ""}


def on_filters(status, priority, category, channel, division, org, window, q, linked, lang):
    """New filters: the count, the export links and the query the grid reads next."""
    query = build_query(status, priority, category, channel, division, org, window, q, linked)
    try:
        filters, _ = board.from_query(query)
    except UserError as exc:
        return dash.no_update, dash.no_update, dash.no_update, chips.reason(exc, lang), dash.no_update
    n, more = board.count(current().engine, filters)
    count = t("board.count_more" if more else "board.count", lang, n=f"{n:,}")
    link = urlencode({k: ",".join(v) if isinstance(v, list) else v for k, v in query.items() if v})
    return query, count, f"/export/board.csv?{link}", "", f"/export/board.xlsx?{link}"


def signature(query: dict[str, Any], sort: board.Sort) -> str:
    raw = json.dumps([query, sort.column, sort.descending], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def get_rows(request: dict[str, Any] | None, query: dict[str, Any] | None, cursors: dict[str, Any], lang: str):
    """One block for the grid: from the cursor where the block before it ended."""
    if not request or query is None:
        return dash.no_update, dash.no_update
    model = (request.get("sortModel") or [{}])[0]
    sort_query = {**query, "sort": SORT_FIELDS.get(model.get("colId", ""), "reported_at"),
                  "dir": model.get("sort") or "desc"}
    rt = current()
    filters, sort = board.from_query(sort_query)
    sig = signature(query, sort)
    known = cursors.get("boundaries", {}) if cursors.get("sig") == sig else {}
    start = int(request.get("startRow", 0))
    limit = max(1, min(board.MAX_PAGE, int(request.get("endRow", start + BLOCK)) - start))
    cursor, at = _cursor_for(rt, filters, sort, known, start)
    if at < start:  # the walk ran out of rows before reaching the block asked for
        return {"rowData": [], "rowCount": at}, dash.no_update
    # Every board of this process asking for the same block shares one reading (layouts.shared).
    counter = citymap.live_versions(rt.engine)["incident"]
    params = (sig, start, limit, json.dumps(cursor, sort_keys=True, default=str), lang)
    rows, n, next_cursor = shared.once("board-rows", counter, params, lambda: _block(rt, filters, sort, cursor, limit, lang),
                                    shared.FRESH_S)
    response: dict[str, Any] = {"rowData": rows}
    if next_cursor is None:
        response["rowCount"] = start + n
    else:
        known = {**known, str(start + limit): next_cursor}
    return response, {"sig": sig, "boundaries": known}


def _block(rt, filters, sort, cursor, limit: int, lang: str):
    got = board.page(rt.engine, filters, sort, cursor, limit, pack=rt.pack)
    return shared.Frozen([_grid_row(r, lang) for r in got.rows]).fragment, len(got.rows), got.cursor


def _cursor_for(rt, filters, sort, known: dict[str, Any], start: int) -> tuple[Any, int]:
    """The cursor at row ``start``: the one kept for it, else walked to from the nearest kept one."""
    if start == 0:
        return None, 0
    if str(start) in known:
        return known[str(start)], start
    below = [int(k) for k in known if int(k) < start]
    at = max(below, default=0)
    cursor = known.get(str(at))
    while at < start:
        got = board.page(rt.engine, filters, sort, cursor, min(board.MAX_PAGE, start - at), pack=rt.pack)
        at += len(got.rows)
        if got.cursor is None:
            return None, at
        cursor = got.cursor
    return cursor, at


def _grid_row(r: dict[str, Any], lang: str) -> dict[str, Any]:
    en = lang == "en"
    clock = r["sla"]
    status = (t("board.linked_to", lang, id=r["parent_id"]) if r["parent_id"]
              else t(f"duty.status.{r['status']}", lang))
    return {
        "id": r["id"], "priority": r["priority"], "status_label": status,
        "status": r["status"], "category_label": chips.category(r["category"], lang), "title": r["title"],
        "division_label": (r["division_en"] if en and r["division_en"] else r["division_zh"]) or r["division"] or "",
        "org_label": (r["org_en"] if en and r["org_en"] else r["org_zh"]) or r["org"] or "",
        "channel": r["channel"], "reported": chips.when(r["reported_at"]), "age": chips.iso(r["reported_at"]),
        "report_count": r["report_count"], "units": " ".join(r["units"]),
        "sla": None if clock is None else {
            "state": clock["state"], "due": chips.iso(clock["due"]),
            "late": f"{t('duty.clock.' + clock['clock'], lang)} · {t('duty.sla.overdue', lang)}",
            "label": f"{t('duty.clock.' + clock['clock'], lang)} · {t('duty.sla.' + clock['state'], lang)}"},
    }


def register(app: dash.Dash) -> None:
    filters = [Input(f"board-{k}", "value") for k in ("status", "priority", "category", "channel", "division",
                                                       "org", "window", "q", "linked")]
    app.callback(
        Output("board-query", "data"), Output("board-count", "children"), Output("board-csv", "href"),
        Output("board-error", "children"), Output("board-xlsx", "href"),
        *filters, State("lang", "data"),
    )(on_filters)
    app.callback(
        Output("board-view", "options"), Output("board-view-msg", "children"), Output("board-view", "value"),
        Input("board-view-save", "n_clicks"), Input("board-view-delete", "n_clicks"),
        State("board-view-name", "value"), State("board-view", "value"), State("board-query", "data"),
        State("board-grid", "columnState"), State("lang", "data"), prevent_initial_call=True,
    )(save_view)
    app.callback(
        *[Output(f"board-{k}", "value") for k in (*board.LIST_KEYS, "window", "q", "linked")],
        Output("board-grid", "columnState"), Output("board-view-name", "value"),
        Input("board-view", "value"), prevent_initial_call=True,
    )(apply_view)
    app.callback(
        Output("board-grid", "getRowsResponse"), Output("board-cursors", "data"),
        Input("board-grid", "getRowsRequest"), State("board-query", "data"), State("board-cursors", "data"),
        State("lang", "data"),
    )(get_rows)
    # New filters (or the refresh timer): drop the grid's blocks so it asks again from the first.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="iocDuty", function_name="reloadGrid"),
        Output("board-reloaded", "data"), Input("board-query", "data"), Input("board-tick", "n_intervals"),
        prevent_initial_call=True,
    )
