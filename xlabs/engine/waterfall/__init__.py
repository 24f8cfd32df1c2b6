"""Cash-flow engine with the waterfall as data (METHODOLOGY §5, §6).

A :class:`~xlabs.model.waterfall.WaterfallDeal` (tranches, fees, steps,
triggers, pool, obligors, revolving period) is validated and compiled by
:func:`compile_deal` into a :class:`Program` of arrays that one numba kernel
(:func:`~.kernel.run_waterfall`) runs; :func:`run` labels one evaluation;
:func:`breakeven_table` finds every tranche's BDR under every scenario;
:func:`protection_table` adds TDRs (Pengyuan Table 3);
:func:`run_obligor_paths` runs many obligor-default paths (§4.5–4.7).
"""

from .bdr import BDRTable, breakeven_table, protection_table
from .compile import Program, ScenarioArrays, compile_deal, scenario_arrays, validate
from .paths import run_obligor_paths
from .run import WaterfallResult, cash_balance, run, run_arrays

__all__ = ["Program", "ScenarioArrays", "compile_deal", "scenario_arrays", "validate", "WaterfallResult",
           "cash_balance", "run", "run_arrays", "BDRTable", "breakeven_table", "protection_table", "run_obligor_paths"]
