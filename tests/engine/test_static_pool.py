"""Static-pool vintage analysis (xlabs/engine/static_pool.py, METHODOLOGY §3.1–3.2)."""

import numpy as np
import pytest

from xlabs.engine.static_pool import (
    VintageError,
    amounts_to_rates,
    cumulative_to_incremental,
    extrapolate_vintages,
    incremental_to_cumulative,
)
from xlabs.model.consumer import StaticPool

NAN = np.nan
# 3 vintages x 4 months of cumulative default rates, horizon T = 4.
#   V1 mature:     0.01 0.03 0.04 0.045   incremental 0.01 0.02 0.01 0.005
#   V2 age 3:      0.02 0.04 0.05   -     incremental 0.02 0.02 0.01
#   V3 age 2:      0.01 0.02   -    -     incremental 0.01 0.01
CUM = np.array([[0.01, 0.03, 0.04, 0.045],
                [0.02, 0.04, 0.05, NAN],
                [0.01, 0.02, NAN, NAN]])
BAL = np.array([100.0, 200.0, 100.0])


def test_ratio_method_simple_average_by_hand():
    # d̄ = [(0.01+0.02+0.01)/3, (0.02+0.02+0.01)/3, (0.01+0.01)/2, 0.005] = [0.04/3, 0.05/3, 0.01, 0.005]
    # C̄ = [0.04/3, 0.03, 0.04, 0.045]
    # CDR_V1 = 0.045 (mature); CDR_V2 = 0.05 * 0.045 / 0.04 = 0.05625; CDR_V3 = 0.02 * 0.045 / 0.03 = 0.03
    # timing = d̄ / 0.045 = [8/27, 10/27, 6/27, 3/27]
    va = extrapolate_vintages(CUM, 4, weighting="simple")
    np.testing.assert_allclose(va.average_incremental, [0.04 / 3, 0.05 / 3, 0.01, 0.005], rtol=1e-12)
    np.testing.assert_allclose(va.average_cumulative, [0.04 / 3, 0.03, 0.04, 0.045], rtol=1e-12)
    np.testing.assert_allclose(va.cdr, [0.045, 0.05625, 0.03], rtol=1e-12)
    np.testing.assert_allclose(va.timing, np.array([8, 10, 6, 3]) / 27, rtol=1e-12)
    assert va.timing.sum() == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_array_equal(va.observed_age, [4, 3, 2])
    np.testing.assert_array_equal(va.extrapolated, [False, True, True])
    np.testing.assert_array_equal(va.vintages_per_age, [3, 3, 2, 1])
    # the chart curve of V3 continues with the average curve's shape: 0.02 * C̄(3)/C̄(2) = 0.02 * 0.04/0.03
    assert va.cumulative[2, 2] == pytest.approx(0.02 * 0.04 / 0.03, rel=1e-12)
    assert va.weighting == "simple" and va.horizon == 4


def test_ratio_method_balance_weighted_by_hand():
    # weights 100, 200, 100:
    # d̄(1) = (1 + 4 + 1)/400 = 0.015, d̄(2) = (2 + 4 + 1)/400 = 0.0175, d̄(3) = (1 + 2)/300 = 0.01, d̄(4) = 0.005
    # C̄ = [0.015, 0.0325, 0.0425, 0.0475]
    # CDR_V2 = 0.05 * 0.0475 / 0.0425 = 19/340; CDR_V3 = 0.02 * 0.0475 / 0.0325 = 19/650
    va = extrapolate_vintages(CUM, 4, balances=BAL)
    assert va.weighting == "balance"
    np.testing.assert_allclose(va.average_incremental, [0.015, 0.0175, 0.01, 0.005], rtol=1e-12)
    np.testing.assert_allclose(va.average_cumulative, [0.015, 0.0325, 0.0425, 0.0475], rtol=1e-12)
    np.testing.assert_allclose(va.cdr, [0.045, 19 / 340, 19 / 650], rtol=1e-12)
    np.testing.assert_allclose(va.timing, np.array([0.015, 0.0175, 0.01, 0.005]) / 0.0475, rtol=1e-12)


def test_shorter_horizon_uses_observed_cdr_at_t():
    # T = 2: every vintage is observed at age 2 -> CDR_v(2) as observed, nothing extrapolated.
    va = extrapolate_vintages(CUM, 2, weighting="simple")
    np.testing.assert_allclose(va.cdr, [0.03, 0.04, 0.02])
    assert not va.extrapolated.any()
    np.testing.assert_allclose(va.timing, [4 / 9, 5 / 9], rtol=1e-12)   # [0.04/3, 0.05/3] / C̄(2) = 0.09/3


