"""A deal whose waterfall is data (METHODOLOGY §5.1–5.4, §6.2–6.3).

Every field is a plain string or number (or a list of numbers for a
schedule) so that the workbook layer can map one sheet row onto one object:
the ``Waterfall`` sheet onto :class:`Step`, ``Triggers`` onto
:class:`Trigger`, ``Tranches`` onto :class:`TrancheSpec`, ``Fees`` onto
:class:`FeeSpec`.  Validation (``xlabs.engine.waterfall.compile``) reports
problems as ``"Waterfall row N"``, ``"Triggers row N"`` ... with N counted
from 1 in list order.

Units: money in yuan; rates are annual fractions (converted to periodic by
``frequency``); periods are payment periods numbered from 1; schedules are
per-period lists (index 0 = period 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES = ("interest", "principal", "reserve", "combined")
ACTIONS = ("pay_tax", "pay_fee", "pay_interest", "pay_principal", "top_up_reserve", "transfer",
           "purchase_assets", "pay_residual")
AMOUNTS = ("due", "capped", "target_balance", "all", "pdl", "excess")
CONDITIONS = ("always", "before", "after", "revolving", "amortisation")
ACCOUNTS = ("interest", "principal", "reserve")
COUPON_TYPES = ("fixed", "floating", "none")
INTEREST_RULES = ("timely", "deferrable", "timely_when_senior")
FEE_BASES = ("pool_balance", "tranche_balance", "interest_income", "fixed")
FEE_KINDS = ("fee", "tax")
TRIGGER_TESTS = ("cdr_above", "reserve_below_target", "excess_spread_below", "senior_interest_shortfall",
                 "date")
TRIGGER_EFFECTS = ("end_revolving", "sequential", "turbo", "combine_accounts", "stop_subordinated", "none")
EQUITY = "equity"
"""Payee name of a residual holder that is not a tranche."""


@dataclass
class TrancheSpec:
    """One class of securities, senior first in the deal's list (§5.3, §5.4).

    Attributes
    ----------
    name : str
    balance : float
        Initial principal, yuan.
    coupon_type : str
        ``fixed`` (annual ``coupon``), ``floating`` (benchmark path +
        ``coupon`` as the spread, floored at 0) or ``none`` (no coupon).
    coupon : float
        Annual fraction: the fixed rate, or the floating spread.
    interest : str
        ``timely`` (a shortfall on any date is a default, §5.4),
        ``deferrable`` (unpaid interest accrues at the coupon: interest on
        interest) or ``timely_when_senior`` (deferrable until it is the most
        senior outstanding tranche).
    legal_final : int
        Period (1-based) by which principal and deferred interest must be
        repaid; 0 = the model horizon.
    rated : int
        1 when xlabs searches its BDR.
    """

    name: str
    balance: float
    coupon_type: str = "fixed"
    coupon: float = 0.0
    interest: str = "timely"
    legal_final: int = 0
    rated: int = 1


@dataclass
class FeeSpec:
    """A senior cost (§5.3).

    ``basis``: ``pool_balance`` (annual ``rate`` on the performing pool at
    the start of the period), ``tranche_balance`` (annual ``rate`` on the
    balance of tranche ``tranche``), ``interest_income`` (``rate`` on the
    period's interest collections, not annualised: the tax on interest
    income) or ``fixed`` (``amount`` per period).  ``kind`` is ``fee`` or
    ``tax`` (paid by ``pay_fee`` / ``pay_tax`` steps).  ``servicer`` = 1
    marks the fee the replacement-servicer stress raises.  Unpaid amounts
    carry forward as arrears.
    """

    name: str
    basis: str = "pool_balance"
    rate: float = 0.0
    amount: float = 0.0
    kind: str = "fee"
    tranche: str = ""
    servicer: int = 0


@dataclass
class Step:
    """One row of the waterfall (§5.3), executed in list order each period.

    Attributes
    ----------
    source : str
        ``interest`` (收益账), ``principal`` (本金账), ``reserve`` or
        ``combined`` (interest, then principal, then reserve).
    action : str
        One of :data:`ACTIONS`.
    payees : str
        One name; ``"A+B"`` a pro-rata group; ``"A>B"`` a sequence.  Names
        are tranches (interest, principal, residual, or ``equity`` for
        residual), fees (``pay_fee``) or taxes (``pay_tax``); empty for
        ``top_up_reserve``, ``transfer`` and ``purchase_assets``.
    amount : str
        ``due`` (what is owed; for principal the outstanding balance),
        ``capped`` (at most ``cap`` yuan this step), ``target_balance``
        (principal: down to ``schedule`` x initial balance; reserve: up to
        its target), ``all`` (everything available), ``pdl`` (transfer: up
        to the uncovered defaults, the principal deficiency ledger: defaults
        less their recoveries, which reach the principal account),
        ``excess`` (transfer from the reserve: the part above target).
    condition : str
        ``always``, ``before`` / ``after`` (trigger ``trigger`` not yet /
        already in effect), ``revolving`` or ``amortisation``.
    """

    source: str
    action: str
    payees: str = ""
    amount: str = "due"
    cap: float = 0.0
    schedule: str = ""
    to: str = ""
    condition: str = "always"
    trigger: str = ""


@dataclass
class Trigger:
    """A trigger on pool and deal state (§5.3), tested each period before the waterfall.

    ``test``: ``cdr_above`` (cumulative default ratio — cumulative defaults /
    (initial pool + principal bought while revolving so far) — above ``level``
    or the per-period ``schedule``), ``reserve_below_target`` (reserve below
    ``level`` x target at the start of the period), ``excess_spread_below``
    (annualised excess spread averaged over the last 3 periods, this one
    included, below ``level``), ``senior_interest_shortfall`` (the most
    senior tranche was short of interest on the previous date) or ``date``
    (period >= ``level``).  ``effects`` is ``"+"``-joined
    :data:`TRIGGER_EFFECTS`.  ``curable`` = 1: the trigger is in effect only
    while its test holds; 0: once breached, for ever.
    """

    name: str
    test: str
    level: float = 0.0
    schedule: str = ""
    effects: str = "none"
    curable: int = 0


@dataclass
class Obligor:
    """A loan-level asset of a corporate pool (§4.1, §5.1).

    ``amortisation`` is ``level`` / ``equal_principal`` / ``bullet``;
    ``default_period`` (1-based, 0 = performs) defaults the obligor's whole
    balance at the start of that period; ``recovery`` is paid
    ``recovery_lag`` periods later.
    """

    name: str
    balance: float
    annual_rate: float
    term: int
    amortisation: str = "bullet"
    recovery: float = 0.0
    recovery_lag: int = 0
    default_period: int = 0


@dataclass
class Revolving:
    """Revolving period (§5.2, Pengyuan §五(四)).

    Purchases are allowed in periods 1..``end_period`` unless a trigger with
    effect ``end_revolving`` ends the period early (early amortisation, for
    good).  New assets pay ``annual_rate`` over ``term`` periods with
    ``amortisation``; ``price`` is cash paid per yuan of principal bought
    (1.0 par, 0.98 a discount).
    """

    end_period: int
    annual_rate: float
    term: int
    amortisation: str = "level"
    price: float = 1.0


@dataclass
class Scenario:
    """One stress (§6.2–6.3): the fields of ``xlabs.model.StressScenario``
    plus ``benchmark_up`` (annual fraction added to the floating benchmark)."""

    name: str = "base"
    rating: str = ""
    recovery_haircut: float = 0.0
    cpr_multiplier: float = 1.0
    coupon_up: float = 0.0
    timing: str = "base"
    servicer_fee_up: float = 0.0
    recovery_lag_extra: int = 0
    benchmark_up: float = 0.0


@dataclass
class WaterfallDeal:
    """A deal for the data-driven waterfall engine.

    Pool: ``pool_balance`` yuan of aggregated assets whose scheduled
    amortisation fraction and interest yield per period are ``pool_amort``
    and ``pool_yield`` (from ``xlabs.engine.amortisation.pool_schedule``),
    plus loan-level ``obligors``.  ``cpr`` (annual), ``recovery_rate`` and
    ``recovery_lag`` apply to aggregated assets and purchased cohorts;
    ``timing`` is the base default-timing curve by asset age (§5.2), fitted to the
    initial pool's life; the assets bought while revolving use ``purchase_timing``
    (default: ``timing``) fitted to their term.
    ``benchmark`` is the annual floating benchmark per period.
    Reserve target = max(``reserve_floor``, ``reserve_multiple`` x (next
    period's fees + interest of the first tranche with principal outstanding, together with the tranches
    paid interest pro rata with it: one class)) (§5.3).
    """

    name: str
    periods: int
    tranches: list
    steps: list
    fees: list = field(default_factory=list)
    triggers: list = field(default_factory=list)
    schedules: dict = field(default_factory=dict)
    pool_balance: float = 0.0
    pool_amort: list = field(default_factory=list)
    pool_yield: list = field(default_factory=list)
    obligors: list = field(default_factory=list)
    cpr: float = 0.0
    recovery_rate: float = 0.0
    recovery_lag: int = 0
    timing: list = field(default_factory=list)
    revolving: Revolving | None = None
    purchase_timing: list = field(default_factory=list)
    benchmark: list = field(default_factory=list)
    reserve_initial: float = 0.0
    reserve_multiple: float = 0.0
    reserve_floor: float = 0.0
    frequency: int = 12
