"""Tiny waterfalls written as workbook sheets and worked by hand (METHODOLOGY §5.2–5.4).

Each deal is a copy of the shipped ``workbooks/corporate_sample.xlsx`` whose Deal, Tranches, Fees,
Waterfall, Triggers, Obligors and Adjustments sheets are rewritten with openpyxl, then read and run
by the code the ``xlabs rate`` command uses: ``read_corporate`` -> ``waterfall_deal`` (the obligors
aggregated into one schedule, §5.1) -> ``compile_deal`` -> the kernel.  Only the default-timing curve,
which the command takes from the Monte Carlo (§4.5), is given here so that defaults are round numbers.

The pool, unless a test says otherwise, is one obligor of 1,000 yuan at 12 % a year repaying equal
principal over 3 months: 333.33 of principal a period and interest 1 % of the balance at the start of
the period (10, 6.67, 3.33).  A test that defaults assets takes the recovery away
(``recovery_haircut`` = 1) so that the defaulted principal is simply lost.  Every payment of every
period is compared with the arithmetic written beside it, and the cash is checked to be conserved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pytest

from xlabs.engine.corporate import horizon_months, waterfall_deal
from xlabs.engine.portfolio import build_model_inputs
from xlabs.engine.waterfall import cash_balance, compile_deal, run, scenario_arrays
from xlabs.errors import ValidationError
from xlabs.model.waterfall import Scenario
from xlabs.workbook.adapter import OpenpyxlBook
from xlabs.workbook.corporate_reader import read_corporate

approx = pytest.approx
SAMPLE = Path(__file__).resolve().parents[2] / "workbooks" / "corporate_sample.xlsx"
NO_RECOVERY = Scenario(name="no recovery", recovery_haircut=1.0)
HEADS = {
    "Tranches": ["name", "balance", "coupon_type", "coupon", "interest", "legal_final", "rated"],
    "Fees": ["name", "basis", "rate", "amount", "kind", "tranche", "servicer"],
    "Waterfall": ["source", "action", "payees", "amount", "cap", "schedule", "to", "condition", "trigger"],
    "Triggers": ["name", "test", "level", "schedule", "effects", "curable"],
    "Obligors": ["id", "group", "balance", "rate", "amortisation", "remaining_term", "shadow_rating", "industry",
                 "region", "guarantor", "guarantor_rating", "guarantee_type", "collateral_type", "appraised_value",
                 "seniority", "servicer"],
}
SVC = [{"name": "svc", "basis": "pool_balance", "rate": 0.0, "kind": "fee", "servicer": "yes"}]
"""A servicer fee of 0: the shipped stress table's replacement-servicer stress is charged through it."""
PAY_SVC = {"source": "interest", "action": "pay_fee", "payees": "svc"}
RESIDUAL = {"source": "interest", "action": "pay_residual", "payees": "equity", "amount": "all"}


def obligor(i, balance=1000.0, term=3, amortisation="equal_principal", rate=0.12):
    return {"id": f"OB{i}", "balance": balance, "rate": rate, "amortisation": amortisation, "remaining_term": term,
            "shadow_rating": "BBB", "industry": "manufacturing", "region": "Beijing", "guarantee_type": "none",
            "collateral_type": "none", "seniority": "senior_unsecured", "servicer": "average"}


def tranche(name, balance, coupon=0.0, interest="deferrable", coupon_type=None, legal_final=3):
    return {"name": name, "balance": balance, "coupon_type": coupon_type or ("fixed" if coupon else "none"),
            "coupon": coupon, "interest": interest, "legal_final": legal_final, "rated": "yes"}


def _table(ws, top, title, heads, rows):
    ws.cell(top, 1, title)
    for j, h in enumerate(heads):
        ws.cell(top + 1, j + 1, h)
    for i, r in enumerate(rows):
        for j, h in enumerate(heads):
            v = r.get(h) if isinstance(r, dict) else r[j]
            if v is not None:
                ws.cell(top + 2 + i, j + 1, v)
    return top + 2 + len(rows) + 1


