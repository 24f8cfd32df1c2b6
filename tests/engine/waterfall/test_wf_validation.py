"""Malformed waterfalls are rejected with row-addressed problems, all at once (DESIGN.md convention 4)."""

import pytest

from xlabs.engine.waterfall import compile_deal, validate
from xlabs.engine.waterfall.examples import consumer_revolving_deal, corporate_clo_deal
from xlabs.errors import ValidationError
from xlabs.model.waterfall import FeeSpec, Step, TrancheSpec, Trigger, WaterfallDeal


def _deal(steps, triggers=(), **kw):
    return WaterfallDeal("bad", 3, [TrancheSpec("A", 900, "none"), TrancheSpec("B", 100, "none")], steps,
                         fees=[FeeSpec("svc", "pool_balance", 0.01)], triggers=list(triggers), pool_balance=1000,
                         pool_amort=[0.5, 0.5, 1], pool_yield=[0.01] * 3, **kw)


def test_unknown_payee_cycle_and_missing_source_reported_together():
    steps = [
        Step("interest", "pay_fee", "svc"),                                  # row 1 fine
        Step("interest", "pay_interest", "A>D"),                             # row 2: D is not a tranche
        Step("interest", "transfer", "", "all", to="principal"),             # row 3: cycle with row 4
        Step("principal", "transfer", "", "all", to="interest"),             # row 4
        Step("", "pay_principal", "A>B"),                                     # row 5: no source
        Step("principal", "pay_residual", "B", "all"),                        # row 6 fine
    ]
    with pytest.raises(ValidationError) as e:
        compile_deal(_deal(steps))
    got = [(p.where, p.rule) for p in e.value.problems]
    assert ("Waterfall row 2", "payee is not a tranche") in got
    assert ("Waterfall row 3", "transfers form a cycle between accounts") in got
    assert ("Waterfall row 4", "transfers form a cycle between accounts") in got
    assert ("Waterfall row 5", "step has no source account") in got
    assert len(got) == 4
    assert "Waterfall row 2" in str(e.value) and "'D'" in str(e.value)


def test_a_three_account_cycle_is_found_and_a_chain_is_not():
    chain = [Step("reserve", "transfer", "", "excess", to="interest"),
             Step("interest", "transfer", "", "pdl", to="principal"), Step("principal", "pay_principal", "A>B")]
    fee = [Step("interest", "pay_fee", "svc")]
    assert not validate(_deal(chain + fee))
    cyc = chain + [Step("principal", "transfer", "", "capped", cap=5, to="reserve")] + fee
    rows = sorted(p.where for p in validate(_deal(cyc)).problems)
    assert rows == ["Waterfall row 1", "Waterfall row 2", "Waterfall row 4"]


@pytest.mark.parametrize("step, rule", [
    (Step("interest", "pay_fee", "A"), "payee is not a fee in the Fees table"),
    (Step("interest", "pay_tax", "svc"), "payee is not of kind 'tax'"),
    (Step("interest", "pay_interest", "A+B>C"), "payees mix '+' (pro rata) and '>' (sequence)"),
    (Step("interest", "pay_interest", ""), "pay_interest needs a payee"),
    (Step("interest", "pay_principal", "A", "pdl"), "amount for pay_principal must be one of due, capped, target_balance, all"),
    (Step("interest", "pay_principal", "A", "capped"), "a capped amount needs cap > 0 yuan"),
    (Step("interest", "pay_principal", "A", "target_balance", schedule="nope"),
     "target_balance needs a schedule of target balances (fractions of initial)"),
    (Step("interest", "pay_residual", "A+B", "all"), "pay_residual has one payee (a tranche or 'equity')"),
    (Step("reserve", "top_up_reserve", "", "target_balance"), "the reserve cannot top itself up; use interest or principal"),
    (Step("interest", "transfer", "", "all", to="interest"), "transfer must move cash between two different accounts"),
    (Step("interest", "transfer", "", "all", to="bank"), "transfer needs 'to' in interest, principal, reserve"),
    (Step("interest", "transfer", "", "excess", to="principal"), "amount 'excess' applies to transfers from the reserve"),
    (Step("principal", "purchase_assets", "", "all"), "purchase_assets needs a revolving period (Revolving)"),
    (Step("interest", "pay_interest", "A", condition="after", trigger="ghost"),
     "trigger named by condition 'after' does not exist"),
    (Step("interest", "pay_interest", "A", condition="sometimes"),
     "condition must be one of always, before, after, revolving, amortisation"),
    (Step("bank", "pay_interest", "A"), "source must be one of interest, principal, reserve, combined"),
    (Step("interest", "pay_bonus", "A"),
     "action must be one of pay_tax, pay_fee, pay_interest, pay_principal, top_up_reserve, transfer, purchase_assets, pay_residual"),
])
def test_each_rule_is_row_addressed(step, rule):
    probs = validate(_deal([Step("interest", "pay_fee", "svc"), step, Step("principal", "pay_principal", "A>B")])).problems
    assert [(p.where, p.rule) for p in probs] == [("Waterfall row 2", rule)]


