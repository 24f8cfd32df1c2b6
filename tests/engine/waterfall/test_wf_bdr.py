"""BDR grid + bisection for every tranche x scenario and the protection-distance table
(xlabs/engine/waterfall/bdr.py, METHODOLOGY §6.1–6.3)."""

import numpy as np
import pandas as pd
import pytest
from wf_builders import tiny

from xlabs.engine.rating_map import applied_default_notes
from xlabs.engine.stress import shipped_scenarios
from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays
from xlabs.engine.waterfall.bdr import applied_cdr, breakeven_table, cdr_applies, protection_table
from xlabs.engine.waterfall.examples import consumer_revolving_deal, corporate_clo_deal
from xlabs.engine.waterfall.reference import reference_run
from xlabs.errors import ValidationError
from xlabs.model.waterfall import Scenario, Step, TrancheSpec, Trigger


def test_bdr_of_a_one_period_deal_matches_the_closed_form():
    # one period, no interest, no recovery: A (balance a) is repaid in full iff (1 - CDR) * 1000 >= a.
    # BDR_A = 1 - a/1000: 0.3 for a = 700; B (300) fails at any CDR > 0 -> BDR 0 with state "found" at
    # the first bisection (grid point 0 passes, 0.02 fails).
    deal = tiny([TrancheSpec("A", 700, "none"), TrancheSpec("B", 300, "none")],
                [Step("principal", "pay_principal", "A>B")], periods=1, pool_amort=[1.0], pool_yield=[0.0],
                timing=[1.0])
    tb = breakeven_table(compile_deal(deal), [None], tol=1e-4)
    assert tb.bdr[0, 0] == pytest.approx(0.3, abs=1e-4) and tb.bdr[0, 0] <= 0.3 + 1e-12
    assert tb.bdr[0, 1] < 1e-4 and tb.frame().state.tolist() == ["found", "found"]


def test_bdr_brackets_the_first_failure_and_agrees_with_the_reference():
    deal = consumer_revolving_deal(periods=36)
    prog = compile_deal(deal)
    scs = [Scenario("base", "AAAsf"), Scenario("front", "AAAsf", 0.3, 1.5, 0.01, "front", 0.005)]
    tb = breakeven_table(prog, scs)
    assert (tb.state == 0).all()
    for i, s in enumerate(scs):
        arr = scenario_arrays(deal, s)
        for k, name in enumerate(tb.tranches):
            b = tb.bdr[i, k]
            j = prog.tranche_names.index(name)
            # paid in full at the BDR, defaults within one tolerance above it (kernel and reference agree)
            assert run_arrays(prog, arr, b).status[j, 0] == 0
            assert run_arrays(prog, arr, b + tb.tol).status[j, 0] == 1
            assert not reference_run(deal, arr, b)["status"][name]["defaulted"]
            assert reference_run(deal, arr, b + tb.tol)["status"][name]["defaulted"]
            # and no grid point below the BDR fails (the first failing interval was bisected)
            grid = np.arange(0, b, 0.02)
            assert all(run_arrays(prog, arr, g).status[j, 0] == 0 for g in grid)


def test_bdr_ordering_and_shipped_rating_scenarios():
    deal = corporate_clo_deal(periods=60, loan_level=False)
    prog = compile_deal(deal)
    scs = shipped_scenarios()
    tb = breakeven_table(prog, scs)
    assert tb.bdr.shape == (len(scs), 3)
    # seniority: A1 (paid first after the sequential trigger) >= A2 >= B
    assert np.all(tb.bdr[:, 0] >= tb.bdr[:, 1] - 1e-4) and np.all(tb.bdr[:, 1] >= tb.bdr[:, 2] - 1e-4)
    # a recovery haircut never raises the senior BDR relative to the base scenario of the same rating
    df = tb.frame()
    base = df[(df.scenario == "base") & (df.tranche == "A1")].set_index("rating").bdr
    rec = df[(df.scenario == "recovery_down") & (df.tranche == "A1")].set_index("rating").bdr
    assert (rec <= base + 1e-4).all()


