"""Semi-analytic one-factor loss distributions (METHODOLOGY §7.2).

One-factor Gaussian copula: obligor i defaults by the horizon when
``a_i M + sqrt(1 - a_i^2) e_i <= Phi^-1(PD_i)``, M ~ N(0, 1).  Given M the
defaults are independent with ``p_i(M) = Phi((Phi^-1(PD_i) - a_i M) / sqrt(1 - a_i^2))``.

- :func:`loss_distribution` - exact distribution of the pool loss on a grid of
  loss units by the Andersen-Sidenius-Basu (2003) recursion over obligors,
  integrated over M by Gauss-Legendre quadrature on [-8, 8] (DESIGN.md:
  >= 128 nodes; Gauss-Hermite with 32-64 nodes is 5-10 % off in the tail).
- :func:`vasicek_cdf`, :func:`vasicek_quantile` - Vasicek's large homogeneous
  pool limit of the default (or loss) fraction.
- :func:`tranche_expected_loss` - E[min(max(L - A, 0), D - A)] / (D - A).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from scipy import stats
from scipy.special import ndtri

from ...errors import ProblemList
from .checks import as_float_array, check_fraction, check_whole

DEFAULT_NODES = 256

GRID_OVERSHOOT = 1.0 / 40.0
"""How far the largest loss of :func:`loss_distribution` may exceed the pool loss it rounds (a fraction of it):
each obligor's loss is rounded to the default unit, 1/20 of the smallest loss, so by at most half of it."""


@njit(cache=True)
def _conditional_recursion(p, units, out):
    """ASB recursion: distribution of sum_i units_i 1{default_i}, independent Bernoulli(p_i).

    ``out`` (total_units + 1,) is overwritten with the probabilities.
    """
    out[:] = 0.0
    out[0] = 1.0
    top = 0
    for i in range(p.shape[0]):
        u = units[i]
        pi = p[i]
        qi = 1.0 - pi
        if u == 0:
            continue
        for loss in range(top, -1, -1):
            x = out[loss]
            out[loss + u] += x * pi
            out[loss] = x * qi
        top += u


@njit(cache=True, parallel=True)
def _integrate(c, a, units, nodes, weights, total):
    """Sum over quadrature nodes of weight x conditional distribution (nodes in parallel).

    Each node writes its own row; rows are added in node order afterwards, so
    the result does not depend on the number of threads.
    """
    s = np.sqrt(1.0 - a * a)
    n_nodes = nodes.shape[0]
    rows = np.empty((n_nodes, total + 1))
    for q in prange(n_nodes):
        m = nodes[q]
        p = np.empty(c.shape[0])
        for i in range(c.shape[0]):
            p[i] = 0.5 * math.erfc(-((c[i] - a[i] * m) / s[i]) / math.sqrt(2.0))
        cond = rows[q]
        _conditional_recursion(p, units, cond)
        w = weights[q]
        for k in range(total + 1):
            cond[k] *= w
    dist = np.zeros(total + 1)
    for q in range(n_nodes):
        for k in range(total + 1):
            dist[k] += rows[q, k]
    return dist


def gauss_legendre_normal(n_nodes: int = DEFAULT_NODES, bound: float = 8.0):
    """Nodes and weights integrating f(M) phi(M) dM over [-bound, bound].

    Returns
    -------
    (nodes, weights) : ndarrays (n_nodes,); the weights include the normal
    density and are renormalised to sum to 1 (the mass beyond +-8 is 1e-15).
    """
    t, w = np.polynomial.legendre.leggauss(int(n_nodes))
    x = bound * t
    wt = bound * w * stats.norm.pdf(x)
    return x, wt / wt.sum()


