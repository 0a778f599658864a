"""The duty officer sees what a citizen's words suggest (智能分拨) on the incident page, with the
reason, and takes it in one click; in zh-CN and in English."""

import json

import pytest
from sqlalchemy import select

from feeds.base import RawItem
from ioc.intake.ingest import FeedContext, ingest_batch
from ioc.records import IncidentRecord
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import load, write_small_triage
from tests.layouts.pages import sign_in, small_city, start

pytestmark = pytest.mark.browser


def parse(item: RawItem):
    return [IncidentRecord(**json.loads(item.payload))]


def reports(runtime) -> dict[str, int]:
    """Two 12345 requests with neither place nor category, ingested as the feed would."""
    write_small_triage(runtime.pack)
    ctx = FeedContext.for_feed("hotline", "test", "wgs84", runtime.pack)
    items = [RawItem(ext, json.dumps({"external_id": ext, "channel": "12345", "category": "other",
                                      "reported_at": "2026-07-01T09:00:00+08:00", "description": text},
                                     ensure_ascii=False)) for ext, text in (("zh", "幸福村工地半夜施工，吵得睡不着"),
                                                                            ("en", "乙镇家里被偷了"))]
    ingest_batch(runtime.engine, ctx, items, parse)
    with transaction(runtime.engine) as s:
        return dict(s.execute(select(models.Incident.external_id, models.Incident.id)).all())


def test_a_duty_officer_accepts_the_suggestion_in_one_click(dash_duo, tmp_path, monkeypatch):
    runtime, build = small_city(tmp_path, monkeypatch)
    ids = reports(runtime)
    start(dash_duo, build())
    dash_duo.driver.set_window_size(1400, 900)
    for lang, shown, reason, after in (
        ("zh-CN", "乙镇 · 施工", "文中有“幸福村”（乙镇）；“工地” → 施工；“施工” → 施工", "施工"),
        ("en", "Yi · Crime", "'乙镇' in the text; '被偷' → Crime", "crime"),
    ):
        sign_in(dash_duo, "zhang", f"/incident/{ids[lang[:2]]}", lang)
        dash_duo.wait_for_contains_text(".inc-triage .triage-what", shown, timeout=20)
        assert dash_duo.find_element(".inc-triage .triage-reason").text == reason
        dash_duo.driver.save_screenshot(f"/tmp/triage-{lang}.png")
        dash_duo.find_element(".inc-triage button").click()
        dash_duo.wait_for_contains_text(".msg-ok", "Accept" if lang == "en" else "采纳建议")
        dash_duo.wait_for_contains_text(".facts", after)
        dash_duo.wait_for_contains_text(".timeline", "division and category set" if lang == "en" else "更正属地和类别")
        assert not dash_duo.find_elements(".inc-triage")  # taken: the suggestion is gone
        incident = load(runtime.engine, models.Incident, ids[lang[:2]])
        assert incident.district_code == "T02" and incident.category == after_code(after)
    assert dash_duo.get_logs() == []


def after_code(label: str) -> str:
    return {"施工": "construction", "crime": "crime"}[label]
