"""The demo city's duty officers and handlers act through the chain, so the leaders' rates on the
demo are real figures (not 0 % and empty), with a realistic share missed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ioc.demo_duty import DemoDuty
from ioc.read import kpi
from ioc.store import models
from ioc.store.db import session_factory
from tests.factories import T0, add_incident

CHANNELS = ("110", "110", "120", "12345", "urban")
HOURS = 8


def test_the_demo_duty_runs_the_chain_and_the_rates_are_real(engine, pack):
    for i in range(100):
        add_incident(engine, pack, channel=CHANNELS[i % 5], priority=f"P{1 + i % 4}", category="help",
                     reported_at=T0 + timedelta(seconds=90 * i), org_code=f"OFF-T0{1 + i % 4}",
                     district_code=f"T0{1 + i % 4}")
    clock = [T0]
    duty = DemoDuty(engine, pack, lambda: clock[0])
    done: dict[str, int] = {}
    for step in range(HOURS * 6):  # every ten minutes of the city's clock
        clock[0] = T0 + timedelta(minutes=10 * step)
        for name, n in duty.run().done.items():
            done[name] = done.get(name, 0) + n
    assert set(done) == {"acknowledged", "handed over", "accepted", "answered", "verified", "closed", "called back"}

    rates = kpi.rates(engine, T0, T0 + timedelta(hours=3), now=clock[0])[kpi.ALL]
    assert 0.8 < rates.response.value < 0.98, rates.response  # about one in ten is late
    assert 0.6 < rates.satisfaction.value < 1.0, rates.satisfaction
    assert 0.8 < rates.resolution.value < 1.0, rates.resolution
    with session_factory(engine)() as s:
        I, W = models.Incident, models.WorkOrder
        backwards = s.scalar(select(func.count()).where(I.acknowledged_at < I.reported_at))
        hotline = s.scalar(select(func.count()).where(I.channel == "12345"))
        orders = s.scalar(select(func.count()).select_from(W))
        late = s.scalar(select(func.count()).where(W.accepted_at > W.accept_by))
        actors = set(s.scalars(select(models.Audit.actor).distinct()))
    assert backwards == 0
    assert orders == hotline and late < orders / 3
    assert actors == {"demo:duty", "demo:OFF-T01", "demo:OFF-T02", "demo:OFF-T03", "demo:OFF-T04"}
