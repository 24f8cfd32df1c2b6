"""Slow, obvious pure-Python waterfall, for tests and the benchmark only.

Written from the rules in ``kernel.py``'s module docstring (METHODOLOGY
§5.2–5.4) directly over the :class:`~xlabs.model.waterfall.WaterfallDeal`
objects — names, strings and dicts, no compiled arrays — so that it checks
the compiler and the kernel together.  It takes the scenario arrays
(timing, SMM, coupons, fee rates) from ``compile.scenario_arrays`` and the
obligor schedules from ``amortisation`` so both sides see the same inputs.
"""

from __future__ import annotations

import numpy as np

from ..amortisation import amortisation_codes, loan_balances, pool_schedule


def reference_run(deal, sc, cdr, obligor_defaults=None):
    """Run ``deal`` under scenario arrays ``sc`` at ``cdr``.

    Returns a dict: ``periods`` (list of per-period dicts), ``status``
    ({tranche: {defaulted, period, kind, loss}}), ``triggers`` ({name: [0/1
    per period]}).  ``obligor_defaults`` ({name: period, 1-based}) overrides
    the obligors' default periods.
    """
    H = int(deal.periods)
    freq = int(deal.frequency)
    names = [t.name for t in deal.tranches]
    # interest classes: tranches paid interest pro rata together in some step are one class (merged sets)
    klass = {n: {n} for n in names}
    for s in deal.steps:
        if s.action == "pay_interest" and "+" in s.payees:
            group = set().union(*(klass[p.strip()] for p in s.payees.split("+") if p.strip() in klass))
            for n in group:
                klass[n] = group
    # principal classes (the turbo's): tranches paid principal pro rata together, in the order of their rows
    pclass = {n: [n] for n in names}
    for s in deal.steps:
        if s.action == "pay_principal" and "+" in s.payees:
            group = sorted(set().union(*(pclass[p.strip()] for p in s.payees.split("+") if p.strip() in pclass)),
                           key=names.index)
            for n in group:
                pclass[n] = group

    def turbo(x, seq, stop):
        """Principal out of ``x``, senior class first, a pro-rata class by balance (each tranche alone under
        ``sequential``); with ``stop`` it ends after a class still owed anything.  Returns what it paid."""
        paid = 0.0
        for n in names:
            group = [n] if seq else pclass[n]
            if group[0] != n:
                continue
            owed = sum(tr[g]["bal"] for g in group)
            pay = min(x - paid, owed)
            if pay > 0:
                for g in group:
                    y = pay * tr[g]["bal"] / owed
                    tr[g]["bal"] -= y
                    tr[g]["ppaid"] += y
                paid += pay
            if stop and any(tr[g]["bal"] + tr[g]["due"] - tr[g]["ipaid"] > tr[g]["tol"] for g in group):
                break
            if paid >= x:
                break
        return paid

    tr = {t.name: {"bal": float(t.balance), "bal0": float(t.balance), "deferred": 0.0, "defaulted": False,
                   "period": 0, "kind": 0, "rule": t.interest, "legal": int(t.legal_final) or H,
                   "tol": 1e-9 * max(float(t.balance), 1.0) + 1e-9} for t in deal.tranches}
    coupon = {n: sc.coupon[j] for j, n in enumerate(names)}
    nf = len(deal.fees)
    fees = {f.name: {"spec": f, "rate": float(sc.fee_rate[i]), "extra": float(sc.fee_rate[nf + i]), "arrears": 0.0}
            for i, f in enumerate(deal.fees)}
    # pool: list of cohorts [start, purchased balance, performing, amort, yield]
    cohorts = []
    if deal.pool_balance > 0:
        a = list(deal.pool_amort) + [0.0] * H
        y = list(deal.pool_yield) + [0.0] * H
        cohorts.append({"start": 0, "b0": float(deal.pool_balance), "perf": float(deal.pool_balance),
                        "amort": a[:H], "yield": y[:H], "kind": 0})
    rev = deal.revolving
    if rev is not None:
        ps = pool_schedule([1.0], [rev.annual_rate], [int(rev.term)], [rev.amortisation], freq, periods=H)
        new_amort, new_yield = list(ps.amort_fraction), list(ps.interest_yield)
    obs = []
    odef = obligor_defaults or {}
    for o in deal.obligors:
        s = loan_balances([o.balance], [o.annual_rate], np.array([int(o.term)]),
                          amortisation_codes([o.amortisation]), freq, periods=H)[0] / o.balance
        obs.append({"perf": float(o.balance), "sched": list(s), "rate": o.annual_rate / freq,
                    "rec": o.recovery * float(sc.sc_f[1]), "lag": int(o.recovery_lag) + int(sc.sc_i[1]),
                    "default": int(odef.get(o.name, o.default_period))})
    rec_rate, rec_lag = float(sc.sc_f[0]), int(sc.sc_i[0])
    recoveries = [0.0] * (H + 1)
    acc = {"interest": 0.0, "principal": 0.0, "reserve": float(deal.reserve_initial)}
    orig = float(deal.pool_balance) + sum(o.balance for o in deal.obligors)
    cum_def = 0.0
    pdl = 0.0
    prev_short = False
    ended = False
    states = {k.name: 0 for k in deal.triggers}
    trig_hist = {k.name: [] for k in deal.triggers}
    xs_hist = []
    periods = []

    def available(src):
        if src == "combined":
            return acc["interest"] + acc["principal"] + acc["reserve"]
        return acc[src]

    def withdraw(src, x):
        if src != "combined":
            acc[src] -= x
            return
        for a in ("interest", "principal", "reserve"):
            y = min(acc[a], x)
            acc[a] -= y
            x -= y

    for t in range(H):
        begin = defaults = scheduled = prepaid = interest = 0.0
        smm = float(sc.smm[t])
        for co in cohorts:
            if co["start"] > t:
                continue
            begin += co["perf"]
            if co["perf"] <= 0:
                continue
            age = t - co["start"]
            d = max(0.0, min(cdr * co["b0"] * sc.timing[co["kind"] * H + age], co["perf"]))
            surv = co["perf"] - d
            sp = co["amort"][age] * surv
            it = co["yield"][age] * surv
            pp = smm * (surv - sp)
            co["perf"] = max(surv - sp - pp, 0.0)
            if t + rec_lag < H:
                recoveries[t + rec_lag] += rec_rate * d
            defaults += d
            scheduled += sp
            prepaid += pp
            interest += it
        for o in obs:
            if o["perf"] <= 0:
                continue
            begin += o["perf"]
            if o["default"] == t + 1:
                if t + o["lag"] < H:
                    recoveries[t + o["lag"]] += o["rec"] * o["perf"]
                defaults += o["perf"]
                o["perf"] = 0.0
                continue
            sp = o["perf"] * (1 - o["sched"][t + 1] / o["sched"][t]) if o["sched"][t] > 0 else o["perf"]
            interest += o["perf"] * o["rate"]
            pp = smm * (o["perf"] - sp)
            o["perf"] = max(o["perf"] - sp - pp, 0.0)
            scheduled += sp
            prepaid += pp
        end_pool = sum(co["perf"] for co in cohorts) + sum(o["perf"] for o in obs)
        cum_def += defaults
        pdl = max(pdl + defaults - recoveries[t], 0.0)      # defaults not made good by recoveries
        cdr_ratio = cum_def / orig if orig > 0 else 0.0
        acc["interest"] += interest
        acc["principal"] += scheduled + prepaid + recoveries[t]

        senior = next((n for n in names if tr[n]["bal"] + tr[n]["deferred"] > tr[n]["tol"]), None)
        current_costs = 0.0
        next_fees = 0.0
        for f in fees.values():
            spec = f["spec"]
            base = {"pool_balance": begin, "interest_income": interest, "fixed": 0.0}.get(spec.basis)
            if spec.basis == "tranche_balance":
                base = tr[spec.tranche]["bal"]
            cur = f["rate"] * base + spec.amount + f["extra"] * begin    # extra: the servicer stress, on the pool
            current_costs += cur
            f["due"] = cur + f["arrears"]
            f["paid"] = 0.0
            if spec.kind == "fee":
                if spec.basis == "pool_balance":
                    next_fees += f["rate"] * end_pool
                elif spec.basis == "tranche_balance":
                    next_fees += f["rate"] * tr[spec.tranche]["bal"]
                next_fees += spec.amount + f["extra"] * end_pool
        for n in names:
            x = tr[n]
            x["deferred"] *= 1 + coupon[n][t]
            current_costs += x["bal"] * coupon[n][t]
            x["due"] = x["bal"] * coupon[n][t] + x["deferred"]
            x["ipaid"] = x["ppaid"] = x["resid"] = 0.0
        xs_hist.append((interest - current_costs) / begin * freq if begin > 0 else 0.0)
        last3 = xs_hist[-3:]
        xs_avg = sum(last3) / len(last3)
        target = 0.0
        if t < H - 1:
            first = next((n for n in names if tr[n]["bal"] > tr[n]["tol"]), None)     # next period's interest
            # ... of its whole interest class (pari-passu tranches rank together, §5.3)
            sen_next = sum(tr[n]["bal"] * coupon[n][t + 1] for n in klass[first]) if first else 0.0
            target = max(deal.reserve_floor, deal.reserve_multiple * (next_fees + sen_next))

        effects = set()
        for k in deal.triggers:
            level = deal.schedules[k.schedule][t] if k.schedule else k.level
            hit = {"cdr_above": cdr_ratio > level,
                   "reserve_below_target": acc["reserve"] < level * target - 1e-9,
                   "excess_spread_below": xs_avg < level,
                   "senior_interest_shortfall": prev_short,
                   "date": t + 1 >= level}[k.test]
            states[k.name] = int(hit) if k.curable else int(states[k.name] or hit)
            trig_hist[k.name].append(states[k.name])
            if states[k.name]:
                effects |= {e.strip() for e in k.effects.split("+")}
        if "end_revolving" in effects:
            ended = True
        revolving = rev is not None and t + 1 <= rev.end_period and not ended
        rec_out = {"tax": 0.0, "fees_paid": 0.0, "equity": 0.0, "purchased": 0.0, "purchase_cash": 0.0}

        for s in deal.steps:
            ok = {"always": True, "revolving": revolving, "amortisation": not revolving,
                  "before": not states.get(s.trigger, 0), "after": bool(states.get(s.trigger, 0))}[s.condition]
            if not ok:
                continue
            src = s.source
            if "combine_accounts" in effects and src in ("interest", "principal"):
                src = "combined"
            avail = available(src)
            if "+" in s.payees:
                plist, mode = [p.strip() for p in s.payees.split("+")], "prorata"
            elif ">" in s.payees:
                plist, mode = [p.strip() for p in s.payees.split(">")], "seq"
            else:
                plist, mode = ([s.payees.strip()] if s.payees.strip() else []), "seq"
            if s.action in ("pay_tax", "pay_fee", "pay_interest", "pay_principal"):
                if s.action == "pay_principal" and "sequential" in effects:
                    mode = "seq"
                allowed = None          # stop_subordinated: the payees that may be paid by this step
                if "stop_subordinated" in effects and s.action in ("pay_interest", "pay_principal"):
                    now = next((n for n in names
                                if tr[n]["bal"] + tr[n]["due"] - tr[n]["ipaid"] > tr[n]["tol"]), None)
                    allowed = set(plist) if mode == "prorata" and now in plist else {now}
                needs = []
                for p in plist:
                    if s.action in ("pay_tax", "pay_fee"):
                        need = fees[p]["due"] - fees[p]["paid"]
                    elif allowed is not None and p not in allowed and (mode == "prorata" or any(
                            tr[n]["bal"] + tr[n]["due"] - tr[n]["ipaid"]
                            - sum(nd for a, nd in zip(plist, needs) if a == n) > tr[n]["tol"]
                            for n in names[:names.index(p)])):
                        need = 0.0      # (in a sequence: unless those ahead of p in this step, paid in full, clear it)
                    elif s.action == "pay_interest":
                        need = tr[p]["due"] - tr[p]["ipaid"]
                    elif s.amount == "target_balance":
                        need = tr[p]["bal"] - deal.schedules[s.schedule][t] * tr[p]["bal0"]
                    else:
                        need = tr[p]["bal"]
                    needs.append(max(need, 0.0))
                limit = min(avail, s.cap) if s.amount == "capped" else avail
                total = min(limit, sum(needs))
                if total <= 0:
                    continue
                left = total
                for p, need in zip(plist, needs):
                    if mode == "prorata":
                        x = total * need / sum(needs)
                    else:
                        x = min(left, need)
                        left -= x
                    if s.action in ("pay_tax", "pay_fee"):
                        fees[p]["paid"] += x
                        rec_out["tax" if fees[p]["spec"].kind == "tax" else "fees_paid"] += x
                    elif s.action == "pay_interest":
                        tr[p]["ipaid"] += x
                    else:
                        tr[p]["bal"] -= x
                        tr[p]["ppaid"] += x
                withdraw(src, total)
            elif s.action == "top_up_reserve":
                x = avail if s.amount == "all" else target - acc["reserve"]
                if s.amount == "capped":
                    x = min(x, s.cap)
                x = min(x, avail)
                if x > 0:
                    withdraw(src, x)
                    acc["reserve"] += x
            elif s.action == "transfer":
                x = {"all": avail, "capped": min(avail, s.cap), "pdl": min(avail, pdl),
                     "excess": min(avail, acc["reserve"] - target)}[s.amount]
                if s.amount == "pdl":
                    pdl -= x
                if x > 0:
                    withdraw(src, x)
                    acc[s.to] += x
            elif s.action == "purchase_assets":
                if not revolving or t + 1 >= H:
                    continue
                x = min(avail, s.cap) if s.amount == "capped" else avail
                if x <= 0:
                    continue
                withdraw(src, x)
                par = x / rev.price
                cohorts.append({"start": t + 1, "b0": par, "perf": par, "amort": new_amort, "yield": new_yield,
                                "kind": 1})
                orig += par
                rec_out["purchased"] += par
                rec_out["purchase_cash"] += x
            elif s.action == "pay_residual":
                stopped = "stop_subordinated" in effects
                if stopped and "turbo" not in effects:
                    continue
                x = min(avail, s.cap) if s.amount == "capped" else avail
                if x <= 0:
                    continue
                if stopped:     # turbo only, class by class; nothing to the residual payee
                    withdraw(src, turbo(x, "sequential" in effects, True))
                    continue
                withdraw(src, x)
                if "turbo" in effects:
                    x -= turbo(x, "sequential" in effects, False)
                if plist[0] == "equity":
                    rec_out["equity"] += x
                else:
                    tr[plist[0]]["resid"] += x

        for f in fees.values():
            f["arrears"] = f["due"] - f["paid"]
        for n in names:
            x = tr[n]
            unpaid = x["due"] - x["ipaid"]
            x["deferred"] = max(unpaid, 0.0)
            timely = x["rule"] == "timely" or (x["rule"] == "timely_when_senior" and senior is not None
                                               and n in klass[senior])
            if not x["defaulted"]:
                if timely and unpaid > x["tol"]:
                    x.update(defaulted=True, period=t + 1, kind=1)
                elif t + 1 == x["legal"] and x["bal"] + x["deferred"] > x["tol"]:
                    x.update(defaulted=True, period=t + 1, kind=2)
            if t + 1 == x["legal"]:
                x["loss_at_legal"] = x["bal"] + x["deferred"]
        prev_short = senior is not None and any(tr[n]["due"] - tr[n]["ipaid"] > tr[n]["tol"] for n in klass[senior])
        periods.append({
            "begin": begin, "defaults": defaults, "scheduled": scheduled, "prepaid": prepaid, "interest": interest,
            "recoveries": recoveries[t], "end": end_pool + rec_out["purchased"], "cdr_ratio": cdr_ratio,
            "accounts": dict(acc), "target": target, "revolving": revolving, "xs": xs_hist[-1], "pdl": pdl,
            **rec_out,
            "tranches": {n: {k: tr[n][k] for k in ("due", "ipaid", "ppaid", "bal", "deferred", "resid")}
                         for n in names},
            "fees": {k: (f["due"], f["paid"]) for k, f in fees.items()},
        })
    status = {}
    for n in names:
        x = tr[n]
        loss = x.get("loss_at_legal", x["bal"] + x["deferred"])     # unpaid at the legal final
        if loss > x["tol"] and not x["defaulted"]:
            x.update(defaulted=True, period=H, kind=2)
        status[n] = {"defaulted": x["defaulted"], "period": x["period"], "kind": x["kind"], "loss": loss}
    return {"periods": periods, "status": status, "triggers": trig_hist}


