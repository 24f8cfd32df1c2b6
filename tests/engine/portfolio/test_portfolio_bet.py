"""BET, diversity score, correlated BET and MBET (§7.1) against hand and direct computations."""

from math import comb

import numpy as np
import pytest

from xlabs.engine.portfolio import (
    bet_default_distribution,
    bet_expected_loss,
    bet_tranche_expected_loss,
    correlated_diversity,
    diversity_score,
    mbet_loss_distribution,
    shipped_diversity_table,
)
from xlabs.errors import ValidationError


def test_diversity_table_matches_seed_003_rows():
    g = shipped_diversity_table()
    seed = {1.0: 1.0, 1.5: 1.2, 2.0: 1.5, 2.5: 1.8, 3.0: 2.0, 3.5: 2.2, 4.0: 2.3, 4.5: 2.5,
            5.0: 2.7, 5.5: 2.8, 6.0: 3.0}
    for u, s in seed.items():
        assert g(u) == pytest.approx(s)
    assert g(1.25) == pytest.approx(1.1)          # halfway between 1.0 and 1.2
    assert g(11.0) > g(10.0) > g(6.0)             # extended, increasing


def test_diversity_score_hand_calculation():
    par = [1, 1, 1, 2, 0.5, 1]
    ind = ["a", "a", "b", "b", "c", "d"]
    fbar = 6.5 / 6
    u_a = 2 * (1 / fbar)                  # 1.846 -> 1.2 + 0.346/0.5 * 0.3
    u_b = 1 / fbar + 1.0                  # 1.923
    u_c = 0.5 / fbar                      # below 1: G(u) = u (xlabs row 0.0 -> 0.0)
    u_d = 1 / fbar
    hand = (1.2 + (u_a - 1.5) / 0.5 * 0.3) + (1.2 + (u_b - 1.5) / 0.5 * 0.3) + u_c + u_d
    assert diversity_score(par, ind) == pytest.approx(hand)
    # Ten equal obligors in ten industries: DS = 10; in one industry: G(10).
    assert diversity_score([1] * 10, list("abcdefghij")) == pytest.approx(10.0)
    assert diversity_score([1] * 4, ["x"] * 4) == pytest.approx(2.3)


def test_bet_against_direct_binomial():
    d, p = 12, 0.07
    direct = np.array([comb(d, j) * p ** j * (1 - p) ** (d - j) for j in range(d + 1)])
    assert np.allclose(bet_default_distribution(d, p), direct, rtol=1e-12)
    lj = np.linspace(0, 1, d + 1) ** 2
    assert bet_expected_loss(d, p, lj) == pytest.approx(float(np.dot(direct, lj)))
    # Tranche 10-30 % with recovery 0.5, direct enumeration of j.
    hand = sum(direct[j] * min(max(j / d * 0.5 - 0.1, 0), 0.2) / 0.2 for j in range(d + 1))
    assert bet_tranche_expected_loss(d, p, 0.1, 0.3, recovery=0.5) == pytest.approx(hand)


def test_correlated_diversity():
    # Independent, equal par and PD: D = N.
    n = 8
    assert correlated_diversity(np.full(n, 0.1), np.ones(n), np.eye(n)) == pytest.approx(n)
    # Perfect correlation: D = 1.
    assert correlated_diversity(np.full(n, 0.1), np.ones(n), np.ones((n, n))) == pytest.approx(1.0)
    # Hand: two assets, p = .1, .2, F = 1, 2, rho = .5.
    p, f = np.array([0.1, 0.2]), np.array([1.0, 2.0])
    s = np.sqrt(p * (1 - p)) * f
    hand = (0.1 + 0.4) * (0.9 + 1.6) / (s[0] ** 2 + s[1] ** 2 + 2 * 0.5 * s[0] * s[1])
    assert correlated_diversity(p, f, [[1, 0.5], [0.5, 1]]) == pytest.approx(hand)


def test_correlated_diversity_refuses_par_and_pd_that_leave_d_undefined():
    for par, pd, rule in (([1.0, -1.0], [0.1, 0.1], "par amounts must be >= 0"),
                          ([0.0, 0.0], [0.1, 0.1], "par amounts must be >= 0 with at least one above 0"),
                          ([1.0, 1.0], [1.0, 0.0], "every asset with par above 0 has PD 0 or 1")):
        with pytest.raises(ValidationError) as e:
            correlated_diversity(pd, par, np.eye(2))
        assert any(p.rule.startswith(rule) for p in e.value.problems), e.value.problems


