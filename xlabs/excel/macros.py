"""Macro entry points, written once against the workbook adapter.

In Excel the buttons call these through :mod:`xlabs.excel.xlwings_book`
(``main()`` of the workbook's module, the ``xlwings quickstart`` convention);
headless, ``xlabs rate`` calls :func:`rate_deal` on an
:class:`~xlabs.workbook.adapter.OpenpyxlBook`.  Same code, two adapters.

Entry points
------------
- :func:`rate_deal` — validate, run the whole method, write every output sheet.
- :func:`rerun_stress` — recompute and rewrite the Stress and Rating sheets only.
- :func:`run_monte_carlo` — the portfolio Monte Carlo step (corporate deals only).
- :func:`validate_inputs` — list every input problem on a Validation sheet.
"""

from __future__ import annotations

import re
import time

from ..engine.consumer import check_deal, rate_consumer
from ..engine.static_pool import VintageError
from ..errors import Problem, ValidationError
from ..workbook import schema as S
from ..workbook import writer as W
from ..workbook.reader import read_consumer, vintage_problems
from ..workbook.sheetout import SheetOut

VALIDATION_SHEET = "Validation"

CONSUMER_NOTE = ("Consumer method (CSPY Pengyuan): model-indicated rating = highest rating whose stressed BDRs "
                 "all reach its TDR. Caps 1 and 3 apply to corporate pools only.")


def _protected(book):
    from ..workbook import corporate_schema as CS
    return tuple(n for n in book.sheet_names() if n in S.INPUT_SHEETS or n in CS.INPUT_SHEETS)


_XLABS_TITLE = re.compile(r"\(METHODOLOGY [0-9][^()]*\)$")
"""The end of the A1 title xlabs writes on an output sheet (``<deal>: ratings (METHODOLOGY 8)``)."""


def written_by_xlabs(book, name: str) -> bool:
    """Whether sheet ``name`` of ``book`` is one an xlabs run wrote: its A1 holds the title xlabs gives it
    ("Run record" on Run, "Input validation" or "<deal>: Monte Carlo" on Validation, a title ending in
    "(METHODOLOGY ...)" on every other output sheet)."""
    rows = book.values(name)
    a1 = rows[0][0] if rows and rows[0] else None
    if not isinstance(a1, str):
        return False
    if name == "Run":
        return a1 == "Run record"
    if name == VALIDATION_SHEET:
        return a1 == "Input validation" or a1.endswith(": Monte Carlo")
    return bool(_XLABS_TITLE.search(a1.strip()))


def user_sheets_in_the_way(book, names) -> list:
    """A problem for each sheet of ``book`` named like an output sheet in ``names`` that xlabs did not
    write: a run would replace it, and the user's content with it.  None for a book whose output goes
    elsewhere (the committee pack)."""
    if not getattr(book, "writes_into_workbook", True):
        return []
    # Excel (and openpyxl, which would add the output as 'Stress1', then 'Stress2' ...) takes 'stress' and
    # 'Stress' for the same sheet name
    return [Problem(f"{s}!A1", f"this sheet was not written by xlabs, and a run writes its '{n}' output sheet under "
                               + ("this name" if s == n else "the same name (Excel does not tell sheet names apart by "
                                                             "case)") + ": rename the sheet (nothing in it was changed)")
            for n in names for s in book.sheet_names()
            if s.casefold() == n.casefold() and not (s == n and written_by_xlabs(book, n))]


def _read_before_writing(book, read, names):
    """``read(book)``, with a problem for every user sheet that the output sheets ``names`` would
    replace: all reported together, before any work."""
    in_the_way = user_sheets_in_the_way(book, names)
    try:
        got = read(book)
    except ValidationError as e:
        raise ValidationError(in_the_way + e.problems) from None
    if in_the_way:
        raise ValidationError(in_the_way)
    return got


def read_deal(book):
    """Read and validate the deal from ``book``; raise every problem at once."""
    deal, index = read_consumer(book)
    check_deal(deal)
    return deal, index


