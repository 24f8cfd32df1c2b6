"""Monte Carlo of §4.5 against independent values.

- the exact one-factor distribution from the ASB recursion (§7.2);
- exact first and second moments of the default ratio (bivariate normal
  CDFs from scipy) for a two-factor pool;
- the exact expected default-timing curve of an independent pool;
- a hand calculation for the exposure schedule;
- the slow numpy reference implementation (two-sample test).
"""

import numba
import numpy as np
import pytest
from scipy import stats

from xlabs.engine.portfolio import default_count_distribution, loss_distribution, simulate_defaults
from xlabs.engine.portfolio.montecarlo import simulate_defaults_reference
from xlabs.errors import ValidationError


def _exact_quantile(values, probs, q):
    cdf = np.cumsum(probs)
    return values[np.searchsorted(cdf, q - 1e-12)]


def test_single_horizon_matches_exact_one_factor_distribution():
    n, pd, rho = 40, 0.04, 0.25
    res = simulate_defaults(np.full(n, pd), np.full((n, 1), np.sqrt(rho)), n_paths=200_000, seed=11)
    dist = default_count_distribution(np.full(n, pd), np.sqrt(rho))
    values = np.arange(n + 1) / n
    # CDF at every count within 5 binomial standard errors.
    emp = np.array([np.mean(res.default_ratio <= v + 1e-12) for v in values[:20]])
    exact = np.cumsum(dist)[:20]
    se = np.sqrt(exact * (1 - exact) / res.n_paths)
    assert np.all(np.abs(emp - exact) <= 5 * se + 1e-12)
    # TRDR quantiles: the exact quantile lies in the order-statistic interval.
    for p in (0.1, 0.01, 0.001):
        est = res.quantile_ci(p, "default", confidence=0.999)
        assert est.lower - 1e-12 <= _exact_quantile(values, dist, 1 - p) <= est.upper + 1e-12
        assert res.trdr(p) == est.value


def test_multi_period_heterogeneous_pool_matches_recursion_at_maturity():
    # Flat exposures: default by maturity T_i <=> latent <= Phi^-1(PD_i(T_i)), so the pool loss
    # distribution equals the one-horizon recursion with PD_i(T_i).
    rng = np.random.default_rng(3)
    n, months = 30, 36
    hazard = rng.uniform(0.01, 0.06, n)
    curves = 1 - np.exp(-np.outer(hazard, np.arange(1, months + 1) / 12))
    mat = rng.integers(6, months + 1, n)
    expo = rng.integers(1, 5, n).astype(float)
    rec = rng.choice([0.0, 0.25, 0.5], n)
    a = np.sqrt(0.3)
    res = simulate_defaults(curves, np.full((n, 1), a), expo, rec, n_paths=200_000, seed=5, maturity=mat)
    pd_t = curves[np.arange(n), mat - 1]
    losses, probs = loss_distribution(pd_t, a, expo, rec, unit=0.25)
    losses = losses / expo.sum()
    for p in (0.2, 0.05, 0.01):
        est = res.quantile_ci(p, "loss", confidence=0.999)
        assert est.lower - 1e-12 <= _exact_quantile(losses, probs, 1 - p) <= est.upper + 1e-12
    exact_mean = np.dot(losses, probs)
    assert abs(res.mean("loss") - exact_mean) < 5 * res.std("loss") / np.sqrt(res.n_paths)
    exact_dr = np.dot(pd_t, expo) / expo.sum()
    assert abs(res.mean("default") - exact_dr) < 5 * res.std("default") / np.sqrt(res.n_paths)


