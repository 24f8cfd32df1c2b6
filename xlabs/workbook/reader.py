"""Read and validate a consumer-deal workbook into a :class:`~xlabs.model.ConsumerDeal`.

Every problem is collected with its ``Sheet!Cell`` and rule and raised
together as one :class:`~xlabs.errors.ValidationError`; nothing is guessed
(a percent typed as 5 where 0.05 is meant is an error, not a conversion).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ..engine.consumer import LEGAL_FINAL_RULE
from ..engine.default_table import DefaultRateTable
from ..engine.lognormal import zero_sigma
from ..engine.ratings import canonical, is_rating, notch
from ..engine.static_pool import VintageError, extrapolate_vintages
from ..engine.stress import shipped_scenarios, shipped_stress_multiples
from ..errors import Problem, ProblemList, ValidationError
from ..model import waterfall as wm
from ..model.consumer import (
    TAX_FEE,
    ConsumerDeal,
    DataWaterfall,
    Fee,
    FitAdjustment,
    LoanTape,
    PerformanceAssumptions,
    RatingAdjustment,
    StaticPool,
    StressScenario,
    Tranche,
    waterfall_fees,
    waterfall_tranches,
)
from . import schema as S
from .blocks import Block, Uncalculated, _blank, cell_ref, layout_problems, norm_header, read_blocks


@dataclass
class CellIndex:
    """Where things came from, to address engine-level problems."""

    vintage_rows: list = field(default_factory=list)     # sheet row of each vintage
    vintage_first_col: int = 3                           # column of month 1
    tranche_rows: dict = field(default_factory=dict)     # name -> sheet row


def sheet_values(book, name):
    """All cell values of a sheet as row lists (via the adapter)."""
    return book.values(name)


def misspelt_title(key: str, titles, loose: bool = False) -> str | None:
    """The schema title (normalised) that the normalised block title ``key`` looks like a misspelling of.
    A misspelling changes a few letters, so its length is close ('Stres scenarios'); ``loose`` drops that
    test (a title with words added: 'Waterfall notes', or a renamed 'Default rate table')."""
    key = unicodedata.normalize("NFKC", key).lower()        # full-width letters typed with a Chinese IME
    near = difflib.get_close_matches(
        key, sorted(t for t in titles if loose or abs(len(t) - len(key)) <= max(2, len(t) // 5)), n=1, cutoff=0.75)
    return near[0] if near else None


def _block(blocks_by_sheet, spec: S.BlockSpec, probs: ProblemList) -> Block | None:
    blocks = blocks_by_sheet.get(spec.sheet)
    if blocks is None:
        if spec.required:
            probs.add(spec.sheet, "sheet is missing")
        return None
    key = norm_header(spec.title)
    b = blocks.get(key)
    # a block under a title the sheet does not have (misspelt, an error value ...) is reported at its cell
    # (check_layout): not again as a missing block
    if b is None and spec.required and not any(p.where.startswith(f"{spec.sheet}!") and
                                               p.rule.startswith("unknown block title") for p in probs.problems):
        probs.add(spec.sheet, f"block '{spec.title}' is missing (a title cell in column A, then a header row)")
    return b


def read_keyvalue(b: Block | None, spec: S.BlockSpec, probs: ProblemList) -> dict:
    """Key/value block -> {key: converted value}; unknown keys and bad values reported."""
    out = {c.name: c.default for c in spec.columns}
    if b is None:
        for c in spec.columns:
            if c.required and c.default is None:
                probs.add(spec.sheet, f"key '{c.name}' is missing")
        return out
    cols = {c.name: c for c in spec.columns}
    seen = set()
    for i, row in enumerate(b.rows):
        key = norm_header(row[0] if row else None)
        if not key:
            if not _blank(b.value(i, 2)):
                probs.add(b.ref(i, 1), "a value without its key: write the key in column A", b.value(i, 2))
            continue
        if key not in cols:
            probs.add(b.ref(i, 1), f"unknown key (expected one of: {', '.join(cols)})", row[0])
            continue
        if key in seen:
            probs.add(b.ref(i, 1), "key appears twice", row[0])
        seen.add(key)
        v, err = S.convert(cols[key], b.value(i, 2))
        if err:
            probs.add(b.ref(i, 2), f"{key}: {err}", b.value(i, 2))
        else:
            out[key] = v
    for c in spec.columns:
        if c.name not in seen and c.required and c.default is None:
            probs.add(cell_ref(b.sheet, b.header_row, 1), f"key '{c.name}' is missing from block '{b.title}'")
    return out


def schema_titles(specs, sheet: str) -> set:
    """The normalised block titles of ``specs`` on ``sheet`` (with the static pool's and the trigger
    schedules' blocks, which have no spec): titles that may have notes beside them."""
    extra = {"StaticPool": {"vintages"}, "Triggers": {"schedules"}}.get(sheet, set())
    return {norm_header(sp.title) for sp in specs if sp.sheet == sheet} | extra


def check_layout(book, blocks_by_sheet: dict, probs: ProblemList, specs=()) -> None:
    """Report data a table would silently drop or change on every input sheet: rows below the blank
    row that ended a table, duplicated headers, merged cells in a table (:func:`.blocks.layout_problems`).
    ``specs``: the schema's block specs (their key/value blocks' keys tell a dropped key from a note).
    Merges are known for files (openpyxl); a live Excel session reports the others."""
    merged = getattr(book, "merged", None)
    for name, blocks in blocks_by_sheet.items():
        keys = {norm_header(sp.title): ("kv", {c.name for c in sp.columns}, _value_fits(sp)) if sp.keyvalue else
                ("table", [c.name for c in sp.columns if c.required and c.default is None])
                for sp in specs if sp.sheet == name}
        titled = block_title_problems(name, sheet_values(book, name), blocks, specs)
        # a header row without its title is the one problem of the rows under it (not also 'data below the
        # blank row is not read' for them)
        heads = {int(m.group(1)) for m in (re.match(rf"^{re.escape(name)}!A(\d+)$", w) for w, r, _ in titled
                                           if "without its title" in r) if m}
        for where, rule, value in layout_problems(name, sheet_values(book, name), blocks,
                                                  merged(name) if merged else (), keys):
            m = re.match(rf"^{re.escape(name)}!rows? (\d+)", where)
            if m and rule.startswith("data") and (int(m.group(1)) in heads or int(m.group(1)) - 1 in heads):
                continue
            probs.add(where, rule, value)
        for where, rule, value in titled:
            probs.add(where, rule, value)


def block_title_problems(name: str, values, blocks: dict, specs) -> list:
    """Tables of an input sheet that would not be read, as ``(where, rule, value)``:

    - a block whose title is a misspelling of one of the schema's titles for the sheet (a misspelt
      ``Stres scenarios`` would otherwise leave the workbook's table unread and the shipped one used);
      a title like none of them is the analyst's own note block (``Notes``), left alone;
    - outside every block, a header row of an optional schema block that is absent (its title row blank
      or deleted): rows above the first title are notes and rows below a table's blank row are not read,
      so its table would not be read either and the shipped table (or none) used.
    """
    titles = schema_titles(specs, name)
    if not titles:
        return []
    shown = ", ".join(f"'{sp.title}'" for sp in specs if sp.sheet == name) or ", ".join(sorted(titles))
    out = []
    for key, b in blocks.items():
        if " " in key or key in titles:
            continue                        # a second block of a title: reported by layout_problems
        near = misspelt_title(key, titles)
        if not near:
            # words added to a schema title: that block renamed if it keeps the block's header, else the
            # analyst's own note block ('Waterfall notes' over 'who | when'), left alone
            loose = misspelt_title(key, titles, loose=True)
            sp = next((sp for sp in specs if sp.sheet == name and norm_header(sp.title) == loose), None)
            if sp is None or b.headers.get(1) != ("key" if sp.keyvalue else sp.columns[0].name):
                continue
            near = loose
        hint = next((sp.title for sp in specs if norm_header(sp.title) == near), near)
        out.append((cell_ref(name, b.title_row, 1), f"unknown block title: this table is not read (expected on "
                    f"sheet {name}: {shown}); did you mean '{hint}'?", b.title))
    used = {r for b in blocks.values() for r in (b.title_row, b.header_row, *b.row_numbers)}
    # optional blocks only: a required one that is absent is refused as missing already
    absent = [sp for sp in specs if sp.sheet == name and not sp.required and norm_header(sp.title) not in blocks]
    for i, row in enumerate(values):
        cells = [norm_header(v) for v in row if not _blank(v)]
        if i + 1 in used or len(cells) < 2 or not row or _blank(row[0]):
            continue
        fits = [sp for sp in absent if cells[0] == ("key" if sp.keyvalue else sp.columns[0].name)]
        if not fits:
            continue
        # the block whose columns the row names most (numbers count for a table of terms, e.g. Default rates)
        best = max(fits, key=lambda sp: sum(c in {x.name for x in sp.columns} or
                                            (len(sp.columns) == 1 and c.replace(".", "", 1).isdigit())
                                            for c in cells))
        out.append((cell_ref(name, i + 1, 1), f"a header row of block '{best.title}' without its title: the table "
                    f"is not read; write '{best.title}' alone in column A of the row above",
                    row[0]))
        absent.remove(best)
    return out


def _value_fits(spec: S.BlockSpec):
    """``fits(key, value)``: whether ``value`` is of the type of ``spec``'s key (a number for a numeric key, one of
    the choices for a choice key, ...), out of range or not: tells a misspelt key from a note beside a similar
    name (:func:`.blocks.layout_problems`)."""
    cols = {c.name: c for c in spec.columns}

    def fits(key, value) -> bool:
        c = cols.get(key)
        if c is None or isinstance(value, Uncalculated):
            return True
        if c.kind in ("fraction", "number", "int"):
            return (isinstance(value, (int, float)) and not isinstance(value, bool)) or \
                (isinstance(value, str) and value.strip().endswith("%"))
        return S.convert(c, value)[1] is None
    return fits


def check_support_coverage(adj_rows, block: Block | None, probs: ProblemList) -> None:
    """Every ``support`` adjustment names its coverage (§8: support lifts only as far as the coverage
    allows), at the cell where it belongs (the column after the last when the column is absent)."""
    if block is None:
        return
    col = block.column("coverage") or (max(block.headers) + 1 if block.headers else 6)
    for row, r in adj_rows:
        if r["kind"] == "support" and not (r["coverage"] or 0) > 0:
            probs.add(cell_ref(block.sheet, row, col), "a support row needs its coverage: the fraction of the "
                      "tranche's principal and interest the supporter guarantees (1 = all; only 1 lifts the rating)")


def check_adjustment_values(adj_rows, block: Block | None, probs: ProblemList) -> None:
    """Each Adjustments value at its cell (§8): a whole number of notches down (>= 0) for ``notch``,
    a rating symbol for ``cap`` and ``support``.  Shared by the consumer and corporate readers, so
    a bad value is refused when the workbook is read, not after the models have run."""
    if block is None:
        return
    col = block.column("value") or 1
    for row, r in adj_rows:
        if r["kind"] == "notch":
            try:
                ok = float(r["value"]) == int(float(r["value"])) and float(r["value"]) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                probs.add(cell_ref(block.sheet, row, col), "notches must be a whole number >= 0", r["value"])
        elif r["kind"] in ("cap", "support") and not is_rating(str(r["value"])):
            probs.add(cell_ref(block.sheet, row, col), "unknown rating symbol", r["value"])


def fee_value_problems(b: Block | None, fee_rows: list, probs: ProblemList) -> None:
    """Each Fees row is one rate on its basis or one amount per period (§5.3), as the sheet's columns say.
    A value its basis does not use is reported at its cell: a rate on a ``fixed`` fee and a tranche on a fee
    that is not ``tranche_balance`` would be ignored; an amount on a rate fee would be ignored by the
    built-in consumer waterfall and added by the data waterfall."""
    if b is None:
        return
    for i, (_, r) in enumerate(fee_rows):
        basis = r.get("basis")
        if basis is None:
            continue                        # a bad basis is reported by its own cell
        checks = (("rate", basis == "fixed" and bool(r.get("rate")),
                   "a fixed fee pays its amount per period and would ignore a rate (leave it blank, or use a "
                   "rate basis)"),
                  ("amount", basis != "fixed" and bool(r.get("amount")),
                   f"a {basis} fee is charged at its rate; write an amount per period as a second fee with "
                   "basis fixed (one value per fee)"),
                  ("tranche", basis != "tranche_balance" and bool(r.get("tranche")),
                   f"only a tranche_balance fee is charged on a tranche; a {basis} fee would ignore it (leave it "
                   "blank)"))
        for col, bad, rule in checks:
            c = b.column(col)
            if bad and c is not None:
                probs.add(b.ref(i, c), f"{col}: {rule}", b.value(i, c))


def check_stress_multiples(rows, block: Block | None, probs: ProblemList) -> None:
    """§3.5: TDR_r = base CDR x multiple_r, so a rating's multiple is at least that of every lower rating
    (else a higher rating has a lower TDR).  A rating listed twice is :func:`duplicate_key_problems`' to
    report; its first row is the one compared here."""
    seen = {}
    for row, r in rows:
        if r["rating"] is None or r["multiple"] is None or r["rating"] in seen:
            continue
        seen[r["rating"]] = (row, r["multiple"])
    col = (block.column("multiple") if block is not None else None) or 2
    for rating, (row, m) in seen.items():
        lower = [(x, mx) for x, (_, mx) in seen.items() if notch(x) > notch(rating) and mx > m]
        if lower:
            x, mx = max(lower, key=lambda t: t[1])
            probs.add(cell_ref("RatingTables", row, col), f"the stress multiple of {rating} is below that of the lower "
                      f"rating {x} ({mx:g}): a higher rating would get a lower TDR (METHODOLOGY 3.5, TDR = base CDR x "
                      "multiple)", m)


def tranche_total_problem(blocks_by_sheet, spec: S.BlockSpec, tr_rows, total: float, pool: float,
                          probs: ProblemList) -> None:
    """Tranches larger than the pool (negative credit enhancement, §4.8): one problem at the balance cell of
    the last tranche row (the whole Tranches sheet when the block cannot be placed)."""
    b = (blocks_by_sheet.get(spec.sheet) or {}).get(norm_header(spec.title))
    where = spec.sheet
    if b is not None and tr_rows:
        where = cell_ref(spec.sheet, tr_rows[-1][0], b.column("balance") or 2)
    probs.add(where, f"the tranches add up to {total:,.2f}, more than the pool balance {pool:,.2f}: credit "
              "enhancement would be negative; reduce the tranche balances", total)


def duplicate_key_problems(rows, b: Block | None, key_cols: tuple, probs: ProblemList) -> None:
    """A lookup table has one row per key (a rating, an industry, a seniority level ...): a key given twice
    is refused at the later row's key cell.  Read into a mapping, one of the two rows would silently win.
    ``rows``: ``read_table`` output (ratings already canonical, so ``AAA`` and ``AAAsf`` are one key)."""
    if b is None:
        return
    seen: dict = {}
    for row, r in rows:
        key = tuple(r[c] for c in key_cols)
        if None in key:
            continue                        # a bad cell, reported already
        key = tuple(str(k).strip() for k in key)
        if key in seen:
            probs.add(cell_ref(b.sheet, row, b.column(key_cols[-1]) or 1),
                      f"{' / '.join(key_cols)} {' / '.join(key)} is listed twice in block '{b.title}' (also row "
                      f"{seen[key]}): one row per key", r[key_cols[-1]])
        else:
            seen[key] = row


def kv_ref(b: Block | None, key: str, sheet: str) -> str:
    """``Sheet!Cell`` of the value of ``key`` in a key/value block (the sheet alone when absent)."""
    if b is not None:
        for i, row in enumerate(b.rows):
            if norm_header(row[0] if row else None) == key:
                return b.ref(i, 2)
    return sheet


def monthly_only(b: Block | None, freq, sheet: str, probs: ProblemList) -> None:
    """The rating runs count time in months: PD curves, static-pool ages, terms and recovery lags are
    monthly and the cash-flow period is one month (the conventions at the head of METHODOLOGY).  Any other payment
    frequency would mix months with periods, so it is refused instead of giving a wrong rating."""
    if freq is not None and freq != 12:
        probs.add(kv_ref(b, "payment_frequency", sheet),
                  "only monthly payments (12) are supported: terms, lags, static-pool ages and PD curves are "
                  "monthly, and another frequency would mix months with periods", freq)


def read_table(b: Block | None, spec: S.BlockSpec, probs: ProblemList, extra_ok: bool = False) -> list:
    """Table block -> list of (sheet row, {column: value}); every bad cell reported."""
    if b is None:
        return []
    colpos = {}
    for c in spec.columns:
        pos = b.column(c.name)
        if pos is None:
            if c.required and c.default is None:
                probs.add(cell_ref(b.sheet, b.header_row, 1), f"column '{c.name}' is missing from block '{b.title}'")
            continue
        colpos[c.name] = pos
    if not extra_ok:
        known = [c.name for c in spec.columns]          # schema order: the message is the same on every run
        for pos, h in b.headers.items():
            if h not in known:
                probs.add(cell_ref(b.sheet, b.header_row, pos), f"unknown column (expected: {', '.join(known)})",
                          b.raw_headers[pos])
    out = []
    for i in range(len(b.rows)):
        rec = {}
        for c in spec.columns:
            if c.name not in colpos:
                rec[c.name] = c.default
                continue
            v, err = S.convert(c, b.value(i, colpos[c.name]))
            if err:
                probs.add(b.ref(i, colpos[c.name]), f"{c.name}: {err}", b.value(i, colpos[c.name]))
            rec[c.name] = v
        out.append((b.row_numbers[i], rec))
    return out


def _numeric_grid(b: Block, first_col: int, probs: ProblemList, rule_name: str):
    """Numbers from ``first_col`` on for every row; blanks -> NaN; text reported."""
    ncols = max(b.headers) - first_col + 1
    grid = np.full((len(b.rows), max(ncols, 0)), np.nan)
    for i in range(len(b.rows)):
        for k in range(ncols):
            v = b.value(i, first_col + k)
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                probs.add(b.ref(i, first_col + k), f"{rule_name} must be a number", v)
                continue
            grid[i, k] = float(v)
    return grid


def read_static_pool(blocks_by_sheet, form, units, probs: ProblemList, index: CellIndex) -> StaticPool | None:
    blocks = blocks_by_sheet.get("StaticPool")
    if blocks is None:
        probs.add("StaticPool", "sheet is missing")
        return None
    b = blocks.get("vintages")
    if b is None:
        probs.add("StaticPool", "block 'Vintages' is missing (title cell, then header: vintage | balance | 1 | 2 ...)")
        return None
    if b.column("vintage") != 1 or b.column("balance") != 2:
        probs.add(cell_ref("StaticPool", b.header_row, 1), "header must start with 'vintage', 'balance'")
        return None
    for pos in sorted(b.headers)[2:]:
        h = b.raw_headers[pos]
        try:
            ok = float(h) == pos - 2
        except ValueError:
            ok = False
        if not ok:
            probs.add(cell_ref("StaticPool", b.header_row, pos), f"month-on-book header must be {pos - 2}", h)
    if not b.rows:
        probs.add(cell_ref("StaticPool", b.header_row + 1, 1), "no vintages")
        return None
    labels = [str(r[0]) if r and r[0] is not None else "" for r in b.rows]
    first: dict = {}
    for i, lab in enumerate(labels):
        key = lab.strip()
        if key and key in first:        # a row pasted twice would weigh its vintage twice in the fit (§3.3)
            probs.add(b.ref(i, 1), f"vintage {key} is listed twice (also row {first[key]}): one row per vintage",
                      lab)
        first.setdefault(key, b.row_numbers[i])
    bal = np.full(len(b.rows), np.nan)
    for i in range(len(b.rows)):
        v, err = S.convert(S.Col("balance", "number", lo=0.01), b.value(i, 2))
        if err:
            probs.add(b.ref(i, 2), f"balance: {err}", b.value(i, 2))
        else:
            bal[i] = v
    grid = _numeric_grid(b, 3, probs, "a default figure")
    index.vintage_rows = list(b.row_numbers)
    index.vintage_first_col = 3
    if units == "rate":
        for i, k in zip(*np.nonzero((grid < 0) | (grid > 1))):
            probs.add(b.ref(i, 3 + k), "default rate must be a fraction in [0, 1]", grid[i, k])
    else:
        for i, k in zip(*np.nonzero(grid < 0)):
            probs.add(b.ref(i, 3 + k), "defaulted principal must be >= 0", grid[i, k])
        # defaults cannot exceed the vintage's balance (reported in yuan, not as the derived rate)
        cum = np.nancumsum(grid, axis=1) if form == "incremental" else grid
        with np.errstate(invalid="ignore"):
            over = np.nan_to_num(cum) > bal[:, None] * (1 + 1e-9)
        for i in range(len(b.rows)):
            ks = np.flatnonzero(over[i])
            if ks.size and np.isfinite(bal[i]):
                k = int(ks[0])
                probs.add(b.ref(i, 3 + k), f"cumulative defaulted principal {cum[i, k]:,.2f} exceeds the vintage's "
                          f"original balance {bal[i]:,.2f}", grid[i, k])
    return StaticPool(labels=labels, balances=bal, defaults=grid, form=form, units=units)


def read_default_table(b: Block | None, probs: ProblemList):
    if b is None or not b.rows:
        return None
    terms = []
    cols = sorted(b.headers)[1:]
    for pos in cols:
        try:
            terms.append(float(b.raw_headers[pos]))
        except ValueError:
            probs.add(cell_ref(b.sheet, b.header_row, pos), "term header must be a number of years", b.raw_headers[pos])
    if len(terms) != len(cols):
        return None
    rows = {}
    row_where = {}
    first_row = {}
    n_before = len(probs)
    for i in range(len(b.rows)):
        r = b.value(i, 1)
        if not is_rating(str(r)):
            row_where[str(r)] = b.ref(i, 1)
            probs.add(b.ref(i, 1), "unknown rating symbol", r)
            continue
        if canonical(str(r)) in first_row:      # one row per rating: a second would silently replace the first
            probs.add(b.ref(i, 1), f"rating {canonical(str(r))} is listed twice in block '{b.title}' (also row "
                      f"{first_row[canonical(str(r))]}): one row per rating", r)
            continue
        first_row[canonical(str(r))] = b.row_numbers[i]
        row_where[str(r)] = b.ref(i, 1)
        vals = []
        for pos in cols:
            v, err = S.convert(S.Col("pd", "fraction"), b.value(i, pos))
            if err:
                probs.add(b.ref(i, pos), f"default probability: {err}", b.value(i, pos))
            vals.append(v)
        rows[str(r)] = vals
    if len(probs) > n_before:
        return None
    try:
        return DefaultRateTable.from_rows(terms, rows, source=f"workbook {b.sheet} block '{b.title}'",
                                          where=cell_ref(b.sheet, b.title_row, 1), row_where=row_where)
    except ValidationError as e:
        probs.extend(e.problems)
        return None


CORPORATE_ONLY_SHEETS = ("Obligors",)
"""Input sheets of the corporate schema (``corporate_schema.INPUT_SHEETS``) that a consumer deal has no use for
(its ``Waterfall`` and ``Triggers`` sheets are :data:`~.schema.WATERFALL_SHEETS`)."""


def read_consumer(book) -> tuple[ConsumerDeal, CellIndex]:
    """Read a consumer deal from a workbook adapter; raise all problems at once."""
    probs = ProblemList()
    names = book.sheet_names()
    blocks_by_sheet = {n: read_blocks(n, sheet_values(book, n), schema_titles(S.CONSUMER_BLOCKS, n))
                       for n in names if n in S.INPUT_SHEETS}
    index = CellIndex()
    check_layout(book, blocks_by_sheet, probs, S.CONSUMER_BLOCKS)
    for n in names:
        if n in CORPORATE_ONLY_SHEETS:
            # a deal document the consumer method would not read: refused rather than silently left out
            probs.add(n, f"a '{n}' sheet is read for corporate deals only (Deal deal_type = corporate); a consumer "
                      "deal's pool is its loan tape (Pool sheet). Rename or remove the sheet, or set deal_type "
                      "to corporate")
    from . import corporate_schema as C
    wf_blocks = {n: read_blocks(n, sheet_values(book, n), schema_titles(C.CORPORATE_BLOCKS, n))
                 for n in names if n in S.WATERFALL_SHEETS}
    if wf_blocks:
        check_layout(book, wf_blocks, probs, (C.WATERFALL, C.TRIGGERS))
    deal_block = _block(blocks_by_sheet, S.DEAL, probs)
    deal_kv = read_keyvalue(deal_block, S.DEAL, probs)
    monthly_only(deal_block, deal_kv["payment_frequency"], "Deal", probs)
    tr_rows = read_table(_block(blocks_by_sheet, S.TRANCHES, probs), S.TRANCHES, probs)
    fee_rows = read_table(_block(blocks_by_sheet, S.FEES, probs), S.FEES, probs)
    pool_block = _block(blocks_by_sheet, S.POOL, probs)
    asm_block = _block(blocks_by_sheet, S.ASSUMPTIONS, probs)
    asm = read_keyvalue(asm_block, S.ASSUMPTIONS, probs)
    fit_rows = read_table(_block(blocks_by_sheet, S.FIT_ADJUSTMENTS, probs), S.FIT_ADJUSTMENTS, probs)
    dr_block = _block(blocks_by_sheet, S.DEFAULT_RATES, probs)
    sc_rows = read_table(_block(blocks_by_sheet, S.STRESS_SCENARIOS, probs), S.STRESS_SCENARIOS, probs)
    mult_block = _block(blocks_by_sheet, S.STRESS_MULTIPLES, probs)
    mult_rows = read_table(mult_block, S.STRESS_MULTIPLES, probs)
    adj_rows = read_table(_block(blocks_by_sheet, S.ADJUSTMENTS, probs), S.ADJUSTMENTS, probs)
    sp = read_static_pool(blocks_by_sheet, asm["static_pool_form"] or "cumulative",
                          asm["static_pool_units"] or "amount", probs, index)
    table = read_default_table(dr_block, probs)

    # Tranches
    tranches = []
    seen = set()
    tb = blocks_by_sheet.get("Tranches", {}).get("tranches")
    for k, (row, r) in enumerate(tr_rows):
        if r["name"] is not None and r["name"] in seen:
            probs.add(cell_ref("Tranches", row, tb.column("name") or 1), "tranche name appears twice", r["name"])
        seen.add(r["name"])
        index.tranche_rows[r["name"]] = row
        if r["residual"] and k != len(tr_rows) - 1:
            probs.add(cell_ref("Tranches", row, tb.column("residual") or 1), "only the last tranche may take the residual")
        if None in (r["name"], r["balance"]):
            continue
        tranches.append(Tranche(name=r["name"], balance=r["balance"], coupon=r["coupon"] or 0.0, rated=bool(r["rated"]),
                                timely_interest=bool(r["timely_interest"]), residual=bool(r["residual"]),
                                term_years=r["term_years"], interest=r["interest"] or None))
    if tb is not None and not tr_rows:
        probs.add(cell_ref("Tranches", tb.header_row + 1, 1), "no tranches")
    if tr_rows and not any(r["rated"] for _, r in tr_rows):
        probs.add("Tranches", "no tranche is marked rated")

    fees = [Fee(r["name"], r["basis"], r["rate"] or 0.0, r["amount"] or 0.0, bool(r["servicer"])) for _, r in fee_rows]
    fee_value_problems(blocks_by_sheet.get(S.FEES.sheet, {}).get(norm_header(S.FEES.title)), fee_rows, probs)

    # Pool (fast path: column arrays)
    tape = None
    if pool_block is not None:
        tape = _read_tape(pool_block, probs)

    scenarios = shipped_scenarios() if not sc_rows else [
        StressScenario(rating=r["rating"], name=r["scenario"], recovery_haircut=r["recovery_haircut"],
                       cpr_multiplier=r["cpr_multiplier"], coupon_up=r["coupon_up"], timing=r["timing"],
                       servicer_fee_up=r["servicer_fee_up"], recovery_lag_extra=r["recovery_lag_extra"])
        for _, r in sc_rows]
    multiples = shipped_stress_multiples() if not mult_rows else {r["rating"]: r["multiple"] for _, r in mult_rows}
    duplicate_key_problems(mult_rows, blocks_by_sheet.get("RatingTables", {}).get("stress_multiples"), ("rating",),
                           probs)
    fit_adj = [FitAdjustment(r["factor"], r["mu_shift"], r["sigma_multiplier"], r["reason"]) for _, r in fit_rows]
    ab = blocks_by_sheet.get("Assumptions", {}).get("fit_adjustments")
    for row, r in fit_rows:
        if r["mu_shift"] is not None and r["mu_shift"] < 0:
            probs.add(cell_ref("Assumptions", row, ab.column("mu_shift") or 1), "mu_shift must be >= 0 (adverse only)",
                      r["mu_shift"])
    rating_adj = [RatingAdjustment(r["tranche"], r["factor"], r["kind"], r["value"], r["reason"], r["coverage"]) for _, r in adj_rows]
    adjb = blocks_by_sheet.get("Adjustments", {}).get("rating_adjustments")
    check_support_coverage(adj_rows, adjb, probs)
    for row, r in adj_rows:
        if r["tranche"] not in (None, "*") and r["tranche"] not in seen:
            probs.add(cell_ref("Adjustments", row, adjb.column("tranche") or 1), "tranche is not in the Tranches sheet",
                      r["tranche"])
    check_adjustment_values(adj_rows, adjb, probs)
    if asm["method"] == "multiple":
        if fit_rows:        # §3.4 adjusts the lognormal fit; §3.5 has none to adjust: they would change nothing
            probs.add(cell_ref("Assumptions", fit_rows[0][0], 1), "fit adjustments shift the lognormal fit (method "
                      "lognormal, METHODOLOGY 3.4); method 'multiple' would ignore them: remove them or use method "
                      "lognormal", len(fit_rows))
        tested = {s.rating for s in scenarios}
        missing = sorted(tested - set(multiples))
        if missing:
            probs.add("RatingTables", "method 'multiple' needs a stress multiple for every tested rating",
                      ", ".join(missing))
        check_stress_multiples(mult_rows, mult_block, probs)

    # §3.2: the static-pool horizon T is at least the longest remaining term (else the TDR is
    # measured over a shorter life than the pool's and the rating is too high)
    if tape is not None and asm["horizon_months"] and asm["horizon_months"] < int(np.max(tape.remaining_term)):
        probs.add(kv_ref(asm_block, "horizon_months", "Assumptions"),
                  f"the static-pool horizon must be at least the longest remaining term of the pool "
                  f"({int(np.max(tape.remaining_term))} months; leave it blank to use the pool life)",
                  asm["horizon_months"])

    if tape is not None and deal_kv["legal_final_months"] and \
            deal_kv["legal_final_months"] < int(np.max(tape.remaining_term)):
        probs.add(kv_ref(deal_block, "legal_final_months", "Deal"),
                  LEGAL_FINAL_RULE.format(life=int(np.max(tape.remaining_term))), deal_kv["legal_final_months"])

    # §3.3: the floor replaces a CDR of 0 inside a log: 0 or 1 is no floor (the engine's rule, at its cell)
    if asm["cdr_floor"] is not None and not 0.0 < asm["cdr_floor"] < 1.0:
        probs.add(kv_ref(asm_block, "cdr_floor", "Assumptions"), "cdr_floor must be a fraction strictly between 0 "
                  "and 1 (it replaces a vintage CDR of 0 in the log of the lognormal fit)", asm["cdr_floor"])
    # §5.2: a stressed CPR above 100% cannot happen; the cash-flow model would silently cap it (every loan
    # prepaid in the first month, the scenario passed at any CDR)
    if asm["cpr"] is not None:
        scb = blocks_by_sheet.get("RatingTables", {}).get("stress_scenarios")
        if sc_rows and scb is not None:
            for k, s in enumerate(scenarios):
                if s.cpr_multiplier is not None and asm["cpr"] * s.cpr_multiplier > 1.0:
                    probs.add(cell_ref("RatingTables", sc_rows[k][0], scb.column("cpr_multiplier") or 1),
                              f"the stressed CPR cpr x cpr_multiplier = {asm['cpr']:g} x {s.cpr_multiplier:g} "
                              "exceeds 100%", s.cpr_multiplier)
        else:       # the shipped table: one problem, at the cpr cell (the only cell of the workbook to fix)
            top = max((s.cpr_multiplier for s in scenarios if s.cpr_multiplier is not None), default=1.0)
            if asm["cpr"] * top > 1.0:
                probs.add(kv_ref(asm_block, "cpr", "Assumptions"), f"the stressed CPR cpr x cpr_multiplier = "
                          f"{asm['cpr']:g} x {top:g} (the shipped stress table's largest multiplier) exceeds 100%",
                          asm["cpr"])

    # Static-pool rules of the engine (§3.1–3.2), addressed to cells, in the same report
    if sp is not None and not any(p.where.startswith("StaticPool") for p in probs.problems):
        horizon = asm["horizon_months"] or (int(np.max(tape.remaining_term)) if tape is not None else None)
        if horizon:
            try:
                va = extrapolate_vintages(sp.cumulative_rates(), horizon, balances=sp.balances,
                                          weighting=asm["weighting"])
            except VintageError as e:
                probs.extend(vintage_problems(e, index))
            else:
                # §3.3: a CDR of 0 cannot enter the log of the lognormal fit unless a floor is chosen
                if (asm["method"] or "lognormal") == "lognormal" and asm["cdr_floor"] is None:
                    for v in np.flatnonzero(va.cdr == 0.0):
                        where = cell_ref("StaticPool", index.vintage_rows[v], 1) if index.vintage_rows else "StaticPool"
                        probs.add(where, f"this vintage's CDR at the horizon ({horizon} months) is 0, which cannot "
                                  "enter the lognormal fit (it takes logs): set Assumptions cdr_floor (the floor is "
                                  "shown in the output) or use method 'multiple'", 0.0)
                # §3.3: the fit needs two CDRs that differ (sigma > 0); the engine's message names no cell
                if (asm["method"] or "lognormal") == "lognormal" and index.vintage_rows:
                    first = cell_ref("StaticPool", index.vintage_rows[0], 1)
                    x = va.cdr if asm["cdr_floor"] is None else np.where(va.cdr == 0.0, asm["cdr_floor"], va.cdr)
                    if x.size < 2:
                        probs.add(first, "the lognormal fit (METHODOLOGY 3.3) needs at least two vintages; add "
                                  "vintages or use method 'multiple'", int(x.size))
                    elif x.min() > 0.0 and zero_sigma(x):       # the engine's test: equal up to rounding
                        probs.add(first, f"every vintage's CDR at the horizon ({horizon} months) is {x[0]:.4%}: the "
                                  "lognormal fit (METHODOLOGY 3.3) would have sigma 0; add vintages or use method "
                                  "'multiple'", float(x[0]))

    waterfall = read_data_waterfall(wf_blocks, blocks_by_sheet, deal_block, deal_kv, asm, tr_rows, fees, tape,
                                    scenarios, probs)

    # Cross-sheet rules
    if tape is not None and tranches:
        total = sum(t.balance for t in tranches)
        if total > tape.total * (1 + 1e-9):
            tranche_total_problem(blocks_by_sheet, S.TRANCHES, tr_rows, total, tape.total, probs)
    probs.raise_if_any()
    a = PerformanceAssumptions(cpr=asm["cpr"], recovery_rate=asm["recovery_rate"],
                               recovery_lag=asm["recovery_lag_months"], horizon=asm["horizon_months"],
                               cdr_floor=asm["cdr_floor"], weighting=asm["weighting"], method=asm["method"],
                               bdr_grid_step=asm["bdr_grid_step"])
    deal = ConsumerDeal(
        name=deal_kv["deal_name"], tranches=tranches, fees=fees, tape=tape, static_pool=sp, assumptions=a,
        scenarios=scenarios, frequency=deal_kv["payment_frequency"], tax_rate=deal_kv["tax_rate"],
        reserve_initial=deal_kv["reserve_initial"], reserve_multiple=deal_kv["reserve_multiple"],
        trigger_cdr=deal_kv["trigger_cdr"], legal_final_months=deal_kv["legal_final_months"],
        fit_adjustments=fit_adj, rating_adjustments=rating_adj, stress_multiples=multiples, default_table=table,
        seed=deal_kv["seed"], waterfall=waterfall,
    )
    if sc_rows:
        deal.scenario_source = f"workbook RatingTables block '{S.STRESS_SCENARIOS.title}'"
    return deal, index


def _payee_names(payees: str) -> list:
    """``A>B`` / ``A+B`` -> ['A', 'B'] (spaces around names ignored, as the waterfall compiler does)."""
    return [x.strip() for x in str(payees or "").replace(">", "+").split("+")]


def read_data_waterfall(wf_blocks, blocks_by_sheet, deal_block, deal_kv, asm, tr_rows, fees, tape, scenarios,
                        probs: ProblemList) -> DataWaterfall | None:
    """A consumer deal's own waterfall: the Waterfall sheet (and Triggers with its Schedules, and the
    Deal revolving keys), in the corporate schema's columns; payees are the Tranches and Fees names and
    ``tax`` (Deal ``tax_rate``).  Its rules are checked with the deal's tranches and fees, each problem
    at its cell.  None, and the revolving keys refused, when there is no Waterfall sheet."""
    from . import corporate_schema as C
    from .corporate_reader import (
        _schedules,
        checked_revolving,
        problem_rows,
        read_revolving,
        read_steps,
        read_triggers,
        revolving_key_problems,
        step_cap_problems,
        trigger_level_problems,
        waterfall_problems,
    )
    if "Waterfall" not in wf_blocks:
        if "Triggers" in wf_blocks:
            probs.add("Triggers", "a Triggers sheet is read with a Waterfall sheet only: the built-in waterfall's "
                      "one trigger is Deal trigger_cdr")
        tb = blocks_by_sheet.get("Tranches", {}).get("tranches")
        for row, r in tr_rows:
            if r["interest"]:
                probs.add(cell_ref("Tranches", row, tb.column("interest") or 1), "the interest column is read with a "
                          "Waterfall sheet only; the built-in waterfall uses timely_interest", r["interest"])
        fb = blocks_by_sheet.get("Fees", {}).get("fees")
        for k, f in enumerate(fees):
            if f.servicer:
                probs.add(cell_ref("Fees", fb.row_numbers[k], fb.column("servicer") or 1), "the servicer column is read "
                          "with a Waterfall sheet only; the built-in waterfall adds the replacement-servicer stress "
                          "to its fees", "yes")
        if deal_kv["revolving_periods"]:
            probs.add(kv_ref(deal_block, "revolving_periods", "Deal"),
                      "a revolving period needs a Waterfall sheet whose purchase_assets steps buy the new assets "
                      "(the built-in waterfall does not revolve)", deal_kv["revolving_periods"])
        revolving_key_problems(deal_kv, deal_block, probs)
        return None
    step_rows = read_table(_block(wf_blocks, C.WATERFALL, probs), C.WATERFALL, probs)
    trig_rows = read_table(_block(wf_blocks, C.TRIGGERS, probs), C.TRIGGERS, probs) if "Triggers" in wf_blocks else []
    schedules = _schedules(wf_blocks, probs)
    steps, triggers, revolving = read_steps(step_rows), read_triggers(trig_rows), read_revolving(deal_kv)
    trigger_level_problems(trig_rows, wf_blocks.get("Triggers", {}).get("triggers"), probs, schedules)
    step_cap_problems(step_rows, wf_blocks.get("Waterfall", {}).get("waterfall"), probs)
    revolving_key_problems(deal_kv, deal_block, probs)
    if deal_kv["trigger_cdr"] is not None:
        probs.add(kv_ref(deal_block, "trigger_cdr", "Deal"), "trigger_cdr is the acceleration of the built-in "
                  "waterfall; with a Waterfall sheet write the trigger in a Triggers sheet (test cdr_above)",
                  deal_kv["trigger_cdr"])
    fb = blocks_by_sheet.get("Fees", {}).get("fees")
    for k, f in enumerate(fees):
        if f.name == TAX_FEE:
            probs.add(cell_ref("Fees", fb.row_numbers[k], 1) if fb is not None else "Fees",
                      f"'{TAX_FEE}' names the tax on interest income (Deal tax_rate) in a Waterfall sheet: "
                      "give this fee another name", f.name)
    if deal_kv["tax_rate"]:
        if steps and not any(s.action == "pay_tax" and TAX_FEE in _payee_names(s.payees) for s in steps):
            probs.add(kv_ref(deal_block, "tax_rate", "Deal"), f"tax_rate is above 0 but no Waterfall step pays it "
                      f"(action pay_tax, payees {TAX_FEE})", deal_kv["tax_rate"])
    tb = blocks_by_sheet.get("Tranches", {}).get("tranches")
    paid_residual = {p for s in steps if s.action == "pay_residual" for p in _payee_names(s.payees)}
    for row, r in tr_rows:
        if r["residual"] and r["name"] and r["name"] not in paid_residual:
            probs.add(cell_ref("Tranches", row, tb.column("residual") or 1), "residual = yes but no Waterfall "
                      "step pays this tranche the residual (action pay_residual)", r["name"])
    if any(sc.servicer_fee_up > 0 for sc in scenarios) and not any(f.servicer for f in fees):
        probs.add(cell_ref("Fees", fb.header_row, fb.column("servicer") or 1) if fb is not None else "Fees",
                  "the stress scenarios raise the servicer fee (servicer_fee_up): with a Waterfall sheet mark the "
                  "fee that pays it (servicer = yes), or add one with rate 0 and a pay_fee step for it")
    # the horizon as the run will set it (cashflow_model.horizon); unknown (a bad cell, reported) -> the
    # longest allowed, so that no rule measured against it fires on its account
    horizon_known = True
    if deal_kv["legal_final_months"]:
        H = deal_kv["legal_final_months"]
        if revolving is not None and deal_kv["revolving_term"] and revolving.end_period + revolving.term > H:
            probs.add(kv_ref(deal_block, "legal_final_months", "Deal"), f"assets bought in the last revolving "
                      f"period ({revolving.end_period}) mature in period {revolving.end_period + revolving.term}, "
                      "after the legal final: lengthen it, leave it blank, or shorten revolving_term", H)
    elif tape is not None and asm["recovery_lag_months"] is not None:
        life = int(np.max(tape.remaining_term))
        if revolving is not None and deal_kv["revolving_term"] is not None:
            life = max(life, int(revolving.end_period) + int(revolving.term))
        H = life + asm["recovery_lag_months"] + 1
    else:
        H, horizon_known = 600, False
    rows = [Tranche(name=r["name"] or "", balance=r["balance"] or 0.0, coupon=r["coupon"] or 0.0,
                    rated=bool(r["rated"]), timely_interest=bool(r["timely_interest"]), residual=bool(r["residual"]),
                    interest=r["interest"] or None) for _, r in tr_rows]
    wf = wm.WaterfallDeal(name=deal_kv["deal_name"] or "", periods=H, tranches=waterfall_tranches(rows), steps=steps,
                          fees=waterfall_fees(fees, deal_kv["tax_rate"] or 0.0), triggers=triggers,
                          schedules=schedules, pool_balance=1.0, pool_amort=[0.0] * H, pool_yield=[0.0] * H,
                          timing=[1.0 / H] * H, revolving=checked_revolving(revolving, deal_block, probs))
    fee_rows = set(fb.row_numbers) if fb is not None else set()
    all_blocks = {**blocks_by_sheet, **wf_blocks}
    for p in waterfall_problems(wf, all_blocks, deal_block, problem_rows(probs, all_blocks), horizon_known,
                                {p.where for p in probs.problems}):
        m = re.match(r"^Fees![A-Z]+(\d+)$", p.where)
        if not (m and int(m.group(1)) not in fee_rows):      # not a rule of the tax row (Deal tax_rate, above)
            probs.add(p.where, p.rule, p.value)
    return DataWaterfall(steps=steps, triggers=triggers, schedules=schedules, revolving=revolving)


def _read_tape(b: Block, probs: ProblemList) -> LoanTape | None:
    cols = {}
    for c in S.POOL.columns:
        pos = b.column(c.name)
        if pos is None:
            probs.add(cell_ref(b.sheet, b.header_row, 1), f"column '{c.name}' is missing from block '{b.title}'")
        cols[c.name] = pos
    if None in cols.values():
        return None
    if not b.rows:
        probs.add(cell_ref(b.sheet, b.header_row + 1, 1), "the loan tape is empty")
        return None
    n = len(b.rows)
    out = {c.name: [None] * n for c in S.POOL.columns}
    limit = 200  # a broken 20,000-row tape should not print 20,000 lines
    n_bad = 0
    for i in range(n):
        for c in S.POOL.columns:
            v, err = S.convert(c, b.value(i, cols[c.name]))
            if err:
                n_bad += 1
                if n_bad <= limit:
                    probs.add(b.ref(i, cols[c.name]), f"{c.name}: {err}", b.value(i, cols[c.name]))
            out[c.name][i] = v
    if n_bad > limit:
        probs.add(b.sheet, f"... and {n_bad - limit} more bad cells in the loan tape")
    if n_bad:
        return None
    return LoanTape(loan_id=np.array(out["loan_id"], dtype=object), balance=np.array(out["balance"], dtype=float),
                    annual_rate=np.array(out["annual_rate"], dtype=float),
                    remaining_term=np.array(out["remaining_term"], dtype=np.int64),
                    amortisation=np.array(out["amortisation"], dtype=object))


def vintage_problems(e: VintageError, index: CellIndex) -> list:
    """Engine vintage issues (vintage, month) -> StaticPool cell problems."""
    probs = []
    for i in e.issues:
        if i.vintage is not None and index.vintage_rows:
            col = index.vintage_first_col + (i.age - 1 if i.age else -1)
            where = cell_ref("StaticPool", index.vintage_rows[i.vintage], col)
        elif i.age is not None and index.vintage_rows:
            where = cell_ref("StaticPool", index.vintage_rows[0] - 1, index.vintage_first_col + i.age - 1)
        else:
            where = "StaticPool"
        probs.append(Problem(where, i.rule, i.value))
    return probs
