"""Detection against the simulator's ground-truth spikes, and the streaming detector."""

import numpy as np

from analysis.detect import DetectionParams, StreamingDetector, detect_spikes
from daq.schedule import AOSchedule
from daq.types import Block
from mock_daq import SimDevice, load_preset


def simulate(seconds=20.0, seed=2):
    rig = load_preset("cortex")
    dev = SimDevice(rig, seed=seed)
    st = dev.configure(rig.acquisition_config())
    n = int(seconds * rig.rate_hz)
    sched = AOSchedule(rig.pipette)
    sched.set_current("glu", -40.0, n // 3)
    dev.write_ao(0, sched.render_volts(0, n))
    dev.start()
    data = dev.read(n, 5.0).data
    truth = dev.drain_truth()["spike_index/neuron0"]
    return st, data, truth


def match(detected, truth, tol):
    """Greedy one-to-one matching within ±tol samples: (hits, misses, false alarms)."""
    j = 0
    hits = 0
    used = np.zeros(len(detected), bool)
    for t in truth:
        while j < len(detected) and detected[j] < t - tol:
            j += 1
        k = j
        while k < len(detected) and detected[k] <= t + tol:
            if not used[k]:
                used[k] = True
                hits += 1
                break
            k += 1
    return hits, len(truth) - hits, int((~used).sum())


def test_batch_detection_recall_and_precision_on_ground_truth():
    st, data, truth = simulate()
    x = st.to_physical(data[:, 0], 0)
    sp = detect_spikes(x, st.rate_hz, DetectionParams(k=5))
    # truth marks the waveform start; the trough is ~0.3 ms later
    hits, _miss, fa = match(sp.index, truth + round(0.3e-3 * st.rate_hz), tol=round(0.5e-3 * st.rate_hz))
    assert hits / len(truth) >= 0.95
    assert hits / (hits + fa) >= 0.95


def test_streaming_detector_finds_the_batch_spikes_within_the_filter_delay():
    st, data, _truth = simulate(10.0)
    x = st.to_physical(data[:, 0], 0)
    batch = detect_spikes(x, st.rate_hz)
    det = StreamingDetector(calibrate_s=1.0)
    det.start(st)
    rng = np.random.default_rng(1)
    i = 0
    while i < len(data):
        n = int(rng.integers(50, 3000))
        det.on_block(Block(i, data[i:i + n]))
        i += n
    online = det.recent_spikes()
    after = batch.index[batch.index > st.rate_hz * 1.0]  # after calibration
    hits, _miss, _fa = match(online, after, tol=round(0.6e-3 * st.rate_hz))
    assert hits / len(after) >= 0.95
    assert det.rate_hz(5.0) is not None
