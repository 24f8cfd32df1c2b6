"""Lognormal MLE, adverse adjustments and TDR (xlabs/engine/lognormal.py, METHODOLOGY §3.3–3.5)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xlabs.engine.default_table import default_probability
from xlabs.engine.lognormal import (
    Adjustment,
    LognormalFit,
    adjust,
    base_cdr_from_benchmark,
    fit_lognormal,
    target_default_rate,
    tdr_by_rating,
    tdr_stress_multiple,
)
from xlabs.errors import ValidationError


@pytest.mark.parametrize("mu,sigma,p", [(-3.5, 0.3, 0.001), (-2.0, 0.8, 0.05), (-4.2, 0.15, 1e-6),
                                        (-1.0, 1.2, 0.5), (-3.0, 0.5, 0.9)])
def test_tdr_closed_form_and_scipy_lognorm(mu, sigma, p):
    closed = math.exp(sigma * stats.norm.ppf(1 - p) + mu)           # §3.4 formula
    isf = stats.lognorm.isf(p, s=sigma, scale=math.exp(mu))         # CDR exceeded with probability p
    got = target_default_rate(mu, sigma, p)
    assert isinstance(got, float)
    assert got == pytest.approx(closed, rel=1e-10)
    assert got == pytest.approx(isf, rel=1e-9)


def test_tdr_vectorised_over_p():
    p = np.array([1e-5, 1e-3, 0.01, 0.2, 0.7])
    got = target_default_rate(-3.0, 0.4, p)
    assert got.shape == p.shape
    np.testing.assert_allclose(got, stats.lognorm.isf(p, s=0.4, scale=math.exp(-3.0)), rtol=1e-9)
    assert np.all(np.diff(got) < 0)     # rarer events -> higher TDR


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_tdr_rejects_p_outside_unit_interval(p):
    with pytest.raises(ValueError):
        target_default_rate(-3.0, 0.4, p)


def test_tdr_rejects_zero_sigma():
    with pytest.raises(ValueError):
        target_default_rate(-3.0, 0.0, 0.01)


def test_tdr_by_rating_uses_table_pd_at_term():
    out = tdr_by_rating(-3.2, 0.35, ["AAA", "BBB-sf", "B"], 2.5)
    assert list(out) == ["AAAsf", "BBB-sf", "Bsf"]
    for r, (pa, tdr) in out.items():
        assert pa == pytest.approx(default_probability(r, 2.5), rel=1e-15)
        assert tdr == pytest.approx(stats.lognorm.isf(pa, s=0.35, scale=math.exp(-3.2)), rel=1e-9)
    assert out["AAAsf"][1] > out["BBB-sf"][1] > out["Bsf"][1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mle_matches_scipy_lognorm_fit(seed):
    x = np.random.default_rng(seed).lognormal(np.log(0.03), 0.4, 25)
    s, loc, scale = stats.lognorm.fit(x, floc=0)
    fit = fit_lognormal(x)
    assert loc == 0
    assert fit.sigma == pytest.approx(s, rel=1e-6)
    assert fit.mu == pytest.approx(math.log(scale), rel=1e-6)
    assert fit.n == 25 and fit.floor is None and fit.floored == 0


def test_mle_hand_computed():
    # x = e^-3, e^-2, e^-4: ln x = -3, -2, -4; mu = -3; sigma^2 = (0 + 1 + 1) / 3 (divisor n, not n - 1).
    fit = fit_lognormal(np.exp([-3.0, -2.0, -4.0]))
    assert fit.mu == pytest.approx(-3.0, rel=1e-14)
    assert fit.sigma == pytest.approx(math.sqrt(2.0 / 3.0), rel=1e-14)
    assert fit.median == pytest.approx(math.exp(-3.0))
    assert fit.mean == pytest.approx(math.exp(-3.0 + 1.0 / 3.0))


def test_zero_cdr_rejected_without_floor():
    with pytest.raises(ValidationError) as e:
        fit_lognormal([0.02, 0.0, 0.03, 0.0])
    where = [p.where for p in e.value.problems]
    assert where == ["cdrs[1]", "cdrs[3]"]          # both zeros, not only the first
    assert all("floor" in p.rule for p in e.value.problems)


def test_floor_replaces_zeros_and_is_recorded():
    fit = fit_lognormal([0.02, 0.0, 0.03], floor=0.001)
    assert fit.floor == 0.001 and fit.floored == 1
    lx = np.log([0.02, 0.001, 0.03])
    assert fit.mu == pytest.approx(lx.mean(), rel=1e-14)
    assert fit.sigma == pytest.approx(lx.std(ddof=0), rel=1e-12)
    # A floor that replaced nothing is not reported as used.
    assert fit_lognormal([0.02, 0.03], floor=0.001).floor is None


@pytest.mark.parametrize("bad", [[0.02], [0.02, np.nan], [0.02, -0.01], [0.02, 1.5], [0.03, 0.03]])
def test_fit_rejects_bad_inputs(bad):
    with pytest.raises(ValidationError):
        fit_lognormal(bad)


def test_fit_reports_all_bad_values_together():
    with pytest.raises(ValidationError) as e:
        fit_lognormal([np.nan, -0.1, 2.0, 0.0])
    assert {p.where for p in e.value.problems} == {"cdrs[0]", "cdrs[1]", "cdrs[2]", "cdrs[3]"}


def test_adverse_adjustments_add_mu_and_multiply_sigma():
    fit = LognormalFit(mu=-3.0, sigma=0.4, n=10)
    adj = adjust(fit, [Adjustment("GDP", 0.1, 1.0, "slowing growth"),
                       Adjustment("servicer", 0.05, 1.25, "new servicer"),
                       Adjustment("loan terms", 0.0, 1.1, "longer terms")])
    assert adj.mu == pytest.approx(-3.0 + 0.15)
    assert adj.sigma == pytest.approx(0.4 * 1.25 * 1.1)
    assert len(adj.adjustments) == 3 and adj.base is fit
    # Adverse means every TDR rises.
    assert target_default_rate(adj.mu, adj.sigma, 0.001) > target_default_rate(fit.mu, fit.sigma, 0.001)


def test_favourable_or_unexplained_adjustments_are_rejected_together():
    fit = LognormalFit(mu=-3.0, sigma=0.4, n=10)
    with pytest.raises(ValidationError) as e:
        adjust(fit, [Adjustment("GDP", -0.1, 1.0, "growth"),
                     Adjustment("servicer", 0.0, 0.9, "good servicer"),
                     Adjustment("terms", 0.1, 1.0, "  ")])
    rules = [(p.where, p.rule) for p in e.value.problems]
    assert len(rules) == 3
    assert "mu shift" in rules[0][1] and "GDP" in rules[0][0]
    assert "sigma multiplier" in rules[1][1] and "servicer" in rules[1][0]
    assert "reason" in rules[2][1] and "terms" in rules[2][0]


def test_stress_multiple_method():
    out = tdr_stress_multiple(0.04, {"AAA": 5.0, "BBB": 2.5})
    assert out == {"AAAsf": pytest.approx(0.2), "BBBsf": pytest.approx(0.1)}
    with pytest.raises(ValidationError):
        tdr_stress_multiple(0.04, {"AAA": 0.5})
    with pytest.raises(ValidationError):
        tdr_stress_multiple(4.0, {"AAA": 5.0})      # a percent, not a fraction


def test_base_cdr_from_benchmark_balance_weighted():
    # loans 100 and 300, benchmark 2 %, factors 1.5 and 1.0 -> (100*0.03 + 300*0.02)/400 = 0.0225
    assert base_cdr_from_benchmark([100, 300], 0.02, [1.5, 1.0]) == pytest.approx(0.0225)
    # two factor columns multiply; a PD above 1 is capped
    assert base_cdr_from_benchmark([1, 1], 0.5, [[2, 2], [1, 1]]) == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize("n,cdr", [(3, 0.03), (5, 0.0427), (10, 0.011), (3, 0.07)])
def test_equal_cdrs_are_refused_whatever_their_number(n, cdr):
    """n equal CDRs: every ln x equals mu, so sigma² = (1/n) Σ (ln x − mu)² = 0 exactly (§3.3) and the
    fit is refused.  The one-pass form Σ(ln x)²/n − mu² cancelled to ~1e-15 and returned sigma ~ 5e-8,
    giving every rating the median CDR as its TDR."""
    with pytest.raises(ValidationError) as e:
        fit_lognormal([cdr] * n)
    assert any("sigma would be 0" in p.rule for p in e.value.problems)


@pytest.mark.parametrize("increments", [
    [(0.011, 0.01, 0.02, 0.007, 0.008), (0.02, 0.011, 0.01, 0.007, 0.008)],
    [(0.03, 0.0123, 0.0077), (0.0077, 0.0123, 0.03), (0.0123, 0.03, 0.0077)],
])
def test_cdrs_equal_up_to_rounding_are_refused_like_equal_cdrs(increments):
    """Vintages with the same monthly default increments in another order have, by exact (rational)
    arithmetic, the same CDR, so sigma = 0 (§3.3) and the fit is refused as for equal CDRs.  Summed in
    floating point they differ in the last bit: the one-pass variance then came out as noise, sometimes
    negative (refused) and sometimes ~5e-8 (every rating's TDR the median, not refused)."""
    from fractions import Fraction
    exact = {sum(Fraction(str(d)) for d in inc) for inc in increments}
    assert len(exact) == 1                                  # the same CDR by hand
    cdrs = [float(np.cumsum(inc)[-1]) for inc in increments]
    assert len(set(cdrs)) > 1                               # but not the same double
    for k in (2, 5, 13):
        with pytest.raises(ValidationError) as e:
            fit_lognormal(cdrs * k)
        assert any("sigma would be 0" in p.rule for p in e.value.problems)


def test_cdrs_a_few_ulps_apart_are_refused_and_clearly_different_ones_fitted():
    """Many CDRs within a few ulps of one another: sigma is 0 by hand (the spread is rounding), refused
    every time; CDRs 1e-9 apart in relative terms are data and keep their fit (sigma as by hand)."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        a = rng.uniform(0.005, 0.2)
        x = a + np.spacing(a) * rng.integers(-3, 4, rng.integers(2, 40))
        x[0], x[1] = a, a + np.spacing(a)                   # never all equal
        with pytest.raises(ValidationError):
            fit_lognormal(x)
    x = np.array([0.05, 0.05 * (1 + 1e-6)])
    lx = np.log(x)
    assert fit_lognormal(x).sigma == pytest.approx(abs(lx[1] - lx[0]) / 2, rel=1e-3)


def test_tdr_refuses_nan_and_lists_every_bad_argument():
    # closed form (§3.4): exp(0.3 Phi^-1(0.99) - 3.5)
    assert target_default_rate(-3.5, 0.3, 0.01) == pytest.approx(math.exp(0.3 * stats.norm.ppf(0.99) - 3.5))
    for mu, sigma, p in ((-3.5, 0.3, float("nan")), (float("nan"), 0.3, 0.01), (-3.5, math.inf, 0.01),
                         (-3.5, 0.3, [0.01, float("nan")])):
        with pytest.raises(ValidationError):       # was a silent NaN / inf TDR
            target_default_rate(mu, sigma, p)
    with pytest.raises(ValidationError) as e:
        target_default_rate("x", -1.0, 5.0)
    assert [q.where for q in e.value.problems] == ["p", "mu", "sigma"]
    # vectorised in mu and sigma too (arrays, Series), broadcast against p: each element the closed form
    mu, sigma = np.array([-3.5, -3.0]), np.array([0.3, 0.4])
    got = target_default_rate(mu, sigma, 0.01)
    assert got == pytest.approx(np.exp(sigma * stats.norm.ppf(0.99) + mu))
    assert target_default_rate(pd.Series(mu), 0.3, [0.01, 0.02]) == pytest.approx(
        np.exp(0.3 * stats.norm.ppf([0.99, 0.98]) + mu))
    with pytest.raises(ValidationError, match="broadcast"):
        target_default_rate(mu, 0.3, [0.01, 0.02, 0.03])
    with pytest.raises(ValidationError) as e:
        target_default_rate(mu, np.array([0.3, -0.1]), 0.01)
    assert [q.where for q in e.value.problems] == ["sigma"]


def test_fit_refuses_a_table_and_a_floor_that_is_not_a_number():
    # MLE by hand (§3.3): mu = mean ln x, sigma = population s.d. of ln x
    x = np.array([0.021, 0.034, 0.027, 0.045])
    f = fit_lognormal(x[:, None])                  # a column of vintage CDRs is still one per vintage
    assert f.mu == pytest.approx(np.log(x).mean()) and f.sigma == pytest.approx(np.log(x).std())
    # a vintages x months table was flattened and fitted as 4 "vintages" with no word
    with pytest.raises(ValidationError, match="not a table"):
        fit_lognormal([[0.01, 0.02], [0.03, 0.04]])
    with pytest.raises(ValidationError) as e:      # were TypeError / ValueError from a comparison or float()
        fit_lognormal([0.0, 0.1], floor="a")
    assert [p.where for p in e.value.problems] == ["floor"]
    with pytest.raises(ValidationError, match="must be numbers"):
        fit_lognormal(["a", "b"])
