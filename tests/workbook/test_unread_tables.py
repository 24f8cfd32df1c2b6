"""A table of an input sheet that the reader would not see is refused at its cell, never left out.

A misspelt block title ('Stres scenarios') or a blank title row above the first block made the
workbook's table invisible: an optional rating table then silently fell back to the shipped one,
and the deal was rated with tables the structurer had not chosen."""

from __future__ import annotations

import pytest

from tests.workbook_edits import edited_copy as _save
from tests.workbook_edits import problems_of as _problems
from tests.workbook_edits import row_titled as _find
from xlabs.workbook.adapter import OpenpyxlBook
from xlabs.workbook.corporate_reader import read_corporate


def _harsher_default_rates(ws):
    """Every PD of the workbook's Default rates block doubled (capped at 1): a table of the structurer's own."""
    r = _find(ws, "Default rates") + 2
    while ws.cell(r, 1).value:
        for c in range(2, ws.max_column + 1):
            v = ws.cell(r, c).value
            if isinstance(v, (int, float)):
                ws.cell(r, c).value = min(1.0, 2 * v)
        r += 1


@pytest.mark.parametrize("title, typo", [("Default rates", "Defualt rates"), ("Stress scenarios", "Stres scenarios"),
                                         ("Key obligors", "Key obligor"), ("Correlation", "Correlations")])
def test_a_misspelt_optional_block_title_is_refused_at_its_cell(tmp_path, title, typo):
    row = {}

    def edit(wb):
        ws = wb["RatingTables"]
        row["r"] = _find(ws, title)
        ws.cell(row["r"], 1).value = typo
    got = _problems(_save(tmp_path, "corporate_sample.xlsx", edit))
    assert [w for w, _ in got] == [f"RatingTables!A{row['r']}"], got
    assert got[0][1].startswith("unknown block title") and f"did you mean '{title}'" in got[0][1]


def test_the_workbook_default_rates_are_read_and_a_misspelt_title_no_longer_drops_them(tmp_path):
    """The sample's own default-rate table, doubled, is what the deal reads (the reader's table differs from the
    shipped one); with its title misspelt the run used to read the shipped table without a word."""
    def harsher(wb):
        _harsher_default_rates(wb["RatingTables"])
    deal = read_corporate(OpenpyxlBook(_save(tmp_path, "corporate_sample.xlsx", harsher)))
    # Moody's idealized 1-year Baa2 (BBBsf) PD is 0.17% (the sample's row): doubled, read back as 0.34%
    assert float(deal.tables.default_rates.probability("BBBsf", 1.0)) == pytest.approx(2 * 0.0017)

    def misspelt(wb):
        harsher(wb)
        wb["RatingTables"]["A1"] = "Default rate table"
    got = _problems(_save(tmp_path, "corporate_sample.xlsx", misspelt))
    assert [w for w, _ in got] == ["RatingTables!A1"], got


def test_a_blank_title_above_the_first_block_is_refused_at_the_header_row(tmp_path):
    """Rows above the first title are notes: a Default rates block whose title was cleared read as notes."""
    got = _problems(_save(tmp_path, "corporate_sample.xlsx", lambda wb: wb["RatingTables"].__setitem__("A1", None)))
    assert [w for w, _ in got] == ["RatingTables!A2"], got
    assert "'Default rates' without its title" in got[0][1]


def test_a_misspelt_required_block_title_is_one_problem_at_its_cell(tmp_path):
    """'Tranche' for 'Tranches': reported at the title cell, not also as a missing block (the steps paying the
    tranches are refused too: without the block there are no tranches)."""
    got = _problems(_save(tmp_path, "corporate_sample.xlsx", lambda wb: wb["Tranches"].__setitem__("A1", "Tranche")))
    assert [w for w, r in got if w.startswith("Tranches") and "missing" in r] == [], got
    assert got[0][0] == "Tranches!A1", got
    assert "did you mean 'Tranches'" in got[0][1]


def test_a_misspelt_consumer_block_title_is_refused(tmp_path):
    """The consumer reader: 'Stress multiple' (method multiple would silently use the shipped multiples)."""
    row = {}

    def edit(wb):
        ws = wb["RatingTables"]
        row["r"] = _find(ws, "Stress multiples")
        ws.cell(row["r"], 1).value = "Stress multiple"
    got = _problems(_save(tmp_path, "consumer_sample.xlsx", edit))
    assert [w for w, _ in got] == [f"RatingTables!A{row['r']}"], got


def test_a_note_line_above_the_first_block_is_still_a_note(tmp_path):
    """Rows above the first title stay free for notes (two cells, not a header of a schema block)."""
    def edit(wb):
        ws = wb["RatingTables"]
        ws.insert_rows(1, 2)
        ws["A1"], ws["B1"] = "prepared by", "LW"
    assert _problems(_save(tmp_path, "corporate_sample.xlsx", edit)) == []


@pytest.mark.parametrize("title", ["Stress scenarios", "Key obligors", "Industry recovery"])
def test_a_blank_title_below_another_block_is_one_problem_at_the_header_row(tmp_path, title):
    """A cleared title between two blocks: one problem at the header row it leaves alone (it used to be
    'data below the blank row is not read', whose advice, to delete the blank row, would merge two tables)."""
    row = {}

    def edit(wb):
        ws = wb["RatingTables"]
        row["r"] = _find(ws, title)
        ws.cell(row["r"], 1).value = None
    got = _problems(_save(tmp_path, "corporate_sample.xlsx", edit))
    assert [w for w, _ in got] == [f"RatingTables!A{row['r'] + 1}"], got
    assert f"'{title}' without its title" in got[0][1]


