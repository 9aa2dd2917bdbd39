"""Four-parameter logistic dose–response fits with the statistics a paper needs.

``fit_ll4(dose, response)`` fits drc's ``LL.4`` (= Prism's four-parameter logistic on log
dose; see ``analysis.ll4``) by least squares, as drc does, and reports:

* EC50 with a **profile-likelihood** CI at the level ``conf`` (``ec50_ci``; asymmetric, the
  F-based criterion RSS ≤ RSS_min·(1 + F(1, df)/df) that Prism uses) and drc's
  delta-method CI (``ec50_ci_wald``); every CI is labelled with its level (``ci_label``);
* Hill slope (Prism sign: positive = rising curve), top and bottom with standard errors
  and t-based CIs; the standard errors come from the observed information (the Hessian
  of the residual sum of squares, σ² = RSS/df), as in drc's ``summary``;
* R², AIC/AICc (R's Gaussian log-likelihood, k = parameters + 1), the lack-of-fit F test
  against one mean per dose (drc ``modelFit``) when doses are replicated, and the F test
  of the curve against a flat line (no dose dependence);
* a **status** — ``fitted``, ``at a search limit`` or ``not determinable`` — with its
  reasons (``reasons``).  A not-determinable EC50 is never shown as a number
  (``ec50_text``, ``as_dict``): the EC50 ran to its search limit or lies outside the tested
  doses, its CI is open, the Hill slope ran to its lower limit, or the curve explains
  (almost) nothing (R² < 0.1, or no better than a flat line at p ≥ 0.05).  ``at a search
  limit``: the EC50 is determined, but the Hill slope (a step) or an asymptote (no
  plateau in the data) ended on its search bound.

Robustness: the data are scaled to dimensionless form first (dose ÷ the geometric mean of
the positive doses, response − mid-range ÷ range), so every tolerance is relative: doses
or responses scaled by anything from 1e-12 to 1e12 give the same fit.  A grid search over
(Hill slope, log EC50) with the two asymptotes solved exactly at each grid point finds the
global minimum, then a bounded trust-region refinement polishes it.  EC50 is kept within
1000× beyond the tested doses and |Hill| within 0.05–50.
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
R2_MIN = 0.1  # a curve explaining less of the variance than this determines no EC50
FLAT_ALPHA = 0.05  # the curve must beat a flat line (F test) at this level
LACK_OF_FIT_ALPHA = 0.05

FITTED, AT_LIMIT, NOT_DETERMINABLE = "fitted", "at a search limit", "not determinable"
STATUSES = (FITTED, AT_LIMIT, NOT_DETERMINABLE)


def ci_label(conf: float) -> str:
    """How a confidence interval at level ``conf`` is named everywhere: ``"95 % CI"``."""
    return f"{100 * conf:g} % CI"


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
        span = hi - lo  # > 0: FitData.of refuses equal responses
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
    status: str = FITTED  # FITTED, AT_LIMIT or NOT_DETERMINABLE
    reasons: tuple[str, ...] = ()  # why the status is not FITTED
    tested_doses: tuple[float, float] = (math.nan, math.nan)  # lowest and highest positive dose
    points: str = ""  # what one data point is (e.g. "one per ejection"), for every table and figure
    flat_p: float = math.nan  # F test of the curve against a flat line

    @property
    def determinable(self) -> bool:
        """False when the data do not determine the EC50: then it is never shown as a number."""
        return self.status != NOT_DETERMINABLE

    @property
    def ci_label(self) -> str:
        return ci_label(self.conf)

    def ec50_text(self, digits: int = 3) -> str:
        """The EC50 as shown to people: ``12.3 nA`` or ``not determinable``."""
        if not self.determinable:
            return NOT_DETERMINABLE
        return f"{self.ec50:.{digits}g}" + (f" {self.dose_unit}" if self.dose_unit else "")

    def ec50_ci_text(self, digits: int = 3) -> str:
        """``95 % CI 8.1–17.4`` (profile likelihood), or ``—`` when not determinable."""
        if not self.determinable:
            return "—"
        lo, hi = self.ec50_ci
        return f"{self.ci_label} {_num(lo, digits)}–{_num(hi, digits)}"

    def status_text(self) -> str:
        """``fitted``, or the status and its reasons in one line."""
        return self.status if not self.reasons else f"{self.status}: {'; '.join(self.reasons)}"

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
        """Plain values; a not-determinable EC50 (and its CIs, SE and I50-like doses) is None."""
        d = asdict(self)
        d.pop("vcov", None)
        d["ec50_ci"] = list(self.ec50_ci)
        d["ec50_ci_wald"] = list(self.ec50_ci_wald)
        d["ci"] = {k: list(v) for k, v in self.ci.items()}
        d["warnings"] = list(self.warnings)
        d["reasons"] = list(self.reasons)
        d["tested_doses"] = list(self.tested_doses)
        d["ci_label"] = self.ci_label
        d["log10_ec50"] = math.log10(self.ec50) if self.ec50 > 0 else float("nan")
        if not self.determinable:
            d.update(ec50=None, ec50_ci=[None, None], ec50_ci_wald=[None, None], log10_ec50=None)
            d["se"] = {**d["se"], "ec50": None, "log_ec50": None}
        return d


def _num(v: float, digits: int) -> str:
    if math.isnan(v):
        return "?"
    return "∞" if v == math.inf else f"{v:.{digits}g}"


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

    return optimize.least_squares(resid, p0, jac=jac, bounds=(lower, upper), method="trf",
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
    counts = np.bincount(inv)
    means = np.bincount(inv, data.y) / counts
    replicated = int(np.sum(counts > 1))
    ss_pe = float(np.sum((data.y - means[inv]) ** 2))
    df_pe = len(data.x) - len(levels)
    df_lof = len(levels) - n_params
    if df_pe <= 0 or df_lof <= 0:
        return None
    ss_lof = rss - ss_pe
    if ss_pe <= 0:
        return {"F": float("inf"), "df_lack_of_fit": df_lof, "df_pure_error": df_pe, "p": 0.0,
                "rss_pure_error": ss_pe, "replicated_doses": replicated}
    f = (ss_lof / df_lof) / (ss_pe / df_pe)
    return {"F": float(f), "df_lack_of_fit": df_lof, "df_pure_error": df_pe,
            "p": float(stats.f.sf(f, df_lof, df_pe)), "rss_pure_error": ss_pe, "replicated_doses": replicated}


@dataclass(frozen=True)
class Scale:
    """The affine map between the user's units and the dimensionless problem the fit solves:
    x' = x / dose, y' = (y − centre) / span.  LL.4 is equivariant under it (ln e' = ln e −
    ln dose; c', d' like y), so all tolerances act on numbers of order one."""

    dose: float
    centre: float
    span: float

    @classmethod
    def of(cls, data: FitData) -> Scale:
        pos = np.unique(data.x[data.x > 0])
        lo, hi = float(data.y.min()), float(data.y.max())
        return cls(float(np.exp(np.mean(np.log(pos)))), 0.5 * (lo + hi), hi - lo)

    def response(self, y: float | None) -> float | None:
        return None if y is None else (y - self.centre) / self.span

    def data(self, data: FitData) -> FitData:
        lim = tuple(v if math.isinf(v) else (v - self.centre) / self.span for v in data.limits)
        return FitData(data.x / self.dose, (data.y - self.centre) / self.span, (float(lim[0]), float(lim[1])))

    def theta(self, t: np.ndarray) -> np.ndarray:
        """Scaled (b, c, d, ln e) → the user's units."""
        return np.array([t[0], t[1] * self.span + self.centre, t[2] * self.span + self.centre,
                         t[3] + math.log(self.dose)])

    def scaled_theta(self, t: np.ndarray) -> np.ndarray:
        """The user's (b, c, d, ln e) → scaled (the inverse of ``theta``)."""
        return np.array([t[0], (t[1] - self.centre) / self.span, (t[2] - self.centre) / self.span,
                         t[3] - math.log(self.dose)])

    def vcov(self, v: np.ndarray) -> np.ndarray:
        j = np.array([1.0, self.span, self.span, 1.0])
        return v * np.outer(j, j)


