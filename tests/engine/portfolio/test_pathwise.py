"""The full waterfall on every Monte Carlo path (xlabs/engine/portfolio/pathwise.py, METHODOLOGY §4.6, §4.5, §5.4)."""

import itertools

import numba
import numpy as np
import pytest

from xlabs.engine.portfolio import simulate_defaults
from xlabs.engine.portfolio.pathwise import obligor_inputs, simulate_waterfall
from xlabs.engine.waterfall import compile_deal, scenario_arrays
from xlabs.engine.waterfall.examples import corporate_clo_deal
from xlabs.engine.waterfall.paths import run_obligor_paths
from xlabs.engine.waterfall.reference import reference_run
from xlabs.errors import ValidationError
from xlabs.model.waterfall import Obligor, Scenario, Step, TrancheSpec, WaterfallDeal

MONTHS = 60


def clo_inputs(hazard=0.04, n=20, months=MONTHS):
    """The example CLO's 20 obligors: hazard 0.5-2 x ``hazard`` per year, two factors (global + one of two sectors)."""
    h = hazard * np.linspace(0.5, 2.0, n)[:, None]
    pd = 1.0 - np.exp(-h * np.arange(1, months + 1)[None, :] / 12.0)
    A = np.zeros((n, 2))
    A[:, 0] = np.sqrt(0.15)
    A[::2, 1] = np.sqrt(0.10)
    return pd, A


def tiny_deal():
    """4 bullet loans (12 months), sequential A (timely) > B (deferrable) > equity; defaults recover 40 % after 2 months."""
    obs = [Obligor(f"L{i}", b, 0.06, 12, "bullet", 0.4, 2) for i, b in enumerate([100.0, 80.0, 60.0, 40.0])]
    tranches = [TrancheSpec("A", 150.0, "fixed", 0.03, "timely"),
                TrancheSpec("B", 60.0, "fixed", 0.05, "deferrable"),
                TrancheSpec("Equity", 70.0, "none", 0.0, "deferrable", rated=0)]
    steps = [Step("interest", "pay_interest", "A"),
             Step("interest", "pay_interest", "B"),
             Step("interest", "transfer", "", "pdl", to="principal"),
             Step("interest", "pay_residual", "equity", "all"),
             Step("principal", "pay_principal", "A>B>Equity"),
             Step("principal", "pay_residual", "Equity", "all")]
    return WaterfallDeal(name="tiny", periods=12, tranches=tranches, steps=steps, obligors=obs, cpr=0.0)


def test_pool_ratios_are_simulate_defaults_bit_for_bit():
    deal = corporate_clo_deal(periods=MONTHS)
    pd, A = clo_inputs()
    r = simulate_waterfall(deal, pd, A, n_paths=9000, seed=17)           # 3 blocks, the last one partial
    oi = obligor_inputs(deal, MONTHS)
    s = simulate_defaults(pd, A, oi["exposure"], oi["recovery"], n_paths=9000, seed=17, maturity=oi["maturity"],
                          initial_principal=oi["initial_principal"])
    assert np.array_equal(r.default_ratio, s.default_ratio)
    assert np.array_equal(r.loss_ratio, s.loss_ratio)
    assert r.seed == 17 and r.n_paths == 9000 and r.default_ratio.max() > 0


