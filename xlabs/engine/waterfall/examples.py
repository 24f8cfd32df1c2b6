"""Two deal documents written as waterfall tables, and the bridge from the fixed consumer kernel.

- :func:`consumer_revolving_deal`: a Chinese consumer-loan revolving deal
  (Pengyuan §五(四)): A/B/C + subordinated, tax on interest income, servicer
  and trustee fees, a liquidity reserve, a 12-period revolving period with
  purchases of new loans, an acceleration trigger on a cumulative default
  schedule (ends revolving, turbo) and an excess-spread trigger.
- :func:`corporate_clo_deal`: a corporate-loan CLO (Lianhe §四(二)2): 20
  loan-level obligors, pro-rata floating senior A1/A2, deferrable B,
  equity; separate accounts until an event of default (senior interest
  shortfall) combines them, and a CDR trigger that switches principal to
  sequential.
- :func:`from_consumer_inputs`: the fixed sequential waterfall of
  ``xlabs.engine.cashflow`` expressed as rows, for the equivalence test.

These are illustrative deals (numbers invented for tests and the benchmark).
"""

from __future__ import annotations

import numpy as np

from ...model.waterfall import (
    FeeSpec,
    Obligor,
    Revolving,
    Step,
    TrancheSpec,
    Trigger,
    WaterfallDeal,
)
from ..amortisation import pool_schedule


def consumer_revolving_deal(periods: int = 60, pool: float = 1e9, seed: int = 7) -> WaterfallDeal:
    """4-tranche revolving consumer deal (see module docstring)."""
    rng = np.random.default_rng(seed)
    n = 200
    bal = rng.uniform(5e3, 5e4, n)
    bal *= pool / bal.sum()
    ps = pool_schedule(bal, rng.uniform(0.12, 0.20, n), rng.integers(6, 25, n),
                       rng.choice(["level", "equal_principal"], n), 12, periods=periods)
    tim = np.diff(1.0 - np.exp(-np.arange(0, 25) / 8.0))
    tranches = [
        TrancheSpec("A", 0.75 * pool, "fixed", 0.035, "timely"),
        TrancheSpec("B", 0.08 * pool, "fixed", 0.045, "timely"),
        TrancheSpec("C", 0.05 * pool, "fixed", 0.060, "deferrable"),
        TrancheSpec("Sub", 0.12 * pool, "none", 0.0, "deferrable", rated=0),
    ]
    fees = [FeeSpec("VAT", "interest_income", 0.0326, kind="tax"),
            FeeSpec("trustee", "fixed", amount=20_000.0),
            FeeSpec("servicer", "pool_balance", 0.01, servicer=1)]
    acc_sched = list(np.minimum(0.02 + 0.004 * np.arange(1, periods + 1), 0.10))
    triggers = [Trigger("acceleration", "cdr_above", schedule="acc_cdr", effects="end_revolving+turbo"),
                Trigger("low_xs", "excess_spread_below", level=0.01, effects="end_revolving", curable=1),
                Trigger("eod", "senior_interest_shortfall", effects="combine_accounts+stop_subordinated")]
    steps = [
        Step("interest", "pay_tax", "VAT"),
        Step("interest", "pay_fee", "trustee>servicer"),
        Step("interest", "pay_interest", "A"),
        Step("reserve", "pay_interest", "A"),
        Step("interest", "pay_interest", "B"),
        Step("interest", "pay_interest", "C"),
        Step("principal", "pay_interest", "A>B"),
        Step("interest", "top_up_reserve", "", "target_balance"),
        Step("reserve", "transfer", "", "excess", to="principal"),
        Step("interest", "transfer", "", "pdl", to="principal"),
        Step("principal", "purchase_assets", "", "all", condition="revolving"),
        Step("principal", "pay_principal", "A>B>C>Sub", "due", condition="amortisation"),
        Step("interest", "pay_residual", "Sub", "all"),
        Step("principal", "pay_residual", "Sub", "all", condition="amortisation"),
    ]
    return WaterfallDeal(
        name="consumer revolving", periods=periods, tranches=tranches, steps=steps, fees=fees,
        triggers=triggers, schedules={"acc_cdr": acc_sched}, pool_balance=pool,
        pool_amort=list(ps.amort_fraction), pool_yield=list(ps.interest_yield), cpr=0.15,
        recovery_rate=0.2, recovery_lag=3, timing=list(tim / tim.sum()),
        revolving=Revolving(12, 0.16, 12, "level", 1.0), reserve_initial=0.005 * pool,
        reserve_multiple=1.5,
    )