def fit_ll4(dose, response, dose_unit: str = "nA", conf: float = 0.95,
            fixed_bottom: float | None = None, fixed_top: float | None = None,
            limits: tuple[float, float] | None = None, profile: bool = True, points: str = "") -> FitResult:
    """Fit LL.4 to (dose, response) pairs (replicates and dose 0 allowed).

    ``fixed_bottom``/``fixed_top`` fix c/d (e.g. bottom = −100 % for complete inhibition;
    with bottom = 0 the model is drc's LL.3).  ``limits`` = (low, high) keeps both
    asymptotes within what the response can physically be (a firing rate cannot fall
    below −100 % of its baseline).  ``profile=False`` skips the profile-likelihood CI (NaN).
    ``points`` says what one data point is (shown with the fit everywhere).
    Raises ``FitError`` when the data cannot support the fit."""
    from analysis.fit_profile import profile_ci  # circular at import time otherwise

    if not 0 < conf < 1:
        raise FitError(f"the confidence level must be between 0 and 1, got {conf}")
    raw = FitData.of(dose, response, limits)
    sc = Scale.of(raw)
    data = sc.data(raw)
    fb, ft = sc.response(fixed_bottom), sc.response(fixed_top)
    free = np.array([True, fb is None, ft is None, True])
    theta0 = grid_start(data, fb, ft)
    if fb is not None:
        theta0[1] = fb
    if ft is not None:
        theta0[2] = ft
    res = _refine(data, theta0, free)
    theta = theta0.copy()
    theta[free] = res.x
    rss = _rss(data.x, data.y, theta)
    if rss > _rss(data.x, data.y, theta0):  # never worse than the grid
        theta, rss = theta0, _rss(data.x, data.y, theta0)
    if fb is None and ft is None and theta[1] > theta[2]:
        # LL.4 is symmetric under (b, c, d) → (−b, d, c): report drc's and Prism's form, top ≥ bottom
        theta = np.array([-theta[0], theta[2], theta[1], theta[3]])
    n, k = len(data.x), int(free.sum())
    df = n - k
    not_det: list[str] = []  # reasons the EC50 is not determined
    at_limit: list[str] = []  # reasons it is determined but something else ran to a bound
    warnings: list[str] = []
    lo_le, hi_le = data.loge_bounds
    if abs(theta[3] - lo_le) < 1e-6 or abs(theta[3] - hi_le) < 1e-6:
        not_det.append(f"EC50 ran to the search limit ({EC50_RANGE:g}× beyond the tested doses): "
                       "the data show no half-maximal point")
    if abs(abs(theta[0]) - B_MAX) < 1e-6 * B_MAX:
        at_limit.append(f"the Hill slope ran to its limit ({B_MAX:g}): the curve is a step between two doses")
    if abs(abs(theta[0]) - B_MIN) < 1e-6:
        not_det.append(f"the Hill slope ran to its limit ({B_MIN:g}): the data show no sigmoid")
    lo_y, hi_y = data.asymptote_bounds
    for name, v in (("bottom", theta[1]), ("top", theta[2])):
        if not free[1 if name == "bottom" else 2]:
            continue
        for bound, physical in ((lo_y, lo_y == data.limits[0]), (hi_y, hi_y == data.limits[1])):
            if abs(v - bound) < 1e-6 * (hi_y - lo_y):
                if physical:
                    warnings.append(f"the {name} is at the response limit {raw.limits[0 if bound == lo_y else 1]:g}")
                else:
                    at_limit.append(f"the {name} ran to its limit ({ASYMPTOTE_RANGE:g} response ranges beyond "
                                    "the data): the data show no plateau there")
    s2 = rss / df if df > 0 else float("nan")
    vcov_scaled = None
    if df > 0 and rss > 0:
        try:
            h = hessian_rss(data, theta, free)
            cov = np.linalg.inv(h / (2 * s2))
            if np.all(np.isfinite(cov)) and np.all(np.diag(cov) >= 0):
                vcov_scaled = np.zeros((4, 4))
                vcov_scaled[np.ix_(free, free)] = cov
            else:
                warnings.append("the fit's information matrix is not positive definite: no standard errors")
        except np.linalg.LinAlgError:
            warnings.append("the fit's information matrix is singular: no standard errors")
    prof = (float("nan"), float("nan"))
    if df > 0 and rss > 0 and profile:
        prof_scaled, open_sides = profile_ci(data, theta, rss, df, conf, fb, ft)
        prof = (prof_scaled[0] * sc.dose, prof_scaled[1] * sc.dose)
        not_det.extend(open_sides)
    # back to the user's units
    theta_u = sc.theta(theta)
    rss_u = rss * sc.span**2
    vcov_full = None if vcov_scaled is None else sc.vcov(vcov_scaled)
    se = dict.fromkeys(("hill", "bottom", "top", "ec50", "log_ec50"), float("nan"))
    if vcov_full is not None:
        sd = np.sqrt(np.diag(vcov_full))
        se = {"hill": float(sd[0]), "bottom": float(sd[1]), "top": float(sd[2]),
              "log_ec50": float(sd[3]), "ec50": float(math.exp(theta_u[3]) * sd[3])}
    t = stats.t.ppf(0.5 + conf / 2, df) if df > 0 else float("nan")
    est = {"hill": -theta_u[0], "bottom": theta_u[1], "top": theta_u[2]}
    ci = {name: (float(est[name] - t * se[name]), float(est[name] + t * se[name])) for name in est}
    ec50 = float(math.exp(theta_u[3]))
    wald = (ec50 - t * se["ec50"], ec50 + t * se["ec50"])
    tss = float(np.sum((data.y - data.y.mean()) ** 2))
    r2 = 1 - rss / tss if tss > 0 else float("nan")
    loglik = -0.5 * n * (math.log(2 * math.pi) + 1 + math.log(max(rss_u, 1e-300) / n))
    kk = k + 1
    aic = -2 * loglik + 2 * kk
    aicc = aic + (2 * kk * (kk + 1) / (n - kk - 1) if n - kk - 1 > 0 else float("inf"))
    flat_p = _flat_line_p(tss, rss, n, k)
    if r2 < R2_MIN:
        not_det.append(f"R² {r2:.3f}: the curve explains almost none of the variance (needs ≥ {R2_MIN:g})")
    if flat_p >= FLAT_ALPHA:
        not_det.append(f"no dose dependence: the curve is no better than a flat line (F test p = {flat_p:.2g})")
    pos = raw.x[raw.x > 0]
    tested = (float(pos.min()), float(pos.max()))
    if not any("search limit" in r for r in not_det) and not tested[0] <= ec50 <= tested[1]:
        not_det.append(f"the EC50 lies outside the tested doses ({tested[0]:g}–{tested[1]:g}"
                       f"{' ' + dose_unit if dose_unit else ''}): an extrapolation")
    lof = lack_of_fit(data, rss, k)
    if lof is not None:
        lof["rss_pure_error"] *= sc.span**2
        if lof["p"] < LACK_OF_FIT_ALPHA and lof["replicated_doses"] >= 2:
            warnings.append(f"lack of fit: the 4PL misses the dose means (F = {lof['F']:.3g}, p = {lof['p']:.2g}); "
                            "its CIs assume it fits")
        elif lof["p"] < LACK_OF_FIT_ALPHA:  # the pure error of one dose judges the others only if variances are equal
            warnings.append(f"lack-of-fit p = {lof['p']:.2g}, but only one dose is replicated: its scatter stands "
                            "for all doses (firing-rate noise grows with the rate), so this is no test of the curve")
    status = NOT_DETERMINABLE if not_det else AT_LIMIT if at_limit else FITTED
    fixed = {k2: v for k2, v in (("bottom", fixed_bottom), ("top", fixed_top)) if v is not None}
    return FitResult(
        ec50=ec50, ec50_ci=(float(prof[0]), float(prof[1])), hill=float(-theta_u[0]), top=float(theta_u[2]),
        bottom=float(theta_u[1]), dose_unit=dose_unit, se=se, ci=ci, ec50_ci_wald=(float(wald[0]), float(wald[1])),
        r_squared=r2, aic=aic, aicc=aicc, rss=rss_u, df=df, n_points=n,
        n_doses=len(np.unique(data.x)), lack_of_fit=lof,
        converged=bool(res.success) and not any("ran to" in r for r in not_det + at_limit),
        message=str(res.message), warnings=tuple(warnings), conf=conf, fixed=fixed, vcov=vcov_full,
        status=status, reasons=tuple(not_det + at_limit), tested_doses=tested, points=points, flat_p=flat_p,
    )


def _flat_line_p(tss: float, rss: float, n: int, k: int) -> float:
    """p of the F test of the fitted curve (k parameters) against one mean (1 parameter)."""
    df = n - k
    if df <= 0 or tss <= 0:
        return float("nan")
    if rss <= 0:
        return 0.0
    f = ((tss - rss) / (k - 1)) / (rss / df)
    return float(stats.f.sf(max(f, 0.0), k - 1, df))
