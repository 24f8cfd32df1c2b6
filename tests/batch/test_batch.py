"""Batch re-rating on a real Dask LocalCluster (two worker processes on loopback)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

distributed = pytest.importorskip("distributed")

from xlabs.batch import SUMMARY_COLUMNS, find_workbooks, rate_many  # noqa: E402
from xlabs.cli import main  # noqa: E402
from xlabs.workbook.run import rate_workbook  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                 host="127.0.0.1")
    client = distributed.Client(c)
    yield client
    client.close()
    c.close()


@pytest.fixture
def deals(make_workbook, tmp_path):
    a = make_workbook(name="deal_a.xlsx")
    b = make_workbook(name="deal_b.xlsx", seed=11)
    def thicker_mezz(kw):
        a, b = kw["tranches"][0], kw["tranches"][1]
        a["balance"], b["balance"] = a["balance"] - 0.02 * a["balance"], b["balance"] + 0.02 * a["balance"]
    c = make_workbook(thicker_mezz, name="deal_c.xlsx")
    bad = make_workbook(lambda kw: kw["tranches"][0].update(coupon=3.0), name="deal_bad.xlsx")
    junk = tmp_path / "deal_junk.xlsx"
    junk.write_text("not a workbook")
    return [a, b, c, bad, junk]


def test_batch_rates_good_deals_and_reports_bad_ones(cluster, deals, tmp_path):
    out = tmp_path / "out"
    res = rate_many(deals, out, client=cluster)
    assert res.workers == 2
    assert res.n_workbooks == 5 and res.n_failed == 2
    # a byte-order mark first: Excel opens a CSV as UTF-8 only with it (deal names in Chinese)
    assert res.summary_csv.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(open(res.summary_csv, encoding="utf-8-sig")))
    assert tuple(rows[0].keys()) == SUMMARY_COLUMNS
    by_file = {}
    for r in rows:
        by_file.setdefault(r["deal_file"], []).append(r)
    assert [r["tranche"] for r in by_file["deal_a.xlsx"]] == ["A", "B"]
    assert "Tranches!C3" in by_file["deal_bad.xlsx"][0]["error"]
    assert "not a readable" in by_file["deal_junk.xlsx"][0]["error"]
    # each good deal's rated workbook exists and the summary agrees with a local run of the same deal
    local = rate_workbook(deals[0], out=tmp_path / "local.xlsx")
    assert [r["final"] for r in by_file["deal_a.xlsx"]] == [t.final for t in local.ratings]
    for name in ("deal_a", "deal_b", "deal_c"):
        wb = openpyxl.load_workbook(out / f"{name}.rated.xlsx")
        assert "Rating" in wb.sheetnames
    wb = openpyxl.load_workbook(res.summary_xlsx)
    assert wb["Summary"].cell(5, 1).value == "deal_a.xlsx"


def test_find_workbooks_folder_and_glob(deals, tmp_path):
    folder = deals[0].parent
    (folder / "x.rated.xlsx").write_text("")
    found = [p.name for p in find_workbooks(str(folder))]
    assert "x.rated.xlsx" not in found and "deal_a.xlsx" in found
    assert [p.name for p in find_workbooks(str(folder / "deal_[ab].xlsx"))] == ["deal_a.xlsx", "deal_b.xlsx"]


def test_cli_batch_on_a_scheduler_address(cluster, deals, tmp_path):
    addr = cluster.scheduler.address
    code = main(["batch", str(deals[0].parent / "deal_[ab].xlsx"), "-o", str(tmp_path / "o"), "--scheduler", addr,
                 "-q"])
    assert code == 0
    assert (tmp_path / "o" / "summary.csv").exists()


def test_core_and_excel_path_do_not_import_dask():
    code = ("import sys; sys.path.insert(0, 'udfs'); import xlabs, xlabs.cli, xlabs.workbook.run, "
            "xlabs.excel.macros, xlabs_udfs; print('dask' in sys.modules, 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_distributed_monte_carlo_equals_local_bit_for_bit(cluster):
    import numpy as np

    from xlabs import simulate_defaults
    rng = np.random.default_rng(5)
    n, months = 60, 36
    pd_end = rng.uniform(0.01, 0.08, n)
    pd = pd_end[:, None] * (np.arange(1, months + 1) / months)[None, :]
    loadings = np.zeros((n, 3))
    loadings[np.arange(n), rng.integers(0, 3, n)] = 0.5
    exposure = rng.uniform(1e6, 5e6, n)
    kw = dict(exposure=exposure, recovery=0.4, n_paths=50_000, seed=2026)
    local = simulate_defaults(pd, loadings, **kw)
    dist = simulate_defaults(pd, loadings, client=cluster, chunks=5, **kw)
    assert np.array_equal(local.default_ratio, dist.default_ratio)
    assert np.array_equal(local.loss_ratio, dist.loss_ratio)
    assert np.array_equal(local.timing, dist.timing)
    assert dist.seed == 2026 and dist.n_paths == 50_000
    other = simulate_defaults(pd, loadings, client=cluster, **dict(kw, seed=2027))
    assert not np.array_equal(local.loss_ratio, other.loss_ratio)


def test_same_names_in_two_folders_keep_their_folders(cluster, make_workbook, tmp_path):
    """Two deal.xlsx in different folders used to write one deal.rated.xlsx (the second silently over
    the first).  The summary's BDR and target ratio are those of the model-indicated rating."""
    from tests.corporate.test_corporate_path import tiny_kwargs
    from xlabs.workbook.corporate_build import build_corporate_workbook

    (tmp_path / "sub").mkdir()
    (tmp_path / "corp").mkdir()
    a = make_workbook(name="deal.xlsx")
    b = make_workbook(name="sub/deal.xlsx", seed=11)
    kw = tiny_kwargs()
    kw["assumptions"]["n_paths"] = 20_000
    c = tmp_path / "corp" / "deal.xlsx"            # corporate: model-indicated may differ from the cash-flow cap
    build_corporate_workbook(c, **kw)
    out = tmp_path / "out"
    res = rate_many([a, b, c], out, client=cluster)
    rows = list(csv.DictReader(open(res.summary_csv, encoding="utf-8-sig")))
    assert {r["deal_file"] for r in rows} == {"deal.xlsx", "sub/deal.xlsx", "corp/deal.xlsx"}
    for d in (out, out / "sub", out / "corp"):
        assert (d / "deal.rated.xlsx").exists()
    for src, name in ((a, "deal.xlsx"), (b, "sub/deal.xlsx"), (c, "corp/deal.xlsx")):
        local = rate_workbook(src, out=tmp_path / "local.xlsx")
        st = local.result.stress
        mine = [r for r in rows if r["deal_file"] == name]
        assert [r["final"] for r in mine] == [t.final for t in local.ratings]
        for r, t in zip(mine, local.ratings):
            sub = st[(st.tranche == t.tranche) & (st.rating == t.model_indicated)]
            assert float(r["lowest_bdr_at_indicated"]) == pytest.approx(sub.bdr.min(), abs=1e-6)
            assert float(r["target_ratio_at_indicated"]) == pytest.approx(sub.tdr.iloc[0], abs=1e-6)


