"""Profile-likelihood confidence interval of the EC50.

For each fixed ln EC50 the other parameters are re-optimised (the asymptotes exactly, the
Hill slope by a grid plus Brent's method), giving the profile RSS_p(ln e).  The interval
is where RSS_p ≤ RSS_min·(1 + F(conf; 1, df)/df) — the F form of the likelihood-ratio
interval for least squares (Venzon & Moolgavkar 1988; the "profile likelihood" interval
of GraphPad Prism).  It is asymmetric in dose units and needs no linearisation.  A limit
that does not exist within the EC50 search range is reported as 0 or ∞ with a warning.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from analysis.ll4 import profile_cd

_N_GRID = 48


def profile_rss(x: np.ndarray, y: np.ndarray, loge: float, sign: float, fixed_c: float | None,
                fixed_d: float | None, b_range: tuple[float, float],
                bounds: tuple[float, float] | None = None) -> float:
    """min over the Hill slope (of the given sign) and the asymptotes of RSS at fixed ln e."""
    lb = np.linspace(math.log(b_range[0]), math.log(b_range[1]), _N_GRID)
    _, _, rss = profile_cd(x, y, sign * np.exp(lb), np.full(_N_GRID, loge), fixed_c, fixed_d, bounds)
    i = int(np.argmin(rss))
    lo, hi = lb[max(i - 1, 0)], lb[min(i + 1, _N_GRID - 1)]
    if hi <= lo:
        return float(rss[i])

    def f(v: float) -> float:
        return float(profile_cd(x, y, np.array([sign * math.exp(v)]), np.array([loge]), fixed_c, fixed_d, bounds)[2][0])

    r = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return float(min(r.fun, rss[i]))


def profile_ci(data, theta: np.ndarray, rss: float, df: int, conf: float,
               fixed_c: float | None = None, fixed_d: float | None = None
               ) -> tuple[tuple[float, float], list[str]]:
    """(lower, upper) EC50 limits and the reasons the EC50 is not determined by them (a
    limit that does not exist within the search range: an open interval)."""
    from analysis.fit import B_MAX, B_MIN

    crit = rss * (1.0 + stats.f.ppf(conf, 1, df) / df)
    sign = 1.0 if theta[0] >= 0 else -1.0
    lo_le, hi_le = data.loge_bounds
    le0 = float(theta[3])

    def excess(le: float) -> float:
        return profile_rss(data.x, data.y, le, sign, fixed_c, fixed_d, (B_MIN, B_MAX), data.asymptote_bounds) - crit

    warnings: list[str] = []
    if excess(le0) > 0:  # the profile search cannot reach the fit's own minimum: no interval to trace
        return (math.nan, math.nan), ["the EC50's profile likelihood could not be traced from the fit's minimum"]
    limits = []
    for direction, bound in ((-1.0, lo_le), (1.0, hi_le)):
        step = 0.05
        inside = le0
        found = None
        while True:
            trial = le0 + direction * step
            if (trial - bound) * direction >= 0:
                trial = bound
            if excess(trial) > 0:
                found = trial
                break
            inside = trial
            if trial == bound:
                break
            step *= 1.6
        if found is None:
            limits.append(0.0 if direction < 0 else math.inf)
            warnings.append(f"the EC50's {'lower' if direction < 0 else 'upper'} {100 * conf:g} % confidence "
                            f"limit is not defined by the data (open {100 * conf:g} % CI)")
            continue
        root = optimize.brentq(excess, min(inside, found), max(inside, found), xtol=1e-10, rtol=1e-12)
        limits.append(math.exp(root))
    return (float(limits[0]), float(limits[1])), warnings
