"""Write a consumer-deal workbook in the documented schema from Python data.

Used by the sample generator (``samples/make_consumer_sample.py``) and by
the tests to make good and deliberately broken workbooks.  Rating tables
default to editable copies of the shipped tables.
"""

from __future__ import annotations

import numpy as np
import openpyxl
from openpyxl.styles import Font, PatternFill

from ..engine.default_table import shipped_table
from ..engine.ratings import SCALE
from ..engine.stress import SCENARIO_COLUMNS, _shipped_rows, shipped_stress_multiples

BOLD = Font(bold=True)
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
PCT_KEYS = {"tax_rate", "trigger_cdr", "cpr", "recovery_rate", "cdr_floor", "coupon", "rate", "annual_rate",
            "recovery_haircut", "coupon_up", "servicer_fee_up"}


def _block(ws, top: int, title: str, headers, rows, pct_cols=()) -> int:
    ws.cell(top, 1, title).font = BOLD
    for k, h in enumerate(headers):
        ws.cell(top + 1, k + 1, h).font = BOLD
    for i, row in enumerate(rows):
        for k, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, (np.floating, np.integer)):
                v = v.item()
            c = ws.cell(top + 2 + i, k + 1, v)
            if headers[k] in pct_cols and isinstance(v, float):
                c.number_format = "0.00%"
    return top + 2 + len(rows) + 1


def _kv(ws, top, title, items: dict, notes: dict | None = None) -> int:
    rows = [(k, v, (notes or {}).get(k, "")) for k, v in items.items()]
    r = _block(ws, top, title, ["key", "value", "note"], rows)
    for i, (k, v, _) in enumerate(rows):
        if k in PCT_KEYS and isinstance(v, float):
            ws.cell(top + 2 + i, 2).number_format = "0.00%"
    return r


def build_consumer_workbook(path, *, deal: dict, tranches: list, fees: list, loans: dict, vintages: dict,
                            assumptions: dict, fit_adjustments=(), scenarios=None, multiples=None,
                            default_rates="shipped", adjustments=(), notes: dict | None = None,
                            xlwings_conf: bool = True, steps=None, triggers=(), schedules=None):
    """Write a consumer deal workbook.

    ``loans`` maps the Pool columns to equal-length sequences; ``vintages``
    has ``labels``, ``balances`` and ``grid`` (n_vintages x months, NaN = not
    observed).  ``scenarios`` / ``multiples`` default to the shipped tables;
    ``default_rates="shipped"`` writes the shipped table, None leaves the
    block out (the run then uses the shipped table).  ``steps`` (dicts keyed by the Waterfall columns)
    writes a Waterfall sheet, the deal's own waterfall; ``triggers`` and ``schedules`` a Triggers sheet.
    """
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Deal"
    _kv(ws, 1, "Deal", deal, notes)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["C"].width = 60

    ws = wb.create_sheet("Tranches")
    heads = ["name", "balance", "coupon", "rated", "timely_interest", "residual", "term_years"] + (
        ["interest"] if any("interest" in t for t in tranches) else [])
    _block(ws, 1, "Tranches", heads, [[t.get(h) for h in heads] for t in tranches], {"coupon"})

    ws = wb.create_sheet("Fees")
    heads = ["name", "basis", "rate", "amount"] + (["servicer"] if any("servicer" in f for f in fees) else [])
    _block(ws, 1, "Fees", heads, [[f.get(h) for h in heads] for f in fees], {"rate"})

    if steps is not None:
        from . import corporate_schema as C
        from .corporate_build import _rows_of
        ws = wb.create_sheet("Waterfall")
        _block(ws, 1, C.WATERFALL.title, *_rows_of(C.WATERFALL, steps))
        if triggers or schedules:
            ws = wb.create_sheet("Triggers")
            r = _block(ws, 1, C.TRIGGERS.title, *_rows_of(C.TRIGGERS, triggers), {"level"})
            if schedules:
                n = max(len(v) for v in schedules.values())
                _block(ws, r, "Schedules", ["name"] + list(range(1, n + 1)),
                       [[k] + [float(x) for x in v] for k, v in schedules.items()])

    ws = wb.create_sheet("Pool")
    heads = ["loan_id", "balance", "annual_rate", "remaining_term", "amortisation"]
    cols = [list(loans[h]) for h in heads]
    ws.cell(1, 1, "Loan tape").font = BOLD
    ws.append(heads)
    for row in zip(*cols):
        ws.append([x.item() if hasattr(x, "item") else x for x in row])

    ws = wb.create_sheet("StaticPool")
    grid = np.asarray(vintages["grid"], dtype=float)
    heads = ["vintage", "balance"] + [m + 1 for m in range(grid.shape[1])]
    rows = [[vintages["labels"][v], float(vintages["balances"][v])] +
            [None if np.isnan(x) else float(x) for x in grid[v]] for v in range(grid.shape[0])]
    _block(ws, 1, "Vintages", heads, rows)

    ws = wb.create_sheet("Assumptions")
    r = _kv(ws, 1, "Performance", assumptions, notes)
    heads = ["factor", "mu_shift", "sigma_multiplier", "reason"]
    if fit_adjustments:
        _block(ws, r, "Fit adjustments", heads, [[a.get(h) for h in heads] for a in fit_adjustments])
    ws.column_dimensions["A"].width = 22

    ws = wb.create_sheet("RatingTables")
    r = 1
    if default_rates == "shipped":
        t = shipped_table()
        rows = [[SCALE[i]] + [float(x) for x in t.pd[i]] for i in range(17)]
        r = _block(ws, r, "Default rates", ["rating"] + [int(x) for x in t.terms], rows)
        ws.cell(r, 1, "Source: " + t.source)
        r += 2
    elif default_rates is not None:
        terms, rows = default_rates
        r = _block(ws, r, "Default rates", ["rating"] + list(terms), rows)
    sc = scenarios if scenarios is not None else [dict(x) for x in _shipped_rows()]
    r = _block(ws, r, "Stress scenarios", list(SCENARIO_COLUMNS),
               [[_num(s[c]) for c in SCENARIO_COLUMNS] for s in sc],
               {"recovery_haircut", "coupon_up", "servicer_fee_up"})
    mult = multiples if multiples is not None else shipped_stress_multiples()
    _block(ws, r, "Stress multiples", ["rating", "multiple"], [[k, float(v)] for k, v in mult.items()])

    ws = wb.create_sheet("Adjustments")
    heads = ["tranche", "factor", "kind", "value", "reason", "coverage"]
    _block(ws, 1, "Rating adjustments", heads, [[a.get(h) for h in heads] for a in adjustments])
    if xlwings_conf:
        from ..excel.templates import add_xlwings_conf
        add_xlwings_conf(wb)
    wb.save(path)
    return path


def _num(v):
    if isinstance(v, str):
        try:
            f = float(v)
            return int(f) if f.is_integer() and "." not in v else f
        except ValueError:
            return v
    return v
