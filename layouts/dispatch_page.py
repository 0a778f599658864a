"""The dispatch console: the queue of incidents waiting for units (priority, then age), the
recommended units for the selected one (ETA, distance, capability, why, coverage left behind),
dispatch in one click, and the unit board by agency with manual status changes.

Keyboard (assets/duty.js): N / J next incident, K previous, 1 or D takes the first
recommendation, Enter confirms, Esc cancels — a new P1 goes out in three keys or clicks.
Two officers sending one unit: the service lets one win; the other sees why, and the
recommendations are drawn again without that unit.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dash
import dash_leaflet as dl
from dash.exceptions import PreventUpdate
from dash import ALL, Input, Output, State, ctx, dcc, html

from ioc.chain import dispatch
from ioc.errors import ActionRefused, NotFound, UserError
from ioc.i18n import t
from ioc.read import citymap, console, incident_view
from layouts import chips, context, shared
from layouts.context import current
from layouts.incident_page import may

log = logging.getLogger(__name__)

REFRESH_MS = 10_000
UNIT_COLOURS = {"AVAILABLE": "#3ddc97", "CLEARED": "#3ddc97", "DISPATCHED": "#ffb020", "EN_ROUTE": "#ff9f1a",
                "ON_SCENE": "#ff3b3b", "OUT_OF_SERVICE": "#8a9bb8", "STAGED": "#b48cff"}


def layout(lang: str = "zh-CN", incident: str = "", **_query: str) -> html.Div:
    rt = current()
    view = rt.pack.manifest.map
    return html.Div(className="dispatch-page", children=[
        dcc.Store(id="dc-selected", data=int(incident) if incident.isdigit() else None),
        dcc.Store(id="dc-queue-ids", data=[]),
        dcc.Store(id="dc-pending"),
        dcc.Store(id="dc-done", data=0),
        dcc.Store(id="dc-recs-data"),
        dcc.Store(id="dc-seen"),
        dcc.Interval(id="dc-tick", interval=REFRESH_MS),
        html.Section(className="dc-queue", children=[
            html.H3(t("dc.queue", lang)),
            html.Div([html.Button(t("dc.prev", lang), id="dc-prev", className="btn btn-small", n_clicks=0),
                      html.Button(t("dc.next", lang), id="dc-next", className="btn btn-small", n_clicks=0)],
                     className="row-actions"),
            html.Div(id="dc-queue-list", className="dc-queue-list"),
        ]),
        html.Section(className="dc-work", children=[
            html.Div(id="dc-message", className="inc-message"),
            html.Div(id="dc-incident"),
            *_controls(lang),
            html.Div(id="dc-recs"),
            html.P(t("dc.keys", lang), className="note dc-keys"),
            dl.Map(id="dc-map", center=[view.center[1], view.center[0]], zoom=view.zoom - 0.5, zoomSnap=0.25,
                   className="dc-map", preferCanvas=True, attributionControl=bool(rt.settings.web.tile_url),
                   children=([dl.TileLayer(url=rt.settings.web.tile_url,
                                           attribution=rt.settings.web.tile_attribution)]
                             if rt.settings.web.tile_url else [])
                   + [dl.LayerGroup(id="dc-map-units"), dl.LayerGroup(id="dc-map-incident")]),
        ]),
        html.Section(className="dc-units side", children=[
            html.H3(t("dc.units", lang)),
            html.Div(id="dc-unit-board"),
        ]),
    ])


def _button(name: str, label: str, primary: bool = False) -> html.Button:
    """Console buttons; the keyboard (assets/duty.js) finds them by their dc-key-* class."""
    return html.Button(label, id={"type": "dc-btn", "name": name}, n_clicks=0,
                       className=f"btn dc-key-{name}" + (" btn-primary" if primary else ""))


def _controls(lang: str) -> list:
    if not may(context.actor(), "unit.dispatch"):
        return [html.P(t("dc.view_only", lang), className="note")]
    return [
        html.Div(id="dc-confirm-bar", className="dc-confirm", hidden=True, children=[
            html.Span(id="dc-confirm-text"), _button("confirm", t("dc.confirm", lang), primary=True),
            _button("cancel", t("dc.cancel", lang))]),
        html.Div(className="row-actions", children=[
            _button("first", t("dc.take_first", lang)),
            _button("suggested", t("dc.send_suggested", lang), primary=True)]),
    ]


# --- reading --------------------------------------------------------------------------------------


def refresh(_tick, _done, selected, lang, seen):
    """The queue, the unit board and the units on the map (every tick, and after each action).

    Read and drawn once per version of the incident and unit counters for every console this
    process serves (layouts.shared); each output is sent only when it differs from what this
    console holds (``dc-seen``: the digests of what it was sent last).
    """
    rt, actor = current(), context.actor()
    counters = citymap.live_versions(rt.engine)
    # The timer may take a reading a second old; this console's own action never does.
    fresh = 0.0 if ctx.triggered_id == "dc-done" else shared.FRESH_S
    q_at, queue = shared.once("dc-queue-reads", counters["incident"], (), lambda: (
        counters["incident"], console.queue(rt.engine, pack=rt.pack)), fresh)
    u_at, units = shared.once("dc-unit-reads", counters["unit"], (), lambda: (
        counters["unit"], console.unit_board(rt.engine)), fresh)
    ids = [q["id"] for q in queue]
    if selected is None and ids:
        selected = ids[0]
    acts = may(actor, "unit.status")
    drawn = {
        "queue": shared.once("dc-queue", q_at, (selected, lang),
                             lambda: shared.Frozen(_queue_items(queue, selected, lang))),
        "ids": shared.Frozen(ids),
        "selected": shared.Frozen(selected),
        "board": shared.once("dc-board", u_at, (lang, acts), lambda: shared.Frozen(_unit_board(units, lang, acts))),
        "markers": shared.once("dc-markers", u_at, (), lambda: shared.Frozen(_unit_markers(units))),
    }
    seen = seen or {}
    if all(seen.get(name) == f.digest for name, f in drawn.items()):
        raise PreventUpdate  # nothing new: an empty answer (204)
    out = [dash.no_update if seen.get(name) == f.digest else f.fragment for name, f in drawn.items()]
    return (*out, {name: f.digest for name, f in drawn.items()})


def _queue_items(queue: list[dict[str, Any]], selected: int | None, lang: str):
    items = [shared.part(("dc-item", _shown(q), q["id"] == selected, lang), lambda q=q: _queue_item(q, selected, lang))
             for q in queue]
    return items or html.P(t("dc.queue_empty", lang), className="note")


def _queue_item(q: dict[str, Any], selected: int | None, lang: str) -> html.Button:
    return html.Button(id={"type": "dc-pick", "id": q["id"]}, n_clicks=0,
                       className="dc-item" + (" dc-item-selected" if q["id"] == selected else ""),
                       children=[html.Div([chips.priority(q["priority"]), html.Span(f"#{q['id']}"),
                                           chips.sla_chip(q["sla"], lang)], className="dc-item-top"),
                                 html.Div(f"{chips.category(q['category'], lang)} · {q['title']}",
                                          className="dc-item-title"),
                                 html.Div(q["address"], className="dc-item-address")])


def _shown(row: dict[str, Any], leave_out: tuple[str, ...] = ()) -> str:
    """A row's values as a key for its drawn part (layouts.shared.part)."""
    return json.dumps({k: v for k, v in row.items() if k not in leave_out}, sort_keys=True, default=str)


