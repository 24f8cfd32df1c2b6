"""Validate a :class:`~xlabs.model.waterfall.WaterfallDeal` and compile it to kernel arrays (METHODOLOGY §5.3).

:func:`compile_deal` checks every row of every table, collects *all*
problems (``"Waterfall row 3: payee 'D' is not a tranche"``, ...) and raises
one :class:`~xlabs.errors.ValidationError`; otherwise it returns a
:class:`Program` of contiguous int64/float64 arrays.  :func:`scenario_arrays`
turns a :class:`~xlabs.model.waterfall.Scenario` into the per-scenario
arrays (timing shape, SMM, recovery, coupons, fee rates, §6.2–6.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...errors import ProblemList
from ...model import waterfall as m
from ..amortisation import amortisation_codes, loan_balances, pool_schedule
from ..timing import SHAPES, fit_to_life, shaped
from . import codes as c

_ACTION_AMOUNTS = {
    "pay_tax": ("due", "capped", "all"),
    "pay_fee": ("due", "capped", "all"),
    "pay_interest": ("due", "capped", "all"),
    "pay_principal": ("due", "capped", "target_balance", "all"),
    "top_up_reserve": ("target_balance", "capped", "all"),
    "transfer": ("all", "capped", "pdl", "excess"),
    "purchase_assets": ("all", "capped"),
    "pay_residual": ("all", "capped"),
}
_NEEDS_PAYEES = ("pay_tax", "pay_fee", "pay_interest", "pay_principal", "pay_residual")


@dataclass(frozen=True)
class Program:
    """A compiled deal: the kernel's deal-level arrays (see ``kernel.run_waterfall``)."""

    par: np.ndarray
    ipar: np.ndarray
    amort_tab: np.ndarray
    yld_tab: np.ndarray
    ob_bal0: np.ndarray
    ob_sched: np.ndarray
    ob_rate: np.ndarray
    ob_rec: np.ndarray
    ob_lag: np.ndarray
    ob_def: np.ndarray
    tr_bal0: np.ndarray
    tr_int: np.ndarray
    fee_int: np.ndarray
    fee_fixed: np.ndarray
    step_int: np.ndarray
    step_cap: np.ndarray
    payees: np.ndarray
    trig_int: np.ndarray
    trig_level: np.ndarray
    sched: np.ndarray
    tranche_names: tuple = ()
    fee_names: tuple = ()
    trigger_names: tuple = ()
    obligor_names: tuple = ()
    rated: tuple = ()
    deal: object = field(default=None, repr=False, compare=False)

    @property
    def periods(self) -> int:
        return int(self.amort_tab.shape[1])

    def args(self):
        """Deal arrays in kernel order (after the scenario arrays)."""
        return (self.par, self.ipar, self.amort_tab, self.yld_tab, self.ob_bal0, self.ob_sched, self.ob_rate,
                self.ob_rec, self.ob_lag, self.ob_def, self.tr_bal0, self.tr_int, self.fee_int, self.fee_fixed,
                self.step_int, self.step_cap, self.payees, self.trig_int, self.trig_level, self.sched)

    @property
    def obligor_terms(self) -> np.ndarray:
        """(N,) int: the last period in which each obligor has a balance (its scheduled term)."""
        return (self.ob_sched[:, :-1] > 0.0).sum(axis=1).astype(np.int64)

    def with_defaults(self, defaults: dict) -> Program:
        """A copy where obligors named in ``defaults`` ({name: period, 1-based; 0 = performs})
        default at those periods (key-obligor test §4.7, Monte Carlo paths §4.5)."""
        ob_def = self.ob_def.copy()
        idx = {n: i for i, n in enumerate(self.obligor_names)}
        term = self.obligor_terms
        probs = ProblemList()
        for name, per in defaults.items():
            if name not in idx:
                probs.add("defaults", "no obligor of that name", name)
            elif not (0 <= int(per) <= self.periods):
                probs.add("defaults", f"default period must be 0..{self.periods}", per)
            elif int(per) > term[idx[name]]:
                probs.add("defaults", f"{name} is repaid after period {term[idx[name]]}: a default at period "
                          f"{int(per)} would do nothing", per)
            else:
                ob_def[idx[name]] = int(per) - 1
        probs.raise_if_any()
        return _replace(self, ob_def=ob_def)


def _replace(p: Program, **kw) -> Program:
    from dataclasses import replace
    return replace(p, **kw)


