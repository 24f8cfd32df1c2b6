"""The corporate (CLO) path end to end: three caps by hand, min-of-three, adjustments, bad inputs.

A tiny pool (four independent obligors, no concentration multipliers) has an
exact loss distribution by enumeration of the 2^4 default sets; the caps
are recomputed here from METHODOLOGY §4.5, §4.7, §4.8 and §8 and compared
with the run.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from tests.sheet_checks import numbers_that_do_not_fit
from xlabs import rate_workbook
from xlabs.cli import main
from xlabs.engine.default_table import default_probability
from xlabs.engine.ratings import BELOW_SCALE, SCALE, notch, worst_of
from xlabs.errors import ValidationError
from xlabs.workbook.corporate_build import build_corporate_workbook

SAMPLE = Path(__file__).resolve().parents[2] / "workbooks" / "corporate_sample.xlsx"
TESTED = SCALE[:16]
POOL = [("OB1", 40e6, "BB"), ("OB2", 30e6, "B"), ("OB3", 20e6, "BBB-"), ("OB4", 10e6, "B-")]
TERM = 24          # months, bullet
PERIODS = 30       # model horizon = legal final


def tiny_kwargs(sub=0.15, mezz=0.15, adjustments=(), obligor_edit=None, key_obligors=None):
    obligors = [{"id": i, "balance": b, "rate": 0.06, "amortisation": "bullet", "remaining_term": TERM,
                 "shadow_rating": r, "industry": "manufacturing", "region": f"R{k}", "guarantee_type": "none",
                 "collateral_type": "none", "seniority": "senior_unsecured", "servicer": "average"}
                for k, (i, b, r) in enumerate(POOL)]
    if obligor_edit:
        obligor_edit(obligors)
    pool = sum(b for _, b, _ in POOL)
    zero_corr = [{"parameter": p, "value": 0.0} for p in ("base", "same_industry", "same_region", "same_group")]
    zero_corr.append({"parameter": "cap", "value": 0.99})
    flat_conc = [{"dimension": d, "lower": 0.0, "upper": 1.0, "multiplier": 1.0}
                 for d in ("obligor", "industry", "region")]
    return dict(
        deal={"deal_name": "Tiny CLO", "deal_type": "corporate", "payment_frequency": 12, "periods": PERIODS,
              "benchmark_rate": 0.0, "reserve_initial": 0.0, "reserve_multiple": 0.0, "cpr": 0.0},
        tranches=[{"name": "A", "balance": (1 - sub - mezz) * pool, "coupon_type": "fixed", "coupon": 0.02,
                   "interest": "timely", "legal_final": PERIODS, "rated": "yes"},
                  {"name": "B", "balance": mezz * pool, "coupon_type": "fixed", "coupon": 0.03,
                   "interest": "timely_when_senior", "legal_final": PERIODS, "rated": "yes"},
                  {"name": "Sub", "balance": sub * pool, "coupon_type": "none", "interest": "deferrable",
                   "legal_final": PERIODS, "rated": "no"}],
        # a servicer fee of 0: the stress scenarios' replacement-servicer fee is charged through it
        fees=[{"name": "servicer", "basis": "pool_balance", "rate": 0.0, "kind": "fee", "servicer": "yes"}],
        steps=[{"source": "interest", "action": "pay_fee", "payees": "servicer"},
               {"source": "interest", "action": "pay_interest", "payees": "A"},
               {"source": "interest", "action": "pay_interest", "payees": "B"},
               {"source": "interest", "action": "transfer", "amount": "pdl", "to": "principal"},
               {"source": "interest", "action": "pay_residual", "payees": "Sub", "amount": "all"},
               {"source": "principal", "action": "pay_principal", "payees": "A>B>Sub"},
               {"source": "principal", "action": "pay_residual", "payees": "Sub", "amount": "all"}],
        triggers=[], obligors=obligors, assumptions={"n_paths": N_PATHS, "seed": 7},
        tables={"correlation": zero_corr, "concentration": flat_conc},
        key_obligors=key_obligors if key_obligors is not None else [
            {"target_rating": r, "k": k} for r, k in (("AAA", 2), ("AA", 2), ("A", 1), ("BBB", 1), ("BB", 1))],
        adjustments=list(adjustments))


def res_scenarios():
    """The shipped corporate stress table, read independently with the csv module."""
    import csv
    text = (Path(__file__).resolve().parents[2] / "xlabs" / "data" / "corporate_stress_scenarios.csv").read_text()
    return list(csv.DictReader(ln for ln in text.splitlines() if not ln.startswith("#")))


def build(tmp_path, name="tiny.xlsx", **kw):
    path = tmp_path / name
    build_corporate_workbook(path, **tiny_kwargs(**kw))
    return path


N_PATHS = 400_000


def candidates(levels, probs, pa, n):
    """Exact (1 - pa) quantile of a discrete distribution, and its neighbours that a Monte Carlo
    estimate from n paths can return (within 5 standard errors of the order statistic's rank)."""
    band = 5 * np.sqrt(pa * (1 - pa) / n)
    lo = exact_quantile(levels, probs, max(1 - pa - band, 0.0))[0]
    hi = exact_quantile(levels, probs, min(1 - pa + band, 1.0))[0]
    return sorted({x for x in levels if lo - 1e-15 <= x <= hi + 1e-15})


def exact_quantile(levels, probs, q):
    """Smallest level L with P(X <= L) >= q (the inverse CDF of a discrete distribution)."""
    order = np.argsort(levels)
    cdf = np.cumsum(np.asarray(probs)[order])
    k = int(np.searchsorted(cdf, q - 1e-12))
    return float(np.asarray(levels)[order][k]), cdf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return rate_workbook(build(d), out=d / "tiny.rated.xlsx")


def test_caps_by_hand_on_a_tiny_independent_pool(tiny):
    res = tiny.result
    pool = sum(b for _, b, _ in POOL)
    pd = [float(default_probability(r, TERM / 12)) for _, _, r in POOL]
    rec = res.inputs.recovery
    np.testing.assert_allclose(res.inputs.pd[:, TERM - 1], pd, rtol=1e-12)
    # exact loss distribution over the 16 default sets (independent obligors)
    levels, probs = [], []
    for mask in itertools.product((0, 1), repeat=4):
        p = np.prod([pd[i] if m else 1 - pd[i] for i, m in enumerate(mask)])
        loss = sum(POOL[i][1] * (1 - rec[i]) for i, m in enumerate(mask) if m) / pool
        levels.append(loss)
        probs.append(p)
    ce = {"A": 0.30, "B": 0.15}
    for tr in res.ratings:
        assert tr.credit_enhancement == pytest.approx(ce[tr.tranche])
        cap1 = BELOW_SCALE
        for r in TESTED:
            pa = float(default_probability(r, PERIODS / 12))
            cands = candidates(levels, probs, pa, N_PATHS)
            got = res.targets[(res.targets.tranche == tr.tranche) & (res.targets.rating == r)].trlr.iloc[0]
            assert any(abs(got - c) < 1e-12 for c in cands), (tr.tranche, r, got, cands)
            decided = {ce[tr.tranche] >= c for c in cands}
            assert len(decided) == 1, f"the tiny pool does not decide {r} for {tr.tranche}"
            if cap1 == BELOW_SCALE and decided == {True}:
                cap1 = r
        assert tr.caps["portfolio"] == cap1
        # cap 3 by hand: the k largest obligors rated below the target default with their recoveries
        # table AAA 2, AA 2, A 1, BBB 1, BB 1; an unlisted rating takes k of the nearest listed one above
        listed = {"AAAsf": 2, "AAsf": 2, "Asf": 1, "BBBsf": 1, "BBsf": 1}
        table = {r: listed[max((x for x in listed if notch(x) <= notch(r)), key=notch)] for r in TESTED}
        assert table["AA+sf"] == 2 and table["A-sf"] == 1 and table["B-sf"] == 1
        # recoveries stressed by the harshest recovery haircut of the rating's scenarios (shipped table)
        hair = {}
        for sc in res_scenarios():
            hair[sc["rating"]] = max(hair.get(sc["rating"], 0.0), float(sc["recovery_haircut"]))
        cap3 = BELOW_SCALE
        for r in TESTED:
            below = sorted([(b, i) for i, (_, b, rt) in enumerate(POOL) if notch(rt) > notch(r)], reverse=True)
            loss = sum(b * (1 - rec[i] * (1 - hair[r])) for b, i in below[: table[r]]) / pool
            if ce[tr.tranche] >= loss:
                cap3 = r
                break
        assert tr.caps["key obligor"] == cap3
        # cap 2 from the stress table: highest rating whose stressed BDRs all reach TRDR
        st = res.stress[res.stress.tranche == tr.tranche]
        cap2 = next((r for r in TESTED if r in set(st.rating) and (st[st.rating == r].bdr >= st[st.rating == r].tdr).all()),
                    BELOW_SCALE)
        assert tr.caps["cash flow"] == cap2
        # min of three
        caps = [c for c in tr.caps.values()]
        expect = BELOW_SCALE if BELOW_SCALE in caps else worst_of(*caps)
        assert tr.model_indicated == expect


def test_trdr_is_the_exact_default_ratio_quantile(tiny):
    res = tiny.result
    pool = sum(b for _, b, _ in POOL)
    pd = [float(default_probability(r, TERM / 12)) for _, _, r in POOL]
    levels, probs = [], []
    for mask in itertools.product((0, 1), repeat=4):
        probs.append(np.prod([pd[i] if m else 1 - pd[i] for i, m in enumerate(mask)]))
        levels.append(sum(POOL[i][1] for i, m in enumerate(mask) if m) / pool)
    for r in TESTED:
        pa = float(default_probability(r, PERIODS / 12))
        got = res.targets[(res.targets.tranche == "A") & (res.targets.rating == r)].trdr.iloc[0]
        assert any(abs(got - c) < 1e-12 for c in candidates(levels, probs, pa, N_PATHS)), r
        if r in ("Asf", "BBB-sf", "B+sf"):     # far from any jump: exactly the quantile
            assert got == pytest.approx(exact_quantile(levels, probs, 1 - pa)[0], abs=1e-12)


def test_adjustment_caps_and_support_lifts_only_to_the_supporter(tmp_path):
    base = rate_workbook(build(tmp_path, "a.xlsx"), out=tmp_path / "a.out.xlsx").ratings
    adj = [{"tranche": "A", "factor": "commingling", "kind": "cap", "value": "B", "reason": "no trust account"},
           {"tranche": "B", "factor": "guarantee", "kind": "support", "value": "AA-",
            "reason": "shortfall commitment by an AA- originator", "coverage": 1.0}]
    out = rate_workbook(build(tmp_path, "b.xlsx", adjustments=adj), out=tmp_path / "b.out.xlsx").ratings
    a0, b0 = base
    a1, b1 = out
    assert a1.model_indicated == a0.model_indicated != BELOW_SCALE
    assert notch(a0.model_indicated) < notch("Bsf"), "the cap must bind in this test"
    assert a1.final == "Bsf"
    # support: lifted to AA-sf if the model said less, never above the supporter, never lowered
    assert b0.final == BELOW_SCALE or notch(b0.final) > notch("AA-sf"), "the support must bind in this test"
    assert b1.final == "AA-sf"
    assert "AA-sf" in b1.support


def test_more_subordination_never_lowers_a_rating(tmp_path):
    prev = None
    for k, sub in enumerate((0.05, 0.15, 0.30)):
        r = rate_workbook(build(tmp_path, f"s{k}.xlsx", sub=sub, mezz=0.10), out=tmp_path / f"s{k}.o.xlsx").ratings
        now = [notch(t.model_indicated) if t.model_indicated != BELOW_SCALE else 99 for t in r]
        if prev is not None:
            assert all(n <= p for n, p in zip(now, prev)), (prev, now)
        prev = now


def _problems(path):
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=path.with_name("never.xlsx"))
    assert not path.with_name("never.xlsx").exists()
    return {(p.where, p.rule) for p in e.value.problems}


