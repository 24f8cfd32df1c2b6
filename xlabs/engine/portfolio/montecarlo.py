"""Multi-period Gaussian-copula Monte Carlo of pool defaults (METHODOLOGY §4.5).

Model.  Obligor i has latent ``X_i = a_i . Z + s_i e_i`` with factor
loadings ``a_i`` (k factors), ``s_i = sqrt(1 - |a_i|^2)``, ``Z ~ N(0, I_k)``
and ``e_i ~ N(0, 1)`` independent.  With ``U_i = Phi(X_i)``, the obligor
defaults at the first month ``t`` (1-based) with ``PD_i(t) >= U_i``, i.e.
``X_i <= c_i(t) = Phi^-1(PD_i(t))``, if ``t`` is not after its maturity.
The defaulted amount is the exposure schedule at ``t``; the loss is that
times ``1 - R_i``.

Sampling (exact, not an approximation).  Per path the k factors are drawn;
then, conditionally on Z, obligors are independent with default-by-maturity
probability ``q_i = Phi((c_i(T_i) - a_i.Z) / s_i)``.  Obligors sharing one
loading row form a group, sorted by ``c_i(T_i)`` descending so ``q_i``
falls along the group.  Defaulters are found by geometric skipping with a
dominating probability that is lowered to ``q_j`` at each candidate
(thinning; accept with ``q_j / q_current``).  An accepted candidate's latent
is ``X = a.Z + s Phi^-1(v)`` with ``v`` uniform on (0, q_j) - the idiosyncratic
draw conditional on default by maturity - and its month is found by binary
search of ``c_i(.)`` (Phi^-1 by Acklam's approximation, relative error
< 1.15e-9: it only places a default already decided exactly).  Work therefore scales with the number of defaults,
not with the number of obligors.

Reproducibility.  Paths are cut into blocks of ``block_size``; block b uses
its own stream ``rng.seed_state(seed, b)``.  Each block writes only its own
paths, and the timing curve is summed over blocks in block order afterwards,
so results are bit-identical whatever the number of numba threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ...errors import ProblemList
from .checks import as_float_array, check_fraction, check_loadings, check_pd_curves, check_whole
from .results import PortfolioResult
from .rng import fill_normals, norm_cdf, norm_ppf_fast, seed_state, uniform

DEFAULT_BLOCK = 4096
"""Paths per random-stream block (fixed: part of what a seed means)."""


@njit(cache=True, inline="always")
def draw_path_defaults(st, z, A, s_g, gstart, obl, c_end, C, mat, d_idx, d_mon):
    """Draw one path's defaults; write obligor index and default month (0-based) of each
    defaulter into ``d_idx`` / ``d_mon``; return how many (§4.5, sampling in the module doc).

    Shared by the Monte Carlo kernel and the waterfall-per-path kernel
    (``pathwise.py``) so both consume the random stream identically.
    """
    fill_normals(st, z)
    nd = 0
    k = A.shape[1]
    for g in range(s_g.shape[0]):
        m = 0.0
        for f in range(k):
            m += A[g, f] * z[f]
        sg = s_g[g]
        j = gstart[g]
        end = gstart[g + 1]
        c_cur = c_end[j]
        pc = norm_cdf((c_cur - m) / sg)
        # 1 / log(1 - pc), cached: changes only when pc does (pc = 0: no default, the loop below does not run)
        ilq = 1.0 / math.log1p(-pc) if 0.0 < pc < 1.0 else 0.0
        while j < end and pc > 0.0:
            if pc < 1.0:
                skip = math.log(uniform(st)) * ilq
                if skip >= end - j:
                    break
                j += int(skip)
            if c_end[j] == c_cur:
                pj = pc  # same threshold (e.g. same rating): no new Phi needed
            else:
                c_cur = c_end[j]
                pj = norm_cdf((c_cur - m) / sg)
            v = uniform(st) * pc
            if v < pj:
                i = obl[j]
                lo = 0
                hi = mat[i] - 1
                if hi > 0:
                    x = m + sg * norm_ppf_fast(v)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if C[i, mid] >= x:
                        hi = mid
                    else:
                        lo = mid + 1
                d_idx[nd] = i
                d_mon[nd] = lo
                nd += 1
            if pj != pc:
                pc = pj
                ilq = 1.0 / math.log1p(-pc) if 0.0 < pc < 1.0 else 0.0
            j += 1
    return nd


@njit(cache=True, parallel=True)
def _mc_kernel(seed, n_paths, block, b_first, b_last, A, s_g, gstart, obl, c_end, C, mat, E, L,
               inv_init, dr, lr, timing):
    """Fill ``dr``/``lr`` and ``timing`` for the global blocks ``b_first..b_last-1``.

    ``E`` (n, M) is the exposure and ``L`` (n, M) the loss of a default in each month (exposure x
    (1 - recovery), summed over an obligor's assets).

    Path ``p`` of the run is written at ``dr[p - b_first * block]``; block
    ``b`` adds its timing to ``timing[b - b_first]``.  A block's numbers
    depend only on (seed, b), so any split of the blocks gives the same
    per-path values (see module doc).
    """
    k = A.shape[1]
    base = b_first * block
    for lb in prange(b_last - b_first):
        b = b_first + lb
        st = seed_state(seed, b)
        z = np.empty(k)
        d_idx = np.empty(obl.shape[0], dtype=np.int64)
        d_mon = np.empty(obl.shape[0], dtype=np.int64)
        p0 = b * block
        p1 = min(p0 + block, n_paths)
        for path in range(p0, p1):
            nd = draw_path_defaults(st, z, A, s_g, gstart, obl, c_end, C, mat, d_idx, d_mon)
            d = 0.0
            loss = 0.0
            for q in range(nd):
                i = d_idx[q]
                e = E[i, d_mon[q]]
                d += e
                loss += L[i, d_mon[q]]
                timing[lb, d_mon[q]] += e
            dr[path - base] = d * inv_init
            lr[path - base] = loss * inv_init


def _loss_matrix(exposure: np.ndarray, recovery: np.ndarray) -> np.ndarray:
    """Loss of a default in each month, (n, M) currency: exposure x (1 - recovery), recovery (n,) or (n, M)."""
    lgd = 1.0 - recovery
    return np.ascontiguousarray(exposure * (lgd[:, None] if lgd.ndim == 1 else lgd))


def _groups(loadings: np.ndarray, c_end: np.ndarray):
    """Group obligors by identical loading rows; sort each group by c_end descending."""
    rows, inverse = np.unique(loadings, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.lexsort((-c_end, inverse))
    counts = np.bincount(inverse, minlength=rows.shape[0])
    gstart = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    s_g = np.sqrt(1.0 - np.sum(rows * rows, axis=1))
    return (np.ascontiguousarray(rows), s_g, gstart, order.astype(np.int64),
            np.ascontiguousarray(c_end[order]))


def prepare_inputs(pd, loadings, exposure=None, recovery=None, maturity=None,
                   initial_principal=None, monthly_recovery=False):
    """Validate and convert :func:`simulate_defaults` inputs (all problems at once).

    Returns a dict of contiguous arrays: ``pd`` (n, M), ``loadings`` (n, k),
    ``exposure`` (n, M), ``recovery`` (n,) (or (n, M) when ``monthly_recovery`` allows a
    recovery per obligor and month), ``maturity`` (n,) int months, ``initial`` (float).
    """
    probs = ProblemList()
    pdc = check_pd_curves(pd, probs)
    if pdc is None:
        probs.raise_if_any()
    n, months = pdc.shape
    a = check_loadings(loadings, n, probs)
    if exposure is None:
        ex = np.ones((n, months))
    else:
        ex = as_float_array(exposure, "exposure", probs, (1, 2))
        if ex is not None:
            if ex.ndim == 1:
                ex = np.repeat(ex[:, None], months, axis=1)
            if ex.shape != (n, months):
                probs.add("exposure", f"must have shape ({n},) or ({n}, {months})", ex.shape)
                ex = None
            elif np.any(ex < 0):
                probs.add("exposure", "balances must be >= 0", float(ex.min()))
    if recovery is None:
        rec = np.zeros(n)
    else:
        rec = as_float_array(recovery, "recovery", probs, (0, 1, 2) if monthly_recovery else (0, 1))
        if rec is not None:
            if rec.ndim == 2:
                rec = rec.astype(float) if rec.shape == (n, months) else None
            else:
                rec = np.broadcast_to(rec, (n,)).astype(float) if rec.ndim == 0 or rec.size == n else None
            if rec is None:
                probs.add("recovery", f"needs one value per obligor ({n}) or a scalar"
                          + (f", or one per obligor and month ({n}, {months})" if monthly_recovery else ""))
            else:
                check_fraction(rec, "recovery", probs)
    if maturity is None:
        mat = np.full(n, months, dtype=np.int64)
    else:
        mat = np.asarray(maturity)
        if mat.shape != (n,) or not np.issubdtype(mat.dtype, np.number) or mat.dtype == bool \
                or not np.all(np.isfinite(mat)) or np.any(mat != np.round(mat)):
            probs.add("maturity", f"needs one whole number of months per obligor ({n})")
            mat = None
        elif np.any(mat < 1) or np.any(mat > months):
            probs.add("maturity", f"months must be in 1..{months} (the PD curve length)",
                      int(mat.min()) if np.any(mat < 1) else int(mat.max()))
        mat = mat.astype(np.int64) if mat is not None else None
    init = None
    if ex is not None and not probs:
        init = float(ex[:, 0].sum()) if initial_principal is None else initial_principal
        try:
            init = float(init)
        except (TypeError, ValueError):
            init = float("nan")
        if not (init > 0 and math.isfinite(init)):
            probs.add("initial_principal", "initial pool principal must be > 0",
                      init if initial_principal is None else initial_principal)
    probs.raise_if_any()
    return dict(pd=pdc, loadings=a, exposure=np.ascontiguousarray(ex), recovery=np.ascontiguousarray(rec),
                maturity=np.ascontiguousarray(mat), initial=init)


def _run_blocks(job: dict, b_first: int, b_last: int):
    """Paths of blocks ``b_first..b_last-1`` of a prepared run; a Dask task."""
    n = min(b_last * job["block"], job["n_paths"]) - b_first * job["block"]
    dr = np.empty(n)
    lr = np.empty(n)
    timing = np.zeros((b_last - b_first, job["C"].shape[1]))
    _mc_kernel(np.uint64(job["seed"]), job["n_paths"], job["block"], b_first, b_last, job["rows"], job["s_g"],
               job["gstart"], job["order"], job["c_sorted"], job["C"], job["mat"], job["E"], job["L"],
               job["inv_init"], dr, lr, timing)
    return dr, lr, timing


def _distributed_blocks(client, job: dict, n_blocks: int, chunks: int | None):
    """Run the blocks on a Dask client in contiguous chunks; merge in block order."""
    if chunks is None:
        chunks = 4 * max(1, len(client.scheduler_info().get("workers", {})))
    chunks = max(1, min(int(chunks), n_blocks))
    edges = np.linspace(0, n_blocks, chunks + 1).round().astype(int)
    [job_f] = client.scatter([job], broadcast=True)   # one object, sent once to every worker
    futs = [client.submit(_run_blocks, job_f, int(a), int(b), pure=False)
            for a, b in zip(edges[:-1], edges[1:]) if b > a]
    parts = client.gather(futs)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts], axis=0))


def simulate_defaults(pd, loadings, exposure=None, recovery=None, n_paths=1_000_000, seed=0, *,
                      maturity=None, initial_principal=None, block_size=DEFAULT_BLOCK, client=None,
                      chunks=None):
    """Monte Carlo of pool default and loss ratios (METHODOLOGY §4.5).

    Parameters
    ----------
    pd : array_like, shape (n,) or (n, months)
        Cumulative default probability (fraction) of each obligor: one
        horizon, or a monthly curve (end of months 1..months, §4.1).
    loadings : array_like, shape (n, k) or (n,)
        Factor loadings; obligor latent = ``a_i . Z + sqrt(1 - |a_i|^2) e_i``
        (§4.4).  Each row's sum of squares must be < 1.  Obligors with equal
        rows share a group in the sampler (faster), so build them from a few
        factors (see :func:`xlabs.engine.portfolio.correlation`).
    exposure : array_like, shape (n,) or (n, months), optional
        Balance outstanding in each month (currency units); a default in
        month t loses ``exposure[i, t-1]``.  (n,) = flat balance.  Default:
        1 per obligor.
    recovery : float or array_like, shape (n,) or (n, months), optional
        Recovery fraction R_i (§4.2), or R_i(t) by default month (an obligor of several assets with
        different recoveries: the exposure-weighted recovery of what is outstanding); default 0.
    n_paths : int
        Number of paths (Lianhe: 1,000,000).
    seed : int
        Seed (>= 0); recorded on the result.
    maturity : array_like of int, shape (n,), optional
        Maturity month of each obligor (1..months); no default after it.
        Default: ``months`` for all.
    initial_principal : float, optional
        Denominator of the ratios (currency); default ``exposure[:, 0].sum()``.
    block_size : int
        Paths per random-stream block (changing it changes the numbers).
    client : dask.distributed.Client, optional
        Split the blocks over the cluster's workers (``pip install
        'xlabs[dask]'``).  Each block draws from its own stream seeded by
        (seed, block), each task returns its blocks' per-path arrays, and the
        merge concatenates them and sums the timing rows in block order, so
        the result is bit-for-bit the single-machine result for the same seed.
    chunks : int, optional
        Number of tasks for ``client`` (default 4 per worker).

    Notes
    -----
    Losses are undiscounted, so the recovery lag of §4.2 does not change the
    loss ratio; the lags (:func:`~xlabs.engine.portfolio.recoveries`) are for
    the cash-flow model.  Cost grows with the number of defaults per path
    and the number of distinct loading rows, not with the number of obligors.

    Returns
    -------
    PortfolioResult
        Per-path ``default_ratio`` and ``loss_ratio`` (n_paths,), the
        expected default timing curve, ``trdr(p)`` / ``trlr(p)`` quantiles,
        the seed and n_paths.

    Raises
    ------
    ValidationError
        PD outside [0, 1] or falling with time, loadings with sum of squares
        >= 1, wrong shapes, negative exposures, recoveries outside [0, 1].
    """
    probs = ProblemList()
    check_whole(n_paths, "n_paths", probs, 1)
    check_whole(seed, "seed", probs, 0, 2**63)
    check_whole(block_size, "block_size", probs, 1)
    probs.raise_if_any()
    x = prepare_inputs(pd, loadings, exposure, recovery, maturity, initial_principal, monthly_recovery=True)
    n_paths, seed, block_size = int(n_paths), int(seed), int(block_size)
    pdc, a = x["pd"], x["loadings"]
    n, months = pdc.shape
    with np.errstate(divide="ignore"):
        from scipy.special import ndtri
        C = np.ascontiguousarray(ndtri(pdc))
    mat = x["maturity"]
    c_end = C[np.arange(n), mat - 1]
    rows, s_g, gstart, order, c_sorted = _groups(a, c_end)
    n_blocks = (n_paths + block_size - 1) // block_size
    job = {"seed": seed, "n_paths": n_paths, "block": block_size, "rows": rows, "s_g": s_g, "gstart": gstart,
           "order": order, "c_sorted": c_sorted, "C": C, "mat": mat, "E": x["exposure"],
           "L": _loss_matrix(x["exposure"], x["recovery"]), "inv_init": 1.0 / x["initial"]}
    if client is None:
        dr, lr, timing = _run_blocks(job, 0, n_blocks)
    else:
        dr, lr, timing = _distributed_blocks(client, job, n_blocks, chunks)
    timing_curve = timing.sum(axis=0) / (x["initial"] * n_paths)
    return PortfolioResult(default_ratio=dr, loss_ratio=lr, timing=timing_curve, seed=seed,
                           n_paths=n_paths, n_obligors=n, n_months=months, block_size=block_size)


def simulate_defaults_reference(pd, loadings, exposure=None, recovery=None, n_paths=10_000, seed=0,
                                maturity=None, initial_principal=None):
    """Slow, obvious numpy reference of the same model (for tests).

    Draws every latent ``X = Z A^T + s e`` with numpy's PCG64 and finds each
    default month by comparing X with all thresholds.  Same distribution as
    :func:`simulate_defaults`, different random numbers.

    Returns
    -------
    (default_ratio, loss_ratio, timing) : ndarrays (n_paths,), (n_paths,), (months,)
    """
    from scipy.special import ndtri
    x = prepare_inputs(pd, loadings, exposure, recovery, maturity, initial_principal, monthly_recovery=True)
    pdc, a, ex = x["pd"], x["loadings"], x["exposure"]
    rec = x["recovery"] if x["recovery"].ndim == 2 else np.repeat(x["recovery"][:, None], ex.shape[1], axis=1)
    n, months = pdc.shape
    rng = np.random.default_rng(seed)
    s = np.sqrt(1.0 - np.sum(a * a, axis=1))
    with np.errstate(divide="ignore"):
        C = ndtri(pdc)
    live = np.arange(months)[None, :] < x["maturity"][:, None]
    dr = np.zeros(n_paths)
    lr = np.zeros(n_paths)
    timing = np.zeros(months)
    for p in range(n_paths):
        X = a @ rng.standard_normal(a.shape[1]) + s * rng.standard_normal(n)
        hit = (C >= X[:, None]) & live
        for i in np.flatnonzero(hit.any(axis=1)):
            t = int(np.argmax(hit[i]))
            dr[p] += ex[i, t]
            lr[p] += ex[i, t] * (1.0 - rec[i, t])
            timing[t] += ex[i, t]
    return dr / x["initial"], lr / x["initial"], timing / (x["initial"] * n_paths)


def simulate_pool(inputs, n_paths=1_000_000, seed=0, **kwargs):
    """:func:`simulate_defaults` on :class:`~xlabs.engine.portfolio.inputs.ModelInputs` (§4.1-§4.5).

    Uses ``inputs.pd``, ``inputs.correlation.loadings``, ``inputs.exposure``,
    ``inputs.recovery`` and ``inputs.maturity``, with the assets of one obligor (rows sharing an
    id) simulated as that obligor: one default time for all of them (§4.5,
    :func:`~xlabs.engine.portfolio.inputs.obligor_units`); extra keyword arguments go to
    :func:`simulate_defaults`.  ``n_obligors`` of the result counts obligors, not asset rows.
    """
    from .inputs import obligor_units
    u = obligor_units(inputs)
    return simulate_defaults(u["pd"], u["loadings"], u["exposure"], u["recovery"],
                             n_paths=n_paths, seed=seed, maturity=u["maturity"], **kwargs)
