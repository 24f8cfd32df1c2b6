"""The small workbook adapter every run reads and writes through.

Contract (what the macros and ``rate_workbook`` use, nothing more):

- ``sheet_names() -> list[str]``
- ``values(name) -> list[tuple]``: the cell values of a sheet, row 1 first
- ``write_sheet(SheetOut, protected)``: create or replace an *output* sheet
- ``progress(fraction, message)``: report progress
- ``save(path=None)``: persist (headless: atomic file save; Excel: the
  workbook stays open for the user to save)

:class:`OpenpyxlBook` is the headless implementation used by ``xlabs rate``,
batch runs and the tests; :class:`xlabs.excel.xlwings_book.XlwingsBook` maps
the same calls onto a live Excel workbook.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

import openpyxl
from openpyxl.chart import BarChart, LineChart, Reference, ScatterChart
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.datetime import to_excel

from ..errors import Problem, SaveError, ValidationError
from .blocks import Uncalculated
from .sheetout import SheetOut


def _is_formula(v) -> bool:
    """A formula as openpyxl reads it without values: text from '=', or an array / data-table formula."""
    return (isinstance(v, str) and v.startswith("=") and len(v) > 1) or type(v).__name__ in (
        "ArrayFormula", "DataTableFormula")


NOTHING_LOST = ("Workbook contains no default style", "Workbook contains no stylesheet")
"""openpyxl load warnings that lose nothing: a file without styles (written by another program) gets
openpyxl's default ones; not reported as content not carried."""