def test_bad_inputs_rejected_with_cells(tmp_path):
    def edit(obs):
        obs[0]["shadow_rating"] = "AAA+"           # Obligors!G3: unknown rating symbol
        obs[1]["industry"] = "space_mining"        # Obligors!H4: not in the recovery table
        obs[2]["guarantee_type"] = "third_party"   # Obligors!K5: guaranteed, no guarantor rating
    probs = _problems(build(tmp_path, obligor_edit=edit))
    wheres = {w for w, _ in probs}
    assert "Obligors!G3" in wheres
    assert ("Obligors!H4", "industry is not in the recovery table (RatingTables 'Industry recovery')") in probs
    assert ("Obligors!K5", "a guaranteed asset needs the guarantor's rating") in probs


def test_malformed_waterfall_is_row_addressed(tmp_path):
    kw = tiny_kwargs()
    kw["steps"][1]["payees"] = "Z"                  # Waterfall row 2 -> sheet row 4
    path = tmp_path / "wf.xlsx"
    build_corporate_workbook(path, **kw)
    probs = _problems(path)
    assert ("Waterfall!C4", "payee is not a tranche") in probs, probs        # row 2, column payees


def test_cli_rates_the_corporate_sample_with_a_million_paths(tmp_path):
    out = tmp_path / "corp.rated.xlsx"
    assert main(["rate", str(SAMPLE), "-o", str(out), "-q"]) == 0
    wb = openpyxl.load_workbook(out)
    for name in ("Portfolio", "Stress", "KeyObligor", "Rating", "CashFlows", "Run"):
        assert name in wb.sheetnames
    run = {r[0]: r[1] for r in wb["Run"].iter_rows(min_row=5, values_only=True) if r[0]}
    assert run["Monte Carlo paths"] == 1_000_000 and run["seed"] == 20261123
    src = openpyxl.load_workbook(SAMPLE)
    for name in src.sheetnames:
        assert [[c.value for c in row] for row in src[name].iter_rows()] == \
               [[c.value for c in row] for row in wb[name].iter_rows()], name
    assert wb["Portfolio"]._charts and wb["Stress"]._charts
    assert numbers_that_do_not_fit(out, ("Portfolio", "Stress", "KeyObligor", "Rating", "CashFlows", "Run")) == []
    ko = list(wb["KeyObligor"].iter_rows(min_row=5, values_only=True))
    assert all(r[3] for r in ko if r[0]), "every key-obligor row says which obligors default, or that none is below"


