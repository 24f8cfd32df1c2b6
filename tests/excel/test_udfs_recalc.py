"""Recalculate the UDF template workbook headlessly with `formulas` and check every UDF cell.

The UDFs are registered with ``formulas.functions.wrap_func`` (DESIGN.md,
Excel facts); each cell's value is compared with the engine called directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pytest

formulas = pytest.importorskip("formulas")

from tests.excel.udf_loader import load_udfs  # noqa: E402
from xlabs.engine.default_table import default_probability, shipped_table  # noqa: E402
from xlabs.engine.lognormal import fit_lognormal, target_default_rate  # noqa: E402
from xlabs.engine.portfolio.bet import bet_tranche_expected_loss, diversity_score  # noqa: E402
from xlabs.engine.portfolio.semi_analytic import vasicek_quantile  # noqa: E402
from xlabs.engine.static_pool import extrapolate_vintages  # noqa: E402
from xlabs.excel.templates import CALCULATOR_CELLS, build_calculator, calculator_cell_map  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "workbooks" / "xlabs_calculator.xlsx"


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    u = load_udfs()
    funcs = formulas.get_functions()
    for name, f in u.UDFS.items():
        funcs[name] = formulas.functions.wrap_func(f)
    path = tmp_path_factory.mktemp("calc") / "calc.xlsx"
    build_calculator(path)
    model = formulas.ExcelModel().loads(str(path)).finish()
    sol = model.calculate()
    values = {}
    for k, v in sol.items():
        ref = k.split("!")[-1]
        if "CALCULATOR" in k.upper():
            values[ref.upper()] = np.asarray(v.value if hasattr(v, "value") else v, dtype=object)
    wb = openpyxl.load_workbook(path)
    return values, wb["Calculator"]


def _scalar(values, ref):
    v = values[ref]
    return v.ravel()[0]


def test_every_template_formula_is_a_registered_udf():
    u = load_udfs()
    for _, formula, _ in CALCULATOR_CELLS:
        name = formula[1:].split("(")[0]
        assert name in u.UDFS


def test_every_udf_has_a_template_cell():
    """README: the calculator has one template cell per function, so that every UDF is recalculated here."""
    u = load_udfs()
    in_template = {formula[1:].split("(")[0] for _, formula, _ in CALCULATOR_CELLS}
    assert set(u.UDFS) - in_template == set()


def test_udf_cells_match_the_engine(solved):
    values, ws = solved
    cells = calculator_cell_map()
    mu, sigma, p, rating, years = (ws[f"B{r}"].value for r in range(4, 9))
    pd, rho, q, attach, detach, rec = (ws[f"B{r}"].value for r in range(9, 15))
    par = [ws.cell(r, 5).value for r in range(4, 14)]
    ind = [ws.cell(r, 6).value for r in range(4, 14)]
    assert _scalar(values, cells["=XLABS_TDR(B4,B5,B6)"]) == pytest.approx(target_default_rate(mu, sigma, p), rel=1e-12)
    pa = default_probability(rating, years)
    assert _scalar(values, cells["=XLABS_TDR_RATING(B4,B5,B7,B8)"]) == pytest.approx(target_default_rate(mu, sigma, pa))
    assert _scalar(values, cells["=XLABS_PD(B7,B8)"]) == pytest.approx(pa)
    assert _scalar(values, cells["=XLABS_RATING_FROM_PD(B9,B8)"]) == shipped_table().rating_for(pd, years)
    assert _scalar(values, cells["=XLABS_VASICEK_QUANTILE(B9,B10,B11)"]) == pytest.approx(vasicek_quantile(q, pd, rho))
    ds = diversity_score(np.array(par, float), ind)
    assert _scalar(values, cells["=XLABS_DIVERSITY_SCORE(E4:E13,F4:F13)"]) == pytest.approx(ds)
    assert _scalar(values, cells["=XLABS_BET_EL(B17,B9,B12,B13,B14)"]) == pytest.approx(
        bet_tranche_expected_loss(int(round(ds)), pd, attach, detach, rec))
    assert _scalar(values, cells["=XLABS_NOTCH(B7,2)"]) == "Asf"           # AA- -> A+ -> A
    assert _scalar(values, cells["=XLABS_WORST_RATING(H4:H6)"]) == "BBBsf"
    assert _scalar(values, cells["=XLABS_TDR(B4,0,B6)"]) == "#XLABS: sigma must be > 0"
    cdrs = [ws.cell(r, 10).value for r in range(4, 16)]
    fit = fit_lognormal(cdrs)
    row = values[cells["=XLABS_FIT_LOGNORMAL(J4:J15)"] + ":C31"].ravel()
    assert row[0] == pytest.approx(fit.mu) and row[1] == pytest.approx(fit.sigma)
    grid = np.array([[ws.cell(r, c).value if ws.cell(r, c).value is not None else np.nan for c in range(12, 18)]
                     for r in range(4, 10)], dtype=float)
    ref = cells["=XLABS_EXTRAPOLATE(L4:Q9,6)"]
    col = values[f"{ref}:B{int(ref[1:]) + 5}"].ravel().astype(float)
    np.testing.assert_allclose(col, extrapolate_vintages(grid, 6).cdr, rtol=1e-12)
    # timing(m) = d̄(m) / C̄(T) (METHODOLOGY §3.2), by hand from the same grid: simple mean of the incremental
    # rates observed at each month on book, normalised by the average cumulative rate at the horizon
    inc = np.diff(np.concatenate([np.zeros((6, 1)), grid], axis=1), axis=1)
    d_bar = np.array([np.nanmean(inc[:, m]) for m in range(6)])
    ref = cells["=XLABS_TIMING(L4:Q9,6)"]
    col = values[f"{ref}:B{int(ref[1:]) + 5}"].ravel().astype(float)
    np.testing.assert_allclose(col, d_bar / d_bar.sum(), rtol=1e-12)


def test_shipped_calculator_is_what_the_script_builds(tmp_path):
    """workbooks/ holds generated files: the shipped calculator has the same formulas as a fresh build."""
    fresh = tmp_path / "c.xlsx"
    build_calculator(fresh)
    a = openpyxl.load_workbook(SHIPPED)["Calculator"]
    b = openpyxl.load_workbook(fresh)["Calculator"]
    fa = {c.coordinate: str(getattr(c.value, "text", c.value)) for row in a.iter_rows() for c in row
          if c.value is not None}
    fb = {c.coordinate: str(getattr(c.value, "text", c.value)) for row in b.iter_rows() for c in row
          if c.value is not None}
    assert fa == fb
    assert "_xlwings.conf" in openpyxl.load_workbook(SHIPPED).sheetnames
