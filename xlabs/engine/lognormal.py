"""Lognormal CDR model and target default rates (METHODOLOGY §3.3–3.5).

The pool's cumulative default rate at the horizon is lognormal; its
parameters are the MLE from the static-pool vintage CDRs, then adjusted in
the adverse direction only, and the target default rate of rating r is the
CDR exceeded with probability P_A(r).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from ..errors import Problem, ProblemList, ValidationError
from .default_table import DefaultRateTable, shipped_table
from .ratings import canonical


@dataclass(frozen=True)
class LognormalFit:
    """Parameters of ln(CDR) ~ N(mu, sigma²).

    Attributes
    ----------
    mu, sigma : float
        Location and scale of ln(CDR) (CDR a fraction).
    n : int
        Number of vintage CDRs used.
    floor : float or None
        The explicit floor that replaced zero CDRs, or None if none was used.
    floored : int
        How many CDRs the floor replaced.
    """

    mu: float
    sigma: float
    n: int
    floor: float | None = None
    floored: int = 0

    @property
    def mean(self) -> float:
        """Mean CDR of the fitted distribution, exp(mu + sigma²/2)."""
        return float(np.exp(self.mu + 0.5 * self.sigma**2))

    @property
    def median(self) -> float:
        return float(np.exp(self.mu))


@dataclass(frozen=True)
class Adjustment:
    """One adverse-only adjustment of the lognormal parameters (Pengyuan Table 1).

    ``mu_shift`` is added to mu (>= 0); ``sigma_multiplier`` multiplies sigma
    (>= 1).  ``reason`` is mandatory: the rating file must say why.
    """

    factor: str
    mu_shift: float = 0.0
    sigma_multiplier: float = 1.0
    reason: str = ""


@dataclass(frozen=True)
class AdjustedFit:
    """A fit after adjustments: ``mu' = mu + Σ shifts``, ``sigma' = sigma · Π multipliers``."""

    base: LognormalFit
    mu: float
    sigma: float
    adjustments: tuple = field(default_factory=tuple)


def fit_lognormal(cdrs, floor: float | None = None) -> LognormalFit:
    """Maximum-likelihood lognormal fit of vintage CDRs (METHODOLOGY §3.3).

    ``mu = mean(ln x)``, ``sigma² = mean((ln x)²) − mu²`` (divisor n, the MLE;
    equal to ``scipy.stats.lognorm.fit(x, floc=0)``).

    Parameters
    ----------
    cdrs : array_like, shape (n,)
        Vintage cumulative default rates at the horizon, fractions in (0, 1]
        (a row or column of n is read as n; a table is refused).
    floor : float, optional
        Explicit replacement for zero CDRs (a fraction > 0).  Without it a
        zero CDR is an error, because ln 0 cannot enter the likelihood.

    Returns
    -------
    LognormalFit

    Raises
    ------
    ValidationError
        Fewer than 2 CDRs, NaN, negative or > 1 values, zeros without a floor,
        or all CDRs equal (sigma = 0).
    """
    probs = ProblemList()
    try:
        x = np.asarray(cdrs, dtype=float)
    except (TypeError, ValueError):
        raise ValidationError([Problem("cdrs", "must be numbers (vintage CDRs, fractions)", cdrs)]) from None
    if sum(d > 1 for d in x.shape) > 1:
        # a vintages x months table flattened would fit every monthly figure as if it were a vintage
        probs.add("cdrs", "must be one CDR per vintage (a list, a row or a column), not a table", x.shape)
    x = x.ravel()
    floor_given = floor is not None
    if floor is not None:
        try:
            floor = float(floor)
        except (TypeError, ValueError):
            probs.add("floor", "CDR floor must be a fraction in (0, 1)", floor)
            floor = None
    if x.size < 2:
        probs.add("cdrs", "at least two vintage CDRs are needed for a fit", x.size)
    for i in np.flatnonzero(~np.isfinite(x)):
        probs.add(f"cdrs[{i}]", "CDR must be a number", x[i])
    for i in np.flatnonzero(np.isfinite(x) & ((x < 0) | (x > 1))):
        probs.add(f"cdrs[{i}]", "CDR must be a fraction in [0, 1]", float(x[i]))
    if floor is not None and not (0 < floor < 1):
        probs.add("floor", "CDR floor must be a fraction in (0, 1)", floor)
    zeros = np.flatnonzero(x == 0)
    if zeros.size and not floor_given:
        for i in zeros:
            probs.add(f"cdrs[{i}]", "CDR of 0 cannot enter the lognormal fit; set an explicit floor", 0.0)
    probs.raise_if_any()
    floored = int(zeros.size)
    if floored:
        x = np.where(x == 0, floor, x)
    lx = np.log(x)
    n = x.size
    mu = lx.sum() / n
    sigma = _mle_sigma(lx)
    if zero_sigma(x):
        probs.add("cdrs", "all CDRs are equal: sigma would be 0")
        probs.raise_if_any()
    return LognormalFit(mu=float(mu), sigma=sigma, n=n, floor=floor if floored else None, floored=floored)


def _mle_sigma(lx) -> float:
    """sigma of §3.3 from ln CDRs ``lx``: sqrt(mean(lx²) − mean(lx)²), divisor n."""
    n = lx.size
    var = (np.sum(lx**2) - lx.sum() ** 2 / n) / n
    return float(np.sqrt(max(var, 0.0)))


def zero_sigma(cdrs) -> bool:
    """True when vintage CDRs (fractions > 0, shape (n,)) leave the MLE sigma of §3.3 at 0.

    That is when they are equal, or equal up to floating-point rounding: a spread within 16 ulps of the
    largest, e.g. the same monthly increments summed in another order.  The variance formula turns such
    a spread into noise of either sign (sigma about 5e-8, or a negative variance), which would give
    every rating the median as its TDR, or be refused depending on the last bits.
    """
    x = np.asarray(cdrs, dtype=float).ravel()
    return not _mle_sigma(np.log(x)) > 0 or bool(np.ptp(x) <= 16 * np.spacing(np.max(x)))


def adjust(fit: LognormalFit, adjustments=()) -> AdjustedFit:
    """Apply adverse-only adjustments (METHODOLOGY §3.4).

    Each :class:`Adjustment` must have ``mu_shift >= 0``,
    ``sigma_multiplier >= 1`` and a reason; favourable adjustments are
    refused, per Pengyuan's prudence rule (only adverse, material differences
    are adjusted).
    """
    probs = ProblemList()
    mu, sigma = fit.mu, fit.sigma
    kept = []
    for k, a in enumerate(adjustments):
        where = f"adjustment {k + 1} ({a.factor})"
        if not np.isfinite(a.mu_shift) or a.mu_shift < 0:
            probs.add(where, "mu shift must be >= 0 (adjustments are adverse only)", a.mu_shift)
        if not np.isfinite(a.sigma_multiplier) or a.sigma_multiplier < 1:
            probs.add(where, "sigma multiplier must be >= 1 (adjustments are adverse only)", a.sigma_multiplier)
        if not str(a.reason or "").strip():
            probs.add(where, "every adjustment needs a recorded reason")
        mu += a.mu_shift
        sigma *= a.sigma_multiplier
        kept.append(a)
    probs.raise_if_any()
    return AdjustedFit(base=fit, mu=float(mu), sigma=float(sigma), adjustments=tuple(kept))


def target_default_rate(mu, sigma, p):
    """TDR = exp(sigma · Φ⁻¹(1 − p) + mu) (METHODOLOGY §3.4).

    The CDR that the lognormal pool CDR exceeds with probability ``p``.

    Parameters
    ----------
    mu, sigma : float or array_like
        Lognormal parameters of the pool CDR (sigma > 0); arrays broadcast against ``p``.
    p : float or array_like
        Target default probability P_A (fraction in (0, 1)); vectorised.

    Returns
    -------
    float or ndarray
        TDR as a fraction of initial pool principal (may exceed 1 for extreme
        inputs; callers cap where a physical CDR is needed).

    Raises
    ------
    ValidationError
        Every bad argument at once: mu not a finite number, sigma not a finite
        number > 0, any p not a number strictly between 0 and 1 (NaN included).
    """
    probs = ProblemList()
    try:
        p = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        probs.add("p", "must be numbers (fractions in (0, 1))", p)
        p = None
    if p is not None and not np.all((p > 0) & (p < 1)):
        bad = p[~((p > 0) & (p < 1))] if p.ndim else p
        probs.add("p", "must lie strictly between 0 and 1 (a fraction, not a percent)", float(np.ravel(bad)[0]))
    vals = {}
    for name, v, rule, ok in (("mu", mu, "must be a finite number", lambda x: True),
                              ("sigma", sigma, "sigma must be > 0 (a finite number)", lambda x: x > 0)):
        try:
            x = np.asarray(v, dtype=float)      # a number, or numbers broadcast against p (vectorised)
        except (TypeError, ValueError):
            probs.add(name, rule, v)
            continue
        good = np.isfinite(x) & ok(x)
        if not np.all(good):
            probs.add(name, rule, float(np.ravel(x[~good] if x.ndim else x)[0]))
        vals[name] = x
    if not probs and p is not None:
        try:
            np.broadcast_shapes(vals["mu"].shape, vals["sigma"].shape, p.shape)
        except ValueError:
            probs.add("mu, sigma, p", "shapes do not broadcast together",
                      f"{vals['mu'].shape}, {vals['sigma'].shape}, {p.shape}")
    probs.raise_if_any()
    out = np.exp(vals["sigma"] * ndtri(1.0 - p) + vals["mu"])
    return float(out) if out.ndim == 0 else out


def tdr_by_rating(mu: float, sigma: float, ratings, years: float,
                  table: DefaultRateTable | None = None) -> dict:
    """TDR for each target rating at a tranche term (METHODOLOGY §3.4, §2.1).

    Returns ``{rating: (P_A, TDR)}`` with canonical rating symbols.
    """
    table = table or shipped_table()
    out = {}
    for r in ratings:
        pa = float(table.probability(r, years))
        out[canonical(r)] = (pa, float(target_default_rate(mu, sigma, pa)))
    return out


def tdr_stress_multiple(base_cdr: float, multiples: dict) -> dict:
    """TDR by the stress-multiple method (METHODOLOGY §3.5): base CDR × multiple_r.

    Parameters
    ----------
    base_cdr : float
        Base-case CDR (fraction), e.g. the mean vintage CDR.
    multiples : dict
        ``{rating: multiple}`` (multiples >= 1).
    """
    probs = ProblemList()
    if not (0 <= base_cdr <= 1):
        probs.add("base CDR", "must be a fraction in [0, 1]", base_cdr)
    for r, m in multiples.items():
        if not (np.isfinite(m) and m >= 1):
            probs.add(f"stress multiple {r}", "must be >= 1", m)
    probs.raise_if_any()
    return {canonical(r): float(base_cdr * m) for r, m in multiples.items()}


def base_cdr_from_benchmark(balances, benchmark_pd: float, factors=None) -> float:
    """Pool base CDR from an industry benchmark adjusted loan by loan (§3.5).

    Each loan's PD = benchmark × product of its characteristic factors
    (``factors`` shape (n_loans,) or (n_loans, k)), capped at 1; the pool
    base CDR is the balance-weighted mean.
    """
    b = np.asarray(balances, dtype=float)
    f = np.ones_like(b) if factors is None else np.asarray(factors, dtype=float)
    if f.ndim == 2:
        f = f.prod(axis=1)
    pd = np.minimum(benchmark_pd * f, 1.0)
    return float((b * pd).sum() / b.sum())