def test_trigger_tranche_and_fee_rows():
    d = _deal([Step("interest", "pay_interest", "A")],
              triggers=[Trigger("k", "cdr_above", 1.5, effects="sequential+explode"), Trigger("k", "date", 3)])
    d.tranches.append(TrancheSpec("C", 10, "float", 5.0, "sometimes"))
    d.fees.append(FeeSpec("mgr", "tranche_balance", 0.01, tranche="Z"))
    got = {(p.where, p.rule) for p in validate(d).problems}
    assert ("Triggers row 1", "effect must be '+'-joined from end_revolving, sequential, turbo, combine_accounts, "
            "stop_subordinated, none") in got
    assert ("Triggers row 1", "level must be a fraction in [0, 1]") in got
    assert ("Triggers row 2", "duplicate name") in got
    assert ("Tranches row 3", "coupon_type must be one of fixed, floating, none") in got
    assert ("Tranches row 3", "coupon must be an annual fraction (0.045 = 4.5%)") in got
    assert ("Tranches row 3", "interest must be one of timely, deferrable, timely_when_senior") in got
    assert ("Fees row 2", "tranche_balance fee needs an existing tranche") in got


def test_both_deal_documents_compile_without_code_changes():
    for d in (consumer_revolving_deal(), corporate_clo_deal()):
        assert not validate(d)
        prog = compile_deal(d)
        assert prog.step_int.shape[0] == len(d.steps)


def test_negative_recovery_lags_are_rejected():
    # a recovery lag below 0 would land recoveries before their default (the kernel indexes
    # recovery periods as unsigned, so such input must never reach it)
    from xlabs.engine.waterfall import scenario_arrays
    from xlabs.engine.waterfall.examples import consumer_revolving_deal
    from xlabs.model.waterfall import Scenario

    deal = consumer_revolving_deal(periods=24)
    deal.recovery_lag = -2
    with pytest.raises(ValidationError, match="recovery_lag must be whole periods >= 0"):
        compile_deal(deal)
    deal.recovery_lag = 3
    compile_deal(deal)
    with pytest.raises(ValidationError, match="recovery_lag_extra must be whole periods >= 0"):
        scenario_arrays(deal, Scenario("neg", "", recovery_lag_extra=-1))
    with pytest.raises(ValidationError, match="recovery_lag_extra must be whole periods >= 0"):
        scenario_arrays(deal, Scenario("half", "", recovery_lag_extra=1.5))
    assert scenario_arrays(deal, Scenario("ok", "", recovery_lag_extra=2)).sc_i.tolist() == [5, 2]


