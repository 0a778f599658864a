"""Nobody let in who should not be: sign-in throttling (also behind a reverse proxy), cross-site
writes, cookies, secrets in logs, SQL metacharacters, every route behind a sign-in, and every
write as every role — through the service, the API and a forged Dash callback of every page
that writes.

One app for the module (the small city, one account per role, one signed-in session each); the
tests that need other settings build their own.
"""

from __future__ import annotations

import itertools
import threading
import json
import re
import logging
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from datetime import timedelta

import dash
import pytest
import requests
from dash._utils import split_callback_id
from werkzeug.serving import make_server

from ioc.chain import dispatch, feedcontrol, major_events, reclassify, saved_views, sla, workflow, workorders
from ioc.chain.accounts import add_user, create_kiosk_link, create_token
from ioc.chain.actions import PERMISSIONS, ROLES, Actor
from ioc.errors import Forbidden
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from tests.conftest import free_port, unavailable
from tests.factories import T0, add_incident, load
from tests.layouts.pages import PASSWORD, small_city
from tests.web.test_api import incident

NAMES = {"viewer": "wall1", "operator": "op1", "duty_officer": "zhang", "leader": "chen", "handler": "hand1",
         "admin": "admin1"}
_addresses = itertools.count(1)


def address() -> dict:
    """A fresh client address, so one test's failed sign-ins never throttle another's."""
    n = next(_addresses)
    return {"REMOTE_ADDR": f"10.{secrets.randbelow(200)}.{n // 250}.{n % 250 + 1}"}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    runtime, build = small_city(tmp_path_factory.mktemp("security"), mp)
    add_user(runtime.engine, "wall1", "viewer", PASSWORD)
    add_user(runtime.engine, "op1", "operator", PASSWORD)
    ctx = FeedContext.for_feed("police", "test", "wgs84", runtime.pack)
    ingest_batch(runtime.engine, ctx, [incident(f"i{n}", n, address=f"南城路{n}号") for n in range(6)],
                 lambda item: [IncidentRecord(**json.loads(item.payload))])
    app = build()
    app.runtime, app.build = runtime, build
    yield app
    mp.undo()


def signed_in(app, role: str):
    client = app.server.test_client()
    r = client.post("/login", data={"username": NAMES[role], "password": PASSWORD}, environ_base=address())
    assert r.status_code == 302, NAMES[role]
    return client


def fail_sign_in(client, username: str, environ: dict):
    return client.post("/login", data={"username": username, "password": "wrong-pass"}, environ_base=environ)


# --- sign-in throttling -------------------------------------------------------------------------


def test_failed_sign_ins_are_throttled_per_address(city):
    client, here = city.server.test_client(), address()
    limit = int(city.runtime.settings.web.sign_in_limit.split()[0])
    for n in range(limit):  # a different (unknown) name each time: the account limit never applies
        assert "用户名或密码不正确" in fail_sign_in(client, f"guess{n}", here).get_data(as_text=True)
    refused = client.post("/login", data={"username": "zhang", "password": PASSWORD}, environ_base=here)
    assert refused.status_code == 429 and "此地址登录失败次数过多" in refused.get_data(as_text=True)
    elsewhere = client.post("/login", data={"username": "zhang", "password": PASSWORD}, environ_base=address())
    assert elsewhere.status_code == 302
    ok_here = address()  # sign-ins that work do not count
    for _ in range(limit + 2):
        assert client.post("/login", data={"username": "chen", "password": PASSWORD},
                           environ_base=ok_here).status_code == 302


def test_failed_sign_ins_are_throttled_per_account_from_any_address(city):
    client = city.server.test_client()
    add_user(city.runtime.engine, "target1", "operator", PASSWORD)
    for _ in range(5):
        fail_sign_in(client, "target1", address())
    r = client.post("/login", data={"username": "target1", "password": PASSWORD}, environ_base=address())
    assert r.status_code == 200 and "登录失败次数过多，请15分钟后再试" in r.get_data(as_text=True)


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_address_counters_are_shared_through_redis_and_kept_in_memory_when_it_is_down(city):
    web = city.runtime.settings.web
    url = "redis://127.0.0.1:6379/0"
    if not _redis_up(url):
        unavailable(f"Redis at {url} is unreachable")
    old = web.rate_limit_storage, web.sign_in_limit
    try:
        web.rate_limit_storage, web.sign_in_limit = url, "3 per 15 minutes"
        one, two = city.build().server.test_client(), city.build().server.test_client()  # two web workers
        here = address()
        for client, n in ((one, 0), (two, 1), (one, 2)):
            fail_sign_in(client, f"nobody{n}", here)
        assert two.post("/login", data={"username": "zhang", "password": PASSWORD},
                        environ_base=here).status_code == 429
        web.rate_limit_storage = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens: memory takes over
        down = city.build().server.test_client()
        for n in range(3):
            assert fail_sign_in(down, f"nobody{n}", here).status_code == 200
        assert down.post("/login", data={"username": "zhang", "password": PASSWORD},
                         environ_base=here).status_code == 429
    finally:
        web.rate_limit_storage, web.sign_in_limit = old


