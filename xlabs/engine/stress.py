"""Stress-scenario tables and the protection-distance table (METHODOLOGY §2.3, §6.2–6.3).

A scenario table has one row per (target rating, scenario) with explicit
parameters (see :class:`~xlabs.model.StressScenario`); the shipped default
is ``xlabs/data/consumer_stress_scenarios.csv`` and the workbook's copy wins.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import ProblemList
from ..model.consumer import StressScenario
from .ratings import canonical, is_rating
from .timing import SHAPES

SCENARIO_COLUMNS = ("rating", "scenario", "recovery_haircut", "cpr_multiplier", "coupon_up", "timing",
                    "servicer_fee_up", "recovery_lag_extra")


def validate_scenario(s: StressScenario, where: str, probs: ProblemList) -> None:
    """Add every broken rule of one scenario row to ``probs``."""
    if not is_rating(s.rating):
        probs.add(where, "unknown rating symbol", s.rating)
    if not str(s.name).strip():
        probs.add(where, "scenario needs a name")
    if not (0 <= s.recovery_haircut <= 1):
        probs.add(where, "recovery_haircut must be a fraction in [0, 1]", s.recovery_haircut)
    if not (s.cpr_multiplier >= 0):
        probs.add(where, "cpr_multiplier must be >= 0", s.cpr_multiplier)
    if not (-0.5 < s.coupon_up < 0.5):
        probs.add(where, "coupon_up must be an annual fraction (0.01 = 100 bp)", s.coupon_up)
    if s.timing not in SHAPES:
        probs.add(where, f"timing must be one of {', '.join(SHAPES)}", s.timing)
    if not (0 <= s.servicer_fee_up < 0.5):
        probs.add(where, "servicer_fee_up must be an annual fraction in [0, 0.5)", s.servicer_fee_up)
    if not (s.recovery_lag_extra >= 0 and float(s.recovery_lag_extra).is_integer()):
        probs.add(where, "recovery_lag_extra must be whole months >= 0", s.recovery_lag_extra)


def parse_scenario_rows(rows, where_prefix: str = "stress scenarios") -> list[StressScenario]:
    """Scenarios from dict rows with :data:`SCENARIO_COLUMNS` keys (fractions)."""
    probs = ProblemList()
    out = []
    for i, r in enumerate(rows):
        where = f"{where_prefix} row {i + 1}"
        try:
            s = StressScenario(
                rating=str(r["rating"]).strip(), name=str(r["scenario"]).strip(),
                recovery_haircut=float(r["recovery_haircut"]), cpr_multiplier=float(r["cpr_multiplier"]),
                coupon_up=float(r["coupon_up"]), timing=str(r["timing"]).strip(),
                servicer_fee_up=float(r["servicer_fee_up"]), recovery_lag_extra=int(float(r["recovery_lag_extra"])),
            )
        except (KeyError, TypeError, ValueError) as e:
            probs.add(where, f"unreadable scenario row ({e})")
            continue
        validate_scenario(s, where, probs)
        if is_rating(s.rating):
            s.rating = canonical(s.rating)
        out.append(s)
    probs.raise_if_any()
    return out


@lru_cache(maxsize=1)
def _shipped_rows():
    text = resources.files("xlabs.data").joinpath("consumer_stress_scenarios.csv").read_text(encoding="utf-8")
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    return tuple(csv.DictReader(io.StringIO(body)))


def shipped_scenarios() -> list[StressScenario]:
    """The shipped consumer stress-scenario table (fresh objects)."""
    return parse_scenario_rows(_shipped_rows(), "xlabs/data/consumer_stress_scenarios.csv")


def shipped_stress_multiples() -> dict:
    """The shipped stress-multiple table (§3.5): ``{rating: multiple}``."""
    text = resources.files("xlabs.data").joinpath("consumer_stress_multiples.csv").read_text(encoding="utf-8")
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    return {canonical(r["rating"]): float(r["multiple"]) for r in csv.DictReader(io.StringIO(body))}


def scenarios_by_rating(scenarios) -> dict:
    """``{rating: [scenarios]}`` in scale order (best first)."""
    from .ratings import notch
    out: dict = {}
    for s in sorted(scenarios, key=lambda s: notch(s.rating)):
        out.setdefault(s.rating, []).append(s)
    return out


def protection_distance(bdr: float, tdr: float) -> tuple[float, float]:
    """Protection distance BDR − TDR and relative distance (BDR − TDR)/TDR (Pengyuan Table 3)."""
    d = bdr - tdr
    return d, (d / tdr if tdr > 0 else np.inf)
