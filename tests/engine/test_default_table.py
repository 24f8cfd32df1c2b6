"""Default-rate table (xlabs/engine/default_table.py, METHODOLOGY §2.1)."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import xlabs
from xlabs.engine.default_table import DefaultRateTable, default_probability, shipped_table
from xlabs.errors import ValidationError

CSV_PATH = Path(xlabs.__file__).parent / "data" / "moodys_idealized_cumulative_default_rates.csv"
# The sf scale maps notch for notch onto Moody's symbols (METHODOLOGY §1, data-file header).
MOODYS = ["Aaa", "Aa1", "Aa2", "Aa3", "A1", "A2", "A3", "Baa1", "Baa2", "Baa3", "Ba1", "Ba2", "Ba3",
          "B1", "B2", "B3", "Caa"]
SF = ["AAAsf", "AA+sf", "AAsf", "AA-sf", "A+sf", "Asf", "A-sf", "BBB+sf", "BBBsf", "BBB-sf", "BB+sf", "BBsf",
      "BB-sf", "B+sf", "Bsf", "B-sf", "CCCsf"]


def _csv_rows():
    """The shipped file read with the csv module: {Moody's symbol: [percent values]}, terms."""
    with open(CSV_PATH, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.startswith("#")) if r]
    terms = [float(x) for x in rows[0][1:]]
    return terms, {r[0].strip(): [float(x) for x in r[1:]] for r in rows[1:]}


def test_shipped_values_at_table_terms_are_csv_over_100():
    terms, rows = _csv_rows()
    table = shipped_table()
    assert terms == list(range(1, 11))
    np.testing.assert_array_equal(table.terms, terms)
    for moodys, sf in zip(MOODYS, SF, strict=True):
        expected = [x / 100.0 for x in rows[moodys]]
        for t, e in zip(terms, expected, strict=True):
            assert table.probability(sf, t) == pytest.approx(e, rel=1e-12, abs=1e-15)
    # 10-year column cross-check named in the file header (WARF / 10,000): Baa2 360 -> 0.036.
    assert default_probability("BBB", 10) == pytest.approx(0.036, rel=1e-12)
    assert "Moody" in table.source


@pytest.mark.parametrize("r", ["CCsf", "Csf", "CC", "C"])
@pytest.mark.parametrize("years", [0.5, 1, 3.7, 10, 15])
def test_cc_and_c_default_with_certainty(r, years):
    assert default_probability(r, years) == 1.0


def _h(pd):
    return -math.log(1.0 - pd)


def test_interpolation_is_linear_in_cumulative_hazard():
    _, rows = _csv_rows()
    baa2 = [x / 100 for x in rows["Baa2"]]
    # 2.5 years: halfway between the 2y and 3y cumulative hazards.
    h = 0.5 * (_h(baa2[1]) + _h(baa2[2]))
    assert default_probability("BBBsf", 2.5) == pytest.approx(1 - math.exp(-h), rel=1e-12)
    # 7.25 years: a quarter of the way from 7y to 8y.
    h = _h(baa2[6]) + 0.25 * (_h(baa2[7]) - _h(baa2[6]))
    assert default_probability("BBB", 7.25) == pytest.approx(1 - math.exp(-h), rel=1e-12)


def test_flat_hazard_below_one_year_and_beyond_ten():
    _, rows = _csv_rows()
    b2 = [x / 100 for x in rows["B2"]]
    # Below 1y: the first interval's constant hazard from H(0) = 0, so H(t) = t * H(1).
    for t in (0.25, 0.5, 11 / 12):
        assert default_probability("Bsf", t) == pytest.approx(1 - math.exp(-t * _h(b2[0])), rel=1e-12)
    assert default_probability("Bsf", 0) == 0.0
    # Beyond 10y: the last interval's hazard (9y -> 10y) continues.
    slope = _h(b2[9]) - _h(b2[8])
    for t in (11.0, 12.5, 20.0):
        assert default_probability("B", t) == pytest.approx(1 - math.exp(-(_h(b2[9]) + (t - 10) * slope)), rel=1e-12)