@contextmanager
def serving(app):
    """The app on a loopback port (a real HTTP server: its client address is the socket's)."""
    server = make_server("127.0.0.1", free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def _sign_in_from(url: str, forwarded_for: str, username: str = "zhang") -> int:
    """A sign-in: zhang's right password, or any other name (unknown: no account limit) a wrong one."""
    password = PASSWORD if username == "zhang" else "wrong-pass"
    r = requests.post(f"{url}/login", data={"username": username, "password": password},
                      headers={"X-Forwarded-For": forwarded_for}, allow_redirects=False, timeout=10)
    return r.status_code


@pytest.mark.parametrize("proxies", [0, 1])
def test_the_address_limit_believes_x_forwarded_for_only_from_trusted_proxies(city, proxies):
    web = city.runtime.settings.web
    old = web.trusted_proxies, web.sign_in_limit
    try:
        web.trusted_proxies, web.sign_in_limit = proxies, "3 per 15 minutes"
        app = city.build()
    finally:
        web.trusted_proxies, web.sign_in_limit = old
    client = f"203.0.113.{next(_addresses) % 250 + 1}"
    with serving(app) as url:
        for n in range(3):  # the client makes up a new X-Forwarded-For each time; a proxy appends the real one
            forged = f"198.51.100.{n}"
            assert _sign_in_from(url, f"{forged}, {client}" if proxies else forged, f"guess{n}") == 200
        again = _sign_in_from(url, f"198.51.100.9, {client}" if proxies else "198.51.100.9")
        other = _sign_in_from(url, "192.0.2.7")
    if proxies:  # the address the trusted proxy saw is limited, another is not
        assert (again, other) == (429, 302)
    else:  # every request is the loopback socket's, whatever the header says
        assert (again, other) == (429, 429)


# --- cross-site writes, cookies ---------------------------------------------------------------------


def test_cross_site_writes_are_refused(city):
    client = city.server.test_client()
    here = address()
    form = {"username": "zhang", "password": PASSWORD}
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}):
        r = client.post("/login", data=form, headers=header, environ_base=here)
        assert r.status_code == 403 and "cross-site" in r.get_json()["error"], header
    assert client.post("/login", data=form, headers={"Origin": "http://localhost"}, environ_base=here).status_code == 302
    # Signed in now: a forged callback or API call from another site with this session is refused too.
    evil = {"Origin": "https://evil.example"}
    assert client.post("/_dash-update-component", json={}, headers=evil).status_code == 403
    assert client.post("/api/v1/incidents/1/acknowledge", json={}, headers=evil).status_code == 403
    assert client.get("/api/v1/units", headers=evil).status_code == 200  # reads are not writes
    token = {"Authorization": f"Bearer {create_token(city.runtime.engine, 'wall1')}"} | evil
    assert client.post("/api/v1/incidents/1/acknowledge", json={}, headers=token).status_code == 403  # the role


def test_cookies_are_secure_when_served_over_https(city):
    web = city.runtime.settings.web
    web.secure_cookies = True
    try:
        client = city.build().server.test_client()
    finally:
        web.secure_cookies = False
    r = client.post("/login", data={"username": "zhang", "password": PASSWORD}, environ_base=address(),
                    base_url="https://localhost")
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "max-age" in r.headers["Strict-Transport-Security"]


# --- secrets in logs -------------------------------------------------------------------------------