def _rate(book, deal, index):
    try:
        return rate_consumer(deal, progress=book.progress)
    except VintageError as e:
        raise ValidationError(vintage_problems(e, index)) from None


CORPORATE_NOTE = ("Corporate method (China Lianhe): cap 1 = highest rating with CE >= TRLR; cap 2 = highest rating "
                  "whose stressed BDRs all reach TRDR; cap 3 = key-obligor test; model-indicated = the lowest.")


def is_corporate(book) -> bool:
    from ..workbook.corporate_reader import deal_type
    return deal_type(book) == "corporate"


def read_corporate_deal(book):
    from ..engine.corporate import check_corporate
    from ..workbook.corporate_reader import read_corporate
    deal = read_corporate(book)
    check_corporate(deal)
    return deal


def _corporate_sheets(res, deal):
    from ..workbook import corporate_writer as CW
    return (CW.portfolio_sheet(res, deal), CW.stress_sheet(res, deal), CW.key_obligor_sheet(res, deal),
            W.rating_sheet(res.ratings, {t.name: t.balance for t in deal.tranches}, deal.name, CORPORATE_NOTE,
                           res.notes),
            W.cashflows_sheet(res, deal, f"base-case cash flows at CDR {res.base_cashflows.cdr:.4%}, the Monte Carlo "
                                         "mean pool default ratio, base scenario"))


def rate_corporate_deal(book, *, source_name: str = "", checksum: str = "", client=None) -> tuple:
    """Corporate deal: Portfolio, Stress, KeyObligor, Rating, CashFlows and Run sheets (METHODOLOGY 4, 5, 6, 8)."""
    from ..engine.corporate import rate_corporate
    from ..workbook import corporate_schema as CS
    t0 = time.perf_counter()
    book.progress(0.0, "reading and validating inputs")
    deal = _read_before_writing(book, read_corporate_deal, CS.OUTPUT_SHEETS)
    t_read = time.perf_counter() - t0
    res = rate_corporate(deal, progress=book.progress, client=client)
    _clear_stale_validation(book)
    t1 = time.perf_counter()
    protected = tuple(n for n in book.sheet_names() if n in CS.INPUT_SHEETS)
    for sh in _corporate_sheets(res, deal):
        book.write_sheet(sh, protected)
    info = corporate_run_info(source_name, checksum, deal, res, t_read)
    info["write (s)"] = round(time.perf_counter() - t1, 3)
    _record_not_carried(book, info)
    book.write_sheet(W.run_sheet(info), protected)
    book.progress(1.0, "rated")
    return deal, res, info


def corporate_run_info(source_name, checksum, deal, res, t_read) -> dict:
    """Run record of a corporate run: version, input checksum, seed, paths, sources, timings."""
    import datetime as _dt
    import platform

    import numba
    import numpy

    from .. import __version__
    info = {
        "xlabs version": __version__,
        "run at (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "input file": source_name, "input SHA-256": checksum, "method": "corporate (Lianhe three models)",
        "seed": res.mc.seed, "Monte Carlo paths": res.mc.n_paths, "path block size": res.mc.block_size,
        "BDR search": f"grid step {deal.bdr_grid_step:g}, 0.1% scan of the first failing step, bisection to 1e-4",
        "waterfall": (f"Waterfall sheet: {len(deal.steps)} steps, {len(deal.triggers)} trigger(s)"
                      + (f", revolving {deal.revolving.end_period} periods" if deal.revolving is not None else "")),
        "benchmark": (f"Schedules row '{deal.benchmark_name}', {len(deal.benchmark)} periods"
                      if deal.benchmark is not None else f"flat {deal.benchmark_rate:.4%}"),
        "default-rate table": deal.tables.default_rates.source,
        "stress scenarios": f"{len(deal.scenarios)} rows: {deal.scenario_source}",
        "key-obligor table": f"{len(deal.key_obligors)} rows: {deal.key_obligor_source}",
        "python / numpy / numba": f"{platform.python_version()} / {numpy.__version__} / {numba.__version__}",
        "read and validate (s)": round(t_read, 3),
    }
    for k, v in res.timings.items():
        info[f"{k} (s)"] = round(v, 3)
    for k, note in enumerate(res.notes):
        info[f"note {k + 1}"] = note
    return info