def test_static_pool_amounts_and_incremental_forms_agree():
    amounts_cum = CUM * BAL[:, None]
    inc_amounts = cumulative_to_incremental(np.nan_to_num(amounts_cum))
    inc_amounts[np.isnan(CUM)] = NAN
    a = StaticPool(["a", "b", "c"], BAL, amounts_cum, "cumulative", "amount").cumulative_rates()
    b = StaticPool(["a", "b", "c"], BAL, inc_amounts, "incremental", "amount").cumulative_rates()
    c = StaticPool(["a", "b", "c"], BAL, CUM, "cumulative", "rate").cumulative_rates()
    for x in (a, b):
        np.testing.assert_allclose(x, c, rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(CUM))
    np.testing.assert_array_equal(np.isnan(b), np.isnan(CUM))


def test_conversions():
    np.testing.assert_allclose(incremental_to_cumulative([[0.01, 0.02, NAN]]), [[0.01, 0.03, NAN]])
    np.testing.assert_allclose(cumulative_to_incremental([[0.01, 0.03, 0.035]]), [[0.01, 0.02, 0.005]])
    np.testing.assert_allclose(amounts_to_rates([[1.0, 2.0], [3.0, 4.0]], [10.0, 100.0]), [[0.1, 0.2], [0.03, 0.04]])


def _where(err):
    return {(i.vintage, i.age) for i in err.issues}


def test_bad_rates_all_reported_with_vintage_and_age():
    cum = np.array([[0.01, -0.02, 0.03, 0.04],     # negative at (0, 2); also a fall at month 2
                    [0.02, 1.4, 1.5, NAN],         # > 1 at (1, 2) and (1, 3)
                    [0.03, 0.02, NAN, NAN],        # falls at (2, 2)
                    [0.01, NAN, 0.02, NAN]])       # gap at (3, 2)
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(cum, 4, weighting="simple")
    where = _where(e.value)
    assert {(0, 2), (1, 2), (1, 3), (2, 2), (3, 2)} <= where
    rules = {(i.vintage, i.age, i.rule.split(" ")[0]) for i in e.value.issues}
    assert (0, 2, "default") in rules and (0, 2, "cumulative") in rules
    assert (2, 2, "cumulative") in rules
    # the same issues surface as Problems naming vintage and month (1-based)
    assert any(p.where == "static pool vintage 3 month 2" for p in e.value.problems)


def test_no_vintage_observed_at_an_age_up_to_horizon():
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(CUM, 6, weighting="simple")
    assert {(None, 5)} == _where(e.value)      # months 5..6 past the data: one problem, at the first


def test_every_problem_is_reported_in_one_error():
    # A bad rate and a horizon beyond every vintage's observation: both at once (DESIGN.md convention 4).
    cum = CUM.copy()
    cum[1, 1] = -0.01
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(cum, 5, weighting="simple")
    assert {(1, 2), (None, 5)} <= _where(e.value)


def test_zero_average_curve_is_reported():
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(np.zeros((3, 4)), 4, weighting="simple")
    assert _where(e.value) == {(None, 4)}


def test_vintage_with_no_defaults_yet_is_kept_at_zero_and_noted():
    cum = np.array([[0.0, 0.0, 0.01, 0.02],
                    [0.0, 0.0, 0.02, NAN],
                    [0.0, 0.0, NAN, NAN]])
    va = extrapolate_vintages(cum, 4, weighting="simple")
    assert va.cdr[2] == 0.0
    assert any("vintage 3: no defaults" in n for n in va.notes)
    # V2: 0.02 * C̄(4)/C̄(3); d̄ = [0, 0, 0.015, 0.01] -> 0.02 * 0.025 / 0.015
    assert va.cdr[1] == pytest.approx(0.02 * 0.025 / 0.015, rel=1e-12)


def test_balance_weighting_needs_balances_and_positive_balances():
    with pytest.raises(VintageError):
        extrapolate_vintages(CUM, 4, weighting="balance")
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(CUM, 4, balances=[100.0, 0.0, -5.0])
    assert {(1, None), (2, None)} <= _where(e.value)


def test_months_resting_on_few_vintages_are_noted():
    """§3.2: too few vintages at some age is reported.  CUM has 3, 3, 2, 1 vintages at months 1-4:
    months 3-4 rest on fewer than 3; at T = 2 every month has 3 and nothing is noted."""
    va = extrapolate_vintages(CUM, 4, weighting="simple")
    thin = [n for n in va.notes if "fewer than 3 vintages" in n]
    assert len(thin) == 1 and "months 3-4" in thin[0] and "1 at month 4" in thin[0]
    assert not any("fewer than" in n for n in extrapolate_vintages(CUM, 2, weighting="simple").notes)