def test_no_password_token_or_secret_in_any_log_line(city, caplog):
    engine = city.runtime.engine
    caplog.set_level(logging.DEBUG)
    client = city.server.test_client()
    wrong = "Wrong-Secret-Pass-77"
    fail_sign_in(client, "zhang", address())
    client.post("/login", data={"username": "zhang", "password": wrong}, environ_base=address())
    client.post("/login", data={"username": "zhang", "password": PASSWORD}, environ_base=address())
    token = create_token(engine, "zhang")
    client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})
    client.get("/api/v1/incidents", headers={"Authorization": "Bearer ioc_not-a-real-token-123"})
    kiosk = create_kiosk_link(engine, Actor("zhang", "duty_officer"), "hall", city.runtime.secret_key)
    city.server.test_client().get(f"/?kiosk={kiosk}")
    assert caplog.records, "nothing was logged: the capture is not working"
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, wrong, token, "ioc_not-a-real-token-123", kiosk, city.runtime.secret_key):
        assert secret not in text


# --- SQL metacharacters -----------------------------------------------------------------------------

HOSTILE = ["' OR '1'='1", "1; DROP TABLE incident; --", '" OR ""="', "%", "_", "\\", "%' --", "') OR ('a'='a",
           "南城路0号' UNION SELECT * FROM app_user --"]


@pytest.mark.parametrize("param", ["q", "status", "category", "priority", "division", "org"])
def test_sql_metacharacters_in_filters_change_nothing(city, param):
    client = signed_in(city, "duty_officer")
    total = client.get("/api/v1/incidents").get_json()["total"]
    for value in HOSTILE:
        r = client.get("/api/v1/incidents", query_string={param: value})
        assert r.status_code == 200 and r.get_json()["total"] == 0, (param, value)
    assert client.get("/api/v1/incidents").get_json()["total"] == total  # and nothing was dropped


def test_sql_metacharacters_in_the_board_sort_and_search_change_nothing(city):
    client = signed_in(city, "duty_officer")
    rows = client.get("/export/board.csv").get_data(as_text=True).splitlines()
    for value in HOSTILE:
        r = client.get("/export/board.csv", query_string={"sort": value})
        assert r.status_code == 400 and "cannot sort by" in r.get_data(as_text=True), value
        r = client.get("/export/board.csv", query_string={"dir": value})
        assert r.status_code == 400, value
        found = client.get("/export/board.csv", query_string={"q": value}).get_data(as_text=True).splitlines()
        assert found == rows[:1], value  # the heading only
    assert client.get("/export/board.csv").get_data(as_text=True).splitlines() == rows


# --- every route needs a sign-in, a token or a kiosk link -----------------------------------------

OPEN = ("/login", "/logout", "/healthz", "/api/v1/openapi.json", "/assets/", "/_dash-component-suites/",
        "/_favicon.ico", "/_reload-hash")


def _sample_url(urls, rule) -> str:
    """The rule's URL with 1 for each of its parts (an id, a date, a file name)."""
    return urls.build(rule.endpoint, dict.fromkeys(rule.arguments, 1), append_unknown=False)


def test_every_route_needs_a_sign_in_a_token_or_a_kiosk_link(city):
    client = city.server.test_client()
    checked, urls = [], city.server.url_map.bind("localhost")
    for rule in city.server.url_map.iter_rules():
        url = _sample_url(urls, rule)
        if url.startswith(OPEN) or rule.endpoint in ("static", "api_unknown"):  # the latter: JSON 404, no data
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = client.open(url, method=method, json={})
            refused = r.status_code in (401, 403) or (r.status_code == 302 and "/login" in r.headers["Location"])
            assert refused, f"{method} {url} answered {r.status_code} without a sign-in"
            checked.append(f"{method} {url}")
    pages = [p["path_template"] or p["path"] for p in dash.page_registry.values()]  # behind Dash's catch-all
    for page in pages:
        url = re.sub(r"<[^>]+>", "1", page)
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"], f"page {url} answered {r.status_code}"
    assert len(checked) > 40 and "POST /_dash-update-component" in checked and "POST /api/v1/kpis" not in checked
    assert {"/board", "/incident/<incident_id>", "/wall", "/feeds", "/orders"} <= set(pages)


def test_with_public_read_pages_open_and_writes_still_need_a_role(city):
    web = city.runtime.settings.web
    client = city.server.test_client()
    iid = add_incident(city.runtime.engine)
    web.public_read = True
    try:
        assert client.get("/board").status_code == 200 and client.get("/_dash-layout").status_code == 200
        r = client.post("/_dash-update-component", json=forged_step(city, iid, "acknowledge"))
        assert "inc-message" in r.get_data(as_text=True)  # the page answered, and refused
        assert client.post("/api/v1/incidents/1/acknowledge", json={}).status_code == 401
    finally:
        web.public_read = False
    assert load(city.runtime.engine, models.Incident, iid).status == "new"


