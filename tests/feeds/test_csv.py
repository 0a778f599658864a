"""CSV adapter on our own dispatch exports: folding unit rows, encodings, cursors, rejections."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from feeds.base import RawItem
from feeds.csv_files import CsvAdapter, CsvConfig, CsvFileError, read_rows, write_payload
from ioc.config import FeedSettings
from ioc.records import IncidentRecord, Reject

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds" / "csv"
CST = timezone(timedelta(hours=8))

CHINESE = {
    "mapping": {
        "external_id": "警情编号", "reported_at": "报警时间", "category": "警情类别", "priority": "警情级别",
        "status": "警情状态", "address": "发生地址", "lon": "经度", "lat": "纬度", "description": "简要警情",
        "closed_at": "结警时间", "unit_id": "处警单位", "dispatched_at": "派警时间", "en_route_at": "出动时间",
        "on_scene_at": "到场时间", "cleared_at": "结束时间",
    },
    "datetime_format": "%Y-%m-%d %H:%M:%S",
    "category_map": {"火灾": "fire", "交通事故": "traffic_accident", "纠纷": "dispute", "求助": "help"},
    "priority_map": {"一级": "P1", "二级": "P2", "三级": "P3", "四级": "P4"},
    "status_map": {"已结警": "closed"},
    "channel": "110",
}

SF_STYLE = {
    "mapping": {
        "external_id": "Call Number", "unit_id": "Unit ID", "type": "Call Type", "category": "Call Type",
        "priority": "Priority", "reported_at": "Received DtTm", "dispatched_at": "Dispatch DtTm",
        "en_route_at": "Response DtTm", "on_scene_at": "On Scene DtTm", "cleared_at": "Available DtTm",
        "address": "Address", "location": "case_location",
    },
    "datetime_format": "%m/%d/%Y %I:%M:%S %p",
    "category_map": {"Structure Fire": "fire", "Medical Incident": "medical"},
    "channel": "119",
}


def make(**options) -> CsvAdapter:
    feed = FeedSettings(name="csv_test", kind="csv", **options)
    return CsvAdapter(feed, CsvConfig.model_validate(feed.model_extra or {}))


def config(base: dict, **overrides) -> CsvConfig:
    return CsvConfig.model_validate({"path": "unused.csv", **base, **overrides})


def parsed(adapter: CsvAdapter, items: list[RawItem]) -> dict[str, IncidentRecord]:
    out = {}
    for item in items:
        (record,) = adapter.parse(item)
        out[record.external_id] = record
    return out


def at(hour: int, minute: int, second: int, day: int = 1) -> datetime:
    return datetime(2024, 7, day, hour, minute, second, tzinfo=CST)


# -- parsing a dispatch export -------------------------------------------------------------


@pytest.mark.parametrize("name", ["dispatch_utf8_bom.csv", "dispatch_gbk.csv"])
def test_dispatch_export_folds_unit_rows_into_one_incident(name):
    adapter = make(path=str(FIXTURES / name), **CHINESE)
    items = read_rows(FIXTURES / name, adapter.config)
    assert [i.external_id for i in items] == ["J20240701001", "J20240701002", "J20240701003", "J20240701004"]
    fire = parsed(adapter, items)["J20240701001"]
    assert fire.channel == "110"
    assert fire.category == "fire" and fire.type == "火灾" and fire.extra == {"source_category": "火灾"}
    assert fire.priority == "P1"
    assert fire.status == "closed" and fire.source_status == "已结警"
    assert fire.reported_at == at(8, 15, 22)
    assert fire.reported_at.tzinfo.key == "Asia/Shanghai"
    assert fire.closed_at == at(9, 45, 0)
    assert fire.address == "东莞市南城街道鸿福路88号"
    assert fire.title == "火灾 东莞市南城街道鸿福路88号"
    assert fire.description == "商铺二楼起火，有浓烟"
    assert (fire.lon, fire.lat) == (113.7512, 23.0201)
    assert [a.unit_id for a in fire.assignments] == ["FE-NC01", "FE-NC02", "AMB-03"]
    engine, ladder, ambulance = fire.assignments
    assert (engine.dispatched_at, engine.en_route_at, engine.on_scene_at, engine.cleared_at) == (
        at(8, 16, 5), at(8, 16, 50), at(8, 24, 10), at(9, 40, 0))
    assert ladder.en_route_at == at(8, 17, 20) and ladder.cleared_at == at(9, 35, 30)
    assert ambulance.dispatched_at == at(8, 18, 0) and ambulance.on_scene_at == at(8, 29, 0)


def test_status_is_derived_from_the_units_when_the_source_gives_none():
    adapter = make(path=str(FIXTURES / "dispatch_utf8_bom.csv"), **CHINESE)
    records = parsed(adapter, read_rows(FIXTURES / "dispatch_utf8_bom.csv", adapter.config))
    crash, quarrel, lost = records["J20240701002"], records["J20240701003"], records["J20240701004"]
    assert crash.status == "on_scene" and crash.source_status == ""
    assert [(a.unit_id, a.on_scene_at) for a in crash.assignments] == [("PC-0012", at(10, 11, 5)), ("TP-0003", None)]
    assert crash.priority == "P2" and crash.category == "traffic_accident"
    assert quarrel.status == "dispatched" and (quarrel.lon, quarrel.lat) == (None, None)
    assert lost.status == "new" and lost.assignments == () and lost.priority == "P4"


def test_bom_and_gbk_exports_give_the_same_payloads():
    """Payloads are decoded and re-quoted, so one incident hashes alike from either encoding."""
    cfg = config(CHINESE)
    utf8 = read_rows(FIXTURES / "dispatch_utf8_bom.csv", cfg)
    gbk = read_rows(FIXTURES / "dispatch_gbk.csv", cfg)
    assert [i.payload for i in utf8] == [i.payload for i in gbk]
    lines = utf8[0].payload.splitlines()
    assert lines[0].startswith("警情编号,报警时间,警情类别")
    assert len(lines) == 4 and all(line.startswith("J20240701001,") for line in lines[1:])


def test_explicit_encoding_and_a_wrong_one():
    assert len(read_rows(FIXTURES / "dispatch_gbk.csv", config(CHINESE, encoding="gbk"))) == 4
    assert len(read_rows(FIXTURES / "dispatch_utf8_bom.csv", config(CHINESE, encoding="utf-8"))) == 4
    with pytest.raises(CsvFileError, match="dispatch_gbk.csv: cannot decode"):
        read_rows(FIXTURES / "dispatch_gbk.csv", config(CHINESE, encoding="utf-8"))


def test_wkt_location_column_and_a_strptime_format():
    adapter = make(path=str(FIXTURES / "cad_units_point.csv"), **SF_STYLE)
    records = parsed(adapter, read_rows(FIXTURES / "cad_units_point.csv", adapter.config))
    fire, medical = records["241830021"], records["241830044"]
    assert (fire.lon, fire.lat) == (113.8862, 22.9365)
    assert fire.reported_at == at(21, 5, 12)
    assert fire.category == "fire" and fire.type == "Structure Fire" and fire.priority == "P1"
    assert fire.status == "resolved"  # every unit available again, nobody closed it
    assert [(a.unit_id, a.cleared_at) for a in fire.assignments] == [("E21", at(22, 2, 0)), ("T05", at(21, 58, 45))]
    assert medical.category == "medical" and medical.status == "dispatched"
    assert medical.assignments[0].en_route_at == at(23, 49, 5)


def test_sniffed_semicolons_latlon_pairs_and_offsets_kept():
    adapter = make(
        path=str(FIXTURES / "latlon_semicolon.csv"),
        mapping={"external_id": "id", "reported_at": "time", "category": "kind", "location": "pos"},
        location_order="latlon", category_map={"道路积水": "waterlogging"},
    )
    records = parsed(adapter, read_rows(FIXTURES / "latlon_semicolon.csv", adapter.config))
    first, second = records["L-1"], records["L-2"]
    assert (first.lon, first.lat) == (113.7512, 23.0201)
    assert (second.lon, second.lat) == (113.8862, 22.9365)
    assert first.reported_at == datetime(2024, 7, 2, 8, 0, tzinfo=CST)  # naive: Asia/Shanghai
    assert second.reported_at == datetime(2024, 7, 2, 8, 5, tzinfo=timezone.utc)  # its own offset wins
    assert first.category == second.category == "waterlogging"
    assert first.channel == "import" and first.title == "道路积水"


@pytest.mark.parametrize(("text", "order", "expected"), [
    ("113.75,23.02", "lonlat", (113.75, 23.02)),
    ("23.02, 113.75", "latlon", (113.75, 23.02)),
    ("113.75 23.02", "lonlat", (113.75, 23.02)),
    ("(113.75，23.02)", "lonlat", (113.75, 23.02)),
    ("POINT(113.75 23.02)", "latlon", (113.75, 23.02)),
    ("point (113.75 23.02)", "lonlat", (113.75, 23.02)),
    ("", "lonlat", (None, None)),
])
def test_combined_location_forms(text, order, expected):
    adapter = make(path="x.csv", mapping={"external_id": "id", "reported_at": "t", "location": "loc"},
                   location_order=order)
    item = RawItem("A", write_payload(["id", "t", "loc"], [["A", "2024-07-01T08:00:00", text]]))
    (record,) = adapter.parse(item)
    assert (record.lon, record.lat) == expected


@pytest.mark.parametrize("text", ["113.75", "abc,def", "POINT(x y)", "1,2,3"])
def test_unreadable_location_is_rejected_naming_the_column(text):
    adapter = make(path="x.csv", mapping={"external_id": "id", "reported_at": "t", "location": "坐标"})
    item = RawItem("A", write_payload(["id", "t", "坐标"], [["A", "2024-07-01T08:00:00", text]]))
    with pytest.raises(Reject, match=re.escape(f"location: column '坐标' value '{text}'")):
        adapter.parse(item)


# -- bad rows -------------------------------------------------------------------------------


BAD_ROWS = {**CHINESE, "path": str(FIXTURES / "bad_rows.csv"), "mapping": {
    k: v for k, v in CHINESE["mapping"].items()
    if k not in ("status", "description", "closed_at", "en_route_at", "cleared_at")
}}


def test_bad_row_groups_are_rejected_with_reasons_and_good_ones_parse():
    adapter = make(**BAD_ROWS, default_category="")
    outcomes: dict[str | None, str] = {}
    for item in read_rows(FIXTURES / "bad_rows.csv", adapter.config):
        try:
            (record,) = adapter.parse(item)
            outcomes[item.external_id] = f"ok {record.category}"
        except Reject as exc:
            outcomes[item.external_id] = str(exc)
    assert outcomes["B001"] == "ok fire"
    assert outcomes["B008"] == "ok help"
    assert "报警时间" in outcomes["B002"] and "'2024/07/01 08:00'" in outcomes["B002"]
    assert "警情类别" in outcomes["B003"] and "'外星人'" in outcomes["B003"] and "default_category" in outcomes["B003"]
    assert "经度" in outcomes["B004"] and "'113.7x'" in outcomes["B004"]
    assert "到场时间" in outcomes["B005"] and "'8:45'" in outcomes["B005"]  # one bad unit row spoils its incident
    assert "out of range" in outcomes["B006"]
    assert "警情级别" in outcomes["B007"] and "'九级'" in outcomes["B007"]
    assert outcomes[None] == "external_id: column '警情编号' is empty"


def test_unmapped_category_falls_back_to_the_default():
    adapter = make(**BAD_ROWS)
    item = next(i for i in read_rows(FIXTURES / "bad_rows.csv", adapter.config) if i.external_id == "B003")
    (record,) = adapter.parse(item)
    assert record.category == "other" and record.type == "外星人"


def test_unknown_status_is_rejected():
    adapter = make(path="x.csv", mapping={"external_id": "id", "reported_at": "t", "status": "状态"})
    item = RawItem("A", write_payload(["id", "t", "状态"], [["A", "2024-07-01T08:00:00", "挂起"]]))
    with pytest.raises(Reject, match="status: column '状态' value '挂起' is not in status_map"):
        adapter.parse(item)


# -- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    ({"path": "a.csv", "url": "http://x/a.csv"}, "exactly one of path or url"),
    ({}, "exactly one of path or url"),
    ({"path": "a.csv", "mapping": {"external_id": "id"}}, "reported_at must be mapped"),
    ({"path": "a.csv", "mapping": {"external_id": "id", "reported_at": "t", "colour": "c"}}, "unknown field"),
    ({"path": "a.csv", "mapping": {"external_id": "id", "reported_at": "t", "lon": "x"}}, "both lon and lat"),
    ({"path": "a.csv", "mapping": {"external_id": "id", "reported_at": "t", "location": "l", "lon": "x", "lat": "y"}},
     "either location or lon/lat"),
    ({"path": "a.csv", "category_map": {"火灾": "blaze"}}, "unknown target"),
    ({"path": "a.csv", "priority_map": {"一级": "urgent"}}, "unknown target"),
    ({"path": "a.csv", "timezone": "Mars/Olympus"}, "IANA"),
    ({"path": "a.csv", "encoding": "klingon"}, "unknown encoding"),
    ({"path": "a.csv", "channel": "999"}, "channel"),
])
def test_config_mistakes_are_refused(options, message):
    data = {"mapping": {"external_id": "id", "reported_at": "t"}, **options}
    with pytest.raises(ValidationError, match=message):
        CsvConfig.model_validate(data)


# -- fetch: folder, file, url ---------------------------------------------------------------


HEADER = (FIXTURES / "dispatch_utf8_bom.csv").read_text(encoding="utf-8-sig").splitlines()[0]


def _line(ext_id: str, reported: str, category: str, unit: str = "", dispatched: str = "") -> str:
    """One row of the export's 15 columns with only these filled in."""
    return ",".join([ext_id, reported, category, "", "", "", "", "", unit, dispatched, "", "", "", "", ""]) + "\n"


