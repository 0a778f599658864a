"""City replay's read model: what was on the map at any moment of a past day, from the stamps and
the event log the command chain wrote — a typhoon night played through the real services, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ioc.read import replay
from ioc.records import UNIT_STATUSES
from tests.factories import CST, NIGHT, night_at as at, typhoon_night

ORIGIN = (113.70, 22.90)


def state_at(data: dict, incident_id: int, when: datetime) -> str | None:
    """What the browser shows (assets/replay.js): the last state from at or before ``when``; None = not on the map."""
    t = when.timestamp() - data["start"]
    row = next((r for r in data["incidents"] if r[0] == incident_id), None)
    if row is None:
        return None
    changes, state = row[5], None
    for n in range(0, len(changes), 2):
        if changes[n] <= t:
            state = replay.STATES[changes[n + 1]]
    return state if state in ("new", "acknowledged", "dispatched", "on_scene") else None


def unit_at(data: dict, call_sign: str, when: datetime) -> tuple[str, float, float] | None:
    """A unit's status and place (lon, lat) as the browser draws it, moving between frames."""
    t = when.timestamp() - data["start"]
    track = next(u for u in data["units"] if u[0] == call_sign)[2]
    frames = [track[n:n + 4] for n in range(0, len(track), 4)]
    now = [k for k, f in enumerate(frames) if f[0] <= t]
    if not now or frames[now[-1]][3] == replay.OFF:
        return None
    k = now[-1]
    ft, x, y, s = frames[k]
    if k + 1 < len(frames) and frames[k + 1][3] != replay.OFF and frames[k + 1][1:3] != [x, y]:
        nt, nx, ny, _ = frames[k + 1]
        f = (t - ft) / (nt - ft)
        x, y = x + (nx - x) * f, y + (ny - y) * f
    return UNIT_STATUSES[s], ORIGIN[0] + x / data["scale"], ORIGIN[1] + y / data["scale"]


@pytest.fixture
def night(engine, pack):
    ids = typhoon_night(engine, pack)
    start, end = replay.day_window(NIGHT, CST)
    return ids, replay.replay(engine, start, end, ORIGIN)


def test_day_window_is_the_city_calendar_day():
    start, end = replay.day_window(NIGHT, CST)
    assert (start.isoformat(), end - start) == ("2026-07-01T00:00:00+08:00", timedelta(days=1))


def test_each_incident_is_on_the_map_in_the_state_it_was_in(night):
    ids, data = night
    a = ids["A"]
    assert [state_at(data, a, at(h, m)) for h, m in ((20, 59), (21, 0), (21, 7), (21, 11), (21, 31), (22, 31))] == [
        None, "new", "acknowledged", "dispatched", "on_scene", None]
    assert [state_at(data, ids["C"], at(21, m)) for m in (16, 21)] == ["new", None]          # merged away
    assert [state_at(data, ids["B"], at(22, m)) for m in (10, 21)] == ["new", None]          # cancelled
    d = ids["D"]
    assert [state_at(data, d, at(23, m)) for m in (31, 40, 51, 56, 59)] == [
        "new", "dispatched", "on_scene", None, "on_scene"]                                   # reopened
    assert state_at(data, d, at(23, 59) + timedelta(seconds=59)) == "on_scene"               # still at midnight
    assert {state_at(data, ids["F"], at(h)) for h in (0, 12, 23)} == {"new"}                 # open all day


def test_a_feeds_own_stamp_wins_over_the_time_it_arrived(night):
    ids, data = night
    h = ids["H"]
    assert [state_at(data, h, at(21, m)) for m in (39, 40, 45, 50)] == ["new", "dispatched", "dispatched",
                                                                       "on_scene"]


def test_the_day_holds_only_what_was_on_the_map_that_day(night):
    ids, data = night
    assert {r[0] for r in data["incidents"]} == {ids[k] for k in "ABCDFH"}
    a = next(r for r in data["incidents"] if r[0] == ids["A"])
    assert a[1:5] == [2000, 2000, 2, 11]  # 113.72, 22.92 from the corner; P2; waterlogging


def test_open_counts_at_a_moment_follow_the_night(night):
    ids, data = night

    def open_by_priority(when):
        counts = {}
        for r in data["incidents"]:
            if state_at(data, r[0], when):
                counts[f"P{r[3]}"] = counts.get(f"P{r[3]}", 0) + 1
        return counts

    assert open_by_priority(at(21, 16)) == {"P2": 1, "P3": 1, "P4": 1}
    assert open_by_priority(at(21, 45)) == {"P1": 1, "P2": 1, "P4": 1}
    assert open_by_priority(at(23, 59)) == {"P1": 2, "P4": 1}


def test_units_travel_from_their_station_and_leave_the_map_when_cleared(night):
    _, data = night
    assert unit_at(data, "巡00", at(21, 9)) is None
    status, lon, lat = unit_at(data, "巡00", at(21, 11))
    assert (status, round(lon, 4), round(lat, 4)) == ("DISPATCHED", 113.75, 22.95)          # PS-T01
    status, lon, lat = unit_at(data, "巡00", at(21, 21))
    assert status == "EN_ROUTE" and 113.72 < lon < 113.75 and 22.92 < lat < 22.95            # on its way
    status, lon, lat = unit_at(data, "巡00", at(22))
    assert (status, round(lon, 4), round(lat, 4)) == ("ON_SCENE", 113.72, 22.92)
    assert unit_at(data, "巡00", at(22, 26)) is None
    assert unit_at(data, "巡01", at(23, 59))[0] == "ON_SCENE"


def test_warnings_in_force_from_onset_to_expiry_or_the_update_that_replaced_them(night):
    ids, data = night
    spans = {f["properties"]["colour"]: (f["properties"]["on"], f["properties"]["off"])
             for f in data["alerts"]["features"]}
    hour = 3600
    assert spans == {"yellow": (18 * hour, 21 * hour), "orange": (21 * hour, 23 * hour + 59 * 60),
                     "red": (20 * hour, 28 * hour)}
    assert all(f["properties"]["headline"] for f in data["alerts"]["features"])


def test_a_quiet_day_has_nothing_to_replay(engine, pack):
    start, end = replay.day_window(date(2026, 1, 1), CST)
    data = replay.replay(engine, start, end, ORIGIN)
    assert not replay.has_anything(data)
    assert data["end"] - data["start"] == 86400
