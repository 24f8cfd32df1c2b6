"""Output sheets show every number whole: no ``###`` for a value wider than its column, no header cut off."""

from __future__ import annotations

from xlabs.workbook.sheetout import SheetOut


def test_a_table_widens_its_columns_to_its_numbers_and_headers():
    s = SheetOut("T")
    s.title("A very long sheet title that runs on over the empty cells to its right")
    s.table(3, 1, "A long table title that also runs on to the right of its first column",
            ["name", "defaulted amount", "share"], [("OB1", 2_012_240_000.0, 0.2205)],
            {"defaulted amount": "#,##0.00", "share": "0.00%"})
    s.note(10, 2, "a note of prose, longer than any column should be made for it by far, really")
    s.widths.update({"A": 30, "C": 5})
    w = s.column_widths()
    assert w["A"] == 30                                   # set by the writer, wider than the content: kept
    assert w["B"] >= len("2,012,240,000.00") + 1          # 16 characters: 8.43 would show ###
    assert w["B"] < 30                                    # the note in B does not widen it
    assert w["C"] >= len("22.05%") + 1                    # a width set too narrow is widened
    assert set(w) == {"A", "B", "C"}


def test_cjk_text_counts_double_and_text_is_capped():
    s = SheetOut("T")
    s.table(1, 1, "t", ["行业"], [("房地产开发与经营",), ("x" * 500,)])
    w = s.column_widths()["A"]
    assert 16 + 2 <= w <= 60 * 1.1 + 2


def test_every_whole_number_an_input_can_hold_is_bounded():
    """A term, lag, horizon or path count sizes arrays: without an upper bound a typo (1e9) exhausts the
    machine's memory instead of being reported at its cell."""
    from xlabs.workbook import corporate_schema, schema

    for blocks in (schema.CONSUMER_BLOCKS, corporate_schema.CORPORATE_BLOCKS):
        for b in blocks:
            for c in b.columns:
                if c.kind == "int":
                    assert c.hi is not None, (b.sheet, b.title, c.name)
