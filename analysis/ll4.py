"""The four-parameter log-logistic model (drc ``LL.4``) and its least-squares core.

drc LL.4:  f(x) = c + (d − c) / (1 + exp(b·(ln x − ln e)))
Prism:     Y = Bottom + (Top − Bottom) / (1 + 10^((LogEC50 − X)·HillSlope)),  X = log10 x

so Bottom = c, Top = d, EC50 = e, HillSlope = −b.  Dose 0 is allowed: f(0) = d for
b > 0 and c for b < 0.  Internally the parameters are θ = (b, c, d, ln e).

For fixed (b, ln e) the model is linear in (c, d) — ``profile_cd`` solves them exactly
(variable projection) — so a global search needs a grid over two parameters only.
"""

from __future__ import annotations

import numpy as np

PARAMS = ("b", "c", "d", "loge")


def logistic_weight(x: np.ndarray, b: float | np.ndarray, loge: float | np.ndarray) -> np.ndarray:
    """g = 1 / (1 + exp(b·(ln x − ln e))), the weight of d (1 − g is the weight of c).
    Broadcasts over arrays of b and ln e (leading axes) against x (last axis)."""
    x = np.asarray(x, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)[..., None] if np.ndim(b) else float(b)
    loge = np.asarray(loge, dtype=np.float64)[..., None] if np.ndim(loge) else float(loge)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        lx = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)
        u = b * (lx - loge)
        u = np.where(np.isnan(u), 0.0, u)  # b = 0 at x = 0
        g = 1.0 / (1.0 + np.exp(np.clip(u, -700, 700)))
    return g


def ll4(x: np.ndarray, b: float, c: float, d: float, e: float) -> np.ndarray:
    """drc's LL.4 at doses x ≥ 0 (e > 0)."""
    g = logistic_weight(x, b, np.log(e))
    return c + (d - c) * g


def model(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    b, c, d, loge = theta
    g = logistic_weight(x, b, loge)
    return c + (d - c) * g


def jacobian(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """∂f/∂(b, c, d, ln e), shape (n, 4)."""
    b, c, d, loge = theta
    x = np.asarray(x, dtype=np.float64)
    g = logistic_weight(x, b, loge)
    dg_du = -g * (1.0 - g)  # g = 1/(1+exp(u))
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), 0.0)
        du_db = np.where(x > 0, lx - loge, 0.0)  # at x = 0, g is flat in b (0 or 1)
    jb = (d - c) * dg_du * du_db
    jle = (d - c) * dg_du * (-b)
    jle = np.where(x > 0, jle, 0.0)
    return np.stack([jb, 1.0 - g, g, jle], axis=1)


def _solve_cd(h, g, y, fixed_c, fixed_d):
    """Unconstrained least-squares (c, d) for weights h = 1 − g and g."""
    shape = g.shape[:-1]
    if fixed_c is not None and fixed_d is not None:
        return np.full(shape, fixed_c), np.full(shape, fixed_d)
    if fixed_c is not None:
        gg = np.sum(g * g, -1)
        d = np.where(gg > 0, np.sum(g * (y - fixed_c * h), -1) / np.where(gg > 0, gg, 1.0), 0.0)
        return np.full(shape, fixed_c), d
    if fixed_d is not None:
        hh = np.sum(h * h, -1)
        c = np.where(hh > 0, np.sum(h * (y - fixed_d * g), -1) / np.where(hh > 0, hh, 1.0), 0.0)
        return c, np.full(shape, fixed_d)
    hh, hg, gg = np.sum(h * h, -1), np.sum(h * g, -1), np.sum(g * g, -1)
    hy, gy = np.sum(h * y, -1), np.sum(g * y, -1)
    det = hh * gg - hg * hg
    ok = np.abs(det) > 1e-12 * np.maximum(hh * gg, 1e-300)
    safe = np.where(ok, det, 1.0)
    c = np.where(ok, (gg * hy - hg * gy) / safe, np.mean(y))
    d = np.where(ok, (hh * gy - hg * hy) / safe, np.mean(y))
    return c, d


def profile_cd(x: np.ndarray, y: np.ndarray, b: np.ndarray, loge: np.ndarray,
               fixed_c: float | None = None, fixed_d: float | None = None,
               bounds: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best (c, d) and the residual sum of squares for each (b, ln e) pair (arrays of the
    same shape), optionally with c and/or d fixed, and both asymptotes kept within ``bounds``
    (the exact box-constrained solution: interior optimum, else the best edge optimum)."""
    g = logistic_weight(x, b, loge)  # (..., n)
    h = 1.0 - g
    y = np.asarray(y, dtype=np.float64)

    def rss(c, d):
        r = y - (c[..., None] * h + d[..., None] * g)
        return np.sum(r * r, -1)

    c, d = _solve_cd(h, g, y, fixed_c, fixed_d)
    if bounds is None:
        return c, d, rss(c, d)
    lo, hi = bounds  # for the free asymptotes; a fixed one stays where it was fixed

    def keep(v, fixed):
        return v if fixed is not None else np.clip(v, lo, hi)

    inside = ((fixed_c is not None) | ((c >= lo) & (c <= hi))) & ((fixed_d is not None) | ((d >= lo) & (d <= hi)))
    if inside.all():
        return c, d, rss(c, d)
    best_c, best_d, best = np.where(inside, c, np.nan), np.where(inside, d, np.nan), np.where(inside, rss(c, d), np.inf)
    cands = []
    for edge in (lo, hi):
        if fixed_c is None:
            cc, dd = _solve_cd(h, g, y, edge, fixed_d)
            cands.append((cc, keep(dd, fixed_d)))
        if fixed_d is None:
            cc, dd = _solve_cd(h, g, y, fixed_c, edge)
            cands.append((keep(cc, fixed_c), dd))
    for cc, dd in cands:
        r = rss(cc, dd)
        better = ~inside & (r < best)
        best_c, best_d, best = np.where(better, cc, best_c), np.where(better, dd, best_d), np.where(better, r, best)
    return best_c, best_d, best


def inverse(y: float, theta: np.ndarray) -> float:
    """Dose at which the curve takes the value ``y`` (NaN if it never does)."""
    b, c, d, loge = theta
    if d == c or b == 0:
        return float("nan")
    g = (y - c) / (d - c)
    if not 0 < g < 1:
        return float("nan")
    return float(np.exp(loge + np.log(1.0 / g - 1.0) / b))
