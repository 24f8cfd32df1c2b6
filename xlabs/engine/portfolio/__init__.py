"""Portfolio credit model for corporate-debt pools (METHODOLOGY §4, §7).

Public API (re-exported by :mod:`xlabs`):

- :func:`simulate_defaults` - multi-period Gaussian-copula Monte Carlo (§4.5)
  returning a :class:`PortfolioResult` (TRDR/TRLR, distributions, timing).
"""

from .montecarlo import simulate_defaults
from .results import PortfolioResult, QuantileEstimate

__all__ = ["simulate_defaults", "PortfolioResult", "QuantileEstimate"]
