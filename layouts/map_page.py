"""The city map: division outlines and key-point layers from the store.

Readable with no tile server at all: outlines and labels are always drawn from the pack, and
the tile layer appears only when a tile URL is configured.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import dash
import orjson
import dash_leaflet as dl
from dash.exceptions import PreventUpdate
from dash import Input, Output, State, dcc, html

from ioc.i18n import t
from ioc.read import citymap
from ioc.records import CATEGORIES
from layouts import shared
from layouts.context import current

# Layer order and colours; the first few start switched on.
KIND_STYLE: dict[str, str] = {
    "police_station": "#4f8dff",
    "fire_station": "#ff5a4f",
    "ems_station": "#ffffff",
    "hospital": "#3ddc97",
    "shelter": "#b48cff",
    "flood_point": "#29c4ff",
    "water_gauge": "#00e0d0",
    "urban_station": "#ffb020",
    "rescue_base": "#ff8a3d",
    "camera": "#8a94a6",
}
SHOWN_AT_START = {"flood_point"}
LIVE_REFRESH_MS = 10_000
EMPTY = {"type": "FeatureCollection", "features": []}


def layout(lang: str = "zh-CN", **_query: str) -> html.Div:
    rt = current()
    districts, points = outlines_and_points(rt)
    if not districts["features"]:
        return html.Div(className="empty-state", children=t("map.empty", lang))
    return html.Div(className="map-page", children=[
        html.Div(className="map-wrap", children=live_map(rt, districts, points, lang)),
        html.Aside(className="side", children=_side_panel(rt, points, lang)),
        *live_stores(rt),
    ])


def outlines_and_points(rt) -> tuple[dict, dict[str, dict]]:
    """Division outlines and key points, in the tiles' datum."""
    districts = citymap.district_features(rt.engine)
    points = citymap.key_point_features(rt.engine)
    crs = rt.settings.web.tile_crs
    if crs != "wgs84":
        districts = citymap.for_display(districts, crs)
        points = {kind: citymap.for_display(fc, crs) for kind, fc in points.items()}
    return districts, points


def live_stores(rt) -> list:
    """What the live layers refresh through: the counters seen, the last delta, the tick.

    The page comes with the whole incident layer (citymap.live_layer, kept per process), so the
    browser builds it while the map mounts instead of asking for it after; the first refresh
    (``layout`` in the counters seen) brings the rest and the incidents written since.
    """
    now = datetime.now(timezone.utc)
    versions = citymap.live_versions(rt.engine)
    layer = citymap.live_layer(rt.engine, origin(rt), _sources(rt), rt.settings.web.tile_crs, now)
    return [
        dcc.Store(id="live-version", data={"v": versions, "at": now.isoformat(), "changed": [], "layout": True}),
        # The rows as JSON text: Dash encodes a layout through a walk of every list (half a second
        # for 50,000 rows), a string at once; the browser parses it (ioc.map.mergeRows).
        dcc.Store(id="live-delta", data={"rows": orjson.dumps(layer["rows"]).decode(), "gone": [], "reset": True}),
        dcc.Store(id="live-units"),
        dcc.Store(id="live-filter"),  # {category | categories: index(es) in CATEGORIES} or none: all
        dcc.Store(id="city-bounds", data=city_bounds(rt)),
        dcc.Interval(id="live-tick", interval=LIVE_REFRESH_MS),
    ]


def live_map(rt, districts: dict, points: dict[str, dict], lang: str, extra: list | None = None,
             layers: list | None = None) -> dl.Map:
    """The city map with its live layers; ``extra`` overlays go after the live ones, ``layers``
    (the wall's, switched by its own buttons) above the outlines and under the live layers."""
    live = [
        dl.Overlay(dl.GeoJSON(id="alert-layer", data=EMPTY, style={"variable": "ioc.map.alertStyle"},
                              onEachFeature={"variable": "ioc.map.alertTooltip"}),
                   name=t("map.alert_areas", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id="incident-layer", data=EMPTY, cluster=True, zoomToBoundsOnClick=True,
                              superClusterOptions={"radius": 60, "maxZoom": 14},
                              pointToLayer={"variable": "ioc.map.incident"},
                              clusterToLayer={"variable": "ioc.map.cluster"},
                              onEachFeature={"variable": "ioc.map.incidentTooltip"},
                              hideout=incident_hideout(rt, lang)),
                   name=t("map.incidents", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id="unit-layer", data=EMPTY, pointToLayer={"variable": "ioc.map.unit"},
                              onEachFeature={"variable": "ioc.map.unitTooltip"}, hideout={"lang": lang}),
                   name=t("map.units", lang), checked=True),
        *(extra or []),
    ]
    return city_map(rt, "city-map", districts, points, lang, live, layers=layers)


