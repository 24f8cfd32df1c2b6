"""Cash-flow kernel (xlabs/engine/cashflow.py, METHODOLOGY §5.2–5.4).

The numba kernel is checked against the slow pure-Python reference
(cashflow_reference.py) on random deals, and against invariants: cash is
conserved and a senior tranche never loses more than a junior one.
"""

import numpy as np
import pytest
from consumer_builders import deal_inputs, make_deal, random_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from xlabs.engine import cashflow as k
from xlabs.engine import cashflow_model as cfm
from xlabs.engine.cashflow_reference import cashflow_reference

SETTINGS = settings(max_examples=60, deadline=None)
seeds = st.integers(0, 2**32 - 1)
triggers = st.sampled_from(["none", "const", "path"])
cdrs = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.05, 0.3, 1.0]))

POOL_MAP = {"defaults": k.P_DEFAULT, "scheduled": k.P_SCHED, "prepaid": k.P_PREPAY, "interest": k.P_INTEREST,
            "recoveries": k.P_RECOVERY, "end_balance": k.P_END}
ACC_MAP = {"tax_paid": k.A_TAX, "fees_paid": k.A_FEE, "reserve_draw": k.A_RES_DRAW, "reserve_topup": k.A_RES_TOPUP,
           "reserve": k.A_RESERVE, "residual": k.A_RESIDUAL, "loss_cover": k.A_COVER}
TR_MAP = {"interest": k.T_INT, "principal": k.T_PRIN, "balance": k.T_BAL, "deferred": k.T_DEF}


def _close(a, b, scale):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-12 * scale


@SETTINGS
@given(seed=seeds, trigger=triggers, cdr=cdrs)
def test_kernel_equals_reference(seed, trigger, cdr):
    inp = random_inputs(seed, trigger)
    pool, acc, tr, status = cfm.run_arrays(inp, cdr)
    periods, ref_status = cashflow_reference(cdr, inp)
    H, J = inp.periods, inp.tr_bal0.size
    assert len(periods) == H
    scale = inp.b0
    for t, p in enumerate(periods):
        for key, col in POOL_MAP.items():
            assert _close(pool[t, col], p[key], scale), (t, key, pool[t, col], p[key])
        for key, col in ACC_MAP.items():
            assert _close(acc[t, col], p[key], scale), (t, key, acc[t, col], p[key])
        assert bool(acc[t, k.A_ACCEL]) == p["accelerated"], t
        for j in range(J):
            for key, col in TR_MAP.items():
                assert _close(tr[t, j, col], p["tranches"][j][key], scale), (t, j, key)
    for j in range(J):
        rs = ref_status[j]
        assert bool(status[j, k.S_DEFAULTED]) == rs["defaulted"], j
        assert int(status[j, k.S_PERIOD]) == rs["period"], j
        assert int(status[j, k.S_KIND]) == rs["kind"], j
        assert _close(status[j, k.S_LOSS], rs["loss"], scale), j
    # Columns the reference does not return, recomputed here.
    cum = np.cumsum(pool[:, k.P_DEFAULT])
    np.testing.assert_allclose(pool[:, k.P_CDR], cum / inp.b0, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pool[1:, k.P_BEGIN], pool[:-1, k.P_END], rtol=0, atol=0)
    assert pool[0, k.P_BEGIN] == inp.b0


def _conservation_gap(inp, cdr):
    pool, acc, tr, status = cfm.run_arrays(inp, cdr)
    collected = (pool[:, k.P_INTEREST].sum() + pool[:, k.P_SCHED].sum() + pool[:, k.P_PREPAY].sum()
                 + pool[:, k.P_RECOVERY].sum())
    paid = (acc[:, k.A_TAX].sum() + acc[:, k.A_FEE].sum() + tr[:, :, k.T_INT].sum() + tr[:, :, k.T_PRIN].sum()
            + acc[:, k.A_RESIDUAL].sum() + acc[-1, k.A_RESERVE])
    return collected + inp.reserve0 - paid, collected + inp.reserve0


@SETTINGS
@given(seed=seeds, trigger=triggers, cdr=cdrs)
def test_cash_is_conserved(seed, trigger, cdr):
    """Every yuan collected plus the opening reserve is paid out or left in the reserve."""
    gap, total = _conservation_gap(random_inputs(seed, trigger), cdr)
    assert abs(gap) <= 1e-9 * total


