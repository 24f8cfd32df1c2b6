"""The consumer / micro-loan rating run, end to end (METHODOLOGY §3, §5, §6, §8).

static pool -> vintage CDRs and timing (§3.1–3.2) -> lognormal fit and
adverse adjustments (§3.3–3.4) or stress multiples (§3.5) -> TDR per rating
at each tranche's term -> BDR per tranche and rating scenario (§6.1–6.3)
-> protection-distance table -> model-indicated and final rating (§8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ProblemList
from ..model import waterfall as wm
from ..model.consumer import waterfall_fees, waterfall_tranches
from . import cashflow_model as cfm
from .amortisation import pool_schedule
from .cashflow import POOL_COLUMNS
from .default_table import shipped_table
from .lognormal import Adjustment, adjust, fit_lognormal, target_default_rate, tdr_stress_multiple
from .rating_map import (
    TrancheRating,
    applied_default_notes,
    apply_adjustments,
    model_indicated,
    untested_below_notes,
    validate_adjustments,
)
from .ratings import BELOW_SCALE, canonical, notch
from .static_pool import extrapolate_vintages
from .stress import protection_distance, scenarios_by_rating
from .timing import fit_to_life
from .waterfall import compile_deal, scenario_arrays
from .waterfall import run as run_waterfall
from .waterfall.bdr import STATES, applied_cdr, breakeven_table


@dataclass
class ConsumerRating:
    """Everything the consumer run computed; the workbook layer writes it out."""

    vintages: object                  # VintageAnalysis
    fit: object                       # LognormalFit or None (multiple method)
    adjusted: object                  # AdjustedFit or None
    base_cdr: float                   # expected CDR of the base case
    tdr: pd.DataFrame                 # tranche x rating: term, P_A, TDR
    stress: pd.DataFrame              # tranche x rating x scenario: BDR, TDR, distances, pass
    ratings: list                     # TrancheRating per tranche
    base_cashflows: object            # CashflowResult at base_cdr
    schedule: object                  # PoolSchedule
    credit_enhancement: dict
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def credit_enhancement(tranches, pool_balance: float) -> dict:
    """CE_j = (junior principal + overcollateral) / pool principal (METHODOLOGY §4.8)."""
    total = sum(t.balance for t in tranches)
    oc = pool_balance - total
    out = {}
    junior = 0.0
    for t in reversed(tranches):
        out[t.name] = (junior + oc) / pool_balance
        junior += t.balance
    return out


def tranche_term_years(deal, tranche, horizon_periods: int) -> float:
    """Term used for P_A: the tranche's own, else the legal final (years)."""
    if tranche.term_years:
        return float(tranche.term_years)
    return horizon_periods / deal.frequency


