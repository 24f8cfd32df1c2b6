"""Evaluate a compiled waterfall once and label the results (METHODOLOGY §5).

:func:`run_arrays` calls the kernel with preallocated outputs;
:func:`run` returns a :class:`WaterfallResult` of pandas tables, the trigger
history (which trigger was in effect in which period and when each first
fired) and each tranche's default status (§5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import codes as c
from .compile import Program, ScenarioArrays
from .kernel import run_full


@dataclass
class RawOutputs:
    """Kernel outputs: pool (H, 10), accounts (H, 10), tranches (H, J, 6),
    fees (H, F, 2), triggers (H, K), status (J, 4); columns in ``codes``."""

    pool: np.ndarray
    accounts: np.ndarray
    tranches: np.ndarray
    fees: np.ndarray
    triggers: np.ndarray
    status: np.ndarray


def allocate(prog: Program) -> RawOutputs:
    H, J = prog.periods, prog.tr_bal0.size
    return RawOutputs(np.zeros((H, 10)), np.zeros((H, 10)), np.zeros((H, J, 6)),
                      np.zeros((H, prog.fee_fixed.size, 2)), np.zeros((H, prog.trig_int.shape[0])), np.zeros((J, 4)))


def run_arrays(prog: Program, sc: ScenarioArrays, cdr: float, out: RawOutputs | None = None) -> RawOutputs:
    """One kernel evaluation at ``cdr`` (fraction); fills and returns ``out``."""
    out = allocate(prog) if out is None else out
    run_full(float(cdr), *sc.args(), *prog.args(), out.pool, out.accounts, out.tranches, out.fees,
             out.triggers, out.status, np.int64(-1), np.int64(prog.tr_bal0.size))
    return out


@dataclass
class WaterfallResult:
    """One evaluation as tables (periods 1..H)."""

    cdr: float
    pool: pd.DataFrame
    accounts: pd.DataFrame
    tranches: dict        # name -> DataFrame of TRANCHE_COLUMNS
    fees: dict            # name -> DataFrame of FEE_COLUMNS
    triggers: pd.DataFrame  # 1 while each trigger is in effect
    trigger_first: dict   # name -> first period in effect (0 = never)
    status: pd.DataFrame  # per tranche: defaulted, period, kind, loss
    raw: RawOutputs

    def defaulted(self, name: str) -> bool:
        return bool(self.status.loc[name, "defaulted"])


def run(prog: Program, sc: ScenarioArrays, cdr: float) -> WaterfallResult:
    """Evaluate one CDR and return labelled tables."""
    raw = run_arrays(prog, sc, cdr)
    idx = pd.RangeIndex(1, prog.periods + 1, name="period")
    st = pd.DataFrame(raw.status, index=pd.Index(prog.tranche_names, name="tranche"), columns=c.STATUS_COLUMNS)
    st["defaulted"] = st["defaulted"].astype(bool)
    st["period"] = st["period"].astype(int)
    st["kind"] = st["kind"].map({0.0: "", 1.0: "interest shortfall", 2.0: "unpaid at legal final"})
    trig = pd.DataFrame(raw.triggers.astype(int), index=idx, columns=list(prog.trigger_names))
    first = {n: int(np.argmax(raw.triggers[:, k] > 0)) + 1 if raw.triggers[:, k].any() else 0
             for k, n in enumerate(prog.trigger_names)}
    return WaterfallResult(
        cdr=float(cdr),
        pool=pd.DataFrame(raw.pool, index=idx, columns=c.POOL_COLUMNS),
        accounts=pd.DataFrame(raw.accounts, index=idx, columns=c.ACCOUNT_COLUMNS),
        tranches={n: pd.DataFrame(raw.tranches[:, j, :], index=idx, columns=c.TRANCHE_COLUMNS)
                  for j, n in enumerate(prog.tranche_names)},
        fees={n: pd.DataFrame(raw.fees[:, f, :], index=idx, columns=c.FEE_COLUMNS)
              for f, n in enumerate(prog.fee_names)},
        triggers=trig, trigger_first=first, status=st, raw=raw,
    )


def cash_balance(prog: Program, raw: RawOutputs) -> tuple[float, float, float]:
    """(cash in, cash out, cash left in accounts) over the whole run.

    In = interest + scheduled principal + prepayments + recoveries + the
    initial reserve; out = taxes, fees, tranche interest, principal and
    residual, equity residual and purchase cash.  In = out + left.
    """
    p, a, t = raw.pool, raw.accounts, raw.tranches
    cin = p[:, [c.P_INTEREST, c.P_SCHED, c.P_PREPAY, c.P_RECOVERY]].sum() + prog.par[c.PAR_RES0]
    cout = (a[:, [c.A_TAX, c.A_FEE, c.A_EQUITY]].sum() + p[:, c.P_PURCH_CASH].sum()
            + t[:, :, [c.T_INT, c.T_PRIN, c.T_RESID]].sum())
    left = a[-1, [c.A_INT, c.A_PRIN, c.A_RES]].sum()
    return float(cin), float(cout), float(left)
