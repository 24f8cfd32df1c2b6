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

import time

from ..engine.consumer import check_deal, rate_consumer
from ..engine.static_pool import VintageError
from ..errors import ValidationError
from ..workbook import schema as S
from ..workbook import writer as W
from ..workbook.reader import read_consumer, vintage_problems
from ..workbook.sheetout import SheetOut

VALIDATION_SHEET = "Validation"

CONSUMER_NOTE = ("Consumer method (CSPY Pengyuan): model-indicated rating = highest rating whose stressed BDRs "
                 "all reach its TDR. Caps 1 and 3 apply to corporate pools only.")


def _protected(book):
    return tuple(n for n in book.sheet_names() if n in S.INPUT_SHEETS)


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


def rate_deal(book, *, source_name: str = "", checksum: str = "") -> tuple:
    """Rate the deal in ``book`` and write TDR, Stress, Rating, CashFlows and Run.

    Returns ``(deal, result, info)``; raises ValidationError before writing
    anything when an input is wrong.
    """
    t0 = time.perf_counter()
    book.progress(0.0, "reading and validating inputs")
    deal, index = read_deal(book)
    t_read = time.perf_counter() - t0
    res = _rate(book, deal, index)
    t1 = time.perf_counter()
    protected = _protected(book)
    for sh in (W.tdr_sheet(res, deal), W.stress_sheet(res, deal), _rating(res, deal), W.cashflows_sheet(res, deal)):
        book.write_sheet(sh, protected)
    from ..workbook.run import run_info
    info = run_info(source_name, checksum, deal, res, t_read)
    info["write (s)"] = round(time.perf_counter() - t1, 3)
    book.write_sheet(W.run_sheet(info), protected)
    book.progress(1.0, "rated")
    return deal, res, info


def _rating(res, deal) -> SheetOut:
    return W.rating_sheet(res.ratings, {t.name: t.balance for t in deal.tranches}, deal.name, CONSUMER_NOTE)


def rerun_stress(book) -> tuple:
    """Recompute the stress table and ratings; rewrite only Stress and Rating."""
    deal, index = read_deal(book)
    res = _rate(book, deal, index)
    protected = _protected(book)
    book.write_sheet(W.stress_sheet(res, deal), protected)
    book.write_sheet(_rating(res, deal), protected)
    book.progress(1.0, "stress table rewritten")
    return deal, res


def run_monte_carlo(book):
    """The portfolio Monte Carlo step of a corporate deal.

    A consumer deal (the only schema the workbook layer reads today) has no
    Monte Carlo step in its method (METHODOLOGY §3): this says so on the
    Validation sheet instead of pretending to run anything.
    """
    deal, _ = read_deal(book)
    s = SheetOut(VALIDATION_SHEET)
    s.title(f"{deal.name}: Monte Carlo")
    s.put(3, 1, "This is a consumer deal: the Pengyuan method rates it from the static pool and cash flows; "
                "there is no portfolio Monte Carlo step. Use 'Rate deal'.")
    book.write_sheet(s, _protected(book))
    return None


def validate_inputs(book) -> list:
    """Check every input; write the problems (or 'no problems') on a Validation sheet; return them."""
    try:
        deal, index = read_deal(book)
        problems = []
    except ValidationError as e:
        problems = e.problems
    s = SheetOut(VALIDATION_SHEET)
    s.title("Input validation")
    if problems:
        s.table(3, 1, f"{len(problems)} problem(s): fix these cells, then rate again",
                ["where", "rule", "value"], [(p.where, p.rule, "" if p.value is None else str(p.value))
                                             for p in problems])
    else:
        s.put(3, 1, "No problems found.")
    s.widths.update({"A": 24, "B": 80, "C": 24})
    book.write_sheet(s, _protected(book))
    book.progress(1.0, f"{len(problems)} problem(s)" if problems else "inputs valid")
    return problems
