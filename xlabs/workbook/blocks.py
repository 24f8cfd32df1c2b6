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

import difflib
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


class Uncalculated:
    """A formula cell whose workbook holds no stored (cached) value: the file was written by a
    program that does not calculate (e.g. a script with openpyxl).  Reported, never read as blank."""

    def __init__(self, formula: str):
        self.formula = formula

    def __repr__(self) -> str:
        return f"formula {self.formula}"


EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
                          "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!"})
"""Excel's error values (openpyxl reads them as these strings)."""


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


_SUMMARY = ("total", "subtotal", "sub-total", "grand total", "sum", "check", "note", "memo", "comment", "source",
            "合计", "小计", "总计", "备注", "说明")
"""First-cell labels of lines an analyst adds under a table (a total, a note): not table data."""


def layout_problems(sheet_name: str, values, blocks: dict, merged=(), keys: dict | None = None) -> list:
    """Layout mistakes on an input sheet that would otherwise drop or change data without a word,
    as ``(where, rule, value)``:

    - a row below a block, after the blank row that ended it, that looks like one of its rows.
      ``keys[title]`` describes the block: ``("kv", keys)`` for a key/value block (a row whose first
      cell is one of its keys), ``("table", required columns)`` for a table (a row that fills every
      required column); a block not described needs two filled cells under its headers.  A row whose
      first cell is a summary or note label (``Total``, ``Note:``, ...) is never data: a total, a note
      or a review date under a table is fine;
    - a column header that appears twice in a block (only the first column would be read);
    - merged cells that hide a header or data cell of a block (a merged cell other than the top-left
      one reads as blank and would take the default);
    - values in a column of a block whose header is blank (between two headed columns), or right of its
      last header on its data rows, in the columns next to it (a column blank on every data row ends the
      table: what lies beyond is a note beside it; a key/value block's cells right of the value are notes);
    - a second block with the title of an earlier one on the sheet (:func:`read_blocks` keeps it apart,
      as ``"title 2"``; only the first is read).
    """
    keys = keys or {}
    out = []
    rows = [list(r) for r in values]
    used = set()
    ordered = sorted(blocks.items(), key=lambda kv: kv[1].title_row)
    for key, b in ordered:
        if " " in key:
            first = blocks[key.split(" ")[0]]
            out.append((cell_ref(sheet_name, b.title_row, 1), f"a second block titled '{b.title}' on this sheet "
                        f"(the first is at row {first.title_row}): only the first is read; merge the two or "
                        "rename this one", b.title))
        used.update({b.title_row, b.header_row, *b.row_numbers})
        seen: dict = {}
        for c, h in sorted(b.headers.items()):
            if h in seen:
                out.append((cell_ref(sheet_name, b.header_row, c),
                            f"column header '{b.raw_headers[c]}' appears twice in block '{b.title}' (also column "
                            f"{get_column_letter(seen[h])}); only the first would be read", None))
            else:
                seen[h] = c
        gaps = [c for c in range(min(b.headers, default=1), max(b.headers, default=0) + 1) if c not in b.headers]
        for c in gaps:
            for row, rn in zip(b.rows, b.row_numbers):
                if c - 1 < len(row) and not _blank(row[c - 1]):
                    out.append((cell_ref(sheet_name, b.header_row, c), f"column {get_column_letter(c)} of block "
                                f"'{b.title}' holds values but its header is blank: they would not be read "
                                f"(first at row {rn})", row[c - 1]))
                    break
        if (keys.get(key) or ("",))[0] != "kv":     # a key/value block's cells right of its value are notes
            right = max(b.headers, default=0)
            # the columns that continue the table (an observation past the last month header), up to the first
            # column blank on every data row: what lies beyond such a gap is the user's own (a note beside it)
            beyond, c = [], right + 1
            while True:
                hits = [(rn, c) for row, rn in zip(b.rows, b.row_numbers) if c - 1 < len(row) and not _blank(row[c - 1])]
                if not hits:
                    break
                beyond += hits
                c += 1
            if beyond:
                rn, c = min(beyond, key=lambda x: (x[1], x[0]))
                out.append((cell_ref(sheet_name, rn, c), f"values right of the last header of block '{b.title}' "
                            f"(column {get_column_letter(right)}) would not be read: give their column a header "
                            "(a period or month number in a schedule or vintage grid), or move them off the "
                            "table's rows", b.rows[b.row_numbers.index(rn)][c - 1]))
        last = b.row_numbers[-1] if b.row_numbers else b.header_row
        for r0, c0, r1, c1 in merged:
            hidden = any(r0 <= r <= r1 and c0 <= c <= c1 and (r, c) != (r0, c0)
                         for r in range(max(r0, b.header_row), min(r1, last) + 1) for c in b.headers)
            if hidden:
                out.append((f"{sheet_name}!{get_column_letter(c0)}{r0}:{get_column_letter(c1)}{r1}",
                            f"merged cells inside block '{b.title}': only the top-left cell of a merge holds a "
                            "value, the others would read as blank; unmerge them and fill every cell", None))
    if not ordered:
        return out
    runs = []                       # [first row, last row, blank row above] of each run of unread data rows
    blank_above = None
    k = 0                           # index of the block the row is under
    for i in range(ordered[0][1].title_row - 1, len(rows)):
        while k + 1 < len(ordered) and ordered[k + 1][1].title_row <= i + 1:
            k += 1
        title, b = ordered[k]
        r = rows[i]
        filled = [v for v in r if not _blank(v)]
        if not filled:
            blank_above = i + 1
            continue
        if i + 1 in used or not _looks_like_row_of(b, r, keys.get(title)):
            continue
        if runs and runs[-1][1] == i and runs[-1][2] == blank_above:
            runs[-1][1] = i + 1
        else:
            runs.append([i + 1, i + 1, blank_above])
    for r0, r1, blank in runs:
        where = f"{sheet_name}!row {r0}" if r0 == r1 else f"{sheet_name}!rows {r0}-{r1}"
        after = f" below the blank row {blank}" if blank else ""
        out.append((where, f"data{after} is not read: a table ends at its first blank row (delete the blank row, "
                    "or give the data its own title and header row)", None))
    return out


