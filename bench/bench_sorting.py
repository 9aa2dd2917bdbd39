"""Sorting a 16-channel group: ionto's ``sort_units`` vs the same SpikeInterface sorter call run directly.

Data: SpikeInterface ground truth (``generate_ground_truth_recording`` with templates from
``generate_templates``, as ``tests/analysis/si_truth.py``): 16 channels (2 × 8 at 20 µm), 10
units at 15 Hz with peak SNR 6–16, 5 µV noise, 30 kHz, written once as int16 (0.25 µV per
count) to ``bench/_work``.  Ours: ``analysis.sorting.sort_units`` on the recording seen as an
ionto ``ArrayRecording`` over a memory map of that file — the 16 channels as one group,
SpikeInterface's tridesclous2 with one job (given the probe's contact positions, as a user
gives their probe's), ionto's split pass (``analysis.sorting_split``) and the removal of
units found twice, then SpikeInterface's quality metrics and cell type for every unit (timed; detection is not: ``bench_detect`` times it).  Reference:
``spikeinterface.sorters.run_sorter("tridesclous2", …, n_jobs=1)`` on the same file read
by SpikeInterface's ``BinaryRecordingExtractor`` with the same channel positions.  Full: 1 h (target: ours ≤ 10 min);
``--quick``: 60 s.  Agreement with the ground truth (units with SNR ≥ 8 found with
accuracy ≥ 0.9) is reported beside the time.  Both paths first run once on the first 10 s,
so that neither pays for compiling the sorter's numba kernels.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from bench.common import WORK_DIR, PeakMemory, Row, command, timed

FS = 30000.0
UV_PER_COUNT = 0.25
N_CH, N_UNITS = 16, 10


def make_data(seconds: float, path: Path):
    """Write the ground truth's samples to ``path`` (int16, (samples, 16)); return (sorting, snr,
    contact positions in µm)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "analysis"))
    from si_truth import ground_truth

    rec, truth, snr = ground_truth(N_CH, N_UNITS, duration_s=seconds, rate_hz=FS, seed=0)
    n = rec.get_num_samples()
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.int16, shape=(n, N_CH))
    step = int(60 * FS)
    for a in range(0, n, step):
        x = rec.get_traces(start_frame=a, end_frame=min(n, a + step)) / UV_PER_COUNT
        out[a:a + len(x)] = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    out.flush()
    del out
    return truth, snr, rec.get_channel_locations()


def run_ours(path: Path, positions_um: np.ndarray, seconds: float | None = None):
    from analysis.detect import DetectionParams
    from analysis.detect_file import detect_recording
    from analysis.sorting import SortingParams, sort_units
    from analysis.source import ArrayRecording

    data = np.load(path, mmap_mode="r")
    if seconds is not None:
        data = data[: int(seconds * FS)]
    names = [f"e{i}" for i in range(N_CH)]
    rec = ArrayRecording(data, FS, names, volts_per_count=UV_PER_COUNT * 1e-6)
    det = detect_recording(rec, DetectionParams(), None, None)
    params = SortingParams(groups=(tuple(names),), positions_um=dict(zip(names, map(tuple, positions_um.tolist()))))
    t, units = timed(lambda: sort_units(rec, det, params))
    return t, {u.label: u.index for us in units.values() for u in us}


def run_si(path: Path, positions_um: np.ndarray, seconds: float | None = None):
    import spikeinterface.sorters as ss
    from spikeinterface.core import BinaryRecordingExtractor

    data = np.load(path, mmap_mode="r")
    offset = data.offset
    n = data.shape[0]
    del data
    rec = BinaryRecordingExtractor(path, FS, "int16", num_channels=N_CH, file_offset=offset,
                                   gain_to_uV=UV_PER_COUNT, offset_to_uV=0.0)
    rec = rec.frame_slice(0, n if seconds is None else int(seconds * FS))
    rec.set_dummy_probe_from_locations(positions_um)  # the same contact positions as ours
    folder = WORK_DIR / "sorting_si"
    return timed(lambda: ss.run_sorter("tridesclous2", rec, folder=folder, remove_existing_folder=True,
                                       verbose=False, job_kwargs={"n_jobs": 1, "progress_bar": False}, seed=0))


def agreement(found: dict, truth) -> np.ndarray:
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    from spikeinterface.core import NumpySorting

    sorting = found if not isinstance(found, dict) else NumpySorting.from_unit_dict([found], FS)
    cmp = compare_sorter_to_ground_truth(truth, sorting, delta_time=0.5, exhaustive_gt=True)
    return cmp.get_performance()["accuracy"].to_numpy(dtype=float)


def run(quick: bool = False) -> list[Row]:
    seconds = 60.0 if quick else 3600.0
    WORK_DIR.mkdir(exist_ok=True)
    path = WORK_DIR / f"sorting_{int(seconds)}s.npy"
    truth, snr, positions_um = make_data(seconds, path)
    run_ours(path, positions_um, 10.0)  # compile every numba kernel of both paths (tridesclous2's, the metrics')
    run_si(path, positions_um, 10.0)
    with PeakMemory() as mem:
        t_ours, found = run_ours(path, positions_um)
    t_si, si_sorting = run_si(path, positions_um)
    acc_ours, acc_si = agreement(found, truth), agreement(si_sorting, truth)
    good = snr >= 8
    cmd = command("bench_sorting", quick)
    size = f"{N_CH} ch × {seconds:g} s × 30 kHz int16, {N_UNITS} units, SNR 6–16"
    rows = [
        Row("sorting", "sorting time, 16-channel group (tridesclous2, one job)", t_ours, t_si, "s",
            "SpikeInterface run_sorter('tridesclous2', n_jobs=1) on the same file", cmd, False,
            "≤ 600 s for 1 h" if not quick else "", (t_ours <= 600.0) if not quick else None,
            size + "; ours includes the int16→binary copy of the group, the split pass and the quality metrics",
            peak_MB=mem.peak_MB),
        Row("sorting", "units with SNR ≥ 8 found with accuracy ≥ 0.9", float(np.mean(acc_ours[good] >= 0.9)),
            float(np.mean(acc_si[good] >= 0.9)), "fraction", "SpikeInterface run_sorter('tridesclous2')", cmd, True,
            "all (1.0)", bool(np.all(acc_ours[good] >= 0.9)),
            "accuracy per ground-truth unit (compare_sorter_to_ground_truth, 0.5 ms): "
            + ", ".join(f"SNR {s:.1f}: {a:.3f}" for s, a in zip(snr, acc_ours))),
    ]
    path.unlink(missing_ok=True)
    shutil.rmtree(WORK_DIR / "sorting_si", ignore_errors=True)
    return rows
