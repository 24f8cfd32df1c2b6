"""Build the consumer run's output sheets (TDR, Stress, Rating, CashFlows, Run) as :class:`SheetOut`.

Adapters render them; only these sheets are created or replaced, input
sheets are never touched.  Fractions are written as fractions with a percent
*display* format.
"""

from __future__ import annotations

import numpy as np

from .sheetout import Chart, Series, SheetOut

PCT = "0.00%"
PCT4 = "0.0000%"
MONEY = "#,##0.00"


def tdr_sheet(res, deal) -> SheetOut:
    s = SheetOut("TDR")
    fitted = res.fit is not None
    s.title(f"{deal.name}: static pool, {'lognormal fit' if fitted else 'stress multiples'} and target default "
            "rates (METHODOLOGY 3)")
    va = res.vintages
    fit_rows = []
    if res.fit is not None:
        fit_rows = [
            ("vintages in the fit", res.fit.n, "count"),
            ("mu (ln CDR)", res.fit.mu, "MLE, METHODOLOGY 3.3"),
            ("sigma (ln CDR)", res.fit.sigma, "MLE, divisor n"),
            ("adjusted mu'", res.adjusted.mu, "after adverse-only adjustments (3.4)"),
            ("adjusted sigma'", res.adjusted.sigma, ""),
            ("CDR floor used", res.fit.floor if res.fit.floor is not None else "none", f"{res.fit.floored} vintage(s)"),
        ]
    fit_rows += [("base-case CDR", res.base_cdr, "mean of the adjusted lognormal" if res.fit else "mean vintage CDR"),
                 ("horizon (months)", va.horizon, "T"), ("weighting", va.weighting, "average incremental curve")]
    r = s.table(3, 1, "Fit", ["item", "value", "note"], fit_rows)
    # one value column, a format per row: fractions of the pool as percent, log-parameters to 4 decimals
    fmt = {"base-case CDR": PCT4, "CDR floor used": PCT4, "mu (ln CDR)": "0.0000", "sigma (ln CDR)": "0.0000",
           "adjusted mu'": "0.0000", "adjusted sigma'": "0.0000"}
    for c in s.cells:
        if c.col == 2 and 5 <= c.row < 5 + len(fit_rows) and isinstance(c.value, float):
            c.number_format = fmt.get(fit_rows[c.row - 5][0], c.number_format)
    if res.adjusted is not None and res.adjusted.adjustments:
        top = r
        r = s.table(r, 1, "Fit adjustments (adverse only, with reasons)",
                    ["factor", "mu_shift", "sigma_multiplier", "reason"],
                    [(a.factor, a.mu_shift, a.sigma_multiplier, a.reason) for a in res.adjusted.adjustments])
        for c in s.cells:           # the reason is prose at the right edge: it runs on, not widening column D
            if c.col == 4 and top + 2 <= c.row < r and isinstance(c.value, str):
                c.fit = False
    if fitted:      # §3.4: the lognormal quantile at P_A
        r = s.table(r, 1, "Target default rate per tranche and rating: TDR = exp(sigma' * N^-1(1 - P_A) + mu')",
                    ["tranche", "rating", "term (years)", "P_A", "TDR"],
                    res.tdr[["tranche", "rating", "term_years", "p_a", "tdr"]].itertuples(index=False),
                    {"P_A": PCT4, "TDR": PCT, "term (years)": "0.00"})
    else:           # §3.5: P_A plays no part; the multiple is what the TDR is made of
        r = s.table(r, 1, "Target default rate per tranche and rating: TDR = base-case CDR x stress multiple "
                          "(METHODOLOGY 3.5)",
                    ["tranche", "rating", "term (years)", "stress multiple", "TDR"],
                    res.tdr[["tranche", "rating", "term_years", "multiple", "tdr"]].itertuples(index=False),
                    {"stress multiple": "0.00", "TDR": PCT, "term (years)": "0.00"})
    if res.adjusted is not None:
        r = _density_block(s, r, res)
    labels = deal.static_pool.labels
    r = s.table(r, 1, "Vintage CDR at the horizon", ["vintage", "observed months", "CDR at horizon", "extrapolated"],
                [(labels[v], int(va.observed_age[v]), va.cdr[v], "yes" if va.extrapolated[v] else "no")
                 for v in range(va.cdr.size)], {"CDR at horizon": PCT})
    # Curves: observed part and extrapolated part as separate series.
    top = r
    n_v = va.cdr.size
    headers = ["month", "average cumulative", "timing"] + [str(labels[v]) for v in range(n_v)] + \
              [f"{labels[v]} (extrapolated)" for v in range(n_v)] + ["vintages observed"]
    rows = []
    for m in range(va.horizon):
        row = [m + 1, va.average_cumulative[m], va.timing[m]]
        row += [va.cumulative[v, m] if m < va.observed_age[v] else None for v in range(n_v)]
        row += [va.cumulative[v, m] if m >= va.observed_age[v] - 1 and va.extrapolated[v] else None
                for v in range(n_v)]
        row.append(int(va.vintages_per_age[m]))      # how many vintages the average curve rests on (§3.2)
        rows.append(row)
    s.table(top, 1, "Cumulative default curves (observed, then extrapolated by the ratio method)",
            headers, rows, {h: PCT for h in headers[1:-1]})
    first, last = top + 2, top + 1 + va.horizon
    series = [Series(2, top + 1, first, last, width_emu=38100)]
    series += [Series(4 + v, top + 1, first, last) for v in range(n_v)]
    series += [Series(4 + n_v + v, top + 1, first, last, dashed=True) for v in range(n_v) if va.extrapolated[v]]
    s.charts.append(Chart("line", "Vintage cumulative default rates (thick: average; dashed: extrapolated)", "H3",
                          (1, first, last), series, x_title="month on book", y_title="CDR", y_format="0.0%",
                          legend=False, width_cm=22, height_cm=10))
    return s


