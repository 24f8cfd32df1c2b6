"""Workbook furniture for Excel: the ``_xlwings.conf`` sheet and the UDF calculator template.

xlwings reads workbook settings from a sheet named ``xlwings.conf``;
``xlwings quickstart`` ships it as ``_xlwings.conf`` (inactive until renamed,
so a workbook opened without the add-in is not affected).  Every workbook
xlabs generates carries that sheet naming ``xlabs_udfs`` as its UDF module.
"""

from __future__ import annotations

import numpy as np
from openpyxl.styles import Font
from openpyxl.worksheet.formula import ArrayFormula

CONF_SHEET = "_xlwings.conf"
UDF_MODULE = "xlabs_udfs"


def add_xlwings_conf(wb, pythonpath: str = "../udfs") -> None:
    """Add the ``_xlwings.conf`` sheet (key in column A, value in column B)."""
    ws = wb.create_sheet(CONF_SHEET)
    for row in (("UDF Modules", UDF_MODULE), ("PYTHONPATH", pythonpath), ("Use UDF Server", "False"),
                ("Show Console", "False")):
        ws.append(row)
    ws.sheet_state = "hidden"


# (label, formula, kind) — kind "array:n" writes an array formula over n rows.
CALCULATOR_CELLS = (
    ("TDR from mu, sigma, p", "=XLABS_TDR(B4,B5,B6)", "scalar"),
    ("TDR at rating and term", "=XLABS_TDR_RATING(B4,B5,B7,B8)", "scalar"),
    ("PD of rating over term", "=XLABS_PD(B7,B8)", "scalar"),
    ("rating from PD and term", "=XLABS_RATING_FROM_PD(B9,B8)", "scalar"),
    ("Vasicek quantile (pd, rho, q)", "=XLABS_VASICEK_QUANTILE(B9,B10,B11)", "scalar"),
    ("diversity score", "=XLABS_DIVERSITY_SCORE(E4:E13,F4:F13)", "scalar"),
    ("BET expected loss of [attach, detach)", "=XLABS_BET_EL(B17,B9,B12,B13,B14)", "scalar"),
    ("rating 2 notches below", "=XLABS_NOTCH(B7,2)", "scalar"),
    ("worst of three ratings", '=XLABS_WORST_RATING(H4:H6)', "scalar"),
    ("error example: sigma = 0", "=XLABS_TDR(B4,0,B6)", "scalar"),
    ("lognormal fit of CDRs (mu, sigma)", "=XLABS_FIT_LOGNORMAL(J4:J15)", "row:2"),
    ("vintage CDR at horizon (spills)", "=XLABS_EXTRAPOLATE(L4:Q9,6)", "array:6"),
    ("base default-timing curve (spills)", "=XLABS_TIMING(L4:Q9,6)", "array:6"),
)


def build_calculator(path) -> None:
    """Write ``xlabs_calculator.xlsx``: example inputs and one cell per UDF."""
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Calculator"
    bold = Font(bold=True)
    ws["A1"] = "xlabs UDF calculator: edit the yellow inputs; results recalculate in Excel with the xlwings add-in"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A3"], ws["B3"] = "input", "value"
    ws["A3"].font = ws["B3"].font = bold
    inputs = (("mu", -3.4), ("sigma", 0.35), ("p (target default probability)", 0.002), ("rating", "AA-"),
              ("term (years)", 3), ("pd", 0.02), ("rho", 0.2), ("q", 0.999), ("attach", 0.05), ("detach", 0.15),
              ("recovery", 0.4))
    for i, (k, v) in enumerate(inputs):
        ws.cell(4 + i, 1, k)
        ws.cell(4 + i, 2, v)
    ws.cell(16, 1, "diversity (for BET)").font = bold
    ws.cell(17, 1, "D = round(diversity score)")
    ws.cell(17, 2, "=ROUND(B26,0)")
    ws["E3"], ws["F3"] = "par", "industry"
    rng = np.random.default_rng(3)
    inds = ["energy", "utilities", "transport", "real estate", "manufacturing"]
    for i in range(10):
        ws.cell(4 + i, 5, float(np.round(rng.uniform(1e7, 5e7), 0)))
        ws.cell(4 + i, 6, inds[i % 4 if i < 8 else 4])
    ws["H3"] = "ratings"
    for i, r in enumerate(("AA", "A+sf", "BBB")):
        ws.cell(4 + i, 8, r)
    ws["J3"] = "vintage CDRs"
    for i, x in enumerate(np.round(rng.lognormal(np.log(0.03), 0.3, 12), 5)):
        ws.cell(4 + i, 10, float(x))
    ws["L3"] = "cumulative default rates by month on book (blank = not observed)"
    cum = np.cumsum(np.full((6, 6), 0.004) * rng.uniform(0.6, 1.4, (6, 6)), axis=1)
    for v in range(6):
        for m in range(6):
            if m < 6 - v:
                ws.cell(4 + v, 12 + m, float(np.round(cum[v, m], 5)))
    ws.cell(20, 1, "function").font = bold
    ws.cell(20, 2, "result").font = bold
    ws.cell(20, 3, "formula").font = bold
    r = 21
    # keep B24 = diversity score (referenced by B17)
    for label, formula, kind in CALCULATOR_CELLS:
        ws.cell(r, 1, label)
        ws.cell(r, 3, formula.replace("=", "", 1))
        if kind == "scalar":
            ws.cell(r, 2, formula)
            r += 1
        elif kind.startswith("row:"):
            n = int(kind.split(":")[1])
            ref = f"B{r}:{chr(ord('B') + n - 1)}{r}"
            ws.cell(r, 2).value = ArrayFormula(ref, formula)
            r += 1
        else:
            n = int(kind.split(":")[1])
            ws.cell(r, 2).value = ArrayFormula(f"B{r}:B{r + n - 1}", formula)
            r += n
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 44
    add_xlwings_conf(wb)
    wb.save(path)


def calculator_cell_map() -> dict:
    """``{formula: first result cell}`` as laid out by :func:`build_calculator`."""
    out = {}
    r = 21
    for _, formula, kind in CALCULATOR_CELLS:
        out[formula] = f"B{r}"
        r += int(kind.split(":")[1]) if kind.startswith("array:") else 1
    return out
