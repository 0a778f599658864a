"""Importing real boundaries into a pack, and starting a pack for another city."""

import json
import re
import shutil

import geopandas as gpd
import pytest
import shapely

from ioc import PROJECT_ROOT
from ioc.city.boundaries import NameFields, fit_zoom, import_districts, init_city, read_boundaries
from ioc.city.geo import DivisionIndex
from ioc.city.pack import load_pack
from ioc.errors import UserError
from tests.boundaries import (
    dongguan_features,
    foshan_features,
    make_pack,
    pack_features,
    real_polygons,
    stored_shapes,
    write_boundary_file,
)

TWO_METRES = 2e-5  # degrees, near enough at 23 N
FORMATS = [".geojson", ".json", ".shp", ".zip", ".gpkg"]
GRID_CODES = set(real_polygons())
POINT = {"type": "Point", "coordinates": [113.7, 23.0]}


@pytest.fixture
def pack(tmp_path):
    return make_pack(tmp_path / "packs")


def boundary_file(tmp_path, suffix=".geojson", **kwargs):
    return write_boundary_file(tmp_path / f"towns{suffix}", dongguan_features(**kwargs))


def pack_files(pack):
    return {p.name: p.read_bytes() for p in pack.path.iterdir()}


def assert_lands_on_real_boundaries(pack, codes=GRID_CODES):
    stored, real = stored_shapes(pack), real_polygons()
    for code in codes:
        assert shapely.hausdorff_distance(stored[code], real[code]) < TWO_METRES, code


# --- import_districts ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_import_gcj02_file_in_each_format(pack, tmp_path, suffix):
    file = boundary_file(tmp_path, suffix)
    report = import_districts(pack, file, name_field="XZQMC", crs="gcj02")
    assert {code for code, _, _ in report.matched} == GRID_CODES
    assert report.unmatched_features == ["滨海湾新区"]
    assert report.missing == []
    assert_lands_on_real_boundaries(pack)
    reloaded = load_pack(pack.path)
    assert reloaded.manifest.boundaries == "imported"
    assert file.name in reloaded.manifest.boundaries_note
    assert reloaded.check() == []


def test_import_keeps_codes_names_and_populations(pack, tmp_path):
    before = [d.model_dump(exclude={"geometry"}) for d in pack.divisions()]
    import_districts(pack, boundary_file(tmp_path), name_field="XZQMC", crs="gcj02")
    after = [d.model_dump(exclude={"geometry"}) for d in load_pack(pack.path).divisions()]
    assert after == before
    assert pack.manifest.boundaries == "imported"  # the caller's pack object follows the files


def test_name_variants_and_split_pieces_are_matched(pack, tmp_path):
    report = import_districts(pack, boundary_file(tmp_path), name_field="XZQMC", crs="gcj02")
    labels = {code: label for code, _, label in report.matched}
    assert labels["441900004"] == "南城街道办事处"
    assert labels["441900101"] == "石碣镇人民政府"
    assert labels["441900401"] == "松山湖（功能区）"
    assert labels["441900006"] == "莞城"
    stored = stored_shapes(pack)["441900005"]  # published as two halves, stored as one square
    assert stored.geom_type == "Polygon"
    assert shapely.hausdorff_distance(stored, real_polygons()["441900005"]) < TWO_METRES


def test_import_by_twelve_digit_code(pack, tmp_path):
    report = import_districts(pack, boundary_file(tmp_path), code_field="XZQDM", crs="gcj02")
    assert {code for code, _, _ in report.matched} == GRID_CODES
    assert report.unmatched_features == ["441900404000"]


def test_import_by_english_name_ignores_case(pack, tmp_path):
    report = import_districts(pack, boundary_file(tmp_path), name_field="ENAME", crs="gcj02")
    assert {code for code, _, _ in report.matched} == GRID_CODES
    assert report.unmatched_features == ["Binhaiwan New Area"]


def test_import_bd09_file(pack, tmp_path):
    import_districts(pack, boundary_file(tmp_path, crs="bd09"), name_field="XZQMC", crs="bd09")
    assert_lands_on_real_boundaries(pack)


def test_divisions_missing_from_the_file_keep_their_old_boundary(pack, tmp_path):
    old = stored_shapes(pack)["441900401"]
    file = boundary_file(tmp_path, omit=("441900401",), extra=False)
    report = import_districts(pack, file, name_field="XZQMC", crs="gcj02")
    assert report.missing == [("441900401", "松山湖(功能区)")]
    assert report.unmatched_features == []
    assert stored_shapes(pack)["441900401"].equals(old)
    assert_lands_on_real_boundaries(pack, GRID_CODES - {"441900401"})
    assert "5 of 6" in load_pack(pack.path).manifest.boundaries_note


