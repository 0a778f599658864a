"""Times and durations as the pages show them: in the city's timezone, with their units."""

from __future__ import annotations

from datetime import datetime, tzinfo

from ioc.i18n import t


def when(at: datetime | None, tz: tzinfo, lang: str) -> str:
    """``12-02 14:05`` in the city's time; a dash for no time."""
    if at is None:
        return "—"
    return at.astimezone(tz).strftime("%m-%d %H:%M")


def duration(minutes: float, lang: str) -> str:
    """``2 天 3 小时`` / ``1 h 50 min`` / ``7 min``: the two largest units that matter."""
    total = int(round(minutes))
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return t("time.days_hours", lang, d=days, h=hours)
    if hours:
        return t("time.hours_minutes", lang, h=hours, m=mins)
    return t("time.minutes", lang, m=mins)
