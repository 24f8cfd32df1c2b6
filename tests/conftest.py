"""Shared test fixtures: builders for small consumer-deal workbooks (good and deliberately broken)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from xlabs.workbook.build import build_consumer_workbook


def small_deal_kwargs(n_loans: int = 300, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    bal = np.round(rng.uniform(5_000, 30_000, n_loans), 2)
    pool = float(bal.sum())
    months = 12
    n_v = 8
    life = rng.lognormal(np.log(0.04), 0.3, n_v)
    shape = np.arange(1, months + 1) * np.exp(-np.arange(1, months + 1) / 3.0)
    shape /= shape.sum()
    cum = np.cumsum(life[:, None] * shape[None, :], axis=1)
    for v in range(n_v):
        cum[v, min(months, 14 - v):] = np.nan
    return dict(
        deal={"deal_name": "Small test deal", "deal_type": "consumer", "payment_frequency": 12, "tax_rate": 0.0326,
              "reserve_initial": round(0.005 * pool, 2), "reserve_multiple": 1.0, "trigger_cdr": 0.10,
              "legal_final_months": 18, "seed": 0},
        tranches=[{"name": "A", "balance": round(0.85 * pool, 2), "coupon": 0.035, "rated": "yes"},
                  {"name": "B", "balance": round(0.08 * pool, 2), "coupon": 0.05, "rated": "yes"},
                  {"name": "C", "balance": round(0.07 * pool, 2), "coupon": 0.0, "rated": "no",
                   "timely_interest": "no", "residual": "yes"}],
        fees=[{"name": "servicing", "basis": "pool_balance", "rate": 0.01},
              {"name": "trustee", "basis": "fixed", "amount": 1000.0}],
        loans={"loan_id": [f"L{i}" for i in range(n_loans)], "balance": bal,
               "annual_rate": np.round(rng.uniform(0.15, 0.24, n_loans), 4),
               "remaining_term": rng.integers(3, 13, n_loans),
               "amortisation": rng.choice(["level", "equal_principal", "bullet"], n_loans)},
        vintages={"labels": [f"V{v + 1}" for v in range(n_v)], "balances": np.full(n_v, 1.0),
                  "grid": cum},
        assumptions={"cpr": 0.1, "recovery_rate": 0.2, "recovery_lag_months": 3, "horizon_months": months,
                     "weighting": "simple", "method": "lognormal", "static_pool_form": "cumulative",
                     "static_pool_units": "rate"},
        fit_adjustments=[{"factor": "environment", "mu_shift": 0.05, "sigma_multiplier": 1.0, "reason": "test"}],
    )


@pytest.fixture
def make_workbook(tmp_path):
    """``make_workbook(edit=None, name=...)``: write a small deal; ``edit(kwargs)`` may break it first."""
    def make(edit=None, name="deal.xlsx", **kw):
        kwargs = copy.deepcopy(small_deal_kwargs(**kw))
        if edit is not None:
            edit(kwargs)
        path = tmp_path / name
        build_consumer_workbook(path, **kwargs)
        return path
    return make
