"""City replay (/replay): a past day of incidents, units and warnings on the city map.

The day is read once (``ioc.read.replay``) and sent to the browser as compact rows; the slider,
play / pause, speed and the arrow keys run there (``assets/replay.js``), with no round trip to
the server until another day is picked. For duty officers and leaders, e.g. after a typhoon night.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dash
import dash_leaflet as dl
from dash import Input, Output, State, ctx, dcc, html

from ioc.i18n import t
from ioc.read import replay
from ioc.records import UNIT_STATUSES
from layouts import context, map_page

ROLES = ("duty_officer", "leader", "admin")
SPEEDS = (1, 5, 15, 60)
TICK_MS = 250
MARK_EVERY_H = 3
SHOWN = ("new", "acknowledged", "dispatched", "on_scene")
UNIT_SHOWN = ("DISPATCHED", "EN_ROUTE", "ON_SCENE")


def allowed() -> bool:
    who = context.actor()
    return who is not None and who.role in ROLES


def layout(lang: str = "zh-CN", day: str | None = None, at: str | None = None, **_query: str) -> html.Div:
    """``?day=2026-07-01`` opens that city day, ``&at=21:30`` at that moment (a link to share)."""
    if not allowed():
        return html.Div(className="empty-state", children=t("replay.not_for_you", lang))
    rt = context.current()
    districts, points = map_page.outlines_and_points(rt)
    if not districts["features"]:
        return html.Div(className="empty-state", children=t("map.empty", lang))
    picked = _parse_day(day)
    data, label = load_day(picked)
    today = datetime.now(rt.pack.timezone).date()
    return html.Div(className="replay-page", children=[
        html.Div(className="replay-bar", children=[
            html.H2(t("replay.title", lang)),
            html.Label(className="replay-day", children=[
                html.Span(t("replay.day", lang)),
                dcc.DatePickerSingle(id="replay-date", date=picked.isoformat() if picked else None,
                                     max_date_allowed=today.isoformat(), display_format="YYYY-MM-DD",
                                     first_day_of_week=1, placeholder=t("replay.last_24h", lang),
                                     clearable=False),
            ]),
            html.Button(t("replay.last_24h", lang), id="replay-last24", n_clicks=0, className="btn"),
            html.Span(_label(label, lang), id="replay-window", className="replay-window"),
        ]),
        html.Div(className="replay-main", children=[
            html.Div(className="map-wrap replay-map-wrap", children=[
                map_page.city_map(rt, "replay-map", districts, points, lang, _overlays(rt, lang),
                                  prefer_canvas=False, division_id="replay-divisions"),
                html.Div(t("replay.empty", lang), id="replay-empty", className="replay-empty",
                         hidden=replay.has_anything(data)),
            ]),
            html.Aside(className="side replay-side", children=_side(lang)),
        ]),
        html.Div(className="replay-controls", children=[
            html.Button(t("replay.play", lang), id="replay-play", n_clicks=0, className="btn replay-play"),
            dcc.RadioItems(id="replay-speed", value=SPEEDS[-1], inline=True, className="replay-speed",
                           options=[{"label": f"{s}×", "value": s} for s in SPEEDS]),
            html.Div(className="replay-track", children=[
                html.Div(id="replay-activity", className="replay-activity", title=t("replay.activity", lang)),
                dcc.Slider(id="replay-slider", min=0, max=_length(data), step=1, value=_moment(data, at, rt.pack.timezone),
                           marks=_marks(data, rt.pack.timezone), updatemode="drag", included=True,
                           allow_direct_input=False),
            ]),
            html.Span(t("replay.keys", lang), className="replay-keys"),
        ]),
        dcc.Store(id="replay-data", data=data),
        dcc.Store(id="replay-bounds", data=map_page.city_bounds(rt)),
        dcc.Store(id="replay-city", data={"timezone": rt.pack.manifest.timezone, "lang": lang,
                                          "play": t("replay.play", lang), "pause": t("replay.pause", lang),
                                          "unitCodes": list(UNIT_STATUSES)}),
        dcc.Interval(id="replay-tick", interval=TICK_MS, disabled=True),
    ])


def _overlays(rt, lang: str) -> list:
    hideout = {**map_page.incident_hideout(rt, lang), "states": [t(f"duty.status.{s}", lang) for s in replay.STATES],
               "units": {s: t(f"replay.unit.{s}", lang) for s in UNIT_SHOWN}}
    return [
        dl.Overlay(dl.GeoJSON(id="replay-alerts", data=map_page.EMPTY, style={"variable": "ioc.map.alertStyle"},
                              onEachFeature={"variable": "ioc.map.alertTooltip"}),
                   name=t("map.alert_areas", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id="replay-incidents", data=map_page.EMPTY, cluster=True, zoomToBoundsOnClick=True,
                              superClusterOptions={"radius": 40, "maxZoom": 13},
                              pointToLayer={"variable": "ioc.replay.incident"},
                              clusterToLayer={"variable": "ioc.map.cluster"},
                              onEachFeature={"variable": "ioc.replay.incidentTooltip"}, hideout=hideout),
                   name=t("map.incidents", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id="replay-units", data=map_page.EMPTY, pointToLayer={"variable": "ioc.replay.unit"},
                              onEachFeature={"variable": "ioc.replay.unitTooltip"}, hideout=hideout),
                   name=t("map.units", lang), checked=True),
    ]


def _side(lang: str) -> list:
    priorities = html.Div(className="priorities", children=[
        html.Span([html.Span(p, className=f"prio prio-{p}"), html.Span("0", id=f"replay-count-{p}", className="num")])
        for p in ("P1", "P2", "P3", "P4")])
    legend = [html.Li([html.Span(className=f"replay-swatch state-{s}"), html.Span(t(f"replay.state.{s}", lang))])
              for s in SHOWN]
    return [
        html.Div("—", id="replay-clock", className="replay-clock"),
        html.Div(className="tiles", children=[
            _tile(t("replay.open", lang), "replay-count-open"),
            _tile(t("replay.units_out", lang), "replay-count-units"),
            _tile(t("replay.warnings", lang), "replay-count-alerts"),
            _tile(t("replay.reported", lang), "replay-count-reported"),
        ]),
        priorities,
        html.Ul(id="replay-warnings", className="alerts"),
        html.H3(t("replay.legend", lang)),
        html.Ul(legend, className="legend"),
        html.P(t("replay.units_note", lang), className="note"),
    ]


def _tile(label: str, value_id: str) -> html.Div:
    return html.Div(className="tile", children=[
        html.Div(label, className="tile-label"),
        html.Div(html.Span("0", id=value_id, className="tile-value")),
    ])


# --- the day ----------------------------------------------------------------------------------


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None  # a bad ?day= link shows the last 24 hours rather than an error page


def load_day(day: date | None) -> tuple[dict, tuple]:
    """The replay data of a city day, or of the last 24 hours (to the minute) when none is picked."""
    rt = context.current()
    tz = rt.pack.timezone
    if day is not None:
        start, end = replay.day_window(day, tz)
        label = ("day", day.isoformat(), rt.pack.manifest.timezone)
    else:
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        start = end - timedelta(hours=24)
        label = ("last_24h", start.astimezone(tz).strftime("%m-%d %H:%M"), end.astimezone(tz).strftime("%m-%d %H:%M"))
    return replay.replay(rt.engine, start, end, map_page.origin(rt), rt.settings.web.tile_crs), label


def _label(label: tuple, lang: str) -> str:
    if label[0] == "day":
        return t("replay.showing_day", lang, day=label[1], tz=label[2])
    return t("replay.showing_last_24h", lang, start=label[1], end=label[2])


def _moment(data: dict, at: str | None, tz) -> int:
    """Seconds into the window of the first ``HH:MM`` (city time) in it; its start when none is given."""
    try:
        hh, mm = (int(v) for v in (at or "").split(":"))
        wanted = datetime.fromtimestamp(data["start"], tz).replace(hour=hh, minute=mm, second=0)
    except ValueError:
        return 0
    offset = int(wanted.timestamp()) - data["start"]
    return offset if offset >= 0 else offset + 86400


def _length(data: dict) -> int:
    return data["end"] - data["start"]


def _marks(data: dict, tz) -> dict:
    """Every third hour of city time along the slider."""
    start = datetime.fromtimestamp(data["start"], tz)
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(hours=1)
    while first.hour % MARK_EVERY_H:
        first += timedelta(hours=1)
    marks, at = {}, first
    while at.timestamp() <= data["end"]:
        marks[int(at.timestamp() - data["start"])] = at.strftime("%H:%M")
        at += timedelta(hours=MARK_EVERY_H)
    return marks


def pick_day(day: str | None, _last24: int, lang: str, shown: dict | None):
    """Another day (or back to the last 24 hours): new data, slider and labels, the slider at its start.
    The picker saying again the day already shown (it does as it mounts) changes nothing."""
    if not allowed():
        raise dash.exceptions.PreventUpdate
    last24 = ctx.triggered_id == "replay-last24"
    picked = None if last24 else _parse_day(day)
    if not last24 and (picked is None or (shown and _is_shown(picked, shown))):
        raise dash.exceptions.PreventUpdate
    data, label = load_day(picked)
    tz = context.current().pack.timezone
    return (data, _length(data), _marks(data, tz), 0, _label(label, lang), replay.has_anything(data),
            None if last24 else dash.no_update, True, t("replay.play", lang), "btn replay-play")


def _is_shown(day: date, shown: dict) -> bool:
    start, end = replay.day_window(day, context.current().pack.timezone)
    return (int(start.timestamp()), int(end.timestamp())) == (shown["start"], shown["end"])


def register(app: dash.Dash) -> None:
    app.callback(
        Output("replay-data", "data"), Output("replay-slider", "max"), Output("replay-slider", "marks"),
        Output("replay-slider", "value"), Output("replay-window", "children"), Output("replay-empty", "hidden"),
        Output("replay-date", "date"), Output("replay-tick", "disabled"), Output("replay-play", "children"),
        Output("replay-play", "className"),
        Input("replay-date", "date"), Input("replay-last24", "n_clicks"), State("lang", "data"),
        State("replay-data", "data"), prevent_initial_call=True,
    )(pick_day)
    app.clientside_callback("function (bounds) { return {bounds: bounds, transition: 'fitBounds'}; }",
                            Output("replay-map", "viewport"), Input("replay-bounds", "data"))
    # Everything below runs in the browser (assets/replay.js): no server round trip while playing.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="replay", function_name="render"),
        Output("replay-incidents", "data"), Output("replay-units", "data"), Output("replay-alerts", "data"),
        Output("replay-clock", "children"), Output("replay-count-open", "children"),
        Output("replay-count-P1", "children"), Output("replay-count-P2", "children"),
        Output("replay-count-P3", "children"), Output("replay-count-P4", "children"),
        Output("replay-count-units", "children"), Output("replay-count-alerts", "children"),
        Output("replay-count-reported", "children"), Output("replay-warnings", "children"),
        Input("replay-slider", "value"), Input("replay-data", "data"), State("replay-city", "data"),
    )
    playing = (Output("replay-tick", "disabled", allow_duplicate=True),
               Output("replay-play", "children", allow_duplicate=True),
               Output("replay-play", "className", allow_duplicate=True),
               Output("replay-slider", "value", allow_duplicate=True))
    app.clientside_callback(
        dash.ClientsideFunction(namespace="replay", function_name="toggle"), *playing,
        Input("replay-play", "n_clicks"), State("replay-tick", "disabled"), State("replay-slider", "value"),
        State("replay-slider", "max"), State("replay-city", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="replay", function_name="tick"), *playing,
        Input("replay-tick", "n_intervals"), State("replay-slider", "value"), State("replay-slider", "max"),
        State("replay-speed", "value"), State("replay-city", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="replay", function_name="activity"),
        Output("replay-activity", "children"), Input("replay-data", "data"),
    )
