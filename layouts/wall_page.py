"""The wall screen (大屏): the live city map in the middle, the figures that matter around it.

Laid out for 1920×1080 and 3840×2160 (sizes in vh / vw, so a 4K wall is the same picture, twice
as sharp), readable across a command hall: the main numbers are at least 48 px at 1080p. The map
is the city map's (``layouts.map_page.live_map``) with its incremental refresh; the panels here
redraw only when the change counters of their topics moved. A kiosk link shows the wall with no
controls, no navigation and no cursor.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import dash
import dash_leaflet as dl
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from ioc.chain import major_events
from ioc.errors import NotFound
from ioc.i18n import t
from ioc.read import anomalies, lists, parallel, wall
from ioc.records import CATEGORIES
from layouts import context, map_page, shared
from layouts.context import current

log = logging.getLogger(__name__)

TICKER_SIZE = 8
ROTATE_TICK_MS = 1000
# Panels and the change-counter topics they are drawn from.
TOPICS = {"tiles": {"incident", "unit"}, "trend": {"incident"}, "busiest": {"incident"},
          "ticker": {"incident"}, "signal": {"alert"}, "feeds": {"feed"}}


def layout(lang: str = "zh-CN", **_query: str) -> html.Div:
    rt = current()
    districts, points = map_page.outlines_and_points(rt)
    if not districts["features"]:
        return html.Div(className="empty-state", children=t("map.empty", lang))
    kiosk = is_kiosk()
    return html.Div(className="wall kiosk" if kiosk else "wall", **{"data-lang": lang}, children=[
        html.Div(id="wall-signal", className="wall-signal"),
        html.Section(id="wall-tiles", className="wall-tiles", children=_tiles(None, lang)),
        html.Div(className="wall-map", children=[
            map_page.live_map(rt, districts, points, lang, layers=_wall_layers()),
            html.Div(id="wall-view-name", className="wall-view-name"),
            html.Div(id="wall-legend", className="wall-legend", hidden=True,
                     **{"data-per10k": t("wall.per_10k_legend", lang)}),
            html.Div(id="wall-card", className="wall-card", hidden=True),
            None if kiosk else html.Div(className="wall-buttons", children=[
                html.Button(t("wall.follow", lang), id="wall-follow", className="wall-follow",
                            n_clicks=0, title=t("wall.follow_hint", lang)),
                html.Button(t("wall.per_10k", lang), id="wall-per10k", className="wall-toggle", n_clicks=0,
                            title=t("wall.per_10k_hint", lang), **{"aria-pressed": "false"}),
                html.Button(t("wall.density", lang), id="wall-density", className="wall-toggle", n_clicks=0,
                            title=t("wall.density_hint", lang), **{"aria-pressed": "false"}),
            ]),
        ]),
        html.Aside(className="wall-side", children=[
            html.H3(t("wall.trend", lang)),
            dcc.Graph(id="wall-trend", className="wall-trend", figure=_trend_figure(None, lang),
                      config={"displayModeBar": False, "staticPlot": kiosk}),
            html.H3(t("wall.busiest", lang)),
            html.Ol(id="wall-busiest", className="wall-busiest"),
        ]),
        html.Div(id="wall-ticker", className="wall-ticker"),
        html.Div(id="wall-feeds", className="wall-feeds"),
        *map_page.live_stores(rt),
        dcc.Store(id="wall-views", data=rotation(rt, districts, lang)),
        dcc.Store(id="wall-view"),
        dcc.Store(id="wall-category"),
        dcc.Store(id="wall-mode", data={"per_10k": False, "density": False}),
        dcc.Store(id="wall-rates"),
        dcc.Store(id="wall-interrupt"),
        dcc.Interval(id="wall-rotate", interval=ROTATE_TICK_MS),
    ])


def _wall_layers() -> list:
    """The wall's own layers under the live ones: the density grid and the open event's area."""
    return [
        dl.GeoJSON(id="density-layer", data=map_page.EMPTY, style={"variable": "ioc.map.densityStyle"}),
        dl.GeoJSON(id="event-area-layer", data=map_page.EMPTY, style={"variable": "ioc.map.eventAreaStyle"}),
    ]


def rotation(rt, districts: dict, lang: str) -> dict:
    """The ``[wall] views`` playlist as bounds to fly to (with a category to show, the event's area,
    the layers to switch on), and how long a new P1 holds the wall. A major-event view becomes one
    view per open event, and none when no event is open."""
    by_code = {f["properties"]["code"]: f for f in districts["features"]}
    city = map_page.city_bounds(rt)
    events = major_events.active(rt.engine)
    views = []
    for view in rt.settings.wall.views:
        base = {"seconds": view.seconds, "layers": view.layers, "category": None, "area": None}
        if view.kind == "division":
            feature = by_code.get(view.code)
            if feature is None:
                log.warning("[wall] views: no division %r in the city pack; view left out", view.code)
                continue
            p = feature["properties"]
            views.append({**base, "bounds": _bounds(shape(feature["geometry"])),
                          "name": p["name_en"] if lang == "en" and p["name_en"] else p["name_zh"]})
        elif view.kind == "category":
            views.append({**base, "bounds": city, "name": t("category." + view.category, lang),
                          "category": CATEGORIES.index(view.category), "category_code": view.category})
        elif view.kind == "major_event":
            views += [{**base, **_event_view(event, by_code, city)} for event in events]
        else:
            views.append({**base, "bounds": city, "name": t("wall.view_city", lang)})
    fallback = {"bounds": city, "seconds": 60, "name": t("wall.view_city", lang), "layers": None, "category": None,
                "area": None}
    return {"views": views or [fallback], "p1_seconds": rt.settings.wall.p1_card_seconds,
            "events": [e.id for e in events]}


def _event_view(event, by_code: dict, city: list) -> dict:
    """An open event: its drawn area, else its divisions, else the whole city; its categories' incidents."""
    if event.area:
        area = shape(event.area)
    elif event.district_codes:
        area = unary_union([shape(by_code[c]["geometry"]) for c in event.district_codes if c in by_code])
    else:
        area = None
    cats = [CATEGORIES.index(c) for c in event.categories if c in CATEGORIES]
    return {"bounds": _bounds(area) if area is not None and not area.is_empty else city, "name": event.name,
            "categories": cats or None, "category_codes": list(event.categories) or None,
            "area": {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": mapping(area), "properties": {"name": event.name}}]}
            if area is not None and not area.is_empty else None}


def _bounds(geom) -> list[list[float]]:
    west, south, east, north = geom.bounds
    return [[south, west], [north, east]]


def refresh_views(version: dict | None, views: dict | None, lang_holder: dict):
    """A major event opened or closed since the playlist was made: make it again."""
    if not version or not any(v.kind == "major_event" for v in current().settings.wall.views):
        return dash.no_update
    rt = current()
    if [e.id for e in major_events.active(rt.engine)] == (views or {}).get("events"):
        return dash.no_update
    districts, _ = map_page.outlines_and_points(rt)
    return rotation(rt, districts, lang_holder.get("lang", "zh-CN"))


def refresh_rates(version: dict | None):
    """Open incidents per 10,000 residents per division, when incidents changed."""
    if not version or "incident" not in version["changed"]:
        return dash.no_update
    return wall.open_per_10k(current().engine)


def show_card(interrupt: dict | None, lang_holder: dict):
    """The card of the new P1 the wall flew to; hidden again when the interrupt ends."""
    if not interrupt:
        return [], True
    lang = lang_holder.get("lang", "zh-CN")
    rt = current()
    try:
        item = lists.incident_detail(rt.engine, int(interrupt["id"]))
    except NotFound:
        return [], True
    when = item["reported_at"].astimezone(ZoneInfo(rt.pack.manifest.timezone)).strftime("%H:%M")
    return [
        html.Div([html.Span("P1", className="prio prio-P1"), html.Span(t("wall.new_p1", lang)),
                  html.Span(when, className="when")], className="wall-card-head"),
        html.Div(item["title"] or t("category." + item["category"], lang), className="wall-card-title"),
        html.Div(item["address"] or "", className="wall-card-address"),
        html.Div(t("category." + item["category"], lang), className="wall-card-category"),
    ], False


def is_kiosk() -> bool:
    who = context.actor()
    return bool(who and who.username.startswith("kiosk:"))


def _tile(label: str, value: str, unit: str = "", cls: str = "") -> html.Div:
    return html.Div(className=f"wall-tile {cls}".strip(), children=[
        html.Div(label, className="wall-tile-label"),
        html.Div([html.Span(value, className="wall-tile-value"), html.Span(unit, className="wall-tile-unit")]),
    ])


def _tiles(data: dict | None, lang: str) -> list:
    """Always the same tiles in the same places; '–' until the first figures arrive."""
    dash_ = "–"
    opened = (data or {}).get("open", {})
    tiles = [_tile(f"{t('wall.open', lang)} {p}", f"{opened[p]:,}" if data else dash_, cls=f"prio-tile prio-{p}")
             for p in ("P1", "P2", "P3", "P4")]
    rate = (data or {}).get("response_rate")
    median = (data or {}).get("response_median_min")
    tiles += [
        _tile(t("wall.new_today", lang), f"{data['new_today']:,}" if data else dash_),
        _tile(t("wall.overdue", lang), f"{data['overdue']:,}" if data else dash_, cls="overdue"),
        _tile(t("wall.response_rate", lang), f"{rate * 100:.1f}" if rate is not None else dash_, "%"),
        _tile(t("wall.response_median", lang), f"{median:.1f}" if median is not None else dash_,
              t("unit.minutes", lang)),
    ]
    free = (data or {}).get("free_units", {})
    units = html.Div(className="wall-tile wall-units", children=[
        html.Div(t("wall.free_units", lang), className="wall-tile-label"),
        html.Ul([html.Li([html.Span(t("unit_type." + k, lang)), html.Span(f"{n:,}", className="num")])
                 for k, n in free.items()] or [html.Li(t("wall.no_free_units", lang))]),
    ])
    return [*tiles, units]


def _trend_figure(data: dict | None, lang: str, tz: str = "Asia/Shanghai") -> go.Figure:
    hours = [h.astimezone(ZoneInfo(tz)).strftime("%H:00") for h in data["hours"]] if data else []
    fig = go.Figure([
        go.Bar(x=hours, y=data["this_week"] if data else [], name=t("wall.last_24h", lang), marker_color="#5ec8ff"),
        go.Scatter(x=hours, y=data["last_week"] if data else [], name=t("wall.week_before", lang),
                   mode="lines", line={"color": "#ffb020", "width": 3, "dash": "dot"}),
    ])
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      margin={"l": 40, "r": 10, "t": 10, "b": 30}, font={"size": 14},
                      legend={"orientation": "h", "y": 1.12}, uirevision="wall", bargap=0.15)
    return fig


