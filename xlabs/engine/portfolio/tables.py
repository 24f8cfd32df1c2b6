"""Reading the shipped ``xlabs/data/corporate_*.csv`` tables (METHODOLOGY §2).

Every file starts with ``#`` lines naming where its numbers come from; the
rest is a plain CSV with a header row.  The workbook's copy of a table wins
(§2); these are only the defaults.
"""

from __future__ import annotations

import csv
from importlib import resources


def read_rows(name: str) -> tuple[list[dict], str]:
    """(rows as dicts of strings, source text from the ``#`` header) of a shipped table."""
    text = resources.files("xlabs.data").joinpath(name).read_text(encoding="utf-8")
    header = " ".join(ln[1:].strip() for ln in text.splitlines() if ln.startswith("#"))
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return list(csv.DictReader(body)), header
