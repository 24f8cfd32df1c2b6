"""What a run does to the user's own content: a sheet the user named like an output sheet is never replaced."""

from __future__ import annotations

import hashlib

import openpyxl
import pytest

from xlabs import rate_workbook
from xlabs.cli import main
from xlabs.errors import ValidationError


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _with_user_sheet(path, name, a1="my own notes"):
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet(name)
    ws["A1"], ws["B2"] = a1, 42
    wb.save(path)
    return path


def test_a_user_sheet_named_like_an_output_sheet_is_refused_not_replaced(make_workbook, tmp_path, capsys):
    """A user's own 'Rating' sheet (notes, not an xlabs rating table) was deleted and replaced by the
    output sheet of that name, silently: the rated copy lost the user's content."""
    path = _with_user_sheet(make_workbook(), "Rating", "MY OWN rating notes 评级备注")
    before = _sha(path)
    out = tmp_path / "rated.xlsx"
    assert main(["rate", str(path), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "Rating!A1" in err and "not written by xlabs" in err
    assert not out.exists() and _sha(path) == before


def test_every_problem_at_once_with_the_user_sheets_in_the_way(make_workbook):
    path = make_workbook(lambda kw: kw["tranches"][0].update(coupon=4.0))
    _with_user_sheet(path, "Stress")
    _with_user_sheet(path, "Run", None)          # empty A1: not an xlabs Run record either
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=path.with_name("o.xlsx"))
    where = [p.where for p in e.value.problems]
    assert where[:2] == ["Stress!A1", "Run!A1"] and "Tranches!C3" in where


def test_a_rated_copy_rated_again_replaces_its_own_output_sheets(make_workbook, tmp_path):
    path = make_workbook()
    r1 = rate_workbook(path, out=tmp_path / "r1.xlsx")
    r2 = rate_workbook(r1.output, out=tmp_path / "r2.xlsx")
    assert [(t.tranche, t.final) for t in r2.ratings] == [(t.tranche, t.final) for t in r1.ratings]
    assert openpyxl.load_workbook(r2.output).sheetnames == openpyxl.load_workbook(r1.output).sheetnames


def test_a_user_validation_sheet_is_left_alone_by_a_run(make_workbook, tmp_path):
    path = _with_user_sheet(make_workbook(), "Validation", "我的校验 checks")
    out = rate_workbook(path, out=tmp_path / "r.xlsx").output
    ws = openpyxl.load_workbook(out)["Validation"]
    assert ws["A1"].value == "我的校验 checks" and ws["B2"].value == 42