def loss_distribution(pd, loading, exposure=None, recovery=None, unit=None, n_nodes=DEFAULT_NODES):
    """Exact one-factor pool loss distribution (METHODOLOGY §7.2).

    Parameters
    ----------
    pd : array_like, shape (n,)
        Default probability of each obligor by the horizon (fraction).
    loading : float or array_like, shape (n,)
        One-factor loading a_i (asset correlation rho_ij = a_i a_j), |a_i| < 1.
    exposure : array_like, shape (n,), optional
        Exposure (currency); default 1 each.
    recovery : float or array_like, shape (n,), optional
        Recovery fraction; default 0 (then the loss is the defaulted amount).
    unit : float, optional
        Loss unit (currency).  Each obligor's loss ``exposure * (1 - R)`` is
        rounded to a whole number of units.  Default: the smallest positive
        obligor loss when every loss is a whole multiple of it (to 1e-9),
        otherwise 1/20 of it.
    n_nodes : int
        Gauss-Legendre nodes on [-8, 8] (>= 128 recommended).

    Returns
    -------
    (losses, probs) : ndarrays (K + 1,)
        ``losses[k] = k * unit`` (currency) and P(L = k * unit).

    Notes
    -----
    Cost O(n_nodes x n x K); memory n_nodes x (K + 1) doubles (nodes run in
    parallel), K = total pool loss in units: choose ``unit`` accordingly.
    """
    probs = ProblemList()
    p = as_float_array(pd, "pd", probs, (1,))
    if p is not None:
        check_fraction(p, "pd", probs)
    n = 0 if p is None else p.size
    a = as_float_array(loading, "loading", probs, (0, 1))
    if a is not None:
        a = np.broadcast_to(a, (n,)).astype(float) if a.ndim == 0 or a.size == n else None
        if a is None:
            probs.add("loading", f"needs one value per obligor ({n}) or a scalar")
        elif np.any(np.abs(a) >= 1):
            probs.add("loading", "|loading| must be < 1", float(np.max(np.abs(a))))
    e = np.ones(n) if exposure is None else as_float_array(exposure, "exposure", probs, (1,))
    if e is not None and (e.size != n or np.any(e < 0)):
        probs.add("exposure", f"needs {n} values >= 0")
    r = np.zeros(n) if recovery is None else as_float_array(recovery, "recovery", probs, (0, 1))
    if r is not None:
        if r.ndim == 1 and r.size != n:
            probs.add("recovery", f"needs one value per obligor ({n}) or a scalar", r.size)
        else:
            r = np.broadcast_to(r, (n,)).astype(float)
            check_fraction(r, "recovery", probs)
    if unit is not None:
        try:
            unit_ok = bool(np.isfinite(float(unit)) and float(unit) > 0)
        except (TypeError, ValueError):
            unit_ok = False
        if not unit_ok:
            probs.add("unit", "loss unit must be a number > 0 (currency)", unit)
    check_whole(n_nodes, "n_nodes", probs, 2)
    probs.raise_if_any()
    amount = e * (1.0 - r)
    if unit is None:
        pos = amount[amount > 0]
        unit = float(pos.min()) if pos.size else 1.0
        ratio = amount / unit
        if np.any(np.abs(ratio - np.round(ratio)) > 1e-9):
            unit /= 20.0
    unit = float(unit)
    units = np.round(amount / unit).astype(np.int64)
    total = int(units.sum())
    with np.errstate(divide="ignore"):
        c = ndtri(p)
    x, w = gauss_legendre_normal(n_nodes)
    dist = _integrate(np.ascontiguousarray(c), np.ascontiguousarray(a), units, x, w, total)
    return np.arange(total + 1) * unit, dist


def default_count_distribution(pd, loading, n_nodes=DEFAULT_NODES):
    """P(number of defaults = j), j = 0..n, in the one-factor model (ndarray (n + 1,))."""
    return loss_distribution(pd, loading, None, None, unit=1.0, n_nodes=n_nodes)[1]


def tranche_expected_loss(losses, probs, attach, detach):
    """Expected tranche loss as a fraction of tranche size.

    Parameters
    ----------
    losses, probs : ndarrays (K,)
        Pool loss values (fraction of pool notional) and their probabilities.
    attach, detach : float
        Tranche attachment and detachment points (fractions, 0 <= A < D <= 1).

    Returns
    -------
    float
        ``E[min(max(L - A, 0), D - A)] / (D - A)``.

    Raises
    ------
    ValidationError
        Every problem at once: losses not fractions in [0, 1] (e.g. the currency
        losses of :func:`loss_distribution`, not yet divided by the pool notional;
        its loss grid may end up to :data:`GRID_OVERSHOOT` above the pool's loss,
        and such a loss is taken, clipped at detach like any loss above it),
        probs not one probability >= 0 per loss summing to 1, attach/detach not
        fractions with attach < detach.
    """
    probs_ = ProblemList()
    lv = as_float_array(losses, "losses", probs_, (1,))
    # a loss just above 1 is the grid of loss_distribution rounding each obligor's loss up (clipped at detach
    # below); currency losses, not yet divided by the notional, are far above it
    too_big = lv is not None and np.any(lv > 1.0 + GRID_OVERSHOOT + 1e-9)
    if lv is not None and (np.any(lv < 0) or too_big):
        probs_.add("losses", "must be fractions of the pool notional in [0, 1] (divide currency losses by the "
                             "pool notional)", float(lv.max() if too_big else lv.min()))
    pv = as_float_array(probs, "probs", probs_, (1,))
    if pv is not None and lv is not None and pv.shape != lv.shape:
        probs_.add("probs", f"needs one probability per loss ({lv.size})", pv.size)
    elif pv is not None and (np.any(pv < -1e-12) or abs(pv.sum() - 1.0) > 1e-6):
        probs_.add("probs", "must be probabilities >= 0 summing to 1", float(pv.sum()))
    try:
        a, d = float(attach), float(detach)
        ok = 0 <= a < d <= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        probs_.add("attach/detach", "need 0 <= attach < detach <= 1 (fractions)", (attach, detach))
    probs_.raise_if_any()
    tl = np.clip(lv - a, 0.0, d - a)
    return float(np.dot(tl, pv) / (d - a))


