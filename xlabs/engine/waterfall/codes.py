"""Integer codes shared by the compiler, the numba kernel and the output tables.

The string vocabularies live in ``xlabs.model.waterfall``; each code below is
the index of its string there.
"""

from __future__ import annotations

SRC_INTEREST, SRC_PRINCIPAL, SRC_RESERVE, SRC_COMBINED = range(4)
ACT_TAX, ACT_FEE, ACT_INTEREST, ACT_PRINCIPAL, ACT_RESERVE, ACT_TRANSFER, ACT_PURCHASE, ACT_RESIDUAL = range(8)
AMT_DUE, AMT_CAPPED, AMT_TARGET, AMT_ALL, AMT_PDL, AMT_EXCESS = range(6)
COND_ALWAYS, COND_BEFORE, COND_AFTER, COND_REVOLVING, COND_AMORT = range(5)
MODE_SINGLE, MODE_PRORATA, MODE_SEQ = range(3)
INT_TIMELY, INT_DEFERRABLE, INT_TIMELY_SENIOR = range(3)
BASIS_POOL, BASIS_TRANCHE, BASIS_INTEREST, BASIS_FIXED = range(4)
KIND_FEE, KIND_TAX = range(2)
TEST_CDR, TEST_RESERVE, TEST_XS, TEST_SENIOR_SHORT, TEST_DATE = range(5)
EFF_END_REVOLVING, EFF_SEQUENTIAL, EFF_TURBO, EFF_COMBINE, EFF_STOP_SUB = 1, 2, 4, 8, 16
EFFECT_BITS = {"end_revolving": EFF_END_REVOLVING, "sequential": EFF_SEQUENTIAL, "turbo": EFF_TURBO,
               "combine_accounts": EFF_COMBINE, "stop_subordinated": EFF_STOP_SUB, "none": 0}
EQUITY_PAYEE = -1

# step_int columns
SI_COND, SI_TRIG, SI_SRC, SI_ACT, SI_P0, SI_NP, SI_MODE, SI_AMT, SI_TO, SI_SCHED = range(10)
N_SI = 10
# tranche int columns: interest rule, legal final period (1-based), interest class (the first tranche of the
# pro-rata interest group it belongs to: tranches paid interest pro rata together rank as one class)
TI_RULE, TI_LEGAL, TI_CLASS, TI_PCLASS = range(4)
# fee int columns: basis, kind, tranche index
FI_BASIS, FI_KIND, FI_TRANCHE = range(3)
# trigger int columns: test, curable, schedule index (-1 none), effects bitmask
KI_TEST, KI_CURABLE, KI_SCHED, KI_EFFECTS = range(4)
# par (float) and ipar (int) deal scalars
PAR_B0, PAR_RES0, PAR_RESK, PAR_RESFLOOR, PAR_PRICE, PAR_FREQ = range(6)
N_PAR = 6
IPAR_REV_END, IPAR_MAX_COHORTS = range(2)
N_IPAR = 2
# scenario float / int scalars
SF_REC, SF_REC_MULT = range(2)
SI_LAG, SI_LAG_EXTRA = range(2)

# outputs
POOL_COLUMNS = ("begin_balance", "defaults", "scheduled_principal", "prepayments", "interest", "recoveries",
                "purchased_principal", "purchase_cash", "end_balance", "cumulative_default_ratio")
P_BEGIN, P_DEFAULT, P_SCHED, P_PREPAY, P_INTEREST, P_RECOVERY, P_PURCH, P_PURCH_CASH, P_END, P_CDR = range(10)
ACCOUNT_COLUMNS = ("interest_account", "principal_account", "reserve", "reserve_target", "tax_paid", "fees_paid",
                   "equity_residual", "revolving", "excess_spread", "pdl")
A_INT, A_PRIN, A_RES, A_RES_TARGET, A_TAX, A_FEE, A_EQUITY, A_REVOLVING, A_XS, A_PDL = range(10)
TRANCHE_COLUMNS = ("interest_due", "interest_paid", "principal_paid", "balance", "deferred_interest", "residual")
T_DUE, T_INT, T_PRIN, T_BAL, T_DEF, T_RESID = range(6)
FEE_COLUMNS = ("due", "paid")
STATUS_COLUMNS = ("defaulted", "period", "kind", "loss")
S_DEFAULTED, S_PERIOD, S_KIND, S_LOSS = range(4)
DEFAULT_INTEREST, DEFAULT_FINAL = 1, 2
