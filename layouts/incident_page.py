"""One incident: where it is, what happened (timeline), its linked reports, work orders, units,
the clock of every step, and the actions the signed-in role allows.

Each button calls the one service function for its action with the version the page showed;
a stale version comes back as "changed by someone else — reloaded" and the page redraws the
incident while the action inputs (kept outside the redrawn part) keep what was typed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, State, ctx, dcc, html

from ioc.chain import dispatch, reclassify, sla, workflow, workorders
from ioc.chain.actions import PERMISSIONS, Actor
from ioc.errors import ActionRefused, NotFound, UserError
from ioc.i18n import t
from ioc.read import citymap, incident_view
from ioc.records import CATEGORIES
from layouts import chips, context
from layouts.context import current

log = logging.getLogger(__name__)

REFRESH_MS = 15_000
# action: (permission, incident statuses it starts from, what the input fields must give)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "verify": ("incident.acknowledge", workflow.MOVES["verify"].sources),
    "acknowledge": ("incident.acknowledge", workflow.MOVES["acknowledge"].sources),
    "dispatch": ("unit.dispatch", dispatch.OPEN_INCIDENT),
    "on_scene": ("incident.on_scene", workflow.MOVES["on_scene"].sources),
    "handover": ("work_order.create", workorders.TAKES_ORDERS),
    "supervise": ("incident.supervise", sla.OPEN_INCIDENT),
    "merge": ("incident.merge", workflow.OPEN),
    "resolve": ("incident.resolve", workflow.MOVES["resolve"].sources),
    "close": ("incident.close", workflow.MOVES["close"].sources),
    "cancel": ("incident.cancel", workflow.MOVES["cancel"].sources),
    "reopen": ("incident.resolve", workflow.MOVES["reopen"].sources),
    "note": ("incident.note", ()),  # any status
    "reclassify": ("incident.reclassify", workflow.OPEN),
    "satisfaction": ("incident.satisfaction", ("closed",)),
}
ORDER_ACTIONS = {  # work-order action: statuses it starts from
    "order_verify": ("done",), "order_send_back": ("done",), "order_withdraw": workorders.OPEN,
    "order_approve": ("extended",), "order_refuse": ("extended",),
}


def may(actor: Actor | None, permission: str) -> bool:
    return actor is not None and actor.role in PERMISSIONS[permission]


def shown(action: str, status: str, actor: Actor | None) -> bool:
    permission, sources = ACTIONS[action]
    return may(actor, permission) and (not sources or status in sources)


def layout(incident_id: str = "", lang: str = "zh-CN", **_query: str) -> html.Div:
    rt = current()
    try:
        detail = incident_view.view(rt.engine, int(incident_id), pack=rt.pack) if incident_id.isdigit() else None
    except NotFound:
        detail = None
    if detail is None:
        return html.Div(className="empty-state", children=[
            html.P(t("duty.not_found", lang, id=incident_id)), dcc.Link(t("duty.to_board", lang), href="/board")])
    actor = context.actor()
    return html.Div(className="incident-page", children=[
        dcc.Store(id="inc-id", data=detail["id"]),
        dcc.Store(id="inc-version", data=detail["version"]),
        dcc.Interval(id="inc-tick", interval=REFRESH_MS),
        html.Div(className="incident-main", children=[
            html.Div(id="inc-message", className="inc-message"),
            html.Div(id="inc-body", children=body(detail, lang, actor)),
        ]),
        html.Aside(className="side incident-actions", children=action_panel(detail, lang, actor)),
    ])


# --- the redrawn part -------------------------------------------------------------------------


def body(d: dict[str, Any], lang: str, actor: Actor | None) -> list:
    zh, en = d["division_names"]
    facts = [
        (t("inc.status", lang), chips.status(d["status"], lang)),
        (t("inc.priority", lang), chips.priority(d["priority"])),
        (t("inc.category", lang), chips.category(d["category"], lang)),
        (t("inc.channel", lang), d["channel"]),
        (t("inc.reported", lang), chips.when(d["reported_at"])),
        (t("inc.address", lang), d["address"] or "—"),
        (t("inc.division", lang), (en if lang == "en" and en else zh) or d["district_code"] or "—"),
        (t("inc.org", lang), d["org_code"] or "—"),
    ]
    return [
        html.H1([html.Span(t("inc.title", lang, id=d["id"])), " ", html.Span(d["title"], className="inc-title")]),
        html.Div(className="inc-top", children=[
            html.Table(className="facts", children=html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in facts])),
            _small_map(d, lang),
        ]),
        html.P(d["description"], className="inc-description") if d["description"] else None,
        _triage(d, lang, actor),
        html.H2(t("inc.clocks", lang)),
        html.Div(className="clocks", children=[_clock(c, lang) for c in d["clocks"]]),
        _supervisions(d["supervisions"], lang),
        html.H2(t("inc.assignments", lang)),
        _assignments(d["assignments"], lang, actor),
        html.H2(t("inc.work_orders", lang)),
        _orders(d["work_orders"], lang, actor),
        html.H2(t("inc.linked", lang)),
        _linked(d["linked_reports"], lang, actor),
        html.H2(t("inc.timeline", lang)),
        html.Ol(className="timeline", children=[_event(e, lang) for e in reversed(d["timeline"])]),
    ]


def _triage(d: dict[str, Any], lang: str, actor: Actor | None):
    """What the citizen's words suggest (智能分拨), why, and the one click that takes it."""
    s = d.get("triage")
    if not s:
        return None
    zh, en = s["division_names"]
    what = [(en if lang == "en" and en else zh) or "—", t(f"category.{s['category']}", lang)]
    accept = may(actor, "incident.reclassify") and d["status"] in workflow.OPEN
    return html.Div(className="inc-triage", id="inc-triage", children=[
        html.Strong(t("inc.triage", lang)), " ",
        html.Span(" · ".join(what), className="triage-what"),
        html.Span(t("inc.triage_owner", lang, org=s["org"]), className="triage-owner") if s["org"] else None,
        html.Div(s["reason"][lang], className="triage-reason"),
        _row_button("triage_accept", d["id"], d["version"], lang) if accept else None,
    ])


