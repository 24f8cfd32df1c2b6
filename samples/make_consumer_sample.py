"""Generate the shipped consumer micro-loan sample deal: workbooks/consumer_sample.xlsx.

A revolving-free micro-loan deal: 20,000 loans (3–24-month terms, 15–24 %
annual rates, level / equal-principal / bullet), 30 monthly vintages of
static-pool defaults (the youngest observed for 7 months), a senior /
mezzanine / subordinated structure with a liquidity reserve and an
acceleration trigger.  All numbers are synthetic, drawn from a fixed seed,
so the workbook is reproducible byte for byte in content.

    python samples/make_consumer_sample.py [OUT.xlsx]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xlabs.workbook.build import build_consumer_workbook

SEED = 20261122


def make(path: Path, n_loans: int = 20_000, n_vintages: int = 30, horizon: int = 24) -> Path:
    return build_consumer_workbook(path, **sample_inputs(n_loans, n_vintages, horizon))


def sample_inputs(n_loans: int = 20_000, n_vintages: int = 30, horizon: int = 24, seed: int = SEED) -> dict:
    """The keyword arguments of ``build_consumer_workbook`` for the sample deal."""
    rng = np.random.default_rng(seed)
    # --- loan tape -------------------------------------------------------
    term = rng.choice(np.array([3, 6, 9, 12, 18, 24]), n_loans, p=[0.08, 0.17, 0.15, 0.30, 0.15, 0.15])
    remaining = np.maximum(1, term - rng.integers(0, 3, n_loans))
    balance = np.round(rng.lognormal(np.log(18_000), 0.6, n_loans).clip(1_000, 200_000), 2)
    rate = np.round(rng.uniform(0.15, 0.24, n_loans), 4)
    amort = rng.choice(np.array(["level", "equal_principal", "bullet"]), n_loans, p=[0.65, 0.25, 0.10])
    loans = {"loan_id": [f"L{i:06d}" for i in range(1, n_loans + 1)], "balance": balance, "annual_rate": rate,
             "remaining_term": remaining, "amortisation": amort}
    pool = float(balance.sum())

    # --- static pool: 30 monthly vintages, cumulative defaulted principal --
    months = np.arange(1, horizon + 1)
    hump = months**1.6 * np.exp(-months / 4.5)
    hump /= hump.sum()
    lifetime = rng.lognormal(np.log(0.05), 0.40, n_vintages)
    v_bal = np.round(rng.uniform(3e8, 6e8, n_vintages), 0)
    noise = rng.lognormal(0.0, 0.25, (n_vintages, horizon))
    inc = lifetime[:, None] * hump[None, :] * noise
    cum = np.cumsum(inc, axis=1) * v_bal[:, None]
    observed = np.minimum(horizon, n_vintages + 6 - np.arange(n_vintages))
    grid = np.round(cum, 2)
    for v in range(n_vintages):
        grid[v, observed[v]:] = np.nan
    labels = [f"2024-{(v % 12) + 1:02d}" if v < 12 else f"{2025 + (v - 12) // 12}-{((v - 12) % 12) + 1:02d}"
              for v in range(n_vintages)]

    deal = {"deal_name": "Xlabs Micro-Loan 2026-1 (sample)", "deal_type": "consumer", "payment_frequency": 12,
            "tax_rate": 0.0326, "reserve_initial": round(0.005 * pool, 2), "reserve_multiple": 1.5,
            "trigger_cdr": 0.08, "legal_final_months": 36, "seed": 0}
    notes = {"tax_rate": "VAT and surcharges on interest income", "trigger_cdr": "acceleration event",
             "reserve_multiple": "target = k x (next period fees + senior interest)",
             "cpr": "annual", "recovery_lag_months": "months from default to recovery"}
    tranches = [
        {"name": "Senior A", "balance": round(0.86 * pool, 2), "coupon": 0.032, "rated": "yes",
         "timely_interest": "yes", "residual": "no"},
        {"name": "Mezz B", "balance": round(0.07 * pool, 2), "coupon": 0.045, "rated": "yes",
         "timely_interest": "yes", "residual": "no"},
        {"name": "Sub", "balance": round(0.07 * pool, 2), "coupon": 0.0, "rated": "no",
         "timely_interest": "no", "residual": "yes"},
    ]
    fees = [{"name": "servicing", "basis": "pool_balance", "rate": 0.01},
            {"name": "trustee and custody", "basis": "pool_balance", "rate": 0.0005},
            {"name": "rating and audit", "basis": "fixed", "amount": 25_000.0}]
    assumptions = {"cpr": 0.15, "recovery_rate": 0.15, "recovery_lag_months": 6, "horizon_months": horizon,
                   "weighting": "balance", "method": "lognormal", "static_pool_form": "cumulative",
                   "static_pool_units": "amount"}
    fit_adj = [{"factor": "economic environment", "mu_shift": 0.10, "sigma_multiplier": 1.0,
                "reason": "consumer credit cycle weaker than over the static-pool period"},
               {"factor": "loan characteristics", "mu_shift": 0.0, "sigma_multiplier": 1.10,
                "reason": "pool has more 24-month loans than the static pool"}]
    adjustments = [{"tranche": "*", "factor": "commingling risk", "kind": "cap", "value": "AAAsf",
                    "reason": "collections swept daily to the trust account; no cap below AAAsf"}]
    return dict(deal=deal, tranches=tranches, fees=fees, loans=loans,
                vintages={"labels": labels, "balances": v_bal, "grid": grid},
                assumptions=assumptions, fit_adjustments=fit_adj, adjustments=adjustments, notes=notes)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "workbooks" / "consumer_sample.xlsx"
    make(out)
    print(f"wrote {out}")
