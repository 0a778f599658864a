"""The leaders' summary: the rates of a period against another, by town, kind, channel and org.

City → division → grid cell → the incidents on the board. Opens on yesterday with 解决率, so
yesterday's resolution rate by town is one click from anywhere (the navigation link).
The query string picks the start: ``/summary?preset=last7&compare=last_year&division=CODE``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import dash
import dash_leaflet as dl
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, dcc, html

from ioc.errors import UserError
from ioc.i18n import t
from ioc.read import anomalies, briefing, citymap, parallel, summary
from layouts import chips
from layouts.context import current

MIN_SAMPLE = 10
GROUPS = ("category", "channel", "org")


def layout(lang: str = "zh-CN", preset: str = "yesterday", first: str | None = None, last: str | None = None,
           compare: str = "previous", metric: str = "resolution_rate", division: str | None = None,
           **_query: str) -> html.Div:
    rt = current()
    try:
        period = summary.period_for(preset, rt.pack.timezone, datetime.now(rt.pack.timezone), first, last)
    except UserError:
        preset, period = "yesterday", summary.period_for("yesterday", rt.pack.timezone, datetime.now(rt.pack.timezone))
    compare = compare if compare in ("previous", "last_year") else "previous"
    metric = metric if metric in summary.RATE_METRICS else "resolution_rate"
    return html.Div(className="summary-page", children=[
        html.Div(className="summary-controls", children=[
            dcc.RadioItems(id="summary-preset", className="presets", inline=True, value=preset, options=[
                {"label": t(f"summary.preset.{p}", lang), "value": p} for p in (*summary.PRESETS, "custom")]),
            dcc.DatePickerRange(id="summary-range", start_date=period.first, end_date=period.last,
                                display_format="YYYY-MM-DD", first_day_of_week=1, minimum_nights=0,
                                className="summary-range"),
            html.Label([t("summary.compare", lang), dcc.RadioItems(
                id="summary-compare", inline=True, value=compare, className="compare",
                options=[{"label": t(f"summary.compare.{c}", lang), "value": c} for c in ("previous", "last_year")])]),
            html.Label(className="metric", children=[t("summary.metric", lang), dcc.Dropdown(
                id="summary-metric", value=metric, clearable=False, searchable=False,
                options=[{"label": t(f"kpi.{m}", lang), "value": m} for m in summary.RATE_METRICS])]),
        ]),
        dcc.Store(id="summary-division", data=division),
        dcc.Store(id="summary-lang", data=lang),
        html.Div(id="summary-message", className="summary-message", role="alert"),
        html.Nav(id="summary-crumbs", className="crumbs"),
        dcc.Loading(html.Div(id="summary-body", className="summary-body"), type="dot"),
    ])


def register(app: dash.Dash) -> None:
    app.callback(
        Output("summary-preset", "value"), Output("summary-range", "start_date"), Output("summary-range", "end_date"),
        Input("summary-preset", "value"), Input("summary-range", "start_date"), Input("summary-range", "end_date"),
        prevent_initial_call=True,
    )(sync_period)
    app.callback(
        Output("summary-division", "data"),
        Input({"type": "summary-map", "level": ALL}, "clickData"),
        Input({"type": "summary-drill", "code": ALL}, "n_clicks"),
        Input({"type": "summary-up", "level": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(drill)
    app.callback(
        Output("summary-body", "children"), Output("summary-crumbs", "children"), Output("summary-message", "children"),
        Input("summary-range", "start_date"), Input("summary-range", "end_date"), Input("summary-compare", "value"),
        Input("summary-metric", "value"), Input("summary-division", "data"), State("summary-lang", "data"),
    )(render)


def sync_period(preset: str, start: str | None, end: str | None):
    """A preset fills in its dates; picking dates by hand makes the period custom."""
    rt = current()
    if ctx.triggered_id == "summary-preset" and preset != "custom":
        p = summary.period_for(preset, rt.pack.timezone, datetime.now(rt.pack.timezone))
        return dash.no_update, p.first.isoformat(), p.last.isoformat()
    if ctx.triggered_id == "summary-range":
        for name in summary.PRESETS:
            p = summary.period_for(name, rt.pack.timezone, datetime.now(rt.pack.timezone))
            if (p.first.isoformat(), p.last.isoformat()) == (str(start)[:10], str(end)[:10]):
                return name, dash.no_update, dash.no_update
        return "custom", dash.no_update, dash.no_update
    return dash.no_update, dash.no_update, dash.no_update


def drill(features: list, down: list, up: list):
    """A click on a division (map or table) goes down to it; the city crumb goes back up.

    Pattern ids (``ALL``), because the map and the buttons exist only at some levels."""
    kind = (ctx.triggered_id or {}).get("type")
    if kind == "summary-map":
        feature = next((f for f in features if f), None)
        return (feature or {}).get("properties", {}).get("code") or dash.no_update
    if kind == "summary-drill" and any(down):
        return ctx.triggered_id["code"]
    if kind == "summary-up" and any(up):
        return None
    return dash.no_update


def render(start: str | None, end: str | None, compare: str, metric: str, division: str | None, lang: str):
    rt = current()
    try:
        period = summary.period_for("custom", rt.pack.timezone, datetime.now(rt.pack.timezone),
                                    str(start)[:10] if start else None, str(end)[:10] if end else None)
    except UserError as exc:
        return dash.no_update, dash.no_update, chips.reason(exc, lang)
    engine = rt.engine
    division_names = summary.names(engine, "division")
    if division and division not in division_names:
        division = None
    # The sections read independently: at once, the page takes about its slowest read.
    figures, where, *tables, late, heat, places, spikes, briefings = parallel.gather([
        lambda: summary.headline(engine, period, compare, division),
        lambda: _where(engine, period, metric, division, division_names, lang),
        *[lambda by=by: _group_table(engine, period, by, metric, division, lang) for by in GROUPS],
        lambda: _lateness(engine, period, division, lang),
        lambda: _heat(engine, period, division, lang),
        lambda: _recurring(engine, period, division, division_names, lang),
        lambda: anomaly_panel(engine, period, division, lang),
        lambda: _briefings(rt, period, lang),
    ])
    body = [
        html.Div(className="kpi-row", children=[_kpi_tile(f, lang) for f in figures]),
        html.P(t("summary.compared_with", lang, first=period.compared(compare).first,
                 last=period.compared(compare).last), className="note"),
        where,
        html.Div(className="summary-grid", children=[*tables, late]),
        html.Div(className="summary-grid two", children=[heat, places]),
        spikes,
        briefings,
    ]
    return body, _crumbs(period, division, division_names, lang), ""


# --- pieces --------------------------------------------------------------------------------------


def _name(names: dict[str, tuple[str, str]], code: Any, lang: str) -> str:
    if code is None:
        return t("summary.unknown", lang)
    zh_en = names.get(code)
    return (zh_en[1] if lang == "en" else zh_en[0]) if zh_en else str(code)


def _label(by: str, value: Any, names: dict[str, tuple[str, str]], lang: str) -> str:
    if by == "category" and value:
        return t(f"cat.{value}", lang)
    if by == "channel" and value:
        return t(f"chan.{value}", lang)
    return _name(names, value, lang)


def _kpi_tile(f: summary.Figure, lang: str) -> html.Div:
    value, unit = summary.display(f.kind, f.value, lang)
    better = None
    if f.change:
        better = (f.change < 0) if f.kind == "seconds" else (f.change > 0 if f.kind == "rate" else None)
    trend = "same" if better is None else ("up" if better else "down")
    sample = t("summary.sample", lang, hits=f"{f.hits:,}", total=f"{f.total:,}") if f.kind == "rate" else ""
    return html.Div(className="tile kpi", id=f"kpi-{f.name}", children=[
        html.Div(t(f"kpi.{f.name}", lang), className="tile-label"),
        html.Div([html.Span(value, className="tile-value"), html.Span(unit, className="tile-unit")]),
        html.Div(summary.display_change(f.kind, f.change, lang), className=f"kpi-change {trend}"),
        html.Div(sample, className="kpi-sample"),
    ])


def _where(engine, period: summary.Period, metric: str, division: str | None,
           division_names: dict, lang: str) -> html.Div:
    if division:
        return _grid_cells(engine, period, metric, division, lang)
    rows = summary.by_group(engine, period, "division", metric, MIN_SAMPLE)
    values = {r.group: r.value for r in rows if r.rank is not None}
    outlines = citymap.district_features(engine)
    choropleth = dl.Map(id="summary-map-box", className="summary-map", zoomSnap=0.25, attributionControl=False,
                        **_view(current().pack.manifest.bbox), children=[dl.GeoJSON(
                            id={"type": "summary-map", "level": "city"}, data=outlines,
                            style={"variable": "ioc.summary.choropleth"},
                            onEachFeature={"variable": "ioc.summary.tooltip"},
                            hideout={"values": values, "lang": lang, "metric": t(f"kpi.{metric}", lang)})])
    ranked = [r for r in rows if r.rank is not None]
    unranked = [r for r in rows if r.rank is None]
    head = html.Tr([html.Th(t("summary.rank", lang)), html.Th(t("summary.division", lang)),
                    html.Th(t(f"kpi.{metric}", lang)), html.Th(t("summary.cases", lang)),
                    html.Th(t("kpi.volume", lang))])
    body = [html.Tr(className="drill-row", children=[
        html.Td(f"{r.rank}"),
        html.Td(html.Button(_name(division_names, r.group, lang), id={"type": "summary-drill", "code": r.group},
                            className="link-button", n_clicks=0)),
        html.Td(summary.display("rate", r.value, lang)[0] + " %"), html.Td(f"{r.sample:,}"), html.Td(f"{r.incidents:,}"),
    ]) for r in ranked]
    if ranked:
        shown = html.Table(className="rank-table", id="division-table", children=[html.Thead(head), html.Tbody(body)])
    elif not any(r.sample for r in rows):
        shown = html.P(t(f"summary.no_cases.{metric}", lang), className="empty-note", id="division-empty")
    else:
        shown = html.P(t("summary.nothing_ranked", lang, n=MIN_SAMPLE), className="empty-note", id="division-empty")
    table = [html.H3(t("summary.by_division", lang, metric=t(f"kpi.{metric}", lang))), shown]
    if unranked:
        table.append(html.P(t("summary.unranked", lang, n=MIN_SAMPLE, count=len(unranked),
                              names="、".join(_name(division_names, r.group, lang) for r in unranked[:8])
                              + ("…" if len(unranked) > 8 else "")), className="note"))
    return html.Div(className="summary-where", children=[choropleth, html.Div(table, className="rank-side")])


def _view(bbox: tuple[float, float, float, float], width_px: int = 640, height_px: int = 420) -> dict:
    """Centre and zoom that fit the city into the map box, set once: the map is redrawn on every
    change of period or language, and a fit-to-bounds animation cut short by that fails in Leaflet."""
    west, south, east, north = bbox
    lat = math.radians((south + north) / 2)
    zoom_x = math.log2(width_px * 360 / (256 * (east - west)))
    zoom_y = math.log2(height_px * 360 / (256 * (north - south) / math.cos(lat)))
    return {"center": [(south + north) / 2, (west + east) / 2], "zoom": math.floor(min(zoom_x, zoom_y) * 4) / 4}


def _grid_cells(engine, period: summary.Period, metric: str, division: str, lang: str) -> html.Div:
    rows = summary.by_group(engine, period, "grid", metric, MIN_SAMPLE, division=division)[:30]
    head = html.Tr([html.Th(t("summary.grid", lang)), html.Th(t("kpi.volume", lang)),
                    html.Th(t(f"kpi.{metric}", lang)), html.Th("")])
    body = [html.Tr([
        html.Td(r.group or t("summary.unknown", lang)), html.Td(f"{r.incidents:,}"),
        html.Td(summary.display("rate", r.value, lang)[0] + (" %" if r.value is not None else "")),
        html.Td(html.A(t("summary.open_board", lang), href=summary.board_link(period, division, r.group))
                if r.group else ""),
    ]) for r in sorted(rows, key=lambda r: -r.incidents)]
    return html.Div(className="summary-cells", children=[
        html.H3(t("summary.by_grid", lang)),
        html.Table(className="rank-table", id="grid-table", children=[html.Thead(head), html.Tbody(body)])
        if body else html.P(t("summary.no_incidents", lang), className="empty-note"),
    ])


def _group_table(engine, period: summary.Period, by: str, metric: str, division: str | None,
                 lang: str) -> html.Div:
    names = summary.names(engine, by)
    rows = sorted(summary.by_group(engine, period, by, metric, MIN_SAMPLE, division=division),
                  key=lambda r: (-r.incidents, str(r.group)))[:10]
    body = [html.Tr([html.Td(_label(by, r.group, names, lang)), html.Td(f"{r.incidents:,}"),
                     html.Td(summary.display("rate", r.value, lang)[0] + (" %" if r.value is not None else ""),
                             className="muted" if r.rank is None else "")]) for r in rows]
    return html.Div(className="panel", id=f"by-{by}", children=[
        html.H3(t(f"summary.by_{by}", lang)),
        html.Table(className="rank-table", children=[
            html.Thead(html.Tr([html.Th(""), html.Th(t("kpi.volume", lang)), html.Th(t(f"kpi.{metric}", lang))])),
            html.Tbody(body)]) if body else html.P(t("summary.no_incidents", lang), className="empty-note"),
    ])


def _lateness(engine, period: summary.Period, division: str | None, lang: str) -> html.Div:
    late = summary.lateness(engine, period, division)
    items = [(t("summary.response_missed", lang), late.response_missed),
             (t("summary.closure_missed", lang), late.closure_missed),
             (t("summary.supervisions", lang), late.supervision_total),
             (t("summary.supervisions_open", lang), late.supervisions_open)]
    clocks = [html.Li(f"{t('clock.' + c, lang)}: {n:,}") for c, n in late.supervisions.items()]
    return html.Div(className="panel", id="lateness", children=[
        html.H3(t("summary.lateness", lang)),
        html.Div(className="tiles", children=[html.Div(className="tile", children=[
            html.Div(label, className="tile-label"),
            html.Div([html.Span(f"{n:,}", className="tile-value"), html.Span(t("unit.items", lang),
                                                                              className="tile-unit")])])
            for label, n in items]),
        html.Ul(clocks, className="clocks") if clocks else None,
    ])


def _heat(engine, period: summary.Period, division: str | None, lang: str) -> html.Div:
    days, grid = summary.heat_grid(engine, period, division)
    fig = go.Figure(go.Heatmap(z=grid, x=[f"{h:02d}" for h in range(24)], y=[d.isoformat() for d in days],
                               colorscale="YlOrRd", hovertemplate="%{y} %{x}:00 · %{z}<extra></extra>",
                               colorbar={"title": {"text": t("unit.incidents", lang)}}))
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      margin={"l": 80, "r": 10, "t": 10, "b": 30}, height=max(180, 40 + 18 * len(days)),
                      yaxis={"autorange": "reversed", "type": "category"},
                      xaxis={"title": {"text": t("summary.hour", lang)}})
    return html.Div(className="panel", id="heat", children=[
        html.H3(t("summary.heat", lang, zone=str(period.tz))),
        dcc.Graph(figure=fig, config={"displayModeBar": False}, id="heat-graph"),
    ])


def _recurring(engine, period: summary.Period, division: str | None, division_names: dict,
               lang: str) -> html.Div:
    places = summary.recurring_places(engine, period, division)
    body = [html.Tr([
        html.Td(t(f"summary.place.{p.kind}", lang)), html.Td(p.key), html.Td(_name(division_names, p.division, lang)),
        html.Td(f"{p.incidents:,}"),
        html.Td(html.A(t("summary.open_board", lang), href=summary.board_link(
            period, p.division, grid=p.key if p.kind == "grid" else None,
            address=p.key if p.kind == "address" else None))),
    ]) for p in places]
    return html.Div(className="panel", id="recurring", children=[
        html.H3(t("summary.recurring", lang)),
        html.Table(className="rank-table", children=[html.Tbody(body)]) if body
        else html.P(t("summary.no_recurring", lang), className="empty-note"),
    ])


def anomaly_panel(engine, period: summary.Period, division: str | None, lang: str) -> html.Div:
    """The period's spikes against the same hour of the four weeks before (ioc.read.anomalies)."""
    tz = str(period.tz)
    flags = anomalies.flags(engine, period.frm, period.to, division)
    return html.Div(className="panel", id="anomalies", children=[
        html.H3(t("summary.anomalies", lang)),
        html.Ul([html.Li(anomalies.describe(f, lang, tz)) for f in flags], className="anomaly-list") if flags
        else html.P(t("summary.no_anomalies", lang), className="empty-note"),
    ])


