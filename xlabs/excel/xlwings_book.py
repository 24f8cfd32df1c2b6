"""The workbook adapter for a live Excel workbook, through xlwings.

A thin mapping of the adapter contract (see ``xlabs/workbook/adapter.py``)
onto the few xlwings calls it needs:

===========================  ==============================================
adapter call                 xlwings calls
===========================  ==============================================
``sheet_names()``            ``book.sheets`` → ``sheet.name``
``values(name)``             ``sheet.used_range.options(ndim=2).value``, ``.row``, ``.column``
``write_sheet(out)``         an existing output sheet: ``chart.delete()``, ``sheet.clear()``
                             (kept in place: formulas that refer to it stay valid);
                             a new one: ``sheets.add(name, after=last)``;
                             ``sheet.range((r, c)).value / .number_format / .font.bold``,
                             ``sheet.range(col:col).column_width``,
                             ``sheet.charts.add(left, top, width, height)``,
                             ``chart.chart_type``, ``chart.set_source_data(sheet.range("A4:A40,AF4:AG40"))``,
                             ``chart.api[1]`` (Windows) or ``chart.api`` title only
``progress(f, msg)``         ``book.app.status_bar = text`` (cleared at 1.0)
``save()``                   nothing: the user saves the open workbook
===========================  ==============================================

It can only drive a real Excel on Windows or macOS; the tests check it
against a recording stand-in of exactly these calls
(``tests/excel/test_xlwings_adapter.py``).  Chart styling beyond type, data
and title (dashes, widths) is left to Excel's defaults here.
"""

from __future__ import annotations

from openpyxl.utils import get_column_letter

from ..workbook.sheetout import SheetOut

_CHART_TYPES = {"line": "line", "bar": "column_clustered", "scatter": "xy_scatter_lines_no_markers"}
_CM_TO_PT = 28.3465


def source_address(cat_col: int, cols, first_row: int, last_row: int) -> str:
    """Excel address of the category column and the series columns ``cols`` (1-based) over rows
    ``first_row..last_row``: one area per run of adjacent columns, e.g. ``"A4:A40,AF4:AG40"`` (Excel's
    ``Range`` takes such a multi-area address, and a chart's source data may be one)."""
    cs = sorted({cat_col, *cols})
    runs = [[cs[0], cs[0]]]
    for c in cs[1:]:
        if c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(f"{get_column_letter(a)}{first_row}:{get_column_letter(b)}{last_row}" for a, b in runs)


class XlwingsBook:
    """Adapter over an ``xlwings.Book`` (e.g. ``xw.Book.caller()``)."""

    def __init__(self, book):
        self.book = book

    def sheet_names(self) -> list:
        return [s.name for s in self.book.sheets]

    def values(self, name: str) -> list:
        """Cell values from A1 (Excel's used range starts at the first used cell: its rows and columns
        are shifted back into place, so every reported cell address is the sheet's own)."""
        ur = self.book.sheets[name].used_range
        v = ur.options(ndim=2).value or []
        r0, c0 = int(ur.row), int(ur.column)
        rows = [(None,) * (c0 - 1) + tuple(r) for r in v]
        return [()] * (r0 - 1) + rows

    def progress(self, fraction: float, message: str) -> None:
        self.book.app.status_bar = False if fraction >= 1.0 else f"xlabs: {fraction:4.0%} {message}"

    def write_sheet(self, out: SheetOut, protected=()) -> None:
        if out.name in protected:
            raise ValueError(f"refusing to overwrite input sheet {out.name}")
        names = self.sheet_names()
        if out.name in names:
            # cleared in place, not deleted and added again: a user formula that refers to an output sheet
            # (a cover sheet's =Rating!J6) would otherwise become #REF!
            sheet = self.book.sheets[out.name]
            for ch in list(sheet.charts):
                ch.delete()
            sheet.clear()
        else:
            sheet = self.book.sheets.add(out.name, after=self.book.sheets[names[-1]] if names else None)
        # One write per contiguous row block would be faster in Excel; values
        # go cell by cell here to keep the mapping obvious and testable.
        for c in out.cells:
            rng = sheet.range((c.row, c.col))
            rng.value = c.value
            if c.number_format:
                rng.number_format = c.number_format
            if c.bold:
                rng.font.bold = True
        for col, w in out.column_widths().items():
            sheet.range(f"{col}:{col}").column_width = w
        for ch in out.charts:
            anchor = sheet.range(ch.anchor)
            chart = sheet.charts.add(anchor.left, anchor.top, ch.width_cm * _CM_TO_PT, ch.height_cm * _CM_TO_PT)
            chart.chart_type = _CHART_TYPES[ch.kind]
            cat_col, first, last = ch.categories
            cols = [s.col for s in ch.series]
            title_row = ch.series[0].title_row if ch.series else first - 1
            # Source: the category column and the series columns only, header row included (a block from the
            # first to the last would chart every column between them)
            chart.set_source_data(sheet.range(source_address(cat_col, cols, title_row, last)))
            chart.name = ch.title[:31]

    def save(self, path=None):
        """Nothing to do: in Excel the user saves the workbook."""
        return None