def test_inputs_that_used_to_change_results_silently_are_rejected():
    """Each of these compiled and ran, giving a different deal from the one written:
    a cdr_above schedule in percent (the trigger never fires), a target_balance schedule above 1,
    a payee twice in one row (paid twice), a trigger named on an 'always' step (ignored), a pool
    schedule shorter than the horizon that does not repay the pool (padded with zeros), and a named
    default after the obligor's term (it repays in full first)."""
    from xlabs.model.waterfall import Obligor

    steps = [Step("interest", "pay_interest", "A>A"),                                    # row 1: A twice
             Step("principal", "pay_principal", "A", "target_balance", schedule="tgt"),  # uses tgt
             Step("principal", "pay_principal", "A>B", trigger="acc"),                   # row 3: trigger ignored
             Step("principal", "pay_residual", "B", "all")]
    trig = [Trigger("acc", "cdr_above", 0.0, "lvl", "sequential")]
    deal = _deal(steps, trig, schedules={"lvl": [2.4, 2.4, 2.4], "tgt": [0.9, 0.5, 1.5]})
    deal.pool_amort = [0.2, 0.2]                      # 2 of 3 periods, pool not repaid
    deal.obligors = [Obligor("O1", 100.0, 0.05, 2, default_period=3)]
    got = {(p.where, p.rule.split(":")[0].split(" (")[0]) for p in validate(deal).problems}
    assert ("Schedules lvl", "values must be fractions in [0, 1]") in got, got
    assert ("Schedules tgt", "values must be fractions in [0, 1]") in got, got
    assert ("Waterfall row 1", "a payee appears twice in the row") in got, got
    assert ("Waterfall row 3", "a trigger is named but condition 'always' ignores it") in got, got
    assert any(w == "Pool" and r.startswith("pool_amort covers 2 periods") for w, r in got), got
    assert any(w == "Obligors row 1" and r.startswith("default_period is after the obligor's term") for w, r in got)


