"""The daily briefing as one A4 page: a PDF (fpdf2, CJK font embedded) and a PNG of that page.

The hourly chart is drawn with matplotlib into a PNG and placed in the PDF; the PNG of the whole
page is the PDF rendered by PDFium, so both formats show exactly the same page.
"""

from __future__ import annotations

import io
import logging
from datetime import date, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from sqlalchemy import Engine

from ioc.city.pack import CityPack
from ioc.errors import UserError
from ioc.i18n import LANGUAGES, t
from ioc.read.briefing import THREE_RATES, Briefing, Format, build, check_format, file_name, keep
from ioc.read.summary import display, display_change
from ioc.store.models import utcnow

log = logging.getLogger(__name__)

# (file, index in the collection): Debian's fonts-wqy-microhei, else fonts-noto-cjk (SC is face 2).
CJK_FONTS = (
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
)
INK, MUTED, ACCENT, LINE = (20, 28, 45), (100, 112, 135), (20, 110, 170), (210, 216, 226)
UP, DOWN = (20, 130, 80), (190, 40, 40)
PAGE_W, MARGIN = 210, 14


def cjk_font() -> tuple[Path, int]:
    for path, index in CJK_FONTS:
        if path.exists():
            return path, index
    raise UserError("no Chinese font for the briefing: install Debian's fonts-wqy-microhei (make browser does)")


def pdf(b: Briefing, lang: str, now: datetime) -> bytes:
    doc = _Page(lang)
    doc.header_block(b, now)
    doc.headline(b)
    doc.chart(_hourly_chart(b, lang))
    doc.two_columns(b)
    doc.lateness_and_notable(b)
    doc.footer_note()
    return bytes(doc.output())


