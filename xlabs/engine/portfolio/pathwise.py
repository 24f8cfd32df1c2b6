"""The full waterfall on every Monte Carlo path (METHODOLOGY §4.6, strongest form; §4.5, §5).

For each path the obligors' default months are drawn exactly as
:func:`~xlabs.engine.portfolio.montecarlo.simulate_defaults` draws them (same
model, same blocks of paths, same xoshiro256** stream ``seed_state(seed, b)``
per block, same order of draws), so the per-path pool default and loss
ratios are bit-for-bit those of ``simulate_defaults`` for the same inputs and
seed.  The defaults of the path are then run through the compiled waterfall
kernel (:func:`xlabs.engine.waterfall.kernel.run_waterfall`) inside the same
numba ``prange`` over blocks — no Python per path — and each rated tranche's
loss and default flag (§5.4) is recorded.

Aggregating the survivors (exact, not an approximation).  Running all N
loan-level obligors through the kernel costs O(N x H) per path.  Instead,
the obligors that do *not* default on the path (or default after the
horizon) are passed to the kernel as one aggregated cohort, and only the
path's defaulters as loan-level obligors.  Without default every obligor's
balance at the start of period t is ``B_i s_i(t) Q(t)`` with ``s_i`` its
scheduled balance fraction and ``Q(t) = prod_{u<t} (1 - SMM_u)``, so the
survivors' total evolves exactly as one cohort with amortisation fraction
``1 - U(t+1) / U(t)`` and interest yield ``V(t) / U(t)``, where
``U(t) = sum_i B_i s_i(t)`` and ``V(t) = sum_i B_i s_i(t) r_i`` over the
survivors (r_i periodic rate).  ``U`` and ``V`` are the all-obligor totals
minus the defaulters' rows: O(defaults x H) per path.  The cash flows equal
the loan-level run up to floating-point rounding (checked path by path
against :func:`xlabs.engine.waterfall.paths.run_obligor_paths` in the tests).

Evaluations (exact for what is recorded).  A path with no default within
the horizon reuses the block's one no-default run.  Otherwise the kernel
runs in its status-only mode watching the tranches up to the last rated
one, which stops once they are all repaid (their flags and zero losses are
then those of a full run); if any watched tranche is left unpaid the path is
run again in full, so its loss includes deferred interest accrued to the
legal final.  A loss below the kernel's repayment tolerance (1e-9 of the
balance) is reported as 0.

Numba cache: this module's kernels inline ``rng`` and the waterfall
kernel; after editing those modules clear ``__pycache__`` ``*.nbi/*.nbc``
(see ``rng``).

Months and periods.  The PD curves are monthly (§4.1); a default in month m
(1-based) falls in waterfall period ``ceil(m f / 12)`` for payment frequency
f (the same period for monthly deals); a default after the deal's horizon
does not reach the waterfall (it still counts in the pool ratios, as in
``simulate_defaults``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ...errors import ProblemList
from ..waterfall.codes import IPAR_MAX_COHORTS, PAR_B0, S_DEFAULTED, S_LOSS
from ..waterfall.compile import compile_deal, scenario_arrays
from ..waterfall.kernel import run_waterfall_ws, workspace
from .checks import check_whole
from .montecarlo import DEFAULT_BLOCK, _groups, draw_path_defaults, prepare_inputs
from .rng import seed_state

_TINY = 1e-9
"""Survivor balance below this fraction of the pool is treated as zero (rounding of U totals minus rows)."""


@njit(cache=True, parallel=True)
def _pathwise_kernel(seed, n_paths, block, A, s_g, gstart, obl, c_end, C, mat, E, lgd, inv_init,
                     per_of_month, U, V, TU, TV, ulen, rated, watch, record,
                     timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
                     ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, tr_bal0, tr_int, fee_int, fee_fixed,
                     step_int, step_cap, payees, trig_int, trig_level, sched_tab,
                     dr, lr, tl, td, dper):
    """Monte Carlo draw + waterfall for every path; writes ``dr``, ``lr`` (P,), ``tl``, ``td`` (P, R)
    and, when ``record``, ``dper`` (P, N) (1-based default period, 0 none).  Blocks of paths in
    ``prange``; block ``b`` writes only its own paths (thread-count independent)."""
    n_blocks = (n_paths + block - 1) // block
    for b in prange(n_blocks):
        # int64: the prange index is unsigned in the parallel loop and signed in numba's first typing pass,
        # which would compile _block (and the kernel calls in it) twice
        _block(np.int64(b), seed, n_paths, block, A, s_g, gstart, obl, c_end, C, mat, E, lgd, inv_init,
               per_of_month, U, V, TU, TV, ulen, rated, watch, record,
               timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
               ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, tr_bal0, tr_int, fee_int, fee_fixed,
               step_int, step_cap, payees, trig_int, trig_level, sched_tab, dr, lr, tl, td, dper)


@njit(cache=True)
def _block(b, seed, n_paths, block, A, s_g, gstart, obl, c_end, C, mat, E, lgd, inv_init,
           per_of_month, U, V, TU, TV, ulen, rated, watch, record,
           timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
           ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, tr_bal0, tr_int, fee_int, fee_fixed,
           step_int, step_cap, payees, trig_int, trig_level, sched_tab, dr, lr, tl, td, dper):
    """Paths of block ``b`` (stream ``seed_state(seed, b)``).

    The sampling loop is the one of ``montecarlo._mc_kernel`` line for line
    (same random numbers in the same order); it additionally keeps the
    defaulters and their months.
    """
    k = A.shape[1]
    N = ob_bal0.shape[0]
    H = smm.shape[0]
    J = tr_bal0.shape[0]
    R = rated.shape[0]
    tiny = _TINY * TU[0]
    st = seed_state(seed, b)
    z = np.empty(k)
    d_idx = np.empty(N, dtype=np.int64)
    d_mon = np.empty(N, dtype=np.int64)
    w_bal0 = np.empty(N)
    w_sched = np.zeros((N, H + 1))
    w_rate = np.empty(N)
    w_rec = np.empty(N)
    w_lag = np.empty(N, dtype=np.int64)
    w_def = np.empty(N, dtype=np.int64)
    Ua = np.empty(H + 1)
    Va = np.empty(H + 1)
    w_par = par.copy()
    w_amort = amort_tab.copy()
    w_yld = yld_tab.copy()
    pool_out = np.empty((H, 10))
    acc_out = np.empty((H, 10))
    tr_out = np.empty((H, J, 6))
    fee_out = np.empty((H, fee_fixed.shape[0], 2))
    trig_out = np.empty((H, trig_int.shape[0]))
    status = np.empty((J, 4))
    wf, wi = workspace(H, J, fee_fixed.shape[0], trig_int.shape[0], N, ipar[IPAR_MAX_COHORTS])  # kernel scratch
    tol = np.empty(J)
    for jj in range(J):
        tol[jj] = 1e-9 * max(tr_bal0[jj], 1.0) + 1e-9      # the kernel's repayment tolerance
    for t in range(H + 1):
        Ua[t] = TU[t]
        Va[t] = TV[t]
    status0 = np.empty((J, 4))
    # stop_j and watch as int64 values and detail as a literal (see run_waterfall_ws on compiled variants)
    NO_STOP = np.int64(-1)
    watch_ = np.int64(watch)
    J_ = np.int64(J)
    _survivor_cohort(Ua, Va, tiny, w_par, w_amort, w_yld)
    run_waterfall_ws(0.0, timing, smm, sc_f, sc_i, coupon, fee_rate, w_par, ipar, w_amort, w_yld,
                     w_bal0[:0], w_sched[:0], w_rate[:0], w_rec[:0], w_lag[:0], w_def[:0],
                     tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int,
                     trig_level, sched_tab, pool_out, acc_out, tr_out, fee_out, trig_out, status0, NO_STOP, 1, J_, wf, wi)
    p0 = b * block
    p1 = min(p0 + block, n_paths)
    for path in range(p0, p1):
        # ---- draw the path's defaults (the same sampler as simulate_defaults) --
        nd = draw_path_defaults(st, z, A, s_g, gstart, obl, c_end, C, mat, d_idx, d_mon)
        d = 0.0
        loss = 0.0
        for q in range(nd):
            e = E[d_idx[q], d_mon[q]]
            d += e
            loss += e * lgd[d_idx[q]]
        dr[path] = d * inv_init
        lr[path] = loss * inv_init
        # ---- survivors as one cohort, defaulters loan by loan -------------
        for t in range(H + 1):
            Ua[t] = TU[t]
            Va[t] = TV[t]
        nw = 0
        if record:
            for i in range(N):
                dper[path, i] = 0
        for q in range(nd):
            i = d_idx[q]
            per = per_of_month[d_mon[q]]
            if per >= H:
                continue
            for t in range(ulen[i]):
                Ua[t] -= U[i, t]
                Va[t] -= V[i, t]
            w_bal0[nw] = ob_bal0[i]
            for t in range(per + 1):        # the kernel reads s_i(t) only before the default
                w_sched[nw, t] = ob_sched[i, t]
            w_rate[nw] = ob_rate[i]
            w_rec[nw] = ob_rec[i]
            w_lag[nw] = ob_lag[i]
            w_def[nw] = per
            nw += 1
            if record:
                dper[path, i] = per + 1
        if nw == 0:
            st_ = status0                   # no default within the horizon: the block's no-default run
        else:
            st_ = status
            _survivor_cohort(Ua, Va, tiny, w_par, w_amort, w_yld)
            # status-only first; in full only when a watched tranche is left unpaid (its loss at legal final)
            run_waterfall_ws(0.0, timing, smm, sc_f, sc_i, coupon, fee_rate, w_par, ipar, w_amort, w_yld,
                             w_bal0[:nw], w_sched[:nw], w_rate[:nw], w_rec[:nw], w_lag[:nw], w_def[:nw],
                             tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int,
                             trig_level, sched_tab, pool_out, acc_out, tr_out, fee_out, trig_out, status,
                             NO_STOP, 0, watch_, wf, wi)
            again = False
            for jj in range(watch):
                if status[jj, S_LOSS] > tol[jj]:
                    again = True
            if again:
                run_waterfall_ws(0.0, timing, smm, sc_f, sc_i, coupon, fee_rate, w_par, ipar, w_amort, w_yld,
                                 w_bal0[:nw], w_sched[:nw], w_rate[:nw], w_rec[:nw], w_lag[:nw], w_def[:nw],
                                 tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int,
                                 trig_level, sched_tab, pool_out, acc_out, tr_out, fee_out, trig_out, status,
                                 NO_STOP, 1, J_, wf, wi)
        for r in range(R):
            jj = rated[r]
            x = st_[jj, S_LOSS]
            tl[path, r] = x / tr_bal0[jj] if x > tol[jj] else 0.0
            td[path, r] = 1 if st_[jj, S_DEFAULTED] != 0.0 else 0


@njit(cache=True, inline="always")
def _survivor_cohort(Ua, Va, tiny, w_par, w_amort, w_yld):
    """The path's survivors as the kernel's cohort 0: balance ``Ua[0]`` (unprepaid balances ``Ua``,
    interest ``Va`` (H+1,)), amortisation ``1 - Ua(t+1)/Ua(t)`` and yield ``Va(t)/Ua(t)`` (module
    docstring).  Inlined (few arguments), so the block calls the kernel directly: each call of a
    numba function with the kernel's forty array arguments costs about 0.4 us of reference counting."""
    H = w_amort.shape[1]
    if Ua[0] > tiny:
        w_par[PAR_B0] = Ua[0]
        for t in range(H):
            u0 = Ua[t]
            if u0 > tiny:
                # once the survivors' total is rounding dust (the last one matured), repay exactly: a dust
                # balance would make the excess spread (divided by the pool balance) explode and fire triggers
                a = 1.0 - Ua[t + 1] / u0 if Ua[t + 1] > tiny else 1.0
                w_amort[0, t] = min(max(a, 0.0), 1.0)
                w_yld[0, t] = max(Va[t] / u0, 0.0)
            else:
                w_amort[0, t] = 1.0
                w_yld[0, t] = 0.0
    else:
        w_par[PAR_B0] = 0.0