def workbook(path, *, tranches, steps, fees=SVC, triggers=(), schedules=None, obligors=None, **deal):
    """A copy of the corporate sample with its deal sheets rewritten (the rating tables are the sample's)."""
    wb = openpyxl.load_workbook(SAMPLE)
    keys = {"deal_name": "tiny", "deal_type": "corporate", "payment_frequency": 12, "periods": 3,
            "benchmark_rate": 0.0, "reserve_initial": 0.0, "reserve_multiple": 0.0, "reserve_floor": 0.0, "cpr": 0.0}
    keys.update(deal)
    rows = {"Tranches": tranches, "Fees": fees, "Waterfall": steps, "Triggers": list(triggers),
            "Obligors": obligors or [obligor(1)]}
    for name in ("Deal", "Adjustments", *rows):
        wb[name].delete_rows(1, wb[name].max_row + 1)
    _table(wb["Deal"], 1, "Deal", ["key", "value", "note"], [[k, v, None] for k, v in keys.items()])
    _table(wb["Adjustments"], 1, "Rating adjustments", ["tranche", "factor", "kind", "value", "reason", "coverage"],
           [])
    for name, body in rows.items():
        end = _table(wb[name], 1, name, HEADS[name], body)
        if name == "Triggers" and schedules:
            n = max(len(v) for v in schedules.values())
            _table(wb[name], end, "Schedules", ["name"] + list(range(1, n + 1)),
                   [[k] + list(v) for k, v in schedules.items()])
    wb.save(path)
    return path


def evaluate(path, cdr=0.0, timing=(1.0, 0.0, 0.0), scenario=None):
    """Read the workbook as ``xlabs rate`` does and run the waterfall at ``cdr`` with ``timing``."""
    deal = read_corporate(OpenpyxlBook(path))
    inputs = build_model_inputs(deal.obligors, deal.tables, months=horizon_months(deal))
    wf = waterfall_deal(deal, inputs, np.asarray(timing, dtype=float))
    prog = compile_deal(wf)
    r = run(prog, scenario_arrays(wf, scenario), cdr)
    cin, cout, left = cash_balance(prog, r.raw)
    assert cin == approx(cout + left)                  # every yuan collected is paid out or sits in an account
    return r


def col(r, name, column):
    return list(r.tranches[name][column])


def test_the_tiny_pool_read_from_the_workbook(tmp_path):
    r = evaluate(workbook(tmp_path / "pool.xlsx", tranches=[tranche("A", 1000)],
                          steps=[PAY_SVC, {"source": "principal", "action": "pay_principal", "payees": "A"}, RESIDUAL]))
    assert list(r.pool.scheduled_principal) == approx([1000 / 3] * 3)
    assert list(r.pool.interest) == approx([10, 20 / 3, 10 / 3])
    assert list(r.accounts.equity_residual) == approx([10, 20 / 3, 10 / 3])
    assert not r.status.defaulted.any()


def test_pro_rata_principal_down_to_a_target_schedule_then_sequential(tmp_path):
    """A (600) and B (400) are paid pro rata, each down to its own target (80 %, 50 %, 0 % of its initial
    balance), then whatever principal is left goes to A then B."""
    path = workbook(tmp_path / "target.xlsx", tranches=[tranche("A", 600, 0.06), tranche("B", 400, 0.06)],
                    steps=[PAY_SVC, {"source": "interest", "action": "pay_interest", "payees": "A+B"},
                           {"source": "principal", "action": "pay_principal", "payees": "A+B",
                            "amount": "target_balance", "schedule": "tgt"},
                           {"source": "principal", "action": "pay_principal", "payees": "A>B"}, RESIDUAL],
                    schedules={"tgt": [0.8, 0.5, 0.0]})
    r = evaluate(path)
    # p1: targets 480 / 320 -> A 120, B 80; the other 133.33 to A -> A 253.33 (346.67 left), B 320
    # p2: targets 300 / 200 -> A 46.67, B 120; the other 166.67 to A -> A 213.33 (133.33 left), B 200
    # p3: targets 0 -> A 133.33, B 200 (= 333.33, the period's principal)
    assert col(r, "A", "principal_paid") == approx([120 + 400 / 3, 140 / 3 + 500 / 3, 400 / 3])
    assert col(r, "B", "principal_paid") == approx([80, 120, 200])
    # interest at 0.5 % a period on the balances at the start: A 3, 1.73, 0.67; B 2, 1.6, 1
    assert col(r, "A", "interest_paid") == approx([3, 0.005 * 1040 / 3, 0.005 * 400 / 3])
    assert col(r, "B", "interest_paid") == approx([2, 1.6, 1.0])
    assert list(r.accounts.equity_residual) == approx([5, 20 / 3 - 0.005 * 1040 / 3 - 1.6, 10 / 3 - 2 / 3 - 1])