def _small_export(rows: list[tuple[str, ...]]) -> str:
    return HEADER + "\n" + "".join(_line(*row) for row in rows)


@pytest.fixture
def drop_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(FIXTURES / "dispatch_gbk.csv", folder / "a.csv")
    (folder / "b.csv").write_text(_small_export([
        ("K1", "2024-07-01 12:00:00", "纠纷", "PC-0001", "2024-07-01 12:01:00"),
        ("K2", "2024-07-01 12:05:00", "求助"),
    ]), encoding="utf-8")
    (folder / "notes.txt").write_text("not a csv", encoding="utf-8")
    return folder


def test_folder_cursor_reads_only_new_or_changed_files(drop_folder: Path):
    adapter = make(path=str(drop_folder), **CHINESE)
    first = adapter.fetch(None, None)
    assert len(first.items) == 6 and not first.more
    assert set(json.loads(first.cursor)) == {"a.csv", "b.csv"}

    again = adapter.fetch(first.cursor, None)
    assert again.items == [] and again.cursor == first.cursor

    os.utime(drop_folder / "a.csv", (1, 1))  # touched, same bytes: nothing to read
    assert adapter.fetch(first.cursor, None).items == []

    with (drop_folder / "b.csv").open("a", encoding="utf-8") as fh:
        fh.write(_line("K1", "2024-07-01 12:00:00", "纠纷", "PC-0009", "2024-07-01 12:10:00"))
    changed = adapter.fetch(first.cursor, None)
    assert [i.external_id for i in changed.items] == ["K1", "K2"]
    (k1,) = adapter.parse(changed.items[0])
    assert [a.unit_id for a in k1.assignments] == ["PC-0001", "PC-0009"]

    (drop_folder / "c.csv").write_text(_small_export([("K3", "2024-07-01 13:00:00", "火灾")]), encoding="utf-8")
    (drop_folder / "a.csv").unlink()
    added = adapter.fetch(changed.cursor, None)
    assert [i.external_id for i in added.items] == ["K3"]
    assert set(json.loads(added.cursor)) == {"b.csv", "c.csv"}