def quarterly_clo():
    """The example CLO paid quarterly over 20 quarters (obligor terms 7-20 quarters)."""
    deal = corporate_clo_deal(periods=20)
    deal.frequency = 4
    for o in deal.obligors:
        o.term = max(o.term // 3, 1)
    return deal


@pytest.mark.parametrize("case", ["base", "prepayment+stress", "quarterly"])
def test_each_path_equals_a_loan_level_waterfall_run(case):
    # survivors aggregated into one cohort == every obligor run loan by loan (module doc), path by path
    deal = quarterly_clo() if case == "quarterly" else corporate_clo_deal(periods=MONTHS)
    scenario = None
    if case == "prepayment+stress":
        deal.cpr = 0.15
        scenario = Scenario(recovery_haircut=0.3, recovery_lag_extra=2, coupon_up=0.01)
    pd, A = clo_inputs(0.12)
    r = simulate_waterfall(deal, pd, A, n_paths=3000, seed=2, record_defaults=True, scenario=scenario)
    prog = compile_deal(deal)
    out = run_obligor_paths(prog, scenario_arrays(deal, scenario), r.default_periods)
    rated = [j for j, x in enumerate(prog.rated) if x]
    bal = prog.tr_bal0[rated]
    ref = np.where(out[:, rated, 3] > 1e-9 * bal + 1e-9, out[:, rated, 3], 0.0) / bal
    assert np.array_equal(out[:, rated, 0] == 1.0, r.tranche_default)
    np.testing.assert_allclose(r.tranche_loss, ref, rtol=0, atol=1e-12)
    assert r.tranche_default.any() and (r.default_periods > 0).sum(axis=1).max() >= 3
    # the pool ratios come from the recorded defaulters (scheduled balance at default) as in simulate_defaults
    oi = obligor_inputs(deal, MONTHS)
    s = simulate_defaults(pd, A, oi["exposure"], oi["recovery"] * (0.7 if scenario else 1.0), n_paths=3000, seed=2,
                          maturity=oi["maturity"], initial_principal=oi["initial_principal"])
    assert np.array_equal(r.default_ratio, s.default_ratio) and np.array_equal(r.loss_ratio, s.loss_ratio)
    p = np.argmax(r.default_ratio)
    per = r.default_periods[p]
    sched = prog.ob_bal0 * prog.ob_sched[np.arange(per.size), np.maximum(per - 1, 0)]
    assert np.isclose(sched[per > 0].sum() / oi["initial_principal"], r.default_ratio[p])


def test_tiny_pool_matches_exact_enumeration_of_default_sets():
    # zero correlation, default month 4 for certain given default (PD curve 0 until month 3, then p_i):
    # P(set D) = prod p_i (i in D) prod (1 - p_i); tranche outcome of D from the pure-Python reference waterfall
    deal = tiny_deal()
    p = np.array([0.10, 0.20, 0.15, 0.30])
    pd = np.zeros((4, 12))
    pd[:, 3:] = p[:, None]
    sc = scenario_arrays(deal)
    dp = np.zeros(2)
    el = np.zeros(2)
    for bits in itertools.product((0, 1), repeat=4):
        prob = np.prod(np.where(bits, p, 1.0 - p))
        ref = reference_run(deal, sc, 0.0, {f"L{i}": 4 for i in range(4) if bits[i]})["status"]
        for j, name in enumerate(("A", "B")):
            dp[j] += prob * ref[name]["defaulted"]
            el[j] += prob * max(ref[name]["loss"], 0.0) / deal.tranches[j].balance
    assert 0.005 < dp[0] < dp[1] < 0.99 and 0 < el[0] < el[1]      # the deal is not trivial at these PDs
    r = simulate_waterfall(deal, pd, np.zeros((4, 1)), n_paths=60_000, seed=5)
    assert r.tranche_names == ("A", "B")
    assert np.all(np.abs(r.default_probability - dp) <= 4 * r.default_probability_se)
    assert np.all(np.abs(r.expected_loss - el) <= 4 * r.expected_loss_se + 1e-12)


def test_same_seed_same_numbers_at_one_and_two_threads():
    deal = corporate_clo_deal(periods=MONTHS)
    pd, A = clo_inputs(0.08)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        r1 = simulate_waterfall(deal, pd, A, n_paths=5000, seed=9, block_size=512)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        r2 = simulate_waterfall(deal, pd, A, n_paths=5000, seed=9, block_size=512)
    finally:
        numba.set_num_threads(old)
    for f in ("default_ratio", "loss_ratio", "tranche_loss", "tranche_default", "default_probability",
              "expected_loss"):
        assert np.array_equal(getattr(r1, f), getattr(r2, f)), f
    r3 = simulate_waterfall(deal, pd, A, n_paths=5000, seed=10, block_size=512)
    assert not np.array_equal(r1.default_ratio, r3.default_ratio)


def test_senior_never_worse_than_junior():
    deal = tiny_deal()
    pd = np.repeat((1.0 - np.exp(-0.3 * np.arange(1, 13) / 12.0))[None, :], 4, axis=0)
    r = simulate_waterfall(deal, pd, np.full((4, 1), np.sqrt(0.3)), n_paths=20_000, seed=3)
    assert r.default_probability[0] <= r.default_probability[1]
    assert r.expected_loss[0] <= r.expected_loss[1]
    assert np.all(r.tranche_loss[:, 0] <= r.tranche_loss[:, 1] + 1e-12)   # sequential: path by path too
    assert r.expected_loss[1] > 0
    # the CLO: pro-rata senior A1/A2 against the junior B
    clo = corporate_clo_deal(periods=MONTHS)
    pd, A = clo_inputs(0.12)
    c = simulate_waterfall(clo, pd, A, n_paths=20_000, seed=4)
    assert c.tranche_names == ("A1", "A2", "B")
    assert np.all(c.default_probability[:2] <= c.default_probability[2])
    assert np.all(c.expected_loss[:2] <= c.expected_loss[2])


def test_inputs_are_checked():
    pd, A = clo_inputs()
    with pytest.raises(ValidationError, match="loan-level"):
        simulate_waterfall(corporate_clo_deal(periods=MONTHS, loan_level=False), pd, A, n_paths=10)
    with pytest.raises(ValidationError, match="one curve per deal obligor"):
        simulate_waterfall(corporate_clo_deal(periods=MONTHS), pd[:5], A[:5], n_paths=10)
    with pytest.raises(ValidationError, match="n_paths"):
        simulate_waterfall(corporate_clo_deal(periods=MONTHS), pd, A, n_paths=0)


def test_survivors_that_all_mature_leave_no_dust_balance():
    """Two obligors default in month 1, the survivor matures in period 8.  The survivors' cohort is
    'all obligors minus the defaulters'; after maturity that difference was ~1e-14 yuan, the annualised
    excess spread (divided by the pool balance) about -1e14, and an excess-spread trigger fired on the
    path only: tranche losses 7 % / 46 % against 19.5 % / 19.5 % loan by loan.  Now they are equal."""
    from xlabs.model.waterfall import Trigger

    H = 30
    obs = [Obligor("L1", 188.15, 0.07, 30, "level", 0.5, 8), Obligor("L2", 198.48, 0.07, 30, "level", 0.5, 8),
           Obligor("S1", 400.0, 0.07, 8, "level")]
    deal = WaterfallDeal(
        "dust", H, [TrancheSpec("A", 500.0, "fixed", 0.01, "deferrable"),
                    TrancheSpec("B", 233.3, "fixed", 0.01, "deferrable")],
        [Step("interest", "pay_interest", "A+B"), Step("principal", "pay_principal", "A+B"),
         Step("interest", "pay_residual", "equity", "all")],
        triggers=[Trigger("xs_negative", "excess_spread_below", level=0.0, effects="sequential", curable=1)],
        obligors=obs)
    pd = np.full((3, H), 1e-300)
    pd[:2, :] = 1.0 - 1e-15                  # L1 and L2 default in month 1, S1 never
    res = simulate_waterfall(deal, pd, np.zeros((3, 1)), n_paths=1, seed=3, record_defaults=True)
    assert res.default_periods[0].tolist() == [1, 1, 0]
    prog = compile_deal(deal)
    ll = run_obligor_paths(prog, scenario_arrays(deal), res.default_periods[:1])[0]
    np.testing.assert_allclose(res.tranche_loss[0], ll[:, 3] / prog.tr_bal0, rtol=0, atol=1e-12)
    ref = reference_run(deal, scenario_arrays(deal), 0.0, {"L1": 1, "L2": 1, "S1": 0})
    assert ref["status"]["A"]["loss"] / 500.0 == pytest.approx(res.tranche_loss[0, 0], abs=1e-9)


def test_a_pool_that_cannot_default_runs():
    """PDs of 0 for every obligor: no path defaults (it used to stop on a division by zero in the sampler)."""
    H = 12
    deal = WaterfallDeal("d", H, [TrancheSpec("A", 400.0, "fixed", 0.01, "deferrable")],
                         [Step("interest", "pay_interest", "A"), Step("principal", "pay_principal", "A"),
                          Step("interest", "pay_residual", "equity", "all")],
                         obligors=[Obligor("L1", 100, 0.07, 12, "level"), Obligor("S1", 400.0, 0.07, 8, "level")])
    r = simulate_waterfall(deal, np.zeros((2, H)), np.zeros((2, 1)), n_paths=100, seed=3)
    assert not r.default_ratio.any() and not r.tranche_default.any() and not r.tranche_loss.any()