def test_deferred_interest_compounds_then_is_caught_up(tmp_path):
    """B (500, 24 % a year = 2 % a period, deferrable) is paid interest only from period 2 (a date trigger);
    the obligor pays 48 % a year (4 % a period: interest 40, 26.67, 13.33)."""
    def deal(rule):
        return workbook(tmp_path / f"defer_{rule}.xlsx", tranches=[tranche("A", 500), tranche("B", 500, 0.24, rule)],
                        obligors=[obligor(1, rate=0.48)],
                        steps=[PAY_SVC, {"source": "interest", "action": "pay_interest", "payees": "B",
                                         "condition": "after", "trigger": "catch_up"},
                               {"source": "principal", "action": "pay_principal", "payees": "A>B"}, RESIDUAL],
                        triggers=[{"name": "catch_up", "test": "date", "level": 2, "effects": "none"}])
    r = evaluate(deal("deferrable"))
    # p1: B due 500 x 0.02 = 10, unpaid -> deferred 10, equity 40
    # p2: deferred 10 x 1.02 = 10.2 (interest on interest) + 500 x 0.02 = 20.2, paid from 26.67 -> equity 6.47
    # p3: B (333.33 after 166.67 of principal in p2) due 6.67, paid; equity 13.33 - 6.67
    assert col(r, "B", "interest_due") == approx([10, 20.2, 20 / 3])
    assert col(r, "B", "interest_paid") == approx([0, 20.2, 20 / 3])
    assert col(r, "B", "deferred_interest") == approx([10, 0, 0])
    assert list(r.accounts.equity_residual) == approx([40, 80 / 3 - 20.2, 20 / 3])
    assert col(r, "B", "principal_paid") == approx([0, 500 / 3, 1000 / 3])
    assert not r.status.defaulted.any()
    # timely_when_senior: deferrable while A is outstanding at the start of the period (p1 and p2): the same
    assert not evaluate(deal("timely_when_senior")).status.defaulted.any()
    # timely: the shortfall of period 1 is a default (§5.4)
    st = evaluate(deal("timely")).status.loc["B"]
    assert st.defaulted and st.period == 1 and st.kind == "interest shortfall"


def test_a_curable_trigger_fires_and_cures(tmp_path):
    """A cumulative-default trigger on a rising schedule makes pro-rata principal sequential while in effect.
    CDR 5 %, all in period 1: defaults 50, cumulative default ratio 0.05 from then on, against 0.04,
    0.06, 0.06: breached in period 1 only.  Curable: sequential in period 1, pro rata again after."""
    def deal(curable):
        return workbook(tmp_path / f"cure_{curable}.xlsx", tranches=[tranche("A", 600), tranche("B", 400)],
                        steps=[PAY_SVC, {"source": "principal", "action": "pay_principal", "payees": "A+B"},
                               RESIDUAL],
                        triggers=[{"name": "cdr", "test": "cdr_above", "schedule": "cdr_s", "effects": "sequential",
                                   "curable": curable}],
                        schedules={"cdr_s": [0.04, 0.06, 0.06]})
    r = evaluate(deal("yes"), 0.05, scenario=NO_RECOVERY)
    assert list(r.triggers["cdr"]) == [1, 0, 0] and r.trigger_first == {"cdr": 1}
    # p1: survivors 950, principal 950/3 = 316.67 all to A (sequential) -> A 283.33, B 400
    # p2: 316.67 pro rata 283.33 : 400 ; p3: the rest, 316.67 pro rata on what is left
    p1 = 950 / 3
    a1, b1 = 600 - p1, 400.0
    a2, b2 = p1 * a1 / (a1 + b1), p1 * b1 / (a1 + b1)
    a3, b3 = p1 * (a1 - a2) / (a1 + b1 - p1), p1 * (b1 - b2) / (a1 + b1 - p1)
    assert col(r, "A", "principal_paid") == approx([p1, a2, a3])
    assert col(r, "B", "principal_paid") == approx([0, b2, b3])
    assert list(r.accounts.equity_residual) == approx([9.5, 0.01 * 2 * p1, 0.01 * p1])
    # not curable: in effect for good, sequential throughout -> A repaid first, B bears the 50 lost
    r = evaluate(deal("no"), 0.05, scenario=NO_RECOVERY)
    assert list(r.triggers["cdr"]) == [1, 1, 1]
    assert col(r, "A", "principal_paid") == approx([p1, 600 - p1, 0])
    assert col(r, "B", "principal_paid") == approx([0, 2 * p1 - 600, p1])
    assert r.status.loc["B", "loss"] == approx(50) and not r.status.loc["A", "defaulted"]


