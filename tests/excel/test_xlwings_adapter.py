"""The xlwings adapter against a recording stand-in of the xlwings calls it makes.

xlwings can only drive a real Excel on Windows or macOS; on this platform we
check the *mapping*: the stand-in below implements just the xlwings surface
listed in ``xlabs/excel/xlwings_book.py`` (sheets, used_range, range value /
number_format / font, charts.add, app.status_bar) and records every call.
The same macro run through both adapters must leave the same cell values.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import column_index_from_string

from xlabs.excel import macros
from xlabs.excel.xlwings_book import XlwingsBook
from xlabs.workbook.adapter import OpenpyxlBook


class _Font:
    def __init__(self, cell):
        self._cell = cell

    @property
    def bold(self):
        return self._cell.get("bold", False)

    @bold.setter
    def bold(self, v):
        self._cell["bold"] = v


class FakeRange:
    def __init__(self, sheet, a, b=None):
        self.sheet, self.a, self.b = sheet, a, b

    @property
    def _key(self):
        return self.a

    def _cell(self):
        return self.sheet.cells.setdefault(self.a, {})

    @property
    def value(self):
        return self._cell().get("value")

    @value.setter
    def value(self, v):
        self.sheet.log.append(("value", self.a, v))
        self._cell()["value"] = v

    @property
    def number_format(self):
        return self._cell().get("fmt")

    @number_format.setter
    def number_format(self, v):
        self._cell()["fmt"] = v

    @property
    def font(self):
        return _Font(self._cell())

    @property
    def column_width(self):
        return None

    @column_width.setter
    def column_width(self, w):
        self.sheet.log.append(("width", self.a, w))

    left = 0.0
    top = 0.0

    def options(self, ndim=None):
        assert ndim == 2
        return self


class FakeUsedRange:
    """Excel's used range: from the first used row and column (empty leading rows and columns left out)."""

    def __init__(self, rows):
        used = [(i, j) for i, r in enumerate(rows) for j, v in enumerate(r) if v not in (None, "")]
        self.row = min((i for i, _ in used), default=0) + 1
        self.column = min((j for _, j in used), default=0) + 1
        self._rows = [list(r)[self.column - 1:] for r in rows[self.row - 1:]]

    def options(self, ndim=None):
        assert ndim == 2
        return self

    @property
    def value(self):
        return [list(r) for r in self._rows]


class FakeChart:
    def __init__(self, log):
        self.log = log
        self.chart_type = None
        self.name = None

    def set_source_data(self, rng):
        self.log.append(("chart_source", rng.a, rng.b))

    def delete(self):
        self.sheet_charts.items.remove(self)


class FakeCharts:
    def __init__(self, sheet):
        self.sheet = sheet
        self.items = []

    def add(self, left, top, width, height):
        c = FakeChart(self.sheet.log)
        c.sheet_charts = self
        self.items.append(c)
        return c

    def __iter__(self):
        return iter(list(self.items))


class FakeSheet:
    def __init__(self, book, name, rows=()):
        self.book, self.name = book, name
        self._rows = list(rows)
        self.cells = {}
        self.log = []
        self.charts = FakeCharts(self)

    @property
    def used_range(self):
        """The sheet's rows with the values written since (as Excel shows them after a run)."""
        rows = [list(r) for r in self._rows]
        for key, cell in self.cells.items():
            if isinstance(key, tuple) and len(key) == 2 and "value" in cell:
                r, c = key
                rows.extend([] for _ in range(r - len(rows)))
                rows[r - 1].extend([None] * (c - len(rows[r - 1])))
                rows[r - 1][c - 1] = cell["value"]
        return FakeUsedRange(rows)

    def range(self, a, b=None):
        if isinstance(a, str):
            return FakeRange(self, a, b)
        return FakeRange(self, tuple(a), tuple(b) if b is not None else None)

    def delete(self):
        self.book.sheets._list.remove(self)

    def clear(self):
        self.cells.clear()
        self._rows = []
        self.log.append(("clear",))


class FakeSheets:
    def __init__(self, book):
        self.book = book
        self._list = []

    def __iter__(self):
        return iter(list(self._list))

    def __getitem__(self, name):
        for s in self._list:
            if s.name == name:
                return s
        raise KeyError(name)

    def add(self, name, after=None):
        s = FakeSheet(self.book, name)
        i = self._list.index(after) + 1 if after is not None else 0
        self._list.insert(i, s)
        return s


class FakeApp:
    def __init__(self):
        self.status = []

    @property
    def status_bar(self):
        return self.status[-1] if self.status else False

    @status_bar.setter
    def status_bar(self, v):
        self.status.append(v)


