"""Read and validate a corporate-deal workbook into a :class:`~xlabs.model.corporate.CorporateDeal`.

Every problem is reported with its ``Sheet!Cell`` and rule, all at once:
cell types and ranges, unknown rating symbols, an industry / guarantee type
/ collateral type / seniority / servicer level missing from its rating
table, a guaranteed asset without a guarantor rating, and the waterfall's
own rules (payees that do not exist, transfer cycles, steps without a
source ...) mapped from ``Waterfall row N`` to the row's cell.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from importlib import resources

from ..engine.portfolio.inputs import TABLE_FILES, Obligor, PortfolioTables, band_problems
from ..engine.portfolio.key_obligor import shipped_key_obligor_table
from ..engine.portfolio.tables import read_rows
from ..engine.ratings import SCALE, notch
from ..engine.waterfall.compile import validate as validate_waterfall
from ..errors import Problem, ProblemList, ValidationError
from ..model import RatingAdjustment
from ..model import waterfall as wm
from ..model.corporate import FREQUENCIES, CorporateDeal
from . import corporate_schema as C
from .blocks import cell_ref, norm_header, read_blocks
from .reader import (
    _block,
    check_adjustment_values,
    check_layout,
    check_support_coverage,
    duplicate_key_problems,
    fee_value_problems,
    kv_ref,
    read_default_table,
    read_keyvalue,
    read_table,
    schema_titles,
    tranche_total_problem,
)

SCENARIO_FILE = "corporate_stress_scenarios.csv"


def shipped_corporate_scenarios() -> list:
    """The shipped corporate stress-scenario table as ``Scenario`` objects."""
    text = resources.files("xlabs.data").joinpath(SCENARIO_FILE).read_text(encoding="utf-8")
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    return [_scenario(r) for r in csv.DictReader(io.StringIO(body))]


_SCENARIO_DEFAULTS = {"scenario": "", "rating": "AAAsf", "recovery_haircut": 0.0, "cpr_multiplier": 1.0,
                      "coupon_up": 0.0, "timing": "base", "servicer_fee_up": 0.0, "recovery_lag_extra": 0,
                      "benchmark_up": 0.0}


def _scenario(r) -> wm.Scenario:
    """A stress-scenario row as a ``Scenario``; a bad cell (None, reported already) reads as its default so
    the other rules still run and the problem list is raised instead of a TypeError."""
    r = {k: (_SCENARIO_DEFAULTS[k] if r.get(k) is None else r[k]) for k in _SCENARIO_DEFAULTS}
    return wm.Scenario(name=str(r["scenario"]), rating=SCALE[notch(str(r["rating"]))],
                       recovery_haircut=float(r["recovery_haircut"]), cpr_multiplier=float(r["cpr_multiplier"]),
                       coupon_up=float(r["coupon_up"]), timing=str(r["timing"]),
                       servicer_fee_up=float(r["servicer_fee_up"]),
                       recovery_lag_extra=int(float(r["recovery_lag_extra"])), benchmark_up=float(r["benchmark_up"]))


TABLE_KEYS = {"industry_recovery": ("industry",), "rating_recovery": ("rating",),
              "guarantee_type": ("guarantee_type",), "collateral": ("collateral_type",),
              "recovery_adjustment": ("kind", "level")}
"""The key columns of each portfolio lookup table (one row per key; §4.2); the concentration bands and the
correlation parameters have their own rules."""

CORRELATION_PARAMETERS = ("base", "same_industry", "same_region", "same_group", "cap")
"""Rows of the RatingTables 'Correlation' block (§4.4); ``cap`` is optional (0.99)."""


def correlation_problems(rows, b, probs: ProblemList) -> None:
    """The correlation block (§4.4): every parameter known and given once, the four add-ons present and
    each in [0, 1), the cap in (0, 1).  A misspelt parameter would otherwise be ignored (``cap``) or end
    the run with a KeyError (the add-ons)."""
    def at(row, col):
        return cell_ref(b.sheet, row, col) if b is not None else "RatingTables 'Correlation'"
    seen = {}
    for row, r in rows:
        name, value = r["parameter"], r["value"]
        if name is None:
            continue
        name = str(name).strip()
        if name not in CORRELATION_PARAMETERS:
            probs.add(at(row, 1), f"unknown correlation parameter (expected one of: "
                      f"{', '.join(CORRELATION_PARAMETERS)})", name)
            continue
        if name in seen:
            probs.add(at(row, 1), "correlation parameter listed twice", name)
        seen[name] = row
        if value is None:
            continue
        if name == "cap" and not 0 < value < 1:
            probs.add(at(row, 2), "cap must be in (0, 1)", value)
        elif name != "cap" and not 0 <= value < 1:
            probs.add(at(row, 2), f"{name} must be a fraction in [0, 1) (a correlation of 1 is not a factor model)",
                      value)
    missing = [k for k in CORRELATION_PARAMETERS[:4] if k not in seen]
    if rows and missing:
        probs.add(at(b.header_row, 1) if b is not None else at(0, 1),
                  f"the correlation table needs a row for each of: {', '.join(missing)}", ", ".join(missing))


def _schedules(blocks, probs: ProblemList) -> dict:
    """Optional block 'Schedules' on the Triggers sheet: name | 1 | 2 | ... (per-period values)."""
    b = blocks.get("Triggers", {}).get("schedules")
    out = {}
    if b is None:
        return out
    cols = sorted(b.headers)[1:]
    first = sorted(b.headers)[0] if b.headers else 1
    for pos in cols:
        h, k = b.raw_headers[pos], pos - first       # the period this column holds (a blank header is a gap,
        if h not in (str(k), f"{k}.0"):               # reported by the layout check)
            probs.add(cell_ref(b.sheet, b.header_row, pos), f"schedule period headers must be 1, 2, 3, ... "
                      f"in order: expected {k} here", h)
            break
    for i in range(len(b.rows)):
        name = b.value(i, 1)
        if str(name).strip() in out:        # one row per name: a second would silently replace the first
            probs.add(b.ref(i, 1), "schedule name appears twice (a step, trigger or benchmark_schedule naming it "
                      "would read only the later row)", name)
            continue
        vals = []
        for pos in cols:
            v = b.value(i, pos)
            if v is None:
                break
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                probs.add(b.ref(i, pos), "schedule values must be numbers (fractions)", v)
                break
            vals.append(float(v))
        out[str(name).strip()] = vals
    return out


_ROW = re.compile(r"^(Waterfall|Triggers|Tranches|Fees) row (\d+)$")
_CELL = re.compile(r"^(\w+)![A-Z]+(\d+)$")
_REVOLVING_KEYS = {"end_period": "revolving_periods", "annual_rate": "revolving_rate", "term": "revolving_term",
                   "amortisation": "revolving_amortisation", "price": "revolving_price"}
"""Fields of ``Revolving`` -> their Deal keys (``schema.REVOLVING_COLS``)."""


_FIELD_WORDS = {"payee": "payees", "effect": "effects", "cap": "cap", "to": "to", "purchase_assets": "action"}


def _rule_column(b, rule: str) -> int:
    """The column a row rule is about: the block header named earliest in the rule's text ("payee is
    not a tranche" -> payees, "level must be ..." -> level); column A when none is named."""
    for w in re.findall(r"[a-z_]+", rule.lower()):
        c = b.column(_FIELD_WORDS.get(w, w))
        if c is not None:
            return c
    return 1


