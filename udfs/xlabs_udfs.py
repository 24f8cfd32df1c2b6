"""xlabs user-defined functions for Excel (xlwings).

Each workbook's ``_xlwings.conf`` names this module as its UDF module; import
the functions in Excel with the xlwings add-in's *Import Functions*.  Every
function normalises its own arguments (scalar / row / column / block, blanks,
numbers typed as text) and never raises into a cell: a problem comes back as
a short ``#XLABS: ...`` string.  Rates and probabilities are fractions.

The same functions are registered with the ``formulas`` package for headless
recalculation in the tests (see tests/excel/test_udfs_recalc.py).
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import xlwings as xw

from xlabs.engine.default_table import shipped_table
from xlabs.engine.lognormal import fit_lognormal, target_default_rate
from xlabs.engine.portfolio.bet import bet_tranche_expected_loss, diversity_score
from xlabs.engine.portfolio.semi_analytic import vasicek_quantile
from xlabs.engine.ratings import BELOW_SCALE, canonical, is_rating, shift, worst_of
from xlabs.engine.static_pool import VintageError, extrapolate_vintages
from xlabs.errors import Problem, ValidationError
from xlabs.excel.normalise import UdfInputError, cells, column, grid, is_blank, labels, matrix, number, text, vector

PREFIX = "#XLABS: "
MAX_DIVERSITY = 100_000
"""Largest diversity score XLABS_BET_EL takes (the binomial sum is O(D); 1e8 took half a minute)."""


def _cell_error(msg: str) -> str:
    msg = " ".join(str(msg).split())
    return PREFIX + (msg if len(msg) <= 120 else msg[:117] + "...")


def safe(fn):
    """Turn any exception into a short ``#XLABS:`` string (never a traceback in a cell)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UdfInputError as e:
            return _cell_error(str(e))
        except ValidationError as e:
            p = e.problems[0]
            more = f" (+{len(e.problems) - 1} more)" if len(e.problems) > 1 else ""
            return _cell_error(f"{p.where}: {p.rule}{more}" if p.where else f"{p.rule}{more}")
        except Exception as e:  # an engine defect must still not show a traceback
            return _cell_error(f"{type(e).__name__}: {e}")
    return wrapper


def errors_as_text(fn):
    """Ask xlwings for every argument's Excel errors as text ('#N/A'): by default it passes an error cell as
    None, which would be read as a blank (a CDR left out of the fit, a recovery of 0)."""
    for name in inspect.signature(fn).parameters:
        fn = xw.arg(name, err_to_str=True)(fn)
    return fn


def _rating(v, name="rating"):
    s = text(v, name)
    if not is_rating(s):
        raise UdfInputError(f"unknown rating '{s[:12]}'")
    return canonical(s)


def _fraction_open(v, name):
    x = number(v, name)
    if not 0 < x < 1:
        raise UdfInputError(f"{name} must be between 0 and 1")
    return x


@xw.func
@errors_as_text
@safe
def XLABS_TDR(mu, sigma, p):
    """TDR = min(1, exp(sigma * NORM.S.INV(1 - p) + mu)) (METHODOLOGY 3.4; a CDR cannot exceed 100 %, and
    the rating run caps it the same way).  =XLABS_TDR(mu, sigma, p)"""
    s = number(sigma, "sigma")
    if not s > 0:
        raise UdfInputError("sigma must be > 0")
    return min(1.0, float(target_default_rate(number(mu, "mu"), s, _fraction_open(p, "p"))))


@xw.func
@errors_as_text
@safe
def XLABS_TDR_RATING(mu, sigma, rating, years):
    """TDR at a target rating and term (P_A from the shipped default-rate table), capped at 1 as in the
    rating run.  =XLABS_TDR_RATING(mu, sigma, "AA", 3)"""
    s = number(sigma, "sigma")
    if not s > 0:
        raise UdfInputError("sigma must be > 0")
    y = number(years, "years")
    if not y > 0:
        raise UdfInputError("years must be > 0")
    pa = float(shipped_table().probability(_rating(rating), y))
    if not 0 < pa < 1:
        raise UdfInputError("P_A is 0 or 1 at this rating and term")
    return min(1.0, float(target_default_rate(number(mu, "mu"), s, pa)))


