"""UDF input normalisation (scalar / 1-D / 2-D, blanks, text in number cells) and error strings."""

from __future__ import annotations

import numpy as np
import pytest

from tests.excel.udf_loader import load_udfs
from xlabs.excel.normalise import UdfInputError, column, grid, is_blank, labels, matrix, number, text, vector

u = load_udfs()


@pytest.mark.parametrize("raw, expect", [
    (5, [[5]]), ([1, 2], [[1, 2]]), ([[1], [2]], [[1], [2]]), (np.array([[1.0, 2.0]]), [[1.0, 2.0]]),
    ((3, 4), [[3, 4]]),
])
def test_grid_shapes(raw, expect):
    assert grid(raw) == expect


def test_number_accepts_numbers_and_numeric_text_only():
    assert number(0.05, "x") == 0.05
    assert number(" 1,250.5 ", "x") == 1250.5
    assert number([[0.2]], "x") == 0.2
    assert number(None, "x", blank=0.0) == 0.0
    for bad, msg in [("5%", "fraction (0.05)"), ("abc", "must be a number"), (True, "must be a number"),
                     (None, "is blank"), ([[1, 2]], "single cell"), (float("inf"), "finite")]:
        with pytest.raises(UdfInputError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            number(bad, "x")


def test_vector_row_column_and_blanks():
    np.testing.assert_array_equal(vector([[1], [None], ["2"]], "v"), [1.0, 2.0])
    np.testing.assert_array_equal(vector([1, 2, 3], "v"), [1.0, 2.0, 3.0])
    with pytest.raises(UdfInputError, match="one row or one column"):
        vector([[1, 2], [3, 4]], "v")
    with pytest.raises(UdfInputError, match="blank cell at position 2"):
        vector([1, None], "v", skip_blank=False)
    with pytest.raises(UdfInputError, match="empty"):
        vector([None, ""], "v")


def test_matrix_blanks_become_nan_and_text_is_reported():
    m = matrix([[0.1, None], [0.2, "0.3"]], "m")
    assert np.isnan(m[0, 1]) and m[1, 1] == 0.3
    with pytest.raises(UdfInputError, match="row 2 col 1"):
        matrix([[0.1], ["x"]], "m")


def test_labels_text_and_column_helpers():
    assert labels([["a"], [None], [" b "]], "l") == ["a", "", "b"]
    assert text(" AA ", "t") == "AA"
    assert column([1, 2.5]) == [[1.0], [2.5]]
    assert is_blank(None) and is_blank("  ") and is_blank(float("nan")) and not is_blank(0)


@pytest.mark.parametrize("call, message", [
    (lambda: u.XLABS_TDR(-3, 0, 0.01), "#XLABS: sigma must be > 0"),
    (lambda: u.XLABS_TDR(-3, 0.3, 1.5), "#XLABS: p must be between 0 and 1"),
    (lambda: u.XLABS_TDR(-3, 0.3, "1%"), "#XLABS: p must be a fraction (0.05), not '1%'"),
    (lambda: u.XLABS_PD("AAA+", 2), "#XLABS: unknown rating 'AAA+'"),
    (lambda: u.XLABS_PD("AA", -1), "#XLABS: years must be >= 0"),
    (lambda: u.XLABS_FIT_LOGNORMAL([[0.02], [0.0], [0.03]]), "#XLABS: cdrs cell 2: CDR of 0 cannot enter the lognormal fit"),
    (lambda: u.XLABS_EXTRAPOLATE([[0.01, 0.02]], 1.5), "#XLABS: horizon must be a whole number"),
    (lambda: u.XLABS_DIVERSITY_SCORE([1, 2], ["a"]), "#XLABS: par and industry must have the same length"),
    (lambda: u.XLABS_BET_EL(10, 0.02, 0.3, 0.1), "#XLABS: need 0 <= attach < detach <= 1"),
    (lambda: u.XLABS_NOTCH("BBB", 1.5), "#XLABS: notches must be a whole number"),
    (lambda: u.XLABS_WORST_RATING([["AA", "ZZ"]]), "#XLABS: unknown rating 'ZZ'"),
    (lambda: u.XLABS_VASICEK_QUANTILE(0.02, 1.0, 0.99), "#XLABS: rho must be between 0 and 1"),
])
def test_udfs_return_short_error_strings(call, message):
    out = call()
    assert isinstance(out, str) and out.startswith(message)
    assert len(out) <= 128 and "Traceback" not in out


def test_udfs_accept_the_shapes_excel_passes():
    assert u.XLABS_TDR([[-3.4]], [[0.35]], [[0.002]]) == pytest.approx(u.XLABS_TDR(-3.4, 0.35, 0.002))
    assert u.XLABS_PD("bbb-sf".upper(), "3") == pytest.approx(u.XLABS_PD("BBB-", 3))
    col = u.XLABS_EXTRAPOLATE([[0.01, 0.02, 0.03], [0.01, None, None]], 3)
    assert isinstance(col, list) and all(len(r) == 1 for r in col) and len(col) == 2
    assert u.XLABS_WORST_RATING([["AA"], [None], ["A-"]]) == "A-sf"
    # a block of ratings (the caps of several tranches): the worst of all its cells, blanks skipped
    assert u.XLABS_WORST_RATING([["AA", "A"], ["BBB", None], ["B", "AAA"]]) == "Bsf"


def test_a_decimal_comma_is_refused_not_read_as_thousands():
    """'0,35' used to become 35 and '-3,4' -34: silently wrong TDRs and PDs."""
    assert number("1,000,000", "x") == 1e6 and number("-1,234.5", "x") == -1234.5
    for bad in ("0,35", "-3,4", "1,5", "1,00", "12,3456"):
        with pytest.raises(UdfInputError, match="not a thousands separator"):
            number(bad, "x")
    assert u.XLABS_TDR(-3.4, "0,35", 0.002).startswith("#XLABS: sigma '0,35' has a comma")


def test_error_labels_trailing_blank_rows_and_mismatched_balances():
    with pytest.raises(UdfInputError, match="industry cell 3 holds an error value"):
        labels([["a"], ["b"], ["#N/A"]], "industry")
    assert u.XLABS_DIVERSITY_SCORE([[1], [2], [3]], [["a"], ["b"], ["#N/A"]]).startswith("#XLABS: industry cell 3")
    # a range selected past the data: the blank rows at the end of both ranges are not part of the pool
    assert u.XLABS_DIVERSITY_SCORE([[1], [2], [3], [None]], [["a"], ["b"], ["c"], [None]]) == \
        u.XLABS_DIVERSITY_SCORE([[1], [2], [3]], [["a"], ["b"], ["c"]])
    assert u.XLABS_DIVERSITY_SCORE([[1], [None]], [["a"], ["b"]]).startswith("#XLABS: par has a blank cell")
    rows = [[0.01, 0.02], [0.01, None]]
    assert u.XLABS_EXTRAPOLATE(rows + [[None, None]], 2) == u.XLABS_EXTRAPOLATE(rows, 2)
    assert u.XLABS_EXTRAPOLATE(rows, 2, [[1], [2], [3]]) == "#XLABS: balances has 3 values for 2 vintage rows"


def test_bet_rounds_d_like_excel_and_tdr_is_capped_like_the_rating_run():
    # Excel ROUND(4.5, 0) = 5 (Python's round(4.5) = 4): EL with D = 4.5 equals EL with D = 5
    assert u.XLABS_BET_EL(4.5, 0.1, 0.0, 0.3) == u.XLABS_BET_EL(5, 0.1, 0.0, 0.3) != u.XLABS_BET_EL(4, 0.1, 0.0, 0.3)
    # exp(0.6 * N^-1(1 - 1e-4) - 1.5) = exp(0.6 * 3.719 - 1.5) = 2.07 > 1: a CDR cannot exceed 100 %
    assert u.XLABS_TDR(-1.5, 0.6, 1e-4) == 1.0
    assert u.XLABS_TDR(-3.0, 0.3, 0.01) == pytest.approx(np.exp(0.3 * 2.3263478740408408 - 3.0), rel=1e-12)


def test_error_values_in_text_arguments_and_huge_diversity_are_refused():
    assert u.XLABS_PD("#N/A", 3) == "#XLABS: rating holds an error value #N/A"
    assert u.XLABS_BET_EL(1e8, 0.1, 0.0, 0.3).startswith("#XLABS: diversity must be between 1 and 100,000")


def test_worst_rating_of_caps_read_from_a_rating_sheet():
    """The Rating sheet writes a cap that passes no tested rating as 'CCCsf or below' (METHODOLOGY 8); the
    worst of such a row is 'CCCsf or below', as the run's model-indicated rating, not an unknown rating."""
    assert u.XLABS_WORST_RATING([["AAAsf", "CCCsf or below", "AA-sf"]]) == "CCCsf or below"
    assert u.XLABS_WORST_RATING([["CCCsf or below", "Csf"]]) == "CCCsf or below"
    assert u.XLABS_WORST_RATING([["AA", "ZZ"]]).startswith("#XLABS: unknown rating 'ZZ'")


def test_diversity_score_refuses_a_block_of_par_amounts():
    """A 30 x 2 par block against 60 industry labels used to be read row by row and give a score
    (here [[1, 2], [3, 4]] against a..d: 3.2, F_bar = 2.5) instead of a shape error."""
    out = u.XLABS_DIVERSITY_SCORE([[1, 2], [3, 4]], [["a"], ["b"], ["c"], ["d"]])
    assert out == "#XLABS: par must be one row or one column"
    # a row or a column of par against a column of labels: u = 1/2.5 + 2/2.5 + 1 + 1 -> G = 0.4 + 0.8 + 1 + 1
    assert u.XLABS_DIVERSITY_SCORE([1, 2, 3, 4], [["a"], ["b"], ["c"], ["d"]]) == pytest.approx(3.2)
    assert u.XLABS_DIVERSITY_SCORE([[1, 2, 3, 4]], [["a"], ["b"], ["c"], ["d"]]) == pytest.approx(3.2)


def test_engine_problems_name_the_cell_of_the_range():
    """Problems found by the engine (lognormal fit, vintage table) used to come back as the bare rule,
    e.g. '#XLABS: default rate must be a fraction in [0, 1]', naming neither the argument nor the cell."""
    # the 1.5 is in the 2nd row, 3rd column of the block: vintage 2, month on book 3
    out = u.XLABS_EXTRAPOLATE([[0.01, 0.02, 0.03], [0.01, 0.02, 1.5]], 3)
    assert out == "#XLABS: vintages row 2 col 3: default rate must be a fraction in [0, 1]"
    out = u.XLABS_TIMING([[0.01, 0.02, 0.03], [0.01, None, 0.03]], 3)
    assert out.startswith("#XLABS: vintages row 2 col 2: missing observation")
    assert u.XLABS_EXTRAPOLATE([[0.01, 0.02], [None, None], [0.01, 0.03]], 2) == \
        "#XLABS: vintages row 2 col 1: vintage has no observations"
    assert u.XLABS_EXTRAPOLATE([[0.01, 0.02], [0.01, 0.03]], 2, [[1e6], [0]]) == \
        "#XLABS: balances cell 2: original balance must be > 0"
    # blanks are skipped in a column of CDRs, but the message counts the range's cells: the -0.01 is cell 4
    out = u.XLABS_FIT_LOGNORMAL([[0.02], [None], [0.03], [-0.01], [0.04]])
    assert out == "#XLABS: cdrs cell 4: CDR must be a fraction in [0, 1]"
    assert u.XLABS_FIT_LOGNORMAL([[0.02]]) == "#XLABS: cdrs: at least two vintage CDRs are needed for a fit"


def test_vintage_blocks_arrive_two_dimensional_from_excel(monkeypatch):
    """xlwings passes a one-column range as a flat list unless the argument asks for ndim=2; a column of
    vintages (one month observed each) would then be read as one vintage with many months.  The UDF module
    asks for ndim=2 on ``vintages``: recorded here by importing it with a recording ``xw.arg`` (outside
    Excel xlwings' own decorator does nothing).  In that shape a column is many vintages."""
    import importlib
    import sys

    import xlwings as xw

    seen = []

    def arg(name, **kw):
        def inner(f):
            seen.append((f.__name__, name, kw))
            return f
        return inner

    monkeypatch.setattr(xw, "arg", arg)
    mod = importlib.reload(sys.modules[u.__name__])
    try:
        assert ("XLABS_EXTRAPOLATE", "vintages", {"ndim": 2}) in seen
        assert ("XLABS_TIMING", "vintages", {"ndim": 2}) in seen
        # a column of three vintages observed one month each, as ndim=2 delivers it: three CDRs
        assert mod.XLABS_EXTRAPOLATE([[0.01], [0.02], [0.03]], 1) == [[0.01], [0.02], [0.03]]
    finally:
        monkeypatch.undo()
        importlib.reload(sys.modules[u.__name__])


def test_every_argument_asks_xlwings_for_error_values_as_text(monkeypatch):
    """xlwings passes an error cell (#N/A from a failed lookup) to a UDF as None unless the argument asks for
    ``err_to_str=True``: a #N/A among the CDRs was then skipped as a blank, and a #N/A recovery read as 0.
    Recorded as in the ndim=2 test above; as text the error is refused by name."""
    import importlib
    import inspect
    import sys

    import xlwings as xw

    seen = set()

    def arg(name, **kw):
        def inner(f):
            if kw.get("err_to_str") is True:
                seen.add((f.__name__, name))
            return f
        return inner

    monkeypatch.setattr(xw, "arg", arg)
    mod = importlib.reload(sys.modules[u.__name__])
    try:
        for name, f in mod.UDFS.items():
            for p in inspect.signature(f).parameters:
                assert (name, p) in seen, f"{name}({p}) would read an error cell as blank"
    finally:
        monkeypatch.undo()
        importlib.reload(sys.modules[u.__name__])
    assert u.XLABS_FIT_LOGNORMAL([[0.02], ["#N/A"], [0.03]]) == "#XLABS: cdrs cell 2 holds an error value #N/A"
    assert u.XLABS_BET_EL(10, 0.05, 0.1, 0.3, "#N/A") == "#XLABS: recovery holds an error value #N/A"


def test_a_blank_balance_inside_the_range_is_refused_not_skipped():
    """A blank balance used to be skipped, so each later vintage took the next one's balance: four vintage rows
    (the last blank, a generous selection) against 1e6, blank, 2e6, 3e6 gave the weights 1e6, 2e6, 3e6."""
    rows = [[0.01, 0.02, 0.03, 0.035], [0.012, 0.022, 0.031, None], [0.008, 0.018, None, None]]
    out = u.XLABS_EXTRAPOLATE(rows + [[None] * 4], 4, [[1e6], [None], [2e6], [3e6]])
    assert out == "#XLABS: balances has a blank cell at position 2"
    # blanks after the last balance are a generous selection, as blank rows after the last vintage
    assert u.XLABS_EXTRAPOLATE(rows, 4, [[1e6], [2e6], [3e6], [None], [None]]) == \
        u.XLABS_EXTRAPOLATE(rows, 4, [1e6, 2e6, 3e6])
    assert u.XLABS_EXTRAPOLATE(rows, 4, [[None], [None]]) == u.XLABS_EXTRAPOLATE(rows, 4)


def test_an_industry_code_in_a_number_cell_matches_the_same_code_typed_as_text():
    """Industry codes arrive as 1.0 from a number cell and '1' from a text cell; read as '1.0' and '1' they were
    two industries: two equal obligors scored 2.0 instead of G(2) = 1.5 (seed 003 Table 1)."""
    assert labels([[1.0], ["1"], [2.5], [None]], "industry") == ["1", "1", "2.5", ""]
    assert u.XLABS_DIVERSITY_SCORE([1.0, 1.0], [[1.0], ["1"]]) == pytest.approx(1.5)


def test_an_entire_column_costs_only_its_values(monkeypatch):
    """An entire column (A:A, 1,048,576 cells, None after the data) was looked at cell by cell, several times:
    3 s for XLABS_FIT_LOGNORMAL and 6 s for a 24-month vintage block on every recalculation.  The empty cells
    at the end are now dropped before any per-cell work (counted here, not timed)."""
    import xlabs.excel.normalise as nm

    calls = []

    def counting(v, _f=nm.is_blank):
        calls.append(1)
        return _f(v)

    monkeypatch.setattr(nm, "is_blank", counting)
    monkeypatch.setattr(u, "is_blank", counting)
    n = 1_048_576
    col = [[0.02], [0.03], [0.04]] + [[None]] * (n - 3)
    assert u.XLABS_FIT_LOGNORMAL(col) == u.XLABS_FIT_LOGNORMAL([[0.02], [0.03], [0.04]])
    rows = [[0.01, 0.02, 0.03] + [None] * 21, [0.012, 0.022] + [None] * 22]
    block = rows + [[None] * 24 for _ in range(n - 2)]
    assert u.XLABS_EXTRAPOLATE(block, 3, [1e6, 2e6] + [None] * (n - 2)) == \
        u.XLABS_EXTRAPOLATE([r[:3] for r in rows], 3, [1e6, 2e6])
    assert u.XLABS_DIVERSITY_SCORE([1.0, 2.0, 3.0] + [None] * (n - 3), ["a", "b", "a"] + [None] * (n - 3)) == \
        pytest.approx(2.2)                          # u_a = 1/2 + 1 -> G(1.5) = 1.2, u_b = 1 -> 1
    assert u.XLABS_WORST_RATING([["AA"], ["A"]] + [[None]] * (n - 2)) == "Asf"
    assert len(calls) < 1000


def test_bet_el_refuses_a_blank_recovery_cell():
    """A recovery cell left blank was read as a recovery of 0: 10 assets, p = 5 %, tranche 10-30 % gave an EL of
    4.9 % instead of the 1.2 % at the intended 40 %, silently.  Omitting the argument still means 0."""
    assert u.XLABS_BET_EL(10.0, 0.05, 0.1, 0.3, None) == "#XLABS: recovery is blank"
    assert u.XLABS_BET_EL(10.0, 0.05, 0.1, 0.3) == u.XLABS_BET_EL(10.0, 0.05, 0.1, 0.3, 0.0)
    # sum_j C(10, j) .05^j .95^(10-j) min(max(.06 j - .1, 0), .2) / .2 (METHODOLOGY 7.1)
    from scipy.stats import binom
    j = np.arange(11)
    el = float(binom.pmf(j, 10, 0.05) @ (np.clip(j / 10 * 0.6 - 0.1, 0, 0.2) / 0.2))
    assert u.XLABS_BET_EL(10.0, 0.05, 0.1, 0.3, 0.4) == pytest.approx(el, rel=1e-12)


def test_an_error_code_passed_as_an_int_is_an_error_not_a_number():
    """pywin32 passes an error cell as its int code and xlwings' err_to_str names only the seven classic errors:
    a #SPILL! (-2146826243) or #CALC! (-2146826238) was read as a number, so XLABS_NOTCH("AA", <#SPILL!>) was
    AAAsf and XLABS_TDR with such a mu gave 0; as an industry it was a label of its own."""
    spill, calc = -2146828288 + 2045, -2146828288 + 2050
    assert u.XLABS_NOTCH("AA", spill) == "#XLABS: notches holds an error value #SPILL!"
    assert u.XLABS_TDR(calc, 0.3, 0.01) == "#XLABS: mu holds an error value #CALC!"
    assert u.XLABS_DIVERSITY_SCORE([1.0, 1.0], [["a"], [spill]]) == "#XLABS: industry cell 2 holds an error value #SPILL!"
    assert u.XLABS_EXTRAPOLATE([[0.01, calc]], 2) == "#XLABS: vintages row 1 col 2 holds an error value #CALC!"
    # numbers arrive as floats: the same value as a float is a (bad) number, not an error
    assert number(float(spill), "x") == float(spill)