@dataclass(frozen=True)
class ScenarioArrays:
    """Per-scenario kernel arrays (§6.2–6.3)."""

    name: str
    timing: np.ndarray      # (2H,) by asset age: [initial pool (H) | assets bought while revolving (H)]
    smm: np.ndarray         # (H,)
    sc_f: np.ndarray        # (2,) [cohort recovery rate, obligor recovery multiplier]
    sc_i: np.ndarray        # (2,) int64 [cohort lag, extra obligor lag]
    coupon: np.ndarray      # (J, H) periodic
    fee_rate: np.ndarray    # (2F,) periodic: each fee's rate on its basis, then its extra rate on the pool balance

    def __post_init__(self):
        if np.shape(self.timing) != (2 * np.shape(self.smm)[0],):
            # the kernel reads timing[kind * H + age]: a curve of another length would be read past its end
            raise ValueError(f"timing must have 2H = {2 * np.shape(self.smm)[0]} values (initial pool, then "
                             f"purchases), got shape {np.shape(self.timing)}")

    def args(self):
        return (self.timing, self.smm, self.sc_f, self.sc_i, self.coupon, self.fee_rate)


def _split_payees(text: str):
    """``"A"`` -> (['A'], single); ``"A+B"`` -> pro rata; ``"A>B"`` -> sequence; mixing is an error."""
    t = str(text).strip()
    if "+" in t and ">" in t:
        return None, None
    if "+" in t:
        return [x.strip() for x in t.split("+")], c.MODE_PRORATA
    if ">" in t:
        return [x.strip() for x in t.split(">")], c.MODE_SEQ
    return ([t] if t else []), c.MODE_SINGLE


def _is_int(x) -> bool:
    try:
        return float(x) == int(float(x))
    except (TypeError, ValueError):
        return False


def _transfer_cycles(edges):
    """Rows of transfers that lie on a cycle of the account graph.  ``edges``: [(row, from, to)]."""
    graph: dict = {}
    for _, a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reaches(a, b):
        seen, stack = set(), [a]
        while stack:
            x = stack.pop()
            if x == b:
                return True
            if x in seen:
                continue
            seen.add(x)
            stack.extend(graph.get(x, ()))
        return False

    return [row for row, a, b in edges if reaches(b, a)]


def pro_rata_classes(tranches, steps, action: str) -> dict:
    """{tranche name: index of the first tranche of its class}: tranches paid pro rata together by an
    ``action`` step (payees ``"A1+A2"``, in any condition) are pari passu and form one class; otherwise a
    tranche is its own class (its row in the Tranches table)."""
    names = [t.name for t in tranches]
    first = {n: i for i, n in enumerate(names)}
    for s in steps:
        if getattr(s, "action", "") != action or "+" not in str(getattr(s, "payees", "")):
            continue
        group = [x.strip() for x in str(s.payees).split("+") if x.strip() in first]
        if len(group) > 1:
            lo = min(first[x] for x in group)
            old = {first[x] for x in group}
            for n in names:                 # merge every class the group touches
                if first[n] in old:
                    first[n] = lo
    return first


def interest_classes(deal: m.WaterfallDeal) -> dict:
    """Interest classes for ``timely_when_senior`` and the senior-interest-shortfall trigger (§5.3-5.4):
    tranches paid interest pro rata together rank as one class (:func:`pro_rata_classes`)."""
    return pro_rata_classes(deal.tranches, deal.steps, "pay_interest")


def _residual_ahead_of_tranches(deal: m.WaterfallDeal) -> list:
    """(residual step, later step, trigger) index triples where a trigger's ``combine_accounts`` turns a
    residual step's interest / principal source into ``combined`` (§5.3) while a later step that can run
    at the same time pays interest or principal to a tranche other than the residual's payee: the residual
    would then pay out all the cash ahead of those tranches.  A trigger that also stops subordinated
    payments stops the residual; a step with condition ``before`` the trigger, or ``revolving`` when the
    trigger ends revolving, does not run under it; two steps whose conditions exclude each other
    (``revolving`` / ``amortisation``, ``before`` / ``after`` one trigger) never run in the same period.
    One triple per residual step, naming every such trigger."""
    out = []
    steps = deal.steps
    for k in deal.triggers:
        effects = {e.strip() for e in str(k.effects).split("+")}
        if "combine_accounts" not in effects or "stop_subordinated" in effects or not str(k.name or "").strip():
            continue        # (a trigger without a name is its own problem; steps cannot name it)

        def runs(s, name=k.name, ends=("end_revolving" in effects)):
            return not (s.condition == "before" and s.trigger == name) and not (ends and s.condition == "revolving")

        for i, s in enumerate(steps):
            if s.action != "pay_residual" or s.source not in ("interest", "principal") or not runs(s):
                continue
            own = str(s.payees or "").strip()
            for j in range(i + 1, len(steps)):
                x = steps[j]
                payees = [n.strip() for n in re.split(r"[+>]", str(x.payees or "")) if n.strip()]
                if x.action in ("pay_interest", "pay_principal") and runs(x) and _together(s, x) \
                        and any(n != own for n in payees):
                    out.append((i, j, k.name))
                    break
    first = {}
    for i, j, k in out:
        first.setdefault(i, (j, []))[1].append(k)
    return [(i, j, ks) for i, (j, ks) in sorted(first.items())]


def _together(a: m.Step, b: m.Step) -> bool:
    """False when the conditions of steps ``a`` and ``b`` can never hold in the same period."""
    if {a.condition, b.condition} == {"revolving", "amortisation"}:
        return False
    return not ({a.condition, b.condition} == {"before", "after"} and a.trigger == b.trigger)


