"""Batch re-rating on Dask: many workbooks, one summary (optional extra ``xlabs[dask]``).

``rate_many`` submits one task per workbook to a Dask cluster — an embedded
``LocalCluster`` (processes, one single-threaded worker per core) by default,
or an existing scheduler — and collects one summary row per tranche.  A
workbook that fails validation or crashes is reported in the summary with
its error; it never stops the batch.  Nothing here is imported by the core
package or the Excel path: ``import xlabs`` does not import Dask.
"""

from __future__ import annotations

import csv
import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

SUMMARY_COLUMNS = ("deal_file", "deal", "tranche", "balance", "credit_enhancement", "cash_flow_cap",
                   "model_indicated", "final", "lowest_bdr_at_indicated", "target_ratio_at_indicated", "output",
                   "not_carried", "run_seconds", "error")
SUMMARY_XLSX = "summary.xlsx"
"""The summary workbook a batch writes into its output folder (beside ``summary.csv``)."""


def find_workbooks(pattern: str) -> list[Path]:
    """A folder (every .xlsx/.xlsm in it, rated outputs excluded) or a glob pattern, sorted."""
    p = Path(pattern)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.suffix.lower() in (".xlsx", ".xlsm")]
    else:
        files = [Path(f) for f in glob.glob(pattern, recursive=True)]
    files = [f for f in files if not f.name.startswith(("~$", ".")) and ".rated." not in f.name]
    return sorted(files)


def _is_batch_summary(path: Path) -> bool:
    """True when ``path`` is a summary workbook an earlier batch wrote: its one sheet is ``Summary``."""
    try:
        import openpyxl
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            return wb.sheetnames == ["Summary"]
        finally:
            wb.close()
    except Exception:
        return False


def batch_inputs(paths, outdir) -> list[str]:
    """The workbooks to rate: ``paths`` resolved, without the summary this batch writes into ``outdir``.

    A rerun into the same output folder, when that folder is the input folder or lies under a
    recursive glob, finds the earlier run's ``summary.xlsx``: it is the batch's own output, not a deal,
    and is left out.  A deal workbook of that name there would be overwritten by the summary: that is
    refused (ValueError) before anything is rated or written, as is an output folder that is a file
    (or lies under one).
    """
    bad = next((q for q in [Path(outdir), *Path(outdir).parents] if q.exists() and not q.is_dir()), None)
    if bad is not None:
        raise ValueError(f"the output folder {outdir} cannot be made: {bad} is a file, not a folder")
    own = (Path(outdir) / SUMMARY_XLSX).resolve()
    out = []
    for p in paths:
        rp = Path(p).resolve()
        if rp == own:
            if not _is_batch_summary(rp):
                raise ValueError(f"{rp} is an input workbook and the batch summary would overwrite it; "
                                 "choose another output folder")
            continue
        out.append(str(rp))
    return out


def _drop_stale(out: Path) -> str:
    """A deal that fails leaves no rated workbook in the output folder: an earlier run's ``out`` (this
    batch's own ``.rated.`` output for the deal) is removed, so that no stale rating sits beside a summary
    row reporting the failure.  Returns a note for that row ('' when there was none)."""
    try:
        if out.is_file():
            out.unlink()
            return f" (the earlier rated workbook {out.name} was removed)"
    except OSError as e:
        return f" (the earlier rated workbook {out.name} could not be removed: {e})"
    return ""


def rate_one(path: str, outdir: str, rel: str | None = None) -> list[dict]:
    """Rate one workbook into ``outdir``; return summary rows (an error row on failure).

    ``rel``: the workbook's path relative to the batch's common folder (default its name); the output
    goes to the same relative place under ``outdir``, so two inputs of the same name in different
    folders never write the same output.  ``lowest_bdr_at_indicated`` and
    ``target_ratio_at_indicated`` are taken at the model-indicated rating: the lowest stressed BDR of
    that rating's scenarios and its target ratio (TDR for a consumer deal, TRDR for a corporate one).
    ``not_carried``: what the rated workbook lacks of the input's sheets (pictures, shapes, Excel 2010+
    extensions openpyxl cannot keep: ``RunSummary.not_carried``), its lines joined by "; ", on every
    row of the deal.  Runs on a Dask worker; imports stay inside so the task pickles small.
    """
    from .errors import SaveError, ValidationError
    from .workbook.run import rate_workbook
    t0 = time.perf_counter()
    src = Path(path)
    rel_path = Path(rel) if rel else Path(src.name)
    out = Path(outdir) / rel_path.parent / (src.stem + ".rated" + src.suffix)
    base = {c: "" for c in SUMMARY_COLUMNS}
    base["deal_file"] = rel_path.as_posix()
    try:
        s = rate_workbook(src, out=out)
    except ValidationError as e:
        err = "; ".join(str(p) for p in e.problems[:20]) + (" ..." if len(e.problems) > 20 else "")
        return [dict(base, run_seconds=round(time.perf_counter() - t0, 3), error=err + _drop_stale(out))]
    except SaveError as e:          # a full disk ...: not an xlabs defect
        return [dict(base, run_seconds=round(time.perf_counter() - t0, 3), error=str(e) + _drop_stale(out))]
    except Exception as e:  # a defect must be visible in the summary, not kill the batch
        return [dict(base, run_seconds=round(time.perf_counter() - t0, 3),
                     error=f"internal error: {type(e).__name__}: {e}" + _drop_stale(out))]
    st = s.result.stress
    rows = []
    for t in s.ratings:
        cap = t.caps.get("cash flow")
        sub = st[(st.tranche == t.tranche) & (st.rating == t.model_indicated)]
        rows.append(dict(base, deal=s.deal_name, tranche=t.tranche, balance=s.balances.get(t.tranche, ""),
                         credit_enhancement=round(t.credit_enhancement, 6), cash_flow_cap=cap or "",
                         model_indicated=t.model_indicated, final=t.final,
                         lowest_bdr_at_indicated=round(float(sub.bdr.min()), 6) if len(sub) else "",
                         target_ratio_at_indicated=round(float(sub.tdr.iloc[0]), 6) if len(sub) else "",
                         output=str(out), not_carried="; ".join(s.not_carried or []),
                         run_seconds=round(time.perf_counter() - t0, 3)))
    return rows


