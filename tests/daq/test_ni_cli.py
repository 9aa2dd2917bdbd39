"""``ionto devices``, ``ionto run`` and ``ionto analyze`` through the NI backend against the
simulated NI-DAQmx gRPC device — a shortened dose–response at 2x real time — compared with
the same protocol on the in-process simulated rig."""

from __future__ import annotations

import json

import pytest
import yaml

from app.cli.main import main
from daq.ni.rigs import rig_on_device
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer

SHORT = """\
name: short glutamate dose-response
plan: dose_response
params:
  barrel: glu
  currents_nA: [20, 80]
  eject_s: 4
  recovery_s: 4
  baseline_s: 4
"""


def _json(capsys, argv: list[str]) -> dict:
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.fixture
def server():
    with SimNIServer(load_preset("cortex"), port=0, speed=2.0, seed=11, preset="cortex") as s:
        yield s


def test_devices_lists_the_simulated_board(server, capsys):
    doc = _json(capsys, ["devices", "--device", f"ni+grpc://127.0.0.1:{server.port}", "--json"])
    (dev,) = doc["devices"]
    assert dev["url"] == server.url() and dev["product"] == "ionto SimRig (preset cortex)"
    assert dev["ai_channels"][:2] == ["Dev1/ai0", "Dev1/ai1"] and dev["max_ao_rate_hz"] == 1e6


def test_run_without_rig_uses_the_servers_preset_and_refuses_a_foreign_rig(server, tmp_path, capsys):
    from app.session import resolve_rig

    rig = resolve_rig(server.url())
    assert rig.electrodes[0].physical == "Dev1/ai0" and rig.pipette.barrels[0].ao_channel == "Dev1/ao0"
    other = tmp_path / "rig.yaml"
    other.write_text(yaml.safe_dump(load_preset("cortex").model_dump(mode="json")))  # channels on 'sim'
    code = main(["run", "x.yaml", "--device", server.url(), "--rig", str(other)])
    err = capsys.readouterr().err
    assert code == 1 and "no such protocol file" in err
    from daq.errors import ConfigError

    with pytest.raises(ConfigError, match=r"channels are on \['sim'\], not on 'Dev1'"):
        resolve_rig(server.url(), other)


def test_devices_with_a_dead_address_is_one_clear_line(capsys):
    code = main(["devices", "--device", "ni+grpc://127.0.0.1:1/Dev1"])
    err = capsys.readouterr().err
    assert code == 1 and "no NI-DAQmx gRPC server answers at 127.0.0.1:1" in err and "Traceback" not in err


def test_run_and_analyze_over_the_ni_backend_match_the_in_process_rig(server, tmp_path, capsys):
    proto = tmp_path / "short.yaml"
    proto.write_text(SHORT)
    # the rig file a lab would write for this board: the preset's wiring on Dev1, AO 1 s ahead (0.5 s of wall time at 2x)
    rig = rig_on_device(load_preset("cortex"), "Dev1").model_copy(update={"ao_lead_s": 1.0})
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text(yaml.safe_dump(rig.model_dump(mode="json"), sort_keys=False))
    ni_rec, sim_rec = tmp_path / "ni.h5", tmp_path / "sim.h5"
    run = _json(capsys, ["run", str(proto), "--device", server.url(), "--rig", str(rig_file),
                         "--out", str(ni_rec), "--json"])
    assert run["error"] is None and run["gaps"] == 0
    assert run["duration_s"] == pytest.approx(20.0, abs=0.1)
    ref = _json(capsys, ["run", str(proto), "--device", "sim", "--rig", str(rig_file), "--seed", "11",
                         "--out", str(sim_rec), "--json"])
    ni = _json(capsys, ["analyze", str(ni_rec), "--out", str(tmp_path / "ni"), "--json"])
    sim = _json(capsys, ["analyze", str(sim_rec), "--out", str(tmp_path / "sim"), "--json"])
    assert ni["duration_s"] == pytest.approx(ref["duration_s"], abs=0.1)

    def epochs(doc):
        return [(e["barrel"], e["current_nA"], round(e["onset_s"], 4), round(e["duration_s"], 4))
                for e in doc["epochs"]]

    assert epochs(ni) == epochs(sim) == [("glu", -20.0, 4.0, 4.0), ("glu", -80.0, 12.0, 4.0)]
    # the same simulated neuron (same seed) seen through either path: glutamate excites it alike
    r_ni = [e["percent_change"] for e in ni["epochs"]]
    r_sim = [e["percent_change"] for e in sim["epochs"]]
    assert min(r_ni) > 50 and r_ni == pytest.approx(r_sim, rel=1e-6)
    assert ni["spikes"]["electrode"]["count"] == sim["spikes"]["electrode"]["count"] > 100


@pytest.mark.parametrize("argv, says", [
    (["--product", "pcie-9999"], "--product: unknown product 'pcie-9999'; one of pcie-6363, usb-6343, pcie-6738"),
    (["--product", "pcie-6363", "--fault", "usb@1"], "--fault usb@1: a USB transfer error needs a USB device; "
                                                     "PCIe-6363 is not one"),
    (["--fault", "sometimes"], "--fault 'sometimes': write CODE@SECONDS, e.g. underflow@2.5 or --fault=-200621@2.5"),
    (["--fault=-200077@1"], "--fault -200077@1: NI error -200077 cannot be scheduled"),
    (["--product", "pcie-6363", "--chassis", "cDAQ1"], "--chassis cDAQ1: pcie-6363 is not a cDAQ chassis profile"),
])
def test_sim_server_refuses_bad_product_and_fault_options_in_one_line(argv, says, capsys):
    code = main(["sim-server", "--port", "0", *argv])
    err = capsys.readouterr().err
    assert code == 1 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
