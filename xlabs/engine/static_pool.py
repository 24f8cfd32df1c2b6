"""Static-pool vintage analysis (METHODOLOGY §3.1–3.2).

Shapes: a vintage table is ``(n_vintages, n_ages)``; column ``m-1`` holds
month on book ``m``.  NaN marks "not observed yet".  All rates are fractions
of each vintage's original principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import Problem, ValidationError


@dataclass(frozen=True)
class VintageIssue:
    """A problem located in the vintage table: ``vintage`` row index (or None)
    and month-on-book ``age`` (1-based, or None)."""

    vintage: int | None
    age: int | None
    rule: str
    value: float | None = None

    def as_problem(self, where: str = "static pool") -> Problem:
        loc = where
        if self.vintage is not None:
            loc += f" vintage {self.vintage + 1}"
        if self.age is not None:
            loc += f" month {self.age}"
        return Problem(loc, self.rule, self.value)


MIN_VINTAGES_PER_AGE = 3
"""Fewest vintages observed at a month on book before a note says the average curve is thin there (§3.2)."""


def _month_ranges(months) -> str:
    """``[13, 14, 15, 20]`` -> ``"months 13-15, 20"``."""
    parts, start, prev = [], None, None
    for m in list(months) + [None]:
        if m is not None and prev is not None and m == prev + 1:
            prev = m
            continue
        if start is not None:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = m
    return ("month " if len(parts) == 1 and "-" not in parts[0] else "months ") + ", ".join(parts)


class VintageError(ValidationError):
    """Vintage-table problems; ``.issues`` keeps (vintage, age) so the
    workbook layer can name the cell."""

    def __init__(self, issues):
        self.issues = list(issues)
        super().__init__([i.as_problem() for i in self.issues])


@dataclass(frozen=True)
class VintageAnalysis:
    """Result of :func:`extrapolate_vintages`.

    Attributes
    ----------
    cdr : ndarray, shape (n_vintages,)
        Each vintage's cumulative default rate at the horizon (fraction):
        observed where mature, extrapolated (§3.2 ratio method) otherwise.
    timing : ndarray, shape (horizon,)
        Base default-timing curve, ``d̄(m) / C̄(T)``; sums to 1.
    average_incremental : ndarray, shape (horizon,)
        ``d̄(m)``, the mean incremental default rate at each age.
    average_cumulative : ndarray, shape (horizon,)
        ``C̄(m) = Σ_{k<=m} d̄(k)``.
    observed_age : ndarray of int, shape (n_vintages,)
        Last observed month on book ``a_v`` of each vintage.
    extrapolated : ndarray of bool, shape (n_vintages,)
        True where ``a_v < horizon`` (CDR is projected).
    cumulative : ndarray, shape (n_vintages, horizon)
        Observed cumulative curves, extended past ``a_v`` by the average
        curve's shape: ``CDR_v(a) · C̄(m) / C̄(a)`` (for charts).
    vintages_per_age : ndarray of int, shape (horizon,)
        How many vintages were observed at each age.
    horizon : int
        T in months.
    weighting : str
        ``"simple"`` or ``"balance"``.
    """

    cdr: np.ndarray
    timing: np.ndarray
    average_incremental: np.ndarray
    average_cumulative: np.ndarray
    observed_age: np.ndarray
    extrapolated: np.ndarray
    cumulative: np.ndarray
    vintages_per_age: np.ndarray
    horizon: int
    weighting: str
    notes: list = field(default_factory=list)


def incremental_to_cumulative(incremental) -> np.ndarray:
    """Cumulative rates from incremental ones along months (NaN stays NaN)."""
    inc = np.asarray(incremental, dtype=float)
    cum = np.cumsum(np.nan_to_num(inc), axis=-1)
    return np.where(np.isnan(inc), np.nan, cum)


def cumulative_to_incremental(cumulative) -> np.ndarray:
    """Incremental rates from cumulative ones (first month = first value)."""
    cum = np.asarray(cumulative, dtype=float)
    prev = np.concatenate([np.zeros(cum.shape[:-1] + (1,)), cum[..., :-1]], axis=-1)
    return cum - prev


def amounts_to_rates(amounts, balances) -> np.ndarray:
    """Defaulted principal amounts (yuan) divided by each vintage's original balance."""
    a = np.asarray(amounts, dtype=float)
    b = np.asarray(balances, dtype=float)
    return a / b[:, None]


