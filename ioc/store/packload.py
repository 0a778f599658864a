"""Mirror a city pack into the store: districts, orgs, key points and units.

Loading is idempotent. Live unit state (status, position) is never reset by a reload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyproj import Geod
from sqlalchemy import Engine, func, select

from ioc.city.pack import CityPack, KeyPoint, Unit
from ioc.errors import UserError
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.upsert import upsert

log = logging.getLogger(__name__)

_GEOD = Geod(ellps="WGS84")


@dataclass
class PackLoadReport:
    pack: str
    districts: int
    orgs: int
    key_points: int
    units: int
    stale_districts: list[str]

    def summary(self) -> str:
        text = (
            f"loaded city pack {self.pack}: {self.districts} divisions, {self.orgs} orgs, "
            f"{self.key_points} key points, {self.units} units"
        )
        if self.stale_districts:
            text += f"; {len(self.stale_districts)} divisions in the store are no longer in the pack"
        return text


def load_pack_into_store(engine: Engine, pack: CityPack) -> PackLoadReport:
    problems = pack.check()
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"city pack {pack.name} is inconsistent: {problems[0]}{more}")
    with transaction(engine) as session:
        n_div = upsert(session, models.District, _district_rows(pack), ["code"])
        n_org = upsert(session, models.Org, _org_rows(pack), ["code"])
        n_kp = upsert(session, models.KeyPoint, [p.model_dump() for p in pack.key_points()], ["id"])
        homes = {p.id: p for p in pack.key_points()}
        unit_rows = [_unit_row(u, homes.get(u.home_point_id)) for u in pack.units()]
        static = ["call_sign", "unit_type", "org_code", "home_point_id", "name_zh", "name_en", "demo", "registered_by"]
        n_unit = upsert(session, models.Unit, unit_rows, ["id"], update=static)
        in_pack = {d.code for d in pack.divisions()}
        stale = sorted(set(session.scalars(select(models.District.code))) - in_pack)
    report = PackLoadReport(pack.name, n_div, n_org, n_kp, n_unit, stale)
    log.info(report.summary())
    return report


def _district_rows(pack: CityPack) -> list[dict]:
    rows = []
    for d in pack.divisions():
        area_m2, _ = _GEOD.geometry_area_perimeter(d.shape)
        rows.append({
            # Screens read name_zh first: a division the pack names only in English shows that name.
            "code": d.code, "name_zh": d.name(lang="zh-CN"), "name_en": d.name_en, "kind": d.kind,
            "population": d.population, "geometry": d.geometry, "area_km2": round(abs(area_m2) / 1e6, 2),
        })
    return rows


def _org_rows(pack: CityPack) -> list[dict]:
    # Parents first, so each row's foreign key already exists when it is inserted.
    orgs = sorted(pack.orgs(), key=lambda o: (o.parent is not None, o.kind != "city"))
    return [
        {"code": o.code, "name_zh": o.name_zh, "name_en": o.name_en, "kind": o.kind,
         "service": o.service, "parent_code": o.parent, "district_code": o.district_code}
        for o in orgs
    ]


def _unit_row(unit: Unit, home: KeyPoint | None) -> dict:
    # A new unit starts available at its home station; live state is the feeds' to change.
    row = unit.model_dump()
    row.update(status="AVAILABLE", lon=home.lon if home else None, lat=home.lat if home else None,
               registered_by=None)  # a unit a feed registered becomes the pack's own once the pack lists it
    return row


def check_pack_loaded(engine: Engine, pack: CityPack) -> None:
    """Raise a one-line ``UserError`` when the pack's divisions are not in the store yet (feeds
    and imports would otherwise fail deep inside on a foreign key)."""
    codes = [d.code for d in pack.divisions()]
    with transaction(engine) as session:
        found = session.scalar(select(func.count()).select_from(models.District)
                               .where(models.District.code.in_(codes)))
    if not found:
        raise UserError(f"the city pack {pack.name} is not loaded into the store; run `python -m ioc city load`")
