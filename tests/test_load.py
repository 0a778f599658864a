"""The short soak CI runs (``make soak`` runs the long one): 20 screens for 25 s against gunicorn
with 2 workers while the worker takes a 10× surge — no request fails, no record is lost.
Timings are figures for bench/ and docs/reliability.md, never asserted here."""

from __future__ import annotations

import importlib.util

from bench.load import run_load
from tests.conftest import unavailable


def test_twenty_screens_during_a_surge_lose_nothing(pg_server):
    if importlib.util.find_spec("gunicorn") is None:
        unavailable("gunicorn is not installed")
    result = run_load(clients=20, seconds=25, surge=10.0, pg=pg_server)
    assert result["errors"] == 0, result["first_errors"]
    assert result["records_fetched"] > 0 and result["records_lost"] == 0, result["lost_by_feed"]
    for page in ("wall", "board", "dispatch"):  # every kind of screen was served, with content
        assert result["pages"][page]["answered"] > 0, result["pages"]
    not_ok = {name: f for name, f in result["feeds"].items() if f["status"] != "ok"}
    assert not not_ok, not_ok