def rate_consumer(deal, progress=None) -> ConsumerRating:
    """Run the consumer methodology on a validated :class:`~xlabs.model.ConsumerDeal`.

    ``progress(fraction, message)`` is called as steps finish (optional).
    """
    def tick(x, msg):
        if progress is not None:
            progress(x, msg)

    check_deal(deal)
    t0 = time.perf_counter()
    timings = {}
    a = deal.assumptions
    table = deal.default_table or shipped_table()
    tape = deal.tape
    schedule = pool_schedule(tape.balance, tape.annual_rate, tape.remaining_term, tape.amortisation, deal.frequency)
    life = schedule.last_period
    horizon = a.horizon or life
    cum = deal.static_pool.cumulative_rates()
    va = extrapolate_vintages(cum, horizon, balances=deal.static_pool.balances,
                              weighting=a.weighting if a.weighting else None)
    timings["static pool"] = time.perf_counter() - t0
    tick(0.1, "static pool analysed")
    notes = list(va.notes)
    H = cfm.horizon(deal, schedule)
    rated = [t for t in deal.tranches if t.rated]
    tested = list(scenarios_by_rating(deal.scenarios).keys())

    # --- target default rates per tranche term (§3.4 / §3.5) -------------
    fit = adjusted = None
    if a.method == "lognormal":
        fit = fit_lognormal(va.cdr, floor=a.cdr_floor)
        if fit.floored:
            notes.append(f"{fit.floored} vintage CDR(s) of 0 replaced by the floor {fit.floor:.6f} in the fit")
        adjusted = adjust(fit, [Adjustment(x.factor, x.mu_shift, x.sigma_multiplier, x.reason)
                                for x in deal.fit_adjustments])
        base_cdr = float(np.exp(adjusted.mu + 0.5 * adjusted.sigma**2))
    else:
        base_cdr = float(np.mean(va.cdr))
    rows = []
    probs = ProblemList()
    if a.method != "lognormal":
        # §3.5: TDR_r = base CDR x multiple_r, so a higher rating's multiple is at least every lower one's
        given = {canonical(r): float(m) for r, m in deal.stress_multiples.items()}
        for r, m in given.items():
            lower = [(x, mx) for x, mx in given.items() if notch(x) > notch(r) and mx > m]
            if lower:
                x, mx = max(lower, key=lambda q: q[1])
                probs.add("RatingTables", f"the stress multiple of {r} is below that of the lower rating {x} "
                          f"({mx:g}): a higher rating would get a lower TDR (§3.5)", m)
    for t in rated:
        years = tranche_term_years(deal, t, H)
        for r in tested:
            pa = float(table.probability(r, years))
            if a.method == "lognormal":
                if not pa < 1.0:
                    msg = (f"the default-rate table gives {r} a default probability of 100% at {years:.2f} years: "
                           "a rating certain to default cannot be tested (remove its stress scenarios)")
                    if all(p.rule != msg for p in probs.problems):
                        probs.add("RatingTables", msg, pa)
                    continue
                # P_A = 0: no pool CDR may be exceeded at all, TDR = +inf, capped to 100 % below
                raw = float(target_default_rate(adjusted.mu, adjusted.sigma, pa)) if pa > 0.0 else np.inf
            else:
                mult = deal.stress_multiples.get(r)
                if mult is None:
                    probs.add("RatingTables", "method 'multiple' needs a stress multiple for this rating", r)
                    continue
                raw = tdr_stress_multiple(base_cdr, {r: mult})[r]
            rows.append({"tranche": t.name, "rating": r, "term_years": years, "p_a": pa, "tdr": min(raw, 1.0),
                         "tdr_uncapped": raw,
                         "multiple": None if a.method == "lognormal" else float(deal.stress_multiples[r])})
    probs.raise_if_any()
    tdr_df = pd.DataFrame(rows)
    capped = tdr_df[tdr_df.tdr_uncapped > 1.0]
    if len(capped):
        notes.append("TDR above 100% capped at 100% (a CDR cannot exceed the pool; a tranche passes such a rating "
                     "only if it survives the default of the whole pool): "
                     + ", ".join(f"{x.tranche} {x.rating} " + (f"{x.tdr_uncapped:.2%}" if np.isfinite(x.tdr_uncapped)
                                                                  else "unbounded (P_A = 0)")
                                 for x in capped.itertuples()))
    timings["target default rates"] = time.perf_counter() - t0 - sum(timings.values())
    tick(0.2, "target default rates")

    # --- BDR per tranche x scenario (§6) ---------------------------------
    t1 = time.perf_counter()
    cache = {}
    stress_rows = []
    names = [t.name for t in deal.tranches]
    by_rating = scenarios_by_rating(deal.scenarios)
    n_tasks = max(1, len(rated) * sum(len(v) for v in by_rating.values()))
    done = 0
    step = getattr(a, "bdr_grid_step", cfm.BDR_GRID_STEP)

    def add_row(t, r, s, bdr, state, evaluations, applied):
        """One protection-distance row (§6.2–6.3); a tranche that defaults at 0% CDR never passes.
        ``applied``: the pool's cumulative default ratio in the run at the BDR (§5.2 caps defaults)."""
        tdr = float(tdr_df[(tdr_df.tranche == t.name) & (tdr_df.rating == r)].iloc[0].tdr)
        d, rel = protection_distance(bdr, tdr)
        stress_rows.append({"tranche": t.name, "rating": r, "scenario": s.name, "bdr": bdr, "bdr_state": state,
                            "tdr": tdr, "distance": d, "relative_distance": rel,
                            "passes": bdr >= tdr and state != STATES[2], "evaluations": evaluations,
                            "applied_cdr": applied})

    wf = prog = None
    if deal.waterfall is not None:
        # the deal's own waterfall: one search per distinct scenario, every rated tranche (§6.1)
        tick(0.25, "stress tests: the deal's waterfall")
        wf = data_waterfall_deal(deal, schedule, va.timing)
        prog = compile_deal(wf)
        flat = [(r, s) for r, scs in by_rating.items() for s in scs]
        bt = breakeven_table(prog, [s for _, s in flat], tranches=[t.name for t in rated], step=step)
        applied = applied_cdr(prog, bt)
        for k, t in enumerate(rated):
            for i, (r, s) in enumerate(flat):
                add_row(t, r, s, float(bt.bdr[i, k]), STATES[int(bt.state[i, k])], int(bt.evaluations[i, k]),
                        float(applied[i, k]))
        tick(0.9, f"stress tests {len(stress_rows)}/{len(stress_rows)}")
    else:
        for t in rated:
            j = names.index(t.name)
            for r, scs in by_rating.items():
                for s in scs:
                    key = (j, s.recovery_haircut, s.cpr_multiplier, s.coupon_up, s.timing, s.servicer_fee_up,
                           s.recovery_lag_extra)
                    if key not in cache:
                        inp = cfm.build_inputs(deal, schedule, va.timing, s)
                        res = cfm.breakeven(inp, j, step=step)
                        pool_out = cfm.run_arrays(inp, res.bdr)[0]
                        cache[key] = res, float(pool_out[-1, POOL_COLUMNS.index("cumulative_default_ratio")])
                    res, applied = cache[key]
                    add_row(t, r, s, res.bdr, res.state, res.evaluations, applied)
                    done += 1
                    if done % 25 == 0:
                        tick(0.2 + 0.7 * done / n_tasks, f"stress tests {done}/{n_tasks}")
    stress_df = pd.DataFrame(stress_rows)
    timings["stress BDR search"] = time.perf_counter() - t1
    timings["BDR searches"] = bt.searches if wf is not None else len(cache)

    # --- ratings (§8) --------------------------------------------------------
    if wf is not None:
        from .corporate import credit_enhancement as ranked  # pro-rata classes share a rank (§4.8)
        ce = ranked(deal.tranches, float(schedule.balance[0]), wf.steps)
    else:
        ce = credit_enhancement(deal.tranches, float(schedule.balance[0]))
    validate_adjustments(deal.rating_adjustments, names)
    ratings = []
    for t in rated:
        sub = stress_df[stress_df.tranche == t.name]
        cap = BELOW_SCALE
        for r in tested:  # best first
            if bool(sub[sub.rating == r].passes.all()):
                cap = r
                break
        row = TrancheRating(tranche=t.name, credit_enhancement=ce[t.name],
                            caps={"portfolio": None, "cash flow": cap, "key obligor": None},
                            model_indicated=model_indicated([cap]))
        ratings.append(apply_adjustments(row, deal.rating_adjustments))
    notes += untested_below_notes({r.tranche: r.caps["cash flow"] for r in ratings}, tested, "cash-flow stress")
    notes += applied_default_notes(stress_df, {r.tranche: r.caps["cash flow"] for r in ratings}, tested)
    if wf is not None:
        base_cf = run_waterfall(prog, scenario_arrays(wf), min(base_cdr, 1.0))
    else:
        base_cf = cfm.run(cfm.build_inputs(deal, schedule, va.timing, None), min(base_cdr, 1.0))
    timings["total"] = time.perf_counter() - t0
    tick(1.0, "done")
    return ConsumerRating(vintages=va, fit=fit, adjusted=adjusted, base_cdr=base_cdr, tdr=tdr_df, stress=stress_df,
                          ratings=ratings, base_cashflows=base_cf, schedule=schedule, credit_enhancement=ce,
                          timings=timings, notes=notes)


