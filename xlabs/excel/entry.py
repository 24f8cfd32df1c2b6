"""Excel button targets: each runs one macro on the calling workbook through xlwings.

``xw.Book.caller()`` is the workbook whose button (or *Run main*) was
pressed.  Input problems go to the Validation sheet and the status bar, never
to a Python traceback dialog.
"""

from __future__ import annotations

from . import macros
from .xlwings_book import XlwingsBook


def _book():
    import xlwings as xw
    return XlwingsBook(xw.Book.caller())


def _guarded(fn):
    from ..errors import ValidationError
    book = _book()
    try:
        return fn(book)
    except ValidationError as e:
        if _list_problems(book, e.problems) is not None:
            book.progress(0.99, "input problems: see the Validation sheet")
        return None


def _list_problems(book, problems=None):
    """:func:`macros.validate_inputs` (``problems`` ``None``: validate first), returning what it listed on
    the Validation sheet; when the user's own sheet named Validation leaves nowhere to list them (it raises
    them), the status bar names that sheet and how many problems there are instead of a traceback dialog,
    and the result is ``None``."""
    from ..errors import ValidationError
    try:
        return macros.validate_inputs(book, problems)
    except ValidationError as e:
        p = e.problems[0]
        book.progress(0.99, f"{len(e.problems)} input problem(s), not listed: {p.where}: {p.rule}")
        return None


def rate():
    """Rate deal."""
    return _guarded(lambda b: macros.rate_deal(b, source_name=b.book.name))


def rerun_stress():
    """Re-run stress table."""
    return _guarded(macros.rerun_stress)


def run_monte_carlo():
    """Run Monte Carlo only."""
    return _guarded(macros.run_monte_carlo)


def validate():
    """Validate inputs."""
    return _list_problems(_book())


def warm():
    """Compile (or load from cache) every numba kernel; call from Workbook_Open or once after install."""
    from ..warm import warm as _warm
    return _warm()
