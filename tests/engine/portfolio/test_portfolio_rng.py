"""Distribution tests of the hand-written generators (xlabs/engine/portfolio/rng.py).

Reference values are closed forms: N(0,1) moments, tail probabilities
2 * Phi(-3) and 2 * Phi(-4) from scipy, and Kolmogorov-Smirnov tests against
scipy.stats.norm / uniform.  Tolerances are 5 standard errors of each
estimate, so a correct generator fails with probability < 1e-6 per check.
"""

import numpy as np
import pytest
from scipy import stats

from xlabs.engine.portfolio.rng import norm_cdf, norm_ppf, norm_ppf_fast, normals, uniforms

N = 4_000_000


@pytest.fixture(scope="module")
def z():
    return normals(12345, 7, N)


def test_normal_mean_and_variance(z):
    assert abs(z.mean()) < 5 / np.sqrt(N)
    # Var of the sample variance of N(0,1) is 2/N.
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2.0 / N)


@pytest.mark.parametrize("k", [3.0, 4.0])
def test_normal_tail_probabilities(z, k):
    p = 2 * stats.norm.sf(k)
    hits = np.count_nonzero(np.abs(z) > k)
    assert abs(hits - N * p) < 5 * np.sqrt(N * p * (1 - p)) + 1
    # Tails are symmetric too.
    up, down = np.count_nonzero(z > k), np.count_nonzero(z < -k)
    assert abs(up - down) < 5 * np.sqrt(N * p) + 1


def test_normal_ks_against_scipy(z):
    assert stats.kstest(z[:1_000_000], "norm").pvalue > 1e-4
    assert stats.kstest(normals(2, 0, 200_000), "norm").pvalue > 1e-4


def test_uniform_ks_and_open_interval():
    u = uniforms(99, 3, 1_000_000)
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_streams_are_reproducible_and_distinct():
    a = normals(5, 0, 1000)
    assert np.array_equal(a, normals(5, 0, 1000))
    b = normals(5, 1, 1000)
    c = normals(6, 0, 1000)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    # Neighbouring blocks are uncorrelated (|r| < 5/sqrt(n)).
    x, y = normals(5, 0, 100_000), normals(5, 1, 100_000)
    assert abs(np.corrcoef(x, y)[0, 1]) < 5 / np.sqrt(100_000)


def test_norm_cdf_and_ppf_against_scipy():
    x = np.linspace(-9, 9, 181)
    assert np.allclose([norm_cdf(v) for v in x], stats.norm.cdf(x), rtol=1e-13, atol=1e-300)
    p = np.concatenate([10.0 ** -np.arange(1, 300, 7), np.linspace(0.01, 0.99, 99), 1 - 10.0 ** -np.arange(1, 15)])
    ref = stats.norm.ppf(p)
    assert np.allclose([norm_ppf(v) for v in p], ref, rtol=1e-12, atol=1e-12)
    # The fast version keeps Acklam's bound (relative error < 1.15e-9).
    assert np.allclose([norm_ppf_fast(v) for v in p], ref, rtol=1.2e-9, atol=1e-12)
    assert norm_ppf(0.0) == -np.inf and norm_ppf(1.0) == np.inf
