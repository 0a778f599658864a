"""The REST API and signing in, through the real app (Flask's WSGI stack), on both backends."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from feeds.base import RawItem
from ioc.chain.accounts import add_user, create_kiosk_link, create_token, revoke_kiosk_link, revoke_token
from ioc.chain.actions import Actor
from ioc.config import Settings
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.records import AlertRecord, IncidentRecord
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=CST)


def parse(item: RawItem):
    data = json.loads(item.payload)
    return [AlertRecord(**data)] if "sender" in data else [IncidentRecord(**data)]


def incident(external_id, minutes, **fields):
    data = {"external_id": external_id, "channel": "110", "category": "crime",
            "reported_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "lon": 113.71 + 0.015 * minutes, "lat": 22.95, "title": f"事件 {external_id}"} | fields
    return RawItem(external_id, json.dumps(data, ensure_ascii=False))


@pytest.fixture
def site(engine, tmp_path, monkeypatch):
    """The app on a small city with incidents, an alert, a work order and three users."""
    from app import create_app

    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    ctx = FeedContext.for_feed("police", "test", "wgs84", pack)
    items = [incident(f"i{n}", n, category="garbage" if n % 3 == 0 else "crime") for n in range(12)]
    items.append(RawItem("cap1", json.dumps({"sender": "dg", "identifier": "A1", "sent": T0.isoformat(),
                                             "status": "Actual", "msg_type": "Alert", "event": "台风"})))
    ingest_batch(engine, ctx, items, parse)
    with transaction(engine) as s:
        s.add(models.WorkOrder(incident_id=1, org_code="OFF-T01", status="pending"))
        s.add(models.WorkOrder(incident_id=2, org_code="OFF-T02", status="pending"))
    add_user(engine, "duty1", "duty_officer", "duty-pass-1")
    add_user(engine, "hand1", "handler", "hand-pass-1", org_code="OFF-T01")
    settings = Settings()
    settings.demo.enabled = False
    settings.web.public_read = False
    settings.web.secret_key = "test-secret"
    runtime = Runtime(settings, engine, pack, secret_key="test-secret")
    monkeypatch.setattr("app.open_city", lambda _settings: runtime)
    app = create_app(settings)
    app.server.validate_response = True  # every answer below is checked against its declared model too
    client = app.server.test_client()
    client.runtime = runtime
    client.duty = {"Authorization": f"Bearer {create_token(engine, 'duty1')}"}
    client.hand = {"Authorization": f"Bearer {create_token(engine, 'hand1')}"}
    return client


def test_api_needs_a_valid_token(site):
    r = site.get("/api/v1/incidents")
    assert r.status_code == 401 and "Bearer" in r.get_json()["error"]
    r = site.get("/api/v1/incidents", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "unknown or revoked" in r.get_json()["error"]


def test_revoked_token_stops_working(site):
    token = create_token(site.runtime.engine, "duty1")
    assert site.get("/api/v1/units", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoke_token(site.runtime.engine, token)
    assert site.get("/api/v1/units", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_incident_list_filters_and_pages(site):
    body = site.get("/api/v1/incidents?limit=5", headers=site.duty).get_json()
    assert body["total"] == 12 and len(body["items"]) == 5 and body["items"][0]["external_id"] == "i11"
    garbage = site.get("/api/v1/incidents?category=garbage", headers=site.duty).get_json()
    assert garbage["total"] == 4 and {i["category"] for i in garbage["items"]} == {"garbage"}
    window = site.get("/api/v1/incidents", headers=site.duty,
                      query_string={"since": "2026-07-01T09:03:00+08:00", "until": "2026-07-01T09:06:00"}).get_json()
    assert [i["external_id"] for i in window["items"]] == ["i5", "i4", "i3"]
    search = site.get("/api/v1/incidents?q=i7", headers=site.duty).get_json()
    assert [i["external_id"] for i in search["items"]] == ["i7"]
    page2 = site.get("/api/v1/incidents?limit=5&offset=10", headers=site.duty).get_json()
    assert [i["external_id"] for i in page2["items"]] == ["i1", "i0"]


def test_incident_list_pages_by_cursor_without_gaps_or_repeats(site):
    seen, after = [], None
    while True:
        body = site.get("/api/v1/incidents", headers=site.duty,
                        query_string={"limit": 5, **({"after": after} if after else {})}).get_json()
        seen += [i["external_id"] for i in body["items"]]
        assert body["total"] == 12 and body["total_more"] is False
        after = body["next"]
        if after is None:
            break
    assert seen == [f"i{n}" for n in range(11, -1, -1)]


@pytest.mark.parametrize("query, message", [
    ("limit=0", "limit: Input should be greater than or equal to 1"),
    ("limit=ten", "limit: Input should be a valid integer"),
    ("since=yesterday", "since: Input should be a valid datetime"),
])
def test_bad_parameters_are_422_with_the_reason(site, query, message):
    r = site.get(f"/api/v1/incidents?{query}", headers=site.duty)
    assert r.status_code == 422 and message in r.get_json()["error"]
    assert r.get_json()["errors"][0]["loc"] == [query.split("=")[0]]


@pytest.mark.parametrize("after", ["yesterday", "2026-07-01T09:00:00|x"])
def test_a_page_cursor_that_is_not_one_is_refused_with_the_reason(site, after):
    r = site.get("/api/v1/incidents", headers=site.duty, query_string={"after": after})
    assert r.status_code == 400 and "is not a page cursor" in r.get_json()["error"]


def test_incident_detail_has_timeline_and_missing_is_404(site):
    detail = site.get("/api/v1/incidents/1", headers=site.duty).get_json()
    assert detail["external_id"] == "i0" and detail["timeline"][0]["kind"] == "created"
    assert detail["reported_at"] == "2026-07-01T09:00:00+08:00"  # in the city's time
    assert detail["work_orders"][0]["org_code"] == "OFF-T01"
    assert {"assignments", "linked_reports"} <= detail.keys()
    for path in ("/api/v1/incidents/999", "/api/v1/incidents/abc"):
        r = site.get(path, headers=site.duty)
        assert r.status_code == 404 and "does not exist" in r.get_json()["error"]


def test_alerts_units_feeds_and_health(site):
    alerts = site.get("/api/v1/alerts?active=1", headers=site.duty).get_json()["items"]
    assert [a["identifier"] for a in alerts] == ["A1"]
    units = site.get("/api/v1/units?status=AVAILABLE", headers=site.duty).get_json()["items"]
    assert len(units) == 8 and units[0]["status"] == "AVAILABLE"
    feeds = site.get("/api/v1/feeds", headers=site.duty).get_json()["items"]
    assert feeds == []  # none configured, demo off
    health = site.get("/healthz").get_json()
    assert health == {"status": "ok", "city": "testville"}


def test_handler_sees_only_its_own_work_orders(site):
    mine = site.get("/api/v1/work-orders", headers=site.hand).get_json()
    assert [w["org_code"] for w in mine["items"]] == ["OFF-T01"]
    everyone = site.get("/api/v1/work-orders", headers=site.duty).get_json()
    assert everyone["total"] == 2


def test_openapi_lists_every_endpoint_and_unknown_paths_are_json(site):
    doc = site.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "/api/v1/incidents/{incident_id}" in doc["paths"]
    params = {p["name"] for p in doc["paths"]["/api/v1/incidents"]["get"]["parameters"]}
    assert {"status", "category", "priority", "division", "org", "since", "until", "q", "limit", "offset"} <= params
    cancel = doc["paths"]["/api/v1/incidents/{incident_id}/cancel"]["post"]
    body = cancel["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["schemas"][body]["required"] == ["reason"]
    assert cancel["security"] == [{"bearer": []}] and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "422" in cancel["responses"] and "401" in cancel["responses"]
    r = site.get("/api/v1/nothing-here", headers=site.duty)
    assert r.status_code == 404 and "openapi.json" in r.get_json()["error"]


def test_openapi_declares_every_response_body(site):
    doc = site.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]

    def model(op, code):
        return op["responses"][code]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert schemas[model(op, "200")]["properties"], (method, path)
            errors = {code: model(op, code) for code in op["responses"] if code != "200"}
            assert errors["401"] == "Error" and errors["422"] == "Invalid", (method, path)
            if method == "post":  # a write may be refused for the role
                assert errors.get("403") == "Error", path
    incident = schemas["Incident"]["properties"]
    assert incident["reported_at"]["format"] == "date-time" and {"type": "null"} in incident["closed_at"]["anyOf"]
    detail = doc["paths"]["/api/v1/incidents/{incident_id}"]["get"]["responses"]
    assert model({"responses": detail}, "200") == "IncidentDetail" and "404" in detail and "409" not in detail


def test_pages_need_sign_in_when_not_public(site):
    r = site.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert site.post("/_dash-update-component", json={}).status_code == 401


def test_sign_in_and_throttling(site):
    wrong = site.post("/login", data={"username": "duty1", "password": "nope"})
    assert "用户名或密码不正确" in wrong.get_data(as_text=True)
    for _ in range(4):
        site.post("/login", data={"username": "duty1", "password": "nope"})
    throttled = site.post("/login", data={"username": "duty1", "password": "duty-pass-1"})
    assert "登录失败次数过多" in throttled.get_data(as_text=True)
    ok = site.post("/login", data={"username": "hand1", "password": "hand-pass-1"})
    assert ok.status_code == 302
    assert site.get("/").status_code == 200


def test_kiosk_link_views_until_revoked(site):
    engine = site.runtime.engine
    token = create_kiosk_link(engine, Actor("duty1", "duty_officer"), "hall-left", "test-secret")
    assert site.get(f"/?kiosk={token}").status_code == 200
    assert site.get("/").status_code == 200  # the screen's later requests carry the session, not the link
    with transaction(engine) as s:
        link_id = s.query(models.KioskLink).one().id
    revoke_kiosk_link(engine, Actor("duty1", "duty_officer"), link_id)
    assert site.get("/").status_code == 302  # revoking ends the screen's session too
    refused = site.get(f"/?kiosk={token}")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login?error=")
    assert "该大屏链接已失效" in site.get(refused.headers["Location"]).get_data(as_text=True)
    with pytest.raises(Exception, match="may not"):
        create_kiosk_link(engine, Actor("wall", "viewer"), "x", "test-secret")


def test_a_deactivated_user_is_signed_out_at_the_next_request(site):
    assert site.post("/login", data={"username": "hand1", "password": "hand-pass-1"}).status_code == 302
    assert site.get("/").status_code == 200
    assert site.get("/").status_code == 200  # the second request finds the actor this process kept
    with transaction(site.runtime.engine) as s:
        s.execute(update(models.User).where(models.User.username == "hand1").values(active=False))
    assert site.get("/").status_code == 302


# --- actions ------------------------------------------------------------------------------------


def post(site, path, headers, **data):
    return site.post(path, json=data, headers=headers)


def test_incident_steps_check_version_and_role(site):
    wall = {"Authorization": f"Bearer {create_token_for(site, 'wall1', 'viewer')}"}
    refused = post(site, "/api/v1/incidents/3/acknowledge", wall, version=1)
    assert refused.status_code == 403 and "may not" in refused.get_json()["error"]
    ok = post(site, "/api/v1/incidents/3/acknowledge", site.duty, version=1)
    assert ok.status_code == 200 and ok.get_json()["status"] == "acknowledged" and ok.get_json()["version"] == 2
    stale = post(site, "/api/v1/incidents/3/resolve", site.duty, version=1)
    assert stale.status_code == 409 and "reload" in stale.get_json()["error"]
    wrong = post(site, "/api/v1/incidents/3/acknowledge", site.duty, version=2)
    assert wrong.status_code == 409 and "acknowledged" in wrong.get_json()["error"]
    no_reason = post(site, "/api/v1/incidents/3/cancel", site.duty, version=2)
    assert no_reason.status_code == 422 and "reason: Field required" in no_reason.get_json()["error"]
    history = site.get("/api/v1/incidents/3", headers=site.duty).get_json()["timeline"]
    assert [e["kind"] for e in history] == ["created", "acknowledged"]


def create_token_for(site, name, role, org=None):
    add_user(site.runtime.engine, name, role, "long-enough-1", org_code=org)
    return create_token(site.runtime.engine, name)


def test_dispatch_through_the_api(site):
    recs = site.get("/api/v1/incidents/5/recommendations", headers=site.duty).get_json()["items"]
    assert recs and recs[0]["unit_type"] == "police_car" and recs[0]["eta_min"] > 0
    sent = post(site, "/api/v1/incidents/5/dispatch", site.duty, units=[recs[0]["unit_id"]])
    assert sent.status_code == 200
    [assignment] = sent.get_json()["assignments"]
    again = post(site, "/api/v1/incidents/6/dispatch", site.duty, units=[recs[0]["unit_id"]])
    assert again.status_code == 409 and "already" in again.get_json()["error"]
    moved = post(site, f"/api/v1/assignments/{assignment['id']}/status", site.duty, status="ON_SCENE")
    assert moved.status_code == 200 and moved.get_json()["status"] == "ON_SCENE"
    assert site.get("/api/v1/incidents/5", headers=site.duty).get_json()["status"] == "on_scene"


def test_work_order_loop_through_the_api(site):
    made = post(site, "/api/v1/incidents/7/work-orders", site.duty, orgs=["OFF-T01"], note="请处理")
    assert made.status_code == 200
    order = made.get_json()["items"][0]
    oid = order["id"]
    other = {"Authorization": f"Bearer {create_token_for(site, 'hand2', 'handler', 'OFF-T02')}"}
    assert post(site, f"/api/v1/work-orders/{oid}/accept", other).status_code == 403
    assert post(site, f"/api/v1/work-orders/{oid}/accept", site.hand, version=order["version"]).status_code == 200
    bad_photo = post(site, f"/api/v1/work-orders/{oid}/feedback", site.hand, text="已清理", photo_url="file:///x")
    assert bad_photo.status_code == 400
    assert post(site, f"/api/v1/work-orders/{oid}/feedback", site.hand, text="已清理",
                photo_url="https://img.example/1.jpg").status_code == 200
    assert post(site, f"/api/v1/work-orders/{oid}/done", site.hand).status_code == 200
    verified = post(site, f"/api/v1/work-orders/{oid}/verify", site.duty)
    assert verified.status_code == 200 and verified.get_json()["status"] == "verified"
    assert site.get("/api/v1/incidents/7", headers=site.duty).get_json()["status"] == "resolved"


def test_kpis_and_major_events_through_the_api(site):
    body = site.get("/api/v1/kpis?from=2026-07-01T08:00:00%2B08:00&to=2026-07-01T10:00:00%2B08:00&by=category",
                    headers=site.duty).get_json()
    rows = {r["group"]: r for r in body["rows"]}
    assert rows["crime"]["incidents"] == 8 and rows["garbage"]["incidents"] == 4
    planet = site.get("/api/v1/kpis?by=planet", headers=site.duty)
    assert planet.status_code == 422 and "by: Input should be 'division'" in planet.get_json()["error"]
    backwards = site.get("/api/v1/kpis?from=2026-07-02T00:00:00&to=2026-07-01T00:00:00", headers=site.duty)
    assert backwards.status_code == 400 and "from must be before to" in backwards.get_json()["error"]
    made = post(site, "/api/v1/major-events", site.duty, name="台风“海鸥”", kind="typhoon",
                started_at="2026-07-01T09:00:00+08:00", categories=["garbage"])
    assert made.status_code == 200
    eid = made.get_json()["id"]
    items = site.get(f"/api/v1/major-events/{eid}/incidents", headers=site.duty).get_json()["items"]
    assert sorted(i["external_id"] for i in items) == ["i0", "i3", "i6", "i9"]
    assert site.get("/api/v1/major-events", headers=site.duty).get_json()["items"][0]["name"] == "台风“海鸥”"


def test_sign_in_form_shows_only_its_own_messages(site):
    page = site.get("/login?error=Call+0800-SCAM+now").get_data(as_text=True)
    assert "SCAM" not in page and "login-error" not in page


def test_every_response_carries_the_security_headers(site):
    for path in ("/login", "/", "/api/v1/openapi.json"):
        r = site.get(path)
        csp = r.headers["Content-Security-Policy"]
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src, path
        assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    signed_in = site.post("/login", data={"username": "duty1", "password": "duty-pass-1"})
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; [web] secure_cookies marks them for HTTPS


def test_a_tile_server_may_serve_images_and_nothing_else():
    from ioc.web.headers import policy

    directives = policy(["'sha256-abc'"], "https://{s}.tiles.example.cn/{z}/{x}/{y}.png")
    assert directives["img-src"] == "'self' data: blob: https://*.tiles.example.cn"
    assert directives["script-src"] == "'self' 'sha256-abc'" and directives["connect-src"] == "'self'"


def test_units_a_feed_registered_and_alert_defects_are_in_the_api(site, engine):
    ctx = FeedContext.for_feed("county_fire", "emergency_cad", "wgs84", site.runtime.pack)
    fire = incident("F9", 30, channel="119", category="fire",
                    assignments=[{"unit_id": "COUNTY-E7", "dispatched_at": (T0 + timedelta(minutes=31)).isoformat()}])
    warning = RawItem("cap2", json.dumps({"sender": "gd", "identifier": "B2", "sent": T0.isoformat(),
                                          "status": "Actual", "msg_type": "Alert", "event": "暴雨",
                                          "defects": ["<polygon> of area '东莞': empty; skipped"]}))
    ingest_batch(engine, ctx, [fire, warning], parse)
    units = {u["id"]: u for u in site.get("/api/v1/units", headers=site.duty).get_json()["items"]}
    assert (units["COUNTY-E7"]["registered_by"], units["COUNTY-E7"]["status"]) == ("county_fire", "DISPATCHED")
    assert sum(1 for u in units.values() if u["registered_by"] is None) == len(units) - 1
    alerts = {a["identifier"]: a for a in site.get("/api/v1/alerts", headers=site.duty).get_json()["items"]}
    assert alerts["B2"]["defects"] == ["<polygon> of area '东莞': empty; skipped"] and alerts["A1"]["defects"] == []


def test_linked_reports_are_in_the_incident_list_on_request(site, engine):
    hotline = FeedContext.for_feed("hotline", "open311", "wgs84", site.runtime.pack)  # citizens' reports fuse
    reports = [incident(f"h{n}", 200 + 5 * n, channel="12345", category="waterlogging", lon=113.80, lat=23.00)
               for n in range(3)]
    assert ingest_batch(engine, hotline, reports, parse).fused == 2

    def listed(query: str) -> list[dict]:
        r = site.get(f"/api/v1/incidents?category=waterlogging{query}", headers=site.duty)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["items"]

    [parent] = listed("")
    assert parent["report_count"] == 3
    with_linked = listed("&include_linked=true")
    assert sorted(i["external_id"] for i in with_linked) == ["h0", "h1", "h2"]
    assert {i["parent_id"] for i in with_linked if i["external_id"] != "h0"} == {parent["id"]}
    assert len(listed("&include_linked=true&status=new")) == 3  # linked reports go by their incident's status
    assert listed("&include_linked=false") == [parent]
    declared = [p["name"] for path, ops in site.get("/api/v1/openapi.json").get_json()["paths"].items()
                if path.endswith("/incidents") for p in ops["get"]["parameters"]]
    assert "include_linked" in declared