def rate_deal(book, *, source_name: str = "", checksum: str = "") -> tuple:
    """Rate the deal in ``book`` and write its output sheets (consumer or corporate, by Deal!deal_type).

    Consumer: TDR, Stress, Rating, CashFlows, Run.  Corporate: Portfolio,
    Stress, KeyObligor, Rating, CashFlows, Run.  Returns ``(deal, result, info)``;
    raises ValidationError before writing anything when an input is wrong.
    """
    if is_corporate(book):
        return rate_corporate_deal(book, source_name=source_name, checksum=checksum)
    t0 = time.perf_counter()
    book.progress(0.0, "reading and validating inputs")
    deal, index = _read_before_writing(book, read_deal, S.OUTPUT_SHEETS)
    t_read = time.perf_counter() - t0
    res = _rate(book, deal, index)
    _clear_stale_validation(book)
    t1 = time.perf_counter()
    protected = _protected(book)
    for sh in (W.tdr_sheet(res, deal), W.stress_sheet(res, deal), _rating(res, deal), W.cashflows_sheet(res, deal)):
        book.write_sheet(sh, protected)
    from ..workbook.run import run_info
    info = run_info(source_name, checksum, deal, res, t_read)
    info["write (s)"] = round(time.perf_counter() - t1, 3)
    _record_not_carried(book, info)
    book.write_sheet(W.run_sheet(info), protected)
    book.progress(1.0, "rated")
    return deal, res, info


def _record_not_carried(book, info: dict) -> None:
    """What the saved workbook will lack of the user's sheets (pictures, shapes: see
    ``OpenpyxlBook.not_carried``) goes on the Run sheet; in Excel nothing is lost."""
    for k, line in enumerate(book.not_carried() if hasattr(book, "not_carried") else []):
        info[f"not carried {k + 1}"] = line


def _clear_stale_validation(book) -> None:
    """A Validation sheet left by an earlier run lists problems this run no longer has: say so instead.
    A user's own sheet of that name (in any case) is left alone."""
    if VALIDATION_SHEET in book.sheet_names() and written_by_xlabs(book, VALIDATION_SHEET):
        book.write_sheet(_validation_sheet([]), _protected(book))


def _validation_sheet(problems) -> SheetOut:
    s = SheetOut(VALIDATION_SHEET)
    s.title("Input validation")
    if problems:
        s.table(3, 1, f"{len(problems)} problem(s): fix these cells, then rate again",
                ["where", "rule", "value"], [(p.where, p.rule, "" if p.value is None else str(p.value))
                                             for p in problems])
    else:
        s.note(3, 1, "No problems found.")
    s.widths.update({"A": 24, "B": 80, "C": 24})
    return s


def _rating(res, deal, sheet_notes=()) -> SheetOut:
    return W.rating_sheet(res.ratings, {t.name: t.balance for t in deal.tranches}, deal.name, CONSUMER_NOTE,
                          res.notes, sheet_notes)


def _rerun_note(others: str) -> str:
    """The Rating sheet's word on a stress re-run: which sheets are from it and which from the last full run."""
    import datetime as _dt
    at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return (f"Re-run of the stress table at {at} UTC: Stress and Rating are from the inputs as they were then; "
            f"{others} are from the last 'Rate deal' run and may not match them (rate the deal again to "
            "refresh every sheet).")


