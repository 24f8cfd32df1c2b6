"""Errors users can act on (DESIGN.md convention 4).

Every input problem is a :class:`Problem` naming where it is (a sheet and a
cell or row when it came from a workbook, otherwise a field name) and the rule
it breaks.  Validation collects *all* problems before raising one
:class:`ValidationError`, so a structurer fixes a workbook in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One broken rule.

    Parameters
    ----------
    where : str
        ``"Sheet!B7"`` for a cell, ``"Sheet!row 12"`` for a row,
        ``"Sheet"`` for a whole sheet, or a field name for engine inputs.
    rule : str
        What is wrong, in words a user can act on.
    value : object, optional
        The offending value, echoed back.
    """

    where: str
    rule: str
    value: object = None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.where}: {self.rule}"
        return f"{self.where}: {self.rule} (got {_show(self.value)})"


def _show(v) -> str:
    """A value as a user typed it: numbers plain (numpy scalars as Python numbers), dates as ISO text, text quoted."""
    if hasattr(v, "item") and not hasattr(v, "__len__"):
        v = v.item()                        # numpy scalar -> Python
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") and (v.hour or v.minute or v.second) else \
            v.strftime("%Y-%m-%d")
    return repr(v)


class XlabsError(Exception):
    """Base class of every error xlabs raises on purpose."""


class SaveError(XlabsError):
    """A workbook could not be saved (a full disk, a read-only or vanished folder ...).

    Saves are atomic: a file already at ``path`` (an earlier rated copy, or the input saved in
    place) is left as it was.
    """

    def __init__(self, path, error: OSError):
        self.path = str(path)
        self.reason = error.strerror or str(error)
        super().__init__(f"could not save {self.path}: {self.reason}")


class ValidationError(XlabsError, ValueError):
    """One or more input problems, reported together."""

    def __init__(self, problems):
        self.problems: list[Problem] = list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.problems)
        head = f"{n} input problem{'s' if n != 1 else ''}:"
        return "\n".join([head] + [f"  - {p}" for p in self.problems])


@dataclass
class ProblemList:
    """Collector used by validators: add problems, raise once at the end."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, rule: str, value: object = None) -> None:
        self.problems.append(Problem(where, rule, value))

    def extend(self, problems) -> None:
        self.problems.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationError(self.problems)
