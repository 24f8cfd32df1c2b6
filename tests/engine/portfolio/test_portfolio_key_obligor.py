"""Key-obligor default test (§4.7) and credit enhancement (§4.8), hand calculations."""

import pytest

from xlabs.engine.portfolio import credit_enhancement, key_obligor_test, shipped_key_obligor_table
from xlabs.errors import ValidationError


def test_credit_enhancement_pengyuan_footnote():
    # Pengyuan footnote 1: A 60 / B 30 / sub 10 -> CE of A = 40 %, of B = 10 %.
    assert credit_enhancement(30 + 10, 0, 100) == pytest.approx(0.40)
    assert credit_enhancement(10, 0, 100) == pytest.approx(0.10)


def test_key_obligors_hand_calculation():
    ids = ["a", "b", "b", "c", "d", "e"]
    exposure = [10, 5, 6, 8, 1, 20]
    ratings = ["BBB", "BB", "BB", "AA", "B", "AAA"]
    recovery = [0.3, 0.5, 0.5, 0.2, 0.0, 0.9]
    table = {"AAA": 3, "A": 2, "BBB": 1}
    out = {o.rating: o for o in key_obligor_test(ids, exposure, ratings, recovery, 0.25, table=table)}
    # AAA: below AAA are a(10), b(11), c(8), d(1): the 3 largest are b, a, c.
    assert out["AAAsf"].defaulted == ("b", "a", "c")
    loss = 11 * 0.5 + 10 * 0.7 + 8 * 0.8
    assert out["AAAsf"].loss == pytest.approx(loss)
    assert out["AAAsf"].loss_ratio == pytest.approx(loss / 50)
    assert out["AAAsf"].passed is (0.25 >= loss / 50)
    # A: below A are a, b, d (c is AA): 2 largest b, a -> loss 5.5 + 7 = 12.5 -> 0.25: passes exactly.
    assert out["Asf"].defaulted == ("b", "a")
    assert out["Asf"].loss_ratio == pytest.approx(0.25) and out["Asf"].passed
    # BBB: below BBB are b and d -> b only.
    assert out["BBBsf"].defaulted == ("b",)
    # Recovery stress at AAA halves recoveries.
    st = key_obligor_test(ids, exposure, ratings, recovery, 0.25, table=table, recovery_haircut={"AAAsf": 0.5})
    assert st[0].loss == pytest.approx(11 * 0.75 + 10 * 0.85 + 8 * 0.9)


def test_shipped_table_and_bad_inputs():
    t = shipped_key_obligor_table()
    assert t["AAAsf"] >= t["BBBsf"] >= 1
    with pytest.raises(ValidationError) as e:
        key_obligor_test(["a"], [-1.0], ["XYZ"], [1.5], 2.0)
    assert len(e.value.problems) == 5          # with the initial principal (sum of exposures) of -1


def test_haircut_keys_without_sf_apply_and_bad_haircuts_principal_and_targets_are_refused():
    ids, exposure, ratings, recovery = ["a", "b", "c", "d"], [40, 30, 20, 10], ["BBB", "A", "BB", "AA"], \
        [0.5, 0.2, 0.0, 0.4]
    # AAA (k = 5): all four default; haircut 0.5 on recoveries 20, 6, 0, 4 -> loss 100 - 15 = 85
    for key in ("AAAsf", "AAA"):                 # 'sf' may be omitted (METHODOLOGY §1): was ignored, loss 70
        [out] = key_obligor_test(ids, exposure, ratings, recovery, 0.3, table={"AAA": 5},
                                 recovery_haircut={key: 0.5})
        assert out.loss == pytest.approx(85.0) and out.loss_ratio == pytest.approx(0.85)
    with pytest.raises(ValidationError) as e:   # a percent haircut gave a loss of 1570 (15.7x the pool)
        key_obligor_test(ids, exposure, ratings, recovery, 0.3, table={"AAA": 5},
                         recovery_haircut={"AAA": 50, "XYZ": 0.1}, initial_principal=-1, targets=["BBB"])
    assert [p.where for p in e.value.problems] == ["recovery_haircut[AAA]", "recovery_haircut", "targets",
                                                   "initial_principal"]
    with pytest.raises(ValidationError, match="initial pool principal"):   # was ZeroDivisionError
        key_obligor_test(ids, [0, 0, 0, 0], ratings, recovery, 0.3, table={"AAA": 5})
    with pytest.raises(ValidationError, match="one value per asset"):       # was a numpy broadcast error
        key_obligor_test(ids, exposure, ratings, [0.1, 0.2], 0.3, table={"AAA": 5})
    with pytest.raises(ValidationError, match="whole number k"):           # a k typed as text: was TypeError
        key_obligor_test(ids, exposure, ratings, recovery, 0.3, table={"AAAsf": "3"})


def test_credit_enhancement_refuses_negative_and_missing_amounts():
    assert credit_enhancement(10, 5, 100) == pytest.approx(0.15)          # (10 + 5) / 100
    # a negative junior principal gave CE -5 %, NaN a NaN CE, a NaN pool a NaN CE
    with pytest.raises(ValidationError) as e:
        credit_enhancement(-10, float("nan"), float("nan"))
    assert [p.where for p in e.value.problems] == ["junior_principal", "overcollateral", "initial_pool"]
    with pytest.raises(ValidationError, match="initial pool principal"):
        credit_enhancement(10, 0, 0)
