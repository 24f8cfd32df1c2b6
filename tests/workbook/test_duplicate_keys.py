"""A lookup table of the consumer workbook with a key given twice is refused at the later row.

The Default rates and Stress multiples blocks are read into a mapping by rating: a rating listed twice
(or as AA and AAsf) silently kept the later row, so a stale row under the table decided the TDR."""

from __future__ import annotations

from tests.workbook_edits import edited_problems as _problems
from tests.workbook_edits import row_titled as _find


def _repeat_row(ws, src, symbol, scale):
    """Insert below row ``src`` a copy of it under the rating ``symbol``, numbers times ``scale``."""
    ws.insert_rows(src + 1)
    for c in range(1, ws.max_column + 1):
        v = ws.cell(src, c).value
        ws.cell(src + 1, c).value = v * scale if isinstance(v, (int, float)) and c > 1 else v
    ws.cell(src + 1, 1).value = symbol


def test_a_rating_listed_twice_in_the_default_rates_is_refused(tmp_path):
    """Row 5 holds AAsf; a second AA row below it, 1% higher (still below AA-sf: monotone, so no other rule
    fires), used to replace it."""
    def edit(wb):
        ws = wb["RatingTables"]
        assert ws["A5"].value == "AAsf"
        _repeat_row(ws, 5, "AA", 1.01)
    got = _problems(tmp_path, "consumer_sample.xlsx", edit)
    assert got == [("RatingTables!A6", "rating AAsf is listed twice in block 'Default rates' (also row 5): "
                                       "one row per rating")], got


def test_a_rating_listed_twice_in_the_stress_multiples_is_refused(tmp_path):
    row = {}

    def edit(wb):
        ws = wb["RatingTables"]
        row["r"] = _find(ws, "Stress multiples") + 2          # first data row
        _repeat_row(ws, row["r"], ws.cell(row["r"], 1).value, 1.5)
    got = _problems(tmp_path, "consumer_sample.xlsx", edit)
    assert [w for w, _ in got] == [f"RatingTables!A{row['r'] + 1}"], got
    assert "listed twice in block 'Stress multiples'" in got[0][1]
