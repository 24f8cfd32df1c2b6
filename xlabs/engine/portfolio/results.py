"""Result of the portfolio Monte Carlo: distributions, TRDR/TRLR, diagnostics (METHODOLOGY §4.5).

Quantile convention.  For a target default probability ``P_A`` the target
ratio is the ``q = 1 - P_A`` quantile of the simulated ratio, taken as the
empirical inverse CDF: the ``ceil(n q)``-th smallest of ``n`` paths.  Its
Monte Carlo uncertainty is a distribution-free order-statistic interval:
ranks ``Binom(n, q).ppf(alpha/2)`` and ``Binom(n, q).ppf(1 - alpha/2) + 1``
bracket the true quantile with probability >= 1 - alpha; the standard error
is reported as the interval width / (2 z_{1-alpha/2}).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ...errors import Problem, ProblemList, ValidationError
from ..default_table import DefaultRateTable, shipped_table
from ..ratings import SCALE


@dataclass(frozen=True)
class QuantileEstimate:
    """A Monte Carlo quantile with its order-statistic confidence interval.

    Attributes
    ----------
    p : float
        Target default probability P_A (fraction); the quantile level is 1 - p.
    value : float
        Empirical (1 - p) quantile (fraction of initial principal).
    lower, upper : float
        Confidence interval of the true quantile at ``confidence``.
    std_error : float
        (upper - lower) / (2 z); NaN when the interval reaches past the sample.
    confidence : float
    n_paths : int
    """

    p: float
    value: float
    lower: float
    upper: float
    std_error: float
    confidence: float
    n_paths: int


def _in_open_unit(v) -> bool:
    """``v`` is a number strictly between 0 and 1 (NaN and text are not)."""
    try:
        return 0.0 < float(v) < 1.0
    except (TypeError, ValueError):
        return False


def quantile_estimate(sorted_values: np.ndarray, p: float, confidence: float = 0.95) -> QuantileEstimate:
    """(1 - p) empirical quantile of an ascending-sorted sample, with CI (see module doc)."""
    n = sorted_values.size
    probs = ProblemList()
    if not _in_open_unit(p):
        probs.add("p", "must be a probability in (0, 1) (a fraction, not a percent)", p)
    if not _in_open_unit(confidence):
        probs.add("confidence", "must be a fraction in (0, 1), e.g. 0.95", confidence)
    probs.raise_if_any()
    q = 1.0 - float(p)
    k = int(np.ceil(n * q - 1e-9))
    k = min(max(k, 1), n)
    value = float(sorted_values[k - 1])
    alpha = 1.0 - confidence
    lo_rank = int(stats.binom.ppf(alpha / 2, n, q))
    hi_rank = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    lower = float(sorted_values[max(lo_rank, 1) - 1])
    upper = float(sorted_values[min(hi_rank, n) - 1])
    z = stats.norm.ppf(1 - alpha / 2)
    se = (upper - lower) / (2 * z) if (lo_rank >= 1 and hi_rank <= n) else float("nan")
    return QuantileEstimate(float(p), value, lower, upper, se, confidence, n)


@dataclass
class PortfolioResult:
    """Monte Carlo output (METHODOLOGY §4.5).

    Attributes
    ----------
    default_ratio : ndarray, shape (n_paths,)
        Defaulted principal / initial pool principal on each path (fraction).
    loss_ratio : ndarray, shape (n_paths,)
        Loss after recovery / initial pool principal on each path (fraction).
    timing : ndarray, shape (n_months,)
        Expected defaulted principal in each month / initial principal; sums
        to the mean default ratio.
    seed, n_paths, block_size : int
        What reproduces the run.
    n_obligors, n_months : int
    """

    default_ratio: np.ndarray
    loss_ratio: np.ndarray
    timing: np.ndarray
    seed: int
    n_paths: int
    n_obligors: int
    n_months: int
    block_size: int
    _sorted: dict = field(default_factory=dict, repr=False)

    def _ratio(self, which: str) -> np.ndarray:
        if which not in ("default", "loss"):
            raise ValueError("which must be 'default' or 'loss'")
        return self.default_ratio if which == "default" else self.loss_ratio

    def sorted(self, which: str = "default") -> np.ndarray:
        """Ascending copy of the default (``"default"``) or loss (``"loss"``) ratios, cached."""
        if which not in self._sorted:
            self._sorted[which] = np.sort(self._ratio(which))
        return self._sorted[which]

    # --- quantiles ---------------------------------------------------------
    def trdr(self, p: float) -> float:
        """TRDR for target default probability ``p``: the (1 - p) quantile of the default ratio."""
        return self.quantile_ci(p, "default").value

    def trlr(self, p: float) -> float:
        """TRLR for target default probability ``p``: the (1 - p) quantile of the loss ratio."""
        return self.quantile_ci(p, "loss").value

    def quantile_ci(self, p: float, which: str = "default", confidence: float = 0.95) -> QuantileEstimate:
        """(1 - p) quantile of the default or loss ratio with its CI and standard error."""
        return quantile_estimate(self.sorted(which), p, confidence)

    # --- distributions -----------------------------------------------------
    def mean(self, which: str = "default") -> float:
        """Mean ratio (fraction)."""
        return float(np.mean(self._ratio(which)))

    def std(self, which: str = "default") -> float:
        """Standard deviation of the ratio (fraction, ddof=1)."""
        return float(np.std(self._ratio(which), ddof=1))

    def quantiles(self, levels, which: str = "default") -> np.ndarray:
        """Empirical quantiles (inverse CDF, no interpolation) at ``levels`` in (0, 1]."""
        s = self.sorted(which)
        lv = np.asarray(levels, dtype=float)
        if not np.all((lv > 0) & (lv <= 1)):
            bad = np.ravel(lv[~((lv > 0) & (lv <= 1))] if lv.ndim else lv)
            raise ValidationError([Problem("levels", "quantile levels must be fractions in (0, 1] "
                                           "(0.99, not 99)", float(bad[0]))])
        k = np.clip(np.ceil(lv * s.size - 1e-9).astype(int), 1, s.size)
        return s[k - 1]

    def histogram(self, which: str = "default", bins: int = 100):
        """(counts, bin_edges) of the ratio on [0, max] (counts sum to n_paths)."""
        x = self._ratio(which)
        top = float(x.max()) if x.size and x.max() > 0 else 1.0
        return np.histogram(x, bins=bins, range=(0.0, top))

    # --- per-rating targets --------------------------------------------------
    def rating_table(self, term_years: float, table: DefaultRateTable | None = None,
                     ratings=SCALE[:17], confidence: float = 0.95) -> list[dict]:
        """TRDR_r and TRLR_r for each rating r (METHODOLOGY §4.5, §2.1).

        Parameters
        ----------
        term_years : float
            Term of the tranche in years; P_A(r) = table PD of r at that term.
        table : DefaultRateTable, optional
            Default: the shipped table.
        ratings : sequence of str
            Ratings to report (default AAAsf..CCCsf; CCsf/Csf have P_A = 1).

        Returns
        -------
        list of dict
            ``rating``, ``p_a``, ``trdr``, ``trdr_lower``, ``trdr_upper``,
            ``trdr_se``, ``trlr``, ``trlr_lower``, ``trlr_upper``, ``trlr_se``.
        """
        table = table or shipped_table()
        out = []
        for r in ratings:
            pa = float(table.probability(r, term_years))
            row = {"rating": r, "p_a": pa}
            for which, key in (("default", "trdr"), ("loss", "trlr")):
                if 0.0 < pa < 1.0:
                    q = self.quantile_ci(pa, which, confidence)
                    row.update({key: q.value, f"{key}_lower": q.lower, f"{key}_upper": q.upper,
                                f"{key}_se": q.std_error})
                else:
                    row.update({key: float("nan"), f"{key}_lower": float("nan"),
                                f"{key}_upper": float("nan"), f"{key}_se": float("nan")})
            out.append(row)
        return out

    def convergence(self, p: float, which: str = "default", steps: int = 5) -> list[dict]:
        """Quantile estimate on the first n/2^s paths, s = steps-1..0 (e.g. 1/16 .. 1 of the paths).

        Returns a list of dicts with ``n_paths``, ``value``, ``lower``, ``upper``;
        a stable ``value`` inside the shrinking interval shows convergence.
        """
        x = self._ratio(which)
        out = []
        for s in range(steps - 1, -1, -1):
            m = self.n_paths >> s
            if m < 1:
                continue
            q = quantile_estimate(np.sort(x[:m]), p)
            out.append({"n_paths": m, "value": q.value, "lower": q.lower, "upper": q.upper})
        return out

    def summary(self) -> dict:
        """Means, standard deviations and the seed/n_paths record."""
        return {"seed": self.seed, "n_paths": self.n_paths, "n_obligors": self.n_obligors,
                "n_months": self.n_months,
                "default_ratio_mean": self.mean("default"), "default_ratio_std": self.std("default"),
                "loss_ratio_mean": self.mean("loss"), "loss_ratio_std": self.std("loss")}