def test_combine_accounts_after_an_event_of_default(tmp_path):
    """A (500, 36 % a year = 3 % a period, deferrable) is short of interest in period 1 (15 due, 10
    collected): the event of default (senior interest shortfall) is in effect from period 2 and combines
    the accounts, so principal collections pay A's interest."""
    path = workbook(tmp_path / "eod.xlsx", tranches=[tranche("A", 500, 0.36), tranche("B", 500)],
                    steps=[PAY_SVC, {"source": "interest", "action": "pay_interest", "payees": "A"},
                           {"source": "principal", "action": "pay_principal", "payees": "A>B"}, RESIDUAL],
                    triggers=[{"name": "eod", "test": "senior_interest_shortfall", "effects": "combine_accounts"}])
    r = evaluate(path)
    assert list(r.triggers["eod"]) == [0, 1, 1]
    # p1: A due 15, paid 10, deferred 5; principal 333.33 -> A 166.67
    # p2: A due 166.67 x 0.03 + 5 x 1.03 = 10.15, paid from interest 6.67 and principal 3.48; principal
    #     of the combined accounts: A 166.67, B 333.33 - 3.48 - 166.67 = 163.18
    # p3: A repaid; B gets the combined 3.33 + 333.33 = 336.67 -> B short 500 - 163.18 - 336.67 = 0.15
    assert col(r, "A", "interest_paid") == approx([10, 10.15, 0])
    assert col(r, "A", "principal_paid") == approx([1000 / 3, 500 / 3, 0])
    b2 = 1000 / 3 + 20 / 3 - 10.15 - 500 / 3
    assert col(r, "B", "principal_paid") == approx([0, b2, 1010 / 3])
    assert r.status.loc["B", "loss"] == approx(500 - b2 - 1010 / 3) == approx(0.15)
    assert list(r.accounts.equity_residual) == approx([0, 0, 0])
    assert not r.status.loc["A", "defaulted"] and r.status.loc["B", "defaulted"]


def test_stop_subordinated_pays_a_repaid_senior_its_deferred_interest_first(tmp_path):
    """A (300, 48 % a year = 4 % a period, deferrable) is short 2 of its 12 of interest in period 1 and
    repaid its principal; from period 2 the event of default stops payments to subordinated classes.
    A is still owed 2 x 1.04 = 2.08: it is the most senior class outstanding and is paid first
    (§5.3; a senior tranche never loses more than a junior one).  Once A is owed nothing, B (no coupon) is
    the class still owed something and is paid: from the principal step of period 2 on."""
    path = workbook(tmp_path / "stop.xlsx", tranches=[tranche("A", 300, 0.48), tranche("B", 700)],
                    steps=[PAY_SVC, {"source": "interest", "action": "pay_interest", "payees": "A>B"},
                           {"source": "principal", "action": "pay_principal", "payees": "A>B"}, RESIDUAL],
                    triggers=[{"name": "eod", "test": "date", "level": 2, "effects": "stop_subordinated"}])
    r = evaluate(path)
    # p1: A interest 10 of 12, principal 300 (repaid), B 33.33
    assert col(r, "A", "interest_paid")[0] == approx(10) and col(r, "A", "principal_paid")[0] == approx(300)
    # p2: A owed 2.08 (balance 0), paid from the 6.67 of interest; the residual step is stopped: 4.59 stays
    assert col(r, "A", "interest_due")[1] == approx(2.08) and col(r, "A", "interest_paid")[1] == approx(2.08)
    assert r.accounts.interest_account[2] == approx(20 / 3 - 2.08)
    # when the principal step runs A is owed nothing: B is the most senior class still owed and gets the
    # period's 333.33, and again in p3 (100/3 + 2 x 1000/3 = 700: B repaid)
    assert col(r, "B", "principal_paid") == approx([100 / 3, 1000 / 3, 1000 / 3])
    assert r.accounts.interest_account[3] == approx(10 - 2.08)     # the residual step stays stopped
    assert not r.status.loc["A", "defaulted"] and r.status.loc["A", "loss"] == approx(0)
    assert r.status.loc["A", "loss"] <= r.status.loc["B", "loss"]


