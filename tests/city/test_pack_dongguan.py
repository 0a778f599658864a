"""The default city pack, ``geodata/dongguan``: the facts and guarantees the dashboard relies on."""

import runpy
from collections import Counter

import pytest
import shapely
from shapely.geometry import Point

from ioc import PROJECT_ROOT
from ioc.city.pack import DISTRICTS, load_pack

PACK_DIR = PROJECT_ROOT / "geodata" / "dongguan"

OFFICIAL_CODES = [
    "441900003", "441900004", "441900005", "441900006",
    *(f"4419001{n:02d}" for n in range(1, 20)),
    *(f"4419001{n:02d}" for n in range(21, 30)),
    "441900401",
]
# Listed centroids (WGS-84) from the domain brief, section 6.
KNOWN_CENTROIDS = {
    "441900004": (113.727, 22.981),  # Nancheng
    "441900006": (113.736, 23.042),  # Guancheng, the smallest
    "441900121": (113.692, 22.822),  # Humen, the largest
    "441900126": (113.556, 23.039),  # Machong, far west
    "441900117": (114.155, 22.732),  # Fenggang, far south-east
    "441900401": (113.878, 22.918),  # Songshan Lake
}
HOME_KINDS = {
    "police_car": {"police_station"},
    "fire_engine": {"fire_station"},
    "ambulance": {"ems_station", "hospital"},
    "urban_patrol": {"urban_station"},
    "rescue_team": {"rescue_base"},
}


@pytest.fixture(scope="module")
def pack():
    return load_pack(PACK_DIR)


@pytest.fixture(scope="module")
def shapes(pack):
    return {d.code: d.shape for d in pack.divisions()}


def test_manifest(pack):
    m = pack.manifest
    assert (m.name, m.name_zh, m.name_en, m.adcode) == ("dongguan", "东莞市", "Dongguan", "441900")
    assert m.timezone == "Asia/Shanghai"
    assert m.bbox == (113.517, 22.650, 114.250, 23.150)
    assert m.boundaries == "approximate"
    assert "python -m ioc geodata import" in m.boundaries_note


def test_divisions_are_the_33_official_ones(pack):
    divisions = {d.code: d for d in pack.divisions()}
    assert sorted(divisions) == OFFICIAL_CODES
    assert Counter(d.kind for d in divisions.values()) == {"subdistrict": 4, "town": 28, "zone": 1}
    assert divisions["441900006"].name_zh == "莞城街道"
    assert divisions["441900101"].name_zh == "石碣镇"
    songshan = divisions["441900401"]
    assert (songshan.name_zh, songshan.name_en) == ("松山湖(功能区)", "Songshan Lake")
    assert divisions["441900119"].name_en == "Chang'an"


def test_populations_are_the_2020_census(pack):
    populations = {d.code: d.population for d in pack.divisions()}
    assert sum(populations.values()) == 10_466_625
    assert populations["441900121"] == 838_144  # Humen


def test_polygons_are_valid_and_in_the_bbox(pack, shapes):
    west, south, east, north = pack.manifest.bbox
    for code, geom in shapes.items():
        assert geom.geom_type in ("Polygon", "MultiPolygon"), code
        assert geom.is_valid, code
        minx, miny, maxx, maxy = geom.bounds
        assert west <= minx and maxx <= east and south <= miny and maxy <= north, code


def test_polygons_tile_without_overlaps_or_gaps(shapes):
    geoms = list(shapes.values())
    union = shapely.union_all(geoms)
    assert union.area == pytest.approx(sum(g.area for g in geoms), rel=1e-9)  # no overlaps
    assert union.geom_type == "Polygon" and not union.interiors  # one piece, no holes
    assert shapely.coverage_is_valid(geoms, gap_width=0.001)  # shared edges match, no slivers


def test_each_listed_centroid_lies_in_its_own_polygon(shapes):
    for code, (lon, lat) in KNOWN_CENTROIDS.items():
        owners = [c for c, geom in shapes.items() if geom.contains(Point(lon, lat))]
        assert owners == [code]


def test_coordinates_are_rounded_and_the_file_small(shapes):
    coords = shapely.get_coordinates(list(shapes.values()))
    assert (coords.round(5) == coords).all()
    assert (PACK_DIR / DISTRICTS).stat().st_size < 300_000


def test_pack_check_is_clean(pack):
    assert pack.check() == []


def test_every_division_has_exactly_one_office(pack):
    offices = Counter(o.district_code for o in pack.orgs() if o.kind == "office")
    assert offices == {code: 1 for code in OFFICIAL_CODES}
    services = {o.service for o in pack.orgs() if o.kind == "department"}
    assert {"police", "fire", "health", "urban", "emergency", "water", "hotline"} <= services


def test_key_points_lie_inside_their_division(pack, shapes):
    for p in pack.key_points():
        assert p.demo, p.id
        assert shapes[p.district_code].contains(Point(p.lon, p.lat)), p.id


def test_every_division_has_its_police_and_urban_stations(pack):
    for kind in ("police_station", "urban_station", "shelter"):
        covered = {p.district_code for p in pack.key_points() if p.kind == kind}
        assert covered == set(OFFICIAL_CODES), kind


def test_each_flood_point_has_a_gauge_on_the_spot(pack):
    points = pack.key_points()
    floods = {(p.lon, p.lat) for p in points if p.kind == "flood_point"}
    gauges = {(p.lon, p.lat) for p in points if p.kind == "water_gauge"}
    assert floods and floods == gauges


def test_units_are_homed_at_a_matching_station(pack):
    points = {p.id: p for p in pack.key_points()}
    units = pack.units()
    assert 300 <= len(units) <= 450
    for u in units:
        assert u.demo, u.id
        home = points[u.home_point_id]
        assert home.kind in HOME_KINDS[u.unit_type], u.id
        assert u.org_code == home.org_code, u.id
    assert len({u.call_sign for u in units}) == len(units)


def test_generator_reproduces_the_shipped_files(tmp_path):
    make_pack = runpy.run_path(str(PACK_DIR / "make_pack.py"), run_name="make_pack")
    make_pack["main"](out=tmp_path)
    assert len(list(tmp_path.iterdir())) == 5
    for file in sorted(tmp_path.iterdir()):
        assert file.read_bytes() == (PACK_DIR / file.name).read_bytes(), file.name