def test_two_purchase_steps_have_room_for_their_cohorts():
    """Two purchase_assets rows a period over an 11-period revolving period: 22 purchases.  The kernel had
    room for 1 + H = 13 cohorts and silently stopped buying once full; the pure-Python reference kept
    buying.  Now they agree."""
    import numpy as np

    from xlabs.engine.waterfall import run_arrays, scenario_arrays
    from xlabs.engine.waterfall.reference import reference_arrays
    from xlabs.model.waterfall import Revolving

    H = 12
    deal = WaterfallDeal(
        "two purchases", H, [TrancheSpec("A", 900.0, "fixed", 0.03, "timely"),
                             TrancheSpec("Sub", 100.0, "none", 0.0, "deferrable")],
        [Step("interest", "pay_interest", "A"),
         Step("principal", "purchase_assets", "", "capped", cap=20.0, condition="revolving"),
         Step("principal", "purchase_assets", "", "all", condition="revolving"),
         Step("principal", "pay_principal", "A>Sub", condition="amortisation"),
         Step("interest", "pay_residual", "equity", "all")],
        pool_balance=1000.0, pool_amort=[0.1] * H, pool_yield=[0.01] * H, timing=[1.0 / H] * H,
        revolving=Revolving(end_period=H - 1, annual_rate=0.12, term=3, amortisation="level"))
    prog = compile_deal(deal)
    arrs = scenario_arrays(deal, None)
    raw = run_arrays(prog, arrs, 0.0)
    ref = reference_arrays(deal, arrs, 0.0)
    assert (raw.pool[:, 6] > 0).sum() == H - 1                        # a purchase in every revolving period
    np.testing.assert_allclose(raw.pool, ref[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(raw.status, ref[5], rtol=1e-9, atol=1e-6)


def test_a_named_default_after_the_obligors_term_is_refused_by_every_entry():
    """with_defaults and run_obligor_paths used to accept a default after maturity and do nothing."""
    import numpy as np

    from xlabs.engine.waterfall import scenario_arrays
    from xlabs.engine.waterfall.paths import run_obligor_paths
    from xlabs.model.waterfall import Obligor

    deal = WaterfallDeal("ob", 12, [TrancheSpec("A", 500.0, "none"), TrancheSpec("B", 500.0, "none")],
                         [Step("principal", "pay_principal", "A>B")],
                         obligors=[Obligor("L1", 500.0, 0.0, 6, "bullet"), Obligor("L2", 500.0, 0.0, 12, "bullet")])
    prog = compile_deal(deal)
    assert prog.obligor_terms.tolist() == [6, 12]
    prog.with_defaults({"L1": 6})                                     # the last period with a balance: fine
    with pytest.raises(ValidationError, match="L1 is repaid after period 6: a default at period 9"):
        prog.with_defaults({"L1": 9})
    with pytest.raises(ValidationError, match="L1 is repaid after period 6"):
        run_obligor_paths(prog, scenario_arrays(deal), np.array([[9, 0]]))
    out = run_obligor_paths(prog, scenario_arrays(deal), np.array([[5, 0]]))
    assert out[0, 1, 0] == 1.0                                         # B defaults when L1 does (in period 5)


def test_a_fee_no_step_pays_is_refused():
    """A fee with a cost that no pay_fee / pay_tax step pays would silently never be paid (its cost left out
    of the cash flows and the rating); a fee of rate and amount 0 that is not the servicer's is harmless."""
    steps = [Step("interest", "pay_interest", "A"), Step("principal", "pay_principal", "A>B"),
             Step("interest", "pay_residual", "B", "all")]
    got = [(p.where, p.value) for p in validate(_deal(steps)).problems]
    assert got == [("Fees row 1", "svc")]
    free = _deal(steps)
    free.fees = [FeeSpec("svc", "pool_balance", 0.0)]
    assert not validate(free)
    free.fees = [FeeSpec("svc", "pool_balance", 0.0, servicer=1)]    # the servicer stress would do nothing
    assert [p.where for p in validate(free).problems] == ["Fees row 1"]


def test_a_residual_step_above_tranche_steps_under_combined_accounts_is_refused():
    """combine_accounts turns an interest source into combined (§5.3): a residual step above the principal
    steps would then pay out every yuan, principal collections included, ahead of the tranches.  Worked
    with the rule off (condition 'after' the trigger makes the danger certain): pool 1,000 repaid 500, 250,
    250 at 1 % interest; from period 1 the combined residual takes interest 10 + principal 500 before A's
    principal step, so A (900) receives no principal and equity gets more than the pool's 1,000."""
    eod = Trigger("eod", "date", level=1, effects="combine_accounts")
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_residual", "equity", "all"),
             Step("principal", "pay_principal", "A>B"), Step("principal", "pay_residual", "equity", "all")]
    deal = _deal(steps, [eod])
    with pytest.raises(ValidationError) as e:
        compile_deal(deal)
    got = [(p.where, p.value) for p in e.value.problems]
    assert got == [("Waterfall row 2", "always")]
    assert "'eod'" in str(e.value) and "pay_principal step to A>B" in str(e.value)
    # what the rule prevents, run without it: the residual holder is paid ahead of tranche A
    from xlabs.engine.waterfall import compile as cmod
    from xlabs.engine.waterfall import run
    orig = cmod._residual_ahead_of_tranches
    cmod._residual_ahead_of_tranches = lambda d: []
    try:
        r = run(compile_deal(deal), cmod.scenario_arrays(deal), 0.0)
    finally:
        cmod._residual_ahead_of_tranches = orig
    assert r.tranches["A"].principal_paid.sum() == 0 and r.status.loc["A", "loss"] >= 900
    assert r.accounts.equity_residual.sum() > 1000         # the pool's 1,000 of principal went to equity
    # fine: the residual stops under the trigger, or sits below the tranche steps, or the trigger also stops
    # subordinated payments (which stops every residual step)
    before = [steps[0], Step("interest", "pay_residual", "equity", "all", condition="before", trigger="eod")] + steps[2:]
    below = [steps[0], steps[2], steps[1], steps[3]]
    assert not validate(_deal(before, [eod])) and not validate(_deal(below, [eod]))
    stop = Trigger("eod", "date", level=1, effects="combine_accounts+stop_subordinated")
    assert not validate(_deal(steps, [stop]))
    # a residual to B above a step paying only B's own principal pays B either way: not refused
    own = [steps[0], Step("interest", "pay_residual", "B", "all"), Step("principal", "pay_principal", "B"),
           Step("principal", "pay_principal", "A"), Step("principal", "pay_residual", "equity", "all")]
    assert [p.where for p in validate(_deal(own, [eod])).problems] == ["Waterfall row 2"]     # A's step is still below


def test_the_shipped_corporate_sample_stops_its_interest_residual_under_the_event_of_default(tmp_path):
    """The sample's event of default combines the accounts; its interest residual step carries condition
    'before event_of_default' (else Mezz B would lose principal to Sub).  Without that condition the
    workbook is refused at the step's condition cell."""
    from pathlib import Path

    import openpyxl

    from xlabs.workbook.run import validate_workbook
    sample = Path(__file__).resolve().parents[3] / "workbooks" / "corporate_sample.xlsx"
    validate_workbook(sample)           # raises on any problem
    wb = openpyxl.load_workbook(sample)
    ws = wb["Waterfall"]
    hdr = next(r for r in range(1, 10) if ws.cell(r, 1).value == "source")
    cols = {ws.cell(hdr, c).value: c for c in range(1, ws.max_column + 1)}
    row = next(r for r in range(hdr + 1, ws.max_row + 1)
               if ws.cell(r, cols["action"]).value == "pay_residual" and ws.cell(r, cols["source"]).value == "interest")
    ws.cell(row, cols["condition"]).value = "always"
    ws.cell(row, cols["trigger"]).value = None
    bad = tmp_path / "c.xlsx"
    wb.save(bad)
    with pytest.raises(ValidationError) as e:
        validate_workbook(bad)
    col = openpyxl.utils.get_column_letter(cols["condition"])
    assert [p.where for p in e.value.problems] == [f"Waterfall!{col}{row}"]


def test_a_residual_step_ahead_under_two_combining_triggers_is_one_problem():
    """One residual step above the principal steps, two triggers combining the accounts: one mistake, one
    problem at the step, naming both triggers (a condition 'before' one of them would not do)."""
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_residual", "equity", "all"),
             Step("principal", "pay_principal", "A>B"), Step("principal", "pay_residual", "equity", "all")]
    triggers = [Trigger("eod", "date", level=1, effects="combine_accounts"),
                Trigger("acc", "cdr_above", level=0.1, effects="combine_accounts")]
    problems = validate(_deal(steps, triggers)).problems
    assert [p.where for p in problems] == ["Waterfall row 2"]
    assert "'eod' or 'acc'" in problems[0].rule and "condition 'before'" not in problems[0].rule


