"""The one numba kernel that runs any compiled waterfall (METHODOLOGY §5.2–5.4).

Each period t (0-based here, period t+1 in outputs):

1. **Pool.**  Every cohort c (the aggregated initial pool, then one cohort
   per revolving purchase, starting the period after it is bought) at age
   a = t - start_c: defaults ``d = CDR x B0_c x timing[kind_c, a]`` capped at its
   performing balance (CDR is a fraction of the cohort's *purchased*
   balance, §5.2); on the survivors scheduled principal ``amort[k, a]``,
   interest ``yield[k, a]``, prepayment ``SMM_t`` of what is left;
   recovery ``R x d`` lands ``lag`` periods later.  Every loan-level
   obligor amortises on its own schedule, pays its own rate, prepays at
   ``SMM_t`` and defaults in full at its named period, recovering its own
   ``R_i`` after its own lag.  Interest goes to the interest account;
   scheduled principal, prepayments and recoveries to the principal account.
2. **Dues.**  Fees and taxes (with arrears), tranche interest
   ``balance x coupon_t + deferred`` where deferred interest first accrues
   at the coupon (interest on interest).  Annualised excess spread of the
   period = (interest - current fees/taxes - current tranche interest) /
   pool balance at the start x frequency.  Reserve target = max(floor,
   k x (next-period fees on the end-of-period pool + fixed fees + next-period
   interest of the first tranche with principal outstanding and of the tranches
   paid interest pro rata with it: one class)); 0 in the last period.
3. **Triggers**, in order, set their state (tests see the cumulative default
   ratio = cumulative defaults / (initial pool + principal bought so far),
   the reserve at the start of the period against this period's target, the
   3-period average excess spread, an interest shortfall of last period's most senior class,
   the period number; curable: in effect while the test holds, non-curable:
   once it has held) and collect the union of the effects in effect.  A trigger with
   ``end_revolving`` ends revolving for good.
4. **Steps**, in table order, each if its condition holds, moving cash out
   of its source account (``combined`` = interest, then principal, then
   reserve; effect ``combine_accounts`` turns interest/principal sources
   into ``combined``).  Pro-rata groups split by what each payee is owed;
   effect ``sequential`` makes pro-rata principal groups sequential;
   ``stop_subordinated`` skips interest/principal to any tranche other than
   the most senior one still owed principal or interest when the step runs
   (a tranche repaid by an earlier step of the period, or ahead of it in a
   sequence of the same step, no longer counts; a pro-rata group holding
   that tranche is paid as one class) and every payment to a residual
   payee; ``turbo`` makes a residual step pay principal, senior first,
   before the residual payee, a pro-rata principal class sharing by balance
   (with ``stop_subordinated`` too: principal to the class still owed, the
   next once it owes nothing, and the rest stays in the account).
   Cash left in an account stays there for the next period.
5. **Tranche default (§5.4)**: unpaid interest of a tranche whose interest
   is timely (``timely``, or ``timely_when_senior`` while it is in the most
   senior outstanding class: tranches paid interest pro rata together are one
   class) on any date, or principal + deferred interest unpaid
   after its legal final period (or the horizon).  The tranche's loss is
   what is unpaid at its legal final (cash that reaches it afterwards, up to
   the horizon, is still shown in the cash flows but repairs no loss).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .codes import (
    ACT_FEE,
    ACT_INTEREST,
    ACT_PRINCIPAL,
    ACT_PURCHASE,
    ACT_RESERVE,
    ACT_RESIDUAL,
    ACT_TAX,
    ACT_TRANSFER,
    AMT_ALL,
    AMT_CAPPED,
    AMT_EXCESS,
    AMT_PDL,
    AMT_TARGET,
    BASIS_INTEREST,
    BASIS_POOL,
    BASIS_TRANCHE,
    COND_AFTER,
    COND_AMORT,
    COND_BEFORE,
    COND_REVOLVING,
    DEFAULT_FINAL,
    DEFAULT_INTEREST,
    EFF_COMBINE,
    EFF_END_REVOLVING,
    EFF_SEQUENTIAL,
    EFF_STOP_SUB,
    EFF_TURBO,
    FI_BASIS,
    FI_KIND,
    FI_TRANCHE,
    INT_TIMELY,
    INT_TIMELY_SENIOR,
    IPAR_MAX_COHORTS,
    IPAR_REV_END,
    KI_CURABLE,
    KI_EFFECTS,
    KI_SCHED,
    KI_TEST,
    KIND_FEE,
    KIND_TAX,
    MODE_PRORATA,
    MODE_SEQ,
    P_BEGIN,
    P_CDR,
    P_DEFAULT,
    P_END,
    P_INTEREST,
    P_PREPAY,
    P_PURCH,
    P_PURCH_CASH,
    P_RECOVERY,
    P_SCHED,
    PAR_B0,
    PAR_FREQ,
    PAR_PRICE,
    PAR_RES0,
    PAR_RESFLOOR,
    PAR_RESK,
    S_DEFAULTED,
    S_KIND,
    S_LOSS,
    S_PERIOD,
    SF_REC,
    SF_REC_MULT,
    SI_ACT,
    SI_AMT,
    SI_COND,
    SI_LAG,
    SI_LAG_EXTRA,
    SI_MODE,
    SI_NP,
    SI_P0,
    SI_SCHED,
    SI_SRC,
    SI_TO,
    SI_TRIG,
    SRC_COMBINED,
    SRC_RESERVE,
    TEST_CDR,
    TEST_DATE,
    TEST_RESERVE,
    TEST_SENIOR_SHORT,
    TEST_XS,
    TI_CLASS,
    TI_LEGAL,
    TI_PCLASS,
    TI_RULE,
)


@njit(cache=True, inline="always")
def _u(i):
    """``i`` (known to be >= 0) as an unsigned index: numba then skips the negative-index wraparound
    it emits for signed indices taken from data (measured: 10-17 % of an evaluation)."""
    return np.uint64(i)


# the three accounts (interest, principal, reserve) are kept in scalars a0, a1, a2
@njit(cache=True, inline="always")
def _available(a0, a1, a2, src):
    if src == SRC_COMBINED:
        return a0 + a1 + a2
    if src == 0:
        return a0
    if src == 1:
        return a1
    return a2


@njit(cache=True, inline="always")
def _withdraw(a0, a1, a2, src, x):
    """(a0, a1, a2) after taking ``x`` out of ``src`` (combined: interest, then principal, then reserve)."""
    if src == 0:
        return a0 - x, a1, a2
    if src == 1:
        return a0, a1 - x, a2
    if src == 2:
        return a0, a1, a2 - x
    y = min(a0, x)
    a0 -= y
    x -= y
    y = min(a1, x)
    a1 -= y
    x -= y
    y = min(a2, x)
    a2 -= y
    return a0, a1, a2


@njit(cache=True, inline="always")
def _deposit(a0, a1, a2, dst, x):
    if dst == 0:
        return a0 + x, a1, a2
    if dst == 1:
        return a0, a1 + x, a2
    return a0, a1, a2 + x


@njit(cache=True)
def workspace(H, J, F, K, N, C):
    """Scratch arrays of :func:`run_waterfall_ws` (float64, int64) for H periods, J tranches,
    F fees, K triggers, N obligors and C cohorts; reusable for any number of evaluations."""
    nf = 2 * C + N + (H + 1) + 7 * J + 3 * F + H + max(J, F) + 1
    return np.empty(nf), np.empty(2 * C + K, dtype=np.int64)


def run_waterfall(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate,
                  par, ipar, amort_tab, yld_tab,
                  ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def,
                  tr_bal0, tr_int, fee_int, fee_fixed,
                  step_int, step_cap, payees, trig_int, trig_level, sched,
                  pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, detail, watch):
    """Run one scenario at one CDR from Python; see :func:`run_waterfall_ws` (called with a fresh
    workspace).  ``detail`` 0 runs :func:`run_status`, anything else :func:`run_full`: each compiles
    only its own variant of the kernel, so a first cash-flow run does not also compile the BDR one."""
    f = run_status if detail == 0 else run_full
    f(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched, ob_rate,
      ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees, trig_int,
      trig_level, sched, pool_out, acc_out, tr_out, fee_out, trig_out, status, np.int64(stop_j), np.int64(watch))


@njit(cache=True)
def run_full(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
             ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
             step_int, step_cap, payees, trig_int, trig_level, sched,
             pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, watch):
    """:func:`run_waterfall_ws` with every per-period output (``detail`` 1) and a fresh workspace."""
    _run_fresh(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched,
               ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees,
               trig_int, trig_level, sched, pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, 1, watch)


@njit(cache=True)
def run_status(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
               ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
               step_int, step_cap, payees, trig_int, trig_level, sched,
               pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, watch):
    """:func:`run_waterfall_ws` in status-only mode (``detail`` 0) with a fresh workspace."""
    _run_fresh(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab, ob_bal0, ob_sched,
               ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed, step_int, step_cap, payees,
               trig_int, trig_level, sched, pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, 0, watch)


@njit(cache=True)
def _run_fresh(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
               ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
               step_int, step_cap, payees, trig_int, trig_level, sched,
               pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, detail, watch):
    """A fresh workspace, then :func:`run_waterfall_ws`.  Called with a literal ``detail``, numba
    compiles it (a few lines) once per literal and hands the literal on to the kernel (checked: two
    compiled kernel variants, ``tests/test_warm.py``)."""
    wf, wi = workspace(smm.shape[0], tr_bal0.shape[0], fee_fixed.shape[0], trig_int.shape[0],
                       ob_bal0.shape[0], ipar[IPAR_MAX_COHORTS])
    run_waterfall_ws(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate, par, ipar, amort_tab, yld_tab,
                     ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def, tr_bal0, tr_int, fee_int, fee_fixed,
                     step_int, step_cap, payees, trig_int, trig_level, sched,
                     pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, detail, watch, wf, wi)


@njit(cache=True, inline="always")
def _clear_ahead(r, q, p0, payees, need, bal, due, ipaid, tol):
    """stop_subordinated in a sequence: True when every tranche senior to ``r`` owes nothing once the
    payees ahead of ``r`` in this step (positions < ``q``) are paid their ``need`` in full."""
    for jj in range(r):
        owed = bal[jj] + due[jj] - ipaid[jj]
        for q2 in range(q):
            if payees[_u(p0 + q2)] == jj:
                owed -= need[q2]
        if owed > tol[jj]:
            return False
    return True


@njit(cache=True, inline="always")
def _turbo(x, bal, ppaid, due, ipaid, tol, tr_int, seq, stop_sub):
    """Turbo: principal out of ``x``, senior class first; the tranches of a pro-rata principal class
    (``TI_PCLASS``; each tranche alone under ``sequential``) share by balance.  Under ``stop_sub`` it stops
    after a class still owed principal or interest.  Returns what it paid."""
    J = bal.shape[0]
    paid = 0.0
    for j in range(J):
        cls = j if seq else tr_int[j, TI_PCLASS]
        if cls != j:
            continue                    # paid with the first tranche of its class
        owed = 0.0
        for jj in range(j, J):
            if jj == j or (not seq and tr_int[jj, TI_PCLASS] == cls):
                owed += bal[jj]
        pay = min(x - paid, owed)
        if pay > 0.0:
            for jj in range(j, J):
                if jj == j or (not seq and tr_int[jj, TI_PCLASS] == cls):
                    y = pay * bal[jj] / owed
                    bal[jj] -= y
                    ppaid[jj] += y
            paid += pay
        if stop_sub:
            for jj in range(j, J):
                if (jj == j or (not seq and tr_int[jj, TI_PCLASS] == cls)) and bal[jj] + due[jj] - ipaid[jj] > tol[jj]:
                    return paid
        if paid >= x:
            break
    return paid


@njit(cache=True, error_model="numpy")
def run_waterfall_ws(cdr, timing, smm, sc_f, sc_i, coupon, fee_rate,
                     par, ipar, amort_tab, yld_tab,
                     ob_bal0, ob_sched, ob_rate, ob_rec, ob_lag, ob_def,
                     tr_bal0, tr_int, fee_int, fee_fixed,
                     step_int, step_cap, payees, trig_int, trig_level, sched,
                     pool_out, acc_out, tr_out, fee_out, trig_out, status, stop_j, detail, watch, wf, wi):
    """Run one scenario at one CDR; write every output in place.

    Parameters (H periods, J tranches, F fees, S steps, K triggers, N obligors)
    ----------
    cdr : float  cumulative default rate, fraction of each cohort's purchased balance.
    timing : (2H,) float64  default timing by asset age, each half summing to 1 (§5.2): the initial
        pool's curve, then that of the assets bought while revolving (fitted to their term).
    smm : (H,) float64  periodic prepayment rate.
    sc_f : (2,) float64  [cohort recovery rate, obligor recovery multiplier].
    sc_i : (2,) int64  [cohort recovery lag, extra obligor lag].
    coupon : (J, H) float64  periodic coupon rate per period.
    fee_rate : (2F,) float64  periodic rate of each fee on its basis, then each fee's extra periodic
        rate on the pool balance (the replacement-servicer stress, §2.3, §6.3).
    par : (6,) float64; ipar : (2,) int64  deal scalars (``codes.PAR_*``).
    amort_tab, yld_tab : (2, H) float64  scheduled amortisation fraction and
        interest yield by age, row 0 the initial pool, row 1 new purchases.
    ob_bal0, ob_rate, ob_rec : (N,) float64; ob_lag, ob_def : (N,) int64
        obligor balance, periodic rate, recovery, lag, default period (0-based, -1 none).
    ob_sched : (N, H+1) float64  scheduled balance as a fraction of ``ob_bal0``.
    tr_bal0 : (J,); tr_int : (J, 4) int64 [interest rule, legal final period, interest class, principal class].
    fee_int : (F, 3) int64 [basis, kind, tranche]; fee_fixed : (F,) yuan per period.
    step_int : (S, 10) int64; step_cap : (S,) yuan; payees : (P,) int64.
    trig_int : (K, 4) int64; trig_level : (K,); sched : (NS, H) float64.
    pool_out (H, 10), acc_out (H, 10), tr_out (H, J, 6), fee_out (H, F, 2),
    trig_out (H, K), status (J, 4) : outputs (see ``codes``).
    stop_j : int  stop as soon as tranche ``stop_j`` defaults (-1: never);
        used by the BDR search, leaves later periods unwritten.
    detail : int  1 writes the per-period outputs; 0 writes only ``status``
        (the BDR search: the stores cost about a third of an evaluation) and
        stops once the first ``watch`` tranches are repaid, or once no
        asset, recovery or cash is left (outstanding tranches are then
        marked defaulted at their legal final): the default *flags* of the
        first ``watch`` tranches equal a full run's; the period and kind of
        such a default, and the flags of later tranches, may not.
    watch : int  see ``detail`` (J to watch every tranche).
    wf, wi : float64 / int64 scratch arrays from :func:`workspace` (contents ignored and
        overwritten): one evaluation allocates nothing.

    Compiled variants.  numba compiles a separate version of this function for
    each distinct set of argument *types*, and a literal constant argument has
    its own type.  Callers pass ``detail`` as the literal ``0`` or ``1`` (the
    constant removes the other mode's branches: measured 5-10 % of an
    evaluation) and ``stop_j`` / ``watch`` as int64 values, never literals, so
    exactly two variants are compiled for the whole package (each costs
    several seconds on a cold cache; checked by ``tests/test_warm.py``).
    """
    H = smm.shape[0]
    J = tr_bal0.shape[0]
    F = fee_fixed.shape[0]
    S = step_int.shape[0]
    K = trig_int.shape[0]
    N = ob_bal0.shape[0]
    C = ipar[IPAR_MAX_COHORTS]
    rec_rate = sc_f[SF_REC]
    rec_mult = sc_f[SF_REC_MULT]
    rec_lag = sc_i[SI_LAG]
    lag_extra = sc_i[SI_LAG_EXTRA]
    freq = par[PAR_FREQ]
    price = par[PAR_PRICE]
    rev_end = ipar[IPAR_REV_END]

    # carve the scratch arrays out of the workspace; only what is read before written is reset
    o = 0
    cb0 = wf[o:o + C]
    o += C
    cperf = wf[o:o + C]
    o += C
    obp = wf[o:o + N]
    o += N
    rec_sched = wf[o:o + H + 1]
    o += H + 1
    bal = wf[o:o + J]
    o += J
    deferred = wf[o:o + J]
    o += J
    due = wf[o:o + J]
    o += J
    ipaid = wf[o:o + J]
    o += J
    ppaid = wf[o:o + J]
    o += J
    resid = wf[o:o + J]
    o += J
    tol = wf[o:o + J]
    o += J
    fdue = wf[o:o + F]
    o += F
    fpaid = wf[o:o + F]
    o += F
    farrears = wf[o:o + F]
    o += F
    xs_hist = wf[o:o + H]
    o += H
    need = wf[o:o + max(J, F) + 1]
    cstart = wi[0:C]
    ckind = wi[C:2 * C]
    tstate = wi[2 * C:2 * C + K]
    nc = 0
    b0 = par[PAR_B0]
    if b0 > 0.0:
        cb0[0] = b0
        cperf[0] = b0
        cstart[0] = 0
        ckind[0] = 0
        nc = 1
    for i in range(N):
        obp[i] = ob_bal0[i]
    for t in range(H + 1):
        rec_sched[t] = 0.0
    a0 = 0.0
    a1 = 0.0
    a2 = par[PAR_RES0]
    for j in range(J):
        bal[j] = tr_bal0[j]
        deferred[j] = 0.0
        tol[j] = 1e-9 * max(tr_bal0[j], 1.0) + 1e-9
        for c in range(4):
            status[j, c] = 0.0
    for f in range(F):
        farrears[f] = 0.0
    for k in range(K):
        tstate[k] = 0
    orig_total = b0
    for i in range(N):
        orig_total += ob_bal0[i]
    cum_def = 0.0
    pdl = 0.0
    prev_short = False
    rev_ended = False
    last_rec = -1

    for t in range(H):
        # ---- 1. pool ------------------------------------------------------
        begin = 0.0
        dsum = 0.0
        spsum = 0.0
        ppsum = 0.0
        itsum = 0.0
        endb = 0.0
        s_t = smm[t]
        t_rec = t + rec_lag
        rec_to = 0.0
        if t_rec < H:
            rec_to = rec_sched[_u(t_rec)]       # summed in a local, in the same order
        for c in range(nc):
            if cstart[c] > t:
                endb += cperf[c]
                continue
            p = cperf[c]
            begin += p
            if p <= 0.0:
                continue
            a = _u(t - cstart[c])
            k = _u(ckind[c])
            d = cdr * cb0[c] * timing[k * H + a]
            if d > p:
                d = p
            if d < 0.0:
                d = 0.0
            s = p - d
            sp = amort_tab[k, a] * s
            it = yld_tab[k, a] * s
            pp = s_t * (s - sp)
            p2 = s - sp - pp
            if p2 < 0.0:
                p2 = 0.0
            cperf[c] = p2
            endb += p2
            if t_rec < H:
                rec_to += rec_rate * d
                if d > 0.0 and t_rec > last_rec:
                    last_rec = t_rec
            dsum += d
            spsum += sp
            ppsum += pp
            itsum += it
        if t_rec < H:
            rec_sched[_u(t_rec)] = rec_to
        for i in range(N):
            p = obp[i]
            if p <= 0.0:
                continue
            begin += p
            if ob_def[i] == t:
                lag = ob_lag[i] + lag_extra
                if t + lag < H:
                    rec_sched[_u(t + lag)] += ob_rec[i] * rec_mult * p
                    if t + lag > last_rec:
                        last_rec = t + lag
                dsum += p
                obp[i] = 0.0
                continue
            s0 = ob_sched[i, t]
            sp = p
            if s0 > 0.0:
                sp = p * (1.0 - ob_sched[i, t + 1] / s0)
            itsum += p * ob_rate[i]
            pp = s_t * (p - sp)
            p2 = p - sp - pp
            if p2 < 0.0:
                p2 = 0.0
            obp[i] = p2
            endb += p2
            spsum += sp
            ppsum += pp
        rec = rec_sched[t]
        cum_def += dsum
        pdl += dsum - rec       # the principal deficiency: defaults not made good by their recoveries
        if pdl < 0.0:
            pdl = 0.0
        cdr_ratio = cum_def / orig_total if orig_total > 0.0 else 0.0
        a0 += itsum
        a1 += spsum + ppsum + rec

        # ---- 2. dues --------------------------------------------------------
        senior = -1      # the most senior outstanding: principal or deferred interest still owed
        for j in range(J):
            if bal[j] + deferred[j] > tol[j]:
                senior = j
                break
        scls = tr_int[senior, TI_CLASS] if senior >= 0 else -1     # its interest class (pari-passu tranches)
        cur_costs = 0.0
        next_fees = 0.0
        for f in range(F):
            basis = fee_int[f, FI_BASIS]
            if basis == BASIS_POOL:
                base = begin
            elif basis == BASIS_TRANCHE:
                base = bal[_u(fee_int[f, FI_TRANCHE])]
            elif basis == BASIS_INTEREST:
                base = itsum
            else:
                base = 0.0
            extra = fee_rate[_u(F + f)]
            cur = fee_rate[f] * base + fee_fixed[f] + extra * begin
            cur_costs += cur
            fdue[f] = cur + farrears[f]
            fpaid[f] = 0.0
            if fee_int[f, FI_KIND] == KIND_FEE:
                next_fees += fee_fixed[f] + extra * endb
                if basis == BASIS_POOL:
                    next_fees += fee_rate[f] * endb
                elif basis == BASIS_TRANCHE:
                    next_fees += fee_rate[f] * bal[_u(fee_int[f, FI_TRANCHE])]
        for j in range(J):
            deferred[j] *= 1.0 + coupon[j, t]
            cur = bal[j] * coupon[j, t]
            cur_costs += cur
            due[j] = cur + deferred[j]
            ipaid[j] = 0.0
            ppaid[j] = 0.0
            resid[j] = 0.0
        xs = 0.0
        if begin > 0.0:
            xs = (itsum - cur_costs) / begin * freq
        xs_hist[t] = xs
        t0 = t - 2 if t >= 2 else 0
        xs_avg = 0.0
        for u in range(t0, t + 1):
            xs_avg += xs_hist[u]
        xs_avg /= t + 1 - t0
        target = 0.0
        if t < H - 1:
            sen_next = 0.0      # next period's interest accrues on principal: the class of the first tranche still
            for j in range(J):  # owing it (tranches paid interest pro rata with it rank as one class, §5.3)
                if bal[j] > tol[j]:
                    ncls = tr_int[j, TI_CLASS]
                    for jj in range(J):
                        if tr_int[jj, TI_CLASS] == ncls:
                            sen_next += bal[jj] * coupon[jj, t + 1]
                    break
            target = par[PAR_RESK] * (next_fees + sen_next)
            if target < par[PAR_RESFLOOR]:
                target = par[PAR_RESFLOOR]

        # ---- 3. triggers ----------------------------------------------------
        fx = 0
        for k in range(K):
            test = trig_int[k, KI_TEST]
            lvl = trig_level[k]
            if trig_int[k, KI_SCHED] >= 0:
                lvl = sched[_u(trig_int[k, KI_SCHED]), t]
            hit = False
            if test == TEST_CDR:
                hit = cdr_ratio > lvl
            elif test == TEST_RESERVE:
                hit = a2 < lvl * target - 1e-9
            elif test == TEST_XS:
                hit = xs_avg < lvl
            elif test == TEST_SENIOR_SHORT:
                hit = prev_short
            elif test == TEST_DATE:
                hit = t + 1 >= lvl
            if trig_int[k, KI_CURABLE] == 1:
                tstate[k] = 1 if hit else 0
            elif hit:
                tstate[k] = 1
            if detail:
                trig_out[t, k] = tstate[k]
            if tstate[k] == 1:
                fx |= trig_int[k, KI_EFFECTS]
        if fx & EFF_END_REVOLVING:
            rev_ended = True
        revolving = (t + 1 <= rev_end) and not rev_ended
        combine = (fx & EFF_COMBINE) != 0
        stop_sub = (fx & EFF_STOP_SUB) != 0
        seq = (fx & EFF_SEQUENTIAL) != 0
        turbo = (fx & EFF_TURBO) != 0

        # ---- 4. steps -------------------------------------------------------
        tax_paid = 0.0
        fees_paid = 0.0
        equity = 0.0
        purch = 0.0
        purch_cash = 0.0
        for s in range(S):
            cond = step_int[s, SI_COND]
            if cond == COND_BEFORE:
                if tstate[_u(step_int[s, SI_TRIG])] == 1:
                    continue
            elif cond == COND_AFTER:
                if tstate[_u(step_int[s, SI_TRIG])] == 0:
                    continue
            elif cond == COND_REVOLVING:
                if not revolving:
                    continue
            elif cond == COND_AMORT:
                if revolving:
                    continue
            src = step_int[s, SI_SRC]
            if combine and src < SRC_RESERVE:
                src = SRC_COMBINED
            avail = _available(a0, a1, a2, src)
            if avail <= 0.0:
                continue  # every action moves cash out of its source
            act = step_int[s, SI_ACT]
            amt = step_int[s, SI_AMT]
            cap = step_cap[s]
            p0 = step_int[s, SI_P0]
            np_ = step_int[s, SI_NP]
            if act <= ACT_PRINCIPAL:
                mode = step_int[s, SI_MODE]
                if act == ACT_PRINCIPAL and seq and mode == MODE_PRORATA:
                    mode = MODE_SEQ
                # stop_subordinated: only the most senior class still owed anything *now* (principal or
                # interest, after this period's earlier steps) is paid; a pro-rata group holding it is paid
                # as one class (its members are pari passu in this step)
                cls = -2
                if stop_sub and act >= ACT_INTEREST:
                    cls = -1
                    for jj in range(J):
                        if bal[jj] + due[jj] - ipaid[jj] > tol[jj]:
                            cls = jj
                            break
                    if mode == MODE_PRORATA:
                        for q in range(np_):
                            if payees[_u(p0 + q)] == cls:
                                cls = -3            # the whole group
                                break
                tot_need = 0.0
                for q in range(np_):
                    r = payees[_u(p0 + q)]
                    ru = _u(r)
                    n_ = 0.0
                    if act == ACT_TAX or act == ACT_FEE:
                        n_ = fdue[ru] - fpaid[ru]
                    elif cls > -2 and r != cls and (mode == MODE_PRORATA or
                                                     not _clear_ahead(r, q, p0, payees, need, bal, due, ipaid, tol)):
                        n_ = 0.0
                    elif act == ACT_INTEREST:
                        n_ = due[ru] - ipaid[ru]
                    else:
                        n_ = bal[ru]
                        if amt == AMT_TARGET:
                            n_ = bal[ru] - sched[_u(step_int[s, SI_SCHED]), t] * tr_bal0[ru]
                    if n_ < 0.0:
                        n_ = 0.0
                    need[q] = n_
                    tot_need += n_
                lim = avail
                if amt == AMT_CAPPED and cap < lim:
                    lim = cap
                pay = min(lim, tot_need)
                if pay <= 0.0:
                    continue
                left = pay
                for q in range(np_):
                    ru = _u(payees[_u(p0 + q)])
                    if mode == MODE_PRORATA:
                        x = pay * need[q] / tot_need
                    else:
                        x = min(left, need[q])
                        left -= x
                    if act == ACT_TAX or act == ACT_FEE:
                        fpaid[ru] += x
                        if fee_int[ru, FI_KIND] == KIND_TAX:
                            tax_paid += x
                        else:
                            fees_paid += x
                    elif act == ACT_INTEREST:
                        ipaid[ru] += x
                    else:
                        bal[ru] -= x
                        ppaid[ru] += x
                a0, a1, a2 = _withdraw(a0, a1, a2, src, pay)
            elif act == ACT_RESERVE:
                x = target - a2
                if amt == AMT_ALL:
                    x = avail
                elif amt == AMT_CAPPED:
                    x = min(x, cap)
                x = min(x, avail)
                if x > 0.0:
                    a0, a1, a2 = _withdraw(a0, a1, a2, src, x)
                    a2 += x
            elif act == ACT_TRANSFER:
                x = avail
                if amt == AMT_CAPPED:
                    x = min(avail, cap)
                elif amt == AMT_PDL:
                    x = min(avail, pdl)
                    pdl -= x
                elif amt == AMT_EXCESS:
                    x = min(avail, a2 - target)
                if x > 0.0:
                    a0, a1, a2 = _withdraw(a0, a1, a2, src, x)
                    a0, a1, a2 = _deposit(a0, a1, a2, step_int[s, SI_TO], x)
            elif act == ACT_PURCHASE:
                if not revolving or nc >= C or t + 1 >= H:
                    continue
                x = avail
                if amt == AMT_CAPPED:
                    x = min(avail, cap)
                if x <= 0.0:
                    continue
                a0, a1, a2 = _withdraw(a0, a1, a2, src, x)
                par_bought = x / price
                cb0[nc] = par_bought
                cperf[nc] = par_bought
                cstart[nc] = t + 1
                ckind[nc] = 1
                nc += 1
                orig_total += par_bought
                purch += par_bought
                purch_cash += x
            elif act == ACT_RESIDUAL:
                if stop_sub and not turbo:
                    continue
                x = avail
                if amt == AMT_CAPPED:
                    x = min(avail, cap)
                if x <= 0.0:
                    continue
                if stop_sub:
                    # turbo under stop_subordinated: principal to the class still owed, the next one once it
                    # owes nothing (principal or interest); the residual payee gets nothing, the rest stays
                    a0, a1, a2 = _withdraw(a0, a1, a2, src, _turbo(x, bal, ppaid, due, ipaid, tol, tr_int, seq, True))
                    continue
                a0, a1, a2 = _withdraw(a0, a1, a2, src, x)
                if turbo:
                    x -= _turbo(x, bal, ppaid, due, ipaid, tol, tr_int, seq, False)
                r = payees[p0]
                if r >= 0:
                    resid[_u(r)] += x
                else:
                    equity += x

        # ---- 5. end of period ----------------------------------------------
        for f in range(F):
            farrears[f] = fdue[f] - fpaid[f]
            if detail:
                fee_out[t, f, 0] = fdue[f]
                fee_out[t, f, 1] = fpaid[f]
        stop = False
        for j in range(J):
            unpaid = due[j] - ipaid[j]
            deferred[j] = unpaid if unpaid > 0.0 else 0.0
            rule = tr_int[j, TI_RULE]
            timely = rule == INT_TIMELY or (rule == INT_TIMELY_SENIOR and tr_int[j, TI_CLASS] == scls)
            if status[j, S_DEFAULTED] == 0.0:
                if timely and unpaid > tol[j]:
                    status[j, S_DEFAULTED] = 1.0
                    status[j, S_PERIOD] = t + 1
                    status[j, S_KIND] = DEFAULT_INTEREST
                elif t + 1 == tr_int[j, TI_LEGAL] and bal[j] + deferred[j] > tol[j]:
                    status[j, S_DEFAULTED] = 1.0
                    status[j, S_PERIOD] = t + 1
                    status[j, S_KIND] = DEFAULT_FINAL
            if t + 1 == tr_int[j, TI_LEGAL]:
                status[j, S_LOSS] = bal[j] + deferred[j]    # the loss is what is unpaid at the legal final
            if j == stop_j and status[j, S_DEFAULTED] != 0.0:
                stop = True
            if detail:
                tr_out[t, j, 0] = due[j]
                tr_out[t, j, 1] = ipaid[j]
                tr_out[t, j, 2] = ppaid[j]
                tr_out[t, j, 3] = bal[j]
                tr_out[t, j, 4] = deferred[j]
                tr_out[t, j, 5] = resid[j]
        prev_short = False              # the senior class short of interest (any of its pari-passu tranches)
        if senior >= 0:
            for j in range(J):
                if tr_int[j, TI_CLASS] == scls and due[j] - ipaid[j] > tol[j]:
                    prev_short = True
        if detail:
            pool_out[t, P_BEGIN] = begin
            pool_out[t, P_DEFAULT] = dsum
            pool_out[t, P_SCHED] = spsum
            pool_out[t, P_PREPAY] = ppsum
            pool_out[t, P_INTEREST] = itsum
            pool_out[t, P_RECOVERY] = rec
            pool_out[t, P_PURCH] = purch
            pool_out[t, P_PURCH_CASH] = purch_cash
            pool_out[t, P_END] = endb + purch
            pool_out[t, P_CDR] = cdr_ratio
            acc_out[t, 0] = a0
            acc_out[t, 1] = a1
            acc_out[t, 2] = a2
            acc_out[t, 3] = target
            acc_out[t, 4] = tax_paid
            acc_out[t, 5] = fees_paid
            acc_out[t, 6] = equity
            acc_out[t, 7] = 1.0 if revolving else 0.0
            acc_out[t, 8] = xs
            acc_out[t, 9] = pdl
        if detail == 0 and not stop:
            # status-only mode: stop when nothing can change any tranche's default flag any more
            outstanding = False
            for j in range(min(watch, J)):
                if bal[j] + deferred[j] > tol[j]:
                    outstanding = True
            if not outstanding:
                stop = True        # every watched tranche repaid: no later shortfall or legal-final default
            elif endb + purch <= 0.0 and last_rec <= t and a0 + a1 + a2 <= 0.0:
                # no asset, no recovery to come, no cash: every outstanding tranche defaults by its legal final
                stop = True
                for j in range(J):
                    if status[j, S_DEFAULTED] == 0.0 and bal[j] + deferred[j] > tol[j]:
                        status[j, S_DEFAULTED] = 1.0
                        status[j, S_PERIOD] = min(max(tr_int[j, TI_LEGAL], t + 1), H)
                        status[j, S_KIND] = DEFAULT_FINAL
        if stop:
            for j in range(J):
                if t + 1 < tr_int[j, TI_LEGAL]:
                    status[j, S_LOSS] = bal[j] + deferred[j]
            return
    for j in range(J):
        if tr_int[j, TI_LEGAL] > H:             # (the compiler sets every legal final within the horizon)
            status[j, S_LOSS] = bal[j] + deferred[j]
        loss = status[j, S_LOSS]
        if loss > tol[j] and status[j, S_DEFAULTED] == 0.0:
            status[j, S_DEFAULTED] = 1.0
            status[j, S_PERIOD] = H
            status[j, S_KIND] = DEFAULT_FINAL
