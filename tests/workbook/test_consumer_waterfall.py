"""A consumer deal with its own waterfall: Waterfall / Triggers sheets and revolving Deal keys
(METHODOLOGY §3 for the TDRs, §5.2–5.4 and §6 for the cash flows, run by the data-waterfall engine)."""

from __future__ import annotations

import copy

import numpy as np
import openpyxl
import pytest

from tests.conftest import small_deal_kwargs
from xlabs import rate_workbook
from xlabs.errors import ValidationError
from xlabs.workbook.build import build_consumer_workbook


def _s(src, act, pay="", amt="due", **k):
    return dict(source=src, action=act, payees=pay, amount=amt, **k)


def builtin_steps(fees="servicing>trustee"):
    """The built-in Pengyuan waterfall of xlabs/engine/cashflow.py (normal mode) as Waterfall rows, for
    tranches A, B (timely) and C (residual): tax, fees, interest senior first from interest collections,
    the reserve then principal collections covering shortfalls (the reserve A's interest only), reserve
    top-up and release, loss cover, sequential principal, residual to C."""
    return [_s("interest", "pay_tax", "tax"), _s("interest", "pay_fee", fees), _s("interest", "pay_interest", "A>B>C"),
            _s("reserve", "pay_tax", "tax"), _s("reserve", "pay_fee", fees), _s("reserve", "pay_interest", "A"),
            _s("principal", "pay_tax", "tax"), _s("principal", "pay_fee", fees), _s("principal", "pay_interest", "A>B"),
            _s("interest", "top_up_reserve", "", "target_balance"),
            _s("reserve", "transfer", "", "excess", to="principal"),
            _s("interest", "transfer", "", "pdl", to="principal"),
            _s("principal", "pay_principal", "A>B>C"),
            _s("interest", "pay_residual", "C", "all"), _s("principal", "pay_residual", "C", "all")]


def kwargs(servicer=True, **deal):
    kw = small_deal_kwargs()
    if servicer:                          # with a Waterfall sheet the replacement-servicer stress is charged here
        kw["fees"][0]["servicer"] = "yes"
    kw["deal"].pop("trigger_cdr")
    kw["deal"].update(deal)
    return kw


def rate(tmp_path, name, **kw):
    path = tmp_path / f"{name}.xlsx"
    build_consumer_workbook(path, **kw)
    return rate_workbook(path, out=tmp_path / f"{name}.rated.xlsx"), tmp_path / f"{name}.rated.xlsx"


def problems(tmp_path, **kw):
    path = tmp_path / "bad.xlsx"
    build_consumer_workbook(path, **kw)
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=tmp_path / "never.xlsx")
    return {(p.where, p.rule) for p in e.value.problems}


def test_the_built_in_waterfall_written_as_a_sheet_gives_the_same_rating(tmp_path):
    """Two kernels, one deal: the fixed consumer kernel and the data kernel running the same waterfall
    from a Waterfall sheet give every one of the 288 BDRs bit for bit, the same ratings and base case."""
    built_in, _ = rate(tmp_path, "builtin", **kwargs(servicer=False))
    sheet, out = rate(tmp_path, "sheet", **kwargs(), steps=builtin_steps())
    a, b = built_in.result.stress, sheet.result.stress
    assert len(a) == len(b) == 288
    assert list(a.bdr) == list(b.bdr) and list(a.passes) == list(b.passes) and list(a.tdr) == list(b.tdr)
    assert [(t.tranche, t.final) for t in built_in.ratings] == [(t.tranche, t.final) for t in sheet.ratings]
    for n in ("A", "B", "C"):
        np.testing.assert_allclose(sheet.result.base_cashflows.tranches[n].balance.to_numpy(),
                                   built_in.result.base_cashflows.tranches[n].balance.to_numpy(), rtol=0, atol=1e-6)
    run = {r[0]: r[1] for r in openpyxl.load_workbook(out)["Run"].iter_rows(values_only=True) if r and r[0]}
    assert run["waterfall"] == "Waterfall sheet: 15 steps, 0 trigger(s)"