def data_waterfall_deal(deal, schedule, base_timing) -> wm.WaterfallDeal:
    """The deal's own waterfall (``deal.waterfall``, §5.3–5.4) on the pool of its loan tape.

    The pool is the tape's aggregated schedule (§5.1) with the base-case CPR,
    recovery and lag and the static-pool timing fitted to the pool's life
    (§3.2, §5.2), exactly as the built-in waterfall sees it
    (:func:`~xlabs.engine.cashflow_model.build_inputs`); the horizon and every
    legal final is :func:`~xlabs.engine.cashflow_model.horizon`.  Tranches and
    fees are mapped by :func:`~xlabs.model.consumer.waterfall_tranches` and
    :func:`~xlabs.model.consumer.waterfall_fees` (the tax is the fee ``tax``).
    """
    a = deal.assumptions
    H = cfm.horizon(deal, schedule)
    life = max(schedule.last_period, 1)

    def pad(x):
        out = np.zeros(H)
        m = min(H, len(x))
        out[:m] = np.asarray(x, dtype=float)[:m]
        return list(out)

    dw = deal.waterfall
    return wm.WaterfallDeal(
        name=deal.name, periods=H, tranches=waterfall_tranches(deal.tranches), steps=dw.steps,
        fees=waterfall_fees(deal.fees, deal.tax_rate), triggers=dw.triggers, schedules=dw.schedules,
        pool_balance=float(schedule.balance[0]), pool_amort=pad(schedule.amort_fraction),
        pool_yield=pad(schedule.interest_yield), cpr=a.cpr, recovery_rate=a.recovery_rate,
        recovery_lag=int(a.recovery_lag), timing=list(fit_to_life(base_timing, life)), revolving=dw.revolving,
        purchase_timing=list(base_timing),         # fitted to the purchases' own term (compile.scenario_arrays)
        reserve_initial=deal.reserve_initial, reserve_multiple=deal.reserve_multiple, frequency=deal.frequency)