def test_a_fee_on_a_tranche_balance_stops_when_the_tranche_is_repaid(tmp_path):
    """Manager fee 12 % a year (1 % a period) of A's balance at the start of the period: 5, 1.67, 0."""
    path = workbook(tmp_path / "fee.xlsx", tranches=[tranche("A", 500), tranche("B", 500)],
                    fees=SVC + [{"name": "mgr", "basis": "tranche_balance", "rate": 0.12, "kind": "fee",
                                 "tranche": "A"}],
                    steps=[{"source": "interest", "action": "pay_fee", "payees": "svc>mgr"},
                           {"source": "principal", "action": "pay_principal", "payees": "A>B"}, RESIDUAL])
    r = evaluate(path)
    assert list(r.fees["mgr"].due) == approx([5, 5 / 3, 0]) and list(r.fees["mgr"].paid) == approx([5, 5 / 3, 0])
    assert list(r.accounts.equity_residual) == approx([5, 5, 10 / 3])
    assert col(r, "A", "balance") == approx([500 / 3, 0, 0])


def test_revolving_purchases_at_a_discount_and_their_amortisation(tmp_path):
    """Period 1 principal (333.33) buys assets at 0.98 per yuan: 340.14 of principal, 12 % a year, equal
    principal over 2 periods, from period 2: principal 170.07 a period, interest 1 % of its balance."""
    path = workbook(tmp_path / "rev.xlsx", tranches=[tranche("A", 1000)],
                    steps=[PAY_SVC, {"source": "principal", "action": "purchase_assets", "amount": "all",
                                     "condition": "revolving"},
                           {"source": "principal", "action": "pay_principal", "payees": "A",
                            "condition": "amortisation"}, RESIDUAL],
                    revolving_periods=1, revolving_rate=0.12, revolving_term=2,
                    revolving_amortisation="equal_principal", revolving_price=0.98)
    r = evaluate(path)
    new = (1000 / 3) / 0.98
    assert list(r.pool.purchase_cash) == approx([1000 / 3, 0, 0])
    assert list(r.pool.purchased_principal) == approx([new, 0, 0])
    assert list(r.pool.scheduled_principal) == approx([1000 / 3, 1000 / 3 + new / 2, 1000 / 3 + new / 2])
    assert list(r.pool.interest) == approx([10, 20 / 3 + 0.01 * new, 10 / 3 + 0.005 * new])
    assert list(r.accounts.revolving) == [1, 0, 0]
    # A is paid from period 2 and receives 1000 - 333.33 + 340.14 = 1006.80 of principal for 1000 owed
    assert col(r, "A", "principal_paid") == approx([0, 1000 / 3 + new / 2, 1000 - 1000 / 3 - new / 2])
    assert r.accounts.principal_account[3] == approx(new - 1000 / 3)
    # cumulative default ratio = defaults / (pool + principal bought): 10 % of both, all in their first period
    r = evaluate(path, 0.1, scenario=NO_RECOVERY)
    assert r.pool.cumulative_default_ratio[3] == approx(0.1)
    assert r.pool.purchased_principal[1] == approx(900 / 3 / 0.98)


def test_turbo_and_sequential_after_an_acceleration(tmp_path):
    """From period 2 (a date trigger with sequential+turbo) principal is sequential and the residual
    interest repays principal, senior first, before equity gets anything."""
    path = workbook(tmp_path / "turbo.xlsx", tranches=[tranche("A", 500), tranche("B", 400)],
                    steps=[PAY_SVC, {"source": "principal", "action": "pay_principal", "payees": "A+B"}, RESIDUAL],
                    triggers=[{"name": "acc", "test": "date", "level": 2, "effects": "sequential+turbo"}])
    r = evaluate(path)
    # p1: 333.33 pro rata 5:4 -> A 185.19, B 148.15; equity 10
    # p2: 333.33 to A (314.81 left) -> A repaid, 18.52 to B; turbo: interest 6.67 to B
    # p3: B has 400 - 148.15 - 18.52 - 6.67 = 226.67; 333.33 repays it, 106.67 stays in the principal
    #     account; turbo finds nothing owed: interest 3.33 to equity
    a1, b1 = 1000 / 3 * 5 / 9, 1000 / 3 * 4 / 9
    assert col(r, "A", "principal_paid") == approx([a1, 500 - a1, 0])
    b2 = 1000 / 3 - (500 - a1) + 20 / 3
    assert col(r, "B", "principal_paid") == approx([b1, b2, 400 - b1 - b2])
    assert list(r.accounts.equity_residual) == approx([10, 0, 10 / 3])
    assert r.accounts.principal_account[3] == approx(1000 / 3 - (400 - b1 - b2))


