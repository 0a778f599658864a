"""Major events (重大事件): the list, where leaders open one, and each event's own board —
its incidents on a map and in a list, its KPIs against the city's, units committed, warnings."""

from __future__ import annotations

from datetime import datetime

import dash
import dash_leaflet as dl
from dash import Input, Output, State, dcc, html

from ioc.chain import major_events
from ioc.chain.actions import PERMISSIONS
from ioc.errors import ActionRefused, NotFound
from ioc.i18n import t
from ioc.read import citymap, events, lists
from ioc.records import CATEGORIES
from layouts import chips, context
from layouts.timefmt import duration, when

REFRESH_MS = 30_000
PRIORITY_COLOURS = {"P1": "#ff3b3b", "P2": "#ff9f1a", "P3": "#ffd54f", "P4": "#9fb3c8"}
OUTLINE = {"color": "#3a5a8c", "weight": 1, "fillOpacity": 0.05}


def _may_manage() -> bool:
    who = context.actor()
    return who is not None and who.role in PERMISSIONS["major_event.manage"]


# --- the list -------------------------------------------------------------------------------


def list_layout(lang: str = "zh-CN", **_query: str) -> html.Div:
    children = [html.Div(className="events-head", children=[html.H2(t("events.title", lang))]),
                html.Div(id="events-list", className="events-list")]
    if _may_manage():
        children.append(_create_form(lang))
    return html.Div(className="events-page", children=[dcc.Store(id="events-changed", data=0), *children])


def _create_form(lang: str) -> html.Section:
    rt = context.current()
    divisions = [{"label": d.name_zh if lang == "zh-CN" else (d.name_en or d.name_zh), "value": d.code}
                 for d in rt.pack.divisions()]
    return html.Section(className="event-create", children=[
        html.H3(t("events.open_new", lang)),
        html.Div(className="order-form", children=[
            html.Label([t("events.input.name", lang), dcc.Input(id="event-name", maxLength=200, className="order-text")]),
            html.Label([t("events.input.kind", lang), dcc.Dropdown(
                id="event-kind", value="typhoon", clearable=False, className="event-dropdown",
                options=[{"label": t(f"events.kind.{k}", lang), "value": k} for k in major_events.KINDS])]),
            html.Label([t("events.input.start", lang), dcc.Input(id="event-start", type="datetime-local")]),
            html.Label([t("events.input.divisions", lang), dcc.Dropdown(
                id="event-divisions", multi=True, options=divisions, className="event-dropdown",
                placeholder=t("events.input.all_divisions", lang))]),
            html.Label([t("events.input.categories", lang), dcc.Dropdown(
                id="event-categories", multi=True, className="event-dropdown",
                options=[{"label": t(f"category.{c}", lang), "value": c} for c in CATEGORIES],
                placeholder=t("events.input.all_categories", lang))]),
        ]),
        html.Button(t("events.do.open", lang), id="event-open", n_clicks=0, className="btn btn-accept"),
        html.Div(id="event-open-message", className="orders-message", role="status"),
    ])


def render_list(_changed, lang):
    rt = context.current()
    rows = events.events(rt.engine)
    if not rows:
        return html.P(t("events.empty", lang), className="orders-empty")
    tz = rt.pack.timezone
    return [dcc.Link(href=f"/events/{e.id}", className=f"order-card event-card status-{e.status}", children=[
        html.Div(className="order-card-top", children=[
            html.Span(t(f"events.kind.{e.kind}", lang), className="flag"),
            html.Span(e.name, className="order-title")]),
        html.Div(className="order-card-meta", children=[
            html.Span(t(f"events.status.{e.status}", lang), className=f"order-status status-{e.status}"),
            html.Span(f"{when(e.started_at, tz, lang)} – {when(e.ended_at, tz, lang) if e.ended_at else ''}"),
            html.Span(e.created_by)]),
    ]) for e in rows]