def test_a_residual_step_that_never_runs_with_the_tranche_steps_is_not_refused():
    """The rule is about steps that run in the same period: a residual with condition 'revolving' when the
    trigger also ends revolving, or beside principal steps paid only in amortisation, and a residual
    'after' a trigger above principal steps 'before' it, are legitimate waterfalls."""
    from xlabs.model.waterfall import Revolving
    rev = Revolving(1, 0.12, 2, "equal_principal", 1.0)
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_interest", "A"),
             Step("principal", "purchase_assets", "", "all", condition="revolving"),
             Step("interest", "pay_residual", "equity", "all", condition="revolving"),
             Step("principal", "pay_principal", "A>B", condition="amortisation"),
             Step("principal", "pay_residual", "equity", "all")]
    for eff in ("end_revolving+combine_accounts", "combine_accounts"):
        assert not validate(_deal(steps, [Trigger("eod", "cdr_above", level=0.05, effects=eff)], revolving=rev))
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_interest", "A"),
             Step("interest", "pay_residual", "equity", "all", condition="after", trigger="late"),
             Step("principal", "pay_principal", "A>B", condition="before", trigger="late"),
             Step("principal", "pay_residual", "equity", "all")]
    triggers = [Trigger("eod", "cdr_above", level=0.05, effects="combine_accounts"), Trigger("late", "date", level=3)]
    assert not validate(_deal(steps, triggers))
    # the same residual with condition 'always' is refused (the principal step runs with it before period 3)
    steps[2] = Step("interest", "pay_residual", "equity", "all")
    assert [p.where for p in validate(_deal(steps, triggers)).problems] == ["Waterfall row 3"]


@pytest.mark.parametrize("level, ok", [(0.03, False), (0.0, False), (-1.0, False), (2.5, False), (4.0, False),
                                       (1.0, True), (3.0, True)])