def _minutes(value: float | None) -> str | None:
    return None if value is None else f"{value:.0f}"


def _unit_board(units: list[dict[str, Any]], lang: str, acts: bool) -> list:
    by_org: dict[str, list[dict[str, Any]]] = {}
    for u in units:
        by_org.setdefault(u["org"], []).append(u)
    groups = []
    for org, rows in by_org.items():
        counts: dict[str, int] = {}
        for u in rows:
            counts[u["status"]] = counts.get(u["status"], 0) + 1
        name = rows[0]["org_en"] if lang == "en" and rows[0]["org_en"] else rows[0]["org_zh"]
        summary = html.Summary([html.Strong(name), " ",
                                *[html.Span(f"{t(f'reason.unit.{s}', lang)} {n}", className=f"unit-count unit-{s}")
                                  for s, n in counts.items()]])
        groups.append(html.Details(className="unit-group", children=[summary, html.Table(
            className="grid-table", children=html.Tbody([_unit_row_part(u, lang, acts) for u in rows]))]))
    return groups


def _unit_row_part(u: dict[str, Any], lang: str, acts: bool):
    """The row as drawn before while what it shows is the same (its minutes as shown, not as read)."""
    key = (_shown(u, ("lon", "lat", "in_status_min", "position_age_min")), _minutes(u["in_status_min"]),
           _minutes(u["position_age_min"]), lang, acts)
    return shared.part(("dc-unit-row", key), lambda: _unit_row(u, lang, acts))


