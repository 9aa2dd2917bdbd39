"""The NI backend on each simulated product profile (``SimNIServer(..., product=...)``): a
short dose–response in real time over gRPC with no gap where the product can serve the rig,
one line naming what is missing where it cannot; the coerced rate refused with the rates
the timebase can make; a scheduled NI fault recorded as a gap."""

from __future__ import annotations

import json

import pytest
import yaml

from app.cli.main import main
from daq.errors import ConfigError
from daq.ni import NIConnection, NIDevice
from mock_daq import load_preset
from mock_daq.nigrpc import SimNIServer
from mock_daq.nigrpc.spec import rig_on_spec

SHORT = """\
name: short glutamate dose-response
plan: dose_response
params:
  barrel: glu
  currents_nA: [20, 80]
  eject_s: 2
  recovery_s: 2
  baseline_s: 2
"""


def four_barrels(rig):
    """The cortex preset without its fifth barrel: fits a board with 4 AO."""
    pipette = rig.pipette.model_copy(update={"barrels": rig.pipette.barrels[:4]})
    return rig.model_copy(update={"pipette": pipette})


def run_short(server: SimNIServer, rig, tmp_path, capsys) -> tuple[int, dict, str]:
    """``ionto run --json``: (exit code, the JSON document, stderr)."""
    proto = tmp_path / "short.yaml"
    proto.write_text(SHORT)
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text(yaml.safe_dump(rig.model_dump(mode="json"), sort_keys=False))
    code = main(["run", str(proto), "--device", server.url(), "--rig", str(rig_file), "--out",
                 str(tmp_path / "rec.h5"), "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


@pytest.mark.parametrize("product, barrels", [("cdaq-9189", 5), ("pcie-6363", 4), ("usb-6343", 4)])
def test_the_demo_protocol_runs_in_real_time_without_gaps_on_the_product(product, barrels, tmp_path, capsys):
    rig = load_preset("cortex")  # the simulated preparation; the client's rig file has what the board serves
    with SimNIServer(rig, port=0, speed=1.0, seed=3, product=product) as server:
        wired = rig_on_spec(rig, server.spec).model_copy(update={"ao_lead_s": 0.5})
        code, doc, _ = run_short(server, wired if barrels == 5 else four_barrels(wired), tmp_path, capsys)
        assert code == 0, doc["error"]
        assert doc["error"] is None and doc["gaps"] == 0
        assert doc["duration_s"] == pytest.approx(10.0, abs=0.1)
        assert server.hardware.runs == 1


@pytest.mark.parametrize("product, needs", [
    ("pcie-6363", "the rig needs 5 analog outputs on Dev1; Dev1 (PCIe-6363) has 4 (Dev1/ao0 … Dev1/ao3)"),
    ("usb-6343", "the rig needs 5 analog outputs on Dev1; Dev1 (USB-6343) has 4"),
    ("cdaq-9189-9263", "the rig needs 5 analog outputs on cDAQ1Mod2; cDAQ1Mod2 (NI 9263) has 4"),
    ("pcie-6738", "Dev1 (PCIe-6738) has no analog inputs; the rig needs 6"),
])
def test_a_product_that_cannot_serve_the_rig_is_refused_in_one_line(product, needs, tmp_path, capsys):
    rig = load_preset("cortex")
    with SimNIServer(rig, port=0, speed=1.0, seed=3, product=product) as server:
        code, doc, err = run_short(server, rig_on_spec(rig, server.spec), tmp_path, capsys)
        assert code == 1 and needs in doc["error"] and "\n" not in doc["error"]
        assert "Traceback" not in err


def test_a_rate_the_timebase_cannot_make_is_refused_naming_the_rates_it_can(tmp_path):
    with SimNIServer(load_preset("cortex"), port=0, speed=1.0, seed=3, product="pcie-6363") as server:
        rig = four_barrels(rig_on_spec(load_preset("cortex"), server.spec))
        wired = rig.model_copy(update={"rate_hz": 30000.0})
        cfg = wired.acquisition_config()
        dev = NIDevice("Dev1", NIConnection("127.0.0.1", server.port), safe_volts=wired.pipette.safe_volts(),
                       ao_limits_V=wired.pipette.ao_limits_V())
        try:
            with pytest.raises(ConfigError) as err:
                dev.configure(cfg)
        finally:
            dev.close()
        msg = str(err.value)
        assert "cannot sample at exactly 30000 Hz (it would use 30003 Hz)" in msg and "31250" in msg
        assert "\n" not in msg
        # at a rate the timebase divides, the driver's rate is the one recorded
        ok = rig
        dev = NIDevice("Dev1", NIConnection("127.0.0.1", server.port), safe_volts=ok.pipette.safe_volts(),
                       ao_limits_V=ok.pipette.ao_limits_V())
        try:
            info = dev.configure(ok.acquisition_config())
            assert info.rate_hz == dev.actual_rate_hz == 20000.0
        finally:
            dev.close()


def test_a_scheduled_output_fifo_underflow_is_a_gap_and_the_run_goes_on(tmp_path, capsys):
    with SimNIServer(load_preset("cortex"), port=0, speed=1.0, seed=3, product="pcie-6363") as server:
        server.hardware.schedule_fault(-200016, 3.0)
        wired = four_barrels(rig_on_spec(load_preset("cortex"), server.spec)).model_copy(update={"ao_lead_s": 0.5})
        code, doc, _ = run_short(server, wired, tmp_path, capsys)
        assert code == 0, doc["error"]
        assert doc["error"] is None and doc["gaps"] == 1
        assert [k for k, _ in server.hardware.log].count("fault") == 1


def source_balanced(rig):
    """The rig with its balance barrel balanced by the current source (no AO of its own)."""
    barrels = tuple(b.model_copy(update={"ao_channel": ""}) if b.role == "balance" else b
                    for b in rig.pipette.barrels)
    return rig.model_copy(update={"pipette": rig.pipette.model_copy(update={"barrels": barrels})})


def test_a_source_that_balances_in_hardware_needs_no_output_for_the_balance_barrel(tmp_path, capsys):
    """Five barrels on a 4-AO PCIe-6363 when the source balances: four outputs written, and the
    balance barrel's monitor carries the negated sum of the others (the source's doing)."""
    from daq.recording import Recording

    prep = source_balanced(load_preset("cortex"))
    with SimNIServer(prep, port=0, speed=1.0, seed=3, product="pcie-6363") as server:
        wired = rig_on_spec(prep, server.spec).model_copy(update={"ao_lead_s": 0.5})
        assert len(wired.acquisition_config().ao) == 4
        code, doc, _ = run_short(server, wired, tmp_path, capsys)
        assert code == 0, doc["error"]
        assert doc["gaps"] == 0
    with Recording(tmp_path / "rec.h5") as rec:
        fs = rec.rate_hz
        mons = {b.name: rec.physical(rec.monitor_channel(b.name)) for b in prep.pipette.barrels}

        def mean(name: str, t0_s: float, t1_s: float) -> float:
            return float(mons[name][int(t0_s * fs):int(t1_s * fs)].mean())

        # baseline 0-2 s, 20 nA 2-4 s, recovery 4-6 s, 80 nA 6-8 s (the SHORT protocol)
        d_glu = mean("glu", 6.5, 7.9) - mean("glu", 0.5, 1.9)
        d_bal = mean("bal", 6.5, 7.9) - mean("bal", 0.5, 1.9)
        assert d_glu == pytest.approx(-95.0, abs=2.0)  # retain +15 nA -> eject -80 nA
        assert d_bal == pytest.approx(-d_glu, abs=2.0)
        total = sum(mons.values())
        assert abs(float(total[int(0.5 * fs):int(9.5 * fs)].mean())) < 1.0  # no net current at the tip