def test_a_kiosk_link_views_and_writes_nothing(city):
    engine = city.runtime.engine
    client = city.server.test_client()
    kiosk = create_kiosk_link(engine, Actor("zhang", "duty_officer"), "hall", city.runtime.secret_key)
    assert client.get(f"/board?kiosk={kiosk}").status_code == 200
    iid = add_incident(engine)
    client.post("/_dash-update-component", json=forged_step(city, iid, "acknowledge"))
    assert client.post("/api/v1/incidents/1/acknowledge", json={}).status_code == 403
    assert load(engine, models.Incident, iid).status == "new"


# --- every write as every role ------------------------------------------------------------------------

_units = itertools.count(1)


def new_unit(engine) -> str:
    unit_id = f"MX-{next(_units):03d}"
    with transaction(engine) as s:
        s.add(models.Unit(id=unit_id, call_sign=unit_id, unit_type="police_car", org_code="DEPT-POLICE",
                          status="AVAILABLE", lon=113.75, lat=22.95))
    return unit_id


def new_order(engine, status: str = "pending") -> int:
    with transaction(engine) as s:
        order = models.WorkOrder(incident_id=add_incident(engine, status="dispatched"), org_code="OFF-T01",
                                 status=status)
        s.add(order)
        s.flush()
        return order.id


def merged_report(engine) -> int:
    child, parent = add_incident(engine), add_incident(engine)
    workflow.merge(engine, Actor.system("test"), child, parent, None, None)
    return child


@dataclass
class Write:
    """One write: the permission it needs, a fresh target, and the call (service, and API if any)."""

    permission: str
    target: Callable
    service: Callable
    api: Callable | None = None  # target -> (path, body)


def _incident(status="new"):
    return lambda e: add_incident(e, status=status)


WRITES = [
    Write("incident.acknowledge", _incident(), lambda e, a, i, p: workflow.acknowledge(e, a, i, None),
          lambda i: (f"/incidents/{i}/acknowledge", {})),
    Write("incident.on_scene", _incident("dispatched"), lambda e, a, i, p: workflow.mark_on_scene(e, a, i, None),
          lambda i: (f"/incidents/{i}/on-scene", {})),
    Write("incident.resolve", _incident("on_scene"), lambda e, a, i, p: workflow.resolve(e, a, i, None),
          lambda i: (f"/incidents/{i}/resolve", {})),
    Write("incident.close", _incident("resolved"), lambda e, a, i, p: workflow.close(e, a, i, None),
          lambda i: (f"/incidents/{i}/close", {})),
    Write("incident.cancel", _incident(), lambda e, a, i, p: workflow.cancel(e, a, i, None, "误报"),
          lambda i: (f"/incidents/{i}/cancel", {"reason": "误报"})),
    Write("incident.merge", lambda e: (add_incident(e), add_incident(e)),
          lambda e, a, i, p: workflow.merge(e, a, i[0], i[1], None, None),
          lambda i: (f"/incidents/{i[0]}/merge", {"into": i[1]})),
    Write("incident.split", merged_report, lambda e, a, i, p: workflow.split(e, a, i, None),
          lambda i: (f"/incidents/{i}/split", {})),
    Write("incident.satisfaction", _incident("closed"),
          lambda e, a, i, p: workflow.record_satisfaction(e, a, i, None, "satisfied"),
          lambda i: (f"/incidents/{i}/satisfaction", {"value": "satisfied"})),
    Write("incident.note", _incident(), lambda e, a, i, p: workflow.add_note(e, a, i, "到场核实")),
    Write("incident.reclassify", _incident(),
          lambda e, a, i, p: reclassify.reclassify(e, a, i, None, p, division=None, category="noise")),
    Write("incident.supervise", _incident(), lambda e, a, i, p: sla.supervise(e, a, i, "请加快", pack=p)),
    Write("incident.dispatch", lambda e: (add_incident(e), new_unit(e)),
          lambda e, a, i, p: dispatch.dispatch(e, a, i[0], [i[1]]),
          lambda i: (f"/incidents/{i[0]}/dispatch", {"units": [i[1]]})),
    Write("unit.status", new_unit, lambda e, a, i, p: dispatch.set_unit_status(e, a, i, "OUT_OF_SERVICE")),
    Write("work_order.create", _incident(),
          lambda e, a, i, p: workorders.create(e, a, i, ["OFF-T01"], pack=p),
          lambda i: (f"/incidents/{i}/work-orders", {"orgs": ["OFF-T01"]})),
    Write("work_order.handle", new_order, lambda e, a, i, p: workorders.accept(e, a, i, None),
          lambda i: (f"/work-orders/{i}/accept", {})),
    Write("work_order.verify", lambda e: new_order(e, "done"),
          lambda e, a, i, p: workorders.verify_and_close(e, a, i, None),
          lambda i: (f"/work-orders/{i}/verify", {})),
    Write("major_event.manage", lambda e: None,
          lambda e, a, i, p: major_events.create(e, a, "台风", "typhoon", T0 - timedelta(hours=1)),
          lambda i: ("/major-events", {"name": "台风", "kind": "typhoon", "started_at": T0.isoformat()})),
    Write("kiosk.manage", lambda e: None, lambda e, a, i, p: create_kiosk_link(e, a, "hall", "s3cret")),
    Write("view.save", lambda e: None, lambda e, a, i, p: saved_views.save(e, a, f"v{secrets.token_hex(3)}", {}, [])),
    Write("feed.manage", lambda e: None, lambda e, a, i, p: feedcontrol.pause(e, a, "police")),
]


