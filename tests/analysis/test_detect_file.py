"""Detection over whole files: chunking, threads, channels, gaps, progress, bad input."""

import itertools

import numpy as np
import pytest
from synth import Neuron, Synth, match, write

from analysis.detect import DetectionParams, detect_spikes, mad_sigma
from analysis.detect_file import detect_recording, estimate_sigma, segment_rows
from analysis.filters import zero_phase
from daq.recording import Recording


@pytest.fixture(scope="module")
def three_channels(tmp_path_factory):
    path = tmp_path_factory.mktemp("df") / "three.h5"
    neurons = [Neuron(baseline_hz=15, amplitude_uV=a) for a in (150, 90, 60)]
    truth = write(path, Synth(duration_s=45, ejections=[], neurons=neurons, n_electrodes=3, seed=9,
                              gaps=[(20.0, 0.5)]))
    return path, truth


def test_every_electrode_channel_is_detected_across_a_gap(three_channels):
    path, truth = three_channels
    seen = []
    with Recording(path) as rec:
        assert segment_rows(rec) == [(0, 400000), (400000, rec.n_samples)]
        det = detect_recording(rec, progress=lambda done, total: seen.append((done, total)))
    assert list(det.spikes) == ["e0", "e1", "e2"]
    for k, name in enumerate(det.spikes):
        recall, precision = match(det.spikes[name].index, truth["spikes"][k] + 6, 8)
        assert recall > 0.98 and precision > 0.98, (name, recall, precision)
    assert seen[-1][0] == seen[-1][1] and all(a[0] < b[0] for a, b in itertools.pairwise(seen))


def test_chunk_size_and_threads_do_not_change_the_spikes(three_channels):
    path, _ = three_channels
    with Recording(path) as rec:
        a = detect_recording(rec, chunk_rows=20000, threads=1)
        b = detect_recording(rec, chunk_rows=77777, threads=2, min_group_channels=1)  # 2 groups of channels
        c = detect_recording(rec)  # the defaults: one group (fewer than 16 channels), 2**17-row chunks
    assert list(a.spikes) == list(b.spikes) == list(c.spikes) == ["e0", "e1", "e2"]
    assert all(len(a.spikes[name].index) > 100 for name in a.spikes)  # 45 s at 15 Hz: spikes to compare
    for name in a.spikes:
        assert np.array_equal(a.spikes[name].index, c.spikes[name].index)
        assert np.array_equal(a.spikes[name].index, b.spikes[name].index)
        assert np.allclose(a.spikes[name].amplitude, b.spikes[name].amplitude, rtol=1e-9, atol=1e-15)


def test_file_detection_equals_array_detection_for_one_segment(tmp_path):
    path = tmp_path / "one.h5"
    write(path, Synth(duration_s=30, ejections=[], seed=5))
    with Recording(path) as rec:
        x = rec.physical(0)
        det = detect_recording(rec, noise_windows=1000)  # windows cover the whole record: exact MAD
    arr = detect_spikes(x, rec.rate_hz)
    sp = det.spikes["electrode"]
    assert sp.sigma == pytest.approx(arr.sigma, rel=1e-6)
    assert np.array_equal(sp.index, arr.index)


def test_noise_estimate_from_windows_is_close_to_the_whole_record(three_channels):
    path, _ = three_channels
    params = DetectionParams()
    with Recording(path) as rec:
        sig = estimate_sigma(rec, [0, 1, 2], params, windows=10, window_s=1.0)
        exact = [mad_sigma(zero_phase(rec.physical(c), params.bandpass(rec.rate_hz))) for c in range(3)]
    assert np.allclose(sig, exact, rtol=0.05)


def test_channel_errors_name_the_file_and_the_choices(three_channels):
    path, _ = three_channels
    with Recording(path) as rec:
        with pytest.raises(ValueError, match=r"no channel named 'x'; channels are \['e0', 'e1', 'e2', 'glu_mon'\]"):
            detect_recording(rec, channels=["x"])
        with pytest.raises(ValueError, match="carry no signal"):
            detect_recording(rec, channels=["glu_mon"])  # the monitor is flat (no ejections)