def test_report_lines_and_json(pack, tmp_path):
    file = boundary_file(tmp_path, omit=("441900401",))
    report = import_districts(pack, file, name_field="XZQMC", crs="gcj02")
    text = "\n".join(report.lines())
    assert text.startswith("imported boundaries for 5 of 6 divisions")
    assert "441900004 南城街道 <- 南城街道办事处" in text
    assert "滨海湾新区" in text and "441900401 松山湖(功能区)" in text
    data = json.loads(json.dumps(report.as_dict(), ensure_ascii=False))
    assert data["missing"] == [{"code": "441900401", "name_zh": "松山湖(功能区)"}]
    assert data["unmatched_features"] == ["滨海湾新区"]
    assert {"code": "441900101", "name_zh": "石碣镇", "feature": "石碣镇人民政府"} in data["matched"]


def test_imported_boundaries_drive_point_lookup(pack, tmp_path):
    # Near a square's corner: outside the approximate diamond, inside the real boundary.
    west, south, *_ = real_polygons()["441900003"].bounds
    point = (west + 0.003, south + 0.003)
    assert DivisionIndex(pack.divisions()).locate(*point) is None
    import_districts(pack, boundary_file(tmp_path), name_field="XZQMC", crs="gcj02")
    assert DivisionIndex(load_pack(pack.path).divisions()).locate(*point).code == "441900003"


def test_stored_coordinates_are_rounded(pack, tmp_path):
    import_districts(pack, boundary_file(tmp_path), name_field="XZQMC", crs="gcj02")
    text = (pack.path / "districts.geojson").read_text(encoding="utf-8")
    decimals = [len(d) for d in re.findall(r"\b(?:113|22|23)\.(\d+)", text)]
    assert decimals and max(decimals) <= 6


def test_no_field_named_lists_the_columns(pack, tmp_path):
    with pytest.raises(UserError, match="XZQDM, XZQMC, ENAME"):
        import_districts(pack, boundary_file(tmp_path), crs="gcj02")


@pytest.mark.parametrize("fields", [{"name_field": "NAME"}, {"code_field": "adcode"}])
def test_unknown_field_lists_the_columns(pack, tmp_path, fields):
    before = pack_files(pack)
    with pytest.raises(UserError, match="no field .*XZQMC"):
        import_districts(pack, boundary_file(tmp_path), crs="gcj02", **fields)
    assert pack_files(pack) == before


def test_nothing_matched_writes_nothing(pack, tmp_path):
    before = pack_files(pack)
    file = write_boundary_file(tmp_path / "foshan.geojson", foshan_features())
    with pytest.raises(UserError, match="nothing matched.*禅城区.*南城街道"):
        import_districts(pack, file, name_field="name")
    assert pack_files(pack) == before


def test_real_dongguan_pack_if_present(tmp_path):
    source = PROJECT_ROOT / "geodata" / "dongguan"
    if not (source / "pack.toml").exists():
        pytest.skip("geodata/dongguan not written yet")
    pack = load_pack(shutil.copytree(source, tmp_path / "dongguan"))
    divisions = pack.divisions()
    file = write_boundary_file(tmp_path / "towns.json", pack_features(divisions))
    report = import_districts(pack, file, name_field="XZQMC", crs="gcj02")
    assert len(report.matched) == len(divisions) and not report.missing
    stored = stored_shapes(pack)
    for d in divisions:
        assert shapely.hausdorff_distance(stored[d.code], d.shape) < TWO_METRES, d.code


# --- read_boundaries -------------------------------------------------------------------------


def test_gbk_shapefile_without_cpg_is_decoded(tmp_path):
    file = write_boundary_file(tmp_path / "gbk.shp", dongguan_features(), encoding="GBK")
    file.with_suffix(".cpg").unlink()
    names = read_boundaries(file, "gcj02")["XZQMC"].tolist()
    assert "南城街道办事处" in names and "滨海湾新区" in names
    assert "南城街道办事处" in read_boundaries(file, "gcj02", encoding="gbk")["XZQMC"].tolist()


def test_projected_file_is_reprojected(tmp_path):
    frame = gpd.GeoDataFrame.from_features(dongguan_features(crs="wgs84"), crs="EPSG:4326")
    frame.to_crs("EPSG:3857").to_file(tmp_path / "mercator.gpkg")
    read = read_boundaries(tmp_path / "mercator.gpkg", None)
    assert read.crs.to_epsg() == 4326
    west, south, east, north = read.total_bounds
    assert 113.6 < west < east < 113.9 and 22.8 < south < north < 23.1


