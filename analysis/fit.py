"""Four-parameter logistic dose–response fits (drc ``LL.4`` / Prism parameterisation).

drc LL.4:  f(x) = c + (d − c) / (1 + exp(b·(ln x − ln e)))
Prism:     Y = Bottom + (Top − Bottom) / (1 + 10^((LogEC50 − X)·HillSlope)),  X = log10 x

so Bottom = c, Top = d, EC50 = e, HillSlope = −b.  Least squares (normal errors); dose 0
is allowed (f(0) = c for b < 0, d for b > 0).  The EC50's 95 % CI is a Wald interval on
ln(EC50) with Student-t quantiles (asymmetric in dose units).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class FitResult:
    ec50: float
    ec50_ci: tuple[float, float]
    hill: float  # Prism HillSlope (= −b of LL.4)
    top: float
    bottom: float
    dose_unit: str
    se: dict[str, float]
    r_squared: float
    n_points: int
    df: int
    rss: float
    converged: bool
    message: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ec50_ci"] = list(self.ec50_ci)
        return d


def ll4(x: np.ndarray, b: float, c: float, d: float, e: float) -> np.ndarray:
    """drc's LL.4 model for doses x >= 0 (e > 0).  At x = 0 it takes its limit: c for b < 0,
    d for b > 0."""
    x = np.asarray(x, dtype=np.float64)
    pos = x > 0
    z = np.empty_like(x)
    with np.errstate(over="ignore"):
        z[pos] = np.exp(b * (np.log(x[pos]) - np.log(e)))
    z[~pos] = np.inf if b < 0 else (0.0 if b > 0 else 1.0)
    return c + (d - c) / (1.0 + z)


def fit_ll4(dose: np.ndarray, response: np.ndarray, dose_unit: str = "nA", conf: float = 0.95) -> FitResult:
    """Fit LL.4 to (dose, response) pairs (replicates allowed).  Raises ``ValueError`` when
    the data cannot support a 4-parameter fit (fewer than 3 distinct positive doses)."""
    x = np.asarray(dose, dtype=np.float64)
    y = np.asarray(response, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x >= 0)
    x, y = x[ok], y[ok]
    pos = np.unique(x[x > 0])
    if len(pos) < 3:
        raise ValueError(f"a 4-parameter fit needs at least 3 distinct positive doses, got {len(pos)}")
    if len(x) < 4:
        raise ValueError(f"a 4-parameter fit needs at least 4 points, got {len(x)}")
    # starting values: response at lowest vs highest dose decides the direction
    lo_y = y[x == x.min()].mean()
    hi_y = y[x == x.max()].mean()
    c0, d0 = lo_y, hi_y
    e0 = float(np.exp(np.mean(np.log(pos))))
    best = None
    for b0 in (-1.0, -2.0, -0.5, 1.0):
        p0 = np.array([b0, c0, d0, math.log(e0)])
        try:
            res = optimize.least_squares(
                lambda p: ll4(x, p[0], p[1], p[2], math.exp(p[3])) - y, p0, method="lm", max_nfev=20000
            )
        except (ValueError, FloatingPointError):
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None:
        raise ValueError("the 4-parameter fit failed to converge")
    b, c, d, loge = best.x
    n, k = len(x), 4
    df = n - k
    rss = float(2 * best.cost)
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - rss / tss if tss > 0 else float("nan")
    J = best.jac
    se = {"hill": float("nan"), "bottom": float("nan"), "top": float("nan"), "ec50": float("nan"),
          "log_ec50": float("nan")}
    lo, hi = float("nan"), float("nan")
    if df > 0:
        s2 = rss / df
        try:
            cov = np.linalg.inv(J.T @ J) * s2
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            se = {"hill": float(sd[0]), "bottom": float(sd[1]), "top": float(sd[2]),
                  "log_ec50": float(sd[3]), "ec50": float(math.exp(loge) * sd[3])}
            t = stats.t.ppf(0.5 + conf / 2, df)
            lo = math.exp(max(loge - t * sd[3], -700.0))
            hi = math.exp(min(loge + t * sd[3], 700.0))
        except np.linalg.LinAlgError:
            pass
    # orient as Prism: HillSlope = -b; Top/Bottom as in LL.4 d/c
    return FitResult(
        ec50=float(math.exp(loge)), ec50_ci=(lo, hi), hill=float(-b), top=float(d), bottom=float(c),
        dose_unit=dose_unit, se=se, r_squared=float(r2), n_points=n, df=df, rss=rss,
        converged=bool(best.success), message=str(best.message),
    )
