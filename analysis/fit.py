"""Four-parameter logistic dose–response fits with the statistics a paper needs.

``fit_ll4(dose, response)`` fits drc's ``LL.4`` (= Prism's four-parameter logistic on log
dose; see ``analysis.ll4``) by least squares, as drc does, and reports:

* EC50 with a **profile-likelihood** 95 % CI (``ec50_ci``; asymmetric, the F-based
  criterion RSS ≤ RSS_min·(1 + F(1, df)/df) that Prism uses) and drc's delta-method CI
  (``ec50_ci_wald``);
* Hill slope (Prism sign: positive = rising curve), top and bottom with standard errors
  and t-based CIs; the standard errors come from the observed information (the Hessian
  of the residual sum of squares, σ² = RSS/df), as in drc's ``summary``;
* R², AIC/AICc (R's Gaussian log-likelihood, k = parameters + 1), and the lack-of-fit F
  test against one mean per dose (drc ``modelFit``) when doses are replicated.

Robustness: a grid search over (Hill slope, log EC50) with the two asymptotes solved
exactly at each grid point finds the global minimum, then a bounded trust-region
refinement polishes it.  EC50 is kept within 1000× beyond the tested doses and |Hill|
within 0.05–50; a fit that ends on such a bound says so in ``warnings`` and sets
``converged`` False instead of returning absurd numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
from scipy import optimize, stats

from analysis.ll4 import inverse, jacobian, model, profile_cd

B_MIN, B_MAX = 0.05, 50.0
EC50_RANGE = 1000.0  # EC50 may lie this factor beyond the lowest/highest positive dose
ASYMPTOTE_RANGE = 2.0  # top and bottom may lie this many response ranges beyond the data


class FitError(ValueError):
    """The data cannot support the fit; the message says why."""


@dataclass(frozen=True)
class FitData:
    """Validated dose–response data (finite, dose ≥ 0), and the range allowed to the
    asymptotes (``limits``: physical limits of the response, e.g. ≥ −100 % change)."""

    x: np.ndarray
    y: np.ndarray
    limits: tuple[float, float] = (-math.inf, math.inf)

    @classmethod
    def of(cls, dose, response, limits: tuple[float, float] | None = None) -> FitData:
        x = np.asarray(dose, dtype=np.float64).reshape(-1)
        y = np.asarray(response, dtype=np.float64).reshape(-1)
        if len(x) != len(y):
            raise FitError(f"dose and response differ in length ({len(x)} vs {len(y)})")
        if np.any(x[np.isfinite(x)] < 0):
            raise FitError(f"doses must be ≥ 0; got {x[np.isfinite(x) & (x < 0)][:3].tolist()}")
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        levels = np.unique(x)
        pos = levels[levels > 0]
        if len(pos) < 3 or len(levels) < 4:
            raise FitError(f"a 4-parameter fit needs at least 4 distinct doses, 3 of them positive; "
                           f"got {len(levels)} distinct doses ({len(pos)} positive)")
        if len(x) < 5:
            raise FitError(f"a 4-parameter fit with confidence intervals needs at least 5 points, got {len(x)}")
        if np.ptp(y) == 0:
            raise FitError("all responses are equal: there is no dose–response to fit")
        lim = limits or (-math.inf, math.inf)
        if not lim[0] < lim[1]:
            raise FitError(f"response limits must be (low, high) with low < high, got {lim}")
        return cls(x, y, (float(lim[0]), float(lim[1])))

    @property
    def log_dose_range(self) -> tuple[float, float]:
        pos = self.x[self.x > 0]
        return float(np.log(pos.min())), float(np.log(pos.max()))

    @cached_property
    def asymptote_bounds(self) -> tuple[float, float]:
        """Top and bottom are kept within two response ranges beyond the data."""
        lo, hi = float(self.y.min()), float(self.y.max())
        span = max(hi - lo, 1e-12)
        return max(lo - ASYMPTOTE_RANGE * span, self.limits[0]), min(hi + ASYMPTOTE_RANGE * span, self.limits[1])

    @property
    def loge_bounds(self) -> tuple[float, float]:
        lo, hi = self.log_dose_range
        return lo - math.log(EC50_RANGE), hi + math.log(EC50_RANGE)


@dataclass(frozen=True)
class FitResult:
    ec50: float
    ec50_ci: tuple[float, float]  # profile likelihood
    hill: float  # Prism HillSlope (= −b of LL.4); > 0 rising, < 0 falling
    top: float  # LL.4 d: the response as the Hill term → 0 … Prism "Top"
    bottom: float  # LL.4 c: Prism "Bottom"
    dose_unit: str
    se: dict[str, float]
    ci: dict[str, tuple[float, float]]  # Wald (t) CIs of hill, top, bottom
    ec50_ci_wald: tuple[float, float]
    r_squared: float
    aic: float
    aicc: float
    rss: float
    df: int
    n_points: int
    n_doses: int
    lack_of_fit: dict[str, float] | None
    converged: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    conf: float = 0.95
    fixed: dict[str, float] = field(default_factory=dict)
    vcov: np.ndarray | None = field(default=None, repr=False, compare=False)  # of (b, c, d, ln e)

    @property
    def theta(self) -> np.ndarray:
        return np.array([-self.hill, self.bottom, self.top, math.log(self.ec50)])

    @property
    def drc(self) -> dict[str, float]:
        """The parameters under drc's names."""
        return {"b": -self.hill, "c": self.bottom, "d": self.top, "e": self.ec50}

    def predict(self, dose) -> np.ndarray:
        return model(np.asarray(dose, dtype=np.float64), self.theta)

    def band(self, dose) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence band (delta method, t quantile) of the fitted curve."""
        x = np.asarray(dose, dtype=np.float64)
        f = self.predict(x)
        if self.vcov is None or self.df <= 0:
            return f * np.nan, f * np.nan
        jac = jacobian(x, self.theta)
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, self.vcov, jac), 0, None))
        t = stats.t.ppf(0.5 + self.conf / 2, self.df)
        return f - t * se, f + t * se

    def ed(self, percent: float) -> tuple[float, float]:
        """Dose giving ``percent`` % of the effect from the zero-dose level towards the other
        asymptote (drc ``ED(…, type = "relative")``) and its delta-method standard error."""
        if not 0 < percent < 100:
            raise ValueError(f"percent must be between 0 and 100, got {percent}")
        b, _, _, loge = self.theta
        p = percent / 100.0
        r = p / (1 - p) if b > 0 else (1 - p) / p
        val = math.exp(loge) * r ** (1 / b)
        if self.vcov is None:
            return val, float("nan")
        grad = np.array([-val * math.log(r) / b**2, 0.0, 0.0, val])
        return val, float(math.sqrt(max(grad @ self.vcov @ grad, 0.0)))

    def dose_at(self, response: float) -> float:
        """Dose at which the fitted curve reaches ``response`` (NaN if it never does)."""
        return inverse(response, self.theta)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("vcov", None)
        d["ec50_ci"] = list(self.ec50_ci)
        d["ec50_ci_wald"] = list(self.ec50_ci_wald)
        d["ci"] = {k: list(v) for k, v in self.ci.items()}
        d["warnings"] = list(self.warnings)
        d["log10_ec50"] = math.log10(self.ec50) if self.ec50 > 0 else float("nan")
        return d


def _rss(x, y, theta) -> float:
    r = y - model(x, theta)
    return float(r @ r)


def grid_start(data: FitData, fixed_c: float | None = None, fixed_d: float | None = None,
               loge: float | None = None) -> np.ndarray:
    """The best (b, c, d, ln e) on a grid of slopes × log EC50 (or slopes only, ``loge`` given)."""
    lo, hi = data.log_dose_range
    slopes = np.geomspace(B_MIN * 4, B_MAX / 2, 14)
    slopes = np.concatenate([-slopes, slopes])
    les = np.array([loge]) if loge is not None else np.linspace(lo - 1.5, hi + 1.5, 41)
    bb, ll = np.meshgrid(slopes, les, indexing="ij")
    c, d, rss = profile_cd(data.x, data.y, bb, ll, fixed_c, fixed_d, data.asymptote_bounds)
    i = np.unravel_index(int(np.nanargmin(rss)), rss.shape)
    return np.array([bb[i], c[i], d[i], ll[i]])


def _refine(data: FitData, theta0: np.ndarray, free: np.ndarray) -> optimize.OptimizeResult:
    lo_le, hi_le = data.loge_bounds
    sign = 1.0 if theta0[0] >= 0 else -1.0
    lo_y, hi_y = data.asymptote_bounds
    lower = np.array([B_MIN if sign > 0 else -B_MAX, lo_y, lo_y, lo_le])[free]
    upper = np.array([B_MAX if sign > 0 else -B_MIN, hi_y, hi_y, hi_le])[free]
    eps = 1e-9 * np.maximum(np.abs(np.where(np.isfinite(lower), lower, 0.0)), 1.0)
    p0 = np.minimum(np.maximum(theta0[free], lower + eps), upper - eps)
    full = theta0.copy()

    def resid(p):
        full[free] = p
        return model(data.x, full) - data.y

    def jac(p):
        full[free] = p
        return jacobian(data.x, full)[:, free]

    scale = np.array([1.0, max(np.ptp(data.y), 1e-12), max(np.ptp(data.y), 1e-12), 1.0])[free]
    return optimize.least_squares(resid, p0, jac=jac, bounds=(lower, upper), method="trf", x_scale=scale,
                                  ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=2000)


def hessian_rss(data: FitData, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Hessian of RSS(θ) in the free parameters (central differences of the exact gradient)."""
    idx = np.flatnonzero(free)

    def grad(t):
        r = data.y - model(data.x, t)
        return (-2.0 * jacobian(data.x, t).T @ r)[idx]

    k = len(idx)
    h = np.empty((k, k))
    for j, i in enumerate(idx):
        step = 1e-5 * max(abs(theta[i]), 1e-2)
        tp, tm = theta.copy(), theta.copy()
        tp[i] += step
        tm[i] -= step
        h[:, j] = (grad(tp) - grad(tm)) / (2 * step)
    return 0.5 * (h + h.T)