@xw.func
@errors_as_text
@xw.ret(expand="table")
@safe
def XLABS_FIT_LOGNORMAL(cdrs, floor=None):
    """MLE lognormal fit of vintage CDRs (3.3); spills [[mu, sigma]].  =XLABS_FIT_LOGNORMAL(B2:B31)"""
    x = vector(cdrs, "cdrs")
    fl = None if floor is None or (isinstance(floor, str) and not floor.strip()) else number(floor, "floor")
    cells = [k + 1 for k, v in enumerate(v for r in grid(cdrs, trim=True) for v in r) if not is_blank(v)]
    try:
        f = fit_lognormal(x, floor=fl)
    except ValidationError as e:
        # the engine counts the non-blank values from 0 ("cdrs[1]"); name the cell of the range instead
        raise ValidationError([Problem(_fit_cell(p.where, cells), p.rule, p.value) for p in e.problems]) from None
    return [[f.mu, f.sigma]]


def _fit_cell(where: str, cells: list) -> str:
    """``cdrs[i]`` (i-th non-blank value, from 0) -> ``cdrs cell k`` (k-th cell of the range, from 1)."""
    if where.startswith("cdrs[") and where.endswith("]") and where[5:-1].isdigit() and int(where[5:-1]) < len(cells):
        return f"cdrs cell {cells[int(where[5:-1])]}"
    return where


def _vintage_problems(e: VintageError) -> ValidationError:
    """Vintage-table problems located in the UDF's ranges: ``vintages row r col m`` (row r of the range =
    vintage r, column m = month on book m) or ``balances cell r``."""
    probs = []
    for i in e.issues:
        if i.vintage is not None and i.rule.startswith("original balance"):
            where = f"balances cell {i.vintage + 1}"
        elif i.vintage is not None:
            where = f"vintages row {i.vintage + 1}" + (f" col {i.age}" if i.age is not None else "")
        else:
            where = "vintages" + (f" col {i.age}" if i.age is not None else "")
        probs.append(Problem(where, i.rule, i.value))
    return ValidationError(probs)


def _vintage_analysis(vintages, horizon, balances):
    """:func:`extrapolate_vintages` on the UDF arguments; problems name the cell of the range."""
    m, h, b = _vintage_args(vintages, horizon, balances)
    try:
        return extrapolate_vintages(m, h, balances=b)
    except VintageError as e:
        raise _vintage_problems(e) from None


@xw.func
@errors_as_text
@xw.arg("vintages", ndim=2)    # a single row or column keeps its orientation
@xw.ret(expand="table")
@safe
def XLABS_EXTRAPOLATE(vintages, horizon, balances=None):
    """Each vintage's CDR at the horizon by the ratio method (3.2); spills a column.

    =XLABS_EXTRAPOLATE(C3:Z32, 24) with cumulative default rates, blanks where not observed.
    """
    return column(_vintage_analysis(vintages, horizon, balances).cdr)


def _vintage_args(vintages, horizon, balances):
    """(matrix, horizon, balances or None) for the vintage UDFs, one balance per vintage row."""
    m = matrix(vintages, "vintages")
    h = number(horizon, "horizon")
    if h < 1 or h != int(h):
        raise UdfInputError("horizon must be a whole number of months >= 1")
    bal = [v for r in grid(balances, trim=True) for v in r]
    while bal and is_blank(bal[-1]):
        bal.pop()                       # a column selected past the last vintage
    # a blank inside the range is refused: skipping it would give each later vintage the next one's balance
    b = vector(bal, "balances", skip_blank=False) if bal else None
    if b is not None and b.size != m.shape[0]:
        raise UdfInputError(f"balances has {b.size} values for {m.shape[0]} vintage rows")
    return m, int(h), b


@xw.func
@errors_as_text
@xw.arg("vintages", ndim=2)    # a single row or column keeps its orientation
@xw.ret(expand="table")
@safe
def XLABS_TIMING(vintages, horizon, balances=None):
    """Base default-timing curve d(m)/C(T) (3.2); spills a column summing to 1."""
    return column(_vintage_analysis(vintages, horizon, balances).timing)


@xw.func
@errors_as_text
@safe
def XLABS_PD(rating, years):
    """Cumulative default probability of a rating over a term (2.1).  =XLABS_PD("BBB", 2.5)"""
    y = number(years, "years")
    if y < 0:
        raise UdfInputError("years must be >= 0")
    return float(shipped_table().probability(_rating(rating), y))


@xw.func
@errors_as_text
@safe
def XLABS_RATING_FROM_PD(pd, years):
    """Best rating whose table PD at the term is at least pd.  =XLABS_RATING_FROM_PD(0.01, 3)"""
    p = number(pd, "pd")
    if not 0 <= p <= 1:
        raise UdfInputError("pd must be a fraction in [0, 1]")
    y = number(years, "years")
    if not y > 0:
        raise UdfInputError("years must be > 0")
    r = shipped_table().rating_for(p, y)
    return r if r is not None else "CCCsf or below"


