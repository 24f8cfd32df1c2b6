"""From a consumer deal and a scenario to kernel arrays, and back to tables (METHODOLOGY §5, §6.1).

:func:`build_inputs` turns a :class:`~xlabs.model.ConsumerDeal`, its pool
schedule, a base timing curve and a :class:`~xlabs.model.StressScenario`
into :class:`CashflowInputs` (contiguous float64/int64 arrays);
:func:`run` evaluates one CDR and returns tidy per-period tables;
:func:`breakeven` finds a tranche's BDR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ProblemList
from . import cashflow as k
from .amortisation import PoolSchedule
from .timing import fit_to_life, shaped

BDR_GRID_STEP = 0.02
BDR_FINE_STEP = 0.001
BDR_TOL = 1e-4


@dataclass(frozen=True)
class CashflowInputs:
    """Kernel arrays for one deal under one scenario (H periods, J tranches)."""

    b0: float
    timing: np.ndarray        # (H,)
    amort: np.ndarray         # (H,)
    yld: np.ndarray           # (H,)
    smm: np.ndarray           # (H,)
    rec_rate: float
    rec_lag: int
    tr_bal0: np.ndarray       # (J,)
    tr_coupon: np.ndarray     # (J, H) periodic
    tr_timely: np.ndarray     # (J,) int64
    n_cover: int
    tax_rate: float
    fee_rate: float           # periodic, on performing balance
    fee_fixed: float          # per period
    reserve0: float
    reserve_k: float
    trigger: np.ndarray       # (H,)
    names: tuple = ()

    @property
    def periods(self) -> int:
        return int(self.timing.size)

    def args(self):
        """Positional arguments of the kernel after ``cdr``."""
        return (self.b0, self.timing, self.amort, self.yld, self.smm, float(self.rec_rate), np.int64(self.rec_lag),
                self.tr_bal0, self.tr_coupon, self.tr_timely, np.int64(self.n_cover), float(self.tax_rate),
                float(self.fee_rate), float(self.fee_fixed), float(self.reserve0), float(self.reserve_k),
                self.trigger)


def smm_from_cpr(cpr: float, frequency: int = 12) -> float:
    """Periodic prepayment rate: SMM = 1 − (1 − CPR)^(1/frequency) (§5.2)."""
    return 1.0 - (1.0 - cpr) ** (1.0 / frequency)


def horizon(deal, schedule: PoolSchedule) -> int:
    """Kernel horizon H: the legal final period if given, else the pool's
    last period plus the recovery lag (so every recovery lands).  With a
    revolving period (a deal's own waterfall) the pool lasts until the last
    assets bought mature: the end of the revolving period plus their term."""
    if deal.legal_final_months:
        return int(deal.legal_final_months)
    return int(pool_life(deal, schedule.last_period) + deal.assumptions.recovery_lag + 1)


def pool_life(deal, tape_life: int) -> int:
    """Last period with scheduled assets: the tape's, or that of the last purchase of a revolving period."""
    rev = getattr(getattr(deal, "waterfall", None), "revolving", None)
    if rev is None:
        return int(tape_life)
    return max(int(tape_life), int(rev.end_period) + int(rev.term))


def build_inputs(deal, schedule: PoolSchedule, base_timing, scenario=None) -> CashflowInputs:
    """Kernel inputs for ``deal`` under ``scenario`` (None = base case).

    Parameters
    ----------
    deal : ConsumerDeal
    schedule : PoolSchedule
        From :func:`~xlabs.engine.amortisation.pool_schedule` of the tape.
    base_timing : array_like
        Base default-timing curve (§3.2), any length; it is fitted to the
        pool's life and shaped by the scenario's ``timing``.
    scenario : StressScenario, optional
    """
    a = deal.assumptions
    f = deal.frequency
    life = max(schedule.last_period, 1)
    H = horizon(deal, schedule)
    probs = ProblemList()
    if H < 1:
        probs.add("Deal", "legal final must be at least one period", H)
    probs.raise_if_any()
    shape = scenario.timing if scenario is not None else "base"
    tim = shaped(fit_to_life(base_timing, life), shape)
    timing = np.zeros(H)
    n = min(H, life)
    timing[:n] = tim[:n]

    def pad(x):
        out = np.zeros(H)
        m = min(H, x.size)
        out[:m] = x[:m]
        return out

    cpr = a.cpr * (scenario.cpr_multiplier if scenario is not None else 1.0)
    cpr = min(max(cpr, 0.0), 1.0)
    smm = np.full(H, smm_from_cpr(cpr, f))
    rec = a.recovery_rate * (1.0 - (scenario.recovery_haircut if scenario is not None else 0.0))
    lag = a.recovery_lag + (scenario.recovery_lag_extra if scenario is not None else 0)
    coupon_up = scenario.coupon_up if scenario is not None else 0.0
    tr = deal.tranches
    coupons = np.array([(t.coupon + (coupon_up if t.coupon > 0 or not t.residual else 0.0)) / f for t in tr])
    fee_rate = sum(x.rate for x in deal.fees if x.basis == "pool_balance") / f
    if scenario is not None:
        fee_rate += scenario.servicer_fee_up / f
    fee_fixed = sum(x.amount for x in deal.fees if x.basis == "fixed")
    trig = np.full(H, np.inf if deal.trigger_cdr is None else float(deal.trigger_cdr))
    n_cover = len(tr) - (1 if tr and tr[-1].residual else 0)
    return CashflowInputs(
        b0=float(schedule.balance[0]), timing=timing, amort=pad(schedule.amort_fraction),
        yld=pad(schedule.interest_yield), smm=smm, rec_rate=float(rec), rec_lag=int(lag),
        tr_bal0=np.array([t.balance for t in tr], dtype=float),
        tr_coupon=np.ascontiguousarray(np.repeat(coupons[:, None], H, axis=1)),
        tr_timely=np.array([1 if t.timely_interest else 0 for t in tr], dtype=np.int64),
        n_cover=n_cover, tax_rate=float(deal.tax_rate), fee_rate=float(fee_rate), fee_fixed=float(fee_fixed),
        reserve0=float(deal.reserve_initial), reserve_k=float(deal.reserve_multiple), trigger=trig,
        names=tuple(t.name for t in tr),
    )


@dataclass
class CashflowResult:
    """One evaluation: per-period pool, account and tranche tables, and each
    tranche's default status (§5.4)."""

    cdr: float
    pool: pd.DataFrame
    accounts: pd.DataFrame
    tranches: dict            # name -> DataFrame of TRANCHE_COLUMNS
    status: pd.DataFrame      # per tranche: defaulted, period, kind, loss

    def defaulted(self, name: str) -> bool:
        return bool(self.status.loc[name, "defaulted"])


def run_arrays(inp: CashflowInputs, cdr: float):
    """Evaluate the kernel once; return the raw output arrays."""
    H, J = inp.periods, inp.tr_bal0.size
    pool_out = np.zeros((H, 8))
    acc_out = np.zeros((H, 9))
    tr_out = np.zeros((H, J, 5))
    status = np.zeros((J, 4))
    k.waterfall(float(cdr), *inp.args(), pool_out, acc_out, tr_out, status)
    return pool_out, acc_out, tr_out, status


def run(inp: CashflowInputs, cdr: float) -> CashflowResult:
    """Evaluate one CDR and return labelled tables (periods 1..H)."""
    pool_out, acc_out, tr_out, status = run_arrays(inp, cdr)
    idx = pd.RangeIndex(1, inp.periods + 1, name="period")
    names = inp.names or tuple(f"T{j + 1}" for j in range(inp.tr_bal0.size))
    st = pd.DataFrame(status, index=pd.Index(names, name="tranche"),
                      columns=["defaulted", "period", "kind", "loss"])
    st["defaulted"] = st["defaulted"].astype(bool)
    st["period"] = st["period"].astype(int)
    st["kind"] = st["kind"].map({0.0: "", 1.0: "interest shortfall", 2.0: "unpaid at legal final"})
    return CashflowResult(
        cdr=float(cdr),
        pool=pd.DataFrame(pool_out, index=idx, columns=k.POOL_COLUMNS),
        accounts=_accounts(acc_out, idx, float(inp.reserve0)),
        tranches={n: pd.DataFrame(tr_out[:, j, :], index=idx, columns=k.TRANCHE_COLUMNS) for j, n in enumerate(names)},
        status=st,
    )


def _accounts(acc_out, idx, reserve0: float) -> pd.DataFrame:
    """The account columns of the kernel, with ``reserve_release`` after ``reserve_topup``: the reserve
    above its target paid to the principal account (METHODOLOGY §5.3), so that each period
    ``reserve_balance = previous balance - reserve_draw + reserve_topup - reserve_release``.

    The kernel does not record the release; it is that identity solved for it (in acceleration the
    whole reserve is drawn and nothing is released)."""
    acc = pd.DataFrame(acc_out, index=idx, columns=k.ACCOUNT_COLUMNS)
    res = acc_out[:, k.A_RESERVE]
    before = np.concatenate(([reserve0], res[:-1]))
    release = before - acc_out[:, k.A_RES_DRAW] + acc_out[:, k.A_RES_TOPUP] - res
    release[np.abs(release) <= 1e-9 * max(reserve0, 1.0)] = 0.0          # rounding of an unchanged reserve
    acc.insert(acc.columns.get_loc("reserve_topup") + 1, "reserve_release", release)
    return acc


@dataclass(frozen=True)
class BDRResult:
    """Breakeven default rate of one tranche under one scenario (§6.1).

    ``bdr`` is the largest CDR (to ``tol``) at which the tranche is paid in
    full; ``state`` is ``"found"``, ``"no default up to 100%"`` or
    ``"defaults at 0% CDR"``; ``path`` is the (CDR, paid) sequence tested.
    """

    bdr: float
    evaluations: int
    state: str
    path: np.ndarray
    tol: float

    @property
    def converged(self) -> bool:
        """True when the bracket was narrowed to ``tol`` (or the answer is an end of the grid)."""
        if self.state != "found":
            return True
        fails = self.path[self.path[:, 1] == 0.0, 0]
        return fails.size > 0 and float(fails.min()) - self.bdr <= self.tol + 1e-15


_STATES = {0: "found", 1: "no default up to 100%", 2: "defaults at 0% CDR"}


def breakeven(inp: CashflowInputs, tranche: int, step: float = BDR_GRID_STEP, tol: float = BDR_TOL,
              fine: float = BDR_FINE_STEP) -> BDRResult:
    """BDR of tranche index ``tranche`` by grid scan + bisection (METHODOLOGY §6.1).

    The coarse grid 0, step, 2·step, ..., 1 guards against a waterfall that
    is not monotone in CDR (triggers); the first failing interval is then
    scanned at ``fine`` (0.1 %) up to its first failing point, and the last
    interval bisected to ``tol`` (1e-4 = one basis point of CDR).
    """
    grid = np.linspace(0.0, 1.0, int(round(1.0 / step)) + 1)
    fine = fine if tol < fine < step else 0.0
    path = np.zeros((grid.size + int(step / fine if fine else 0) + 64, 2))
    bdr, n, state = k.bdr_search(grid, float(tol), float(fine), *inp.args(), np.int64(tranche), path)
    return BDRResult(bdr=float(bdr), evaluations=int(n), state=_STATES[int(state)], path=path[:n].copy(), tol=tol)


def bisection_path(passes, lo: float = 0.0, hi: float = 0.5, tol: float = BDR_TOL):
    """Pengyuan Table 2's search, as a list of (CDR, paid) pairs.

    Tests ``hi`` first; while it fails, bisects [lo, hi] until the interval
    is narrower than ``tol`` (Table 2: 50 % fails, 25 %, 37.5 %, 31.25 %,
    28.125 %, 29.69 % ...).  ``passes(cdr)`` returns True when the tranche is
    paid in full.  Returns ``(bdr, path)`` with bdr the last passing CDR.
    """
    path = [(hi, bool(passes(hi)))]
    if path[0][1]:
        return hi, path
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        ok = bool(passes(mid))
        path.append((mid, ok))
        if ok:
            lo = mid
        else:
            hi = mid
    return lo, path
