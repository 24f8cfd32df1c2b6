"""Output sheets of the corporate run: Portfolio, Stress, KeyObligor (Rating and Run are shared)."""

from __future__ import annotations

from .sheetout import Chart, Series, SheetOut
from .writer import APPLIED, MONEY, PCT, PCT4, bdr_vs_target


def portfolio_sheet(res, deal) -> SheetOut:
    """Monte Carlo distribution, TRDR/TRLR per rating with errors, convergence (METHODOLOGY §4.5)."""
    s = SheetOut("Portfolio")
    mc = res.mc
    s.title(f"{deal.name}: portfolio model, {mc.n_paths:,} Monte Carlo paths, seed {mc.seed} (METHODOLOGY 4)")
    summ = mc.summary()
    r = s.table(3, 1, "Simulation", ["item", "value"],
                [("paths", mc.n_paths), ("seed", mc.seed), ("obligors (one default time each)", summ["n_obligors"]),
                 ("asset rows", len(res.inputs.ids)),
                 ("months", summ["n_months"]), ("weighted-average recovery (fraction)",
                                                round(res.inputs.weighted_recovery, 6))])
    levels = [0.5, 0.9, 0.99, 0.999, 0.9999]
    rows = [("mean", summ["default_ratio_mean"], summ["loss_ratio_mean"]),
            ("standard deviation", summ["default_ratio_std"], summ["loss_ratio_std"])]
    rows += [(f"{q:.2%} quantile", d, lo) for q, d, lo in zip(levels, mc.quantiles(levels, "default"),
                                                              mc.quantiles(levels, "loss"))]
    r = s.table(r, 1, "Distribution of the pool default and loss ratios", ["statistic", "default ratio", "loss ratio"],
                rows, {"default ratio": PCT, "loss ratio": PCT})
    tg = res.targets
    r = s.table(r, 1, "Target ratios per tranche and rating: TRDR / TRLR = (1 - P_A) quantile, 95% order-statistic CI",
                ["tranche", "rating", "term (years)", "P_A", "TRDR", "TRDR lower", "TRDR upper", "TRDR s.e.",
                 "TRLR", "TRLR lower", "TRLR upper", "TRLR s.e."],
                tg[["tranche", "rating", "term_years", "p_a", "trdr", "trdr_lower", "trdr_upper", "trdr_se", "trlr",
                    "trlr_lower", "trlr_upper", "trlr_se"]].itertuples(index=False),
                {"P_A": PCT4, "TRDR": PCT, "TRDR lower": PCT, "TRDR upper": PCT, "TRDR s.e.": PCT4, "TRLR": PCT,
                 "TRLR lower": PCT, "TRLR upper": PCT, "TRLR s.e.": PCT4, "term (years)": "0.00"})
    # convergence of the AAA target of the first tranche
    first = tg.iloc[0]
    conv = mc.convergence(float(first.p_a), "default")
    r = s.table(r, 1, f"Convergence: TRDR at {first.rating} ({first.tranche}) on the first n paths",
                ["paths", "TRDR", "lower", "upper"], [(c["n_paths"], c["value"], c["lower"], c["upper"]) for c in conv],
                {"TRDR": PCT, "lower": PCT, "upper": PCT})
    # histogram with TRDR markers
    counts_d, edges_d = mc.histogram("default", bins=60)
    counts_l, edges_l = mc.histogram("loss", bins=60)
    top = r
    hist_rows = [((edges_d[i] + edges_d[i + 1]) / 2, counts_d[i] / mc.n_paths, (edges_l[i] + edges_l[i + 1]) / 2,
                  counts_l[i] / mc.n_paths) for i in range(counts_d.size)]
    r = s.table(top, 1, "Histogram (share of paths per bin)", ["default ratio", "share (default)", "loss ratio",
                                                               "share (loss)"], hist_rows,
                {"default ratio": PCT, "loss ratio": PCT, "share (default)": "0.0000%", "share (loss)": "0.0000%"})
    first_h, last_h = top + 2, top + 1 + counts_d.size
    mk = float(max(counts_d.max(), 1) / mc.n_paths) * 0.5
    sub = tg[tg.tranche == first.tranche]
    mtop = r
    r = s.table(mtop, 1, f"TRDR markers ({first.tranche})", ["rating", "TRDR", "marker height"],
                [(rt, v, mk) for rt, v in zip(sub.rating, sub.trdr)], {"TRDR": PCT})
    ch = Chart("scatter", "Pool default and loss ratio distribution, TRDR per rating", "N3", (1, first_h, last_h),
               [Series(2, top + 1, first_h, last_h)], x_title="ratio of initial pool principal",
               y_title="share of paths", width_cm=22, height_cm=10)
    ch.y_format = "0%"
    ch.extra_series = [((3, first_h, last_h), (4, first_h, last_h), "loss ratio", "line"),
                       ((2, mtop + 2, mtop + 1 + len(sub)), (3, mtop + 2, mtop + 1 + len(sub)), "TRDR by rating")]
    s.charts.append(ch)
    # obligor inputs (§4.1–4.3)
    inp = res.inputs
    ob_rows = [(o.id, o.shadow_rating, o.industry, o.region, o.balance, float(inp.pd[i, int(inp.maturity[i]) - 1]),
                float(inp.multipliers[i]), float(inp.recovery[i]), int(inp.recovery_lag[i]))
               for i, o in enumerate(deal.obligors)]
    s.table(r, 1, "Obligor model inputs: PD to maturity (after concentration multipliers), recovery and lag",
            ["id", "shadow rating", "industry", "region", "balance", "PD to maturity", "concentration multiplier",
             "recovery", "recovery lag (months)"], ob_rows,
            {"balance": MONEY, "PD to maturity": PCT4, "recovery": PCT, "concentration multiplier": "0.00"})
    s.widths.update({"A": 34})
    return s


