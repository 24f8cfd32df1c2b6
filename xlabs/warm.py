"""Build or load the numba cache of every kernel, so no user's first formula pays compile time.

Run once after install (``xlabs warm``) or when a workbook opens.  Each
kernel is called on a tiny input; with ``cache=True`` the compiled code is
written beside the package and later processes load it (DESIGN.md:
about 18 s cold for all kernels, under a second cached).
"""

from __future__ import annotations

import time


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
    try:
        from .engine.portfolio import simulate_defaults
        t = time.perf_counter()
        simulate_defaults(np.array([0.01, 0.02]), np.array([[0.3], [0.3]]), n_paths=1000, seed=0)
        out["portfolio Monte Carlo"] = time.perf_counter() - t
    except ImportError:
        pass
    return out
