"""Obligor-default paths through the waterfall (xlabs/engine/waterfall/paths.py, METHODOLOGY §4.5–4.7)."""

import numpy as np
import pytest

from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays
from xlabs.engine.waterfall.examples import corporate_clo_deal
from xlabs.engine.waterfall.paths import run_obligor_paths
from xlabs.errors import ValidationError


def test_each_path_equals_a_single_run_with_those_defaults():
    deal = corporate_clo_deal(periods=60)
    prog = compile_deal(deal)
    sc = scenario_arrays(deal)
    rng = np.random.default_rng(3)
    N = prog.ob_bal0.size
    paths = np.where(rng.random((6, N)) < 0.4, rng.integers(1, prog.obligor_terms + 1, (6, N)), 0)  # within terms
    paths[0] = 0                       # no default at all
    paths[1] = 1                       # everybody defaults in period 1
    out = run_obligor_paths(prog, sc, paths)
    for p in range(paths.shape[0]):
        one = prog.with_defaults({n: int(paths[p, i]) for i, n in enumerate(prog.obligor_names)})
        np.testing.assert_allclose(out[p], run_arrays(one, sc, 0.0).status)
    assert out[0, :, 0].sum() == 0 and out[1, 0, 0] == 1      # senior A1 survives no default, not all of them


def test_path_shape_is_checked():
    prog = compile_deal(corporate_clo_deal(periods=60))
    with pytest.raises(ValidationError, match="shape"):
        run_obligor_paths(prog, scenario_arrays(prog.deal), np.zeros((3, 2)))


def test_paths_do_not_depend_on_the_thread_count():
    deal = corporate_clo_deal(periods=36)
    prog = compile_deal(deal)
    sc = scenario_arrays(deal)
    rng = np.random.default_rng(5)
    N = prog.ob_bal0.size
    paths = np.where(rng.random((40, N)) < 0.3, rng.integers(1, prog.obligor_terms + 1, (40, N)), 0)
    one = run_obligor_paths(prog, sc, paths, threads=1)
    for threads in (2, 3):
        np.testing.assert_array_equal(run_obligor_paths(prog, sc, paths, threads=threads), one)
