"""Scheduled amortisation of a loan tape (METHODOLOGY §5.1).

The pool schedule is built loan by loan and then expressed per period as two
pool-level rates on the performing balance: the scheduled amortisation
fraction ``a_t = SP_t / SB_{t-1}`` and the interest yield
``y_t = SI_t / SB_{t-1}``.  Applying them to a performing balance that
defaults and prepayments reduce pro rata reproduces the loan-level schedule
exactly (each loan's balance is scaled by the same survival factor), so a
20,000-loan tape costs the cash-flow kernel the same as one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ProblemList

LEVEL, EQUAL_PRINCIPAL, BULLET = 0, 1, 2
_CODES = {"level": LEVEL, "equal_principal": EQUAL_PRINCIPAL, "bullet": BULLET}


@dataclass(frozen=True)
class PoolSchedule:
    """Scheduled (no default, no prepayment) pool cash flows.

    Attributes
    ----------
    balance : ndarray, shape (H+1,)
        Scheduled balance at the end of period t (index 0 = cut-off).
    principal, interest : ndarray, shape (H,)
        Scheduled principal and interest of period t = 1..H.
    amort_fraction, interest_yield : ndarray, shape (H,)
        ``a_t`` and ``y_t`` as above (0 after the pool has amortised).
    """

    balance: np.ndarray
    principal: np.ndarray
    interest: np.ndarray
    amort_fraction: np.ndarray
    interest_yield: np.ndarray

    @property
    def periods(self) -> int:
        return int(self.principal.size)

    @property
    def last_period(self) -> int:
        """Last period with scheduled principal (1-based)."""
        nz = np.flatnonzero(self.balance[:-1] > 0)
        return int(nz[-1]) + 1 if nz.size else 0


def amortisation_codes(kinds) -> np.ndarray:
    """Map amortisation names to codes (0 level, 1 equal principal, 2 bullet)."""
    return np.array([_CODES[str(k)] for k in kinds], dtype=np.int64)


def loan_balances(balance, annual_rate, term, kind, frequency: int = 12, periods: int | None = None) -> np.ndarray:
    """Scheduled balance of each loan at the end of periods 0..H.

    Parameters
    ----------
    balance, annual_rate : array_like, shape (n,)
        Current principal (yuan) and annual rate (fraction).
    term : array_like of int, shape (n,)
        Remaining term in periods.
    kind : array_like of int, shape (n,)
        Codes from :func:`amortisation_codes`.
    frequency : int
        Payments per year; periodic rate = annual / frequency.
    periods : int, optional
        H; defaults to the longest term.

    Returns
    -------
    ndarray, shape (n, H+1)
    """
    b = np.asarray(balance, dtype=float)
    r = np.asarray(annual_rate, dtype=float) / frequency
    n = np.asarray(term, dtype=np.int64)
    k = np.asarray(kind, dtype=np.int64)
    H = int(n.max()) if periods is None else int(periods)
    t = np.arange(H + 1)[None, :]
    nn = n[:, None].astype(float)
    alive = t < nn
    out = np.zeros((b.size, H + 1))
    # level payment: B_t = B (g^n - g^t) / (g^n - 1), g = 1 + r; r = 0 -> linear
    g = 1.0 + r[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        level = np.where(r[:, None] > 0, b[:, None] * (g**nn - g**t) / (g**nn - 1.0), b[:, None] * (1 - t / nn))
    equal = b[:, None] * (1.0 - t / nn)
    bullet = np.broadcast_to(b[:, None], out.shape)
    out = np.where(k[:, None] == LEVEL, level, np.where(k[:, None] == EQUAL_PRINCIPAL, equal, bullet))
    return np.where(alive, np.maximum(out, 0.0), 0.0)


def pool_schedule(balance, annual_rate, term, kind, frequency: int = 12, periods: int | None = None) -> PoolSchedule:
    """Aggregate pool schedule from a loan tape (METHODOLOGY §5.1).

    Arguments as in :func:`loan_balances` (``kind`` may be names or codes).
    Interest of period t is each loan's periodic rate times its balance at
    the end of period t-1.
    """
    kind = np.asarray(kind)
    codes = amortisation_codes(kind) if kind.dtype.kind in "US" or kind.dtype == object else kind.astype(np.int64)
    probs = ProblemList()
    b = np.asarray(balance, dtype=float)
    rate = np.asarray(annual_rate, dtype=float)
    term = np.asarray(term)
    if b.size == 0:
        probs.add("loan tape", "no loans")
    if np.any(~(b > 0)):
        probs.add("loan tape", "balances must be > 0", int(np.sum(~(b > 0))))
    if np.any(~((rate >= 0) & (rate < 1))):
        probs.add("loan tape", "annual rates must be fractions in [0, 1)")
    if np.any(~(term >= 1)) or np.any(term != np.round(term)):
        probs.add("loan tape", "remaining terms must be whole periods >= 1")
    probs.raise_if_any()
    bal = loan_balances(b, rate, term.astype(np.int64), codes, frequency, periods)
    per = rate / frequency
    interest = (bal[:, :-1] * per[:, None]).sum(axis=0)
    sb = bal.sum(axis=0)
    principal = sb[:-1] - sb[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(sb[:-1] > 0, principal / sb[:-1], 0.0)
        y = np.where(sb[:-1] > 0, interest / sb[:-1], 0.0)
    return PoolSchedule(balance=sb, principal=principal, interest=interest, amort_fraction=a, interest_yield=y)
