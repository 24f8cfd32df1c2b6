"""Builders for the waterfall-engine tests: a tiny hand-workable deal and seeded random deals.

``tiny`` is a 3-period pool of 1,000 yuan whose scheduled principal is a
third of the original each period (amortisation fractions 1/3, 1/2, 1) and
whose interest yield is 1 % per period, so every figure in the golden tests
can be worked by hand.
"""

from __future__ import annotations

import numpy as np

from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays
from xlabs.engine.waterfall.examples import corporate_obligors
from xlabs.model.waterfall import FeeSpec, Revolving, Step, TrancheSpec, Trigger, WaterfallDeal


def tiny(tranches, steps, **kw) -> WaterfallDeal:
    args = dict(name="tiny", periods=3, tranches=tranches, steps=steps, pool_balance=1000.0,
                pool_amort=[1 / 3, 1 / 2, 1.0], pool_yield=[0.01, 0.01, 0.01], timing=[1.0, 0.0, 0.0])
    args.update(kw)
    return WaterfallDeal(**args)


def evaluate(deal, cdr, scenario=None):
    prog = compile_deal(deal)
    return prog, run_arrays(prog, scenario_arrays(deal, scenario), cdr)


def random_deal(seed: int, sequential_only: bool = False) -> WaterfallDeal:
    """A valid random deal: 2-4 tranches, fees and a tax, 0-3 triggers with random tests and
    effects, random payee modes / amounts / conditions, optional revolving period and obligors.
    ``sequential_only`` keeps principal sequential and every tranche deferrable (for the
    seniority invariant, which a pro-rata or turbo structure need not satisfy)."""
    rng = np.random.default_rng(seed)
    H = int(rng.integers(6, 30))
    J = int(rng.integers(2, 5))
    pool = 1e6
    shares = rng.dirichlet(np.ones(J)) * pool * rng.uniform(0.8, 1.05)
    names = [f"T{j}" for j in range(J)]
    rules = ["timely", "deferrable", "timely_when_senior"]
    tranches = []
    for j in range(J):
        kind = str(rng.choice(["fixed", "floating", "none"], p=[0.6, 0.2, 0.2]))
        tranches.append(TrancheSpec(names[j], float(shares[j]), kind, float(rng.uniform(0.0, 0.08)),
                                    "deferrable" if sequential_only else str(rng.choice(rules)),
                                    int(rng.integers(0, H + 1)) if rng.random() < 0.3 else 0))
    fees = [FeeSpec("tax", "interest_income", float(rng.uniform(0, 0.06)), kind="tax"),
            FeeSpec("svc", "pool_balance", float(rng.uniform(0, 0.02)), amount=float(rng.uniform(0, 200)),
                    servicer=1),
            FeeSpec("mgr", "tranche_balance", float(rng.uniform(0, 0.01)), tranche=names[0])]
    schedules = {"cdr_s": list(np.cumsum(rng.uniform(0, 0.02, H))), "tgt": list(np.linspace(0.9, 0.0, H))}
    triggers = []
    tests = ["cdr_above", "reserve_below_target", "excess_spread_below", "senior_interest_shortfall", "date"]
    effects = ["end_revolving", "sequential", "turbo", "combine_accounts", "stop_subordinated", "none"]
    for k in range(int(rng.integers(0, 4))):
        test = str(rng.choice(tests))
        eff = "+".join(sorted(set(rng.choice(effects, int(rng.integers(1, 3))))))
        if sequential_only:
            eff = "+".join(e for e in eff.split("+") if e in ("end_revolving", "sequential", "none")) or "none"
        level = {"cdr_above": rng.uniform(0, 0.2), "reserve_below_target": rng.uniform(0.5, 1.0),
                 "excess_spread_below": rng.uniform(-0.02, 0.08), "senior_interest_shortfall": 0.0,
                 "date": float(rng.integers(1, H + 1))}[test]
        sched = "cdr_s" if test == "cdr_above" and rng.random() < 0.5 else ""
        triggers.append(Trigger(f"K{k}", test, float(level), sched, eff, int(rng.integers(0, 2))))
    revolving = None
    if rng.random() < 0.5:
        revolving = Revolving(int(rng.integers(1, H // 2 + 1)), float(rng.uniform(0.05, 0.2)),
                              int(rng.integers(2, 13)), str(rng.choice(["level", "equal_principal", "bullet"])),
                              float(rng.uniform(0.95, 1.05)))

    def cond():
        if not triggers or rng.random() < 0.6:
            return {}
        return {"condition": str(rng.choice(["before", "after"])), "trigger": triggers[int(rng.integers(len(triggers)))].name}

    def group(ns):
        if sequential_only or len(ns) == 1:
            return ">".join(ns)
        return str(rng.choice(["+", ">"])).join(ns)

    steps = [Step("interest", "pay_tax", "tax"), Step("interest", "pay_fee", "svc>mgr" if rng.random() < 0.5 else "svc+mgr")]
    if rng.random() < 0.3:
        steps[1] = Step("interest", "pay_fee", "svc+mgr", "capped", cap=float(rng.uniform(10, 500)))
        steps.append(Step("interest", "pay_fee", "svc>mgr"))
    steps.append(Step("interest", "pay_interest", group(names[:2]), **cond()))
    steps.append(Step("reserve", "pay_interest", names[0]))
    for n in names[2:]:
        steps.append(Step("interest", "pay_interest", n, **cond()))
    steps.append(Step(str(rng.choice(["principal", "combined"])), "pay_interest", names[0]))
    steps.append(Step("interest", "top_up_reserve", "", str(rng.choice(["target_balance", "capped"])),
                      cap=float(rng.uniform(100, 5000))))
    steps.append(Step("reserve", "transfer", "", "excess", to="principal"))
    steps.append(Step("interest", "transfer", "", str(rng.choice(["pdl", "capped"])), cap=float(rng.uniform(10, 3000)),
                      to="principal"))
    if revolving is not None:
        steps.append(Step("principal", "purchase_assets", "", str(rng.choice(["all", "capped"])),
                          cap=float(rng.uniform(1e4, 2e5)), condition="revolving"))
    pcond = {"condition": "amortisation"} if revolving is not None else {}
    if not sequential_only and rng.random() < 0.3:
        steps.append(Step("principal", "pay_principal", names[0], "target_balance", schedule="tgt", **pcond))
    steps.append(Step("principal", "pay_principal", group(names[:2]), str(rng.choice(["due", "all"])), **pcond))
    for n in names[2:]:
        steps.append(Step("principal", "pay_principal", n, **pcond))
    last = names[-1] if rng.random() < 0.5 else "equity"
    steps.append(Step("interest", "pay_residual", last, "all", **cond()))
    steps.append(Step("combined", "pay_residual", last, "all", **pcond))
    obligors = []
    if rng.random() < 0.4:
        obligors = corporate_obligors(int(rng.integers(1, 6)), seed=seed % 1000)
        for o in obligors:
            o.balance *= 1e-2
            o.term = int(min(o.term, H))
            o.default_period = int(rng.integers(0, o.term + 1)) if rng.random() < 0.5 else 0   # within its term
    amort = list(rng.uniform(0.0, 0.2, H))
    yld = list(rng.uniform(0.005, 0.02, H))
    tim = rng.uniform(0, 1, int(rng.integers(2, H + 1)))
    return WaterfallDeal(
        name=f"random {seed}", periods=H, tranches=tranches, steps=steps, fees=fees, triggers=triggers,
        schedules=schedules, pool_balance=pool, pool_amort=amort, pool_yield=yld, obligors=obligors,
        cpr=float(rng.uniform(0, 0.3)), recovery_rate=float(rng.uniform(0, 0.6)), recovery_lag=int(rng.integers(0, 5)),
        timing=list(tim / tim.sum()), revolving=revolving, benchmark=list(rng.uniform(0.01, 0.04, H)),
        reserve_initial=float(rng.uniform(0, 0.02) * pool), reserve_multiple=float(rng.uniform(0, 2)),
        reserve_floor=float(rng.uniform(0, 0.005) * pool), frequency=12,
    )