def _density_block(s: SheetOut, top: int, res) -> int:
    """Fitted lognormal density of the pool CDR with a marker at each TDR (first rated tranche)."""
    from scipy.stats import lognorm
    mu, sigma = res.adjusted.mu, res.adjusted.sigma
    first = res.tdr.tranche.iloc[0]
    tdr = res.tdr[res.tdr.tranche == first]
    x_max = float(min(1.0, max(tdr.tdr.max() * 1.15, lognorm.ppf(0.999, sigma, scale=np.exp(mu)))))
    xs = np.linspace(x_max / 200, x_max, 200)
    dens = lognorm.pdf(xs, sigma, scale=np.exp(mu))
    mark = 0.5 * float(dens.max())   # markers drawn at half the peak height, one per rating
    r = s.table(top, 1, f"Target default rates on the fitted density ({first})",
                ["rating", "TDR", "marker height", "density at TDR"],
                [(rt, t, mark, float(lognorm.pdf(t, sigma, scale=np.exp(mu)))) for rt, t in zip(tdr.rating, tdr.tdr)],
                {"TDR": PCT})
    mark_first, mark_last = top + 2, top + 1 + len(tdr)
    dtop = r
    r = s.table(dtop, 1, "Fitted lognormal density of the pool CDR (adjusted mu', sigma')", ["CDR", "density"],
                list(zip(xs, dens)), {"CDR": PCT})
    s.charts.append(Chart("scatter", "Fitted CDR density and TDR per rating", f"H{top}",
                          (1, dtop + 2, dtop + 1 + xs.size),
                          [Series(2, dtop + 1, dtop + 2, dtop + 1 + xs.size)],
                          x_title="cumulative default rate", y_title="density", legend=True))
    s.charts[-1].extra_series = [((2, mark_first, mark_last), (3, mark_first, mark_last), "TDR by rating")]
    return r