def test_a_malformed_waterfall_sheet_is_refused_row_by_row_all_at_once(tmp_path):
    path = workbook(tmp_path / "bad.xlsx", tranches=[tranche("A", 600), tranche("B", 400)],
                    steps=[PAY_SVC,
                           {"source": "interest", "action": "pay_interest", "payees": "A>Z"},           # row 4
                           {"source": "interest", "action": "transfer", "amount": "all", "to": "principal"},
                           {"source": "principal", "action": "transfer", "amount": "all", "to": "interest"},
                           {"action": "pay_principal", "payees": "A>B"},                              # row 7
                           {"source": "interest", "action": "pay_residual", "payees": "equity", "amount": "all",
                            "condition": "after", "trigger": "nowhere"},                              # row 8
                           {"source": "principal", "action": "pay_principal", "payees": "B",
                            "amount": "excess"}])                                                      # row 9
    with pytest.raises(ValidationError) as e:
        read_corporate(OpenpyxlBook(path))
    got = {(p.where.split("!")[0], int("".join(ch for ch in p.where.split("!")[1] if ch.isdigit())), p.rule)
           for p in e.value.problems}
    rows = {(sheet, row) for sheet, row, _ in got}
    assert {("Waterfall", k) for k in (4, 5, 6, 7, 8, 9)} <= rows, got
    rules = " | ".join(r for _, _, r in got)
    for words in ("payee is not a tranche", "cycle", "source", "trigger", "amount for pay_principal"):
        assert words in rules, (words, got)


def test_floating_coupon_with_benchmark_stress_tax_on_interest_and_reserve_release(tmp_path):
    """A (900) floats at the benchmark schedule (2.4 %, 3.6 %, 4.8 %) + 1.2 %, stressed up 1.2 %:
    periodic coupons 0.4 %, 0.5 %, 0.6 %.  VAT 10 % of the interest collected.  The reserve (20 at
    closing) is kept at 1 x next period's senior interest (on A's balance at the start of the period)
    and the excess goes to principal; the last period's target is 0."""
    path = workbook(tmp_path / "float.xlsx", tranches=[tranche("A", 900, 0.012, "timely", "floating"),
                                                        tranche("Sub", 100)],
                    fees=SVC + [{"name": "VAT", "basis": "interest_income", "rate": 0.1, "kind": "tax"}],
                    steps=[{"source": "interest", "action": "pay_tax", "payees": "VAT"}, PAY_SVC,
                           {"source": "interest", "action": "pay_interest", "payees": "A"},
                           {"source": "reserve", "action": "pay_interest", "payees": "A"},
                           {"source": "interest", "action": "top_up_reserve", "amount": "target_balance"},
                           {"source": "reserve", "action": "transfer", "amount": "excess", "to": "principal"},
                           {"source": "principal", "action": "pay_principal", "payees": "A>Sub"},
                           {"source": "principal", "action": "pay_residual", "payees": "equity", "amount": "all"},
                           RESIDUAL],
                    schedules={"bm": [0.024, 0.036, 0.048]}, benchmark_schedule="bm", reserve_initial=20.0,
                    reserve_multiple=1.0)
    r = evaluate(path, scenario=Scenario(name="benchmark up", benchmark_up=0.012))
    cp = [0.004, 0.005, 0.006]
    interest = [10, 20 / 3, 10 / 3]
    a = [900.0]
    targets = []
    for t in range(3):                      # A's balance at the start of each period, the target, A's principal
        target = a[t] * cp[t + 1] if t < 2 else 0.0
        released = (20.0 if t == 0 else targets[-1]) - target
        targets.append(target)
        a.append(a[t] - min(a[t], 1000 / 3 + released))
    assert list(r.fees["VAT"].paid) == approx([0.1 * x for x in interest])
    assert col(r, "A", "interest_paid") == approx([a[t] * cp[t] for t in range(3)])
    assert list(r.accounts.reserve_target) == approx(targets) and list(r.accounts.reserve) == approx(targets)
    assert col(r, "A", "balance") == approx(a[1:]) and a[3] == 0
    # Sub (no coupon) takes the principal left in period 3, equity the rest: nothing is left in the accounts
    sub = 1000 + 20 - (900 - 0)
    assert col(r, "Sub", "principal_paid") == approx([0, 0, min(100, sub)])
    assert list(r.accounts.equity_residual) == approx(
        [0.9 * interest[t] - a[t] * cp[t] for t in range(2)] + [0.9 * interest[2] - a[2] * cp[2] + sub - 100])
    assert r.accounts.iloc[2][["interest_account", "principal_account", "reserve"]].sum() == approx(0)
    assert not r.status.defaulted.any()


