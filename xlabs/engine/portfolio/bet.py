"""Binomial expansion technique and diversity score (METHODOLOGY §7.1).

- :func:`diversity_score` - Moody's DS = sum over industries of
  G(sum_i min(1, F_i / F_bar)) (seed 003 eq. 2.1.1), G from the diversity
  table (``xlabs/data/corporate_diversity_score.csv``), linearly interpolated.
- :func:`bet_default_distribution`, :func:`bet_expected_loss`,
  :func:`bet_tranche_expected_loss` - D equal, independent assets.
- :func:`correlated_diversity` - the correlated-BET D of §7.1.
- :func:`mbet_loss_distribution` - MBET: sub-pools, each a BET, convolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from ...errors import ProblemList
from .checks import as_float_array, check_correlation_matrix, check_fraction, check_whole
from .tables import read_rows

DIVERSITY_FILE = "corporate_diversity_score.csv"


@dataclass(frozen=True)
class DiversityTable:
    """Industry unit value -> diversity score, interpolated linearly (§2.8).

    Attributes
    ----------
    units, scores : ndarrays (m,)
        Knots, units strictly increasing.  Beyond the last knot the last
        segment's slope is extrapolated.
    source : str
    """

    units: np.ndarray
    scores: np.ndarray
    source: str = ""

    def __call__(self, u):
        u = np.asarray(u, dtype=float)
        out = np.interp(u, self.units, self.scores)
        slope = (self.scores[-1] - self.scores[-2]) / (self.units[-1] - self.units[-2])
        out = np.where(u > self.units[-1], self.scores[-1] + slope * (u - self.units[-1]), out)
        return float(out) if out.ndim == 0 else out


@lru_cache(maxsize=1)
def shipped_diversity_table() -> DiversityTable:
    """The shipped diversity-score table (seed 003 Table 1 + documented extension)."""
    rows, source = read_rows(DIVERSITY_FILE)
    u = np.array([float(r["unit_value"]) for r in rows])
    s = np.array([float(r["diversity_score"]) for r in rows])
    return DiversityTable(u, s, source)


def industry_unit_values(par, industry) -> dict:
    """``{industry: sum_i min(1, F_i / F_bar)}`` with F_bar the mean par of all obligors (§7.1)."""
    probs = ProblemList()
    f = as_float_array(par, "par", probs, (1,))
    if f is not None and (f.size == 0 or np.any(f <= 0)):
        probs.add("par", "needs at least one obligor, all par amounts > 0")
    if isinstance(industry, (str, bytes)) or not hasattr(industry, "__iter__"):
        probs.add("industry", "must be a sequence of labels, one per obligor (a single text would be read "
                              "letter by letter)", industry)
        ind = None
    else:
        ind = list(industry)
        blank = [i for i, k in enumerate(ind) if k is None or (isinstance(k, float) and k != k)
                 or (isinstance(k, str) and not k.strip())]
        if blank:
            probs.add("industry", f"every obligor needs an industry label (blank at index {blank[0]})", len(blank))
    if f is not None and ind is not None and len(ind) != f.size:
        probs.add("industry", f"needs one industry per obligor ({f.size})", len(ind))
    probs.raise_if_any()
    fbar = f.mean()
    out: dict = {}
    for fi, k in zip(f, ind):
        out[k] = out.get(k, 0.0) + min(1.0, fi / fbar)
    return out


def diversity_score(par, industry, table: DiversityTable | None = None) -> float:
    """Moody's diversity score of a pool (METHODOLOGY §7.1, seed 003 eq. 2.1.1).

    Parameters
    ----------
    par : array_like, shape (n,)
        Par (face) amount of each obligor (currency), > 0.
    industry : sequence, length n
        Industry label of each obligor (any hashable).
    table : DiversityTable, optional
        G(.) table; default the shipped one.

    Returns
    -------
    float
        DS = sum over industries k of G(u_k), u_k = sum_{i in k} min(1, F_i / F_bar).
    """
    table = table or shipped_diversity_table()
    return float(sum(table(u) for u in industry_unit_values(par, industry).values()))


def bet_default_distribution(d: int, p: float) -> np.ndarray:
    """P_j = C(D, j) p^j (1 - p)^(D - j), j = 0..D (ndarray (D + 1,)).

    ``d`` a whole number >= 1 (round the diversity score first), ``p`` a fraction in [0, 1];
    both are checked and reported together in a ValidationError.
    """
    probs = ProblemList()
    _check_d_p(d, p, probs)
    probs.raise_if_any()
    return stats.binom.pmf(np.arange(int(d) + 1), int(d), float(p))


def _check_d_p(d, p, probs: ProblemList, where: str = "") -> bool:
    """D a whole number >= 1 and p a fraction in [0, 1] (§7.1); add problems, True when both are good."""
    n = len(probs)
    check_whole(d, f"{where}D", probs, 1)
    try:
        ok = 0.0 <= float(p) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        probs.add(f"{where}p", "must be a fraction in [0, 1]", p)
    return len(probs) == n


def bet_expected_loss(d: int, p: float, losses) -> float:
    """EL = sum_j P_j L_j (§7.1).

    Parameters
    ----------
    d : int
        Diversity score D = round(DS).
    p : float
        Pool default probability over the horizon (fraction).
    losses : array_like, shape (D + 1,)
        L_j = loss (e.g. of a tranche, from the cash-flow model) when j of the
        D equal assets default (any unit; the result has the same unit).
    """
    probs = ProblemList()
    good = _check_d_p(d, p, probs)
    lj = as_float_array(losses, "losses", probs, (1,))
    if lj is not None and good and lj.shape != (int(d) + 1,):
        probs.add("losses", f"needs D + 1 = {int(d) + 1} values (L_0 .. L_D)", lj.size)
    probs.raise_if_any()
    return float(np.dot(bet_default_distribution(d, p), lj))


def bet_tranche_expected_loss(d: int, p: float, attach: float, detach: float, recovery: float = 0.0) -> float:
    """Expected loss of tranche [A, D) as a fraction of its size, with static L_j.

    L_j = min(max(j/D (1 - R) - A, 0), D - A) / (D - A): the pool loses j/D of
    par times (1 - R) when j of D equal assets default.  (The cash-flow model
    of §5 gives L_j including excess spread; pass those to :func:`bet_expected_loss`.)

    ``attach``, ``detach`` and ``recovery`` are fractions (METHODOLOGY conventions):
    ``0 <= attach < detach <= 1`` and ``0 <= recovery <= 1``, else ValidationError
    (a percent such as 30 would otherwise put every loss below the tranche).
    """
    probs = ProblemList()
    _check_d_p(d, p, probs)
    vals = {}
    for name, v in (("attach", attach), ("detach", detach), ("recovery", recovery)):
        try:
            vals[name] = float(v)
        except (TypeError, ValueError):
            probs.add(name, "must be a number (a fraction)", v)
            continue
        if not 0.0 <= vals[name] <= 1.0:
            probs.add(name, "must be a fraction in [0, 1]", v)
    if len(vals) == 3 and all(0.0 <= v <= 1.0 for v in vals.values()) and not vals["attach"] < vals["detach"]:
        probs.add("attach", "must be below detach (0 <= attach < detach <= 1)", (attach, detach))
    probs.raise_if_any()
    attach, detach, recovery = vals["attach"], vals["detach"], vals["recovery"]
    j = np.arange(int(d) + 1)
    pool = j / int(d) * (1.0 - recovery)
    lj = np.clip(pool - attach, 0.0, detach - attach) / (detach - attach)
    return bet_expected_loss(d, p, lj)


def correlated_diversity(pd, par, corr) -> float:
    """Correlated-BET diversity (METHODOLOGY §7.1).

    ``D = (sum P_i F_i)(sum (1 - P_i) F_i) / sum_ij rho_ij sqrt(P_i(1-P_i) P_j(1-P_j)) F_i F_j``.

    Parameters
    ----------
    pd : array_like, shape (n,)
        Default probabilities (fractions).
    par : array_like, shape (n,)
        Par amounts (currency).
    corr : array_like, shape (n, n)
        Default correlation matrix (unit diagonal).

    Returns
    -------
    float
        D (not rounded).
    """
    probs = ProblemList()
    p = as_float_array(pd, "pd", probs, (1,))
    f = as_float_array(par, "par", probs, (1,))
    c = check_correlation_matrix(corr, probs, "corr")
    if p is not None:
        check_fraction(p, "pd", probs)
    if p is not None and f is not None and c is not None and (f.shape != p.shape or c.shape != (p.size, p.size)):
        probs.add("corr", "pd, par must have the same length n and corr shape (n, n)")
    if f is not None and (np.any(f < 0) or not np.any(f > 0)):
        probs.add("par", "par amounts must be >= 0 with at least one above 0", float(f.min()) if f.size else None)
    if c is not None and not probs.problems and np.linalg.eigvalsh(c).min() < -1e-10:
        # a matrix that is not a correlation matrix can make the variance below any value, or cancel it
        probs.add("corr", "must be positive semi-definite (a correlation matrix)",
                  float(np.linalg.eigvalsh(c).min()))
    probs.raise_if_any()
    sd = np.sqrt(p * (1 - p)) * f
    denom = float(sd @ c @ sd)
    if denom <= 0:
        probs.add("pd", "every asset with par above 0 has PD 0 or 1: the default variance is zero and D undefined")
        probs.raise_if_any()
    return float(np.dot(p, f) * np.dot(1 - p, f) / denom)


def mbet_loss_distribution(subpools, unit: float | None = None):
    """MBET: pool loss distribution from independent BET sub-pools, convolved (§7.1).

    Parameters
    ----------
    subpools : sequence of (D_k, p_k, par_k, recovery_k)
        Diversity (whole number), default probability (fraction), par
        (currency) and recovery (fraction) of each sub-pool; each default in
        sub-pool k loses ``par_k / D_k * (1 - recovery_k)``.
    unit : float, optional
        Grid unit (currency); each per-default loss is rounded to whole
        units.  Default: the smallest per-default loss if all are whole
        multiples of it (to 1e-9), else 1/100 of it.

    Returns
    -------
    (losses, probs) : ndarrays
        Loss values (currency) on the grid and their probabilities.
    """
    sizes = []
    probs = ProblemList()
    subpools = list(subpools)
    for k, sp in enumerate(subpools):
        try:
            d, p, par, rec = sp
        except (TypeError, ValueError):
            probs.add(f"sub-pool {k}", "must be (D, p, par, recovery)", sp)
            continue
        good = _check_d_p(d, p, probs, f"sub-pool {k} ")
        for name, v, lo_open in (("par", par, True), ("recovery", rec, False)):
            try:
                x = float(v)
                ok = np.isfinite(x) and (x > 0 if lo_open else 0.0 <= x <= 1.0)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                probs.add(f"sub-pool {k} {name}", "must be > 0 (currency)" if lo_open else
                          "must be a fraction in [0, 1]", v)
                good = False
        if good:
            sizes.append(float(par) / int(d) * (1 - float(rec)))
    probs.raise_if_any()
    sizes = np.array(sizes)
    if unit is None:
        pos = sizes[sizes > 0]
        unit = float(pos.min()) if pos.size else 1.0
        if np.any(np.abs(sizes / unit - np.round(sizes / unit)) > 1e-9):
            unit /= 100.0
    dist = np.ones(1)
    for (d, p, _par, _rec), size in zip(subpools, sizes):
        step = int(round(size / unit))
        pk = bet_default_distribution(int(d), p)
        grid = np.zeros(int(d) * step + 1)
        grid[::step if step else 1][: int(d) + 1] = pk if step else 0.0
        if step == 0:
            grid[0] = 1.0
        dist = np.convolve(dist, grid)
    return np.arange(dist.size) * unit, dist
