"""Benchmark of the data-driven waterfall engine (xlabs/engine/waterfall), with the pure-Python
reference measured side by side in the same run.

    PYTHONPATH=. python benchmarks/bench_waterfall.py [--quick]

Prints: per-evaluation time of a 60-period, 4-tranche revolving consumer deal with
triggers (timed as many evaluations inside a numba loop, and one call from Python),
the same for the reference; BDR searches per second (all tranches x the 144 shipped
rating scenarios, split over GIL-free threads); full stress-grid time for the consumer deal and
the corporate CLO; numba first-call (cold cache) and cached-call latency, each in a
fresh subprocess.  The machine's load average is printed next to the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from xlabs.engine.borrow import borrow
from xlabs.engine.cashflow import waterfall as old_waterfall
from xlabs.engine.stress import shipped_scenarios
from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays
from xlabs.engine.waterfall.bdr import breakeven_table
from xlabs.engine.waterfall.codes import IPAR_MAX_COHORTS
from xlabs.engine.waterfall.examples import consumer_revolving_deal, corporate_clo_deal
from xlabs.engine.waterfall.kernel import run_waterfall_ws, workspace
from xlabs.engine.waterfall.reference import reference_run
from xlabs.engine.waterfall.run import allocate


@njit(cache=True)
def _repeat(n, detail, cdrs, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched,
            ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees,
            trig_int, trig_level, sched, pool_out, acc_out, tr_out, fee_out, trig_out, status, wf, wi):
    """``n`` evaluations as the engine's BDR search runs them: one scratch workspace (``wf``, ``wi``) for
    all of them and the arrays borrowed (``xlabs.engine.borrow``), so the figure is the kernel's own cost."""
    (timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate, ob_rec,
     ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int, trig_level, sched,
     pool_out, acc_out, tr_out, fee_out, trig_out, status, wf, wi) = borrow((
        timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate, ob_rec,
        ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int, trig_level, sched,
        pool_out, acc_out, tr_out, fee_out, trig_out, status, wf, wi))
    tot = 0.0
    m = cdrs.shape[0]
    no_stop = np.int64(-1)
    w = np.int64(tr_bal0.shape[0])
    for i in range(n):
        # detail as a literal constant, stop and watch as int64: the two compiled variants the engine uses
        if detail == 0:
            run_waterfall_ws(cdrs[i % m], timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
                             ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
                             step_int, step_cap, payees, trig_int, trig_level, sched, pool_out, acc_out, tr_out,
                             fee_out, trig_out, status, no_stop, 0, w, wf, wi)
        else:
            run_waterfall_ws(cdrs[i % m], timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
                             ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
                             step_int, step_cap, payees, trig_int, trig_level, sched, pool_out, acc_out, tr_out,
                             fee_out, trig_out, status, no_stop, 1, w, wf, wi)
        tot += status[0, 3]
    return tot


@njit(cache=True)
def _repeat_old(n, b0, timing, amort, yld, smm, rec_rate, rec_lag, tr_bal0, tr_coupon, tr_timely, n_cover, tax_rate,
                fee_rate, fee_fixed, reserve0, reserve_k, trigger, pool_out, acc_out, tr_out, status):
    for _ in range(n):
        old_waterfall(0.1, b0, timing, amort, yld, smm, rec_rate, rec_lag, tr_bal0, tr_coupon, tr_timely, n_cover,
                  tax_rate, fee_rate, fee_fixed, reserve0, reserve_k, trigger, pool_out, acc_out, tr_out, status)
    return status[0, 3]


@njit(cache=True)
def _plain_waterfall(n, cdrs, b0, timing, amort, yld, smm, rec_rate, rec_lag, tr_bal0, cpn, rec_buf):
    """Calibration workload: the issue's "plain 3-tranche sequential waterfall" written by hand (one
    cohort, defaults CDR x timing, recovery after a lag, interest then principal A>B>C, nothing else),
    evaluated ``n`` times; returns a checksum.  Its time tells how fast this machine is today against
    the 0.75 us recorded when the targets were set."""
    H = timing.shape[0]
    m = cdrs.shape[0]
    tot = 0.0
    for i in range(n):
        cdr = cdrs[i % m]
        p = b0
        bal0 = tr_bal0[0]
        bal1 = tr_bal0[1]
        bal2 = tr_bal0[2]
        for t in range(H + 1):
            rec_buf[t] = 0.0
        short = 0.0
        for t in range(H):
            d = min(cdr * b0 * timing[t], p)
            s = p - d
            sp = amort[t] * s
            it = yld[t] * s
            pp = smm[t] * (s - sp)
            p = max(s - sp - pp, 0.0)
            if t + rec_lag < H:
                rec_buf[t + rec_lag] += rec_rate * d
            prin = sp + pp + rec_buf[t]
            x = min(it, bal0 * cpn[0])
            it -= x
            short += bal0 * cpn[0] - x
            x = min(it, bal1 * cpn[1])
            it -= x
            short += bal1 * cpn[1] - x
            x = min(it, bal2 * cpn[2])
            prin += it - x
            x = min(prin, bal0)
            bal0 -= x
            prin -= x
            x = min(prin, bal1)
            bal1 -= x
            prin -= x
            bal2 -= min(prin, bal2)
        tot += bal0 + bal1 + bal2 + short
    return tot


