"""Anomalies against the baseline: an injected spike is found and said with its numbers in both
languages; a quiet month of ordinary ups and downs finds nothing; a city without four weeks of
history flags nothing."""

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from ioc.read import anomalies
from ioc.store import models
from ioc.store.db import transaction

TZ = "Asia/Shanghai"
NOW = datetime(2026, 7, 29, 14, 40, tzinfo=timezone.utc)  # 22:40 city time
HOUR = anomalies.hour_start(NOW, TZ)
CELLS = [(d, c) for d in ("T01", "T02", "T03", "T04") for c in ("noise", "garbage", "traffic_accident")]


def add_reports(engine, rows: list[tuple[str, str, datetime]]) -> None:
    with transaction(engine) as s:
        s.execute(insert(models.Incident), [
            {"source": "test", "external_id": f"r{i}-{at.timestamp()}", "channel": "12345", "category": c,
             "district_code": d, "reported_at": at, "status": "closed", "priority": "P3", "version": 1,
             "report_count": 1, "sources": [], "extra": {}} for i, (d, c, at) in enumerate(rows)])


def quiet_month(engine, seed: int = 7) -> None:
    """Five weeks of every cell at its own steady rate (0.3 to 3 an hour), busier by day."""
    rng = random.Random(seed)
    rates = {cell: rng.uniform(0.3, 3.0) for cell in CELLS}
    rows = []
    for h in range(24 * 35, 0, -1):
        start = HOUR - timedelta(hours=h - 1)
        busy = 1.0 if 8 <= start.astimezone(timezone(timedelta(hours=8))).hour <= 22 else 0.4
        for cell, rate in rates.items():
            for _ in range(poisson(rng, rate * busy)):
                rows.append((*cell, start + timedelta(seconds=rng.uniform(0, 3599))))
    add_reports(engine, rows)


def poisson(rng: random.Random, rate: float) -> int:
    k, p, limit = 0, 1.0, pow(2.718281828459045, -rate)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def test_a_quiet_month_finds_nothing(engine, pack):
    quiet_month(engine)
    flagged = [a for h in range(24 * 7) for a in anomalies.scan_hour(engine, HOUR - timedelta(hours=h), TZ, NOW)]
    assert flagged == []


def test_an_injected_spike_is_found_and_said_with_its_numbers(engine, pack):
    rows = [("T01", "noise", HOUR - timedelta(days=400))]  # the store reaches back far enough
    for week, n in zip(range(1, 5), (3, 2, 3, 4), strict=True):
        rows += [("T02", "noise", HOUR - timedelta(days=7 * week) + timedelta(minutes=m)) for m in range(n)]
    rows += [("T02", "noise", HOUR + timedelta(minutes=m)) for m in range(14)]         # the spike
    rows += [("T02", "garbage", HOUR + timedelta(minutes=m)) for m in range(4)]        # too few to matter
    rows += [("T03", "noise", HOUR - timedelta(days=7 * w) + timedelta(minutes=m))     # as busy as usual
             for w in range(5) for m in range(6)]
    add_reports(engine, rows)
    assert anomalies.scan(engine, TZ, NOW) == 1
    [flag] = anomalies.current(engine, TZ, NOW)
    assert (flag["division"], flag["category"], flag["count"], flag["usual"]) == ("T02", "noise", 14, 3.0)
    assert anomalies.describe(flag, "zh-CN", TZ, NOW) == "乙镇 噪音 本小时14起，平时3起"
    assert anomalies.describe(flag, "en", TZ, NOW) == "Yi noise 14 this hour, usual 3"
    later = NOW + timedelta(hours=3)
    assert anomalies.describe(flag, "en", TZ, later) == "Yi noise 14 at 22:00 on 07-29, usual 3"
    assert anomalies.describe(flag, "zh-CN", TZ, later) == "乙镇 噪音 07-29 22:00 14起，平时3起"
    assert anomalies.current(engine, TZ, later) == []          # gone from the wall, kept for the summary
    assert len(anomalies.flags(engine, HOUR, later)) == 1
    assert anomalies.scan(engine, TZ, NOW) == 1                 # a second scan keeps one flag, not two


def test_a_city_without_four_weeks_of_history_flags_nothing(engine, pack):
    add_reports(engine, [("T02", "noise", HOUR + timedelta(minutes=m)) for m in range(30)])
    assert anomalies.scan(engine, TZ, NOW) == 0


@pytest.mark.parametrize("count, baseline, spike", [
    (5, [0, 0, 0, 0], True), (4, [0, 0, 0, 0], False), (14, [3, 2, 3, 4], True),
    (9, [3, 3, 3, 3], False),     # three times the usual, but not rare for a rate of 3
    (12, [0, 0, 0, 16], False),   # one busy week lifts the rate: not a spike
])
def test_the_rule(count, baseline, spike):
    assert anomalies.judge(count, baseline).spike is spike
