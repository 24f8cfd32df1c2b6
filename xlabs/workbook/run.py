"""One rating run on a workbook: read, validate, rate, write output sheets, save atomically.

This is what ``xlabs rate`` and :func:`xlabs.rate_workbook` call.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, ValidationError
from ..excel import macros
from .adapter import OpenpyxlBook


@dataclass
class RunSummary:
    """What a run produced: output path, ratings per tranche, timings."""

    output: Path
    ratings: list          # TrancheRating
    result: object         # ConsumerRating
    timings: dict
    deal_name: str = ""
    balances: dict = None  # tranche -> initial balance
    not_carried: list = None  # what the saved workbook lacks of the input's sheets (pictures, shapes), one line a sheet


def default_output(path: Path) -> Path:
    """``deal.xlsx`` -> ``deal.rated.xlsx`` (same folder, same suffix)."""
    return path.with_name(path.stem + ".rated" + path.suffix)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _lock_file(path: Path) -> Path:
    """The owner file Excel (``~$name``) or LibreOffice (``.~lock.name#``) keeps beside an open workbook."""
    for lock in (path.with_name("~$" + path.name), path.with_name(".~lock." + path.name + "#")):
        if lock.exists():
            return lock
    return None


def check_output(path: Path, out: Path, in_place: bool = False, what: str = "output") -> None:
    """Refuse, before any work, an input that is a folder, and an output that is a folder, (unless
    ``in_place``) the input itself, a file of another kind than the input (``.xlsx`` / ``.xlsm``), in a
    folder that cannot be written, or a workbook open in Excel or LibreOffice."""
    if path.is_dir():
        raise ValidationError([Problem(str(path), "the input is a folder, not a workbook; give an .xlsx/.xlsm file")])
    if out.is_dir():
        raise ValidationError([Problem(str(out), f"the {what} path is a folder; give a file name such as "
                                                 f"{out / default_output(path).name}")])
    if in_place and out.resolve() != path.resolve():
        raise ValidationError([Problem(str(out), "--in-place saves into the input workbook; it cannot be combined "
                                                 f"with another output ({path} was given as the input): drop one")])
    if out.resolve() == path.resolve() and not in_place:
        raise ValidationError([Problem(str(out), f"the {what} would overwrite the input workbook; choose another -o"
                                                 + (" or pass --in-place" if what == "output" else ""))])
    problems = []
    want = ".xlsm" if path.suffix.lower() == ".xlsm" and what == "output" else ".xlsx"
    if out.suffix.lower() != want:
        problems.append(Problem(str(out), f"the {what} must be an {want} file (openpyxl writes an {want} workbook "
                                          f"whatever the name; Excel refuses a file whose content and extension "
                                          f"differ)"))
    folder = next((p for p in [out.parent, *out.parent.parents] if p.exists()), None)
    if folder is not None and not folder.is_dir():
        problems.append(Problem(str(out), f"cannot write the {what}: {folder} is a file, not a folder"))
    elif folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        problems.append(Problem(str(out), f"cannot write the {what}: the folder {folder} is read-only"))
    lock = _lock_file(out) if out.exists() else None
    if lock is not None:
        problems.append(Problem(str(out), f"the workbook is open in Excel or LibreOffice ({lock.name} exists): close "
                                          "it first, or it would overwrite this run when it is saved"))
    if problems:
        raise ValidationError(problems)


def validate_workbook(path) -> tuple:
    """Read and validate a consumer or corporate workbook; return ``(book, deal)`` or raise ValidationError
    with every problem that would stop :func:`rate_workbook` (a user sheet named like an output sheet too)."""
    book = OpenpyxlBook(path)
    return book, macros.check_inputs(book)


def rate_workbook(path, out=None, progress=None, in_place: bool = False) -> RunSummary:
    """Rate the deal in workbook ``path`` and write the output sheets.

    Parameters
    ----------
    path : str or Path
        A consumer-deal workbook (.xlsx / .xlsm) in the documented schema.
    out : str or Path, optional
        Where to save; default ``<name>.rated.xlsx`` beside the input.
        Saving over the input needs ``in_place=True``; ``in_place=True`` with another ``out`` is
        refused (the two say different things).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    RunSummary

    Raises
    ------
    ValidationError
        Every input problem with its Sheet!Cell; nothing is written.
    SaveError
        The rated workbook could not be saved (a full disk, ...); a file already at ``out`` is unchanged.
    """
    t0 = time.perf_counter()
    path = Path(path)
    out = Path(out) if out is not None else (path if in_place else default_output(path))
    check_output(path, out, in_place)
    checksum = file_sha256(path) if path.exists() else ""
    book = OpenpyxlBook(path, progress=progress)
    deal, res, info = macros.rate_deal(book, source_name=path.name, checksum=checksum)
    book.save_atomic(out)
    timings = {k: v for k, v in info.items() if k.endswith("(s)")}
    timings["total (s)"] = round(time.perf_counter() - t0, 3)
    return RunSummary(output=out, ratings=res.ratings, result=res, timings=timings, deal_name=deal.name,
                      balances={t.name: t.balance for t in deal.tranches}, not_carried=book.not_carried())


def waterfall_note(deal) -> str:
    """Which waterfall ran: the built-in one or the deal's Waterfall sheet (steps, triggers, revolving)."""
    w = getattr(deal, "waterfall", None)
    if w is None:
        return "built-in Pengyuan waterfall (METHODOLOGY 5.3)" + (
            f", acceleration above a cumulative default ratio of {deal.trigger_cdr:.2%}" if deal.trigger_cdr else "")
    rev = f", revolving {w.revolving.end_period} periods" if w.revolving is not None else ""
    return f"Waterfall sheet: {len(w.steps)} steps, {len(w.triggers)} trigger(s){rev}"


def run_info(source_name: str, checksum: str, deal, res, t_read: float) -> dict:
    """The Run sheet record: version, time, input checksum, seed, sources, timings."""
    import numba
    import numpy

    from .. import __version__
    info = {
        "xlabs version": __version__,
        "run at (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "input file": source_name,
        "input SHA-256": checksum,
        "seed": deal.seed,
        "BDR search": f"grid step {deal.assumptions.bdr_grid_step:g}, 0.1% scan of the first failing step, "
                      "bisection to 1e-4",
        "method": deal.assumptions.method,
        "waterfall": waterfall_note(deal),
        "default-rate table": (deal.default_table.source if deal.default_table else
                               "shipped: Moody's idealized cumulative expected default rates"),
        "stress scenarios": f"{len(deal.scenarios)} rows: {deal.scenario_source}",
        "python / numpy / numba": f"{platform.python_version()} / {numpy.__version__} / {numba.__version__}",
        "read and validate (s)": round(t_read, 3),
    }
    for k, v in res.timings.items():
        info[k if k == "BDR searches" else f"{k} (s)"] = round(v, 3) if isinstance(v, float) else v
    for k, note in enumerate(res.notes):
        info[f"note {k + 1}"] = note
    return info
