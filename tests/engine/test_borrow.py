"""Borrowed array views (xlabs/engine/borrow.py): the same data, shape and strides, no reference count."""

import sys

import numpy as np
from numba import njit

from xlabs.engine.borrow import borrow


@njit
def _fill_borrowed(a, b, k):
    x, y, kk = borrow((a, b, k))
    z = borrow(a)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = i * 10 + j + kk
    y[1] = z[1, 2]                       # reads through the other view
    return x.shape[0] * 1000 + x.shape[1] * 100 + y.size + x.strides[0]


def test_borrowed_views_share_the_data_shape_and_strides():
    a = np.zeros((3, 4))
    b = np.zeros(5)
    r = _fill_borrowed(a, b, 7)
    np.testing.assert_array_equal(a, np.arange(3)[:, None] * 10 + np.arange(4)[None, :] + 7)
    assert b[1] == 19.0 and b[0] == 0.0
    assert r == 3000 + 400 + 5 + 32


def test_borrowing_leaves_the_reference_counts_unchanged():
    a = np.zeros((3, 4))
    b = np.zeros(5)
    _fill_borrowed(a, b, 0)
    before = sys.getrefcount(a), sys.getrefcount(b)
    for _ in range(100):
        _fill_borrowed(a, b, 1)
    assert (sys.getrefcount(a), sys.getrefcount(b)) == before


def test_a_non_contiguous_view_is_borrowed_with_its_strides():
    a = np.arange(24.0).reshape(4, 6)
    v = a[::2, 1::2]
    out = np.zeros((2, 3))

    @njit
    def copy(src, dst):
        s, d = borrow((src, dst))
        for i in range(s.shape[0]):
            for j in range(s.shape[1]):
                d[i, j] = s[i, j]

    copy(v, out)
    np.testing.assert_array_equal(out, v)
