"""xlabs: credit-rating engine for asset-backed securities (see README.md).

Public API (METHODOLOGY sections in brackets):

- :func:`fit_lognormal` (§3.3), :func:`target_default_rate` (§3.4)
- :func:`extrapolate_vintages` (§3.1–3.2)
- :func:`default_probability` (§2.1)
- :func:`rate_workbook` — the same run as ``xlabs rate``
- the portfolio model (§4, §7): :func:`simulate_defaults`, :func:`simulate_pool`,
  :func:`diversity_score`, :func:`build_model_inputs`, :func:`loss_distribution`,
  :func:`vasicek_quantile`, :func:`key_obligor_test` ... (every name in
  ``xlabs.engine.portfolio.__all__``)

``rate_workbook`` and the portfolio names are imported on first use, so that
``import xlabs`` loads neither openpyxl nor the parallel Monte Carlo kernels.
"""

__version__ = "0.1.0"

from .engine.default_table import default_probability
from .engine.lognormal import fit_lognormal, target_default_rate
from .engine.static_pool import extrapolate_vintages
from .errors import Problem, SaveError, ValidationError, XlabsError

_PORTFOLIO = (
    "simulate_defaults", "simulate_pool", "PortfolioResult", "QuantileEstimate", "simulate_waterfall",
    "PathwiseResult", "Obligor", "PortfolioTables",
    "ModelInputs", "CorrelationModel", "build_model_inputs", "pd_curves", "exposure_schedule", "recoveries",
    "concentration_multipliers", "correlation_model", "loadings_from_matrix", "loss_distribution",
    "default_count_distribution", "tranche_expected_loss", "vasicek_cdf", "vasicek_quantile", "diversity_score",
    "DiversityTable", "shipped_diversity_table", "bet_default_distribution", "bet_expected_loss",
    "bet_tranche_expected_loss", "correlated_diversity", "mbet_loss_distribution", "key_obligor_test",
    "KeyObligorOutcome", "credit_enhancement", "shipped_key_obligor_table",
)

__all__ = [
    "__version__", "default_probability", "fit_lognormal", "target_default_rate", "extrapolate_vintages",
    "rate_workbook", "Problem", "ValidationError", "SaveError", "XlabsError", *_PORTFOLIO,
]


def __getattr__(name):
    if name == "rate_workbook":
        from .workbook.run import rate_workbook
        return rate_workbook
    if name in _PORTFOLIO:
        from .engine import portfolio
        return getattr(portfolio, name)
    raise AttributeError(f"module 'xlabs' has no attribute {name!r}")


def __dir__():
    """The module's names and the lazily imported ones, so that ``dir(xlabs)`` and tab completion list them."""
    return sorted(set(globals()) | set(__all__))
