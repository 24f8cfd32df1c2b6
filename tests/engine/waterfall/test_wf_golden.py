"""Golden tests of the data-driven waterfall, worked by hand (METHODOLOGY §5.2–5.4).

All deals use ``wf_builders.tiny``: a 1,000-yuan pool over 3 periods with
amortisation fractions 1/3, 1/2, 1 of the performing balance and a 1 %
periodic yield.  The arithmetic is written next to each expected value.
"""

from dataclasses import replace

import numpy as np
import pytest
from wf_builders import evaluate, tiny

from xlabs.engine.waterfall import cash_balance, compile_deal, run, scenario_arrays
from xlabs.engine.waterfall import codes as c
from xlabs.engine.waterfall.reference import reference_arrays
from xlabs.model.waterfall import FeeSpec, Obligor, Revolving, Scenario, Step, TrancheSpec, Trigger, WaterfallDeal

approx = pytest.approx


def test_sequential_tax_fee_timely_and_deferred_interest():
    deal = tiny([TrancheSpec("A", 800, "fixed", 0.12, "timely"), TrancheSpec("B", 200, "fixed", 0.24, "deferrable")],
                [Step("interest", "pay_tax", "tax"), Step("interest", "pay_fee", "fee"),
                 Step("interest", "pay_interest", "A>B"), Step("principal", "pay_principal", "A>B"),
                 Step("interest", "pay_residual", "equity", "all")],
                fees=[FeeSpec("tax", "interest_income", 0.1, kind="tax"), FeeSpec("fee", "fixed", amount=1.0)],
                triggers=[Trigger("eod", "senior_interest_shortfall")])
    prog, raw = evaluate(deal, 0.10)
    P, A, T = raw.pool, raw.accounts, raw.tranches
    # period 1: defaults 0.1*1000*1 = 100; survivors 900; scheduled 900/3 = 300; interest 0.01*900 = 9
    assert P[0, c.P_DEFAULT] == approx(100) and P[0, c.P_SCHED] == approx(300) and P[0, c.P_INTEREST] == approx(9)
    # tax 0.1*9 = 0.9, fee 1, A interest due 800*0.01 = 8, paid 9-0.9-1 = 7.1 -> short 0.9: timely default in period 1
    assert A[0, c.A_TAX] == approx(0.9) and A[0, c.A_FEE] == approx(1.0)
    assert T[0, 0, c.T_DUE] == approx(8.0) and T[0, 0, c.T_INT] == approx(7.1)
    assert raw.status[0, c.S_DEFAULTED] == 1 and raw.status[0, c.S_PERIOD] == 1 and raw.status[0, c.S_KIND] == 1
    # B due 200*0.02 = 4, unpaid -> deferred 4; principal 300 -> A 500
    assert T[0, 1, c.T_DEF] == approx(4.0) and T[0, 0, c.T_BAL] == approx(500)
    # period 2: pool 600 -> scheduled 300, interest 6; A due 500*0.01 + 0.9*1.01 = 5.909; paid 6-0.6-1 = 4.4
    assert T[1, 0, c.T_DUE] == approx(5.909) and T[1, 0, c.T_INT] == approx(4.4)
    # B: deferred 4*1.02 = 4.08 (interest on interest) + 200*0.02 = 8.08
    assert T[1, 1, c.T_DUE] == approx(8.08)
    # the senior shortfall of period 1 puts the trigger in effect from period 2
    assert list(raw.triggers[:, 0]) == [0, 1, 1]
    # period 3: interest 3, tax 0.3, fee 1 -> A paid 1.7 of 200*0.01 + 1.509*1.01 = 3.52409
    assert T[2, 0, c.T_DUE] == approx(3.52409) and T[2, 0, c.T_INT] == approx(1.7)
    # principal 300 + 300 + 300: A 800 repaid, B 100 of 200; B loss 100 + (8.08*1.02 + 200*0.02) = 112.2416
    assert T[2, 0, c.T_BAL] == approx(0) and T[2, 1, c.T_BAL] == approx(100)
    assert raw.status[1, c.S_LOSS] == approx(112.2416) and raw.status[1, c.S_KIND] == 2
    assert raw.status[0, c.S_LOSS] == approx(3.52409 - 1.7)
    cin, cout, left = cash_balance(prog, raw)
    assert cin == approx(918) and cout == approx(918) and left == approx(0)   # 9+6+3 + 900