def _small_map(d: dict[str, Any], lang: str):
    """The place among the division outlines (drawn from the pack, so readable without tiles)."""
    if d["lon"] is None or d["lat"] is None:
        return html.Div(t("inc.no_place", lang), className="small-map empty-map")
    rt = current()
    crs = rt.settings.web.tile_crs
    outlines = citymap.district_features(rt.engine)
    if crs != "wgs84":
        outlines = citymap.for_display(outlines, crs)
    [(lon, lat)] = chips.on_tiles([(d["lon"], d["lat"])])
    layers = [dl.TileLayer(url=rt.settings.web.tile_url, attribution=rt.settings.web.tile_attribution)] \
        if rt.settings.web.tile_url else []
    layers += [dl.GeoJSON(data=outlines, style={"color": "#5ec8ff", "weight": 1, "fillOpacity": 0.06}),
               dl.Circle(center=[lat, lon], radius=300, color="#ffd54f", weight=1, fillOpacity=0.08),
               dl.CircleMarker(center=[lat, lon], radius=8, color="#0b1220", weight=2, fillColor="#ff3b3b",
                               fillOpacity=1, children=dl.Tooltip(d["address"] or d["title"]))]
    return dl.Map(center=[lat, lon], zoom=12, children=layers, className="small-map",
                  attributionControl=bool(rt.settings.web.tile_url))


def _clock(c: dict[str, Any], lang: str) -> html.Div:
    chip = chips.sla_chip({**c, "due": c["due"]}, lang) if c["due"] else \
        html.Span(t("duty.sla.none", lang), className="sla-chip sla-none")
    detail = [html.Span(f"{t('inc.due', lang)} {chips.when(c['due'])}", className="clock-due")]
    if c["met_at"]:
        detail.append(html.Span(f"{t('inc.met_at', lang)} {chips.when(c['met_at'])}", className="clock-met"))
    return html.Div(className="clock", children=[chip, *detail])


