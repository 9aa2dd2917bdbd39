"""Comparing two dose–response curves (e.g. agonist alone vs with an antagonist).

* **Extra sum-of-squares F tests** of nested models against separate fits (drc's
  ``anova`` for continuous data; Prism's "compare"): (1) one EC50 shared by both curves
  (slopes and asymptotes separate) — is the EC50 shifted?  (2) one curve for both data
  sets — do the curves differ at all?
* **EC50 ratio** B/A (the dose ratio of a competitive antagonist) with a CI at the fits'
  level (``ci_label``) from the two fits' standard errors of ln EC50 (independent data sets,
  t with the pooled df) — none (NaN, with ``note``) when either EC50 is not determinable.
* AICc of separate vs shared-EC50 models (smaller is better).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from analysis.fit import FitData, FitResult, Scale, ci_label, fit_ll4
from analysis.ll4 import jacobian, model


@dataclass(frozen=True)
class Comparison:
    label_a: str
    label_b: str
    ec50_ratio: float  # EC50(B) / EC50(A)
    ec50_ratio_ci: tuple[float, float]
    f_shared_ec50: float
    p_shared_ec50: float
    df_shared_ec50: tuple[int, int]
    f_same_curve: float
    p_same_curve: float
    df_same_curve: tuple[int, int]
    aicc_separate: float
    aicc_shared_ec50: float
    dose_unit: str
    conf: float = 0.95
    note: str = ""  # why there is no EC50 ratio

    @property
    def ci_label(self) -> str:
        return ci_label(self.conf)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ci_label"] = self.ci_label
        d["ec50_ratio_ci"] = list(self.ec50_ratio_ci)
        d["df_shared_ec50"] = list(self.df_shared_ec50)
        d["df_same_curve"] = list(self.df_same_curve)
        return d


def _aicc(rss: float, n: int, k: int) -> float:
    kk = k + 1
    aic = n * (math.log(2 * math.pi) + 1 + math.log(max(rss, 1e-300) / n)) + 2 * kk
    return aic + (2 * kk * (kk + 1) / (n - kk - 1) if n - kk - 1 > 0 else math.inf)


def _shared_ec50_rss(a: FitData, b: FitData, fa: FitResult, fb: FitResult) -> float:
    """RSS of the 7-parameter model: separate slopes and asymptotes, one ln EC50 — solved on
    both data sets scaled alike to dimensionless form (``analysis.fit.Scale``), so that its
    tolerances are relative as the single fits' are."""
    sc = Scale.of(FitData(np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y]), a.limits))
    return _shared_ec50_rss_scaled(sc.data(a), sc.data(b), sc.scaled_theta(fa.theta),
                                   sc.scaled_theta(fb.theta)) * sc.span**2


def _shared_ec50_rss_scaled(a: FitData, b: FitData, ta: np.ndarray, tb: np.ndarray) -> float:
    p0 = np.array([*ta[:3], *tb[:3], 0.5 * (ta[3] + tb[3])])
    lo = min(a.loge_bounds[0], b.loge_bounds[0])
    hi = max(a.loge_bounds[1], b.loge_bounds[1])

    def split(p):
        return np.array([*p[0:3], p[6]]), np.array([*p[3:6], p[6]])

    def resid(p):
        pa, pb = split(p)
        return np.concatenate([model(a.x, pa) - a.y, model(b.x, pb) - b.y])

    def jac(p):
        pa, pb = split(p)
        ja, jb = jacobian(a.x, pa), jacobian(b.x, pb)
        out = np.zeros((len(a.x) + len(b.x), 7))
        out[:len(a.x), 0:3] = ja[:, 0:3]
        out[len(a.x):, 3:6] = jb[:, 0:3]
        out[:len(a.x), 6] = ja[:, 3]
        out[len(a.x):, 6] = jb[:, 3]
        return out

    lo_y = min(a.asymptote_bounds[0], b.asymptote_bounds[0])
    hi_y = max(a.asymptote_bounds[1], b.asymptote_bounds[1])
    lower = np.array([-50.0, lo_y, lo_y, -50.0, lo_y, lo_y, lo])
    upper = np.array([50.0, hi_y, hi_y, 50.0, hi_y, hi_y, hi])
    p0[6] = min(max(p0[6], lo + 1e-9), hi - 1e-9)
    best = math.inf
    for start in (p0, np.array([*ta[:3], *tb[:3], ta[3]]), np.array([*ta[:3], *tb[:3], tb[3]])):
        start = np.minimum(np.maximum(start, lower + 1e-9 * np.maximum(np.abs(lower), 1)),
                           upper - 1e-9 * np.maximum(np.abs(upper), 1))
        r = optimize.least_squares(resid, start, jac=jac, bounds=(lower, upper), method="trf",
                                   ftol=1e-13, xtol=1e-13, gtol=1e-13, max_nfev=3000)
        best = min(best, float(2 * r.cost))
    return best


def compare_fits(dose_a, resp_a, dose_b, resp_b, label_a: str = "A", label_b: str = "B",
                 dose_unit: str = "nA", conf: float = 0.95,
                 limits: tuple[float, float] | None = None,
                 fits: tuple[FitResult, FitResult] | None = None) -> tuple[Comparison, FitResult, FitResult]:
    """Fit both curves (unless their ``fits`` are given) and compare them; returns
    (comparison, fit A, fit B)."""
    a, b = FitData.of(dose_a, resp_a, limits), FitData.of(dose_b, resp_b, limits)
    fa, fb = fits if fits is not None else (fit_ll4(a.x, a.y, dose_unit, conf, limits=limits),
                                             fit_ll4(b.x, b.y, dose_unit, conf, limits=limits))
    rss_sep = fa.rss + fb.rss
    n = len(a.x) + len(b.x)
    df_sep = n - 8
    if df_sep <= 0:
        raise ValueError(f"comparing two 4-parameter curves needs more than 8 points, got {n}")
    s2 = rss_sep / df_sep
    rss_e = _shared_ec50_rss(a, b, fa, fb)
    f_e = max(rss_e - rss_sep, 0.0) / s2
    allx, ally = np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y])
    f_all_fit = fit_ll4(allx, ally, dose_unit, conf, limits=limits, profile=False)
    f_all = max(f_all_fit.rss - rss_sep, 0.0) / 4 / s2
    undetermined = [lab for lab, f in ((label_a, fa), (label_b, fb)) if not f.determinable]
    note = f"no EC50 ratio: the EC50 of {' and '.join(undetermined)} is not determinable" if undetermined else ""
    ratio = math.nan if undetermined else fb.ec50 / fa.ec50
    se_log = math.hypot(fa.se["log_ec50"], fb.se["log_ec50"])
    t = stats.t.ppf(0.5 + conf / 2, df_sep)
    ci = ((ratio * math.exp(-t * se_log), ratio * math.exp(t * se_log)) if np.isfinite(se_log) and not undetermined
          else (math.nan, math.nan))
    comp = Comparison(
        label_a, label_b, ratio, ci,
        float(f_e), float(stats.f.sf(f_e, 1, df_sep)), (1, df_sep),
        float(f_all), float(stats.f.sf(f_all, 4, df_sep)), (4, df_sep),
        _aicc(rss_sep, n, 8), _aicc(rss_e, n, 7), dose_unit, conf, note,
    )
    return comp, fa, fb
