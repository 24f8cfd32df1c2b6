"""The corporate-debt (CLO) rating run: three models and the minimum (METHODOLOGY §4, §6, §8).

1. Portfolio model (§4.1–4.5): obligor PD curves, recoveries, concentration
   and correlation -> multi-period Monte Carlo -> TRDR_r and TRLR_r at each
   tranche's term; cap₁ = the highest r with CE ≥ TRLR_r.
2. Cash-flow stress test (§5, §6): the waterfall as data on the aggregated
   obligor schedule, default timing from the Monte Carlo; BDR of every rated
   tranche under every scenario of every rating; cap₂ = the highest r whose
   stressed BDRs all reach TRDR_r.
3. Key-obligor test (§4.7): cap₃ = the highest r whose k_r largest
   obligors rated below r can default together without the loss exceeding CE
   (a rating missing from the table takes k of the nearest listed rating
   above it: :func:`key_obligor_steps`).
Model-indicated rating = min(cap₁, cap₂, cap₃); then adjustments (§8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import ProblemList
from ..model import waterfall as wm
from ..model.corporate import FREQUENCIES
from .amortisation import PoolSchedule, pool_schedule
from .portfolio import build_model_inputs, key_obligor_test, simulate_pool
from .rating_map import (
    TrancheRating,
    applied_default_notes,
    apply_adjustments,
    model_indicated,
    untested_below_notes,
    validate_adjustments,
)
from .ratings import BELOW_SCALE, SCALE, notch
from .waterfall import compile_deal, scenario_arrays
from .waterfall import run as run_waterfall
from .waterfall.bdr import BDR_GRID_STEP, applied_cdr, breakeven_table, protection_table
from .waterfall.compile import pro_rata_classes

TESTED = SCALE[:16]
"""Target ratings tested, AAAsf..B-sf; below them the tranche is 'CCCsf or below' (§8)."""


@dataclass
class CorporateRating:
    """Everything the corporate run computed; the workbook layer writes it out."""

    inputs: object                 # ModelInputs
    mc: object                     # PortfolioResult
    targets: pd.DataFrame          # tranche x rating: term, P_A, TRDR/TRLR with CI
    stress: pd.DataFrame           # tranche x scenario (with rating): BDR, TRDR, distances, passes
    key_obligor: pd.DataFrame      # tranche x rating: obligors, loss, CE, passes
    ratings: list                  # TrancheRating
    credit_enhancement: dict
    waterfall: object              # WaterfallDeal used for the stress test
    base_cashflows: object = None  # WaterfallResult: base scenario at the Monte Carlo mean pool default ratio
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def seniority_ranks(tranches, steps=()) -> dict:
    """Rank of each tranche (0 = most senior): its row in the Tranches table, except that tranches
    paid principal pro rata together (payees ``"A1+A2"`` of a ``pay_principal`` step, in any
    condition) are pari passu and share the rank of the first of them."""
    return pro_rata_classes(tranches, steps, "pay_principal")


def credit_enhancement(tranches, pool_balance: float, steps=()) -> dict:
    """CE_j = (principal junior to j + overcollateral) / pool principal (§4.8).

    Junior to j: the tranches of a lower rank (:func:`seniority_ranks`), so
    classes paid pro rata with j are not counted as its subordination.
    """
    oc = pool_balance - sum(t.balance for t in tranches)
    rank = seniority_ranks(tranches, steps)
    return {t.name: (sum(u.balance for u in tranches if rank[u.name] > rank[t.name]) + oc) / pool_balance
            for t in tranches}


def tranche_term_years(deal, t) -> float:
    """Term for P_A: the tranche's legal final, else the model horizon (years)."""
    return (t.legal_final or deal.periods) / deal.frequency


def horizon_months(deal) -> int:
    """The Monte Carlo horizon in months: ``periods`` payment periods of ``12 / frequency`` months."""
    return int(deal.periods) * 12 // int(deal.frequency)


def months_to_periods(months, frequency: int):
    """Whole payment periods covering ``months`` (a term or a lag): ``ceil(months x frequency / 12)``,
    so an asset never matures and a recovery never arrives earlier than in months."""
    m = np.asarray(months, dtype=np.int64)
    return (m * int(frequency) + 11) // 12


