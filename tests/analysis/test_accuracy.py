"""Detection accuracy against the simulated rig's ground truth (``/ground_truth/spike_index``).

SNR = spike trough amplitude / RMS of the electrode's white noise (the simulator's
``amplitude_uV / thermal_uV_rms``; the "noise level" of Quiroga et al. 2004 is its inverse).
"""

import pytest
from synth import match

from analysis.detect import DetectionParams
from analysis.detect_file import detect_recording
from daq.engine import Engine
from daq.recording import Recorder, Recording
from mock_daq import SimDevice, load_preset


def record_sim(path, seconds, neurons, noise_rms_uV, seed=3):
    rig = load_preset("cortex")
    sim = dict(rig.simulation or {})
    sim["neurons"] = neurons
    sim["noise"] = {**sim.get("noise", {}), "thermal_uV_rms": noise_rms_uV}
    rig = rig.model_copy(update={"simulation": sim})
    dev = SimDevice(rig, seed=seed, speed=None)
    n = int(seconds * rig.rate_hz)
    eng = Engine(dev, rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s,
                 recorder=Recorder(path, pipette=rig.pipette), stop_after_samples=n)
    eng.start()
    assert eng.join(300)
    assert eng.error is None, eng.error
    return path


@pytest.fixture(scope="module")
def snr5(tmp_path_factory):
    path = tmp_path_factory.mktemp("acc") / "snr5.h5"
    neuron = {"baseline_hz": 20, "max_rate_hz": 40, "refractory_ms": 2, "amplitude_uV": 50, "width_ms": 0.5,
              "distance_um": 40}
    return record_sim(path, 40.0, [neuron], noise_rms_uV=10.0)


def test_recall_and_precision_at_least_95_percent_at_snr_5(snr5):
    with Recording(snr5) as rec:
        truth = rec.truth("spike_index/neuron0")
        det = detect_recording(rec, DetectionParams(k=5.0))
        fs = rec.rate_hz
    sp = det.spikes["electrode"]
    assert len(truth) > 500
    # the simulator's spike time marks the waveform start; its trough is 0.3 ms later
    recall, precision = match(sp.index, truth + round(0.3e-3 * fs), tol=round(0.4e-3 * fs))
    assert recall >= 0.95, recall
    assert precision >= 0.95, precision
