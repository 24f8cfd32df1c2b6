"""Default-timing curves for the cash-flow model (METHODOLOGY §5.2, §6.2).

A timing curve has one weight per period and sums to 1: defaults of period
t are ``CDR x B0 x timing_t``.  Stress shapes are derived from the base
curve by tilting it (an xlabs convention, stated here because the
methodology names the shapes but not the formula): over the pool's life of
L periods -- the curve's span up to its last period with weight, so zeros
padding a curve to a longer horizon change nothing -- with s = (t-1)/(L-1) in [0, 1],

- front-loaded: weight ``1.5 - s`` (1.5 at the start, 0.5 at the end),
- back-loaded:  weight ``0.5 + s``,
- middle-loaded: weight ``1.5 - 2|s - 1/2|`` (0.5 at both ends, 1.5 mid-life),

multiplied into the base curve and renormalised to sum to 1.
"""

from __future__ import annotations

import numpy as np

SHAPES = ("base", "front", "middle", "back")


def fit_to_life(timing, life: int) -> np.ndarray:
    """Truncate a timing curve to ``life`` periods and renormalise to sum 1.

    Defaults timed after the pool has amortised could not happen; folding
    them back pro rata keeps the stated CDR.  If the curve has no weight in
    the first ``life`` periods, defaults are spread evenly over the life.
    """
    t = np.asarray(timing, dtype=float)[:life]
    if t.size < life:
        t = np.concatenate([t, np.zeros(life - t.size)])
    s = t.sum()
    if not s > 0:
        return np.full(life, 1.0 / life)
    return t / s


def shaped(timing, shape: str) -> np.ndarray:
    """Apply a stress shape (``base``/``front``/``middle``/``back``) to a curve.

    The tilt runs over the curve's span up to its last period with weight:
    a curve padded with zeros to a longer horizon gets the same shape."""
    t = np.asarray(timing, dtype=float)
    if shape not in SHAPES:
        raise ValueError(f"unknown timing shape {shape!r}; use one of {SHAPES}")
    pos = np.flatnonzero(t > 0)
    L = int(pos[-1]) + 1 if pos.size else t.size       # the life: trailing zeros (a longer horizon) excluded
    if shape == "base" or L <= 1:
        return t.copy()
    s = np.arange(L) / (L - 1)
    if shape == "front":
        w = 1.5 - s
    elif shape == "back":
        w = 0.5 + s
    else:
        w = 1.5 - 2.0 * np.abs(s - 0.5)
    out = t.copy()
    out[:L] *= w
    total = out.sum()
    return out / total if total > 0 else t.copy()