def _busiest(rows: list[dict], lang: str) -> list:
    if not rows:
        return [html.Li(t("wall.no_open", lang), className="note")]
    top = rows[0]["open"]
    return [html.Li([html.Span(r["name_en"] if lang == "en" and r["name_en"] else r["name_zh"], className="name"),
                     html.Span(className="bar", style={"width": f"{100 * r['open'] / top:.0f}%"}),
                     html.Span(f"{r['open']:,}", className="num")]) for r in rows]


def _ticker(rows: list[dict], lang: str, tz: str, flags: list[dict] = ()) -> list:
    if not rows and not flags:
        return [html.Span(t("wall.no_urgent", lang), className="note")]
    items = [_anomaly_item(f, lang, tz) for f in flags]
    for r in rows:
        where = r["division_en"] if lang == "en" and r["division_en"] else r["division_zh"]
        when = r["reported_at"].astimezone(ZoneInfo(tz)).strftime("%H:%M")
        items.append(html.Span(className="ticker-item", children=[
            html.Span(r["priority"], className=f"prio prio-{r['priority']}"),
            html.Span(when, className="when"),
            html.Span(r["title"] or t("category." + r["category"], lang), className="title"),
            html.Span(where or "", className="where"),
        ]))
    return items


def _anomaly_item(flag: dict, lang: str, tz: str) -> html.Span:
    """A spike against the usual count of the hour (ioc.read.anomalies), ahead of the P1/P2 items."""
    return html.Span(className="ticker-item anomaly", children=[
        html.Span(t("anomaly.flag", lang), className="flag"),
        html.Span(anomalies.describe(flag, lang, tz), className="title"),
    ])