def test_pro_rata_switches_to_sequential_on_a_date_trigger_and_target_schedule():
    deal = tiny([TrancheSpec("A", 600, "none"), TrancheSpec("B", 400, "none")],
                [Step("principal", "pay_principal", "A+B"), Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("seq", "date", level=2, effects="sequential")])
    prog = compile_deal(deal)
    r = run(prog, scenario_arrays(deal), 0.0)
    A, B = r.tranches["A"], r.tranches["B"]
    # period 1: 1000/3 pro rata 600:400 -> A 200, B 133.33
    assert A.principal_paid[1] == approx(200) and B.principal_paid[1] == approx(400 / 3)
    # period 2 (trigger in effect): 333.33 all to A (400 left) -> A 66.67
    assert A.principal_paid[2] == approx(1000 / 3) and B.principal_paid[2] == approx(0)
    # period 3: 333.33 -> A 66.67, B 266.67
    assert A.principal_paid[3] == approx(200 / 3) and B.principal_paid[3] == approx(800 / 3)
    assert r.trigger_first == {"seq": 2}
    assert list(r.accounts.equity_residual) == approx([10, 1000 * 2 / 3 * 0.01, 1000 / 3 * 0.01])
    # target schedule: A down to 90% of 600 in period 1 (pays 60), the rest to B
    deal2 = tiny([TrancheSpec("A", 600, "none"), TrancheSpec("B", 400, "none")],
                 [Step("principal", "pay_principal", "A", "target_balance", schedule="tgt"),
                  Step("principal", "pay_principal", "B")], schedules={"tgt": [0.9, 0.5, 0.0]})
    _, raw = evaluate(deal2, 0.0)
    assert raw.tranches[0, 0, c.T_PRIN] == approx(60) and raw.tranches[0, 1, c.T_PRIN] == approx(1000 / 3 - 60)
    # period 2: A target 0.5*600 = 300 -> pays 240 of 333.33, B 93.33
    assert raw.tranches[1, 0, c.T_PRIN] == approx(240)


def test_reserve_top_up_excess_release_and_pdl():
    deal = tiny([TrancheSpec("A", 900, "fixed", 0.12), TrancheSpec("Sub", 100, "none", interest="deferrable")],
                [Step("interest", "pay_fee", "fee"), Step("interest", "pay_interest", "A"),
                 Step("reserve", "pay_interest", "A"), Step("interest", "top_up_reserve", "", "target_balance"),
                 Step("reserve", "transfer", "", "excess", to="principal"),
                 Step("interest", "transfer", "", "pdl", to="principal"),
                 Step("principal", "pay_principal", "A>Sub"), Step("interest", "pay_residual", "equity", "all")],
                fees=[FeeSpec("fee", "fixed", amount=2.0)], reserve_initial=50.0, reserve_multiple=1.0)
    prog, raw = evaluate(deal, 0.10)
    A = raw.accounts
    # p1: interest 9 - fee 2 = 7 of A's 9 -> reserve pays 2 (48 left); target = 1*(fee 2 + 900*0.01) = 11;
    # excess 48 - 11 = 37 to principal: A repaid 300 + 37 = 337
    assert A[0, c.A_RES_TARGET] == approx(11) and A[0, c.A_RES] == approx(11)
    assert raw.tranches[0, 0, c.T_INT] == approx(9) and raw.tranches[0, 0, c.T_PRIN] == approx(337)
    # p2: interest 6 - 2 = 4 of A's 563*0.01 = 5.63 -> reserve 1.63 (9.37 left); target 2 + 5.63 = 7.63;
    # excess 1.74; A repaid 301.74
    assert A[1, c.A_RES_TARGET] == approx(7.63) and raw.tranches[1, 0, c.T_PRIN] == approx(301.74)
    # p3 (last, target 0): interest 3 - 2 = 1 of 2.6126; reserve pays 1.6126, releases 6.0174;
    # principal 306.0174 -> A 261.26, Sub 44.7574
    assert raw.tranches[2, 1, c.T_PRIN] == approx(44.7574)
    assert raw.status[1, c.S_LOSS] == approx(55.2426) and raw.status[0, c.S_DEFAULTED] == 0
    # no excess interest ever covered the 100 of defaults
    assert A[2, c.A_PDL] == approx(100)
    cin, cout, left = cash_balance(prog, raw)
    assert cin == approx(968) and cout + left == approx(968)   # 18 + 900 + reserve 50


def test_pdl_transfer_covers_defaults_from_excess_interest():
    deal = tiny([TrancheSpec("A", 1000, "none")],
                [Step("interest", "transfer", "", "pdl", to="principal"), Step("principal", "pay_principal", "A"),
                 Step("interest", "pay_residual", "equity", "all")])
    _, raw = evaluate(deal, 0.01)
    # p1: defaults 10; interest 0.01*990 = 9.9 all to principal (pdl 10 -> 0.1); principal 330 + 9.9
    assert raw.accounts[0, c.A_PDL] == approx(0.1) and raw.tranches[0, 0, c.T_PRIN] == approx(339.9)
    # p2: pool 660, interest 6.6: 0.1 covers the rest of the pdl, 6.5 to equity
    assert raw.accounts[1, c.A_PDL] == approx(0) and raw.accounts[1, c.A_EQUITY] == approx(6.5)