def open_event(_clicks, name, kind, start, divisions, categories, changed, lang):
    who, rt = context.actor(), context.current()
    if not _clicks or who is None:
        raise dash.exceptions.PreventUpdate
    if not (name or "").strip():
        return html.Span(t("events.need.name", lang), className="error", role="alert"), dash.no_update
    try:
        started = datetime.fromisoformat(start).replace(tzinfo=rt.pack.timezone) if start else datetime.now(
            rt.pack.timezone)
        event = major_events.create(rt.engine, who, name, kind, started, district_codes=divisions or (),
                                    categories=categories or ())
    except ValueError:
        return html.Span(t("events.need.start", lang), className="error", role="alert"), dash.no_update
    except ActionRefused as exc:
        return (html.Span(f"{t('orders.refused.other', lang)} ({chips.reason(exc, lang)})", className="error",
                          role="alert"), dash.no_update)
    return dcc.Link(t("events.opened", lang, name=event.name), href=f"/events/{event.id}"), (changed or 0) + 1


# --- one event's board ----------------------------------------------------------------------


def board_layout(event_id: str = "", lang: str = "zh-CN", **_query: str) -> html.Div:
    rt = context.current()
    try:
        event = major_events.get(rt.engine, int(event_id))
    except (ValueError, NotFound):
        return html.Div(className="empty-state", children=[t("events.missing", lang), " ",
                                                           dcc.Link(t("events.back", lang), href="/events")])
    view = rt.pack.manifest.map
    outlines = citymap.district_features(rt.engine)
    return html.Div(className="events-page event-board", children=[
        dcc.Store(id="event-id", data=event.id),
        dcc.Store(id="event-changed", data=0),
        dcc.Interval(id="event-tick", interval=REFRESH_MS),
        html.Div(id="event-head", className="events-head"),
        html.Div(id="event-message", className="orders-message", role="status"),
        html.Div(className="event-body", children=[
            html.Div(className="event-map-wrap", children=dl.Map(
                id="event-map", className="event-map", center=[view.center[1], view.center[0]], zoom=view.zoom,
                children=[dl.GeoJSON(data=outlines, style=OUTLINE), dl.LayerGroup(id="event-markers")])),
            html.Aside(id="event-side", className="event-side"),
        ]),
        html.Section(id="event-incidents", className="event-incidents"),
    ])


def render_board(_tick, _changed, event_id, lang):
    rt = context.current()
    event = major_events.get(rt.engine, event_id)
    tz = rt.pack.timezone
    incidents = major_events.incidents_of(rt.engine, event_id, limit=500)
    mine = major_events.kpis_of(rt.engine, event_id)
    city = events.city_window(rt.engine, event.started_at, event.ended_at)
    head = [html.H2([html.Span(t(f"events.kind.{event.kind}", lang), className="flag"), " ", event.name]),
            html.Span(t(f"events.status.{event.status}", lang), className=f"order-status status-{event.status}"),
            html.Span(f"{when(event.started_at, tz, lang)} – {when(event.ended_at, tz, lang) if event.ended_at else ''}",
                      className="note"),
            dcc.Link(t("events.back", lang), href="/events", className="nav-link")]
    if event.status == "active" and _may_manage():
        head.append(html.Button(t("events.do.close", lang), id="event-close", n_clicks=0, className="btn btn-close"))
    markers = [dl.CircleMarker(center=[i.lat, i.lon], radius=6, color=PRIORITY_COLOURS.get(i.priority, "#9fb3c8"),
                               fillOpacity=0.8, children=dl.Tooltip(f"{i.priority} {i.title or i.type}"))
               for i in incidents if i.lat is not None and i.lon is not None]
    side = [_kpis(mine, city, lang), _units(incidents, lang), _warnings(lang)]
    return head, markers, side, _incident_list(incidents, tz, lang)


