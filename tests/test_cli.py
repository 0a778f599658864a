"""The command line as a user meets it: setup, lookup, import, new cities, accounts, mistakes."""

import json
import shutil

import pytest

from ioc import PROJECT_ROOT
from ioc.city.geo import DivisionIndex
from ioc.city.pack import load_pack
from ioc.runtime import open_runtime
from tests.boundaries import foshan_features, pack_features, write_boundary_file
from tests.conftest import assert_one_line_error

DONGGUAN = PROJECT_ROOT / "geodata" / "dongguan"


@pytest.fixture
def ready(cli):
    """A migrated store with the default city loaded."""
    assert cli("db", "upgrade").returncode == 0
    loaded = cli("city", "load")
    assert loaded.returncode == 0, loaded.stderr
    return cli


def test_setup_reports_what_it_did(ready):
    current = ready("db", "current")
    assert "up to date" in current.stdout
    again = ready("city", "load")
    assert "33 divisions" in again.stdout and "units" in again.stdout


@pytest.mark.parametrize("lon, lat, code", [
    (113.727, 22.981, "441900004"),  # Nancheng
    (113.692, 22.822, "441900121"),  # Humen
    (114.155, 22.732, "441900117"),  # Fenggang
])
def test_locate_names_the_division(cli, lon, lat, code):
    result = cli("geodata", "locate", str(lon), str(lat), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["division"]["code"] == code


def test_locate_accepts_gcj02_input(cli):
    # Nancheng's seat as a GCJ-02 source (AMap) would give it: about 600 m off.
    result = cli("geodata", "locate", "113.7322", "22.9783", "--crs", "gcj02")
    assert result.stdout.startswith("441900004 南城街道")


def test_locate_outside_the_city_says_so(cli):
    result = cli("geodata", "locate", "116.40", "39.90")
    assert result.returncode == 1
    assert "no division of dongguan holds" in result.stdout


def test_import_replaces_outlines_in_pack_and_store(ready, tmp_path):
    pack_dir = tmp_path / "dongguan"
    shutil.copytree(DONGGUAN, pack_dir)
    ready.env["IOC_CITY"] = str(pack_dir)
    divisions = load_pack(pack_dir).divisions()
    # The "official" file: the pack's own outlines, shrunk a little, in GCJ-02, with official spellings.
    features = pack_features(divisions, crs="gcj02")
    file = write_boundary_file(tmp_path / "towns.geojson", features)
    result = ready("geodata", "import", str(file), "--layer", "districts", "--name-field", "XZQMC",
                   "--crs", "gcj02", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["matched"]) == 33 and report["missing"] == []
    assert "store updated" in result.stderr
    imported = load_pack(pack_dir)
    assert imported.manifest.boundaries == "imported"
    runtime = open_runtime(ready.settings())
    index = DivisionIndex(imported.divisions())
    assert index.locate(113.727, 22.981).code == "441900004"
    assert runtime.pack.manifest.boundaries == "imported"


def test_city_init_gives_a_pack_the_app_runs_on(ready, tmp_path):
    file = write_boundary_file(tmp_path / "foshan.geojson", foshan_features())
    made = ready("city", "init", "foshan", "--districts", str(file), "--name-field", "name",
                 "--city-name-zh", "佛山市", "--city-name-en", "Foshan",
                 "--timezone", "Asia/Shanghai", "--into", str(tmp_path / "packs"))
    assert made.returncode == 0, made.stderr
    assert "foshan (佛山市 / Foshan)" in made.stdout and "5 divisions" in made.stdout
    assert "no Chinese name" not in made.stdout and "named 'foshan'" not in made.stdout
    ready.env["IOC_CITY"] = str(tmp_path / "packs" / "foshan")
    assert ready("city", "load").returncode == 0
    located = ready("geodata", "locate", "113.1", "23.0")
    assert "禅城区" in located.stdout

    from app import create_app  # the web app on the new city: the map page lists its divisions
    from layouts import map_page

    app = create_app(ready.settings())
    with app.server.test_request_context("/"):
        page = str(map_page.layout(lang="en"))
    assert all(name in page for name in ("Chancheng", "Nanhai", "Shunde", "Sanshui", "Gaoming", "Foshan"))

    english = [{**f, "properties": {"NAME_2": f["properties"]["name_en"]}} for f in foshan_features()]
    gadm = write_boundary_file(tmp_path / "gadm.geojson", english)
    args = ("--districts", str(gadm), "--timezone", "Asia/Shanghai", "--into", str(tmp_path / "packs"))
    made = ready("city", "init", "fs2", *args, "--name-field", "NAME_2")
    assert made.returncode == 0, made.stderr
    assert "5 of 5 divisions have no Chinese name (name_zh; e.g. D001 Chancheng)" in made.stdout
    assert "named 'fs2' after its pack" in made.stdout
    assert load_pack(tmp_path / "packs" / "fs2").divisions()[0].name_en == "Chancheng"
    mistake = ready("city", "init", "fs3", *args, "--name-field", "NAME_2", "--name-field-en", "NAME_2")
    assert_one_line_error(mistake, "not both")


def test_users_add_and_its_mistakes(ready):
    ok = ready("users", "add", "duty1", "--role", "duty_officer", "--password-stdin", stdin="s3cret-pass\n")
    assert ok.returncode == 0 and "added duty1" in ok.stdout
    assert_one_line_error(ready("users", "add", "duty1", "--role", "duty_officer", "--password-stdin",
                                stdin="s3cret-pass\n"), "already exists")
    assert_one_line_error(ready("users", "add", "x1", "--role", "boss", "--password-stdin", stdin="s3cret-pass\n"),
                          "role 'boss'")
    assert_one_line_error(ready("users", "add", "h1", "--role", "handler", "--password-stdin", stdin="s3cret-pass\n"),
                          "--org")
    assert_one_line_error(ready("users", "add", "h1", "--role", "handler", "--org", "NOPE", "--password-stdin",
                                stdin="s3cret-pass\n"), "org 'NOPE'")
    generated = ready("users", "add", "wall1", "--role", "viewer")
    assert "generated password:" in generated.stdout


@pytest.mark.parametrize("args, fragments", [
    (["geodata", "import", "/nonexistent/towns.geojson", "--name-field", "n"], ["towns.geojson"]),
    (["geodata", "import", "x.geojson"], ["--code-field", "--name-field"]),
    (["geodata", "locate", "east", "23"], ["invalid float value"]),
    (["geodata", "locate", "113", "23", "--crs", "mars"], ["invalid choice"]),
    (["city", "init", "x", "--districts", "nope.shp", "--name-field", "n", "--timezone", "Mars/Base"], []),
    (["frobnicate"], ["invalid choice"]),
])
def test_mistakes_get_one_clear_line(cli, args, fragments):
    assert_one_line_error(cli(*args), *fragments)


def test_store_not_set_up_says_what_to_run(cli):
    assert_one_line_error(cli("city", "load"), "python -m ioc db upgrade")


def test_bad_config_file_names_the_key(cli):
    cli.config.write_text("[web]\nport = 'http'\n", encoding="utf-8")
    assert_one_line_error(cli("db", "upgrade"), "web.port")


def test_unreachable_database_is_one_line(cli):
    cli.env["IOC_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    assert_one_line_error(cli("db", "upgrade"), "cannot be reached")


def test_export_for_leaders_and_scripts(ready, tmp_path):
    import csv as csvlib

    from feeds.base import RawItem
    from ioc.intake.ingest import FeedContext, ingest_batch
    from ioc.records import IncidentRecord

    runtime = open_runtime(ready.settings())
    rows = [RawItem(f"e{n}", json.dumps({
        "external_id": f"e{n}", "channel": "110", "category": "crime" if n % 2 else "fire",
        "reported_at": f"2026-07-01T0{n}:00:00+08:00", "lon": 113.70 + 0.05 * n, "lat": 22.95}))
        for n in range(6)]
    ctx = FeedContext.for_feed("police", "test", "wgs84", runtime.pack)
    ingest_batch(runtime.engine, ctx, rows, lambda item: [IncidentRecord(**json.loads(item.payload))])

    as_json = ready("export", "incidents", "--format", "json", "--category", "crime", "--since", "2026-07-01T02:00")
    assert as_json.returncode == 0, as_json.stderr
    assert sorted(i["external_id"] for i in json.loads(as_json.stdout)) == ["e3", "e5"]
    out = tmp_path / "incidents.csv"
    to_file = ready("export", "incidents", "--format", "csv", "--out", str(out))
    assert "wrote 6 incidents" in to_file.stderr
    with out.open(encoding="utf-8-sig") as fh:
        records = list(csvlib.DictReader(fh))
    assert len(records) == 6 and records[0]["district_code"].startswith("4419")
    kpis = ready("export", "kpis", "--format", "json", "--by", "category",
                 "--since", "2026-07-01T00:00", "--until", "2026-07-01T12:00")
    groups = {r["group"]: r["incidents"] for r in json.loads(kpis.stdout)}
    assert groups == {"crime": 3, "fire": 3}
    assert_one_line_error(ready("export", "incidents", "--since", "last tuesday"), "--since")

    hotline = FeedContext.for_feed("hotline", "open311", "wgs84", runtime.pack)  # citizens' reports fuse
    reports = [RawItem(f"h{n}", json.dumps({
        "external_id": f"h{n}", "channel": "12345", "category": "waterlogging", "lon": 113.75, "lat": 23.02,
        "reported_at": f"2026-07-01T10:{10 * n:02d}:00+08:00"})) for n in range(3)]
    ingest_batch(runtime.engine, hotline, reports, lambda item: [IncidentRecord(**json.loads(item.payload))])
    plain = json.loads(ready("export", "incidents", "--format", "json", "--category", "waterlogging").stdout)
    assert [(i["external_id"], i["report_count"]) for i in plain] == [("h0", 3)]
    linked = ready("export", "incidents", "--format", "json", "--category", "waterlogging", "--include-linked")
    assert linked.returncode == 0, linked.stderr
    got = {i["external_id"]: i for i in json.loads(linked.stdout)}
    assert sorted(got) == ["h0", "h1", "h2"]
    assert got["h1"]["parent_id"] == got["h2"]["parent_id"] == got["h0"]["id"] and got["h1"]["status"] == "fused"


def history_feed(ready, tmp_path, rows: list[str]) -> str:
    """A csv feed reading a fire department's history export that has no status column."""
    file = tmp_path / "history.csv"
    file.write_text("call,received,unit,dispatched,cleared,kind,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    ready.config.write_text(ready.config.read_text(encoding="utf-8") + f"""
[demo]
enabled = false

[[feeds]]
name = "fire_history"
kind = "csv"
path = "{file}"
channel = "119"
agency = "DEPT-FIRE"
category_map = {{ "Structure Fire" = "fire" }}
mapping = {{ external_id = "call", reported_at = "received", unit_id = "unit", dispatched_at = "dispatched", cleared_at = "cleared", category = "kind", lon = "lon", lat = "lat" }}
""", encoding="utf-8")
    return str(file)


def test_history_import_closes_what_is_long_over_and_replay_changes_nothing(ready, tmp_path):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    old, recent = (now - timedelta(days=400)).isoformat(), (now - timedelta(hours=2)).isoformat()
    old_dispatch = (now - timedelta(days=400) + timedelta(minutes=3)).isoformat()
    file = history_feed(ready, tmp_path, [
        f"F1,{old},E99,{old_dispatch},,Structure Fire,113.75,23.02",  # E99: not a unit of the pack
        f"F2,{old},,,,Structure Fire,113.75,23.02",
        f"F3,{recent},,,,Structure Fire,113.75,23.02",
    ])
    result = ready("import", file, "--feed", "fire_history", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["stored"], summary["closed_as_history"], summary["units_registered"]) == (3, 2, 1)
    text = ready("import", file, "--feed", "fire_history")
    assert "fire_history:" in text.stdout and "Traceback" not in text.stderr

    runtime = open_runtime(ready.settings())
    from ioc.read import lists
    from ioc.read.lists import IncidentFilter

    by_id = {i["external_id"]: i for i in lists.incidents(runtime.engine, IncidentFilter(), 10)["items"]}
    assert by_id["F1"]["status"] == "closed" and by_id["F2"]["status"] == "closed"
    assert by_id["F3"]["status"] == "new"  # recent: still the board's
    detail = lists.incident_detail(runtime.engine, by_id["F1"]["id"])
    assert [a["unit_id"] for a in detail["assignments"]] == ["E99"]  # the unknown unit's dispatch is kept
    [unit] = [u for u in lists.units(runtime.engine) if u["id"] == "E99"]
    assert (unit["registered_by"], unit["org_code"]) == ("fire_history", "DEPT-FIRE")

    replayed = ready("feeds", "replay", "fire_history", "--all", "--json")
    assert replayed.returncode == 0, replayed.stderr
    again = json.loads(replayed.stdout)
    assert (again["fetched"], again["stored"], again["updated"], again["units_registered"]) == (3, 0, 0, 0)
    assert len(lists.incidents(runtime.engine, IncidentFilter(), 10)["items"]) == 3


def test_replay_since_must_be_a_time(ready, tmp_path):
    history_feed(ready, tmp_path, [])
    assert_one_line_error(ready("feeds", "replay", "fire_history", "--all", "--since", "yesterday"),
                          "--since", "ISO 8601")
    assert_one_line_error(ready("import", str(tmp_path / "history.csv"), "--feed", "fire_history",
                                "--close-older-than", "-1"), "--close-older-than")


CAP_FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "feeds" / "cap"


def test_feeds_poll_names_what_it_repaired_and_registers_units_the_pack_lacks(ready, httpserver):
    httpserver.expect_request("/cap/rain.xml").respond_with_data(
        (CAP_FIXTURES / "defect_open_ring.xml").read_bytes(), content_type="application/cap+xml")
    fire = {"id": "F2024-0001", "centre": "119", "received_at": "2024-07-01T12:50:00+08:00", "category": "火灾",
            "type_name": "厂房火灾", "priority": 1, "status": "已派车", "lon": 113.95, "lat": 22.91,
            "units": [{"unit_id": "MUTUAL-AID-7", "dispatched_at": "2024-07-01T12:51:00+08:00"}]}
    ambulance = {"id": "E2024-0002", "centre": "120", "received_at": "2024-07-01T12:55:00+08:00",
                 "category": "医疗急救", "type_name": "胸痛", "priority": 1, "status": "已派车", "lon": 113.80,
                 "lat": 22.82, "units": [{"unit_id": "PRIVATE-AMB-3", "dispatched_at": "2024-07-01T12:56:00+08:00"}]}
    httpserver.expect_request("/cad/incidents").respond_with_json(
        {"incidents": [fire, ambulance], "next_since": "2", "has_more": False})
    httpserver.expect_request("/cad/units").respond_with_json({"units": [], "next_since": "0", "has_more": False})
    ready.config.write_text(ready.config.read_text(encoding="utf-8") + f"""
[demo]
enabled = false

[[feeds]]
name = "gd_warnings"
kind = "cap"
url = "{httpserver.url_for('/cap/rain.xml')}"

[[feeds]]
name = "fire_cad"
kind = "emergency_cad"
base_url = "{httpserver.url_for('/cad')}"
""", encoding="utf-8")

    text = ready("feeds", "poll", "gd_warnings", "--once")
    assert text.returncode == 0, text.stderr
    assert ("  repaired gdqxt@gd.cma.example.cn,44000041600000_20240712103000,2024-07-12T10:30:00+08:00: "
            "<polygon> of area '东莞市北部镇街': not closed; closed by repeating the first pair") in text.stdout
    assert "gd_warnings: fetched 1, alerts 1, repaired 1 defects" in text.stdout

    httpserver.clear_log()
    as_json = ready("feeds", "replay", "gd_warnings", "--all", "--json")
    assert json.loads(as_json.stdout)["defects"] == [{
        "external_id": "gdqxt@gd.cma.example.cn,44000041600000_20240712103000,2024-07-12T10:30:00+08:00",
        "defect": "<polygon> of area '东莞市北部镇街': not closed; closed by repeating the first pair"}]

    cad = ready("feeds", "poll", "fire_cad", "--once", "--json")
    assert cad.returncode == 0, cad.stderr
    report = json.loads(cad.stdout)
    assert (report["stored"], report["units_registered"], report["rejected"]) == (2, 2, 0)

    from ioc.read import lists

    engine = open_runtime(ready.settings()).engine
    [alert] = lists.alerts(engine)
    assert alert["defects"] == ["<polygon> of area '东莞市北部镇街': not closed; closed by repeating the first pair"]
    [unit] = [u for u in lists.units(engine) if u["id"] == "MUTUAL-AID-7"]
    assert (unit["registered_by"], unit["org_code"], unit["status"]) == ("fire_cad", "DEPT-FIRE", "DISPATCHED")
    [amb] = [u for u in lists.units(engine) if u["id"] == "PRIVATE-AMB-3"]
    assert (amb["registered_by"], amb["org_code"]) == ("fire_cad", "DEPT-HEALTH")  # a 120 call's unit
    assert all(u["registered_by"] is None for u in lists.units(engine) if u["id"] not in ("MUTUAL-AID-7", "PRIVATE-AMB-3"))


def test_import_before_the_city_is_loaded_says_what_to_run(cli, tmp_path):
    assert cli("db", "upgrade").returncode == 0
    history_feed(cli, tmp_path, ["F1,2024-07-01T08:00:00+08:00,,,,Structure Fire,113.75,23.02"])
    assert_one_line_error(cli("import", str(tmp_path / "history.csv"), "--feed", "fire_history"),
                          "not loaded into the store", "city load")


def test_phrases_lists_the_corrected_ones_or_says_how_they_get_there(ready, tmp_path):
    empty = ready("phrases")
    assert empty.returncode == 0 and "no phrase has been corrected yet" in empty.stdout
    from sqlalchemy import create_engine, insert

    from ioc.store import models
    engine = create_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    with engine.begin() as conn:
        conn.execute(insert(models.TriagePhrase), [
            {"kind": "category", "phrase": "噪音", "suggested": "noise", "accepted": 1, "corrected": 3,
             "corrected_to": {"construction": 3}},
            {"kind": "division", "phrase": "幸福村", "suggested": "441900004", "accepted": 9, "corrected": 0,
             "corrected_to": {}}])
    engine.dispose()
    listed = ready("phrases", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["phrase"], row["corrected"], row["corrected_to"], row["corrected_share"]) == \
        ("噪音", 3, {"construction": 3}, 0.75)
    table = ready("phrases")
    assert "噪音" in table.stdout and "construction ×3" in table.stdout and "(75%)" in table.stdout
    assert_one_line_error(ready("phrases", "--kind", "street"), "invalid choice")
