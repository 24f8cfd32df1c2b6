"""Counter-free, thread-independent random streams for the portfolio Monte Carlo.

METHODOLOGY "Conventions": every stochastic result is reproducible from its
seed.  The Monte Carlo (§4.5) splits the paths into fixed-size blocks; block
``b`` gets its own xoshiro256** stream whose 256-bit state is produced by
splitmix64 from ``(seed, b)``.  Which thread runs a block therefore never
changes its numbers, so results are identical for any number of numba
threads.

Generators (all ``@njit(cache=True)``, state = ``uint64[4]`` array updated in
place):

- :func:`next_u64` - xoshiro256** (Blackman & Vigna 2018).
- :func:`uniform` - double in the open interval (0, 1): 53 random bits + 1/2.
- :func:`fill_normals` - standard normals by the Marsaglia polar method
  (exact, both variates of each accepted pair used).
- :func:`norm_cdf`, :func:`norm_ppf` - Phi and Phi^-1 in numba (Acklam's
  rational approximation refined by one Halley step, relative error ~1e-15).

Note for developers: numba's on-disk cache (``cache=True``) of a kernel in
another module is not invalidated when a function here changes; clear the
``__pycache__`` ``*.nbi``/``*.nbc`` files after editing this module.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_BLOCK_SALT = np.uint64(0xD1B54A32D192ED03)


@njit(cache=True)
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def seed_state(seed, block):
    """xoshiro256** state (uint64[4]) for stream ``block`` of ``seed``.

    splitmix64 is started at ``mix(seed) ^ mix(block * salt + 1)`` and its
    next four outputs fill the state (the procedure recommended by the
    xoshiro authors for seeding from a 64-bit value).
    """
    x = _mix64(np.uint64(seed) + _GOLDEN) ^ _mix64(np.uint64(block) * _BLOCK_SALT + np.uint64(1))
    s = np.empty(4, dtype=np.uint64)
    for i in range(4):
        x = x + _GOLDEN
        s[i] = _mix64(x)
    return s


@njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def next_u64(s):
    """Next 64-bit output of xoshiro256** (state ``s`` updated in place)."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True)
def uniform(s):
    """Uniform double in (0, 1): ``((x >> 11) + 0.5) * 2**-53``; never 0 or 1."""
    return (float(next_u64(s) >> np.uint64(11)) + 0.5) * 1.1102230246251565e-16


@njit(cache=True)
def fill_normals(s, out):
    """Fill the 1-d float64 array ``out`` with iid N(0, 1) (Marsaglia polar)."""
    n = out.shape[0]
    i = 0
    while i < n:
        u = 2.0 * uniform(s) - 1.0
        v = 2.0 * uniform(s) - 1.0
        r = u * u + v * v
        if r >= 1.0 or r == 0.0:
            continue
        f = math.sqrt(-2.0 * math.log(r) / r)
        out[i] = u * f
        i += 1
        if i < n:
            out[i] = v * f
            i += 1


@njit(cache=True)
def normals(seed, block, n):
    """``n`` standard normals from stream ``(seed, block)`` (for tests and tools)."""
    s = seed_state(seed, block)
    out = np.empty(n)
    fill_normals(s, out)
    return out


@njit(cache=True)
def uniforms(seed, block, n):
    """``n`` uniforms on (0, 1) from stream ``(seed, block)``."""
    s = seed_state(seed, block)
    out = np.empty(n)
    for i in range(n):
        out[i] = uniform(s)
    return out


_SQRT1_2 = 0.7071067811865476


@njit(cache=True)
def norm_cdf(x):
    """Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 (handles +-inf)."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


# Acklam's coefficients for the inverse normal CDF.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)


@njit(cache=True)
def norm_ppf_fast(p):
    """Acklam's rational approximation of Phi^-1(p), p in (0, 1), without refinement.

    Relative error below 1.15e-9 (Acklam).  Used by the Monte Carlo only to
    place an already-decided default in a month: it can move a default
    across a month boundary only when the latent lies within ~1e-9 of it.
    """
    plow = 0.02425
    if p < plow:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    if p <= 1.0 - plow:
        q = p - 0.5
        r = q * q
        return (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / \
            (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
    q = math.sqrt(-2.0 * math.log1p(-p))
    return -(((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
        ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)


@njit(cache=True)
def norm_ppf(p):
    """Inverse standard normal CDF Phi^-1(p) for p in [0, 1] (-inf at 0, inf at 1)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    plow = 0.02425
    if p < plow:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    elif p <= 1.0 - plow:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / \
            (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    # One Halley step on Phi(x) - p.
    if p < 0.5:
        e = norm_cdf(x) - p
    else:
        # Phi(x) - p = (1 - p) - Q(x), written so no precision is lost near 1.
        e = (1.0 - p) - 0.5 * math.erfc(x * _SQRT1_2)
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)
