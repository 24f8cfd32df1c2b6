"""Layering rule of DESIGN.md: the engine never imports openpyxl or xlwings (nor the workbook layer)."""

import ast
import subprocess
import sys
from pathlib import Path

import xlabs

ENGINE = Path(xlabs.__file__).parent / "engine"
FORBIDDEN = ("openpyxl", "xlwings", "xlabs.workbook", "xlabs.cli")


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:               # relative: resolve against the package path
                pkg = ".".join(("xlabs",) + path.relative_to(ENGINE.parent).parent.parts)
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                mod = f"{base}.{mod}" if mod else base
            yield mod


def test_no_engine_module_imports_excel_or_workbook_code():
    bad = [(str(p.relative_to(ENGINE)), m) for p in sorted(ENGINE.rglob("*.py")) for m in _imports(p)
           if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []


def test_importing_the_consumer_engine_loads_no_excel_library():
    code = ("import sys, xlabs.engine.consumer, xlabs.engine.cashflow_model; "
            "print(','.join(m for m in ('openpyxl', 'xlwings') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ENGINE.parent.parent)
    assert out.stdout.strip() == ""


def test_engine_has_no_print_calls():
    """DESIGN.md: no cell or print I/O in the engine."""
    import re
    bad = [str(f) for f in ENGINE.rglob("*.py") if re.search(r"^\s*print\(", f.read_text(encoding="utf-8"), re.M)]
    assert bad == []


def test_dir_lists_the_lazily_imported_names_without_importing_them():
    code = ("import sys, xlabs; names = dir(xlabs); "
            "print(all(n in names for n in xlabs.__all__), 'xlabs.engine.portfolio' in sys.modules, "
            "callable(xlabs.simulate_defaults), callable(xlabs.correlated_diversity))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["True", "False", "True", "True"]