def png(pdf_bytes: bytes, scale: float = 2.0) -> bytes:
    """The first page of a PDF as a PNG (PDFium renders it)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf_bytes)
    try:
        image = document[0].render(scale=scale).to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def text_of(pdf_bytes: bytes) -> str:
    """The text of every page (what a reader's search finds)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf_bytes)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def _hourly_chart(b: Briefing, lang: str) -> bytes:
    path, _ = cjk_font()
    font = FontProperties(fname=str(path), size=8)
    fig = Figure(figsize=(7.2, 1.9), dpi=200)
    ax = fig.add_subplot()
    hours = list(range(24))
    ax.bar(hours, b.hourly, color="#1d6fa5", label=t("brief.chart_day", lang, day=b.day.isoformat()))
    ax.plot(hours, b.hourly_week_before, color="#e08a1e", marker="o", markersize=2.5, linewidth=1.2,
            label=t("brief.chart_week_before", lang))
    ax.set_xticks(hours, [f"{h:02d}" for h in hours], fontproperties=font)
    ax.set_xlim(-0.6, 23.6)
    ax.set_ylabel(t("unit.incidents", lang), fontproperties=font)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(prop=font, frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncol=2, borderaxespad=0)
    fig.tight_layout(pad=0.4)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


class _Page(FPDF):
    def __init__(self, lang: str) -> None:
        super().__init__(format="A4", unit="mm")
        self.lang = lang
        path, index = cjk_font()
        for style in ("", "B"):  # the CJK font has no bold face; headings use the same one
            self.add_font("cjk", style, str(path), collection_font_number=index)
        self.set_margins(MARGIN, 12, MARGIN)
        self.set_auto_page_break(False)
        self.add_page()
        self.set_title(t("brief.title", lang))
        self.set_creator("City IOC")

    def tr(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def write_line(self, text: str, size: float = 9, colour: tuple[int, int, int] = INK, h: float = 5,
                   w: float = 0, align: str = "L") -> None:
        self.set_font("cjk", "", size)
        self.set_text_color(*colour)
        self.cell(w, h, text, align=align, new_x=XPos.LMARGIN if not w else XPos.RIGHT,
                  new_y=YPos.NEXT if not w else YPos.TOP)

    def heading(self, text: str) -> None:
        self.ln(1.5)
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.6)
        left = self.l_margin
        self.line(left, self.get_y() + 2, left + 2.5, self.get_y() + 2)
        self.set_x(left + 4)
        self.write_line(text, size=10.5, colour=ACCENT, h=4)
        self.ln(0.8)

    def header_block(self, b: Briefing, now: datetime) -> None:
        city = b.city[1] if self.lang == "en" else b.city[0]
        weekday = self.tr(f"brief.weekday.{b.day.weekday()}")
        self.write_line(f"{city} · {self.tr('brief.title')}", size=17, h=9)
        self.write_line(f"{b.day.isoformat()} {weekday}", size=11, colour=MUTED, h=6)
        stamp = now.astimezone(b.tz).strftime("%Y-%m-%d %H:%M")
        self.write_line(self.tr("brief.generated", at=stamp, zone=str(b.tz)), size=8, colour=MUTED, h=4)
        self.set_draw_color(*LINE)
        self.set_line_width(0.3)
        self.line(MARGIN, self.get_y() + 1.5, PAGE_W - MARGIN, self.get_y() + 1.5)
        self.ln(3)

    def headline(self, b: Briefing) -> None:
        boxes = [(self.tr("kpi.volume"), "count", float(b.volume), b.volume_change, "")]
        for name in THREE_RATES:
            rate, before = b.rates[name], b.rates_week_before[name]
            change = rate.value - before.value if rate.value is not None and before.value is not None else None
            boxes.append((self.tr(f"kpi.{name}_rate"), "rate", rate.value, change,
                          self.tr("summary.sample", hits=f"{rate.hits:,}", total=f"{rate.total:,}")))
        width = (PAGE_W - 2 * MARGIN - 3 * 3) / 4
        top = self.get_y()
        for i, (label, kind, value, change, sample) in enumerate(boxes):
            x = MARGIN + i * (width + 3)
            self.set_draw_color(*LINE)
            self.rect(x, top, width, 24)
            self.set_xy(x + 3, top + 2)
            self.write_line(label, size=9, colour=MUTED, w=width - 6, h=5)
            number, unit = display(kind, value, self.lang)
            self.set_xy(x + 3, top + 7)
            self.write_line(f"{number} {unit}".strip(), size=16, w=width - 6, h=8)
            colour = MUTED if not change else (UP if change > 0 else DOWN)
            self.set_xy(x + 3, top + 15)
            self.write_line(f"{self.tr('brief.vs_week')} {display_change(kind, change, self.lang)}", size=7.5,
                            colour=colour, w=width - 6, h=4)
            self.set_xy(x + 3, top + 19)
            self.write_line(sample, size=7, colour=MUTED, w=width - 6, h=4)
        self.set_xy(MARGIN, top + 26)

    def chart(self, image: bytes) -> None:
        self.heading(self.tr("brief.by_hour"))
        width = PAGE_W - 2 * MARGIN
        self.image(io.BytesIO(image), x=MARGIN, y=self.get_y(), w=width)
        self.set_y(self.get_y() + width * 1.9 / 7.2 + 1)

    def two_columns(self, b: Briefing) -> None:
        top = self.get_y()
        half = (PAGE_W - 2 * MARGIN - 6) / 2
        self.set_left_margin(MARGIN)
        self.heading(self.tr("brief.by_category"))
        self._rows([(self.tr(f"cat.{c}"), f"{n:,}", f"{before:,}") for c, n, before in b.by_category[:8]],
                   [half * 0.5, half * 0.25, half * 0.25],
                   (self.tr("summary.category"), self.tr("brief.day"), self.tr("brief.week_before")))
        self.ln(1)
        left_end = self.get_y()
        self.set_left_margin(MARGIN + half + 6)
        self.set_xy(MARGIN + half + 6, top)
        self.heading(self.tr("brief.hotspots"))
        name = 1 if self.lang == "en" else 0
        self._rows([(h[name], f"{h[2]:,}") for h in b.hotspots], [half * 0.7, half * 0.3],
                   (self.tr("summary.division"), self.tr("kpi.volume")))
        if b.places:
            self.write_line(self.tr("summary.recurring"), size=8, colour=MUTED, h=5)
            for p in b.places[:3]:
                self.write_line(f"{self.tr(f'summary.place.{p.kind}')} {p.key[:22]} · {p.incidents:,}", size=8, h=4.5)
        self.set_left_margin(MARGIN)
        self.set_xy(MARGIN, max(left_end, self.get_y()))

    def lateness_and_notable(self, b: Briefing) -> None:
        late = b.lateness
        self.heading(self.tr("brief.lateness"))
        clocks = "，".join(f"{self.tr('clock.' + c)} {n:,}" for c, n in late.supervisions.items())
        self.write_line(self.tr("brief.lateness_line", response=f"{late.response_missed:,}",
                                closure=f"{late.closure_missed:,}", issued=f"{late.supervision_total:,}",
                                open=f"{late.supervisions_open:,}"), size=9)
        if clocks:
            self.write_line(clocks, size=8, colour=MUTED, h=4.5)
        self.heading(self.tr("brief.notable", n=f"{b.p1_total:,}"))
        if not b.p1 and not b.events:
            self.write_line(self.tr("brief.no_notable"), size=9, colour=MUTED)
        for e in b.events:
            self.write_line(f"{self.tr('brief.event')} {e[0]} · {self.tr(f'brief.event_status.{e[2]}')}", size=9)
        for n in b.p1:
            title = n.title[:44] + ("…" if len(n.title) > 44 else "")
            division = n.division[1] if self.lang == "en" else n.division[0]
            reports = f" · {self.tr('brief.reports', n=n.reports)}" if n.reports > 1 else ""
            self.write_line(f"{n.reported_at:%H:%M}  P1 {self.tr(f'cat.{n.category}')} · {title} · {division}{reports}",
                            size=8.5, h=4.8)
        self.heading(self.tr("brief.warnings"))
        if not b.warnings:
            self.write_line(self.tr("live.no_alerts"), size=9, colour=MUTED)
        for headline, severity, colour in b.warnings[:5]:
            signal = self.tr(f"brief.signal.{colour}") if colour else severity
            self.write_line(f"[{signal}] {headline[:60]}", size=8.5, h=4.8)

    def footer_note(self) -> None:
        self.set_xy(MARGIN, 297 - 16)
        self.set_font("cjk", "", 6.5)
        self.set_text_color(*MUTED)
        self.multi_cell(PAGE_W - 2 * MARGIN, 3.2, self.tr("brief.definitions"))

    def _rows(self, rows: list[tuple[str, ...]], widths: list[float], head: tuple[str, ...]) -> None:
        x = self.get_x()
        for cells, size, colour in [(head, 7.5, MUTED)] + [(r, 8.5, INK) for r in rows]:
            self.set_x(x)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
                self.set_font("cjk", "", size)
                self.set_text_color(*colour)
                self.cell(w, 4.8, cell, align="L" if i == 0 else "R", new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.ln(4.8)
        if not rows:
            self.set_x(x)
            self.write_line(self.tr("summary.no_incidents"), size=8.5, colour=MUTED)


def render(engine: Engine, pack: CityPack, day: date, lang: str, fmt: Format, now: datetime | None = None) -> bytes:
    """A day's briefing in ``lang`` as PDF or PNG bytes; a day still to come is refused."""
    now = now or utcnow()
    if day > now.astimezone(pack.timezone).date():
        raise UserError(f"{day} has not happened yet in {pack.manifest.name_en or pack.name}")
    figures = build(engine, (pack.manifest.name_zh, pack.manifest.name_en), pack.timezone, day, now)
    document = pdf(figures, lang, now)
    return document if check_format(fmt) == "pdf" else png(document)


def keep_day(folder: Path, engine: Engine, pack: CityPack, day: date, now: datetime | None = None) -> list[Path]:
    """Write a day's briefing, both languages, PDF and PNG, into the folder of past briefings."""
    now = now or utcnow()
    figures = build(engine, (pack.manifest.name_zh, pack.manifest.name_en), pack.timezone, day, now)
    written = []
    for lang in LANGUAGES:
        document = pdf(figures, lang, now)
        written += [keep(folder, day, lang, "pdf", document), keep(folder, day, lang, "png", png(document))]
    log.info("briefing of %s kept in %s", day, folder)
    return written


def archived_or_render(folder: Path, engine: Engine, pack: CityPack, day: date, lang: str, fmt: Format) -> bytes:
    """The kept briefing of that day when there is one, else one made now."""
    kept = folder / file_name(day, lang, fmt)
    return kept.read_bytes() if kept.is_file() else render(engine, pack, day, lang, fmt)
