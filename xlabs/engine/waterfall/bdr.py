"""BDR of every tranche under every stress scenario, and the protection-distance table (METHODOLOGY §6.1–6.3).

The search for one (tranche, scenario) pair scans a coarse CDR grid
(0, step, 2 step, ... 1) until the tranche first defaults — the waterfall
can be non-monotone in CDR because of triggers — then scans that first
failing interval at a fine step (0.1 %) from its passing end up to the first
fine point that fails, and bisects the last interval to ``tol`` (1e-4).  A
trigger that fires a period earlier at a slightly higher CDR can make a
tranche default in a window narrower than the coarse step and pass just above
it; the fine scan finds such a window inside the first failing interval
(plain bisection would land above it and overstate the BDR).  BDR is the
largest CDR found with no default below the lowest failing CDR found.
Scenarios are split over CPU threads running a GIL-free numba kernel (:func:`bdr_grid_kernel`);
the grid scan of a scenario is shared by its tranches (one evaluation gives
every tranche's default status) and each bisection evaluation stops as soon
as the searched tranche defaults.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, is_dataclass

import numpy as np
import pandas as pd
from numba import njit

from ...errors import ProblemList
from ..borrow import borrow
from .codes import ACT_PURCHASE, IPAR_MAX_COHORTS, IPAR_REV_END, P_CDR, PAR_B0, S_DEFAULTED, SI_ACT
from .compile import Program, scenario_arrays_memo
from .kernel import run_waterfall_ws, workspace
from .run import allocate, run_arrays

BDR_GRID_STEP = 0.02
BDR_FINE_STEP = 0.001
BDR_TOL = 1e-4
STATES = {0: "found", 1: "no default up to 100%", 2: "defaults at 0% CDR"}


@njit(cache=True)
def search_scenario(grid, tol, fine, tranches, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
                    ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
                    step_int, step_cap, payees, trig_int, trig_level, sched_tab, bdr, n_eval, state, scratch):
    """BDRs of several tranches under one scenario (§6.1), writing ``bdr``, ``n_eval``, ``state`` (T,).

    One evaluation tells whether *every* tranche defaults, so the coarse grid
    is scanned once for all tranches (until each has failed once); then the
    first failing interval of each tranche is scanned at step ``fine`` from
    its passing end up to the first fine point that fails (0: no fine scan)
    and the last interval bisected to ``tol``, each with an evaluation that
    stops as soon as that tranche defaults.  The result is the same as a
    separate scan per tranche.  ``n_eval`` counts the shared grid evaluations
    plus the tranche's own fine-scan and bisection steps.  ``scratch``: the
    tuple of :func:`search_scratch`, reused from scenario to scenario.
    """
    # every array is an argument of this function: borrowed, the ~35 arrays of each kernel call
    # below are passed without reference counting (xlabs.engine.borrow)
    (grid, tranches, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched,
     ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int,
     trig_level, sched_tab, bdr, n_eval, state) = borrow((
        grid, tranches, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched,
        ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int,
        trig_level, sched_tab, bdr, n_eval, state))
    pool_out, acc_out, tr_out, fee_out, trig_out, status, wf, wi, first = borrow(scratch)
    T = tranches.shape[0]
    G = grid.shape[0]
    first[:T] = -1
    # one call site of the (large) kernel: a grid phase, then one bisection per tranche
    grid_phase = True
    g = 0
    n_grid = 0
    k = -1
    lo = 0.0
    hi = 0.0
    base = 0.0
    n = 0
    j = -1
    i_fine = 0              # > 0: the next evaluation is the fine point base + i_fine * fine
    while True:
        if grid_phase:
            c = grid[g]
            # only the tranches that have not failed yet are read: watch just those, and with a single one
            # left stop as soon as it defaults (the flags read are those of a full run, see run_waterfall_ws)
            sj = np.int64(-1)       # int64, not a literal (see run_waterfall_ws on compiled variants)
            w = 0
            n_open = 0
            for q in range(T):
                if first[q] < 0:
                    n_open += 1
                    sj = tranches[q]
                    w = max(w, tranches[q] + 1)
            if n_open != 1:
                sj = np.int64(-1)
        else:
            c = base + i_fine * fine if i_fine > 0 else 0.5 * (lo + hi)
            sj = j
            w = j + 1
        run_waterfall_ws(c, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0,
                         ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int,
                         step_cap, payees, trig_int, trig_level, sched_tab, pool_out, acc_out, tr_out, fee_out,
                         trig_out, status, sj, 0, w, wf, wi)   # literal detail 0: see run_waterfall_ws
        if grid_phase:
            n_grid += 1
            done = True
            for q in range(T):
                if first[q] < 0:
                    if status[tranches[q], S_DEFAULTED] != 0.0:
                        first[q] = g
                    else:
                        done = False
            g += 1
            if not done and g < G:
                continue
            grid_phase = False
        else:
            n += 1
            if status[j, S_DEFAULTED] != 0.0:
                hi = c
                i_fine = 0                      # the first failing fine point: bisect below it
            else:
                lo = c
                if i_fine > 0:
                    i_fine += 1
                    if base + i_fine * fine >= hi - 0.5 * tol:
                        i_fine = 0              # scanned up to the failing grid point
            if i_fine > 0 or hi - lo > tol:
                continue
            bdr[k] = lo
            n_eval[k] = n
            state[k] = 0
        # next tranche that needs a bisection
        k += 1
        while k < T and first[k] <= 0:
            n_eval[k] = n_grid
            if first[k] < 0:
                bdr[k] = grid[G - 1]
                state[k] = 1
            else:
                bdr[k] = 0.0
                state[k] = 2
            k += 1
        if k >= T:
            break
        j = tranches[k]
        lo = grid[first[k] - 1]
        hi = grid[first[k]]
        base = lo
        i_fine = 1 if fine > 0.0 and lo + fine < hi - 0.5 * tol else 0
        n = n_grid          # tol < grid step (checked by breakeven_table): at least one bisection


@njit(cache=True)
def search_scratch(H, J, F, K, N, max_cohorts, T):
    """Scratch arrays of :func:`search_scenario`: kernel outputs, kernel workspace, first failing grid
    index per tranche.  Allocated once per chunk of scenarios by the caller (a borrowed array must be
    an argument of the borrowing function)."""
    wf, wi = workspace(H, J, F, K, N, max_cohorts)
    return (np.empty((H, 10)), np.empty((H, 10)), np.empty((H, J, 6)), np.empty((H, F, 2)), np.empty((H, K)),
            np.empty((J, 4)), wf, wi, np.empty(T, dtype=np.int64))


@njit(cache=True, nogil=True)
def bdr_grid_kernel(lo, hi, grid, tol, fine, tranches, timing, smm, sc_f, sc_i, coupon, fee_rate,
                    par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def,
                    tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int, trig_level, sched_tab,
                    bdr, n_eval, state):
    """BDR for every tranche under scenarios ``lo..hi-1`` (METHODOLOGY §6.1).

    Releases the GIL: :func:`breakeven_table` runs one call per CPU on
    disjoint scenario ranges in threads (the same parallelism as a ``prange``
    without its several-fold compile time).

    Parameters
    ----------
    lo, hi : int  scenario range.
    grid : (G,) increasing CDRs from 0; tol : float  bisection width; fine : float  fine-scan step (0: none).
    tranches : (T,) int64  tranche indexes to search.
    timing, smm : (NSc, H); sc_f : (NSc, 2); sc_i : (NSc, 2) int64;
    coupon : (NSc, J, H); fee_rate : (NSc, F)  stacked scenario arrays.
    Remaining deal arrays as in ``kernel.run_waterfall``.
    bdr : (NSc, T) float64; n_eval : (NSc, T) int64; state : (NSc, T) int64
        Outputs, see :func:`search_scenario`.
    """
    scratch = search_scratch(smm.shape[1], tr_bal0.shape[0], fee_fixed.shape[0], trig_int.shape[0],
                             ob_bal0.shape[0], ipar[IPAR_MAX_COHORTS], tranches.shape[0])
    for i in range(lo, hi):
        search_scenario(grid, tol, fine, tranches, timing[i], smm[i], sc_f[i], sc_i[i], coupon[i], fee_rate[i],
                        par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def,
                        tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int, trig_level,
                        sched_tab, bdr[i], n_eval[i], state[i], scratch)


CHUNKS_PER_THREAD = 4


def run_chunks(kernel, n, *args, threads=None):
    """Call ``kernel(lo, hi, *args)`` over disjoint ranges covering 0..n on ``threads`` (default: CPU
    count) threads, the calling thread included.

    The range is cut into ``CHUNKS_PER_THREAD`` chunks per thread, taken in turn by whichever
    thread is free: items differ in cost (a scenario's BDR search length depends on its BDRs), and
    on this virtual machine a pool thread often starts a millisecond or more late.  Each item
    writes only its own outputs, so results do not depend on the split.
    """
    threads = max(1, min(threads or os.cpu_count() or 1, n))
    if threads == 1:
        kernel(np.int64(0), np.int64(n), *args)
        return
    k = min(n, threads * CHUNKS_PER_THREAD)
    cuts = np.linspace(0, n, k + 1).astype(np.int64)
    counter = itertools.count()         # next() on it is atomic under the GIL

    def work():
        while (i := next(counter)) < k:
            kernel(cuts[i], cuts[i + 1], *args)

    with ThreadPoolExecutor(threads - 1) as ex:
        futs = [ex.submit(work) for _ in range(threads - 1)]
        work()
        for f in futs:
            f.result()


def stack_scenarios(arrs):
    """Kernel arrays of several scenarios (``ScenarioArrays``), stacked along a first axis."""
    return (np.ascontiguousarray(np.stack([a.timing for a in arrs])),
            np.ascontiguousarray(np.stack([a.smm for a in arrs])),
            np.ascontiguousarray(np.stack([a.sc_f for a in arrs])),
            np.ascontiguousarray(np.stack([a.sc_i for a in arrs])),
            np.ascontiguousarray(np.stack([a.coupon for a in arrs])),
            np.ascontiguousarray(np.stack([a.fee_rate for a in arrs]).reshape(len(arrs), -1)))


def distinct_scenarios(arrs) -> tuple[list, np.ndarray]:
    """The distinct kernel inputs among ``arrs`` (ScenarioArrays) and, for each scenario, the index
    of its distinct input.  Two scenarios are the same for the kernel when every array is equal bit for
    bit (e.g. a rating's ``base`` scenario repeated for every rating, or a servicer-fee stress on a deal
    without a servicer fee); their BDRs are then equal, so each distinct input is searched once."""
    first: dict = {}
    by_object: dict = {}        # the same ScenarioArrays object repeated (see scenario_arrays_of)
    raw: dict = {}              # bytes of each array object (scenarios share arrays, see scenario_arrays_memo)
    uniq = []
    which = np.empty(len(arrs), dtype=np.int64)
    for i, a in enumerate(arrs):
        if id(a) not in by_object:
            key = []
            for x in a.args():
                if id(x) not in raw:
                    raw[id(x)] = (x.dtype.str, x.shape, x.tobytes())
                key.append(raw[id(x)])
            key = tuple(key)
            if key not in first:
                first[key] = len(uniq)
                uniq.append(a)
            by_object[id(a)] = first[key]
        which[i] = by_object[id(a)]
    return uniq, which


def scenario_arrays_of(deal, scenarios) -> list:
    """``scenario_arrays(deal, s)`` for each scenario, computed once per distinct set of stress
    parameters (every dataclass field but ``name`` and ``rating``), the parts shared between
    scenarios (timing shape, CPR, coupon and fee stresses) computed once each
    (:func:`~.compile.scenario_arrays_memo`): the shipped table repeats scenarios across ratings, and
    preparing the arrays is a visible part of a stress grid."""
    memo: dict = {}
    parts: dict = {}
    stress_fields: dict = {}        # per scenario class: the fields that are stress parameters
    out = []
    for s in scenarios:
        if s is None:
            key = None
        elif is_dataclass(s):
            cls = type(s)
            if cls not in stress_fields:
                stress_fields[cls] = tuple(f.name for f in fields(cls) if f.name not in ("name", "rating"))
            key = (cls,) + tuple(getattr(s, n) for n in stress_fields[cls])
        else:
            key = ("object", id(s))
        if key not in memo:
            memo[key] = scenario_arrays_memo(deal, s, parts)
        out.append(memo[key])
    return out


@dataclass
class BDRTable:
    """BDRs (NSc, T) with evaluations and search states; ``frame()`` as a long table."""

    scenarios: list
    tranches: list
    bdr: np.ndarray
    evaluations: np.ndarray
    state: np.ndarray
    tol: float
    search: np.ndarray | None = None
    """(NSc,) int: which search gave each scenario's row; scenarios whose kernel inputs are identical
    share one search (:func:`distinct_scenarios`), ``evaluations`` is that search's count."""

    @property
    def searches(self) -> int:
        """Searches run: distinct scenarios x tranches."""
        n = len(set(self.search.tolist())) if self.search is not None else len(self.scenarios)
        return n * len(self.tranches)

    def frame(self) -> pd.DataFrame:
        rows = []
        for i, s in enumerate(self.scenarios):
            for k, t in enumerate(self.tranches):
                rows.append({"scenario": getattr(s, "name", str(s)), "rating": getattr(s, "rating", ""),
                             "tranche": t, "bdr": float(self.bdr[i, k]), "evaluations": int(self.evaluations[i, k]),
                             "state": STATES[int(self.state[i, k])]})
        return pd.DataFrame(rows)


def cdr_applies(prog: Program) -> bool:
    """Whether the CDR reaches any asset of ``prog``: it applies to cohorts (the aggregated initial pool
    and revolving purchases, §5.2), not to loan-level obligors, which default at their named periods."""
    purchases = prog.ipar[IPAR_REV_END] > 0 and bool(np.any(prog.step_int[:, SI_ACT] == ACT_PURCHASE))
    return bool(prog.par[PAR_B0] > 0.0) or purchases


def breakeven_table(prog: Program, scenarios, tranches=None, step: float = BDR_GRID_STEP,
                    tol: float = BDR_TOL, threads: int | None = None, fine: float = BDR_FINE_STEP) -> BDRTable:
    """BDR of each tranche (default: the rated ones) under each scenario (§6.1, §6.3).

    ``step``: coarse grid; ``fine``: scan step inside the first failing grid interval (used when
    ``tol < fine < step``, else plain bisection); ``tol``: final bisection width (module docstring).

    Scenarios with identical kernel inputs are searched once (:func:`distinct_scenarios`).
    ``scenarios``: :class:`~xlabs.model.waterfall.Scenario` or
    ``xlabs.model.StressScenario`` objects (or None for the base case).
    """
    deal = prog.deal
    probs = ProblemList()
    if not (0 < step <= 1):
        probs.add("bdr", "grid step must be in (0, 1]", step)
    if not (0 < tol < step):
        probs.add("bdr", "tolerance must be in (0, step)", tol)
    if not fine >= 0:
        probs.add("bdr", "fine-scan step must be >= 0", fine)
    names = list(prog.tranche_names)
    if tranches is None:
        tranches = [n for n, r in zip(names, prog.rated) if r]
    for t in tranches:
        if t not in names:
            probs.add("bdr", "no tranche of that name", t)
    if not cdr_applies(prog):
        probs.add("bdr", "the CDR stresses nothing in this deal: it has no aggregated pool balance and no "
                  "revolving purchases, and loan-level obligors default only at their named periods, so every "
                  "BDR would read 100%; aggregate the obligors into a pool (pool_balance / pool_amort / "
                  "pool_yield) to search BDRs, or test named defaults (run_obligor_paths)",
                  f"pool_balance {prog.par[PAR_B0]:g}, {prog.ob_bal0.size} obligors")
    probs.raise_if_any()
    scenarios = list(scenarios) if scenarios else [None]
    idx = np.array([names.index(t) for t in tranches], dtype=np.int64)
    grid = np.linspace(0.0, 1.0, int(round(1.0 / step)) + 1)
    uniq, which = distinct_scenarios(scenario_arrays_of(deal, scenarios))
    NU, T = len(uniq), idx.size
    bdr = np.zeros((NU, T))
    n_eval = np.zeros((NU, T), dtype=np.int64)
    state = np.zeros((NU, T), dtype=np.int64)
    fine = float(fine) if tol < fine < step else 0.0         # a fine step at or above the grid step adds nothing
    run_chunks(bdr_grid_kernel, NU, grid, float(tol), fine, idx, *stack_scenarios(uniq), *prog.args(),
               bdr, n_eval, state, threads=threads)
    return BDRTable(scenarios, list(tranches), bdr[which], n_eval[which], state[which], tol, which)


def applied_cdr(prog: Program, table: BDRTable) -> np.ndarray:
    """(NSc, T) the pool's cumulative default ratio at the end of a run at each BDR of ``table``.

    Each period's defaults are capped at the performing balance (METHODOLOGY §5.2), so where the
    timing puts defaults after the pool has repaid, fewer than the CDR searched are applied: this is
    what the pool actually takes at the breakeven (cumulative defaults / initial pool and purchases).
    One full evaluation per distinct (scenario, BDR)."""
    arrs = scenario_arrays_of(prog.deal, table.scenarios)
    out = np.empty(table.bdr.shape)
    buf = allocate(prog)
    memo: dict = {}
    for i, a in enumerate(arrs):
        for k in range(out.shape[1]):
            key = (id(a), float(table.bdr[i, k]))
            if key not in memo:
                memo[key] = float(run_arrays(prog, a, key[1], buf).pool[-1, P_CDR])
            out[i, k] = memo[key]
    return out


def protection_table(table: BDRTable, tdr: dict, applied: np.ndarray | None = None) -> pd.DataFrame:
    """Pengyuan Table 3 (§6.2): BDR, TDR, BDR − TDR and (BDR − TDR)/TDR for each
    (scenario, tranche), with TDR looked up by the scenario's rating in ``tdr``
    ({rating: TDR}); a scenario without a rating uses ``tdr[""]`` if given.
    ``passes`` = BDR >= TDR (§6.3), and never for a tranche that defaults with no
    default at all (state "defaults at 0% CDR").

    A TDR of 0 is allowed: a Monte Carlo TRDR is 0 when no default occurs at
    that confidence level (§4.5).  The relative distance is then undefined (NaN).
    A NaN TDR (not determined, e.g. a rating whose target probability is 0 or 1)
    gives NaN distances and never passes.
    ``applied``: :func:`applied_cdr` of the table, shown as column ``applied_cdr`` (NaN when not given).
    """
    df = table.frame()
    df["applied_cdr"] = np.nan if applied is None else np.asarray(applied, dtype=float).reshape(-1)
    probs = ProblemList()
    for r in sorted(set(df["rating"])):
        if r not in tdr:
            probs.add("TDR", "no TDR for this rating", r)
        elif not (0 <= tdr[r] <= 1 or np.isnan(tdr[r])):
            probs.add("TDR", f"TDR for {r} must be a fraction in [0, 1]", tdr[r])
    probs.raise_if_any()
    df["tdr"] = df["rating"].map(tdr).astype(float)
    df["protection"] = df["bdr"] - df["tdr"]
    df["relative_protection"] = df["protection"] / df["tdr"].where(df["tdr"] > 0)     # NaN where TDR is 0 or NaN
    df["passes"] = (df["bdr"] >= df["tdr"]) & (df["state"] != STATES[2])
    return df
