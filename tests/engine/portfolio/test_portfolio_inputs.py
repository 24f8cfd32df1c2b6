"""Obligor inputs (§4.1-§4.4): PD curves, recovery, concentration, correlation, validation."""

import numpy as np
import pytest

from xlabs.engine.default_table import shipped_table
from xlabs.engine.portfolio import (
    Obligor,
    PortfolioTables,
    build_model_inputs,
    concentration_multipliers,
    correlation_model,
    exposure_schedule,
    loadings_from_matrix,
    pd_curves,
    recoveries,
    simulate_pool,
)
from xlabs.engine.portfolio.inputs import check_loading_input
from xlabs.errors import ValidationError


def test_pd_curve_is_the_table_with_capped_multiplier():
    t = shipped_table()
    curves = pd_curves(["BBB", "CCC"], [24, 12], months=24, multipliers=[1.5, 3.0])
    assert curves.shape == (2, 24)
    assert curves[0, 11] == pytest.approx(1.5 * t.probability("BBB", 1.0))
    assert curves[0, 23] == pytest.approx(1.5 * t.probability("BBB", 2.0))
    assert curves[1, -1] == 1.0 or curves[1, -1] == pytest.approx(min(1.0, 3 * t.probability("CCC", 2.0)))
    assert np.all(curves <= 1.0)


def test_exposure_schedule_hand_calculation():
    ex = exposure_schedule([120, 100, 100], [0.0, 0.12, 0.0], [4, 2, 3], ["equal_principal", "level", "bullet"])
    assert np.allclose(ex[0], [120, 90, 60, 30])
    # Level payment at 1 %/month over 2 months: payment = 100 * .01 / (1 - 1.01**-2) = 50.7512;
    # balance after month 1 = 101 - 50.7512 = 50.2488.
    assert np.allclose(ex[1], [100, 101 - 100 * 0.01 / (1 - 1.01 ** -2), 0, 0])
    assert np.allclose(ex[2], [100, 100, 100, 0])


def test_recovery_hand_calculation_and_clamp():
    tab = PortfolioTables.shipped()
    tab.industry_recovery = {"steel": 0.30, "other": 0.20}
    tab.rating_adjustment = dict.fromkeys(tab.rating_adjustment, 0.0) | {"BBsf": -0.05}
    tab.guarantee_uplift = dict.fromkeys(tab.guarantee_uplift, 0.0) | {"AAsf": 0.30}
    tab.guarantee_factor = {"none": 0.0, "related_party": 0.5}
    tab.collateral = {"none": (1.0, 0), "land": (0.4, 24)}
    tab.seniority = {"senior_unsecured": 0.0, "subordinated": -0.1}
    tab.servicer = {"average": 0.0, "weak": -0.02}
    obs = [
        Obligor("a", 100.0, 12, "BB", industry="steel", guarantor_rating="AA", guarantee_type="related_party",
                collateral_type="land", appraised_value=50.0, seniority="subordinated", servicer="weak"),
        Obligor("b", 100.0, 12, "BBB", industry="glass", collateral_type="land", appraised_value=500.0),
        Obligor("c", 100.0, 12, "BB", industry="glass", seniority="subordinated"),
    ]
    rec, lag = recoveries(obs, tab)
    # a: .30 - .05 + .30*.5 + 50*.6/100 - .1 - .02 = 0.58
    assert rec[0] == pytest.approx(0.58)
    assert rec[1] == 1.0                      # .20 + 3.0 clamped to 1
    assert rec[2] == pytest.approx(0.05)      # .20 - .05 - .10
    assert list(lag) == [24, 24, 0]


def test_concentration_hand_calculation():
    bands = {"obligor": [(0, 0.3, 1.0), (0.3, 1.0, 1.5)], "industry": [(0, 0.5, 1.0), (0.5, 1.0, 1.2)],
             "region": [(0, 1.0, 1.1)]}
    m = concentration_multipliers([40, 30, 30], ["x", "y", "z"], ["i", "i", "j"], ["r", "r", "r"], bands)
    # x: share .4 -> 1.5; industry i .7 -> 1.2; region 1.0 -> 1.1 (top band includes 1).
    assert m == pytest.approx([1.5 * 1.2 * 1.1, 1.5 * 1.2 * 1.1, 1.5 * 1.0 * 1.1])



