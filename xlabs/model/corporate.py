"""Deal object for a corporate-debt pool / CLO (METHODOLOGY §4, §5, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field

FREQUENCIES = (1, 2, 3, 4, 6, 12)
"""Payments per year a corporate deal may have: those whose period is a whole number of months."""


@dataclass
class CorporateDeal:
    """Everything the corporate rating run needs.

    ``obligors`` are :class:`xlabs.engine.portfolio.Obligor` records;
    ``tranches`` / ``fees`` / ``steps`` / ``triggers`` / ``schedules`` are the
    :mod:`xlabs.model.waterfall` rows; ``scenarios`` are
    :class:`xlabs.model.waterfall.Scenario` with their target rating;
    ``key_obligors`` is ``{target rating: k}``; ``rating_adjustments`` are
    :class:`xlabs.model.RatingAdjustment`.  Money in yuan, rates fractions;
    ``periods`` and tranche legal finals in payment periods (``frequency`` a
    year: 1, 2, 3, 4, 6 or 12), obligor terms, recovery lags and the stress
    scenarios' extra lag in months (the Monte Carlo is monthly, §4.1).
    """

    name: str
    periods: int
    obligors: list
    tables: object                       # PortfolioTables
    tranches: list
    steps: list
    fees: list = field(default_factory=list)
    triggers: list = field(default_factory=list)
    schedules: dict = field(default_factory=dict)
    scenarios: list = field(default_factory=list)
    key_obligors: dict = field(default_factory=dict)
    rating_adjustments: list = field(default_factory=list)
    guarantors: dict = field(default_factory=dict)   # obligor id -> guarantor name (display)
    frequency: int = 12
    benchmark_rate: float = 0.0
    reserve_initial: float = 0.0
    reserve_multiple: float = 0.0
    reserve_floor: float = 0.0
    cpr: float = 0.0
    benchmark: list | None = None        # annual benchmark per period (a Schedules row); None: benchmark_rate flat
    benchmark_name: str = ""             # that Schedules row's name
    revolving: object = None             # xlabs.model.waterfall.Revolving, or None
    n_paths: int = 1_000_000
    seed: int = 0
    bdr_grid_step: float = 0.02          # coarse CDR grid of the BDR search (§6.1)
    scenario_source: str = "shipped corporate_stress_scenarios.csv"   # where ``scenarios`` came from (Run sheet)
    key_obligor_source: str = "shipped corporate_key_obligor.csv"
