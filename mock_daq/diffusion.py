"""Diffusion from the pipette tip to the neuron: Nicholson's point source with uptake.

For a constant release Q (mol/s) switched on at t = 0 in a medium of volume fraction α,
tortuosity λ, free diffusion coefficient D and first-order uptake k′ (Nicholson 1985;
Nicholson & Phillips 1981), with D* = D/λ²::

    C(r,t) = Q/(8π·D*·α·r) · [ e^{+r√(k′/D*)} erfc(r/(2√(D*t)) + √(k′t))
                              + e^{−r√(k′/D*)} erfc(r/(2√(D*t)) − √(k′t)) ]

and C(r,∞) = Q/(4π·D*·α·r)·e^{−r√(k′/D*)}.  The equation is linear, so the concentration
for any release history is the superposition of such steps, one per change of release.

``PointSourceKernel`` does exactly that on the model's time grid (step ``dt``): with the
release held constant over each step (its mean), C at grid time n·dt is
``Σ_j q[n−j]·(G(j·dt) − G((j−1)·dt))`` — the analytic step response G differenced, so the
result equals the analytic superposition to rounding.  The first ``n_direct`` taps are
applied directly; the slow tail of the kernel (t^{-3/2}·e^{-k′t}, which matters without
uptake) is a sum of decaying exponentials fitted to it and run as first-order recursions,
checked against the analytic taps when the kernel is built.

Thread: whichever thread owns the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc, erfcx

from mock_daq.model import FARADAY_C_PER_MOL

UM_PER_MOL_M3 = 1e3  # 1 mol/m³ = 1 mM = 1000 µM
MOL_PER_FMOL = 1e-15


@dataclass(frozen=True)
class Medium:
    """Where one drug diffuses: tissue (α, λ) and the drug's D and k′."""

    alpha: float
    tortuosity: float
    diffusion_cm2_s: float
    uptake_per_s: float

    @property
    def d_star_m2_s(self) -> float:
        """Effective diffusion coefficient D* = D/λ² (m²/s)."""
        return self.diffusion_cm2_s * 1e-4 / self.tortuosity**2


def step_response(t_s: np.ndarray | float, r_um: float, m: Medium) -> np.ndarray:
    """C(r, t) in µM for a release of 1 fmol/s switched on at t = 0 (0 for t <= 0).

    Evaluated with the scaled complementary error function so that it is stable for any
    k′ and t: e^{x}·erfc(a+b) = erfcx(a+b)·e^{−a²−b²} since x = 2ab."""
    t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    out = np.zeros_like(t)
    pos = t > 0
    if not pos.any():
        return out
    ds = m.d_star_m2_s
    r = r_um * 1e-6
    tp = t[pos]
    a = r / (2.0 * np.sqrt(ds * tp))
    b = np.sqrt(m.uptake_per_s * tp)
    x = r * math.sqrt(m.uptake_per_s / ds)
    damp = np.exp(-(a * a) - (b * b))
    term1 = erfcx(a + b) * damp
    amb = a - b
    term2 = np.where(amb >= 0, erfcx(np.abs(amb)) * damp, np.exp(-x) * erfc(amb))
    pref = MOL_PER_FMOL * UM_PER_MOL_M3 / (8.0 * math.pi * ds * m.alpha * r)
    out[pos] = pref * (term1 + term2)
    return out


def steady_state(r_um: float, m: Medium) -> float:
    """C(r, ∞) in µM for 1 fmol/s (k′ = 0: Q/(4πD*αr))."""
    ds = m.d_star_m2_s
    r = r_um * 1e-6
    return MOL_PER_FMOL * UM_PER_MOL_M3 / (4.0 * math.pi * ds * m.alpha * r) * math.exp(
        -r * math.sqrt(m.uptake_per_s / ds))