def test_vectorised_years_and_monthly_curve():
    years = np.array([0.5, 1.0, 2.5, 12.0])
    v = default_probability("A", years)
    assert v.shape == (4,)
    np.testing.assert_allclose(v, [default_probability("A", float(y)) for y in years], rtol=1e-15)
    m = shipped_table().monthly_curve("A", 24)
    assert m.shape == (24,)
    assert m[11] == pytest.approx(default_probability("A", 1.0), rel=1e-12)
    assert np.all(np.diff(m) > 0)


def test_shipped_table_is_monotone_in_rating_and_term():
    pd = shipped_table().pd
    assert np.all(np.diff(pd, axis=1) >= 0)       # never falls with term
    assert np.all(np.diff(pd, axis=0) >= 0)       # never better for a worse rating


def test_bad_table_lists_every_problem():
    rows = {
        "AAA": [0.001, 0.0005, 0.002],     # falls with term
        "AA+": [0.01, 0.02, 1.5],          # > 1
        "XYZ": [0.1, 0.2, 0.3],            # unknown symbol
        "AA": [0.01, 0.02],                # wrong length
        "AA-": [0.02, 0.03, 0.04],
        # A+ ... missing entirely, but A- given below -> gap
        "A-": [0.03, 0.04, 0.05],
    }
    with pytest.raises(ValidationError) as e:
        DefaultRateTable.from_rows([1, 2, 3], rows)
    rules = [p.rule for p in e.value.problems]
    assert any("must not fall with term" in r and "AAA" in r for r in rules)
    assert any("fractions in [0, 1]" in r and "AA+" in r for r in rules)
    assert any("unknown rating" in r for r in rules)
    assert any("needs 3 values" in r for r in rules)
    missing = [p for p in e.value.problems if "missing" in p.rule]
    assert missing and "A+sf" in missing[0].value and "Asf" in missing[0].value
    assert len(e.value.problems) >= 5


def test_bad_terms_are_reported():
    with pytest.raises(ValidationError):
        DefaultRateTable.from_rows([2, 1], {"AAA": [0.0, 0.0]})
    with pytest.raises(ValidationError):
        DefaultRateTable.from_rows([0, 1], {"AAA": [0.0, 0.0]})


def test_worse_rating_with_lower_pd_is_rejected():
    with pytest.raises(ValidationError) as e:
        DefaultRateTable.from_rows([1, 2], {"AAA": [0.01, 0.02], "AA+": [0.005, 0.03]})
    assert any("AA+sf has a lower default probability than AAAsf" in p.rule for p in e.value.problems)


def test_custom_table_fills_below_worst_with_one():
    t = DefaultRateTable.from_rows([1, 2], {"AAA": [0.01, 0.02], "AA+": [0.02, 0.03]})
    assert t.probability("AA", 1) == 1.0
    assert t.probability("AA+", 2) == pytest.approx(0.03)


def test_negative_years_rejected():
    with pytest.raises(ValueError):
        default_probability("A", -1.0)


def test_row_reaching_certainty_stays_certain_beyond_the_table():
    # A workbook table may give a weak rating 100 % before its last term; PD must stay 1 beyond the
    # table (H = inf), not become NaN from inf - inf.
    t = DefaultRateTable.from_rows([1, 2, 3], {"AAA": [0.01, 0.02, 0.03], "AA+": [0.5, 1.0, 1.0]})
    assert t.probability("AA+", 1) == pytest.approx(0.5)
    for y in (2.0, 2.5, 3.0, 4.0, 10.0):
        assert t.probability("AA+", y) == 1.0
    assert t.probability("AAA", 4.0) == pytest.approx(1 - math.exp(-(_h(0.03) + (_h(0.03) - _h(0.02)))), rel=1e-12)


def test_rating_for_is_best_rating_whose_pd_covers():
    table = shipped_table()
    # Baa2 2-year PD is 0.47 %: a 0.47 % PD over 2 years fits BBBsf, 0.48 % needs BBB-sf (1.05 %).
    assert table.rating_for(0.0047, 2) == "BBBsf"
    assert table.rating_for(0.0048, 2) == "BBB-sf"
    assert table.rating_for(0.0, 2) == "AAAsf"
    assert table.rating_for(0.99, 2) is None
