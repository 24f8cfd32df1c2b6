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


def _capped_tables():
    from xlabs.engine.portfolio import PortfolioTables
    t = PortfolioTables.shipped()
    t.correlation = dict(base=0.3, same_industry=0.3, same_region=0.3, same_group=0.2, cap=0.99)
    return t


def test_an_obligor_of_two_assets_is_rated_when_the_add_ons_reach_the_cap():
    """Add-ons summing to 1 or more (each in [0, 1), as the corporate reader allows) send the matrix through
    a Cholesky factor, whose rows are never equal: an obligor of two assets was refused as having 'two
    correlation rows'.  The correlation is between obligors, so the split pool gives the unsplit one's paths."""
    t = _capped_tables()
    one = simulate_pool(build_model_inputs(_pool(), t), n_paths=5_000, seed=5)
    two = simulate_pool(build_model_inputs(_pool(split=range(5)), t), n_paths=5_000, seed=5)
    assert two.n_obligors == one.n_obligors == 30
    np.testing.assert_allclose(two.default_ratio, one.default_ratio, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(two.loss_ratio, one.loss_ratio, rtol=1e-12, atol=1e-15)


def test_two_assets_of_one_obligor_do_not_trigger_the_cap_between_themselves():
    """Two assets of one obligor share industry, region and group: their 'pair' is not two names and must
    not cap (and re-decompose) the whole matrix."""
    from xlabs.engine.portfolio import PortfolioTables
    t = PortfolioTables.shipped()
    t.correlation = dict(base=0.2, same_industry=0.2, same_region=0.2, same_group=0.0, cap=0.5)
    obs = [Obligor("A", 1e7, 24, "BBsf", industry="energy", region="east"),
           Obligor("A", 1e7, 24, "BBsf", industry="energy", region="east"),
           Obligor("B", 2e7, 24, "BBsf", industry="retail", region="east")]
    inp = build_model_inputs(obs, t)
    assert not inp.correlation.warnings
    assert inp.correlation.matrix[0, 1] == 1.0 and inp.correlation.matrix[0, 2] == pytest.approx(0.4)


def test_a_user_correlation_matrix_over_asset_rows_with_an_obligor_of_two_assets():
    """A user matrix (n x n over asset rows) was decomposed row by row: the obligor's two rows got different
    loadings and the run was refused.  Now the obligor's first row is decomposed; its other rows must agree."""
    obs = [Obligor("A", 1e7, 24, "BBsf"), Obligor("A", 1e7, 24, "BBsf"),
           Obligor("B", 2e7, 24, "BBsf"), Obligor("C", 2e7, 24, "Bsf")]
    c = np.full((4, 4), 0.3)
    np.fill_diagonal(c, 1.0)
    c[0, 1] = c[1, 0] = 0.99
    mc = simulate_pool(build_model_inputs(obs, correlation=c), n_paths=2_000, seed=1)
    ref = simulate_pool(build_model_inputs([Obligor("A", 2e7, 24, "BBsf")] + obs[2:],
                                           correlation=c[1:, 1:]), n_paths=2_000, seed=1)
    assert mc.n_obligors == 3
    np.testing.assert_allclose(mc.default_ratio, ref.default_ratio, rtol=1e-12, atol=1e-15)
    c[1, 2] = c[2, 1] = 0.5
    with pytest.raises(ValidationError) as e:
        build_model_inputs(obs, correlation=c)
    assert [p.where for p in e.value.problems] == ["correlation[1]"]