@pytest.mark.parametrize("corr, rule", [
    ([[1, 0.5], [-0.5, 1]], "must be symmetric"),           # the +-0.5 cancel: D as if independent
    ([[3, 2], [2, 3]], "diagonal must be 1"),
    ([[1, 1.2], [1.2, 1]], "correlations must lie in [-1, 1]"),
    ([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]], "must be positive semi-definite"),
])
def test_correlated_diversity_refuses_what_is_not_a_correlation_matrix(corr, rule):
    n = len(corr)
    with pytest.raises(ValidationError) as e:
        correlated_diversity(np.full(n, 0.1), np.ones(n), corr)
    assert any(p.where == "corr" and p.rule.startswith(rule) for p in e.value.problems), e.value.problems


def test_mbet_single_pool_is_bet_and_two_pools_match_enumeration():
    losses, probs = mbet_loss_distribution([(5, 0.1, 50.0, 0.0)])
    assert np.allclose(losses[probs > 0], np.arange(6) * 10.0)
    assert np.allclose(probs[probs > 0], bet_default_distribution(5, 0.1))
    pools = [(3, 0.1, 30.0, 0.0), (2, 0.2, 20.0, 0.5)]   # per-default losses 10 and 5
    losses, probs = mbet_loss_distribution(pools)
    brute: dict = {}
    for j in range(4):
        for k in range(3):
            pr = comb(3, j) * 0.1 ** j * 0.9 ** (3 - j) * comb(2, k) * 0.2 ** k * 0.8 ** (2 - k)
            brute[10 * j + 5 * k] = brute.get(10 * j + 5 * k, 0.0) + pr
    for value, pr in brute.items():
        assert probs[np.argmin(np.abs(losses - value))] == pytest.approx(pr)
    assert probs.sum() == pytest.approx(1.0)


def test_bet_tranche_expected_loss_hand_value_and_refuses_percents():
    # D = 2, p = 0.1, tranche [0.3, 0.6), R = 0: L_1 = (0.5 - 0.3) / 0.3 = 2/3, L_2 = 1,
    # EL = 2 * 0.1 * 0.9 * 2/3 + 0.1**2 * 1 = 0.13
    assert bet_tranche_expected_loss(2, 0.1, 0.3, 0.6) == pytest.approx(0.13)
    # percents (30, 60, 40) and an inverted tranche are refused, all problems at once
    with pytest.raises(ValidationError) as e:
        bet_tranche_expected_loss(2, 0.1, 30, 60, 40)
    assert [p.where for p in e.value.problems] == ["attach", "detach", "recovery"]
    with pytest.raises(ValidationError, match="below detach"):
        bet_tranche_expected_loss(2, 0.1, 0.6, 0.3)
    with pytest.raises(ValidationError, match="attach"):
        bet_tranche_expected_loss(2, 0.1, 0.3, 0.3)
    with pytest.raises(ValidationError, match="recovery"):
        bet_tranche_expected_loss(2, 0.1, 0.3, 0.6, float("nan"))


def test_diversity_score_equal_par_by_hand_and_bad_industry_labels():
    # equal par: F_i / F_bar = 1, so u_k = obligors in industry k; 4, 3, 3 -> G(4) + 2 G(3) = 2.3 + 2 * 2.0
    assert diversity_score([1.0] * 10, list("aaaabbbccc")) == pytest.approx(6.3)
    assert diversity_score([5.0], ["x"]) == pytest.approx(1.0)          # one obligor: G(1) = 1
    with pytest.raises(ValidationError, match="sequence of labels"):     # "abc" was read as three industries
        diversity_score([1.0, 1.0, 1.0], "abc")
    with pytest.raises(ValidationError, match="sequence of labels"):     # was TypeError: not iterable
        diversity_score([1.0, 1.0], None)
    with pytest.raises(ValidationError) as e:                            # blanks were an industry of their own
        diversity_score([1.0, -1.0, 1.0], ["a", None, " "])
    assert [p.where for p in e.value.problems] == ["par", "industry"]


def test_bet_functions_report_bad_d_p_losses_and_subpools():
    # EL = sum_j P_j L_j: D = 2, p = 0.1, L = (0, 0.5, 1) -> 0.18 * 0.5 + 0.01 = 0.1
    assert bet_expected_loss(2, 0.1, [0, 0.5, 1]) == pytest.approx(0.1)
    with pytest.raises(ValidationError, match="losses"):      # a NaN loss gave an EL of NaN
        bet_expected_loss(2, 0.1, [0, float("nan"), 1])
    with pytest.raises(ValidationError) as e:                 # int('a') raised ValueError
        bet_tranche_expected_loss("a", 5, 0.1, 0.2)
    assert [p.where for p in e.value.problems] == ["D", "p"]
    with pytest.raises(ValidationError) as e:
        bet_default_distribution(2.6, float("nan"))
    assert [p.where for p in e.value.problems] == ["D", "p"]
    with pytest.raises(ValidationError) as e:
        mbet_loss_distribution([(2, 0.1, 100, 0.0), ("x", 0.1, -5, 40)])
    assert [p.where for p in e.value.problems] == ["sub-pool 1 D", "sub-pool 1 par", "sub-pool 1 recovery"]