class FakeBook:
    """Stands in for ``xlwings.Book``: built from an .xlsx so the inputs are real."""

    def __init__(self, path):
        self.app = FakeApp()
        self.sheets = FakeSheets(self)
        wb = openpyxl.load_workbook(path)
        for ws in wb:
            s = FakeSheet(self, ws.title, ws.iter_rows(values_only=True))
            self.sheets._list.append(s)


@pytest.fixture
def deal_path(make_workbook):
    return make_workbook()


def test_rate_deal_through_xlwings_adapter_writes_what_openpyxl_writes(deal_path):
    fake = FakeBook(deal_path)
    inputs_before = {s.name: [tuple(r) for r in s._rows] for s in fake.sheets}
    xl = XlwingsBook(fake)
    _, res_xl, _ = macros.rate_deal(xl, source_name="deal.xlsx")

    ob = OpenpyxlBook(deal_path)
    _, res_op, _ = macros.rate_deal(ob, source_name="deal.xlsx")

    names = [s.name for s in fake.sheets]
    assert names == ob.sheet_names()
    for name in ("TDR", "Stress", "Rating", "CashFlows"):
        ws = ob.wb[name]
        sheet = fake.sheets[name]
        for (r, c), cell in sheet.cells.items():
            if isinstance(r, int):
                assert ws.cell(r, c).value == cell.get("value"), (name, r, c)
        assert len(sheet.cells) >= sum(1 for row in ws.iter_rows() for x in row if x.value is not None)
    # inputs untouched: no write went to an input sheet
    for s in fake.sheets:
        if s.name in inputs_before:
            assert not s.log and [tuple(r) for r in s._rows] == inputs_before[s.name]
    # charts created with a type and a source range
    assert {c.chart_type for c in fake.sheets["TDR"].charts.items} == {"xy_scatter_lines_no_markers", "line"}
    assert any(e[0] == "chart_source" for e in fake.sheets["CashFlows"].log)
    # the tranche-balance chart charts the period column and the balance columns only: a block from the
    # first to the last also charted every pool, account and interest column between them
    src = [e[1] for e in fake.sheets["CashFlows"].log if e[0] == "chart_source"]
    assert len(src) == 1 and isinstance(src[0], str), src
    cf = ob.wb["CashFlows"]
    heads = []
    for area in src[0].split(","):
        a, b = area.split(":")
        c0 = column_index_from_string(a.rstrip("0123456789"))
        c1 = column_index_from_string(b.rstrip("0123456789"))
        row = int(a[len(a.rstrip("0123456789")):])
        heads += [cf.cell(row, c).value for c in range(c0, c1 + 1)]
    assert heads == ["period", "A balance", "B balance", "C balance"], heads
    # status bar reported progress and was cleared at the end
    assert len(fake.app.status) >= 3 and fake.app.status[-1] is False
    assert [t.final for t in res_xl.ratings] == [t.final for t in res_op.ratings]


def test_rerun_stress_replaces_only_stress_and_rating(deal_path):
    fake = FakeBook(deal_path)
    xl = XlwingsBook(fake)
    macros.rate_deal(xl)
    tdr_sheet, order = fake.sheets["TDR"], [s.name for s in fake.sheets]
    macros.rerun_stress(xl)
    assert fake.sheets["TDR"] is tdr_sheet
    _rewritten_in_place(fake, order, {"Stress", "Rating"})
    # the Rating sheet says the sheets not rewritten are from the last full run
    said = [c.get("value") for c in fake.sheets["Rating"].cells.values() if isinstance(c.get("value"), str)]
    assert any(v.startswith("Re-run of the stress table at ") and "TDR, CashFlows and Run are from the last "
               "'Rate deal' run" in v for v in said), said


def _rewritten_in_place(fake, order, names):
    """Exactly ``names`` were cleared and written again, each in its place (a formula on another sheet that
    refers to them stays valid: deleting and adding a sheet would turn it into #REF!)."""
    assert [s.name for s in fake.sheets] == order
    assert {s.name for s in fake.sheets if ("clear",) in s.log} == names
    assert all(s.cells for s in fake.sheets if s.name in names)


def test_rerun_stress_of_a_corporate_deal_replaces_only_stress_and_rating(tmp_path):
    from tests.corporate.test_corporate_path import tiny_kwargs
    from xlabs.workbook.corporate_build import build_corporate_workbook

    kw = tiny_kwargs()
    kw["assumptions"].update(n_paths=20_000)
    path = build_corporate_workbook(tmp_path / "corp.xlsx", **kw)
    fake = FakeBook(path)
    xl = XlwingsBook(fake)
    macros.rate_deal(xl)
    kept = {n: fake.sheets[n] for n in ("Portfolio", "KeyObligor", "CashFlows")}
    order = [s.name for s in fake.sheets]
    macros.rerun_stress(xl)
    assert all(fake.sheets[n] is s for n, s in kept.items())
    _rewritten_in_place(fake, order, {"Stress", "Rating"})
    said = [c.get("value") for c in fake.sheets["Rating"].cells.values() if isinstance(c.get("value"), str)]
    assert any("Portfolio, KeyObligor, CashFlows and Run are from the last 'Rate deal' run" in v for v in said)