def city_map(rt, map_id: str, districts: dict, points: dict[str, dict], lang: str, overlays: list,
             prefer_canvas: bool = True, division_id: str = "division-layer", layers: list | None = None) -> dl.Map:
    """Tiles (when configured), division outlines, ``layers`` (always shown), ``overlays`` and the
    key-point layers, fitted to the city; the live map and the replay draw their own layers on it."""
    web = rt.settings.web
    children = []
    if web.tile_url:
        children.append(dl.TileLayer(url=web.tile_url, attribution=web.tile_attribution))
    children.append(dl.GeoJSON(
        id=division_id,
        data=districts,
        style={"variable": "ioc.map.divisionStyle"},
        onEachFeature={"variable": "ioc.map.divisionLabel"},
        hideout={"lang": lang, "selected": None},
        zoomToBounds=False,
    ))
    children += layers or []
    overlays = overlays + [
        dl.Overlay(
            dl.GeoJSON(data=points[kind], pointToLayer={"variable": "ioc.map.keyPoint"},
                       onEachFeature={"variable": "ioc.map.keyPointTooltip"},
                       hideout={"color": KIND_STYLE[kind], "lang": lang}),
            name=f"{t('kind.' + kind, lang)} ({len(points[kind]['features'])})",
            checked=kind in SHOWN_AT_START,
        )
        for kind in KIND_STYLE if kind in points
    ]
    children.append(dl.LayersControl(overlays, position="topright", collapsed=False))
    children.append(dl.ScaleControl(position="bottomleft", imperial=False))
    view = rt.pack.manifest.map
    return dl.Map(
        id=map_id, center=[view.center[1], view.center[0]], zoom=view.zoom,
        preferCanvas=prefer_canvas, zoomSnap=0.25,
        children=children, className="city-map", attributionControl=bool(web.tile_url),
    )


def incident_hideout(rt, lang: str) -> dict:
    """What the browser needs to turn compact rows into markers (see citymap.incident_rows)."""
    west, south, *_ = rt.pack.manifest.bbox
    return {"lang": lang, "origin": [west, south], "scale": citymap.SCALE, "sources": _sources(rt),
            "categories": [t("category." + c, lang) for c in CATEGORIES], "stale": []}


def _sources(rt) -> list[str]:
    return [f.name for f in rt.feeds]


def origin(rt) -> tuple[float, float]:
    west, south, *_ = rt.pack.manifest.bbox
    return west, south


def city_bounds(rt) -> list[list[float]]:
    west, south, east, north = rt.pack.manifest.bbox
    return [[south, west], [north, east]]


def _side_panel(rt, points: dict[str, dict], lang: str) -> list:
    totals = citymap.city_totals(rt.engine)
    manifest = rt.pack.manifest
    note_key = "map.boundaries_imported" if manifest.boundaries == "imported" else "map.boundaries_approximate"
    notes = [html.P(t(note_key, lang), className="note")]
    if not rt.settings.web.tile_url:
        notes.append(html.P(t("map.no_tiles", lang), className="note"))
    legend = [
        html.Li([html.Span(className="swatch", style={"background": KIND_STYLE[kind]}),
                 html.Span(t("kind." + kind, lang)),
                 html.Span(f"{len(points[kind]['features'])}", className="num")])
        for kind in KIND_STYLE if kind in points
    ]
    return [
        html.H2(manifest.name_en if lang == "en" else manifest.name_zh),
        html.Div(id="live-panel", className="live-panel"),
        html.Div(className="tiles", children=[
            _tile(t("map.division_count", lang), f"{totals['divisions']}"),
            _tile(t("map.population", lang), f"{totals['population'] / 10_000:,.1f}",
                  "万人" if lang == "zh-CN" else "×10k people"),
        ]),
        html.Div(id="division-info", className="division-info", children=t("map.pick_division", lang)),
        html.H3(t("map.layers", lang)),
        html.Ul(legend, className="legend"),
        *notes,
    ]