def test_revolving_purchase_at_a_premium_and_per_cohort_defaults():
    deal = tiny([TrancheSpec("A", 1000, "none")],
                [Step("principal", "purchase_assets", "", "all", condition="revolving"),
                 Step("principal", "pay_principal", "A", condition="amortisation"),
                 Step("interest", "pay_residual", "equity", "all")],
                timing=[0.5, 0.5, 0.0], revolving=Revolving(1, 0.12, 2, "bullet", 1.25))
    prog, raw = evaluate(deal, 0.10)
    P = raw.pool
    # p1: defaults 0.1*1000*0.5 = 50; scheduled 950/3 = 316.67 buys 316.67/1.25 = 253.33 of principal
    assert P[0, c.P_PURCH_CASH] == approx(950 / 3) and P[0, c.P_PURCH] == approx(950 / 3 / 1.25)
    assert raw.accounts[0, c.A_REVOLVING] == 1 and raw.accounts[1, c.A_REVOLVING] == 0
    new = 950 / 3 / 1.25
    # p2: old cohort defaults 50 more; the new cohort (age 0) defaults 0.1*253.33*0.5 = 12.67
    assert P[1, c.P_DEFAULT] == approx(50 + 0.05 * new)
    # new cohort pays 1 % on its survivors (bullet: no principal at age 0)
    assert P[1, c.P_INTEREST] == approx(0.01 * (950 * 2 / 3 - 50) + 0.01 * 0.95 * new)
    # p3: old cohort repays 291.67, new cohort defaults 12.67 and repays the rest 0.9*253.33 at maturity
    assert P[2, c.P_SCHED] == approx((950 * 2 / 3 - 50) / 2 + 0.9 * new)
    # every cohort has defaulted 10% of what was bought: cumulative default ratio = 0.1 exactly
    assert P[2, c.P_CDR] == approx(0.10)
    cin, cout, left = cash_balance(prog, raw)
    assert cin == approx(cout + left)


def test_revolving_ends_early_on_a_cdr_schedule_trigger():
    deal = tiny([TrancheSpec("A", 1000, "none")],
                [Step("principal", "purchase_assets", "", "all", condition="revolving"),
                 Step("principal", "pay_principal", "A", condition="amortisation")],
                periods=4, pool_amort=[0.25, 1 / 3, 0.5, 1.0], pool_yield=[0.0] * 4, timing=[0.5, 0.5],
                revolving=Revolving(3, 0.0, 4, "equal_principal", 1.0), schedules={"cdr": [0.06, 0.08, 0.2, 0.2]},
                triggers=[Trigger("early", "cdr_above", schedule="cdr", effects="end_revolving", curable=1)])
    _, raw = evaluate(deal, 0.10)
    # p1: cdr 50/1000 = 0.05 <= 0.06: revolving, buys 950/4 = 237.5
    # p2: old defaults 50, new (age 0) 0.1*237.5*0.5 = 11.875 -> (100 + 11.875)/1237.5 = 0.0904 > 0.08: trigger,
    # revolving ends for good even though the (curable) trigger cures in period 3
    assert raw.pool[0, c.P_PURCH] == approx(237.5)
    assert raw.pool[1, c.P_CDR] == approx(111.875 / 1237.5)
    assert list(raw.triggers[:, 0]) == [0, 1, 0, 0]
    assert list(raw.accounts[:, c.A_REVOLVING]) == [1, 0, 0, 0]
    assert raw.pool[1, c.P_PURCH] == 0 and raw.tranches[1, 0, c.T_PRIN] > 0


def test_named_obligor_defaults_with_own_recovery_and_lag():
    obs = [Obligor("X", 600, 0.12, 4, "bullet", recovery=0.5, recovery_lag=2, default_period=2),
           Obligor("Y", 400, 0.24, 4, "bullet", recovery=0.3, recovery_lag=1)]
    deal = WaterfallDeal("obligors", 4, [TrancheSpec("A", 1000, "none")],
                         [Step("principal", "pay_principal", "A"), Step("interest", "pay_residual", "equity", "all")],
                         obligors=obs)
    prog = compile_deal(deal)
    r = run(prog, scenario_arrays(deal), 0.0)
    # interest: p1 600*0.01 + 400*0.02 = 14; then Y only: 8, 8, 8
    assert list(r.pool.interest) == approx([14, 8, 8, 8])
    # X defaults 600 in period 2 (cumulative ratio 0.6), recovers 0.5*600 = 300 two periods later (period 4)
    assert list(r.pool.defaults) == approx([0, 600, 0, 0]) and r.pool.cumulative_default_ratio[2] == approx(0.6)
    assert list(r.pool.recoveries) == approx([0, 0, 0, 300])
    # Y repays its bullet 400 in period 4: A gets 700, loses 300
    assert r.tranches["A"].principal_paid[4] == approx(700) and r.status.loc["A", "loss"] == approx(300)
    # key-obligor style override: Y also defaults, in period 3 -> recovers 0.3*400 = 120 in period 4
    prog2 = prog.with_defaults({"Y": 3})
    r2 = run(prog2, scenario_arrays(deal), 0.0)
    assert list(r2.pool.recoveries) == approx([0, 0, 0, 420]) and list(r2.pool.interest) == approx([14, 8, 0, 0])
    # recovery haircut 50 % halves the obligor recoveries
    r3 = run(prog, scenario_arrays(deal, Scenario(recovery_haircut=0.5)), 0.0)
    assert r3.pool.recoveries[4] == approx(150)