def test_a_quarterly_deal_keeps_the_monthly_schedule_of_its_assets(tmp_path):
    """Paid quarterly, assets amortising monthly (terms in months, as in the Monte Carlo, §4.5, §5.1):
    OB1 1,200 yuan at 12 % equal principal over 10 months repays 120 a month, 1 % interest a month on
    the balance at the start of the month; OB2 1,000 yuan at 12 % bullet matures in month 5, the middle
    of quarter 2, and earns interest for months 1..5 only.

    quarter 1: principal 3 x 120 = 360;        interest 1 % x (1200 + 1080 + 960) + 3 x 10 = 32.4 + 30
    quarter 2: principal 360 + 1,000 (OB2);    interest 1 % x (840 + 720 + 600) + 2 x 10 = 21.6 + 20
    quarter 3: principal 360;                  interest 1 % x (480 + 360 + 240) = 10.8
    quarter 4: principal 120 (month 10);       interest 1 % x 120 = 1.2
    (Whole quarters per term would repay OB1 over 4 quarters at 300 and pay OB2 two full quarters of
    interest: 36 + 30, 27 + 30, 18, 9.)"""
    obs = [obligor(1, balance=1200.0, term=10), obligor(2, balance=1000.0, term=5, amortisation="bullet")]
    path = workbook(tmp_path / "quarterly.xlsx", tranches=[tranche("A", 2200, legal_final=4)], obligors=obs,
                    steps=[PAY_SVC, {"source": "principal", "action": "pay_principal", "payees": "A"}, RESIDUAL],
                    payment_frequency=4, periods=4)
    r = evaluate(path, timing=(1.0, 0.0, 0.0, 0.0))
    assert list(r.pool.scheduled_principal) == approx([360, 1360, 360, 120])
    assert list(r.pool.interest) == approx([62.4, 41.6, 10.8, 1.2])
    assert col(r, "A", "principal_paid") == approx([360, 1360, 360, 120])


def test_the_pool_recovers_after_the_lag_of_the_recovered_amounts(tmp_path):
    """Two obligors of 1,000 (manufacturing, BBB: base recovery 0.30 + 0): OB1 unsecured (lag 0);
    OB2 secured by real estate appraised at 1,000 (haircut 0.4, lag 18 months, senior secured +0.05):
    recovery 0.30 + 1000 x 0.6 / 1000 + 0.05 = 0.95.  Pool recovery (1000 x 0.30 + 1000 x 0.95) / 2000
    = 0.625; the money recovered arrives on average after (300 x 0 + 950 x 18) / 1250 = 13.68 -> 14
    months (weighting the lags by balance alone would say 9, before any collateral is realised).
    CDR 10 % in period 1: 200 defaults, 125 recovered in period 1 + 14 = 15."""
    secured = dict(obligor(2), collateral_type="real_estate", appraised_value=1000.0, seniority="senior_secured")
    path = workbook(tmp_path / "lag.xlsx", tranches=[tranche("A", 2000, legal_final=20)],
                    obligors=[obligor(1), secured], periods=20,
                    steps=[PAY_SVC, {"source": "principal", "action": "pay_principal", "payees": "A"}, RESIDUAL])
    r = evaluate(path, cdr=0.1, timing=(1.0,) + (0.0,) * 19)
    assert list(r.pool.defaults)[0] == approx(200)
    rec = list(r.pool.recoveries)
    assert rec[14] == approx(125) and sum(rec) == approx(125)
