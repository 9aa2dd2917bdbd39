"""A second simulated NI server on a port already in use is refused (gRPC's SO_REUSEPORT,
on by default, would let both listen and share the clients)."""

from __future__ import annotations

import pytest

from app.cli.main import main
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer


def test_a_second_server_on_the_same_port_is_refused():
    with SimNIServer(load_preset("cortex"), port=0) as first:
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{first.port} \(is the port in use\?\)"):
            SimNIServer(load_preset("cortex"), port=first.port)


def test_sim_server_on_a_port_in_use_exits_1_with_one_line(capsys):
    with SimNIServer(load_preset("cortex"), port=0) as first:
        code = main(["sim-server", "--port", str(first.port)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"cannot serve on 127.0.0.1:{first.port}" in lines[0]


def test_sim_server_refuses_a_bad_interlock_line(capsys):
    assert main(["sim-server", "--port", "0", "--interlock", "port1/line9"]) == 1
    err = capsys.readouterr().err
    assert "--interlock port1/line9" in err and "not a port0 line" in err
