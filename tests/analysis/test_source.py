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