def test_credit_enhancement_counts_pro_rata_classes_as_pari_passu():
    """§4.8 by hand, pool 100: A1 40 and A2 20 paid principal pro rata, B 20, E 10 (overcollateral 10).
    CE_A1 = CE_A2 = (B + E + OC) / pool = 40 %; CE_B = (10 + 10) / 100; CE_E = 10 / 100."""
    from xlabs.engine.corporate import credit_enhancement
    from xlabs.model import waterfall as wm

    tr = [wm.TrancheSpec(n, b, "fixed", 0.0, "timely", 0, 1) for n, b in (("A1", 40.0), ("A2", 20.0), ("B", 20.0),
                                                                            ("E", 10.0))]
    seq = [wm.Step("principal", "pay_principal", "A1>A2>B>E")]
    pro = [wm.Step("interest", "pay_interest", "A1+A2+B"),          # pro-rata interest: not pari passu for CE
           wm.Step("principal", "pay_principal", "A1+A2", condition="before", trigger="t"),
           wm.Step("principal", "pay_principal", "B>E")]
    assert credit_enhancement(tr, 100.0, seq) == pytest.approx({"A1": 0.6, "A2": 0.4, "B": 0.2, "E": 0.1})
    assert credit_enhancement(tr, 100.0, pro) == pytest.approx({"A1": 0.4, "A2": 0.4, "B": 0.2, "E": 0.1})