def _kpis(mine: dict, city: events.CityWindow, lang: str) -> html.Div:
    closure = mine["closed"] / mine["total"] if mine["total"] else None
    ack, res = mine["acknowledge_minutes"]["median"], mine["resolve_minutes"]["median"]
    rows = [
        (t("events.kpi.total", lang), _n(mine["total"], lang), _n(city.total, lang)),
        (t("events.kpi.open", lang), _n(mine["open"], lang), _n(city.open, lang)),
        (t("events.kpi.share", lang), _pct(mine["total"] / city.total if city.total else None), "100%"),
        (t("events.kpi.closure", lang), _pct(closure), _pct(city.closure)),
        (t("events.kpi.ack", lang), duration(ack, lang) if ack is not None else "—", "—"),
        (t("events.kpi.resolve", lang), duration(res, lang) if res is not None else "—", "—"),
        (t("events.kpi.response", lang), "—",
         duration(city.response_median_s / 60, lang) if city.response_median_s is not None else "—"),
    ]
    return html.Div(className="event-kpis", children=[
        html.H3(t("events.kpis", lang)),
        html.Table(className="order-facts", children=[
            html.Tr([html.Th(""), html.Th(t("events.kpi.event", lang)), html.Th(t("events.kpi.city", lang))]),
            *[html.Tr([html.Th(k), html.Td(a, className="num"), html.Td(b, className="num")]) for k, a, b in rows]])])


def _n(value: int, lang: str) -> str:
    return t("events.count", lang, n=f"{value:,}")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _units(incidents, lang: str) -> html.Div:
    units = events.committed_units(context.current().engine, [i.id for i in incidents])
    body = (html.Ul([html.Li(f"{u.call_sign} · {_unit_type(u.unit_type, lang)} · {u.status} · #{u.incident_id}")
                     for u in units],
                    className="points-here")
            if units else html.P(t("events.no_units", lang), className="note"))
    return html.Div(className="event-units", children=[html.H3(t("events.units", lang, n=len(units))), body])


def _warnings(lang: str) -> html.Div:
    alerts = lists.active_alerts(context.current().engine)
    body = (html.Ul([html.Li([html.Span(a.severity, className="flag"), " ", a.headline or a.event]) for a in alerts],
                    className="alerts")
            if alerts else html.P(t("events.no_warnings", lang), className="note"))
    return html.Div(className="event-warnings", children=[html.H3(t("events.warnings", lang)), body])


def _incident_list(incidents, tz, lang: str):
    if not incidents:
        return html.P(t("events.no_incidents", lang), className="orders-empty")
    head = html.Tr([html.Th(t(f"events.col.{c}", lang)) for c in ("time", "priority", "title", "status", "address")])
    return [html.H3(t("events.incidents", lang, n=len(incidents))), html.Table(className="feeds-grid", children=[
        html.Thead(head), html.Tbody([html.Tr([
            html.Td(when(i.reported_at, tz, lang)), html.Td(html.Span(i.priority, className=f"prio prio-{i.priority}")),
            html.Td(i.title or i.type), html.Td(chips.status(i.status, lang)), html.Td(i.address)])
            for i in incidents[:200]])])]


def _unit_type(kind: str, lang: str) -> str:
    label = t(f"unit_type.{kind}", lang)
    return kind if label == f"unit_type.{kind}" else label


def close_event(_clicks, event_id, changed, lang):
    who, rt = context.actor(), context.current()
    if not _clicks or who is None:
        raise dash.exceptions.PreventUpdate
    try:
        major_events.close(rt.engine, who, event_id, None)
    except ActionRefused as exc:
        return (html.Span(f"{t('orders.refused.other', lang)} ({chips.reason(exc, lang)})", className="error",
                          role="alert"), dash.no_update)
    return t("events.closed", lang), (changed or 0) + 1


def register(app: dash.Dash) -> None:
    app.callback(Output("events-list", "children"), Input("events-changed", "data"), State("lang", "data"))(render_list)
    app.callback(Output("event-open-message", "children"), Output("events-changed", "data"),
                 Input("event-open", "n_clicks"), State("event-name", "value"), State("event-kind", "value"),
                 State("event-start", "value"), State("event-divisions", "value"), State("event-categories", "value"),
                 State("events-changed", "data"),
                 State("lang", "data"), prevent_initial_call=True)(open_event)
    app.callback(Output("event-head", "children"), Output("event-markers", "children"),
                 Output("event-side", "children"), Output("event-incidents", "children"),
                 Input("event-tick", "n_intervals"), Input("event-changed", "data"), State("event-id", "data"),
                 State("lang", "data"))(render_board)
    app.callback(Output("event-message", "children"), Output("event-changed", "data"),
                 Input("event-close", "n_clicks"), State("event-id", "data"), State("event-changed", "data"),
                 State("lang", "data"), prevent_initial_call=True)(close_event)