def test_concentration_share_exactly_on_a_band_edge_takes_the_band_it_starts():
    # §4.3: lower <= share < upper.  Industry i holds 2513 + 542 + 691 = 3746 of 18730 = exactly 20 %;
    # obligor x holds 729 + 38 = 767 of 7670 = exactly 10 %.  Adding the assets' fractions one by one
    # gives 0.19999999999999998 and 0.09999999999999999, which must not drop them into the band below.
    flat = [(0, 1.0, 1.0)]
    ind_bands = {"obligor": flat, "industry": [(0, 0.2, 1.0), (0.2, 1.0, 1.1)], "region": flat}
    bal = [2513.0, 542.0, 691.0, 3000.0, 3000.0, 3000.0, 3000.0, 2984.0]     # others: 16 % each
    m = concentration_multipliers(bal, [str(k) for k in range(8)], list("iiiabcde"), ["r"] * 8, ind_bands)
    assert list(m) == [1.1] * 3 + [1.0] * 5
    ob_bands = {"obligor": [(0, 0.1, 1.0), (0.1, 1.0, 1.2)], "industry": flat, "region": flat}
    bal = [729.0, 38.0] + [700.0] * 9 + [603.0]                               # others: below 10 % each
    m = concentration_multipliers(bal, ["x", "x"] + [f"o{k}" for k in range(10)], ["i"] * 12, ["r"] * 12, ob_bands)
    assert list(m) == [1.2, 1.2] + [1.0] * 10
    # the same obligor through build_model_inputs: its PD curve carries the 1.2 (shipped PD table)
    tab = PortfolioTables.shipped()
    tab.concentration = {"obligor": [(0, 0.1, 1.0), (0.1, 1.0, 1.2)], "industry": flat, "region": flat}
    obs = [Obligor("x" if k < 2 else f"o{k}", b, 24, "BB", industry="services", region=f"r{k}")
           for k, b in enumerate(bal)]
    inp = build_model_inputs(obs, tab)
    assert inp.pd[0, 23] == pytest.approx(1.2 * shipped_table().probability("BB", 2.0), rel=1e-12)


def test_correlation_add_ons_are_an_exact_factor_model():
    params = {"base": 0.05, "same_industry": 0.15, "same_region": 0.05, "same_group": 0.3, "cap": 0.99}
    cm = correlation_model(["i", "i", "j", "j"], ["r", "s", "r", "r"], ["g", "g", None, "h"], params)
    hand = np.array([[1, 0.5, 0.1, 0.1], [0.5, 1, 0.05, 0.05], [0.1, 0.05, 1, 0.25], [0.1, 0.05, 0.25, 1]])
    assert np.allclose(cm.matrix, hand)
    implied = cm.loadings @ cm.loadings.T
    off = ~np.eye(4, dtype=bool)
    assert np.allclose(implied[off], hand[off])
    assert np.all((cm.loadings ** 2).sum(1) < 1)
    assert cm.warnings == []


def test_capped_add_ons_go_through_matrix_route():
    params = {"base": 0.3, "same_industry": 0.4, "same_region": 0.2, "same_group": 0.2, "cap": 0.95}
    cm = correlation_model(["i", "i"], ["r", "r"], ["g", "g"], params)
    assert cm.matrix[0, 1] == pytest.approx(0.95)
    assert "capped" in cm.warnings[0]


def test_user_matrix_cholesky_reproduces_it():
    s = np.array([[1, 0.3, 0.2], [0.3, 1, 0.4], [0.2, 0.4, 1]])
    cm = loadings_from_matrix(s)
    a = cm.loadings
    idio = 1 - (a ** 2).sum(1)
    assert np.allclose(a @ a.T + np.diag(idio), s)
    assert np.all(idio > 0) and cm.warnings == []


def test_non_psd_matrix_repaired_with_warning_or_rejected():
    bad = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]])
    assert np.linalg.eigvalsh(bad).min() < 0
    cm = loadings_from_matrix(bad)
    assert np.linalg.eigvalsh(cm.matrix).min() > 0
    assert np.allclose(np.diag(cm.matrix), 1)
    assert "not positive definite" in cm.warnings[0] and "largest change" in cm.warnings[0]
    with pytest.raises(ValidationError, match="not positive definite"):
        loadings_from_matrix(bad, repair=False)


