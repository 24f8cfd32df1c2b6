"""How much would compiling a deal's tables into the waterfall kernel gain?  (Evidence, not a feature.)

The engine runs every deal through one numba kernel that reads the deal's
waterfall, triggers, fees and tranches from arrays (issue #5 point 1).  This
script builds, for the benchmark deals only, a copy of that kernel in which
those tables are compile-time constants (numba freezes global arrays into the
code, so LLVM can fold the step decoding and the branches on step kinds), and
times it side by side with the table-driven kernel on the same evaluations:
status-only mode as in the BDR search, arguments borrowed as the search does.
It checks that both give the same results.

    PYTHONPATH=. python benchmarks/bench_specialised.py

Each specialised copy compiles for 10-20 s; nothing is cached.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import textwrap
import time

import numpy as np
from numba import njit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import xlabs.engine.waterfall.kernel as K  # noqa: E402
from xlabs.engine.borrow import borrow  # noqa: E402
from xlabs.engine.waterfall import compile_deal, scenario_arrays  # noqa: E402
from xlabs.engine.waterfall.examples import consumer_revolving_deal, corporate_clo_deal  # noqa: E402
from xlabs.engine.waterfall.run import allocate  # noqa: E402

DEAL_ARGS = ("par", "ipar", "amort_tab", "yld_tab", "ob_bal0", "ob_sched", "ob_rate", "ob_rec", "ob_lag", "ob_def",
             "tr_bal0", "tr_int", "fee_int", "fee_fixed", "step_int", "step_cap", "payees", "trig_int", "trig_level",
             "sched")
"""The names of ``Program.args()`` in the kernel's signature."""
FROZEN = ("par", "ipar", "amort_tab", "yld_tab", "tr_bal0", "tr_int", "fee_int", "fee_fixed", "step_int",
          "step_cap", "payees", "trig_int", "trig_level", "sched")
"""Deal tables made constants (everything but the obligor arrays, which Monte Carlo paths change)."""


def specialised_kernel(prog):
    """``run_waterfall_ws`` with ``FROZEN`` removed from its arguments and bound as constants of ``prog``;
    returns (kernel, the remaining deal arguments in order)."""
    src = textwrap.dedent(inspect.getsource(K.run_waterfall_ws.py_func)).split("\n", 1)[1]   # no decorator
    head, body = src.split(":\n", 1)
    for name in FROZEN:
        head = re.sub(r"\b%s,\s*" % name, "", head, count=1)
    ns = dict(vars(K))
    rest = []
    for name, value in zip(DEAL_ARGS, prog.args()):
        if name in FROZEN:
            ns[name] = value.copy()
        else:
            rest.append(value)
    exec(compile(head.replace("def run_waterfall_ws(", "def run_specialised(") + ":\n" + body,
                 "<specialised kernel>", "exec"), ns)
    return njit(error_model="numpy")(ns["run_specialised"]), tuple(rest)


def _loops(spec):
    generic = K.run_waterfall_ws

    @njit
    def loop_generic(n, cdrs, sca, deal, out, wf, wi, watch, checksum):
        sca, deal, out, wf, wi, checksum = borrow((sca, deal, out, wf, wi, checksum))
        no_stop = np.int64(-1)
        for i in range(n):
            generic(cdrs[i % cdrs.shape[0]], *sca, *deal, *out, no_stop, 0, watch, wf, wi)
            checksum[i % checksum.shape[0]] = out[5][0, 3] + out[5][1, 0] + out[5][-1, 3]

    @njit
    def loop_specialised(n, cdrs, sca, rest, out, wf, wi, watch, checksum):
        sca, rest, out, wf, wi, checksum = borrow((sca, rest, out, wf, wi, checksum))
        no_stop = np.int64(-1)
        for i in range(n):
            spec(cdrs[i % cdrs.shape[0]], *sca, *rest, *out, no_stop, 0, watch, wf, wi)
            checksum[i % checksum.shape[0]] = out[5][0, 3] + out[5][1, 0] + out[5][-1, 3]

    return loop_generic, loop_specialised


def bench(deal, n=40_000, repeat=7):
    prog = compile_deal(deal)
    sc = scenario_arrays(deal)
    o = allocate(prog)
    outs = (o.pool, o.accounts, o.tranches, o.fees, o.triggers, o.status)
    J = prog.tr_bal0.size
    wf, wi = K.workspace(prog.periods, J, prog.fee_fixed.size, prog.trig_int.shape[0], prog.ob_bal0.size,
                         prog.ipar[K.IPAR_MAX_COHORTS])
    cdrs = np.linspace(0.0, 0.4, 41)
    t0 = time.perf_counter()
    spec, rest = specialised_kernel(prog)
    loop_generic, loop_specialised = _loops(spec)
    c1, c2 = np.zeros(41), np.zeros(41)
    loop_generic(41, cdrs, sc.args(), prog.args(), outs, wf, wi, np.int64(J), c1)
    loop_specialised(41, cdrs, sc.args(), rest, outs, wf, wi, np.int64(J), c2)
    compile_s = time.perf_counter() - t0
    same = np.array_equal(c1, c2)
    best = {"table-driven": np.inf, "tables as constants": np.inf}
    for _ in range(repeat):
        for name, f, a in (("table-driven", loop_generic, prog.args()), ("tables as constants", loop_specialised, rest)):
            t = time.perf_counter()
            f(n, cdrs, sc.args(), a, outs, wf, wi, np.int64(J), c1)
            best[name] = min(best[name], (time.perf_counter() - t) / n)
    g, s = best["table-driven"], best["tables as constants"]
    print(f"{deal.name:24s} table-driven {g * 1e6:6.2f} us   tables as constants {s * 1e6:6.2f} us   "
          f"ratio {g / s:4.2f}x   same results on 41 CDRs: {same}   (compile {compile_s:.0f} s)")


def main():
    print("One status-only evaluation (BDR mode), 60 periods, 41 CDRs from 0 to 40 %, best of 7 x 40,000;"
          f" load average {os.getloadavg()[0]:.2f}")
    for deal in (consumer_revolving_deal(periods=60), corporate_clo_deal(periods=60, loan_level=False)):
        bench(deal)


if __name__ == "__main__":
    main()
