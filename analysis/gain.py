"""The gain model of a drug's effect on stimulus responses: multiplicative vs additive.

With the drug, the response to each stimulus is ``g · (its control response) + a``.  The
control responses are unknowns too (every stimulus condition i has a true control mean
μᵢ), so the model is fitted to the trials themselves, not to noisy condition means (which
would bias g towards 0, the errors-in-variables problem)::

    control trial of condition i:  rate = μᵢ + ε
    drug trial of condition i:     rate = g·μᵢ + a + ε

by weighted least squares (``scipy.optimize.least_squares``; each trial weighted by 1 / its
rate predicted by the full model, iteratively reweighted, as spike-count variance grows with
the mean — a quasi-Poisson variance; every model uses the same weights, so the F-tests below
compare like with like) over (μ, g, a), for four models: both
g and a free, multiplicative (a = 0), additive (g = 1) and none (g = 1, a = 0).  Models are
compared with F-tests against the full model and with AIC (N·ln(RSS/N) + 2k; Burnham &
Anderson 2002): the preferred model is the simplest one the F-test does not reject at
``alpha`` = 1 % (of two such, the one with the lower AIC); the full model if both simpler
ones are rejected.  (At 5 %, a true multiplicative effect came out "both" in 1 of 6 demo
runs — the test's own false-rejection rate; the effects that matter here give p ≪ 1e-6.)  g and a are reported from the preferred model, with 95 % confidence
intervals from a bootstrap over trials (resampling the trials of each stimulus × drug cell
and refitting that model; Efron & Tibshirani 1993); the full model's standard errors come
from its covariance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import least_squares

MODELS = ("both", "multiplicative", "additive", "none")


@dataclass(frozen=True)
class ModelFit:
    """One gain model fitted to the trials."""

    name: str
    gain: float
    offset_hz: float
    rss: float
    n: int
    k: int  # free parameters (the control means included)
    aic: float
    f_p_value: float | None = None  # F-test of this model against the full one (None for the full one)


@dataclass(frozen=True)
class GainFit:
    """The gain analysis of one cell: every model, the preferred one, g and a with CIs."""

    gain: float  # of the preferred model (1 when it fixes g)
    offset_hz: float  # of the preferred model (0 when it fixes a)
    gain_ci: tuple[float, float]  # bootstrap 95 % CI of the preferred model's g (a fixed g: its value twice)
    offset_ci: tuple[float, float]
    gain_se: float  # of the full model, from its covariance
    offset_se: float
    preferred_model: str
    models: dict[str, ModelFit]
    n_control: int
    n_drug: int
    conditions: list[float] = field(default_factory=list)
    n_boot: int = 0


def _design(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    levels, idx = np.unique(values, return_inverse=True)
    return levels, idx


def _fit(model: str, idx: np.ndarray, on: np.ndarray, y: np.ndarray, k_cond: int,
         sw: np.ndarray) -> tuple[float, float, float, Any]:
    """RSS, g, a and the solver's result of one model, by least squares."""
    mu0 = np.array([y[(idx == i) & ~on].mean() if np.any((idx == i) & ~on) else y[idx == i].mean()
                    for i in range(k_cond)])
    free_g, free_a = model in ("both", "multiplicative"), model in ("both", "additive")

    def unpack(p: np.ndarray) -> tuple[np.ndarray, float, float]:
        j = k_cond
        g = p[j] if free_g else 1.0
        j += free_g
        a = p[j] if free_a else 0.0
        return p[:k_cond], g, a

    def resid(p: np.ndarray) -> np.ndarray:
        mu, g, a = unpack(p)
        return (np.where(on, g * mu[idx] + a, mu[idx]) - y) * sw

    p0 = np.concatenate([mu0, [1.0] if free_g else [], [0.0] if free_a else []])
    sol = least_squares(resid, p0, method="lm" if p0.size <= y.size else "trf")
    _, g, a = unpack(sol.x)
    return float(np.sum(sol.fun**2)), float(g), float(a), sol


def _sqrt_weights(idx: np.ndarray, on: np.ndarray, y: np.ndarray, k_cond: int, min_rate_hz: float,
                  rounds: int = 3) -> np.ndarray:
    """√weights of the trials: 1/√(the full model's predicted rate), at least ``min_rate_hz``
    (spike-count variance grows about in proportion to the mean, Fano ≈ 1).  Iteratively
    reweighted (McCullagh & Nelder 1989): weights from the trials' own noisy cell means would
    favour cells that came out low and bias g down."""
    sw = np.ones(y.size)
    for _ in range(rounds):
        _, _, _, sol = _fit("both", idx, on, y, k_cond, sw)
        predicted = sol.fun / sw + y
        sw = 1.0 / np.sqrt(np.maximum(predicted, min_rate_hz))
    return sw


