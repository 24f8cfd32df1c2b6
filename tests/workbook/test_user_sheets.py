"""What a run does to the user's own content: a sheet the user named like an output sheet is never replaced."""

from __future__ import annotations

import hashlib

import openpyxl
import pytest

from xlabs import rate_workbook
from xlabs.cli import main
from xlabs.errors import ValidationError


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _with_user_sheet(path, name, a1="my own notes"):
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet(name)
    ws["A1"], ws["B2"] = a1, 42
    wb.save(path)
    return path


def test_a_user_sheet_named_like_an_output_sheet_is_refused_not_replaced(make_workbook, tmp_path, capsys):
    """A user's own 'Rating' sheet (notes, not an xlabs rating table) was deleted and replaced by the
    output sheet of that name, silently: the rated copy lost the user's content."""
    path = _with_user_sheet(make_workbook(), "Rating", "MY OWN rating notes 评级备注")
    before = _sha(path)
    out = tmp_path / "rated.xlsx"
    assert main(["rate", str(path), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "Rating!A1" in err and "not written by xlabs" in err
    assert not out.exists() and _sha(path) == before


def test_every_problem_at_once_with_the_user_sheets_in_the_way(make_workbook):
    path = make_workbook(lambda kw: kw["tranches"][0].update(coupon=4.0))
    _with_user_sheet(path, "Stress")
    _with_user_sheet(path, "Run", None)          # empty A1: not an xlabs Run record either
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=path.with_name("o.xlsx"))
    where = [p.where for p in e.value.problems]
    assert where[:2] == ["Stress!A1", "Run!A1"] and "Tranches!C3" in where


def test_a_rated_copy_rated_again_replaces_its_own_output_sheets(make_workbook, tmp_path):
    path = make_workbook()
    r1 = rate_workbook(path, out=tmp_path / "r1.xlsx")
    r2 = rate_workbook(r1.output, out=tmp_path / "r2.xlsx")
    assert [(t.tranche, t.final) for t in r2.ratings] == [(t.tranche, t.final) for t in r1.ratings]
    assert openpyxl.load_workbook(r2.output).sheetnames == openpyxl.load_workbook(r1.output).sheetnames


def test_a_user_validation_sheet_is_left_alone_by_a_run(make_workbook, tmp_path):
    path = _with_user_sheet(make_workbook(), "Validation", "我的校验 checks")
    out = rate_workbook(path, out=tmp_path / "r.xlsx").output
    ws = openpyxl.load_workbook(out)["Validation"]
    assert ws["A1"].value == "我的校验 checks" and ws["B2"].value == 42


_PIC = ('<oneCellAnchor><from><col>4</col><colOff>0</colOff><row>12</row><rowOff>0</rowOff></from>'
        '<ext cx="381000" cy="381000"/><pic><nvPicPr><cNvPr id="9" name="Logo"/><cNvPicPr/></nvPicPr>'
        '<blipFill><a:blip r:embed="rIdImg9"/><a:stretch><a:fillRect/></a:stretch></blipFill>'
        '<spPr><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></spPr></pic><clientData/></oneCellAnchor>')
_TEXT_BOX = ('<oneCellAnchor><from><col>4</col><colOff>0</colOff><row>20</row><rowOff>0</rowOff></from>'
             '<ext cx="981000" cy="381000"/><sp macro="" textlink=""><nvSpPr><cNvPr id="10" name="TextBox 1"/>'
             '<cNvSpPr txBox="1"/></nvSpPr><spPr><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></spPr>'
             '<txBody><a:bodyPr/><a:p><a:r><a:t>审批意见</a:t></a:r></a:p></txBody></sp><clientData/></oneCellAnchor>')


def _with_drawing(path, *anchors):
    """A chart on the Deal sheet (openpyxl), then ``anchors`` (a picture: a 1x1 PNG) added to its drawing part."""
    import re
    import struct
    import zipfile
    import zlib

    from openpyxl.chart import BarChart, Reference
    wb = openpyxl.load_workbook(path)
    ch = BarChart()
    ch.add_data(Reference(wb["Tranches"], min_col=3, min_row=2, max_row=4), titles_from_data=True)
    wb["Deal"].add_chart(ch, "J3")
    wb.save(path)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    d, rels = "xl/drawings/drawing1.xml", "xl/drawings/_rels/drawing1.xml.rels"
    parts[d] = re.sub(rb"</(\w+:)?wsDr>", lambda m: "".join(anchors).encode() + m.group(0), parts[d])
    parts[rels] = parts[rels].replace(b"</Relationships>", b'<Relationship Id="rIdImg9" Type="http://schemas.'
                                      b'openxmlformats.org/officeDocument/2006/relationships/image" '
                                      b'Target="/xl/media/logo.png"/></Relationships>')
    parts["xl/media/logo.png"] = png
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"<Default ", b'<Default Extension="png" ContentType="image/png"/><Default ', 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in parts.items():
            z.writestr(n, b)
    return path


def _run_notes(path):
    return [r[1] for r in openpyxl.load_workbook(path)["Run"].iter_rows(values_only=True)
            if isinstance(r[0], str) and r[0].startswith("not carried")]


def test_a_picture_the_rated_copy_cannot_carry_is_said_not_dropped_silently(make_workbook, tmp_path, capsys):
    """openpyxl (without Pillow) drops every picture of a workbook it loads: the rated copy lost the
    user's logo on the Deal sheet without a word.  The chart beside it is carried and not mentioned."""
    path = _with_drawing(make_workbook(), _PIC)
    before = _sha(path)
    out = tmp_path / "rated.xlsx"
    assert main(["rate", str(path), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    line = "sheet 'Deal': 1 picture not carried into the saved workbook (openpyxl cannot keep them)"
    assert line in err and "the input workbook is unchanged" in err and _sha(path) == before
    assert _run_notes(out) == [line]


def test_a_text_box_the_rated_copy_cannot_carry_is_said(make_workbook, tmp_path):
    """openpyxl keeps the charts of a drawing and drops its shapes: the committee's text box is lost."""
    path = _with_drawing(make_workbook(), _TEXT_BOX)
    s = rate_workbook(path, out=tmp_path / "rated.xlsx")
    assert s.not_carried == ["sheet 'Deal': 1 shape or text box not carried into the saved workbook "
                             "(openpyxl cannot keep them)"]


def test_nothing_is_said_when_everything_is_carried(make_workbook, tmp_path, capsys):
    path = _with_drawing(make_workbook())          # a chart only: openpyxl carries it
    assert main(["rate", str(path), "-o", str(tmp_path / "r.xlsx"), "-q"]) == 0
    assert "warning" not in capsys.readouterr().err and _run_notes(tmp_path / "r.xlsx") == []


def test_a_user_sheet_named_like_an_output_sheet_in_another_case_is_refused(make_workbook, tmp_path):
    """Excel sheet names ignore case: with a user sheet 'stress', openpyxl wrote the output as 'Stress1',
    and rating that copy again added 'Stress2' beside it — output sheets stacked under names no one asked for."""
    path = _with_user_sheet(make_workbook(), "stress")
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=tmp_path / "r.xlsx")
    assert [p.where for p in e.value.problems] == ["stress!A1"]
    assert "does not tell sheet names apart by case" in e.value.problems[0].rule
    assert not (tmp_path / "r.xlsx").exists()


_X14 = ('xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"',
        'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"')
_DV_LIST = (f'<ext uri="{{CCE6A557-97BC-4B89-ADB6-D9C93CAAB3DF}}" {_X14[0]}><x14:dataValidations count="1" {_X14[1]}>'
            '<x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>Deal!$H$1:$H$2</xm:f></x14:formula1>'
            '<xm:sqref>D3:D5</xm:sqref></x14:dataValidation></x14:dataValidations></ext>')
_SPARKLINES = (f'<ext uri="{{05C60535-1F16-4FD2-B633-F4F36F0B64E0}}" {_X14[0]}><x14:sparklineGroups {_X14[1]}>'
               '<x14:sparklineGroup><x14:colorSeries rgb="FF376092"/><x14:sparklines>'
               '<x14:sparkline><xm:f>Tranches!B3:C3</xm:f><xm:sqref>H3</xm:sqref></x14:sparkline>'
               '<x14:sparkline><xm:f>Tranches!B4:C4</xm:f><xm:sqref>H4</xm:sqref></x14:sparkline>'
               '</x14:sparklines></x14:sparklineGroup></x14:sparklineGroups></ext>')
_DATA_BAR_ID = "{00000000-0000-0000-0000-000000000001}"
_DATA_BAR = (f'<ext uri="{{78C0D931-6437-407D-A8EE-F0AAD7539E65}}" {_X14[0]}><x14:conditionalFormattings>'
             f'<x14:conditionalFormatting {_X14[1]}><x14:cfRule type="dataBar" id="{_DATA_BAR_ID}">'
             '<x14:dataBar minLength="0" maxLength="100"><x14:cfvo type="autoMin"/><x14:cfvo type="autoMax"/>'
             '</x14:dataBar></x14:cfRule><xm:sqref>B3:B5</xm:sqref></x14:conditionalFormatting>'
             '</x14:conditionalFormattings></ext>')
_DATA_BAR_2007 = ('<conditionalFormatting sqref="B3:B5"><cfRule type="dataBar" priority="1"><dataBar><cfvo type="min"/>'
                  '<cfvo type="max"/><color rgb="FF638EC6"/></dataBar><extLst><ext '
                  f'uri="{{B025F937-C7B1-47D3-B67F-A62EFF666E3E}}" {_X14[0]}><x14:id>{_DATA_BAR_ID}</x14:id></ext>'
                  '</extLst></cfRule></conditionalFormatting>')
_SLICER = (f'<ext uri="{{A8765BA9-456A-4DAB-B4F3-ACF838C121DE}}" {_X14[0]}><x14:slicerList><x14:slicer '
           'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" r:id="rId99"/>'
           '</x14:slicerList></ext>')


def _sample_with_extensions(tmp_path, per_sheet, before_margins=None):
    """A copy of the shipped consumer sample with ``per_sheet[part]`` as the Excel 2010+ extension list
    (``<extLst>``) of sheet part ``part`` (and ``before_margins[part]`` put before its page margins), as
    Excel writes them."""
    import zipfile
    from pathlib import Path
    src = Path(__file__).resolve().parents[2] / "workbooks" / "consumer_sample.xlsx"
    with zipfile.ZipFile(src) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    for part, exts in per_sheet.items():
        xml = parts[part].decode()
        xml = xml.replace("<pageMargins", (before_margins or {}).get(part, "") + "<pageMargins")
        parts[part] = xml.replace("</worksheet>", f"<extLst>{exts}</extLst></worksheet>").encode()
    path = tmp_path / "deal.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in parts.items():
            z.writestr(n, b)
    return path


def test_excel_2010_extensions_the_rated_copy_cannot_carry_are_said_per_sheet(tmp_path, capsys):
    """openpyxl drops a sheet's Excel 2010+ extensions (a data-validation list whose source is on another
    sheet, a data bar, sparklines, a slicer): the rated copy lost them and a run only let openpyxl print a
    raw UserWarning naming no sheet — once per kind, so the second sheet's lost list was not even mentioned."""
    import warnings
    import zipfile
    path = _sample_with_extensions(tmp_path, {"xl/worksheets/sheet2.xml": _DV_LIST + _SPARKLINES + _DATA_BAR,
                                              "xl/worksheets/sheet4.xml": _SLICER,
                                              "xl/worksheets/sheet6.xml": _DV_LIST},
                                   {"xl/worksheets/sheet2.xml": _DATA_BAR_2007})
    out = tmp_path / "rated.xlsx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["rate", str(path), "-o", str(out), "-q"]) == 0
    assert [str(w.message) for w in caught if "openpyxl" in w.filename] == []     # said by xlabs, not raw
    lines = ["sheet 'Tranches': 1 data validation, 2 sparklines, 1 data-bar or icon-set format not carried into "
             "the saved workbook (openpyxl cannot keep them)",
             "sheet 'Pool': 1 slicer not carried into the saved workbook (openpyxl cannot keep them)",
             "sheet 'Assumptions': 1 data validation not carried into the saved workbook (openpyxl cannot keep them)"]
    err = capsys.readouterr().err
    assert all(f"  - {line}\n" in err for line in lines)
    assert _run_notes(out) == lines
    with zipfile.ZipFile(out) as z:             # what is said is what the rated copy lacks
        assert not any(b"x14:" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_any_other_loss_openpyxl_warns_of_on_loading_is_passed_on(tmp_path):
    """A page header openpyxl cannot parse is dropped with a raw UserWarning: it is passed on with the
    rest of what the saved workbook lacks, not printed raw."""
    import warnings
    import zipfile

    from xlabs.workbook.adapter import OpenpyxlBook
    path = _sample_with_extensions(tmp_path, {})
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b"</worksheet>", "<headerFooter><oddHeader>机密 Confidential</oddHeader></headerFooter></worksheet>".encode())
    with zipfile.ZipFile(path, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        book = OpenpyxlBook(path)
    assert not caught
    assert book.not_carried() == ["openpyxl on loading the workbook: Cannot parse header or footer so it will be "
                                  "ignored"]


def test_saved_in_place_under_another_spelling_of_its_path_the_loss_is_not_called_unchanged(make_workbook,
                                                                                          monkeypatch, capsys):
    """`xlabs rate deal.xlsx -o /abs/deal.xlsx --in-place` rewrites the input, yet the warning said 'the
    input workbook is unchanged': the output path was compared with the input's as typed."""
    path = _with_drawing(make_workbook(), _TEXT_BOX)
    monkeypatch.chdir(path.parent)
    assert main(["rate", path.name, "-o", str(path), "--in-place", "-q"]) == 0
    err = capsys.readouterr().err
    assert "they are gone from the workbook saved in place" in err and "unchanged" not in err


def _with_chart_sheet(path, name):
    """The workbook at ``path`` with a chart sheet ``name`` (a sheet that is one chart of the tranche balances)."""
    from openpyxl.chart import BarChart, Reference
    wb = openpyxl.load_workbook(path)
    ch = BarChart()
    ch.add_data(Reference(wb["Tranches"], min_col=3, min_row=2, max_row=4), titles_from_data=True)
    wb.create_chartsheet(name).add_chart(ch)
    wb.save(path)
    return path


def test_a_chart_sheet_is_carried_and_does_not_stop_the_run(make_workbook, tmp_path, capsys):
    """A chart sheet (a sheet that is one chart, no cells) has no images in openpyxl: counting what a save
    leaves out stopped the run with an internal error after the whole rating was computed.  openpyxl
    carries the chart sheet's chart: the run succeeds, says nothing is lost, and the copy keeps it."""
    path = _with_chart_sheet(make_workbook(), "TrancheChart")
    out = tmp_path / "r.xlsx"
    assert main(["rate", str(path), "-o", str(out), "-q"]) == 0
    assert "warning" not in capsys.readouterr().err and _run_notes(out) == []
    assert len(openpyxl.load_workbook(out)["TrancheChart"]._charts) == 1


def test_validate_reports_a_user_sheet_that_would_stop_the_run(make_workbook, capsys):
    """`xlabs validate` (and the Validate button) said "no problems found" for a workbook with the user's own
    'Rating' sheet, which `xlabs rate` then refused with exit 2 at Rating!A1: validating must list every
    problem that stops a run."""
    from xlabs.excel import macros
    from xlabs.workbook.adapter import OpenpyxlBook
    path = _with_user_sheet(make_workbook(), "Rating")
    assert main(["validate", str(path)]) == 2
    assert "Rating!A1" in capsys.readouterr().err
    book = OpenpyxlBook(path)
    assert [p.where for p in macros.validate_inputs(book)] == ["Rating!A1"]
    rows = book.values("Validation")
    assert any(r and r[0] == "Rating!A1" for r in rows), rows


def test_a_user_chart_sheet_named_like_an_output_sheet_is_refused_at_its_name(make_workbook, tmp_path):
    """A chart sheet of the user's named 'Rating' is in the way like any other user sheet; reading its A1 to
    tell whether xlabs wrote it ended the run in an internal error (a chart sheet has no cells)."""
    path = _with_chart_sheet(make_workbook(), "Rating")
    with pytest.raises(ValidationError) as e:
        rate_workbook(path, out=tmp_path / "r.xlsx")
    assert [p.where for p in e.value.problems] == ["Rating!A1"]
    assert not (tmp_path / "r.xlsx").exists()


def test_a_file_without_named_styles_is_not_said_to_lose_anything(tmp_path):
    """A file written by another program without a default cell style gets openpyxl's, with the load warning
    'Workbook contains no default style': nothing is lost, so it is no line of what the saved copy lacks."""
    import re
    import warnings
    import zipfile

    from xlabs.workbook.adapter import OpenpyxlBook
    path = _sample_with_extensions(tmp_path, {})
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/styles.xml"] = re.sub(rb"<cellStyles[^>]*>.*?</cellStyles>|<cellStyles[^>]*/>", b"", parts["xl/styles.xml"],
                                    flags=re.S)
    with zipfile.ZipFile(path, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        book = OpenpyxlBook(path)
    assert any("no default style" in w for w in book._load_warnings)
    assert book.not_carried() == []
