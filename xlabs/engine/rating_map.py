"""From model caps to the final rating (METHODOLOGY §8).

Shared by the consumer and corporate paths so both produce the same Rating
sheet: caps -> model-indicated rating (the worst of the caps) -> qualitative
adjustments (notches down, caps) -> external support (with full coverage, lifts
only as far as the supporter's rating) -> final rating.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ProblemList
from .ratings import BELOW_SCALE, best_of, canonical, is_rating, notch, shift, worst_of

ADJUSTMENT_KINDS = ("notch", "cap", "support")


@dataclass
class TrancheRating:
    """One row of the Rating sheet."""

    tranche: str
    credit_enhancement: float
    caps: dict                     # {"portfolio": r|None, "cash flow": r|None, "key obligor": r|None}
    model_indicated: str
    adjustments: list = field(default_factory=list)   # (factor, effect, reason, rating after)
    support: str = ""
    final: str = ""


def model_indicated(caps) -> str:
    """Worst of the available caps (None = model not applied); ``BELOW_SCALE``
    when any applied model passes no tested rating (cap given as BELOW_SCALE)."""
    applied = [c for c in caps if c is not None]
    if not applied:
        raise ValueError("no model produced a cap")
    if any(c == BELOW_SCALE for c in applied):
        return BELOW_SCALE
    return worst_of(*applied)


def untested_below_notes(caps: dict, tested, check: str) -> list:
    """Notes for tranches whose ``check`` cap is 'CCCsf or below' although the table stops above B-sf
    (METHODOLOGY §8 reads 'below the lowest tested rating' as CCCsf or below, true of the shipped tables,
    which reach B-sf): such a tranche failed every tested rating but was never tested lower.

    ``caps``: {tranche: cap}; ``tested``: the ratings the check tested."""
    tested = [r for r in tested if is_rating(r)]
    if not tested:
        return []
    lowest = max(tested, key=notch)
    if notch(lowest) >= notch("B-sf"):
        return []
    return [f"{t}: the {check} test fails at every rating it tests, the lowest being {lowest}; 'CCCsf or below' "
            f"here means below {lowest} (the table tests nothing lower)" for t, cap in caps.items()
            if cap == BELOW_SCALE]


def validate_adjustments(adjustments, tranche_names, where_of=None) -> None:
    """Check adjustment rows: known tranche (or ``*``), kind, value, reason."""
    probs = ProblemList()
    names = set(tranche_names)
    for i, a in enumerate(adjustments):
        where = where_of(i) if where_of else f"adjustment {i + 1}"
        if a.tranche != "*" and a.tranche not in names:
            probs.add(where, "tranche is not in the Tranches sheet (use * for all)", a.tranche)
        if a.kind not in ADJUSTMENT_KINDS:
            probs.add(where, f"kind must be one of {', '.join(ADJUSTMENT_KINDS)}", a.kind)
        elif a.kind == "notch":
            try:
                ok = float(a.value) == int(float(a.value)) and int(float(a.value)) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                probs.add(where, "a notch adjustment is a whole number of notches down (>= 0)", a.value)
        elif not is_rating(a.value):
            probs.add(where, "a cap or support needs a rating symbol", a.value)
        if a.kind == "support":
            cov = getattr(a, "coverage", None)
            if cov is None or not (0.0 < cov <= 1.0):
                probs.add(where, "a support row needs its coverage: the fraction of the tranche's principal and "
                          "interest the supporter guarantees, in (0, 1] (1 = all)", cov)
        if not str(a.reason or "").strip():
            probs.add(where, "every adjustment needs a recorded reason")
    probs.raise_if_any()


def apply_adjustments(row: TrancheRating, adjustments) -> TrancheRating:
    """Apply the adjustments for ``row.tranche`` in order; set ``row.final``.

    Notches move the rating down; a cap limits it; a ``support`` row
    (guarantee, shortfall commitment) with full coverage (all of the
    tranche's principal and interest) lifts the adjusted rating to at most
    the supporter's rating, past any cap, since the supporter pays whatever
    the structure does not.  Partial coverage lifts nothing: §8 allows a
    lift "only as far as the coverage allows", and how far a partial
    guarantee goes is the committee's call, so it is recorded, not credited.
    A tranche below the scale stays there unless fully supported.
    """
    r = row.model_indicated
    support = None
    for a in adjustments:
        if a.tranche not in ("*", row.tranche):
            continue
        if a.kind == "support":
            cov = getattr(a, "coverage", None)
            if cov is not None and cov >= 1.0 - 1e-12:
                support = canonical(a.value) if support is None else best_of(support, a.value)
                note = f"{a.factor}: up to {canonical(a.value)}, full coverage ({a.reason})"
            else:
                note = (f"{a.factor}: {canonical(a.value)} covering {cov:.0%} of principal and interest, partial: "
                        f"not credited, for the committee ({a.reason})") if cov is not None else \
                    f"{a.factor}: {canonical(a.value)}, coverage not given: not credited ({a.reason})"
            row.support = note if not row.support else f"{row.support}; {note}"
            continue
        if r == BELOW_SCALE:
            row.adjustments.append((a.factor, f"{a.kind} {a.value}", a.reason, r))
            continue
        if a.kind == "notch":
            r = shift(r, int(float(a.value)))
            effect = f"-{int(float(a.value))} notch(es)"
        else:
            r = worst_of(r, a.value)
            effect = f"cap at {canonical(a.value)}"
        row.adjustments.append((a.factor, effect, a.reason, r))
    if support is not None:
        r = support if r == BELOW_SCALE or notch(support) < notch(r) else r
    row.final = r
    return row


def applied_default_notes(stress, caps: dict, tested) -> list:
    """Notes where a BDR states more defaults than the pool could take (METHODOLOGY §5.2, §6.1, §6.3).

    Each period's defaults are CDR x B0 x timing_t capped at the performing balance (§5.2): where the
    timing puts defaults after most of the pool has repaid (a stressed CDR several times the base on a
    short pool), the cumulative default ratio actually applied is below the CDR searched.  ``stress`` has
    one row per (tranche, rating, scenario) with columns ``bdr``, ``tdr`` (the target ratio), ``bdr_state`` (or ``state``), ``passes``
    and ``applied_cdr`` (the pool's cumulative default ratio in the run at the BDR); ``caps``:
    {tranche: cash-flow cap}; ``tested``: ratings best first.  One note on the shortfall (where it is
    largest), and per tranche whose cash-flow test would give a lower rating on the defaults applied
    than on the CDR stated, that rating (the ratings themselves follow §6.3 as written: BDR vs target).
    """
    if stress is None or not len(stress) or "applied_cdr" not in stress:
        return []
    short = stress.bdr - stress.applied_cdr
    gap = stress[short > 1e-4]
    if not len(gap):
        return []
    state = "bdr_state" if "bdr_state" in stress else "state"        # (consumer / corporate tables)
    w = gap.loc[short[gap.index].idxmax()]
    notes = [f"in {'all' if len(gap) == len(stress) else len(gap)} of {len(stress)} stress rows the defaults "
             "applied fall short of the BDR: each "
             "period's defaults are capped at the performing balance (§5.2), and the default timing puts part "
             "of them after the pool has repaid; largest: "
             f"{w.tranche} {w.rating} {w.scenario}, BDR {w.bdr:.2%} applies {w.applied_cdr:.2%} (Stress sheet, "
             "column 'CDR applied at BDR')"]
    for t, cap in caps.items():
        sub = stress[stress.tranche == t]
        alt = BELOW_SCALE
        for r in tested:
            g = sub[sub.rating == r]
            if len(g) and bool(((g.applied_cdr >= g.tdr) & (g[state] != "defaults at 0% CDR")).all()):
                alt = r
                break
        if cap is not None and alt != cap and (alt == BELOW_SCALE or cap != BELOW_SCALE and notch(alt) > notch(cap)):
            worst = sub[(sub.rating == cap) & (sub.applied_cdr < sub.tdr)]       # why the given rating fails
            x = worst.loc[(worst.tdr - worst.applied_cdr).idxmax()] if len(worst) else None
            detail = (f" ({x.scenario} at {x.rating}: BDR {x.bdr:.2%} >= target {x.tdr:.2%}, but only "
                      f"{x.applied_cdr:.2%} applied)" if x is not None else "")
            notes.append(f"{t}: compared on the defaults applied rather than the CDR stated, the cash-flow test "
                         f"would give {alt} instead of {cap}{detail}")
    return notes