def _map_rows(problems, blocks) -> list:
    """``Waterfall row N`` -> ``Waterfall!A<sheet row>`` using the block's header row."""
    out = []
    titles = {"Waterfall": "waterfall", "Triggers": "triggers", "Tranches": "tranches", "Fees": "fees"}
    for p in problems:
        m = _ROW.match(p.where)
        if m:
            b = blocks.get(m.group(1), {}).get(titles[m.group(1)])
            if b is not None:
                k = int(m.group(2)) - 1
                row = b.row_numbers[k] if k < len(b.row_numbers) else b.header_row + k + 1
                out.append(Problem(cell_ref(m.group(1), row, _rule_column(b, p.rule)), p.rule, p.value))
                continue
        out.append(p)
    return out


def read_steps(step_rows) -> list:
    """Waterfall rows (``read_table`` of :data:`~.corporate_schema.WATERFALL`) as ``Step`` objects; a bad
    cell (None, reported already) reads as "" so the other rules still run on its row."""
    return [wm.Step(r["source"] or "", r["action"], r["payees"] or "", r["amount"], r["cap"] or 0.0,
                    r["schedule"] or "", r["to"] or "", r["condition"], r["trigger"] or "") for _, r in step_rows]


def read_triggers(trig_rows) -> list:
    """Triggers rows as ``Trigger`` objects (a bad cell as in :func:`read_steps`)."""
    return [wm.Trigger(r["name"], r["test"], r["level"] or 0.0, r["schedule"] or "", r["effects"],
                       1 if r["curable"] else 0) for _, r in trig_rows]


