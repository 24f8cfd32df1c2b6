"""Write a consumer rating run onto output sheets (TDR, Stress, Rating, CashFlows, Run).

Only these sheets are created or replaced; input sheets are never touched.
Fractions are written as fractions with a percent *display* format.
"""

from __future__ import annotations

import math

from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Font, PatternFill

PCT = "0.00%"
PCT4 = "0.0000%"
MONEY = "#,##0.00"
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=13)
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")


def _clean(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def write_table(ws, top: int, left: int, title: str, headers, rows, formats=None) -> int:
    """Write a titled table; return the next free row (after one blank row).

    ``formats`` maps a header to an Excel number format.
    """
    formats = formats or {}
    rows = [list(r) for r in rows]
    ws.cell(top, left, title).font = BOLD
    for k, h in enumerate(headers):
        c = ws.cell(top + 1, left + k, h)
        c.font = BOLD
        c.fill = HEAD_FILL
    for i, row in enumerate(rows):
        for k, v in enumerate(row):
            c = ws.cell(top + 2 + i, left + k, _clean(v))
            fmt = formats.get(headers[k])
            if fmt and isinstance(c.value, (int, float)):
                c.number_format = fmt
    return top + 2 + len(rows) + 1


def write_tdr(ws, res, deal):
    ws.cell(1, 1, f"{deal.name}: static pool, lognormal fit and target default rates (METHODOLOGY 3)").font = TITLE
    va = res.vintages
    r = 3
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
    r = write_table(ws, r, 1, "Fit", ["item", "value", "note"], fit_rows)
    if res.adjusted is not None and res.adjusted.adjustments:
        r = write_table(ws, r, 1, "Fit adjustments (adverse only, with reasons)",
                        ["factor", "mu_shift", "sigma_multiplier", "reason"],
                        [(a.factor, a.mu_shift, a.sigma_multiplier, a.reason) for a in res.adjusted.adjustments])
    tdr = res.tdr
    r = write_table(ws, r, 1, "Target default rate per tranche and rating: TDR = exp(sigma' * N^-1(1 - P_A) + mu')",
                    ["tranche", "rating", "term (years)", "P_A", "TDR"],
                    tdr[["tranche", "rating", "term_years", "p_a", "tdr"]].itertuples(index=False),
                    {"P_A": PCT4, "TDR": PCT, "term (years)": "0.00"})
    labels = deal.static_pool.labels
    r = write_table(ws, r, 1, "Vintage CDR at the horizon",
                    ["vintage", "observed months", "CDR at horizon", "extrapolated"],
                    [(labels[v], int(va.observed_age[v]), va.cdr[v], "yes" if va.extrapolated[v] else "no")
                     for v in range(va.cdr.size)], {"CDR at horizon": PCT})
    # Curves: observed part and extrapolated part as separate series.
    top = r
    n_v = va.cdr.size
    headers = ["month", "average cumulative", "timing"] + [f"{labels[v]}" for v in range(n_v)] + \
              [f"{labels[v]} (extrapolated)" for v in range(n_v)]
    rows = []
    for m in range(va.horizon):
        row = [m + 1, va.average_cumulative[m], va.timing[m]]
        row += [va.cumulative[v, m] if m < va.observed_age[v] else None for v in range(n_v)]
        row += [va.cumulative[v, m] if m >= va.observed_age[v] - 1 and va.extrapolated[v] else None for v in range(n_v)]
        rows.append(row)
    fmts = {h: PCT for h in headers[1:]}
    write_table(ws, top, 1, "Cumulative default curves (observed, then extrapolated by the ratio method)",
                headers, rows, fmts)
    chart = LineChart()
    chart.title = "Vintage cumulative default rates (dashed: extrapolated)"
    chart.y_axis.title = "CDR"
    chart.x_axis.title = "month on book"
    chart.y_axis.number_format = "0.0%"
    chart.height, chart.width = 10, 22
    first, last = top + 2, top + 1 + va.horizon
    data = Reference(ws, min_col=2, max_col=3 + 2 * n_v, min_row=top + 1, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
    chart.series.pop(1)  # the timing column belongs to another scale
    for k, s in enumerate(chart.series):
        s.smooth = False
        if k == 0:
            s.graphicalProperties.line.width = 38100
        elif k > n_v:
            s.graphicalProperties.line.dashStyle = "dash"
    chart.legend = None
    ws.add_chart(chart, "H3")


def write_stress(ws, res, deal):
    ws.cell(1, 1, f"{deal.name}: breakeven default rates under rating stresses (METHODOLOGY 6, Pengyuan Table 3)").font = TITLE
    st = res.stress
    r = 3
    fm = {"BDR": PCT, "TDR": PCT, "protection distance": PCT, "relative distance": "0.00%"}
    for tr in res.ratings:
        rating = tr.caps["cash flow"]
        if rating not in set(st.rating):
            continue
        sub = st[(st.tranche == tr.tranche) & (st.rating == rating)]
        r = write_table(ws, r, 1, f"Protection distance: {tr.tranche} at {rating}",
                        ["scenario", "BDR", "TDR", "protection distance", "relative distance"],
                        sub[["scenario", "bdr", "tdr", "distance", "relative_distance"]].itertuples(index=False), fm)
    write_table(ws, r, 1, "All tranches x target ratings x scenarios (BDR by grid scan + bisection to 1e-4)",
                ["tranche", "rating", "scenario", "BDR", "TDR", "protection distance", "relative distance", "passes",
                 "search result", "evaluations"],
                st[["tranche", "rating", "scenario", "bdr", "tdr", "distance", "relative_distance", "passes",
                    "bdr_state", "evaluations"]].itertuples(index=False), fm)


RATING_HEADERS = ["tranche", "balance", "credit enhancement", "cap 1: portfolio (CE vs TRLR)",
                  "cap 2: cash flow (BDR vs target)", "cap 3: key obligor", "model-indicated rating",
                  "adjustments", "external support", "final rating"]


def write_rating(ws, ratings, balances, deal_name, method_note):
    """The Rating sheet shared by the consumer and corporate paths (METHODOLOGY 8)."""
    ws.cell(1, 1, f"{deal_name}: ratings (METHODOLOGY 8)").font = TITLE
    ws.cell(2, 1, method_note)
    rows = []
    for t in ratings:
        adj = "; ".join(f"{f}: {e} ({why}) -> {after}" for f, e, why, after in t.adjustments) or "none"
        rows.append((t.tranche, balances[t.tranche], t.credit_enhancement,
                     t.caps.get("portfolio") or "n/a", t.caps.get("cash flow") or "n/a",
                     t.caps.get("key obligor") or "n/a", t.model_indicated, adj, t.support or "none", t.final))
    r = write_table(ws, 4, 1, "Ratings by tranche", RATING_HEADERS, rows,
                    {"balance": MONEY, "credit enhancement": PCT})
    ws.cell(r, 1, "Final ratings are proposals for the rating committee; sign-off is recorded in the committee pack.")
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["H"].width = 50


def write_cashflows(ws, res, deal):
    cf = res.base_cashflows
    ws.cell(1, 1, f"{deal.name}: base-case cash flows at CDR {cf.cdr:.4%} (METHODOLOGY 5)").font = TITLE
    names = list(cf.tranches)
    headers = ["period"] + list(cf.pool.columns) + list(cf.accounts.columns)
    for n in names:
        headers += [f"{n} {c}" for c in cf.tranches[n].columns]
    rows = []
    for i, p in enumerate(cf.pool.index):
        row = [int(p)] + list(cf.pool.iloc[i]) + list(cf.accounts.iloc[i])
        for n in names:
            row += list(cf.tranches[n].iloc[i])
        rows.append(row)
    fm = {h: MONEY for h in headers[1:]}
    fm["cumulative_default_ratio"] = PCT
    top = 3
    write_table(ws, top, 1, "Per period (yuan)", headers, rows, fm)
    status_top = top + len(rows) + 4
    write_table(ws, status_top, 1, "Tranche outcome", ["tranche", "defaulted", "period", "kind", "loss"],
                [(n, bool(s.defaulted), int(s.period), s.kind, s.loss) for n, s in cf.status.iterrows()],
                {"loss": MONEY})
    chart = LineChart()
    chart.title = "Tranche balances over time (base case)"
    chart.y_axis.title = "balance"
    chart.x_axis.title = "period"
    chart.height, chart.width = 9, 20
    first, last = top + 2, top + 1 + len(rows)
    for n in names:
        col = headers.index(f"{n} balance") + 1
        chart.add_data(Reference(ws, min_col=col, min_row=top + 1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
    ws.add_chart(chart, f"A{status_top + len(names) + 4}")


def write_run(ws, info: dict):
    ws.cell(1, 1, "Run record").font = TITLE
    write_table(ws, 3, 1, "This run", ["item", "value"], list(info.items()))
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 70