def actor_of(role: str) -> Actor:
    return Actor(NAMES[role], role, "OFF-T01" if role == "handler" else None)


def test_the_matrix_covers_every_permission_but_user_management():
    # Accounts are managed from the CLI (`python -m ioc users add`), which is not a role's write.
    assert {w.permission for w in WRITES} | {"unit.dispatch", "user.manage"} == set(PERMISSIONS)


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.permission)
def test_every_write_service_succeeds_for_the_allowed_roles_only(city, write):
    engine, pack = city.runtime.engine, city.runtime.pack
    for role in ROLES:
        target = write.target(engine)
        if role in PERMISSIONS[write.permission]:
            write.service(engine, actor_of(role), target, pack)
        else:
            with pytest.raises(Forbidden, match="may not"):
                write.service(engine, actor_of(role), target, pack)


@pytest.fixture(scope="module")
def tokens(city):
    return {role: {"Authorization": f"Bearer {create_token(city.runtime.engine, name)}"}
            for role, name in NAMES.items()}


@pytest.mark.parametrize("write", [w for w in WRITES if w.api], ids=lambda w: w.permission)
def test_every_api_write_succeeds_for_the_allowed_roles_only(city, tokens, write):
    client = city.server.test_client()
    for role in ROLES:
        path, body = write.api(write.target(city.runtime.engine))
        r = client.post(f"/api/v1{path}", json=body, headers=tokens[role])
        expected = 200 if role in PERMISSIONS[write.permission] else 403
        assert r.status_code == expected, (role, path, r.get_json())


def _name(component: str | dict, prop: str) -> str:
    """How ``forge`` names a value: "id.property", or "type.property" for a pattern-matching id."""
    if isinstance(component, str) and component.startswith("{"):
        component = json.loads(component)
    return f"{component['type'] if isinstance(component, dict) else component}.{prop}"


def forge(app, output: str, clicked: tuple, values: dict | None = None) -> dict:
    """The body a page's browser posts to /_dash-update-component when ``clicked`` (id, property,
    value) changes, for the callback that writes ``output`` ("id.property"), made by hand from the
    app's callback map. ``values`` holds the other inputs' and states' values by ``_name``; a
    pattern-matching one is a list of (id, value); any not given is None (or no instances)."""
    component, prop, value = clicked
    values = (values or {}) | {_name(component, prop): [(component, value)] if isinstance(component, dict) else value}
    key = next(k for k in app.callback_map if output in k.strip(".").split("..."))
    spec = app.callback_map[key]

    def instances(kind: str) -> list[dict]:  # the pattern-matching components of ``kind`` on the page
        found = {json.dumps(i, sort_keys=True): i for name, given in values.items()
                 if name.split(".")[0] == kind for i, _ in given}
        return list(found.values())

    def dependency(dep: dict, with_value: bool = True):
        prop = dep["property"]
        if dep["id"].startswith("{"):
            given = {json.dumps(i, sort_keys=True): v for i, v in values.get(_name(dep["id"], prop), [])}
            return [{"id": i, "property": prop} | ({"value": given.get(json.dumps(i, sort_keys=True))}
                                                   if with_value else {})
                    for i in instances(json.loads(dep["id"])["type"])]
        return {"id": dep["id"], "property": prop} | ({"value": values.get(_name(dep["id"], prop))} if with_value else {})

    outputs = split_callback_id(key)
    changed = json.dumps(component, separators=(",", ":"), sort_keys=True) if isinstance(component, dict) else component
    return {
        "output": key,
        "outputs": [dependency(o, False) for o in outputs] if isinstance(outputs, list) else dependency(outputs, False),
        "inputs": [dependency(i) for i in spec["inputs"]],
        "state": [dependency(s) for s in spec["state"]],
        "changedPropIds": [f"{changed}.{prop}"],
    }