def impulse_shape(t_s: np.ndarray, r_um: float, m: Medium) -> np.ndarray:
    """The impulse response without its uptake factor, t^{-3/2}·e^{−r²/(4D*t)}, scaled so that
    ``impulse_shape · e^{−k′t} · dt`` is µM per fmol/s held for ``dt``."""
    ds = m.d_star_m2_s
    r = r_um * 1e-6
    pref = MOL_PER_FMOL * UM_PER_MOL_M3 / (m.alpha * (4.0 * math.pi * ds) ** 1.5)
    return pref * t_s**-1.5 * np.exp(-(r * r) / (4.0 * ds * t_s))


def fmol_per_s_per_nA(transport_number: float, valence: int) -> float:
    """Release rate per nA of ejecting current: n·I/(zF), in fmol/s."""
    return transport_number * 1e-9 / (valence * FARADAY_C_PER_MOL) / MOL_PER_FMOL


class PointSourceKernel:
    """Discrete kernel of one (drug, distance): grid taps plus an exponential tail.

    ``h[j-1]`` (j = 1..n_direct) is the concentration at the neuron (µM) at j steps after a
    1-fmol/s release held for one step; taps beyond are ``Σ_i c_i·ρ_i^j``."""

    DIRECT_S = 20.0  # taps applied directly (seconds of history)
    HORIZON_S = 1e5  # the tail is fitted out to this age
    TAIL_TOL = 1e-7  # relative kernel mass below which no tail is kept
    FIT_TOL = 1e-4  # worst relative error of the fitted tail at its sample points

    def __init__(self, r_um: float, medium: Medium, dt_s: float):
        self.r_um, self.medium, self.dt_s = r_um, medium, dt_s
        self.steady_uM = steady_state(r_um, medium)
        n_max = max(2, math.ceil(self.DIRECT_S / dt_s))
        t = np.arange(n_max + 1) * dt_s
        g = step_response(t, r_um, medium)
        remaining = (self.steady_uM - g) / self.steady_uM
        # the shortest direct part that leaves a negligible tail (at least 2 steps)
        small = np.flatnonzero(remaining[1:] < self.TAIL_TOL)
        n_direct = int(small[0]) + 1 if small.size else n_max
        n_direct = max(2, n_direct)
        self.h = np.diff(g[: n_direct + 1])
        self.n_direct = n_direct
        self.tail_w = np.zeros(0)
        self.tail_rho = np.zeros(0)
        self.tail_fit_error = 0.0
        if remaining[n_direct] >= self.TAIL_TOL:
            self._fit_tail()

    def _fit_tail(self) -> None:
        """Exponentials (log-spaced time constants) fitted by least squares to the taps beyond the
        direct part, relative error weighted (signed weights: far from the tip the tail still
        rises before it decays); k′ is applied exactly as an extra decay."""
        dt, m = self.dt_s, self.medium
        t0 = self.n_direct * dt
        taus = np.logspace(math.log10(t0 / 8), math.log10(self.HORIZON_S * 4), 40)
        ts = np.logspace(math.log10(t0 + dt / 2), math.log10(self.HORIZON_S), 400)
        f = impulse_shape(ts, self.r_um, m) * dt  # per-step taps, uptake factor left out
        basis = np.exp(-ts[:, None] / taus[None, :])
        c = np.linalg.lstsq(basis / f[:, None], np.ones_like(f), rcond=None)[0]
        err = float(np.max(np.abs(basis @ c / f - 1)))
        if err > self.FIT_TOL:
            raise RuntimeError(f"diffusion kernel tail fit error {err:.2g} exceeds {self.FIT_TOL}")
        keep = c != 0
        rho = np.exp(-dt * (1.0 / taus[keep] + m.uptake_per_s))
        # tap j (j > n_direct), at its step's midpoint (j - 1/2)·dt:
        # Σ c_i·e^{−(j−½)·dt·(1/τ_i + k′)} = Σ (c_i·ρ_i^{−½})·ρ_i^j
        self.tail_rho = rho
        self.tail_w = c[keep] * rho ** (self.n_direct + 0.5)
        self.tail_fit_error = err

    @property
    def has_tail(self) -> bool:
        return self.tail_w.size > 0