def test_concentration_bands_with_a_gap_are_refused_with_their_rows(tmp_path):
    """§4.3: every share must fall in a band; a gap (here obligor shares 9 %-10 % fall in none) would
    silently give multiplier 1, so the table is refused and each broken row named."""
    kw = tiny_kwargs()
    kw["tables"]["concentration"] = [
        {"dimension": "obligor", "lower": 0.0, "upper": 0.09, "multiplier": 1.0},     # sheet row of band 1
        {"dimension": "obligor", "lower": 0.10, "upper": 1.0, "multiplier": 1.2},     # gap 0.09 .. 0.10
        {"dimension": "industry", "lower": 0.0, "upper": 0.8, "multiplier": 1.0},     # does not reach 1
        {"dimension": "region", "lower": 0.0, "upper": 1.0, "multiplier": 0.9}]       # multiplier < 1
    path = tmp_path / "conc.xlsx"
    build_corporate_workbook(path, **kw)
    probs = _problems(path)
    rules = sorted(r for _, r in probs)
    assert any("without gap or overlap: this band starts at 0.1, the one before ends at 0.09" in r for r in rules)
    assert any("last 'industry' band must end at 1" in r for r in rules)
    assert any("must be >= 1" in r for r in rules)
    assert all(w.startswith("RatingTables!A") for w, r in probs if "band" in r or "multiplier" in r), probs


def test_band_problems_by_rule():
    from xlabs.engine.portfolio.inputs import band_problems

    ok = [(d, 0.0, 0.5, 1.0) for d in ("obligor", "industry", "region")] + \
         [(d, 0.5, 1.0, 1.3) for d in ("obligor", "industry", "region")]
    assert band_problems(ok) == []
    assert [(k, m) for k, m, _ in band_problems(ok[:5])] == [(2, "the last 'region' band must end at 1")]
    assert band_problems([(d, 0.0, 1.0, 1.0) for d in ("obligor", "industry")])[0][0] is None   # region missing
    overlap = ok + [("obligor", 0.4, 0.6, 1.1)]
    assert any("without gap or overlap" in m for _, m, _ in band_problems(overlap))
    assert any("0 <= lower < upper <= 1" in m for _, m, _ in band_problems(ok + [("region", 0.7, 0.6, 1.0)]))


def test_thin_tail_note_by_hand():
    """n x P_A < 10 expected paths beyond the quantile -> a note naming the ratings and the paths needed."""
    import pandas as pd

    from xlabs.engine.corporate import thin_tail_notes

    t = pd.DataFrame({"tranche": ["A", "A", "A"], "rating": ["AAAsf", "AA+sf", "Asf"],
                      "p_a": [3.45e-5, 2e-4, 0.002]})
    assert thin_tail_notes(t, 1_000_000) == []                        # 34.5, 200, 2000 paths beyond
    n = thin_tail_notes(t, 20_000)                                    # 0.69, 4, 40
    assert len(n) == 1 and "AAAsf, AA+sf rest on fewer than 10" in n[0] and "0.69 at AAAsf" in n[0]
    assert "About 289,856 paths" in n[0]                              # ceil(10 / 3.45e-5)


def test_an_obligor_problem_does_not_hide_the_waterfall_problems(tmp_path):
    """All problems at once: a bad obligor balance used to stop the waterfall rules from running."""
    def edit(obs):
        obs[0]["balance"] = -5.0
    kw = tiny_kwargs(obligor_edit=edit)
    kw["steps"][1]["payees"] = "Z"
    path = tmp_path / "both.xlsx"
    build_corporate_workbook(path, **kw)
    wheres = {w for w, _ in _problems(path)}
    assert "Obligors!C3" in wheres and "Waterfall!C4" in wheres, wheres