def _tile(label: str, value: str, unit: str = "") -> html.Div:
    return html.Div(className="tile", children=[
        html.Div(label, className="tile-label"),
        html.Div([html.Span(value, className="tile-value"), html.Span(unit, className="tile-unit")]),
    ])


def register_live(app: dash.Dash) -> None:
    """The live layers' refresh, for every page that shows ``live_map`` with ``live_stores``."""
    app.callback(
        Output("live-delta", "data"), Output("live-units", "data"), Output("alert-layer", "data"),
        Output("incident-layer", "hideout"), Output("live-version", "data"),
        Input("live-tick", "n_intervals"), State("live-version", "data"), State("incident-layer", "hideout"),
    )(refresh_live)
    # The browser builds the features from compact rows (assets/ioc.js).
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="mergeRows"),
        Output("incident-layer", "data"), Input("live-delta", "data"), Input("live-filter", "data"),
        State("incident-layer", "hideout"),
    )
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="unitFeatures"),
        Output("unit-layer", "data"), Input("live-units", "data"), State("incident-layer", "hideout"),
    )


def register(app: dash.Dash) -> None:
    # Once drawn, fit the whole city to whatever screen this is (a wall or a laptop).
    app.clientside_callback("function (bounds) { return {bounds: bounds, transition: 'fitBounds'}; }",
                            Output("city-map", "viewport"), Input("city-bounds", "data"))
    register_live(app)
    app.callback(Output("live-panel", "children"), Input("live-version", "data"),
                 State("division-layer", "hideout"))(show_live_panel)
    app.callback(
        Output("division-info", "children"), Output("division-layer", "hideout"),
        Input("division-layer", "clickData"), State("division-layer", "hideout"),
        prevent_initial_call=True,
    )(show_division)


def show_division(feature: dict | None, hideout: dict):
    if not feature:
        return dash.no_update, dash.no_update
    lang = hideout.get("lang", "zh-CN")
    code = feature.get("properties", {}).get("code")
    info = citymap.division_summary(current().engine, code) if code else None
    if info is None:
        return t("map.pick_division", lang), dash.no_update
    return _division_card(info, lang), {**hideout, "selected": code}


def _division_card(info: dict, lang: str) -> list:
    name = info["name_en"] if lang == "en" and info["name_en"] else info["name_zh"]
    rows = [
        (t("map.code", lang), info["code"]),
        (t("map.division", lang), t("division." + info["kind"], lang)),
    ]
    if info["population"] is not None:
        rows.append((t("map.population", lang), f"{info['population']:,} {t('unit.people', lang)}"))
    if info["area_km2"] is not None:
        rows.append((t("map.area", lang), f"{info['area_km2']:,.1f} {t('unit.km2', lang)}"))
    points = [html.Li(f"{t('kind.' + kind, lang)}: {n}") for kind, n in info["key_points"].items()]
    return [
        html.H3(name, className="division-name"),
        html.Table(html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])),
        html.H4(t("map.points_here", lang)) if points else None,
        html.Ul(points, className="points-here") if points else None,
    ]