def test_a_date_trigger_level_is_a_whole_period_of_the_deal(level, ok):
    """The date test is 'period >= level' (§5.3): a fraction such as 0.03 typed for a cdr trigger, or 0, put the
    trigger in effect from period 1, and a level past the horizon (3 periods here) never; both were accepted."""
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_interest", "A"),
             Step("principal", "pay_principal", "A>B")]
    probs = validate(_deal(steps, triggers=[Trigger("d", "date", level, effects="sequential")])).problems
    want = [] if ok else [("Triggers row 1", "level of a date trigger must be a whole period 1..3 (the first period "
                                              "in effect)")]
    assert [(p.where, p.rule) for p in probs] == want


def test_a_tranche_whose_interest_no_step_pays_is_refused_at_its_row():
    """B bears a 10 % coupon but no pay_interest step names it.  Run anyway, pool 1,000 repaid 500, 250, 250
    at 1 % and no defaults: B (deferrable, repaid in period 3) is owed 100 x 10 % / 12 = 0.8333 a period, never
    paid, and loses 0.8333 x (1.00833^2 + 1.00833 + 1) = 2.5209 of interest (interest on interest at the
    coupon) at its legal final in every scenario, CDR 0 included, while equity takes the interest; a timely B
    would default in period 1.  Refused at B's row."""
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_interest", "A"), Step("principal", "pay_principal", "A>B"),
             Step("interest", "pay_residual", "equity", "all")]
    deal = _deal(steps)
    deal.tranches = [TrancheSpec("A", 900, "fixed", 0.05), TrancheSpec("B", 100, "fixed", 0.10, "deferrable")]
    got = [(p.where, p.value) for p in validate(deal).problems]
    assert got == [("Tranches row 2", "B")]
    assert "no Waterfall step pays this tranche's interest" in validate(deal).problems[0].rule
    from xlabs.engine.waterfall import compile as cmod
    from xlabs.engine.waterfall import run
    orig = cmod.validate
    cmod.validate = lambda d: orig(_deal(steps))        # the rule off: what it prevents
    try:
        r = run(compile_deal(deal), cmod.scenario_arrays(deal), 0.0)
    finally:
        cmod.validate = orig
    g = 1 + 0.1 / 12
    assert r.status.loc["B", "defaulted"] and r.status.loc["B", "loss"] == pytest.approx(100 * 0.1 / 12 * (g * g + g + 1))
    # paying B's interest (in sequence after A, or pro rata with it) satisfies the rule; so does no coupon
    for payees in ("A>B", "A+B"):
        deal.steps = [steps[0], Step("interest", "pay_interest", payees)] + steps[2:]
        assert not validate(deal).problems
    deal.steps = steps
    deal.tranches[1] = TrancheSpec("B", 100, "fixed", 0.0, "deferrable")
    assert not validate(deal).problems
    deal.tranches[1] = TrancheSpec("B", 100, "floating", 0.0, "deferrable")
    deal.benchmark = [0.02] * 3
    assert [p.where for p in validate(deal).problems] == ["Tranches row 2"]     # the benchmark still accrues


def test_a_tranche_no_step_repays_is_refused_at_its_row():
    """A waterfall without a pay_principal step for B (here: none for either) would never repay it, and every
    rating would read "CCCsf or below" with nothing saying why; with a turbo trigger the residual step can
    repay principal, so the rule does not apply."""
    steps = [Step("interest", "pay_fee", "svc"), Step("interest", "pay_interest", "A"),
             Step("principal", "pay_residual", "equity", "all")]
    got = [(p.where, p.value) for p in validate(_deal(steps)).problems]
    assert got == [("Tranches row 1", "A"), ("Tranches row 2", "B")]
    only_a = steps[:2] + [Step("principal", "pay_principal", "A")] + steps[2:]
    assert [(p.where, p.value) for p in validate(_deal(only_a)).problems] == [("Tranches row 2", "B")]
    turbo = [Trigger("t", "date", 1, effects="turbo")]
    assert not validate(_deal(steps, turbo)).problems