def test_rerun_into_the_input_folder_skips_the_earlier_summary(cluster, make_workbook, tmp_path):
    """Rating a folder into itself and rerunning used to rate the first run's summary.xlsx as a deal: an
    extra failed row ('Deal: sheet is missing ...') and exit code 1 for a folder of good deals."""
    a = make_workbook(name="deal_a.xlsx")
    folder = a.parent
    first = rate_many(find_workbooks(str(folder)), folder, client=cluster)
    assert first.n_workbooks == 1 and first.n_failed == 0 and (folder / "summary.xlsx").exists()
    assert [p.name for p in find_workbooks(str(folder))] == ["deal_a.xlsx", "summary.xlsx"]
    second = rate_many(find_workbooks(str(folder)), folder, client=cluster)
    assert second.n_workbooks == 1 and second.n_failed == 0
    rows = list(csv.DictReader(open(second.summary_csv, encoding="utf-8-sig")))
    assert [(r["deal_file"], r["tranche"], r["error"]) for r in rows] == [("deal_a.xlsx", "A", ""),
                                                                            ("deal_a.xlsx", "B", "")]
    code = main(["batch", str(folder), "-o", str(folder), "--scheduler", cluster.scheduler.address, "-q"])
    assert code == 0


def test_a_deal_named_like_the_summary_is_never_overwritten(cluster, make_workbook, tmp_path, capsys):
    """A deal workbook called summary.xlsx rated into its own folder used to be rated, then replaced by the
    batch summary: the input was lost.  It is refused before anything is written."""
    deal = make_workbook(name="summary.xlsx")
    before = deal.read_bytes()
    with pytest.raises(ValueError, match="summary would overwrite it"):
        rate_many([deal], deal.parent, client=cluster)
    code = main(["batch", str(deal.parent), "-o", str(deal.parent), "--scheduler", cluster.scheduler.address, "-q"])
    assert code == 2 and "summary would overwrite it" in capsys.readouterr().err
    assert deal.read_bytes() == before
    assert sorted(p.name for p in deal.parent.iterdir()) == ["summary.xlsx"]