def refresh_live(_tick: int | None, seen: dict | None, hideout: dict):
    """Send nothing when the change counters are the ones seen; else only what changed.

    Incidents: the rows written since the last look (less an overlap for transactions that were
    still open then), and the ids that left the map; the browser merges them (ioc.map.mergeRows).
    Units and warning areas (a few hundred at most) come whole, and only when they changed.
    Each piece is read once per counter version for every screen of this process (layouts.shared):
    the look back starts at a SINCE_STEP boundary so screens that last looked at about the same
    time share it (a few rows more, which the browser merges as the same rows).
    """
    rt = current()
    versions = citymap.live_versions(rt.engine)
    first = not seen or seen.get("layout")  # the page brought only the incident layer: all the rest is due
    if seen and versions == seen["v"] and not first:
        raise PreventUpdate  # an empty answer (204), not five no_updates in a 200
    changed = list(versions) if first else [k for k, n in versions.items() if seen["v"].get(k) != n]
    crs = rt.settings.web.tile_crs
    delta = units = alerts = style = dash.no_update
    now = datetime.now(timezone.utc)
    # A piece may be a reading up to FRESH_S old: the screen is told the counter it was read at
    # (``read``), so it asks again when that is not the latest.
    read = dict(versions)

    def piece(topic: str, params, compute):
        got = shared.once(f"live-{topic}", versions[topic], params, compute, shared.FRESH_S)
        if seen and got[0] < seen["v"].get(topic, -1):  # older than what this screen holds
            got = shared.once(f"live-{topic}", versions[topic], params, compute)
        read[topic] = got[0]
        return got[1:]

    page_layer_current = bool(seen) and seen.get("layout") and versions.get("incident") == seen["v"].get("incident")
    if "incident" in changed and not page_layer_current:
        since = _since(seen)
        now, delta = piece("incident", since, lambda: _incident_delta(rt, crs, since, versions["incident"]))
    if "unit" in changed:
        units, = piece("unit", (), lambda: (
            versions["unit"], shared.Frozen(citymap.unit_rows(rt.engine, origin(rt), crs)).fragment))
    if "alert" in changed:
        alerts, = piece("alert", (), lambda: (versions["alert"], shared.Frozen(_alerts(rt, crs)).fragment))
    if "feed" in changed:
        stale, = piece("feed", (), lambda: (versions["feed"], citymap.stale_sources(rt.engine, rt.feeds)))
    else:
        stale = hideout.get("stale", [])
    if stale != hideout.get("stale"):
        style = {**hideout, "stale": stale}
    return delta, units, alerts, style, {"v": read, "at": now.isoformat(), "changed": changed}


SINCE_STEP = 10  # seconds


def _since(seen: dict | None) -> datetime | None:
    if not seen:
        return None
    at = (datetime.fromisoformat(seen["at"]) - citymap.WRITE_OVERLAP).timestamp()
    return datetime.fromtimestamp(at - at % SINCE_STEP, timezone.utc)


def _incident_delta(rt, crs: str, since: datetime | None, counter: int) -> tuple[int, datetime, Any]:
    """The rows written since ``since``, with the counter and the time they were read at: the
    screen's next look starts from then."""
    now = datetime.now(timezone.utc)
    if since is None:  # the whole layer, from this process's kept copy
        rows = citymap.live_layer(rt.engine, origin(rt), _sources(rt), crs, now)
    else:
        rows = citymap.incident_rows(rt.engine, origin(rt), _sources(rt), crs, since, now)
    return counter, now, shared.Frozen({**rows, "reset": since is None}).fragment


def _alerts(rt, crs: str) -> dict:
    alerts = citymap.alert_area_features(rt.engine, datetime.now(timezone.utc))
    return citymap.for_display(alerts, crs) if crs != "wgs84" else alerts


def show_live_panel(version: dict | None, hideout: dict):
    if not version or not {"incident", "alert", "feed"} & set(version["changed"]):
        return dash.no_update
    lang = hideout.get("lang", "zh-CN")
    counters = shared.versions_key(version["v"], ("incident", "alert", "feed"))
    return shared.once("live-panel", counters, lang,
                       lambda: shared.Frozen(_live_panel(citymap.live_summary(current().engine), lang))).fragment


def _live_panel(summary: dict, lang: str) -> list:
    open_total = sum(summary["open"].values())
    priorities = html.Div(className="priorities", children=[
        html.Span([html.Span(p, className=f"prio prio-{p}"), html.Span(f"{n:,}", className="num")])
        for p, n in summary["open"].items()
    ])
    alerts = [html.Li([html.Span(className=f"signal signal-{a['colour'] or 'none'}"),
                       html.Span(a["headline"] or a["event"])], className="alert-item")
              for a in summary["alerts"][:6]]
    feeds = [html.Span([html.Span(className=f"dot dot-{f['status']}"), f["name"]], className="feed",
                       title=t(f"feed.{f['status']}", lang))
             for f in summary["feeds"]]
    return [
        html.Div(className="tiles", children=[
            _tile(t("live.open", lang), f"{open_total:,}"),
            _tile(t("live.last_24h", lang), f"{summary['last_24h']:,}"),
        ]),
        priorities,
        html.H3(t("live.alerts", lang)),
        html.Ul(alerts, className="alerts") if alerts else html.P(t("live.no_alerts", lang), className="note"),
        html.H3(t("live.feeds", lang)),
        html.Div(feeds, className="feeds") if feeds else html.P(t("live.no_feeds", lang), className="note"),
    ]
