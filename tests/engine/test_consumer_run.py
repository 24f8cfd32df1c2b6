"""The consumer rating run end to end (xlabs/engine/consumer.py rate_consumer; METHODOLOGY §3, §6, §8).

Every check recomputes its reference independently from the returned tables
(scipy for the lognormal, the default-rate table for P_A, a fresh BDR search
for stress rows) rather than trusting the run's own intermediate numbers.
"""

import math

import numpy as np
import pytest
from consumer_builders import make_deal as _make_deal
from consumer_builders import make_static_pool
from scipy import stats

from xlabs.engine import cashflow_model as cfm
from xlabs.engine.consumer import credit_enhancement, rate_consumer
from xlabs.engine.default_table import default_probability
from xlabs.engine.ratings import BELOW_SCALE, notch
from xlabs.engine.stress import shipped_stress_multiples
from xlabs.model.consumer import FitAdjustment, PerformanceAssumptions, RatingAdjustment

# METHODOLOGY §1 order, best first (typed here, not read from the engine).
SCALE = ["AAAsf", "AA+sf", "AAsf", "AA-sf", "A+sf", "Asf", "A-sf", "BBB+sf", "BBBsf", "BBB-sf",
         "BB+sf", "BBsf", "BB-sf", "B+sf", "Bsf", "B-sf", "CCCsf", "CCsf", "Csf"]


def make_deal(**kw):
    """The shared 300-loan deal with a 12 % static pool and a 15 % CDR trigger, so that the senior
    tranche lands inside the scale (not AAA, not below) and moves with its subordination."""
    kw.setdefault("static_pool", make_static_pool(level=0.12))
    kw.setdefault("trigger_cdr", 0.15)
    return _make_deal(**kw)


@pytest.fixture(scope="module")
def deal():
    return make_deal()


@pytest.fixture(scope="module")
def result(deal):
    return rate_consumer(deal)


def _expected_rating(stress, tranche):
    """§8: the highest rating whose stressed BDRs all reach its TDR."""
    sub = stress[stress.tranche == tranche]
    for r in SCALE:
        rows = sub[sub.rating == r]
        if len(rows) and (rows.bdr >= rows.tdr).all():
            return r
    return BELOW_SCALE


def test_model_indicated_rating_recomputed_from_stress_table(result):
    assert [r.tranche for r in result.ratings] == ["A", "B"]          # C is unrated
    for row in result.ratings:
        exp = _expected_rating(result.stress, row.tranche)
        assert row.model_indicated == exp
        assert row.caps["cash flow"] == exp
        assert row.final == exp                                     # no adjustments in this deal
    # The deal is built so that the answer is inside the scale and not trivially AAA.
    a = result.ratings[0].model_indicated
    assert a != BELOW_SCALE and a != "AAAsf"
    assert notch(result.ratings[0].model_indicated) <= notch(result.ratings[1].model_indicated) or \
        result.ratings[1].model_indicated == BELOW_SCALE


