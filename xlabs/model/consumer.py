"""Deal objects for a consumer / micro-loan deal (METHODOLOGY §3, §5).

Units: money in the deal currency (yuan); rates and probabilities are
fractions; annual rates are converted to periodic by the deal's payment
frequency; terms and lags in months (periods).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import waterfall as wm

AMORTISATION_TYPES = ("level", "equal_principal", "bullet")
"""Loan amortisation types of §5.1: level payment (等额本息), equal principal
(等额本金), interest-only with principal at maturity (先息后本 / bullet)."""


@dataclass
class Tranche:
    """A class of securities.

    Attributes
    ----------
    name : str
    balance : float
        Initial principal (yuan).
    coupon : float
        Annual coupon (fraction); 0 for a subordinated tranche that only
        takes the residual.
    rated : bool
        Whether xlabs rates it (BDR, stress, model-indicated rating).
    timely_interest : bool
        Interest must be paid on each date (a shortfall is a default, §5.4);
        False makes it deferrable (accrues with interest on interest).
    residual : bool
        Takes the residual interest (only the most junior tranche).
    term_years : float or None
        Term used to read P_A from the default-rate table; None = legal
        final maturity.
    """

    name: str
    balance: float
    coupon: float = 0.0
    rated: bool = True
    timely_interest: bool = True
    residual: bool = False
    term_years: float | None = None
    interest: str | None = None     # with a data waterfall: timely / deferrable / timely_when_senior (§5.4)


@dataclass
class Fee:
    """A senior expense: ``basis`` is ``"pool_balance"`` (annual ``rate`` on
    the performing pool balance at the start of each period) or ``"fixed"``
    (``amount`` per period)."""

    name: str
    basis: str = "pool_balance"
    rate: float = 0.0
    amount: float = 0.0
    servicer: bool = False     # with a data waterfall: pays the replacement-servicer stress (§2.3, §6.3)


@dataclass
class LoanTape:
    """Loan-level pool (§5.1).  Arrays of shape (n_loans,)."""

    loan_id: np.ndarray
    balance: np.ndarray          # current principal, yuan
    annual_rate: np.ndarray      # fraction
    remaining_term: np.ndarray   # months, int
    amortisation: np.ndarray     # str, one of AMORTISATION_TYPES

    @property
    def total(self) -> float:
        return float(np.sum(self.balance))


@dataclass
class StaticPool:
    """Vintage table (§3.1): ``defaults`` is (n_vintages, n_ages), amounts or
    rates, incremental or cumulative; NaN where not yet observed."""

    labels: list
    balances: np.ndarray
    defaults: np.ndarray
    form: str = "cumulative"      # or "incremental"
    units: str = "amount"         # or "rate"

    def cumulative_rates(self) -> np.ndarray:
        from ..engine.static_pool import amounts_to_rates, incremental_to_cumulative
        x = np.asarray(self.defaults, dtype=float)
        if self.units == "amount":
            x = amounts_to_rates(x, self.balances)
        if self.form == "incremental":
            x = incremental_to_cumulative(x)
        return x


@dataclass
class FitAdjustment:
    """Adverse-only adjustment of the lognormal fit (§3.4, Pengyuan Table 1)."""

    factor: str
    mu_shift: float = 0.0
    sigma_multiplier: float = 1.0
    reason: str = ""


@dataclass
class RatingAdjustment:
    """A qualitative adjustment outside the model (§8): ``kind`` is
    ``"notch"`` (``value`` notches down), ``"cap"`` (``value`` a rating) or
    ``"support"`` (``value`` the supporter's rating, ``coverage`` the fraction
    of the tranche's principal and interest it guarantees; only full coverage,
    1, lifts the rating); ``tranche`` is a tranche name or ``"*"`` for all."""

    tranche: str
    factor: str
    kind: str
    value: object
    reason: str = ""
    coverage: float | None = None


@dataclass
class PerformanceAssumptions:
    """Base-case pool performance (§5.2, §3.6)."""

    cpr: float = 0.0                 # annual constant prepayment rate
    recovery_rate: float = 0.0       # fraction of defaulted principal
    recovery_lag: int = 3            # months from default to recovery
    horizon: int | None = None       # static-pool horizon T, months
    cdr_floor: float | None = None   # explicit floor for zero vintage CDRs
    weighting: str = "balance"       # average incremental curve weighting
    method: str = "lognormal"        # or "multiple" (§3.5)
    bdr_grid_step: float = 0.02      # coarse CDR grid of the BDR search (§6.1)


@dataclass
class StressScenario:
    """One cash-flow stress of §6.2–6.3 for a target rating.

    ``recovery_haircut`` cuts the recovery rate (R·(1−h)); ``cpr_multiplier``
    scales CPR; ``coupon_up`` is added to every tranche coupon (annual
    fraction, 0.01 = 100 bp); ``timing`` is ``base`` / ``front`` /
    ``middle`` / ``back``; ``servicer_fee_up`` is an extra annual fee on the
    pool balance (replacement servicer); ``recovery_lag_extra`` months.
    """

    rating: str
    name: str
    recovery_haircut: float = 0.0
    cpr_multiplier: float = 1.0
    coupon_up: float = 0.0
    timing: str = "base"
    servicer_fee_up: float = 0.0
    recovery_lag_extra: int = 0


@dataclass
class ConsumerDeal:
    """Everything the consumer rating run needs (§3, §5, §6, §8)."""

    name: str
    tranches: list
    fees: list
    tape: LoanTape
    static_pool: StaticPool
    assumptions: PerformanceAssumptions
    scenarios: list
    frequency: int = 12
    tax_rate: float = 0.0
    reserve_initial: float = 0.0
    reserve_multiple: float = 0.0
    trigger_cdr: float | None = None
    legal_final_months: int | None = None
    fit_adjustments: list = field(default_factory=list)
    rating_adjustments: list = field(default_factory=list)
    stress_multiples: dict = field(default_factory=dict)
    default_table: object = None     # DefaultRateTable; None = shipped
    seed: int = 0
    waterfall: DataWaterfall | None = None
    scenario_source: str = "shipped consumer_stress_scenarios.csv"     # where ``scenarios`` came from (Run sheet)
    """The deal's own waterfall (a Waterfall sheet); None: the built-in Pengyuan waterfall (§5.3)."""