class OpenpyxlBook:
    """A workbook on disk, opened with openpyxl (VBA kept for ``.xlsm``)."""

    def __init__(self, path, progress=None):
        self.path = Path(path)
        self._progress = progress
        if not self.path.exists():
            raise ValidationError([Problem(str(path), "file not found")])
        try:
            # openpyxl's load warnings (what it drops) are kept for not_carried(), not printed raw
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.wb = openpyxl.load_workbook(self.path, keep_vba=self.path.suffix.lower() == ".xlsm")
        except Exception as e:  # openpyxl raises many types for a bad file
            raise ValidationError([Problem(str(path), f"not a readable .xlsx/.xlsm workbook ({e})")]) from None
        self._load_warnings = list(dict.fromkeys(str(w.message) for w in caught))
        self._values = {}
        self._cached = None
        self._is_calculated = None

    def sheet_names(self) -> list:
        return list(self.wb.sheetnames)

    def not_carried(self) -> list:
        """What a save of this book leaves out of the sheets a run did not write, one line per sheet:
        the pictures, shapes and charts of the file's drawings that openpyxl did not load (it loads
        charts, and pictures only with Pillow; shapes, text boxes and every drawing object beside a
        shape it drops) and the Excel 2010+ extensions of the sheet it drops (data validations such as
        a list from another sheet, data bars and icon sets, sparklines, slicers); then, one line each,
        any other warning openpyxl gave on loading the file.  [] when nothing is lost."""
        if not hasattr(self, "_drawings"):
            self._drawings = _drawing_objects(self.path)
            self._extensions = _extension_objects(self.path)
        written = getattr(self, "_written", set())
        lines = []
        for name in self.wb.sheetnames:
            if name in written:
                continue
            ws = self.wb[name]          # a worksheet, or a chart sheet (which has charts and no images)
            kinds = self._drawings.get(name, {})
            lost = {"picture": kinds.get("picture", 0) - len(getattr(ws, "_images", ())),
                    "chart": kinds.get("chart", 0) - len(ws._charts),
                    "shape or text box": kinds.get("shape or text box", 0),
                    "other drawing object": kinds.get("other drawing object", 0),
                    **self._extensions.get(name, {})}
            said = [f"{n} {k}{'es' if k.endswith('box') and n > 1 else 's' if n > 1 else ''}"
                    for k, n in lost.items() if n > 0]
            if said:
                lines.append(f"sheet '{name}': {', '.join(said)} not carried into the saved workbook "
                             "(openpyxl cannot keep them)")
        # said sheet by sheet above: the extensions and the drawing objects openpyxl drops
        explained = ("extension is not supported and will be removed", "DrawingML support is incomplete")
        lines += [f"openpyxl on loading the workbook: {w}" for w in getattr(self, "_load_warnings", [])
                  if not any(e in w for e in explained + NOTHING_LOST)]
        return lines

    def values(self, name: str) -> list:
        """Cell values of sheet ``name``, row 1 first.  A formula cell gives the value Excel (or
        LibreOffice) stored with it when it last calculated, as Excel would show it (None for an empty
        result); in a file no program has calculated (no formula has a stored value) a formula gives
        :class:`~.blocks.Uncalculated`, reported by the readers, never read as a blank."""
        if name not in self._values:
            ws = self.wb[name]
            rows = list(ws.iter_rows(values_only=True)) if hasattr(ws, "iter_rows") else []  # a chart sheet: no cells
            where = [(i, j) for i, r in enumerate(rows) for j, v in enumerate(r) if _is_formula(v)]
            if where:
                cached = self._cached_values(name)
                calculated = self._calculated()
                rows = [list(r) for r in rows]
                for i, j in where:
                    v = cached[i][j] if i < len(cached) and j < len(cached[i]) else None
                    if v is None and not calculated:
                        v = Uncalculated(str(rows[i][j]))
                    rows[i][j] = v        # None: a formula whose result shows blank (e.g. =IF(..., ""))
                rows = [tuple(r) for r in rows]
            self._values[name] = rows
        return self._values[name]

    def _cached_values(self, name: str) -> list:
        """The stored results of the formulas of sheet ``name`` (a second, value-only read of the file)."""
        if self._cached is None:
            with warnings.catch_warnings():     # the first load's warnings again: kept already (not_carried)
                warnings.simplefilter("ignore")
                wb = openpyxl.load_workbook(self.path, data_only=True, read_only=True)
                try:
                    # a string result stored empty (t="str", <v></v>: e.g. =IF(..., "")) is the empty string
                    self._cached = {ws.title: [tuple("" if c.value is None and c.data_type == "str" else c.value
                                                     for c in r) for r in ws.iter_rows(min_row=1)]
                                    for ws in wb.worksheets}
                finally:
                    wb.close()              # read-only mode keeps the file open until closed
        return self._cached.get(name, [])

    def _calculated(self) -> bool:
        """Whether a calculating program saved the file: some formula in it has a stored value.  A file
        written by a script has none; in a calculated file a formula without a stored value is one whose
        result is an empty string (Excel and LibreOffice store nothing for it)."""
        if self._is_calculated is None:
            self._is_calculated = False
            for ws in self.wb.worksheets:
                cached = self._cached_values(ws.title)
                for i, r in enumerate(ws.iter_rows(values_only=True)):
                    for j, v in enumerate(r):
                        if _is_formula(v) and i < len(cached) and j < len(cached[i]) and cached[i][j] is not None:
                            self._is_calculated = True
                            return True
        return self._is_calculated

    def merged(self, name: str) -> list:
        """Merged ranges of sheet ``name`` as ``(min_row, min_col, max_row, max_col)``, 1-based."""
        return [(m.min_row, m.min_col, m.max_row, m.max_col) for m in self.wb[name].merged_cells.ranges]

    def progress(self, fraction: float, message: str) -> None:
        if self._progress is not None:
            self._progress(fraction, message)

    def write_sheet(self, out: SheetOut, protected=()) -> None:
        """Render ``out`` on a fresh sheet of its name (an old one is removed)."""
        if out.name in protected:
            raise ValueError(f"refusing to overwrite input sheet {out.name}")
        at = None
        if out.name in self.wb.sheetnames:             # replaced in its place: re-rating keeps the sheet order
            at = self.wb.sheetnames.index(out.name)
            del self.wb[out.name]
        ws = self.wb.create_sheet(out.name, at)
        self._written = getattr(self, "_written", set()) | {out.name}
        for c in out.cells:
            cell = ws.cell(c.row, c.col, c.value)
            if c.number_format:
                cell.number_format = c.number_format
            if c.bold or c.size:
                cell.font = Font(bold=c.bold, size=c.size)
            if c.fill:
                cell.fill = PatternFill("solid", fgColor=c.fill)
        for col, w in out.column_widths().items():
            ws.column_dimensions[col].width = w
        for ch in out.charts:
            ws.add_chart(_openpyxl_chart(ws, ch), ch.anchor)
        if out.print_fit_width:
            ws.page_setup.orientation = "landscape"
            ws.sheet_properties.pageSetUpPr.fitToPage = True
            ws.page_setup.fitToWidth = 1
            ws.page_setup.fitToHeight = 0

    def save(self, path=None) -> Path:
        return self.save_atomic(path or self.path)

    def save_atomic(self, path) -> Path:
        """Save to ``path`` through a temporary file in the same folder and an atomic rename.

        Raises :class:`~xlabs.errors.SaveError` when the file system refuses (a full disk, ...); a file
        already at ``path`` is then left as it was."""
        def write(tmp):
            self.wb.calculation.fullCalcOnLoad = True     # formulas referring to output sheets: fresh on opening
            self.wb.save(tmp)
            self._restore_cached_values(tmp)
        return atomic_write(Path(path), write)


    def _restore_cached_values(self, saved) -> None:
        """Put back the stored results of the formulas of the sheets this run did not write.

        openpyxl writes a formula without its stored result (``<f>..</f><v/>``), so a rated copy of a
        calculated workbook read headlessly again (a second ``xlabs rate``, a batch re-rating) would find
        every input formula uncalculated.  The results are those the file held when it was opened (the
        input sheets are not changed by a run); Excel and LibreOffice recalculate on opening
        (``fullCalcOnLoad``), so formulas that refer to the new output sheets show fresh values there."""
        written = getattr(self, "_written", set())
        per_sheet = {}
        for ws in self.wb.worksheets:
            if ws.title in written:
                continue
            cached = None
            for row in ws.iter_rows():
                for c in row:
                    if _is_formula(c.value):          # an array formula too: read again it would show blank
                        if cached is None:
                            cached = self._cached_values(ws.title)
                        i, j = c.row - 1, c.column - 1
                        v = cached[i][j] if i < len(cached) and j < len(cached[i]) else None
                        if v is not None:
                            per_sheet.setdefault(ws.title, {})[c.coordinate] = v
        if not per_sheet:
            return
        _inject_cached_values(saved, per_sheet, self.wb.epoch)


