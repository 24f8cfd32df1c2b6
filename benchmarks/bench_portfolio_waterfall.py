"""Benchmark of the full waterfall on every Monte Carlo path (METHODOLOGY §4.6) against the Monte Carlo alone.

Prints wall times for
  - :func:`simulate_waterfall`: n_paths x n_obligors x months, k factors, a
    4-tranche corporate CLO (A1/A2 pro-rata, B, equity; EoD and CDR triggers)
    run on every path (target: 1M x 500 x 60, 5 factors, <= 3 s on 2 cores);
  - :func:`simulate_defaults` on the same inputs (the Monte Carlo alone), and
    the ratio: the added cost of the waterfall;
  - numba compile (cold cache) vs start with a warm cache, in fresh subprocesses.
Usage: python benchmarks/bench_portfolio_waterfall.py --paths 1000000 --obligors 500 --months 60 --factors 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_portfolio import best_of, startup_time  # noqa: E402  (same folder)

from xlabs.engine.default_table import shipped_table  # noqa: E402
from xlabs.engine.portfolio import simulate_defaults  # noqa: E402
from xlabs.engine.portfolio.pathwise import obligor_inputs, simulate_waterfall  # noqa: E402
from xlabs.engine.waterfall.examples import corporate_clo_deal, corporate_obligors  # noqa: E402


def make_deal(n, months, k, seed=1):
    """The example corporate CLO with ``n`` loan-level obligors (20-60 month loans), ratings AA- .. BB,
    one global + (k - 1) industry factors."""
    deal = corporate_clo_deal(periods=months)
    obs = corporate_obligors(n=n, seed=seed)
    for o in obs:
        o.term = min(o.term, months)
    tot = sum(o.balance for o in obs)
    old = sum(t.balance for t in deal.tranches)
    for t in deal.tranches:
        t.balance = t.balance / old * tot
    deal.obligors = obs
    rng = np.random.default_rng(seed)
    tab = shipped_table()
    ratings = rng.choice(["AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB"], n)
    curves = {r: tab.monthly_curve(r, months) for r in set(ratings)}
    pd = np.array([curves[r] for r in ratings])
    A = np.zeros((n, k))
    A[:, 0] = np.sqrt(0.10)
    if k > 1:
        A[np.arange(n), 1 + rng.integers(0, k - 1, n)] = np.sqrt(0.15)
    return deal, pd, A


_STARTUP = ("import time; t=time.perf_counter(); import numpy as np; "
            "from xlabs.engine.portfolio.pathwise import simulate_waterfall; "
            "from xlabs.engine.waterfall.examples import corporate_clo_deal; "
            "simulate_waterfall(corporate_clo_deal(periods=60), np.full((20, 60), 0.1), np.full((20, 1), 0.3), "
            "n_paths=10); print(time.perf_counter() - t)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--obligors", type=int, default=500)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--factors", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pd-scale", type=float, default=1.0,
                    help="multiply the PD curves (stress; 1 = shipped AA- .. BB curves)")
    ap.add_argument("--skip-startup", action="store_true")
    args = ap.parse_args(argv)
    import numba

    print(f"machine: {os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f} (1 min; the machine is shared with other jobs)")
    if not args.skip_startup:
        with tempfile.TemporaryDirectory() as d:
            cold = startup_time(d, _STARTUP)
            warm = startup_time(d, _STARTUP)
        print(f"start-up (import + first call, fresh process): cold numba cache {cold:.2f} s, "
              f"warm cache {warm:.2f} s")

    deal, pd, A = make_deal(args.obligors, args.months, args.factors)
    pd = np.minimum(pd * args.pd_scale, 1.0)
    oi = obligor_inputs(deal, args.months)
    simulate_waterfall(deal, pd, A, n_paths=10)
    simulate_defaults(pd, A, oi["exposure"], oi["recovery"], n_paths=10, maturity=oi["maturity"],
                      initial_principal=oi["initial_principal"])
    t_wf, res = best_of(lambda: simulate_waterfall(deal, pd, A, n_paths=args.paths, seed=1), args.repeat)
    t_mc, mc = best_of(lambda: simulate_defaults(pd, A, oi["exposure"], oi["recovery"], n_paths=args.paths, seed=1,
                                                 maturity=oi["maturity"],
                                                 initial_principal=oi["initial_principal"]), args.repeat)
    same = np.array_equal(res.default_ratio, mc.default_ratio)
    print(f"\n{args.paths:,} paths x {args.obligors} obligors x {args.months} months, {args.factors} factors, "
          f"{len(deal.tranches)} tranches (best of {args.repeat})")
    print(f"  Monte Carlo + full waterfall on every path: {t_wf:6.2f} s  (target <= 3 s)")
    print(f"  Monte Carlo alone (simulate_defaults):      {t_mc:6.2f} s")
    print(f"  added cost of the waterfall: {t_wf - t_mc:.2f} s, ratio {t_wf / t_mc:.2f}x; "
          f"{(t_wf - t_mc) / args.paths * 1e6 * numba.get_num_threads():.2f} us per path per thread")
    print(f"  per-path default ratios identical to simulate_defaults: {same}")
    print(f"  PD scale {args.pd_scale:g}; mean pool default ratio {np.mean(res.default_ratio):.4f}; "
          f"load average now {os.getloadavg()[0]:.2f}")
    print("  tranche   default prob (se)        expected loss (se)")
    for row in res.table():
        print(f"  {row['tranche']:<8} {row['default_probability']:.6f} ({row['default_probability_se']:.6f})"
              f"   {row['expected_loss']:.6f} ({row['expected_loss_se']:.6f})")


if __name__ == "__main__":
    main()