@SETTINGS
@given(seed=seeds, trigger=triggers, cdr=cdrs)
def test_pool_balance_identity(seed, trigger, cdr):
    """b0 = defaults + scheduled + prepaid + final performing balance (the pool leaks nothing)."""
    inp = random_inputs(seed, trigger)
    pool, _, _, _ = cfm.run_arrays(inp, cdr)
    out = pool[:, [k.P_DEFAULT, k.P_SCHED, k.P_PREPAY]].sum() + pool[-1, k.P_END]
    assert out == pytest.approx(inp.b0, rel=1e-11)
    assert pool[:, k.P_DEFAULT].sum() <= cdr * inp.b0 * (1 + 1e-12) + 1e-9
    # recoveries landed in the horizon never exceed R x defaults
    assert pool[:, k.P_RECOVERY].sum() <= inp.rec_rate * pool[:, k.P_DEFAULT].sum() * (1 + 1e-12) + 1e-9


@SETTINGS
@given(seed=seeds, trigger=triggers, cdr=cdrs)
def test_senior_never_loses_more_than_junior(seed, trigger, cdr):
    inp = random_inputs(seed, trigger)
    _, _, tr, status = cfm.run_arrays(inp, cdr)
    lost = tr[-1, :, k.T_BAL] / inp.tr_bal0           # principal not repaid, fraction of each tranche
    for j in range(lost.size - 1):
        assert lost[j] <= lost[j + 1] + 1e-12, (j, lost)
    # a tranche is repaid only after every more senior one: no junior principal while a senior is outstanding
    for t in range(inp.periods):
        for j in range(1, lost.size):
            if tr[t, j, k.T_PRIN] > 1e-9 * inp.b0:
                assert np.all(tr[t, :j, k.T_BAL] <= 1e-9 * np.maximum(inp.tr_bal0[:j], 1.0) + 1e-9)


def test_no_default_no_prepay_pays_pool_schedule_through():
    """With CDR 0, no prepayment, no costs, one tranche = the pool: the tranche receives exactly the
    scheduled principal and the interest of the pool, nothing is left over."""
    deal = make_deal(senior=1.0, mezz=0.0, cpr=0.0, recovery=0.0, trigger_cdr=None, tax_rate=0.0, fees=[],
                     reserve_initial=0.0, reserve_multiple=0.0)
    deal.tranches = deal.tranches[:1]
    inp = deal_inputs(deal)
    res = cfm.run(inp, 0.0)
    a = res.tranches["A"]
    np.testing.assert_allclose(a.principal_paid.to_numpy(), res.pool.scheduled_principal.to_numpy(), rtol=1e-12)
    assert not res.defaulted("A")
    assert a.balance.iloc[-1] == pytest.approx(0.0, abs=1e-6)
    # the pool yields ~19.5 % a year and the tranche costs 4 %: the rest is residual
    excess = res.pool.interest.sum() - a.interest_paid.sum()
    assert res.accounts.residual.sum() == pytest.approx(excess, rel=1e-9)


def test_smm_from_cpr():
    # SMM = 1 - (1 - CPR)^(1/12): 12 months of SMM compound back to the CPR.
    smm = cfm.smm_from_cpr(0.2)
    assert 1 - (1 - smm) ** 12 == pytest.approx(0.2, rel=1e-14)
    assert cfm.smm_from_cpr(0.0) == 0.0
    assert cfm.smm_from_cpr(0.2, frequency=4) == pytest.approx(1 - 0.8**0.25)


def test_build_inputs_applies_scenario():
    from xlabs.model.consumer import StressScenario

    deal = make_deal()
    base = deal_inputs(deal)
    s = StressScenario("AAAsf", "combined", recovery_haircut=0.5, cpr_multiplier=1.5, coupon_up=0.01,
                       timing="front", servicer_fee_up=0.01, recovery_lag_extra=2)
    x = deal_inputs(deal, scenario=s)
    assert x.rec_rate == pytest.approx(0.2 * 0.5)
    assert x.rec_lag == 3 + 2
    assert x.smm[0] == pytest.approx(cfm.smm_from_cpr(0.15))
    np.testing.assert_allclose(x.tr_coupon[:2, 0], np.array([0.05, 0.07]) / 12)
    assert x.tr_coupon[2, 0] == 0.0                          # the residual tranche has no coupon to stress
    assert x.fee_rate == pytest.approx(0.02 / 12)
    assert base.timing.sum() == pytest.approx(1.0) and x.timing.sum() == pytest.approx(1.0)
    assert x.timing[0] > base.timing[0]                       # front-loaded
    assert x.n_cover == 2 and base.trigger[0] == 0.06