def test_bad_matrices_and_loadings_rejected():
    with pytest.raises(ValidationError) as e:
        loadings_from_matrix([[1, 0.2], [0.3, 1.0]])
    assert "symmetric" in str(e.value)
    with pytest.raises(ValidationError, match="diagonal must be 1"):
        loadings_from_matrix([[2, 0.2], [0.2, 1.0]])
    with pytest.raises(ValidationError, match="sum of squared loadings"):
        check_loading_input([[0.8, 0.6], [0.1, 0.1]], 2)


def test_build_model_inputs_and_validation():
    obs = [Obligor(f"o{i}", 100.0 + i, 12 + 6 * i, "BBB", industry="manufacturing" if i % 2 else "utilities",
                   region="east", amortisation="level", rate=0.05) for i in range(5)]
    m = build_model_inputs(obs)
    assert m.pd.shape == (5, 36) and m.exposure.shape == (5, 36)
    assert list(m.maturity) == [12, 18, 24, 30, 36]
    assert m.weighted_recovery == pytest.approx(np.dot(m.recovery, [100, 101, 102, 103, 104]) / 510)
    assert m.correlation.loadings.shape[0] == 5
    res = simulate_pool(m, n_paths=2000, seed=4)
    assert res.n_obligors == 5 and res.n_months == 36 and res.seed == 4
    # Curves run to the longest maturity; losses never exceed defaulted principal.
    assert res.timing.shape == (36,) and np.all(res.loss_ratio <= res.default_ratio + 1e-15)
    bad = [Obligor("x", -1.0, 0, "ZZZ", amortisation="balloon", collateral_type="gold")]
    with pytest.raises(ValidationError) as e:
        build_model_inputs(bad)
    rules = " ".join(p.rule for p in e.value.problems)
    for word in ("balance", "remaining term", "shadow rating", "amortisation", "collateral"):
        assert word in rules
    assert all(p.where == "obligors!row 1" for p in e.value.problems)
    # an n x n correlation typed with a wrong diagonal is read as loadings: the problem says so
    corr = np.full((5, 5), 0.3) + 0.6 * np.eye(5)          # diagonal 0.9
    with pytest.raises(ValidationError) as e:
        build_model_inputs(obs, correlation=corr)
    assert any("read as a correlation matrix only when its diagonal is 1" in p.rule for p in e.value.problems)
    build_model_inputs(obs, correlation=np.full((5, 5), 0.3) + 0.7 * np.eye(5))        # diagonal 1: accepted


def test_pd_curves_and_exposure_schedule_report_every_bad_argument():
    # Baa2 = BBBsf: 0.17 % at 1 year (shipped table), 1.5 x -> 0.255 %
    assert pd_curves(["BBB"], [12], multipliers=[1.5])[0, 11] == pytest.approx(1.5 * 0.0017)
    with pytest.raises(ValidationError) as e:      # a one-element multiplier list was broadcast to every obligor
        pd_curves(["A", "XYZ", "Q"], [12, 24, 3], multipliers=[1.2])
    assert [p.where for p in e.value.problems] == ["ratings[1]", "ratings[2]", "multipliers"]
    with pytest.raises(ValidationError, match="multipliers"):      # gave negative PDs
        pd_curves(["A", "BBB"], [12, 24], multipliers=[-1.0, 1.0])
    with pytest.raises(ValidationError, match="terms_months"):     # max() of an empty array
        pd_curves([], [])
    # one term for every obligor, or only the curve length: as one term per obligor
    both = pd_curves(["AA", "BBB"], [12, 12])
    assert both[1, 11] == pytest.approx(0.0017)
    np.testing.assert_array_equal(pd_curves(["AA", "BBB"], 12), both)
    np.testing.assert_array_equal(pd_curves(["AA", "BBB"], None, 12), both)
    # level payment at 1 %/month over 3 months: balance after month 1 = 101 - 100 * .01 / (1 - 1.01**-3)
    ex = exposure_schedule([100], [0.12], [3], "level")
    assert ex[0, 1] == pytest.approx(101 - 1 / (1 - 1.01 ** -3))
    with pytest.raises(ValidationError) as e:      # 12 (a percent) gave 100, 85.7, 57.1; [0.1] was broadcast
        exposure_schedule([100, 50], [12], [3, 0], ["level", "bullet", "bullet"])
    assert [p.where for p in e.value.problems] == ["rate", "terms_months", "amortisation"]