def corporate_obligors(n: int = 20, seed: int = 11) -> list:
    """``n`` corporate loans, 20-60 periods, bullet or level, 5-8 % annual rates."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append(Obligor(f"OB{i + 1:02d}", float(rng.uniform(2e7, 1.2e8)), float(rng.uniform(0.05, 0.08)),
                           int(rng.integers(20, 61)), str(rng.choice(["bullet", "level"])),
                           float(rng.uniform(0.2, 0.6)), int(rng.integers(3, 13))))
    return out


def aggregate_obligors(obligors, periods: int, frequency: int = 12):
    """Aggregated schedule of loan-level obligors (METHODOLOGY §5.1):
    ``(balance, amort_fraction, interest_yield, recovery, lag)`` with the
    balance-weighted recovery and (rounded) lag, for CDR-driven stresses."""
    b = np.array([o.balance for o in obligors])
    ps = pool_schedule(b, [o.annual_rate for o in obligors], [o.term for o in obligors],
                       [o.amortisation for o in obligors], frequency, periods=periods)
    w = b / b.sum()
    return (float(b.sum()), list(ps.amort_fraction), list(ps.interest_yield),
            float(w @ [o.recovery for o in obligors]), int(round(float(w @ [o.recovery_lag for o in obligors]))))


def corporate_clo_deal(periods: int = 60, loan_level: bool = True, seed: int = 11) -> WaterfallDeal:
    """Corporate CLO (see module docstring).  ``loan_level=False`` replaces the
    obligors by their aggregated schedule so that CDR stresses apply."""
    obs = corporate_obligors(seed=seed)
    tot = sum(o.balance for o in obs)
    tranches = [
        TrancheSpec("A1", 0.40 * tot, "floating", 0.012, "timely"),
        TrancheSpec("A2", 0.30 * tot, "floating", 0.015, "timely"),
        TrancheSpec("B", 0.15 * tot, "fixed", 0.06, "timely_when_senior"),
        TrancheSpec("Equity", 0.15 * tot, "none", 0.0, "deferrable", rated=0),
    ]
    fees = [FeeSpec("tax", "interest_income", 0.0326, kind="tax"),
            FeeSpec("trustee", "fixed", amount=50_000.0),
            FeeSpec("manager", "tranche_balance", 0.002, tranche="A1", servicer=1)]
    triggers = [Trigger("eod", "senior_interest_shortfall", effects="combine_accounts"),
                Trigger("cdr_seq", "cdr_above", level=0.10, effects="sequential")]
    steps = [
        Step("interest", "pay_tax", "tax"),
        Step("interest", "pay_fee", "trustee>manager"),
        Step("interest", "pay_interest", "A1+A2"),
        Step("combined", "pay_principal", "A1+A2", condition="after", trigger="eod"),
        Step("interest", "pay_interest", "B"),
        Step("combined", "pay_principal", "B", condition="after", trigger="eod"),
        Step("interest", "transfer", "", "pdl", to="principal", condition="before", trigger="eod"),
        Step("interest", "pay_residual", "equity", "all", condition="before", trigger="eod"),
        Step("principal", "pay_principal", "A1+A2", condition="before", trigger="eod"),
        Step("principal", "pay_principal", "B", condition="before", trigger="eod"),
        Step("principal", "pay_principal", "Equity"),
        Step("principal", "pay_residual", "Equity", "all"),
    ]
    bench = list(0.025 + 0.0002 * np.arange(periods))
    deal = WaterfallDeal(name="corporate CLO", periods=periods, tranches=tranches, steps=steps, fees=fees,
                         triggers=triggers, benchmark=bench, cpr=0.0, timing=list(np.full(48, 1 / 48)))
    if loan_level:
        deal.obligors = obs
    else:
        b, a, y, r, lag = aggregate_obligors(obs, periods)
        deal.pool_balance, deal.pool_amort, deal.pool_yield, deal.recovery_rate, deal.recovery_lag = b, a, y, r, lag
    return deal


def from_consumer_inputs(inp, names=("A", "B", "C")) -> WaterfallDeal:
    """The waterfall of ``xlabs.engine.cashflow.waterfall`` as rows (normal mode and acceleration).

    ``inp`` is a ``cashflow_model.CashflowInputs`` with constant coupons and
    trigger; the last tranche takes the residual.  Normal mode (before the
    ``acceleration`` trigger): tax, fees, interest senior first from the
    interest account; reserve then principal account cover shortfalls;
    reserve top-up / release; loss cover (pdl); sequential principal;
    residual.  After acceleration: the combined account pays tax, fees and,
    tranche by tranche, interest then principal.
    """
    H = inp.periods
    J = inp.tr_bal0.size
    names = tuple(names[:J])
    tr = [TrancheSpec(names[j], float(inp.tr_bal0[j]), "fixed", float(inp.tr_coupon[j, 0] * 12),
                      "timely" if inp.tr_timely[j] else "deferrable", rated=1) for j in range(J)]
    fees = [FeeSpec("tax", "interest_income", float(inp.tax_rate), kind="tax"),
            FeeSpec("fees", "pool_balance", float(inp.fee_rate * 12), amount=float(inp.fee_fixed))]
    cover = ">".join(names[: inp.n_cover])
    seq = ">".join(names)
    b = dict(condition="before", trigger="acceleration")
    a = dict(condition="after", trigger="acceleration")
    steps = [
        Step("interest", "pay_tax", "tax", **b), Step("interest", "pay_fee", "fees", **b),
        Step("interest", "pay_interest", seq, **b),
        Step("reserve", "pay_tax", "tax", **b), Step("reserve", "pay_fee", "fees", **b),
        Step("reserve", "pay_interest", names[0], **b),
        Step("principal", "pay_tax", "tax", **b), Step("principal", "pay_fee", "fees", **b),
    ]
    if cover:
        steps.append(Step("principal", "pay_interest", cover, **b))
    steps += [
        Step("interest", "top_up_reserve", "", "target_balance", **b),
        Step("reserve", "transfer", "", "excess", to="principal", **b),
        Step("interest", "transfer", "", "pdl", to="principal", **b),
        Step("principal", "pay_principal", seq, **b),
        Step("interest", "pay_residual", names[-1], "all", **b),
        Step("principal", "pay_residual", names[-1], "all", **b),
        Step("combined", "pay_tax", "tax", **a), Step("combined", "pay_fee", "fees", **a),
    ]
    for n in names:
        steps += [Step("combined", "pay_interest", n, **a), Step("combined", "pay_principal", n, **a)]
    steps.append(Step("combined", "pay_residual", names[-1], "all", **a))
    level = float(inp.trigger[0])
    return WaterfallDeal(
        name="consumer sequential", periods=H, tranches=tr, steps=steps, fees=fees,
        triggers=[Trigger("acceleration", "cdr_above", level=min(level, 1.0) if np.isfinite(level) else 1.0)],
        pool_balance=float(inp.b0), pool_amort=list(inp.amort), pool_yield=list(inp.yld),
        cpr=1.0 - (1.0 - float(inp.smm[0])) ** 12, recovery_rate=float(inp.rec_rate), recovery_lag=int(inp.rec_lag),
        timing=list(inp.timing), reserve_initial=float(inp.reserve0), reserve_multiple=float(inp.reserve_k),
    )
