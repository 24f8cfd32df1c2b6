"""The fixed consumer waterfall of xlabs/engine/cashflow.py, written as a data table
(examples.from_consumer_inputs), gives the same cash flows in the new kernel.

Semantic difference, documented rather than forced: after acceleration the
old kernel treats a tranche's interest as timely only while every more senior
tranche has been repaid *within the same period's payments*; the table
version marks the notes ``timely`` (or ``timely_when_senior``, judged at the
start of the period), so default *flags* after acceleration may differ even
though every cash flow is identical.  The flags are compared only for
scenarios without acceleration.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from consumer_builders import deal_inputs, make_deal  # noqa: E402

from xlabs.engine import cashflow_model as cfm  # noqa: E402
from xlabs.engine.waterfall import codes as c  # noqa: E402
from xlabs.engine.waterfall import compile_deal, run_arrays, scenario_arrays  # noqa: E402
from xlabs.engine.waterfall.examples import from_consumer_inputs  # noqa: E402


@pytest.mark.parametrize("trigger", [None, 0.06])
@pytest.mark.parametrize("cdr", [0.0, 0.03, 0.1, 0.3, 0.8])
def test_table_waterfall_matches_the_fixed_consumer_kernel(trigger, cdr):
    inp = deal_inputs(make_deal(trigger_cdr=trigger))
    deal = from_consumer_inputs(inp)
    prog = compile_deal(deal)
    po, ao, to, st = cfm.run_arrays(inp, cdr)
    raw = run_arrays(prog, scenario_arrays(deal), cdr)
    scale = 1e-7 * inp.b0
    np.testing.assert_allclose(raw.pool[:, c.P_DEFAULT], po[:, 1], atol=scale)
    np.testing.assert_allclose(raw.pool[:, c.P_PREPAY], po[:, 3], atol=scale)
    np.testing.assert_allclose(raw.pool[:, c.P_RECOVERY], po[:, 5], atol=scale)
    for col_new, col_old in ((c.T_INT, 1), (c.T_PRIN, 2), (c.T_BAL, 3), (c.T_DEF, 4)):
        np.testing.assert_allclose(raw.tranches[:, :, col_new], to[:, :, col_old], atol=scale)
    # old residual (an account) = new residual paid to the last tranche
    np.testing.assert_allclose(raw.tranches[:, -1, c.T_RESID], ao[:, 5], atol=scale)
    np.testing.assert_allclose(raw.accounts[:, c.A_TAX], ao[:, 0], atol=scale)
    np.testing.assert_allclose(raw.accounts[:, c.A_FEE], ao[:, 1], atol=scale)
    np.testing.assert_allclose(raw.accounts[:, c.A_RES], ao[:, 4], atol=scale)
    np.testing.assert_allclose(raw.triggers[:, 0], ao[:, 6])
    np.testing.assert_allclose(raw.status[:, c.S_LOSS], st[:, 3], atol=scale)
    if not ao[:, 6].any():
        np.testing.assert_array_equal(raw.status[:, :3], st[:, :3])


@pytest.mark.parametrize("cpr,mult", [(0.5, 2.0), (0.8, 1.5)])
def test_a_stressed_cpr_of_100_percent_or_more_is_the_same_in_both_kernels(cpr, mult):
    """CPR x cpr_multiplier >= 100 % is capped at 100 %: SMM = 1 - (1 - 1)^(1/12) = 1 (METHODOLOGY §5.2) in the
    built-in waterfall and in the data waterfall alike (the data waterfall capped at 0.999999,
    SMM 0.684, and gave other BDRs for the same deal and scenario)."""
    from xlabs.model.consumer import StressScenario
    from xlabs.model.waterfall import Scenario
    inp = deal_inputs(make_deal(cpr=cpr, trigger_cdr=None), scenario=StressScenario("AAAsf", "up", cpr_multiplier=mult))
    assert np.all(inp.smm == 1.0)
    deal = from_consumer_inputs(deal_inputs(make_deal(cpr=cpr, trigger_cdr=None)))
    deal.cpr = cpr                          # exactly (from_consumer_inputs recovers it from the SMM)
    assert np.all(scenario_arrays(deal, Scenario(cpr_multiplier=mult)).smm == 1.0)