def _plain_inputs(H=60, b0=1e9):
    tim = np.diff(1.0 - np.exp(-np.arange(0, H + 1) / 8.0))
    return (b0, tim / tim.sum(), np.full(H, 1 / 36), np.full(H, 0.15 / 12), np.full(H, 0.0134), 0.2, 3,
            np.array([0.8, 0.1, 0.1]) * b0, np.array([0.035, 0.05, 0.0]) / 12, np.zeros(H + 1))


def _old_inputs():
    """Arguments of the fixed kernel for a 60-period, 3-tranche consumer deal with a trigger."""
    from xlabs.engine.cashflow_model import CashflowInputs
    from xlabs.engine.waterfall.examples import consumer_revolving_deal as crd
    d = crd(periods=60)
    H = 60
    b0 = d.pool_balance
    inp = CashflowInputs(
        b0=b0, timing=np.asarray(scenario_arrays(d).timing[:H]), amort=np.asarray(d.pool_amort),
        yld=np.asarray(d.pool_yield),
        smm=np.full(H, 0.0134), rec_rate=0.2, rec_lag=3, tr_bal0=np.array([0.8, 0.1, 0.1]) * b0,
        tr_coupon=np.ascontiguousarray(np.repeat(np.array([[0.035], [0.05], [0.0]]) / 12, H, axis=1)),
        tr_timely=np.array([1, 1, 0], dtype=np.int64), n_cover=2, tax_rate=0.0326, fee_rate=0.01 / 12,
        fee_fixed=2e4, reserve0=0.005 * b0, reserve_k=1.5, trigger=np.full(H, 0.1))
    return (*inp.args(), np.zeros((H, 8)), np.zeros((H, 9)), np.zeros((H, 3, 5)), np.zeros((3, 4)))


def _load():
    try:
        return "load average %.2f %.2f %.2f on %d CPUs" % (*os.getloadavg(), os.cpu_count())
    except OSError:
        return "load average unavailable"


def _best_median(f, repeat):
    """(best, median) wall time of ``repeat`` calls: on this shared VM single runs vary by up to 2x."""
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts), float(np.median(ts))


