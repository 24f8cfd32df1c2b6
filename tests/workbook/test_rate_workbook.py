"""End-to-end runs through the workbook layer and the CLI (METHODOLOGY §3, §5, §6, §8)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from tests.sheet_checks import numbers_that_do_not_fit
from xlabs import rate_workbook
from xlabs.cli import main
from xlabs.engine.ratings import is_rating
from xlabs.errors import ValidationError
from xlabs.workbook.schema import INPUT_SHEETS, OUTPUT_SHEETS

SAMPLE = Path(__file__).resolve().parents[2] / "workbooks" / "consumer_sample.xlsx"


def _cells(path):
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb}


def test_cli_rates_the_shipped_sample(tmp_path, capsys):
    out = tmp_path / "sample.rated.xlsx"
    before = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert main(["rate", str(SAMPLE), "-o", str(out)]) == 0
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() == before, "the input file must not change"
    printed = capsys.readouterr().out
    # the summary prints the notes the Rating sheet lists under its table, with the ratings
    assert "notes on these ratings (Rating sheet):\n  - Senior A: compared on the defaults applied" in printed
    wb = openpyxl.load_workbook(out)
    for name in OUTPUT_SHEETS:
        assert name in wb.sheetnames
    # input sheets unchanged, cell by cell
    src, dst = _cells(SAMPLE), _cells(out)
    for name in src:
        assert src[name] == dst[name], f"input sheet {name} changed"
    # Rating sheet: one row per rated tranche with valid symbols
    rows = list(wb["Rating"].iter_rows(min_row=6, values_only=True))
    rated = [r for r in rows if r[0] in ("Senior A", "Mezz B")]
    assert len(rated) == 2
    for r in rated:
        assert is_rating(r[6]) and is_rating(r[9])
    # Run sheet records the checksum of the input
    run = {r[0]: r[1] for r in wb["Run"].iter_rows(min_row=5, values_only=True) if r[0]}
    assert run["input SHA-256"] == before
    assert run["seed"] == 0
    # charts were written
    assert wb["TDR"]._charts and wb["CashFlows"]._charts
    assert numbers_that_do_not_fit(out, OUTPUT_SHEETS) == []
    # the defaults the pool actually takes at each BDR (§5.2 caps each period's defaults at the performing
    # balance): Senior A at AA-sf, values of an independent numpy model of the sample (loan-level schedule,
    # the documented waterfall, its own bisection; its cash flows agree with the CashFlows sheet to 1e-7)
    st = wb["Stress"]
    head = next(r for r in st.iter_rows(values_only=True) if r[0] == "tranche" and "CDR applied at BDR" in r)
    col = head.index("CDR applied at BDR")
    got = {r[2]: r[col] for r in st.iter_rows(values_only=True) if r[:2] == ("Senior A", "AA-sf") and len(r) > col}
    assert got["base"] == pytest.approx(0.2319, abs=2e-4)
    assert got["timing_back"] == pytest.approx(0.2280, abs=2e-4)
    assert got["combined_back"] == pytest.approx(0.2107, abs=2e-4)      # below the AA-sf TDR of 21.21 %
    notes = [r[0] for r in wb["Rating"].iter_rows(values_only=True) if isinstance(r[0], str)]
    assert any(n.startswith("Senior A: compared on the defaults applied rather than the CDR stated, the cash-flow "
                            "test would give A+sf instead of AA-sf (combined_back at AA-sf") for n in notes), notes


def test_rating_sheet_agrees_with_the_stress_table(make_workbook, tmp_path):
    path = make_workbook()
    s = rate_workbook(path, out=tmp_path / "o.xlsx")
    st = s.result.stress
    for tr in s.ratings:
        sub = st[st.tranche == tr.tranche]
        passing = [r for r in sub.rating.unique() if sub[sub.rating == r].passes.all()]
        # ratings are listed best first in the stress table
        assert tr.caps["cash flow"] == (passing[0] if passing else "CCCsf or below")


def test_senior_is_rated_at_least_as_high_as_mezzanine(make_workbook, tmp_path):
    from xlabs.engine.ratings import notch
    s = rate_workbook(make_workbook(), out=tmp_path / "o.xlsx")
    a, b = s.ratings
    assert notch(a.model_indicated) <= notch(b.model_indicated)


def test_more_subordination_never_lowers_the_senior_rating(make_workbook, tmp_path):
    from xlabs.engine.ratings import notch

    def thinner(kw):
        t = kw["tranches"]
        t[0]["balance"], t[2]["balance"] = t[0]["balance"] + t[2]["balance"] * 0.9, t[2]["balance"] * 0.1
    base = rate_workbook(make_workbook(), out=tmp_path / "a.xlsx").ratings[0]
    thin = rate_workbook(make_workbook(thinner, name="thin.xlsx"), out=tmp_path / "b.xlsx").ratings[0]
    assert notch(base.model_indicated) <= notch(thin.model_indicated)


def _problems(path):
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=path.with_name("never.xlsx"))
    assert not path.with_name("never.xlsx").exists(), "nothing may be written on bad input"
    return {(p.where, p.rule) for p in e.value.problems}, e.value


def test_bad_inputs_are_all_reported_with_their_cells(make_workbook):
    def break_it(kw):
        kw["tranches"][0]["coupon"] = 3.5                 # a percent typed as a number: Tranches!C3
        kw["loans"]["annual_rate"] = list(kw["loans"]["annual_rate"])
        kw["loans"]["annual_rate"][4] = "18%"             # text in a number cell: Pool!C7
        kw["loans"]["amortisation"] = list(kw["loans"]["amortisation"])
        kw["loans"]["amortisation"][0] = "balloon"        # unknown type: Pool!E3
        kw["deal"]["trigger_cdr"] = 1.5                   # not a fraction: Deal!B9
        kw["assumptions"]["cpr"] = -0.1                   # Assumptions!B3
    probs, err = _problems(make_workbook(break_it))
    wheres = {w for w, _ in probs}
    assert {"Tranches!C3", "Pool!C7", "Pool!E3", "Deal!B9", "Assumptions!B3"} <= wheres
    assert any("not the text '5%'" in r for w, r in probs if w == "Pool!C7")
    assert "5 input problems" in str(err) or len(err.problems) >= 5


def test_unknown_rating_in_the_scenario_table_is_reported(make_workbook):
    from xlabs.engine.stress import _shipped_rows

    def bad(kw):
        rows = [dict(r) for r in _shipped_rows()]
        rows[3]["rating"] = "AAA+"
        kw["scenarios"] = rows
    probs, _ = _problems(make_workbook(bad))
    # RatingTables: default-rate block (17 ratings) + source note + blank, then scenarios title/header
    hits = [w for w, r in probs if "unknown rating symbol" in r]
    assert hits and hits[0].startswith("RatingTables!A")


def test_static_pool_problems_name_their_cells(make_workbook):
    def bad(kw):
        g = np.array(kw["vintages"]["grid"], dtype=float)
        g[1, 2] = -0.01        # StaticPool!E4: negative
        g[2, 3] = 1.7          # StaticPool!F5: above 1
        kw["vintages"]["grid"] = g
    probs, _ = _problems(make_workbook(bad))
    assert ("StaticPool!E4", "default rate must be a fraction in [0, 1]") in probs
    assert ("StaticPool!F5", "default rate must be a fraction in [0, 1]") in probs


def test_falling_cumulative_vintage_is_reported_from_the_engine(make_workbook):
    def bad(kw):
        g = np.array(kw["vintages"]["grid"], dtype=float)
        g[0, 5] = g[0, 4] * 0.5    # cumulative falls at month 6 of vintage 1: StaticPool!H3
        kw["vintages"]["grid"] = g
    probs, _ = _problems(make_workbook(bad))
    assert any(w == "StaticPool!H3" and "falls" in r for w, r in probs)


def test_missing_sheet_and_key(make_workbook, tmp_path):
    path = make_workbook()
    wb = openpyxl.load_workbook(path)
    del wb["Fees"]       # required too: without it the deal would be rated with no fees, without a word
    del wb["Tranches"]
    wb.save(path)
    probs, _ = _problems(path)
    assert ("Tranches", "sheet is missing") in probs and ("Fees", "sheet is missing") in probs


def test_cli_exit_code_and_message_on_bad_input(make_workbook, capsys):
    path = make_workbook(lambda kw: kw["deal"].update(payment_frequency="monthly"))
    out = path.with_name("x.xlsx")
    assert main(["rate", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Deal!B5" in err and "nothing was written" in err
    assert not out.exists()


def test_refuses_to_overwrite_input_without_in_place(make_workbook):
    path = make_workbook()
    with pytest.raises(ValidationError):
        rate_workbook(path, out=path)


def test_rerun_replaces_output_sheets_only(make_workbook, tmp_path):
    path = make_workbook()
    out1 = tmp_path / "r1.xlsx"
    rate_workbook(path, out=out1)
    out2 = tmp_path / "r2.xlsx"
    rate_workbook(out1, out=out2)
    wb = openpyxl.load_workbook(out2)
    assert wb.sheetnames == list(INPUT_SHEETS) + ["_xlwings.conf"] + list(OUTPUT_SHEETS)


def test_cli_validate(make_workbook, capsys):
    assert main(["validate", str(make_workbook())]) == 0
    assert "no problems" in capsys.readouterr().out


def test_horizon_shorter_than_the_pool_life_and_non_monthly_payments_are_refused(make_workbook):
    """§3.2: the static-pool horizon is at least the longest remaining term (a shorter one measures
    the TDR over part of the pool's life and inflates the rating); the run counts time in months, so
    another payment frequency would mix months with periods.  Both reported at their cells, at once."""
    def bad(kw):
        kw["assumptions"]["horizon_months"] = 6
        kw["deal"]["payment_frequency"] = 4
    probs, _ = _problems(make_workbook(bad))
    rules = {w: r for w, r in probs}
    horizon = [w for w, r in probs if "static-pool horizon must be at least the longest remaining term" in r]
    freq = [w for w, r in probs if "only monthly payments" in r]
    assert len(horizon) == 1 and horizon[0].startswith("Assumptions!B"), rules
    assert len(freq) == 1 and freq[0].startswith("Deal!B"), rules


def test_horizon_equal_to_the_pool_life_is_accepted(make_workbook):
    from xlabs.excel.macros import read_deal
    from xlabs.workbook.adapter import OpenpyxlBook

    path = make_workbook()
    deal, _ = read_deal(OpenpyxlBook(str(path)))
    life = int(np.max(deal.tape.remaining_term))

    def ok(kw):
        kw["assumptions"]["horizon_months"] = life
    deal, _ = read_deal(OpenpyxlBook(str(make_workbook(ok, name="ok.xlsx"))))
    assert deal.assumptions.horizon == life


def _edit(path, fn):
    wb = openpyxl.load_workbook(path)
    fn(wb)
    wb.save(path)
    return path


def test_rows_below_a_blank_row_and_duplicate_headers_are_reported(make_workbook):
    """Layout mistakes that used to drop or change data without a word (exit 0, wrong rating)."""
    def edit(wb):
        t = wb["Tranches"]
        t.insert_rows(4)                 # blank row 4: Mezz and residual (rows 5-6) fall below it
        f = wb["Fees"]
        f.cell(2, f.max_column + 1, "Rate")              # a second 'rate' column
    probs, err = _problems(_edit(make_workbook(), edit))
    rules = {w: r for w, r in probs}
    assert "below the blank row 4 is not read" in rules["Tranches!rows 5-6"], rules
    dup = [w for w, r in probs if "appears twice" in r]
    assert dup and dup[0].startswith("Fees!"), rules


def test_merged_cells_inside_a_table_are_reported(make_workbook):
    def edit(wb):
        t = wb["Tranches"]
        t["C4"] = None
        t.merge_cells("C3:C4")           # Excel shows the senior's coupon over both rows
    probs, _ = _problems(_edit(make_workbook(), edit))
    assert any(w == "Tranches!C3:C4" and "merged cells inside block 'Tranches'" in r for w, r in probs), probs


def _with_cached_value(path, sheet, cell, value):
    """Give formula ``cell`` of ``sheet`` the stored value a calculating program writes (openpyxl writes none)."""
    import re
    import shutil
    import zipfile

    k = openpyxl.load_workbook(path).sheetnames.index(sheet) + 1
    name = f"xl/worksheets/sheet{k}.xml"
    src = path.with_suffix(".tmp.xlsx")
    shutil.move(path, src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == name:
                xml, n = re.subn(rf'(<c r="{cell}"[^>]*>\s*<f>[^<]*</f>\s*)<v\s*/>', rf"\g<1><v>{value}</v>",
                                 data.decode())
                assert n == 1, "formula cell not found"
                data = xml.encode()
            zout.writestr(item, data)
    src.unlink()
    return path


def test_formulas_are_read_by_their_stored_values(make_workbook, tmp_path):
    """A tranche balance given by a formula is read as the value Excel stored with it; a formula without
    a stored value is reported at its cell, never read as blank."""
    base = make_workbook()
    wb = openpyxl.load_workbook(base)
    bal = wb["Tranches"]["B3"].value
    wb["Tranches"]["B3"] = "=ROUND(SUM(Pool!B3:B302)-B4-B5,2)"
    wb["Tranches"]["A5"] = "#N/A"                      # an Excel error as a tranche name
    path = tmp_path / "formula.xlsx"
    wb.save(path)
    probs, _ = _problems(path)
    rules = {w: r for w, r in probs}
    assert "the formula has no stored value" in rules["Tranches!B3"], rules
    assert "Excel error value" in rules["Tranches!A5"], rules

    wb["Tranches"]["A5"] = "C"
    wb.save(path)
    _with_cached_value(path, "Tranches", "B3", repr(bal))
    from xlabs.excel.macros import read_deal
    from xlabs.workbook.adapter import OpenpyxlBook
    deal, _ = read_deal(OpenpyxlBook(str(path)))
    assert deal.tranches[0].balance == bal
    assert openpyxl.load_workbook(path)["Tranches"]["B3"].value.startswith("=ROUND(")   # the input keeps its formula


def test_output_path_that_is_a_folder_is_an_input_problem(make_workbook, tmp_path, capsys):
    path = make_workbook()
    assert main(["rate", str(path), "-o", str(tmp_path)]) == 2
    assert "the output path is a folder" in capsys.readouterr().err


def test_unknown_deal_type_is_one_problem_at_its_cell(make_workbook):
    probs, err = _problems(make_workbook(lambda kw: kw["deal"].update(deal_type="corprate")))
    assert len(err.problems) == 1
    (where, rule), = probs
    assert where.startswith("Deal!B") and rule == "deal_type must be consumer or corporate"


def test_support_without_coverage_is_reported_at_its_cell(make_workbook):
    def edit(kw):
        kw["adjustments"] = [{"tranche": "B", "factor": "guarantee", "kind": "support", "value": "AA",
                              "reason": "parent guarantee"}]
    probs, _ = _problems(make_workbook(edit))
    assert any(w == "Adjustments!F3" and "needs its coverage" in r for w, r in probs), probs


def test_validate_reads_corporate_workbooks_and_finds_a_zero_cdr(make_workbook, capsys):
    """`xlabs validate` dispatches on deal_type like `rate`; a vintage whose CDR is 0 (the lognormal fit
    takes logs) is reported at its StaticPool row before any rating, not as 'cdrs[0]' after it."""
    corp = Path(__file__).resolve().parents[2] / "workbooks" / "corporate_sample.xlsx"
    assert main(["validate", str(corp)]) == 0

    def zero(kw):
        kw["vintages"]["grid"] = kw["vintages"]["grid"].copy()
        kw["vintages"]["grid"][0] = np.where(np.isnan(kw["vintages"]["grid"][0]), np.nan, 0.0)
    path = make_workbook(zero)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "StaticPool!A" in err and "CDR at the horizon (12 months) is 0" in err

    def floored(kw):
        zero(kw)
        kw["assumptions"]["cdr_floor"] = 0.001
    assert main(["validate", str(make_workbook(floored, name="floored.xlsx"))]) == 0


def test_defaults_above_the_vintage_balance_are_reported_in_yuan(tmp_path):
    """The sample's static pool is in amounts: a defaulted amount above the vintage's balance used to be
    reported as 'default rate must be a fraction' with the derived rate (3198.2)."""
    import shutil
    src = Path(__file__).resolve().parents[2] / "workbooks" / "consumer_sample.xlsx"
    path = tmp_path / "big.xlsx"
    shutil.copy(src, path)
    wb = openpyxl.load_workbook(path)
    wb["StaticPool"]["D3"] = 1e12
    wb.save(path)
    probs, err = _problems(path)
    rules = {w: r for w, r in probs}
    assert "exceeds the vintage's original balance" in rules["StaticPool!D3"], rules
    assert "1,000,000,000,000.00" in rules["StaticPool!D3"]


def test_bdr_grid_step_is_an_assumption_used_and_recorded(make_workbook, tmp_path):
    """A smaller coarse step sees failing windows a 2% grid can step over; the analyst chooses it in
    Assumptions, the run uses it (more grid evaluations per search) and the Run sheet records it."""
    base = rate_workbook(make_workbook(), out=tmp_path / "a.rated.xlsx")

    def finer(kw):
        kw["assumptions"]["bdr_grid_step"] = 0.005
    fine = rate_workbook(make_workbook(finer, name="f.xlsx"), out=tmp_path / "f.rated.xlsx")
    sa, sf = base.result.stress, fine.result.stress
    assert (sf.evaluations.to_numpy() > sa.evaluations.to_numpy()).all()
    runs = {r[0]: r[1] for r in openpyxl.load_workbook(tmp_path / "f.rated.xlsx")["Run"].iter_rows(values_only=True)
            if r and r[0]}
    assert runs["BDR search"].startswith("grid step 0.005")

    def bad(kw):
        kw["assumptions"]["bdr_grid_step"] = 0.5
    probs, _ = _problems(make_workbook(bad, name="b.xlsx"))
    assert any(w.startswith("Assumptions!B") and "bdr_grid_step" in r for w, r in probs), probs


def test_what_analysts_add_around_tables_is_not_reported(make_workbook):
    """No false alarms: a Total row and a note under a table, a review date under the Performance
    block, a note merged beside the Deal block.  A dropped known key is still reported."""
    from xlabs.excel.macros import read_deal
    from xlabs.workbook.adapter import OpenpyxlBook

    def edit(wb):
        t = wb["Tranches"]
        n = t.max_row
        t.cell(n + 2, 1, "Total")
        t.cell(n + 2, 2, f"=SUM(B3:B{n})")
        t.cell(n + 3, 1, "Note:")
        t.cell(n + 3, 2, "balances from the offering circular")
        a = wb["Assumptions"]
        m = a.max_row
        a.cell(m + 2, 1, "Last reviewed")
        a.cell(m + 2, 2, "2026-11-30")
        d = wb["Deal"]
        d["C4"] = "a note for the committee"
        d.merge_cells("C4:E4")                 # hides only cells beside the table
    path = _edit(make_workbook(), edit)
    read_deal(OpenpyxlBook(str(path)))        # no problem raised

    # below the blank row: a real key would silently be unread; a misspelt one neither read nor unknown
    for key in ("trigger_cdr", "triger_cdr"):
        def dropped(wb, key=key):
            d = wb["Deal"]
            m = d.max_row
            d.cell(m + 2, 1, key)
            d.cell(m + 2, 2, 0.05)
        probs, _ = _problems(_edit(make_workbook(name=f"{key}.xlsx"), dropped))
        assert any(w.startswith("Deal!row") and "is not read" in r for w, r in probs), (key, probs)


def test_a_formula_whose_result_is_empty_reads_as_blank(make_workbook, tmp_path):
    """=IF(..., "") stores an empty string result (t="str", <v></v>): a calculated file reads it as blank,
    not as a formula without a stored value."""
    import re
    import shutil
    import zipfile

    wb = openpyxl.load_workbook(make_workbook())
    wb["Tranches"]["G3"] = '=IF(A3="X",1,"")'            # term_years of A: optional, blank = default
    path = tmp_path / "empty.xlsx"
    wb.save(path)
    k = wb.sheetnames.index("Tranches") + 1
    src = path.with_suffix(".tmp.xlsx")
    shutil.move(path, src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == f"xl/worksheets/sheet{k}.xml":       # as Excel / LibreOffice store it
                xml, n = re.subn(r'<c r="G3"([^>]*)>(\s*<f>[^<]*</f>)\s*<v\s*/>', r'<c r="G3"\1 t="str">\2<v></v>',
                                 data.decode())
                assert n == 1
                data = xml.encode()
            zout.writestr(item, data)
    from xlabs.excel.macros import read_deal
    from xlabs.workbook.adapter import OpenpyxlBook
    deal, _ = read_deal(OpenpyxlBook(str(path)))
    assert deal.tranches[0].term_years is None


def test_an_obligors_sheet_in_a_consumer_deal_is_refused(make_workbook, tmp_path):
    from xlabs.workbook import corporate_schema, schema
    from xlabs.workbook.reader import CORPORATE_ONLY_SHEETS

    assert set(CORPORATE_ONLY_SHEETS) == (set(corporate_schema.INPUT_SHEETS) - set(schema.INPUT_SHEETS)
                                          - set(schema.WATERFALL_SHEETS))
    path = make_workbook()
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("Obligors")
    ws.append(["Obligors"])
    ws.append(["id", "balance"])
    ws.append(["OB1", 1000.0])
    wb.create_sheet("Notes").append(["an analyst's own sheet is left alone"])
    wb.save(path)
    probs, _ = _problems(path)
    assert [w for w, _ in probs] == ["Obligors"], probs
    assert "corporate deals only" in next(iter(probs))[1]


def test_a_second_block_of_the_same_title_is_reported_not_read_instead(make_workbook):
    path = make_workbook()
    wb = openpyxl.load_workbook(path)
    ws = wb["Tranches"]
    top = ws.max_row + 2
    ws.cell(top, 1, "Tranches")
    for k, h in enumerate(["name", "balance", "coupon"], 1):
        ws.cell(top + 1, k, h)
    for k, v in enumerate(["Z", 1000.0, 0.01], 1):
        ws.cell(top + 2, k, v)
    ws.cell(2, 1).value = "??"                    # and the first block's 'name' header renamed
    wb.save(path)
    probs, _ = _problems(path)
    assert (f"Tranches!A{top}", "a second block titled 'Tranches' on this sheet (the first is at row 1): only the "
            "first is read; merge the two or rename this one") in probs, probs
    assert any(w == "Tranches!A2" for w, _ in probs), probs           # the unknown header, not a crash


def test_a_cdr_floor_of_0_or_1_is_refused_at_its_cell(make_workbook):
    """The cdr_floor 0 or 1 passed the [0, 1] cell check and stopped the run with 'floor: ...',
    naming no sheet or cell."""
    for floor in (0.0, 1.0):
        probs, _ = _problems(make_workbook(lambda kw, f=floor: kw["assumptions"].update(cdr_floor=f)))
        assert [w for w, r in probs if "cdr_floor" in r] == ["Assumptions!B11"], probs


def test_a_stressed_cpr_above_100_percent_is_refused_at_its_multiplier(make_workbook):
    """A cpr_multiplier of 150 (for 1.5) was capped to a CPR of 100% without a word: every loan
    prepaid in month 1 and the scenario's BDR became 100%."""
    from xlabs.engine.stress import _shipped_rows

    def break_it(kw):
        kw["scenarios"] = [dict(r) for r in _shipped_rows()]
        kw["scenarios"][2]["cpr_multiplier"] = 150            # AAAsf prepay_up: RatingTables row 25 + 2
    probs, _ = _problems(make_workbook(break_it))
    assert [w for w, r in probs] == ["RatingTables!D27"], probs
    assert all("exceeds 100%" in r for _, r in probs)


def test_fit_adjustments_with_method_multiple_are_refused(make_workbook):
    """§3.4 adjustments were silently ignored by the stress-multiple method (§3.5)."""
    probs, _ = _problems(make_workbook(lambda kw: kw["assumptions"].update(method="multiple")))
    assert [w for w, r in probs] == ["Assumptions!A14"] and "method 'multiple' would ignore them" in next(
        r for _, r in probs), probs


def test_default_rate_table_problems_name_the_rating_row(make_workbook):
    """They were all addressed to the block's title cell, with the values printed as np.float64(...)."""
    def row_of(ws, rating):
        return next(r for r in range(1, 40) if ws.cell(r, 1).value == rating)

    def falls(wb):
        ws = wb["RatingTables"]
        ws.cell(row_of(ws, "AAsf"), 4).value = 0.0           # lower at the third term than at the second
    probs, _ = _problems(_edit(make_workbook(), falls))
    ws = openpyxl.load_workbook(make_workbook(name="x.xlsx"))["RatingTables"]
    assert [w for w, r in probs if "must not fall with term" in r] == [f"RatingTables!A{row_of(ws, 'AAsf')}"], probs

    def above(wb):
        ws = wb["RatingTables"]
        for c in range(2, 40):
            if ws.cell(row_of(ws, "BBBsf"), c).value is not None:
                ws.cell(row_of(ws, "BBBsf"), c).value = 0.9     # BBB-sf now below BBBsf
    probs, err = _problems(_edit(make_workbook(name="y.xlsx"), above))
    assert [w for w, r in probs if "lower default probability" in r] == [f"RatingTables!A{row_of(ws, 'BBB-sf')}"], probs
    assert "np.float64" not in str(err)


def test_output_and_input_paths_are_checked_before_any_work(make_workbook, tmp_path, capsys):
    """A bad output place is an input problem (exit 2) found before the run, never an
    'internal error' after it; Excel's lock file stops an --in-place save over an open workbook."""
    path = make_workbook()
    (tmp_path / "afile").write_text("x")
    cases = [
        (["-o", str(tmp_path / "afile" / "out.xlsx")], "is a file, not a folder"),
        (["-o", str(tmp_path / "out.csv")], "must be an .xlsx file"),
    ]
    for extra, msg in cases:
        assert main(["rate", str(path), "-q", *extra]) == 2
        assert msg in capsys.readouterr().err
    assert main(["rate", str(tmp_path), "-q"]) == 2
    assert "the input is a folder" in capsys.readouterr().err
    assert main(["pack", str(tmp_path / "missing.xlsx"), "-o", str(tmp_path / "p.xlsx"), "--no-pdf"]) == 2
    assert "file not found" in capsys.readouterr().err
    before = path.read_bytes()
    (tmp_path / ("~$" + path.name)).write_text("owner")
    assert main(["rate", str(path), "--in-place", "-q"]) == 2
    assert "is open in Excel" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_an_xlsm_is_written_as_an_xlsm(make_workbook, tmp_path, capsys):
    """Openpyxl keeps a macro workbook's content type, so an .xlsm saved as .xlsx would not open."""
    src = make_workbook()
    xlsm = tmp_path / "deal.xlsm"
    xlsm.write_bytes(src.read_bytes())
    assert main(["rate", str(xlsm), "-o", str(tmp_path / "out.xlsx"), "-q"]) == 2
    assert "must be an .xlsm file" in capsys.readouterr().err


def test_read_only_output_folder_is_an_input_problem(make_workbook, tmp_path, monkeypatch):
    import os

    from xlabs.workbook import run
    path = make_workbook()
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(run.os, "access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    with pytest.raises(ValidationError, match="read-only"):
        rate_workbook(path, out=ro / "out.xlsx")


def test_a_full_disk_while_saving_is_said_in_one_line_and_leaves_the_earlier_file(make_workbook, tmp_path,
                                                                                    monkeypatch, capsys):
    """A full disk (any OSError) while saving was reported as an xlabs defect: 'internal error (OSError: ...)
    ... report it', exit code 3.  It is the user's to fix: one line naming the file and the reason, exit
    code 4, and the rated copy of an earlier run (or the input saved in place) is left as it was."""
    import errno
    import os

    from xlabs.errors import SaveError
    path = make_workbook()
    out = tmp_path / "deal.rated.xlsx"
    rate_workbook(path, out=out)
    earlier, before = out.read_bytes(), path.read_bytes()

    def full_disk(self, filename):
        Path(filename).write_bytes(b"PK\x03\x04 half a workbook")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(openpyxl.Workbook, "save", full_disk)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert main(["rate", str(path), "-o", str(out), "-q"]) == 4
    assert capsys.readouterr().err == f"xlabs: could not save {out}: {os.strerror(errno.ENOSPC)}\n"
    assert out.read_bytes() == earlier and sorted(p.name for p in tmp_path.iterdir()) == files
    assert main(["rate", str(path), "--in-place", "-q"]) == 4
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == files
    with pytest.raises(SaveError, match="could not save"):
        rate_workbook(path, out=out)


def test_a_successful_run_replaces_the_problems_of_an_earlier_validation(make_workbook, tmp_path):
    """a Validation sheet from an earlier failed run must not survive a successful rating
    still saying 'N problem(s): fix these cells'."""
    from xlabs.errors import Problem
    from xlabs.excel import macros
    from xlabs.workbook.adapter import OpenpyxlBook
    path = make_workbook()
    book = OpenpyxlBook(path)
    macros.validate_inputs(book, [Problem("Deal!B6", "tax_rate: must be a fraction in [0, 1]", 5)])
    book.save()
    out = tmp_path / "rated.xlsx"
    rate_workbook(path, out=out)
    ws = openpyxl.load_workbook(out)["Validation"]
    texts = [c.value for r in ws.iter_rows() for c in r if c.value is not None]
    assert "No problems found." in texts
    assert not any("problem(s)" in str(t) for t in texts)


def test_debug_works_after_the_sub_command_too():
    """The internal-error message says 'Re-run with --debug'; 'xlabs rate deal.xlsx --debug' was
    refused by argparse (only 'xlabs --debug rate ...' worked)."""
    from xlabs.cli import build_parser
    p = build_parser()
    assert p.parse_args(["rate", "d.xlsx", "--debug"]).debug is True
    assert p.parse_args(["--debug", "rate", "d.xlsx"]).debug is True
    assert p.parse_args(["rate", "d.xlsx"]).debug is False


def test_a_rated_copy_keeps_the_stored_results_of_input_formulas(make_workbook, tmp_path):
    """openpyxl saves formulas without their stored results: the rated copy of a calculated workbook could
    not be rated again headlessly (every input formula read as uncalculated). The results are put back,
    and Excel / LibreOffice are asked to recalculate on opening."""
    import re
    import zipfile

    wb = openpyxl.load_workbook(make_workbook())
    d = wb["Deal"]
    row = next(r for r in range(1, d.max_row + 1) if d.cell(r, 1).value == "reserve_initial")
    value = d.cell(row, 2).value
    d.cell(row, 2).value = f"={value}/2*2"
    d.cell(row, 3).value = '=IF(1>0,"checked","")'
    src = tmp_path / "calc.xlsx"
    wb.save(src)
    # what a calculating program stores: the results beside the formulas (written here by hand)
    path = tmp_path / "calculated.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(f"<f>{value}/2*2</f><v /></c>".encode(), f"<f>{value}/2*2</f><v>{value}</v></c>".encode())
                data = re.sub(rb'<c r="(C[0-9]+)"([^>]*)><f>(IF[^<]*)</f><v ?/></c>',
                              rb'<c r="\1"\2 t="str"><f>\3</f><v>checked</v></c>', data)
            zout.writestr(item, data)
    out = tmp_path / "calculated.rated.xlsx"
    rate_workbook(path, out=out)
    kept = openpyxl.load_workbook(out, data_only=True)["Deal"]
    assert kept.cell(row, 2).value == value and kept.cell(row, 3).value == "checked"
    assert openpyxl.load_workbook(out)["Deal"].cell(row, 2).value == f"={value}/2*2"     # the formula itself
    again = rate_workbook(out, out=tmp_path / "again.xlsx")                                # rated once more
    first = openpyxl.load_workbook(out, data_only=True)["Rating"]
    second = openpyxl.load_workbook(tmp_path / "again.xlsx", data_only=True)["Rating"]
    assert [c.value for c in first["J"]] == [c.value for c in second["J"]] and again is not None


def test_a_note_beside_a_block_title_is_fine(make_workbook, tmp_path):
    """A note on a title row stopped the title being read: 'block Deal is missing' and every required key
    'missing', none naming the note's cell. A schema title may have notes beside it; the rating is the
    same as without them."""
    def note(wb):
        wb["Deal"]["D1"] = "checked by LW"
        wb["Tranches"]["F1"] = "from the offering circular"
        wb["StaticPool"]["AB1"] = "servicer data, 2026-06"
    plain = rate_workbook(make_workbook(), out=tmp_path / "plain.rated.xlsx")
    noted = rate_workbook(_edit(make_workbook(name="noted.xlsx"), note), out=tmp_path / "noted.rated.xlsx")
    assert [t.final for t in noted.ratings] == [t.final for t in plain.ratings]



def test_the_run_sheet_says_where_the_stress_scenarios_came_from(make_workbook, tmp_path):
    def drop_block(wb):
        ws = wb["RatingTables"]
        top = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Stress scenarios")
        end = top + 1
        while end + 1 <= ws.max_row and any(c.value is not None for c in ws[end + 1]):
            end += 1
        ws.delete_rows(top, end - top + 1)
    for edit, expected in ((None, "workbook RatingTables block 'Stress scenarios'"),
                           (drop_block, "shipped consumer_stress_scenarios.csv")):
        src = make_workbook(name=f"s{expected[:4]}.xlsx")
        if edit:
            _edit(src, edit)
        out = tmp_path / f"r{expected[:4]}.xlsx"
        rate_workbook(src, out=out)
        run = {r[0]: r[1] for r in openpyxl.load_workbook(out)["Run"].iter_rows(values_only=True) if r and r[0]}
        assert run["stress scenarios"].endswith(expected), run["stress scenarios"]


def test_a_rated_copy_keeps_the_stored_result_of_an_array_formula(tmp_path):
    """An input cell entered as an array formula ({=...}) lost its stored result in the rated copy while the
    other formulas kept theirs: read again headlessly the copy counts as calculated, so the cell read as a
    blank (a cpr of 0.05 became an empty cpr) without any problem reported."""
    import zipfile

    from openpyxl.worksheet.formula import ArrayFormula

    from xlabs.workbook.adapter import OpenpyxlBook

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Deal"
    ws["A1"], ws["B1"] = "cpr", ArrayFormula("B1", "=0.05*1")
    ws["A2"], ws["B2"] = "benchmark_rate", "=0.025*1"
    src = tmp_path / "src.xlsx"
    wb.save(src)
    path = tmp_path / "calculated.xlsx"           # the stored results a calculating program writes (by hand)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b"0.05*1</f><v /></c>", b"0.05*1</f><v>0.05</v></c>")
                data = data.replace(b"0.025*1</f><v /></c>", b"0.025*1</f><v>0.025</v></c>")
            zout.writestr(item, data)
    assert [r[1] for r in OpenpyxlBook(path).values("Deal")] == [0.05, 0.025]
    out = OpenpyxlBook(path).save(tmp_path / "copy.xlsx")
    assert [r[1] for r in OpenpyxlBook(out).values("Deal")] == [0.05, 0.025]
    f = openpyxl.load_workbook(out)["Deal"]["B1"].value
    assert isinstance(f, ArrayFormula) and f.ref == "B1" and f.text == "=0.05*1"


def test_a_rated_copy_keeps_a_date_result_on_the_1904_date_system(tmp_path):
    """The stored result of a date formula was put back as a 1900-system serial: in a workbook on the 1904
    system the rated copy's date read four years and a day later."""
    import zipfile

    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    from xlabs.workbook.adapter import OpenpyxlBook

    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.title = "Deal"
    ws["A1"], ws["B1"] = "closing", "=DATE(2026,3,1)"
    ws["B1"].number_format = "yyyy-mm-dd"
    src, path = tmp_path / "src.xlsx", tmp_path / "calculated.xlsx"
    wb.save(src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b"DATE(2026,3,1)</f><v /></c>", b"DATE(2026,3,1)</f><v>44620</v></c>")
            zout.writestr(item, data)
    assert OpenpyxlBook(path).values("Deal")[0][1] == dt.datetime(2026, 3, 1)
    out = OpenpyxlBook(path).save(tmp_path / "copy.xlsx")
    assert OpenpyxlBook(out).values("Deal")[0][1] == dt.datetime(2026, 3, 1)


def test_rating_again_keeps_the_sheet_order(make_workbook, tmp_path):
    """Re-rating moved every output sheet to the end, after any sheet the user had added after them."""
    first = tmp_path / "once.xlsx"
    rate_workbook(make_workbook(), out=first)
    wb = openpyxl.load_workbook(first)
    wb.create_sheet("Cover")                        # the analyst's own sheet, after the outputs
    wb.save(first)
    order = openpyxl.load_workbook(first).sheetnames
    second = tmp_path / "twice.xlsx"
    rate_workbook(first, out=second)
    assert openpyxl.load_workbook(second).sheetnames == order


@pytest.mark.parametrize("method", ["lognormal", "multiple"])
def test_an_extrapolated_vintage_cdr_above_100_percent_is_refused_at_its_cell(make_workbook, method):
    """Vintage 8 (StaticPool row 10) observed one month at 20% with a tiny balance: the ratio method
    (§3.2) multiplies it by C̄(12)/C̄(1) ≈ 10, past 100% of its principal.  It was a problem at
    'cdrs[7]' (no sheet) with method lognormal and silently entered the mean CDR with method multiple."""
    def bad(kw):
        g = np.array(kw["vintages"]["grid"], dtype=float)
        g[7, 0], g[7, 1:] = 0.2, np.nan
        kw["vintages"]["grid"] = g
        kw["vintages"]["balances"] = np.array([1.0] * 7 + [0.01])
        kw["assumptions"]["weighting"] = "balance"
        if method == "multiple":
            kw["assumptions"]["method"] = "multiple"
            kw.pop("fit_adjustments")
    probs, _ = _problems(make_workbook(bad))
    assert [w for w, r in probs if "cannot exceed 100%" in r] == ["StaticPool!C10"]


def test_too_few_or_equal_vintage_cdrs_for_the_lognormal_fit_are_refused_at_the_static_pool(make_workbook):
    """§3.3 needs n >= 2 CDRs with sigma > 0: one vintage, or two mature vintages with the same curve
    (sigma = 0 by hand), is a StaticPool problem, not one at 'cdrs' that names no sheet."""
    def single(kw):
        g = np.array(kw["vintages"]["grid"], dtype=float)[:1]
        kw["vintages"] = {"labels": ["V1"], "balances": np.ones(1), "grid": g}

    def equal(kw):
        g = np.array(kw["vintages"]["grid"], dtype=float)[:2]
        g[1] = g[0]
        kw["vintages"] = {"labels": ["V1", "V2"], "balances": np.ones(2), "grid": g}
    for edit, words in ((single, "at least two vintages"), (equal, "sigma 0")):
        probs, _ = _problems(make_workbook(edit))
        assert {w for w, r in probs} == {"StaticPool!A3"}
        assert any(words in r for w, r in probs)


def test_vintage_cdrs_equal_up_to_rounding_are_refused_at_the_static_pool(make_workbook):
    """Two mature vintages with the same monthly default rates in another order: by hand both CDRs at
    12 months are 0.056, so sigma = 0 (§3.3).  Summed in floating point they differ in the last bit; the
    workbook's check missed them and the engine refused at 'cdrs', naming no sheet or cell."""
    inc = [[0.011, 0.01, 0.02, 0.007] + [0.001] * 8, [0.02, 0.011, 0.01, 0.007] + [0.001] * 8]
    assert np.cumsum(inc[0])[-1] != np.cumsum(inc[1])[-1]     # the rounding case, not exact equality

    def edit(kw):
        kw["vintages"] = {"labels": ["V1", "V2"], "balances": np.ones(2), "grid": np.array(inc)}
        kw["assumptions"]["static_pool_form"] = "incremental"
    probs, _ = _problems(make_workbook(edit))
    assert {w for w, r in probs} == {"StaticPool!A3"}
    assert any("sigma 0" in r and "5.6000%" in r for w, r in probs)


def test_stress_multiples_that_fall_as_the_rating_rises_are_refused_at_their_cell(make_workbook):
    """§3.5: TDR_r = base CDR x multiple_r.  With AAAsf at 1.1 below B-sf's 1.2 (shipped table otherwise),
    AAAsf had the lowest TDR of all and tranche B was rated AAAsf instead of A-sf; and a rating given
    twice kept its last row silently."""
    from xlabs.engine.stress import shipped_stress_multiples

    def bad(kw):
        kw["assumptions"]["method"] = "multiple"
        kw.pop("fit_adjustments")
        m = dict(shipped_stress_multiples())
        m["AAAsf"] = 1.1
        kw["multiples"] = m
    path = make_workbook(bad)
    wb = openpyxl.load_workbook(path)
    ws = wb["RatingTables"]
    row = next(c.row for c in ws["A"] if c.value == "AAAsf" and ws.cell(c.row, 2).value == 1.1)
    probs, _ = _problems(path)
    assert [(w, r.split(":")[0]) for w, r in probs if "multiple" in r] == \
        [(f"RatingTables!B{row}", "the stress multiple of AAAsf is below that of the lower rating AA+sf (4.5)")]

    def twice(wb):
        ws = wb["RatingTables"]
        ws.cell(row, 2).value = 5.0
        ws.cell(row + 1, 1).value = "AAAsf"         # the AA+sf row now says AAAsf again
    _edit(path, twice)
    probs, _ = _problems(path)
    twice = [(w, r) for w, r in probs if "AAAsf" in r]
    assert twice == [(f"RatingTables!A{row + 1}", f"rating AAAsf is listed twice in block 'Stress multiples' (also "
                      f"row {row}): one row per key")], twice


def test_tdr_sheet_of_the_stress_multiple_method_shows_the_multiples_it_used(make_workbook, tmp_path):
    """§3.5: TDR_r = base CDR x multiple_r.  The TDR sheet titled the table 'TDR = exp(sigma' N^-1(1 - P_A)
    + mu')' and showed P_A next to each TDR, a lognormal rule the multiple method does not apply, and no
    multiple: no TDR on the sheet followed from the numbers shown beside it."""
    def multiple(kw):
        kw["assumptions"]["method"] = "multiple"
        kw.pop("fit_adjustments")
    out = tmp_path / "m.xlsx"
    rate_workbook(make_workbook(multiple), out=out)
    rows = [r for r in openpyxl.load_workbook(out)["TDR"].iter_rows(values_only=True)]
    fit = {r[0]: r[1] for r in rows[4:7]}
    cdr_top = next(i for i, r in enumerate(rows) if r[0] == "Vintage CDR at the horizon")
    cdrs = []
    for r in rows[cdr_top + 2:]:
        if r[0] is None:
            break
        cdrs.append(r[2])
    base = sum(cdrs) / len(cdrs)                                   # §3.5: the mean vintage CDR
    assert fit["base-case CDR"] == pytest.approx(base, rel=1e-12)
    top = next(i for i, r in enumerate(rows) if r[0] and str(r[0]).startswith("Target default rate per tranche"))
    assert rows[top][0] == "Target default rate per tranche and rating: TDR = base-case CDR x stress multiple " \
                           "(METHODOLOGY 3.5)"
    assert rows[top + 1][:5] == ("tranche", "rating", "term (years)", "stress multiple", "TDR")
    shipped = {"AAAsf": 5.0, "AA+sf": 4.5, "AAsf": 4.0, "BBBsf": 2.5, "B-sf": 1.2}   # consumer_stress_multiples.csv
    seen = set()
    for r in rows[top + 2:]:
        if r[0] is None:
            break
        assert r[4] == pytest.approx(min(1.0, base * r[3]), rel=1e-12)
        if r[1] in shipped:
            assert r[3] == shipped[r[1]]
            seen.add(r[1])
    assert seen == set(shipped)


def test_cashflows_sheet_shows_the_reserve_released_above_its_target(make_workbook, tmp_path):
    """§5.3: the reserve above its target goes to the principal account.  The CashFlows sheet showed
    reserve_draw and reserve_topup only, so with a reserve funded above target the balance fell (period 1:
    by reserve_initial - reserve_balance) with draw and top-up both 0, and the reserve account did not
    reconcile.  By hand, every period: balance = previous - draw + top-up - release, and the cash
    collected = what was paid + the change in the reserve."""
    def big_reserve(kw):
        kw["deal"]["reserve_initial"] = round(0.03 * float(np.sum(kw["loans"]["balance"])), 2)
    path = make_workbook(big_reserve)
    reserve0 = openpyxl.load_workbook(path)["Deal"]
    reserve0 = next(r[1] for r in reserve0.iter_rows(values_only=True) if r[0] == "reserve_initial")
    out = tmp_path / "r.xlsx"
    rate_workbook(path, out=out)
    rows = list(openpyxl.load_workbook(out)["CashFlows"].iter_rows(values_only=True))
    h = next(i for i, r in enumerate(rows) if r[0] == "period")
    per = []
    for r in rows[h + 1:]:
        if r[0] is None:
            break
        per.append(dict(zip(rows[h], r)))
    tr = [k[:-len(" interest_paid")] for k in rows[h] if k and k.endswith(" interest_paid")]
    first = per[0]
    assert first["reserve_draw"] == 0 and first["reserve_topup"] == 0
    assert first["reserve_release"] == pytest.approx(reserve0 - first["reserve_balance"], abs=1e-6)
    assert first["reserve_release"] > 0.01 * reserve0
    prev = reserve0
    for p in per:
        assert p["reserve_balance"] == pytest.approx(
            prev - p["reserve_draw"] + p["reserve_topup"] - p["reserve_release"], abs=1e-6), p["period"]
        collected = p["interest"] + p["scheduled_principal"] + p["prepayments"] + p["recoveries"]
        paid = p["tax_paid"] + p["fees_paid"] + p["residual"] + sum(
            p[f"{t} interest_paid"] + p[f"{t} principal_paid"] for t in tr)
        assert collected == pytest.approx(paid + p["reserve_balance"] - prev, abs=1e-6), p["period"]
        prev = p["reserve_balance"]


def test_in_place_with_another_output_is_refused(make_workbook, tmp_path, capsys):
    # 'xlabs rate deal.xlsx --in-place -o other.xlsx' wrote other.xlsx and ignored --in-place without a word
    path = make_workbook()
    other = tmp_path / "other.xlsx"
    with pytest.raises(ValidationError, match="cannot be combined"):
        rate_workbook(path, out=other, in_place=True)
    assert main(["rate", str(path), "--in-place", "-o", str(other), "-q"]) == 2
    assert "--in-place saves into the input workbook" in capsys.readouterr().err
    assert not other.exists()