def check_vintages(cumulative, balances=None) -> list[VintageIssue]:
    """Every problem in a cumulative vintage table (§3.1), none dropped.

    Rules: rates are fractions in [0, 1]; a vintage is observed from month 1
    without gaps (NaN only after the last observation); cumulative rates do
    not fall (a fall is a negative incremental default); balances > 0.
    """
    cum = np.asarray(cumulative, dtype=float)
    issues: list[VintageIssue] = []
    if cum.ndim != 2 or cum.shape[0] == 0 or cum.shape[1] == 0:
        return [VintageIssue(None, None, "the vintage table must be a non-empty 2-D table (vintages x months)")]
    if balances is not None:
        try:
            b = np.asarray(balances, dtype=float)
        except (TypeError, ValueError):
            b = None
        if b is None or b.shape != (cum.shape[0],):
            issues.append(VintageIssue(None, None, f"balances: needs one original balance (a number) per vintage "
                                       f"({cum.shape[0]})", None if b is None else b.size))
        else:
            for v in np.flatnonzero(~(b > 0)):
                issues.append(VintageIssue(int(v), None, "original balance must be > 0", float(b[v])))
    for v in range(cum.shape[0]):
        row = cum[v]
        obs = ~np.isnan(row)
        if not obs.any():
            issues.append(VintageIssue(v, 1, "vintage has no observations"))   # at month 1, its first figure
            continue
        last = int(np.flatnonzero(obs)[-1])
        for m in np.flatnonzero(~obs[: last + 1]):
            issues.append(VintageIssue(v, int(m) + 1, "missing observation before the vintage's last observed month"))
        for m in np.flatnonzero(obs):
            x = row[m]
            if x < 0 or x > 1:
                issues.append(VintageIssue(v, int(m) + 1, "default rate must be a fraction in [0, 1]", float(x)))
        # each observed month against the previous observed one (a gap is its own problem, not a fall)
        seen = np.flatnonzero(obs)
        prev = np.concatenate([[0.0], row[seen[:-1]]])
        for m in seen[row[seen] - prev < -1e-12]:
            issues.append(VintageIssue(v, int(m) + 1, "cumulative default rate falls (negative incremental default)",
                                       float(row[m])))
    return issues


