"""Benchmark of the portfolio Monte Carlo (METHODOLOGY §4.5) against a chunked-numpy baseline.

Prints wall times and ratios for
  - multi-period: n_paths x n_obligors x months, k factors (targets: <= 1.5 s, >= 4x numpy);
  - single horizon: n_paths x n_obligors (target <= 0.7 s);
  - numba compile time (cold cache) and start time with a warm cache (subprocesses);
  - the one-factor ASB recursion with 256 Gauss-Legendre nodes.
The numpy baseline draws every latent with SFC64 in chunks of paths on all
cores (threads; numpy releases the GIL) and finds default months only for
defaulters.  Usage: python benchmarks/bench_portfolio.py --paths 1000000 --obligors 500 --months 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import ndtri

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from xlabs.engine.default_table import shipped_table  # noqa: E402
from xlabs.engine.portfolio import (  # noqa: E402
    default_count_distribution,
    exposure_schedule,
    loss_distribution,
    simulate_defaults,
)


def make_pool(n, months, k, seed=1):
    """n obligors, ratings AA- .. BB, one global + (k - 1) industry factors, amortising balances."""
    rng = np.random.default_rng(seed)
    tab = shipped_table()
    ratings = rng.choice(["AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB"], n)
    curves = {r: tab.monthly_curve(r, months) for r in set(ratings)}
    pd = np.array([curves[r] for r in ratings])
    ind = rng.integers(0, max(k - 1, 1), n)
    A = np.zeros((n, k))
    A[:, 0] = np.sqrt(0.10)
    if k > 1:
        A[np.arange(n), 1 + ind] = np.sqrt(0.15)
    terms = rng.integers(max(months // 5, 1), months + 1, n)
    balance = rng.uniform(1, 10, n)
    expo = exposure_schedule(balance, np.full(n, 0.06), terms, ["level"] * n, months)
    rec = rng.uniform(0.2, 0.6, n)
    return pd, A, expo, rec, terms


def numpy_baseline(pd, A, expo, rec, mat, n_paths, seed=0, chunk=4096, threads=None):
    """Chunked numpy Monte Carlo of the same model; returns (default_ratio, loss_ratio)."""
    n, months = pd.shape
    with np.errstate(divide="ignore"):
        C = ndtri(pd)
    c_end = C[np.arange(n), mat - 1]
    s = np.sqrt(1 - (A * A).sum(1))
    lgd = 1 - rec
    init = expo[:, 0].sum()
    dr = np.empty(n_paths)
    lr = np.empty(n_paths)
    starts = list(range(0, n_paths, chunk))

    def run(ci):
        p0 = starts[ci]
        m = min(chunk, n_paths - p0)
        g = np.random.Generator(np.random.SFC64([seed, ci]))
        X = g.standard_normal((m, n))
        X *= s
        X += g.standard_normal((m, A.shape[1])) @ A.T
        rows, cols = np.nonzero(X <= c_end)
        if months == 1:
            amt = expo[cols, 0]
        else:
            x = X[rows, cols]
            t = (C[cols] < x[:, None]).sum(1)
            amt = expo[cols, t]
        dr[p0:p0 + m] = np.bincount(rows, weights=amt, minlength=m) / init
        lr[p0:p0 + m] = np.bincount(rows, weights=amt * lgd[cols], minlength=m) / init

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count()) as ex:
        list(ex.map(run, range(len(starts))))
    return dr, lr


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


_STARTUP = ("import time; t=time.perf_counter(); import numpy as np; "
            "from xlabs.engine.portfolio import simulate_defaults; "
            "simulate_defaults(np.full((3, 2), 0.1), np.full((3, 1), 0.3), n_paths=10); "
            "print(time.perf_counter() - t)")


def startup_time(cache_dir, code=_STARTUP):
    """Seconds for ``code`` (which prints its own elapsed time) in a fresh process using ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir,
               PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--obligors", type=int, default=500)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--factors", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-repeat", type=int, default=1)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-startup", action="store_true")
    args = ap.parse_args(argv)
    import numba

    print(f"machine: {os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f} (1 min)")
    if not args.skip_startup:
        with tempfile.TemporaryDirectory() as d:
            cold = startup_time(d)
            warm = startup_time(d)
        print(f"start-up (import + first call): cold numba cache {cold:.2f} s, warm cache {warm:.2f} s")

    pd, A, expo, rec, mat = make_pool(args.obligors, args.months, args.factors)
    simulate_defaults(pd[:4], A[:4], expo[:4], rec[:4], n_paths=10, maturity=np.minimum(mat[:4], args.months))
    cases = [("multi-period", pd, expo, mat),
             ("single horizon", pd[np.arange(len(mat)), mat - 1][:, None], expo[:, :1], np.ones_like(mat))]
    for label, p, e, m in cases:
        t_nb, res = best_of(lambda p=p, e=e, m=m: simulate_defaults(p, A, e, rec, n_paths=args.paths, seed=1,
                                                                    maturity=m), args.repeat)
        line = (f"{label:15s} {args.paths:,} paths x {args.obligors} obligors x {p.shape[1]} months, "
                f"{args.factors} factors: numba {t_nb:.3f} s (best of {args.repeat}); "
                f"mean DR {res.mean():.5f}, TRDR(1e-4) {res.trdr(1e-4):.4f}")
        print(line)
        if not args.skip_baseline:
            t_np, (dr, _lr) = best_of(lambda p=p, e=e, m=m: numpy_baseline(p, A, e, rec, m, args.paths),
                                      args.baseline_repeat)
            print(f"{'':15s} numpy baseline {t_np:.3f} s -> numba is {t_np / t_nb:.1f}x faster; "
                  f"baseline mean DR {dr.mean():.5f}")
    t_r, _ = best_of(lambda: default_count_distribution(pd[:, -1], np.sqrt(0.25)), 5)
    print(f"ASB recursion (default count), {args.obligors} obligors, 256 GL nodes: {t_r * 1e3:.1f} ms")
    t_r, _ = best_of(lambda: loss_distribution(pd[:, -1], np.sqrt(0.25), expo[:, 0], rec, unit=0.5), 3)
    print(f"ASB recursion (loss, unit 0.5 on balances 1..10), {args.obligors} obligors, 256 GL nodes: "
          f"{t_r * 1e3:.1f} ms")
    print(f"load average after run {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
