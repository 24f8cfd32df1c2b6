"""The consumer-deal sheet schema, declared once (README "Sheet schema").

The same declarations drive validation (every rule below is checked and
reported as ``Sheet!Cell: rule``), the sample-workbook generator and the
schema table in README.  Values are fractions, never percents: a workbook
may *display* ``5.0%`` but the cell must hold 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..engine.ratings import canonical, is_rating
from ..engine.timing import SHAPES
from ..model.consumer import AMORTISATION_TYPES
from ..model.waterfall import INTEREST_RULES
from .blocks import EXCEL_ERRORS, Uncalculated


@dataclass(frozen=True)
class Col:
    """A column (or a key of a key/value block).

    kind: ``text``, ``number`` (>= 0 unless ``lo`` says), ``fraction`` (in
    [0, 1]), ``int``, ``bool`` (yes/no, true/false, 1/0), ``rating``,
    ``choice`` (one of ``choices``).
    """

    name: str
    kind: str
    required: bool = True
    default: object = None
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    doc: str = ""
    required_when: str = ""     # a column optional in general but required on some rows (the schema table says when)


@dataclass(frozen=True)
class BlockSpec:
    sheet: str
    title: str
    columns: tuple
    keyvalue: bool = False      # rows are key | value | note
    required: bool = True
    doc: str = ""


YES = {"yes", "y", "true", "1", "是"}
NO = {"no", "n", "false", "0", "否"}


def convert(col: Col, v):
    """Convert one cell value by ``col``; return ``(value, rule_broken_or_None)``."""
    if isinstance(v, Uncalculated):
        return None, ("the formula has no stored value (the file was saved by a program that does not "
                      "calculate): open and save it in Excel or LibreOffice, or type the value")
    if v is None or (isinstance(v, str) and not v.strip()):
        if col.required and col.default is None:
            return None, "required value is blank"
        return col.default, None
    if isinstance(v, str) and v.strip().upper() in EXCEL_ERRORS:
        return None, "the cell holds an Excel error value"
    k = col.kind
    if k == "text":
        return str(v).strip(), None
    if k == "bool":
        s = str(v).strip().lower()
        if isinstance(v, bool):
            return v, None
        if s in YES:
            return True, None
        if s in NO:
            return False, None
        return None, "must be yes or no"
    if k == "rating":
        if is_rating(str(v)):
            return canonical(str(v)), None
        return None, "unknown rating symbol (AAAsf ... Csf; 'sf' may be omitted)"
    if k == "choice":
        s = str(v).strip().lower()
        if s in col.choices:
            return s, None
        return None, f"must be one of: {', '.join(col.choices)}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if isinstance(v, str) and v.strip().endswith("%"):
            return None, "must be a number stored as a fraction (0.05), not the text '5%'"
        return None, "must be a number"
    x = float(v)
    if not math.isfinite(x):
        return None, "must be a finite number"
    if k == "fraction" and not (0.0 <= x <= 1.0):
        return None, "must be a fraction in [0, 1] (0.05 means 5%)"
    if k == "int" and x != int(x):
        return None, "must be a whole number"
    if col.lo is not None and x < col.lo:
        return None, f"must be >= {col.lo:g}"
    if col.hi is not None and x > col.hi:
        return None, f"must be <= {col.hi:g}"
    if k == "number" and col.lo is None and x < 0:
        return None, "must be >= 0"
    return (int(x) if k == "int" else x), None


REVOLVING_COLS = (
    Col("revolving_periods", "int", default=0, lo=0, hi=600,
        doc="Revolving period: purchase_assets steps of a Waterfall sheet buy new assets in periods 1..N unless "
            "a trigger ends it; 0 = none."),
    Col("revolving_rate", "fraction", default=0.0, doc="Annual rate of the assets bought."),
    Col("revolving_term", "int", default=0, lo=0, hi=600, doc="Term of the assets bought, in payment periods."),
    Col("revolving_amortisation", "choice", default="level", choices=("level", "equal_principal", "bullet")),
    Col("revolving_price", "number", default=1.0, hi=10, doc="Cash paid per yuan of principal bought (1 = par)."),
)
"""Deal keys of a revolving period (METHODOLOGY §5.2), in both schemas."""

DEAL = BlockSpec("Deal", "Deal", keyvalue=True, doc="Deal terms, one key per row.", columns=(
    Col("deal_name", "text", doc="Name shown on every output sheet."),
    Col("deal_type", "choice", choices=("consumer",), doc="`consumer` for this schema."),
    Col("payment_frequency", "int", default=12, lo=1, hi=12, doc="Payments per year: 12 (monthly) is the only frequency supported."),
    Col("tax_rate", "fraction", default=0.0, doc="Tax on interest collections (e.g. VAT 0.0326)."),
    Col("reserve_initial", "number", default=0.0, doc="Liquidity reserve funded at closing (yuan)."),
    Col("reserve_multiple", "number", default=0.0, hi=12, doc="Reserve target = k x (next period fees + senior interest)."),
    Col("trigger_cdr", "fraction", required=False, doc="Acceleration when the cumulative default ratio exceeds this; blank = none."),
    Col("legal_final_months", "int", required=False, lo=1, hi=600, doc="Legal final maturity in periods; blank = pool life (with a revolving period: its end plus the term of the assets bought, if later) + recovery lag + 1."),
    Col("seed", "int", default=0, lo=0, hi=2**63 - 1, doc="Recorded with the run (the consumer path draws no random numbers)."),
    *REVOLVING_COLS,
))

TRANCHES = BlockSpec("Tranches", "Tranches", doc="One row per class, senior first.", columns=(
    Col("name", "text"),
    Col("balance", "number", lo=0.01, doc="Initial principal (yuan)."),
    Col("coupon", "fraction", default=0.0, doc="Annual coupon, fraction."),
    Col("rated", "bool", default=True, doc="Rate this tranche."),
    Col("timely_interest", "bool", default=True, doc="Interest shortfall is a default (else deferrable)."),
    Col("residual", "bool", default=False, doc="Takes the residual (last tranche only)."),
    Col("term_years", "number", required=False, lo=0.01, doc="Term for P_A; blank = legal final."),
    Col("interest", "choice", required=False, choices=INTEREST_RULES,
        doc="With a Waterfall sheet: the interest rule (§5.4); blank = timely_interest's."),
))

FEES = BlockSpec("Fees", "Fees", doc="Senior expenses, paid after taxes (the header row alone when there are none).", columns=(
    Col("name", "text", doc="Block required; no rows = no fees."),
    Col("basis", "choice", choices=("pool_balance", "fixed")),
    Col("rate", "fraction", default=0.0, doc="Annual rate on the performing pool balance (basis pool_balance)."),
    Col("amount", "number", default=0.0, doc="Per-period amount (basis fixed)."),
    Col("servicer", "bool", default=False,
        doc="With a Waterfall sheet: the fee that pays the replacement-servicer stress (servicer_fee_up)."),
))

POOL = BlockSpec("Pool", "Loan tape", doc="One row per loan.", columns=(
    Col("loan_id", "text"),
    Col("balance", "number", lo=0.01, doc="Current principal (yuan)."),
    Col("annual_rate", "fraction", doc="Annual interest rate."),
    Col("remaining_term", "int", lo=1, hi=600, doc="Remaining term in periods."),
    Col("amortisation", "choice", choices=AMORTISATION_TYPES),
))

STATIC_POOL_DOC = ("Block `Vintages`: columns `vintage`, `balance` (original principal), then `1`, `2`, ... "
                   "(month on book). Values are defaulted principal (yuan) or rates, cumulative or incremental, "
                   "as the Assumptions keys `static_pool_units` / `static_pool_form` say; blank = not yet observed.")

ASSUMPTIONS = BlockSpec("Assumptions", "Performance", keyvalue=True, doc="Base-case performance and method.", columns=(
    Col("cpr", "fraction", default=0.0, doc="Annual constant prepayment rate."),
    Col("recovery_rate", "fraction", default=0.0, doc="Recovery on defaulted principal."),
    Col("recovery_lag_months", "int", default=3, lo=0, hi=120, doc="Months from default to recovery."),
    Col("horizon_months", "int", required=False, lo=1, hi=600, doc="Static-pool horizon T; blank = pool life."),
    Col("cdr_floor", "fraction", required=False, doc="Explicit floor for zero vintage CDRs (shown in output)."),
    Col("weighting", "choice", default="balance", choices=("balance", "simple"), doc="Average-curve weighting."),
    Col("method", "choice", default="lognormal", choices=("lognormal", "multiple"), doc="TDR method (3.4 or 3.5)."),
    Col("static_pool_form", "choice", default="cumulative", choices=("cumulative", "incremental")),
    Col("static_pool_units", "choice", default="amount", choices=("amount", "rate")),
    Col("bdr_grid_step", "fraction", default=0.02, lo=0.002, hi=0.1, doc="BDR search: coarse CDR grid step (0.002-0.1); a failing window narrower than it, between two passing grid points, is not seen, so a smaller step is safer and slower."),
))

FIT_ADJUSTMENTS = BlockSpec("Assumptions", "Fit adjustments", required=False,
                            doc="Adverse-only adjustments of the lognormal fit (Pengyuan Table 1).", columns=(
    Col("factor", "text"),
    Col("mu_shift", "number", default=0.0, doc=">= 0, added to mu."),
    Col("sigma_multiplier", "number", default=1.0, lo=1.0, doc=">= 1, multiplies sigma."),
    Col("reason", "text"),
))

DEFAULT_RATES = BlockSpec("RatingTables", "Default rates", required=False,
                          doc="rating | 1 | 2 | ... (years): cumulative PD, fractions. Blank block = shipped table.",
                          columns=(Col("rating", "rating"),))

STRESS_SCENARIOS = BlockSpec("RatingTables", "Stress scenarios", required=False,
                             doc="One row per target rating and scenario. Blank block = shipped table.", columns=(
    Col("rating", "rating"),
    Col("scenario", "text"),
    Col("recovery_haircut", "fraction", default=0.0),
    Col("cpr_multiplier", "number", default=1.0),
    Col("coupon_up", "fraction", default=0.0),
    Col("timing", "choice", default="base", choices=SHAPES),
    Col("servicer_fee_up", "fraction", default=0.0),
    Col("recovery_lag_extra", "int", default=0, lo=0, hi=120),
))

STRESS_MULTIPLES = BlockSpec("RatingTables", "Stress multiples", required=False,
                             doc="rating | multiple (method = multiple).", columns=(
    Col("rating", "rating"),
    Col("multiple", "number", lo=1.0),
))

ADJUSTMENTS = BlockSpec("Adjustments", "Rating adjustments",
                        doc="Outside-the-model adjustments (METHODOLOGY 8); the header row alone when there are none.", columns=(
    Col("tranche", "text", doc="Tranche name or * for all."),
    Col("factor", "text"),
    Col("kind", "choice", choices=("notch", "cap", "support")),
    Col("value", "text", doc="Notches down, or a rating (cap / supporter)."),
    Col("reason", "text"),
    Col("coverage", "fraction", required=False, required_when="support rows",
        doc="Support only: fraction of the tranche's principal and interest guaranteed; only 1 (all) lifts the rating, "
            "a partial guarantee is recorded for the committee."),
))

CONSUMER_BLOCKS = (DEAL, TRANCHES, FEES, POOL, ASSUMPTIONS, FIT_ADJUSTMENTS, DEFAULT_RATES, STRESS_SCENARIOS,
                   STRESS_MULTIPLES, ADJUSTMENTS)
INPUT_SHEETS = ("Deal", "Tranches", "Fees", "Pool", "StaticPool", "Assumptions", "RatingTables", "Adjustments")
OUTPUT_SHEETS = ("TDR", "Stress", "Rating", "CashFlows", "Run")
WATERFALL_SHEETS = ("Waterfall", "Triggers")
"""Optional sheets of a consumer deal with its own waterfall (the corporate schema's blocks Waterfall,
Triggers and Schedules); without them the built-in Pengyuan waterfall runs (METHODOLOGY §5.3)."""


def schema_markdown() -> str:
    """The schema as a Markdown table (for README)."""
    lines = ["| Sheet | Block | Column / key | Type | Required | Default | Meaning |",
             "|---|---|---|---|---|---|---|"]
    for b in CONSUMER_BLOCKS:
        for c in b.columns:
            kind = c.kind + (f" ({'/'.join(c.choices)})" if c.choices else "")
            req = c.required_when or ("yes" if c.required and c.default is None else "no")
            lines.append(f"| {b.sheet} | {b.title} | `{c.name}` | {kind} | {req} | "
                         f"{'' if c.default is None else c.default} | {c.doc} |")
    lines.append(f"| StaticPool | Vintages | `vintage`, `balance`, `1`..`N` | numbers | yes | | {STATIC_POOL_DOC} |")
    return "\n".join(lines)
