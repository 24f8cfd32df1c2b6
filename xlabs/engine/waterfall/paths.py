"""Run the waterfall on many obligor-default paths (METHODOLOGY §4.5–4.7).

Each path states, for every loan-level obligor, the period it defaults in
(1-based; 0 = performs to maturity) — a Monte Carlo draw (§4.5, §4.6 in its
strongest form: the full waterfall on every path) or a key-obligor scenario
(§4.7).  Paths are split over CPU threads running a GIL-free numba kernel; the result is each tranche's
default status per path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...errors import ProblemList
from .bdr import run_chunks
from .codes import IPAR_MAX_COHORTS
from .compile import Program, ScenarioArrays
from .kernel import run_waterfall_ws, workspace


@njit(cache=True, nogil=True)
def paths_kernel(lo, hi, cdr, def_periods, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
                 ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, tr_bal0, tr_int, fee_int, fee_fixed, step_int,
                 step_cap, payees, trig_int, trig_level, sched_tab, out):
    """Paths ``lo..hi-1``: ``def_periods`` (P, N) int64, 0-based default period or -1;
    ``out`` (P, J, 4) status per path.  GIL-free, run in threads by :func:`run_obligor_paths`."""
    H = smm.shape[0]
    J = tr_bal0.shape[0]
    # outputs and scratch allocated once for the whole range (the kernel resets what it reads)
    pool_out = np.empty((H, 10))
    acc_out = np.empty((H, 10))
    tr_out = np.empty((H, J, 6))
    fee_out = np.empty((H, fee_fixed.shape[0], 2))
    trig_out = np.empty((H, trig_int.shape[0]))
    wf, wi = workspace(H, J, fee_fixed.shape[0], trig_int.shape[0], ob_bal0.shape[0], ipar[IPAR_MAX_COHORTS])
    for p in range(lo, hi):
        run_waterfall_ws(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0,
                         ob_sched, ob_rate, ob_rec, ob_lag, def_periods[p], tr_bal0, tr_int, fee_int, fee_fixed,
                         step_int, step_cap, payees, trig_int, trig_level, sched_tab, pool_out, acc_out, tr_out,
                         fee_out, trig_out, out[p], np.int64(-1), 1, np.int64(J), wf, wi)


def run_obligor_paths(prog: Program, sc: ScenarioArrays, default_periods, cdr: float = 0.0,
                      threads: int | None = None) -> np.ndarray:
    """Tranche status on each obligor-default path.

    Parameters
    ----------
    prog, sc : the compiled deal and one scenario.
    default_periods : array_like of int, shape (P, N)
        Default period of each obligor on each path, 1-based; 0 = no default.
    cdr : float
        CDR applied to any aggregated pool or revolving purchases (usually 0).

    Returns
    -------
    ndarray, shape (P, J, 4)
        ``defaulted`` (0/1), ``period``, ``kind`` (1 interest shortfall,
        2 unpaid at legal final) and ``loss`` (unpaid principal + deferred
        interest, yuan) of each tranche on each path (§5.4).
    """
    d = np.asarray(default_periods)
    probs = ProblemList()
    N = prog.ob_bal0.size
    if d.ndim != 2 or d.shape[1] != N:
        probs.add("paths", f"default periods must have shape (paths, {N} obligors)", d.shape)
    elif d.size and (d.min() < 0 or d.max() > prog.periods or np.any(d != np.round(d))):
        probs.add("paths", f"default periods must be whole periods 0..{prog.periods} (0 = no default)")
    elif d.size:
        late = np.argwhere(d > prog.obligor_terms[None, :])
        for p_, i in late[:20]:
            probs.add(f"paths row {p_ + 1}", f"{prog.obligor_names[i]} is repaid after period "
                      f"{prog.obligor_terms[i]}: a default at period {int(d[p_, i])} would do nothing", int(d[p_, i]))
    probs.raise_if_any()
    dp = np.ascontiguousarray(d.astype(np.int64) - 1)
    out = np.zeros((dp.shape[0], prog.tr_bal0.size, 4))
    a = prog.args()
    # prog.args() order: par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, ...
    run_chunks(paths_kernel, dp.shape[0], float(cdr), dp, *sc.args(), *a[:9], *a[10:], out, threads=threads)
    return out
