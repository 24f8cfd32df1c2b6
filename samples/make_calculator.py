"""Generate workbooks/xlabs_calculator.xlsx: one template cell per xlabs UDF with example inputs.

    python samples/make_calculator.py [OUT.xlsx]
"""

from __future__ import annotations

import sys
from pathlib import Path

from xlabs.excel.templates import build_calculator

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "workbooks" / "xlabs_calculator.xlsx"
    build_calculator(out)
    print(f"wrote {out}")
