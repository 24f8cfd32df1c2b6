"""Normalise values as Excel hands them to a UDF.

On Windows/macOS xlwings converts arguments; on Linux (and in the
``formulas`` headless recalculation) nothing is converted, so every UDF
normalises its own inputs with these helpers (DESIGN.md, Excel facts):
a scalar, a row, a column or a 2-D block of cells; ``None`` for blanks;
numbers stored as text.  Problems raise :class:`UdfInputError` with a short
message, which the UDF returns as ``#XLABS: <message>``.
"""

from __future__ import annotations

import math
import re

import numpy as np

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


class UdfInputError(ValueError):
    """An input a UDF cannot use; its message goes into the cell."""


def _unwrap(x):
    """Unwrap numpy / formulas array-likes into nested Python lists or scalars."""
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        x = x.tolist()
    return x


def grid(x, *, trim: bool = False) -> list:
    """Any range value -> a list of rows (each a list); a scalar is [[x]].  ``trim`` drops the empty (None)
    cells or rows at the end of a range first, cheaply: an entire column (1,048,576 rows) of a few values."""
    x = _unwrap(x)
    if not isinstance(x, (list, tuple)):
        return [[x]]
    if trim:
        n = len(x)
        while n > 1 and (x[n - 1] is None or (isinstance(x[n - 1], list) and x[n - 1].count(None) == len(x[n - 1]))):
            n -= 1
        x = x[:n]
    if not x:
        return [[]]
    if all(not isinstance(r, (list, tuple)) and not hasattr(r, "tolist") for r in x):
        return [list(x)]
    return [list(_unwrap(r)) if isinstance(_unwrap(r), (list, tuple)) else [_unwrap(r)] for r in x]


def is_blank(v) -> bool:
    """None (xlwings), '' , NaN, or the headless ``formulas`` engine's empty-cell token."""
    if type(v).__name__ == "Token" and str(v) == "empty":
        return True
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


_COM_ERRORS = {-2146828288 + code: text for code, text in (
    (2000, "#NULL!"), (2007, "#DIV/0!"), (2015, "#VALUE!"), (2023, "#REF!"), (2029, "#NAME?"), (2036, "#NUM!"),
    (2042, "#N/A"), (2043, "#GETTING_DATA"), (2045, "#SPILL!"), (2046, "#CONNECT!"), (2047, "#BLOCKED!"),
    (2048, "#UNKNOWN!"), (2049, "#FIELD!"), (2050, "#CALC!"))}
"""Excel's error codes as an int, as pywin32 passes an error cell.  xlwings' err_to_str turns only the seven
classic ones into text; a #SPILL! or #CALC! still arrives as an int (never a number: those come as floats)."""


def is_error(v) -> bool:
    """An Excel error value (#N/A, #VALUE! ...) as xlwings (text, or an int error code) or the headless engine
    passes it."""
    return type(v).__name__ == "XlError" or (type(v) is int and v in _COM_ERRORS) or \
        (isinstance(v, str) and v.startswith("#") and v.endswith(("!", "?", "A")))


def _error_text(v) -> str:
    return (_COM_ERRORS[v] if type(v) is int else str(v))[:14]


def number(v, name: str, *, blank=None):
    """One cell -> float.  Text that parses as a number is accepted; a
    percent string ('5%') is refused (fractions only); blank -> ``blank`` or
    an error when ``blank`` is None."""
    v = _unwrap(v)
    if isinstance(v, (list, tuple)):
        g = grid(v)
        if len(g) == 1 and len(g[0]) == 1:
            v = g[0][0]
        else:
            raise UdfInputError(f"{name} must be a single cell")
    if is_blank(v):
        if blank is None:
            raise UdfInputError(f"{name} is blank")
        return float(blank)
    if isinstance(v, bool):
        raise UdfInputError(f"{name} must be a number")
    if is_error(v):
        raise UdfInputError(f"{name} holds an error value {_error_text(v)}")
    if isinstance(v, (int, float, np.integer, np.floating)):
        x = float(v)
    elif isinstance(v, str):
        s = v.strip()
        if "," in s:
            # only thousands separators ("1,000,000.5"); a decimal comma ("0,35") would be read as 35
            if not _THOUSANDS.match(s):
                raise UdfInputError(f"{name} '{s[:20]}' has a comma that is not a thousands separator "
                                    "(write decimals with a point: 0.35)")
            s = s.replace(",", "")
        if s.endswith("%"):
            raise UdfInputError(f"{name} must be a fraction (0.05), not '{v.strip()}'")
        try:
            x = float(s)
        except ValueError:
            raise UdfInputError(f"{name} must be a number, got '{v.strip()[:20]}'") from None
    else:
        raise UdfInputError(f"{name} must be a number")
    if not math.isfinite(x):
        raise UdfInputError(f"{name} must be finite")
    return x