def forged_step(app, incident_id: int, action: str, **fields) -> dict:
    """The body the incident page's browser sends when a person clicks ``action`` (the form's
    fields: a reason unless given)."""
    fields = fields or {"reason": "误报"}
    return forge(app, "inc-message.children", ({"action": action, "type": "inc-act"}, "n_clicks", 1),
                 {"inc-id.data": incident_id, "lang.data": "en",
                  "inc-field.value": [({"name": name, "type": "inc-field"}, value) for name, value in fields.items()]})


@pytest.fixture(scope="module")
def sessions(city):
    return {role: signed_in(city, role) for role in ROLES}


@dataclass
class PageWrite:
    """A write from a page (named "<page module> <what>"): the permission it needs, a fresh target,
    the forged callback that does it, and whether it was done (read back from the store)."""

    permission: str
    target: Callable  # engine -> target
    body: Callable  # (app, target) -> the callback's body
    done: Callable  # (engine, target) -> bool


def _status(model) -> Callable:
    return lambda e, key: load(e, model, key).status


def _incident_step(action: str, before: str, after: str) -> PageWrite:
    return PageWrite(f"incident.{action}", _incident(before), lambda app, i: forged_step(app, i, action),
                     lambda e, i: _status(models.Incident)(e, i) == after)


def _incident_entry(permission: str, action: str, kind: str, **fields) -> PageWrite:
    """An incident page action that leaves a timeline entry of ``kind``."""
    return PageWrite(permission, _incident(), lambda app, i: forged_step(app, i, action, **fields),
                     _exists(models.IncidentEvent, incident_id=lambda i: i, kind=lambda i: kind))


def _kanban_card(e) -> tuple[int, int]:
    iid = add_incident(e)
    return iid, load(e, models.Incident, iid).version


def _console(app, target) -> dict:
    iid, unit = target
    recs = {"incident": iid, "version": None, "units": [unit], "suggested": [unit], "calls": {unit: unit}}
    return forge(app, "dc-message.children", ({"type": "dc-send", "unit": unit}, "n_clicks", 1),
                 {"dc-recs-data.data": recs, "lang.data": "en"})


def _unit_button(app, unit) -> dict:
    button = {"type": "dc-unit", "unit": unit, "to": "OUT_OF_SERVICE", "asg": None, "ver": None}
    return forge(app, "dc-message.children", (button, "n_clicks", 1), {"lang.data": "en"})


def _order_button(action: str) -> Callable:
    return lambda app, order: forge(app, "orders-message.children", ({"type": "order-act", "action": action},
                                                                     "n_clicks", 1),
                                    {"orders-selected.data": order, "lang.data": "en"})


def _feed(paused: bool) -> Callable:
    def make(e) -> str:
        name = f"feed-{secrets.token_hex(3)}"
        (feedcontrol.pause if paused else feedcontrol.resume)(e, Actor.system("test"), name)
        return name
    return make


def _feed_button(action: str) -> Callable:
    return lambda app, name: forge(app, "feeds-message.children",
                                   ({"type": "feed-act", "action": action, "feed": name}, "n_clicks", 1),
                                   {"lang.data": "en"})


def _event(e) -> int:
    return major_events.create(e, Actor("zhang", "duty_officer"), "暴雨", "flood", T0 - timedelta(hours=1)).id


def _exists(model, **where) -> Callable:
    def check(e, target) -> bool:
        with transaction(e) as s:
            return s.query(model).filter_by(**{k: f(target) for k, f in where.items()}).count() > 0
    return check


