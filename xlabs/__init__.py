"""xlabs: credit-rating engine for asset-backed securities (see README.md).

Public API (METHODOLOGY sections in brackets):

- :func:`fit_lognormal` (§3.3), :func:`target_default_rate` (§3.4)
- :func:`extrapolate_vintages` (§3.1–3.2)
- :func:`default_probability` (§2.1)
- :func:`rate_workbook` — the same run as ``xlabs rate`` (imported lazily so
  that ``import xlabs`` does not load openpyxl)
"""

__version__ = "0.1.0"

from .engine.default_table import default_probability
from .engine.lognormal import fit_lognormal, target_default_rate
from .engine.static_pool import extrapolate_vintages
from .errors import Problem, ValidationError, XlabsError

__all__ = [
    "__version__", "default_probability", "fit_lognormal", "target_default_rate", "extrapolate_vintages",
    "rate_workbook", "Problem", "ValidationError", "XlabsError",
]


def __getattr__(name):
    if name == "rate_workbook":
        from .workbook.run import rate_workbook
        return rate_workbook
    raise AttributeError(f"module 'xlabs' has no attribute {name!r}")