def trigger_level_problems(trig_rows, b, probs: ProblemList, schedules=None) -> None:
    """A trigger whose test compares with a level needs the level or a schedule: a blank level would read
    as 0 (a cumulative-default trigger firing at the first default).  A level cell already reported (text,
    a negative number ...) reads as None: saying the level is missing as well would only echo it."""
    reported = {p.where for p in probs.problems}
    for row, r in trig_rows:
        at = cell_ref(b.sheet, row, b.column("level") or 1) if b is not None else "Triggers"
        if at in reported:
            continue
        if r["level"] is None and not str(r["schedule"] or "").strip() and r["test"] not in (
                None, "senior_interest_shortfall"):
            probs.add(at, f"level: a {r['test']} trigger needs a level or a schedule")
        elif r["level"] is not None and r["test"] == "senior_interest_shortfall":
            probs.add(at, "level: a senior_interest_shortfall trigger has no level (it would be ignored; leave "
                      "it blank)", r["level"])
        elif r["level"] is not None and r["test"] in ("cdr_above", "excess_spread_below") and \
                str(r["schedule"] or "").strip() in (schedules or {}):
            probs.add(at, f"level: the trigger compares with its schedule '{str(r['schedule']).strip()}', so the "
                      "level would be ignored (leave it blank, or clear the schedule)", r["level"])


def step_cap_problems(step_rows, b, probs: ProblemList) -> None:
    """A cap is read only by a step whose amount is ``capped`` (§5.3): elsewhere it would be ignored."""
    for row, r in step_rows:
        if r["cap"] and r["amount"] not in (None, "capped"):
            probs.add(cell_ref(b.sheet, row, b.column("cap") or 1) if b is not None else "Waterfall",
                      f"cap: a step with amount '{r['amount']}' would ignore its cap (use amount capped, or leave "
                      "the cap blank)", r["cap"])


def revolving_key_problems(deal_kv, deal_block, probs: ProblemList) -> None:
    """The terms of the assets bought (``revolving_rate``, ``_term``, ``_amortisation``, ``_price``) are read
    only with a revolving period: given while ``revolving_periods`` is absent or blank they would be ignored
    (a forgotten key).  ``revolving_periods`` = 0 written out switches revolving off: the terms may stay."""
    if deal_block is None:
        return
    given = {norm_header(row[0] if row else None): deal_block.value(i, 2) for i, row in enumerate(deal_block.rows)}
    if given.get("revolving_periods") not in (None, ""):
        return
    known = {c.name for c in C.DEAL.columns} | {c.name for c in C.REVOLVING_COLS}
    if any(k not in known and difflib.get_close_matches(k, ["revolving_periods"], n=1, cutoff=0.8)
           for k in given if k):
        return      # revolving_periods misspelt: its 'unknown key' problem says it (checked_revolving does the same)
    terms = [k for k in _REVOLVING_KEYS.values() if k != "revolving_periods" and given.get(k) not in (None, "")]
    if "revolving_periods" in given and terms:
        # the key is there with its value left blank: one problem, at the cell to fill
        probs.add(kv_ref(deal_block, "revolving_periods", "Deal"), f"revolving_periods is blank but {', '.join(terms)} "
                  "describe assets bought while revolving: give the number of revolving periods (0 = none)")
        return
    for i, row in enumerate(deal_block.rows):
        key = norm_header(row[0] if row else None)
        if key in _REVOLVING_KEYS.values() and key != "revolving_periods" and \
                deal_block.value(i, 2) not in (None, ""):
            probs.add(deal_block.ref(i, 2), f"{key} describes the assets bought while revolving: it needs "
                      "revolving_periods (the number of revolving periods; 0 = none)", deal_block.value(i, 2))


def read_revolving(deal_kv) -> wm.Revolving | None:
    """The revolving period of the Deal keys (``schema.REVOLVING_COLS``); None when ``revolving_periods`` is 0."""
    if not deal_kv["revolving_periods"]:
        return None
    return wm.Revolving(end_period=deal_kv["revolving_periods"], annual_rate=deal_kv["revolving_rate"] or 0.0,
                        term=deal_kv["revolving_term"] or 0, amortisation=deal_kv["revolving_amortisation"],
                        price=deal_kv["revolving_price"] if deal_kv["revolving_price"] is not None else 1.0)