def test_floating_coupon_benchmark_stress_tranche_fee_cap_and_legal_final():
    deal = tiny([TrancheSpec("A", 1000, "floating", 0.012, legal_final=2)],
                [Step("interest", "pay_fee", "mgr", "capped", cap=0.6), Step("interest", "pay_interest", "A"),
                 Step("interest", "pay_fee", "mgr"), Step("principal", "pay_principal", "A"),
                 Step("interest", "pay_residual", "equity", "all")],
                fees=[FeeSpec("mgr", "tranche_balance", 0.012, tranche="A")], benchmark=[0.024, 0.036, 0.048])
    prog = compile_deal(deal)
    sc = scenario_arrays(deal, Scenario(benchmark_up=0.012))
    # coupons (0.024+0.012+0.012)/12 = 0.004, 0.005, 0.006
    assert sc.coupon[0] == approx([0.004, 0.005, 0.006])
    r = run(prog, sc, 0.0)
    # p1: fee 0.001*1000 = 1 paid 0.6 capped + 0.4 after A's 4; equity 10 - 1 - 4 = 5
    assert r.fees["mgr"].due[1] == approx(1.0) and r.fees["mgr"].paid[1] == approx(1.0)
    assert r.tranches["A"].interest_paid[1] == approx(4.0) and r.accounts.equity_residual[1] == approx(5.0)
    # p2: A 666.67: fee 0.6667, interest 3.3333, equity 6.6667 - 4 = 2.6667
    assert r.accounts.equity_residual[2] == approx(8 / 3)
    # legal final period 2: 333.33 still outstanding -> default "unpaid at legal final" in period 2
    assert r.status.loc["A", "kind"] == "unpaid at legal final" and r.status.loc["A", "period"] == 2
    # coupon stress adds to the floating coupon as well: (0.024 + 0.012 + 0.012)/12 = 0.004 ...
    assert scenario_arrays(deal, Scenario(coupon_up=0.012)).coupon[0] == approx([0.004, 0.005, 0.006])
    assert scenario_arrays(deal).coupon[0] == approx([0.003, 0.004, 0.005])


def test_turbo_combine_accounts_and_stop_subordinated():
    # turbo from period 2: residual interest pays principal, senior first
    deal = tiny([TrancheSpec("A", 500, "none"), TrancheSpec("B", 500, "none")],
                [Step("principal", "pay_principal", "A>B"), Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("t", "date", level=2, effects="turbo")])
    prog, raw = evaluate(deal, 0.0)
    # p2: principal 333.33 -> A 166.67, B 166.67; interest 6.667 turbo -> B
    assert raw.tranches[1, 1, c.T_PRIN] == approx(1000 / 3 - 500 / 3 + 20 / 3)
    assert raw.accounts[1, c.A_EQUITY] == approx(0)
    # p3: B needs 326.67 of 333.33: 6.667 stays in the principal account; interest 3.333 -> equity
    assert raw.accounts[2, c.A_PRIN] == approx(20 / 3) and raw.accounts[2, c.A_EQUITY] == approx(10 / 3)
    cin, cout, left = cash_balance(prog, raw)
    assert left == approx(20 / 3) and cin == approx(cout + left)

    deal = tiny([TrancheSpec("A", 500, "fixed", 0.12, "deferrable"), TrancheSpec("B", 500, "fixed", 0.12, "deferrable")],
                [Step("interest", "pay_interest", "A>B"), Step("principal", "pay_principal", "A>B"),
                 Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("eod", "date", level=2, effects="combine_accounts+stop_subordinated")])
    _, raw = evaluate(deal, 0.0)
    T = raw.tranches
    # p1: interest 10 -> A 5, B 5; principal 333.33 -> A
    assert T[0, 1, c.T_INT] == approx(5) and T[0, 0, c.T_BAL] == approx(500 / 3)
    # p2: combined; A is owed principal when the interest step runs -> B no interest; A 1.667 interest;
    # the principal step repays A (166.67), after which B is the class still owed: it gets the rest,
    # 6.667 + 333.33 - 1.667 - 166.67 = 171.67, and nothing stays in the accounts
    assert T[1, 0, c.T_INT] == approx(5 / 3) and T[1, 1, c.T_INT] == 0 and T[1, 1, c.T_DEF] == approx(5)
    assert T[1, 0, c.T_PRIN] == approx(500 / 3) and raw.accounts[1, c.A_EQUITY] == 0
    assert T[1, 1, c.T_PRIN] == approx(1020 / 3 - 5 / 3 - 500 / 3) and raw.accounts[1, :3].sum() == approx(0)
    # p3: B due 328.33*0.01 + 5*1.01 = 8.333; combined cash 3.333 + 333.33 = 336.67 pays it and B's 328.33
    b2 = 500 - (1020 / 3 - 5 / 3 - 500 / 3)
    assert T[2, 1, c.T_INT] == approx(0.01 * b2 + 5.05) and T[2, 1, c.T_BAL] == approx(0)
    assert raw.accounts[2, :3].sum() == approx(0)