LEGAL_FINAL_RULE = ("legal_final_months must be at least the longest remaining term of the pool ({life} months): "
                    "defaults and collections after the legal final would fall outside the cash-flow model, so a "
                    "stressed CDR would not be applied in full (METHODOLOGY §5.2); leave it blank to use the pool life")


def check_deal(deal) -> None:
    """Engine-level consistency checks not tied to a cell (raise all at once)."""
    probs = ProblemList()
    if deal.frequency != 12:
        probs.add("Deal", "only monthly payments (payment_frequency 12) are supported: terms, lags, static-pool "
                  "ages and PD curves are monthly", deal.frequency)
    life = int(np.max(deal.tape.remaining_term)) if deal.tape is not None and len(deal.tape.remaining_term) else 0
    if deal.assumptions.horizon and deal.assumptions.horizon < life:
        probs.add("Assumptions", f"the static-pool horizon must be at least the longest remaining term ({life} "
                  "months; METHODOLOGY §3.2)", deal.assumptions.horizon)
    if deal.legal_final_months and deal.legal_final_months < life:
        probs.add("Deal", LEGAL_FINAL_RULE.format(life=life), deal.legal_final_months)
    if not deal.tranches:
        probs.add("Tranches", "at least one tranche is needed")
    if sum(t.balance for t in deal.tranches) > deal.tape.total * (1 + 1e-9):
        probs.add("Tranches", "tranche principal exceeds the pool balance", sum(t.balance for t in deal.tranches))
    if not any(t.rated for t in deal.tranches):
        probs.add("Tranches", "no tranche is marked rated")
    if not deal.scenarios:
        probs.add("RatingTables", "the stress-scenario table is empty")
    for t in deal.tranches[:-1]:
        if t.residual:
            probs.add("Tranches", f"only the last tranche may take the residual ({t.name})")
    probs.raise_if_any()