def rerun_stress(book) -> tuple:
    """Recompute the stress table and ratings; rewrite only Stress and Rating, the Rating sheet saying that
    the other output sheets are from the last full run."""
    if is_corporate(book):
        from ..engine.corporate import rate_corporate
        from ..workbook import corporate_schema as CS
        deal = _read_before_writing(book, read_corporate_deal, ("Stress", "Rating"))
        res = rate_corporate(deal, progress=book.progress)
        protected = tuple(n for n in book.sheet_names() if n in CS.INPUT_SHEETS)
        sheets = {sh.name: sh for sh in _corporate_sheets(res, deal)}
        book.write_sheet(sheets["Stress"], protected)
        book.write_sheet(W.rating_sheet(res.ratings, {t.name: t.balance for t in deal.tranches}, deal.name,
                                        CORPORATE_NOTE, res.notes,
                                        [_rerun_note("Portfolio, KeyObligor, CashFlows and Run")]), protected)
        return deal, res
    deal, index = _read_before_writing(book, read_deal, ("Stress", "Rating"))
    res = _rate(book, deal, index)
    protected = _protected(book)
    book.write_sheet(W.stress_sheet(res, deal), protected)
    book.write_sheet(_rating(res, deal, [_rerun_note("TDR, CashFlows and Run")]), protected)
    book.progress(1.0, "stress table rewritten")
    return deal, res


def run_monte_carlo(book):
    """The portfolio Monte Carlo step alone: rewrites the Portfolio sheet of a corporate deal.

    A consumer deal has no Monte Carlo step in its method (METHODOLOGY §3):
    this says so on the Validation sheet instead of pretending to run anything.
    """
    if is_corporate(book):
        from types import SimpleNamespace

        from ..engine.corporate import run_portfolio
        from ..workbook import corporate_writer as CW
        deal = _read_before_writing(book, read_corporate_deal, ("Portfolio",))
        inputs, mc, targets, _ = run_portfolio(deal, book.progress)
        book.write_sheet(CW.portfolio_sheet(SimpleNamespace(inputs=inputs, mc=mc, targets=targets), deal),
                         _protected(book))
        book.progress(1.0, "Monte Carlo done")
        return mc
    deal, _ = _read_before_writing(book, read_deal, (VALIDATION_SHEET,))
    s = SheetOut(VALIDATION_SHEET)
    s.title(f"{deal.name}: Monte Carlo")
    s.note(3, 1, "This is a consumer deal: the Pengyuan method rates it from the static pool and cash flows; "
                 "there is no portfolio Monte Carlo step. Use 'Rate deal'.")
    book.write_sheet(s, _protected(book))
    return None


def read_any(book):
    """Read and validate the deal in ``book``, consumer or corporate by Deal!deal_type."""
    return read_corporate_deal(book) if is_corporate(book) else read_deal(book)[0]


def check_inputs(book):
    """:func:`read_any`, with a problem for every user sheet a run's output sheets would replace (see
    :func:`user_sheets_in_the_way`): every problem that would stop a run, so that validating says what
    rating would refuse."""
    from ..workbook import corporate_schema as CS
    names = CS.OUTPUT_SHEETS if is_corporate(book) else S.OUTPUT_SHEETS
    return _read_before_writing(book, read_any, names)


def validate_inputs(book, problems=None) -> list:
    """Check every input; write the problems (or 'no problems') on a Validation sheet; return them.

    ``problems``: already known (the ones that stopped a run), written as they are instead of
    validating again, so the sheet shows what actually stopped the run."""
    if problems is None:
        try:
            check_inputs(book)
            problems = []
        except ValidationError as e:
            problems = e.problems
    in_the_way = user_sheets_in_the_way(book, (VALIDATION_SHEET,))
    if in_the_way:                      # nowhere to list them: raise them, with the sheet in the way first
        raise ValidationError(in_the_way + [p for p in problems if p not in in_the_way])
    book.write_sheet(_validation_sheet(problems), _protected(book))
    book.progress(1.0, f"{len(problems)} problem(s)" if problems else "inputs valid")
    return problems
