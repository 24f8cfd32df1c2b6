"""`xlabs warm` compiles every numba kernel a rating run calls from Python (so no user's first
formula pays compile time), and every other kernel is only ever called from compiled code."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys

from numba.core.registry import CPUDispatcher

import xlabs
from xlabs.warm import ENTRY_KERNELS

TEST_TOOLS = {("xlabs.engine.portfolio.rng", "normals"), ("xlabs.engine.portfolio.rng", "uniforms"),
              ("xlabs.engine.portfolio.rng", "norm_ppf"), ("xlabs.engine.waterfall.kernel", "run_status")}
"""Kernels called only by tests and tools (stream and accuracy checks), not by a rating run."""


def _dispatchers():
    out = {}
    for m in pkgutil.walk_packages(xlabs.__path__, "xlabs."):
        if m.name.endswith("__main__"):
            continue
        mod = importlib.import_module(m.name)
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == m.name:
                out[(m.name, name)] = obj
    return out


_CHECK = """
import importlib, json
from xlabs.warm import ENTRY_KERNELS, warm
from xlabs.engine.waterfall.kernel import run_waterfall_ws
times = warm()
missing = [m + "." + n for m, ns in ENTRY_KERNELS.items() for n in ns
           if not getattr(importlib.import_module(m), n).signatures]
from xlabs.engine.portfolio.pathwise import _block
from xlabs.engine.waterfall.bdr import search_scenario
variants = sorted(str(s[-5:-2]) for s in run_waterfall_ws.signatures)   # (stop_j, detail, watch) types
once = [len(_block.signatures), len(search_scenario.signatures)]
print(json.dumps({"families": sorted(times), "missing": missing, "variants": variants, "once": once}))
"""


def test_warm_compiles_every_entry_kernel(tmp_path):
    # in a fresh process (in this one, other tests may already have compiled the kernels) with an
    # empty numba cache, so every kernel is really compiled and its compiled variants can be counted
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
               NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _CHECK], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["families"] == sorted(["consumer cash flow", "portfolio Monte Carlo", "semi-analytic recursion",
                                      "waterfall engine", "waterfall on every path"])
    assert res["missing"] == []
    # the waterfall kernel, the largest function of the package, is compiled exactly twice for all its
    # callers: status-only and full detail (a literal constant elsewhere would add a variant of several
    # seconds to every cold start; see kernel.run_waterfall_ws)
    assert res["variants"] == ["(int64, Literal[int](0), int64)", "(int64, Literal[int](1), int64)"]
    assert res["once"] == [1, 1]        # the path block and the BDR search: one variant each
    disp = _dispatchers()
    for mod, names in ENTRY_KERNELS.items():
        for name in names:
            assert (mod, name) in disp, f"{mod}.{name} is listed in ENTRY_KERNELS but is not a kernel"


def test_every_other_kernel_is_called_from_compiled_code():
    disp = _dispatchers()
    entry = {(m, n) for m, ns in ENTRY_KERNELS.items() for n in ns}
    compiled_sources = {k: inspect.getsource(d.py_func) for k, d in disp.items()}
    for key in disp:
        if key in entry or key in TEST_TOOLS:
            continue
        name = key[1]
        callers = [k for k, src in compiled_sources.items() if k != key and f"{name}(" in src]
        assert callers, (f"{key[0]}.{name} is a numba kernel called from Python: add it to "
                         "xlabs.warm.ENTRY_KERNELS and compile it in warm()")
