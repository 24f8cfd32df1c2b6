"""Default-rate table: rating x term -> cumulative default probability (METHODOLOGY §2.1).

The shipped table is Moody's idealized cumulative expected default rates
(``xlabs/data/moodys_idealized_cumulative_default_rates.csv``, percent in the
file, fractions here).  The sf scale maps notch for notch (AAAsf = Aaa ...
B-sf = B3, CCCsf = Caa); CCsf and Csf are 100 %.

Term interpolation (§2.1): the cumulative hazard ``H(t) = -ln(1 - PD(t))`` is
interpolated linearly between table terms, with ``H(0) = 0``.  That is a
piecewise-constant hazard between knots, so "extrapolate flat in the hazard
rate" holds at both ends: before the first term the first interval's hazard
applies, after the last term the last interval's hazard.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import ProblemList
from .ratings import SCALE, notch

SHIPPED_FILE = "moodys_idealized_cumulative_default_rates.csv"

_MOODYS_TO_SF = {
    "Aaa": "AAAsf", "Aa1": "AA+sf", "Aa2": "AAsf", "Aa3": "AA-sf",
    "A1": "A+sf", "A2": "Asf", "A3": "A-sf",
    "Baa1": "BBB+sf", "Baa2": "BBBsf", "Baa3": "BBB-sf",
    "Ba1": "BB+sf", "Ba2": "BBsf", "Ba3": "BB-sf",
    "B1": "B+sf", "B2": "Bsf", "B3": "B-sf", "Caa": "CCCsf",
}


@dataclass(frozen=True)
class DefaultRateTable:
    """Cumulative default probabilities by rating and term.

    Attributes
    ----------
    terms : ndarray, shape (k,)
        Table terms in years, strictly increasing, > 0.
    pd : ndarray, shape (19, k)
        Cumulative default probability (fraction) for every notch of the
        §1 scale (row i = ``SCALE[i]``) at each term.  Rows for ratings the
        source does not give are filled as documented by the constructor
        used (CCsf, Csf = 1).
    source : str
        Where the numbers come from (file header or workbook range).
    """

    terms: np.ndarray
    pd: np.ndarray
    source: str = ""

    @classmethod
    def from_rows(cls, terms, rows: dict, source: str = "", where: str = "default-rate table",
                  row_where: dict | None = None):
        """Build from ``{rating: [pd at each term]}`` (fractions).

        Ratings absent from ``rows`` below the worst given one are 100 %
        (CCsf and Csf by the §2.1 convention); a gap above it is an error.
        All problems are collected and raised together, a rating's own at
        ``row_where[rating]`` (e.g. its workbook row) when given, else at ``where``.
        """
        probs = ProblemList()
        row_where = row_where or {}
        by_notch = {}
        for r, w in row_where.items():
            try:
                by_notch[notch(r)] = w
            except Exception:
                pass
        terms = np.asarray(terms, dtype=float)
        if terms.ndim != 1 or terms.size == 0 or np.any(~np.isfinite(terms)) or np.any(terms <= 0) \
                or np.any(np.diff(terms) <= 0):
            probs.add(where, "terms must be positive years in increasing order", list(terms))
        table = np.full((len(SCALE), terms.size), np.nan)
        for rating, values in rows.items():
            try:
                i = notch(rating)
            except Exception:
                probs.add(row_where.get(rating, where), "unknown rating symbol", rating)
                continue
            v = np.asarray(values, dtype=float)
            if v.shape != terms.shape:
                probs.add(row_where.get(rating, where), f"rating {rating}: needs {terms.size} values", len(values))
                continue
            if np.any(~np.isfinite(v)) or np.any(v < 0) or np.any(v > 1):
                probs.add(row_where.get(rating, where), f"rating {rating}: default probabilities must be fractions in "
                          "[0, 1]", [float(x) for x in v])
                continue
            if np.any(np.diff(v) < 0):
                probs.add(row_where.get(rating, where), f"rating {rating}: cumulative probabilities must not fall "
                          "with term", [float(x) for x in v])
            table[i] = v
        given = [i for i in range(len(SCALE)) if not np.isnan(table[i]).any()]
        if not given:
            probs.add(where, "no rating rows")
        else:
            worst = max(given)
            missing = [SCALE[i] for i in range(worst) if i not in given]
            if missing:
                probs.add(where, "ratings missing from the table", ", ".join(missing))
            table[worst + 1:] = 1.0
        if not probs:
            worse_lower = np.any(np.diff(table, axis=0) < -1e-12, axis=1)
            for i in np.flatnonzero(worse_lower):
                probs.add(by_notch.get(i + 1, where),
                          f"{SCALE[i + 1]} has a lower default probability than {SCALE[i]} at some term")
        probs.raise_if_any()
        return cls(terms=terms, pd=table, source=source)

    def cumulative_hazard(self, rating, years) -> np.ndarray:
        """``H(t) = -ln(1 - PD(t))`` at ``years`` (shape of ``years``); inf for PD = 1."""
        row = self.pd[notch(rating)]
        return _cum_hazard(self.terms, row, np.asarray(years, dtype=float))

    def probability(self, rating, years) -> np.ndarray:
        """Cumulative default probability (fraction) of ``rating`` at ``years``.

        Parameters
        ----------
        rating : str
            A §1 symbol (``sf`` optional).
        years : float or array_like
            Term(s) in years, >= 0.

        Returns
        -------
        ndarray or float
            Same shape as ``years``.
        """
        y = np.asarray(years, dtype=float)
        if np.any(y < 0) or np.any(~np.isfinite(y)):
            raise ValueError("years must be finite and >= 0")
        h = self.cumulative_hazard(rating, y)
        out = -np.expm1(-h)
        return float(out) if out.ndim == 0 else out

    def monthly_curve(self, rating, months: int) -> np.ndarray:
        """Cumulative PD at the end of months 1..``months``, shape (months,) (§4.1)."""
        return np.atleast_1d(self.probability(rating, np.arange(1, months + 1) / 12.0))

    def rating_for(self, pd: float, years: float, candidates=SCALE[:17]) -> str | None:
        """Best rating whose table PD at ``years`` is at least ``pd``.

        A default probability ``pd`` over ``years`` is consistent with rating
        r when it does not exceed r's idealized PD.  Returns None when even
        the worst candidate's PD is below ``pd``.
        """
        for r in candidates:
            if self.probability(r, years) >= pd - 1e-15:
                return r
        return None


def _cum_hazard(terms: np.ndarray, row: np.ndarray, years: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        h_knots = -np.log1p(-row)
    if np.isinf(h_knots).all():
        return np.where(years > 0, np.inf, 0.0)
    t = np.concatenate(([0.0], terms))
    h = np.concatenate(([0.0], h_knots))
    out = np.interp(years, t, h)
    # Flat hazard beyond the last term: slope of the last interval.  A row that
    # has reached PD = 1 (H = inf) stays there (inf - inf would give NaN).
    beyond = years > t[-1]
    if np.any(beyond):
        if np.isinf(h[-1]):
            out = np.where(beyond, np.inf, out)
        else:
            slope = (h[-1] - h[-2]) / (t[-1] - t[-2])
            out = np.where(beyond, h[-1] + slope * (years - t[-1]), out)
    return out


def read_table_csv(path_or_text, source: str | None = None) -> DefaultRateTable:
    """Read a default-rate CSV in the shipped format.

    ``#`` lines are the header naming the source; then ``rating,1,2,...``
    with Moody's or sf symbols and values in **percent** (as the shipped
    file states); they are converted to fractions here.
    """
    if hasattr(path_or_text, "read_text"):
        text = path_or_text.read_text(encoding="utf-8")
    else:
        text = str(path_or_text)
    header = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("#")]
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    reader = csv.reader(body)
    head = next(reader)
    terms = [float(x) for x in head[1:]]
    rows = {}
    for rec in reader:
        sym = rec[0].strip()
        sym = _MOODYS_TO_SF.get(sym, sym)
        rows[sym] = [float(x) / 100.0 for x in rec[1:]]
    return DefaultRateTable.from_rows(terms, rows, source=source or " ".join(header[:2]))


@lru_cache(maxsize=1)
def shipped_table() -> DefaultRateTable:
    """The shipped default-rate table (Moody's idealized, fractions)."""
    text = resources.files("xlabs.data").joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
    return read_table_csv(text, source=f"xlabs/data/{SHIPPED_FILE} (Moody's idealized cumulative expected default rates)")


def default_probability(rating, years, table: DefaultRateTable | None = None):
    """Cumulative default probability of ``rating`` over ``years`` (METHODOLOGY §2.1).

    Parameters
    ----------
    rating : str
        Rating symbol of §1 (``"AA-"`` and ``"AA-sf"`` are the same).
    years : float or array_like
        Term in years (fractional terms are interpolated in cumulative hazard).
    table : DefaultRateTable, optional
        Defaults to the shipped Moody's idealized table.

    Returns
    -------
    float or ndarray
        Fraction(s), shape of ``years``.
    """
    return (table or shipped_table()).probability(rating, years)