def test_a_deal_that_fails_on_a_rerun_leaves_no_stale_rated_workbook(make_workbook, tmp_path):
    """Rated once, then broken and rated again into the same folder: its earlier rated workbook is removed
    (a reader of the folder must not take the old rating for the current one) and the summary row says so."""
    from xlabs.batch import rate_one
    src = make_workbook(name="deal_r.xlsx")
    out = tmp_path / "out"
    rows = rate_one(str(src), str(out))
    rated = out / "deal_r.rated.xlsx"
    assert rated.is_file() and not rows[0]["error"]
    make_workbook(lambda kw: kw["tranches"][0].update(coupon=3.0), name="deal_r.xlsx")   # the same file, now bad
    rows = rate_one(str(src), str(out))
    assert not rated.exists()
    assert len(rows) == 1 and "Tranches!" in rows[0]["error"] and "deal_r.rated.xlsx was removed" in rows[0]["error"]
    rows = rate_one(str(src), str(out))                 # nothing left to remove: no note
    assert "removed" not in rows[0]["error"]


def test_the_summary_says_what_each_rated_workbook_lacks(make_workbook, tmp_path):
    """`xlabs rate` names what a rated copy lacks of the input (openpyxl drops a data-validation list whose
    source is on another sheet), but a batch said nothing of it, per deal or at all."""
    import zipfile
    lost, clean = make_workbook(name="deal_dv.xlsx"), make_workbook(name="deal_ok.xlsx")
    with zipfile.ZipFile(lost) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/worksheets/sheet2.xml"] = parts["xl/worksheets/sheet2.xml"].replace(b"</worksheet>", (  # Tranches
        b'<extLst><ext uri="{CCE6A557-97BC-4B89-ADB6-D9C93CAAB3DF}" '
        b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"><x14:dataValidations count="1" '
        b'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><x14:dataValidation type="list">'
        b'<x14:formula1><xm:f>Deal!$H$1:$H$2</xm:f></x14:formula1><xm:sqref>D3:D5</xm:sqref></x14:dataValidation>'
        b'</x14:dataValidations></ext></extLst></worksheet>'))
    with zipfile.ZipFile(lost, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    line = "sheet 'Tranches': 1 data validation not carried into the saved workbook (openpyxl cannot keep them)"
    c = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                 host="127.0.0.1")
    try:
        with distributed.Client(c) as client:
            res = rate_many([lost, clean], tmp_path / "out", client=client)
    finally:
        c.close()
    assert res.n_failed == 0
    rows = list(csv.DictReader(open(res.summary_csv, encoding="utf-8-sig")))
    assert [(r["deal_file"], r["tranche"], r["not_carried"]) for r in rows] == [
        ("deal_dv.xlsx", "A", line), ("deal_dv.xlsx", "B", line), ("deal_ok.xlsx", "A", ""), ("deal_ok.xlsx", "B", "")]
    ws = openpyxl.load_workbook(res.summary_xlsx)["Summary"]
    col = [c.value for c in ws[4]].index("not_carried") + 1
    assert [ws.cell(r, col).value for r in range(5, 9)] == [line, line, None, None]


