"""Generate the shipped corporate-debt (CLO) sample: workbooks/corporate_sample.xlsx.

60 obligors in 12 industries and 9 regions, three large concentrations, some
guarantees and collateral; senior / mezzanine / subordinated tranches, a
liquidity reserve, an acceleration trigger on the cumulative default ratio
(switch to sequential, turbo) and an event of default on a senior interest
shortfall (combine accounts).  Synthetic numbers from a fixed seed.

    python samples/make_corporate_sample.py [OUT.xlsx]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xlabs.workbook.corporate_build import build_corporate_workbook

SEED = 20261123
INDUSTRIES = ["manufacturing", "construction", "real_estate", "utilities", "transport", "wholesale_retail",
              "services", "finance", "energy", "technology", "healthcare", "telecom"]
EXTRA_INDUSTRY_RECOVERY = {"energy": 0.35, "technology": 0.25, "healthcare": 0.30, "telecom": 0.35}
"""Industries the analyst added to this workbook's recovery table (the shipped table lacks them)."""
REGIONS = ["Beijing", "Shanghai", "Guangdong", "Jiangsu", "Zhejiang", "Shandong", "Sichuan", "Hubei", "Henan"]
RATINGS = ["AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB"]


def make(path: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(SEED)
    bal = np.round(rng.lognormal(np.log(8e7), 0.5, n), -4)
    bal[:3] = [6.5e8, 5.2e8, 4.4e8]                      # three large concentrations
    rating = rng.choice(RATINGS, n, p=[0.02, 0.05, 0.08, 0.10, 0.12, 0.13, 0.14, 0.13, 0.10, 0.08, 0.05])
    rating[:3] = ["AA", "AA-", "A+"]
    obligors = []
    for i in range(n):
        guaranteed = i % 7 == 3
        collateral = ["none", "real_estate", "receivables"][i % 3] if i % 4 == 1 else "none"
        obligors.append({
            "id": f"OB{i + 1:03d}", "group": f"G{i // 6 + 1}" if i % 5 == 0 else "",
            "balance": float(bal[i]), "rate": float(np.round(rng.uniform(0.045, 0.075), 4)),
            "amortisation": "bullet" if i % 3 else "level", "remaining_term": int(rng.integers(18, 61)),
            "shadow_rating": str(rating[i]), "industry": INDUSTRIES[i % 12] if i >= 3 else INDUSTRIES[i],
            "region": REGIONS[(i * 5) % 9], "guarantor": f"Guarantor {i}" if guaranteed else "",
            "guarantor_rating": "AA+" if guaranteed else None, "guarantee_type": "third_party" if guaranteed else "none",
            "collateral_type": collateral,
            "appraised_value": float(np.round(bal[i] * rng.uniform(0.6, 1.2), -4)) if collateral != "none" else 0.0,
            "seniority": "senior_secured" if collateral != "none" else "senior_unsecured", "servicer": "average",
        })
    pool = float(bal.sum())
    periods = 66
    tranches = [
        {"name": "Senior A", "balance": round(0.76 * pool, 2), "coupon_type": "floating", "coupon": 0.008,
         "interest": "timely", "legal_final": periods, "rated": "yes"},
        {"name": "Mezz B", "balance": round(0.14 * pool, 2), "coupon_type": "fixed", "coupon": 0.045,
         "interest": "timely_when_senior", "legal_final": periods, "rated": "yes"},
        {"name": "Sub", "balance": round(0.10 * pool, 2), "coupon_type": "none", "coupon": 0.0,
         "interest": "deferrable", "legal_final": periods, "rated": "no"},
    ]
    fees = [{"name": "VAT", "basis": "interest_income", "rate": 0.0326, "kind": "tax"},
            {"name": "trustee", "basis": "fixed", "amount": 40_000.0, "kind": "fee"},
            {"name": "servicer", "basis": "pool_balance", "rate": 0.002, "kind": "fee", "servicer": "yes"}]
    steps = [
        {"source": "interest", "action": "pay_tax", "payees": "VAT"},
        {"source": "interest", "action": "pay_fee", "payees": "trustee>servicer"},
        {"source": "interest", "action": "pay_interest", "payees": "Senior A"},
        {"source": "reserve", "action": "pay_interest", "payees": "Senior A"},
        {"source": "combined", "action": "pay_principal", "payees": "Senior A", "condition": "after",
         "trigger": "event_of_default"},
        {"source": "interest", "action": "pay_interest", "payees": "Mezz B"},
        {"source": "interest", "action": "top_up_reserve", "amount": "target_balance"},
        {"source": "reserve", "action": "transfer", "amount": "excess", "to": "principal"},
        {"source": "interest", "action": "transfer", "amount": "pdl", "to": "principal"},
        # fees the interest account could not pay come out of principal (recoveries and the released reserve
        # once the pool has run off) ahead of any principal or residual payment
        {"source": "principal", "action": "pay_fee", "payees": "trustee>servicer"},
        {"source": "interest", "action": "transfer", "amount": "all", "to": "principal", "condition": "after",
         "trigger": "acceleration"},
        # after an event of default the accounts are combined: the interest residual stops, so that the
        # principal steps below are paid before the last residual step
        {"source": "interest", "action": "pay_residual", "payees": "Sub", "amount": "all", "condition": "before",
         "trigger": "event_of_default"},
        {"source": "principal", "action": "pay_principal", "payees": "Senior A>Mezz B>Sub"},
        {"source": "principal", "action": "pay_residual", "payees": "Sub", "amount": "all"},
    ]
    triggers = [
        {"name": "acceleration", "test": "cdr_above", "schedule": "acc_cdr", "effects": "sequential+turbo"},
        {"name": "event_of_default", "test": "senior_interest_shortfall", "effects": "combine_accounts"},
    ]
    schedules = {"acc_cdr": list(np.round(np.minimum(0.03 + 0.002 * np.arange(1, periods + 1), 0.15), 4))}
    deal = {"deal_name": "Xlabs Corporate CLO 2026-1 (sample)", "deal_type": "corporate", "payment_frequency": 12,
            "periods": periods, "benchmark_rate": 0.025, "reserve_initial": round(0.01 * pool, 2),
            "reserve_multiple": 1.5, "reserve_floor": 0.0, "cpr": 0.0}
    adjustments = [
        {"tranche": "*", "factor": "no backup servicer", "kind": "cap", "value": "AA+sf",
         "reason": "no backup servicer named; capped below AAAsf"},
        {"tranche": "Mezz B", "factor": "shortfall commitment (差额补足)", "kind": "support", "value": "A+",
         "reason": "originator (A+) commits to cover interest and principal shortfalls of Mezz B", "coverage": 1.0},
    ]
    from xlabs.engine.portfolio.tables import read_rows
    industry = read_rows("corporate_recovery_industry.csv")[0] + [
        {"industry": k, "base_recovery": v} for k, v in EXTRA_INDUSTRY_RECOVERY.items()]
    return build_corporate_workbook(path, tables={"industry_recovery": industry}, deal=deal, tranches=tranches, fees=fees, steps=steps, triggers=triggers,
                                    obligors=obligors, assumptions={"n_paths": 1_000_000, "seed": 20261123},
                                    schedules=schedules, adjustments=adjustments)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "workbooks" / "corporate_sample.xlsx"
    make(out)
    print(f"wrote {out}")
