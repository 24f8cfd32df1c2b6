"""The schema tables of README are the schema declarations (xlabs/workbook/schema.py, corporate_schema.py).

README's "Sheet schema" sections must list every column with the type, required flag, default and meaning the
reader validates by; the tables are the output of each module's ``schema_markdown()``, line for line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xlabs.workbook import corporate_schema, schema

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_at(text: str, header: str) -> list:
    """The Markdown table of ``text`` whose first line is exactly ``header``."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln == header]
    assert len(starts) == 1, f"README has {len(starts)} tables headed {header!r}"
    out = []
    for ln in lines[starts[0]:]:
        if not ln.startswith("|"):
            break
        out.append(ln)
    return out


@pytest.mark.parametrize("module", [schema, corporate_schema], ids=["consumer", "corporate"])
def test_readme_schema_table_is_the_declared_schema(module):
    generated = module.schema_markdown().splitlines()
    assert _table_at(README.read_text(encoding="utf-8"), generated[0]) == generated


def test_a_column_required_on_some_rows_says_so():
    """Adjustments ``coverage`` is blank on notch and cap rows but required on support rows (the reader refuses a
    support row without it), so the table says "support rows", not "no"."""
    row = [ln for ln in schema.schema_markdown().splitlines() if "| `coverage` |" in ln]
    assert len(row) == 1 and row[0].split(" | ")[4] == "support rows"