def _supervisions(rows: list[dict[str, Any]], lang: str):
    if not rows:
        return None
    return html.Div(className="supervisions", children=[
        html.H3(t("inc.supervisions", lang)),
        html.Ul([html.Li([html.Span(chips.when(s["issued_at"]), className="ev-at"), " ",
                          html.Span(t("duty.clock." + s["clock"], lang)), " → ", s["org_code"] or "—", " · ",
                          html.Span(s["note"])]) for s in rows]),
    ])


def _row_button(action: str, key: int, version: int, lang: str) -> html.Button:
    return html.Button(t(f"inc.act.{action}", lang), id={"type": "inc-row", "action": action, "key": key,
                                                        "ver": version}, className="btn btn-small", n_clicks=0)


def _assignments(rows: list[dict[str, Any]], lang: str, actor: Actor | None):
    if not rows:
        return html.P(t("inc.no_assignments", lang), className="note")
    acts = may(actor, "unit.status")
    return html.Table(className="grid-table", children=html.Tbody([
        html.Tr([html.Td(a["call_sign"]), html.Td(a["unit_type"]), html.Td(a["status"]),
                 html.Td(chips.when(a["dispatched_at"])),
                 html.Td([_row_button(s, a["id"], a["version"], lang) for s in dispatch.NEXT_STATUS.get(a["status"], ())]
                         if acts else None)])
        for a in rows]))


def _orders(rows: list[dict[str, Any]], lang: str, actor: Actor | None):
    if not rows:
        return html.P(t("inc.no_orders", lang), className="note")
    acts = may(actor, "work_order.verify")
    items = []
    for o in rows:
        buttons = [_row_button(a, o["id"], o["version"], lang) for a, sources in ORDER_ACTIONS.items()
                   if acts and o["status"] in sources]
        items.append(html.Div(className="order", children=[
            html.Div([html.Strong(f"#{o['id']} {o['org_code']}"), " ", html.Span(o["status"], className="status"),
                      *[chips.sla_chip(c, lang) for c in o["clocks"] if c["state"] not in ("met", "none")][:1]]),
            html.P(o["feedback"], className="order-feedback") if o["feedback"] else None,
            html.Div(buttons, className="row-actions") if buttons else None,
        ]))
    return html.Div(items, className="orders")


def _linked(rows: list[dict[str, Any]], lang: str, actor: Actor | None):
    if not rows:
        return html.P(t("inc.no_linked", lang), className="note")
    acts = may(actor, "incident.split")
    return html.Table(className="grid-table", children=html.Tbody([
        html.Tr([html.Td(dcc.Link(f"#{r['id']}", href=f"/incident/{r['id']}")), html.Td(r["channel"]),
                 html.Td(r["title"]), html.Td(chips.when(r["reported_at"])),
                 html.Td(_row_button("split", r["id"], r["version"], lang) if acts else None)])
        for r in rows]))


def _event(e: dict[str, Any], lang: str) -> html.Li:
    kind = t(f"duty.event.{e['kind']}", lang)
    if kind.startswith("duty.event."):
        kind = t("duty.event.work_order", lang) + " · " + e["kind"].removeprefix("work_order_") \
            if e["kind"].startswith("work_order_") else e["kind"]
    data = e["data"] or {}
    said = "; ".join(f"{k}: {v}" for k, v in data.items() if v not in (None, "", [], {}))
    return html.Li(className="event", children=[
        html.Span(chips.when(e["at"]), className="ev-at"), html.Span(e["actor"], className="ev-actor"),
        html.Span(kind, className="ev-kind"), html.Span(said, className="ev-data")])


# --- the actions (kept across redraws) ---------------------------------------------------------


def _field(name: str, label: str, control) -> html.Label:
    return html.Label([label, control], className="field-label", htmlFor=name)