def test_cleared_fit_adjustments_title_is_refused_not_the_adjustments_dropped(tmp_path):
    """The consumer sample's two adverse fit adjustments (mu + 0.1, sigma x 1.1, Pengyuan Table 1) sit under the
    Performance keys after a blank row: with their title cleared they were not read and the deal was rated on
    the unadjusted fit, a lower TDR."""
    got = _problems(_save(tmp_path, "consumer_revolving_sample.xlsx",
                          lambda wb: wb["Assumptions"].__setitem__("A12", None)))
    assert [w for w, _ in got] == ["Assumptions!A13"], got


@pytest.mark.parametrize("title", ["Ｓｉｍｕｌａｔｉｏｎ", "Simulaton"])
def test_a_misspelt_or_full_width_required_block_title_is_one_problem_at_its_cell(tmp_path, title):
    """A title typed in full-width letters (a Chinese IME) is the schema's title misspelt: one problem at its cell,
    not also a missing block."""
    got = _problems(_save(tmp_path, "corporate_sample.xlsx", lambda wb: wb["Assumptions"].__setitem__("A1", title)))
    assert [w for w, _ in got] == ["Assumptions!A1"], got
    assert "did you mean 'Simulation'" in got[0][1]


def test_a_note_block_of_the_analyst_s_own_is_left_alone(tmp_path):
    """A titled table unlike any schema title ('Notes', 'who | when') is the analyst's note, not a misspelt block."""
    def edit(wb):
        ws = wb["RatingTables"]
        r = ws.max_row + 2
        ws.cell(r, 1, "Review notes")
        ws.cell(r + 1, 1, "who"), ws.cell(r + 1, 2, "when")
        ws.cell(r + 2, 1, "LW"), ws.cell(r + 2, 2, "2026-01-20")
    assert _problems(_save(tmp_path, "corporate_sample.xlsx", edit)) == []


@pytest.mark.parametrize("book, sheet, title", [("corporate_sample.xlsx", "Waterfall", "Waterfall notes"),
                                                ("corporate_sample.xlsx", "RatingTables", "Correlation notes"),
                                                ("corporate_sample.xlsx", "Triggers", "Trigger notes"),
                                                ("consumer_sample.xlsx", "Tranches", "Tranche notes")])
def test_a_note_block_titled_after_a_schema_block_is_left_alone(tmp_path, book, sheet, title):
    """'Waterfall notes' is the schema title with a word added, not a misspelling of it (a few letters wrong,
    as 'Stres scenarios'): the analyst's note block is left alone and the workbook validates."""
    def edit(wb):
        ws = wb[sheet]
        r = ws.max_row + 2
        ws.cell(r, 1, title)
        ws.cell(r + 1, 1, "who"), ws.cell(r + 1, 2, "when")
        ws.cell(r + 2, 1, "LW"), ws.cell(r + 2, 2, "2026-01-20")
    assert _problems(_save(tmp_path, book, edit)) == []


@pytest.mark.parametrize("sheet, row, col, what", [
    ("StaticPool", 3, 27, "a month-25 observation of the first vintage beyond the month-24 header"),
    ("Tranches", 3, None, "a value one column right of the Tranches table's last header"),
])
def test_values_right_of_a_tables_last_header_are_refused_at_their_cell(tmp_path, sheet, row, col, what):
    """A value past the last header of a table was dropped without a word (only a blank header *between*
    two headed columns was refused): a vintage's later observations beyond the grid's month headers were
    cut from the static pool.  Refused at the first such cell; a key/value block's cells right of its value
    are notes, left alone."""
    at = {}

    def edit(wb):
        ws = wb[sheet]
        c = col or max(c for c in range(1, ws.max_column + 1) if ws.cell(2, c).value is not None) + 1
        at["ref"] = f"{sheet}!{ws.cell(row, c).column_letter}{row}"
        ws.cell(row, c).value = 0.123
        wb["Deal"].cell(4, 4).value = "a note beside a key/value row"
    got = _problems(_save(tmp_path, "consumer_sample.xlsx", edit))
    assert [w for w, _ in got] == [at["ref"]], (what, got)
    assert "right of the last header" in got[0][1]


@pytest.mark.parametrize("book, sheet", [("consumer_sample.xlsx", "Tranches"), ("consumer_sample.xlsx", "StaticPool"),
                                         ("corporate_sample.xlsx", "Tranches")])
def test_a_note_beside_a_table_past_a_blank_column_is_left_alone(tmp_path, book, sheet):
    """A note beside a table, past a column left blank on every row of the table (the analyst's 'per term sheet
    v3' two columns right of the Tranches table), was refused as a value right of the last header: a workbook
    read the same before had to be edited.  Only the columns that continue the table are data; giving the note
    a header would not do (an unknown column).  A value in the next column is still refused."""
    def edit(wb):
        ws = wb[sheet]
        last = max(c for c in range(1, ws.max_column + 1) if ws.cell(2, c).value is not None)
        ws.cell(3, last + 2).value = "per term sheet v3"
        ws.cell(4, last + 3).value = "checked LW 2026-01-20"
    assert _problems(_save(tmp_path, book, edit)) == []

    def adjacent(wb):
        edit(wb)
        ws = wb[sheet]
        last = max(c for c in range(1, ws.max_column + 1) if ws.cell(2, c).value is not None)
        ws.cell(4, last + 1).value = 0.5
    got = _problems(_save(tmp_path, book, adjacent))
    assert len(got) == 1 and "right of the last header" in got[0][1], got
