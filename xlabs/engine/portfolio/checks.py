"""Input checks shared by the portfolio model (DESIGN.md convention 4).

Each ``check_*`` function adds every problem it finds to a
:class:`~xlabs.errors.ProblemList` and returns the converted array (or None
when it cannot be converted), so a caller reports all problems at once.
"""

from __future__ import annotations

import operator

import numpy as np

from ...errors import ProblemList


def as_float_array(value, where: str, probs: ProblemList, ndim: tuple[int, ...]):
    """``value`` as a float64 array of one of the allowed ``ndim``; None on failure."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        probs.add(where, "must be numbers", value)
        return None
    if arr.ndim not in ndim:
        probs.add(where, f"must be a {' or '.join(f'{d}-d' for d in ndim)} array", arr.shape)
        return None
    if arr.size and not np.all(np.isfinite(arr)):
        probs.add(where, "must be finite numbers (no NaN or inf)", int(np.sum(~np.isfinite(arr))))
        return None
    return arr


def check_whole(value, where: str, probs: ProblemList, lo: int, hi: int | None = None) -> bool:
    """``value`` a whole number in ``[lo, hi)`` (text, None, NaN and inf included in what is refused)."""
    ok = False
    if not isinstance(value, (str, bytes, bool)) and value is not None:
        try:
            f = float(value)
            if np.isfinite(f) and f == int(f):
                i = operator.index(value) if isinstance(value, (int, np.integer)) else int(f)   # exact for big ints
                ok = i >= lo and (hi is None or i < hi)
        except (TypeError, ValueError, OverflowError):
            ok = False
    if not ok:
        probs.add(where, f"must be a whole number >= {lo}" if hi is None else
                  f"must be a whole number in [{lo}, {'2**63' if hi == 2**63 else hi})", value)
    return bool(ok)


def check_fraction(arr, where: str, probs: ProblemList) -> None:
    """Every element a fraction in [0, 1] (METHODOLOGY conventions: never percents)."""
    bad = (arr < 0) | (arr > 1)
    if np.any(bad):
        idx = np.argwhere(bad)[0]
        probs.add(where, f"must be fractions in [0, 1] ({int(bad.sum())} outside; first at index "
                         f"{tuple(int(i) for i in idx)})", float(arr[tuple(idx)]))


def check_pd_curves(pd, probs: ProblemList, where: str = "pd"):
    """PD as (n,) one horizon or (n, months) cumulative curves, fractions, non-decreasing."""
    arr = as_float_array(pd, where, probs, (1, 2))
    if arr is None:
        return None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        probs.add(where, "needs at least one obligor and one period", arr.shape)
        return None
    check_fraction(arr, where, probs)
    if arr.shape[1] > 1 and np.any(np.diff(arr, axis=1) < -1e-15):
        rows = np.flatnonzero(np.any(np.diff(arr, axis=1) < -1e-15, axis=1))
        probs.add(where, "cumulative PD curves must not fall with time (rows "
                         f"{', '.join(str(int(r)) for r in rows[:5])}{'...' if rows.size > 5 else ''})")
    return np.ascontiguousarray(arr)


def check_loadings(loadings, n: int, probs: ProblemList, where: str = "loadings"):
    """Factor loadings (n, k) with sum of squares < 1 in every row (idiosyncratic weight > 0)."""
    arr = as_float_array(loadings, where, probs, (1, 2))
    if arr is None:
        return None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] != n:
        probs.add(where, f"needs one row per obligor ({n})", arr.shape[0])
        return None
    if arr.shape[1] == 0:
        probs.add(where, "needs at least one factor column", arr.shape)
        return None
    ss = np.sum(arr * arr, axis=1)
    bad = np.flatnonzero(ss >= 1.0)
    if bad.size:
        probs.add(where, "sum of squared loadings must be < 1 in every row (idiosyncratic weight "
                         f"sqrt(1 - sum) > 0); rows {', '.join(str(int(r)) for r in bad[:5])}"
                         f"{'...' if bad.size > 5 else ''}", float(ss[bad[0]]))
    return np.ascontiguousarray(arr)


def check_correlation_matrix(matrix, probs: ProblemList, where: str = "correlation"):
    """Square, symmetric, unit diagonal, entries in [-1, 1]. PSD is checked by the caller."""
    arr = as_float_array(matrix, where, probs, (2,))
    if arr is None:
        return None
    if arr.shape[0] != arr.shape[1]:
        probs.add(where, "must be a square matrix", arr.shape)
        return None
    if not np.allclose(arr, arr.T, atol=1e-12):
        i, j = np.unravel_index(np.argmax(np.abs(arr - arr.T)), arr.shape)
        probs.add(where, f"must be symmetric (entry [{i}, {j}] differs from [{j}, {i}])",
                  (float(arr[i, j]), float(arr[j, i])))
    if not np.allclose(np.diag(arr), 1.0, atol=1e-12):
        probs.add(where, "diagonal must be 1 (a correlation matrix)")
    if np.any(np.abs(arr) > 1):
        probs.add(where, "correlations must lie in [-1, 1]", float(np.max(np.abs(arr))))
    return arr