_XDR = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"


def atomic_write(path: Path, write) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file in the same folder, which then
    replaces ``path`` by a rename, with the usual file mode (mkstemp makes 0600).  Raises
    :class:`~xlabs.errors.SaveError` when the file system refuses (a full disk, ...); a file already at
    ``path`` is then left as it was, and the temporary file is removed."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".xlabs-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as e:
        raise SaveError(path, e) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _drawing_objects(path) -> dict:
    """Sheet name -> {kind: count} of the objects anchored in each sheet's drawing part of the package
    ``path``: "picture", "chart", "shape or text box", "other drawing object" (e.g. SmartArt)."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            for sheet, part in _sheet_parts(z):
                srels = part.rsplit("/", 1)[0] + "/_rels/" + part.rsplit("/", 1)[1] + ".rels"
                if srels not in names:
                    continue
                for r in ET.fromstring(z.read(srels)).findall("p:Relationship", _NS):
                    if not r.get("Type", "").endswith("/drawing"):
                        continue
                    d = _part(r.get("Target"), part.rsplit("/", 1)[0])
                    if d not in names:
                        continue
                    kinds = out.setdefault(sheet, {})
                    for anchor in ET.fromstring(z.read(d)):
                        obj = next((c for c in anchor if c.tag[len(_XDR):] in ("pic", "sp", "grpSp", "cxnSp",
                                                                               "graphicFrame")), None)
                        if obj is None:
                            continue
                        tag = obj.tag[len(_XDR):]
                        if tag == "graphicFrame":
                            kind = "chart" if "/chart" in ET.tostring(obj, encoding="unicode") else \
                                "other drawing object"
                        else:
                            kind = "picture" if tag == "pic" else "shape or text box"
                        kinds[kind] = kinds.get(kind, 0) + 1
    except (KeyError, ET.ParseError, zipfile.BadZipFile):
        return {}
    return out


_X14_CF_LINK = "{B025F937-C7B1-47D3-B67F-A62EFF666E3E}"
"""The extension of a 2007 conditional-format rule pointing at its Excel 2010 part (counted with that part)."""
_EXT_KINDS = {"{CCE6A557-97BC-4B89-ADB6-D9C93CAAB3DF}": ("data validation", "dataValidation"),
              "{78C0D931-6437-407D-A8EE-F0AAD7539E65}": ("data-bar or icon-set format", "cfRule"),
              "{05C60535-1F16-4FD2-B633-F4F36F0B64E0}": ("sparkline", "sparkline"),
              "{A8765BA9-456A-4DAB-B4F3-ACF838C121DE}": ("slicer", "slicer"),
              "{3A4CF648-6AED-40F4-86FF-DC5316D8AED3}": ("slicer", "slicer"),
              "{7E03D99C-DC04-49D9-9315-930204A7B6E9}": ("timeline", "timelineRef"),
              "{FC87AEE6-9EDD-4A0A-B7FB-166176984837}": ("protected range", "protectedRange"),
              "{01252117-D84E-4E92-8308-4BE1C098FCBB}": ("ignored-error rule", "ignoredError"),
              "{F7C9EE02-42E1-4005-9D12-6889AFFD525C}": ("web extension", "webExtension")}
"""Extension uri -> (what it holds, the element counted), of the worksheet extensions openpyxl drops."""


def _extension_objects(path) -> dict:
    """Sheet name -> {kind: count} of the Excel 2010+ extensions (``<extLst>``) of each sheet of the
    package ``path``, all of which openpyxl drops on loading: data validations (a list whose source is
    on another sheet), conditional formats (data bars, icon sets), sparklines, slicers, ...; an
    extension of another kind counts as one "other Excel extension"."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for sheet, part in _sheet_parts(z):
                kinds = {}
                for ext in ET.fromstring(z.read(part)).iter("{%s}ext" % _NS["m"]):
                    uri = (ext.get("uri") or "").upper()
                    if uri == _X14_CF_LINK:
                        continue
                    kind, element = _EXT_KINDS.get(uri, ("other Excel extension", None))
                    n = sum(1 for e in ext.iter() if e.tag.rsplit("}", 1)[-1] == element) if element else 1
                    kinds[kind] = kinds.get(kind, 0) + max(n, 1)
                if kinds:
                    out[sheet] = kinds
    except (KeyError, ET.ParseError, zipfile.BadZipFile):
        return {}
    return out