def test_a_revolving_consumer_deal_buys_with_principal_until_its_trigger_ends_the_period(tmp_path):
    steps = builtin_steps()
    steps.insert(12, _s("principal", "purchase_assets", "", "all", condition="revolving"))
    kw = kwargs(revolving_periods=6, revolving_rate=0.18, revolving_term=6, revolving_amortisation="level",
                revolving_price=1.0)
    # early amortisation once the cumulative default ratio passes 1 % (§5.3)
    trig = [{"name": "early_amortisation", "test": "cdr_above", "level": 0.01, "effects": "end_revolving",
             "curable": "no"}]
    res, out = rate(tmp_path, "rev", **kw, steps=steps, triggers=trig)
    cf = res.result.base_cashflows
    pool, acc = cf.pool, cf.accounts
    on = cf.triggers["early_amortisation"].to_numpy()
    first = int(np.argmax(on > 0)) + 1 if on.any() else 10**9
    revolving = acc.revolving.to_numpy() > 0
    expect = np.array([t <= 6 and t < first for t in range(1, len(on) + 1)])
    assert (revolving == expect).all()
    buys = pool.purchase_cash.to_numpy()
    # while revolving, everything left in the principal account buys new assets at par, nothing after
    assert (buys[revolving] > 0).all() and (buys[~revolving] == 0).all()
    assert np.allclose(pool.purchased_principal.to_numpy(), buys, rtol=1e-12)
    assert np.allclose(acc.principal_account.to_numpy()[revolving], 0.0, atol=1e-6)
    assert (cf.tranches["A"].principal_paid.to_numpy()[revolving] == 0).all()
    # the CashFlows sheet shows the trigger period by period and its first period in effect
    ws = openpyxl.load_workbook(out)["CashFlows"]
    rows = list(ws.iter_rows(values_only=True))
    col = rows[3].index("trigger early_amortisation in effect")
    assert [r[col] for r in rows[4:4 + len(on)]] == ["yes" if x else "no" for x in on]
    assert res.ratings and all(t.final for t in res.ratings)


def test_a_consumer_waterfall_reports_every_problem_at_its_cell(tmp_path):
    steps = [s for s in builtin_steps() if s["action"] != "pay_tax"]      # the tax is no longer paid
    steps[1]["payees"] = "A>Z"                             # Waterfall row 2 -> sheet row 4
    kw = kwargs(trigger_cdr=0.1)
    kw["fees"][0].pop("servicer")                          # nothing to charge the servicer stress to
    kw["fees"].append({"name": "tax", "basis": "fixed", "amount": 1.0})
    got = problems(tmp_path, **kw, steps=steps)
    rules = {r.split(":")[0].split(" (")[0]: w for w, r in got}
    assert rules["payee is not a tranche"] == "Waterfall!C4", got
    assert len(got) == 5, got
    assert rules["trigger_cdr is the acceleration of the built-in waterfall; with a Waterfall sheet write the "
                 "trigger in a Triggers sheet"].startswith("Deal!B"), got
    assert rules["tax_rate is above 0 but no Waterfall step pays it"].startswith("Deal!B"), got
    assert rules["'tax' names the tax on interest income"] == "Fees!A5", got
    assert rules["the stress scenarios raise the servicer fee"].startswith("Fees!"), got


def test_waterfall_keys_without_a_waterfall_sheet_are_refused(tmp_path):
    kw = kwargs(revolving_periods=3, revolving_term=6)          # servicer = yes on the first fee
    kw["tranches"][1]["interest"] = "timely_when_senior"
    got = problems(tmp_path, **kw, triggers=[{"name": "t", "test": "cdr_above", "level": 0.1, "effects": "sequential",
                                              "curable": "no"}])
    wheres = sorted(w for w, _ in got)
    assert len(got) == 3, got          # the Triggers sheet needs steps=...: not written without them
    assert ("Fees!E3", "the servicer column is read with a Waterfall sheet only; the built-in waterfall adds the "
            "replacement-servicer stress to its fees") in got
    assert any(w.startswith("Deal!B") and "needs a Waterfall sheet" in r for w, r in got)
    assert ("Tranches!H4", "the interest column is read with a Waterfall sheet only; the built-in waterfall uses "
            "timely_interest") in got, wheres
    path = tmp_path / "trig.xlsx"
    build_consumer_workbook(path, **kwargs(servicer=False))
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Triggers").append(["Triggers"])
    wb.save(path)
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=tmp_path / "never.xlsx")
    assert [p.where for p in e.value.problems] == ["Triggers"]


def test_pro_rata_classes_of_a_consumer_waterfall_share_their_credit_enhancement(tmp_path):
    steps = copy.deepcopy(builtin_steps())
    k = next(i for i, s in enumerate(steps) if s["action"] == "pay_principal")
    steps[k:k + 1] = [_s("principal", "pay_principal", "A+B"), _s("principal", "pay_principal", "C")]
    res, _ = rate(tmp_path, "prorata", **kwargs(), steps=steps)
    kw = small_deal_kwargs()
    c = kw["tranches"][2]["balance"]
    pool = float(np.sum(kw["loans"]["balance"]))
    assert res.result.credit_enhancement == pytest.approx({"A": c / pool, "B": c / pool, "C": 0.0}, abs=1e-6)