def test_a_full_disk_is_said_as_such_and_leaves_the_earlier_summary(make_workbook, tmp_path, monkeypatch, capsys):
    """A deal whose rated workbook could not be saved (a full disk) was reported as 'internal error:
    SaveError: ...'; a summary.csv that could not be written was an internal error of the batch (exit
    code 3) and, written in place, the earlier run's summary was left cut short after its header."""
    import errno
    import os

    from xlabs.batch import rate_one
    deal = make_workbook(name="deal_a.xlsx")
    out = tmp_path / "out"
    reason = os.strerror(errno.ENOSPC)

    def full_disk(*args):
        raise OSError(errno.ENOSPC, reason)
    with monkeypatch.context() as m:
        m.setattr(openpyxl.Workbook, "save", full_disk)
        rows = rate_one(str(deal), str(out))
    assert rows[0]["error"] == f"could not save {out / 'deal_a.rated.xlsx'}: {reason}"
    c = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                 host="127.0.0.1")
    try:
        with distributed.Client(c):
            args = ["batch", str(deal), "-o", str(out), "--scheduler", c.scheduler.address, "-q"]
            assert main(args) == 0
            earlier = (out / "summary.csv").read_bytes()
            files = sorted(p.name for p in out.iterdir())
            monkeypatch.setattr(csv.DictWriter, "writerows", lambda self, rows: full_disk())
            assert main(args) == 4
    finally:
        c.close()
    assert capsys.readouterr().err == f"xlabs: could not save {out / 'summary.csv'}: {reason}\n"
    assert (out / "summary.csv").read_bytes() == earlier and sorted(p.name for p in out.iterdir()) == files


def test_cli_batch_refuses_bad_worker_counts_contradictory_flags_and_a_bad_scheduler(deals, tmp_path, capsys):
    # --workers -1 started a LocalCluster with no workers and waited forever; 0 silently meant "one per core"
    for bad in ("two", "0", "-1"):
        with pytest.raises(SystemExit) as e:
            main(["batch", str(deals[0]), "-o", str(tmp_path / "o"), "--workers", bad])
        assert e.value.code == 2
        assert "must be a whole number >= 1" in capsys.readouterr().err
    # --workers sizes the local cluster: with --scheduler it was ignored without a word
    assert main(["batch", str(deals[0]), "-o", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1",
                 "--workers", "3"]) == 2
    assert "cannot be combined with --scheduler" in capsys.readouterr().err
    # a malformed address is the user's input (exit 2, one line), not an internal error (exit 3)
    assert main(["batch", str(deals[0]), "-o", str(tmp_path / "o"), "--scheduler", "notaurl", "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to the Dask scheduler 'notaurl'" in err and "internal error" not in err


def test_cli_batch_output_that_is_a_file_is_an_input_problem(deals, tmp_path, capsys):
    # -o naming an existing file failed in mkdir: 'internal error (FileExistsError ...)', exit code 3
    taken = tmp_path / "taken.csv"
    taken.write_text("x")
    for out in (taken, taken / "sub"):
        assert main(["batch", str(deals[0]), "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert "is a file, not a folder" in err and "internal error" not in err
    assert taken.read_text() == "x"
