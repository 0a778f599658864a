"""`python -m bench.run --quick`: every measure comes out beside its baseline, as a ratio (no timings
are asserted: speed is what the bench reports, not what a test checks)."""

from __future__ import annotations

import json
import shutil

from bench import run
from tests.conftest import unavailable

OWN = ("ingest at 0 stored", "ingest at 30 stored", "ingest at 300 stored", "map refresh at 30 stored",
       "map refresh at 300 stored", "map layer bytes per point", "map layer built", "map layer drawn in Chromium")


def test_quick_bench_writes_every_measure_with_its_baseline_and_ratio(tmp_path, capsys):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        unavailable("chromium and chromedriver are not installed (the map-drawn measure needs them)")
    assert run.main(["--quick", "--size", "300", "--repeat", "2", "--results", str(tmp_path)]) == 0

    [written] = tmp_path.glob("*-quick.json")
    results = json.loads(written.read_text(encoding="utf-8"))["results"]
    names = [r["name"] for r in results]
    for own in OWN:
        assert any(name.startswith(own) for name in names), f"{own!r} missing from {names}"
    for r in results:
        assert r["baseline"] and isinstance(r["baseline_median"], (int, float)), r
        assert isinstance(r["ratio"], (int, float)) and r["ratio"] > 0, r
        assert isinstance(r["median"], (int, float)) and r["runs"] >= 2, r
    table = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert all(name in table for name in names)
    assert "| ratio |" in capsys.readouterr().out


def test_a_size_that_is_no_number_is_one_clear_line(capsys):
    try:
        run.main(["--size", "lots"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "'lots' is not a size" in capsys.readouterr().err


def test_only_runs_the_groups_named(tmp_path):
    assert run.main(["--quick", "--size", "300", "--repeat", "2", "--only", "ingest",
                     "--results", str(tmp_path)]) == 0
    [written] = tmp_path.glob("*-quick.json")
    results = json.loads(written.read_text(encoding="utf-8"))
    assert {r["group"] for r in results["results"]} == {"ingest", "map"}  # the refresh rows ride the ingest store
    assert not any(r["name"].startswith("map layer") for r in results["results"])
    assert "only ingest" in (tmp_path / "latest.md").read_text(encoding="utf-8")


def test_an_unknown_group_is_one_clear_line(capsys):
    try:
        run.main(["--only", "ingest,speed"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "give groups from ingest, map, reads, load" in capsys.readouterr().err