def test_protection_table_arithmetic_and_missing_tdr():
    deal = consumer_revolving_deal(periods=36)
    tb = breakeven_table(compile_deal(deal), [Scenario("base", "AAAsf"), Scenario("base", "AAsf")], ["A", "B"])
    tdr = {"AAAsf": 0.25, "AAsf": 0.2}
    pt = protection_table(tb, tdr)
    for _, r in pt.iterrows():
        t = tdr[r.rating]
        assert r.protection == pytest.approx(r.bdr - t)
        assert r.relative_protection == pytest.approx((r.bdr - t) / t)
        assert r.passes == (r.bdr >= t)
    with pytest.raises(ValidationError, match="no TDR for this rating"):
        protection_table(tb, {"AAAsf": 0.25})


def test_bdr_arguments_are_checked():
    prog = compile_deal(consumer_revolving_deal(periods=24))
    with pytest.raises(ValidationError) as e:
        breakeven_table(prog, [None], ["Z"], step=0.0)
    assert len(e.value.problems) == 3   # step, tol >= step, unknown tranche


def test_identical_scenarios_share_one_search_and_give_the_separate_results():
    # the shipped table repeats each rating's "base" scenario (and, on a deal without a servicer fee,
    # the servicer-fee stress equals base): identical kernel inputs are searched once
    deal = corporate_clo_deal(periods=36, loan_level=False)
    prog = compile_deal(deal)
    scs = [s for s in shipped_scenarios() if s.rating in ("AAAsf", "BBBsf")]
    tb = breakeven_table(prog, scs)
    n_distinct = len({tuple(x.tobytes() for x in scenario_arrays(deal, s).args()) for s in scs})
    assert n_distinct < len(scs)
    assert tb.searches == n_distinct * len(tb.tranches)
    for i, s in enumerate(scs):
        alone = breakeven_table(prog, [s])
        np.testing.assert_array_equal(tb.bdr[i], alone.bdr[0])
        np.testing.assert_array_equal(tb.evaluations[i], alone.evaluations[0])
        np.testing.assert_array_equal(tb.state[i], alone.state[0])
    # rows that share a search are the same scenario for the kernel
    for i in range(len(scs)):
        for k in range(len(scs)):
            if tb.search[i] == tb.search[k]:
                for x, y in zip(scenario_arrays(deal, scs[i]).args(), scenario_arrays(deal, scs[k]).args()):
                    np.testing.assert_array_equal(x, y)


def test_scenario_arrays_are_prepared_once_per_parameter_set_and_equal_a_fresh_preparation():
    from xlabs.engine.waterfall.bdr import scenario_arrays_of

    deal = consumer_revolving_deal(periods=24)
    scs = [None] + shipped_scenarios()[:27] + [Scenario("front", "AAAsf", 0.3, 1.5, 0.01, "front", 0.005)]
    arrs = scenario_arrays_of(deal, scs)
    for s, a in zip(scs, arrs):
        for x, y in zip(a.args(), scenario_arrays(deal, s).args()):
            np.testing.assert_array_equal(x, y)
    # one preparation per distinct set of stress parameters (name and rating do not matter)
    params = {None if s is None else (type(s).__name__, tuple(v for k, v in vars(s).items() if k not in ("name", "rating")))
              for s in scs}
    assert len({id(a) for a in arrs}) == len(params) < len(scs)


def test_bdr_table_does_not_depend_on_the_thread_count():
    # scenarios are handed out in chunks to whichever thread is free (bdr.run_chunks)
    deal = consumer_revolving_deal(periods=36)
    prog = compile_deal(deal)
    scs = [s for s in shipped_scenarios() if s.rating in ("AAAsf", "Asf")]
    one = breakeven_table(prog, scs, threads=1)
    for threads in (2, 3):
        tb = breakeven_table(prog, scs, threads=threads)
        for x, y in ((tb.bdr, one.bdr), (tb.evaluations, one.evaluations), (tb.state, one.state)):
            np.testing.assert_array_equal(x, y)


def test_a_deal_the_cdr_does_not_reach_is_refused_not_rated_at_100_percent():
    # the loan-level CLO: obligors default only at their named periods, no pool balance, no revolving, so
    # the CDR changes nothing and a search would report "no default up to 100%" for every tranche
    loan_level = compile_deal(corporate_clo_deal(periods=60))
    assert not cdr_applies(loan_level)
    sc = scenario_arrays(loan_level.deal)
    o0, o1 = run_arrays(loan_level, sc, 0.0), run_arrays(loan_level, sc, 1.0)
    # the premise: the cash flows do not move with the CDR, and no tranche defaults
    assert np.array_equal(o0.tranches, o1.tranches) and not o1.status[:, 0].any()
    with pytest.raises(ValidationError) as e:
        breakeven_table(loan_level, [None])
    (p,) = e.value.problems
    assert "CDR stresses nothing" in str(p) and "20 obligors" in str(p)
    # aggregated into a pool, the same deal is searched and its senior tranche breaks below 100%
    pooled = compile_deal(corporate_clo_deal(periods=60, loan_level=False))
    assert cdr_applies(pooled)
    tb = breakeven_table(pooled, [None])
    assert (tb.state == 0).all() and 0 < tb.bdr[0, 0] < 1