def action_panel(d: dict[str, Any], lang: str, actor: Actor | None) -> list:
    if actor is None or not any(may(actor, p) for p, _ in ACTIONS.values()):
        return [html.H3(t("inc.actions", lang)),
                html.P(t("inc.view_only" if actor else "duty.sign_in_to_act", lang), className="note")]
    buttons = []
    for a, (permission, _) in ACTIONS.items():
        if not may(actor, permission):
            continue
        ident, label, hidden = {"type": "inc-act", "action": a}, t(f"inc.act.{a}", lang), not shown(a, d["status"], actor)
        if a == "dispatch":  # the console is where units are chosen
            buttons.append(html.A(label, href=f"/dispatch?incident={d['id']}", id=ident, n_clicks=0,
                                  className="btn btn-primary", hidden=hidden))
        else:
            buttons.append(html.Button(label, id=ident, n_clicks=0, className="btn", hidden=hidden))

    def field(name: str):
        return {"type": "inc-field", "name": name}

    fields = [
        _field("note", t("inc.note_label", lang), dcc.Textarea(id=field("note"), className="field")),
        _field("reason", t("inc.reason_label", lang), dcc.Input(id=field("reason"), className="field")),
    ]
    if may(actor, "work_order.create"):
        orgs = incident_view.order_orgs(current().engine)
        fields += [
            _field("orgs", t("inc.orgs_label", lang), dcc.Dropdown(
                id=field("orgs"), multi=True, options=[{"value": o["code"], "label": (
                    o["name_en"] if lang == "en" and o["name_en"] else o["name_zh"])} for o in orgs])),
            _field("due", t("inc.due_label", lang), dcc.Input(id=field("due"), className="field")),
        ]
    if may(actor, "incident.reclassify"):
        fields += [
            _field("division", t("inc.division_label", lang), dcc.Dropdown(id=field("division"), options=[
                {"value": o["code"], "label": o["name_en"] if lang == "en" and o["name_en"] else o["name_zh"]}
                for o in incident_view.division_options(current().engine)])),
            _field("category", t("inc.category_label", lang), dcc.Dropdown(id=field("category"), options=[
                {"value": c, "label": t(f"category.{c}", lang)} for c in CATEGORIES])),
        ]
    if may(actor, "incident.merge"):
        fields.append(_field("merge", t("inc.merge_label", lang), dcc.Input(id=field("merge"), className="field")))
    if may(actor, "incident.satisfaction"):
        fields.append(_field("satisfaction", t("inc.satisfaction_label", lang), dcc.Dropdown(
            id=field("satisfaction"), options=[{"value": v, "label": t(f"inc.sat.{v}", lang)}
                                               for v in workflow.SATISFACTION])))
    return [html.H3(t("inc.actions", lang)), html.Div(buttons, className="action-buttons"), *fields]


def _due(raw: str | None, lang: str) -> datetime | None:
    if not raw or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("/", "-"))
    except ValueError:
        raise ActionRefused(t("inc.bad_due", lang)) from None
    return value if value.tzinfo else value.replace(tzinfo=current().pack.timezone)


def _merge_into(raw: str | None, lang: str) -> int:
    raw = (raw or "").strip().lstrip("#")
    if not raw.isdigit():
        raise ActionRefused(t("inc.bad_merge", lang))
    return int(raw)


def _call(action: str, actor: Actor, iid: int, version: int, form: dict[str, Any], lang: str) -> Any:
    """The one service function of ``action``."""
    e, pack = current().engine, current().pack
    calls: dict[str, Callable[[], Any]] = {
        "verify": lambda: workflow.verify(e, actor, iid, version),
        "acknowledge": lambda: workflow.acknowledge(e, actor, iid, version),
        "on_scene": lambda: workflow.mark_on_scene(e, actor, iid, version),
        "handover": lambda: workorders.create(e, actor, iid, form["orgs"] or [], _due(form["due"], lang),
                                              form["note"] or "", pack=pack, seen_version=version),
        "supervise": lambda: sla.supervise(e, actor, iid, form["note"] or "", pack=pack),
        "merge": lambda: workflow.merge(e, actor, iid, _merge_into(form["merge"], lang), version, None),
        "resolve": lambda: workflow.resolve(e, actor, iid, version, note=form["note"] or ""),
        "close": lambda: workflow.close(e, actor, iid, version, note=form["note"] or ""),
        "cancel": lambda: workflow.cancel(e, actor, iid, version, form["reason"] or ""),
        "reopen": lambda: workflow.reopen(e, actor, iid, version, form["reason"] or ""),
        "note": lambda: workflow.add_note(e, actor, iid, form["note"] or ""),
        "reclassify": lambda: _reclassify(actor, iid, version, form, lang),
        "satisfaction": lambda: workflow.record_satisfaction(e, actor, iid, version, form["satisfaction"] or ""),
    }
    return calls[action]()


