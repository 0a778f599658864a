"""KPIs against a known dataset: every figure from SQL equals the one computed here in plain
Python from the same rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ioc.errors import UserError
from ioc.read.kpi import INTERVALS, KpiDefinitions, counts, export_rows, intervals, ranking, rates, tally
from ioc.store import models
from ioc.store.db import transaction
from ioc.store.packload import load_pack_into_store
from tests.factories import make_small_pack

FRM = datetime(2025, 6, 1, tzinfo=timezone.utc)
TO = FRM + timedelta(days=1)
LATER = TO + timedelta(days=2)
MARKS = [None, "satisfied", "basically_satisfied", "dissatisfied", "unresolved", "unreachable"]
DIVISIONS = ["T01", "T02", "T03", "T04"]


@dataclass
class Spec:
    """One incident as the test knows it (the store gets the same values)."""

    reported_at: datetime
    category: str
    channel: str
    division: str
    org: str
    status: str
    fused: bool = False
    acknowledge_due: datetime | None = None
    acknowledged_at: datetime | None = None
    resolve_due: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: str | None = None
    assignments: list[dict] = field(default_factory=list)  # dispatched/en_route/on_scene/cleared
    stamped: bool = True  # the incident carries its own CAD stamps; else only its units do

    @property
    def counted(self) -> bool:
        return not self.fused and self.status not in ("fused", "cancelled")

    def first(self) -> dict | None:
        return min(self.assignments, key=lambda a: a["dispatched"]) if self.assignments else None


def make_specs(seed: int = 20250601, n: int = 72) -> list[Spec]:
    rng = random.Random(seed)
    specs = []
    for k in range(n):
        reported = FRM + timedelta(minutes=rng.randrange(0, 23 * 60), seconds=rng.randrange(60))
        if k % 12 == 0:
            reported = FRM - timedelta(hours=rng.choice([1, 3]))  # before the period
        status = rng.choice(["new", "acknowledged", "dispatched", "on_scene", "closed", "closed"])
        if k % 13 == 5:
            status = "cancelled"
        spec = Spec(reported_at=reported, category=rng.choice(["crime", "fire", "medical", "waterlogging"]),
                    channel=rng.choice(["110", "119", "120", "12345"]), division=rng.choice(DIVISIONS),
                    org=rng.choice(["DEPT-POLICE", "OFF-T01", "OFF-T02"]), status=status,
                    fused=k % 11 == 3 and k > 0, satisfaction=rng.choice(MARKS), stamped=k % 4 != 1)
        if spec.fused:
            spec.status = "fused"
        if rng.random() < 0.5:
            spec.acknowledge_due = reported + timedelta(minutes=15)
        ack = rng.choice([None, 5, 20, 40])
        spec.acknowledged_at = reported + timedelta(minutes=ack, seconds=rng.randrange(60)) if ack else None
        if rng.random() < 0.67:
            spec.resolve_due = reported + timedelta(hours=4)
        closed = rng.choice([None, 2, 5, 30])
        spec.closed_at = reported + timedelta(hours=closed, seconds=rng.randrange(600)) if closed else None
        if rng.random() < 0.7:
            spec.assignments = [_assignment(rng, reported)]
            if rng.random() < 0.3:  # a second unit, sent later, with its own times
                spec.assignments.append(_assignment(rng, spec.assignments[0]["dispatched"] + timedelta(seconds=90)))
        specs.append(spec)
    # Clock skew: a unit "en route" before it was dispatched; that turnout is dropped.
    skewed = next(s for s in specs if s.assignments and s.counted and s.reported_at >= FRM)
    skewed.assignments[0]["en_route"] = skewed.assignments[0]["dispatched"] - timedelta(seconds=30)
    return specs


def _assignment(rng: random.Random, after: datetime) -> dict:
    dispatched = after + timedelta(seconds=rng.randrange(30, 300))
    en_route = dispatched + timedelta(seconds=rng.randrange(20, 120)) if rng.random() < 0.85 else None
    on_scene = (en_route or dispatched) + timedelta(seconds=rng.randrange(120, 900)) if rng.random() < 0.8 else None
    cleared = on_scene + timedelta(seconds=rng.randrange(600, 3600)) if on_scene and rng.random() < 0.7 else None
    return {"dispatched": dispatched, "en_route": en_route, "on_scene": on_scene, "cleared": cleared}


def store(engine, specs: list[Spec]) -> None:
    with transaction(engine) as s:
        parent = None
        for i, sp in enumerate(specs):
            first = sp.first()
            on_scenes = [a["on_scene"] for a in sp.assignments if a["on_scene"]]
            inc = models.Incident(
                source="kpi", external_id=str(i), channel=sp.channel, category=sp.category, status=sp.status,
                reported_at=sp.reported_at, district_code=sp.division, org_code=sp.org,
                parent_id=parent.id if sp.fused else None, acknowledge_due=sp.acknowledge_due,
                acknowledged_at=sp.acknowledged_at, resolve_due=sp.resolve_due, closed_at=sp.closed_at,
                satisfaction=sp.satisfaction, dispatched_at=first["dispatched"] if first and sp.stamped else None,
                on_scene_at=min(on_scenes) if on_scenes and sp.stamped else None)
            s.add(inc)
            s.flush()
            parent = parent or inc
            for j, a in enumerate(sp.assignments):
                s.add(models.Assignment(incident_id=inc.id, unit_id=f"PC-0{j}", status="CLEARED",
                                        dispatched_at=a["dispatched"], en_route_at=a["en_route"],
                                        on_scene_at=a["on_scene"], cleared_at=a["cleared"]))


@pytest.fixture
def data(engine, tmp_path: Path):
    load_pack_into_store(engine, make_small_pack(tmp_path))
    specs = make_specs()
    store(engine, specs)
    return engine, specs


# --- plain-Python expectations ------------------------------------------------------------------


def in_period(specs: list[Spec]) -> list[Spec]:
    return [s for s in specs if s.counted and FRM <= s.reported_at < TO]


def key_of(spec: Spec, by: str | None):
    return {"category": spec.category, "channel": spec.channel, "division": spec.division, "org": spec.org,
            None: "all"}[by]


def expected_rates(specs: list[Spec], by: str | None, now: datetime, defs: KpiDefinitions) -> dict:
    end = min(TO, now)
    out: dict = {}

    def bump(spec: Spec, name: str, hit: bool) -> None:
        cell = out.setdefault(key_of(spec, by), {}).setdefault(name, [0, 0])
        cell[0] += hit
        cell[1] += 1

    for s in (s for s in specs if s.counted):
        deadline = s.acknowledge_due or s.reported_at + timedelta(minutes=defs.acknowledge_minutes)
        if FRM <= deadline < end:
            bump(s, "response", bool(s.acknowledged_at and s.acknowledged_at <= deadline))
        due = s.resolve_due or (s.reported_at + timedelta(hours=defs.resolve_hours) if defs.resolve_hours else None)
        if due and FRM <= due < end:
            bump(s, "closure", bool(s.closed_at and s.closed_at < end))
            bump(s, "on_time_closure", bool(s.closed_at and s.closed_at <= due))
    for s in in_period(specs):
        if s.satisfaction in defs.rated:
            bump(s, "satisfaction", s.satisfaction in defs.satisfied_marks())
            bump(s, "resolution", s.satisfaction in defs.resolved)
    return out


def as_table(got: dict) -> dict:
    return {g: {name: [getattr(r, name).hits, getattr(r, name).total] for name in
                ("response", "closure", "on_time_closure", "satisfaction", "resolution")
                if getattr(r, name).total} for g, r in got.items()}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def interval_values(spec: Spec) -> dict[str, float | None]:
    f = spec.first() or {}
    on_scenes = [a["on_scene"] for a in spec.assignments if a["on_scene"]]

    def secs(later, earlier):
        if later is None or earlier is None:
            return None
        value = (later - earlier).total_seconds()
        return value if value >= 0 else None

    return {"processing": secs(f.get("dispatched"), spec.reported_at),
            "turnout": secs(f.get("en_route"), f.get("dispatched")),
            "travel": secs(f.get("on_scene"), f.get("en_route")),
            "response": secs(min(on_scenes) if on_scenes and spec.stamped else f.get("on_scene"), spec.reported_at),
            "on_scene": secs(f.get("cleared"), f.get("on_scene"))}


def expected_intervals(specs: list[Spec], by: str | None) -> dict:
    values: dict = {}
    for s in in_period(specs):
        for name, v in interval_values(s).items():
            bucket = values.setdefault(key_of(s, by), {n: [] for n in INTERVALS})[name]
            if v is not None:
                bucket.append(v)
    return {g: {n: (len(v), percentile(v, 0.5) if v else None, percentile(v, 0.9) if v else None)
                for n, v in per.items()} for g, per in values.items()}


# --- tests ---------------------------------------------------------------------------------------


def test_dataset_is_big_and_varied_enough():
    specs = make_specs()
    assert 50 <= len(in_period(specs)) <= 72
    assert any(s.fused for s in specs) and any(s.status == "cancelled" for s in specs)
    assert any(len(s.assignments) == 2 for s in in_period(specs))
    assert any(len(s.assignments) == 2 and not s.stamped for s in in_period(specs))


@pytest.mark.parametrize("by", ["category", "channel", "division", "org"])
def test_counts_by_group(data, by):
    engine, specs = data
    expected = Counter(key_of(s, by) for s in in_period(specs))
    got = counts(engine, FRM, TO, by)
    assert dict(got) == dict(expected)
    assert [n for _, n in got] == sorted(expected.values(), reverse=True)


def test_counts_by_hour_are_hourly_buckets_in_time_order(data):
    engine, specs = data
    expected = Counter(s.reported_at.replace(minute=0, second=0) for s in in_period(specs))
    got = counts(engine, FRM, TO, "hour")
    assert got == sorted(expected.items())
    assert all(k.tzinfo is not None for k, _ in got)


@pytest.mark.parametrize("by", [None, "category", "division"])
def test_rates_match_the_definitions(data, by):
    engine, specs = data
    defs = KpiDefinitions()
    assert as_table(rates(engine, FRM, TO, by=by, now=LATER)) == expected_rates(specs, by, LATER, defs)


@pytest.mark.parametrize("defs", [KpiDefinitions(), KpiDefinitions(acknowledge_minutes=10, resolve_hours=3,
                                                                 count_basically_satisfied=False)])
@pytest.mark.parametrize("by", [None, "category", "channel", "division", "org"])
def test_tally_is_the_counts_and_the_rates_in_one_read(data, by, defs):
    engine, specs = data
    volume, by_rates = tally(engine, FRM, TO, by, defs, now=LATER)
    assert volume == dict(Counter(key_of(s, by) for s in in_period(specs)))
    assert as_table(by_rates) == expected_rates(specs, by, LATER, defs)
    assert set(by_rates) == set(rates(engine, FRM, TO, by, defs, now=LATER))


def test_tally_follows_a_write_made_after_a_read(data):
    engine, specs = data
    tally(engine, FRM, TO, "division", now=LATER)
    target = next(s for s in in_period(specs) if s.satisfaction != "unresolved" and s.closed_at is None)
    number = specs.index(target)
    when = target.reported_at + timedelta(hours=1)
    with transaction(engine) as s:
        row = s.query(models.Incident).filter_by(source="kpi", external_id=str(number)).one()
        row.satisfaction, row.closed_at = "unresolved", when
    target.satisfaction, target.closed_at = "unresolved", when
    volume, by_rates = tally(engine, FRM, TO, "division", now=LATER)
    assert as_table(by_rates) == expected_rates(specs, "division", LATER, KpiDefinitions())
    assert volume == dict(Counter(s.division for s in in_period(specs)))


def test_configured_definitions_change_the_figures(data):
    engine, specs = data
    defs = KpiDefinitions(acknowledge_minutes=10, resolve_hours=3, count_basically_satisfied=False,
                          rated=["satisfied", "basically_satisfied", "dissatisfied", "unresolved", "unreachable"])
    got = rates(engine, FRM, TO, definitions=defs, now=LATER)
    assert as_table(got) == expected_rates(specs, None, LATER, defs)
    default = rates(engine, FRM, TO, now=LATER)["all"]
    assert got["all"].satisfaction.value < default.satisfaction.value
    assert got["all"].closure.total > default.closure.total  # incidents with no resolve_due now count


def test_clocks_still_running_are_not_judged(data):
    engine, specs = data
    now = FRM + timedelta(hours=12)
    assert as_table(rates(engine, FRM, TO, now=now)) == expected_rates(specs, None, now, KpiDefinitions())


def test_survey_of_work_orders(engine, tmp_path: Path):
    load_pack_into_store(engine, make_small_pack(tmp_path))
    store(engine, [Spec(reported_at=FRM, category="garbage", channel="12345", division="T01", org="OFF-T01",
                        status="closed")])
    marks = {"OFF-T01": ["satisfied", "unresolved", "basically_satisfied"], "OFF-T02": ["dissatisfied", None]}
    with transaction(engine) as s:
        for org, values in marks.items():
            for m in values:
                s.add(models.WorkOrder(incident_id=1, org_code=org, created_at=FRM + timedelta(hours=1),
                                       satisfaction=m))
        s.add(models.WorkOrder(incident_id=1, org_code="OFF-T02", created_at=TO, satisfaction="satisfied"))
    volume, got = tally(engine, FRM, TO, by="org", definitions=KpiDefinitions(survey_of="work_order"), now=LATER)
    assert volume == {"OFF-T01": 1}
    assert (got["OFF-T01"].satisfaction.hits, got["OFF-T01"].satisfaction.total) == (2, 3)
    assert (got["OFF-T01"].resolution.hits, got["OFF-T01"].resolution.total) == (2, 3)
    assert (got["OFF-T02"].satisfaction.hits, got["OFF-T02"].resolution.hits, got["OFF-T02"].resolution.total) == (
        0, 1, 1)


@pytest.mark.parametrize("by", [None, "division"])
def test_cad_intervals_median_and_p90(data, by):
    engine, specs = data
    expected = expected_intervals(specs, by)
    got = intervals(engine, FRM, TO, by=by)
    assert set(got) == set(expected)
    for group, stats in expected.items():
        for name, (n, median, p90) in stats.items():
            stat = got[group][name]
            assert stat.n == n, (group, name)
            assert stat.median == pytest.approx(median, abs=0.01), (group, name)
            assert stat.p90 == pytest.approx(p90, abs=0.01), (group, name)
    if by is None:
        assert expected["all"]["turnout"][0] < sum(1 for s in in_period(specs) if s.first() and s.first()["en_route"])
    for asked in (("response",), ("processing", "response"), ("travel",)):  # the headline's and the ranking's reads
        alone = intervals(engine, FRM, TO, by=by, names=asked)
        assert alone == {g: {name: got[g][name] for name in asked} for g in got}, asked


def test_ranking_orders_groups_and_drops_small_samples(data):
    engine, specs = data
    table = expected_rates(specs, "division", LATER, KpiDefinitions())
    sizes = sorted(cell["response"][1] for cell in table.values())
    min_sample = sizes[0] + 1  # the smallest division falls out
    expected = sorted(((g, c["response"][0] / c["response"][1]) for g, c in table.items()
                       if c["response"][1] >= min_sample), key=lambda r: (-r[1], r[0]))
    got = ranking(engine, FRM, TO, "division", "response_rate", min_sample=min_sample, now=LATER)
    assert [r.group for r in got] == [g for g, _ in expected]
    assert [r.value for r in got] == pytest.approx([v for _, v in expected])
    assert len(got) < len(table)

    p90 = expected_intervals(specs, "division")
    expected_p90 = sorted(((g, s["response"][2]) for g, s in p90.items() if s["response"][0] >= 5),
                          key=lambda r: (r[1], r[0]))
    got_p90 = ranking(engine, FRM, TO, "division", "response_p90", min_sample=5)
    assert [r.group for r in got_p90] == [g for g, _ in expected_p90]
    assert [r.value for r in got_p90] == pytest.approx([v for _, v in expected_p90], abs=0.01)

    busiest = ranking(engine, FRM, TO, "category", "count", min_sample=0)
    assert [(r.group, r.sample) for r in busiest] == counts(engine, FRM, TO, "category")


def test_bad_questions_are_user_errors(data):
    engine, _ = data
    with pytest.raises(UserError, match="unknown KPI metric"):
        ranking(engine, FRM, TO, "division", "happiness")
    with pytest.raises(UserError, match="cannot group by"):
        counts(engine, FRM, TO, "weather")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="empty KPI period"):
        counts(engine, TO, FRM, "category")
    with pytest.raises(UserError, match="timezone-aware"):
        counts(engine, datetime(2025, 6, 1), datetime(2025, 6, 2), "category")


def test_export_rows_flatten_every_figure_per_group(data):
    engine, specs = data
    rows = export_rows(engine, FRM, TO, "division", now=LATER)
    table = expected_rates(specs, "division", LATER, KpiDefinitions())
    volume = Counter(s.division for s in in_period(specs))
    assert [r["group"] for r in rows] == sorted(volume)
    for r in rows:
        assert r["incidents"] == volume[r["group"]]
        assert [r["response_hits"], r["response_total"]] == table[r["group"]]["response"]
        assert r["response_p90_s"] == pytest.approx(expected_intervals(specs, "division")[r["group"]]["response"][2],
                                                    abs=0.01)
    (city,) = export_rows(engine, FRM, TO, None, now=LATER)
    assert city["group"] == "all" and city["incidents"] == len(in_period(specs))