def test_quarterly_deal_counts_terms_and_lags_in_months(tmp_path):
    """The tiny pool paid quarterly: 30 months = 10 quarters.  The Monte Carlo runs on months, so its
    targets equal the monthly twin's (same seed, same 2.5-year terms); the cash-flow model runs on
    quarters: the 24-month bullets mature at the end of quarter 8, the monthly default timing is summed
    by quarter, and the recovery lag (months) becomes the whole quarters covering it."""
    import math

    from xlabs.engine.corporate import _timing_curve, rate_corporate, run_portfolio, waterfall_deal
    from xlabs.excel.macros import read_corporate_deal
    from xlabs.workbook.adapter import OpenpyxlBook

    def quarterly(kw):
        kw["deal"].update(payment_frequency=4, periods=PERIODS // 3)
        for t in kw["tranches"]:
            t["legal_final"] = PERIODS // 3
        kw["assumptions"]["n_paths"] = 20_000
        return kw

    kw_m = tiny_kwargs()
    kw_m["assumptions"]["n_paths"] = 20_000
    paths = [tmp_path / "m.xlsx", tmp_path / "q.xlsx"]
    build_corporate_workbook(paths[0], **kw_m)
    build_corporate_workbook(paths[1], **quarterly(tiny_kwargs()))
    dm, dq = (read_corporate_deal(OpenpyxlBook(str(p))) for p in paths)
    im, mm, tm, _ = run_portfolio(dm)
    iq, mq, tq, _ = run_portfolio(dq)
    assert mm.timing.size == mq.timing.size == PERIODS                      # 30 monthly steps both
    np.testing.assert_array_equal(tm.trdr.to_numpy(), tq.trdr.to_numpy())
    np.testing.assert_array_equal(tm.trlr.to_numpy(), tq.trlr.to_numpy())
    np.testing.assert_array_equal(tm.term_years.to_numpy(), tq.term_years.to_numpy())

    tim = _timing_curve(mq, dq.periods, 4)
    by_hand = np.add.reduceat(mq.timing, np.arange(0, PERIODS, 3))
    np.testing.assert_allclose(tim, by_hand / by_hand.sum(), rtol=1e-12)
    wf = waterfall_deal(dq, iq, tim)
    assert wf.periods == 10 and wf.frequency == 4
    np.testing.assert_allclose(wf.pool_amort[:7], 0.0, atol=1e-15)       # bullets: nothing before quarter 8
    assert wf.pool_amort[7] == pytest.approx(1.0)
    np.testing.assert_allclose(wf.pool_yield[:8], 0.06 / 4, rtol=1e-12)  # 6 % a year, paid quarterly
    w = np.array([o.balance for o in dq.obligors])
    lag_m = round(float(w @ iq.recovery_lag / w.sum()))
    assert wf.recovery_lag == math.ceil(lag_m / 3)

    res = rate_corporate(dq)                                                # the whole run goes through
    assert {r.tranche for r in res.ratings} == {"A", "B"}
    assert res.mc.timing.size == PERIODS


def test_frequency_that_is_not_whole_months_is_refused(tmp_path):
    kw = tiny_kwargs()
    kw["deal"]["payment_frequency"] = 5
    path = tmp_path / "f5.xlsx"
    build_corporate_workbook(path, **kw)
    assert any("payment_frequency must be 1, 2, 3, 4, 6 or 12" in r for _, r in _problems(path))


def test_servicer_stress_without_a_servicer_fee_is_reported(tmp_path):
    """The replacement-servicer stress is an extra fee on the pool balance paid with the fee marked
    servicer; with none it silently did nothing (every BDR equal to base)."""
    kw = tiny_kwargs()
    kw["fees"] = []
    kw["steps"] = kw["steps"][1:]
    path = tmp_path / "nofee.xlsx"
    build_corporate_workbook(path, **kw)
    assert any(w.startswith("Fees!") and "no fee is marked servicer" in r for w, r in _problems(path))


def test_servicer_stress_is_charged_on_the_pool_balance():
    """§6.2: servicer_fee_up is an extra annual fee on the pool balance, whatever the basis of the fee
    marked servicer (the CLO example's manager fee is on A1's balance)."""
    from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays
    from xlabs.engine.waterfall.examples import corporate_clo_deal
    from xlabs.model.waterfall import Scenario

    deal = corporate_clo_deal(loan_level=False)
    prog = compile_deal(deal)
    i = [f.name for f in deal.fees].index("manager")
    base = run_arrays(prog, scenario_arrays(deal, None), 0.0)
    up = run_arrays(prog, scenario_arrays(deal, Scenario("svc", servicer_fee_up=0.01)), 0.0)
    begin = base.pool[:, 0]                                  # the same pool in both runs at CDR 0
    extra = up.fees[:, i, 0] - base.fees[:, i, 0]            # due, first periods (before any arrears differ)
    np.testing.assert_allclose(extra[:6], 0.01 / deal.frequency * begin[:6], rtol=1e-9)


def test_trigger_problems_point_at_their_column(tmp_path):
    kw = tiny_kwargs()
    kw["triggers"] = [{"name": "t1", "test": "cdr_above", "level": 0.2, "effects": "sequental"}]
    path = tmp_path / "trig.xlsx"
    build_corporate_workbook(path, **kw)
    probs = _problems(path)
    col = openpyxl.load_workbook(path)["Triggers"]
    heads = [c.value for c in col[2]]
    letter = "ABCDEFGH"[heads.index("effects")]
    assert any(w == f"Triggers!{letter}3" and r.startswith("effect must be") for w, r in probs), probs


def test_bdr_grid_step_reaches_the_corporate_stress_test(tmp_path):
    kw = tiny_kwargs()
    kw["assumptions"].update(n_paths=20_000, bdr_grid_step=0.01)
    path = tmp_path / "step.xlsx"
    build_corporate_workbook(path, **kw)
    res = rate_workbook(path, out=tmp_path / "step.rated.xlsx")
    kw2 = tiny_kwargs()
    kw2["assumptions"].update(n_paths=20_000)
    build_corporate_workbook(tmp_path / "base.xlsx", **kw2)
    base = rate_workbook(tmp_path / "base.xlsx", out=tmp_path / "base.rated.xlsx")
    assert (res.result.stress.evaluations.to_numpy() != base.result.stress.evaluations.to_numpy()).any()
    runs = {r[0]: r[1] for r in openpyxl.load_workbook(tmp_path / "step.rated.xlsx")["Run"].iter_rows(values_only=True)
            if r and r[0]}
    assert runs["BDR search"].startswith("grid step 0.01")


def _revolving_kwargs(**deal):
    """The tiny deal with level-paying obligors and a six-period revolving period funded by all principal."""
    def level(obs):
        for o in obs:
            o["amortisation"] = "level"
    kw = tiny_kwargs(obligor_edit=level)
    kw["assumptions"].update(n_paths=20_000)
    kw["deal"].update({"revolving_periods": 6, "revolving_rate": 0.07, "revolving_term": 12,
                       "revolving_amortisation": "equal_principal", "revolving_price": 1.0}, **deal)
    kw["steps"].insert(5, {"source": "principal", "action": "purchase_assets", "amount": "all",
                           "condition": "revolving"})
    return kw


def test_a_revolving_period_is_read_from_the_deal_sheet_and_buys_assets(tmp_path):
    from xlabs.engine.waterfall import compile_deal, run, scenario_arrays
    from xlabs.model.waterfall import Revolving

    path = tmp_path / "rev.xlsx"
    build_corporate_workbook(path, **_revolving_kwargs())
    res = rate_workbook(path, out=tmp_path / "rev.rated.xlsx")
    wf = res.result.waterfall
    assert wf.revolving == Revolving(end_period=6, annual_rate=0.07, term=12, amortisation="equal_principal", price=1.0)
    r = run(compile_deal(wf), scenario_arrays(wf), 0.0)
    pool, a = r.pool, r.tranches["A"]
    collected = pool.scheduled_principal + pool.prepayments + pool.recoveries
    # periods 1-6: every yuan of principal collected buys new assets at par, none reaches tranche A
    assert np.allclose(pool.purchase_cash.iloc[:6], collected.iloc[:6], rtol=1e-12)
    assert np.allclose(pool.purchased_principal.iloc[:6], collected.iloc[:6], rtol=1e-12)
    assert (pool.purchase_cash.iloc[:6] > 0).all() and (a.principal_paid.iloc[:6] == 0).all()
    # from period 7 the deal amortises: no purchase, principal goes to A
    assert (pool.purchase_cash.iloc[6:] == 0).all() and a.principal_paid.iloc[6] > 0
    # the pool holds its balance through the revolving period (no default at CDR 0)
    assert abs(pool.end_balance.iloc[5] - pool.begin_balance.iloc[0]) < 1e-6 * pool.begin_balance.iloc[0]


def test_revolving_problems_point_at_the_deal_keys(tmp_path):
    kw = _revolving_kwargs(revolving_term=0, revolving_periods=99)
    path = tmp_path / "badrev.xlsx"
    build_corporate_workbook(path, **kw)
    probs = _problems(path)
    where = {r: w for w, r in probs}
    assert len(probs) == 2, probs
    assert where["revolving_term must be whole periods >= 1"].startswith("Deal!B"), probs
    assert where["revolving_periods must be a period 0..30 (the model horizon)"].startswith("Deal!B"), probs
    assert where["revolving_term must be whole periods >= 1"] != where["revolving_periods must be a period 0..30 "
                                                                        "(the model horizon)"]
    kw = tiny_kwargs()
    kw["steps"].insert(5, {"source": "principal", "action": "purchase_assets", "amount": "all"})
    build_corporate_workbook(path, **kw)
    assert ("Waterfall!B8", "purchase_assets needs a revolving period (Deal: revolving_periods > 0)") in _problems(path)


def test_a_benchmark_schedule_sets_the_floating_coupon_period_by_period(tmp_path):
    from xlabs.engine.waterfall import compile_deal, run, scenario_arrays

    kw = tiny_kwargs()
    kw["assumptions"].update(n_paths=20_000)
    kw["tranches"][0].update(coupon_type="floating", coupon=0.01)
    path_ = [0.02 + 0.001 * t for t in range(PERIODS)]
    kw["schedules"] = {"lpr": path_}
    kw["deal"]["benchmark_schedule"] = "lpr"
    kw["deal"]["benchmark_rate"] = 0.5                  # replaced by the schedule
    path = tmp_path / "float.xlsx"
    build_corporate_workbook(path, **kw)
    res = rate_workbook(path, out=tmp_path / "float.rated.xlsx")
    wf = res.result.waterfall
    r = run(compile_deal(wf), scenario_arrays(wf), 0.0)
    a = r.tranches["A"]
    bal0 = kw["tranches"][0]["balance"]
    # period 1 by hand: balance x (benchmark_1 + spread) / 12; period 5 on the balance then outstanding
    assert a.interest_due.iloc[0] == pytest.approx(bal0 * (0.02 + 0.01) / 12, rel=1e-12)
    assert a.interest_due.iloc[4] == pytest.approx(a.balance.iloc[3] * (0.024 + 0.01) / 12, rel=1e-12)
    kw["deal"]["benchmark_schedule"] = "sofr"
    build_corporate_workbook(path, **kw)
    assert any(w.startswith("Deal!B") and r.startswith("no Schedules row of that name") for w, r in _problems(path))


def test_the_cash_flow_sheet_shows_when_each_trigger_was_in_effect(tmp_path):
    """§5.3: a non-curable cumulative-default trigger at 0.5 % is in effect from the first period whose
    cumulative default ratio (the sheet's own pool column) exceeds 0.5 %, and in every later period."""
    kw = tiny_kwargs()
    kw["assumptions"].update(n_paths=20_000)
    kw["triggers"] = [{"name": "cdr_05", "test": "cdr_above", "level": 0.005, "effects": "sequential",
                       "curable": "no"},
                      {"name": "never", "test": "cdr_above", "level": 0.99, "effects": "sequential", "curable": "no"}]
    path = tmp_path / "trig.xlsx"
    build_corporate_workbook(path, **kw)
    res = rate_workbook(path, out=tmp_path / "trig.rated.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "trig.rated.xlsx")["CashFlows"]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[3]
    body = [r for r in rows[4:] if isinstance(r[0], int)][:PERIODS]
    assert [r[0] for r in body] == list(range(1, PERIODS + 1))
    cdr = [r[head.index("cumulative_default_ratio")] for r in body]
    on = [r[head.index("trigger cdr_05 in effect")] for r in body]
    first = next(t for t, x in enumerate(cdr, 1) if x > 0.005)
    assert on == ["no"] * (first - 1) + ["yes"] * (PERIODS - first + 1)
    assert set(r[head.index("trigger never in effect")] for r in body) == {"no"}
    table = {r[0]: r[1:3] for r in rows[rows.index(next(r for r in rows if r[0] == "Triggers")) + 2:] if r[0]}
    assert table == {"cdr_05": (first, PERIODS - first + 1), "never": ("never", 0)}
    # the base case is the Monte Carlo mean pool default ratio
    assert res.result.base_cashflows.cdr == pytest.approx(float(np.mean(res.result.mc.default_ratio)), rel=1e-15)
    assert rows[0][0].startswith(f"Tiny CLO: base-case cash flows at CDR {res.result.base_cashflows.cdr:.4%}")


def test_a_key_obligor_table_whose_k_rises_as_the_rating_falls_is_refused(tmp_path):
    rising = [{"target_rating": r, "k": k} for r, k in (("AAA", 1), ("AA", 2), ("A", 1), ("BBB", 1), ("A", 1))]
    path = tmp_path / "ko.xlsx"
    build_corporate_workbook(path, **tiny_kwargs(key_obligors=rising))
    probs = _problems(path)
    rules = sorted(r for _, r in probs)
    assert rules == ["k must not rise as the target rating falls: 2 at AAsf, 1 at AAAsf", "target rating listed twice"]
    assert all(w.startswith("RatingTables!") for w, _ in probs)


def test_a_bad_benchmark_value_is_reported_at_its_cell(tmp_path):
    kw = tiny_kwargs()
    kw["tranches"][0].update(coupon_type="floating", coupon=0.01)
    kw["schedules"] = {"lpr": [0.03] * 5 + [3.0] + [0.03] * (PERIODS - 6)}        # 3.0 typed for 3%
    kw["deal"]["benchmark_schedule"] = "lpr"
    path = tmp_path / "bench.xlsx"
    build_corporate_workbook(path, **kw)
    heads = ["name"] + list(range(1, PERIODS + 1))
    # Schedules block under the (empty) Triggers block: title row 4, header row 5, the row of 'lpr' 6
    assert ("Triggers!G6", "a benchmark rate must be an annual fraction in [0, 1) (0.025 for 2.5%)") in \
        _problems(path), heads
    kw["schedules"] = {"lpr": [0.03] * (PERIODS - 2)}
    build_corporate_workbook(path, **kw)
    probs = _problems(path)
    assert (f"Triggers!{get_column_letter(PERIODS)}6", f"schedule 'lpr': needs one value per period ({PERIODS})") \
        in probs, probs


def test_inputs_the_waterfall_would_ignore_and_echoed_problems(tmp_path):
    """What the second review of the revolving / schedule work found, each as the analyst would see it."""
    def problems_of(edit):
        kw = tiny_kwargs()
        edit(kw)
        path = tmp_path / "x.xlsx"
        build_corporate_workbook(path, **kw)
        wb = openpyxl.load_workbook(path)
        return path, wb

    # a schedule or a 'to' account on a step that does not use it; a cdr trigger without its level
    path, _ = problems_of(lambda kw: (kw["steps"][1].update(schedule="tgt", to="reserve"),
                                      kw["triggers"].append({"name": "k", "test": "cdr_above", "effects": "none"})))
    got = _problems(path)
    assert ("Waterfall!F4", "schedule: a schedule applies only to amount target_balance (it would be ignored)") in got
    assert ("Waterfall!G4", "to: an account to pay into applies only to transfers (it would be ignored)") in got
    assert ("Triggers!C3", "level: a cdr_above trigger needs a level or a schedule") in got
    assert len(got) == 3, got
    # revolving purchases that would mature after the horizon
    path, _ = problems_of(lambda kw: (kw["deal"].update(revolving_periods=20, revolving_term=24),
                                      kw["steps"].insert(5, {"source": "principal", "action": "purchase_assets",
                                                             "amount": "all", "condition": "revolving"})))
    got = _problems(path)
    assert [r for _, r in got] == ["assets bought in the last revolving period (20) mature in period 44, after "
                                   "the model horizon (periods = 30): lengthen the horizon or shorten the term"], got
    # a blank 'periods' is one problem, not one per schedule measured against a stand-in horizon
    path, wb = problems_of(lambda kw: kw.update(schedules={"s": [0.1] * PERIODS}))
    wb["Deal"]["B6"].value = None
    # a value under a blank header, a key cell left blank, a '#' in a note block's title, a second
    # Waterfall block, a blank schedule period header
    wb["Tranches"]["H2"].value, wb["Tranches"]["J2"].value, wb["Tranches"]["I3"].value = None, "note", "x"
    wb["Deal"].cell(wb["Deal"].max_row + 2, 1, "Notes #1")
    wb["Deal"].cell(wb["Deal"].max_row + 1, 1, "who")
    wb["Deal"].cell(wb["Deal"].max_row, 2, "when")
    wb["Assumptions"]["A3"].value = None
    wb["Triggers"]["C5"].value = None
    wb.save(path)
    got = _problems(path)
    wheres = sorted(w for w, _ in got)
    assert wheres == sorted(["Deal!B6", "Tranches!I2", "Tranches!J2", "Assumptions!A3", "Triggers!C5"]), got
    assert ("Triggers!C5", "column C of block 'Schedules' holds values but its header is blank: they would not be "
            "read (first at row 6)") in got


def test_a_bad_fee_cell_is_not_echoed_by_the_steps_that_pay_the_fee(tmp_path):
    kw = tiny_kwargs()
    kw["fees"][0]["kind"] = "??"                  # Fees!E3; the pay_fee step on Waterfall row 3 names it
    path = tmp_path / "fee.xlsx"
    build_corporate_workbook(path, **kw)
    got = _problems(path)
    assert [w for w, _ in got] == ["Fees!E3"], got


def test_filters_against_echoes_do_not_hide_a_wrong_payee_or_a_missing_revolving_period(tmp_path):
    kw = tiny_kwargs()
    kw["steps"][1]["payees"] = "servicer"            # pay_interest to a fee: Waterfall row 2 -> C4
    kw["fees"][0]["rate"] = "abc"                     # an unrelated bad cell of that fee's row
    path = tmp_path / "a.xlsx"
    build_corporate_workbook(path, **kw)
    got = _problems(path)
    assert ("Waterfall!C4", "payee is not a tranche") in got and any(w == "Fees!C3" for w, _ in got), got
    kw = tiny_kwargs()
    kw["deal"]["sed"] = 7                             # a typo of 'seed': its message lists the revolving keys
    kw["steps"].insert(5, {"source": "principal", "action": "purchase_assets", "amount": "all"})
    build_corporate_workbook(path, **kw)
    got = _problems(path)
    assert ("Waterfall!B8", "purchase_assets needs a revolving period (Deal: revolving_periods > 0)") in got, got


def test_a_fee_value_its_basis_does_not_use_is_refused_at_its_cell(tmp_path):
    """A rate on a fixed fee and a tranche on a pool fee were ignored without a word; an amount on a pool fee
    was added by the data waterfall. Each is one value per fee, as the Fees columns say."""
    kw = tiny_kwargs()
    kw["fees"][0].update(amount=100.0, tranche="A")                            # a pool_balance fee: D3, F3
    kw["fees"].append({"name": "trustee", "basis": "fixed", "rate": 0.01, "amount": 5e4, "kind": "fee"})   # C4
    kw["steps"][0]["payees"] = "servicer>trustee"
    path = tmp_path / "fee.xlsx"
    build_corporate_workbook(path, **kw)
    got = _problems(path)
    assert sorted(w for w, _ in got) == ["Fees!C4", "Fees!D3", "Fees!F3"], got
    assert dict(got)["Fees!C4"].startswith("rate: a fixed fee pays its amount per period"), got
