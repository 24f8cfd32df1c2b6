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


def test_long_input_sheets_are_summarised_or_cut_never_dropped(tmp_path, monkeypatch):
    """Past MAX_ECHO_ROWS the pack wrote only '... rows: summarised below' and nothing below it for every
    sheet but the loan tape. The obligor list is now summarised (by rating and industry, totals worked
    from the input here), any other sheet shows its first rows."""
    import xlabs.pack as pack
    monkeypatch.setattr(pack, "MAX_ECHO_ROWS", 3)
    src = build(tmp_path)
    wb = openpyxl.load_workbook(make_pack(src, tmp_path / "pack.xlsx", pdf=False)["workbook"])
    inp = openpyxl.load_workbook(src)
    obs = [r for r in inp["Obligors"].iter_rows(min_row=3, values_only=True) if r[0] is not None]
    assert len(obs) + 2 > 3                          # title and header rows count too
    cells = [r for r in wb["Input Obligors"].iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(cells) if r[0] == "By shadow rating")
    block = []
    for r in cells[start + 2:]:
        if r[0] is None:
            break
        block.append(r)
    assert sum(r[2] for r in block) == len(obs)                       # asset rows
    assert abs(sum(r[3] for r in block) - sum(r[2] for r in obs)) < 1e-6 * sum(r[2] for r in obs)   # balance
    wf = inp["Waterfall"]
    echo = wb["Input Waterfall"]
    assert "the first 3 are shown" in echo["A3"].value
    for i, row in enumerate(wf.iter_rows(max_row=3, values_only=True)):
        assert [echo.cell(5 + i, k + 1).value for k in range(len(row))] == list(row)
