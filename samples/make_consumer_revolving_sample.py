"""Generate the shipped revolving micro-loan sample: workbooks/consumer_revolving_sample.xlsx.

The loan tape, static pool and tranches of the consumer sample (``make_consumer_sample.py``) with the
deal's own waterfall (README "A consumer deal with its own waterfall"): a 12-month revolving period
in which principal collections buy new 9-month level-payment loans at par, ended early by either of
two non-curable triggers — the cumulative default ratio above 3 %, or the three-month average excess
spread below 2 % a year — after which principal is paid sequentially, and after the first trigger
excess interest turbos the notes (senior first) instead of reaching the subordinated class.  All numbers are synthetic and reproducible.

    python samples/make_consumer_revolving_sample.py [OUT.xlsx]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_consumer_sample import sample_inputs  # noqa: E402

from xlabs.workbook.build import build_consumer_workbook  # noqa: E402

FEES = "servicing>trustee and custody>rating and audit"


def _step(source, action, payees="", amount="due", **kw):
    return dict(source=source, action=action, payees=payees, amount=amount, **kw)


STEPS = [
    _step("interest", "pay_tax", "tax"),
    _step("interest", "pay_fee", FEES),
    _step("interest", "pay_interest", "Senior A"),
    _step("interest", "pay_interest", "Mezz B"),
    _step("reserve", "pay_interest", "Senior A"),                       # the reserve covers senior interest
    _step("interest", "top_up_reserve", "", "target_balance"),
    _step("interest", "transfer", "", "pdl", to="principal"),            # excess interest covers losses
    _step("reserve", "transfer", "", "excess", to="principal"),
    _step("principal", "pay_fee", FEES),        # fees the interest account could not pay, ahead of principal
    _step("principal", "purchase_assets", "", "all", condition="revolving"),
    _step("principal", "pay_principal", "Senior A>Mezz B>Sub", condition="amortisation"),
    _step("interest", "pay_residual", "Sub", "all"),         # under the turbo effect: senior principal first
    _step("principal", "pay_residual", "Sub", "all"),
]

TRIGGERS = [
    {"name": "early_amortisation", "test": "cdr_above", "level": 0.03, "effects": "end_revolving+turbo",
     "curable": "no"},
    {"name": "excess_spread", "test": "excess_spread_below", "level": 0.02, "effects": "end_revolving", "curable": "no"},
]


def make(path: Path) -> Path:
    kw = sample_inputs()
    kw["deal"].update(deal_name="Xlabs Revolving Micro-Loan 2026-2 (sample)", legal_final_months=36,
                      revolving_periods=12, revolving_rate=0.20, revolving_term=9,
                      revolving_amortisation="level", revolving_price=1.0)
    kw["deal"].pop("trigger_cdr")
    kw["notes"].update(revolving_periods="months in which principal collections buy new loans",
                       revolving_term="months, level payment", revolving_price="cash per yuan of principal")
    kw["fees"][0]["servicer"] = "yes"
    return build_consumer_workbook(path, **kw, steps=STEPS, triggers=TRIGGERS)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parent.parent / "workbooks" / "consumer_revolving_sample.xlsx"
    make(out)
    print(f"wrote {out}")