@dataclass(frozen=True)
class PathwiseResult:
    """Result of :func:`simulate_waterfall` (METHODOLOGY §4.6, §5.4).

    Attributes
    ----------
    tranche_names : tuple of str
        The rated tranches, senior first (R of them).
    default_probability, default_probability_se : ndarray, shape (R,)
        Simulated probability (fraction) that each tranche defaults (§5.4)
        and its Monte Carlo standard error ``sqrt(p (1 - p) / n)``.
    expected_loss, expected_loss_se : ndarray, shape (R,)
        Mean loss (unpaid principal + deferred interest at legal final, as a
        fraction of the tranche's initial balance) and its standard error
        (sample standard deviation / sqrt(n)).
    tranche_loss : ndarray, shape (n_paths, R)
        Loss fraction of each tranche on each path.
    tranche_default : ndarray of bool, shape (n_paths, R)
        Whether each tranche defaults on each path.
    default_ratio, loss_ratio : ndarray, shape (n_paths,)
        Pool default and loss ratio of each path (fractions of the initial
        pool principal), as :func:`simulate_defaults` returns them.
    default_periods : ndarray of int, shape (n_paths, N) or None
        With ``record_defaults=True``: each obligor's waterfall default
        period on each path (1-based; 0 = no default within the horizon).
    seed, n_paths, block_size : int
    """

    tranche_names: tuple
    default_probability: np.ndarray
    default_probability_se: np.ndarray
    expected_loss: np.ndarray
    expected_loss_se: np.ndarray
    tranche_loss: np.ndarray
    tranche_default: np.ndarray
    default_ratio: np.ndarray
    loss_ratio: np.ndarray
    seed: int
    n_paths: int
    block_size: int
    default_periods: np.ndarray | None = None

    def table(self) -> list[dict]:
        """One dict per rated tranche: name, default probability, expected loss and their errors."""
        return [{"tranche": n, "default_probability": float(self.default_probability[r]),
                 "default_probability_se": float(self.default_probability_se[r]),
                 "expected_loss": float(self.expected_loss[r]), "expected_loss_se": float(self.expected_loss_se[r])}
                for r, n in enumerate(self.tranche_names)]


