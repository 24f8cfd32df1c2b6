"""Stress-scenario tables and protection distance (xlabs/engine/stress.py, METHODOLOGY §2.3, §6.2–6.3)."""

import csv
from pathlib import Path

import numpy as np
import pytest

import xlabs
from xlabs.engine.stress import (
    parse_scenario_rows,
    protection_distance,
    scenarios_by_rating,
    shipped_scenarios,
    shipped_stress_multiples,
)
from xlabs.errors import ValidationError

DATA = Path(xlabs.__file__).parent / "data"


def _csv(name):
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_shipped_scenarios_equal_the_csv():
    rows = _csv("consumer_stress_scenarios.csv")
    got = shipped_scenarios()
    assert len(got) == len(rows)
    for s, r in zip(got, rows, strict=True):
        assert (s.rating, s.name, s.timing) == (r["rating"], r["scenario"], r["timing"])
        assert s.recovery_haircut == float(r["recovery_haircut"])
        assert s.cpr_multiplier == float(r["cpr_multiplier"])
        assert s.coupon_up == float(r["coupon_up"])


def test_higher_ratings_get_harsher_stresses():
    """Lianhe §四(二)3: along the scale, recovery haircut, prepayment-up multiple and coupon stress never
    get harsher for a worse rating."""
    by = scenarios_by_rating(shipped_scenarios())
    assert list(by)[0] == "AAAsf" and list(by)[-1] == "B-sf"

    def value(r, name, attr):
        return next(getattr(s, attr) for s in by[r] if s.name == name)

    for name, attr in [("recovery_down", "recovery_haircut"), ("prepay_up", "cpr_multiplier"),
                       ("coupon_up", "coupon_up")]:
        v = [value(r, name, attr) for r in by]
        assert all(b <= a for a, b in zip(v, v[1:], strict=False)), (name, v)


def test_shipped_multiples_equal_the_csv():
    rows = _csv("consumer_stress_multiples.csv")
    m = shipped_stress_multiples()
    assert [float(r["multiple"]) for r in rows] == list(m.values())
    assert all(v >= 1 for v in m.values())


def test_bad_scenario_rows_all_reported():
    good = dict(rating="AAA", scenario="x", recovery_haircut=0, cpr_multiplier=1, coupon_up=0, timing="base",
                servicer_fee_up=0, recovery_lag_extra=0)
    rows = [dict(good, rating="AAA+"), dict(good, recovery_haircut=1.5), dict(good, timing="sideways"),
            dict(good, coupon_up=1.0), dict(good, recovery_lag_extra=-1), dict(good, cpr_multiplier="abc"),
            dict(good)]
    with pytest.raises(ValidationError) as e:
        parse_scenario_rows(rows)
    assert [p.where for p in e.value.problems] == [f"stress scenarios row {i}" for i in range(1, 7)]
    ok = parse_scenario_rows([dict(good, rating="AA-")])
    assert ok[0].rating == "AA-sf"


def test_protection_distance():
    # Pengyuan Table 3: BDR 30 %, TDR 20 % -> distance 10 %, relative 50 %
    d, rel = protection_distance(0.30, 0.20)
    assert d == pytest.approx(0.10) and rel == pytest.approx(0.5)
    assert protection_distance(0.1, 0.0)[1] == np.inf
