"""The HDF5 reader satisfies the ``RecordingLike`` surface the analysis reads."""

import numpy as np
import pytest

from analysis.source import RecordingLike, electrode_channels
from daq.recording import Recorder, Recording
from daq.types import AIChannel, Block, ChannelKind, StreamInfo


@pytest.fixture
def tiny_recording(tmp_path, pipette):
    path = tmp_path / "tiny.h5"
    chans = (AIChannel("electrode", "x/ai0", ChannelKind.ELECTRODE, gain=1000.0),
             AIChannel("mon", "x/ai1", ChannelKind.CURRENT_MONITOR, units="nA", gain=0.05, barrel="glu"))
    st = StreamInfo(20000.0, chans, np.dtype(np.int16), (1e-4, 1e-4), (0.0, 0.0))
    rec = Recorder(path, pipette=pipette)
    rec.start(st)
    rec.on_block(Block(0, np.zeros((2000, 2), np.int16)))
    rec.stop()
    return path


def test_the_hdf5_reader_is_recording_like(tiny_recording):
    with Recording(tiny_recording) as rec:
        assert isinstance(rec, RecordingLike)
        assert electrode_channels(rec) == [0]
        assert electrode_channels(rec, ["mon"]) == [1]
        assert electrode_channels(rec, ["1"]) == [1]
        with pytest.raises(ValueError, match=r"no channel named .x.*electrode"):
            electrode_channels(rec, ["x"])


def test_an_array_in_memory_goes_through_the_whole_pipeline():
    from synth import pipette, waveform

    from analysis.detect import DetectionParams
    from analysis.filters import BandError
    from analysis.pipeline import AnalysisParams, analyze
    from analysis.source import ArrayRecording
    from daq.types import EventKind, LogEvent

    fs = 10000.0
    rng = np.random.default_rng(2)
    n = int(200 * fs)
    x = rng.standard_normal(n) * 10e-6
    w = waveform(fs, 120, 0.5) * 1e-6
    rate = np.full(n, 10.0)
    for k, on in enumerate((40, 90, 140)):
        rate[int(on * fs):int((on + 15) * fs)] = 10.0 * (1 + k)  # 10, 20, 30 Hz during 15-s ejections
    spikes = np.flatnonzero(rng.random(n) < rate / fs)
    spikes = spikes[np.r_[True, np.diff(spikes) > 30] & (spikes < n - len(w))]
    for s in spikes:
        x[s:s + len(w)] += w
    events = []
    for k, on in enumerate((40, 90, 140)):
        events += [LogEvent(int(on * fs), EventKind.EJECT, "glu", -10.0 * (k + 1)),
                   LogEvent(int((on + 15) * fs), EventKind.RETAIN, "glu", 10.0)]
    rec = ArrayRecording(x, fs, ["electrode"], events=events, pipette=pipette())
    assert isinstance(rec, RecordingLike)
    with pytest.raises(BandError, match="<array> is sampled at 10000 Hz"):  # the default band needs 13.3 kHz
        analyze(rec)
    res = analyze(rec, AnalysisParams(detection=DetectionParams(band_hz=(300.0, 4500.0))))
    assert res.detection.params.band_hz == (300.0, 4500.0)
    assert [round(ep.percent_change, -1) for ep in res.epochs] == pytest.approx([0, 100, 200], abs=40)
    assert len(res.spike_index) == pytest.approx(len(spikes), rel=0.02)
