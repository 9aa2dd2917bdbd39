"""Opt-in tests on a real NI board: ``pytest --ni-device Dev1 tests/daq/test_ni_hardware.py``.

They read the board's capabilities and acquire from its inputs; they never drive an
output, so they are safe with a current source (and a preparation) connected.  A lab runs
them once when it installs ionto, and after changing the driver or the board.
"""

from __future__ import annotations

import numpy as np
import pytest

from daq.errors import ConfigError
from daq.ni import NIConnection, NIDevice, capabilities
from daq.types import AcquisitionConfig, AIChannel

pytestmark = pytest.mark.ni_hardware


@pytest.fixture
def board(request) -> str:
    return request.config.getoption("--ni-device")


def test_the_board_reports_its_capabilities(board):
    caps = capabilities(NIConnection(), board)
    assert caps.ai_channels and caps.ai_max_single_rate_hz > 0
    assert caps.ai_ranges_V, "the driver lists no AI voltage ranges"
    print(caps.describe())


def test_continuous_acquisition_has_contiguous_read_positions(board):
    caps = capabilities(NIConnection(), board)
    chans = caps.ai_channels[:2]
    rate = min(20_000.0, caps.max_ai_rate(len(chans)))
    cfg = AcquisitionConfig(rate, tuple(AIChannel(f"ch{i}", p, range_V=caps.ai_ranges_V[-1])
                                        for i, p in enumerate(chans)), (), block_samples=int(rate // 20))
    dev = NIDevice(board)
    try:
        stream = dev.configure(cfg)
        dev.start()
        blocks = [dev.read(cfg.block, 5.0) for _ in range(40)]  # 2 s
        dev.stop()
    finally:
        dev.close()
    assert [b.start_index for b in blocks] == [i * cfg.block for i in range(40)]
    data = np.concatenate([b.data for b in blocks])
    assert data.shape == (40 * cfg.block, len(chans)) and stream.dtype == np.float32
    assert np.all(np.abs(data) <= caps.ai_ranges_V[-1] * 1.1)


def test_a_rate_beyond_the_board_is_refused_with_its_limit(board):
    caps = capabilities(NIConnection(), board)
    too_fast = caps.max_ai_rate(1) * 2
    cfg = AcquisitionConfig(too_fast, (AIChannel("ch0", caps.ai_channels[0]),), ())
    dev = NIDevice(board)
    try:
        with pytest.raises(ConfigError, match="exceeds its maximum"):
            dev.configure(cfg)
    finally:
        dev.close()
