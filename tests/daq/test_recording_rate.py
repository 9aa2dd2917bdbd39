"""A recording whose sample rate is not a positive number is damaged (issue 13: rate_hz = 0
was an internal error, ZeroDivisionError in ``ionto info``)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.cli.main import main as ionto
from daq.errors import DamagedRecordingError
from daq.recording import Recorder, Recording
from daq.types import AIChannel, Block, StreamInfo


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    def make(rate: float):
        p = tmp_path_factory.mktemp("rate") / "rec.h5"
        rec = Recorder(p)
        rec.start(StreamInfo(1000.0, (AIChannel("e", "x/ai0"),), np.dtype(np.int16), (1.0,), (0.0,)))
        rec.on_block(Block(0, np.zeros((2000, 1), np.int16)))
        rec.stop()
        with h5py.File(p, "r+", locking=False) as f:
            f["acquisition"].attrs["rate_hz"] = rate
        return p

    return make


@pytest.mark.parametrize("rate", [0.0, -20000.0, float("nan"), float("inf"), -float("inf")])
def test_a_rate_that_is_not_positive_and_finite_is_damage(made, rate, capsys):
    p = made(rate)
    with pytest.raises(DamagedRecordingError, match=r"sample rate \(/acquisition rate_hz\) is .* Hz, not a positive"):
        Recording(p)
    for verb in (["info", str(p)], ["info", str(p), "--json"], ["analyze", str(p), "--out", str(p.parent / "a")]):
        assert ionto(verb) == 1
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and "internal error" not in err
        lines = [ln for ln in err.splitlines() if ln.startswith("ionto")]
        assert len(lines) == 1 and f"{p}: the file is damaged: its sample rate" in lines[0], err
