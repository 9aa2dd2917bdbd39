"""Tuning curves: a von Mises function for orientation, Naka–Rushton for contrast (scipy).

* orientation (degrees, period 180°; Swindale 1998, *Biol. Cybern.* 78:45)::

      r(θ) = b + A · exp(κ · (cos 2(θ − θp) − 1))

* contrast (0–1; Albrecht & Hamilton 1982, *J. Neurophysiol.* 48:217)::

      r(c) = b + Rmax · cⁿ / (cⁿ + c50ⁿ)

Fitted by least squares (``scipy.optimize.curve_fit``) to the trial rates, with standard
errors from the fit's covariance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

KINDS = ("orientation", "contrast")
PARAMS = {"orientation": ("baseline_hz", "amplitude_hz", "kappa", "preferred_deg"),
          "contrast": ("baseline_hz", "rmax_hz", "c50", "exponent")}


def von_mises(theta_deg: np.ndarray, baseline_hz: float, amplitude_hz: float, kappa: float,
              preferred_deg: float) -> np.ndarray:
    d = np.radians(2.0 * (np.asarray(theta_deg, float) - preferred_deg))
    return baseline_hz + amplitude_hz * np.exp(kappa * (np.cos(d) - 1.0))


def naka_rushton(contrast: np.ndarray, baseline_hz: float, rmax_hz: float, c50: float,
                 exponent: float) -> np.ndarray:
    c = np.maximum(np.asarray(contrast, float), 0.0)
    cn = c**exponent
    return baseline_hz + rmax_hz * cn / (cn + c50**exponent)


FUNCTIONS = {"orientation": von_mises, "contrast": naka_rushton}


@dataclass(frozen=True)
class TuningFit:
    """A fitted tuning curve (``params`` by name, ``stderr`` alike; ``error`` if it failed)."""

    kind: str
    params: dict[str, float]
    stderr: dict[str, float]
    n: int
    rmse_hz: float
    error: str = ""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return FUNCTIONS[self.kind](x, *(self.params[k] for k in PARAMS[self.kind]))


def _start(kind: str, x: np.ndarray, y: np.ndarray) -> tuple[list[float], tuple[list[float], list[float]]]:
    lo_y, hi_y = float(y.min()), float(y.max())
    span = max(hi_y - lo_y, 1e-3)
    if kind == "orientation":
        means = {v: float(y[x == v].mean()) for v in np.unique(x)}
        peak = max(means, key=means.__getitem__)
        return ([lo_y, span, 2.0, float(peak)],
                ([-np.inf, 0.0, 0.01, float(peak) - 90.0], [np.inf, np.inf, 50.0, float(peak) + 90.0]))
    return ([lo_y, span, 0.2, 2.0], ([-np.inf, 0.0, 1e-3, 0.2], [np.inf, np.inf, 1.0, 10.0]))


def fit_tuning(kind: str, values: Sequence[float], rates_hz: Sequence[float]) -> TuningFit:
    """Fit one tuning curve to (stimulus value, rate) pairs (one pair per trial)."""
    if kind not in KINDS:
        raise ValueError(f"tuning kind {kind!r} is not one of {KINDS}")
    x, y = np.asarray(values, float), np.asarray(rates_hz, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    names = PARAMS[kind]
    nan = dict.fromkeys(names, math.nan)
    if np.unique(x).size < len(names):
        return TuningFit(kind, nan, nan, int(x.size), math.nan,
                         f"{np.unique(x).size} stimulus values; a {kind} curve needs at least {len(names)}")
    p0, bounds = _start(kind, x, y)
    try:
        p, cov = curve_fit(FUNCTIONS[kind], x, y, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        return TuningFit(kind, nan, nan, int(x.size), math.nan, f"the fit did not converge ({exc})")
    err = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(len(p), np.nan)
    if kind == "orientation":
        p[3] = p[3] % 180.0  # orientation is periodic in 180°
    rmse = float(np.sqrt(np.mean((FUNCTIONS[kind](x, *p) - y) ** 2)))
    return TuningFit(kind, dict(zip(names, map(float, p))), dict(zip(names, map(float, err))), int(x.size), rmse)
