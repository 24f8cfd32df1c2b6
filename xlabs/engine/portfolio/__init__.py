"""Portfolio credit model for corporate-debt pools (METHODOLOGY §4, §7).

Public API (re-exported by :mod:`xlabs`):

Monte Carlo (§4.5)
    :func:`simulate_defaults` -> :class:`PortfolioResult` (per-path default and
    loss ratios, ``trdr(p)``, ``trlr(p)``, ``rating_table``, ``convergence``);
    :func:`simulate_pool` runs it on :class:`ModelInputs`.
Inputs (§4.1-§4.4)
    :class:`Obligor`, :class:`PortfolioTables`, :func:`build_model_inputs`,
    :func:`pd_curves`, :func:`exposure_schedule`, :func:`recoveries`,
    :func:`concentration_multipliers`, :func:`correlation_model`,
    :func:`loadings_from_matrix`.
Semi-analytic (§7.2)
    :func:`loss_distribution`, :func:`default_count_distribution`,
    :func:`tranche_expected_loss`, :func:`vasicek_cdf`, :func:`vasicek_quantile`.
BET (§7.1)
    :func:`diversity_score`, :func:`bet_default_distribution`,
    :func:`bet_expected_loss`, :func:`bet_tranche_expected_loss`,
    :func:`correlated_diversity`, :func:`mbet_loss_distribution`.
Key obligors (§4.7, §4.8)
    :func:`key_obligor_test`, :func:`credit_enhancement`.
"""

from .bet import (
    DiversityTable,
    bet_default_distribution,
    bet_expected_loss,
    bet_tranche_expected_loss,
    correlated_diversity,
    diversity_score,
    mbet_loss_distribution,
    shipped_diversity_table,
)
from .inputs import (
    CorrelationModel,
    ModelInputs,
    Obligor,
    PortfolioTables,
    build_model_inputs,
    concentration_multipliers,
    correlation_model,
    exposure_schedule,
    loadings_from_matrix,
    pd_curves,
    recoveries,
)
from .key_obligor import KeyObligorOutcome, credit_enhancement, key_obligor_test, shipped_key_obligor_table
from .montecarlo import simulate_defaults, simulate_pool
from .pathwise import PathwiseResult, simulate_waterfall
from .results import PortfolioResult, QuantileEstimate
from .semi_analytic import (
    default_count_distribution,
    loss_distribution,
    tranche_expected_loss,
    vasicek_cdf,
    vasicek_quantile,
)

__all__ = [
    "simulate_defaults", "simulate_pool", "PortfolioResult", "QuantileEstimate", "simulate_waterfall",
    "PathwiseResult",
    "Obligor", "PortfolioTables", "ModelInputs", "CorrelationModel", "build_model_inputs",
    "pd_curves", "exposure_schedule", "recoveries", "concentration_multipliers",
    "correlation_model", "loadings_from_matrix",
    "loss_distribution", "default_count_distribution", "tranche_expected_loss",
    "vasicek_cdf", "vasicek_quantile",
    "diversity_score", "DiversityTable", "shipped_diversity_table", "bet_default_distribution",
    "bet_expected_loss", "bet_tranche_expected_loss", "correlated_diversity", "mbet_loss_distribution",
    "key_obligor_test", "KeyObligorOutcome", "credit_enhancement", "shipped_key_obligor_table",
]
