"""The committee pack: one workbook (and PDF where LibreOffice is installed) a rating committee reads.

``xlabs pack IN.xlsx -o PACK.xlsx`` rates the deal with the same macro code
as ``xlabs rate`` and assembles: a Summary (proposed ratings and the run
record), every output sheet with its tables and charts, the inputs echoed
(values only; a long loan tape is summarised by amortisation type), and a
SignOff sheet left blank for the committee.  Nothing in it is invented by
the tool: every number comes from the inputs or the run, and the decision
cells are empty.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import openpyxl

from .excel import macros
from .workbook.adapter import OpenpyxlBook
from .workbook.run import check_output, file_sha256
from .workbook.sheetout import SheetOut

MAX_ECHO_ROWS = 2000
"""Input sheets longer than this are summarised instead of echoed row by row (the loan tape)."""


class _CaptureBook:
    """Reads from the input workbook; keeps the output sheets instead of writing them into it."""

    writes_into_workbook = False      # the input's own sheets named like output sheets are never in the way

    def __init__(self, src: OpenpyxlBook, progress=None):
        self.src = src
        self.sheets: list[SheetOut] = []
        self._progress = progress

    def sheet_names(self):
        return self.src.sheet_names()

    def values(self, name):
        return self.src.values(name)

    def progress(self, fraction, message):
        if self._progress:
            self._progress(fraction, message)

    def write_sheet(self, out: SheetOut, protected=()):
        if out.name in protected:
            raise ValueError(f"refusing to overwrite input sheet {out.name}")
        self.sheets = [s for s in self.sheets if s.name != out.name] + [out]


def _summary(deal, res, info, corporate: bool) -> SheetOut:
    s = SheetOut("Summary")
    s.title(f"Committee pack: {deal.name}")
    s.note(2, 1, "Proposed ratings from the model run below; the committee's decision is recorded on the SignOff "
                 "sheet. Every figure in this pack comes from the deal workbook or the run; none is entered by hand.")
    rows = []
    for t in res.ratings:
        rows.append((t.tranche, t.credit_enhancement, t.caps.get("portfolio") or "n/a",
                     t.caps.get("cash flow") or "n/a", t.caps.get("key obligor") or "n/a", t.model_indicated,
                     "; ".join(f"{f}: {e}" for f, e, _, _ in t.adjustments) or "none", t.support or "none", t.final))
    r = s.table(4, 1, "Ratings proposed to the committee",
                ["tranche", "credit enhancement", "cap 1: portfolio", "cap 2: cash flow", "cap 3: key obligor",
                 "model-indicated", "adjustments", "external support", "proposed final rating"], rows,
                {"credit enhancement": "0.00%"})
    s.table(r, 1, "Run record", ["item", "value"], list(info.items()))
    s.widths.update({"A": 28, "B": 22, "G": 40, "H": 40})
    return s


def _echo(name: str, rows: list) -> SheetOut:
    """The sheet's values as read; past :data:`MAX_ECHO_ROWS` rows, the first ones and a note (the deal
    workbook, identified by its SHA-256, holds the rest)."""
    s = SheetOut(f"Input {name}"[:31])
    s.title(f"Input sheet '{name}' as read (values only)")
    first = 3
    if len(rows) > MAX_ECHO_ROWS:
        s.note(3, 1, f"{len(rows):,} rows: the first {MAX_ECHO_ROWS:,} are shown; the full sheet is in the deal "
                     "workbook (its SHA-256 is on the Summary sheet).")
        first = 5
    for i, row in enumerate(rows[:MAX_ECHO_ROWS]):
        for k, v in enumerate(row):
            if v is not None:
                s.put(first + i, 1 + k, v)
    return s


def _obligor_summary(deal) -> SheetOut | None:
    """A long obligor list summarised by shadow rating and by industry (count, balance)."""
    obs = getattr(deal, "obligors", None)
    if not obs:
        return None
    s = SheetOut("Input Obligors")
    s.title(f"Obligor list summary ({len(obs):,} asset rows, {len({o.id for o in obs}):,} obligors; "
            "from the Obligors sheet)")
    r = 3
    for key, label in (("shadow_rating", "By shadow rating"), ("industry", "By industry")):
        agg: dict = {}
        for o in obs:
            a = agg.setdefault(getattr(o, key), [set(), 0, 0.0])
            a[0].add(o.id)
            a[1] += 1
            a[2] += o.balance
        rows = [(k, len(v[0]), v[1], v[2]) for k, v in sorted(agg.items(), key=lambda kv: -kv[1][2])]
        r = s.table(r, 1, label, [key, "obligors", "asset rows", "balance"], rows, {"balance": "#,##0.00"})
    return s


def _tape_summary(deal) -> SheetOut | None:
    tape = getattr(deal, "tape", None)
    if tape is None:
        return None
    import numpy as np
    s = SheetOut("Input Pool")
    s.title("Loan tape summary (from the Pool sheet)")
    rows = []
    for kind in sorted(set(tape.amortisation)):
        m = tape.amortisation == kind
        b = tape.balance[m]
        rows.append((kind, int(m.sum()), float(b.sum()), float(np.dot(b, tape.annual_rate[m]) / b.sum()),
                     float(np.dot(b, tape.remaining_term[m]) / b.sum())))
    b = tape.balance
    rows.append(("all", int(b.size), float(b.sum()), float(np.dot(b, tape.annual_rate) / b.sum()),
                 float(np.dot(b, tape.remaining_term) / b.sum())))
    s.table(3, 1, "By amortisation type", ["amortisation", "loans", "balance", "weighted rate",
                                           "weighted remaining term (months)"], rows,
            {"balance": "#,##0.00", "weighted rate": "0.00%", "weighted remaining term (months)": "0.0"})
    return s


def _signoff(deal, res) -> SheetOut:
    s = SheetOut("SignOff")
    s.title(f"Rating committee sign-off: {deal.name}")
    s.note(2, 1, "To be completed by the committee. xlabs leaves every cell of these tables empty.")
    r = s.table(4, 1, "Committee decision per tranche", ["tranche", "proposed rating", "rating decided",
                                                          "reasons for any difference"],
                [(t.tranche, t.final, None, None) for t in res.ratings])
    r = s.table(r, 1, "Committee members", ["name", "role", "vote (agree / disagree)", "signature", "date"],
                [(None, None, None, None, None) for _ in range(7)])
    s.table(r, 1, "Meeting", ["item", "value"], [("date", None), ("place", None), ("chair", None),
                                                  ("minutes reference", None)])
    s.widths.update({"A": 26, "B": 22, "C": 26, "D": 40, "E": 16})
    return s


def make_pack(path, out, pdf: bool = True, progress=None) -> dict:
    """Rate ``path`` and write the committee pack to ``out`` (atomically); PDF beside it when possible.

    Returns ``{"workbook": Path, "pdf": Path | None, "pdf_note": str}``.
    """
    path, out = Path(path), Path(out)
    check_output(path, out, what="committee pack")
    src = OpenpyxlBook(path)            # a missing or unreadable file is an input problem, reported first
    checksum = file_sha256(path)
    cap = _CaptureBook(src, progress)
    deal, res, info = macros.rate_deal(cap, source_name=path.name, checksum=checksum)
    corporate = macros.is_corporate(src)
    book = OpenpyxlBook.__new__(OpenpyxlBook)
    book.wb = openpyxl.Workbook()
    book.wb.remove(book.wb.active)
    sheets = [_summary(deal, res, info, corporate)] + cap.sheets
    summaries = {"Pool": _tape_summary, "Obligors": _obligor_summary}     # for sheets too long to echo
    for name in src.sheet_names():
        if name.startswith("_") or name in [s.name for s in cap.sheets]:
            continue
        rows = src.values(name)
        summary = summaries[name](deal) if name in summaries and len(rows) > MAX_ECHO_ROWS else None
        sheets.append(summary if summary is not None else _echo(name, rows))
    sheets.append(_signoff(deal, res))
    for sh in sheets:
        sh.print_fit_width = True
        book.write_sheet(sh)
    book.save_atomic(out)
    result = {"workbook": out, "pdf": None, "pdf_note": ""}
    if pdf:
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        if soffice is None:
            result["pdf_note"] = "LibreOffice is not installed: no PDF (the workbook is complete)"
        else:
            with tempfile.TemporaryDirectory() as prof:
                run = subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{prof}",
                                      "--convert-to", "pdf", "--outdir", str(out.parent), str(out)],
                                     capture_output=True, text=True, timeout=900)
            pdf_path = out.with_suffix(".pdf")
            if run.returncode == 0 and pdf_path.exists():
                result["pdf"] = pdf_path
            else:
                result["pdf_note"] = f"LibreOffice could not convert the pack: {run.stderr.strip()[:200]}"
    return result
