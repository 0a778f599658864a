"""Exports of the board: exactly its filtered rows, in its sort, times in the city's zone."""

import csv
import io
from types import SimpleNamespace

from openpyxl import load_workbook

from ioc.read import board, exports
from ioc.read.lists import IncidentFilter
from tests.factories import add_incident, minutes


def test_csv_and_xlsx_hold_the_filtered_rows_in_board_order(engine, pack):
    for n in range(1203):  # more than two export pages
        add_incident(engine, pack, reported_at=minutes(n), priority="P1" if n % 3 == 0 else "P4",
                     title=f"事件{n}")
    rt = SimpleNamespace(engine=engine, pack=pack)
    filters, sort = IncidentFilter(priority=["P1"]), board.Sort.of("reported_at", "asc")
    text = "".join(exports.board_csv(rt, filters, sort))
    assert text.startswith("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert header == list(exports.BOARD_COLUMNS)
    assert [r[5] for r in rows] == [f"事件{n}" for n in range(0, 1203, 3)]
    assert rows[0][header.index("reported_at")] == "2026-07-01 08:00:00"  # T0 is 00:00 UTC, 08:00 in Dongguan
    out = io.BytesIO()
    exports.board_xlsx(rt, filters, sort, out)
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).active
    cells = list(sheet.iter_rows(values_only=True))
    assert list(cells[0]) == list(exports.BOARD_COLUMNS)
    assert [["" if v is None else str(v) for v in r] for r in cells[1:]] == rows
