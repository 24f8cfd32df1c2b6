"""Shared builders for the consumer-engine tests: small deals and random kernel inputs.

Every builder is seeded (DESIGN.md convention 6), so a failing example can be
rebuilt from the seed hypothesis prints.
"""

from __future__ import annotations

import numpy as np

from xlabs.engine import cashflow_model as cfm
from xlabs.engine.amortisation import pool_schedule
from xlabs.engine.stress import shipped_scenarios
from xlabs.model.consumer import (
    ConsumerDeal,
    Fee,
    LoanTape,
    PerformanceAssumptions,
    StaticPool,
    Tranche,
)


def make_tape(n: int = 300, seed: int = 1) -> LoanTape:
    """A loan tape of ``n`` loans, 3-24 months, 15-24 % annual rates, mixed amortisation."""
    rng = np.random.default_rng(seed)
    return LoanTape(
        loan_id=np.arange(n),
        balance=rng.uniform(1_000.0, 50_000.0, n),
        annual_rate=rng.uniform(0.15, 0.24, n),
        remaining_term=rng.integers(3, 25, n),
        amortisation=rng.choice(["level", "equal_principal", "bullet"], n, p=[0.6, 0.3, 0.1]),
    )


def make_static_pool(n_vintages: int = 18, n_ages: int = 24, seed: int = 2, level: float = 0.03) -> StaticPool:
    """Cumulative default amounts of vintages with lognormal lifetime CDRs around ``level``;
    younger vintages are observed for fewer months (at least 6)."""
    rng = np.random.default_rng(seed)
    bal = np.full(n_vintages, 1e8)
    life = rng.lognormal(np.log(level), 0.3, n_vintages)
    shape = np.diff(np.concatenate([[0.0], 1.0 - np.exp(-np.arange(1, n_ages + 1) / 8.0)]))
    shape /= shape.sum()
    cum = np.cumsum(life[:, None] * shape[None, :], axis=1) * bal[:, None]
    for v in range(n_vintages):
        age = max(n_ages - v, 6)
        cum[v, age:] = np.nan
    return StaticPool([f"V{v + 1}" for v in range(n_vintages)], bal, cum, "cumulative", "amount")


def make_deal(senior: float = 0.8, mezz: float = 0.1, n_loans: int = 300, trigger_cdr=0.06,
              cpr: float = 0.1, recovery: float = 0.2, scenarios=None, **kw) -> ConsumerDeal:
    """Senior A / mezzanine B / residual C deal; ``senior`` and ``mezz`` are shares of the pool."""
    tape = make_tape(n_loans)
    tot = tape.total
    tranches = [
        Tranche("A", senior * tot, 0.04),
        Tranche("B", mezz * tot, 0.06),
        Tranche("C", (1.0 - senior - mezz) * tot, 0.0, rated=False, residual=True),
    ]
    args = dict(
        name="test", tranches=tranches, fees=[Fee("servicing", "pool_balance", 0.01)], tape=tape,
        static_pool=make_static_pool(),
        assumptions=PerformanceAssumptions(cpr=cpr, recovery_rate=recovery, recovery_lag=3, horizon=24),
        scenarios=shipped_scenarios() if scenarios is None else scenarios,
        tax_rate=0.0326, reserve_initial=0.005 * tot, reserve_multiple=1.5, trigger_cdr=trigger_cdr,
    )
    args.update(kw)
    return ConsumerDeal(**args)


def deal_inputs(deal: ConsumerDeal, timing=None, scenario=None) -> cfm.CashflowInputs:
    """Kernel inputs of ``deal`` with a given base timing (default: flat over 24 months)."""
    tape = deal.tape
    sched = pool_schedule(tape.balance, tape.annual_rate, tape.remaining_term, tape.amortisation, deal.frequency)
    if timing is None:
        timing = np.full(24, 1.0 / 24)
    return cfm.build_inputs(deal, sched, timing, scenario)


def random_inputs(seed: int, trigger: str = "none", n_tranches: int | None = None) -> cfm.CashflowInputs:
    """Random but well-formed kernel inputs (H periods, J tranches, senior first).

    ``trigger`` is ``"none"`` (never accelerates), ``"const"`` (one
    threshold) or ``"path"`` (a rising threshold schedule).
    """
    rng = np.random.default_rng(seed)
    H = int(rng.integers(3, 31))
    life = int(rng.integers(1, H + 1))
    J = int(rng.integers(1, 5)) if n_tranches is None else n_tranches
    b0 = float(rng.uniform(1e4, 1e7))
    timing = np.zeros(H)
    timing[:life] = rng.dirichlet(np.ones(life) * rng.uniform(0.3, 3.0))
    amort = np.zeros(H)
    amort[:life] = rng.uniform(0.0, 0.3, life)
    amort[life - 1] = 1.0                       # the pool amortises fully at the end of its life
    yld = np.zeros(H)
    yld[:life] = rng.uniform(0.0, 0.03, life)
    smm = np.full(H, rng.uniform(0.0, 0.05)) if rng.random() < 0.5 else rng.uniform(0.0, 0.05, H)
    residual = J > 1 and rng.random() < 0.6
    shares = rng.dirichlet(np.ones(J)) * rng.uniform(0.6, 1.05)
    tr_bal0 = shares * b0
    coupon = rng.uniform(0.0, 0.012, J)
    if residual:
        coupon[-1] = 0.0
    tr_coupon = np.ascontiguousarray(np.repeat(coupon[:, None], H, axis=1))
    if rng.random() < 0.3:                      # floating coupons: a per-period path
        tr_coupon = np.ascontiguousarray(tr_coupon * rng.uniform(0.8, 1.2, (J, H)))
    tr_timely = (rng.random(J) < 0.8).astype(np.int64)
    if trigger == "none":
        trig = np.full(H, np.inf)
    elif trigger == "const":
        trig = np.full(H, rng.uniform(0.0, 0.4))
    else:
        trig = np.sort(rng.uniform(0.0, 0.5, H))
    return cfm.CashflowInputs(
        b0=b0, timing=timing, amort=amort, yld=yld, smm=smm, rec_rate=float(rng.uniform(0.0, 1.0)),
        rec_lag=int(rng.integers(0, 7)), tr_bal0=tr_bal0, tr_coupon=tr_coupon, tr_timely=tr_timely,
        n_cover=J - 1 if residual else J, tax_rate=float(rng.uniform(0.0, 0.1)),
        fee_rate=float(rng.uniform(0.0, 0.002)), fee_fixed=float(rng.uniform(0.0, 1e-4) * b0),
        reserve0=float(rng.uniform(0.0, 0.03) * b0) if rng.random() < 0.7 else 0.0,
        reserve_k=float(rng.uniform(0.0, 2.0)), trigger=trig,
        names=tuple(f"T{j + 1}" for j in range(J)),
    )