def test_protection_table_with_a_zero_or_undetermined_tdr():
    # a Monte Carlo TRDR is 0 when no default occurs at the rating's confidence level: the distance is the
    # BDR itself and the relative distance undefined; a NaN TRDR never passes; a tranche that defaults
    # with no default at all never passes, even against a TDR of 0
    deal = tiny([TrancheSpec("A", 700, "none"), TrancheSpec("B", 300, "none")],
                [Step("principal", "pay_principal", "A>B")], periods=1, pool_amort=[1.0], pool_yield=[0.0],
                timing=[1.0])
    tb = breakeven_table(compile_deal(deal), [Scenario("base", "AAAsf"), Scenario("base", "AAsf")])
    assert tb.frame().state.tolist() == ["found"] * 4
    pt = protection_table(tb, {"AAAsf": 0.0, "AAsf": float("nan")}).set_index(["rating", "tranche"])
    a = pt.loc[("AAAsf", "A")]
    assert a.protection == a.bdr == pytest.approx(0.3, abs=1e-4) and np.isnan(a.relative_protection) and a.passes
    assert not pt.loc[("AAsf", "A")].passes and np.isnan(pt.loc[("AAsf", "A")].protection)
    # B (300 behind A's 700) fails at any CDR > 0 but not at 0: BDR 0 >= TDR 0 passes
    assert pt.loc[("AAAsf", "B")].bdr < 1e-4 and pt.loc[("AAAsf", "B")].passes
    # a deal that fails with no default: B's legal final before any principal arrives
    late = tiny([TrancheSpec("A", 700, "none"), TrancheSpec("B", 300, "none", legal_final=1)],
                [Step("principal", "pay_principal", "A>B")], periods=2, pool_amort=[0.0, 1.0],
                pool_yield=[0.0, 0.0], timing=[1.0, 0.0])
    lt = breakeven_table(compile_deal(late), [Scenario("base", "AAAsf")])
    assert lt.frame().state.tolist() == ["found", "defaults at 0% CDR"]
    lp = protection_table(lt, {"AAAsf": 0.0}).set_index("tranche")
    assert lp.loc["A"].passes and not lp.loc["B"].passes
    with pytest.raises(ValidationError, match=r"must be a fraction in \[0, 1\]"):
        protection_table(tb, {"AAAsf": -0.1, "AAsf": 0.1})


def _fine_first_failure(prog, arrs, j, lo, hi, step=1e-3):
    """Brute force: the first CDR on a ``step`` lattice in [lo, hi] at which tranche j defaults (full runs)."""
    for c in np.arange(lo, hi + 1e-12, step):
        if run_arrays(prog, arrs, float(c)).status[j, 0]:
            return float(c)
    return None