def _looks_like_row_of(b: Block, row: list, kind) -> bool:
    """Whether an unread row below block ``b`` looks like one of its data rows (see layout_problems)."""
    first = row[0] if row else None
    if kind is not None and kind[0] == "kv":           # key/value block: a known key, or a misspelt one with a value
        key = norm_header(first)
        if key in kind[1]:
            return True
        if not key or len(row) < 2 or _blank(row[1]):
            return False
        near = difflib.get_close_matches(key, list(kind[1]), n=1, cutoff=0.8)
        # a note such as 'benchmark_source | PBOC LPR' or 'benchmark_date | 2026-01-20' is close to a key by
        # spelling only: a misspelt key holds a value of its key's type (kind[2] says, when given)
        return bool(near) and (len(kind) < 3 or kind[2](near[0], row[1]))
    if isinstance(first, str) and first.strip().lower().rstrip(":").startswith(_SUMMARY):
        return False

    def filled(c):
        return c - 1 < len(row) and not _blank(row[c - 1])
    if kind is not None:                                # a table: every required column it has is filled
        cols = [b.column(n) for n in kind[1] if b.column(n) is not None]
        if cols:
            return all(filled(c) for c in cols)
    return sum(1 for c in b.headers if filled(c)) >= 2


def read_blocks(sheet_name: str, values, titles=()) -> dict:
    """Parse a sheet's values (rows of cells, from row 1) into ``{title: Block}``.

    Titles are normalised with :func:`norm_header`.  Rows before the first
    title are ignored (room for notes).  A title stands alone in column A of
    its row; one of ``titles`` (the schema's titles for this sheet, normalised)
    may have notes beside it (``Deal | checked by LW``).  A later block with the title of an
    earlier one is keyed ``"title 2"`` (``3``, ...; a normalised title has no
    space) and reported by
    :func:`layout_problems`.
    """
    rows = [list(r) for r in values]
    blocks = {}
    i = 0
    n = len(rows)
    while i < n:
        r = rows[i]
        nonblank = [k for k, v in enumerate(r) if not _blank(v)]
        titled = nonblank == [0] or (nonblank[:1] == [0] and isinstance(r[0], str) and norm_header(r[0]) in titles)
        if titled and isinstance(r[0], str) and i + 1 < n:
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
                key = norm_header(b.title)
                if key in blocks:           # a second block of that title: kept apart, reported by layout_problems
                    n_dup = 2
                    while f"{key} {n_dup}" in blocks:
                        n_dup += 1
                    key = f"{key} {n_dup}"      # a space: never in a normalised title
                blocks[key] = b
                i = j
                continue
        i += 1
    return blocks