def test_the_shipped_revolving_sample_rates_and_is_reproducible(tmp_path):
    """workbooks/consumer_revolving_sample.xlsx: what samples/make_consumer_revolving_sample.py writes,
    rated from the command line; the same pool as the consumer sample, its own waterfall."""
    import hashlib
    import subprocess
    import sys
    from pathlib import Path

    from xlabs.cli import main

    root = Path(__file__).resolve().parents[2]
    sample = root / "workbooks" / "consumer_revolving_sample.xlsx"
    regen = tmp_path / "regen.xlsx"
    subprocess.run([sys.executable, str(root / "samples" / "make_consumer_revolving_sample.py"), str(regen)],
                   check=True, capture_output=True, cwd=root)
    shipped, fresh = openpyxl.load_workbook(sample, read_only=True), openpyxl.load_workbook(regen, read_only=True)
    assert shipped.sheetnames == fresh.sheetnames
    for name in shipped.sheetnames:
        assert list(shipped[name].iter_rows(values_only=True)) == list(fresh[name].iter_rows(values_only=True)), name
    before = hashlib.sha256(sample.read_bytes()).hexdigest()
    out = tmp_path / "rev.rated.xlsx"
    assert main(["rate", str(sample), "-o", str(out), "-q"]) == 0
    assert hashlib.sha256(sample.read_bytes()).hexdigest() == before
    wb = openpyxl.load_workbook(out)
    run = {r[0]: r[1] for r in wb["Run"].iter_rows(values_only=True) if r and r[0]}
    assert run["waterfall"] == "Waterfall sheet: 13 steps, 2 trigger(s), revolving 12 periods"
    heads = [c.value for c in wb["CashFlows"][4]]
    assert "trigger early_amortisation in effect" in heads and "purchase_cash" in heads


def test_the_default_horizon_lasts_until_the_last_purchase_matures(tmp_path):
    """cashflow_model.horizon: pool life = max(tape life 12, revolving end 6 + term 12) = 18, plus the
    recovery lag 3, plus 1 = 22 periods; the pool is fully run off by then."""
    steps = builtin_steps()
    steps.insert(12, _s("principal", "purchase_assets", "", "all", condition="revolving"))
    kw = kwargs(revolving_periods=6, revolving_rate=0.18, revolving_term=12)
    kw["deal"].pop("legal_final_months")
    assert max(kw["loans"]["remaining_term"]) == 12 and kw["assumptions"]["recovery_lag_months"] == 3
    res, _ = rate(tmp_path, "horizon", **kw, steps=steps)
    pool = res.result.base_cashflows.pool
    assert len(pool) == 22
    assert pool.purchase_cash.iloc[5] > 0 and pool.end_balance.iloc[17] == pytest.approx(0.0, abs=1e-6)
    assert not res.result.base_cashflows.status.defaulted.any()


def test_a_flag_the_waterfall_would_ignore_or_a_second_servicer_fee_is_refused(tmp_path):
    steps = [s for s in builtin_steps() if not (s["action"] == "pay_residual" and s["source"] == "principal")]
    for s in steps:
        if s["action"] == "pay_residual":
            s["payees"] = "equity"                     # C keeps residual = yes but never gets it
    kw = kwargs()
    kw["fees"][1]["servicer"] = "yes"                  # a second servicer fee would double the stress
    got = problems(tmp_path, **kw, steps=steps)
    assert ("Tranches!F5", "residual = yes but no Waterfall step pays this tranche the residual (action "
            "pay_residual)") in got, got
    assert any(w == "Fees!E4" and r.startswith("servicer: only one fee may be marked servicer") for w, r in got), got
    assert len(got) == 2, got


def test_a_bad_deal_cell_is_reported_once_not_echoed_by_the_waterfall_rules(tmp_path):
    steps = builtin_steps()
    steps.insert(12, _s("principal", "purchase_assets", "", "all", condition="revolving"))
    kw = kwargs(revolving_periods=2.5, revolving_term=6, tax_rate="??")
    got = problems(tmp_path, **kw, steps=steps)
    assert sorted(r.split(":")[0] for _, r in got) == ["revolving_periods", "tax_rate"], got


def test_a_legal_final_before_the_last_purchase_matures_is_refused(tmp_path):
    steps = builtin_steps(fees="servicing > trustee")               # spaces around payees are fine
    steps.insert(12, _s("principal", "purchase_assets", "", "all", condition="revolving"))
    kw = kwargs(revolving_periods=12, revolving_term=12)            # legal_final_months 18 < 12 + 12
    got = problems(tmp_path, **kw, steps=steps)
    assert [r for _, r in got] == ["assets bought in the last revolving period (12) mature in period 24, after the "
                                   "legal final: lengthen it, leave it blank, or shorten revolving_term"], got