def _briefings(rt, period: summary.Period, lang: str) -> html.Div:
    day = period.last
    past = briefing.archived(briefing.archive_dir(rt.settings))[:14]
    listed = [html.Li([html.Span(d.isoformat()),
                       html.A("PDF", href=briefing.url(d, "pdf", lang), className="briefing-link"),
                       html.A("PNG", href=briefing.url(d, "png", lang), className="briefing-link")]) for d in past]
    return html.Div(className="panel briefings", id="briefings", children=[
        html.H3(t("summary.briefing", lang)),
        html.P([t("summary.briefing_of", lang, day=day.isoformat()),
                html.A("PDF", id="briefing-pdf", href=briefing.url(day, "pdf", lang), className="briefing-link"),
                html.A("PNG", id="briefing-png", href=briefing.url(day, "png", lang), className="briefing-link")]),
        html.H4(t("summary.past_briefings", lang)),
        html.Ul(listed, className="past-briefings") if listed
        else html.P(t("summary.no_briefings", lang), className="empty-note"),
    ])


def _crumbs(period: summary.Period, division: str | None, names: dict, lang: str) -> list:
    city = html.Button(t("summary.city", lang), id={"type": "summary-up", "level": "city"}, className="link-button",
                       n_clicks=0)
    if not division:
        return [html.Span(t("summary.city", lang), className="crumb-here")]
    return [city, html.Span("›", className="crumb-sep"),
            html.Span(_name(names, division, lang), className="crumb-here"),
            html.A(t("summary.open_board_all", lang), href=summary.board_link(period, division),
                   className="crumb-board")]