@dataclass
class BatchResult:
    rows: list = field(default_factory=list)
    n_workbooks: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    workers: int = 0
    summary_csv: Path | None = None
    summary_xlsx: Path | None = None


def _client(scheduler: str | None, workers: int | None):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError("xlabs batch needs Dask: pip install 'xlabs[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler), None
        except (OSError, ValueError, TypeError) as e:   # a bad address or no scheduler there: the user's input
            raise RuntimeError(f"cannot connect to the Dask scheduler {scheduler!r} ({e}); give its address as "
                               "tcp://host:port") from None
    if workers is not None and (int(workers) != workers or workers < 1):
        raise RuntimeError(f"workers must be a whole number >= 1 (got {workers!r})")
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def rate_many(paths, outdir, *, scheduler: str | None = None, workers: int | None = None, client=None,
              progress=None) -> BatchResult:
    """Rate every workbook in ``paths`` on Dask; write per-deal outputs and summary.csv/.xlsx in ``outdir``.

    Parameters
    ----------
    paths : list of path-like
    outdir : path-like
    scheduler : str, optional
        ``tcp://host:port`` of an existing Dask scheduler (its workers must
        have xlabs installed and see ``paths`` and ``outdir``).
    workers : int, optional
        Workers of the embedded LocalCluster (default: one per core).
    client : dask.distributed.Client, optional
        Use this client instead of creating one.
    progress : callable, optional
        ``progress(done, total, deal_file)``.

    An earlier run's ``summary.xlsx`` in ``outdir`` is not taken for a deal, and a deal workbook that
    the summary would overwrite is refused (ValueError), see :func:`batch_inputs`.
    """
    outdir = Path(outdir)
    paths = batch_inputs(paths, outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    rels = {p: Path(os.path.relpath(p, root)).as_posix() for p in paths}
    t0 = time.perf_counter()
    own_cluster = None
    if client is None:
        client, own_cluster = _client(scheduler, workers)
        owns_client = True
    else:
        owns_client = False
    try:
        from dask.distributed import as_completed
        n_workers = len(client.scheduler_info().get("workers", {}))
        futures = {client.submit(rate_one, p, str(outdir.resolve()), rels[p], pure=False): p for p in paths}
        by_path = {}
        done = 0
        for fut in as_completed(futures):
            p = futures[fut]
            try:
                by_path[p] = fut.result()
            except Exception as e:  # worker died, pickling failed ...
                by_path[p] = [dict({c: "" for c in SUMMARY_COLUMNS}, deal_file=rels[p],
                                   error=f"task failed: {type(e).__name__}: {e}")]
            done += 1
            if progress:
                progress(done, len(paths), rels[p])
    finally:
        if owns_client:
            client.close()
        if own_cluster is not None:
            own_cluster.close()
    rows = [r for p in paths for r in by_path[p]]
    res = BatchResult(rows=rows, n_workbooks=len(paths), n_failed=sum(1 for p in paths if by_path[p][0]["error"]),
                      seconds=time.perf_counter() - t0, workers=n_workers)
    res.summary_csv = _write_summary_csv(outdir / "summary.csv", rows)
    res.summary_xlsx = _write_summary_xlsx(outdir / SUMMARY_XLSX, rows, res)
    return res


def _write_summary_csv(path: Path, rows) -> Path:
    """The summary as CSV, saved atomically like the workbooks (a temporary file, then a rename): an
    earlier run's summary is replaced whole or, on a full disk (SaveError), left as it was."""
    from .workbook.adapter import atomic_write

    def write(tmp):
        # utf-8-sig: the byte-order mark makes Excel read the file as UTF-8 (Chinese deal names), not the ANSI
        # code page
        with open(tmp, "w", newline="", encoding="utf-8-sig") as f:
            w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            w.writeheader()
            w.writerows(rows)
    return atomic_write(path, write)


def _write_summary_xlsx(path: Path, rows, res: BatchResult) -> Path:
    """The summary as a workbook, rendered by the same adapter code as a rating run; saved atomically."""
    import openpyxl

    from .workbook.adapter import OpenpyxlBook
    from .workbook.sheetout import SheetOut
    s = SheetOut("Summary")
    s.title(f"Batch re-rating: {res.n_workbooks} workbooks, {res.n_failed} failed, {res.seconds:.1f} s "
            f"on {res.workers} worker(s)")
    s.table(3, 1, "One row per tranche (a failed workbook: one row with its error)", list(SUMMARY_COLUMNS),
            [[r[c] for c in SUMMARY_COLUMNS] for r in rows],
            {"credit_enhancement": "0.00%", "lowest_bdr_at_indicated": "0.00%", "target_ratio_at_indicated": "0.00%",
             "balance": "#,##0.00"})
    book = OpenpyxlBook.__new__(OpenpyxlBook)   # an in-memory book: no file to load
    book.wb = openpyxl.Workbook()
    book.wb.remove(book.wb.active)
    book.write_sheet(s)
    return book.save_atomic(path)