PAGE_WRITES = {
    "incident_page acknowledge": _incident_step("acknowledge", "new", "acknowledged"),
    "incident_page cancel": _incident_step("cancel", "new", "cancelled"),
    "incident_page close": _incident_step("close", "resolved", "closed"),
    "incident_page note": _incident_entry("incident.note", "note", "note", note="到场核实"),
    "incident_page supervise": _incident_entry("incident.supervise", "supervise", "supervised", note="请加快"),
    "incident_page handover": PageWrite("work_order.create", _incident(), lambda app, i: forged_step(
        app, i, "handover", orgs=["OFF-T01"]), _exists(models.WorkOrder, incident_id=lambda i: i)),
    "kanban_page move": PageWrite("incident.acknowledge", _kanban_card, lambda app, card: forge(
        app, "kanban-message.children",
        ("kanban-drop", "data", {"from": "new", "to": "acknowledged", "id": card[0], "version": card[1]}),
        {"lang.data": "en"}), lambda e, card: _status(models.Incident)(e, card[0]) == "acknowledged"),
    "dispatch_page send": PageWrite("incident.dispatch", lambda e: (add_incident(e), new_unit(e)), _console,
                                       _exists(models.Assignment, incident_id=lambda t: t[0])),
    "dispatch_page unit status": PageWrite("unit.status", new_unit, _unit_button,
                                              lambda e, u: _status(models.Unit)(e, u) == "OUT_OF_SERVICE"),
    "orders_page accept": PageWrite("work_order.handle", new_order, _order_button("accept"),
                                    lambda e, o: _status(models.WorkOrder)(e, o) != "pending"),
    "orders_page verify": PageWrite("work_order.verify", lambda e: new_order(e, "done"), _order_button("verify"),
                                    lambda e, o: _status(models.WorkOrder)(e, o) != "done"),
    "events_page open": PageWrite("major_event.manage", lambda e: f"台风{secrets.token_hex(3)}", lambda app, name: forge(
        app, "event-open-message.children", ("event-open", "n_clicks", 1),
        {"event-name.value": name, "event-kind.value": "typhoon", "lang.data": "en"}),
        _exists(models.MajorEvent, name=lambda name: name)),
    "events_page close": PageWrite("major_event.manage", _event, lambda app, eid: forge(
        app, "event-message.children", ("event-close", "n_clicks", 1), {"event-id.data": eid, "lang.data": "en"}),
        lambda e, eid: _status(models.MajorEvent)(e, eid) != "active"),
    "feeds_page pause": PageWrite("feed.manage", _feed(False), _feed_button("pause"),
                             lambda e, name: load(e, models.FeedControl, name).paused),
    "feeds_page resume": PageWrite("feed.manage", _feed(True), _feed_button("resume"),
                              lambda e, name: not load(e, models.FeedControl, name).paused),
    "board_page save view": PageWrite("view.save", lambda e: f"v{secrets.token_hex(3)}", lambda app, name: forge(
        app, "board-view-msg.children", ("board-view-save", "n_clicks", 1),
        {"board-view-name.value": name, "board-query.data": {}, "board-grid.columnState": [], "lang.data": "en"}),
        _exists(models.SavedView, name=lambda name: name)),
}


@pytest.mark.parametrize("name", PAGE_WRITES)
def test_a_forged_page_callback_acts_only_for_the_allowed_roles(city, sessions, name):
    write, engine = PAGE_WRITES[name], city.runtime.engine
    for role in ROLES:
        target = write.target(engine)
        r = sessions[role].post("/_dash-update-component", json=write.body(city, target))
        assert r.status_code == 200, (role, r.get_data(as_text=True)[:300])
        allowed = role in PERMISSIONS[write.permission]
        assert write.done(engine, target) == allowed, (role, r.get_data(as_text=True)[:300])
        if not allowed:  # and the page says why, in the reader's language
            assert "Your role may not do this." in r.get_data(as_text=True), role


# Pages that use a chain module without writing through it.
READ_ONLY = {"wall_page"}  # major_events.active: the events in force


def test_the_forged_callbacks_cover_every_page_that_writes():
    import layouts

    users = {p.stem for p in Path(layouts.__file__).parent.glob("*_page.py")
             if "from ioc.chain import" in p.read_text(encoding="utf-8")}
    covered = {name.split()[0] for name in PAGE_WRITES}
    assert users - READ_ONLY == covered, "a page that writes has no forged-callback row (or READ_ONLY is stale)"
