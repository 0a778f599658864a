"""The navigation frame around every page: title, page links, language switch and clock."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from ioc.i18n import LANGUAGES, t
from layouts import context

# Pages listed in the navigation, in order: (registry path, message key[, the roles it is listed for]).
NAV: list[tuple] = [
    ("/", "nav.map"),
    ("/wall", "nav.wall"),
    ("/board", "nav.board"),
    ("/dispatch", "nav.dispatch"),
    ("/summary", "nav.summary"),
    ("/orders", "nav.orders"),
    ("/events", "nav.events"),
    ("/replay", "nav.replay", ("duty_officer", "leader", "admin")),
    ("/feeds", "nav.feeds"),
]


def layout(default_lang: str, city: dict[str, str]) -> html.Div:
    """``city`` holds the names (``zh-CN``, ``en``) and the ``timezone`` the clock shows."""
    return html.Div(
        className="frame",
        children=[
            dcc.Store(id="lang", storage_type="local", data=default_lang),
            dcc.Store(id="city", data=city),
            dcc.Location(id="url", refresh=False),
            html.Header(
                className="topbar",
                children=[
                    html.Div(id="brand", className="brand"),
                    html.Nav(id="nav", className="nav"),
                    html.Div(className="topbar-right", children=[
                        html.Span(id="clock", className="clock"),
                        html.Span(id="account", className="account"),
                        html.Button(id="lang-switch", className="lang-switch", n_clicks=0),
                    ]),
                ],
            ),
            html.Main(dash.page_container, className="page"),
            dcc.Interval(id="clock-tick", interval=1000),
        ],
    )


def render_frame(lang: str, pathname: str | None, city: dict[str, str]):
    """Brand, page links, the signed-in user (or a sign-in link) and the language switch."""
    brand = [html.Span(city.get(lang) or city["zh-CN"], className="brand-city"),
             html.Span(t("app.title", lang), className="brand-title")]
    who = context.actor()
    links = [
        dcc.Link(t(key, lang), href=path, className="nav-link active" if pathname == path else "nav-link")
        for path, key, *roles in NAV if not roles or (who is not None and who.role in roles[0])
    ]
    if who is None:
        account = html.A(t("frame.sign_in", lang), href="/login", className="account-link")
    elif who.username.startswith("kiosk:"):
        account = html.Span(who.username.removeprefix("kiosk:"), className="account-name")
    else:
        account = [html.Span(who.username, className="account-name"),
                   html.A(t("frame.sign_out", lang), href="/logout", className="account-link")]
    return brand, links, account, t("lang.switch", lang)


def switch_language(_clicks: int, lang: str) -> str:
    return LANGUAGES[1] if lang == LANGUAGES[0] else LANGUAGES[0]


def register(app: dash.Dash) -> None:
    """Wire the frame's callbacks to ``app`` (per app, so every app built in a process has them)."""
    app.callback(
        Output("brand", "children"), Output("nav", "children"), Output("account", "children"),
        Output("lang-switch", "children"),
        Input("lang", "data"), Input("url", "pathname"), State("city", "data"),
    )(render_frame)
    app.callback(
        Output("lang", "data"), Input("lang-switch", "n_clicks"), State("lang", "data"),
        prevent_initial_call=True,
    )(switch_language)
    # The clock needs no server: it runs in the browser (assets/ioc.js) in the city's timezone.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="ioc", function_name="clock"),
        Output("clock", "children"), Input("clock-tick", "n_intervals"),
        State("lang", "data"), State("city", "data"),
    )
