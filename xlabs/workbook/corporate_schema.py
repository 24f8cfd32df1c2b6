"""The corporate-deal (CLO) sheet schema (README "Sheet schema (corporate deal)").

Sheets: Deal, Tranches, Fees, Waterfall, Triggers, Obligors, Assumptions,
RatingTables (default-rate, recovery, concentration, correlation,
stress-scenario and key-obligor tables), Adjustments.  The Waterfall,
Triggers, Tranches and Fees columns are the fields of
:mod:`xlabs.model.waterfall`; the rating-table blocks have the columns of the
shipped ``xlabs/data/corporate_*.csv`` files.
"""

from __future__ import annotations

from ..engine.timing import SHAPES
from ..model import waterfall as wm
from .schema import ADJUSTMENTS, DEFAULT_RATES, REVOLVING_COLS, BlockSpec, Col

DEAL = BlockSpec("Deal", "Deal", keyvalue=True, doc="Deal terms, one key per row.", columns=(
    Col("deal_name", "text"),
    Col("deal_type", "choice", choices=("corporate",), doc="`corporate` for this schema."),
    Col("payment_frequency", "int", default=12, lo=1, hi=12, doc="Payments per year: 1, 2, 3, 4, 6 or 12 (12 = monthly)."),
    Col("periods", "int", lo=1, hi=600, doc="Model horizon in payment periods (>= the longest asset, in months, and the legal final)."),
    Col("benchmark_rate", "fraction", default=0.0, doc="Annual floating benchmark (flat path)."),
    Col("benchmark_schedule", "text", required=False, default="",
        doc="Name of a Schedules row (Triggers sheet): the annual benchmark period by period; "
            "replaces benchmark_rate when given."),
    Col("reserve_initial", "number", default=0.0, doc="Reserve funded at closing (yuan)."),
    Col("reserve_multiple", "number", default=0.0, hi=12, doc="Reserve target = k x (next fees + senior interest)."),
    Col("reserve_floor", "number", default=0.0, doc="Reserve target floor (yuan)."),
    Col("cpr", "fraction", default=0.0, doc="Annual prepayment rate of the aggregated pool."),
    *REVOLVING_COLS,
))

TRANCHES = BlockSpec("Tranches", "Tranches", doc="One row per class, senior first.", columns=(
    Col("name", "text"),
    Col("balance", "number", lo=0.01),
    Col("coupon_type", "choice", default="fixed", choices=wm.COUPON_TYPES),
    Col("coupon", "fraction", default=0.0, doc="Fixed rate, or floating spread (annual)."),
    Col("interest", "choice", default="timely", choices=wm.INTEREST_RULES),
    Col("legal_final", "int", default=0, lo=0, hi=600, doc="Period; 0 = the horizon."),
    Col("rated", "bool", default=True),
))

FEES = BlockSpec("Fees", "Fees", doc="Taxes and fees (the header row alone when there are none).", columns=(
    Col("name", "text"),
    Col("basis", "choice", choices=wm.FEE_BASES),
    Col("rate", "fraction", default=0.0, doc="Annual rate on the basis (interest_income: rate on the period's "
        "interest); blank for a fixed fee."),
    Col("amount", "number", default=0.0, doc="Per-period amount (basis fixed only)."),
    Col("kind", "choice", default="fee", choices=wm.FEE_KINDS),
    Col("tranche", "text", required=False, default="", doc="The tranche of a tranche_balance fee."),
    Col("servicer", "bool", default=False, doc="Raised by the replacement-servicer stress."),
))

WATERFALL = BlockSpec("Waterfall", "Waterfall", doc="Ordered steps, executed top to bottom each period.", columns=(
    Col("source", "choice", choices=wm.SOURCES),
    Col("action", "choice", choices=wm.ACTIONS),
    Col("payees", "text", required=False, default="", doc="`A`, `A+B` (pro rata) or `A>B` (sequence)."),
    Col("amount", "choice", default="due", choices=wm.AMOUNTS),
    Col("cap", "number", default=0.0),
    Col("schedule", "text", required=False, default=""),
    Col("to", "text", required=False, default="", doc="Transfer target account."),
    Col("condition", "choice", default="always", choices=wm.CONDITIONS),
    Col("trigger", "text", required=False, default=""),
))

TRIGGERS = BlockSpec("Triggers", "Triggers", doc="Tested each period before the waterfall (the header row alone when there are none).", columns=(
    Col("name", "text"),
    Col("test", "choice", choices=wm.TRIGGER_TESTS),
    Col("level", "number", required=False, lo=-1e12,
        doc="The test's level (blank only with a schedule, or for senior_interest_shortfall)."),
    Col("schedule", "text", required=False, default=""),
    Col("effects", "text", default="none", doc="`+`-joined: " + ", ".join(wm.TRIGGER_EFFECTS)),
    Col("curable", "bool", default=False),
))