def reference_arrays(deal, sc, cdr, obligor_defaults=None):
    """The reference run in the kernel's output layout: (pool (H,10), accounts (H,10),
    tranches (H,J,6), fees (H,F,2), triggers (H,K), status (J,4))."""
    r = reference_run(deal, sc, cdr, obligor_defaults)
    H = len(r["periods"])
    names = [t.name for t in deal.tranches]
    pool = np.array([[p["begin"], p["defaults"], p["scheduled"], p["prepaid"], p["interest"], p["recoveries"],
                      p["purchased"], p["purchase_cash"], p["end"], p["cdr_ratio"]] for p in r["periods"]])
    acc = np.array([[p["accounts"]["interest"], p["accounts"]["principal"], p["accounts"]["reserve"], p["target"],
                     p["tax"], p["fees_paid"], p["equity"], float(p["revolving"]), p["xs"], p["pdl"]]
                    for p in r["periods"]])
    trn = np.array([[[p["tranches"][n][k] for k in ("due", "ipaid", "ppaid", "bal", "deferred", "resid")]
                     for n in names] for p in r["periods"]]).reshape(H, len(names), 6)
    fees = np.array([[list(p["fees"][f.name]) for f in deal.fees] for p in r["periods"]]).reshape(
        H, len(deal.fees), 2)
    trig = np.array([r["triggers"][k.name] for k in deal.triggers], dtype=float).T.reshape(H, len(deal.triggers))
    st = np.array([[float(r["status"][n]["defaulted"]), r["status"][n]["period"], r["status"][n]["kind"],
                    r["status"][n]["loss"]] for n in names])
    return pool, acc, trn, fees, trig, st
