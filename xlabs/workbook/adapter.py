"""The small workbook adapter the run reads and writes through.

:class:`OpenpyxlBook` is the headless implementation used by ``xlabs rate``,
batch runs and the tests.  It loads the workbook once (keeping VBA for
``.xlsm``), reads values, replaces *output* sheets only, and saves
atomically (write a temporary file in the target folder, then rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import openpyxl

from ..errors import Problem, ValidationError


class OpenpyxlBook:
    """A workbook on disk, opened with openpyxl."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise ValidationError([Problem(str(path), "file not found")])
        try:
            self.wb = openpyxl.load_workbook(self.path, keep_vba=self.path.suffix.lower() == ".xlsm",
                                             data_only=False)
        except Exception as e:  # openpyxl raises many types for a bad file
            raise ValidationError([Problem(str(path), f"not a readable .xlsx/.xlsm workbook ({e})")]) from None
        self._values = {}

    def sheet_names(self) -> list:
        return list(self.wb.sheetnames)

    def values(self, name: str) -> list:
        """Cell values of sheet ``name`` as a list of row tuples (row 1 first)."""
        if name not in self._values:
            self._values[name] = list(self.wb[name].iter_rows(values_only=True))
        return self._values[name]

    def replace_sheet(self, name: str, protected=()):
        """A fresh, empty sheet ``name`` at the end (an old one is removed).

        Refuses to touch a sheet in ``protected`` (the input sheets).
        """
        if name in protected:
            raise ValueError(f"refusing to overwrite input sheet {name}")
        if name in self.wb.sheetnames:
            del self.wb[name]
        return self.wb.create_sheet(name)

    def save_atomic(self, path) -> Path:
        """Save to ``path`` through a temporary file and an atomic rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".xlabs-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        try:
            self.wb.save(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path