def _signal(alerts: list[dict], lang: str) -> list:
    if not alerts:
        return [html.Span(t("wall.no_signal", lang), className="signal-none")]
    worst = alerts[0]
    return [html.Span(className=f"signal-banner signal-bg-{worst['colour'] or 'none'}", children=[
        html.Span(worst["headline"], className="signal-headline"),
        *[html.Span(a["headline"], className="signal-more") for a in alerts[1:4]],
    ])]


def _feeds(rows: list[dict], lang: str) -> list:
    if not rows:
        return [html.Span(t("live.no_feeds", lang), className="note")]
    return [html.Span([html.Span(className=f"dot dot-{'down' if f['stale'] else f['status']}"), f["name"],
                       html.Span(t("wall.stale", lang), className="stale") if f["stale"] else None],
                      className="feed stale-feed" if f["stale"] else "feed") for f in rows]


def refresh_panels(version: dict | None, category: str | None, lang_holder: dict):
    """Redraw only the panels whose topics changed since the screen last looked; all of them when
    the rotation moves to another category (``wall-category``: the panels show only that one)."""
    if not version:
        return (dash.no_update,) * 6
    rt = current()
    lang = lang_holder.get("lang", "zh-CN")
    tz = rt.pack.manifest.timezone
    changed = set(version["changed"])
    now = datetime.now(timezone.utc)
    every = ctx.triggered_id == "wall-category"
    due = {name: every or bool(topics & changed) for name, topics in TOPICS.items()}
    draw = {
        "tiles": lambda: _tiles(wall.tiles(rt.engine, tz, now, category), lang),
        "trend": lambda: _trend_patch(wall.trend(rt.engine, now, category), tz),
        "busiest": lambda: _busiest(wall.busiest_divisions(rt.engine, category=category), lang),
        "ticker": lambda: _ticker(wall.newest_urgent(rt.engine, TICKER_SIZE, category), lang, tz,
                                  anomalies.current(rt.engine, tz, now)),
        "signal": lambda: _signal(wall.signal(rt.engine, now), lang),
        "feeds": lambda: _feeds(wall.feeds(rt.engine, rt.feeds, now), lang),
    }
    # Drawn once per version of the panel's topics for every wall of this process (layouts.shared),
    # the panels due all at once: their reads do not wait on each other.
    names = [name for name in TOPICS if due[name]]
    drawn = dict(zip(names, parallel.gather([
        lambda name=name: shared.once(f"wall-{name}", shared.versions_key(version["v"], TOPICS[name]),
                                      (category, lang), lambda: _frozen(draw[name]()))
        for name in names])))
    return tuple(drawn.get(name, dash.no_update) for name in TOPICS)


