"""Architecture rules of DESIGN.md: the engine never touches files' cells or Excel."""

import re
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "xlabs" / "engine"


def test_engine_imports_no_spreadsheet_library():
    bad = []
    for f in ENGINE.rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        if re.search(r"^\s*(import|from)\s+(openpyxl|xlwings|formulas)\b", text, re.M):
            bad.append(str(f))
    assert not bad, f"engine modules import a spreadsheet library: {bad}"


def test_engine_has_no_print_calls():
    bad = [str(f) for f in ENGINE.rglob("*.py") if re.search(r"^\s*print\(", f.read_text(encoding="utf-8"), re.M)]
    assert not bad