def test_stress_table_columns_are_consistent(result):
    s = result.stress
    np.testing.assert_allclose(s.distance, s.bdr - s.tdr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(s.relative_distance, (s.bdr - s.tdr) / s.tdr, rtol=1e-12)
    assert (s.passes == (s.bdr >= s.tdr)).all()
    n_scen = len(result.stress[(s.tranche == "A")])
    assert n_scen == len(make_deal().scenarios)                     # one row per (rating, scenario)


def test_stress_bdrs_match_a_fresh_search(deal, result):
    """Spot-check rows against breakeven() on inputs rebuilt from the deal and the scenario."""
    scen = {(x.rating, x.name): x for x in deal.scenarios}
    names = [t.name for t in deal.tranches]
    rows = result.stress.iloc[[0, 7, 40, len(result.stress) - 1]]
    for _, row in rows.iterrows():
        inp = cfm.build_inputs(deal, result.schedule, result.vintages.timing, scen[(row.rating, row.scenario)])
        assert cfm.breakeven(inp, names.index(row.tranche)).bdr == row.bdr


def test_lognormal_fit_and_tdr_recomputed(result):
    va = result.vintages
    s, _, scale = stats.lognorm.fit(va.cdr, floc=0)
    assert result.fit.sigma == pytest.approx(s, rel=1e-6)
    assert result.fit.mu == pytest.approx(math.log(scale), rel=1e-6)
    mu, sigma = result.adjusted.mu, result.adjusted.sigma
    assert (mu, sigma) == (result.fit.mu, result.fit.sigma)          # no adjustments
    assert result.base_cdr == pytest.approx(stats.lognorm.mean(sigma, scale=math.exp(mu)), rel=1e-12)
    # horizon = last scheduled period (24) + recovery lag (3) + 1 -> 28 months
    assert result.schedule.last_period == 24
    for _, row in result.tdr.iterrows():
        assert row.term_years == pytest.approx(28 / 12)
        assert row.p_a == pytest.approx(default_probability(row.rating, 28 / 12), rel=1e-14)
        assert row.tdr == pytest.approx(stats.lognorm.isf(row.p_a, s=sigma, scale=math.exp(mu)), rel=1e-9)


def test_tdr_decreases_for_worse_ratings(result):
    for _, g in result.tdr.groupby("tranche"):
        g = g.assign(n=[notch(r) for r in g.rating]).sort_values("n")
        assert np.all(np.diff(g.tdr.to_numpy()) < 0)
        assert np.all(np.diff(g.p_a.to_numpy()) > 0)


def test_more_subordination_never_lowers_senior_rating():
    notches = []
    for senior in (0.86, 0.82, 0.78, 0.74, 0.70):
        r = rate_consumer(make_deal(senior=senior, mezz=0.95 - senior))
        top = r.ratings[0].model_indicated
        notches.append(len(SCALE) if top == BELOW_SCALE else SCALE.index(top))
    assert all(b <= a for a, b in zip(notches, notches[1:], strict=False)), notches
    assert notches[-1] < notches[0]


def test_adverse_fit_adjustment_never_improves_ratings(result):
    worse = rate_consumer(make_deal(fit_adjustments=[FitAdjustment("GDP", 0.2, 1.2, "slowing economy")]))
    assert worse.adjusted.mu == pytest.approx(result.fit.mu + 0.2)
    assert worse.adjusted.sigma == pytest.approx(result.fit.sigma * 1.2)
    for a, b in zip(result.ratings, worse.ratings, strict=True):
        na = len(SCALE) if a.final == BELOW_SCALE else SCALE.index(a.final)
        nb = len(SCALE) if b.final == BELOW_SCALE else SCALE.index(b.final)
        assert nb >= na


def test_rating_adjustments_reach_final(result):
    r = rate_consumer(make_deal(rating_adjustments=[RatingAdjustment("A", "servicer", "notch", 1, "thin servicer")]))
    base = result.ratings[0].model_indicated
    assert r.ratings[0].model_indicated == base
    assert r.ratings[0].final == SCALE[min(SCALE.index(base) + 1, len(SCALE) - 1)]
    assert r.ratings[1].final == result.ratings[1].final


def test_stress_multiple_method():
    mult = shipped_stress_multiples()
    assumptions = PerformanceAssumptions(cpr=0.1, recovery_rate=0.2, recovery_lag=3, horizon=24, method="multiple")
    r = rate_consumer(make_deal(assumptions=assumptions, stress_multiples=mult))
    assert r.fit is None
    assert r.base_cdr == pytest.approx(float(np.mean(r.vintages.cdr)), rel=1e-14)
    for _, row in r.tdr.iterrows():
        assert row.tdr == pytest.approx(r.base_cdr * mult[row.rating], rel=1e-14)
    for row in r.ratings:
        assert row.model_indicated == _expected_rating(r.stress, row.tranche)


def test_credit_enhancement_by_hand():
    # pool 100: A 80, B 10, C 5 (overcollateral 5): CE_A = (10 + 5 + 5)/100, CE_B = (5 + 5)/100, CE_C = 5/100
    d = make_deal()
    d.tranches[0].balance, d.tranches[1].balance, d.tranches[2].balance = 80.0, 10.0, 5.0
    assert credit_enhancement(d.tranches, 100.0) == pytest.approx({"A": 0.2, "B": 0.1, "C": 0.05})


def test_base_cashflows_run_at_base_cdr(result):
    cf = result.base_cashflows
    assert cf.cdr == pytest.approx(result.base_cdr)
    assert cf.pool.defaults.sum() == pytest.approx(result.base_cdr * result.schedule.balance[0], rel=1e-9)


def test_tdr_above_one_is_capped_and_a_tranche_surviving_total_default_passes():
    """A CDR cannot exceed 100 %: a TDR above 1 (thin senior, sigma x3) is capped at 1, recorded
    uncapped with a note, and a tranche whose BDR search finds no default up to 100 % passes it."""
    d = make_deal(senior=0.05, mezz=0.5, fit_adjustments=[FitAdjustment("servicer", 0.0, 3.0, "weak servicer")])
    r = rate_consumer(d)
    assert (r.tdr.tdr <= 1.0).all()
    over = r.tdr[r.tdr.tdr_uncapped > 1.0]
    assert len(over) and (over.tdr == 1.0).all()
    # the uncapped value is the §3.4 formula itself
    for x in over.itertuples():
        mu, sigma = r.adjusted.mu, r.adjusted.sigma
        assert x.tdr_uncapped == pytest.approx(math.exp(sigma * stats.norm.ppf(1 - x.p_a) + mu), rel=1e-9)
    assert any("TDR above 100% capped" in n for n in r.notes)
    a = r.stress[r.stress.tranche == "A"]
    assert (a.bdr_state == "no default up to 100%").all() and (a.bdr == 1.0).all()
    assert a.passes.all()
    assert next(x for x in r.ratings if x.tranche == "A").model_indicated == "AAAsf"


class _Table:
    """A default-rate table giving P_A = 0 at AAAsf and 1 at one other rating (the rest from the shipped table)."""

    def __init__(self, one=None):
        self.one = one

    def probability(self, rating, years):
        if rating == "AAAsf":
            return 0.0
        if rating == self.one:
            return 1.0
        return default_probability(rating, years)


def test_zero_target_probability_means_tdr_one_and_certain_default_is_refused():
    from xlabs.errors import ValidationError

    r = rate_consumer(make_deal(default_table=_Table()))
    aaa = r.tdr[r.tdr.rating == "AAAsf"]
    assert (aaa.tdr == 1.0).all() and np.isinf(aaa.tdr_uncapped).all()
    with pytest.raises(ValidationError) as e:
        rate_consumer(make_deal(default_table=_Table(one="AA+sf")))
    assert "AA+sf a default probability of 100%" in str(e.value)


def test_horizon_shorter_than_the_pool_life_and_quarterly_payments_are_refused():
    from xlabs.errors import ValidationError

    d = make_deal()
    life = int(np.max(d.tape.remaining_term))
    d.assumptions = PerformanceAssumptions(cpr=0.1, recovery_rate=0.2, recovery_lag=3, horizon=life - 1)
    d.frequency = 4
    d.legal_final_months = life - 1
    with pytest.raises(ValidationError) as e:
        rate_consumer(d)
    rules = " | ".join(p.rule for p in e.value.problems)
    assert f"at least the longest remaining term ({life} months" in rules and "only monthly payments" in rules
    assert f"legal_final_months must be at least the longest remaining term of the pool ({life} months)" in rules


def test_no_failing_window_is_skipped_under_acceleration():
    """§6.1: BDR is the CDR just below the *lowest* failing CDR.  With the acceleration trigger low
    enough to fire in every scenario, the engine's 2 % grid + bisection must find the same BDR as
    a 0.1 % grid (which would expose a failing window the coarse scan stepped over)."""
    d = make_deal(trigger_cdr=0.04, senior=0.8, mezz=0.11)
    r = rate_consumer(d)
    names = [t.name for t in d.tranches]
    seen = set()
    for s in d.scenarios:
        key = (s.recovery_haircut, s.cpr_multiplier, s.coupon_up, s.timing, s.servicer_fee_up, s.recovery_lag_extra)
        if key in seen:
            continue
        seen.add(key)
        inp = cfm.build_inputs(d, r.schedule, r.vintages.timing, s)
        for j in (0, 1):
            coarse, fine = cfm.breakeven(inp, j), cfm.breakeven(inp, j, step=1e-3)
            assert coarse.bdr == pytest.approx(fine.bdr, abs=1e-4), (names[j], s.name, coarse.bdr, fine.bdr)


def test_more_mezzanine_enhancement_never_lowers_its_rating_under_acceleration():
    """DESIGN invariant: more credit enhancement never gives a worse rating (the mezzanine below a
    senior that an acceleration trigger pays down first)."""
    got = []
    for ce in (0.05, 0.08, 0.11, 0.14):       # mezzanine CE = residual share; mezz 10 %
        r = rate_consumer(make_deal(trigger_cdr=0.04, senior=0.9 - ce, mezz=0.10))
        m = next(x for x in r.ratings if x.tranche == "B").model_indicated
        got.append(len(SCALE) if m == BELOW_SCALE else SCALE.index(m))
    assert all(b <= a for a, b in zip(got, got[1:])), got


def test_a_table_that_stops_above_b_minus_says_what_ccc_or_below_means():
    """'CCCsf or below' reads 'below the lowest tested rating' (§8): with a table down to A-sf only, a
    tranche failing A-sf was never tested lower, so a note says so; the full shipped table needs none."""
    from tests.engine.consumer_builders import make_static_pool
    from xlabs.engine.ratings import BELOW_SCALE, notch
    from xlabs.engine.stress import shipped_scenarios

    part = [s for s in shipped_scenarios() if notch(s.rating) <= notch("A-sf")]
    r = rate_consumer(make_deal(senior=0.97, mezz=0.02, static_pool=make_static_pool(level=0.1), scenarios=part))
    assert [x.caps["cash flow"] for x in r.ratings] == [BELOW_SCALE, BELOW_SCALE]
    notes = [n for n in r.notes if "tests nothing lower" in n]
    assert len(notes) == 2 and all("below A-sf" in n for n in notes)
    full = rate_consumer(make_deal(senior=0.97, mezz=0.02, static_pool=make_static_pool(level=0.1)))
    assert not [n for n in full.notes if "tests nothing lower" in n]


def test_notes_about_a_tranche_are_shown_on_the_rating_sheet():
    from xlabs.engine.rating_map import TrancheRating
    from xlabs.workbook.writer import rating_sheet

    rows = [TrancheRating("A", 0.2, {"cash flow": "AAsf"}, "AAsf"), TrancheRating("B", 0.1, {"cash flow": "Bsf"}, "Bsf")]
    s = rating_sheet(rows, {"A": 80.0, "B": 10.0}, "deal", "method", notes=["B: a note about B", "a run note"])
    text = [c.value for c in s.cells if isinstance(c.value, str)]
    assert "Notes on these ratings" in text and "B: a note about B" in text and "a run note" not in text


def test_stress_multiples_that_fall_as_the_rating_rises_are_refused_by_the_engine():
    """§3.5 through the Python API (the workbook reader has its own cell-addressed rule): AAAsf at 1.1,
    below B-sf's shipped multiple, would give AAAsf a lower TDR than B-sf."""
    from xlabs.errors import ValidationError
    mult = dict(shipped_stress_multiples())
    assumptions = PerformanceAssumptions(cpr=0.1, recovery_rate=0.2, recovery_lag=3, horizon=24, method="multiple")
    assert mult["B-sf"] == 1.2                      # the shipped multiple of the lowest rating
    mult["AAAsf"] = 1.1
    with pytest.raises(ValidationError) as e:
        rate_consumer(make_deal(assumptions=assumptions, stress_multiples=mult))
    assert any("stress multiple of AAAsf is below" in p.rule for p in e.value.problems)