def lack_of_fit(data: FitData, rss: float, n_params: int) -> dict[str, float] | None:
    """Lack-of-fit F test of the curve against one mean per dose (needs replicates)."""
    levels, inv = np.unique(data.x, return_inverse=True)
    means = np.bincount(inv, data.y) / np.bincount(inv)
    ss_pe = float(np.sum((data.y - means[inv]) ** 2))
    df_pe = len(data.x) - len(levels)
    df_lof = len(levels) - n_params
    if df_pe <= 0 or df_lof <= 0:
        return None
    ss_lof = rss - ss_pe
    if ss_pe <= 0:
        return {"F": float("inf"), "df_lack_of_fit": df_lof, "df_pure_error": df_pe, "p": 0.0,
                "rss_pure_error": ss_pe}
    f = (ss_lof / df_lof) / (ss_pe / df_pe)
    return {"F": float(f), "df_lack_of_fit": df_lof, "df_pure_error": df_pe,
            "p": float(stats.f.sf(f, df_lof, df_pe)), "rss_pure_error": ss_pe}


def fit_ll4(dose, response, dose_unit: str = "nA", conf: float = 0.95,
            fixed_bottom: float | None = None, fixed_top: float | None = None,
            limits: tuple[float, float] | None = None, profile: bool = True) -> FitResult:
    """Fit LL.4 to (dose, response) pairs (replicates and dose 0 allowed).

    ``fixed_bottom``/``fixed_top`` fix c/d (e.g. bottom = −100 % for complete inhibition;
    with bottom = 0 the model is drc's LL.3).  ``limits`` = (low, high) keeps both
    asymptotes within what the response can physically be (a firing rate cannot fall
    below −100 % of its baseline).  ``profile=False`` skips the profile-likelihood CI (NaN).
    Raises ``FitError`` when the data cannot support the fit."""
    from analysis.fit_profile import profile_ci  # circular at import time otherwise

    data = FitData.of(dose, response, limits)
    free = np.array([True, fixed_bottom is None, fixed_top is None, True])
    theta0 = grid_start(data, fixed_bottom, fixed_top)
    if fixed_bottom is not None:
        theta0[1] = fixed_bottom
    if fixed_top is not None:
        theta0[2] = fixed_top
    res = _refine(data, theta0, free)
    theta = theta0.copy()
    theta[free] = res.x
    rss = _rss(data.x, data.y, theta)
    if rss > _rss(data.x, data.y, theta0):  # never worse than the grid
        theta, rss = theta0, _rss(data.x, data.y, theta0)
    if fixed_bottom is None and fixed_top is None and theta[1] > theta[2]:
        # LL.4 is symmetric under (b, c, d) → (−b, d, c): report drc's and Prism's form, top ≥ bottom
        theta = np.array([-theta[0], theta[2], theta[1], theta[3]])
    n, k = len(data.x), int(free.sum())
    df = n - k
    warnings: list[str] = []
    lo_le, hi_le = data.loge_bounds
    if abs(theta[3] - lo_le) < 1e-6 or abs(theta[3] - hi_le) < 1e-6:
        warnings.append(f"EC50 ran to the search limit ({EC50_RANGE:g}× beyond the tested doses): "
                        "the data show no half-maximal point")
    if abs(abs(theta[0]) - B_MAX) < 1e-6 * B_MAX:
        warnings.append(f"the Hill slope ran to its limit ({B_MAX:g}): the curve is a step between two doses")
    if abs(abs(theta[0]) - B_MIN) < 1e-6:
        warnings.append(f"the Hill slope ran to its limit ({B_MIN:g}): the data show no sigmoid")
    lo_y, hi_y = data.asymptote_bounds
    for name, v in (("bottom", theta[1]), ("top", theta[2])):
        if not free[1 if name == "bottom" else 2]:
            continue
        for bound, physical in ((lo_y, lo_y == data.limits[0]), (hi_y, hi_y == data.limits[1])):
            if abs(v - bound) < 1e-6 * max(hi_y - lo_y, 1e-12):
                if physical:
                    warnings.append(f"the {name} is at the response limit {bound:g}")
                else:
                    warnings.append(f"the {name} ran to its limit ({ASYMPTOTE_RANGE:g} response ranges beyond "
                                    "the data): the data show no plateau there")
    s2 = rss / df if df > 0 else float("nan")
    vcov_full = None
    se = dict.fromkeys(("hill", "bottom", "top", "ec50", "log_ec50"), float("nan"))
    if df > 0 and rss > 0:
        try:
            h = hessian_rss(data, theta, free)
            cov = np.linalg.inv(h / (2 * s2))
            if np.all(np.isfinite(cov)) and np.all(np.diag(cov) >= 0):
                vcov_full = np.zeros((4, 4))
                vcov_full[np.ix_(free, free)] = cov
                sd = np.sqrt(np.diag(vcov_full))
                se = {"hill": float(sd[0]), "bottom": float(sd[1]), "top": float(sd[2]),
                      "log_ec50": float(sd[3]), "ec50": float(math.exp(theta[3]) * sd[3])}
            else:
                warnings.append("the fit's information matrix is not positive definite: no standard errors")
        except np.linalg.LinAlgError:
            warnings.append("the fit's information matrix is singular: no standard errors")
    t = stats.t.ppf(0.5 + conf / 2, df) if df > 0 else float("nan")
    est = {"hill": -theta[0], "bottom": theta[1], "top": theta[2]}
    ci = {name: (float(est[name] - t * se[name]), float(est[name] + t * se[name])) for name in est}
    ec50 = float(math.exp(theta[3]))
    wald = (ec50 - t * se["ec50"], ec50 + t * se["ec50"])
    tss = float(np.sum((data.y - data.y.mean()) ** 2))
    loglik = -0.5 * n * (math.log(2 * math.pi) + 1 + math.log(max(rss, 1e-300) / n))
    kk = k + 1
    aic = -2 * loglik + 2 * kk
    aicc = aic + (2 * kk * (kk + 1) / (n - kk - 1) if n - kk - 1 > 0 else float("inf"))
    prof = (float("nan"), float("nan"))
    if df > 0 and rss > 0 and profile:
        prof, prof_warn = profile_ci(data, theta, rss, df, conf, fixed_bottom, fixed_top)
        warnings.extend(prof_warn)
    fixed = {k2: v for k2, v in (("bottom", fixed_bottom), ("top", fixed_top)) if v is not None}
    return FitResult(
        ec50=ec50, ec50_ci=prof, hill=float(-theta[0]), top=float(theta[2]), bottom=float(theta[1]),
        dose_unit=dose_unit, se=se, ci=ci, ec50_ci_wald=(float(wald[0]), float(wald[1])),
        r_squared=1 - rss / tss if tss > 0 else float("nan"), aic=aic, aicc=aicc, rss=rss, df=df, n_points=n,
        n_doses=len(np.unique(data.x)), lack_of_fit=lack_of_fit(data, rss, k),
        converged=bool(res.success) and not any("ran to" in w for w in warnings),
        message=str(res.message), warnings=tuple(warnings), conf=conf, fixed=fixed, vcov=vcov_full,
    )
