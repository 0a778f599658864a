"""A flagged spike shows on the wall's ticker and in the summary's anomalies panel, with its numbers."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from ioc.read import anomalies, summary
from ioc.store.models import utcnow
from layouts import summary_page, wall_page
from tests.read.test_anomalies import TZ, add_reports


def text_of(component) -> str:
    if component is None or isinstance(component, (str, int, float)):
        return "" if component is None else str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def test_a_spike_is_on_the_ticker_and_in_the_summary(engine, pack):
    now = utcnow()
    hour = anomalies.hour_start(now, TZ)
    rows = [("T01", "noise", hour - timedelta(days=60))]
    rows += [("T02", "noise", hour - timedelta(days=7 * w)) for w in range(1, 5) for _ in range(2)]
    rows += [("T02", "noise", hour + timedelta(seconds=s)) for s in range(11)]
    add_reports(engine, rows)
    anomalies.scan(engine, TZ, now)
    ticker = text_of(wall_page._ticker([], "zh-CN", TZ, anomalies.current(engine, TZ)))
    assert "异常" in ticker and "乙镇 噪音 本小时11起，平时2起" in ticker
    today = now.astimezone(ZoneInfo(TZ)).date()
    period = summary.Period(today, today, ZoneInfo(TZ))
    assert "Yi noise 11 this hour, usual 2" in text_of(summary_page.anomaly_panel(engine, period, None, "en"))
    yesterday = summary.Period(today - timedelta(days=1), today - timedelta(days=1), ZoneInfo(TZ))
    assert "No anomalies in this period." in text_of(summary_page.anomaly_panel(engine, yesterday, None, "en"))
