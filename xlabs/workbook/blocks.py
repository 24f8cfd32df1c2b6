"""Titled tables ("blocks") on a sheet, with the cell address of every value.

Layout rule used by every xlabs input sheet (documented in README):

    A title row: text in column A, nothing else on the row;
    the next row: column headers;
    data rows until the first completely blank row.

A sheet can hold several blocks one under another.  Header matching is
case-insensitive and ignores surrounding spaces, ``%`` signs and units in
brackets, so ``"Coupon (%)"`` matches ``coupon``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter


def cell_ref(sheet: str, row: int, col: int) -> str:
    """``Sheet!B7`` for 1-based row and column."""
    return f"{sheet}!{get_column_letter(col)}{row}"


def norm_header(text) -> str:
    s = str(text or "").strip().lower()
    s = re.sub(r"\(.*?\)|\[.*?\]|%", "", s)
    return re.sub(r"[\s\-]+", "_", s.strip()).strip("_")


@dataclass
class Block:
    """One titled table.  ``rows`` are lists of values; ``row_numbers`` their
    1-based sheet rows; ``headers`` normalised names by 1-based column."""

    sheet: str
    title: str
    title_row: int
    header_row: int
    headers: dict                     # column (1-based) -> normalised header
    raw_headers: dict
    rows: list = field(default_factory=list)
    row_numbers: list = field(default_factory=list)

    def column(self, name: str) -> int | None:
        for c, h in self.headers.items():
            if h == name:
                return c
        return None

    def ref(self, i: int, col: int) -> str:
        """Address of data row ``i`` (0-based), column ``col`` (1-based)."""
        return cell_ref(self.sheet, self.row_numbers[i], col)

    def value(self, i: int, col: int):
        row = self.rows[i]
        return row[col - 1] if col - 1 < len(row) else None


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def read_blocks(sheet_name: str, values) -> dict:
    """Parse a sheet's values (rows of cells, from row 1) into ``{title: Block}``.

    Titles are normalised with :func:`norm_header`.  Rows before the first
    title are ignored (room for notes).
    """
    rows = [list(r) for r in values]
    blocks = {}
    i = 0
    n = len(rows)
    while i < n:
        r = rows[i]
        nonblank = [k for k, v in enumerate(r) if not _blank(v)]
        if nonblank == [0] and isinstance(r[0], str) and i + 1 < n:
            hdr = rows[i + 1]
            hdr_cols = [k for k, v in enumerate(hdr) if not _blank(v)]
            if len(hdr_cols) >= 2:
                b = Block(sheet=sheet_name, title=str(r[0]).strip(), title_row=i + 1, header_row=i + 2,
                          headers={k + 1: norm_header(hdr[k]) for k in hdr_cols},
                          raw_headers={k + 1: str(hdr[k]).strip() for k in hdr_cols})
                j = i + 2
                while j < n and not all(_blank(v) for v in rows[j]):
                    b.rows.append(rows[j])
                    b.row_numbers.append(j + 1)
                    j += 1
                blocks[norm_header(b.title)] = b
                i = j
                continue
        i += 1
    return blocks