def text(v, name: str) -> str:
    v = _unwrap(v)
    if isinstance(v, (list, tuple)):
        g = grid(v)
        if len(g) == 1 and len(g[0]) == 1:
            v = g[0][0]
        else:
            raise UdfInputError(f"{name} must be a single cell")
    if is_blank(v):
        raise UdfInputError(f"{name} is blank")
    if is_error(v):
        raise UdfInputError(f"{name} holds an error value {_error_text(v)}")
    return str(v).strip()


def vector(x, name: str, *, skip_blank: bool = True) -> np.ndarray:
    """A row, a column or a one-cell range -> 1-D float array (blanks skipped)."""
    g = grid(x, trim=skip_blank)
    if len(g) > 1 and max(len(r) for r in g) > 1:
        raise UdfInputError(f"{name} must be one row or one column")
    flat = [v for r in g for v in r]
    out = []
    for k, v in enumerate(flat):
        if is_blank(v):
            if skip_blank:
                continue
            raise UdfInputError(f"{name} has a blank cell at position {k + 1}")
        out.append(number(v, f"{name} cell {k + 1}"))
    if not out:
        raise UdfInputError(f"{name} is empty")
    return np.asarray(out, dtype=float)


def labels(x, name: str, *, trim: bool = False, block: bool = False) -> list:
    """A row or column of text labels (blanks kept as '', but with ``trim`` none after the last label); with
    ``block`` any rectangle, row by row.  An error value is refused, never a label."""
    g = grid(x, trim=trim)
    if not block and len(g) > 1 and max(len(r) for r in g) > 1:
        raise UdfInputError(f"{name} must be one row or one column")
    flat = [v for r in g for v in r]
    for k, v in enumerate(flat):
        if is_error(v):
            raise UdfInputError(f"{name} cell {k + 1} holds an error value {_error_text(v)}")
    return ["" if is_blank(v) else _label(v) for v in flat]


def _label(v) -> str:
    """A label's text; a whole number in a number cell (an industry code 1.0) as it is typed, "1", so that it
    matches the same code in a text cell."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def cells(x) -> int:
    """Number of cells of a range value (rectangular, as Excel passes it), without looking at them."""
    x = _unwrap(x)
    if not isinstance(x, (list, tuple)):
        return 1
    return len(x) * len(x[0]) if x and isinstance(x[0], (list, tuple)) else len(x)


def trim_trailing_blank(g: list) -> list:
    """Rows of a grid without the all-blank rows at its end (a range selected generously)."""
    n = len(g)
    while n > 1 and all(is_blank(v) for v in g[n - 1]):
        n -= 1
    return g[:n]


def matrix(x, name: str) -> np.ndarray:
    """A 2-D block -> float array, blanks -> NaN (e.g. unobserved vintage months); all-blank rows at
    the end of the range are dropped."""
    g = trim_trailing_blank(grid(x, trim=True))
    width = max(len(r) for r in g)
    out = np.full((len(g), width), np.nan)
    for i, r in enumerate(g):
        for k, v in enumerate(r):
            if not is_blank(v):
                out[i, k] = number(v, f"{name} row {i + 1} col {k + 1}")
    return out


def column(values) -> list:
    """A 1-D result as an Excel column (list of one-element rows), so it spills down."""
    return [[float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v] for v in values]