def stress_sheet(res, deal) -> SheetOut:
    s = SheetOut("Stress")
    s.title(f"{deal.name}: cash-flow stress test, BDR vs TRDR (METHODOLOGY 6)")
    st = res.stress
    fm = {"BDR": PCT, "TRDR": PCT, "protection distance": PCT, "relative distance": "0.00%",
          APPLIED: PCT}
    r = 3
    r = bdr_vs_target(s, r, st, res.ratings, "TRDR")
    s.table(r, 1, "Every tranche x scenario (BDR by grid scan + bisection to 1e-4)",
            ["tranche", "rating", "scenario", "BDR", "TRDR", "protection distance", "relative distance", "passes",
             "search result", "evaluations", APPLIED],
            st[["tranche", "rating", "scenario", "bdr", "tdr", "protection", "relative_protection", "passes", "state",
                "evaluations", "applied_cdr"]].itertuples(index=False), fm)
    return s


def key_obligor_sheet(res, deal) -> SheetOut:
    s = SheetOut("KeyObligor")
    s.title(f"{deal.name}: key-obligor default test (METHODOLOGY 4.7)")
    kd = res.key_obligor
    rows = []
    for r in kd[["tranche", "rating", "k", "obligors", "default_amount", "loss", "loss_ratio", "credit_enhancement",
                 "passes"]].itertuples(index=False) if len(kd) else []:
        r = list(r)
        if not r[3]:
            r[3] = f"none: no obligor is rated below {r[1]}"
        rows.append(r)
    s.table(3, 1, "Per tranche and target rating: the k largest obligors rated below the target default together",
            ["tranche", "target rating", "k", "obligors assumed to default", "defaulted amount", "loss", "loss ratio",
             "credit enhancement", "passes"], rows,
            {"defaulted amount": MONEY, "loss": MONEY, "loss ratio": PCT, "credit enhancement": PCT})
    s.widths.update({"D": 40})
    return s