def test_invalid_polygon_is_repaired(tmp_path):
    ring = [[113.7, 23.0], [113.8, 23.1], [113.8, 23.0], [113.7, 23.1], [113.7, 23.0]]
    bowtie = {"type": "Polygon", "coordinates": [ring]}
    file = tmp_path / "bowtie.json"
    file.write_text(json.dumps([{"type": "Feature", "properties": {"name": "x"}, "geometry": bowtie}]))
    geom = read_boundaries(file, None).geometry.iloc[0]
    assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon") and geom.area > 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.geojson", "{not json", "not valid JSON"),
        ("empty.geojson", '{"type": "FeatureCollection", "features": []}', "no features"),
        ("array.json", "[1, 2]", "array of Features"),
        ("notes.txt", "hello", "cannot read it"),
        (
            "points.geojson",
            json.dumps([{"type": "Feature", "properties": {}, "geometry": POINT}]),
            "is a Point",
        ),
    ],
)
def test_unreadable_files_are_user_errors(tmp_path, name, content, message):
    file = tmp_path / name
    file.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as caught:
        read_boundaries(file, None)
    assert name in str(caught.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_boundaries(tmp_path / "nowhere.geojson", None)


# --- init_city -------------------------------------------------------------------------------


@pytest.fixture
def foshan_file(tmp_path):
    return write_boundary_file(tmp_path / "foshan.geojson", foshan_features())


def test_init_city_makes_a_sound_pack(tmp_path, foshan_file):
    pack = init_city("foshan", foshan_file, "name", None, "Asia/Shanghai", None, tmp_path / "geodata")
    assert pack.check() == []
    reloaded = load_pack(tmp_path / "geodata" / "foshan")
    divisions = reloaded.divisions()
    assert [(d.code, d.name_zh) for d in divisions] == [
        ("D001", "三水区"), ("D002", "南海区"), ("D003", "禅城区"), ("D004", "顺德区"), ("D005", "高明区"),
    ]
    nanhai = divisions[1]
    assert (nanhai.name_en, nanhai.kind, nanhai.population) == ("Nanhai", "district", 3667000)
    west, south, east, north = reloaded.manifest.bbox
    assert (west, south, east, north) == pytest.approx((112.95, 22.85, 113.25, 23.15), abs=2e-4)
    assert reloaded.manifest.map.center == pytest.approx((113.1, 23.0), abs=1e-3)
    assert reloaded.manifest.map.zoom == 10
    assert reloaded.manifest.timezone == "Asia/Shanghai"
    assert reloaded.manifest.name_zh == reloaded.manifest.name_en == "foshan"
    assert reloaded.orgs() == [] and reloaded.key_points() == [] and reloaded.units() == []
    assert "foshan.geojson" in (pack.path / "README.md").read_text(encoding="utf-8")
    assert DivisionIndex(divisions).locate(113.1, 23.0).name_zh == "禅城区"


def test_init_city_with_codes_and_gcj02_source(tmp_path):
    features = foshan_features(crs="gcj02")
    for n, feature in enumerate(features):
        feature["properties"]["adcode"] = f"44060{n}"
        del feature["properties"]["name_en"], feature["properties"]["population"]
    file = write_boundary_file(tmp_path / "foshan.shp", features)
    pack = init_city("fs", file, "name", "adcode", "Asia/Shanghai", "gcj02", tmp_path)
    divisions = pack.divisions()
    assert [d.code for d in divisions] == [f"44060{n}" for n in range(5)]
    assert all(d.name_en == "" and d.population is None for d in divisions)
    assert DivisionIndex(divisions).locate(113.1, 23.0).name_zh == "禅城区"  # back in WGS-84


def test_fit_zoom_is_clamped():
    assert fit_zoom((113.5, 22.6, 114.3, 23.2)) == 9
    assert fit_zoom((100, 20, 120, 40)) == 8
    assert fit_zoom((113.7, 23.0, 113.71, 23.01)) == 13


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("foshan", {"timezone": "Asia/Foshan"}, "unknown timezone"),
        ("Foshan City", {}, "lower-case letters"),
        ("foshan", {"name_field": "NAME"}, "no field 'NAME'.*name, name_en, population"),
        ("foshan", {"code_field": "adcode"}, "no field 'adcode'"),
    ],
)
def test_init_city_refuses_bad_input(tmp_path, foshan_file, name, kwargs, message):
    args = {"name_field": "name", "code_field": None, "timezone": "Asia/Shanghai", "crs": None, **kwargs}
    with pytest.raises(UserError, match=message):
        init_city(name, foshan_file, root=tmp_path / "geodata", **args)
    assert not (tmp_path / "geodata").exists()