def test_validate_inputs_lists_problems_on_a_sheet(make_workbook):
    path = make_workbook(lambda kw: kw["tranches"][0].update(coupon=4.0))
    fake = FakeBook(path)
    problems = macros.validate_inputs(XlwingsBook(fake))
    assert [p.where for p in problems] == ["Tranches!C3"]
    vals = [c.get("value") for c in fake.sheets["Validation"].cells.values()]
    assert "Tranches!C3" in vals


def test_refuses_to_write_an_input_sheet(deal_path):
    from xlabs.workbook.sheetout import SheetOut
    xl = XlwingsBook(FakeBook(deal_path))
    with pytest.raises(ValueError):
        xl.write_sheet(SheetOut("Tranches"), protected=("Tranches",))


SAMPLE = Path(__file__).resolve().parents[2] / "workbooks" / "consumer_sample.xlsx"


def test_a_problem_found_while_rating_reaches_the_validation_sheet(make_workbook, monkeypatch):
    """The 'Rate deal' button: when the run stops on an input problem, the Validation sheet shows that
    problem (it used to re-run only the reader and could say 'No problems found')."""
    from xlabs.errors import Problem, ValidationError
    from xlabs.excel import entry

    fake = FakeBook(make_workbook())
    book = XlwingsBook(fake)
    monkeypatch.setattr(entry, "_book", lambda: book)

    def stops(b):
        raise ValidationError([Problem("StaticPool!A3", "found only while rating")])
    assert entry._guarded(stops) is None
    vals = [c.get("value") for c in fake.sheets["Validation"].cells.values()]
    assert "StaticPool!A3" in vals and "found only while rating" in vals


def test_values_keep_their_cell_addresses_when_the_used_range_starts_below_a1():
    """Excel's used range starts at the first used cell: a sheet whose blocks start in B3 was read as if
    they started in A1, so every reported cell address was shifted."""
    from xlabs.excel.xlwings_book import XlwingsBook

    rows = [(None, None, None), (None, None, None), (None, "Deal", None), (None, "key", "value"), (None, "seed", 3)]
    book = FakeBook.__new__(FakeBook)
    book.app, book.sheets = FakeApp(), FakeSheets(book)
    book.sheets._list.append(FakeSheet(book, "Deal", rows))
    got = XlwingsBook(book).values("Deal")
    assert got[4][2] == 3 and got[2][1] == "Deal" and len(got) == 5


def test_rate_deal_in_excel_leaves_a_user_sheet_named_rating_alone(deal_path):
    """A user's own 'Rating' sheet was cleared in place and overwritten by the output sheet."""
    from xlabs.errors import ValidationError
    fake = FakeBook(deal_path)
    fake.sheets._list.append(FakeSheet(fake, "Rating", [("my notes",), (None, 42)]))
    with pytest.raises(ValidationError, match="Rating!A1"):
        macros.rate_deal(XlwingsBook(fake))
    assert ("clear",) not in fake.sheets["Rating"].log and not fake.sheets["Rating"].cells
    assert "TDR" not in [s.name for s in fake.sheets]


def test_a_user_validation_sheet_leaves_the_problems_on_the_status_bar_not_a_traceback(make_workbook, monkeypatch):
    """The buttons put input problems on the Validation sheet, never in a Python traceback dialog.  With the
    user's own sheet named Validation (never replaced), listing them raised out of the button: Excel showed a
    traceback.  The status bar now names the sheet in the way and the count; the user's sheet is unchanged."""
    import openpyxl

    from xlabs.errors import Problem, ValidationError
    from xlabs.excel import entry
    path = make_workbook()
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("Validation")["A1"] = "my own checks"
    wb.save(path)
    fake = FakeBook(path)
    book = XlwingsBook(fake)
    monkeypatch.setattr(entry, "_book", lambda: book)

    def stops(b):
        raise ValidationError([Problem("StaticPool!A3", "found only while rating")])
    assert entry._guarded(stops) is None
    assert fake.app.status[-1] == ("xlabs:  99% 2 input problem(s), not listed: Validation!A1: this sheet was not "
                                   "written by xlabs, and a run writes its 'Validation' output sheet under this "
                                   "name: rename the sheet (nothing in it was changed)")
    assert entry.validate() is None and "not listed: Validation!A1" in fake.app.status[-1]
    assert book.values("Validation")[0][0] == "my own checks" and not fake.sheets["Validation"].cells
