"""Obligor records -> portfolio model inputs (METHODOLOGY §4.1-§4.4).

The workbook layer fills :class:`Obligor` records; :func:`build_model_inputs`
turns them into the arrays :func:`~xlabs.engine.portfolio.simulate_defaults`
takes.  Each step is also a public function:

- :func:`pd_curves` (§4.1) - shadow rating + remaining term -> monthly
  cumulative PD curve from the default-rate table (zero after maturity is
  handled by the ``maturity`` argument of the simulation).
- :func:`exposure_schedule` - scheduled balance per month by amortisation.
- :func:`recoveries` (§4.2) - recovery fraction and lag (months).
- :func:`concentration_multipliers` (§4.3) - PD multipliers by share bands.
- :func:`correlation_model`, :func:`loadings_from_matrix` (§4.4) - the
  correlation matrix and its factor decomposition.

All shipped tables are ``xlabs/data/corporate_*.csv`` (xlabs default
assumptions; see their headers); pass a :class:`PortfolioTables` to override.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import Problem, ProblemList, ValidationError
from ..default_table import DefaultRateTable, shipped_table
from ..ratings import SCALE, is_rating, notch
from .checks import as_float_array, check_correlation_matrix, check_loadings, check_whole
from .tables import read_rows

AMORTISATION_TYPES = ("level", "equal_principal", "bullet")


@dataclass
class Obligor:
    """One obligor (or one asset of it) as the workbook supplies it.

    Attributes
    ----------
    id : str
        Obligor identifier (assets of one obligor share it).
    balance : float
        Current principal (currency), > 0.
    remaining_term : int
        Remaining term in months, >= 1.
    shadow_rating : str
        §1 rating symbol (``sf`` optional).
    rate : float
        Annual interest rate (fraction), used for level-payment amortisation.
    amortisation : str
        ``"level"`` (annuity), ``"equal_principal"`` or ``"bullet"``.
    industry, region : str
    group : str or None
        Related-party group (same group = same-group correlation add-on).
    guarantor_rating : str or None
    guarantee_type : str
        Row of the guarantee-type table (``"none"`` for no guarantee).
    collateral_type : str
        Row of the collateral table (``"none"`` for no collateral).
    appraised_value : float
        Appraised collateral value (currency), >= 0.
    seniority : str
        Row of the seniority adjustments (e.g. ``"senior_unsecured"``).
    servicer : str
        Servicer capability level (``"average"`` by default).
    """

    id: str
    balance: float
    remaining_term: int
    shadow_rating: str
    rate: float = 0.0
    amortisation: str = "bullet"
    industry: str = "other"
    region: str = "other"
    group: str | None = None
    guarantor_rating: str | None = None
    guarantee_type: str = "none"
    collateral_type: str = "none"
    appraised_value: float = 0.0
    seniority: str = "senior_unsecured"
    servicer: str = "average"


@dataclass
class PortfolioTables:
    """The rating tables of §2.4-§2.6 used to build inputs (defaults: shipped CSVs).

    Attributes
    ----------
    industry_recovery : dict industry -> base recovery (fraction); key ``"other"`` is the fallback.
    rating_adjustment : dict rating -> additive recovery adjustment.
    guarantee_uplift : dict rating -> recovery added by a guarantor of that rating.
    guarantee_factor : dict guarantee type -> factor on the uplift.
    collateral : dict collateral type -> (haircut fraction, lag months).
    seniority : dict level -> additive adjustment.
    servicer : dict level -> additive adjustment.
    concentration : dict dimension -> list of (lower, upper, multiplier).
    correlation : dict with base, same_industry, same_region, same_group, cap.
    default_rates : DefaultRateTable
    """

    industry_recovery: dict
    rating_adjustment: dict
    guarantee_uplift: dict
    guarantee_factor: dict
    collateral: dict
    seniority: dict
    servicer: dict
    concentration: dict
    correlation: dict
    default_rates: DefaultRateTable = field(default_factory=shipped_table)

    @classmethod
    def from_rows(cls, rows: dict, default_rates: DefaultRateTable | None = None) -> "PortfolioTables":
        """Tables from row dicts keyed like :data:`TABLE_FILES` (the shipped CSVs' columns).

        Values may be strings (CSV) or numbers (workbook cells).
        """
        ind = {str(r["industry"]).strip(): float(r["base_recovery"]) for r in rows["industry_recovery"]}
        rr = rows["rating_recovery"]
        adj = {SCALE[notch(str(r["rating"]))]: float(r["rating_adjustment"]) for r in rr}
        up = {SCALE[notch(str(r["rating"]))]: float(r["guarantee_uplift"]) for r in rr}
        gt = {str(r["guarantee_type"]).strip(): float(r["factor"]) for r in rows["guarantee_type"]}
        col = {str(r["collateral_type"]).strip(): (float(r["haircut"]), int(float(r["lag_months"])))
               for r in rows["collateral"]}
        sen, srv = {}, {}
        for r in rows["recovery_adjustment"]:
            (sen if str(r["kind"]).strip() == "seniority" else srv)[str(r["level"]).strip()] = float(r["adjustment"])
        conc: dict = {}
        for r in rows["concentration"]:
            conc.setdefault(str(r["dimension"]).strip(), []).append(
                (float(r["lower"]), float(r["upper"]), float(r["multiplier"])))
        corr = {str(r["parameter"]).strip(): float(r["value"]) for r in rows["correlation"]}
        out = cls(ind, adj, up, gt, col, sen, srv, conc, corr)
        if default_rates is not None:
            out.default_rates = default_rates
        return out

    @classmethod
    def shipped(cls) -> "PortfolioTables":
        """Tables from ``xlabs/data/corporate_*.csv``."""
        return cls.from_rows({k: read_rows(f)[0] for k, f in TABLE_FILES.items()})


TABLE_FILES = {
    "industry_recovery": "corporate_recovery_industry.csv",
    "rating_recovery": "corporate_recovery_rating.csv",
    "guarantee_type": "corporate_guarantee_type.csv",
    "collateral": "corporate_collateral.csv",
    "recovery_adjustment": "corporate_recovery_adjustment.csv",
    "concentration": "corporate_concentration.csv",
    "correlation": "corporate_correlation.csv",
}
"""Each portfolio table's shipped CSV (its columns are the workbook block's columns)."""


# --- §4.1 PD curves ---------------------------------------------------------
def pd_curves(ratings, terms_months, months: int | None = None, table: DefaultRateTable | None = None,
              multipliers=None) -> np.ndarray:
    """Monthly cumulative PD curves from shadow ratings (METHODOLOGY §4.1, §4.3).

    Parameters
    ----------
    ratings : sequence of str, length n
        Shadow ratings.
    terms_months : array_like of int, shape (n,), a single int for every obligor, or None with ``months``
        Remaining terms (months); the simulation stops each obligor there.
    months : int, optional
        Curve length; default ``max(terms_months)``.
    table : DefaultRateTable, optional
        Default: shipped table.
    multipliers : array_like, shape (n,), optional
        Concentration multipliers (§4.3); the curve is multiplied and capped at 1.

    Returns
    -------
    ndarray, shape (n, months)
        ``PD_i(t)`` (fraction) at the end of months t = 1..months.
    """
    table = table or shipped_table()
    probs = ProblemList()
    ratings = list(ratings)
    n = len(ratings)
    for i, r in enumerate(ratings):
        if not is_rating(r):
            probs.add(f"ratings[{i}]", "not a rating of the sf scale (AAAsf ... Csf; 'sf' may be omitted)", r)
    if terms_months is None and months is not None:
        terms_months = [months] * n                 # the curve length is all that is asked for
    elif isinstance(terms_months, (int, float, np.integer, np.floating)):
        terms_months = [terms_months] * n           # one term for every obligor
    months = _terms_and_months(terms_months, months, n, probs)
    mult = None
    if multipliers is not None:
        mult = as_float_array(multipliers, "multipliers", probs, (1,))
        if mult is not None and (mult.shape != (n,) or np.any(mult < 0)):
            probs.add("multipliers", f"needs one multiplier >= 0 per obligor ({n})", mult.size)
    probs.raise_if_any()
    out = np.array([table.monthly_curve(r, months) for r in ratings]).reshape(n, months)
    if mult is not None:
        out = np.minimum(out * mult[:, None], 1.0)
    return out


def _terms_and_months(terms_months, months, n: int, probs: ProblemList):
    """Check remaining terms (n whole months >= 1) and the curve length; return the length (or None)."""
    terms = as_float_array(terms_months, "terms_months", probs, (1,))
    if terms is not None and (terms.shape != (n,) or n == 0 or np.any(terms < 1)
                              or np.any(terms != np.round(terms))):
        probs.add("terms_months", f"needs one whole number of months >= 1 per obligor ({n})", terms.tolist())
        terms = None
    if months is None:
        return None if terms is None else int(terms.max())
    if not check_whole(months, "months", probs, 1):
        return None
    return int(months)


def exposure_schedule(balance, rate, terms_months, amortisation, months: int | None = None) -> np.ndarray:
    """Scheduled balance outstanding at the start of each month (currency), shape (n, months).

    A default in month t loses the balance outstanding during month t.
    ``balance`` (n,) currency >= 0, ``rate`` (n,) annual fractions in [0, 1), ``terms_months`` (n,) whole
    months >= 1, ``amortisation`` one type per obligor (or one for all); every bad argument is reported
    in one ValidationError.  ``"level"``: annuity at ``rate / 12``; ``"equal_principal"``: balance / term
    each month; ``"bullet"``: flat to maturity.  Zero after maturity.
    """
    probs = ProblemList()
    b = as_float_array(balance, "balance", probs, (1,))
    n = 0 if b is None else b.size
    if b is not None and np.any(b < 0):
        probs.add("balance", "balances must be >= 0 (currency)", float(b.min()))
    r = as_float_array(rate, "rate", probs, (1,))
    if r is not None and (r.shape != (n,) or np.any((r < 0) | (r >= 1))):
        probs.add("rate", f"needs one annual rate per obligor ({n}), a fraction in [0, 1) (0.06, not 6)",
                  r.tolist())
    months = _terms_and_months(terms_months, months, n, probs)
    amortisation = [amortisation] * n if isinstance(amortisation, str) else list(amortisation)
    if len(amortisation) != n:
        probs.add("amortisation", f"needs one amortisation type per obligor ({n})", len(amortisation))
    probs.raise_if_any()
    r = r / 12.0
    n_t = np.asarray(terms_months, dtype=float).astype(int)
    t = np.arange(months)[None, :]
    out = np.zeros((b.size, months))
    for i, kind in enumerate(amortisation):
        n, ti = n_t[i], t[0, : n_t[i]]
        if kind == "bullet":
            out[i, :n] = b[i]
        elif kind == "equal_principal":
            out[i, :n] = b[i] * (1.0 - ti / n)
        elif kind == "level":
            if r[i] == 0:
                out[i, :n] = b[i] * (1.0 - ti / n)
            else:
                g = (1 + r[i]) ** n
                out[i, :n] = b[i] * (g - (1 + r[i]) ** ti) / (g - 1)
        else:
            raise ValidationError([Problem(f"amortisation[{i}]", "must be one of "
                                           + ", ".join(AMORTISATION_TYPES), kind)])
    return out


# --- §4.2 recovery ------------------------------------------------------------
def recoveries(obligors, tables: PortfolioTables, exposure=None):
    """Recovery fraction and lag of each obligor (METHODOLOGY §4.2).

    ``R_i = clamp(industry base + rating adjustment + guarantee uplift(guarantor
    rating) x factor(guarantee type) + appraised value x (1 - haircut(type)) /
    exposure + seniority adjustment + servicer adjustment, 0, 1)``; all terms
    are fractions of exposure, added (xlabs' reading of §4.2, which lists the
    factors without a formula).  The lag is the collateral type's lag.

    Parameters
    ----------
    obligors : sequence of Obligor
    tables : PortfolioTables
    exposure : array_like, shape (n,), optional
        Exposure the collateral covers (currency); default each balance.

    Returns
    -------
    (recovery, lag_months) : ndarrays (n,) float, (n,) int
    """
    n = len(obligors)
    ex = np.array([o.balance for o in obligors], dtype=float) if exposure is None else np.asarray(exposure, float)
    rec = np.empty(n)
    lag = np.empty(n, dtype=np.int64)
    for i, o in enumerate(obligors):
        # the "other" row is the fallback only for an industry the table lacks (a workbook table without it
        # is fine when every obligor's industry is listed)
        base = tables.industry_recovery[o.industry if o.industry in tables.industry_recovery else "other"]
        x = base + tables.rating_adjustment[SCALE[notch(o.shadow_rating)]]
        if o.guarantor_rating and o.guarantee_type != "none":
            x += tables.guarantee_uplift[SCALE[notch(o.guarantor_rating)]] * tables.guarantee_factor[o.guarantee_type]
        haircut, lg = tables.collateral[o.collateral_type]
        if ex[i] > 0:
            x += o.appraised_value * (1.0 - haircut) / ex[i]
        x += tables.seniority[o.seniority] + tables.servicer[o.servicer]
        rec[i] = min(max(x, 0.0), 1.0)
        lag[i] = lg
    return rec, lag


# --- §4.3 concentration --------------------------------------------------------
DIMENSIONS = ("obligor", "industry", "region")


def band_problems(rows) -> list:
    """Problems of a concentration table (§4.3) as ``(row index or None, message, value)``.

    ``rows``: ``(dimension, lower, upper, multiplier)`` in table order.  Each
    dimension of :data:`DIMENSIONS` needs bands that cover [0, 1] without gap
    or overlap (sorted by ``lower``: the first starts at 0, each starts where
    the previous ends, the last ends at 1) and multipliers >= 1 (they amplify
    PDs).  Without this, a share in a gap would silently get multiplier 1.
    """
    out = []
    by_dim: dict = {}
    for k, (dim, lo, hi, mult) in enumerate(rows):
        if dim not in DIMENSIONS:
            out.append((k, f"dimension must be one of {', '.join(DIMENSIONS)}", dim))
            continue
        if not (0.0 <= lo < hi <= 1.0):
            out.append((k, "a band needs 0 <= lower < upper <= 1", f"{lo} .. {hi}"))
            continue
        if not mult >= 1.0:
            out.append((k, "a concentration multiplier amplifies the PD: it must be >= 1", mult))
        by_dim.setdefault(dim, []).append((lo, hi, k))
    for dim in DIMENSIONS:
        bands = sorted(by_dim.get(dim, []))
        if not bands:
            if not any(r[0] == dim for r in rows):        # (rows of it that are malformed are reported above)
                out.append((None, f"no '{dim}' bands: every dimension needs bands covering shares 0 to 1 "
                            "(one band 0-1 with multiplier 1 for none)", dim))
            continue
        if bands[0][0] > 1e-12:
            out.append((bands[0][2], f"the '{dim}' bands must start at 0", bands[0][0]))
        for (_, hi0, _), (lo1, _, k1) in zip(bands, bands[1:]):
            if abs(lo1 - hi0) > 1e-12:
                out.append((k1, f"the '{dim}' bands must follow on without gap or overlap: this band starts at "
                            f"{lo1:g}, the one before ends at {hi0:g}", lo1))
        if bands[-1][1] < 1.0 - 1e-12:
            out.append((bands[-1][2], f"the last '{dim}' band must end at 1", bands[-1][1]))
    return out


SHARE_TOL = 1e-12
"""A share within this of a band edge is at the edge (§4.3): a share of exactly 20 % computed in floating point
(e.g. 0.19999999999999998) falls in the band that starts at 0.20, as ``lower <= share`` says."""


def _band(bands, share):
    s = share + SHARE_TOL
    for lo, hi, mult in bands:
        if lo <= s < hi or (hi >= 1.0 - 1e-12 and s >= lo):
            return mult
    return 1.0


def concentration_multipliers(balance, obligor_id, industry, region, bands: dict) -> np.ndarray:
    """PD multiplier of each obligor (METHODOLOGY §4.3), shape (n,).

    The shares in pool principal of the obligor (all its assets), its
    industry and its region map through ``bands[dimension] = [(lower, upper,
    multiplier), ...]`` (lower <= share < upper; the top band includes 1); the
    multiplier is their product.  The caller caps PD x multiplier at 1.
    A share is the key's summed balance / the pool balance; one within
    :data:`SHARE_TOL` below a band's lower edge is at that edge.  Balances (finite, >= 0, total > 0)
    and one label of each kind per asset are checked first (ValidationError, all problems at once).
    """
    probs = ProblemList()
    b = as_float_array(balance, "balance", probs, (1,))
    if b is not None and (np.any(b < 0) or not np.any(b > 0)):
        probs.add("balance", "balances must be >= 0 with a pool total > 0 (currency)", b.tolist()[:5])
    n = 0 if b is None else b.size
    labels = {}
    for name, keys in (("obligor_id", obligor_id), ("industry", industry), ("region", region)):
        keys = [keys] if isinstance(keys, (str, bytes)) else list(keys)
        if b is not None and len(keys) != n:
            probs.add(name, f"needs one label per asset ({n})", len(keys))
        labels[name] = keys
    probs.raise_if_any()
    total = math.fsum(b)
    out = np.ones(b.size)
    for dim, keys in (("obligor", labels["obligor_id"]), ("industry", labels["industry"]),
                      ("region", labels["region"])):
        parts: dict = {}
        for k, x in zip(keys, b):
            parts.setdefault(k, []).append(x)
        # the balances of a key summed exactly, then one division: adding per-asset fractions instead
        # accumulates rounding that can put a share of exactly a band edge in the band below it
        share = {k: math.fsum(v) / total for k, v in parts.items()}
        out *= np.array([_band(bands.get(dim, []), share[k]) for k in keys])
    return out


# --- §4.4 correlation ------------------------------------------------------------
@dataclass
class CorrelationModel:
    """Correlation matrix and the factor loadings the simulation uses (§4.4).

    Attributes
    ----------
    matrix : ndarray (n, n)
        Asset correlation matrix actually simulated (after any repair).
    loadings : ndarray (n, k)
        Factor loadings, sum of squares < 1 per row; ``matrix = L L^T`` off
        the diagonal.
    factor_names : list of str
    warnings : list of str
        What was changed (PSD repair), in words.
    """

    matrix: np.ndarray
    loadings: np.ndarray
    factor_names: list
    warnings: list = field(default_factory=list)


def correlation_model(industry, region, group, params: dict) -> CorrelationModel:
    """rho_ij = base + same-industry + same-region + same-group add-ons (§4.4).

    When the sum of the add-ons stays below ``params["cap"]`` the matrix is
    exactly a factor model: one global factor (loading sqrt(base)), one per
    industry (sqrt(same_industry)), one per region, one per group with at
    least two members - so the loadings reproduce every rho_ij exactly with
    few factors.  Otherwise rho_ij is capped and the matrix goes through
    :func:`loadings_from_matrix`.
    """
    probs = ProblemList()
    ind, reg = list(industry), list(region)
    grp = [g if g not in (None, "") else None for g in group]
    n = len(ind)
    for name, labels in (("region", reg), ("group", grp)):
        if len(labels) != n:
            probs.add(name, f"needs one label per obligor, as industry ({n})", len(labels))
    vals = {}
    for k in ("base", "same_industry", "same_region", "same_group", "cap"):
        if k not in params:
            if k != "cap":
                probs.add(f"correlation.{k}", "is missing (a fraction in [0, 1))")
            vals[k] = 0.99
            continue
        try:
            vals[k] = float(params[k])
        except (TypeError, ValueError):
            probs.add(f"correlation.{k}", "must be a number (a fraction)", params[k])
            vals[k] = 0.0 if k != "cap" else 0.99
    base, si, sr, sg, cap = (vals[k] for k in ("base", "same_industry", "same_region", "same_group", "cap"))
    for k, v in (("base", base), ("same_industry", si), ("same_region", sr), ("same_group", sg)):
        if not 0 <= v < 1:
            probs.add(f"correlation.{k}", "must be a fraction in [0, 1)", v)
    if not 0 < cap < 1:
        probs.add("correlation.cap", "must be in (0, 1)", cap)
    probs.raise_if_any()
    same_i = np.array([[a == b for b in ind] for a in ind])
    same_r = np.array([[a == b for b in reg] for a in reg])
    same_g = np.array([[a is not None and a == b for b in grp] for a in grp])
    rho = base + si * same_i + sr * same_r + sg * same_g
    capped = np.any(rho[~np.eye(n, dtype=bool)] > cap) if n > 1 else False
    rho = np.minimum(rho, cap)
    np.fill_diagonal(rho, 1.0)
    if capped or base + si + sr + sg >= 1.0:
        m = loadings_from_matrix(rho)
        m.warnings.insert(0, f"correlation add-ons exceed the cap {cap}; pairwise correlations capped")
        return m
    cols, names = [np.full(n, np.sqrt(base))], ["global"]
    for label, keys, w in (("industry", ind, si), ("region", reg, sr)):
        if w > 0:
            for u in dict.fromkeys(keys):
                cols.append(np.sqrt(w) * np.array([k == u for k in keys], dtype=float))
                names.append(f"{label}:{u}")
    if sg > 0:
        counts: dict = {}
        for g in grp:
            if g is not None:
                counts[g] = counts.get(g, 0) + 1
        for u, c in counts.items():
            if c >= 2:
                cols.append(np.sqrt(sg) * np.array([g == u for g in grp], dtype=float))
                names.append(f"group:{u}")
    return CorrelationModel(rho, np.column_stack(cols), names)


def loadings_from_matrix(matrix, floor: float = 1e-6, repair: bool = True) -> CorrelationModel:
    """Factor loadings for a user correlation matrix (METHODOLOGY §4.4).

    If the smallest eigenvalue is below ``floor``, the matrix is repaired to
    the nearest positive-definite correlation matrix by eigenvalue clipping
    (eigenvalues raised to ``floor``, then rescaled to unit diagonal) and a
    warning says by how much it changed.  Then, with ``delta`` = half the
    smallest eigenvalue, ``L = cholesky(Sigma - delta I)`` gives loadings
    (n, n) with idiosyncratic weight sqrt(delta): ``L L^T + delta I = Sigma``
    exactly.  n factors: fine for tens of obligors; use
    :func:`correlation_model` or explicit loadings for large pools.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Correlation matrix.
    floor : float
        Smallest eigenvalue accepted without repair.
    repair : bool
        False: a matrix that is not positive definite is rejected instead.

    Raises
    ------
    ValidationError
        Not square, not symmetric, diagonal not 1, entries outside [-1, 1];
        not positive definite when ``repair`` is False.
    """
    probs = ProblemList()
    s = check_correlation_matrix(matrix, probs)
    probs.raise_if_any()
    warnings = []
    w, v = np.linalg.eigh(s)
    if w.min() < floor and not repair:
        probs.add("correlation", f"matrix is not positive definite (smallest eigenvalue {w.min():.3g} < {floor:g}); "
                                 "fix it or allow the nearest-PSD repair", float(w.min()))
        probs.raise_if_any()
    if w.min() < floor:
        w2 = np.maximum(w, floor)
        r = (v * w2) @ v.T
        d = np.sqrt(np.diag(r))
        r = r / np.outer(d, d)
        np.fill_diagonal(r, 1.0)
        warnings.append(f"correlation matrix is not positive definite (smallest eigenvalue {w.min():.3g}); "
                        f"{int(np.sum(w < floor))} eigenvalue(s) raised to {floor:g} and the matrix rescaled to "
                        f"unit diagonal; largest change in any correlation {np.max(np.abs(r - s)):.3g}")
        s = r
        w = np.linalg.eigvalsh(s)
    delta = 0.5 * w.min()
    L = np.linalg.cholesky(s - delta * np.eye(s.shape[0]))
    return CorrelationModel(s, L, [f"chol:{i}" for i in range(s.shape[0])], warnings)


def check_loading_input(loadings, n: int):
    """Validate user factor loadings (n, k); returns them as a CorrelationModel."""
    probs = ProblemList()
    a = check_loadings(loadings, n, probs)
    probs.raise_if_any()
    m = a @ a.T
    np.fill_diagonal(m, 1.0)
    return CorrelationModel(m, a, [f"factor:{j}" for j in range(a.shape[1])])


# --- everything together -----------------------------------------------------------
@dataclass
class ModelInputs:
    """Arrays for :func:`simulate_defaults` built from obligors (§4.1-§4.4).

    Attributes
    ----------
    ids : list of str
    pd : ndarray (n, months)      cumulative PD curves after concentration multipliers
    exposure : ndarray (n, months) scheduled balances (currency)
    recovery : ndarray (n,)        fractions
    recovery_lag : ndarray (n,)    months
    maturity : ndarray (n,)        months
    multipliers : ndarray (n,)     §4.3 PD multipliers
    correlation : CorrelationModel
    weighted_recovery : float      balance-weighted average recovery (§4.2 output)
    """

    ids: list
    pd: np.ndarray
    exposure: np.ndarray
    recovery: np.ndarray
    recovery_lag: np.ndarray
    maturity: np.ndarray
    multipliers: np.ndarray
    correlation: CorrelationModel
    weighted_recovery: float
    unit: np.ndarray | None = None

    def __post_init__(self):
        if self.unit is None:           # rows without a shared id: each row its own obligor
            first: dict = {}
            self.unit = np.array([first.setdefault(i, len(first)) for i in self.ids], dtype=np.int64)


def obligor_units(inputs: ModelInputs) -> dict:
    """The simulated obligors of :class:`ModelInputs` (§4.5): the asset rows that share an id are one
    obligor with one default time, so they default together (not as separate, merely correlated names).

    Returns a dict of arrays over the U obligors, in order of first appearance: ``ids`` (U,),
    ``pd`` (U, M) (their common curve: one shadow rating and one concentration multiplier per id),
    ``loadings`` (U, k) (one industry, region and group per id), ``exposure`` (U, M) the sum of the
    assets' scheduled balances, ``recovery`` (U,) or, when an obligor's assets recover differently,
    (U, M) the exposure-weighted recovery of what is outstanding in each month (so exposure x (1 -
    recovery) is the assets' summed loss), ``maturity`` (U,) its longest asset's term (months).
    With one asset per id the arrays are the inputs' own, unchanged."""
    u = np.asarray(inputs.unit, dtype=np.int64)
    a = np.asarray(inputs.correlation.loadings, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    n_u = int(u.max()) + 1 if u.size else 0
    if n_u == u.size:
        return {"ids": list(inputs.ids), "pd": inputs.pd, "loadings": inputs.correlation.loadings,
                "exposure": inputs.exposure, "recovery": inputs.recovery, "maturity": inputs.maturity}
    first = np.full(n_u, -1, dtype=np.int64)
    for i in range(u.size - 1, -1, -1):
        first[u[i]] = i
    probs = ProblemList()
    for i in range(u.size):
        f = first[u[i]]
        if not np.array_equal(inputs.pd[i], inputs.pd[f]):
            probs.add(f"obligors!row {i + 1}", f"obligor {inputs.ids[i]}: its assets need one PD curve (one shadow "
                      f"rating and concentration multiplier), as at row {f + 1}", inputs.ids[i])
        if not np.array_equal(a[i], a[f]):
            probs.add(f"obligors!row {i + 1}", f"obligor {inputs.ids[i]}: its assets need one correlation row (one "
                      f"industry, region and group), as at row {f + 1}", inputs.ids[i])
    probs.raise_if_any()
    ex = np.zeros((n_u, inputs.exposure.shape[1]))
    loss = np.zeros_like(ex)
    np.add.at(ex, u, inputs.exposure)
    np.add.at(loss, u, inputs.exposure * inputs.recovery[:, None])
    rec = np.zeros(n_u)
    mixed = np.zeros(n_u, dtype=bool)
    for i in range(u.size):
        rec[u[i]] = inputs.recovery[first[u[i]]]
        mixed[u[i]] |= inputs.recovery[i] != inputs.recovery[first[u[i]]]
    if mixed.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            monthly = np.where(ex > 0, loss / np.where(ex > 0, ex, 1.0), rec[:, None])
        rec = np.where(mixed[:, None], np.clip(monthly, 0.0, 1.0), rec[:, None])
    mat = np.zeros(n_u, dtype=np.int64)
    np.maximum.at(mat, u, np.asarray(inputs.maturity, dtype=np.int64))
    return {"ids": [inputs.ids[f] for f in first], "pd": np.ascontiguousarray(inputs.pd[first]),
            "loadings": np.ascontiguousarray(a[first]), "exposure": ex, "recovery": rec, "maturity": mat}


def _number(v) -> bool:
    """A finite real number (not text, None, a bool, NaN or inf)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def validate_obligors(obligors, tables: PortfolioTables) -> None:
    """Collect every problem in the obligor list (row = position) and raise once."""
    probs = ProblemList()
    if not obligors:
        probs.add("obligors", "needs at least one obligor")
    for i, o in enumerate(obligors):
        w = f"obligors!row {i + 1}"
        if not (_number(o.balance) and o.balance > 0):
            probs.add(w, "balance must be > 0", o.balance)
        if not _number(o.remaining_term) or int(o.remaining_term) != o.remaining_term or o.remaining_term < 1:
            probs.add(w, "remaining term must be a whole number of months >= 1", o.remaining_term)
        if not is_rating(o.shadow_rating):
            probs.add(w, "shadow rating is not on the sf scale", o.shadow_rating)
        if o.guarantor_rating not in (None, "") and not is_rating(o.guarantor_rating):
            probs.add(w, "guarantor rating is not on the sf scale", o.guarantor_rating)
        if not (_number(o.rate) and 0 <= o.rate < 1):
            probs.add(w, "rate must be an annual fraction in [0, 1)", o.rate)
        if o.amortisation not in AMORTISATION_TYPES:
            probs.add(w, f"amortisation must be one of {', '.join(AMORTISATION_TYPES)}", o.amortisation)
        if o.guarantee_type not in tables.guarantee_factor:
            probs.add(w, "unknown guarantee type", o.guarantee_type)
        # the same rules as the workbook's Obligors sheet: a guarantee or collateral needs what values it (§4.2)
        guaranteed = o.guarantee_type not in (None, "", "none")
        if guaranteed and not o.guarantor_rating:
            probs.add(w, "a guaranteed asset needs the guarantor's rating (no uplift would be given)",
                      o.guarantee_type)
        if o.guarantor_rating and not guaranteed:
            probs.add(w, "a guarantor rating is given but the guarantee type is 'none' (it would be ignored)",
                      o.guarantor_rating)
        if o.collateral_type not in (None, "", "none") and _number(o.appraised_value) and not o.appraised_value > 0:
            probs.add(w, "collateral needs an appraised value > 0", o.collateral_type)
        if o.collateral_type not in tables.collateral:
            probs.add(w, "unknown collateral type", o.collateral_type)
        if not (_number(o.appraised_value) and o.appraised_value >= 0):
            probs.add(w, "appraised value must be a finite number >= 0 (currency)", o.appraised_value)
        if o.seniority not in tables.seniority:
            probs.add(w, "unknown seniority", o.seniority)
        if o.servicer not in tables.servicer:
            probs.add(w, "unknown servicer level", o.servicer)
    probs.raise_if_any()


def _per_asset(cm: CorrelationModel, unit: np.ndarray) -> CorrelationModel:
    """A correlation model over obligors spread over their asset rows (``unit`` (n,) obligor of each row)."""
    if unit.size == cm.loadings.shape[0]:
        return cm
    m = cm.matrix[np.ix_(unit, unit)]
    return CorrelationModel(m, np.ascontiguousarray(cm.loadings[unit]), cm.factor_names, cm.warnings)


def _matrix_rows_agree(c: np.ndarray, unit: np.ndarray, lead: np.ndarray, ids) -> None:
    """A user correlation matrix over asset rows gives each asset of an obligor the same correlation with
    every other obligor (the assets default together); the obligor's first row is the one decomposed."""
    if unit.size == lead.size:
        return
    probs = ProblemList()
    cols = lead[unit]
    for i in range(unit.size):
        f = lead[unit[i]]
        if f != i:
            other = unit != unit[i]
            if not np.allclose(c[i, other], c[f, cols[other]]) or not np.allclose(c[other, i], c[cols[other], f]):
                probs.add(f"correlation[{i}]", f"asset row {i + 1} of obligor {ids[i]} needs the correlations of "
                          f"its first row {f + 1} (its assets default together)", ids[i])
    probs.raise_if_any()


def build_model_inputs(obligors, tables: PortfolioTables | None = None, correlation=None,
                       months: int | None = None) -> ModelInputs:
    """Obligor records -> simulation inputs (METHODOLOGY §4.1-§4.4).

    Parameters
    ----------
    obligors : sequence of Obligor
    tables : PortfolioTables, optional
        Default: :meth:`PortfolioTables.shipped`.
    correlation : None, ndarray (n, n) or ndarray (n, k)
        None: the add-on model of §4.4 from the tables; a square matrix with
        unit diagonal: a user correlation matrix; otherwise: factor loadings.
    months : int, optional
        Curve length; default the longest remaining term.
    """
    tables = tables or PortfolioTables.shipped()
    validate_obligors(obligors, tables)
    bp = band_problems([(d, lo, hi, m) for d, bands in tables.concentration.items() for lo, hi, m in bands])
    if bp:
        probs = ProblemList()
        for _, msg, value in bp:
            probs.add("concentration table", msg, value)
        probs.raise_if_any()
    n = len(obligors)
    terms = np.array([int(o.remaining_term) for o in obligors])
    months = int(terms.max()) if months is None else int(months)
    bal = np.array([o.balance for o in obligors], dtype=float)
    mult = concentration_multipliers(bal, [o.id for o in obligors], [o.industry for o in obligors],
                                     [o.region for o in obligors], tables.concentration)
    pd = pd_curves([o.shadow_rating for o in obligors], terms, months, tables.default_rates, mult)
    ex = exposure_schedule(bal, [o.rate for o in obligors], terms, [o.amortisation for o in obligors], months)
    rec, lag = recoveries(obligors, tables)
    # the correlation is between obligors (§4.4-§4.5): the assets of one id are one obligor with one default
    # time, so the add-on model and a user matrix are decomposed over each obligor's first row and its loadings
    # repeated on the obligor's other rows (two assets of one obligor are not a pair of names for the cap, and
    # a Cholesky factor never gives two rows the same loadings)
    first: dict = {}
    unit = np.array([first.setdefault(o.id, len(first)) for o in obligors], dtype=np.int64)
    lead = np.unique(unit, return_index=True)[1].astype(np.int64)      # first row of each obligor
    if correlation is None:
        lo = [obligors[i] for i in lead]
        cm = _per_asset(correlation_model([o.industry for o in lo], [o.region for o in lo], [o.group for o in lo],
                                          tables.correlation), unit)
    else:
        c = np.asarray(correlation, dtype=float)
        if c.ndim == 2 and c.shape == (n, n) and np.allclose(np.diag(c), 1.0):
            _matrix_rows_agree(c, unit, lead, [o.id for o in obligors])
            cm = _per_asset(loadings_from_matrix(c[np.ix_(lead, lead)]), unit)
        elif c.ndim == 2 and c.shape == (n, n):
            try:
                cm = check_loading_input(c, n)
            except ValidationError as e:
                # an n x n input is ambiguous: say how it was read
                raise ValidationError(list(e.problems) + [Problem(
                    "correlation", "an (n, n) array is read as a correlation matrix only when its diagonal is 1; "
                    "this one was read as factor loadings", float(np.max(np.abs(np.diag(c) - 1.0))))]) from None
        else:
            cm = check_loading_input(c, n)
    return ModelInputs([o.id for o in obligors], pd, ex, rec, lag, terms, mult, cm,
                       float(np.dot(rec, bal) / bal.sum()), unit)