def validate(deal: m.WaterfallDeal) -> ProblemList:
    """Every broken rule of ``deal``, row-addressed; empty when it compiles."""
    P = ProblemList()
    H = deal.periods
    if not _is_int(H) or int(H) < 1:
        P.add("Deal", "periods must be a whole number >= 1", H)
        H = 1
    H = int(H)
    if not _is_int(deal.frequency) or int(deal.frequency) < 1:
        P.add("Deal", "frequency must be a whole number of payments per year >= 1", deal.frequency)
    tr_names = [t.name for t in deal.tranches]
    fee_names = [f.name for f in deal.fees]
    trig_names = [k.name for k in deal.triggers]
    if not deal.tranches:
        P.add("Tranches", "a deal needs at least one tranche")
    for label, names in (("Tranches", tr_names), ("Fees", fee_names), ("Triggers", trig_names)):
        seen = set()
        for i, n in enumerate(names):
            if not str(n).strip():
                P.add(f"{label} row {i + 1}", "name is empty")
            elif n in seen:
                P.add(f"{label} row {i + 1}", "duplicate name", n)
            elif n == m.EQUITY:
                P.add(f"{label} row {i + 1}", f"'{m.EQUITY}' is reserved for the residual holder", n)
            seen.add(n)
    for i, t in enumerate(deal.tranches):
        w = f"Tranches row {i + 1}"
        if not (t.balance >= 0):
            P.add(w, "balance must be >= 0 yuan", t.balance)
        if t.coupon_type not in m.COUPON_TYPES:
            P.add(w, f"coupon_type must be one of {', '.join(m.COUPON_TYPES)}", t.coupon_type)
        if not (-0.5 < t.coupon < 1):
            P.add(w, "coupon must be an annual fraction (0.045 = 4.5%)", t.coupon)
        if t.interest not in m.INTEREST_RULES:
            P.add(w, f"interest must be one of {', '.join(m.INTEREST_RULES)}", t.interest)
        if not _is_int(t.legal_final) or not (0 <= int(t.legal_final) <= H):
            P.add(w, f"legal_final must be a period 0..{H} (0 = horizon)", t.legal_final)
        if t.coupon_type == "floating" and len(deal.benchmark) < H:
            P.add(w, f"floating coupon needs a benchmark path of {H} periods", len(deal.benchmark))
    for i, f in enumerate(deal.fees):
        w = f"Fees row {i + 1}"
        if f.basis not in m.FEE_BASES:
            P.add(w, f"basis must be one of {', '.join(m.FEE_BASES)}", f.basis)
        if f.kind not in m.FEE_KINDS:
            P.add(w, f"kind must be one of {', '.join(m.FEE_KINDS)}", f.kind)
        if not (0 <= f.rate < 1):
            P.add(w, "rate must be a fraction in [0, 1)", f.rate)
        if not (f.amount >= 0):
            P.add(w, "amount must be >= 0 yuan", f.amount)
        if f.basis == "tranche_balance" and f.tranche not in tr_names:
            P.add(w, "tranche_balance fee needs an existing tranche", f.tranche)
        if f.servicer and any(x.servicer for x in deal.fees[:i]):
            # the replacement-servicer stress is charged with the servicer fee: two would charge it twice
            P.add(w, "servicer: only one fee may be marked servicer (the replacement-servicer stress is "
                  "charged once, with it)", f.name)
    # what each schedule is used for sets its range: cdr_above levels and target_balance targets are
    # fractions in [0, 1] (a schedule typed in percent would silently never fire / never pay)
    frac_use = {k.schedule for k in deal.triggers if k.test == "cdr_above" and k.schedule}
    frac_use |= {s.schedule for s in deal.steps if s.amount == "target_balance" and s.schedule}
    xs_use = {k.schedule for k in deal.triggers if k.test == "excess_spread_below" and k.schedule}
    for name, vals in deal.schedules.items():
        if len(vals) < H:
            P.add(f"Schedules {name}", f"needs one value per period ({H})", len(vals))
        v = np.asarray(vals, dtype=float)[:H]
        if not np.all(np.isfinite(v)):
            P.add(f"Schedules {name}", "values must be numbers (a blank or NaN)")
        elif name in frac_use and not np.all((v >= 0) & (v <= 1)):
            P.add(f"Schedules {name}", "values must be fractions in [0, 1] (0.024 = 2.4%)",
                  float(v[(v < 0) | (v > 1)][0]))
        elif name in xs_use and not np.all(np.abs(v) <= 1):
            P.add(f"Schedules {name}", "excess-spread levels must be annual fractions in [-1, 1] (0.02 = 2%)",
                  float(v[np.abs(v) > 1][0]))
    for i, k in enumerate(deal.triggers):
        w = f"Triggers row {i + 1}"
        if k.test not in m.TRIGGER_TESTS:
            P.add(w, f"test must be one of {', '.join(m.TRIGGER_TESTS)}", k.test)
        if k.schedule and k.schedule not in deal.schedules:
            P.add(w, "schedule does not exist", k.schedule)
        if k.schedule and k.test not in ("cdr_above", "excess_spread_below"):
            P.add(w, "a schedule applies only to cdr_above and excess_spread_below", k.test)
        for e in str(k.effects).split("+"):
            if e.strip() not in m.TRIGGER_EFFECTS:
                P.add(w, f"effect must be '+'-joined from {', '.join(m.TRIGGER_EFFECTS)}", e.strip())
        if k.curable not in (0, 1):
            P.add(w, "curable must be 0 or 1", k.curable)
        if k.test in ("cdr_above", "reserve_below_target") and not k.schedule and not (0 <= k.level <= 1):
            P.add(w, "level must be a fraction in [0, 1]", k.level)
        if k.test == "date" and not (_is_int(k.level) and 1 <= int(float(k.level)) <= H):
            # the test is period >= level: 0.03 (a fraction typed for another test) or 0 would be in effect
            # from period 1, a level past the horizon never
            P.add(w, f"level of a date trigger must be a whole period 1..{H} (the first period in effect)", k.level)
        if k.test == "excess_spread_below" and not k.schedule and not (-1 <= k.level <= 1):
            P.add(w, "level must be an annual fraction in [-1, 1] (0.02 = 2%)", k.level)
    if not deal.steps:
        P.add("Waterfall", "the waterfall has no steps")
    edges = []
    for i, s in enumerate(deal.steps):
        w = f"Waterfall row {i + 1}"
        if not str(s.source).strip():
            P.add(w, "step has no source account")
        elif s.source not in m.SOURCES:
            P.add(w, f"source must be one of {', '.join(m.SOURCES)}", s.source)
        if s.action not in m.ACTIONS:
            P.add(w, f"action must be one of {', '.join(m.ACTIONS)}", s.action)
            continue
        if s.amount not in _ACTION_AMOUNTS[s.action]:
            P.add(w, f"amount for {s.action} must be one of {', '.join(_ACTION_AMOUNTS[s.action])}", s.amount)
        if s.amount == "capped" and not (s.cap > 0):
            P.add(w, "a capped amount needs cap > 0 yuan", s.cap)
        if s.condition not in m.CONDITIONS:
            P.add(w, f"condition must be one of {', '.join(m.CONDITIONS)}", s.condition)
        elif s.condition in ("before", "after") and s.trigger not in trig_names:
            P.add(w, f"trigger named by condition '{s.condition}' does not exist", s.trigger)
        elif s.condition not in ("before", "after") and str(s.trigger or "").strip():
            P.add(w, f"a trigger is named but condition '{s.condition}' ignores it (use before or after)", s.trigger)
        names, mode = _split_payees(s.payees)
        mixed = names is None
        if mixed:
            P.add(w, "payees mix '+' (pro rata) and '>' (sequence)", s.payees)
            names = []
        if len(set(names)) < len(names):
            P.add(w, "a payee appears twice in the row (it would be paid twice)", s.payees)
        if s.action in _NEEDS_PAYEES and not names and not mixed:
            P.add(w, f"{s.action} needs a payee", s.payees)
        if s.action not in _NEEDS_PAYEES and names:
            P.add(w, f"{s.action} takes no payees", s.payees)
        if s.action in ("pay_tax", "pay_fee"):
            kind = "tax" if s.action == "pay_tax" else "fee"
            for n in names:
                if n not in fee_names:
                    P.add(w, f"payee is not a {kind} in the Fees table", n)
                elif deal.fees[fee_names.index(n)].kind != kind:
                    P.add(w, f"payee is not of kind '{kind}'", n)
        elif s.action in ("pay_interest", "pay_principal"):
            for n in names:
                if n not in tr_names:
                    P.add(w, "payee is not a tranche", n)
        elif s.action == "pay_residual":
            if len(names) > 1:
                P.add(w, "pay_residual has one payee (a tranche or 'equity')", s.payees)
            for n in names:
                if n not in tr_names and n != m.EQUITY:
                    P.add(w, "payee is not a tranche or 'equity'", n)
        if s.action == "pay_principal" and s.amount == "target_balance" and s.schedule not in deal.schedules:
            P.add(w, "target_balance needs a schedule of target balances (fractions of initial)", s.schedule)
        elif str(s.schedule or "").strip() and s.amount != "target_balance":
            P.add(w, "schedule: a schedule applies only to amount target_balance (it would be ignored)", s.schedule)
        if str(s.to or "").strip() and s.action != "transfer":
            P.add(w, "to: an account to pay into applies only to transfers (it would be ignored)", s.to)
        if s.action == "top_up_reserve" and s.source in ("reserve", "combined"):
            P.add(w, "the reserve cannot top itself up; use interest or principal", s.source)
        if s.action == "transfer":
            if s.to not in m.ACCOUNTS:
                P.add(w, f"transfer needs 'to' in {', '.join(m.ACCOUNTS)}", s.to)
            elif s.to == s.source or s.source == "combined":
                P.add(w, "transfer must move cash between two different accounts", f"{s.source}->{s.to}")
            elif s.source in m.ACCOUNTS:
                edges.append((i + 1, s.source, s.to))
            if s.amount == "excess" and s.source != "reserve":
                P.add(w, "amount 'excess' applies to transfers from the reserve", s.source)
        if s.action == "purchase_assets" and deal.revolving is None:
            P.add(w, "purchase_assets needs a revolving period (Revolving)")
        if s.condition == "revolving" and deal.revolving is None:
            P.add(w, "condition 'revolving' needs a revolving period (Revolving)")
    for row in _transfer_cycles(edges):
        P.add(f"Waterfall row {row}", "transfers form a cycle between accounts")
    for i, j, ks in _residual_ahead_of_tranches(deal):
        later = deal.steps[j]
        names = " or ".join(f"'{k}'" for k in ks)
        fix = f"set condition 'before' trigger {names}, or move" if len(ks) == 1 else "move"
        P.add(f"Waterfall row {i + 1}", f"condition: while trigger {names} combines the accounts, this residual step "
              f"takes all the cash (principal collections and the reserve included) before the later "
              f"{later.action} step to {later.payees}, so the residual holder would be paid ahead of the "
              f"tranches; {fix} the step below that one",
              deal.steps[i].condition or "always")
    if deal.steps:
        # a fee no step pays would accrue as arrears for ever: its cost silently left out of the cash flows
        # a step already reported (an unknown action, payees mixing '+' and '>', a payee that is no fee of its
        # kind) may be the one meant to pay it: the fees it could pay are not reported again
        paid, unsure = set(), set()
        for s in deal.steps:
            if s.action not in m.ACTIONS or s.action in ("pay_tax", "pay_fee"):
                names = [x.strip() for x in re.split(r"[+>]", str(s.payees or "")) if x.strip()]
                paid.update(names)
                if s.action in ("pay_tax", "pay_fee") and any(n not in fee_names for n in names):
                    unsure.add("tax" if s.action == "pay_tax" else "fee")
        for i, f in enumerate(deal.fees):
            if f.name not in paid and f.kind not in unsure and (f.rate > 0 or f.amount > 0 or f.servicer):
                P.add(f"Fees row {i + 1}", f"no Waterfall step pays this {f.kind} (action pay_{f.kind}): it would "
                      "never be paid and its cost would be left out of the cash flows", f.name)
    if deal.steps and not any("turbo" in str(k.effects) for k in deal.triggers):
        # a tranche no step repays would lose its whole balance in every scenario: its rating would read
        # "CCCsf or below" with nothing saying why (a turbo residual also repays principal: not checked then)
        repaid = set()
        for s in deal.steps:
            if s.action == "pay_principal" or s.action not in m.ACTIONS:
                repaid.update(x.strip() for x in re.split(r"[+>]", str(s.payees or "")) if x.strip())
        for i, t in enumerate(deal.tranches):
            if t.name not in repaid and t.balance > 0:
                P.add(f"Tranches row {i + 1}", "no Waterfall step pays this tranche's principal (action "
                      "pay_principal): it would never be repaid", t.name)
    if deal.steps:
        # a tranche bearing interest that no step pays would be short of all of it on every date: a timely
        # tranche defaults in period 1 and a deferrable one loses its interest at its legal final, in every
        # scenario, its rating "CCCsf or below" with nothing saying why (§5.3-5.4)
        paid_int = set()
        for s in deal.steps:
            if s.action == "pay_interest" or s.action not in m.ACTIONS:
                paid_int.update(x.strip() for x in re.split(r"[+>]", str(s.payees or "")) if x.strip())
        for i, t in enumerate(deal.tranches):
            bears = t.coupon_type == "floating" or (t.coupon_type == "fixed" and t.coupon != 0)
            if bears and t.balance > 0 and t.name not in paid_int:
                P.add(f"Tranches row {i + 1}", "coupon: no Waterfall step pays this tranche's interest (action "
                      "pay_interest): it would never be paid, and the tranche would default (timely) or lose "
                      "its interest (deferrable) in every scenario", t.name)
    if deal.revolving is not None:
        r = deal.revolving
        if not _is_int(r.end_period) or not (0 <= int(r.end_period) <= H):
            P.add("Revolving", f"end_period must be a period 0..{H}", r.end_period)
        if not (0 <= r.annual_rate < 1):
            P.add("Revolving", "annual_rate must be a fraction in [0, 1)", r.annual_rate)
        if not _is_int(r.term) or int(r.term) < 1:
            P.add("Revolving", "term must be whole periods >= 1", r.term)
        if r.amortisation not in ("level", "equal_principal", "bullet"):
            P.add("Revolving", "amortisation must be level, equal_principal or bullet", r.amortisation)
        if not (r.price > 0):
            P.add("Revolving", "price must be > 0 (cash per yuan of principal)", r.price)
    for i, o in enumerate(deal.obligors):
        w = f"Obligors row {i + 1}"
        if not (o.balance > 0):
            P.add(w, "balance must be > 0", o.balance)
        if not (0 <= o.annual_rate < 1):
            P.add(w, "annual_rate must be a fraction in [0, 1)", o.annual_rate)
        if not _is_int(o.term) or int(o.term) < 1:
            P.add(w, "term must be whole periods >= 1", o.term)
        if o.amortisation not in ("level", "equal_principal", "bullet"):
            P.add(w, "amortisation must be level, equal_principal or bullet", o.amortisation)
        if not (0 <= o.recovery <= 1):
            P.add(w, "recovery must be a fraction in [0, 1]", o.recovery)
        if not _is_int(o.recovery_lag) or int(o.recovery_lag) < 0:
            P.add(w, "recovery_lag must be whole periods >= 0", o.recovery_lag)
        if not _is_int(o.default_period) or not (0 <= int(o.default_period) <= H):
            P.add(w, f"default_period must be 0..{H} (0 = performs)", o.default_period)
        elif _is_int(o.term) and int(o.default_period) > int(o.term):
            P.add(w, f"default_period is after the obligor's term ({int(o.term)}): it would repay in full first "
                  "and the default would do nothing", o.default_period)
    if deal.pool_balance > 0 and (len(deal.pool_amort) < 1 or len(deal.pool_yield) < 1):
        P.add("Pool", "an aggregated pool needs pool_amort and pool_yield schedules")
    elif deal.pool_balance > 0:
        am = np.asarray(deal.pool_amort, dtype=float)
        full = np.flatnonzero(am >= 1.0)        # the pool is repaid in full after this period
        covered = int(full[0]) + 1 if full.size else H
        if am.size < covered:
            P.add("Pool", f"pool_amort covers {am.size} periods and does not repay the pool: give one value "
                  f"per period ({H}) or end with 1", am.size)
        elif len(deal.pool_yield) < min(covered, H):
            P.add("Pool", f"pool_yield covers {len(deal.pool_yield)} periods while the pool is outstanding for "
                  f"{min(covered, H)}", len(deal.pool_yield))
    if not (0 <= deal.cpr < 1):
        P.add("Pool", "cpr must be an annual fraction in [0, 1)", deal.cpr)
    if not (0 <= deal.recovery_rate <= 1):
        P.add("Pool", "recovery_rate must be a fraction in [0, 1]", deal.recovery_rate)
    if not _is_int(deal.recovery_lag) or int(deal.recovery_lag) < 0:
        P.add("Pool", "recovery_lag must be whole periods >= 0", deal.recovery_lag)
    return P