def test_init_city_refuses_an_existing_pack(tmp_path, foshan_file):
    (tmp_path / "foshan").mkdir()
    with pytest.raises(UserError, match="already exists"):
        init_city("foshan", foshan_file, "name", None, "Asia/Shanghai", None, tmp_path)


# --- city init: names in the language they are in ----------------------------------------------


def with_properties(make) -> list[dict]:
    """Foshan's five districts with their properties replaced by ``make(name_zh, name_en)``."""
    features = foshan_features()
    for feature in features:
        props = feature["properties"]
        feature["properties"] = make(props["name"], props["name_en"])
    return features


def names(pack) -> dict[str, tuple[str, str]]:
    return {d.name_en or d.name_zh: (d.name_zh, d.name_en) for d in load_pack(pack.path).divisions()}


def test_english_names_from_an_international_dataset_go_into_name_en(tmp_path):
    # GADM / OSM style: NAME_2 holds the English (romanised) name and nothing else
    file = write_boundary_file(tmp_path / "gadm.geojson", with_properties(lambda zh, en: {"NAME_2": en}))
    pack = init_city("foshan", file, "NAME_2", None, "Asia/Shanghai", None, tmp_path / "packs",
                     city_name_zh="佛山市", city_name_en="Foshan")
    assert names(pack)["Nanhai"] == ("", "Nanhai")
    assert all(zh == "" for zh, _ in names(pack).values())
    nanhai = next(d for d in pack.divisions() if d.name_en == "Nanhai")
    assert (nanhai.name("zh-CN"), nanhai.name("en")) == ("Nanhai", "Nanhai")  # shown until a Chinese name is filled
    assert (pack.manifest.name_zh, pack.manifest.name_en) == ("佛山市", "Foshan")


def test_chinese_names_go_into_name_zh_and_a_name_en_column_is_found(tmp_path):
    file = write_boundary_file(tmp_path / "fs.geojson",
                               with_properties(lambda zh, en: {"XZQMC": zh, "ENAME": en}))
    pack = init_city("foshan", file, "XZQMC", None, "Asia/Shanghai", None, tmp_path, city_name_zh="佛山市")
    assert names(pack)["Nanhai"] == ("南海区", "Nanhai")
    assert (pack.manifest.name_zh, pack.manifest.name_en) == ("佛山市", "佛山市")  # one name given: both


def test_one_field_per_language(tmp_path):
    file = write_boundary_file(tmp_path / "fs.shp",
                               with_properties(lambda zh, en: {"NAME_CHN": zh, "NAME_ENG": en.upper()}))
    pack = init_city("foshan", file, NameFields(zh="NAME_CHN", en="NAME_ENG"), None, "Asia/Shanghai", None, tmp_path)
    assert names(pack)["NANHAI"] == ("南海区", "NANHAI")
    assert pack.manifest.name_zh == pack.manifest.name_en == "foshan"  # no city name given: the pack's


def test_a_mixed_file_is_read_name_by_name_and_name_lang_overrides(tmp_path):
    mixed = with_properties(lambda zh, en: {"name": en if en == "Gaoming" else zh})
    file = write_boundary_file(tmp_path / "mixed.geojson", mixed)
    read = names(init_city("a", file, "name", None, "Asia/Shanghai", None, tmp_path))
    assert read["Gaoming"] == ("", "Gaoming") and read["南海区"] == ("南海区", "")
    forced = names(init_city("b", file, NameFields(field="name", lang="zh"), None, "Asia/Shanghai", None, tmp_path))
    assert forced["Gaoming"] == ("Gaoming", "")


@pytest.mark.parametrize(("fields", "message"), [
    (NameFields(field="name", zh="name"), "not both"),
    (NameFields(), "say which field holds the division names"),
    (NameFields(zh="name", lang="en"), "--name-lang says the language of --name-field"),
    (NameFields(en="NAME_EN"), "no field 'NAME_EN'"),
])
def test_name_field_mistakes_are_one_clear_error(tmp_path, foshan_file, fields, message):
    with pytest.raises(UserError, match=message):
        init_city("foshan", foshan_file, fields, None, "Asia/Shanghai", None, tmp_path / "packs")
    assert not (tmp_path / "packs" / "foshan").exists()
