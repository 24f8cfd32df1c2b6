"""Output sheets as data: cells, tables and chart specifications.

The writer builds a :class:`SheetOut` without knowing which spreadsheet
library will render it; each workbook adapter (openpyxl headless, xlwings in
Excel) renders the same object.  That keeps the macro code that runs in
Excel identical to what CI runs (DESIGN.md, layers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Cell:
    row: int
    col: int
    value: object
    number_format: str | None = None
    bold: bool = False
    size: int | None = None
    fill: str | None = None


@dataclass
class Series:
    """A chart series: values in ``col`` from ``first_row`` to ``last_row``
    with its name in ``title_row`` (1-based sheet coordinates)."""

    col: int
    title_row: int
    first_row: int
    last_row: int
    dashed: bool = False
    width_emu: int | None = None
    marker: bool = False


@dataclass
class Chart:
    """A chart anchored at a cell: ``kind`` is ``line``, ``bar`` (vertical
    columns) or ``scatter``; ``categories`` is (col, first_row, last_row)."""

    kind: str
    title: str
    anchor: str
    categories: tuple
    series: list
    x_title: str = ""
    y_title: str = ""
    y_format: str | None = None
    legend: bool = True
    width_cm: float = 20.0
    height_cm: float = 9.0
    extra_series: list = field(default_factory=list)
    """Scatter only: ((x col, first, last), (y col, first, last), name[, "markers" | "line"]) series."""


@dataclass
class SheetOut:
    name: str
    cells: list = field(default_factory=list)
    charts: list = field(default_factory=list)
    widths: dict = field(default_factory=dict)    # column letter -> width
    print_fit_width: bool = False                 # landscape, all columns on one page width

    def put(self, row, col, value, number_format=None, bold=False, size=None, fill=None):
        self.cells.append(Cell(row, col, clean(value), number_format, bold, size, fill))

    def title(self, text):
        self.put(1, 1, text, bold=True, size=13)

    def table(self, top: int, left: int, title: str, headers, rows, formats=None) -> int:
        """A titled table; returns the next free row after one blank row.
        ``formats`` maps a header to a number format."""
        formats = formats or {}
        rows = [list(r) for r in rows]
        self.put(top, left, title, bold=True)
        for k, h in enumerate(headers):
            self.put(top + 1, left + k, h, bold=True, fill="DDEBF7")
        for i, row in enumerate(rows):
            for k, v in enumerate(row):
                v = clean(v)
                fmt = formats.get(headers[k]) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                self.put(top + 2 + i, left + k, v, fmt)
        return top + 2 + len(rows) + 1


def clean(v):
    """Values a spreadsheet can hold: numpy scalars unwrapped, NaN -> blank, inf -> text."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v
