"""The assets of one obligor (rows sharing an id) default together in the Monte Carlo (METHODOLOGY §4.5):
one default time per obligor, not one per asset row."""

from __future__ import annotations

import numpy as np
import pytest

from xlabs.engine.portfolio import build_model_inputs, simulate_pool
from xlabs.engine.portfolio.inputs import Obligor, obligor_units
from xlabs.errors import ValidationError


def _pool(n=30, split=()):
    """``n`` BB/BBB obligors in three industries; those in ``split`` as two asset rows of half the balance."""
    out = []
    for i in range(n):
        kw = dict(shadow_rating="BBsf" if i % 2 else "BBBsf", industry=("energy", "utilities", "retail")[i % 3],
                  region=("east", "west", "north", "south")[i % 4], rate=0.06, amortisation="level" if i % 4 == 0 else "bullet")
        bal = 1e7 * (1 + i % 5)
        parts = [bal / 2, bal / 2] if i in split else [bal]
        out += [Obligor(f"OB{i}", b, 36 + 6 * (i % 3), **kw) for b in parts]
    return out


def test_an_obligor_split_into_two_assets_gives_the_same_paths_as_one_row():
    """Before, the two halves of OB0..OB4 were drawn as separate obligors (correlated only by the add-ons):
    the pool's tail thinned, and TRDR / TRLR fell."""
    one = simulate_pool(build_model_inputs(_pool()), n_paths=20_000, seed=5)
    two = simulate_pool(build_model_inputs(_pool(split=range(5))), n_paths=20_000, seed=5)
    assert two.n_obligors == one.n_obligors == 30
    np.testing.assert_allclose(two.default_ratio, one.default_ratio, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(two.loss_ratio, one.loss_ratio, rtol=1e-12, atol=1e-15)
    assert one.default_ratio.std() > 0


def test_assets_with_their_own_terms_and_recoveries_default_at_one_time():
    """One obligor, a 12-month secured bullet loan (R 0.45 + 0.05) and a 36-month unsecured one (R 0.40):
    a default in months 1-12 takes both, in months 13-36 only the long one, with each asset's own loss.
    Worked by hand from the tables' recoveries and the rating's PD curve; frequencies within 5 se."""
    assets = [Obligor("X", 4e7, 12, "Bsf", industry="energy", seniority="senior_secured"),
              Obligor("X", 6e7, 36, "Bsf", industry="energy")]
    inp = build_model_inputs(assets)
    r_short, r_long = inp.recovery
    assert r_short != r_long
    u = obligor_units(inp)
    assert u["maturity"].tolist() == [36] and u["recovery"].shape == (1, 36)
    n = 200_000
    mc = simulate_pool(inp, n_paths=n, seed=11)
    both = (4e7 + 6e7) / 1e8, (4e7 * (1 - r_short) + 6e7 * (1 - r_long)) / 1e8
    long_only = 6e7 / 1e8, 6e7 * (1 - r_long) / 1e8
    dr, lr = mc.default_ratio, mc.loss_ratio
    is_both = np.isclose(dr, both[0], rtol=1e-12)
    is_long = np.isclose(dr, long_only[0], rtol=1e-12)
    assert np.all(is_both | is_long | (dr == 0))                   # never one asset without the other
    np.testing.assert_allclose(lr[is_both], both[1], rtol=1e-12)
    np.testing.assert_allclose(lr[is_long], long_only[1], rtol=1e-12)
    pd12, pd36 = inp.pd[0, 11], inp.pd[0, 35]
    for got, p in ((is_both.mean(), pd12), ((is_both | is_long).mean(), pd36)):
        assert abs(got - p) < 5 * np.sqrt(p * (1 - p) / n), (got, p)


def test_assets_of_one_obligor_with_two_ratings_are_refused():
    assets = [Obligor("X", 1e7, 12, "Bsf"), Obligor("X", 1e7, 12, "BBsf")]
    with pytest.raises(ValidationError) as e:
        simulate_pool(build_model_inputs(assets), n_paths=100)
    assert [p.where for p in e.value.problems] == ["obligors!row 2"]
