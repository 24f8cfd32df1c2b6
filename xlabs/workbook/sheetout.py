"""Output sheets as data: cells, tables and chart specifications.

The writer builds a :class:`SheetOut` without knowing which spreadsheet
library will render it; each workbook adapter (openpyxl headless, xlwings in
Excel) renders the same object.  That keeps the macro code that runs in
Excel identical to what CI runs (DESIGN.md, layers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter


@dataclass
class Cell:
    row: int
    col: int
    value: object
    number_format: str | None = None
    bold: bool = False
    size: int | None = None
    fill: str | None = None
    fit: bool = True
    """Whether the column is widened to show this cell whole (:meth:`SheetOut.column_widths`); titles
    and prose notes are not (their text runs on over the empty cells to their right)."""


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

    def put(self, row, col, value, number_format=None, bold=False, size=None, fill=None, fit=True):
        self.cells.append(Cell(row, col, clean(value), number_format, bold, size, fill, fit))

    def note(self, row, col, text):
        """A line of prose: it runs on to the right and does not widen its column."""
        self.put(row, col, text, fit=False)

    def title(self, text):
        self.put(1, 1, text, bold=True, size=13, fit=False)

    def column_widths(self) -> dict:
        """Width of each column (letter -> characters): wide enough for every table cell as displayed
        with its number format — a number too wide for its column shows as ``###`` and a header is cut
        off by the next one — and never narrower than a width set in ``widths``.  Text widens a column
        to at most ``MAX_TEXT_WIDTH``."""
        need: dict = {}
        for c in self.cells:
            if not c.fit or c.value is None:
                continue
            w = display_width(c.value, c.number_format)
            if isinstance(c.value, str):
                w = min(w, MAX_TEXT_WIDTH)
            if c.bold:
                w *= 1.1
            need[c.col] = max(need.get(c.col, 0.0), w + 2.0)
        need = {get_column_letter(col): round(w, 1) for col, w in need.items()}
        out = {letter: w for letter, w in need.items() if w > DEFAULT_WIDTH}
        for letter, w in self.widths.items():
            out[letter] = max(w, need.get(letter, 0.0))
        return out

    def table(self, top: int, left: int, title: str, headers, rows, formats=None) -> int:
        """A titled table; returns the next free row after one blank row.
        ``formats`` maps a header to a number format."""
        formats = formats or {}
        rows = [list(r) for r in rows]
        self.put(top, left, title, bold=True, fit=False)
        for k, h in enumerate(headers):
            self.put(top + 1, left + k, h, bold=True, fill="DDEBF7")
        for i, row in enumerate(rows):
            for k, v in enumerate(row):
                v = clean(v)
                fmt = formats.get(headers[k]) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                self.put(top + 2 + i, left + k, v, fmt)
        return top + 2 + len(rows) + 1


DEFAULT_WIDTH = 8.43
"""Excel's default column width (characters of the default font)."""
MAX_TEXT_WIDTH = 60


def display_width(value, number_format=None) -> float:
    """Characters ``value`` takes when displayed with ``number_format`` (the formats the writers use:
    ``0.00%``, ``#,##0.00``, ``0.0000`` and General); a CJK character counts as two."""
    if isinstance(value, bool):
        return 5.0
    if isinstance(value, (int, float)):
        fmt = number_format or "General"
        dec = len(fmt.split(".", 1)[1].rstrip("%")) if "." in fmt else 0
        if fmt.endswith("%"):
            text = f"{value * 100:.{dec}f}%"
        elif "#,##0" in fmt:
            text = f"{value:,.{dec}f}"
        elif fmt != "General" and fmt[0] == "0":
            text = f"{value:.{dec}f}"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = f"{value:.10g}"[:11]     # General: about 11 characters, then scientific notation
        return float(len(text))
    text = str(value)
    return float(sum(2 if ord(ch) > 0x2E7F else 1 for ch in text))


def clean(v):
    """Values a spreadsheet can hold: numpy scalars unwrapped, NaN -> blank, inf -> text."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v