def stress_sheet(res, deal) -> SheetOut:
    s = SheetOut("Stress")
    s.title(f"{deal.name}: breakeven default rates under rating stresses (METHODOLOGY 6, Pengyuan Table 3)")
    st = res.stress
    r = 3
    fm = {"BDR": PCT, "TDR": PCT, "protection distance": PCT, "relative distance": "0.00%", APPLIED: PCT}
    for tr in res.ratings:
        rating = tr.caps["cash flow"]
        if rating not in set(st.rating):
            continue
        sub = st[(st.tranche == tr.tranche) & (st.rating == rating)]
        r = s.table(r, 1, f"Protection distance: {tr.tranche} at {rating}",
                    ["scenario", "BDR", "TDR", "protection distance", "relative distance"],
                    sub[["scenario", "bdr", "tdr", "distance", "relative_distance"]].itertuples(index=False), fm)
    r = bdr_vs_target(s, r, st, res.ratings, "TDR")
    s.table(r, 1, "All tranches x target ratings x scenarios (BDR by grid scan + bisection to 1e-4)",
            ["tranche", "rating", "scenario", "BDR", "TDR", "protection distance", "relative distance", "passes",
             "search result", "evaluations", APPLIED],
            st[["tranche", "rating", "scenario", "bdr", "tdr", "distance", "relative_distance", "passes",
                "bdr_state", "evaluations", "applied_cdr"]].itertuples(index=False), fm)
    return s


APPLIED = "CDR applied at BDR"
"""Stress-sheet column: the pool's cumulative default ratio in the run at the BDR, below the BDR where the
default timing puts defaults after the pool has repaid (each period's defaults are capped at the performing
balance, METHODOLOGY §5.2)."""


def bdr_vs_target(s: SheetOut, r: int, st, ratings, target: str) -> int:
    """Per rated tranche: lowest stressed BDR vs the target ratio (TDR or TRDR) by rating, with a bar chart.

    ``st`` has columns tranche, rating, bdr, tdr (the target); returns the next free row.
    """
    for k, tr in enumerate(ratings):
        sub = st[st.tranche == tr.tranche]
        rows = [(rt, float(g.bdr.min()), float(g.tdr.iloc[0])) for rt, g in sub.groupby("rating", sort=False)]
        top = r
        r = s.table(top, 1, f"{tr.tranche}: lowest stressed BDR vs {target} by target rating",
                    ["rating", "lowest stressed BDR", target], rows, {"lowest stressed BDR": PCT, target: PCT})
        s.charts.append(Chart("bar", f"{tr.tranche}: stressed BDR vs {target}", f"L{3 + 18 * k}",
                              (1, top + 2, top + 1 + len(rows)),
                              [Series(2, top + 1, top + 2, top + 1 + len(rows)),
                               Series(3, top + 1, top + 2, top + 1 + len(rows))],
                              x_title="target rating", y_title="CDR", y_format="0%"))
    return r


RATING_HEADERS = ["tranche", "balance", "credit enhancement", "cap 1: portfolio (CE vs TRLR)",
                  "cap 2: cash flow (BDR vs target)", "cap 3: key obligor", "model-indicated rating",
                  "adjustments", "external support", "final rating"]


def rating_sheet(ratings, balances, deal_name, method_note, notes=(), sheet_notes=()) -> SheetOut:
    """The Rating sheet shared by the consumer and corporate paths (METHODOLOGY 8); the run's ``notes``
    about a rated tranche (``"<tranche>: ..."``) are listed under the table (all notes are on Run), after
    ``sheet_notes`` (about this sheet itself, e.g. a re-run that rewrote only some sheets)."""
    s = SheetOut("Rating")
    s.title(f"{deal_name}: ratings (METHODOLOGY 8)")
    s.note(2, 1, method_note)
    rows = []
    for t in ratings:
        adj = "; ".join(f"{f}: {e} ({why}) -> {after}" for f, e, why, after in t.adjustments) or "none"
        rows.append((t.tranche, balances[t.tranche], t.credit_enhancement,
                     t.caps.get("portfolio") or "n/a", t.caps.get("cash flow") or "n/a",
                     t.caps.get("key obligor") or "n/a", t.model_indicated, adj, t.support or "none", t.final))
    r = s.table(4, 1, "Ratings by tranche", RATING_HEADERS, rows, {"balance": MONEY, "credit enhancement": PCT})
    s.note(r, 1, "Final ratings are proposals for the rating committee; sign-off is recorded in the committee pack.")
    mine = list(sheet_notes) + [n for n in notes if any(str(n).startswith(f"{t.tranche}: ") for t in ratings)]
    if mine:
        s.put(r + 2, 1, "Notes on these ratings", bold=True, fit=False)
        for k, n in enumerate(mine):
            s.note(r + 3 + k, 1, n)
    s.widths.update({"A": 14, "H": 50})
    return s