def _best(f, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


_LATENCY = r"""
import time
t0 = time.perf_counter()
from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays
from xlabs.engine.waterfall.bdr import breakeven_table
from xlabs.engine.waterfall.examples import consumer_revolving_deal
d = consumer_revolving_deal()
p = compile_deal(d)
t1 = time.perf_counter()
run_arrays(p, scenario_arrays(d), 0.1)
t2 = time.perf_counter()
breakeven_table(p, [None])
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def _latency(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _LATENCY], env=env, capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def main(quick: bool = False):
    print("xlabs waterfall benchmark —", _load())
    deal = consumer_revolving_deal(periods=60)
    prog = compile_deal(deal)
    sc = scenario_arrays(deal)
    out = allocate(prog)
    cdrs = np.linspace(0.0, 0.4, 41)
    args = (*sc.args(), *prog.args(), out.pool, out.accounts, out.tranches, out.fees, out.triggers, out.status,
            *workspace(prog.periods, prog.tr_bal0.size, prog.fee_fixed.size, prog.trig_int.shape[0],
                       prog.ob_bal0.size, prog.ipar[IPAR_MAX_COHORTS]))
    _repeat(10, 1, cdrs, *args)
    n = 20_000 if quick else 200_000
    per_eval = _best(lambda: _repeat(n, 1, cdrs, *args), 7) / n
    per_lean = _best(lambda: _repeat(n, 0, cdrs, *args), 7) / n
    run_arrays(prog, sc, 0.1, out)
    t_call = _best(lambda: [run_arrays(prog, sc, x, out) for x in cdrs], 5) / cdrs.size
    m = 5 if quick else 20
    t_ref = _best(lambda: [reference_run(deal, sc, x) for x in cdrs[:m]], 2) / m
    print("\n1. One evaluation: 60 periods, 4 tranches, revolving 12 periods, 3 triggers, 14 steps")
    print(f"   numba, looped inside the kernel  : {per_eval * 1e6:8.2f} us  (target <= 5 us), all per-period outputs")
    print(f"   same, status only (BDR mode)      : {per_lean * 1e6:8.2f} us")
    print(f"   numba, one call from Python       : {t_call * 1e6:8.2f} us")
    print(f"   pure-Python reference             : {t_ref * 1e6:8.0f} us   ratio reference / numba loop "
          f"= {t_ref / per_eval:,.0f}x")

    scs = shipped_scenarios()
    if quick:
        scs = scs[:18]
    breakeven_table(prog, scs[:2])
    t_grid, med_grid = _best_median(lambda: breakeven_table(prog, scs), 15)
    tb = breakeven_table(prog, scs)
    n_bdr = tb.bdr.size
    n_search = tb.searches
    evals = int(tb.evaluations[np.unique(tb.search, return_index=True)[1]].sum())
    print(f"\n2. BDR searches (grid step 0.02, 0.1% scan of the first failing step, bisection to 1e-4;"
          f" {len(scs)} scenarios x {len(tb.tranches)} tranches"
          f" = {n_bdr} BDRs, of which {n_search} distinct searches: scenarios with identical kernel inputs share one;"
          " grid scan shared by a scenario's tranches; scenarios split over GIL-free threads)")
    t_grid1, med_grid1 = _best_median(lambda: breakeven_table(prog, scs, threads=1), 15)
    print(f"   numba, {os.cpu_count()} threads: {n_search / t_grid:10,.0f} searches/s ({n_bdr / t_grid:,.0f} BDRs/s"
          f" counting shared rows; {t_grid * 1e3:.1f} ms for the whole grid, median of 15 runs"
          f" {med_grid * 1e3:.1f} ms; target >= 50,000/s)")
    print(f"   numba, 1 thread : {n_search / t_grid1:10,.0f} searches/s ({n_bdr / t_grid1:,.0f} BDRs/s;"
          f" {t_grid1 * 1e3:.1f} ms, median {med_grid1 * 1e3:.1f} ms)")
    # the 0.1 % scan of the first failing grid step (a correctness fix, §6.1) against plain bisection,
    # interleaved in this process so host noise hits both alike
    plain, fine = [], []
    for _ in range(15):
        t0 = time.perf_counter()
        tp = breakeven_table(prog, scs, fine=0)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        breakeven_table(prog, scs)
        fine.append(time.perf_counter() - t0)
    moved = int((np.abs(tp.bdr - tb.bdr) > 2e-4).sum())
    print(f"   fine scan vs plain bisection, interleaved: {min(fine) * 1e3:.1f} / {min(plain) * 1e3:.1f} ms best,"
          f" {np.median(fine) * 1e3:.1f} / {np.median(plain) * 1e3:.1f} ms median (x{min(fine) / min(plain):.2f});"
          f" {moved} of {n_bdr} BDRs differ by > 2bp (failing windows that bisection steps over)")
    ref_search = t_ref * evals / n_search
    print(f"   pure-Python reference, estimated as {evals / n_search:.1f} evaluations per search (shared grid counted"
          f" per tranche) x its time per evaluation: {1 / ref_search:,.1f} searches/s; ratio >= "
          f"{ref_search * n_search / t_grid:,.0f}x")

    clo = corporate_clo_deal(periods=60, loan_level=False)
    cprog = compile_deal(clo)
    breakeven_table(cprog, scs[:2])
    t_clo, med_clo = _best_median(lambda: breakeven_table(cprog, scs), 15)
    print("\n3. Full stress grid (every rated tranche x every scenario of every rating)")
    ctb = breakeven_table(cprog, scs)
    print(f"   consumer revolving deal: {t_grid * 1e3:8.1f} ms best, {med_grid * 1e3:.1f} ms median"
          f"  ({n_bdr} BDRs, {n_search} searches)")
    print(f"   corporate CLO (aggregated obligors): {t_clo * 1e3:8.1f} ms best, {med_clo * 1e3:.1f} ms median"
          f" ({ctb.bdr.size} BDRs, {ctb.searches} searches)")

    # calibration: the existing fixed consumer kernel (xlabs/engine/cashflow.py), 60 periods, 3 tranches;
    # DESIGN.md records 0.75 us for such an evaluation on an idle machine
    ob = _old_inputs()
    _repeat_old(10, *ob)
    t_old = _best(lambda: _repeat_old(n, *ob), 3) / n
    print(f"\n   calibration: fixed consumer kernel (cashflow.py), 60 periods, 3 tranches: {t_old * 1e6:.2f} us "
          f"per evaluation now (DESIGN.md: 0.75 us on an idle machine); new kernel / old = {per_eval / t_old:.1f}x")

    pl = _plain_inputs()
    _plain_waterfall(10, cdrs, *pl)
    t_plain = _best(lambda: _plain_waterfall(n * 5, cdrs, *pl), 3) / (n * 5)
    print(f"   calibration: plain 3-tranche sequential waterfall by hand, 60 periods: {t_plain * 1e6:.2f} us now "
          f"(issue #5: 0.75 us when the targets were set); this kernel / plain = {per_eval / t_plain:.1f}x "
          f"(all outputs), {per_lean / t_plain:.1f}x (status only)")

    print("\n4. Latency in a fresh subprocess: import+compile_deal / first run / first BDR table (s)")
    with tempfile.TemporaryDirectory() as tmp:
        cold = _latency(tmp)
        warm = _latency(tmp)
    print(f"   cold numba cache : import {cold[0]:.2f}  run {cold[1]:.2f}  bdr {cold[2]:.2f}")
    print(f"   cached           : import {warm[0]:.2f}  run {warm[1]:.3f}  bdr {warm[2]:.3f}")
    print("\n" + _load())


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