def _reclassify(actor: Actor, iid: int, version: int, form: dict[str, Any], lang: str) -> Any:
    if not form["division"] and not form["category"]:
        raise ActionRefused(t("inc.reclassify_pick", lang))
    return reclassify.reclassify(current().engine, actor, iid, version, current().pack, form["division"] or None,
                                 form["category"] or None)


def _call_row(action: str, actor: Actor, key: int, version: int, form: dict[str, Any]) -> Any:
    e = current().engine
    reason = form["reason"] or ""
    calls: dict[str, Callable[[], Any]] = {
        "split": lambda: workflow.split(e, actor, key, version),
        "triage_accept": lambda: reclassify.accept_suggestion(e, actor, key, version, current().pack),
        "order_verify": lambda: workorders.verify_and_close(e, actor, key, version, form["note"] or ""),
        "order_send_back": lambda: workorders.send_back(e, actor, key, version, reason),
        "order_withdraw": lambda: workorders.withdraw(e, actor, key, version, reason),
        "order_approve": lambda: workorders.approve_extension(e, actor, key, version),
        "order_refuse": lambda: workorders.refuse_extension(e, actor, key, version, reason),
    }
    if action in dispatch.STAMP:
        return dispatch.update_assignment_status(e, actor, key, action, seen_version=version)
    return calls[action]()


def act(_acts, _rows, _tick, iid, version, values, lang):
    """Run the clicked action (or refresh on the timer) and redraw the incident."""
    trigger = chips.clicked() or ("inc-tick" if ctx.triggered_id == "inc-tick" else None)
    if trigger is None or (isinstance(trigger, dict) and trigger["action"] == "dispatch"):
        return (dash.no_update,) * 4  # a button appeared in a redraw (nobody clicked), or a link was followed
    rt, actor = current(), context.actor()
    message = dash.no_update
    if trigger != "inc-tick":
        form = dict.fromkeys(("note", "reason", "orgs", "due", "merge", "satisfaction", "division", "category"))
        form |= {state["id"]["name"]: value for state, value in zip(ctx.states_list[2], values, strict=True)}
        action = trigger["action"]
        try:
            if actor is None:
                raise ActionRefused(t("duty.sign_in_to_act", lang))
            if trigger["type"] == "inc-row":
                _call_row(action, actor, trigger["key"], trigger["ver"], form)
            else:
                _call(action, actor, iid, version, form, lang)
            message = chips.outcome(None, lang, t(f"inc.act.{action}", lang))
        except UserError as exc:
            log.info("incident %s: %s refused: %s", iid, action, exc)
            message = chips.outcome(exc, lang)
    try:
        detail = incident_view.view(rt.engine, iid, pack=rt.pack)
    except NotFound:
        return message, dash.no_update, dash.no_update, dash.no_update
    if trigger == "inc-tick" and detail["version"] == version:
        hidden = [dash.no_update] * len(ctx.outputs_list[3])  # a wildcard output wants one per button
    else:
        hidden = [not shown(o["id"]["action"], detail["status"], actor) for o in ctx.outputs_list[3]]
    return message, body(detail, lang, actor), detail["version"], hidden


def register(app: dash.Dash) -> None:
    app.callback(
        Output("inc-message", "children"), Output("inc-body", "children"), Output("inc-version", "data"),
        Output({"type": "inc-act", "action": ALL}, "hidden"),
        Input({"type": "inc-act", "action": ALL}, "n_clicks"),
        Input({"type": "inc-row", "action": ALL, "key": ALL, "ver": ALL}, "n_clicks"),
        Input("inc-tick", "n_intervals"),
        State("inc-id", "data"), State("inc-version", "data"),
        State({"type": "inc-field", "name": ALL}, "value"), State("lang", "data"),
        prevent_initial_call=True,
    )(act)
