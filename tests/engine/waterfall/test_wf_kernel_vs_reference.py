"""Kernel == pure-Python reference on random deals, cash conservation and seniority of losses
(xlabs/engine/waterfall, METHODOLOGY §5.2–5.4)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from wf_builders import random_deal

from xlabs.engine.waterfall import cash_balance, compile_deal, run_arrays, scenario_arrays
from xlabs.engine.waterfall.examples import consumer_revolving_deal, corporate_clo_deal
from xlabs.engine.waterfall.reference import reference_arrays
from xlabs.model.waterfall import Scenario

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**31 - 1)
cdrs = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.02, 0.1, 0.4, 1.0]))
scenarios = st.sampled_from([None, Scenario("stress", "", 0.5, 1.5, 0.01, "front", 0.01, 2, 0.01),
                             Scenario("back", "", 0.2, 0.5, 0.0, "back", 0.0, 0, -0.01)])
NAMES = ("pool", "accounts", "tranches", "fees", "triggers", "status")


def _compare(deal, cdr, sc):
    prog = compile_deal(deal)
    arrs = scenario_arrays(deal, sc)
    raw = run_arrays(prog, arrs, cdr)
    ref = reference_arrays(deal, arrs, cdr)
    scale = 1e-9 * max(deal.pool_balance, 1.0)
    for name, a, b in zip(NAMES, (raw.pool, raw.accounts, raw.tranches, raw.fees, raw.triggers, raw.status), ref):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=scale, err_msg=name)
    return prog, raw


@SETTINGS
@given(seeds, cdrs, scenarios)
def test_kernel_equals_reference_on_random_deals(seed, cdr, sc):
    _compare(random_deal(seed), cdr, sc)


def test_kernel_equals_reference_on_both_fixture_deals():
    for deal in (consumer_revolving_deal(), corporate_clo_deal(), corporate_clo_deal(loan_level=False)):
        for cdr in (0.0, 0.05, 0.3):
            _, raw = _compare(deal, cdr, None)


@SETTINGS
@given(seeds, cdrs, scenarios)
def test_cash_is_conserved(seed, cdr, sc):
    """Every yuan collected (plus the initial reserve) is paid out or sits in an account at the end."""
    deal = random_deal(seed)
    prog = compile_deal(deal)
    raw = run_arrays(prog, scenario_arrays(deal, sc), cdr)
    cin, cout, left = cash_balance(prog, raw)
    assert cin > 0
    assert abs(cin - (cout + left)) <= 1e-9 * cin
    # and no account ever goes negative
    assert raw.accounts[:, :3].min() >= -1e-7 * cin


@SETTINGS
@given(seeds, cdrs)
def test_senior_never_loses_more_than_junior(seed, cdr):
    """Sequential principal: unrepaid principal / initial balance is non-decreasing down the stack.

    Principal only: in these random structures principal collections repay a junior's principal
    while a senior may still carry deferred interest (no step pays deferred interest from the
    principal account), so a senior can lose more *interest* than a junior by design."""
    deal = random_deal(seed, sequential_only=True)
    prog = compile_deal(deal)
    raw = run_arrays(prog, scenario_arrays(deal), cdr)
    frac = raw.tranches[-1, :, 3] / np.maximum(prog.tr_bal0, 1e-12)
    assert np.all(np.diff(frac) >= -1e-9)


def test_seniority_on_the_consumer_revolving_deal():
    deal = consumer_revolving_deal()
    prog = compile_deal(deal)
    for cdr in np.linspace(0.0, 1.0, 21):
        raw = run_arrays(prog, scenario_arrays(deal), cdr)
        frac = raw.tranches[-1, :, 3] / prog.tr_bal0
        assert np.all(np.diff(frac) >= -1e-9), cdr
        # the rated notes lose interest too, in order (Sub has no coupon, so only principal)
        frac_all = raw.status[:3, 3] / prog.tr_bal0[:3]
        assert np.all(np.diff(frac_all) >= -1e-9), cdr


@SETTINGS
@given(seeds, cdrs, scenarios)
def test_status_only_mode_gives_the_same_default_flags(seed, cdr, sc):
    """The BDR search runs the kernel in status-only mode with early exits; the default flags of
    the watched tranches (all of them; or 0..j with a stop at tranche j's default) equal a full run's."""
    from xlabs.engine.waterfall.kernel import run_waterfall
    from xlabs.engine.waterfall.run import allocate

    deal = random_deal(seed)
    prog = compile_deal(deal)
    arrs = scenario_arrays(deal, sc)
    full = run_arrays(prog, arrs, cdr).status[:, 0]
    for stop_j in range(-1, prog.tr_bal0.size):
        o = allocate(prog)
        run_waterfall(float(cdr), *arrs.args(), *prog.args(), o.pool, o.accounts, o.tranches, o.fees, o.triggers,
                      o.status, np.int64(stop_j), np.int64(0), np.int64(stop_j + 1 if stop_j >= 0 else 99))
        if stop_j < 0:
            np.testing.assert_array_equal(o.status[:, 0], full)
        else:
            assert o.status[stop_j, 0] == full[stop_j]
        # watching the first w tranches: their flags are exact
        for w in range(1, prog.tr_bal0.size + 1):
            run_waterfall(float(cdr), *arrs.args(), *prog.args(), o.pool, o.accounts, o.tranches, o.fees,
                          o.triggers, o.status, np.int64(-1), np.int64(0), np.int64(w))
            np.testing.assert_array_equal(o.status[:w, 0], full[:w])