def period_schedule(balance, annual_rate, term_months, kind, frequency: int, periods: int) -> PoolSchedule:
    """Pool schedule per payment period of assets that amortise monthly (METHODOLOGY §5.1).

    The monthly schedule (annual rate / 12, terms in months, as the Monte Carlo's exposure schedule)
    over ``periods x 12 / frequency`` months, read at the end of each period of ``12 / frequency``
    months; a period's interest is the interest of its months, so an asset repaid inside a period
    earns interest only for the months it is outstanding and a level or equal-principal asset keeps
    its monthly amortisation.  ``amort_fraction`` and ``interest_yield`` are per period, shape (periods,).
    """
    step = 12 // int(frequency)
    m = pool_schedule(balance, annual_rate, np.asarray(term_months, dtype=np.int64), kind, 12,
                      periods=int(periods) * step)
    sb = m.balance[::step]
    interest = m.interest.reshape(int(periods), step).sum(axis=1)
    principal = sb[:-1] - sb[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(sb[:-1] > 0, principal / sb[:-1], 0.0)
        y = np.where(sb[:-1] > 0, interest / sb[:-1], 0.0)
    return PoolSchedule(balance=sb, principal=principal, interest=interest, amort_fraction=a, interest_yield=y)


def waterfall_deal(deal, inputs, timing) -> wm.WaterfallDeal:
    """The cash-flow model of the pool: obligors aggregated into one schedule (§5.1) so
    CDR stresses apply, the balance-weighted recovery (§4.2) received after the lag of the recovered
    amounts (each obligor's lag weighted by balance x recovery), timing from the Monte Carlo.

    Obligor terms and recovery lags are in months; the cash-flow model runs in payment periods
    (``deal.frequency`` a year): the pool schedule is the obligors' monthly schedule (the one the
    Monte Carlo's exposures follow, §4.5) read at the period ends, with the interest of the months of
    each period added up (:func:`period_schedule`); the lag becomes whole periods
    (:func:`months_to_periods`), ``timing`` is already per period (:func:`_timing_curve`)."""
    obs = deal.obligors
    f = int(deal.frequency)
    bal = np.array([o.balance for o in obs])
    ps = period_schedule(bal, [o.rate for o in obs], [o.remaining_term for o in obs],
                         [o.amortisation for o in obs], f, deal.periods)
    w = bal / bal.sum()
    # the lag of the recovered money: each obligor's lag weighted by what it recovers (balance x recovery),
    # so an obligor that recovers little does not pull the pool's recoveries forward to its own short lag
    rec_w = w * inputs.recovery
    rec_w = rec_w / rec_w.sum() if rec_w.sum() > 0 else w
    lag_months = int(round(float(rec_w @ inputs.recovery_lag)))
    return wm.WaterfallDeal(
        name=deal.name, periods=deal.periods, tranches=deal.tranches, steps=deal.steps, fees=deal.fees,
        triggers=deal.triggers, schedules=deal.schedules, pool_balance=float(bal.sum()),
        pool_amort=list(ps.amort_fraction), pool_yield=list(ps.interest_yield), cpr=deal.cpr,
        recovery_rate=float(w @ inputs.recovery), recovery_lag=int(months_to_periods(lag_months, f)),
        timing=list(timing), revolving=deal.revolving,
        benchmark=list(deal.benchmark) if deal.benchmark is not None else [deal.benchmark_rate] * deal.periods,
        reserve_initial=deal.reserve_initial,
        reserve_multiple=deal.reserve_multiple, reserve_floor=deal.reserve_floor, frequency=f)


def _timing_curve(mc, periods: int, frequency: int = 12) -> np.ndarray:
    """Default timing per payment period, (periods,), sums to 1: the Monte Carlo's monthly timing
    curve with the months of each period added up (month m, 1-based, is in period ceil(m f / 12))."""
    t = np.zeros(periods)
    months = np.arange(mc.timing.size)
    per = months_to_periods(months + 1, frequency) - 1
    keep = per < periods
    np.add.at(t, per[keep], mc.timing[keep])
    s = t.sum()
    return t / s if s > 0 else np.full(periods, 1.0 / periods)


def _scenario_in_periods(s, frequency: int):
    """A stress scenario with its extra recovery lag (months) in whole payment periods."""
    if int(frequency) == 12 or not getattr(s, "recovery_lag_extra", 0):
        return s
    return replace(s, recovery_lag_extra=int(months_to_periods(s.recovery_lag_extra, frequency)))


def key_obligor_steps(table: dict) -> dict:
    """The key-obligor table for every tested rating (§4.7).

    A rating missing from the table takes k of the nearest listed rating above
    it (the harsher requirement); ratings above the best listed one take its k.
    """
    listed = {SCALE[notch(r)]: int(k) for r, k in table.items()}
    out = {}
    for r in TESTED:
        above = [x for x in listed if notch(x) <= notch(r)]
        below = [x for x in listed if notch(x) > notch(r)]
        if above:
            out[r] = listed[max(above, key=notch)]
        elif below:
            out[r] = listed[min(below, key=notch)]
    return out


def key_obligor_haircuts(scenarios) -> dict:
    """Recovery haircut of the key-obligor test at each rating: the harshest
    ``recovery_haircut`` among that rating's stress scenarios (§4.7 "recoveries stressed per §2.3")."""
    out: dict = {}
    for s in scenarios:
        r = SCALE[notch(s.rating)]
        out[r] = max(out.get(r, 0.0), float(s.recovery_haircut))
    return out


def _highest(passing: dict) -> str:
    """Highest tested rating r with passing[r] True (best first); below scale otherwise."""
    for r in TESTED:
        if passing.get(r, False):
            return r
    return BELOW_SCALE


def run_portfolio(deal, tick=None, client=None, timings=None):
    """The portfolio model alone (§4.1–4.5): ``(inputs, mc, targets, notes)``.

    ``targets`` has, per rated tranche and tested rating, the term, P_A and
    TRDR / TRLR with their 95 % order-statistic CI and standard error.
    """
    timings = {} if timings is None else timings
    t = time.perf_counter()
    inputs = build_model_inputs(deal.obligors, deal.tables, months=horizon_months(deal))
    notes = list(getattr(inputs.correlation, "warnings", []) or [])
    timings["portfolio inputs"] = time.perf_counter() - t
    if tick:
        tick(0.05, f"Monte Carlo, {deal.n_paths:,} paths")
    t = time.perf_counter()
    mc = simulate_pool(inputs, n_paths=deal.n_paths, seed=deal.seed, client=client)
    timings["Monte Carlo"] = time.perf_counter() - t
    if tick:
        tick(0.5, "target ratios")
    rows = []
    for tr in (x for x in deal.tranches if x.rated):
        years = tranche_term_years(deal, tr)
        for rec in mc.rating_table(years, deal.tables.default_rates, ratings=TESTED):
            rows.append({"tranche": tr.name, "term_years": years, **rec})
    targets = pd.DataFrame(rows)
    notes += thin_tail_notes(targets, deal.n_paths)
    return inputs, mc, targets, notes


MIN_TAIL_PATHS = 10
"""Fewest expected paths beyond a TRDR / TRLR quantile (n_paths x P_A) before a note says it is imprecise."""


def thin_tail_notes(targets: pd.DataFrame, n_paths: int) -> list:
    """A note when some tested rating's quantile (§4.5) rests on fewer than :data:`MIN_TAIL_PATHS`
    expected paths beyond it: with n x P_A < 1 the (1 - P_A) quantile is the sample maximum and
    understates the target ratio, so the rating it supports is too high by an unknown margin."""
    if not len(targets):
        return []
    p = targets[(targets.p_a > 0) & (targets.p_a < 1)]
    thin = p[n_paths * p.p_a < MIN_TAIL_PATHS]
    if not len(thin):
        return []
    worst = thin.loc[thin.p_a.idxmin()]
    ratings = sorted(set(thin.rating), key=notch)
    need = int(np.ceil(MIN_TAIL_PATHS / worst.p_a))
    return [f"TRDR/TRLR at {', '.join(ratings)} rest on fewer than {MIN_TAIL_PATHS} expected paths beyond the "
            f"quantile (n_paths x P_A = {n_paths * worst.p_a:.2g} at {worst.rating}, {worst.tranche}); where it is "
            f"below 1 the quantile is the sample maximum and understates the target, so a rating that rests on it "
            f"may be too high. About {need:,} paths would give {MIN_TAIL_PATHS} at {worst.rating}."]


def rate_corporate(deal, progress=None, client=None) -> CorporateRating:
    """Run the corporate methodology on a validated :class:`~xlabs.model.corporate.CorporateDeal`.

    ``progress(fraction, message)`` is called between steps; ``client`` (a
    Dask client) splits the Monte Carlo over a cluster with identical results.
    """
    def tick(x, msg):
        if progress is not None:
            progress(x, msg)

    check_corporate(deal)
    timings = {}
    t0 = time.perf_counter()
    inputs, mc, targets, notes = run_portfolio(deal, tick, client, timings)
    pool = float(sum(o.balance for o in deal.obligors))
    ce = credit_enhancement(deal.tranches, pool, deal.steps)
    rated = [tr for tr in deal.tranches if tr.rated]

    # cap 2: cash-flow stress test against TRDR
    t = time.perf_counter()
    tick(0.6, "cash-flow stress test")
    wf = waterfall_deal(deal, inputs, _timing_curve(mc, deal.periods, deal.frequency))
    prog = compile_deal(wf)
    scenarios = [_scenario_in_periods(s, deal.frequency) for s in deal.scenarios if s.rating in TESTED]
    bt = breakeven_table(prog, scenarios, tranches=[tr.name for tr in rated],
                         step=getattr(deal, "bdr_grid_step", BDR_GRID_STEP))
    stress_parts = []
    applied = applied_cdr(prog, bt)
    for tr in rated:
        trdr = targets[targets.tranche == tr.name].set_index("rating")["trdr"].to_dict()
        part = protection_table(bt, trdr, applied)
        stress_parts.append(part[part.tranche == tr.name])
    stress = pd.concat(stress_parts, ignore_index=True) if stress_parts else pd.DataFrame()
    timings["stress BDR search"] = time.perf_counter() - t
    # the base case shown period by period: no stress, the expected pool default ratio of the Monte Carlo
    base_cf = run_waterfall(prog, scenario_arrays(wf), float(np.mean(mc.default_ratio)))

    # cap 3: key obligors
    ids = [o.id for o in deal.obligors]
    exposure = np.array([o.balance for o in deal.obligors])
    ratings_ob = [o.shadow_rating for o in deal.obligors]
    ko_rows = []
    ko_table = key_obligor_steps(deal.key_obligors)
    haircut = key_obligor_haircuts(deal.scenarios)
    for tr in rated:
        for out in key_obligor_test(ids, exposure, ratings_ob, inputs.recovery, ce[tr.name],
                                    table=ko_table, targets=list(ko_table), recovery_haircut=haircut):
            ko_rows.append({"tranche": tr.name, "rating": out.rating, "k": out.k,
                            "obligors": ", ".join(map(str, out.defaulted)), "default_amount": out.default_amount,
                            "loss": out.loss, "loss_ratio": out.loss_ratio, "credit_enhancement": out.credit_enhancement,
                            "passes": out.passed})
    key_df = pd.DataFrame(ko_rows)
    tick(0.9, "ratings")

    validate_adjustments(deal.rating_adjustments, [t.name for t in deal.tranches])
    ratings = []
    for tr in rated:
        tg = targets[targets.tranche == tr.name]
        cap1 = _highest({r: bool(ce[tr.name] >= v) for r, v in zip(tg.rating, tg.trlr) if np.isfinite(v)})
        st = stress[stress.tranche == tr.name]
        cap2 = _highest({r: bool(g.passes.all()) for r, g in st.groupby("rating")})
        kd = key_df[key_df.tranche == tr.name] if len(key_df) else key_df
        cap3 = _highest({r: bool(p) for r, p in zip(kd.rating, kd.passes)}) if len(kd) else None
        caps = {"portfolio": cap1, "cash flow": cap2, "key obligor": cap3}
        row = TrancheRating(tranche=tr.name, credit_enhancement=ce[tr.name], caps=caps,
                            model_indicated=model_indicated([c for c in caps.values()]))
        ratings.append(apply_adjustments(row, deal.rating_adjustments))
    notes += untested_below_notes({r.tranche: r.caps["cash flow"] for r in ratings}, list(stress.rating.unique())
                                  if len(stress) else [], "cash-flow stress")
    notes += applied_default_notes(stress, {r.tranche: r.caps["cash flow"] for r in ratings}, TESTED)
    timings["total"] = time.perf_counter() - t0
    tick(1.0, "done")
    return CorporateRating(inputs=inputs, mc=mc, targets=targets, stress=stress, key_obligor=key_df,
                           ratings=ratings, credit_enhancement=ce, waterfall=wf, base_cashflows=base_cf,
                           timings=timings, notes=notes)


def check_corporate(deal) -> None:
    """Consistency rules not tied to one cell."""
    probs = ProblemList()
    if deal.frequency not in FREQUENCIES:
        probs.add("Deal", "payment_frequency must be 1, 2, 3, 4, 6 or 12 (a period of whole months)", deal.frequency)
    longest = max((int(o.remaining_term) for o in deal.obligors), default=0)
    if deal.frequency in FREQUENCIES and longest > horizon_months(deal):
        probs.add("Deal", f"the model horizon ({deal.periods} periods = {horizon_months(deal)} months) is shorter "
                  f"than the longest obligor term ({longest} months)", deal.periods)
    if not any(t.rated for t in deal.tranches):
        probs.add("Tranches", "no tranche is marked rated")
    if deal.key_obligors and not any(SCALE[notch(k)] in TESTED for k in deal.key_obligors):
        probs.add("RatingTables", "the key-obligor table tests no rating AAAsf..B-sf")
    probs.raise_if_any()