class DiffusionField:
    """Concentrations of every drug at every neuron on the model grid.

    ``push(q)`` appends steps' releases (fmol/s per drug, constant over each step);
    ``concentrations(n_steps)`` returns C (µM) at the next ``n_steps`` grid times not yet
    evaluated.  Grid time n (t = n·dt) uses the releases of steps 0..n-1, so it can be
    evaluated once those are pushed."""

    NEGLIGIBLE_UM = 1e-9  # a tail below this (1 fM) is dropped

    def __init__(self, kernels: list[list[PointSourceKernel]]):
        # kernels[k][d]: neuron k, drug d
        self.n_neurons = len(kernels)
        self.n_drugs = len(kernels[0]) if kernels else 0
        self.n_direct = max((kd.n_direct for row in kernels for kd in row), default=1)
        j = self.n_direct
        # reversed, zero-padded taps per drug, (n_drugs, J, n_neurons): the last row meets q[n-1]
        self._taps = np.zeros((self.n_drugs, j, self.n_neurons))
        self._tails: list[tuple[int, int, PointSourceKernel, np.ndarray]] = []
        for k, row in enumerate(kernels):
            for d, kern in enumerate(row):
                self._taps[d, j - kern.n_direct:, k] = kern.h[::-1]
                if kern.has_tail:
                    self._tails.append((k, d, kern, np.zeros_like(kern.tail_w)))
        # releases of steps (evaluated - J - 1) .. (pushed - 1); zeros stand for t < 0
        self._buf = np.zeros((self.n_drugs, j + 1))
        self._pushed = 0
        self._evaluated = 0
        self._last_release = [-(10**12)] * self.n_drugs  # last step with a release, per drug

    def push(self, q_fmol_s: np.ndarray) -> None:
        """Append releases, shape (n_steps, n_drugs)."""
        q = np.asarray(q_fmol_s, dtype=np.float64).reshape(-1, self.n_drugs)
        self._buf = np.concatenate([self._buf, q.T], axis=1)
        for d in np.flatnonzero(q.any(axis=0)):
            self._last_release[d] = self._pushed + int(np.flatnonzero(q[:, d])[-1])
        self._pushed += q.shape[0]

    def concentrations(self, n_steps: int) -> np.ndarray:
        """C (µM), shape (n_steps, n_neurons, n_drugs), at the next ``n_steps`` grid times."""
        out = np.zeros((n_steps, self.n_neurons, self.n_drugs))
        if n_steps <= 0:
            return out
        if self._evaluated + n_steps - 1 > self._pushed:
            raise ValueError("diffusion: a grid time needs the release of every step before it")
        j = self.n_direct
        buf = self._buf
        # time n = evaluated + i: direct taps meet steps n-J .. n-1 = buf[:, i+1 : i+1+J]
        oldest = self._evaluated - j  # the oldest step any of these times sees directly
        for d in range(self.n_drugs):
            if self._last_release[d] < oldest:
                continue  # not released for the last J steps: adds nothing here
            row = buf[d, 1:n_steps + j]
            stride = row.strides[0]
            windows = np.lib.stride_tricks.as_strided(row, (n_steps, j), (stride, stride), writeable=False)
            out[:, :, d] = np.ascontiguousarray(windows) @ self._taps[d]
        for k, d, kern, state in self._tails:
            first = j - kern.n_direct  # step n - n_direct - 1 sits at buf[:, i + J - n_direct]
            inputs = buf[d, first:first + n_steps]
            if not state.any() and not inputs.any():
                continue
            rho, w = kern.tail_rho, kern.tail_w
            for i, q in enumerate(inputs.tolist()):
                state *= rho
                state += q
                c = float(w @ state)
                if q == 0.0 and abs(c) < self.NEGLIGIBLE_UM and np.abs(w * state).max() < 1e-3 * self.NEGLIGIBLE_UM:
                    state[:] = 0.0  # every component has decayed below notice, for good
                    c = 0.0
                out[i, k, d] += c
        self._evaluated += n_steps
        self._buf = buf[:, n_steps:]
        return out