def test_two_factor_moments_match_bivariate_normal():
    rng = np.random.default_rng(8)
    n = 12
    pd = rng.uniform(0.02, 0.2, n)
    A = np.zeros((n, 2))
    A[:, 0] = 0.4
    A[: n // 2, 1] = 0.5
    A[n // 2:, 1] = -0.3
    expo = rng.uniform(1, 2, n)
    res = simulate_defaults(pd, A, expo, n_paths=200_000, seed=21)
    c = stats.norm.ppf(pd)
    rho = A @ A.T
    second = 0.0
    for i in range(n):
        for j in range(n):
            pij = pd[i] if i == j else stats.multivariate_normal(
                mean=[0, 0], cov=[[1, rho[i, j]], [rho[i, j], 1]]).cdf([c[i], c[j]])
            second += expo[i] * expo[j] * pij
    mean = np.dot(pd, expo) / expo.sum()
    var = second / expo.sum() ** 2 - mean ** 2
    n_p = res.n_paths
    assert abs(res.mean() - mean) < 5 * np.sqrt(var / n_p)
    # SE of the sample variance <= sqrt(E[X^4] / n); X <= 1 so E[X^4] <= E[X^2].
    assert abs(res.std() ** 2 - var) < 5 * np.sqrt(second / expo.sum() ** 2 / n_p)


def test_timing_curve_of_independent_pool():
    n, months = 25, 24
    hazard = np.linspace(0.02, 0.2, n)
    curves = 1 - np.exp(-np.outer(hazard, np.arange(1, months + 1) / 12))
    expo = np.linspace(1, 3, n)
    res = simulate_defaults(curves, np.zeros((n, 1)), expo, n_paths=100_000, seed=2)
    inc = np.diff(np.concatenate([np.zeros((n, 1)), curves], axis=1), axis=1)
    exact = (expo[:, None] * inc).sum(0) / expo.sum()
    se = np.sqrt((expo[:, None] ** 2 * inc * (1 - inc)).sum(0) / res.n_paths) / expo.sum()
    assert np.all(np.abs(res.timing - exact) < 5 * se)
    assert res.timing.sum() == pytest.approx(res.mean("default"), rel=1e-9)


def test_exposure_schedule_hand_calculation():
    # Obligor 0 defaults surely in month 5 (PD jumps 0 -> 1), obligor 1 never defaults.
    months = 8
    pd = np.zeros((2, months))
    pd[0, 4:] = 1.0
    exposure = np.array([[100, 90, 80, 70, 60, 50, 40, 30], [100] * 8], dtype=float)
    res = simulate_defaults(pd, np.full((2, 1), 0.3), exposure, recovery=[0.25, 0.0], n_paths=1000, seed=1)
    # Hand: defaulted 60 of an initial 200 -> 0.30; loss 60 * 0.75 = 45 -> 0.225.
    assert np.all(res.default_ratio == pytest.approx(0.30))
    assert np.all(res.loss_ratio == pytest.approx(0.225))
    assert res.timing[4] == pytest.approx(0.30) and res.timing.sum() == pytest.approx(0.30)
    # Maturity before month 5: no default at all.
    res2 = simulate_defaults(pd, np.full((2, 1), 0.3), exposure, n_paths=100, seed=1, maturity=[4, 8])
    assert np.all(res2.default_ratio == 0.0)


def test_against_slow_reference_implementation():
    rng = np.random.default_rng(4)
    n, months = 15, 12
    curves = np.sort(rng.uniform(0, 0.3, (n, months)), axis=1)
    A = rng.uniform(0, 0.5, (n, 2))
    expo = rng.uniform(1, 2, n)
    fast = simulate_defaults(curves, A, expo, 0.4, n_paths=20_000, seed=9)
    d, loss, timing = simulate_defaults_reference(curves, A, expo, 0.4, n_paths=5_000, seed=9)
    assert stats.ks_2samp(fast.default_ratio, d).pvalue > 1e-4
    assert stats.ks_2samp(fast.loss_ratio, loss).pvalue > 1e-4


def test_same_seed_same_numbers_any_thread_count():
    rng = np.random.default_rng(0)
    n, months = 40, 24
    curves = np.sort(rng.uniform(0, 0.2, (n, months)), axis=1)
    A = np.column_stack([np.full(n, 0.4), np.repeat([0.3, 0.0], n // 2)])
    before = numba.get_num_threads()
    try:
        out = []
        for t in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(t)
            out.append(simulate_defaults(curves, A, n_paths=30_000, seed=77, block_size=1000))
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(out[0].default_ratio, out[1].default_ratio)
    assert np.array_equal(out[0].loss_ratio, out[1].loss_ratio)
    assert np.array_equal(out[0].timing, out[1].timing)
    again = simulate_defaults(curves, A, n_paths=30_000, seed=77, block_size=1000)
    assert np.array_equal(again.default_ratio, out[0].default_ratio)
    assert (again.seed, again.n_paths) == (77, 30_000)
    other = simulate_defaults(curves, A, n_paths=30_000, seed=78, block_size=1000)
    assert not np.array_equal(other.default_ratio, out[0].default_ratio)


def test_result_outputs_are_consistent():
    res = simulate_defaults(np.full(20, 0.1), np.full((20, 1), 0.5), recovery=0.4, n_paths=50_000, seed=3)
    counts, edges = res.histogram("loss", bins=30)
    assert counts.sum() == res.n_paths and edges.size == 31
    assert np.allclose(res.loss_ratio, 0.6 * res.default_ratio)
    assert res.trlr(0.01) == pytest.approx(0.6 * res.trdr(0.01))
    conv = res.convergence(0.01, steps=5)
    assert [c["n_paths"] for c in conv] == [50_000 >> s for s in range(4, -1, -1)]
    assert conv[-1]["value"] == res.trdr(0.01)
    rows = res.rating_table(term_years=5.0)
    assert rows[0]["rating"] == "AAAsf"
    trdr = [r["trdr"] for r in rows if not np.isnan(r["trdr"])]
    assert all(x >= y for x, y in zip(trdr, trdr[1:]))  # better rating -> higher target ratio


def test_bad_inputs_are_reported_together():
    with pytest.raises(ValidationError) as e:
        simulate_defaults([0.1, 1.2, -0.1], [[0.5, 0.9], [0.1, 0.1], [0.2, 0.2]], recovery=[0.1, 0.2, 1.5],
                          n_paths=10)
    text = str(e.value)
    assert "pd: must be fractions in [0, 1]" in text
    assert "sum of squared loadings must be < 1" in text
    assert "recovery: must be fractions in [0, 1]" in text
    assert len(e.value.problems) == 3
    with pytest.raises(ValidationError, match="must not fall with time"):
        simulate_defaults([[0.1, 0.05]], [[0.3]], n_paths=10)
    with pytest.raises(ValidationError, match="one row per obligor"):
        simulate_defaults([0.1, 0.2], [[0.3]], n_paths=10)
    with pytest.raises(ValidationError, match="n_paths"):
        simulate_defaults([0.1], [[0.3]], n_paths=0)


def test_counts_seeds_maturities_and_principal_that_are_not_numbers_are_reported():
    # each of these raised a bare TypeError / ValueError / OverflowError from int() or astype()
    pd, a = [0.1, 0.2], [[0.3], [0.3]]
    with pytest.raises(ValidationError) as e:
        simulate_defaults(pd, a, n_paths="x", seed=None, block_size=float("inf"))
    assert [p.where for p in e.value.problems] == ["n_paths", "seed", "block_size"]
    for bad in (float("nan"), None, "1000"):
        with pytest.raises(ValidationError, match="n_paths"):
            simulate_defaults(pd, a, n_paths=bad)
    with pytest.raises(ValidationError, match="maturity"):
        simulate_defaults(pd, a, n_paths=10, maturity=["a", "b"])
    with pytest.raises(ValidationError, match="maturity"):
        simulate_defaults(pd, a, n_paths=10, maturity=[None, 1])
    with pytest.raises(ValidationError, match="initial_principal"):
        simulate_defaults(pd, a, n_paths=10, initial_principal="abc")
    # the largest seed is still accepted; one path of a PD-1 obligor defaults for certain
    r = simulate_defaults([1.0], [[0.3]], n_paths=1, seed=2**63 - 1)
    assert r.default_ratio.tolist() == [1.0] and r.seed == 2**63 - 1


def test_quantile_levels_and_confidence_must_be_fractions():
    from xlabs.engine.portfolio.results import PortfolioResult
    dr = np.array([0.3, 0.0, 0.1, 0.6, 0.2, 0.5, 0.4])          # 7 paths, sorted 0, .1, ..., .6
    res = PortfolioResult(dr, dr, np.zeros(1), seed=0, n_paths=7, n_obligors=1, n_months=1, block_size=4096)
    # empirical inverse CDF: level q -> the ceil(7 q)-th smallest
    assert res.quantiles([0.5, 1.0]).tolist() == [0.3, 0.6]
    assert res.trdr(1 / 7) == 0.5                              # (1 - 1/7) quantile: the 6th smallest
    with pytest.raises(ValidationError, match="levels"):      # 99 (a percent) silently gave the maximum
        res.quantiles([0.5, 99])
    with pytest.raises(ValidationError, match="levels"):
        res.quantiles([0.0])
    with pytest.raises(ValidationError) as e:                 # 95 failed in int(NaN) inside scipy's binom.ppf
        res.quantile_ci(0.01, confidence=95)
    assert [p.where for p in e.value.problems] == ["confidence"]
    with pytest.raises(ValidationError) as e:
        res.quantile_ci(5, confidence=0)
    assert [p.where for p in e.value.problems] == ["p", "confidence"]