def _pad(x, H):
    out = np.zeros(H)
    x = np.asarray(x, dtype=float)[:H]
    out[: x.size] = x
    return out


def compile_deal(deal: m.WaterfallDeal) -> Program:
    """Validate ``deal`` (raising every problem at once) and build its :class:`Program`."""
    validate(deal).raise_if_any()
    H = int(deal.periods)
    f = int(deal.frequency)
    tr_names = tuple(t.name for t in deal.tranches)
    fee_names = tuple(x.name for x in deal.fees)
    trig_names = tuple(k.name for k in deal.triggers)
    sched_names = list(deal.schedules)
    sched = np.zeros((max(len(sched_names), 1), H))
    for i, n in enumerate(sched_names):
        sched[i] = np.asarray(deal.schedules[n], dtype=float)[:H]
    amort_tab = np.zeros((2, H))
    yld_tab = np.zeros((2, H))
    amort_tab[0] = _pad(deal.pool_amort, H)
    yld_tab[0] = _pad(deal.pool_yield, H)
    rev = deal.revolving
    if rev is not None:
        ps = pool_schedule([1.0], [rev.annual_rate], [int(rev.term)], [rev.amortisation], f, periods=H)
        amort_tab[1] = _pad(ps.amort_fraction, H)
        yld_tab[1] = _pad(ps.interest_yield, H)
    obs = deal.obligors
    N = len(obs)
    if N:
        b = np.array([o.balance for o in obs], dtype=float)
        bals = loan_balances(b, [o.annual_rate for o in obs], np.array([int(o.term) for o in obs]),
                             amortisation_codes([o.amortisation for o in obs]), f, periods=H)
        ob_sched = np.ascontiguousarray(bals / b[:, None])
    else:
        b = np.zeros(0)
        ob_sched = np.zeros((0, H + 1))
    steps = deal.steps
    step_int = np.zeros((len(steps), c.N_SI), dtype=np.int64)
    step_cap = np.zeros(len(steps))
    payees: list[int] = []
    for i, s in enumerate(steps):
        names, mode = _split_payees(s.payees)
        row = step_int[i]
        row[c.SI_COND] = m.CONDITIONS.index(s.condition)
        row[c.SI_TRIG] = trig_names.index(s.trigger) if s.condition in ("before", "after") else -1
        row[c.SI_SRC] = m.SOURCES.index(s.source)
        row[c.SI_ACT] = m.ACTIONS.index(s.action)
        row[c.SI_AMT] = m.AMOUNTS.index(s.amount)
        row[c.SI_MODE] = mode
        row[c.SI_P0] = len(payees)
        row[c.SI_NP] = len(names)
        row[c.SI_TO] = m.ACCOUNTS.index(s.to) if s.action == "transfer" else -1
        row[c.SI_SCHED] = sched_names.index(s.schedule) if s.schedule in sched_names else -1
        for n in names:
            if s.action in ("pay_tax", "pay_fee"):
                payees.append(fee_names.index(n))
            else:
                payees.append(c.EQUITY_PAYEE if n == m.EQUITY else tr_names.index(n))
        step_cap[i] = float(s.cap)
    trig_int = np.zeros((len(deal.triggers), 4), dtype=np.int64)
    trig_level = np.zeros(len(deal.triggers))
    for i, k in enumerate(deal.triggers):
        trig_int[i, c.KI_TEST] = m.TRIGGER_TESTS.index(k.test)
        trig_int[i, c.KI_CURABLE] = int(k.curable)
        trig_int[i, c.KI_SCHED] = sched_names.index(k.schedule) if k.schedule else -1
        bits = 0
        for e in str(k.effects).split("+"):
            bits |= c.EFFECT_BITS[e.strip()]
        trig_int[i, c.KI_EFFECTS] = bits
        trig_level[i] = float(k.level)
    fee_int = np.zeros((len(deal.fees), 3), dtype=np.int64)
    for i, x in enumerate(deal.fees):
        fee_int[i] = (m.FEE_BASES.index(x.basis), m.FEE_KINDS.index(x.kind),
                      tr_names.index(x.tranche) if x.basis == "tranche_balance" else -1)
    cls = interest_classes(deal)
    pcls = pro_rata_classes(deal.tranches, deal.steps, "pay_principal")     # the turbo's classes
    tr_int = np.array([[m.INTEREST_RULES.index(t.interest), int(t.legal_final) or H, cls[t.name], pcls[t.name]]
                       for t in deal.tranches], dtype=np.int64).reshape(len(deal.tranches), 4)
    par = np.array([deal.pool_balance, deal.reserve_initial, deal.reserve_multiple, deal.reserve_floor,
                    rev.price if rev is not None else 1.0, float(f)])
    n_buy = sum(1 for st in deal.steps if st.action == "purchase_assets")
    # cohorts: the initial pool, then one per purchase step per period (each purchase is its own cohort)
    ipar = np.array([int(rev.end_period) if rev is not None else 0, 1 + H * max(n_buy, 1)], dtype=np.int64)
    return Program(
        par=par, ipar=ipar, amort_tab=amort_tab, yld_tab=yld_tab,
        ob_bal0=b, ob_sched=ob_sched,
        ob_rate=np.array([o.annual_rate / f for o in obs], dtype=float),
        ob_rec=np.array([o.recovery for o in obs], dtype=float),
        ob_lag=np.array([int(o.recovery_lag) for o in obs], dtype=np.int64),
        ob_def=np.array([int(o.default_period) - 1 for o in obs], dtype=np.int64),
        tr_bal0=np.array([t.balance for t in deal.tranches], dtype=float), tr_int=tr_int,
        fee_int=fee_int, fee_fixed=np.array([x.amount for x in deal.fees], dtype=float),
        step_int=step_int, step_cap=step_cap, payees=np.array(payees, dtype=np.int64),
        trig_int=trig_int, trig_level=trig_level, sched=np.ascontiguousarray(sched),
        tranche_names=tr_names, fee_names=fee_names, trigger_names=trig_names,
        obligor_names=tuple(o.name for o in obs), rated=tuple(bool(t.rated) for t in deal.tranches), deal=deal,
    )