def cashflows_sheet(res, deal, label: str | None = None) -> SheetOut:
    """The base case period by period (METHODOLOGY §5): pool, accounts, each tranche, then each fee and
    trigger when the cash-flow model has them (the data waterfall), the tranche outcomes, the first
    period each trigger was in effect, and a chart of tranche balances.  ``label`` says which case."""
    cf = res.base_cashflows
    s = SheetOut("CashFlows")
    s.title(f"{deal.name}: {label or f'base-case cash flows at CDR {cf.cdr:.4%}'} (METHODOLOGY 5)")
    names = list(cf.tranches)
    fees = dict(getattr(cf, "fees", None) or {})
    triggers = getattr(cf, "triggers", None)
    trig_names = list(triggers.columns) if triggers is not None else []
    headers = ["period"] + list(cf.pool.columns) + list(cf.accounts.columns)
    for n in names:
        headers += [f"{n} {c}" for c in cf.tranches[n].columns]
    for n in fees:
        headers += [f"{n} {c}" for c in fees[n].columns]
    headers += [f"trigger {n} in effect" for n in trig_names]
    rows = []
    for i, p in enumerate(cf.pool.index):
        row = [int(p)] + list(cf.pool.iloc[i]) + list(cf.accounts.iloc[i])
        for n in names:
            row += list(cf.tranches[n].iloc[i])
        for n in fees:
            row += list(fees[n].iloc[i])
        row += ["yes" if triggers.iloc[i][n] else "no" for n in trig_names]
        rows.append(row)
    fm = {h: MONEY for h in headers[1:]}
    for h in ("cumulative_default_ratio", "revolving", "excess_spread"):
        fm[h] = PCT if h != "revolving" else "0"
    top = 3
    s.table(top, 1, "Per period (yuan)", headers, rows, fm)
    status_top = top + len(rows) + 4
    rated = {t.name: bool(getattr(t, "rated", True)) for t in deal.tranches}
    after = s.table(status_top, 1, "Tranche outcome", ["tranche", "rated", "defaulted", "period", "kind", "loss"],
                    [(n, "yes" if rated.get(n, True) else "no", "yes" if st.defaulted else "no", int(st.period),
                      st.kind, st.loss) for n, st in cf.status.iterrows()], {"loss": MONEY})
    if not all(rated.get(n, True) for n in cf.status.index):
        s.note(after - 1, 1, "An unrated tranche (the residual / equity) is paid what is left: its unpaid balance "
                             "at the legal final is its holders' loss, not the default of a rated security.")
        after += 1
    if trig_names:
        first = cf.trigger_first
        after = s.table(after, 1, "Triggers", ["trigger", "first period in effect", "periods in effect"],
                        [(n, int(first[n]) if first[n] else "never", int(triggers[n].sum())) for n in trig_names])
    first, last = top + 2, top + 1 + len(rows)
    series = [Series(headers.index(f"{n} balance") + 1, top + 1, first, last) for n in names]
    s.charts.append(Chart("line", "Tranche balances over time (base case)", f"A{after + 1}",
                          (1, first, last), series, x_title="period", y_title="balance (yuan)", y_format="#,##0"))
    return s


def run_sheet(info: dict) -> SheetOut:
    s = SheetOut("Run")
    s.title("Run record")
    s.table(3, 1, "This run", ["item", "value"], list(info.items()))
    s.widths.update({"A": 28, "B": 70})
    return s
