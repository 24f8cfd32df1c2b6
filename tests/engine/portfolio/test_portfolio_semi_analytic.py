"""One-factor recursion (§7.2) against a published table, a brute-force
enumeration and the Vasicek large-pool limit."""

import itertools

import numpy as np
import pytest
from scipy import integrate, stats

from xlabs.engine.portfolio import (
    default_count_distribution,
    loss_distribution,
    tranche_expected_loss,
    vasicek_cdf,
    vasicek_quantile,
)
from xlabs.errors import ValidationError


def _hull_white_spreads(rho, n=100, hazard=0.01, recovery=0.4, years=5, r=0.05, freq=4):
    """Fair tranche spreads (bp, running, no upfront) in the Hull & White (2004) setting.

    Premiums quarterly on the outstanding tranche notional, defaults (and the
    accrued premium paid at default) at the middle of each quarter,
    continuous discounting at r.
    """
    times = np.arange(1, years * freq + 1) / freq
    tranches = ((0.0, 0.03), (0.03, 0.06), (0.06, 0.10), (0.10, 1.0))
    dists = [default_count_distribution(np.full(n, 1 - np.exp(-hazard * t)), np.sqrt(rho)) for t in times]
    losses = np.arange(n + 1) * (1 - recovery) / n
    out = []
    for a, d in tranches:
        el = np.concatenate([[0.0], [tranche_expected_loss(losses, p, a, d) for p in dists]])
        prot = annuity = 0.0
        prev = 0.0
        for j, t in enumerate(times, 1):
            dl, mid = el[j] - el[j - 1], 0.5 * (t + prev)
            prot += dl * np.exp(-r * mid)
            annuity += (t - prev) * (1 - el[j]) * np.exp(-r * t) + 0.5 * (t - prev) * dl * np.exp(-r * mid)
            prev = t
        out.append(prot / annuity * 1e4)
    return np.array(out)


@pytest.mark.parametrize("rho, published", [
    (0.1, [2279, 450, 89, 1]),
    (0.3, [1487, 472, 203, 7]),
])
def test_hull_white_2004_table_7(rho, published):
    """Hull & White (2004), "Valuation of a CDO and an n-th to default CDS without Monte Carlo
    simulation", Table 7: 100 names, hazard 1 %, recovery 40 %, 5 years, quarterly, r = 5 %."""
    got = _hull_white_spreads(rho)
    pub = np.array(published, dtype=float)
    assert np.all((np.abs(got - pub) <= 0.04 * pub) | (np.abs(got - pub) <= 1.0)), got


def test_recursion_matches_brute_force_enumeration():
    pd = np.array([0.05, 0.1, 0.2, 0.02, 0.15])
    a = np.array([0.3, 0.5, 0.4, 0.6, 0.2])
    expo = np.array([1.0, 2.0, 1.0, 3.0, 2.0])
    rec = np.array([0.0, 0.5, 0.0, 1 / 3, 0.5])   # losses 1, 1, 1, 2, 1
    values, probs = loss_distribution(pd, a, expo, rec)
    c = stats.norm.ppf(pd)
    brute = np.zeros(7)
    for pattern in itertools.product([0, 1], repeat=5):
        def integrand(m, pattern=pattern):
            q = stats.norm.cdf((c - a * m) / np.sqrt(1 - a * a))
            return np.prod(np.where(np.array(pattern) == 1, q, 1 - q)) * stats.norm.pdf(m)
        loss = int(round(np.dot(pattern, expo * (1 - rec))))
        brute[loss] += integrate.quad(integrand, -10, 10, epsabs=1e-13)[0]
    assert np.allclose(values, np.arange(7))
    assert np.allclose(probs, brute, atol=1e-10)


def test_independent_pool_is_poisson_binomial():
    pd = np.array([0.1, 0.3, 0.5])
    probs = default_count_distribution(pd, 0.0)
    # Hand calculation: P(0) = .9*.7*.5, P(3) = .1*.3*.5.
    assert probs[0] == pytest.approx(0.315)
    assert probs[3] == pytest.approx(0.015)
    assert probs[1] == pytest.approx(0.1 * 0.7 * 0.5 + 0.9 * 0.3 * 0.5 + 0.9 * 0.7 * 0.5)


def test_large_pool_limit_approaches_vasicek():
    pd, rho = 0.02, 0.2
    errors = []
    for n in (50, 200, 1000):
        dist = default_count_distribution(np.full(n, pd), np.sqrt(rho))
        cdf = np.cumsum(dist)
        x = np.arange(n + 1) / n
        pts = [0.05, 0.1, 0.2]
        idx = [int(np.floor(p * n + 1e-9)) for p in pts]
        errors.append(max(abs(cdf[i] - vasicek_cdf(x[i], pd, rho)) for i in idx))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01


def test_vasicek_quantile_inverts_cdf():
    for q in (0.5, 0.99, 0.9999):
        x = vasicek_quantile(q, 0.01, 0.15)
        assert vasicek_cdf(x, 0.01, 0.15) == pytest.approx(q, rel=1e-10)
    # Closed form at rho -> 0 limit check: median of the loss fraction is Phi(Phi^-1(p)/sqrt(1-rho)).
    assert vasicek_quantile(0.5, 0.05, 0.3) == pytest.approx(stats.norm.cdf(stats.norm.ppf(0.05) / np.sqrt(0.7)))