def _frozen(drawn):
    return drawn if isinstance(drawn, dash.Patch) else shared.Frozen(drawn).fragment


def _trend_patch(data: dict, tz: str) -> dash.Patch:
    """Only the two series change; the figure's layout stays where it is (no flicker)."""
    patch = dash.Patch()
    hours = [h.astimezone(ZoneInfo(tz)).strftime("%H:00") for h in data["hours"]]
    patch["data"][0]["x"] = hours
    patch["data"][0]["y"] = data["this_week"]
    patch["data"][1]["x"] = hours
    patch["data"][1]["y"] = data["last_week"]
    return patch


def register(app: dash.Dash) -> None:
    app.callback(
        Output("wall-tiles", "children"), Output("wall-trend", "figure"), Output("wall-busiest", "children"),
        Output("wall-ticker", "children"), Output("wall-signal", "children"), Output("wall-feeds", "children"),
        Input("live-version", "data"), Input("wall-category", "data"), State("division-layer", "hideout"),
    )(refresh_panels)
    app.callback(Output("wall-card", "children"), Output("wall-card", "hidden"),
                 Input("wall-interrupt", "data"), State("division-layer", "hideout"))(show_card)
    app.callback(Output("wall-views", "data"), Input("live-version", "data"), State("wall-views", "data"),
                 State("division-layer", "hideout"), prevent_initial_call=True)(refresh_views)
    app.callback(Output("wall-rates", "data"), Input("live-version", "data"), prevent_initial_call=True)(refresh_rates)
    # Rotation and new-P1 interrupts run in the browser (assets/ioc.js, ioc.wallRotate); a view
    # sets the map's category filter (live-filter), the panels' category and its layers.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="wallRotate"),
        Output("wall-view-name", "children"), Output("wall-interrupt", "data"), Output("wall-view", "data"),
        Output("live-filter", "data"), Output("wall-category", "data"),
        Input("wall-rotate", "n_intervals"), State("wall-views", "data"), State("wall-interrupt", "data"),
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="wallViewMode"),
        Output("wall-mode", "data", allow_duplicate=True), Output("event-area-layer", "data"),
        Input("wall-view", "data"), State("wall-mode", "data"), prevent_initial_call=True,
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="wallToggle"),
        Output("wall-mode", "data", allow_duplicate=True),
        Input("wall-per10k", "n_clicks"), Input("wall-density", "n_clicks"), State("wall-mode", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="wallShade"),
        Output("division-layer", "hideout", allow_duplicate=True), Output("wall-legend", "children"),
        Output("wall-legend", "hidden"),
        Input("wall-mode", "data"), Input("wall-rates", "data"), State("division-layer", "hideout"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="densityCells"),
        Output("density-layer", "data"), Input("incident-layer", "data"), Input("wall-mode", "data"),
        State("incident-layer", "hideout"),
    )
    # "Follow": fit the city again and let the wall move on its own; any pan or zoom by hand holds it.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="wallFollow"),
        Output("wall-follow", "className"), Input("wall-follow", "n_clicks"), State("city-bounds", "data"),
        prevent_initial_call=True,
    )
