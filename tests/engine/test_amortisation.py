"""Loan and pool amortisation schedules (xlabs/engine/amortisation.py, METHODOLOGY §5.1)."""

import numpy as np
import pytest

from xlabs.engine.amortisation import (
    BULLET,
    EQUAL_PRINCIPAL,
    LEVEL,
    amortisation_codes,
    loan_balances,
    pool_schedule,
)
from xlabs.errors import ValidationError


def _annuity(balance, annual_rate, n, freq=12):
    """Closed-form level payment P = B r / (1 - (1 + r)^-n) and the balance after t payments,
    B_t = B (1 + r)^t - P ((1 + r)^t - 1) / r, in plain Python floats."""
    r = annual_rate / freq
    pay = balance * r / (1.0 - (1.0 + r) ** (-n))
    bal = [balance * (1 + r) ** t - pay * ((1 + r) ** t - 1) / r for t in range(n + 1)]
    return pay, bal


@pytest.mark.parametrize("balance,rate,n", [(10_000.0, 0.18, 12), (50_000.0, 0.06, 36), (1234.5, 0.24, 3)])
def test_level_payment_matches_annuity(balance, rate, n):
    pay, bal = _annuity(balance, rate, n)
    s = pool_schedule([balance], [rate], [n], ["level"], periods=n + 2)
    np.testing.assert_allclose(s.balance[: n + 1], bal, rtol=1e-10, atol=1e-8)
    assert s.balance[n] == pytest.approx(0.0, abs=1e-8) and s.balance[n + 1] == 0.0
    # Each payment is the same: principal + interest = P.
    np.testing.assert_allclose(s.principal[:n] + s.interest[:n], pay, rtol=1e-10)
    # interest_t = r * B_{t-1}
    np.testing.assert_allclose(s.interest[:n], np.array(bal[:-1]) * rate / 12, rtol=1e-12)
    assert s.principal.sum() == pytest.approx(balance, rel=1e-12)
    assert s.last_period == n


def test_level_zero_rate_is_linear():
    s = pool_schedule([1200.0], [0.0], [12], ["level"])
    np.testing.assert_allclose(s.principal, 100.0)
    np.testing.assert_allclose(s.interest, 0.0)


def test_equal_principal():
    # 12,000 over 12 months at 12 % a year: 1,000 principal each month, interest 1 % of the opening balance.
    s = pool_schedule([12_000.0], [0.12], [12], ["equal_principal"])
    np.testing.assert_allclose(s.principal, 1000.0, rtol=1e-12)
    np.testing.assert_allclose(s.interest, 0.01 * (12_000.0 - 1000.0 * np.arange(12)), rtol=1e-12)
    np.testing.assert_allclose(s.amort_fraction, 1.0 / (12 - np.arange(12)), rtol=1e-12)


def test_bullet():
    # 5,000 for 6 months at 24 %: 100 interest a month, all principal in month 6.
    s = pool_schedule([5_000.0], [0.24], [6], ["bullet"], periods=8)
    np.testing.assert_allclose(s.interest, [100.0] * 6 + [0.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(s.principal, [0.0] * 5 + [5_000.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(s.balance, [5_000.0] * 6 + [0.0] * 3)
    assert s.last_period == 6


def test_pool_schedule_is_sum_of_loan_schedules():
    rng = np.random.default_rng(7)
    n = 40
    b = rng.uniform(1_000, 30_000, n)
    r = rng.uniform(0.0, 0.3, n)
    term = rng.integers(1, 37, n)
    kind = rng.choice(["level", "equal_principal", "bullet"], n)
    pool = pool_schedule(b, r, term, kind)
    H = int(term.max())
    singles = [pool_schedule([b[i]], [r[i]], [term[i]], [kind[i]], periods=H) for i in range(n)]
    for field in ("balance", "principal", "interest"):
        np.testing.assert_allclose(getattr(pool, field), sum(getattr(s, field) for s in singles), rtol=1e-10,
                                   atol=1e-6)
    # The pool rates reproduce the pool flows on the scheduled balance.
    np.testing.assert_allclose(pool.amort_fraction * pool.balance[:-1], pool.principal, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(pool.interest_yield * pool.balance[:-1], pool.interest, rtol=1e-12, atol=1e-6)
    assert pool.balance[0] == pytest.approx(b.sum()) and pool.balance[-1] == pytest.approx(0.0, abs=1e-6)
    assert pool.principal.sum() == pytest.approx(b.sum(), rel=1e-12)


def test_codes_and_loan_balances_shape():
    assert list(amortisation_codes(["level", "equal_principal", "bullet"])) == [LEVEL, EQUAL_PRINCIPAL, BULLET]
    bal = loan_balances([100.0, 100.0], [0.12, 0.12], [2, 4], [LEVEL, BULLET])
    assert bal.shape == (2, 5)
    np.testing.assert_allclose(bal[1], [100, 100, 100, 100, 0])


def test_bad_tape_lists_every_problem():
    with pytest.raises(ValidationError) as e:
        pool_schedule([100.0, -1.0], [0.1, 12.0], [0, 3], ["level", "level"])
    assert len(e.value.problems) == 3
