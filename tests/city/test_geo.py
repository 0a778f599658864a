"""Coordinate conversions against the domain brief's test vectors, and point-in-division lookup."""

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping

from ioc.city import geo
from ioc.city.pack import Division
from ioc.errors import UserError
from tests.boundaries import grid_divisions, real_polygons

DONGGUAN_GOV = (113.752, 23.021)


def metres(a, b):
    """Ground distance between two (lon, lat) pairs, flat-earth: fine at these scales."""
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    dy = (a[1] - b[1]) * 110_574
    return math.hypot(dx, dy)


def dongguan_grid(n=12):
    lons, lats = np.meshgrid(np.linspace(113.52, 114.25, n), np.linspace(22.65, 23.15, n))
    return lons.ravel(), lats.ravel()


def test_beijing_wgs_to_gcj_is_exact():
    expected = (116.41024449916938, 39.91640428150164)
    assert geo.wgs84_to_gcj02(116.404, 39.915) == pytest.approx(expected, abs=1e-12)


def test_beijing_gcj_bd_vectors():
    assert geo.gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949, 39.92133699), abs=1e-8)
    assert geo.bd09_to_gcj02(116.404, 39.915) == pytest.approx((116.39762729, 39.90865673), abs=1e-8)


def test_dongguan_government_vectors():
    assert geo.wgs84_to_gcj02(*DONGGUAN_GOV) == pytest.approx((113.757193, 23.018278), abs=6e-7)
    assert geo.wgs84_to_bd09(*DONGGUAN_GOV) == pytest.approx((113.763607, 23.024612), abs=6e-7)
    assert geo.from_wgs84(*DONGGUAN_GOV, "gcj02") == geo.wgs84_to_gcj02(*DONGGUAN_GOV)


def test_dongguan_offset_is_about_600_metres():
    assert 500 < metres(DONGGUAN_GOV, geo.wgs84_to_gcj02(*DONGGUAN_GOV)) < 700


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_round_trips_stay_under_a_tenth_of_a_metre(crs):
    lons, lats = dongguan_grid()
    back = geo.to_wgs84_arrays(*geo.from_wgs84_arrays(lons, lats, crs), crs)
    worst = max(metres((x, y), (bx, by)) for x, y, bx, by in zip(lons, lats, *back))
    assert worst < 0.1


def test_gcj_inverse_is_under_a_millimetre():
    lons, lats = dongguan_grid()
    for lon, lat in zip(lons, lats):
        assert metres((lon, lat), geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lon, lat))) < 0.001


def test_scalar_bd_wgs_pair_round_trips():
    assert metres(DONGGUAN_GOV, geo.bd09_to_wgs84(*geo.wgs84_to_bd09(*DONGGUAN_GOV))) < 0.1
    baidu = geo.from_wgs84(*DONGGUAN_GOV, "bd09")
    assert geo.to_wgs84(*baidu, "bd09") == pytest.approx(DONGGUAN_GOV, abs=1e-6)


@pytest.mark.parametrize("point", [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9)])
def test_gcj_offset_skipped_outside_china(point):
    assert geo.wgs84_to_gcj02(*point) == point
    assert geo.gcj02_to_wgs84(*point) == point


def test_arrays_match_scalars_and_leave_input_alone():
    lons, lats = dongguan_grid(5)
    before = lons.copy()
    x, y = geo.from_wgs84_arrays(lons, lats, "gcj02")
    assert np.array_equal(lons, before)
    for i in range(len(lons)):
        assert (x[i], y[i]) == pytest.approx(geo.wgs84_to_gcj02(lons[i], lats[i]), abs=1e-12)


def test_wgs84_arrays_are_copies():
    lons = np.array([113.7, 113.8])
    x, _ = geo.to_wgs84_arrays(lons, [23.0, 23.1], "wgs84")
    x[0] = 0
    assert lons[0] == 113.7


def test_unknown_crs_is_a_user_error():
    with pytest.raises(UserError, match="wgs84, gcj02, bd09"):
        geo.to_wgs84(113.7, 23.0, "mercator")


def test_transform_geometry_moves_every_vertex():
    square = shapely.segmentize(box(113.70, 22.98, 113.74, 23.02), 0.01)
    moved = geo.transform_geometry(square, "wgs84", "bd09")
    for (x, y), (mx, my) in zip(square.exterior.coords, moved.exterior.coords):
        assert (mx, my) == pytest.approx(geo.wgs84_to_bd09(x, y), abs=1e-12)
    back = geo.transform_geometry(moved, "bd09", "wgs84")
    assert shapely.hausdorff_distance(square, back) < 1e-6
    assert geo.transform_geometry(square, "gcj02", "gcj02") is square


# --- DivisionIndex ---------------------------------------------------------------------------


@pytest.fixture
def index():
    divisions = [
        Division(code=d.code, name_zh=d.name_zh, geometry=mapping(real_polygons()[d.code]))
        for d in grid_divisions()
    ]
    return geo.DivisionIndex(divisions)


def test_locate_finds_the_containing_division(index):
    assert index.locate(113.71, 22.99).code == "441900004"
    assert index.locate(113.79, 23.05).code == "441900101"


def test_points_outside_all_divisions_are_none(index):
    assert index.locate(113.0, 22.0) is None
    assert index.locate_many([113.0, 113.71, 120.0], [22.0, 22.99, 30.0]) == [None, "441900004", None]


def test_locate_many_agrees_with_locate(index):
    rng = np.random.default_rng(7)
    lons = rng.uniform(113.68, 113.84, 3000)
    lats = rng.uniform(22.96, 23.08, 3000)
    many = index.locate_many(lons, lats)
    one_by_one = [(d.code if (d := index.locate(x, y)) else None) for x, y in zip(lons, lats)]
    assert many == one_by_one
    assert {c for c in many if c} == {d.code for d in index.divisions}
    assert None in many


def test_shared_border_resolves_to_one_division(index):
    # Nancheng's east edge is Dongcheng's west edge; its north-east corner touches four squares.
    _, south, east, north = real_polygons()["441900004"].bounds
    border = [(east, south + 0.01), (east, north), (east - 0.01, north)]
    codes = index.locate_many([p[0] for p in border], [p[1] for p in border])
    assert codes == ["441900004"] * 3  # the first in pack order wins
    assert [index.locate(*p).code for p in border] == codes
    reversed_index = geo.DivisionIndex(index.divisions[::-1])
    assert reversed_index.locate(east, north).code == "441900005"


def test_empty_index_and_empty_batches(index):
    empty = geo.DivisionIndex([])
    assert len(empty) == 0
    assert empty.locate(113.7, 23.0) is None
    assert empty.locate_many([113.7, 113.8], [23.0, 23.1]) == [None, None]
    assert index.locate_many([], []) == []
    assert index.locate_many(np.array([np.nan]), np.array([np.nan])) == [None]
