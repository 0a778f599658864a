"""Builders for test data: a small city pack of square divisions near Dongguan."""

from __future__ import annotations

import csv
import itertools
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ioc import PROJECT_ROOT
from ioc.chain import dispatch, sla, workflow
from ioc.chain.actions import Actor
from ioc.city.pack import (
    KEY_POINT_FIELDS,
    ORG_FIELDS,
    UNIT_FIELDS,
    Division,
    Manifest,
    MapView,
    load_pack,
    write_divisions,
    write_manifest,
)
from ioc.store import models
from ioc.store.db import transaction

# Four 0.1° squares in a 2×2 grid: (code, name_zh, name_en, west, south).
SQUARES = [
    ("T01", "甲街道", "Jia", 113.70, 22.90),
    ("T02", "乙镇", "Yi", 113.80, 22.90),
    ("T03", "丙镇", "Bing", 113.70, 23.00),
    ("T04", "丁镇", "Ding", 113.80, 23.00),
]


def square(west: float, south: float, size: float = 0.1) -> dict:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def make_small_pack(root: Path, name: str = "testville"):
    """Write a consistent four-division pack under ``root/name`` and load it."""
    path = root / name
    path.mkdir(parents=True)
    write_manifest(path, Manifest(
        name=name, name_zh="测试市", name_en="Testville", timezone="Asia/Shanghai",
        bbox=(113.70, 22.90, 113.90, 23.10), map=MapView(center=(113.80, 23.00), zoom=11),
    ))
    write_divisions(path, [
        Division(code=code, name_zh=zh, name_en=en, kind="town", population=100_000 * (i + 1),
                 geometry=square(w, s))
        for i, (code, zh, en, w, s) in enumerate(SQUARES)
    ])
    orgs = [{"code": "IOC", "name_zh": "指挥中心", "name_en": "IOC", "kind": "city", "service": "ioc"},
            {"code": "DEPT-POLICE", "name_zh": "公安局", "name_en": "Police", "kind": "department",
             "service": "police", "parent": "IOC"}]
    orgs += [{"code": f"OFF-{code}", "name_zh": f"{zh}办", "name_en": f"{en} office", "kind": "office",
              "service": "town", "parent": "IOC", "district_code": code} for code, zh, en, *_ in SQUARES]
    points = [{"id": f"PS-{code}", "kind": "police_station", "name_zh": f"{zh}派出所",
               "name_en": f"{en} Police Station", "lon": w + 0.05, "lat": s + 0.05,
               "district_code": code, "org_code": "DEPT-POLICE", "demo": "true"}
              for code, zh, en, w, s in SQUARES]
    units = [{"id": f"PC-{i:02d}", "call_sign": f"巡{i:02d}", "unit_type": "police_car",
              "org_code": "DEPT-POLICE", "home_point_id": points[i % len(points)]["id"], "demo": "true"}
             for i in range(8)]
    _write_csv(path / "orgs.csv", ORG_FIELDS, orgs)
    _write_csv(path / "key_points.csv", KEY_POINT_FIELDS, points)
    _write_csv(path / "units.csv", UNIT_FIELDS, units)
    shutil.copy(PROJECT_ROOT / "geodata" / "dongguan" / "rules.toml", path / "rules.toml")
    return load_pack(path)


def _write_csv(file: Path, fields: list[str], rows: list[dict]) -> None:
    with file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


# --- command-chain builders ------------------------------------------------------------------