def test_stop_subordinated_pays_a_pro_rata_senior_class_and_the_next_class_once_it_is_repaid():
    """stop_subordinated with A1 + A2 pari passu (one pro-rata group) and B below them, in effect from
    period 1.  The senior class is A1 *and* A2: both get their interest and principal; B is paid once both
    are repaid, in the same period (the class is the one still owed something when the step runs)."""
    deal = tiny([TrancheSpec("A1", 400, "fixed", 0.12, "timely"), TrancheSpec("A2", 400, "fixed", 0.12, "timely"),
                 TrancheSpec("B", 200, "none", 0.0, "deferrable")],
                [Step("interest", "pay_interest", "A1+A2"), Step("principal", "pay_principal", "A1+A2"),
                 Step("principal", "pay_principal", "B"), Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("eod", "date", level=1, effects="stop_subordinated")])
    prog, raw = evaluate(deal, 0.0)
    T = raw.tranches
    # p1: pool 1000 pays interest 10 and principal 333.33; A1, A2 are each due 400 x 1 % = 4: both paid;
    # principal pro rata 166.67 each; B is not in the senior class: nothing; the residual is stopped (2 left)
    assert T[0, 0, c.T_INT] == approx(4) and T[0, 1, c.T_INT] == approx(4)
    assert T[0, 0, c.T_PRIN] == approx(500 / 3) and T[0, 1, c.T_PRIN] == approx(500 / 3) and T[0, 2, c.T_PRIN] == 0
    # p2: interest 6.667 (+2 left): A1, A2 due 233.33 x 1 % each, paid; principal 333.33 pro rata 166.67 each
    assert T[1, 0, c.T_INT] == approx(7 / 3) and T[1, 1, c.T_INT] == approx(7 / 3)
    assert T[1, 0, c.T_BAL] == approx(200 / 3) and T[1, 1, c.T_BAL] == approx(200 / 3) and T[1, 2, c.T_PRIN] == 0
    # p3: principal 333.33 repays A1 and A2 (66.67 each); B is then the class still owed: it gets the 200 left
    assert T[2, 0, c.T_BAL] == approx(0) and T[2, 1, c.T_BAL] == approx(0) and T[2, 2, c.T_PRIN] == approx(200)
    assert not raw.status[:, c.S_DEFAULTED].any()
    # interest left: 10 - 8 + 6.667 - 4.667 + 3.333 - 1.333 = 6 stays in the interest account
    cin, cout, left = cash_balance(prog, raw)
    assert left == approx(6) and cin == approx(cout + left)
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.tranches, ref[2], atol=1e-9)

@pytest.mark.parametrize("payees, effects", [("A>B", "stop_subordinated"),
                                             ("A+B", "sequential+stop_subordinated")])
def test_stop_subordinated_pays_the_next_class_of_a_sequence_once_the_one_ahead_is_repaid(payees, effects):
    """One principal step paying A then B (written 'A>B', or 'A+B' made sequential by the trigger) under
    stop_subordinated from period 1.  Principal 333.33 a period: A (900) gets 333.33, 333.33, then its last
    233.33 in period 3, when B (100, legal final 3) is the class still owed and takes the 100 left: no
    default, and only the interest (10 + 6.67 + 3.33 = 20) stays in the accounts — as with two steps 'A', 'B'."""
    deal = tiny([TrancheSpec("A", 900, "none", 0.0, "deferrable"), TrancheSpec("B", 100, "none", 0.0, "deferrable", 3)],
                [Step("principal", "pay_principal", payees)],
                triggers=[Trigger("eod", "date", level=1, effects=effects)])
    prog, raw = evaluate(deal, 0.0)
    T = raw.tranches
    assert T[:, 0, c.T_PRIN] == approx([1000 / 3, 1000 / 3, 700 / 3])
    assert T[:, 1, c.T_PRIN] == approx([0, 0, 100])
    assert not raw.status[:, c.S_DEFAULTED].any() and raw.status[:, c.S_LOSS] == approx([0, 0])
    cin, cout, left = cash_balance(prog, raw)
    assert left == approx(20) and cin == approx(cout + left)
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.tranches, ref[2], atol=1e-9)



def test_turbo_under_stop_subordinated_pays_the_senior_class_principal():
    """turbo + stop_subordinated from period 1: the residual step pays principal to the class still owed
    (then the next once it owes nothing) and nothing to equity.  Skipping the step left the interest in its
    account while A (680, legal final 2) fell short at its legal final with that cash in hand."""
    deal = tiny([TrancheSpec("A", 680, "none", 0.0, "deferrable", 2), TrancheSpec("B", 320, "none", 0.0, "deferrable")],
                [Step("principal", "pay_principal", "A>B"), Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("eod", "date", level=1, effects="turbo+stop_subordinated")])
    prog, raw = evaluate(deal, 0.0)
    T = raw.tranches
    # p1: principal 333.33 -> A; interest 10 turboed to A: 680 - 343.33 = 336.67
    assert T[0, 0, c.T_PRIN] == approx(1000 / 3 + 10) and T[0, 1, c.T_PRIN] == 0
    # p2: principal 333.33 -> A (3.33 left owing); interest 6.667: A's 3.33, then B (A owes nothing) 3.33
    assert T[1, 0, c.T_PRIN] == approx(1010 / 3 - 1000 / 3 + 1000 / 3) and T[1, 0, c.T_BAL] == approx(0)
    assert T[1, 1, c.T_PRIN] == approx(10 / 3)
    # p3: principal 333.33 repays B's 316.67; 16.67 principal and 3.33 interest stay: no equity under stop_sub
    assert T[2, 1, c.T_BAL] == approx(0) and raw.accounts[:, c.A_EQUITY] == approx([0, 0, 0])
    assert not raw.status[:, c.S_DEFAULTED].any()
    cin, cout, left = cash_balance(prog, raw)
    assert left == approx(20) and cin == approx(cout + left)
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.tranches, ref[2], atol=1e-9)
    np.testing.assert_allclose(raw.status, ref[5], atol=1e-9)


