"""Free-text search on both backends: Chinese of any length, English, edits kept in step, and
SQL metacharacters that stay plain text in the search box, the filters and the sort."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ioc.errors import UserError
from ioc.read import board, lists
from ioc.read.lists import IncidentFilter
from ioc.store import models, search
from ioc.store.db import transaction
from ioc.store.models import utcnow
from tests.factories import add_incident, minutes

TEXTS = {
    "noise": ("噪音扰民", "夜间施工噪音很大", "东莞市南城街道鸿福路88号"),
    "water": ("道路积水", "暴雨后路面积水约30厘米", "东莞市东城街道东城路1号"),
    "lift": ("电梯困人", "一名老人被困电梯", "东莞市莞城街道可园路5号"),
    "english": ("Noise complaint", "Loud music after midnight", "Dongcheng Road 12"),
    "quotes": ('He said "50% off_now"', "a ' quote; DROP TABLE incident; --", "path\\to\\x"),
    "end": ("垃圾", "", "厚街"),  # two-character fields, the second at the very end of the text
}


@pytest.fixture
def texts(engine, pack):
    return {key: add_incident(engine, pack, title=t, description=d, address=a, reported_at=minutes(n))
            for n, (key, (t, d, a)) in enumerate(TEXTS.items())}


def found(engine, q: str) -> set[int]:
    return {r["id"] for r in board.page(engine, IncidentFilter(q=q), board.Sort(), None, 100).rows}


def by_key(texts, *keys) -> set[int]:
    return {texts[k] for k in keys}


QUERIES = [
    ("噪音", ["noise"]),             # two characters, inside the title
    ("积水", ["water"]),             # in title and description: once
    ("厚街", ["end"]),               # two characters ending the text
    ("垃圾", ["end"]),
    ("电梯困人", ["lift"]),           # four characters
    ("被困电梯", ["lift"]),           # in the description
    ("鸿福路88号", ["noise"]),        # in the address
    ("东莞市", ["noise", "water", "lift"]),
    ("noise", ["english"]),          # English, any case
    ("NOISE COMPLAINT", ["english"]),
    ("midnight", ["english"]),
    ("Road 12", ["english"]),        # a cased letter: ILIKE on PostgreSQL
    ("12", ["english"]),             # none: LIKE, inside a text that has cased letters
    ("噪", ["noise"]),               # one character
    ("雪", []),
    ("没有这件事", []),
]
METACHARACTERS = ['"50% off_now"', "50%", "off_now", "' quote;", "DROP TABLE incident; --", "path\\to", '"', "%",
                  "_", "*", "\\", "' OR 1=1 --", "NEAR(a b)", "噪音 OR 积水", "噪*"]


def test_search_finds_text_anywhere_in_title_description_or_address(engine, texts):
    for q, keys in QUERIES:
        assert found(engine, q) == by_key(texts, *keys), q


def test_sql_and_match_metacharacters_are_plain_text(engine, texts):
    for q in METACHARACTERS:
        expected = {i for key, i in texts.items() if any(q.lower() in f.lower() for f in TEXTS[key])}
        assert found(engine, q) == expected, q
        assert lists.incidents(engine, IncidentFilter(q=q))["total"] == len(expected), q
    assert len(found(engine, "东莞市")) == 3  # and the store is untouched


def test_search_follows_edits_and_deletes(engine, texts):
    with transaction(engine) as s:
        s.execute(update(models.Incident).where(models.Incident.id == texts["noise"])
                  .values(title="路灯不亮", description="", address="东莞市南城街道"))
    assert found(engine, "噪音") == set()
    assert found(engine, "路灯不亮") == {texts["noise"]}
    with transaction(engine) as s:
        s.execute(delete(models.Incident).where(models.Incident.id == texts["lift"]))
    assert found(engine, "电梯") == set()


def test_search_by_external_id_and_with_other_filters(engine, pack, texts):
    other = add_incident(engine, pack, title="噪音", priority="P4", external_id="J2026-0001", reported_at=minutes(20))
    assert found(engine, "J2026-0001") == {other}
    p4 = board.page(engine, IncidentFilter(q="噪音", priority=["P4"]), board.Sort(), None, 10).rows
    assert [r["id"] for r in p4] == [other]


def test_metacharacters_in_filters_and_sort_match_nothing_and_change_nothing(engine, texts):
    for value in ("' OR 1=1 --", "P1'; DROP TABLE incident; --", "%", 'new" OR "1"="1'):
        for field in ("status", "priority", "category", "channel", "division", "org"):
            assert board.page(engine, IncidentFilter(**{field: [value]}), board.Sort(), None, 10).rows == [], field
    for sort in ("reported_at; DROP TABLE incident", "id desc", "title", "1"):
        with pytest.raises(UserError, match="cannot sort by"):
            board.Sort.of(sort)
    with pytest.raises(UserError, match="direction"):
        board.Sort.of("id", "asc; DROP TABLE incident")
    assert len(found(engine, "东莞市")) == 3


def test_pages_stay_stable_while_new_reports_arrive(engine, pack, texts):
    """A cursor walk keeps its place: reports arriving meanwhile (newer) neither shift nor repeat rows."""
    older = [add_incident(engine, pack, title=f"积水点{n}", reported_at=minutes(-n)) for n in range(1, 8)]
    wanted = [texts["water"], *older]  # newest first
    first = board.page(engine, IncidentFilter(q="积水"), board.Sort(), None, 3)
    add_incident(engine, pack, title="新的积水", reported_at=minutes(90))
    rest = list(board.walk(engine, IncidentFilter(q="积水"), board.Sort(), chunk=3))
    assert [r["id"] for r in first.rows] == wanted[:3]
    after = board.page(engine, IncidentFilter(q="积水"), board.Sort(), first.cursor, 100).rows
    assert [r["id"] for r in after] == wanted[3:]
    assert len(rest) == len(wanted) + 1
    api, cursor = [], None
    while True:
        got = lists.incidents(engine, IncidentFilter(q="积水"), 3, 0, cursor)
        api += [i["id"] for i in got["items"]]
        if got["next"] is None:
            break
        cursor = got["next"]
    assert api == [r["id"] for r in rest]


def _many(engine, n: int, every: int = 1, since: int = 0) -> list[int]:
    """``n`` incidents in one statement, one minute apart (newest first), every ``every``-th from
    the ``since``-th on about noise (噪音); the ids of the noise ones, newest first."""
    rows = [dict(source="bulk", external_id=f"b-{k}", channel="12345", category="noise", priority="P3",
                 status="closed", reported_at=minutes(-k), district_code="T01", sources=[],
                 title="夜间噪音扰民" if k >= since and k % every == 0 else "道路积水", description="",
                 address="厚街镇")
            for k in range(n)]
    with engine.begin() as conn:
        conn.execute(models.Incident.__table__.insert(), rows)
        ids = conn.execute(select(models.Incident.id).where(models.Incident.title == "夜间噪音扰民")
                           .order_by(models.Incident.reported_at.desc())).scalars().all()
    return list(ids)


def test_a_common_word_pages_its_newest_matches_and_says_there_are_more(engine, pack, monkeypatch):
    """More matches than ``COMMON`` read newest first; the page is the same 100 newest matches,
    page two goes on from there, and the capped count says "more". On PostgreSQL, once ANALYZE
    has seen the pairs, a two-character word goes by the statistics (no count), and so does the
    list's total."""
    monkeypatch.setattr(search, "COMMON", 300)
    noise = _many(engine, 3_000, 2)  # 1,500 matches of 噪音 and of 噪音扰民
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE incident")
        with Session(engine) as session:
            assert search.pair_estimate(session, "噪音") == pytest.approx(1_500, rel=0.1)
            assert search.pair_estimate(session, "龘龘") == 0
    for q in ("噪音", "噪音扰民"):
        with Session(engine) as session:
            assert search.newest_first_scan(session, q)
        first = board.page(engine, IncidentFilter(q=q), board.Sort(), None, 100)
        second = board.page(engine, IncidentFilter(q=q), board.Sort(), first.cursor, 100)
        assert [r["id"] for r in first.rows + second.rows] == noise[:200], q
        assert lists.count(engine, IncidentFilter(q=q), cap=500) == (500, True)
        api = lists.incidents(engine, IncidentFilter(q=q), 100)
        assert [i["id"] for i in api["items"]] == noise[:100], q
        assert (api["total"], api["total_more"]) == (1_500, False), q  # under the cap: counted exactly
    assert lists.count(engine, IncidentFilter(q="噪音", division=["T02"]), cap=500) == (0, False)
    with Session(engine) as session:
        assert not search.newest_first_scan(session, "龘龘")
    assert found(engine, "龘龘") == set()


