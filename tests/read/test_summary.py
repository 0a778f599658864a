"""The leaders' summary on a known small dataset, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest

from ioc.errors import UserError
from ioc.read import kpi, summary
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import add_incident

CITY = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 7, 1)
NOON = datetime(2026, 7, 1, 12, tzinfo=CITY)
LATER = datetime(2026, 7, 10, tzinfo=timezone.utc)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CITY).astimezone(timezone.utc)


def solved(engine, pack, when, division="T01", mark="satisfied", **over):
    return add_incident(engine, pack, reported_at=when, district_code=division, org_code=f"OFF-{division}",
                        satisfaction=mark, **over)


def test_presets_are_whole_city_days_and_compare_with_the_right_days():
    now = datetime(2026, 7, 2, 1, 30, tzinfo=timezone.utc)  # 09:30 on 2 July in the city
    yesterday = summary.period_for("yesterday", CITY, now)
    assert (yesterday.first, yesterday.last) == (DAY, DAY)
    assert yesterday.frm == datetime(2026, 6, 30, 16, tzinfo=timezone.utc)
    assert yesterday.to == datetime(2026, 7, 1, 16, tzinfo=timezone.utc)
    week = summary.period_for("last7", CITY, now)
    assert (week.first, week.last, week.days) == (date(2026, 6, 26), date(2026, 7, 2), 7)
    before = week.compared("previous")
    assert (before.first, before.last) == (date(2026, 6, 19), date(2026, 6, 25))
    leap = summary.Period(date(2028, 2, 29), date(2028, 3, 1), CITY).compared("last_year")
    assert (leap.first, leap.last) == (date(2027, 2, 28), date(2027, 3, 1))


@pytest.mark.parametrize("first, last, message", [
    ("2026-07-02", "2026-07-01", "before the first day"),
    ("July 1", "2026-07-01", "not a date"),
    ("2024-01-01", "2026-07-01", "at most 366 days"),
    (None, "2026-07-01", "both"),
])
def test_a_wrong_custom_period_says_what_is_wrong(first, last, message):
    with pytest.raises(UserError, match=message):
        summary.period_for("custom", CITY, NOON, first, last)


def test_headline_compares_with_the_period_before(engine, pack):
    for hour in (9, 10, 11):
        solved(engine, pack, at(DAY, hour))
    solved(engine, pack, at(DAY, 12), mark="unresolved")
    solved(engine, pack, at(DAY - timedelta(days=1), 9))
    solved(engine, pack, at(DAY - timedelta(days=1), 10), mark="unresolved")
    period = summary.Period(DAY, DAY, CITY)
    figures = {f.name: f for f in summary.headline(engine, period, "previous", now=LATER)}
    assert (figures["volume"].value, figures["volume"].before) == (4, 2)
    assert figures["volume"].change == pytest.approx(1.0)  # twice as many: +100 %
    resolution = figures["resolution_rate"]
    assert (resolution.hits, resolution.total) == (3, 4)
    assert resolution.change == pytest.approx(0.75 - 0.5)  # +25 percentage points
    expected = kpi.rates(engine, period.frm, period.to, now=LATER)[kpi.ALL].resolution
    assert resolution.value == expected.value


def test_divisions_under_the_minimum_sample_are_listed_but_not_ranked(engine, pack):
    for i in range(4):
        solved(engine, pack, at(DAY, 8 + i), division="T02")
    for i in range(3):
        solved(engine, pack, at(DAY, 8 + i), division="T03", mark="satisfied" if i else "unresolved")
    solved(engine, pack, at(DAY, 9), division="T04")
    rows = summary.by_group(engine, summary.Period(DAY, DAY, CITY), "division", "resolution_rate",
                            min_sample=3, now=LATER)
    assert [(r.group, r.rank, r.incidents) for r in rows] == [("T02", 1, 4), ("T03", 2, 3), ("T04", None, 1)]
    assert rows[1].value == pytest.approx(2 / 3)


def test_by_group_is_the_volume_and_the_ranking_of_the_rates(engine, pack):
    for i, (division, mark) in enumerate([("T01", "satisfied"), ("T01", "unresolved"), ("T02", "satisfied"),
                                          ("T02", "dissatisfied"), ("T02", None), ("T03", "unresolved")]):
        solved(engine, pack, at(DAY, 8 + i), division=division, mark=mark, acknowledged_at=at(DAY, 8 + i, 5))
    period = summary.Period(DAY, DAY, CITY)
    for metric in summary.RATE_METRICS:
        rows = summary.by_group(engine, period, "division", metric, min_sample=2, now=LATER)
        ranked = kpi.ranking(engine, period.frm, period.to, "division", metric, 2, now=LATER)
        volume = dict(kpi.counts(engine, period.frm, period.to, "division"))
        assert [(r.group, r.value, r.sample) for r in rows if r.rank] == [(r.group, r.value, r.sample) for r in ranked]
        assert {r.group: r.incidents for r in rows} == volume


def test_by_group_follows_a_write_made_after_a_read(engine, pack):
    ids = [solved(engine, pack, at(DAY, 8 + i), division="T02") for i in range(3)]
    period = summary.Period(DAY, DAY, CITY)
    (before,) = summary.by_group(engine, period, "division", "resolution_rate", min_sample=1, now=LATER)
    with transaction(engine) as s:
        s.get(models.Incident, ids[0]).satisfaction = "unresolved"
    solved(engine, pack, at(DAY, 12), division="T02")
    (after,) = summary.by_group(engine, period, "division", "resolution_rate", min_sample=1, now=LATER)
    assert (before.value, before.incidents) == (1.0, 3)
    assert (after.value, after.sample, after.incidents) == (pytest.approx(3 / 4), 4, 4)


def test_a_division_scope_counts_only_that_division(engine, pack):
    solved(engine, pack, at(DAY, 9), division="T01", grid_code="T01-0001")
    solved(engine, pack, at(DAY, 10), division="T01", grid_code="T01-0001")
    solved(engine, pack, at(DAY, 10), division="T02", grid_code="T02-0009")
    period = summary.Period(DAY, DAY, CITY)
    figures = {f.name: f for f in summary.headline(engine, period, "previous", division="T01", now=LATER)}
    assert figures["volume"].value == 2
    cells = summary.by_group(engine, period, "grid", min_sample=1, division="T01", now=LATER)
    assert [(r.group, r.incidents) for r in cells] == [("T01-0001", 2)]


def test_heat_grid_counts_in_city_hours(engine, pack):
    solved(engine, pack, at(DAY, 0, 30))     # 16:30 UTC the day before
    solved(engine, pack, at(DAY, 23, 59))
    solved(engine, pack, at(DAY + timedelta(days=1), 7))
    days, grid = summary.heat_grid(engine, summary.Period(DAY, DAY + timedelta(days=1), CITY))
    assert days == [DAY, DAY + timedelta(days=1)]
    assert grid[0][0] == 1 and grid[0][23] == 1 and grid[1][7] == 1
    assert sum(map(sum, grid)) == 3


def test_lateness_counts_missed_clocks_and_supervision_by_clock(engine, pack):
    # no pack: the test sets the clocks itself
    late = solved(engine, None, at(DAY, 9), division="T01", acknowledge_due=at(DAY, 9, 15))
    other = solved(engine, None, at(DAY, 9), division="T02", acknowledge_due=at(DAY, 9, 15),
                   acknowledged_at=at(DAY, 9, 5))
    with transaction(engine) as s:
        order = models.WorkOrder(incident_id=other, org_code="OFF-T02", status="pending")
        s.add(order)
        s.flush()
        s.add(models.Supervision(target_type="incident", target_id=late, clock="acknowledge",
                                 issued_at=at(DAY, 9, 16), due_at=at(DAY, 9, 15)))
        s.add(models.Supervision(target_type="work_order", target_id=order.id, clock="accept",
                                 issued_at=at(DAY, 11), due_at=at(DAY, 10), resolved_at=at(DAY, 12)))
    period = summary.Period(DAY, DAY, CITY)
    city = summary.lateness(engine, period, now=LATER)
    assert city.response_missed == 1
    assert city.supervisions == {"accept": 1, "acknowledge": 1} and city.supervisions_open == 1
    town = summary.lateness(engine, period, division="T02", now=LATER)
    assert (town.response_missed, town.supervisions, town.supervisions_open) == (0, {"accept": 1}, 0)


def test_recurring_places_are_cells_and_addresses_seen_again_and_again(engine, pack):
    for hour in (8, 9, 10, 11):
        solved(engine, pack, at(DAY, hour), grid_code="T01-0042", address=f"人民路{hour}号")
    for hour in (8, 9, 10):
        solved(engine, pack, at(DAY, hour), division="T02", grid_code=f"T02-{hour}", address="东城市场")
    solved(engine, pack, at(DAY, 12), grid_code="T01-0007", address="东城市场", status="cancelled")
    places = summary.recurring_places(engine, summary.Period(DAY, DAY, CITY), min_count=3)
    assert [(p.kind, p.key, p.division, p.incidents) for p in places] == [
        ("grid", "T01-0042", "T01", 4), ("address", "东城市场", "T02", 3)]


def test_board_link_carries_the_filter_in_city_time():
    link = summary.board_link(summary.Period(DAY, DAY, CITY), division="T01", grid="T01-0042")
    url = urlparse(link)
    assert url.path == "/board"
    assert parse_qs(url.query) == {"since": ["2026-07-01T00:00:00+08:00"], "until": ["2026-07-02T00:00:00+08:00"],
                                   "division": ["T01"], "grid": ["T01-0042"]}