def _unit_row(u: dict[str, Any], lang: str, acts: bool) -> html.Tr:
    job = u["assignment"]
    if job:
        moves = [(s, {"type": "dc-unit", "unit": u["id"], "to": s, "asg": job["id"], "ver": job["version"]})
                 for s in dispatch.NEXT_STATUS.get(job["status"], ())]
    else:
        moves = [(s, {"type": "dc-unit", "unit": u["id"], "to": s, "asg": 0, "ver": u["version"]})
                 for s in dispatch.MANUAL_STATUSES if s != u["status"] and u["status"] not in dispatch.ACTIVE]
    in_status = "—" if u["in_status_min"] is None else f"{u['in_status_min']:.0f} {t('duty.minutes', lang)}"
    return html.Tr(className="unit-stale" if u["stale"] else None, children=[
        html.Td(u["call_sign"]), html.Td(html.Span(t(f"reason.unit.{u['status']}", lang), className=f"unit-status unit-{u['status']}")),
        html.Td(in_status),
        html.Td(t("dc.stale", lang) if u["stale"] else t("dc.fresh", lang, n=f"{u['position_age_min']:.0f}"),
                className="unit-position"),
        html.Td(dcc.Link(f"#{job['incident_id']}", href=f"/incident/{job['incident_id']}") if job else None),
        html.Td([html.Button(t(f"dc.to.{s}", lang), id=ident, className="btn btn-small", n_clicks=0)
                 for s, ident in moves] if acts else None),
    ])


def _unit_markers(units: list[dict[str, Any]]) -> list:
    placed = [u for u in units if u["lat"] is not None and u["lon"] is not None]
    return [shared.part(("dc-marker", u["call_sign"], u["status"], u["stale"], lon, lat),
                        lambda u=u, lon=lon, lat=lat: _unit_marker(u, lon, lat))
            for u, (lon, lat) in zip(placed, chips.on_tiles([(u["lon"], u["lat"]) for u in placed]), strict=True)]


def _unit_marker(u: dict[str, Any], lon: float, lat: float) -> dl.CircleMarker:
    return dl.CircleMarker(center=[lat, lon], radius=4, weight=1, color="#0b1220",
                           fillColor=UNIT_COLOURS.get(u["status"], "#5ec8ff"), fillOpacity=0.5 if u["stale"] else 1,
                           children=dl.Tooltip(f"{u['call_sign']} · {u['status']}"))


def pick(_picks, _next, _prev, selected, ids):
    trigger = chips.clicked()
    if trigger is None:
        return dash.no_update
    if isinstance(trigger, dict):
        return trigger["id"]
    if not ids:
        return dash.no_update
    at = ids.index(selected) if selected in ids else -1
    step = 1 if trigger == "dc-next" else -1
    return ids[(at + step) % len(ids)] if at >= 0 else ids[0]


def show(selected, _done, lang):
    """The selected incident and its recommended units."""
    if selected is None:
        return html.P(t("dc.pick", lang), className="note"), None, None, None
    rt = current()
    try:
        detail = console.incident_summary(rt.engine, selected, pack=rt.pack)
        recs = dispatch.recommend(rt.engine, selected, rules=dispatch.load_dispatch_rules(rt.pack.path))
    except (NotFound, UserError) as exc:
        return chips.outcome(exc, lang), None, None, None
    head = html.Div(className="dc-head", children=[
        html.H2([chips.priority(detail["priority"]), " ", dcc.Link(f"#{detail['id']}", href=f"/incident/{selected}"),
                 " ", html.Span(detail["title"])]),
        html.Div([chips.status(detail["status"], lang), " ", chips.category(detail["category"], lang), " · ",
                  detail["address"] or "—", " ", chips.sla_chip(detail["sla"], lang)]),
    ])
    marker = [dl.CircleMarker(center=[lat, lon], radius=10, color="#ffffff", weight=3, fillColor="#ff3b3b",
                              fillOpacity=1) for lon, lat in chips.on_tiles([(detail["lon"], detail["lat"])])
              ] if detail["lat"] is not None else []
    data = {"incident": detail["id"], "version": detail["version"], "units": [r.unit_id for r in recs],
            "calls": {r.unit_id: r.call_sign for r in recs}, "suggested": [r.unit_id for r in recs if r.suggested]}
    names = {d["code"]: d["name_en"] if lang == "en" and d["name_en"] else d["name_zh"]
             for d in incident_view.division_options(rt.engine)}
    return head, _recommendations(recs, names, lang), marker, data


def _recommendations(recs: list[dispatch.Recommendation], names: dict[str, str], lang: str):
    if not recs:
        return html.P(t("dc.no_recs", lang), className="note")
    acts = may(context.actor(), "unit.dispatch")
    header = html.Tr([html.Th(t(f"dc.col.{c}", lang)) for c in
                      ("need", "unit", "type", "eta", "distance", "load", "gap")] + [html.Th()])
    rows = []
    for r in recs:
        gap = ", ".join(names.get(c, c) for c in r.coverage_gap) if r.coverage_gap else t("dc.no_gap", lang)
        rows.append(html.Tr(className="rec rec-suggested" if r.suggested else "rec", children=[
            html.Td(r.need), html.Td([html.Strong(r.call_sign), html.Span(f" {r.unit_id}", className="note")]),
            html.Td(r.unit_type), html.Td(f"{r.eta_min:.1f} {t('duty.minutes', lang)}"),
            html.Td(f"{r.distance_km:.1f} km"), html.Td(str(r.load)), html.Td(gap, className="rec-gap"),
            html.Td(html.Button(t("dc.send", lang), id={"type": "dc-send", "unit": r.unit_id}, n_clicks=0,
                                className="btn btn-small btn-primary") if acts else None),
        ]))
    return html.Table(className="grid-table recs", children=[html.Thead(header), html.Tbody(rows)])


