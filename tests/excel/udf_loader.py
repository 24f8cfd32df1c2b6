"""Import the UDF module from udfs/ (it is not part of the installed package)."""

import importlib
import sys
from pathlib import Path

UDF_DIR = Path(__file__).resolve().parents[2] / "udfs"


def load_udfs():
    if str(UDF_DIR) not in sys.path:
        sys.path.insert(0, str(UDF_DIR))
    return importlib.import_module("xlabs_udfs")
