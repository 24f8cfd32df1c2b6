"""Input rules added for the new refusals: a note is not a misspelt key, and one mistake is one problem."""

from __future__ import annotations

import datetime

import openpyxl
import pytest

from tests.workbook_edits import edited_problems as _problems


def _below(sheet, rows):
    def edit(wb):
        ws = wb[sheet]
        r0 = ws.max_row + 2
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                ws.cell(r0 + i, j + 1, v)
    return edit


def test_a_note_below_the_deal_keys_whose_name_resembles_a_key_is_not_a_misspelt_key(tmp_path):
    """'benchmark_source | PBOC 1Y LPR' and 'benchmark_date | 2026-01-20' under the Deal keys were refused as
    data below the blank row (difflib: 0.80 and 0.93 from benchmark_rate); a misspelt key holds a value of
    its key's type."""
    notes = [("benchmark_source", "PBOC 1Y LPR"), ("benchmark_date", datetime.date(2026, 1, 20)),
             ("payment_frequency_note", "monthly, on the 26th")]
    assert _problems(tmp_path, "corporate_sample.xlsx", _below("Deal", notes)) == []
    got = _problems(tmp_path, "corporate_sample.xlsx", _below("Deal", [("reserve_flor", 0.01)]))
    assert [w for w, _ in got] == ["Deal!row 13"], got


@pytest.mark.parametrize("cell, value", [("B4", "pay_fees"), ("C4", "Trustee>servicer"),
                                         ("C4", "trustee+servicer>VAT")])
def test_a_bad_pay_fee_step_is_one_problem_not_one_more_per_fee(tmp_path, cell, value):
    """A misspelt action, a misspelt payee or mixed payees on the step paying the fees also reported
    'no Waterfall step pays this fee' at every Fees row the step was meant to pay."""
    got = _problems(tmp_path, "corporate_sample.xlsx", lambda wb: wb["Waterfall"].__setitem__(cell, value))
    assert [w for w, _ in got] == [f"Waterfall!{cell}"], got


def test_a_misspelt_revolving_periods_key_is_one_problem(tmp_path):
    """'revolving_period' was reported as an unknown key and again at each of the four revolving terms."""
    got = _problems(tmp_path, "consumer_revolving_sample.xlsx",
                    lambda wb: wb["Deal"].__setitem__("A11", "revolving_period"))
    assert [w for w, _ in got] == ["Deal!A11"], got


def test_a_stressed_cpr_above_100_percent_with_the_shipped_scenarios_is_one_problem_at_cpr(tmp_path):
    """Without a Stress scenarios block the rule was reported once per shipped scenario, all at the cpr
    cell (twice word for word)."""
    def edit(wb):
        ws = wb["RatingTables"]
        r0 = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Stress scenarios")
        r = r0
        while ws.cell(r, 1).value is not None:
            r += 1
        ws.delete_rows(r0, r - r0 + 1)
        wb["Assumptions"]["B3"] = 0.7
    got = _problems(tmp_path, "consumer_sample.xlsx", edit)
    assert [w for w, _ in got] == ["Assumptions!B3"] and "exceeds 100%" in got[0][1], got


@pytest.mark.parametrize("name", ["consumer_sample.xlsx", "corporate_sample.xlsx"])
def test_tranches_larger_than_the_pool_are_refused_at_the_last_balance_cell(tmp_path, name):
    """Doubling the first tranche's balance makes the tranches exceed the pool (negative credit enhancement):
    one problem, at the balance cell of the last tranche row, with the two totals."""
    found = {}

    def edit(wb):
        ws = wb["Tranches"]
        hdr = next(r for r in range(1, 10) if ws.cell(r, 1).value == "name")
        col = next(c for c in range(1, ws.max_column + 1) if ws.cell(hdr, c).value == "balance")
        rows = [r for r in range(hdr + 1, ws.max_row + 1) if ws.cell(r, 1).value not in (None, "")]
        ws.cell(rows[0], col).value = 2 * ws.cell(rows[0], col).value
        found["cell"] = f"Tranches!{openpyxl.utils.get_column_letter(col)}{rows[-1]}"
        found["total"] = sum(ws.cell(r, col).value for r in rows)

    got = _problems(tmp_path, name, edit)
    assert len(got) == 1 and got[0][0] == found["cell"]
    assert f"{found['total']:,.2f}" in got[0][1] and "more than the pool balance" in got[0][1]


def test_an_unknown_column_lists_the_expected_columns_in_schema_order(tmp_path):
    """The list was built from a set, so its order changed from run to run (string hashing is seeded per
    process): the same workbook gave different messages.  It follows the schema's column order."""
    from xlabs.workbook import schema as S

    def edit(wb):
        ws = wb["Tranches"]
        hdr = next(r for r in range(1, 10) if ws.cell(r, 1).value == "name")
        ws.cell(hdr, ws.max_column + 1).value = "bogus"
        ws.cell(hdr + 1, ws.max_column).value = 1.0

    got = [r for _, r in _problems(tmp_path, "consumer_sample.xlsx", edit) if r.startswith("unknown column")]
    assert got == [f"unknown column (expected: {', '.join(c.name for c in S.TRANCHES.columns)})"]


