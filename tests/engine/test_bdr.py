"""Breakeven default rate (xlabs/engine/cashflow_model.py breakeven / bisection_path, cashflow.bdr_search;
METHODOLOGY §6.1, Pengyuan Table 2)."""

import dataclasses

import numpy as np
import pytest
from consumer_builders import deal_inputs, make_deal, random_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from xlabs.engine import cashflow_model as cfm


def _defaults(inp, cdr, j):
    return bool(cfm.run(inp, cdr).status.iloc[j]["defaulted"])


@pytest.fixture(scope="module")
def no_trigger_inputs():
    return deal_inputs(make_deal(trigger_cdr=None))


@pytest.mark.parametrize("j", [0, 1])
def test_paid_at_bdr_defaults_just_above(no_trigger_inputs, j):
    inp = no_trigger_inputs
    res = cfm.breakeven(inp, j)
    assert res.state == "found" and res.converged
    assert 0.0 < res.bdr < 1.0
    assert not _defaults(inp, res.bdr, j)
    assert _defaults(inp, res.bdr + res.tol, j)
    # the path is what run() says at every tested CDR
    for c, paid in res.path:
        assert bool(paid) == (not _defaults(inp, c, j))
    fails = res.path[res.path[:, 1] == 0.0, 0]
    assert fails.min() - res.bdr <= res.tol
    assert res.evaluations == len(res.path)


def test_bdr_agrees_with_a_fine_scan(no_trigger_inputs):
    """Independent reference: the first failing CDR on a 0.1 %-step scan brackets the bisection's answer."""
    inp = no_trigger_inputs
    res = cfm.breakeven(inp, 0)
    scan = np.arange(0.0, 1.0005, 0.001)
    first_fail = next(c for c in scan if _defaults(inp, c, 0))
    assert first_fail - 0.001 - res.tol <= res.bdr < first_fail


def test_senior_bdr_at_least_junior(no_trigger_inputs):
    a = cfm.breakeven(no_trigger_inputs, 0).bdr
    b = cfm.breakeven(no_trigger_inputs, 1).bdr
    assert a > b > 0


def test_state_defaults_at_zero():
    # Tranches larger than the pool cannot be repaid even with no defaults.
    inp = deal_inputs(make_deal(senior=1.1, mezz=0.1, trigger_cdr=None))
    res = cfm.breakeven(inp, 0)
    assert res.state == "defaults at 0% CDR"
    assert res.bdr == 0.0 and res.evaluations == 1
    assert _defaults(inp, 0.0, 0)


def test_state_never_defaults():
    # A 5 % senior tranche with 60 % recoveries and a reserve: paid in full even at 100 % CDR.
    inp = deal_inputs(make_deal(senior=0.05, mezz=0.05, recovery=0.6, trigger_cdr=None))
    res = cfm.breakeven(inp, 0)
    assert res.state == "no default up to 100%"
    assert res.bdr == 1.0
    assert not _defaults(inp, 1.0, 0)
    assert res.evaluations == 51                # every point of the 2 % grid 0 .. 1


def test_bdr_monotone_in_subordination():
    """Shrinking the senior tranche and growing the junior one (same pool) never lowers the senior BDR."""
    bdrs = []
    for senior in (0.9, 0.85, 0.8, 0.75, 0.7, 0.6):
        inp = deal_inputs(make_deal(senior=senior, mezz=0.95 - senior))
        bdrs.append(cfm.breakeven(inp, 0).bdr)
    assert all(b2 >= b1 for b1, b2 in zip(bdrs, bdrs[1:], strict=False)), bdrs
    assert bdrs[-1] > bdrs[0]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_senior_bdr_at_least_junior_random(seed):
    """Without acceleration, with every tranche's interest timely: senior BDR >= junior BDR.

    With acceleration the ordering need not hold by design (cashflow.py docstring): a junior's interest
    is deferrable while a more senior tranche is outstanding, so at some CDRs the mezzanine misses timely
    interest (it has just become the most senior) while the junior below it defers and is repaid in full
    (e.g. ``random_inputs(0, "const", 3)``, all timely: BDRs 1.0, 0.91, 1.0).  Losses stay ordered in
    every mode (test_cashflow.py::test_senior_never_loses_more_than_junior)."""
    inp = random_inputs(seed, "none", n_tranches=3)
    # Every tranche bears a coupon: a zero-coupon junior has no interest to miss, so it can outlast a
    # mezzanine that misses timely interest while the pool waits for recoveries
    # (random_inputs(306, "none", 3) as drawn: BDRs 0.99, 0.65, 1.0).
    inp = dataclasses.replace(inp, tr_timely=np.ones(3, dtype=np.int64), n_cover=3,
                              tr_coupon=np.ascontiguousarray(inp.tr_coupon + 0.001))
    bdr = [cfm.breakeven(inp, j).bdr for j in range(3)]
    assert bdr[0] >= bdr[1] >= bdr[2], bdr


def test_bisection_path_reproduces_pengyuan_table_2():
    """Seed 002 (CSPY Pengyuan), Table 2: 50 % fails, 25 % passes, 37.5 % fails, 31.25 % fails,
    28.125 % passes, 29.69 % passes, ... for a tranche whose true breakeven is 30 %."""
    bdr, path = cfm.bisection_path(lambda c: c < 0.30)
    table2 = [(0.50, False), (0.25, True), (0.375, False), (0.3125, False), (0.28125, True), (0.296875, True)]
    assert len(path) > len(table2)
    for (c, ok), (c_ref, ok_ref) in zip(path, table2, strict=False):
        assert c == pytest.approx(c_ref, abs=5e-5)     # the table prints 29.69 %
        assert ok == ok_ref
    # footnote 2: each CDR is the midpoint of the last pass and the last failure
    assert path[5][0] == (path[4][0] + path[3][0]) / 2
    assert bdr < 0.30 and 0.30 - bdr <= cfm.BDR_TOL
    assert path[-1][0] - path[-2][0] != 0


def test_bisection_path_passes_at_top():
    bdr, path = cfm.bisection_path(lambda c: True)
    assert bdr == 0.5 and path == [(0.5, True)]