def _sheet_parts(z: zipfile.ZipFile):
    """(sheet name, package part) of every sheet of the open package ``z`` whose part it holds."""
    names = set(z.namelist())
    wbx = ET.fromstring(z.read("xl/workbook.xml"))
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): _part(r.get("Target"), "xl") for r in rels.findall("p:Relationship", _NS)}
    for sh in wbx.find("m:sheets", _NS):
        part = target.get(sh.get("{%s}id" % _NS["r"]))
        if part in names:
            yield sh.get("name"), part


def _part(target: str, base: str) -> str:
    """The package part a relationship ``target`` names, relative to folder ``base`` (or absolute)."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts = base.split("/") if base else []
    for seg in target.split("/"):
        if seg == "..":
            parts.pop()
        elif seg not in ("", "."):
            parts.append(seg)
    return "/".join(parts)


def _cached_xml(v, epoch=None):
    """(type attribute or None, text) of a stored formula result in sheet XML."""
    if isinstance(v, bool):
        return "b", "1" if v else "0"
    if isinstance(v, (int, float)):
        return None, repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time, dt.timedelta)):
        return None, repr(float(to_excel(v, epoch) if epoch is not None else to_excel(v)))  # the book's date system
    if isinstance(v, str) and v in ("#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!"):
        return "e", v
    return "str", xml_escape(str(v))


_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
_FORMULA_CELL = re.compile(r'<c r="([A-Z]+[0-9]+)"([^>]*)>(<f[^>]*/>|<f[^>]*>[^<]*</f>)<v ?/></c>')
"""A formula cell as openpyxl writes it: no stored result (the formula with its attributes, e.g. an array
formula's ``t="array" ref=".."``; its text is escaped XML, so it holds no ``<``)."""


def _with_cached(m, values: dict, epoch=None) -> str:
    if m.group(1) not in values:
        return m.group(0)
    kind, text = _cached_xml(values[m.group(1)], epoch)
    attrs = re.sub(r' t="[^"]*"', "", m.group(2)) + (f' t="{kind}"' if kind else "")
    return f'<c r="{m.group(1)}"{attrs}>{m.group(3)}<v>{text}</v></c>'


def _inject_cached_values(path, per_sheet: dict, epoch=None) -> None:
    """Rewrite the saved package ``path`` with ``per_sheet[sheet][cell]`` as the stored result of the
    formula in that cell (a cell openpyxl wrote as ``<c r=".." ..><f>..</f><v/></c>``)."""
    tmp = str(path) + ".cv"
    try:
        with zipfile.ZipFile(path) as z:
            wbx = ET.fromstring(z.read("xl/workbook.xml"))
            rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            target = {r.get("Id"): r.get("Target") for r in rels.findall("p:Relationship", _NS)}
            parts = {}
            for sh in wbx.find("m:sheets", _NS):
                if sh.get("name") in per_sheet:
                    t = target[sh.get("{%s}id" % _NS["r"])]
                    parts["xl/" + t.lstrip("/").removeprefix("xl/")] = per_sheet[sh.get("name")]
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
                for item in z.infolist():
                    data = z.read(item.filename)
                    values = parts.get(item.filename)
                    if values:
                        data = _FORMULA_CELL.sub(functools.partial(_with_cached, values=values, epoch=epoch),
                                                 data.decode("utf-8")).encode("utf-8")
                    out.writestr(item, data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _openpyxl_chart(ws, ch):
    if ch.kind == "line":
        chart = LineChart()
    elif ch.kind == "bar":
        chart = BarChart()
        chart.type = "col"
    elif ch.kind == "scatter":
        chart = ScatterChart()
    else:
        raise ValueError(f"unknown chart kind {ch.kind!r}")
    chart.title = ch.title
    chart.x_axis.title = ch.x_title
    chart.y_axis.title = ch.y_title
    if ch.y_format:
        chart.y_axis.number_format = ch.y_format
    chart.width, chart.height = ch.width_cm, ch.height_cm
    cat_col, c0, c1 = ch.categories
    cats = Reference(ws, min_col=cat_col, min_row=c0, max_row=c1)
    from openpyxl.chart import Series as OSeries
    for s in ch.series:
        ref = Reference(ws, min_col=s.col, min_row=s.first_row, max_row=s.last_row)
        title_ref = f"'{ws.title}'!${_col(s.col)}${s.title_row}"
        if ch.kind == "scatter":
            ser = OSeries(ref, cats, title_from_data=False)
            from openpyxl.chart.data_source import StrRef
            from openpyxl.chart.series import SeriesLabel
            ser.tx = SeriesLabel(strRef=StrRef(title_ref))
            chart.series.append(ser)
        else:
            chart.add_data(Reference(ws, min_col=s.col, min_row=s.title_row, max_row=s.last_row)
                           if s.title_row == s.first_row - 1 else ref, titles_from_data=s.title_row == s.first_row - 1)
            ser = chart.series[-1]
        ser.smooth = False
        if s.dashed:
            ser.graphicalProperties.line.dashStyle = "dash"
        if s.width_emu:
            ser.graphicalProperties.line.width = s.width_emu
        if ch.kind in ("line", "scatter") and not s.marker:
            ser.marker.symbol = "none"
        if ch.kind == "scatter" and s.marker:
            ser.marker.symbol = "diamond"
            ser.graphicalProperties.line.noFill = True
    for extra in getattr(ch, "extra_series", []):
        (xc, x0, x1), (yc, y0, y1), name = extra[:3]
        style = extra[3] if len(extra) > 3 else "markers"
        from openpyxl.chart.series import SeriesLabel
        ser = OSeries(Reference(ws, min_col=yc, min_row=y0, max_row=y1),
                      Reference(ws, min_col=xc, min_row=x0, max_row=x1), title_from_data=False)
        ser.tx = SeriesLabel(v=name)
        if style == "line":
            ser.marker.symbol = "none"
            ser.smooth = False
            chart.series.append(ser)
            continue
        ser.marker.symbol = "diamond"
        ser.marker.size = 9
        ser.marker.graphicalProperties.solidFill = "C00000"
        ser.marker.graphicalProperties.line.solidFill = "C00000"
        ser.graphicalProperties.line.noFill = True
        chart.series.append(ser)
    if ch.kind != "scatter":
        chart.set_categories(cats)
    if not ch.legend:
        chart.legend = None
    return chart


def _col(n: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(n)
