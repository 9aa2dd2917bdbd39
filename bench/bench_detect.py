"""Spike detection: ours vs SpikeInterface ``detect_peaks`` on the same data.

Data: N channels of 30 kHz int16 samples, 10 µV Gaussian noise, one unit per channel firing
at ~20 Hz with trough amplitudes 50–150 µV (SNR 5–15, widths 0.3–0.8 ms); ground truth
is the trough sample of every spike.  Both detectors get the same band-pass (first-order
Butterworth 300–6000 Hz, forward–backward), threshold 5 × MAD noise, negative peaks,
one worker; both estimate the noise themselves (timed).  SpikeInterface runs
``get_noise_levels`` + ``detect_peaks(method="by_channel", n_jobs=1)`` on a lazily
band-passed ``NumpyRecording``; ours runs ``analysis.detect_file.detect_recording`` on the
same array (``analysis.source.ArrayRecording``; it also cuts waveform snippets and computes
their PCA features, which SpikeInterface's detector does not).
"""

from __future__ import annotations

import numpy as np

from bench.common import PeakMemory, Row, command, timed

FS = 30000.0
UV_PER_COUNT = 0.25


def waveform(amplitude_uV: float, width_ms: float) -> np.ndarray:
    n = max(8, round((width_ms * 3 + 0.6) * 1e-3 * FS))
    t = np.arange(n) / FS * 1e3
    w = -np.exp(-0.5 * ((t - 0.3) / (width_ms / 4)) ** 2) + 0.35 * np.exp(-0.5 * ((t - 0.3 - width_ms) / (width_ms / 2)) ** 2)
    return w / -w.min() * amplitude_uV


def make_data(n_ch: int, seconds: float, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """(int16 samples (n, n_ch), true trough sample indices per channel)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    x = rng.standard_normal((n, n_ch), dtype=np.float32) * (10.0 / UV_PER_COUNT)
    truth = []
    for c in range(n_ch):
        amp = 50 + 100 * c / max(1, n_ch - 1)
        w = waveform(amp, 0.3 + 0.5 * ((c * 7) % n_ch) / max(1, n_ch - 1)) / UV_PER_COUNT
        isi = rng.exponential(1 / 20.0, int(seconds * 30)) + 0.003
        t = (np.cumsum(isi) * FS).astype(np.int64)
        t = t[t < n - len(w)]
        idx = t[:, None] + np.arange(len(w))[None, :]
        np.add.at(x[:, c], idx.ravel(), np.tile(w, len(t)).astype(np.float32))
        truth.append(t + int(np.argmin(w)))
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16), truth


def score(found: list[np.ndarray], truth: list[np.ndarray], tol: int) -> tuple[float, float]:
    """Pooled (recall, precision) over channels, one-to-one within ±tol samples."""
    from analysis.truth import match_spikes

    hits = sum(match_spikes(f, t, tol)[0] for f, t in zip(found, truth))
    return hits / max(sum(map(len, truth)), 1), hits / max(sum(map(len, found)), 1)


def run_ours(data: np.ndarray, threads: int) -> list[np.ndarray]:
    from analysis.detect import DetectionParams
    from analysis.detect_file import detect_recording
    from analysis.source import ArrayRecording

    rec = ArrayRecording(data, FS, volts_per_count=UV_PER_COUNT * 1e-6)
    det = detect_recording(rec, DetectionParams(band_hz=(300.0, 6000.0), order=1, k=5.0, polarity="neg"),
                           threads=threads)
    return [sp.index for sp in det.spikes.values()]


def run_si(data: np.ndarray, n_jobs: int) -> list[np.ndarray]:
    import spikeinterface.core as si
    import spikeinterface.preprocessing as spre
    from spikeinterface.sortingcomponents.peak_detection import detect_peaks

    rec = si.NumpyRecording([data], sampling_frequency=FS)
    rec.set_channel_gains(UV_PER_COUNT)
    rec.set_channel_offsets(0.0)
    filt = spre.bandpass_filter(rec, freq_min=300.0, freq_max=6000.0, filter_order=1, ftype="butter")
    job = {"n_jobs": n_jobs, "chunk_duration": "1s", "progress_bar": False}
    noise = si.get_noise_levels(filt, return_in_uV=False, **job)
    peaks = detect_peaks(filt, method="by_channel", method_kwargs={"peak_sign": "neg", "detect_threshold": 5.0,
                                                                   "noise_levels": noise}, job_kwargs=job)
    return [peaks["sample_index"][peaks["channel_index"] == c] for c in range(data.shape[1])]


def run(quick: bool) -> list[Row]:
    n_ch, seconds = (4, 30.0) if quick else (16, 120.0)
    data, truth = make_data(n_ch, seconds)
    n = data.size
    run_ours(data[: int(FS)], 1)  # compile/load the kernels before timing
    t_si, si_found = timed(lambda: run_si(data, 1), repeat=1 if not quick else 2)
    with PeakMemory() as mem:
        t_ours, ours_found = timed(lambda: run_ours(data, 1), repeat=2)
    t_ours2, _ = timed(lambda: run_ours(data, 2), repeat=2)
    t_si2, _ = timed(lambda: run_si(data, 2), repeat=1)
    tol = round(0.4e-3 * FS)
    r_o, p_o = score(ours_found, truth, tol)
    r_s, p_s = score(si_found, truth, tol)
    size = f"{n_ch} ch × {seconds:g} s × 30 kHz int16"
    cmd = command("bench_detect", quick)
    note = (f"{size}; SNR 5–15; same first-order 300–6000 Hz forward–backward band-pass, 5×MAD, negative peaks; "
            "times include noise estimation")
    return [
        Row("detect", "detection throughput, one worker", n / t_ours / 1e6, n / t_si / 1e6, "Msamples/s",
            "SpikeInterface detect_peaks by_channel, n_jobs=1", cmd, True, "≥ 2× SpikeInterface",
            n / t_ours >= 2 * n / t_si, note + f"; peak RSS includes the {data.nbytes / 1e6:.0f}-MB data array",
            peak_MB=mem.peak_MB),
        Row("detect", "detection throughput, two workers", n / t_ours2 / 1e6, n / t_si2 / 1e6, "Msamples/s",
            "SpikeInterface detect_peaks by_channel, n_jobs=2", cmd, True, "", None,
            "ours: threads=2 (channels split between two threads); SpikeInterface: n_jobs=2 (processes)"),
        Row("detect", "recall vs ground truth", r_o, r_s, "fraction", "SpikeInterface detect_peaks", cmd, True,
            "≥ SpikeInterface's", r_o >= r_s, f"±{tol} samples, one-to-one"),
        Row("detect", "precision vs ground truth", p_o, p_s, "fraction", "SpikeInterface detect_peaks", cmd, True,
            "≥ SpikeInterface's", p_o >= p_s, f"±{tol} samples, one-to-one"),
    ]