def test_a_vintage_listed_twice_is_refused_at_the_later_row(tmp_path):
    """A vintage row pasted twice would enter the lognormal fit twice (§3.3): refused at the copy's label."""
    where = {}

    def edit(wb):
        ws = wb["StaticPool"]
        hdr = next(r for r in range(1, 10) if ws.cell(r, 1).value == "vintage")
        where["first"], where["copy"] = hdr + 1, hdr + 2
        ws.cell(hdr + 2, 1).value = ws.cell(hdr + 1, 1).value

    got = _problems(tmp_path, "consumer_sample.xlsx", edit)
    assert [w for w, _ in got] == [f"StaticPool!A{where['copy']}"]
    assert f"(also row {where['first']})" in got[0][1]


@pytest.mark.parametrize("name", ["corporate_sample.xlsx", "consumer_revolving_sample.xlsx"])
@pytest.mark.parametrize("keep", [0, 2])
def test_no_tranches_is_one_problem_not_one_per_waterfall_payee(tmp_path, name, keep):
    """The Tranches sheet cleared (keep 0: the block is missing) or left with its title and header only
    (keep 2: no tranche): one problem, not also every Waterfall payee and Adjustments row naming a tranche."""
    def edit(wb):
        ws = wb["Tranches"]
        for r in range(keep + 1, ws.max_row + 1):
            for c in range(1, ws.max_column + 1):
                ws.cell(r, c).value = None

    got = _problems(tmp_path, name, edit)
    assert len(got) == 1, got
    assert ("block 'Tranches' is missing" in got[0][1]) if keep == 0 else got[0] == ("Tranches!A3", "no tranches")


@pytest.mark.parametrize("name, edits", [
    ("consumer_revolving_sample.xlsx", {"C3": "high"}),
    ("corporate_sample.xlsx", {"C3": "high", "D3": None}),
    ("corporate_sample.xlsx", {"C3": -5e12, "D3": None}),
])
def test_a_bad_trigger_level_is_one_problem_not_also_a_missing_level(tmp_path, name, edits):
    """A level cell holding text (or a number below the column's range) reads as blank once reported, and was
    reported a second time, at the same cell, as 'a cdr_above trigger needs a level or a schedule'."""
    def edit(wb):
        for cell, v in edits.items():
            wb["Triggers"][cell] = v
    got = _problems(tmp_path, name, edit)
    assert [w for w, _ in got] == ["Triggers!C3"], got
    assert "needs a level" not in got[0][1], got


@pytest.mark.parametrize("level, want", [
    (0.03, "level of a date trigger must be a whole period 1..66 (the first period in effect)"),
    (None, "level: a date trigger needs a level or a schedule"),
    (12, None),
])
def test_a_date_trigger_level_is_refused_at_its_cell_once(tmp_path, level, want):
    """The event of default turned into a date trigger: 0.03 was accepted (in effect from period 1: 'period
    >= 0.03'); a blank level is one problem, not also the whole-period rule on the 0 it reads as."""
    def edit(wb):
        wb["Triggers"]["B4"], wb["Triggers"]["C4"] = "date", level
    got = _problems(tmp_path, "corporate_sample.xlsx", edit)
    assert got == ([("Triggers!C4", want)] if want else []), got


@pytest.mark.parametrize("edits, want", [
    ({"C3": 0.05}, [("Triggers!C3", "level: the trigger compares with its schedule 'acc_cdr', so the level would be "
                                    "ignored (leave it blank, or clear the schedule)")]),
    ({"C4": 0.5}, [("Triggers!C4", "level: a senior_interest_shortfall trigger has no level (it would be ignored; "
                                   "leave it blank)")]),
    ({"C3": 0.05, "D3": "nope"}, [("Triggers!D3", "schedule does not exist")]),
])
def test_a_trigger_level_the_test_would_not_read_is_refused(tmp_path, edits, want):
    """The acceleration trigger reads its schedule acc_cdr and the event of default reads no level: a level typed
    beside them (even -0.01) was accepted and silently ignored. With a schedule that does not exist the schedule
    is the one problem (the level may be what was meant)."""
    def edit(wb):
        for cell, v in edits.items():
            wb["Triggers"][cell] = v
    got = _problems(tmp_path, "corporate_sample.xlsx", edit)
    assert got == want, got


def test_a_blank_trigger_name_is_one_problem_not_also_every_step_naming_the_trigger(tmp_path):
    """Clearing the corporate sample's event_of_default name gave the blank cell, 'trigger named by condition
    does not exist' at the two steps naming it, and a rule about a trigger called 'None'."""
    def edit(wb):
        ws = wb["Triggers"]
        row = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "event_of_default")
        ws.cell(row, 1).value = None

    got = _problems(tmp_path, "corporate_sample.xlsx", edit)
    assert len(got) == 1 and got[0][0].startswith("Triggers!A") and "blank" in got[0][1], got


def test_a_vintage_without_observations_is_named_at_its_month_1_cell(tmp_path):
    """A vintage row whose figures are all blank was named at its balance cell (column B); the figure
    that is missing first is month 1 (column C)."""
    where = {}

    def edit(wb):
        ws = wb["StaticPool"]
        hdr = next(r for r in range(1, 10) if ws.cell(r, 1).value == "vintage")
        month1 = next(c for c in range(1, ws.max_column + 1) if ws.cell(hdr, c).value in (1, "1"))
        for c in range(month1, ws.max_column + 1):
            ws.cell(hdr + 3, c).value = None
        where["cell"] = f"StaticPool!{openpyxl.utils.get_column_letter(month1)}{hdr + 3}"

    got = _problems(tmp_path, "consumer_sample.xlsx", edit)
    assert got == [(where["cell"], "vintage has no observations")]