def smm_from_cpr(cpr: float, frequency: int = 12) -> float:
    """SMM = 1 − (1 − CPR)^(1/frequency) (METHODOLOGY §5.2)."""
    return 1.0 - (1.0 - cpr) ** (1.0 / frequency)


def scenario_arrays(deal: m.WaterfallDeal, scenario=None) -> ScenarioArrays:
    """Per-scenario arrays of ``deal`` under ``scenario`` (None = base case; §6.2–6.3).

    Timing: the deal's base curve fitted to the horizon and shaped by
    ``scenario.timing`` (``xlabs.engine.timing``); CPR x ``cpr_multiplier``;
    recovery x (1 − ``recovery_haircut``) for pool and obligors; lag +
    ``recovery_lag_extra``; ``coupon_up`` added to every fixed and floating
    coupon, ``benchmark_up`` to the benchmark; ``servicer_fee_up``: an extra
    annual fee on the pool balance (a replacement servicer's cost, §2.3, §6.3),
    paid with the fee marked ``servicer`` whatever that fee's own basis; a
    scenario with this stress needs such a fee (it would otherwise do nothing).
    """
    return scenario_arrays_memo(deal, scenario, {})


def scenario_arrays_memo(deal: m.WaterfallDeal, scenario, memo: dict) -> ScenarioArrays:
    """:func:`scenario_arrays`, reusing the timing, prepayment, recovery, coupon and fee arrays of earlier
    scenarios of the same ``deal`` kept in ``memo`` (one dict per deal, for one batch of scenarios:
    a stress table has a handful of distinct timing shapes, CPR multipliers and coupon stresses).
    Scenarios may then share array objects: treat the result as read-only."""
    sc = scenario if scenario is not None else m.Scenario()
    probs = ProblemList()
    shape = getattr(sc, "timing", "base")
    if shape not in SHAPES:
        probs.add("Scenario", f"timing must be one of {', '.join(SHAPES)}", shape)
    extra = getattr(sc, "recovery_lag_extra", 0)
    if not _is_int(extra) or int(extra) < 0:
        probs.add("Scenario", "recovery_lag_extra must be whole periods >= 0", extra)
    if getattr(sc, "servicer_fee_up", 0.0) > 0.0 and not any(x.servicer for x in deal.fees):
        probs.add(f"Scenario {getattr(sc, 'name', '')}".strip(),
                  "servicer_fee_up needs a fee marked servicer to pay the replacement servicer with (Fees: "
                  "servicer = yes); without one the stress would do nothing", sc.servicer_fee_up)
    probs.raise_if_any()
    H = int(deal.periods)
    f = int(deal.frequency)
    key = ("timing", shape)
    if key not in memo:
        # (2H,): by asset age, the initial pool's curve then the curve of the assets bought while revolving,
        # each fitted to its own life (a curve longer than a purchase's term would time defaults after it
        # has matured, and the purchase would not reach the stated CDR) and shaped by the stress (§5.2)
        base = deal.timing if len(deal.timing) else np.full(H, 1.0 / H)
        pool = _pad(shaped(fit_to_life(base, min(len(base), H)), shape), H)
        rev = deal.revolving
        if rev is not None:
            # fitted and shaped over the whole term, then cut at the horizon (a purchase outliving it)
            src = deal.purchase_timing if len(deal.purchase_timing) else base
            bought = _pad(shaped(fit_to_life(src, max(int(rev.term), 1)), shape), H)
        else:
            bought = pool
        memo[key] = np.ascontiguousarray(np.concatenate([pool, bought]))
    timing = memo[key]
    # capped at 100 % (SMM 1: every loan prepaid at once), as the built-in waterfall (cashflow_model.build_inputs)
    cpr = min(max(deal.cpr * getattr(sc, "cpr_multiplier", 1.0), 0.0), 1.0)
    key = ("smm", cpr)
    if key not in memo:
        memo[key] = np.full(H, smm_from_cpr(cpr, f))
    smm = memo[key]
    hair = getattr(sc, "recovery_haircut", 0.0)
    lag_extra = int(getattr(sc, "recovery_lag_extra", 0))
    up = getattr(sc, "coupon_up", 0.0)
    bench_up = getattr(sc, "benchmark_up", 0.0)
    key = ("coupon", up, bench_up)
    if key not in memo:
        bench = _pad(deal.benchmark, H) + bench_up
        coupon = np.zeros((len(deal.tranches), H))
        for j, t in enumerate(deal.tranches):
            if t.coupon_type == "fixed":
                coupon[j] = (t.coupon + up) / f
            elif t.coupon_type == "floating":
                coupon[j] = np.maximum(bench + t.coupon + up, 0.0) / f
        memo[key] = np.ascontiguousarray(coupon)
    coupon = memo[key]
    sfu = getattr(sc, "servicer_fee_up", 0.0)
    key = ("fee", sfu)
    if key not in memo:
        # (2F,): each fee's periodic rate on its own basis, then the replacement-servicer stress: an extra
        # annual fee on the pool balance (§2.3, §6.3), charged with the fee marked servicer whatever its basis
        own = [x.rate / f if x.basis in ("pool_balance", "tranche_balance") else x.rate for x in deal.fees]
        extra = [sfu / f if x.servicer else 0.0 for x in deal.fees]
        memo[key] = np.array(own + extra, dtype=float)
    fee_rate = memo[key]
    key = ("recovery", hair, lag_extra)
    if key not in memo:
        memo[key] = (np.array([deal.recovery_rate * (1.0 - hair), 1.0 - hair]),
                     np.array([int(deal.recovery_lag) + lag_extra, lag_extra], dtype=np.int64))
    sc_f, sc_i = memo[key]
    return ScenarioArrays(name=getattr(sc, "name", "base"), timing=timing, smm=smm, sc_f=sc_f, sc_i=sc_i,
                          coupon=coupon, fee_rate=fee_rate)