def test_acceleration_makes_a_coupon_timely_from_the_period_after_the_senior_is_repaid():
    """Hand-worked, accelerated from period 1 (threshold below 0), no defaults, no costs.  Pool 100:
    period 1 pays 60 of principal and no interest, period 2 the last 40 and 2 of interest.
    A (60, coupon 0) takes all 60 in period 1 and is repaid; B (40, 1 % a period, timely) gets
    nothing in period 1.  B was not the most senior tranche at the start of period 1, so its
    0.40 coupon is deferred, not a default (§5.4); in period 2 B is senior and the 42 of cash
    pays its due 0.40 x 1.01 + 0.40 = 0.804, then its 40 of principal."""
    H = 2
    inp = cfm.CashflowInputs(
        b0=100.0, timing=np.array([1.0, 0.0]), amort=np.array([0.6, 1.0]), yld=np.array([0.0, 0.05]),
        smm=np.zeros(H), rec_rate=0.0, rec_lag=0, tr_bal0=np.array([60.0, 40.0]),
        tr_coupon=np.array([[0.0, 0.0], [0.01, 0.01]]), tr_timely=np.array([1, 1], dtype=np.int64), n_cover=2,
        tax_rate=0.0, fee_rate=0.0, fee_fixed=0.0, reserve0=0.0, reserve_k=0.0, trigger=np.full(H, -1.0),
        names=("A", "B"))
    r = cfm.run(inp, 0.0)
    assert r.accounts.accelerated.all()
    assert not r.defaulted("A") and not r.defaulted("B")
    b = r.tranches["B"]
    assert b.interest_paid.tolist() == pytest.approx([0.0, 0.804])
    assert b.balance.tolist() == pytest.approx([40.0, 0.0], abs=1e-9)
    _, ref_status = cashflow_reference(0.0, inp)          # the pure-Python reference agrees
    assert not ref_status[0]["defaulted"] and not ref_status[1]["defaulted"]


@pytest.mark.parametrize("seed", range(25))
def test_bdr_is_below_the_first_failure_of_a_fine_scan(seed):
    """§6.1 against brute force on random deals with CDR-path triggers: no CDR on a 0.1 % lattice
    from the last passing grid point up to the BDR makes the tranche default."""
    inp = random_inputs(seed, "path")
    for j in range(inp.tr_bal0.size):
        r = cfm.breakeven(inp, j)
        if r.state != "found":
            continue
        lo = np.floor(r.bdr / cfm.BDR_GRID_STEP) * cfm.BDR_GRID_STEP
        for c in np.arange(lo, r.bdr + 1e-12, 1e-3):
            assert not cfm.run(inp, float(c)).defaulted(inp.names[j]), (seed, j, c, r.bdr)
        assert cfm.run(inp, r.bdr + r.tol).defaulted(inp.names[j])


def test_loss_cover_is_net_of_recoveries():
    """Hand-worked: pool 100, CDR 10 % all in period 1, recovered in full at once (rate 1, lag 0).  Period 1:
    defaults 10, performing 90 pays 45 of principal and 9 of interest; the principal account holds 45 + 10
    (the recovery) = 55, so the default is already made good and loss cover takes nothing: the 9 of interest
    is residual, A (80, no coupon) gets 55.  Covering the gross default again moved the 9 to principal
    (A 64) and paid the residual nothing.  Period 2: the last 45 -> A's 25, the rest (20 + 4.5) residual."""
    H = 2
    inp = cfm.CashflowInputs(
        b0=100.0, timing=np.array([1.0, 0.0]), amort=np.array([0.5, 1.0]), yld=np.array([0.1, 0.1]),
        smm=np.zeros(H), rec_rate=1.0, rec_lag=0, tr_bal0=np.array([80.0]),
        tr_coupon=np.zeros((1, H)), tr_timely=np.array([1], dtype=np.int64), n_cover=1,
        tax_rate=0.0, fee_rate=0.0, fee_fixed=0.0, reserve0=0.0, reserve_k=0.0, trigger=np.full(H, 2.0),
        names=("A",))
    r = cfm.run(inp, 0.1)
    assert r.accounts.loss_cover_transfer.tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert r.tranches["A"].principal_paid.tolist() == pytest.approx([55.0, 25.0])
    assert r.accounts.residual.tolist() == pytest.approx([9.0, 24.5])
    ref = cashflow_reference(0.1, inp)[0]
    assert [p["loss_cover"] for p in ref] == pytest.approx([0.0, 0.0], abs=1e-12)
