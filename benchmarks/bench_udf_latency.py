"""First-call and warm-call latency of the Excel surface, each first call in a fresh process.

Prints, side by side:
- import of the UDF module, first and second call of each UDF family;
- `xlabs warm` (numba kernels) in a fresh process: the first run after the
  numba cache is cleared (compile) and a second run (cache loaded);
- a consumer rating run on the shipped sample, cold cache vs warm cache.

    python benchmarks/bench_udf_latency.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, "udfs")
import xlabs_udfs as u
out = {"import UDF module": time.perf_counter() - t0}
calls = [("XLABS_TDR", lambda: u.XLABS_TDR(-3.4, 0.35, 0.002)),
         ("XLABS_PD", lambda: u.XLABS_PD("AA-", 3)),
         ("XLABS_FIT_LOGNORMAL", lambda: u.XLABS_FIT_LOGNORMAL([[0.02], [0.03], [0.05]])),
         ("XLABS_EXTRAPOLATE", lambda: u.XLABS_EXTRAPOLATE([[0.01, 0.02, 0.03], [0.01, None, None]], 3)),
         ("XLABS_VASICEK_QUANTILE", lambda: u.XLABS_VASICEK_QUANTILE(0.02, 0.2, 0.999)),
         ("XLABS_DIVERSITY_SCORE", lambda: u.XLABS_DIVERSITY_SCORE([1, 2, 3], ["a", "b", "a"]))]
for name, f in calls:
    t = time.perf_counter(); f(); first = time.perf_counter() - t
    t = time.perf_counter(); f(); warm = time.perf_counter() - t
    out[name] = (first, warm)
print(json.dumps(out))
"""


def _clear_numba_cache():
    for d in (ROOT / "xlabs").rglob("__pycache__"):
        for f in list(d.glob("*.nbi")) + list(d.glob("*.nbc")):
            f.unlink()


def _timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - t


def main():
    py = sys.executable
    res = json.loads(subprocess.run([py, "-c", PROBE], cwd=ROOT, check=True, capture_output=True,
                                    text=True).stdout)
    print(f"{'UDF (fresh process)':<26}{'first call':>12}{'warm call':>12}{'ratio':>8}")
    print(f"{'import xlabs_udfs':<26}{res.pop('import UDF module') * 1e3:>10.1f}ms")
    for k, (first, warm) in res.items():
        print(f"{k:<26}{first * 1e3:>10.2f}ms{warm * 1e6:>10.1f}us{first / warm:>8.0f}x")
    _clear_numba_cache()
    cold = _timed([py, "-m", "xlabs.cli", "warm"])
    cached = _timed([py, "-m", "xlabs.cli", "warm"])
    print(f"\nxlabs warm in a fresh process: cold (compile) {cold:.2f} s, cached {cached:.2f} s, "
          f"ratio {cold / cached:.1f}x")
    out = ROOT / "benchmarks" / ".latency.rated.xlsx"
    _clear_numba_cache()
    r_cold = _timed([py, "-m", "xlabs.cli", "rate", "workbooks/consumer_sample.xlsx", "-o", str(out), "-q"])
    r_warm = _timed([py, "-m", "xlabs.cli", "rate", "workbooks/consumer_sample.xlsx", "-o", str(out), "-q"])
    out.unlink(missing_ok=True)
    print(f"xlabs rate sample (20,000 loans), fresh process: cold cache {r_cold:.2f} s, warm cache {r_warm:.2f} s")
    shutil.rmtree(ROOT / "benchmarks" / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
