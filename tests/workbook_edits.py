"""Copies of the shipped sample workbooks with an edit, validated: shared by the input-rule tests."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from xlabs.errors import ValidationError
from xlabs.workbook.run import validate_workbook

ROOT = Path(__file__).resolve().parents[1] / "workbooks"


def edited_copy(tmp_path, name, edit) -> Path:
    """``workbooks/<name>`` loaded with openpyxl, ``edit(wb)`` applied, saved as ``tmp_path/x.xlsx``."""
    wb = openpyxl.load_workbook(ROOT / name)
    edit(wb)
    p = tmp_path / "x.xlsx"
    wb.save(p)
    return p


def problems_of(path) -> list:
    """(where, rule) of every problem validate finds in the workbook at ``path`` ([] when none)."""
    try:
        validate_workbook(path)
    except ValidationError as e:
        return [(q.where, q.rule) for q in e.problems]
    return []


def edited_problems(tmp_path, name, edit) -> list:
    """The problems of a sample workbook after ``edit``."""
    return problems_of(edited_copy(tmp_path, name, edit))


def row_titled(ws, title) -> int:
    """The sheet row whose column A holds ``title``."""
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == title)