def schedule_ref(blocks, name: str, k: int | None = None) -> str:
    """Cell of value ``k`` (0-based; None: the name) of the Schedules row ``name`` on the Triggers sheet."""
    b = blocks.get("Triggers", {}).get("schedules")
    if b is None:
        return f"Schedules {name}"
    for i in range(len(b.rows)):
        if str(b.value(i, 1)).strip() == name:
            return b.ref(i, 1 if k is None else sorted(b.headers)[0] + 1 + k)
    return f"Schedules {name}"


def checked_revolving(revolving, deal_block, probs: ProblemList):
    """The revolving period to check the waterfall rules against: ``revolving``, or a stand-in one when
    the ``revolving_periods`` cell is already reported (a purchase step is then not refused as well)."""
    keys = {kv_ref(deal_block, k, "Deal") for k in _REVOLVING_KEYS.values()}
    bad = any(p.where in keys or (p.rule.startswith("unknown key") and "revolving" in str(p.value).lower())
              for p in probs.problems)
    if revolving is None and bad:
        return wm.Revolving(end_period=1, annual_rate=0.0, term=1)
    return revolving


def problem_rows(probs: ProblemList, blocks=None) -> set:
    """(sheet, row) of every problem addressed to a cell; a column missing from a block (a problem at its
    header row) marks every row of the block, whose cells then read as defaults."""
    out = {(m.group(1), int(m.group(2))) for m in (_CELL.match(p.where) for p in probs.problems) if m}
    for p in probs.problems:
        m = _CELL.match(p.where)
        if m and p.rule.startswith("column '") and blocks is not None:
            for b in blocks.get(m.group(1), {}).values():
                if b.header_row == int(m.group(2)):
                    out.update((m.group(1), r) for r in b.row_numbers)
    return out


def waterfall_problems(wf, blocks, deal_block, bad_rows, horizon_known: bool = True, bad_cells=frozenset()) -> list:
    """The waterfall rules (:func:`~xlabs.engine.waterfall.compile.validate`) on ``wf``, each addressed to
    its cell: a row of the Waterfall / Triggers / Tranches / Fees blocks, or the Deal key of a revolving
    term.  A rule broken on a row in ``bad_rows`` (a cell of it is already reported) is left out: it may
    only echo that cell."""
    # fees whose kind cell is bad (read as None): "payee is not of kind ..." at a step paying them only echoes it
    fb = blocks.get("Fees", {}).get("fees")
    suspect = set()
    if fb is not None and fb.column("kind"):
        suspect = {f.name for f, row in zip(wf.fees, fb.row_numbers)
                   if cell_ref("Fees", row, fb.column("kind")) in bad_cells}
    # no tranche read (the block missing or empty, each reported at the Tranches sheet by the reader): a tranche
    # payee, and the deal without tranches, only echo that
    # a trigger whose name cell is blank or bad (reported): a step naming the trigger meant is only an echo
    unnamed_trigger = any(not str(k.name or "").strip() for k in wf.triggers)
    found = []
    for p in _map_rows(validate_waterfall(wf).problems, blocks):
        if unnamed_trigger and p.rule.startswith("trigger named by condition"):
            continue
        if not horizon_known and p.rule.startswith("needs one value per period"):
            continue        # measured against a stand-in horizon (the real one is a bad cell, reported)
        if not wf.tranches and (p.rule.startswith("payee is not a tranche")
                                or p.rule == "a deal needs at least one tranche"):
            continue
        if p.rule.startswith("payee is not of kind") and p.value in suspect:
            continue
        if p.where.startswith("Schedules ") and wf.schedules.get(p.where[10:]) is not None:
            name, vals = p.where[10:], wf.schedules[p.where[10:]]
            if p.rule.startswith("needs one value per period"):
                k = len(vals)                                   # where the next value belongs
            else:
                k = next((i for i, x in enumerate(vals) if x == p.value), None)
            p = Problem(schedule_ref(blocks, name, k), f"schedule '{name}': {p.rule}", p.value)
        wb = blocks.get("Waterfall", {}).get("waterfall")
        if p.where == "Waterfall" and wb is not None:
            p = Problem(cell_ref("Waterfall", wb.header_row + 1, 1), p.rule, p.value)
        if p.where == "Revolving":      # the revolving terms are Deal keys in a workbook: named as such
            field, _, rest = p.rule.partition(" ")
            key = _REVOLVING_KEYS.get(field)
            if key:
                rule = f"{key} {rest}" + (" (the model horizon)" if field == "end_period" else "")
                p = Problem(kv_ref(deal_block, key, "Deal"), rule, p.value)
        if (m := _CELL.match(p.where)) and (m.group(1), int(m.group(2))) in bad_rows:
            continue        # a rule broken on a row that already has a bad cell may only echo that cell
        if p.where in bad_cells:
            continue        # a cell already reported (a blank level read as 0 ...): the rule would echo it
        found.append(Problem(p.where, p.rule.replace("(Revolving)", "(Deal: revolving_periods > 0)"), p.value))
    return found


