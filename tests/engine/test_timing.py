"""Default-timing curves (xlabs/engine/timing.py, METHODOLOGY §5.2, §6.2)."""

import numpy as np
import pytest

from xlabs.engine.timing import fit_to_life, shaped


def test_front_and_back_tilt_a_flat_curve_by_hand():
    flat = np.full(3, 1 / 3)
    # s = 0, 1/2, 1; front weights 1.5, 1.0, 0.5 (sum 3); back weights 0.5, 1.0, 1.5
    np.testing.assert_allclose(shaped(flat, "front"), [0.5, 1 / 3, 1 / 6], rtol=1e-14)
    np.testing.assert_allclose(shaped(flat, "back"), [1 / 6, 1 / 3, 0.5], rtol=1e-14)
    np.testing.assert_allclose(shaped(flat, "base"), flat)


def test_middle_shape_by_hand():
    # L = 5: s = 0, .25, .5, .75, 1 -> weights 0.5, 1.0, 1.5, 1.0, 0.5 (sum 4.5)
    np.testing.assert_allclose(shaped(np.full(5, 0.2), "middle"), np.array([0.5, 1.0, 1.5, 1.0, 0.5]) / 4.5,
                               rtol=1e-14)


def test_shapes_keep_total_and_move_mass():
    base = np.random.default_rng(3).dirichlet(np.ones(24))
    mean_t = lambda w: float((np.arange(24) * w).sum())  # noqa: E731
    for shape in ("front", "middle", "back"):
        assert shaped(base, shape).sum() == pytest.approx(1.0, rel=1e-14)
    assert mean_t(shaped(base, "front")) < mean_t(base) < mean_t(shaped(base, "back"))
    with pytest.raises(ValueError):
        shaped(base, "sideways")


def test_fit_to_life():
    np.testing.assert_allclose(fit_to_life([0.1, 0.2, 0.3, 0.4], 2), [1 / 3, 2 / 3], rtol=1e-14)
    np.testing.assert_allclose(fit_to_life([0.5, 0.5], 4), [0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(fit_to_life([0.0, 0.0, 1.0], 2), [0.5, 0.5])     # nothing in life: spread evenly


def test_shapes_ignore_zeros_padding_the_curve_to_a_longer_horizon():
    """The tilt runs over the pool's life (the curve's span up to its last weight), not over the horizon:
    the corporate path pads the Monte Carlo timing with zeros up to Deal 'periods'."""
    base = np.random.default_rng(4).dirichlet(np.ones(24))
    padded = np.concatenate([base, np.zeros(36)])
    for shape in ("base", "front", "middle", "back"):
        got = shaped(padded, shape)
        np.testing.assert_allclose(got[:24], shaped(base, shape), rtol=1e-14)
        assert got[24:].sum() == 0.0 and got.size == 60
    # by hand: flat over 3 periods, padded to 5: front weights 1.5, 1.0, 0.5 over the 3 (sum 3)
    np.testing.assert_allclose(shaped([1 / 3, 1 / 3, 1 / 3, 0, 0], "front"), [0.5, 1 / 3, 1 / 6, 0, 0], rtol=1e-14)
