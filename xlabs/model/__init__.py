"""Typed deal objects (dataclasses) shared by the engine and the workbook layer."""

from .consumer import (  # noqa: F401
    AMORTISATION_TYPES,
    ConsumerDeal,
    DataWaterfall,
    Fee,
    FitAdjustment,
    LoanTape,
    PerformanceAssumptions,
    RatingAdjustment,
    StaticPool,
    StressScenario,
    Tranche,
)
