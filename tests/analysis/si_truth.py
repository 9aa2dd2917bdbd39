"""Ground truth from SpikeInterface's generators at stated peak SNRs (for the peak and sorting tests).

``ground_truth(n_channels, n_units, ...)`` builds templates with SpikeInterface's
``generate_templates`` at unit locations from ``generate_unit_locations`` over the probe
that ``generate_ground_truth_recording`` makes, scales each unit so that its largest
template sample (any channel) is ``snr`` × the noise σ, and injects them into Gaussian noise
of σ = ``NOISE_UV`` with ``generate_ground_truth_recording``.  The peak SNR of a unit is
therefore |template|max / σ of the raw noise.
"""

from __future__ import annotations

import numpy as np

NOISE_UV = 5.0
MS_BEFORE, MS_AFTER = 1.0, 3.0


def ground_truth(n_channels: int, n_units: int, duration_s: float = 30.0, rate_hz: float = 30000.0,
                 snr: tuple[float, float] = (6.0, 16.0), seed: int = 0, firing_hz: float = 15.0):
    """(recording, sorting, snr per unit): SNRs spread evenly from ``snr[0]`` to ``snr[1]``."""
    import spikeinterface.core as sc
    from spikeinterface.core.generate import generate_templates, generate_unit_locations

    probe = sc.generate_ground_truth_recording(durations=[0.01], num_channels=n_channels, num_units=1,
                                               seed=seed)[0].get_probe()
    loc = generate_unit_locations(n_units, probe.contact_positions, seed=seed, margin_um=10.0, minimum_z=5.0,
                                  maximum_z=50.0, minimum_distance=20)
    templates = generate_templates(probe.contact_positions, loc, rate_hz, MS_BEFORE, MS_AFTER, seed=seed)
    target = np.linspace(snr[0], snr[1], n_units)
    templates = templates * (target * NOISE_UV / np.abs(templates).max(axis=(1, 2)))[:, None, None]
    rec, sorting = sc.generate_ground_truth_recording(
        durations=[duration_s], sampling_frequency=rate_hz, num_channels=n_channels, num_units=n_units, probe=probe,
        templates=templates, ms_before=MS_BEFORE, ms_after=MS_AFTER, seed=seed,
        generate_sorting_kwargs={"firing_rates": firing_hz, "refractory_period_ms": 4.0},
        noise_kwargs={"noise_levels": NOISE_UV, "strategy": "on_the_fly"})
    return rec, sorting, target


def recall(found: np.ndarray, truth: np.ndarray, tolerance: int) -> float:
    """Share of the ``truth`` sample indices with a ``found`` index within ±``tolerance``."""
    found = np.sort(found)
    if not len(truth):
        return float("nan")
    i = np.clip(np.searchsorted(found, truth), 1, max(1, len(found) - 1))
    if not len(found):
        return 0.0
    near = np.minimum(np.abs(found[i - 1] - truth), np.abs(found[np.minimum(i, len(found) - 1)] - truth))
    return float(np.mean(near <= tolerance))
