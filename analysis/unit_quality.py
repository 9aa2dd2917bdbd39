"""Quality metrics and cell type of sorted units, computed by SpikeInterface.

``unit_quality(recording, sorting)`` builds a SpikeInterface ``SortingAnalyzer`` over the
band-passed recording (SpikeInterface's ``bandpass_filter``, the detection band) and takes
from it, per unit:

* the quality metrics of ``spikeinterface.metrics`` (Allen Institute's ecephys set): ``snr``
  (peak template amplitude on the best channel / MAD noise), ``isi_violations_ratio`` and
  ``isi_violations_count`` (Hill et al. 2011 J Neurosci 31:8699; refractory period
  1.5 ms), ``presence_ratio`` (share of 60-s bins with spikes) and ``amplitude_cutoff``
  (estimated share of spikes missed below the detection threshold);
* the template on its best channel, and its trough-to-peak width
  (``peak_to_trough_duration``: trough to the following peak);
* a cell type from that width: **narrow** (≤ ``NARROW_MAX_MS`` = 0.4 ms, putative fast-spiking
  interneurons) or **broad** (> 0.4 ms, putative regular-spiking/pyramidal cells), the
  threshold of the Allen Brain Observatory's Neuropixels survey (Siegle et al. 2021, Nature
  592:86, "waveform duration" < 0.4 ms = fast-spiking; the bimodal trough-to-peak
  distribution was described by Barthó et al. 2004, J Neurophysiol 92:600).  It is a
  putative type from one extracellular waveform, not an identification; a template with no
  clear trough and later peak gets ``"unknown"``.

Thread: the caller's; SpikeInterface runs with one job (the machine's cores belong to
the rest of the analysis).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NARROW_MAX_MS = 0.4
QUALITY_METRICS = ("snr", "isi_violation", "presence_ratio")  # + amplitude_cutoff, from the spike amplitudes
MAX_SPIKES_FOR_TEMPLATE = 500
ISI_THRESHOLD_MS = 1.5  # SpikeInterface's default refractory period for isi_violation


@dataclass(frozen=True)
class UnitQuality:
    snr: float
    isi_violations_ratio: float  # contamination estimate (Hill et al. 2011); 0 = none
    isi_violations_count: int  # ISIs shorter than ISI_THRESHOLD_MS
    presence_ratio: float  # 0–1
    amplitude_cutoff: float  # estimated share of spikes below threshold, 0–0.5 (NaN: too few spikes)
    trough_to_peak_ms: float
    cell_type: str  # "narrow", "broad" or "unknown"
    best_channel: str
    template_uV: np.ndarray  # mean filtered waveform on the best channel (µV)
    template_t_ms: np.ndarray  # its times relative to the spike (ms)

    def as_dict(self) -> dict:
        return {"snr": self.snr, "isi_violations_ratio": self.isi_violations_ratio,
                "isi_violations_count": self.isi_violations_count, "presence_ratio": self.presence_ratio,
                "amplitude_cutoff": self.amplitude_cutoff, "trough_to_peak_ms": self.trough_to_peak_ms,
                "cell_type": self.cell_type, "best_channel": self.best_channel}


def cell_type(trough_to_peak_ms: float) -> str:
    """``"narrow"`` (≤ 0.4 ms), ``"broad"`` (> 0.4 ms) or ``"unknown"`` (no width)."""
    if not np.isfinite(trough_to_peak_ms) or trough_to_peak_ms <= 0:
        return "unknown"
    return "narrow" if trough_to_peak_ms <= NARROW_MAX_MS else "broad"


def unit_quality(recording, sorting, band_hz: tuple[float, float] = (300.0, 6000.0),
                 seed: int = 0, amplitudes_uV: dict | None = None) -> dict:
    """``{unit_id: UnitQuality}`` for the units of ``sorting`` (SpikeInterface objects) on the
    raw ``recording`` (µV), band-passed here.  ``amplitudes_uV``: every spike's filtered peak
    amplitude per unit when already known (the detector's, for units separated on one
    channel) — then the amplitude cutoff needs no pass over the whole recording (otherwise
    SpikeInterface's ``spike_amplitudes`` reads every spike)."""
    import spikeinterface.core as sc
    from spikeinterface.metrics.quality.misc_metrics import amplitude_cutoff
    from spikeinterface.preprocessing import bandpass_filter

    if sorting.get_num_units() == 0:
        return {}
    nyq = recording.get_sampling_frequency() / 2
    filtered = bandpass_filter(recording, freq_min=band_hz[0], freq_max=min(band_hz[1], 0.95 * nyq), dtype="float32")
    job = dict(n_jobs=1, progress_bar=False)
    analyzer = sc.create_sorting_analyzer(sorting, filtered, format="memory", sparse=False, return_in_uV=True,
                                          seed=seed, job_kwargs=job)
    analyzer.compute("random_spikes", method="uniform", max_spikes_per_unit=MAX_SPIKES_FOR_TEMPLATE, seed=seed)
    analyzer.compute("noise_levels", **job)
    analyzer.compute("templates", ms_before=1.0, ms_after=2.0, operators=["average"], **job)
    if amplitudes_uV is None:
        analyzer.compute("spike_amplitudes", **job)
    qm = analyzer.compute("quality_metrics", metric_names=list(QUALITY_METRICS), skip_pc_metrics=True,
                          **job).get_data()
    amps = (amplitudes_uV if amplitudes_uV is not None
            else analyzer.get_extension("spike_amplitudes").get_data(outputs="by_unit")[0])
    tm = analyzer.compute("template_metrics", metric_names=["peak_to_trough_duration"], **job).get_data()
    templates = analyzer.get_extension("templates").get_templates(operator="average")
    nbefore = analyzer.get_extension("templates").nbefore
    t_ms = (np.arange(templates.shape[1]) - nbefore) / recording.get_sampling_frequency() * 1e3
    channel_ids = list(recording.get_channel_ids())
    out = {}
    for i, uid in enumerate(sorting.unit_ids):
        best = int(np.argmax(np.max(np.abs(templates[i]), axis=0)))
        width_ms = float(tm.loc[uid, "peak_to_trough_duration"]) * 1e3
        out[uid] = UnitQuality(
            snr=float(qm.loc[uid, "snr"]), isi_violations_ratio=float(qm.loc[uid, "isi_violations_ratio"]),
            isi_violations_count=int(qm.loc[uid, "isi_violations_count"]),
            presence_ratio=float(qm.loc[uid, "presence_ratio"]),
            amplitude_cutoff=float(amplitude_cutoff(np.abs(np.asarray(amps[uid], dtype=np.float64)))),
            trough_to_peak_ms=width_ms, cell_type=cell_type(width_ms), best_channel=str(channel_ids[best]),
            template_uV=templates[i, :, best].astype(np.float64), template_t_ms=t_ms)
    return out