@pytest.mark.parametrize("effects, a1, a2", [("turbo", 5.0, 5.0), ("turbo+sequential", 10.0, 0.0)])
def test_turbo_shares_by_balance_within_a_pro_rata_principal_class(effects, a1, a2):
    """A1 400 + A2 400 paid principal pro rata, B 200 below, turbo from period 1, CDR 0: principal 333.33 goes
    166.67 to each; the 10 of interest turboed is shared by balance too (5 each; it went all to A1, the
    first row).  Under 'sequential' the class is paid in row order: A1 takes the 10."""
    deal = tiny([TrancheSpec("A1", 400, "none"), TrancheSpec("A2", 400, "none"), TrancheSpec("B", 200, "none")],
                [Step("principal", "pay_principal", "A1+A2"), Step("principal", "pay_principal", "B"),
                 Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("t", "date", level=1, effects=effects)])
    _, raw = evaluate(deal, 0.0)
    T = raw.tranches
    p1 = [1000 / 6, 1000 / 6] if effects == "turbo" else [1000 / 3, 0.0]
    assert T[0, 0, c.T_PRIN] == approx(p1[0] + a1) and T[0, 1, c.T_PRIN] == approx(p1[1] + a2)
    assert raw.accounts[0, c.A_EQUITY] == approx(0)
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.tranches, ref[2], atol=1e-9)


def test_the_principal_deficiency_is_net_of_recoveries():
    """A pdl transfer makes good defaults *less their recoveries*, which reach the principal account
    themselves.  CDR 5 % in period 1 (50), recovered in full at once (rate 1, lag 0): the principal account
    holds 950/3 + 50 = 366.67 for A, nothing is owed to the ledger and the 9.5 of interest is equity.
    Counting the gross default moved the 9.5 to principal too (A 376.17, equity 0, a ledger of 40.5 left)."""
    deal = tiny([TrancheSpec("A", 1000, "none", 0.0, "deferrable")],
                [Step("interest", "transfer", "", "pdl", to="principal"), Step("principal", "pay_principal", "A"),
                 Step("interest", "pay_residual", "equity", "all")],
                recovery_rate=1.0, recovery_lag=0)
    prog, raw = evaluate(deal, 0.05)
    assert raw.tranches[0, 0, c.T_PRIN] == approx(950 / 3 + 50)
    assert raw.accounts[0, c.A_EQUITY] == approx(9.5) and raw.accounts[0, c.A_PDL] == approx(0)
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.05)
    np.testing.assert_allclose(raw.accounts, ref[1], atol=1e-9)
    cin, cout, left = cash_balance(prog, raw)
    assert cin == approx(cout + left)


def test_pari_passu_seniors_are_one_class_for_timely_when_senior_and_the_shortfall_trigger():
    """A1 and A2 paid interest pro rata are one class (§5.3-5.4).  A2 is timely_when_senior: a shortfall of
    A2 while A1 is outstanding is a default (it was not: only A1 counted as senior), and it fires the
    senior-interest-shortfall trigger.  Pool interest 10 in period 1 against A1 + A2 due 6 + 6 = 12:
    each gets 5, 1 short."""
    deal = tiny([TrancheSpec("A1", 300, "fixed", 0.24, "timely_when_senior"),
                 TrancheSpec("A2", 300, "fixed", 0.24, "timely_when_senior"),
                 TrancheSpec("B", 400, "none", 0.0, "deferrable")],
                [Step("interest", "pay_interest", "A1+A2"), Step("principal", "pay_principal", "A1+A2"),
                 Step("principal", "pay_principal", "B"), Step("interest", "pay_residual", "equity", "all")],
                triggers=[Trigger("eod", "senior_interest_shortfall", effects="none")])
    prog, raw = evaluate(deal, 0.0)
    T = raw.tranches
    assert T[0, 0, c.T_INT] == approx(5) and T[0, 1, c.T_INT] == approx(5)
    assert raw.status[1, c.S_DEFAULTED] == 1 and raw.status[1, c.S_PERIOD] == 1     # A2 (timely while senior)
    assert raw.status[0, c.S_DEFAULTED] == 1 and raw.status[0, c.S_PERIOD] == 1
    assert list(raw.triggers[:, 0]) == [0, 1, 1]                 # last period's senior shortfall, non-curable
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.status, ref[5], atol=1e-9)
    np.testing.assert_allclose(raw.triggers, ref[4], atol=1e-9)
    # the same tranches paid interest in sequence A1 > A2: A2 is junior, its shortfall is no default
    seq = replace(deal, steps=[Step("interest", "pay_interest", "A1>A2")] + deal.steps[1:])
    _, raw = evaluate(seq, 0.0)
    assert raw.tranches[0, 0, c.T_INT] == approx(6) and raw.tranches[0, 1, c.T_INT] == approx(4)
    assert raw.status[1, c.S_DEFAULTED] == 0 and raw.status[0, c.S_DEFAULTED] == 0

