"""Key-obligor default test (METHODOLOGY §4.7) against credit enhancement (§4.8).

For target rating r, the ``k_r`` largest obligors (by exposure, assets of one
obligor added up) whose shadow rating is *below* r default at once with
their recoveries (optionally haircut by a rating-specific stress, §2.3).  A
tranche passes at r when its credit enhancement (a fraction of the initial
pool principal, §4.8) covers the loss ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...errors import ProblemList
from ..ratings import SCALE, is_rating, notch
from .checks import as_float_array, check_fraction
from .tables import read_rows

KEY_OBLIGOR_FILE = "corporate_key_obligor.csv"


@lru_cache(maxsize=1)
def shipped_key_obligor_table() -> dict:
    """``{target rating: k}`` from ``xlabs/data/corporate_key_obligor.csv`` (xlabs assumption)."""
    return {SCALE[notch(r["target_rating"])]: int(r["k"]) for r in read_rows(KEY_OBLIGOR_FILE)[0]}


@dataclass(frozen=True)
class KeyObligorOutcome:
    """Result of the §4.7 test at one target rating.

    Attributes
    ----------
    rating : str
    k : int                      obligors assumed to default (table value)
    defaulted : tuple            ids of the obligors that default (fewer than k if fewer are below r)
    default_amount : float       their exposure (currency)
    loss : float                 exposure x (1 - stressed recovery) (currency)
    loss_ratio : float           loss / initial pool principal (fraction)
    credit_enhancement : float   CE tested (fraction)
    passed : bool                credit_enhancement >= loss_ratio
    """

    rating: str
    k: int
    defaulted: tuple
    default_amount: float
    loss: float
    loss_ratio: float
    credit_enhancement: float
    passed: bool


def _finite_number(v) -> bool:
    """A finite number (text such as '3' is not one: it would fail later, compared with a number)."""
    if isinstance(v, (str, bytes)):
        return False
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def _fraction(v) -> bool:
    return _finite_number(v) and 0.0 <= float(v) <= 1.0


def _whole(v) -> bool:
    return _finite_number(v) and float(v) == int(float(v))


def credit_enhancement(junior_principal: float, overcollateral: float, initial_pool: float) -> float:
    """CE = (principal of all tranches junior + overcollateral) / initial pool principal (§4.8).

    All three are currency amounts: ``junior_principal`` and ``overcollateral`` finite and >= 0,
    ``initial_pool`` > 0; anything else is reported (every problem at once) in a ValidationError.
    """
    probs = ProblemList()
    for name, v in (("junior_principal", junior_principal), ("overcollateral", overcollateral)):
        if not (_finite_number(v) and float(v) >= 0):
            probs.add(name, "must be an amount >= 0 (currency)", v)
    if not (_finite_number(initial_pool) and float(initial_pool) > 0):
        probs.add("initial_pool", "initial pool principal must be > 0", initial_pool)
    probs.raise_if_any()
    return (float(junior_principal) + float(overcollateral)) / float(initial_pool)


def key_obligor_test(ids, exposure, ratings, recovery, credit_enhancement, table: dict | None = None,
                     initial_principal: float | None = None, recovery_haircut: dict | None = None,
                     targets=None) -> list[KeyObligorOutcome]:
    """Key-obligor default test for every target rating in the table (METHODOLOGY §4.7).

    Parameters
    ----------
    ids : sequence, length n
        Obligor id of each asset (assets with one id are one obligor).
    exposure : array_like, shape (n,)
        Exposure of each asset (currency).
    ratings : sequence of str, length n
        Shadow rating of each asset's obligor.
    recovery : float or array_like, shape (n,)
        Recovery fraction of each asset (§4.2).
    credit_enhancement : float
        CE of the tranche tested (fraction of initial pool principal, §4.8).
    table : dict, optional
        ``{target rating: k}``; default the shipped (editable) table.
    initial_principal : float, optional
        Default: ``sum(exposure)``.
    recovery_haircut : dict, optional
        ``{target rating: haircut}`` (fraction in [0, 1]; ``sf`` may be omitted from the rating):
        recovery is multiplied by ``1 - haircut`` at that rating (§2.3).
    targets : sequence of str, optional
        Ratings to test (default: every rating in the table); each must be in the table.

    Raises
    ------
    ValidationError
        Every bad input at once: negative exposures, lengths that differ, ratings off the sf scale,
        recoveries, haircuts or CE outside [0, 1], a table k that is not a whole number >= 0, a
        target missing from the table, an initial principal that is not > 0.

    Returns
    -------
    list of KeyObligorOutcome, best rating first.
    """
    probs = ProblemList()
    ex = as_float_array(exposure, "exposure", probs, (1,))
    n = 0 if ex is None else ex.size
    if ex is not None and np.any(ex < 0):
        probs.add("exposure", "must be >= 0")
    ids = list(ids)
    ratings = list(ratings)
    if len(ids) != n or len(ratings) != n:
        probs.add("ids/ratings", f"need one per asset ({n})")
    bad = [r for r in ratings if not is_rating(r)]
    if bad:
        probs.add("ratings", "not on the sf scale", bad[0])
    rec = as_float_array(recovery, "recovery", probs, (0, 1))
    if rec is not None:
        if rec.ndim == 1 and rec.size != n:
            probs.add("recovery", f"needs one value per asset ({n}) or a scalar", rec.size)
            rec = None
        else:
            rec = np.broadcast_to(rec, (n,)).astype(float)
            check_fraction(rec, "recovery", probs)
    if not _fraction(credit_enhancement):
        probs.add("credit_enhancement", "must be a fraction in [0, 1]", credit_enhancement)
    raw = dict(shipped_key_obligor_table() if table is None else table)
    table, bad_rows = {}, set()
    for r, k in raw.items():
        if not is_rating(r) or not _whole(k) or k < 0:
            probs.add("key-obligor table", "rows need a rating and a whole number k >= 0", (r, k))
            bad_rows.add(SCALE[notch(r)] if is_rating(r) else r)
        else:
            table[SCALE[notch(r)]] = int(k)
    hair = {}
    for r, h in (recovery_haircut or {}).items():
        if not is_rating(r):
            probs.add("recovery_haircut", "keys must be ratings of the sf scale", r)
        elif not _fraction(h):
            probs.add(f"recovery_haircut[{r}]", "must be a fraction in [0, 1]", h)
        else:
            hair[SCALE[notch(r)]] = float(h)
    for r in targets or ():
        if not is_rating(r):
            probs.add("targets", "not a rating of the sf scale", r)
        elif SCALE[notch(r)] not in table and SCALE[notch(r)] not in bad_rows:
            probs.add("targets", "rating not in the key-obligor table (its k is unknown)", r)
    init = None
    if ex is not None:
        init = float(ex.sum()) if initial_principal is None else initial_principal
        if not (_finite_number(init) and init > 0):
            probs.add("initial_principal", "initial pool principal must be > 0 (sum of exposures by default)", init)
    probs.raise_if_any()
    init = float(init)
    # Aggregate assets by obligor.
    agg: dict = {}
    for i, oid in enumerate(ids):
        e, lossless, nt = agg.get(oid, (0.0, 0.0, notch(ratings[i])))
        agg[oid] = (e + ex[i], lossless + ex[i] * rec[i], max(nt, notch(ratings[i])))
    order = sorted(agg, key=lambda o: (-agg[o][0], str(o)))
    targets = sorted((SCALE[notch(r)] for r in (targets or table)), key=notch)
    out = []
    for r in targets:
        k = table[r]
        below = [o for o in order if agg[o][2] > notch(r)][:k]
        amount = float(sum(agg[o][0] for o in below))
        recovered = float(sum(agg[o][1] for o in below)) * (1.0 - hair.get(r, 0.0))
        loss = amount - recovered
        lr = loss / init
        out.append(KeyObligorOutcome(r, k, tuple(below), amount, loss, lr, float(credit_enhancement),
                                     bool(credit_enhancement >= lr - 1e-15)))
    return out
