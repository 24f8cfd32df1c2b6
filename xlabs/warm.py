"""Build or load the numba cache of every kernel, so no user's first formula pays compile time.

Run once after install (``xlabs warm``) or when a workbook opens.  Each
kernel family (consumer cash flow, portfolio Monte Carlo, semi-analytic
recursion, the table-driven waterfall with its BDR grid and obligor paths,
the waterfall on every Monte Carlo path) is called on a tiny input through
its public entry point, so the compiled signatures are those a rating run
uses; with ``cache=True`` the compiled code is written beside the package
and later processes load it (measured: about 40 s cold for all kernels,
about 2 s cached; ``python -m xlabs warm`` prints each family's time).
"""

from __future__ import annotations

import time

ENTRY_KERNELS = {
    "xlabs.engine.cashflow": ("waterfall", "bdr_search"),
    "xlabs.engine.portfolio.montecarlo": ("_mc_kernel",),
    "xlabs.engine.portfolio.semi_analytic": ("_integrate",),
    "xlabs.engine.portfolio.pathwise": ("_pathwise_kernel",),
    "xlabs.engine.waterfall.kernel": ("run_full",),
    "xlabs.engine.waterfall.bdr": ("bdr_grid_kernel",),
    "xlabs.engine.waterfall.paths": ("paths_kernel",),
}
"""The numba kernels called from Python, by module: :func:`warm` compiles each of them (every
other kernel of the package is compiled inside one of these; the test suite checks both)."""


def warm() -> dict:
    """Call every kernel once; return ``{kernel: seconds}``."""
    import numpy as np

    from .engine import cashflow_model as cfm
    out = {}
    t = time.perf_counter()
    H = 6
    inp = cfm.CashflowInputs(
        b0=100.0, timing=np.full(H, 1 / H), amort=np.full(H, 0.1), yld=np.full(H, 0.01), smm=np.zeros(H),
        rec_rate=0.2, rec_lag=1, tr_bal0=np.array([80.0, 20.0]), tr_coupon=np.full((2, H), 0.003),
        tr_timely=np.array([1, 0], dtype=np.int64), n_cover=1, tax_rate=0.0, fee_rate=0.0, fee_fixed=0.0,
        reserve0=0.0, reserve_k=0.0, trigger=np.full(H, np.inf), names=("A", "B"))
    cfm.run_arrays(inp, 0.05)
    cfm.breakeven(inp, 0)
    out["consumer cash flow"] = time.perf_counter() - t
    from .engine.portfolio import default_count_distribution, simulate_defaults, simulate_waterfall
    t = time.perf_counter()
    simulate_defaults(np.array([0.01, 0.02]), np.array([[0.3], [0.3]]), n_paths=1000, seed=0)
    out["portfolio Monte Carlo"] = time.perf_counter() - t
    t = time.perf_counter()
    default_count_distribution(np.array([0.01, 0.02]), 0.3, n_nodes=16)
    out["semi-analytic recursion"] = time.perf_counter() - t

    # the table-driven waterfall (corporate path, stress grid, key-obligor paths, waterfall per path),
    # called through the same entry points as a rating run so the compiled signatures are the ones used
    from .engine.waterfall import breakeven_table, compile_deal, run_arrays, run_obligor_paths, scenario_arrays
    from .engine.waterfall.examples import corporate_clo_deal
    t = time.perf_counter()
    deal = corporate_clo_deal(periods=H)
    prog = compile_deal(deal)
    sc = scenario_arrays(deal)
    run_arrays(prog, sc, 0.05)
    # BDRs need a pool the CDR applies to: the same deal with its obligors aggregated
    breakeven_table(compile_deal(corporate_clo_deal(periods=H, loan_level=False)), [None], threads=1)
    run_obligor_paths(prog, sc, np.zeros((1, prog.ob_bal0.size), dtype=np.int64), threads=1)
    out["waterfall engine"] = time.perf_counter() - t
    t = time.perf_counter()
    n = prog.ob_bal0.size
    simulate_waterfall(deal, np.full((n, H), 0.01), np.full((n, 1), 0.3), n_paths=10)
    out["waterfall on every path"] = time.perf_counter() - t
    return out