def test_excess_spread_trigger_averages_three_periods_curable_or_not():
    def deal(curable):
        return tiny([TrancheSpec("A", 1000, "fixed", 0.06)],
                    [Step("interest", "pay_interest", "A"), Step("principal", "pay_principal", "A"),
                     Step("interest", "pay_residual", "equity", "all")],
                    triggers=[Trigger("xs", "excess_spread_below", level=0.0485, curable=curable)])
    _, raw = evaluate(deal(1), 0.10)
    # xs_t = (interest - A interest)/begin*12: p1 (9-5)/1000*12 = 0.048; p2 A 700 -> (6-3.5)/600*12 = 0.05;
    # p3 A 400 -> (3-2)/300*12 = 0.04.  Averages 0.048, 0.049, 0.046 against 0.0485
    assert raw.accounts[:, c.A_XS] == approx([0.048, 0.05, 0.04])
    assert list(raw.triggers[:, 0]) == [1, 0, 1]
    _, raw = evaluate(deal(0), 0.10)
    assert list(raw.triggers[:, 0]) == [1, 1, 1]


def test_reserve_below_target_trigger():
    deal = tiny([TrancheSpec("A", 1000, "fixed", 0.12)],
                [Step("interest", "pay_interest", "A"), Step("principal", "pay_principal", "A"),
                 Step("interest", "pay_residual", "equity", "all")],
                reserve_initial=5.0, reserve_multiple=1.0,
                triggers=[Trigger("low", "reserve_below_target", level=1.0, curable=1)])
    _, raw = evaluate(deal, 0.0)
    # target p1 = 1000*0.01 = 10 > reserve 5; p2 target 666.67*0.01 = 6.67 > 5; p3 (last) target 0
    assert list(raw.triggers[:, 0]) == [1, 1, 0]
    assert raw.accounts[:, c.A_RES_TARGET] == approx([10, 20 / 3, 0])



def test_reserve_target_uses_the_interest_of_the_first_tranche_still_owing_principal():
    """§5.3: the target covers next period's interest.  A (300, 4 % a period, deferrable) is short 2 of its
    12 in period 1 and repaid; B (700, 1 % a period) is owed interest on its principal.  In period 2 A still
    owes 2 x 1.04 of deferred interest but no principal, so next period's interest is B's: the target is
    1 x 666.67 x 1 % = 6.67, not 0 (A accrues nothing on a zero balance)."""
    deal = tiny([TrancheSpec("A", 300, "fixed", 0.48, "deferrable"), TrancheSpec("B", 700, "fixed", 0.12, "deferrable")],
                [Step("interest", "pay_interest", "A>B"), Step("principal", "pay_principal", "A>B"),
                 Step("interest", "pay_residual", "equity", "all")], reserve_multiple=1.0)
    prog, raw = evaluate(deal, 0.0)
    T = raw.tranches
    assert T[0, 0, c.T_BAL] == approx(0) and T[0, 0, c.T_DEF] == approx(2)      # p1: A repaid, owes 2
    # p1 target: A's 300 x 4 % = 12 (A has principal at the start); p2: B's 666.67 x 1 %; p3 (last): 0
    assert raw.accounts[:, c.A_RES_TARGET] == approx([12, 20 / 3, 0])
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.accounts, ref[1], atol=1e-9)


@pytest.mark.parametrize("rows", [("A1", "A2"), ("A2", "A1")])
def test_reserve_target_counts_the_whole_pari_passu_senior_class(rows):
    """§5.3: the target covers next period's senior interest.  A1 (400, 1 % a period) and A2 (400, 2 % a
    period) are paid interest pro rata: one senior class, whichever row comes first.  p1 target =
    1 x (400 x 1 % + 400 x 2 %) = 12; principal 333.33 pro rata leaves 233.33 each, so p2 target =
    233.33 x 3 % = 7; p3 (last) 0.  (Counting only the first row's tranche gave 4 or 8.)"""
    spec = {"A1": 0.12, "A2": 0.24}
    deal = tiny([TrancheSpec(n, 400, "fixed", spec[n], "timely") for n in rows] + [TrancheSpec("B", 200, "none")],
                [Step("interest", "pay_interest", "A1+A2"), Step("interest", "top_up_reserve", "", "target_balance"),
                 Step("principal", "pay_principal", "A1+A2"), Step("principal", "pay_principal", "B"),
                 Step("interest", "pay_residual", "equity", "all")], reserve_multiple=1.0)
    prog, raw = evaluate(deal, 0.0)
    assert raw.accounts[:, c.A_RES_TARGET] == approx([12, 7, 0])
    ref = reference_arrays(deal, scenario_arrays(deal, None), 0.0)
    np.testing.assert_allclose(raw.accounts, ref[1], atol=1e-9)


def test_replacement_servicer_fee_and_prepayment_stress():
    deal = tiny([TrancheSpec("A", 1000, "none")],
                [Step("interest", "pay_fee", "svc"), Step("principal", "pay_principal", "A"),
                 Step("interest", "pay_residual", "equity", "all")],
                fees=[FeeSpec("svc", "pool_balance", 0.012, servicer=1)], cpr=0.2)
    sc = scenario_arrays(deal, Scenario(servicer_fee_up=0.012, cpr_multiplier=1.5))
    # own rate 0.012/12 = 0.001 a period, plus the stress 0.012/12 = 0.001 on the pool balance (here the
    # fee's own basis too): 0.002 of the pool a period; SMM = 1 - (1-0.3)^(1/12)
    assert sc.fee_rate == approx([0.001, 0.001]) and sc.smm[0] == approx(1 - 0.7 ** (1 / 12))
    r = run(compile_deal(deal), sc, 0.0)
    assert r.fees["svc"].paid[1] == approx(2.0)
    smm = 1 - 0.7 ** (1 / 12)
    assert r.pool.prepayments[1] == approx(smm * (1000 - 1000 / 3))
    assert np.isclose(r.pool.end_balance[1], (1000 - 1000 / 3) * (1 - smm))


