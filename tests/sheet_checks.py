"""Checks on rated workbooks shared by the workbook and corporate tests."""

from __future__ import annotations

import openpyxl
from openpyxl.utils import get_column_letter

from xlabs.workbook.sheetout import DEFAULT_WIDTH

# How Excel displays a number in each format the writers use, written out independently of the writer.
SHOWN = {
    "#,##0.00": lambda v: f"{v:,.2f}",
    "0.00%": lambda v: f"{v:.2%}",
    "0.0000%": lambda v: f"{v:.4%}",
    "0.0%": lambda v: f"{v:.1%}",
    "0%": lambda v: f"{v:.0%}",
    "0.00": lambda v: f"{v:.2f}",
    "0.0": lambda v: f"{v:.1f}",
    "0.0000": lambda v: f"{v:.4f}",
    "0": lambda v: f"{v:.0f}",
}


def numbers_that_do_not_fit(path, sheets) -> list:
    """Cells of ``sheets`` holding a number wider (as displayed) than its column: ``###`` in Excel.
    General-format numbers are skipped (Excel rounds those to fit)."""
    wb = openpyxl.load_workbook(path)
    bad = []
    for name in sheets:
        ws = wb[name]
        widths = {k: d.width for k, d in ws.column_dimensions.items() if d.customWidth}
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if isinstance(v, bool) or not isinstance(v, (int, float)) or c.number_format == "General":
                    continue
                assert c.number_format in SHOWN, f"{name}!{c.coordinate}: add format {c.number_format!r} to SHOWN"
                text = SHOWN[c.number_format](v)
                w = widths.get(get_column_letter(c.column), DEFAULT_WIDTH)
                if w < len(text) + 1:
                    bad.append((f"{name}!{c.coordinate}", text, w))
    return bad