def key_obligor_problems(ko_rows, b, probs: ProblemList) -> None:
    """The key-obligor table (§4.7): one row per target rating, and k never rising as the rating falls
    (a lower rating cannot assume more obligors defaulting than a higher one: its cap would otherwise
    pass at a rating above one where the tranche fails)."""
    seen: dict = {}
    rows = [(row, r) for row, r in ko_rows if r["target_rating"] is not None and r["k"] is not None]
    for row, r in rows:
        key = SCALE[notch(r["target_rating"])]
        if key in seen:
            probs.add(cell_ref(b.sheet, row, 1) if b else "RatingTables", "target rating listed twice", key)
        seen[key] = (row, r["k"])
    prev = None
    for key in sorted(seen, key=notch):
        row, k = seen[key]
        if prev is not None and k > prev[1]:
            at = cell_ref(b.sheet, row, b.column("k") or 2) if b else "RatingTables"
            probs.add(at, f"k must not rise as the target rating falls: {k} at {key}, {prev[1]} at {prev[0]}", k)
        prev = (key, k)


def read_corporate(book) -> CorporateDeal:
    """Read a corporate deal from a workbook adapter; raise every problem at once."""
    probs = ProblemList()
    blocks = {n: read_blocks(n, book.values(n), schema_titles(C.CORPORATE_BLOCKS, n))
              for n in book.sheet_names() if n in C.INPUT_SHEETS}
    check_layout(book, blocks, probs, C.CORPORATE_BLOCKS)
    deal_block = _block(blocks, C.DEAL, probs)
    deal_kv = read_keyvalue(deal_block, C.DEAL, probs)
    freq = deal_kv["payment_frequency"]
    if freq is not None and freq not in FREQUENCIES:
        probs.add(kv_ref(deal_block, "payment_frequency", "Deal"),
                  "payment_frequency must be 1, 2, 3, 4, 6 or 12 (a payment period of whole months)", freq)
    horizon_months = deal_kv["periods"] * 12 // freq if deal_kv["periods"] and freq in FREQUENCIES else None
    tr_rows = read_table(_block(blocks, C.TRANCHES, probs), C.TRANCHES, probs)
    fee_rows = read_table(_block(blocks, C.FEES, probs), C.FEES, probs)
    step_rows = read_table(_block(blocks, C.WATERFALL, probs), C.WATERFALL, probs)
    trig_rows = read_table(_block(blocks, C.TRIGGERS, probs), C.TRIGGERS, probs)
    ob_block = _block(blocks, C.OBLIGORS, probs)
    ob_rows = read_table(ob_block, C.OBLIGORS, probs)
    asm = read_keyvalue(_block(blocks, C.ASSUMPTIONS, probs), C.ASSUMPTIONS, probs)
    default_rates = read_default_table(_block(blocks, C.DEFAULT_RATES, probs), probs)
    table_rows = {}
    for key, spec in C.PORTFOLIO_TABLES.items():
        blk = _block(blocks, spec, probs)
        rows = read_table(blk, spec, probs)
        table_rows[key] = [r for _, r in rows] if rows else read_rows(TABLE_FILES[key])[0]
        if key == "correlation" and rows:
            correlation_problems(rows, blk, probs)
        if key in TABLE_KEYS:
            duplicate_key_problems(rows, blk, TABLE_KEYS[key], probs)
        if key == "concentration" and rows and all(None not in r.values() for _, r in rows):
            # every share must fall in exactly one band (§4.3): a gap would silently mean multiplier 1
            for k, msg, value in band_problems([(r["dimension"], r["lower"], r["upper"], r["multiplier"])
                                                for _, r in rows]):
                at = cell_ref(C.CONCENTRATION.sheet, rows[k][0], 1) if k is not None else \
                    f"{C.CONCENTRATION.sheet} '{C.CONCENTRATION.title}'"
                probs.add(at, msg, value)
    sc_rows = read_table(_block(blocks, C.STRESS_SCENARIOS, probs), C.STRESS_SCENARIOS, probs)
    ko_rows = read_table(_block(blocks, C.KEY_OBLIGORS, probs), C.KEY_OBLIGORS, probs)
    adj_rows = read_table(_block(blocks, C.ADJUSTMENTS, probs), C.ADJUSTMENTS, probs)
    schedules = _schedules(blocks, probs)
    # rows whose cells already have a problem: the waterfall rules are checked on every other row, so
    # that a blank cell in one row does not hide a wrong payee in another (every problem at once)
    bad_rows = problem_rows(probs, blocks)

    tables = None
    if not any(p.where.startswith("RatingTables") for p in probs.problems):
        try:
            tables = PortfolioTables.from_rows(table_rows, default_rates)
        except (KeyError, TypeError, ValueError) as e:
            probs.add("RatingTables", f"a portfolio table could not be read ({e})")

    # Obligors: cross-table rules, addressed to cells.
    obligors, guarantors = [], {}
    col = (lambda name: ob_block.column(name)) if ob_block is not None else (lambda name: 1)
    for row, r in ob_rows:
        def at(name, _row=row):
            return cell_ref("Obligors", _row, col(name) or 1)
        if tables is not None:
            if r["industry"] is not None and r["industry"] not in tables.industry_recovery:
                probs.add(at("industry"), "industry is not in the recovery table (RatingTables 'Industry recovery')",
                          r["industry"])
            for name, table, label in (("guarantee_type", tables.guarantee_factor, "Guarantee types"),
                                       ("collateral_type", tables.collateral, "Collateral"),
                                       ("seniority", tables.seniority, "Recovery adjustments"),
                                       ("servicer", tables.servicer, "Recovery adjustments")):
                if r[name] is not None and r[name] not in table:
                    probs.add(at(name), f"{name} is not in the RatingTables '{label}' table", r[name])
        guaranteed = r["guarantee_type"] not in (None, "none")
        if guaranteed and not r["guarantor_rating"]:
            probs.add(at("guarantor_rating"), "a guaranteed asset needs the guarantor's rating")
        if r["guarantor_rating"] and not guaranteed:
            probs.add(at("guarantee_type"), "a guarantor rating is given but the guarantee type is 'none'")
        if r["collateral_type"] not in (None, "none") and not (r["appraised_value"] or 0) > 0:
            probs.add(at("appraised_value"), "collateral needs an appraised value > 0")
        if r["remaining_term"] is not None and horizon_months and r["remaining_term"] > horizon_months:
            probs.add(at("remaining_term"), f"longer than the model horizon (Deal periods = {deal_kv['periods']} "
                      f"payments of {12 // freq} month(s) = {horizon_months} months)", r["remaining_term"])
        if None in (r["id"], r["balance"], r["remaining_term"], r["shadow_rating"]):
            continue
        obligors.append(Obligor(
            id=r["id"], balance=r["balance"], remaining_term=r["remaining_term"], shadow_rating=r["shadow_rating"],
            rate=r["rate"] or 0.0, amortisation=r["amortisation"], industry=r["industry"], region=r["region"],
            group=r["group"] or None, guarantor_rating=r["guarantor_rating"] or None,
            guarantee_type=r["guarantee_type"], collateral_type=r["collateral_type"],
            appraised_value=r["appraised_value"] or 0.0, seniority=r["seniority"], servicer=r["servicer"]))
        if r["guarantor"]:
            guarantors[r["id"]] = r["guarantor"]
    # the assets of one obligor (rows sharing an id) are one obligor with one default time (§4.5): one
    # shadow rating (§4.1) and one industry, region and group (its correlation, §4.4)
    first_row: dict = {}
    for row, r in ob_rows:
        if r["id"] is None:
            continue
        seen = first_row.setdefault(r["id"], (row, r))
        if seen[0] == row:
            continue
        for key in ("shadow_rating", "industry", "region", "group"):
            a, b = seen[1][key], r[key]
            if a is None or b is None:
                continue                                    # a bad cell, reported already
            if key == "shadow_rating":
                a, b = SCALE[notch(a)], SCALE[notch(b)]
            else:
                a, b = str(a).strip(), str(b).strip()
            if a != b:
                probs.add(cell_ref("Obligors", row, col(key) or 1),
                          f"obligor {r['id']} has {key} {a or '(blank)'} at row {seen[0]}: the assets of one obligor "
                          f"share its {key} (they default together)", r[key])
    if ob_block is not None and not ob_rows:
        probs.add(cell_ref("Obligors", ob_block.header_row + 1, 1), "no obligors")
    tr_block = blocks.get("Tranches", {}).get("tranches")
    if tr_block is not None and not tr_rows:
        probs.add(cell_ref("Tranches", tr_block.header_row + 1, 1), "no tranches")

    # a bad cell reads as None, reported above; 0 or "" stands in for it so the other rules still run
    tranches = [wm.TrancheSpec(r["name"], r["balance"] or 0.0, r["coupon_type"], r["coupon"] or 0.0, r["interest"],
                               r["legal_final"] or 0, 1 if r["rated"] else 0) for _, r in tr_rows]
    fees = [wm.FeeSpec(r["name"], r["basis"], r["rate"] or 0.0, r["amount"] or 0.0, r["kind"], r["tranche"] or "",
                       1 if r["servicer"] else 0) for _, r in fee_rows]
    fee_value_problems(blocks.get("Fees", {}).get("fees"), fee_rows, probs)
    steps, triggers = read_steps(step_rows), read_triggers(trig_rows)
    trigger_level_problems(trig_rows, blocks.get("Triggers", {}).get("triggers"), probs, schedules)
    step_cap_problems(step_rows, blocks.get("Waterfall", {}).get("waterfall"), probs)
    revolving_key_problems(deal_kv, deal_block, probs)
    scenarios = shipped_corporate_scenarios() if not sc_rows else [_scenario(r) for _, r in sc_rows]
    # §5.2: a stressed CPR above 100% cannot happen; the cash flows would silently cap it (as the consumer reader)
    if deal_kv["cpr"] is not None:
        scb = _block(blocks, C.STRESS_SCENARIOS, ProblemList())
        if sc_rows and scb is not None:
            for k, sc in enumerate(scenarios):
                if deal_kv["cpr"] * sc.cpr_multiplier > 1.0:
                    probs.add(cell_ref(C.STRESS_SCENARIOS.sheet, sc_rows[k][0], scb.column("cpr_multiplier") or 1),
                              f"the stressed CPR cpr x cpr_multiplier = {deal_kv['cpr']:g} x "
                              f"{sc.cpr_multiplier:g} exceeds 100%", sc.cpr_multiplier)
        else:       # the shipped table: one problem, at the cpr cell (the only cell of the workbook to fix)
            top = max((sc.cpr_multiplier for sc in scenarios), default=1.0)
            if deal_kv["cpr"] * top > 1.0:
                probs.add(kv_ref(deal_block, "cpr", "Deal"), f"the stressed CPR cpr x cpr_multiplier = "
                          f"{deal_kv['cpr']:g} x {top:g} (the shipped stress table's largest multiplier) exceeds "
                          "100%", deal_kv["cpr"])
    if any(sc.servicer_fee_up > 0 for sc in scenarios) and not any(f.servicer for f in fees):
        fb = blocks.get("Fees", {}).get("fees")
        probs.add(cell_ref("Fees", fb.header_row, fb.column("servicer") or 1) if fb is not None else "Fees",
                  "the stress scenarios raise the servicer fee (servicer_fee_up) but no fee is marked servicer: "
                  "mark the servicing fee (servicer = yes), or add one with rate 0 and a pay_fee step for it")
    key_obligors = shipped_key_obligor_table() if not ko_rows else {r["target_rating"]: r["k"] for _, r in ko_rows}
    key_obligor_problems(ko_rows, blocks.get(C.KEY_OBLIGORS.sheet, {}).get("key_obligors"), probs)
    adjustments = [RatingAdjustment(r["tranche"], r["factor"], r["kind"], r["value"], r["reason"], r["coverage"]) for _, r in adj_rows]
    names = {t.name for t in tranches}
    ab = blocks.get("Adjustments", {}).get("rating_adjustments")
    check_support_coverage(adj_rows, ab, probs)
    check_adjustment_values(adj_rows, ab, probs)
    for row, r in adj_rows:
        if r["tranche"] not in (None, "*") and r["tranche"] not in names and tr_rows:
            probs.add(cell_ref("Adjustments", row, ab.column("tranche") or 1), "tranche is not in the Tranches sheet",
                      r["tranche"])
    if tranches and obligors and len(obligors) == len(ob_rows):
        pool = sum(o.balance for o in obligors)
        total = sum(t.balance for t in tranches)
        if total > pool * (1 + 1e-9):
            tranche_total_problem(blocks, C.TRANCHES, tr_rows, total, pool, probs)
    revolving = read_revolving(deal_kv)
    benchmark = None
    bname = str(deal_kv["benchmark_schedule"] or "").strip()
    if bname:
        if bname not in schedules:
            probs.add(kv_ref(deal_block, "benchmark_schedule", "Deal"),
                      "no Schedules row of that name (Triggers sheet, block 'Schedules')", bname)
        else:
            benchmark = schedules[bname]       # its length is checked with every schedule's (waterfall rules)
            bad = [k for k, x in enumerate(benchmark) if not 0 <= x < 1]
            if bad:
                x = benchmark[bad[0]]
                probs.add(schedule_ref(blocks, bname, bad[0]), "a benchmark rate must be an annual fraction in "
                          "[0, 1)" + (" (0.025 for 2.5%)" if x >= 1 else ""), x)
    if steps or blocks.get("Waterfall", {}).get("waterfall") is not None:    # a missing block is reported as such
        H = deal_kv["periods"] or 600      # a bad periods cell (reported): no rule fires against a made-up horizon
        wf = wm.WaterfallDeal(name=deal_kv["deal_name"] or "", periods=H, tranches=tranches, steps=steps, fees=fees,
                              triggers=triggers, schedules=schedules, pool_balance=1.0, pool_amort=[0.0] * H,
                              pool_yield=[0.0] * H, timing=[1.0 / H] * H,
                              benchmark=[deal_kv["benchmark_rate"] or 0.0] * H,
                              frequency=freq if freq in FREQUENCIES else 12,
                              revolving=checked_revolving(revolving, deal_block, probs))
        probs.extend(waterfall_problems(wf, blocks, deal_block, bad_rows, horizon_known=bool(deal_kv["periods"]),
                                        bad_cells={p.where for p in probs.problems}))
        if revolving is not None and deal_kv["periods"] and deal_kv["revolving_term"] and \
                revolving.end_period + revolving.term > deal_kv["periods"]:
            probs.add(kv_ref(deal_block, "revolving_term", "Deal"), f"assets bought in the last revolving period "
                      f"({revolving.end_period}) mature in period {revolving.end_period + revolving.term}, after the "
                      f"model horizon (periods = {deal_kv['periods']}): lengthen the horizon or shorten the term",
                      revolving.term)
    probs.raise_if_any()
    return CorporateDeal(
        name=deal_kv["deal_name"], periods=deal_kv["periods"], obligors=obligors, tables=tables, tranches=tranches,
        steps=steps, fees=fees, triggers=triggers, schedules=schedules, scenarios=scenarios,
        key_obligors=key_obligors, rating_adjustments=adjustments, guarantors=guarantors,
        frequency=deal_kv["payment_frequency"], benchmark_rate=deal_kv["benchmark_rate"] or 0.0,
        reserve_initial=deal_kv["reserve_initial"] or 0.0, reserve_multiple=deal_kv["reserve_multiple"] or 0.0,
        reserve_floor=deal_kv["reserve_floor"] or 0.0, cpr=deal_kv["cpr"] or 0.0,
        benchmark=benchmark[:deal_kv["periods"]] if benchmark is not None else None, benchmark_name=bname,
        revolving=revolving,
        n_paths=asm["n_paths"],
        seed=asm["seed"], bdr_grid_step=asm["bdr_grid_step"],
        **({"scenario_source": f"workbook RatingTables block '{C.STRESS_SCENARIOS.title}'"}
           if sc_rows else {}),
        **({"key_obligor_source": f"workbook RatingTables block '{C.KEY_OBLIGORS.title}'"}
           if ko_rows else {}))


def deal_type(book) -> str:
    """``consumer`` or ``corporate`` from Deal!deal_type (default consumer); any other value is
    refused at its cell (read with the wrong schema it would give a page of unrelated problems)."""
    if "Deal" not in book.sheet_names():
        return "consumer"
    for i, row in enumerate(book.values("Deal")):
        if row and str(row[0] or "").strip().lower() == "deal_type" and len(row) > 1:
            v = str(row[1] or "").strip().lower() or "consumer"
            if v not in ("consumer", "corporate"):
                raise ValidationError([Problem(cell_ref("Deal", i + 1, 2), "deal_type must be consumer or corporate",
                                               row[1])])
            return v
    return "consumer"