def test_obligor_fields_that_are_not_numbers_are_problems_at_their_row():
    def ob(**k):
        d = dict(id="A1", balance=5e7, remaining_term=36, shadow_rating="A", industry="utilities", region="east")
        d.update(k)
        return Obligor(**d)
    # NaN appraised value gave a NaN recovery; text and None raised TypeError from a comparison or int()
    with pytest.raises(ValidationError) as e:
        build_model_inputs([ob(balance="5e7", remaining_term=None),
                            ob(id="B", rate="0.05", appraised_value=float("nan"), collateral_type="real_estate")])
    assert [(p.where, p.rule.split(" ")[0]) for p in e.value.problems] == [
        ("obligors!row 1", "balance"), ("obligors!row 1", "remaining"),
        ("obligors!row 2", "rate"), ("obligors!row 2", "appraised")]


def test_concentration_refuses_nan_negative_balances_and_labels_of_another_length():
    bands = {"obligor": [(0, 0.3, 1.0), (0.3, 1.0, 1.5)], "industry": [(0, 0.5, 1.0), (0.5, 1.0, 1.2)],
             "region": [(0, 1.0, 1.1)]}
    # a NaN balance made every share NaN, which falls in no band: multiplier 1 for all, silently
    with pytest.raises(ValidationError, match="finite"):
        concentration_multipliers([40, float("nan"), 30], ["x", "y", "z"], ["i", "i", "j"], ["r"] * 3, bands)
    with pytest.raises(ValidationError, match="balances must be >= 0"):   # negative shares were banded
        concentration_multipliers([40, -30, 30], ["x", "y", "z"], ["i", "i", "j"], ["r"] * 3, bands)
    with pytest.raises(ValidationError) as e:                              # was a numpy broadcast error
        concentration_multipliers([40, 30, 30], ["x", "y"], ["i", "i", "j"], ["r"], bands)
    assert [p.where for p in e.value.problems] == ["obligor_id", "region"]


def test_correlation_model_reports_missing_or_bad_parameters_and_labels_of_another_length():
    params = dict(base=0.1, same_industry=0.1, same_region=0.05, same_group=0.2)
    m = correlation_model(["a", "a", "b"], ["x", "y", "y"], ["g", None, "g"], params)
    # rho_01 = base + industry = 0.2, rho_02 = base + group = 0.3, rho_12 = base + region = 0.15 (§4.4)
    assert m.matrix[0, 1] == pytest.approx(0.2) and m.matrix[0, 2] == pytest.approx(0.3)
    assert m.matrix[1, 2] == pytest.approx(0.15)
    with pytest.raises(ValidationError) as e:      # were KeyError 'same_industry' / ValueError from float('x')
        correlation_model(["a"], ["x"], [None], dict(base="x"))
    assert [p.where for p in e.value.problems] == ["correlation.base", "correlation.same_industry",
                                                   "correlation.same_region", "correlation.same_group"]
    with pytest.raises(ValidationError, match="region"):   # was a numpy broadcast error
        correlation_model(["a", "a", "b"], ["x", "y"], ["g", None, "g"], params)


def test_guarantee_and_collateral_without_what_values_them_are_problems():
    def ob(**k):
        d = dict(id="A1", balance=5e7, remaining_term=36, shadow_rating="A", industry="utilities", region="east")
        d.update(k)
        return Obligor(**d)
    # shipped tables: utilities 0.40 base + Asf 0.03 = 0.43; a third-party guarantee (factor 1) by AAsf
    # adds uplift 0.36 -> 0.79
    assert build_model_inputs([ob()]).recovery == pytest.approx([0.43])
    assert build_model_inputs([ob(guarantee_type="third_party", guarantor_rating="AA")]).recovery == \
        pytest.approx([0.79])
    # without the guarantor rating the guarantee gave no uplift (0.43), silently; the workbook refuses it
    with pytest.raises(ValidationError) as e:
        build_model_inputs([ob(guarantee_type="third_party"), ob(id="B", guarantor_rating="AA"),
                            ob(id="C", collateral_type="real_estate")])
    assert [(p.where, p.rule.split(" (")[0]) for p in e.value.problems] == [
        ("obligors!row 1", "a guaranteed asset needs the guarantor's rating"),
        ("obligors!row 2", "a guarantor rating is given but the guarantee type is 'none'"),
        ("obligors!row 3", "collateral needs an appraised value > 0")]