def test_a_horizon_past_the_data_is_one_problem_and_quick():
    """A horizon beyond every vintage's history gave one problem per missing month (576 for a
    600-month horizon on 24 months of data; minutes and a MemoryError for a typo such as 1e9 in a UDF)."""
    import time

    import numpy as np
    import pytest

    from xlabs.engine.static_pool import VintageError, extrapolate_vintages
    cum = np.array([[0.01, 0.02, 0.03], [0.012, 0.022, np.nan]])
    t0 = time.perf_counter()
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(cum, 10**9)
    assert time.perf_counter() - t0 < 5
    assert len(e.value.issues) == 1
    issue = e.value.issues[0]
    assert issue.age == 4 and "longest history is 3 months" in issue.rule


def test_an_extrapolated_cdr_above_100_percent_is_reported_at_its_last_month():
    """A young vintage with defaults far above the average curve's: V3 below is observed one month at
    0.2 with weight 1 of 201, so by hand d̄ = [(0.01·100 + 0.02·100 + 0.2·1)/201, 0.02, 0.01],
    C̄(1) = 3.2/201, C̄(3) = 3.2/201 + 0.03 and CDR_V3(3) = 0.2 · C̄(3)/C̄(1) = 0.2 · (1 + 0.03·201/3.2)
    = 0.576875 ... while with 0.4 at month 1 it is 0.4·C̄(3)/C̄(1) > 1: more than the vintage's principal."""
    cum = np.array([[0.01, 0.03, 0.04],
                    [0.02, 0.04, 0.05],
                    [0.2, NAN, NAN]])
    bal = np.array([100.0, 100.0, 1.0])
    va = extrapolate_vintages(cum, 3, balances=bal)
    c1 = (0.01 * 100 + 0.02 * 100 + 0.2) / 201
    assert va.cdr[2] == pytest.approx(0.2 * (c1 + 0.03) / c1, rel=1e-12)
    cum[2, 0] = 0.4
    c1 = (0.01 * 100 + 0.02 * 100 + 0.4) / 201
    expected = 0.4 * (c1 + 0.03) / c1
    assert expected > 1.0
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(cum, 3, balances=bal)
    (issue,) = [i for i in e.value.issues if i.vintage == 2]
    assert issue.age == 1 and issue.value == pytest.approx(expected, rel=1e-12)
    assert "cannot exceed 100%" in issue.rule


def test_a_gap_is_a_missing_month_not_a_fall_and_a_fall_across_it_is_found():
    """V1 0.01, -, 0.02: month 2 is missing and nothing falls (0.01 <= 0.02).  V2 0.03, -, 0.02: month 2 is
    missing and the cumulative rate falls at month 3 (0.02 < 0.03).  A gap read as 0 made month 2 a
    'fall' of value NaN in both and hid V2's real fall at month 3."""
    cum = np.array([[0.01, NAN, 0.02, 0.03],
                    [0.03, NAN, 0.02, NAN],
                    [0.01, 0.02, 0.03, 0.04]])
    with pytest.raises(VintageError) as e:
        extrapolate_vintages(cum, 4, weighting="simple")
    found = {(i.vintage, i.age, i.rule.split(" ")[0]) for i in e.value.issues}
    assert found == {(0, 2, "missing"), (1, 2, "missing"), (1, 3, "cumulative")}
    (fall,) = [i for i in e.value.issues if i.rule.startswith("cumulative")]
    assert fall.value == 0.02


def test_a_fractional_horizon_and_balances_of_the_wrong_shape_are_reported():
    # T = 3 by hand (simple weights): C̄(3) = 0.04, C̄(2) = 0.03 -> CDR_V3 = 0.02 * 0.04 / 0.03
    assert extrapolate_vintages(CUM, 3, weighting="simple").cdr[2] == pytest.approx(0.02 * 0.04 / 0.03)
    # 3.7 months was truncated to 3 without a word; NaN / None / text raised from int()
    for h in (3.7, NAN, None, "x"):
        with pytest.raises(VintageError, match="horizon must be a whole number"):
            extrapolate_vintages(CUM, h, weighting="simple")
    # two balances for three vintages: a numpy broadcast error; a column of three: a misleading
    # "average cumulative default rate at the horizon is 0"
    for bal in (BAL[:2], BAL[:, None]):
        with pytest.raises(VintageError, match="one original balance"):
            extrapolate_vintages(CUM, 4, balances=bal)
    with pytest.raises(VintageError, match="must hold numbers"):
        extrapolate_vintages([["a", 0.1]], 2)
