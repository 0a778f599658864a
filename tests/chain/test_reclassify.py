"""Triage at ingest and the duty officer's one click: a report with no place or category gets a
suggestion (never overwriting what the source said); accepting or correcting it sets division,
category and owner through one audited service and counts each phrase."""

import json

import pytest
from sqlalchemy import select

from feeds.base import RawItem
from ioc.chain import reclassify
from ioc.errors import Forbidden, Stale
from ioc.read import triage_phrases
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import OFFICER, VIEWER, audits, load, write_small_triage


def parse(item: RawItem):
    return [IncidentRecord(**json.loads(item.payload))]


def report(external_id: str, **fields) -> RawItem:
    record = {"external_id": external_id, "channel": "12345", "category": "other",
              "reported_at": "2026-07-01T09:00:00+08:00", "description": "幸福村晚上噪音扰民，吵得睡不着"} | fields
    return RawItem(external_id, json.dumps(record, ensure_ascii=False, sort_keys=True))


@pytest.fixture
def city(engine, pack):
    write_small_triage(pack)
    return engine, pack, FeedContext.for_feed("hotline", "test", "wgs84", pack)


def stored(engine, external_id: str) -> models.Incident:
    with transaction(engine) as s:
        return s.scalar(select(models.Incident).where(models.Incident.external_id == external_id))


def phrases(engine) -> dict[tuple[str, str], tuple[int, int, dict]]:
    with transaction(engine) as s:
        return {(r.phrase, r.suggested): (r.accepted, r.corrected, r.corrected_to)
                for r in s.scalars(select(models.TriagePhrase))}


def test_a_report_without_place_or_category_gets_a_suggestion_not_an_overwrite(city):
    engine, _pack, ctx = city
    ingest_batch(engine, ctx, [report("a"), report("b", category="crime", lon=113.85, lat=22.95)], parse)
    a, b = stored(engine, "a"), stored(engine, "b")
    assert (a.category, a.district_code) == ("other", None)
    assert a.extra["triage"]["division"] == "T02" and a.extra["triage"]["category"] == "noise"
    assert a.extra["triage"]["org"] == "OFF-T02"
    assert ["division", "幸福村", "T02"] in a.extra["triage"]["reasons"]
    assert "triage" not in b.extra  # it came with a place and a category


def test_accepting_sets_division_category_owner_and_counts_the_phrases(city):
    engine, pack, ctx = city
    ingest_batch(engine, ctx, [report("a")], parse)
    incident = stored(engine, "a")
    reclassify.accept_suggestion(engine, OFFICER, incident.id, incident.version, pack)
    after = load(engine, models.Incident, incident.id)
    assert (after.category, after.district_code, after.org_code) == ("noise", "T02", "OFF-T02")
    assert after.resolve_due is not None and after.version == incident.version + 1
    [row] = audits(engine, "incident", incident.id)
    assert row.action == "incident.reclassify" and row.before["category"] == "other"
    counts = phrases(engine)
    assert counts[("幸福村", "T02")] == (1, 0, {}) and counts[("噪音", "noise")] == (1, 0, {})
    # The source's next word about the request does not undo the officer's choice.
    ingest_batch(engine, ctx, [report("a", status="closed", source_status="closed")], parse)
    again = load(engine, models.Incident, incident.id)
    assert (again.category, again.district_code, again.status) == ("noise", "T02", "closed")


def test_a_correction_counts_against_the_phrases_and_names_what_was_chosen(city):
    engine, pack, ctx = city
    ingest_batch(engine, ctx, [report("a")], parse)
    incident = stored(engine, "a")
    reclassify.reclassify(engine, OFFICER, incident.id, incident.version, pack, None, "construction")
    after = load(engine, models.Incident, incident.id)
    assert (after.category, after.district_code) == ("construction", None)
    counts = phrases(engine)
    assert counts[("噪音", "noise")] == (0, 1, {"construction": 1})
    assert counts[("幸福村", "T02")] == (0, 1, {"None": 1})


def test_only_roles_that_may_and_only_on_the_version_seen(city):
    engine, pack, ctx = city
    ingest_batch(engine, ctx, [report("a")], parse)
    incident = stored(engine, "a")
    with pytest.raises(Forbidden):
        reclassify.accept_suggestion(engine, VIEWER, incident.id, incident.version, pack)
    with pytest.raises(Stale):
        reclassify.accept_suggestion(engine, OFFICER, incident.id, incident.version - 1, pack)
    assert load(engine, models.Incident, incident.id).category == "other"
    assert phrases(engine) == {}


def test_the_most_corrected_phrases_come_first_with_what_they_were_corrected_to(city):
    engine, pack, ctx = city
    ingest_batch(engine, ctx, [report("a"), report("b"), report("c")], parse)
    for external_id in ("a", "b"):
        incident = stored(engine, external_id)
        reclassify.reclassify(engine, OFFICER, incident.id, incident.version, pack, "T02", "construction")
    incident = stored(engine, "c")
    reclassify.accept_suggestion(engine, OFFICER, incident.id, incident.version, pack)
    listed = triage_phrases.most_corrected(engine)  # 幸福村 → T02 was kept each time: never corrected
    assert [(p.kind, p.phrase, p.suggested, p.accepted, p.corrected) for p in listed] == [
        ("category", "噪音", "noise", 1, 2), ("category", "扰民", "noise", 1, 2)]
    assert listed[0].corrected_to == {"construction": 2} and round(listed[0].corrected_share, 2) == 0.67
    assert triage_phrases.most_corrected(engine, kind="division") == []
    assert triage_phrases.most_corrected(engine, min_corrected=3) == []