T0 = datetime(2026, 7, 1, 0, 0, tzinfo=timezone.utc)
OFFICER = Actor("zhang", "duty_officer")
OPERATOR = Actor("wang", "operator")
VIEWER = Actor("wall", "viewer")
LEADER = Actor("chen", "leader")
_ids = itertools.count(1)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def add_incident(engine, pack=None, **over) -> int:
    """An incident as ingest would leave it (with SLA clocks when a pack is given)."""
    values = dict(source="test", external_id=f"x-{next(_ids)}", channel="110", category="crime", priority="P2",
                  status="new", reported_at=T0, district_code="T01", org_code="OFF-T01", lon=113.75, lat=22.95)
    values |= over
    values["sources"] = [{"source": values["source"], "external_id": values["external_id"],
                          "channel": values["channel"]}]
    with transaction(engine) as s:
        incident = models.Incident(**values)
        s.add(incident)
        s.flush()
        if pack is not None:
            sla.apply_incident_clocks(s, incident, pack)
        return incident.id


def load(engine, model, key):
    with transaction(engine) as s:
        return s.get(model, key)


def audits(engine, target_type: str, target_id) -> list[models.Audit]:
    with transaction(engine) as s:
        return list(s.scalars(select(models.Audit).where(models.Audit.target_type == target_type,
                                                         models.Audit.target_id == str(target_id))
                              .order_by(models.Audit.id)))


# --- triage (智能分拨) ----------------------------------------------------------------------------

SMALL_TRIAGE = """
[places]
"幸福村" = "T02"

[categories.noise]
department = "town"
phrases = ["噪音", "扰民", "吵"]

[categories.crime]
department = "DEPT-POLICE"
phrases = ["被偷", "小偷"]

[categories.construction]
department = "town"
phrases = ["施工", "工地"]
"""


def write_small_triage(pack) -> None:
    """Give the small pack a triage.toml: 幸福村 is in 乙镇 (T02); noise, crime and construction phrases."""
    (pack.path / "triage.toml").write_text(SMALL_TRIAGE, encoding="utf-8")


# --- city replay: a typhoon night ----------------------------------------------------------------

CST = ZoneInfo("Asia/Shanghai")
NIGHT = date(2026, 7, 1)
COLOUR_ZH = {"white": "白", "blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"}


def night_at(hh: int, mm: int = 0, day: int = 1) -> datetime:
    """A time on the night of 1 July (day 2: the morning after; 29, 30: the end of June)."""
    return datetime(2026, 6 if day > 2 else 7, day, hh, mm, tzinfo=CST)


def _version(engine, incident_id: int) -> int:
    with transaction(engine) as s:
        return s.get(models.Incident, incident_id).version


def _step(engine, fn, incident_id: int, *args, now: datetime) -> None:
    fn(engine, OFFICER, incident_id, _version(engine, incident_id), *args, now=now)


def add_alert(engine, identifier: str, colour: str, sent: datetime, expires: datetime | None, event: str = "台风",
              **over) -> int:
    with transaction(engine) as s:
        alert = models.Alert(feed="cap", sender="gd-weather", identifier=identifier, sent=sent, status="Actual",
                             msg_type=over.pop("msg_type", "Alert"), event=event, headline=f"{event}{COLOUR_ZH[colour]}色预警",
                             onset=sent, expires=expires, extra={"colour": colour},
                             areas={"type": "FeatureCollection",
                                    "features": [{"type": "Feature", "geometry": square(113.7, 22.9),
                                                  "properties": {}}]}, **over)
        s.add(alert)
        s.flush()
        return alert.id