def test_tranche_expected_loss_hand_calculation():
    # Losses 0, 5 %, 20 % with probabilities .5, .3, .2; tranche 3-10 %:
    # tranche losses 0, 2 %, 7 % of pool -> EL = (.3*.02 + .2*.07) / .07.
    assert tranche_expected_loss([0, 0.05, 0.2], [0.5, 0.3, 0.2], 0.03, 0.10) == pytest.approx(0.02 / 0.07)


def test_vasicek_refuses_percents_and_correlations_outside_0_1():
    # closed form (§7.2): Phi((Phi^-1(0.02) + sqrt(0.2) Phi^-1(0.999)) / sqrt(0.8))
    ref = stats.norm.cdf((stats.norm.ppf(0.02) + np.sqrt(0.2) * stats.norm.ppf(0.999)) / np.sqrt(0.8))
    assert vasicek_quantile(0.999, 0.02, 0.2) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValidationError) as e:
        vasicek_quantile(99.9, 2, 20)                      # percents: was NaN / a math domain error
    assert [p.where for p in e.value.problems] == ["q", "pd", "rho"]
    with pytest.raises(ValidationError, match="rho"):
        vasicek_quantile(0.999, 0.02, -0.1)
    with pytest.raises(ValidationError, match="pd"):
        vasicek_cdf(0.1, float("nan"), 0.2)
    with pytest.raises(ValidationError, match="x"):
        vasicek_cdf(5, 0.02, 0.2)


def test_loss_distribution_reports_bad_recovery_length_unit_and_nodes():
    # one obligor, loading 0.5: Bernoulli(0.3) loss of 1 unit
    losses, probs = loss_distribution([0.3], 0.5)
    assert losses.tolist() == [0.0, 1.0] and probs == pytest.approx([0.7, 0.3])
    with pytest.raises(ValidationError) as e:      # were a numpy broadcast error / 'negative dimensions'
        loss_distribution([0.1] * 3, 0.3, recovery=[0.1, 0.2], unit=0, n_nodes="a")
    assert [p.where for p in e.value.problems] == ["recovery", "unit", "n_nodes"]
    for unit in (-1.0, float("nan")):
        with pytest.raises(ValidationError, match="unit"):
            loss_distribution([0.1] * 3, 0.3, unit=unit)


def test_tranche_expected_loss_refuses_currency_losses_and_mismatched_probs():
    # loss_distribution gives losses in currency (here 0..10 obligors of 1): passed straight in, every
    # loss >= 1 was clipped to the tranche width and the 10-20 % tranche showed P(L >= 1) as its EL
    losses, probs = loss_distribution([0.1] * 10, 0.3)
    with pytest.raises(ValidationError, match="fractions of the pool notional"):
        tranche_expected_loss(losses, probs, 0.1, 0.2)
    # divided by the notional, tranche [10 %, 20 %) of 10 equal names loses 1 at 2+ defaults, 0 at 1:
    # EL = P(L >= 2)
    assert tranche_expected_loss(losses / 10, probs, 0.1, 0.2) == pytest.approx(probs[2:].sum())
    with pytest.raises(ValidationError) as e:      # were numpy 'shapes not aligned' / a clean ValueError alone
        tranche_expected_loss([0, 0.5, 1], [0.5, 0.5], 0.2, 0.1)
    assert [p.where for p in e.value.problems] == ["probs", "attach/detach"]


def test_tranche_expected_loss_takes_the_loss_grid_of_loss_distribution():
    # exposures that are not multiples of one another: the default unit is 1/20 of the smallest loss and
    # each obligor's loss is rounded to it, so the largest grid loss is above the notional (1.0099 here);
    # divided by the notional as the docstring says, it is a pool loss of 100 %, not a currency loss
    exposure = np.array([1.0, 1.03])
    losses, probs = loss_distribution([0.02, 0.03], 0.4, exposure)
    frac = losses / exposure.sum()
    assert frac.max() > 1.0
    expected = float(np.dot(np.clip(frac - 0.05, 0.0, 0.95), probs) / 0.95)
    assert tranche_expected_loss(frac, probs, 0.05, 1.0) == pytest.approx(expected, rel=1e-15)
    assert tranche_expected_loss(frac, probs, 0.0, 0.5) == pytest.approx(float(
        np.dot(np.clip(frac, 0.0, 0.5), probs) / 0.5), rel=1e-15)


def test_vasicek_takes_a_pd_of_0_or_1():
    # a pool that never defaults (pd 0) has default fraction 0, one that surely defaults (pd 1) fraction 1,
    # on every path: the closed forms give those limits (and the formula's -inf + inf corners are those too)
    for q in (0.0, 0.5, 0.999, 1.0):
        assert vasicek_quantile(q, 0.0, 0.2) == 0.0
        assert vasicek_quantile(q, 1.0, 0.2) == 1.0
    for x in (0.0, 0.05, 0.5):
        assert vasicek_cdf(x, 0.0, 0.2) == 1.0
        assert vasicek_cdf(x, 1.0, 0.2) == 0.0
    assert vasicek_cdf(1.0, 1.0, 0.2) == 1.0 and vasicek_cdf(1.0, 0.0, 0.2) == 1.0
    np.testing.assert_array_equal(vasicek_quantile(0.99, np.array([0.0, 0.02, 1.0]), 0.2),
                                  [0.0, vasicek_quantile(0.99, 0.02, 0.2), 1.0])
