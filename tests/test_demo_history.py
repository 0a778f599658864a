"""The demo city on a fresh store: its past is backfilled once (a second start adds nothing), and
the noise burst its 12345 line sends when it starts, polled through the real feed, is flagged by
the anomaly scan against that past.

The city starts two minutes before the current city hour with its clock frozen, so the burst's
backfilled hour lies in one city hour whatever the wall clock says (a start a few minutes into an
hour would split the burst between two hours and leave each of them small)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feeds.simulator import start_simulator
from ioc.compose import backfill_demo_history, open_city
from ioc.config import DemoSettings, Settings, StoreSettings
from ioc.intake.worker import build_runners
from ioc.read import anomalies
from ioc.store.db import make_engine
from ioc.store.migrate import upgrade
from ioc.store.models import utcnow
from ioc.store.packload import load_pack_into_store
from ioc.runtime import open_runtime
from tests.conftest import free_port


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo composition (default city, demo on) on an empty SQLite store, its city running."""
    db = Path(tmp_path_factory.mktemp("demo")) / "ioc.db"
    settings = Settings(store=StoreSettings(url=f"sqlite:///{db}"), demo=DemoSettings(port=free_port()))
    engine = make_engine(settings.store.url)
    upgrade(engine)
    load_pack_into_store(engine, open_runtime(settings, []).pack)
    engine.dispose()
    runtime = open_city(settings)
    start = anomalies.hour_start(utcnow(), runtime.pack.manifest.timezone) - timedelta(minutes=2)
    sim = start_simulator(runtime.pack, port=settings.demo.port, seed=11, backfill_hours=1.0,
                          start=start, clock=lambda: 0.0)
    yield runtime, sim, start
    sim.stop()
    runtime.engine.dispose()


def test_the_demo_backfills_its_past_once_and_its_burst_is_flagged(demo):
    runtime, sim, now = demo
    added = backfill_demo_history(runtime, now, ahead=0)
    assert added > 1000  # every stream of the city, for the hour and the one before, 1-4 weeks back
    assert backfill_demo_history(runtime, now, ahead=0) == 0
    tz = runtime.pack.manifest.timezone
    assert anomalies.scan(runtime.engine, tz, now) == 0  # the past alone is ordinary

    town = sim.world.burst_town(sim.world.now())
    assert town is not None  # the city starts inside its first burst
    (hotline,) = build_runners(runtime, ["hotline_12345"])
    assert hotline.poll().report.stored > 0
    anomalies.scan(runtime.engine, tz, now)
    flagged = anomalies.current(runtime.engine, tz, now)
    # The city's ordinary streams may flag a cell of their own now and then (five waterlogging
    # reports where there were none): the burst must be among the flags, and clearly so.
    (burst,) = [f for f in flagged if (f["division"], f["category"]) == (town.code, "noise")]
    assert burst["count"] >= anomalies.MIN_COUNT and burst["count"] >= anomalies.RATIO * max(burst["usual"], 1.0)