def typhoon_night(engine, pack) -> dict[str, int]:
    """A typhoon night, 1 July 2026 (city time), through the chain's own service functions; the
    incidents' and warnings' ids by letter (see tests/read/test_replay.py for the story)."""
    ids = {}
    # A: flooded underpass, the whole story, closed before midnight.
    ids["A"] = add_incident(engine, pack, category="waterlogging", priority="P2", reported_at=night_at(21),
                            lon=113.72, lat=22.92)
    _step(engine, workflow.acknowledge, ids["A"], now=night_at(21, 5))
    (job,) = dispatch.dispatch(engine, OFFICER, ids["A"], ["PC-00"], _version(engine, ids["A"]), now=night_at(21, 10))
    dispatch.update_assignment_status(engine, OFFICER, job.id, "EN_ROUTE", now=night_at(21, 12))
    dispatch.update_assignment_status(engine, OFFICER, job.id, "ON_SCENE", now=night_at(21, 30))
    # C: a second call about A, merged into it.
    ids["C"] = add_incident(engine, pack, category="waterlogging", priority="P3", reported_at=night_at(21, 15),
                            lon=113.7201, lat=22.9201)
    workflow.merge(engine, OFFICER, ids["C"], ids["A"], _version(engine, ids["C"]), _version(engine, ids["A"]),
                   now=night_at(21, 20))
    dispatch.update_assignment_status(engine, OFFICER, job.id, "CLEARED", now=night_at(22, 25))
    _step(engine, workflow.resolve, ids["A"], now=night_at(22, 30))
    _step(engine, workflow.close, ids["A"], now=night_at(23))
    # B: a fallen tree that was not there.
    ids["B"] = add_incident(engine, pack, category="fallen_tree", priority="P3", reported_at=night_at(22))
    _step(engine, workflow.cancel, ids["B"], "false report", now=night_at(22, 20))
    # D: people trapped; resolved too soon, reopened, still going at midnight.
    ids["D"] = add_incident(engine, pack, category="rescue", priority="P1", reported_at=night_at(23, 30),
                            lon=113.78, lat=22.98)
    (job,) = dispatch.dispatch(engine, OFFICER, ids["D"], ["PC-01"], _version(engine, ids["D"]), now=night_at(23, 35))
    dispatch.update_assignment_status(engine, OFFICER, job.id, "ON_SCENE", now=night_at(23, 50))
    _step(engine, workflow.resolve, ids["D"], now=night_at(23, 55))
    _step(engine, workflow.reopen, ids["D"], "still trapped", now=night_at(23, 58))
    _step(engine, workflow.resolve, ids["D"], now=night_at(0, 30, day=2))
    # F: an old complaint, open all day; E: closed the day before (not in the replay).
    ids["F"] = add_incident(engine, pack, category="noise", priority="P4", reported_at=night_at(10, day=29),
                            updated_at=night_at(10, day=29))
    ids["E"] = add_incident(engine, pack, status="closed", reported_at=night_at(10, day=30), closed_at=night_at(12, day=30),
                            resolved_at=night_at(11, day=30), updated_at=night_at(12, day=30))
    # H: from a CAD feed: the source's dispatch time is a stamp; "on scene" came only as an update.
    ids["H"] = add_incident(engine, pack, category="fire", priority="P1", status="on_scene", reported_at=night_at(21, 38),
                            dispatched_at=night_at(21, 40))
    with transaction(engine) as s:
        s.add(models.IncidentEvent(incident_id=ids["H"], at=night_at(21, 41), kind="created", actor="feed:cad",
                                   data={"status": "new", "priority": "P1"}))
        s.add(models.IncidentEvent(incident_id=ids["H"], at=night_at(21, 42), kind="updated", actor="feed:cad",
                                   data={"status": "dispatched"}))
        s.add(models.IncidentEvent(incident_id=ids["H"], at=night_at(21, 50), kind="updated", actor="feed:cad",
                                   data={"status": "on_scene"}))
    # Warnings: yellow rainstorm updated to orange at 21:00; typhoon red from 20:00 to 04:00.
    yellow = add_alert(engine, "rain-1", "yellow", night_at(18), night_at(23, 59), event="暴雨")
    orange = add_alert(engine, "rain-2", "orange", night_at(21), night_at(23, 59), event="暴雨", msg_type="Update")
    with transaction(engine) as s:
        s.get(models.Alert, yellow).superseded_by_id = orange
    ids["red"] = add_alert(engine, "ty-1", "red", night_at(20), night_at(4, day=2))
    ids["yesterday"] = add_alert(engine, "old", "blue", night_at(8, day=30), night_at(12, day=30))
    return ids
