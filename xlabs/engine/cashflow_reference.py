"""Slow, obvious pure-Python version of the cash-flow kernel, for tests only.

Written from the rules in ``cashflow.py``'s module docstring (METHODOLOGY
§5.2–5.4) with plain lists and dicts, one account at a time, so that the
numba kernel can be checked against it on random deals.
"""

from __future__ import annotations


def cashflow_reference(cdr, inp):
    """Return ``(periods, status)``: a list of dicts per period and a list of
    per-tranche dicts ``{defaulted, period, kind, loss}``."""
    H = len(inp.timing)
    J = len(inp.tr_bal0)
    tranches = [{"bal": float(inp.tr_bal0[j]), "deferred": 0.0, "defaulted": False, "period": 0, "kind": 0,
                 "timely": bool(inp.tr_timely[j]), "tol": 1e-9 * max(float(inp.tr_bal0[j]), 1.0) + 1e-9}
                for j in range(J)]
    recoveries = [0.0] * H
    pool = float(inp.b0)
    cum_defaults = 0.0
    uncovered = 0.0
    reserve = float(inp.reserve0)
    accelerated = False
    arrears = {"tax": 0.0, "fee": 0.0}
    periods = []

    def mark(tr, t, kind):
        if not tr["defaulted"]:
            tr.update(defaulted=True, period=t + 1, kind=kind)

    for t in range(H):
        begin = pool
        defaults = max(0.0, min(cdr * inp.b0 * inp.timing[t], pool))
        performing = pool - defaults
        scheduled = inp.amort[t] * performing
        interest = inp.yld[t] * performing
        prepaid = inp.smm[t] * (performing - scheduled)
        pool = max(performing - scheduled - prepaid, 0.0)
        if t + inp.rec_lag < H:
            recoveries[t + inp.rec_lag] += inp.rec_rate * defaults
        cum_defaults += defaults
        uncovered = max(uncovered + defaults - recoveries[t], 0.0)     # net of recoveries (principal account)
        if not accelerated and cum_defaults / inp.b0 > inp.trigger[t]:
            accelerated = True
        due = {"tax": inp.tax_rate * interest + arrears["tax"],
               "fee": inp.fee_rate * begin + inp.fee_fixed + arrears["fee"]}
        for j, tr in enumerate(tranches):
            tr["deferred"] *= 1.0 + inp.tr_coupon[j][t]
            tr["due"] = tr["bal"] * inp.tr_coupon[j][t] + tr["deferred"]
            tr["paid"] = 0.0
            tr["principal"] = 0.0
        paid = {"tax": 0.0, "fee": 0.0}
        record = {"reserve_draw": 0.0, "reserve_topup": 0.0, "loss_cover": 0.0, "residual": 0.0}
        interest_acc = interest
        principal_acc = scheduled + prepaid + recoveries[t]

        def take(account_value, need):
            x = min(account_value, need)
            return x, account_value - x

        if not accelerated:
            for key in ("tax", "fee"):
                x, interest_acc = take(interest_acc, due[key])
                paid[key] += x
            for tr in tranches:
                x, interest_acc = take(interest_acc, tr["due"])
                tr["paid"] += x
            for key in ("tax", "fee"):
                x, reserve = take(reserve, due[key] - paid[key])
                paid[key] += x
                record["reserve_draw"] += x
            if tranches:
                x, reserve = take(reserve, tranches[0]["due"] - tranches[0]["paid"])
                tranches[0]["paid"] += x
                record["reserve_draw"] += x
            for key in ("tax", "fee"):
                x, principal_acc = take(principal_acc, due[key] - paid[key])
                paid[key] += x
            for tr in tranches[: inp.n_cover]:
                x, principal_acc = take(principal_acc, tr["due"] - tr["paid"])
                tr["paid"] += x
            nxt = t + 1 if t + 1 < H else t
            senior_next = 0.0
            for j, tr in enumerate(tranches):
                if tr["bal"] > tr["tol"]:
                    senior_next = tr["bal"] * inp.tr_coupon[j][nxt]
                    break
            target = 0.0 if t == H - 1 else inp.reserve_k * (inp.fee_rate * pool + inp.fee_fixed + senior_next)
            if reserve < target:
                x, interest_acc = take(interest_acc, target - reserve)
                reserve += x
                record["reserve_topup"] = x
            elif reserve > target:
                principal_acc += reserve - target
                reserve = target
            x, interest_acc = take(interest_acc, uncovered)
            uncovered -= x
            principal_acc += x
            record["loss_cover"] = x
            for tr in tranches:
                x, principal_acc = take(principal_acc, tr["bal"])
                tr["bal"] -= x
                tr["principal"] = x
            record["residual"] = interest_acc + principal_acc
            for tr in tranches:
                if tr["due"] - tr["paid"] > tr["tol"] and tr["timely"]:
                    mark(tr, t, 1)
        else:
            cash = interest_acc + principal_acc + reserve
            record["reserve_draw"] = reserve
            reserve = 0.0
            for key in ("tax", "fee"):
                x, cash = take(cash, due[key])
                paid[key] += x
            all_senior_repaid = True
            for j, tr in enumerate(tranches):
                x, cash = take(cash, tr["due"])
                tr["paid"] = x
                coupon_now = tr["bal"] * inp.tr_coupon[j][t]
                if coupon_now - x > tr["tol"] and all_senior_repaid and tr["timely"]:
                    mark(tr, t, 1)
                if tr["bal"] > tr["tol"]:          # outstanding at the start of the period
                    all_senior_repaid = False
                x, cash = take(cash, tr["bal"])
                tr["bal"] -= x
                tr["principal"] = x
            record["residual"] = cash
            uncovered = 0.0
        for key in ("tax", "fee"):
            arrears[key] = due[key] - paid[key]
        for tr in tranches:
            tr["deferred"] = max(tr["due"] - tr["paid"], 0.0)
        periods.append({
            "defaults": defaults, "scheduled": scheduled, "prepaid": prepaid, "interest": interest,
            "recoveries": recoveries[t], "end_balance": pool, "tax_paid": paid["tax"], "fees_paid": paid["fee"],
            "reserve": reserve, "accelerated": accelerated, **record,
            "tranches": [{"interest": tr["paid"], "principal": tr["principal"], "balance": tr["bal"],
                          "deferred": tr["deferred"]} for tr in tranches],
        })
    status = []
    for tr in tranches:
        loss = tr["bal"] + tr["deferred"]
        if loss > tr["tol"]:
            mark(tr, H - 1, 2)
        status.append({"defaulted": tr["defaulted"], "period": tr["period"], "kind": tr["kind"], "loss": loss})
    return periods, status