def extrapolate_vintages(cumulative, horizon: int, balances=None, weighting: str | None = None) -> VintageAnalysis:
    """Vintage CDRs at the horizon by the ratio method, and the base timing curve.

    METHODOLOGY §3.2: ``d̄(m)`` is the mean incremental default rate of the
    vintages observed at age m (balance-weighted when ``balances`` is given
    and ``weighting`` is ``"balance"``), ``C̄(m) = Σ_{k<=m} d̄(k)``; a vintage
    observed to age ``a < T`` gets ``CDR_v(T) = CDR_v(a) · C̄(T) / C̄(a)``;
    ``timing(m) = d̄(m) / C̄(T)``.

    Parameters
    ----------
    cumulative : array_like, shape (n_vintages, n_ages)
        Cumulative default rates (fractions of original principal), column
        ``m-1`` = month on book m, NaN where not yet observed.
    horizon : int
        Analysis horizon T in months, a whole number >= 1 (24.5 is refused, not truncated).
    balances : array_like, shape (n_vintages,), optional
        Original principal of each vintage (any currency unit).
    weighting : {"simple", "balance"}, optional
        Averaging of incremental rates; default "balance" when balances are
        given, else "simple".

    Returns
    -------
    VintageAnalysis

    Raises
    ------
    ValidationError
        Listing every problem at once: bad rates (negative, > 1, falling
        cumulative), no vintage observed at some age <= T, C̄(T) = 0, a
        vintage whose C̄(a) = 0 with defaults to extrapolate, a vintage
        whose extrapolated CDR exceeds 1.
    """
    try:
        cum = np.asarray(cumulative, dtype=float)
    except (TypeError, ValueError):
        raise VintageError([VintageIssue(None, None, "the vintage table must hold numbers (fractions; NaN where "
                                         "not yet observed)")]) from None
    if weighting is None:
        weighting = "balance" if balances is not None else "simple"
    if weighting not in ("simple", "balance"):
        raise ValidationError([Problem("weighting", "must be 'simple' or 'balance'", weighting)])
    issues = check_vintages(cum, balances)
    try:
        h = float(horizon)
    except (TypeError, ValueError):
        h = float("nan")
    T = int(h) if np.isfinite(h) and h == int(h) else 0
    if not np.isfinite(h) or h != int(h) or T < 1:
        issues.append(VintageIssue(None, None, "horizon must be a whole number of months, at least 1", horizon))
    if weighting == "balance" and balances is None:
        issues.append(VintageIssue(None, None, "balance weighting needs vintage balances"))
    if T >= 1 and cum.ndim == 2 and cum.size:
        # Report ages nobody reached together with bad rates (one pass for the user).
        reached = (~np.isnan(cum[:, :T])).sum(axis=0)
        seen = np.flatnonzero(reached > 0)
        last = int(seen[-1]) + 1 if seen.size else 0          # the last month on book any vintage reached
        for m in range(min(T, last)):
            if reached[m] == 0:
                issues.append(VintageIssue(None, m + 1, "no vintage is observed at this month on book; "
                                           "the average curve cannot reach the horizon"))
        if T > last:                                           # one problem for the months past the data
            issues.append(VintageIssue(None, last + 1, f"no vintage is observed from month {last + 1} to the "
                                       f"horizon ({T} months): the longest history is {last} months; shorten the "
                                       "horizon or add vintage history", T))
    if issues:
        raise VintageError(issues)
    n_v, n_a = cum.shape
    if n_a < T:
        cum = np.concatenate([cum, np.full((n_v, T - n_a), np.nan)], axis=1)
    cum = cum[:, :T]
    inc = cumulative_to_incremental(np.nan_to_num(cum))
    observed = ~np.isnan(cum)
    obs_age = observed.sum(axis=1)
    counts = observed.sum(axis=0)
    w = np.ones(n_v) if weighting == "simple" else np.asarray(balances, dtype=float)
    wsum = (observed * w[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_bar = np.where(wsum > 0, (np.where(observed, inc, 0.0) * w[:, None]).sum(axis=0) / wsum, np.nan)
    for m in np.flatnonzero(counts == 0):
        issues.append(VintageIssue(None, int(m) + 1, "no vintage is observed at this month on book; "
                                   "the average curve cannot reach the horizon"))
    if issues:
        raise VintageError(issues)
    c_bar = np.cumsum(d_bar)
    if not c_bar[-1] > 0:
        raise VintageError([VintageIssue(None, T, "average cumulative default rate at the horizon is 0; "
                                         "there is no default timing to derive", float(c_bar[-1]))])
    cdr = np.empty(n_v)
    extended = np.empty((n_v, T))
    for v in range(n_v):
        a = int(obs_age[v])
        cdr_a = cum[v, a - 1]
        extended[v, :a] = cum[v, :a]
        if a >= T:
            cdr[v] = cum[v, T - 1]
            continue
        if c_bar[a - 1] <= 0:
            if cdr_a > 0:
                issues.append(VintageIssue(v, a, "average cumulative default rate at this vintage's age is 0 "
                                           "(zero denominator in the ratio method)", float(cdr_a)))
                continue
            # No defaults yet and none expected yet by the average curve: the
            # ratio is 0/0.  Project the average lifetime rate instead would
            # invent data; we keep 0 and record it.
            cdr[v] = 0.0
            extended[v, a:] = 0.0
            continue
        factor = c_bar / c_bar[a - 1]
        cdr[v] = cdr_a * factor[-1]
        extended[v, a:] = cdr_a * factor[a:]
        if cdr[v] > 1.0:        # more than the vintage's principal would default: a CDR is a fraction (§3.1)
            issues.append(VintageIssue(v, a, f"the ratio method projects this vintage's CDR at the horizon ({T} "
                                       f"months) to {cdr[v]:.1%} of its principal (its CDR by month {a} times "
                                       f"C̄({T})/C̄({a}) = {factor[-1]:.3g}); a CDR cannot exceed 100%: check the "
                                       "vintage's figures", float(cdr[v])))
    if issues:
        raise VintageError(issues)
    notes = []
    thin = np.flatnonzero(counts < MIN_VINTAGES_PER_AGE)
    if thin.size:
        notes.append(f"§3.2: the average default curve rests on fewer than {MIN_VINTAGES_PER_AGE} vintages at "
                     f"{_month_ranges(thin + 1)} (e.g. {int(counts[thin[-1]])} at month {int(thin[-1]) + 1}); the "
                     "extrapolated vintage CDRs and the default timing there depend on those vintages alone")
    for v in np.flatnonzero(obs_age < T):
        if cum[v, obs_age[v] - 1] == 0 and c_bar[obs_age[v] - 1] <= 0:
            notes.append(f"vintage {v + 1}: no defaults and no average defaults by month {obs_age[v]}; CDR kept at 0")
    return VintageAnalysis(
        cdr=cdr, timing=d_bar / c_bar[-1], average_incremental=d_bar, average_cumulative=c_bar,
        observed_age=obs_age.astype(np.int64), extrapolated=obs_age < T, cumulative=extended,
        vintages_per_age=counts.astype(np.int64), horizon=T, weighting=weighting, notes=notes,
    )
