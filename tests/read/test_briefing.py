"""The daily briefing: its figures equal the KPI functions', in the PDF's own text, in both
languages; the PNG is that page; the folder keeps past days; the worker's morning job writes them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from ioc.compose import schedule_briefing
from ioc.config import Settings
from ioc.errors import UserError
from ioc.read import briefing, briefing_doc, kpi
from ioc.runtime import Runtime
from ioc.store import models
from ioc.store.db import transaction
from tests.factories import add_incident

DAY = date(2026, 7, 1)
NOW = datetime(2026, 7, 2, 7, tzinfo=timezone(timedelta(hours=8)))
MARKS = ["satisfied", "satisfied", "basically_satisfied", "dissatisfied", "unresolved", None]


def at(pack, day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), pack.timezone).astimezone(timezone.utc)


@pytest.fixture
def day_of_typhoon(engine, pack):
    for i in range(18):
        add_incident(engine, pack, reported_at=at(pack, DAY, 6 + i // 2), satisfaction=MARKS[i % 6],
                     category="waterlogging" if i % 3 else "fallen_tree", priority="P1" if i in (2, 9) else "P3",
                     district_code=("T01", "T02", "T03")[i % 3], org_code="OFF-T01", title=f"积水 {i} 号")
    for i in range(6):
        add_incident(engine, pack, reported_at=at(pack, DAY - timedelta(days=7), 9 + i), satisfaction="satisfied",
                     category="waterlogging")
    with transaction(engine) as s:
        s.add(models.MajorEvent(name="台风“海燕”", kind="typhoon", started_at=at(pack, DAY, 0), created_by="chen"))
        s.add(models.Alert(feed="cap", sender="dg", identifier="W1", sent=at(pack, DAY, 5), status="Actual",
                           msg_type="Alert", event="台风", headline="东莞市台风橙色预警", severity="Severe",
                           extra={"colour": "orange"}))
    return engine


def test_the_figures_are_the_days_and_the_same_day_last_week(day_of_typhoon, pack):
    b = briefing.build(day_of_typhoon, ("测试市", "Testville"), pack.timezone, DAY, NOW)
    assert (b.volume, b.volume_week_before) == (18, 6)
    assert b.volume_change == pytest.approx(2.0)
    assert b.by_category == [("waterlogging", 12, 6), ("fallen_tree", 6, 0)]
    assert sum(b.hourly) == 18 and b.hourly[6] == 2 and sum(b.hourly_week_before) == 6
    assert [h[2] for h in b.hotspots] == [6, 6, 6]
    assert b.p1_total == 2 and [n.title for n in b.p1] == ["积水 2 号", "积水 9 号"]
    assert b.events == [("台风“海燕”", "typhoon", "active")]
    assert b.warnings == [("东莞市台风橙色预警", "Severe", "orange")]
    frm = at(pack, DAY, 0)
    expected = kpi.rates(day_of_typhoon, frm, frm + timedelta(days=1), now=NOW)[kpi.ALL]
    assert b.rates["resolution"] == expected.resolution == kpi.Rate(12, 15)
    assert b.rates["satisfaction"] == expected.satisfaction


@pytest.mark.parametrize("lang, labels, unit", [
    ("zh-CN", ("事件量", "响应率", "解决率", "满意率"), "件"),
    ("en", ("Incidents", "Response rate", "Resolution rate", "Satisfaction rate"), "incidents"),
])
def test_the_pdf_reads_back_with_the_kpi_figures(day_of_typhoon, pack, lang, labels, unit):
    document = briefing_doc.render(day_of_typhoon, pack, DAY, lang, "pdf", NOW)
    assert document.startswith(b"%PDF") and b"/FontFile2" in document  # the CJK font is embedded
    lines = briefing_doc.text_of(document).splitlines()
    frm = at(pack, DAY, 0)
    rates = kpi.rates(day_of_typhoon, frm, frm + timedelta(days=1), now=NOW)[kpi.ALL]
    volume = sum(n for _, n in kpi.counts(day_of_typhoon, frm, frm + timedelta(days=1), None))
    assert lines[lines.index(labels[0]) + 1] == f"{volume} {unit}"
    for label, rate in zip(labels[1:], (rates.response, rates.resolution, rates.satisfaction), strict=True):
        shown = "–" if rate.value is None else f"{rate.value * 100:.1f} %"
        assert lines[lines.index(label) + 1] == shown
    text = "\n".join(lines)
    assert "东莞市台风橙色预警" in text and "台风“海燕”" in text and "积水 9 号" in text
    assert ("2026-07-01 星期三" if lang == "zh-CN" else "2026-07-01 Wednesday") in text


def test_the_png_is_the_page(day_of_typhoon, pack):
    image = briefing_doc.render(day_of_typhoon, pack, DAY, "zh-CN", "png", NOW)
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    assert (width, height) == (1191, 1684)  # A4 at twice 72 dpi


def test_a_day_still_to_come_is_refused(day_of_typhoon, pack):
    with pytest.raises(UserError, match="has not happened yet"):
        briefing_doc.render(day_of_typhoon, pack, date(2026, 7, 3), "zh-CN", "pdf", NOW)


def test_kept_briefings_are_listed_newest_first(day_of_typhoon, pack, tmp_path):
    folder = tmp_path / "briefings"
    assert briefing.archived(folder) == []
    briefing_doc.keep_day(folder, day_of_typhoon, pack, DAY - timedelta(days=1), NOW)
    written = briefing_doc.keep_day(folder, day_of_typhoon, pack, DAY, NOW)
    assert sorted(p.name for p in written) == ["briefing-2026-07-01-en.pdf", "briefing-2026-07-01-en.png",
                                               "briefing-2026-07-01-zh-CN.pdf", "briefing-2026-07-01-zh-CN.png"]
    assert briefing.archived(folder) == [DAY, DAY - timedelta(days=1)]
    kept = briefing_doc.archived_or_render(folder, day_of_typhoon, pack, DAY, "en", "pdf")
    assert kept == (folder / "briefing-2026-07-01-en.pdf").read_bytes()


def test_the_worker_keeps_yesterdays_briefing_at_seven_city_time(day_of_typhoon, pack, tmp_path):
    settings = Settings()
    settings.briefing.folder = str(tmp_path / "kept")
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_briefing(scheduler, Runtime(settings, day_of_typhoon, pack))
    job = scheduler.get_job("briefing")
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("7", "0") and str(job.trigger.timezone) == "Asia/Shanghai"
    job.func()
    yesterday = datetime.now(pack.timezone).date() - timedelta(days=1)
    assert briefing.archived(tmp_path / "kept") == [yesterday]
