"""Builders for test data: a small city pack of square divisions near Dongguan."""

from __future__ import annotations

import csv
import itertools
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from ioc import PROJECT_ROOT
from ioc.chain import sla
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