def test_front_and_back_loaded_timing_from_the_base_curve():
    deal = tiny([TrancheSpec("A", 1000, "none")], [Step("principal", "pay_principal", "A")],
                timing=[1 / 3, 1 / 3, 1 / 3])
    # flat base over 3 periods, s = 0, 1/2, 1: front weights 1.5, 1, 0.5 -> /3; back 0.5, 1, 1.5 -> /3
    # (the first half of the timing array is the initial pool's curve; without revolving the second repeats it)
    assert scenario_arrays(deal, Scenario(timing="front")).timing == approx([0.5, 1 / 3, 1 / 6] * 2)
    assert scenario_arrays(deal, Scenario(timing="back")).timing[:3] == approx([1 / 6, 1 / 3, 0.5])
    # middle: 0.5, 1.5, 0.5 -> /2.5
    assert scenario_arrays(deal, Scenario(timing="middle")).timing[:3] == approx([0.2, 0.6, 0.2])
    # assets bought while revolving with a 2-period term: the base curve fitted to 2 periods (1/2, 1/2),
    # front-shaped over them (s = 0, 1: weights 1.5, 0.5 -> 3/4, 1/4), nothing after their maturity
    rev = replace(deal, revolving=Revolving(end_period=1, annual_rate=0.1, term=2))
    assert scenario_arrays(rev).timing[3:] == approx([0.5, 0.5, 0.0])
    assert scenario_arrays(rev, Scenario(timing="front")).timing[3:] == approx([0.75, 0.25, 0.0])
    # defaults of period 1 under the front shape at CDR 0.3: 0.3 * 1000 * 0.5 = 150
    _, raw = evaluate(deal, 0.3, Scenario(timing="front"))
    assert raw.pool[0, c.P_DEFAULT] == approx(150)


def test_loss_is_what_is_unpaid_at_the_legal_final():
    """By hand: pool 1000 with no interest repays 1/3, then 1/2 of the rest, then the rest (333.33,
    333.33, 333.33 a period); A (900, no coupon, legal final 1) receives 333.33 in period 1 and
    defaults there with 566.67 unpaid.  The cash of periods 2-3 still repays A in the cash flows, but
    the loss (§5.4: unpaid at the legal final) stays 566.67, not the 0 left at the horizon."""
    deal = tiny([TrancheSpec("A", 900.0, "none", legal_final=1), TrancheSpec("B", 100.0, "none")],
                [Step("principal", "pay_principal", "A>B")], pool_yield=[0.0, 0.0, 0.0])
    prog, raw = evaluate(deal, 0.0)
    a = prog.tranche_names.index("A")
    assert raw.tranches[:, a, 3].tolist() == pytest.approx([900 - 1000 / 3, 900 - 2000 / 3, 0.0])
    assert raw.status[a].tolist() == pytest.approx([1.0, 1.0, c.DEFAULT_FINAL, 900 - 1000 / 3])
    from xlabs.engine.waterfall.reference import reference_run
    ref = reference_run(deal, scenario_arrays(deal, None), 0.0)["status"]["A"]
    assert ref["loss"] == pytest.approx(900 - 1000 / 3) and ref["period"] == 1


def test_assets_bought_while_revolving_reach_the_stated_cdr():
    """§5.2: the CDR applies to each purchase as its own cohort.  Bullet purchases without prepayment
    are never capped by their performing balance, so the purchases default exactly CDR x the principal
    bought.  The initial pool's defaults do not depend on the purchases: they are those of the same deal
    with a revolving period of 0.  The base curve is 24 periods long and the purchases last 6: timed by
    the initial pool's curve they would default only about a quarter of CDR."""
    from xlabs.engine.waterfall.examples import consumer_revolving_deal

    deal = consumer_revolving_deal(periods=60)
    deal = replace(deal, cpr=0.0, triggers=[], timing=list(np.full(24, 1 / 24)),
                   revolving=Revolving(12, 0.16, 6, "bullet", 1.0),
                   steps=[s for s in deal.steps if s.condition in ("always", "revolving", "amortisation")])
    cdr = 0.05
    r = run(compile_deal(deal), scenario_arrays(deal), cdr)
    none = replace(deal, revolving=Revolving(0, 0.16, 6, "bullet", 1.0))
    r0 = run(compile_deal(none), scenario_arrays(none), cdr)
    bought = r.pool.purchased_principal.sum()
    assert bought > 0.3 * deal.pool_balance and r0.pool.purchased_principal.sum() == 0.0
    assert r.pool.defaults.sum() - r0.pool.defaults.sum() == approx(cdr * bought, rel=1e-9)
