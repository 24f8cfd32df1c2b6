"""The ``xlabs`` command: ``xlabs rate IN.xlsx [-o OUT.xlsx]``, ``xlabs validate IN.xlsx``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import SaveError, ValidationError


def _progress_printer(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    width = 30

    def show(frac, msg):
        n = int(round(frac * width))
        sys.stderr.write(f"\r[{'#' * n}{'.' * (width - n)}] {frac:5.0%} {msg[:40]:<40}")
        if frac >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _report(e: ValidationError) -> int:
    sys.stderr.write(f"xlabs: the workbook was not rated; nothing was written.\n{e}\n")
    return 2


def cmd_rate(args) -> int:
    from .workbook.run import rate_workbook
    try:
        summary = rate_workbook(args.workbook, out=args.output, progress=_progress_printer(args.quiet),
                                in_place=args.in_place)
    except ValidationError as e:
        return _report(e)
    if summary.not_carried:         # shown even with -q: the saved workbook lacks part of the user's content
        kept = "the input workbook is unchanged" if summary.output.resolve() != Path(args.workbook).resolve() else \
            "they are gone from the workbook saved in place"
        sys.stderr.write(f"xlabs: warning: {summary.output} lacks what openpyxl cannot keep ({kept}):\n"
                         + "".join(f"  - {line}\n" for line in summary.not_carried))
    if not args.quiet:
        print(f"rated {args.workbook} -> {summary.output}  ({summary.timings['total (s)']:.2f} s)")
        print(f"{'tranche':<12}{'CE':>9}  {'model-indicated':<16}{'final':<16}")
        for t in summary.ratings:
            print(f"{t.tranche:<12}{t.credit_enhancement:>9.2%}  {t.model_indicated:<16}{t.final:<16}")
        names = [t.tranche for t in summary.ratings]
        mine = [n for n in getattr(summary.result, "notes", []) if any(str(n).startswith(f"{t}: ") for t in names)]
        if mine:        # the notes the Rating sheet lists under the table
            print("notes on these ratings (Rating sheet):")
            for n in mine:
                print(f"  - {n}")
    return 0


def cmd_validate(args) -> int:
    from .workbook.run import validate_workbook
    try:
        validate_workbook(args.workbook)
    except ValidationError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    print(f"{args.workbook}: no problems found")
    return 0


def cmd_batch(args) -> int:
    from .batch import batch_inputs, find_workbooks, rate_many
    if args.scheduler and args.workers is not None:
        sys.stderr.write("xlabs: --workers sizes the local cluster; it cannot be combined with --scheduler "
                         "(the scheduler's own workers run the deals)\n")
        return 2
    try:
        paths = batch_inputs(find_workbooks(args.pattern), args.output)
    except ValueError as e:
        sys.stderr.write(f"xlabs: {e}\n")
        return 2
    if not paths:
        sys.stderr.write(f"xlabs: no .xlsx/.xlsm workbooks match {args.pattern}\n")
        return 2
    show = not args.quiet and sys.stderr.isatty()

    def progress(done, total, name):
        if show:
            sys.stderr.write(f"\r{done}/{total} rated ({name[:40]})".ljust(70))
            if done == total:
                sys.stderr.write("\n")

    try:
        res = rate_many(paths, args.output, scheduler=args.scheduler, workers=args.workers, progress=progress)
    except RuntimeError as e:
        sys.stderr.write(f"xlabs: {e}\n")
        return 2
    if not args.quiet:
        print(f"{res.n_workbooks} workbooks, {res.n_failed} failed, {res.seconds:.1f} s on {res.workers} "
              f"worker(s); summary: {res.summary_csv} and {res.summary_xlsx}")
    return 1 if res.n_failed else 0


def cmd_pack(args) -> int:
    from .pack import make_pack
    try:
        res = make_pack(args.workbook, args.output, pdf=not args.no_pdf, progress=_progress_printer(args.quiet))
    except ValidationError as e:
        return _report(e)
    if not args.quiet:
        print(f"committee pack: {res['workbook']}" + (f" and {res['pdf']}" if res["pdf"] else ""))
        if res["pdf_note"]:
            print(res["pdf_note"])
    return 0


def cmd_warm(args) -> int:
    from .warm import warm
    for k, v in warm().items():
        print(f"{k:<24} {v:6.2f} s")
    return 0


def _positive_int(text: str) -> int:
    """A whole number >= 1 (argparse type): 0 workers would be read as the default, fewer would never run."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (got {text!r})")
    return n


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = argparse.ArgumentParser(prog="xlabs", description="Credit ratings for ABS from Excel workbooks.")
    p.add_argument("--version", action="version", version=f"xlabs {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    # --debug also after the sub-command ('xlabs rate deal.xlsx --debug', as the internal-error message suggests)
    dbg = argparse.ArgumentParser(add_help=False)
    dbg.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rate", parents=[dbg], help="rate the deal in a workbook and write output sheets")
    r.add_argument("workbook")
    r.add_argument("-o", "--output", help="output workbook (default: <name>.rated.xlsx beside the input)")
    r.add_argument("--in-place", action="store_true", help="save the output sheets into the input workbook")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    r.set_defaults(func=cmd_rate)
    v = sub.add_parser("validate", parents=[dbg], help="check a workbook and list every problem")
    v.add_argument("workbook")
    v.set_defaults(func=cmd_validate)
    b = sub.add_parser("batch", parents=[dbg], help="rate many workbooks on Dask (pip install 'xlabs[dask]')")
    b.add_argument("pattern", help="a folder or a glob such as 'deals/*.xlsx'")
    b.add_argument("-o", "--output", required=True, help="output folder (rated workbooks + summary.csv/.xlsx)")
    b.add_argument("--scheduler", help="tcp://host:port of an existing Dask scheduler (default: a local cluster)")
    b.add_argument("--workers", type=_positive_int, help="workers of the local cluster (default: one per core)")
    b.add_argument("-q", "--quiet", action="store_true")
    b.set_defaults(func=cmd_batch)
    k = sub.add_parser("pack", parents=[dbg], help="rate a deal and write the committee pack (workbook + PDF)")
    k.add_argument("workbook")
    k.add_argument("-o", "--output", required=True, help="pack workbook (.xlsx); the PDF is written beside it")
    k.add_argument("--no-pdf", action="store_true", help="skip the PDF even if LibreOffice is installed")
    k.add_argument("-q", "--quiet", action="store_true")
    k.set_defaults(func=cmd_pack)
    w = sub.add_parser("warm", parents=[dbg], help="compile (or load cached) numba kernels once, e.g. after install")
    w.set_defaults(func=cmd_warm)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write("xlabs: interrupted; nothing was written.\n")
        return 130
    except SaveError as e:          # a full disk ...: the user's to fix, not an xlabs defect
        sys.stderr.write(f"xlabs: {e}\n")
        return 4
    except Exception as e:  # an xlabs defect, not a user error: say so plainly
        if getattr(args, "debug", False):
            raise
        sys.stderr.write(f"xlabs: internal error ({type(e).__name__}: {e}); nothing was written. "
                         "Re-run with --debug for the traceback and report it.\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