@xw.func
@errors_as_text
@safe
def XLABS_VASICEK_QUANTILE(pd, rho, q):
    """Large-pool q-quantile of the default fraction (7.2).  =XLABS_VASICEK_QUANTILE(0.02, 0.2, 0.999)"""
    return float(vasicek_quantile(_fraction_open(q, "q"), _fraction_open(pd, "pd"), _fraction_open(rho, "rho")))


@xw.func
@errors_as_text
@safe
def XLABS_DIVERSITY_SCORE(par, industry):
    """Moody's diversity score from par amounts and industries (7.1).  =XLABS_DIVERSITY_SCORE(C2:C61, D2:D61)"""
    ind = labels(industry, "industry", trim=True)
    pg = grid(par, trim=True)
    if len(pg) > 1 and max(len(r) for r in pg) > 1:   # a block would be read row by row against the labels
        raise UdfInputError("par must be one row or one column")
    pflat = [v for r in pg for v in r]
    n = max(len(pflat), len(ind))
    pflat += [None] * (min(n, cells(par)) - len(pflat))     # the range's own empty cells, up to the other's data
    ind += [""] * (min(n, cells(industry)) - len(ind))
    while n > 0 and (n > len(pflat) or is_blank(pflat[n - 1])) and (n > len(ind) or not ind[n - 1]):
        n -= 1                                  # rows blank in both ranges at the end: a generous selection
    ind = ind[:n]
    p = vector([[v] for v in pflat[:n]], "par", skip_blank=False) if n else vector(par, "par")
    if len(ind) != p.size:
        raise UdfInputError("par and industry must have the same length")
    if any(not s for s in ind):
        raise UdfInputError("industry has a blank cell")
    if np.any(p <= 0):
        raise UdfInputError("par amounts must be > 0")
    return float(diversity_score(p, ind))


@xw.func
@errors_as_text
@safe
def XLABS_BET_EL(diversity, pd, attach, detach, recovery=0.0):
    """BET expected loss of tranche [attach, detach) as a fraction of its size (7.1).

    =XLABS_BET_EL(D, pd, attach, detach, [recovery]); D is rounded to a whole number as Excel's ROUND
    does (halves away from zero: 4.5 -> 5).
    """
    d = number(diversity, "diversity")
    if not 1 <= d <= MAX_DIVERSITY:
        raise UdfInputError(f"diversity must be between 1 and {MAX_DIVERSITY:,} (a count of independent obligors)")
    p = number(pd, "pd")
    if not 0 <= p <= 1:
        raise UdfInputError("pd must be a fraction in [0, 1]")
    a, b = number(attach, "attach"), number(detach, "detach")
    if not 0 <= a < b <= 1:
        raise UdfInputError("need 0 <= attach < detach <= 1")
    r = number(recovery, "recovery")      # omitted: 0; a blank cell is refused (0 is a recovery of its own)
    if not 0 <= r <= 1:
        raise UdfInputError("recovery must be a fraction in [0, 1]")
    return float(bet_tranche_expected_loss(int(math.floor(d + 0.5)), p, a, b, r))


@xw.func
@errors_as_text
@safe
def XLABS_NOTCH(rating, notches):
    """Move a rating down by n notches (negative = up), clamped to AAAsf..Csf.  =XLABS_NOTCH("AA", 2)"""
    n = number(notches, "notches")
    if n != int(n):
        raise UdfInputError("notches must be a whole number")
    return shift(_rating(rating), int(n))


@xw.func
@errors_as_text
@safe
def XLABS_WORST_RATING(ratings):
    """The worst (lowest) rating in a range (the 'min' of METHODOLOGY 8); a cap written as
    "CCCsf or below" on the Rating sheet makes the result "CCCsf or below", as the rating run's
    model-indicated rating.  =XLABS_WORST_RATING(B2:D2); a block (B2:D5) is read whole."""
    rs = [s for s in labels(ratings, "ratings", trim=True, block=True) if s]
    if not rs:
        raise UdfInputError("ratings is empty")
    bad = [s for s in rs if not is_rating(s) and s.strip() != BELOW_SCALE]
    if bad:
        raise UdfInputError(f"unknown rating '{bad[0][:12]}'")
    if any(s.strip() == BELOW_SCALE for s in rs):
        return BELOW_SCALE
    return worst_of(*rs)


UDFS = {name: obj for name, obj in dict(globals()).items() if name.startswith("XLABS_")}
"""Every UDF by its Excel name (used for the formulas registration)."""