def _vasicek_args(first, pd, rho):
    """Check the arguments of :func:`vasicek_cdf` / :func:`vasicek_quantile` (all problems at once).

    ``first`` is ``(name, value, closed)``: the level x or q, a fraction in [0, 1]; ``pd`` a fraction
    in [0, 1] (0 and 1: a pool that never or surely defaults, see :func:`_vasicek_sure`); ``rho`` a
    fraction strictly inside (0, 1), as the closed forms of §7.2 need (a percent such as 2 would
    otherwise come back as NaN).
    """
    probs = ProblemList()
    out = []
    for name, v, closed in (first, ("pd", pd, True), ("rho", rho, False)):
        a = as_float_array(v, name, probs, (0, 1))
        if a is None:
            out.append(None)
            continue
        bad = (a < 0) | (a > 1) if closed else (a <= 0) | (a >= 1)
        if np.any(bad):
            probs.add(name, "must be a fraction in " + ("[0, 1]" if closed else "(0, 1)"),
                      float(a[bad][0]) if a.ndim else float(a))
        out.append(a)
    probs.raise_if_any()
    return out


def _vasicek_sure(out, pd, value_at_0, value_at_1):
    """The closed form where ``pd`` is 0 or 1: the default fraction is then 0 or 1 on every path, and the
    formula's Phi^-1(0) = -inf or Phi^-1(1) = inf meets an infinity of the other sign at x or q = 0 or 1."""
    out = np.where(pd == 0.0, value_at_0, out)
    return np.where(pd == 1.0, value_at_1, out)


def vasicek_cdf(x, pd, rho):
    """Vasicek large-pool CDF of the default fraction (METHODOLOGY §7.2).

    ``P(L <= x) = Phi((sqrt(1 - rho) Phi^-1(x) - Phi^-1(pd)) / sqrt(rho))``.

    Parameters
    ----------
    x : float or array_like
        Default fraction(s) in [0, 1].
    pd : float
        Obligor default probability (fraction), 0 <= pd <= 1 (0: P(L <= x) = 1; 1: 1 at x = 1, else 0).
    rho : float
        Asset correlation, 0 < rho < 1.
    """
    x, pd, rho = _vasicek_args(("x", x, True), pd, rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = stats.norm.cdf((np.sqrt(1 - rho) * ndtri(x) - ndtri(pd)) / np.sqrt(rho))
    out = _vasicek_sure(out, pd, 1.0, np.where(x >= 1.0, 1.0, 0.0))
    return float(out) if out.ndim == 0 else out


def vasicek_quantile(q, pd, rho):
    """Vasicek large-pool q-quantile of the default fraction.

    ``x_q = Phi((Phi^-1(pd) + sqrt(rho) Phi^-1(q)) / sqrt(1 - rho))``; for a
    target default probability P_A use ``q = 1 - P_A`` (the TRDR of §4.5 in
    the large-pool limit).  ``pd`` 0 or 1 gives 0 or 1 at every q.
    """
    q, pd, rho = _vasicek_args(("q", q, True), pd, rho)
    with np.errstate(invalid="ignore"):
        out = stats.norm.cdf((ndtri(pd) + np.sqrt(rho) * ndtri(q)) / np.sqrt(1 - rho))
    out = _vasicek_sure(out, pd, 0.0, 1.0)
    return float(out) if out.ndim == 0 else out