# --- acting -----------------------------------------------------------------------------------------


def act(_buttons, _sends, _units, recs, pending, done, lang):
    """Choose, confirm and send units; change a unit's status. Every write is one service call."""
    trigger = chips.clicked()
    if not isinstance(trigger, dict):
        return (dash.no_update,) * 5
    name = trigger.get("name") if trigger["type"] == "dc-btn" else trigger["type"]
    if name == "cancel":
        return dash.no_update, None, True, "", dash.no_update
    if name == "first":
        if not recs or not recs["units"]:
            return html.Div(t("dc.no_recs", lang), className="msg msg-refused"), None, True, "", dash.no_update
        first = recs["units"][0]
        chosen = {"incident": recs["incident"], "version": recs["version"], "units": [first]}
        return dash.no_update, chosen, False, t("dc.confirm_text", lang, units=recs["calls"][first],
                                                id=recs["incident"]), dash.no_update
    rt, actor = current(), context.actor()
    try:
        if actor is None:
            raise ActionRefused(t("duty.sign_in_to_act", lang))
        if name == "dc-unit":
            what = _unit_status(rt, actor, trigger)
        else:
            plan = _plan(name, trigger, recs, pending)
            if plan is None:
                return (dash.no_update,) * 5
            dispatch.dispatch(rt.engine, actor, plan["incident"], plan["units"], seen_version=plan["version"])
            calls = (recs or {}).get("calls", {})
            what = t("dc.sent", lang, units=" ".join(calls.get(u, u) for u in plan["units"]), id=plan["incident"])
        message = chips.outcome(None, lang, what)
    except UserError as exc:
        log.info("dispatch console: %s refused: %s", name, exc)
        message = chips.outcome(exc, lang)
    return message, None, True, "", (done or 0) + 1


def _plan(name: str, trigger, recs, pending) -> dict[str, Any] | None:
    if name == "confirm":
        return pending
    if not recs:
        return None
    if name == "suggested":
        return {**recs, "units": recs["suggested"] or recs["units"][:1]}
    return {**recs, "units": [trigger["unit"]]}


def _unit_status(rt, actor, trigger) -> str:
    if trigger["asg"]:
        dispatch.update_assignment_status(rt.engine, actor, trigger["asg"], trigger["to"], seen_version=trigger["ver"])
    else:
        dispatch.set_unit_status(rt.engine, actor, trigger["unit"], trigger["to"], seen_version=trigger["ver"])
    return f"{trigger['unit']} → {trigger['to']}"


def register(app: dash.Dash) -> None:
    app.callback(
        Output("dc-queue-list", "children"), Output("dc-queue-ids", "data"), Output("dc-selected", "data"),
        Output("dc-unit-board", "children"), Output("dc-map-units", "children"),
        Output("dc-seen", "data"),
        Input("dc-tick", "n_intervals"), Input("dc-done", "data"), State("dc-selected", "data"),
        State("lang", "data"), State("dc-seen", "data"),
    )(refresh)
    app.callback(
        Output("dc-selected", "data", allow_duplicate=True),
        Input({"type": "dc-pick", "id": ALL}, "n_clicks"), Input("dc-next", "n_clicks"), Input("dc-prev", "n_clicks"),
        State("dc-selected", "data"), State("dc-queue-ids", "data"), prevent_initial_call=True,
    )(pick)
    app.callback(
        Output("dc-incident", "children"), Output("dc-recs", "children"), Output("dc-map-incident", "children"),
        Output("dc-recs-data", "data"), Input("dc-selected", "data"), Input("dc-done", "data"), State("lang", "data"),
    )(show)
    app.callback(
        Output("dc-message", "children"), Output("dc-pending", "data"), Output("dc-confirm-bar", "hidden"),
        Output("dc-confirm-text", "children"), Output("dc-done", "data"),
        Input({"type": "dc-btn", "name": ALL}, "n_clicks"), Input({"type": "dc-send", "unit": ALL}, "n_clicks"),
        Input({"type": "dc-unit", "unit": ALL, "to": ALL, "asg": ALL, "ver": ALL}, "n_clicks"),
        State("dc-recs-data", "data"), State("dc-pending", "data"), State("dc-done", "data"), State("lang", "data"),
        prevent_initial_call=True,
    )(act)
