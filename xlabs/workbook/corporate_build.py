"""Write a corporate-deal workbook in the documented schema from Python rows.

Used by ``samples/make_corporate_sample.py`` and the tests.  Rating tables
default to editable copies of the shipped ``xlabs/data/corporate_*.csv``.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

import openpyxl

from ..engine.default_table import shipped_table
from ..engine.portfolio.inputs import TABLE_FILES
from ..engine.portfolio.tables import read_rows
from ..engine.ratings import SCALE
from ..excel.templates import add_xlwings_conf
from . import corporate_schema as C
from .build import _block, _kv, _num


def _rows_of(spec, dicts):
    heads = [c.name for c in spec.columns]
    return heads, [[_num(d.get(h)) if isinstance(d.get(h), str) and h not in ("id", "name", "payees") else d.get(h)
                    for h in heads] for d in dicts]


def _shipped_scenarios():
    text = resources.files("xlabs.data").joinpath("corporate_stress_scenarios.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO("\n".join(ln for ln in text.splitlines() if not ln.startswith("#")))))


def build_corporate_workbook(path, *, deal: dict, tranches: list, fees: list, steps: list, triggers: list,
                             obligors: list, assumptions: dict, schedules: dict | None = None,
                             tables: dict | None = None, scenarios=None, key_obligors=None, adjustments=(),
                             notes: dict | None = None):
    """Write a corporate deal workbook; every list is of dicts keyed by the schema's column names."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Deal"
    _kv(ws, 1, "Deal", deal, notes)
    ws.column_dimensions["A"].width = 22
    for sheet, spec, rows in (("Tranches", C.TRANCHES, tranches), ("Fees", C.FEES, fees),
                              ("Waterfall", C.WATERFALL, steps), ("Triggers", C.TRIGGERS, triggers),
                              ("Obligors", C.OBLIGORS, obligors)):
        ws = wb.create_sheet(sheet)
        heads, body = _rows_of(spec, rows)
        r = _block(ws, 1, spec.title, heads, body, {"coupon", "rate", "level"})
        if sheet == "Triggers" and schedules:
            n = max(len(v) for v in schedules.values())
            _block(ws, r, "Schedules", ["name"] + list(range(1, n + 1)),
                   [[k] + [float(x) for x in v] for k, v in schedules.items()])
    ws = wb.create_sheet("Assumptions")
    _kv(ws, 1, "Simulation", assumptions, notes)
    ws = wb.create_sheet("RatingTables")
    t = shipped_table()
    r = _block(ws, 1, "Default rates", ["rating"] + [int(x) for x in t.terms],
               [[SCALE[i]] + [float(x) for x in t.pd[i]] for i in range(17)])
    ws.cell(r, 1, "Source: " + t.source)
    r += 2
    tables = tables or {}
    for key, spec in C.PORTFOLIO_TABLES.items():
        rows = tables.get(key) or read_rows(TABLE_FILES[key])[0]
        heads, body = _rows_of(spec, rows)
        r = _block(ws, r, spec.title, heads, body)
    heads, body = _rows_of(C.STRESS_SCENARIOS, scenarios if scenarios is not None else _shipped_scenarios())
    r = _block(ws, r, C.STRESS_SCENARIOS.title, heads, body)
    ko = key_obligors if key_obligors is not None else [
        {"target_rating": k, "k": v} for k, v in __import__(
            "xlabs.engine.portfolio.key_obligor", fromlist=["x"]).shipped_key_obligor_table().items()]
    heads, body = _rows_of(C.KEY_OBLIGORS, ko)
    _block(ws, r, C.KEY_OBLIGORS.title, heads, body)
    ws = wb.create_sheet("Adjustments")
    heads = ["tranche", "factor", "kind", "value", "reason", "coverage"]
    _block(ws, 1, "Rating adjustments", heads, [[a.get(h) for h in heads] for a in adjustments])
    add_xlwings_conf(wb)
    wb.save(path)
    return path