def _model_fit(name: str, rss: float, n: int, k: int, g: float, a: float) -> ModelFit:
    aic = n * math.log(max(rss, 1e-300) / n) + 2 * k
    return ModelFit(name, g, a, rss, n, k, aic)


def fit_gain(values: Sequence[float], drug_on: Sequence[bool], rates_hz: Sequence[float], *, alpha: float = 0.01,
             n_boot: int = 200, seed: int = 0, min_rate_hz: float = 1.0) -> GainFit:
    """Fit the gain models to trials: each trial's stimulus value, whether the drug was on,
    and its response rate (valid trials only).  Needs control and drug trials of at least
    two stimulus values that both have."""
    x = np.asarray(values, float)
    on = np.asarray(drug_on, bool)
    y = np.asarray(rates_hz, float)
    shared = sorted(set(x[on].tolist()) & set(x[~on].tolist()))
    keep = np.isin(x, shared)
    x, on, y = x[keep], on[keep], y[keep]
    if len(shared) < 2:
        raise ValueError(f"the gain model needs control and drug trials of at least 2 stimulus values; "
                         f"got {len(shared)} value(s) with both")
    levels, idx = _design(x)
    k_cond = levels.size
    sw = _sqrt_weights(idx, on, y, k_cond, min_rate_hz)
    n = y.size
    fits: dict[str, ModelFit] = {}
    full_sol = None
    for name in MODELS:
        rss, g, a, sol = _fit(name, idx, on, y, k_cond, sw)
        k = k_cond + (name in ("both", "multiplicative")) + (name in ("both", "additive"))
        fits[name] = _model_fit(name, rss, n, k, g, a)
        if name == "both":
            full_sol = sol
    full = fits["both"]
    dof = n - full.k
    for name in MODELS[1:]:
        m = fits[name]
        if dof > 0 and full.rss > 0:
            f = ((m.rss - full.rss) / (full.k - m.k)) / (full.rss / dof)
            p = float(stats.f.sf(max(f, 0.0), full.k - m.k, dof))
        else:
            p = math.nan
        fits[name] = ModelFit(m.name, m.gain, m.offset_hz, m.rss, m.n, m.k, m.aic, p)
    preferred = _prefer(fits, alpha)
    # standard errors of g and a from the full fit's covariance: s² (JᵀJ)⁻¹
    se_g = se_a = math.nan
    if full_sol is not None and dof > 0:
        jac = full_sol.jac
        try:
            cov = np.linalg.inv(jac.T @ jac) * (full.rss / dof)
            se_g = float(math.sqrt(max(cov[k_cond, k_cond], 0.0)))
            se_a = float(math.sqrt(max(cov[k_cond + 1, k_cond + 1], 0.0)))
        except np.linalg.LinAlgError:
            pass
    g_ci, a_ci = _bootstrap(preferred, idx, on, y, k_cond, n_boot, seed, min_rate_hz)
    best = fits[preferred]
    return GainFit(best.gain, best.offset_hz, g_ci, a_ci, se_g, se_a, preferred, fits,
                   int((~on).sum()), int(on.sum()), [float(v) for v in levels], n_boot)


def _prefer(fits: dict[str, ModelFit], alpha: float) -> str:
    """The simplest model the F-test does not reject (by AIC among equals); else the full one."""
    none = fits["none"]
    if none.f_p_value is not None and none.f_p_value >= alpha:
        return "none"
    ok = [fits[m] for m in ("multiplicative", "additive") if (fits[m].f_p_value or 0.0) >= alpha]
    if ok:
        return min(ok, key=lambda m: m.aic).name
    return "both"


def _bootstrap(model: str, idx: np.ndarray, on: np.ndarray, y: np.ndarray, k_cond: int, n_boot: int,
               seed: int, min_rate_hz: float) -> tuple[tuple[float, float], tuple[float, float]]:
    if n_boot <= 0:
        return (math.nan, math.nan), (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    cells = [np.flatnonzero((idx == i) & (on == d)) for i in range(k_cond) for d in (False, True)]
    cells = [c for c in cells if c.size]
    gs, as_ = [], []
    for _ in range(n_boot):
        pick = np.concatenate([rng.choice(c, c.size) for c in cells])
        i, o, r = idx[pick], on[pick], y[pick]
        _, g, a, _ = _fit(model, i, o, r, k_cond, _sqrt_weights(i, o, r, k_cond, min_rate_hz))
        gs.append(g)
        as_.append(a)
    g_lo, g_hi = np.percentile(gs, [2.5, 97.5])
    a_lo, a_hi = np.percentile(as_, [2.5, 97.5])
    return (float(g_lo), float(g_hi)), (float(a_lo), float(a_hi))