def test_the_fine_scan_finds_a_failing_window_the_bisection_would_step_over():
    """§6.1: BDR is the CDR just below the lowest failing CDR.  The tiny pool (1,000 yuan, all defaults in
    period 1, survivors S = 1000 (1 - c) repaid over 3 periods) yields 1.15 % a period on its balance:
    interest 2 x 0.0115 x S in all, moved to principal up to the defaults (pdl).  A (987) and B (13), no
    coupon, are paid principal pro rata — A 98.7 % of every payment — until a cumulative-default trigger
    above 2.7 % makes it sequential.  Pro rata, A is whole while (1 - c)(1 + 0.023) >= 1, i.e.
    c <= 0.023 / 1.023 = 2.248 %; sequential (c > 2.7 %), while 1.023 (1 - c) >= 0.987, i.e.
    c <= 1 - 0.987 / 1.023 = 3.519 %.  A fails in (2.248 %, 2.7 %], passes again up to 3.519 %: plain
    bisection of the first failing grid interval (2 %, 4 %] tries 3 % (passes) and lands on 3.519 %; the
    fine scan finds the window, as a brute-force 0.1 % scan does."""
    deal = tiny([TrancheSpec("A", 987.0, "none"), TrancheSpec("B", 13.0, "none")],
                [Step("interest", "transfer", "", "pdl", to="principal"), Step("principal", "pay_principal", "A+B"),
                 Step("interest", "pay_residual", "equity", "all")], pool_yield=[0.0115] * 3,
                triggers=[Trigger("acc", "cdr_above", level=0.027, effects="sequential")])
    prog = compile_deal(deal)
    arrs = scenario_arrays(deal, None)
    j = prog.tranche_names.index("A")
    low, high = 0.023 / 1.023, 1 - 0.987 / 1.023
    first = _fine_first_failure(prog, arrs, j, 0.0, 0.04)
    assert first == pytest.approx(np.ceil(low / 1e-3) * 1e-3)           # 2.3 %, the first lattice point above
    plain = breakeven_table(prog, [None], ["A"], fine=0).bdr[0, 0]
    fine = breakeven_table(prog, [None], ["A"]).bdr[0, 0]
    assert high - 1e-4 <= plain < high                            # bisection steps over the window
    assert low - 1e-4 <= fine < low                               # the fine scan does not (found to 1e-4)
    assert not run_arrays(prog, arrs, fine).status[j, 0]


def test_applied_cdr_is_what_the_pool_takes_when_the_timing_outlives_it():
    """All defaults timed in period 3 (timing 0, 0, 1), when only a third of the pool is left: period 3's
    defaults are min(1000 c, 333.33) (§5.2 cap).  B (400; A 500 takes periods 1-2's principal first, B 166.67
    of period 2) is owed 233.33 in period 3 out of 333.33 - d: it fails once d > 100, so BDR 10 %, all of it
    applied.  A is repaid by period 2 and never fails: BDR 100 % ("no default up to 100%"), of which the
    pool can take only 333.33 / 1000 = 1/3."""
    deal = tiny([TrancheSpec("A", 500, "none", 0.0, "deferrable"), TrancheSpec("B", 400, "none", 0.0, "deferrable")],
                [Step("principal", "pay_principal", "A>B"), Step("interest", "pay_residual", "equity", "all")],
                timing=[0.0, 0.0, 1.0])
    prog = compile_deal(deal)
    bt = breakeven_table(prog, [None], tranches=["A", "B"])
    assert list(bt.state[0]) == [1, 0] and bt.bdr[0, 0] == 1.0
    assert 0.1 - 1e-4 <= bt.bdr[0, 1] <= 0.1
    applied = applied_cdr(prog, bt)
    assert applied[0] == pytest.approx([1 / 3, bt.bdr[0, 1]], abs=1e-12)
    tab = protection_table(bt, {"": 0.2}, applied)
    assert list(tab.applied_cdr) == pytest.approx([1 / 3, bt.bdr[0, 1]], abs=1e-12)


def test_applied_default_notes_give_the_rating_on_the_defaults_applied():
    """A tranche passing AA on BDR (30 % >= 25 %) but with 22 % applied passes only A on applied defaults
    (22 % >= 20 %): the note names A instead of AA and the row that fails; a table without a shortfall
    gives no note."""
    rows = [("T", "AAsf", "base", 0.30, 0.25, 0.22), ("T", "AAsf", "back", 0.35, 0.25, 0.30),
            ("T", "Asf", "base", 0.30, 0.20, 0.22)]
    st = pd.DataFrame(rows, columns=["tranche", "rating", "scenario", "bdr", "tdr", "applied_cdr"])
    st["state"] = "found"
    st["passes"] = st.bdr >= st.tdr
    notes = applied_default_notes(st, {"T": "AAsf"}, ["AAAsf", "AAsf", "Asf"])
    assert len(notes) == 2 and notes[0].startswith("in all of 3 stress rows")
    assert notes[1] == ("T: compared on the defaults applied rather than the CDR stated, the cash-flow test would "
                        "give Asf instead of AAsf (base at AAsf: BDR 30.00% >= target 25.00%, but only 22.00% applied)")
    st["applied_cdr"] = st.bdr
    assert applied_default_notes(st, {"T": "AAsf"}, ["AAAsf", "AAsf", "Asf"]) == []