def test_a_broken_file_never_blocks_the_others(drop_folder: Path):
    (drop_folder / "bad.csv").write_text("编号,时间\nX,2024-07-01 12:00:00\n", encoding="utf-8")
    adapter = make(path=str(drop_folder), **CHINESE)
    first = adapter.fetch(None, None)
    assert len(first.items) == 6 and first.more  # the good files first
    assert "bad.csv" not in json.loads(first.cursor)
    with pytest.raises(CsvFileError, match=r"bad\.csv: column '警情编号' \(mapped to external_id\) is not in the header"):
        adapter.fetch(first.cursor, None)
    (drop_folder / "bad.csv").write_text(_small_export([("K9", "2024-07-01 12:00:00", "火灾")]), encoding="utf-8")
    fixed = adapter.fetch(first.cursor, None)
    assert [i.external_id for i in fixed.items] == ["K9"] and not fixed.more


def test_single_file_cursor_is_its_hash(tmp_path: Path):
    path = tmp_path / "export.csv"
    shutil.copy(FIXTURES / "dispatch_utf8_bom.csv", path)
    adapter = make(path=str(path), **CHINESE)
    first = adapter.fetch(None, None)
    assert len(first.items) == 4 and len(first.cursor) == 64
    assert adapter.fetch(first.cursor, None).items == []
    path.unlink()
    with pytest.raises(CsvFileError, match="no such file"):
        adapter.fetch(first.cursor, None)


def test_url_fetch_over_http(httpserver):
    body = (FIXTURES / "dispatch_gbk.csv").read_bytes()
    httpserver.expect_request("/exports/today.csv").respond_with_data(body, content_type="text/csv")
    adapter = make(url=httpserver.url_for("/exports/today.csv"), **CHINESE)
    with httpx.Client(timeout=5) as client:
        first = adapter.fetch(None, client)
        assert [i.external_id for i in first.items][:2] == ["J20240701001", "J20240701002"]
        assert adapter.fetch(first.cursor, client).items == []
        httpserver.clear()
        httpserver.expect_request("/exports/today.csv").respond_with_data(
            body + "J20240701005,2024-07-01 14:00:00,求助,四级,,,,,,,,,,,\r\n".encode("gbk"))
        changed = adapter.fetch(first.cursor, client)
        assert len(changed.items) == 5 and changed.cursor != first.cursor
        httpserver.clear()
        httpserver.expect_request("/exports/today.csv").respond_with_data("down", status=503)
        with pytest.raises(httpx.HTTPStatusError):
            adapter.fetch(changed.cursor, client)
