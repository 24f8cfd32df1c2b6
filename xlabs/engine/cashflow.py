"""Consumer-pool cash-flow model and sequential waterfall (METHODOLOGY §5, §5.4).

One evaluation runs the pool (defaults = CDR x B0 x timing_t, prepayments
by SMM, recoveries after a lag, interest on the performing balance) and the
liabilities period by period:

Interest account (normal mode), in order
    1. taxes (rate on interest collections) and arrears,
    2. fees (annual rate on the performing balance, fixed per period) and arrears,
    3. tranche interest, senior first (plus deferred interest, which accrues
       at the coupon: interest on interest),
    then the liquidity reserve covers what is still short of taxes, fees and
    the senior interest, and the principal account covers what is still
    short of taxes, fees and the interest of every non-residual tranche;
    4. reserve top-up to ``k x (next period fees + senior interest)``; any
       reserve above target is released to the principal account,
    5. excess interest to the principal account up to the defaults not yet
       made good (loss cover; a default's recovery, which reaches the principal
       account, makes it good in part),
    6. the rest to the residual tranche.
Principal account: tranche principal sequentially, senior first; what is
left after every tranche is repaid goes to the residual tranche.

Acceleration (a non-curable trigger: cumulative default ratio above its
threshold for the period) combines interest, principal and reserve and pays
taxes, fees, then for each tranche in order its interest and its principal.
Interest of a tranche is *timely* (a shortfall is a default, §5.4) in normal
mode when its ``timely`` flag is set, and in acceleration only while every
more senior tranche has been repaid, and then only the period's own coupon:
interest deferred while a senior tranche was outstanding is due, with
interest on it, by the legal final date.  Unpaid principal or deferred interest
at the legal final period is a default.

``waterfall`` is the numba kernel; ``cashflow_reference`` in
``cashflow_reference.py`` is the slow, obvious version used by the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# pool_out columns
P_BEGIN, P_DEFAULT, P_SCHED, P_PREPAY, P_INTEREST, P_RECOVERY, P_END, P_CDR = range(8)
POOL_COLUMNS = ("begin_balance", "defaults", "scheduled_principal", "prepayments", "interest",
                "recoveries", "end_balance", "cumulative_default_ratio")
# acc_out columns
A_TAX, A_FEE, A_RES_DRAW, A_RES_TOPUP, A_RESERVE, A_RESIDUAL, A_ACCEL, A_COVER, A_PA_COVER = range(9)
ACCOUNT_COLUMNS = ("tax_paid", "fees_paid", "reserve_draw", "reserve_topup", "reserve_balance",
                   "residual", "accelerated", "loss_cover_transfer", "principal_to_interest")
# tr_out columns
T_DUE, T_INT, T_PRIN, T_BAL, T_DEF = range(5)
TRANCHE_COLUMNS = ("interest_due", "interest_paid", "principal_paid", "balance", "deferred_interest")
# status columns
S_DEFAULTED, S_PERIOD, S_KIND, S_LOSS = range(4)
KIND_INTEREST, KIND_FINAL = 1, 2


@njit(cache=True)
def waterfall(cdr, b0, timing, amort, yld, smm, rec_rate, rec_lag,
              tr_bal0, tr_coupon, tr_timely, n_cover, tax_rate, fee_rate, fee_fixed,
              reserve0, reserve_k, trigger, pool_out, acc_out, tr_out, status):
    """Run one scenario; write per-period results into the preallocated outputs.

    Parameters (all float64 unless stated; H periods, J tranches)
    ----------
    cdr : float
        Cumulative default rate, fraction of ``b0``.
    b0 : float
        Initial performing pool balance (yuan).
    timing : (H,)  default timing, sums to 1 over the pool's life.
    amort, yld : (H,)  scheduled amortisation fraction and interest yield of
        the performing balance (see ``amortisation.py``).
    smm : (H,)  single monthly (periodic) prepayment rate.
    rec_rate : float  recovery fraction; rec_lag : int64 periods.
    tr_bal0 : (J,)  initial tranche balances, senior first.
    tr_coupon : (J, H)  periodic coupon rates.
    tr_timely : (J,) int64  1 when interest must be paid on time.
    n_cover : int64  the first ``n_cover`` tranches get interest shortfalls
        covered from the principal account (all but a residual tranche).
    tax_rate : float  tax on interest collections.
    fee_rate : float  periodic fee rate on the performing balance;
    fee_fixed : float  fixed fees per period.
    reserve0 : float  initial reserve; reserve_k : float target multiple.
    trigger : (H,)  cumulative default ratio above which acceleration starts.
    pool_out : (H, 8); acc_out : (H, 9); tr_out : (H, J, 5); status : (J, 4)
        Outputs, overwritten.  See the *_COLUMNS tuples.
    """
    H = timing.shape[0]
    J = tr_bal0.shape[0]
    bal = tr_bal0.copy()
    deferred = np.zeros(J)
    due = np.zeros(J)
    paid = np.zeros(J)
    tol = np.empty(J)
    for j in range(J):
        tol[j] = 1e-9 * max(tr_bal0[j], 1.0) + 1e-9
        for c in range(4):
            status[j, c] = 0.0
    rec_sched = np.zeros(H)
    perf = b0
    cum_def = 0.0
    uncovered = 0.0
    reserve = reserve0
    accel = False
    tax_arrears = 0.0
    fee_arrears = 0.0
    for t in range(H):
        # ---- pool ----------------------------------------------------
        begin = perf
        d = cdr * b0 * timing[t]
        if d > perf:
            d = perf
        if d < 0.0:
            d = 0.0
        surv = perf - d
        sp = amort[t] * surv
        it = yld[t] * surv
        pp = smm[t] * (surv - sp)
        perf = surv - sp - pp
        if perf < 0.0:
            perf = 0.0
        if t + rec_lag < H:
            rec_sched[t + rec_lag] += rec_rate * d
        rec = rec_sched[t]
        cum_def += d
        uncovered += d - rec          # defaults not yet made good: recoveries reach the principal account
        if uncovered < 0.0:
            uncovered = 0.0
        cdr_now = cum_def / b0
        if (not accel) and cdr_now > trigger[t]:
            accel = True
        pool_out[t, P_BEGIN] = begin
        pool_out[t, P_DEFAULT] = d
        pool_out[t, P_SCHED] = sp
        pool_out[t, P_PREPAY] = pp
        pool_out[t, P_INTEREST] = it
        pool_out[t, P_RECOVERY] = rec
        pool_out[t, P_END] = perf
        pool_out[t, P_CDR] = cdr_now
        # ---- dues ------------------------------------------------------
        tax_due = tax_rate * it + tax_arrears
        fee_due = fee_rate * begin + fee_fixed + fee_arrears
        for j in range(J):
            deferred[j] *= 1.0 + tr_coupon[j, t]
            due[j] = bal[j] * tr_coupon[j, t] + deferred[j]
            paid[j] = 0.0
            tr_out[t, j, T_DUE] = due[j]
            tr_out[t, j, T_PRIN] = 0.0
        ia = it
        pa = sp + pp + rec
        draw = 0.0
        topup = 0.0
        cover = 0.0
        pa_cover = 0.0
        residual = 0.0
        last = t == H - 1
        if not accel:
            tax_paid = min(ia, tax_due)
            ia -= tax_paid
            fee_paid = min(ia, fee_due)
            ia -= fee_paid
            for j in range(J):
                x = min(ia, due[j])
                paid[j] = x
                ia -= x
            # reserve covers taxes, fees and senior interest
            x = min(reserve, tax_due - tax_paid)
            tax_paid += x
            reserve -= x
            draw += x
            x = min(reserve, fee_due - fee_paid)
            fee_paid += x
            reserve -= x
            draw += x
            if J > 0:
                x = min(reserve, due[0] - paid[0])
                paid[0] += x
                reserve -= x
                draw += x
            # principal account covers the rest of the senior costs
            x = min(pa, tax_due - tax_paid)
            tax_paid += x
            pa -= x
            pa_cover += x
            x = min(pa, fee_due - fee_paid)
            fee_paid += x
            pa -= x
            pa_cover += x
            for j in range(n_cover):
                x = min(pa, due[j] - paid[j])
                paid[j] += x
                pa -= x
                pa_cover += x
            # reserve top-up / release
            senior_next = 0.0
            tn = t + 1 if t + 1 < H else t
            for j in range(J):
                if bal[j] > tol[j]:
                    senior_next = bal[j] * tr_coupon[j, tn]
                    break
            target = reserve_k * (fee_rate * perf + fee_fixed + senior_next)
            if last:
                target = 0.0
            if reserve < target:
                topup = min(ia, target - reserve)
                ia -= topup
                reserve += topup
            elif reserve > target:
                pa += reserve - target
                reserve = target
            # loss cover from excess interest
            cover = min(ia, uncovered)
            ia -= cover
            pa += cover
            uncovered -= cover
            # principal, sequential
            for j in range(J):
                x = min(pa, bal[j])
                bal[j] -= x
                pa -= x
                tr_out[t, j, T_PRIN] = x
            residual = ia + pa
            ia = 0.0
            pa = 0.0
            for j in range(J):
                unpaid = due[j] - paid[j]
                if unpaid > tol[j] and tr_timely[j] == 1 and status[j, S_DEFAULTED] == 0.0:
                    status[j, S_DEFAULTED] = 1.0
                    status[j, S_PERIOD] = t + 1
                    status[j, S_KIND] = KIND_INTEREST
        else:
            cash = ia + pa + reserve
            draw = reserve
            reserve = 0.0
            tax_paid = min(cash, tax_due)
            cash -= tax_paid
            fee_paid = min(cash, fee_due)
            cash -= fee_paid
            seniors_repaid = True
            for j in range(J):
                x = min(cash, due[j])
                paid[j] = x
                cash -= x
                # Arrears deferred during acceleration fall due at the legal final
                # date; only this period's coupon is timely (§5.4), and only for the most
                # senior tranche outstanding at the start of the period (a class repaid with
                # this period's cash does not make the next one timely until the next period).
                unpaid = bal[j] * tr_coupon[j, t] - x
                if unpaid > tol[j] and seniors_repaid and tr_timely[j] == 1 and status[j, S_DEFAULTED] == 0.0:
                    status[j, S_DEFAULTED] = 1.0
                    status[j, S_PERIOD] = t + 1
                    status[j, S_KIND] = KIND_INTEREST
                if bal[j] > tol[j]:
                    seniors_repaid = False
                x = min(cash, bal[j])
                bal[j] -= x
                cash -= x
                tr_out[t, j, T_PRIN] = x
            residual = cash
            uncovered = 0.0
        tax_arrears = tax_due - tax_paid
        fee_arrears = fee_due - fee_paid
        for j in range(J):
            deferred[j] = due[j] - paid[j]
            if deferred[j] < 0.0:
                deferred[j] = 0.0
            tr_out[t, j, T_INT] = paid[j]
            tr_out[t, j, T_BAL] = bal[j]
            tr_out[t, j, T_DEF] = deferred[j]
        acc_out[t, A_TAX] = tax_paid
        acc_out[t, A_FEE] = fee_paid
        acc_out[t, A_RES_DRAW] = draw
        acc_out[t, A_RES_TOPUP] = topup
        acc_out[t, A_RESERVE] = reserve
        acc_out[t, A_RESIDUAL] = residual
        acc_out[t, A_ACCEL] = 1.0 if accel else 0.0
        acc_out[t, A_COVER] = cover
        acc_out[t, A_PA_COVER] = pa_cover
    for j in range(J):
        loss = bal[j] + deferred[j]
        status[j, S_LOSS] = loss
        if loss > tol[j] and status[j, S_DEFAULTED] == 0.0:
            status[j, S_DEFAULTED] = 1.0
            status[j, S_PERIOD] = H
            status[j, S_KIND] = KIND_FINAL


@njit(cache=True)
def tranche_defaults(cdr, b0, timing, amort, yld, smm, rec_rate, rec_lag,
                     tr_bal0, tr_coupon, tr_timely, n_cover, tax_rate, fee_rate, fee_fixed,
                     reserve0, reserve_k, trigger, pool_out, acc_out, tr_out, status, j):
    """True when tranche ``j`` defaults at ``cdr`` (one kernel evaluation)."""
    waterfall(cdr, b0, timing, amort, yld, smm, rec_rate, rec_lag, tr_bal0, tr_coupon, tr_timely, n_cover,
              tax_rate, fee_rate, fee_fixed, reserve0, reserve_k, trigger, pool_out, acc_out, tr_out, status)
    return status[j, S_DEFAULTED] != 0.0


@njit(cache=True)
def bdr_search(grid, tol, fine, b0, timing, amort, yld, smm, rec_rate, rec_lag,
               tr_bal0, tr_coupon, tr_timely, n_cover, tax_rate, fee_rate, fee_fixed,
               reserve0, reserve_k, trigger, j, path):
    """Breakeven CDR of tranche ``j`` by grid scan + bisection (METHODOLOGY §6.1).

    ``grid`` is an increasing array of CDRs starting at 0.  The first grid
    point at which the tranche defaults bounds the search; the interval below
    it is scanned at step ``fine`` (0: not scanned) up to the first fine point
    that fails — a failing window narrower than the grid step inside it is
    found, not stepped over — and the last interval is bisected until its
    width is <= ``tol``.  Returns
    ``(bdr, n_evaluations, state)`` with state 0 = found, 1 = no default up to
    the last grid point (bdr = that point), 2 = defaults even at CDR 0
    (bdr = 0).  ``path`` (len >= grid + 64, 2 columns) records each tested
    CDR and 1.0 if the tranche was paid in full there.
    """
    H = timing.shape[0]
    J = tr_bal0.shape[0]
    pool_out = np.empty((H, 8))
    acc_out = np.empty((H, 9))
    tr_out = np.empty((H, J, 5))
    status = np.empty((J, 4))
    n = 0
    phase = 0               # 0 coarse grid, 1 fine scan of the first failing interval, 2 bisection
    g = 0
    i = 0
    lo = 0.0
    hi = 0.0
    base = 0.0
    while n < path.shape[0]:
        if phase == 0:
            c = grid[g]
        elif phase == 1:
            c = base + i * fine
        else:
            if hi - lo <= tol:
                break
            c = 0.5 * (lo + hi)
        fail = tranche_defaults(c, b0, timing, amort, yld, smm, rec_rate, rec_lag, tr_bal0, tr_coupon, tr_timely,
                                n_cover, tax_rate, fee_rate, fee_fixed, reserve0, reserve_k, trigger,
                                pool_out, acc_out, tr_out, status, j)
        path[n, 0] = c
        path[n, 1] = 0.0 if fail else 1.0
        n += 1
        if phase == 0:
            if not fail:
                g += 1
                if g == grid.shape[0]:
                    return grid[grid.shape[0] - 1], n, 1
                continue
            if g == 0:
                return 0.0, n, 2
            lo = grid[g - 1]
            hi = c
            base = lo
            i = 1
            phase = 1 if fine > 0.0 and base + fine < hi - 0.5 * tol else 2
        elif fail:
            hi = c
            phase = 2
        else:
            lo = c
            if phase == 1:
                i += 1
                if base + i * fine >= hi - 0.5 * tol:
                    phase = 2
    return lo, n, 0