@dataclass
class DataWaterfall:
    """A consumer deal's waterfall written as data (METHODOLOGY §5.3–5.4): ``steps``, ``triggers`` and
    ``schedules`` as in :mod:`xlabs.model.waterfall`, and an optional revolving period
    (:class:`xlabs.model.waterfall.Revolving`).  Payees are the deal's tranche and fee names, and
    ``tax`` for the tax on interest income (Deal ``tax_rate``)."""

    steps: list
    triggers: list = field(default_factory=list)
    schedules: dict = field(default_factory=dict)
    revolving: object = None


TAX_FEE = "tax"
"""Name of the tax on interest income as a payee of a data waterfall."""


def waterfall_tranches(tranches) -> list:
    """Consumer tranches as :class:`~xlabs.model.waterfall.TrancheSpec`: fixed coupon (none for a residual
    tranche without one, so a coupon stress leaves it alone, as in the built-in waterfall), the interest
    rule ``interest`` or else timely / deferrable by ``timely_interest``, legal final at the model horizon.

    The built-in waterfall relaxes a junior tranche's timely interest after acceleration (timely only
    once the tranches above it are repaid); a data waterfall's rule holds throughout, so a deal whose
    documents say so writes ``timely_when_senior``."""
    return [wm.TrancheSpec(t.name, t.balance, "none" if t.residual and not t.coupon else "fixed", t.coupon,
                           t.interest or ("timely" if t.timely_interest else "deferrable"), 0, 1 if t.rated else 0)
            for t in tranches]


def waterfall_fees(fees, tax_rate: float) -> list:
    """Consumer fees as :class:`~xlabs.model.waterfall.FeeSpec` in their order, then the tax on interest
    income (``tax_rate``, 0 allowed) as the fee named :data:`TAX_FEE`."""
    out = [wm.FeeSpec(f.name, f.basis, f.rate, f.amount, "fee", "", 1 if f.servicer else 0) for f in fees]
    return out + [wm.FeeSpec(TAX_FEE, "interest_income", float(tax_rate), kind="tax")]
