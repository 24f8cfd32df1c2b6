"""The committee pack: every sheet a committee needs, inputs echoed as read, decision cells left empty."""

from __future__ import annotations

import shutil

import openpyxl
import pytest

from tests.corporate.test_corporate_path import build
from xlabs import rate_workbook
from xlabs.cli import main
from xlabs.pack import make_pack


def test_pack_contents(tmp_path):
    src = build(tmp_path)
    res = make_pack(src, tmp_path / "pack.xlsx", pdf=False)
    wb = openpyxl.load_workbook(res["workbook"])
    assert wb.sheetnames[0] == "Summary" and wb.sheetnames[-1] == "SignOff"
    for name in ("Portfolio", "Stress", "KeyObligor", "Rating", "Run", "Input Obligors", "Input Waterfall"):
        assert name in wb.sheetnames
    # proposed ratings equal a plain rating run of the same workbook
    run = rate_workbook(src, out=tmp_path / "rated.xlsx")
    summary = {r[0]: r[8] for r in wb["Summary"].iter_rows(min_row=6, max_row=7, values_only=True)}
    assert summary == {t.tranche: t.final for t in run.ratings}
    # inputs echoed value for value (echo starts at row 3)
    inp = openpyxl.load_workbook(src)["Obligors"]
    echo = wb["Input Obligors"]
    for row in inp.iter_rows():
        for c in row:
            assert echo.cell(c.row + 2, c.column).value == c.value
    # the committee's cells are empty: decided rating and reasons, members, meeting
    so = wb["SignOff"]
    decided = [(r[2], r[3]) for r in so.iter_rows(min_row=6, max_row=7, values_only=True)]
    assert decided == [(None, None), (None, None)]
    members = list(so.iter_rows(min_row=11, max_row=17, values_only=True))
    assert all(all(v is None for v in row[:5]) for row in members)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed (.ci/run installs it)")
def test_cli_pack_writes_a_pdf(tmp_path):
    src = build(tmp_path)
    assert main(["pack", str(src), "-o", str(tmp_path / "pack.xlsx"), "-q"]) == 0
    pdf = tmp_path / "pack.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")


def test_pack_never_overwrites_its_input_and_refuses_a_folder(tmp_path, capsys):
    import hashlib

    src = build(tmp_path)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    assert main(["pack", str(src), "-o", str(src), "--no-pdf", "-q"]) == 2
    assert "the committee pack would overwrite the input workbook" in capsys.readouterr().err
    assert main(["pack", str(src), "-o", str(tmp_path), "--no-pdf", "-q"]) == 2
    assert "the committee pack path is a folder" in capsys.readouterr().err
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