OBLIGORS = BlockSpec("Obligors", "Obligors", doc="One row per asset (assets of one obligor share its id).", columns=(
    Col("id", "text"),
    Col("group", "text", required=False, default="", doc="Related-party group."),
    Col("balance", "number", lo=0.01),
    Col("rate", "fraction", default=0.0, doc="Annual rate."),
    Col("amortisation", "choice", default="bullet", choices=("level", "equal_principal", "bullet")),
    Col("remaining_term", "int", lo=1, hi=600, doc="Months."),
    Col("shadow_rating", "rating"),
    Col("industry", "text"),
    Col("region", "text"),
    Col("guarantor", "text", required=False, default=""),
    Col("guarantor_rating", "rating", required=False),
    Col("guarantee_type", "text", default="none"),
    Col("collateral_type", "text", default="none"),
    Col("appraised_value", "number", default=0.0),
    Col("seniority", "text", default="senior_unsecured"),
    Col("servicer", "text", default="average"),
))

ASSUMPTIONS = BlockSpec("Assumptions", "Simulation", keyvalue=True, doc="Monte Carlo settings.", columns=(
    Col("n_paths", "int", default=1_000_000, lo=1000, hi=20_000_000, doc="Monte Carlo paths (Lianhe: 1,000,000)."),
    Col("seed", "int", default=0, lo=0, hi=2**63 - 1, doc="Seed of the Monte Carlo (recorded on the Run sheet)."),
    Col("bdr_grid_step", "fraction", default=0.02, lo=0.002, hi=0.1, doc="BDR search: coarse CDR grid step (0.002-0.1); a failing window narrower than it, between two passing grid points, is not seen, so a smaller step is safer and slower."),
))

T = "RatingTables"
INDUSTRY_RECOVERY = BlockSpec(T, "Industry recovery", required=False, columns=(
    Col("industry", "text"), Col("base_recovery", "fraction")))
RATING_RECOVERY = BlockSpec(T, "Rating recovery", required=False, columns=(
    Col("rating", "rating"), Col("rating_adjustment", "number", lo=-1.0, hi=1.0),
    Col("guarantee_uplift", "fraction")))
GUARANTEE_TYPES = BlockSpec(T, "Guarantee types", required=False, columns=(
    Col("guarantee_type", "text"), Col("factor", "fraction")))
COLLATERAL = BlockSpec(T, "Collateral", required=False, columns=(
    Col("collateral_type", "text"), Col("haircut", "fraction"), Col("lag_months", "int", lo=0, hi=120)))
RECOVERY_ADJUSTMENTS = BlockSpec(T, "Recovery adjustments", required=False, columns=(
    Col("kind", "choice", choices=("seniority", "servicer")), Col("level", "text"),
    Col("adjustment", "number", lo=-1.0, hi=1.0)))
CONCENTRATION = BlockSpec(T, "Concentration", required=False, columns=(
    Col("dimension", "choice", choices=("obligor", "industry", "region")), Col("lower", "fraction"),
    Col("upper", "fraction"), Col("multiplier", "number", lo=0.0)))
CORRELATION = BlockSpec(T, "Correlation", required=False, columns=(
    Col("parameter", "text"), Col("value", "fraction")))
STRESS_SCENARIOS = BlockSpec(T, "Stress scenarios", required=False, columns=(
    Col("rating", "rating"), Col("scenario", "text"), Col("recovery_haircut", "fraction", default=0.0),
    Col("cpr_multiplier", "number", default=1.0), Col("coupon_up", "fraction", default=0.0),
    Col("timing", "choice", default="base", choices=SHAPES), Col("servicer_fee_up", "fraction", default=0.0),
    Col("recovery_lag_extra", "int", default=0, lo=0, hi=120, doc="Months (whole payment periods covering them in the cash flows)."), Col("benchmark_up", "fraction", default=0.0)))
KEY_OBLIGORS = BlockSpec(T, "Key obligors", required=False, columns=(
    Col("target_rating", "rating"), Col("k", "int", lo=0, hi=10_000)))

PORTFOLIO_TABLES = {
    "industry_recovery": INDUSTRY_RECOVERY, "rating_recovery": RATING_RECOVERY, "guarantee_type": GUARANTEE_TYPES,
    "collateral": COLLATERAL, "recovery_adjustment": RECOVERY_ADJUSTMENTS, "concentration": CONCENTRATION,
    "correlation": CORRELATION,
}
"""Workbook block for each table of :data:`xlabs.engine.portfolio.inputs.TABLE_FILES`."""

CORPORATE_BLOCKS = (DEAL, TRANCHES, FEES, WATERFALL, TRIGGERS, OBLIGORS, ASSUMPTIONS, DEFAULT_RATES,
                    *PORTFOLIO_TABLES.values(), STRESS_SCENARIOS, KEY_OBLIGORS, ADJUSTMENTS)
INPUT_SHEETS = ("Deal", "Tranches", "Fees", "Waterfall", "Triggers", "Obligors", "Assumptions", "RatingTables",
                "Adjustments")
OUTPUT_SHEETS = ("Portfolio", "Stress", "KeyObligor", "Rating", "CashFlows", "Run")


def schema_markdown() -> str:
    """The corporate schema as a Markdown table (for README)."""
    lines = ["| Sheet | Block | Column / key | Type | Required | Default |", "|---|---|---|---|---|---|"]
    for b in CORPORATE_BLOCKS:
        for c in b.columns:
            kind = c.kind + (f" ({'/'.join(c.choices)})" if c.choices else "")
            req = c.required_when or ("yes" if c.required and c.default is None else "no")
            lines.append(f"| {b.sheet} | {b.title} | `{c.name}` | {kind} | {req} | "
                         f"{'' if c.default in (None, '') else c.default} |")
    return "\n".join(lines)
