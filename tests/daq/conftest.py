"""Fixtures for the NI backend: a simulated NI-DAQmx gRPC device served in-process."""

from __future__ import annotations

import pytest

from daq.ni import NIConnection, NIDevice
from daq.ni.rigs import rig_on_device
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer


@pytest.fixture
def ni_rig():
    """The cortex preset wired to Dev1 (electrode on ai0, monitors ai1..ai5, barrels ao0..ao4)."""
    return rig_on_device(load_preset("cortex"), "Dev1")


@pytest.fixture
def sim_server(request):
    """A simulated NI device in real time; ``@pytest.mark.parametrize`` can't reach here,
    so tests that need another setup start their own ``SimNIServer``."""
    server = SimNIServer(load_preset("cortex"), port=0, speed=1.0, seed=7, preset="cortex").start()
    yield server
    server.stop()


def make_device(server: SimNIServer, rig, **kw) -> NIDevice:
    conn = NIConnection("127.0.0.1", server.port)
    return NIDevice("Dev1", conn, safe_volts=rig.pipette.safe_volts(), ao_limits_V=rig.pipette.ao_limits_V(), **kw)