def test_a_phrase_common_in_the_past_but_rare_lately_pages_through_the_index_on_postgresql(engine, pack, monkeypatch):
    """More matches than ``COMMON``, but none among the newest incidents: on PostgreSQL (3 or more
    characters) the trigram index finds the page, as reading newest first would check every
    recent incident before the first match; SQLite goes by the count. The pages are the same."""
    monkeypatch.setattr(search, "COMMON", 300)
    monkeypatch.setattr(search, "PROBE_ROWS", 500)
    monkeypatch.setattr(search, "DENSE", 50)
    wanted = _many(engine, 1_400, since=1_000)  # 400 matches, none among the newest 1,000
    with Session(engine) as session:
        assert search.newest_first_scan(session, "夜间噪音扰民") == (engine.dialect.name == "sqlite")
    first = board.page(engine, IncidentFilter(q="夜间噪音扰民"), board.Sort(), None, 100)
    second = board.page(engine, IncidentFilter(q="夜间噪音扰民"), board.Sort(), first.cursor, 100)
    assert [r["id"] for r in first.rows + second.rows] == wanted[:200]
    assert [i["id"] for i in lists.incidents(engine, IncidentFilter(q="夜间噪音扰民"), 100)["items"]] == wanted[:100]


def test_a_phrase_pages_the_same_whether_its_matches_are_this_week_or_older(engine, pack):
    """A search newest first looks in the last week first (PostgreSQL): a page full from that week
    is the newest matches, and a page the week cannot fill reads on into older ones."""
    now = utcnow()
    recent = [add_incident(engine, pack, title=f"元美路27号 {n}", reported_at=now - timedelta(hours=n))
              for n in range(5)]
    older = [add_incident(engine, pack, title=f"元美路27号 旧{n}", reported_at=now - timedelta(days=8 + n))
             for n in range(5)]
    add_incident(engine, pack, title="别的路", reported_at=now)
    wanted = recent + older  # newest first
    first = board.page(engine, IncidentFilter(q="元美路27"), board.Sort(), None, 3)
    rest = board.page(engine, IncidentFilter(q="元美路27"), board.Sort(), first.cursor, 100)
    assert [r["id"] for r in first.rows] == wanted[:3]
    assert [r["id"] for r in rest.rows] == wanted[3:]
    assert [r["id"] for r in board.page(engine, IncidentFilter(q="元美路27"), board.Sort(), None, 8).rows] == wanted[:8]
    api = lists.incidents(engine, IncidentFilter(q="元美路27"), 4)
    assert [i["id"] for i in api["items"]] == wanted[:4]
    assert [i["id"] for i in lists.incidents(engine, IncidentFilter(q="元美路27"), 100, 0, api["next"])["items"]] \
        == wanted[4:]