def obligor_inputs(deal, months: int | None = None):
    """Monte Carlo inputs implied by the deal's loan-level obligors (§4.2, §4.5, §5.1).

    Parameters
    ----------
    deal : WaterfallDeal
        With loan-level ``obligors`` (N of them).
    months : int, optional
        Length M of the monthly PD curves; default ``periods x 12 / frequency``.

    Returns
    -------
    dict
        ``exposure`` (N, M) yuan: scheduled (no-prepayment) balance at the
        start of the waterfall period of each month; ``recovery`` (N,)
        fractions; ``maturity`` (N,) int months (term in months, capped at M);
        ``initial_principal`` (float, yuan) = total obligor balance.
    """
    prog = compile_deal(deal)
    f = int(deal.frequency)
    H = prog.periods
    M = int(months) if months is not None else H * 12 // f
    per = _period_of_month(M, f)
    sched = np.concatenate([prog.ob_sched, np.zeros((prog.ob_sched.shape[0], 1))], axis=1)
    ex = prog.ob_bal0[:, None] * sched[:, np.minimum(per, H)]
    term_months = np.array([int(o.term) * 12 // f for o in deal.obligors], dtype=np.int64)
    return {"exposure": np.ascontiguousarray(ex), "recovery": prog.ob_rec.copy(),
            "maturity": np.clip(term_months, 1, M), "initial_principal": float(prog.ob_bal0.sum())}


def _period_of_month(M: int, f: int) -> np.ndarray:
    """0-based waterfall period of each 0-based month: ``ceil((m + 1) f / 12) - 1``."""
    m = np.arange(M, dtype=np.int64)
    return ((m + 1) * f + 11) // 12 - 1


def simulate_waterfall(deal, pd, loadings, n_paths: int = 1_000_000, seed: int = 0, *, exposure=None,
                       recovery=None, maturity=None, initial_principal=None, scenario=None,
                       block_size: int = DEFAULT_BLOCK, record_defaults: bool = False) -> PathwiseResult:
    """Run the full waterfall on every Monte Carlo path (METHODOLOGY §4.6; draws §4.5; waterfall §5).

    Parameters
    ----------
    deal : WaterfallDeal
        A deal whose pool is loan-level ``obligors`` (N of them, no
        aggregated ``pool_balance``); its ``default_period`` fields are ignored.
    pd : array_like, shape (N, M) or (N,)
        Cumulative monthly default probability (fraction) of each obligor,
        in the order of ``deal.obligors`` (§4.1).
    loadings : array_like, shape (N, k) or (N,)
        Factor loadings (§4.4), as for :func:`simulate_defaults`.
    n_paths : int
        Number of paths (Lianhe: 1,000,000).
    seed : int
        Seed in [0, 2**63); same seed -> same numbers for any thread count.
    exposure, recovery, maturity, initial_principal : optional
        Inputs of the pool ratios exactly as in :func:`simulate_defaults`
        (exposure (N, M) yuan, recovery (N,) fraction, maturity (N,) months,
        initial principal yuan); defaults from :func:`obligor_inputs`, with
        recoveries times the scenario's recovery multiplier.  The waterfall
        itself always uses the obligors' own balances, rates and recoveries.
    scenario : Scenario, optional
        Stress of the waterfall (§6.2–6.3): CPR, coupons, fees, recovery
        haircut and lag.  Default: base case.
    block_size : int
        Paths per random-stream block (part of what a seed means).
    record_defaults : bool
        Keep each path's obligor default periods (n_paths x N ints; for
        tests and small runs).

    Returns
    -------
    PathwiseResult
        Per-tranche default probability and expected loss with standard
        errors, per-path tranche losses and defaults, per-path pool default
        and loss ratios, seed and n_paths.

    Raises
    ------
    ValidationError
        A deal without loan-level obligors or with an aggregated pool, bad
        counts or seeds, and every input problem ``simulate_defaults`` reports.
    """
    probs = ProblemList()
    check_whole(n_paths, "n_paths", probs, 1)
    check_whole(seed, "seed", probs, 0, 2**63)
    check_whole(block_size, "block_size", probs, 1)
    if not getattr(deal, "obligors", None):
        probs.add("Deal", "the pathwise waterfall needs loan-level obligors")
    elif getattr(deal, "pool_balance", 0.0) > 0.0:
        probs.add("Deal", "the pathwise waterfall defaults loan-level obligors only: set pool_balance to 0",
                  deal.pool_balance)
    probs.raise_if_any()
    prog = compile_deal(deal)
    sc = scenario_arrays(deal, scenario)
    n_paths, seed, block_size = int(n_paths), int(seed), int(block_size)
    N = prog.ob_bal0.size
    H = prog.periods
    pda = np.asarray(pd, dtype=float)
    M = pda.shape[1] if pda.ndim == 2 else 1
    if pda.ndim not in (1, 2) or pda.shape[0] != N:
        probs.add("pd", f"needs one curve per deal obligor ({N})", pda.shape)
        probs.raise_if_any()
    dflt = obligor_inputs(deal, M)
    x = prepare_inputs(pd, loadings,
                       dflt["exposure"] if exposure is None else exposure,
                       dflt["recovery"] * sc.sc_f[1] if recovery is None else recovery,
                       dflt["maturity"] if maturity is None else maturity,
                       dflt["initial_principal"] if initial_principal is None else initial_principal)
    pdc, a = x["pd"], x["loadings"]
    from scipy.special import ndtri
    with np.errstate(divide="ignore"):
        C = np.ascontiguousarray(ndtri(pdc))
    mat = x["maturity"]
    c_end = C[np.arange(N), mat - 1]
    rows, s_g, gstart, order, c_sorted = _groups(a, c_end)

    per_of_month = np.minimum(_period_of_month(M, int(deal.frequency)), H).astype(np.int64)
    U = np.ascontiguousarray(prog.ob_bal0[:, None] * prog.ob_sched)          # (N, H+1) unprepaid balances
    V = np.ascontiguousarray(U * prog.ob_rate[:, None])
    nz = U > 0.0
    ulen = np.where(nz.any(axis=1), H + 1 - np.argmax(nz[:, ::-1], axis=1), 0).astype(np.int64)
    TU = U.sum(axis=0)
    TV = V.sum(axis=0)
    rated = np.array([j for j, r in enumerate(prog.rated) if r], dtype=np.int64)
    R = rated.size
    dr = np.empty(n_paths)
    lr = np.empty(n_paths)
    tl = np.empty((n_paths, R))
    td = np.empty((n_paths, R), dtype=np.uint8)
    dper = np.zeros((n_paths, N) if record_defaults else (1, N), dtype=np.int64)
    a_ = prog.args()
    # prog.args(): par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, ...
    _pathwise_kernel(np.uint64(seed), n_paths, block_size, rows, s_g, gstart, order, c_sorted, C, mat,
                     x["exposure"], 1.0 - x["recovery"], 1.0 / x["initial"], per_of_month, U, V, TU, TV, ulen,
                     rated, int(rated.max()) + 1 if R else 0, bool(record_defaults), *sc.args(), *a_[:9], *a_[10:], dr, lr, tl, td, dper)
    n = float(n_paths)
    flags = td.astype(bool)
    p = flags.mean(axis=0)
    el = tl.mean(axis=0)
    el_se = tl.std(axis=0, ddof=1) / math.sqrt(n) if n_paths > 1 else np.full(R, np.nan)
    return PathwiseResult(
        tranche_names=tuple(prog.tranche_names[j] for j in rated), default_probability=p,
        default_probability_se=np.sqrt(p * (1.0 - p) / n), expected_loss=el, expected_loss_se=el_se,
        tranche_loss=tl, tranche_default=flags, default_ratio=dr, loss_ratio=lr, seed=seed, n_paths=n_paths,
        block_size=block_size, default_periods=dper if record_defaults else None)