def test_purchases_are_timed_by_the_static_pool_curve_fitted_to_their_term(tmp_path):
    """Loans of at most 6 months, a 12-month static-pool curve, purchases of 12 months: the purchased
    half of the timing is the static-pool curve fitted to 12 periods (METHODOLOGY §3.2, §5.2), not the
    initial pool's curve cut at 6 and then stretched (it would have no weight after age 6)."""
    from xlabs.engine.amortisation import pool_schedule
    from xlabs.engine.consumer import data_waterfall_deal
    from xlabs.engine.timing import fit_to_life
    from xlabs.engine.waterfall import scenario_arrays
    from xlabs.workbook.run import validate_workbook

    steps = builtin_steps()
    steps.insert(12, _s("principal", "purchase_assets", "", "all", condition="revolving"))
    kw = kwargs(revolving_periods=3, revolving_rate=0.18, revolving_term=12)
    kw["deal"].pop("legal_final_months")
    kw["loans"]["remaining_term"] = np.minimum(kw["loans"]["remaining_term"], 6)
    path = tmp_path / "short.xlsx"
    build_consumer_workbook(path, **kw, steps=steps)
    res = rate_workbook(path, out=tmp_path / "short.rated.xlsx")
    _, deal = validate_workbook(path)
    va_timing = res.result.vintages.timing
    assert len(va_timing) == 12
    wf = data_waterfall_deal(deal, res.result.schedule, va_timing)
    t = scenario_arrays(wf).timing
    H = wf.periods
    np.testing.assert_allclose(t[H:H + 12], fit_to_life(va_timing, 12), rtol=1e-12)
    np.testing.assert_allclose(t[:6], fit_to_life(va_timing, 6), rtol=1e-12)
    assert t[H + 6:H + 12].sum() > 0.1
    tape = deal.tape
    assert pool_schedule(tape.balance, tape.annual_rate, tape.remaining_term, tape.amortisation, 12).last_period == 6


@pytest.mark.parametrize("waterfall", [False, True])
def test_a_fee_value_its_basis_does_not_use_is_refused_with_either_waterfall(tmp_path, waterfall):
    """An amount on a pool_balance fee was ignored by the built-in waterfall but paid by a Waterfall sheet,
    and a rate on a fixed fee was ignored by both: the same workbook row meant two things."""
    kw = kwargs() if waterfall else small_deal_kwargs()
    kw["fees"][0]["amount"] = 500.0                   # servicing, pool_balance: Fees!D3
    kw["fees"][1]["rate"] = 0.001                     # trustee, fixed: Fees!C4
    got = problems(tmp_path, **kw, **({"steps": builtin_steps()} if waterfall else {}))
    assert sorted(w for w, _ in got) == ["Fees!C4", "Fees!D3"], got


def test_a_fee_no_waterfall_step_pays_is_refused_at_its_row(tmp_path):
    """A Fees row that no pay_fee step names would never be paid: accepted, its cost was silently left out
    of the cash flows and the rating rose (the revolving sample's 'rating and audit' fee
    dropped from its pay_fee step raised Senior A from BB-sf to BBB-sf in a 300-loan copy)."""
    got = problems(tmp_path, **kwargs(), steps=builtin_steps(fees="servicing"))
    assert [(w, r.split(":")[0]) for w, r in got] == [("Fees!A4", "no Waterfall step pays this fee (action pay_fee)")], got


@pytest.mark.parametrize("waterfall", [False, True])
def test_a_legal_final_before_the_pool_matures_is_refused(tmp_path, waterfall):
    """The built-in waterfall cut the stressed default curve at the legal final (at CDR 10% a 20-month legal
    final on a 24-month pool applied 9.43%), while a Waterfall sheet compressed it into the horizon: one deal,
    two answers. A legal final before the last loan matures is refused, with either waterfall."""
    kw = kwargs() if waterfall else small_deal_kwargs()
    life = int(max(kw["loans"]["remaining_term"]))
    kw["deal"]["legal_final_months"] = life - 2
    got = problems(tmp_path, **kw, **({"steps": builtin_steps()} if waterfall else {}))
    assert [r.split(":")[0] for _, r in got] == [f"legal_final_months must be at least the longest remaining "
                                                 f"term of the pool ({life} months)"], got
    assert next(iter(got))[0].startswith("Deal!B")


def test_a_blank_revolving_periods_beside_revolving_terms_is_one_problem_at_its_cell(tmp_path):
    import openpyxl as ox

    path = tmp_path / "rev.xlsx"
    from pathlib import Path
    ox.load_workbook(Path(__file__).resolve().parents[2] / "workbooks" / "consumer_revolving_sample.xlsx").save(path)
    wb = ox.load_workbook(path)
    d = wb["Deal"]
    row = next(r for r in range(1, d.max_row + 1) if d.cell(r, 1).value == "revolving_periods")
    d.cell(row, 2).value = None
    wb.save(path)
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=tmp_path / "never.xlsx")
    got = [(p.where, p.rule) for p in e.value.problems]
    assert [w for w, _ in got] == [f"Deal!B{row}"] and got[0][1].startswith("revolving_periods is blank"), got
