"""Batch throughput on this machine: deals per minute with 1 vs 2 Dask workers, side by side.

Generates N consumer deals (the small test deal scaled to --loans loans each,
different seeds), warms the workers, then rates them all with a LocalCluster
of 1 worker and of 2 workers.  Cluster start-up is timed separately.

    python benchmarks/bench_batch.py [--deals 12] [--loans 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def make_deals(folder: Path, n: int, loans: int) -> list:
    from conftest import small_deal_kwargs

    from xlabs.workbook.build import build_consumer_workbook
    out = []
    for i in range(n):
        p = folder / f"deal_{i:03d}.xlsx"
        build_consumer_workbook(p, **small_deal_kwargs(n_loans=loans, seed=100 + i))
        out.append(p)
    return out


def run(paths, workers: int, outdir: Path):
    from dask.distributed import Client, LocalCluster

    from xlabs.batch import rate_many, rate_one
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    client = Client(cluster)
    # warm each worker (imports + numba cache load) so throughput measures rating, not start-up
    client.run(lambda: __import__("xlabs.warm", fromlist=["warm"]).warm())
    client.submit(rate_one, str(paths[0]), str(outdir), pure=False).result()
    startup = time.perf_counter() - t
    t = time.perf_counter()
    res = rate_many(paths, outdir, client=client)
    elapsed = time.perf_counter() - t
    client.close()
    cluster.close()
    assert res.n_failed == 0, [r["error"] for r in res.rows if r["error"]]
    return startup, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=12)
    ap.add_argument("--loans", type=int, default=3000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        paths = make_deals(d, a.deals, a.loans)
        print(f"{a.deals} deals x {a.loans} loans each")
        results = {}
        for w in (1, 2):
            startup, elapsed = run(paths, w, d / f"out{w}")
            results[w] = elapsed
            print(f"{w} worker(s): start-up {startup:5.1f} s, rating {elapsed:6.1f} s, "
                  f"{a.deals / elapsed * 60:6.1f} deals/min")
        print(f"speed-up 2 vs 1 worker: {results[1] / results[2]:.2f}x")


if __name__ == "__main__":
    main()
