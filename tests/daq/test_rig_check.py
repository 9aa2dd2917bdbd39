"""The rig check's verdicts, on the simulated rig through the real engine: each wiring fault the
simulator can be given is named with its barrel; test currents stay within every limit; the
engine's shutdown leaves every barrel on retain; the report travels to the next recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.engine import Engine
from daq.errors import ConfigError
from daq.pipette import Pipette
from daq.rig import parse_rig
from daq.rig_check import (
    CLOGGED,
    GAIN,
    OK,
    OPEN,
    SIGN,
    SWAPPED,
    RigCheck,
    load_for_recording,
    probe_current_nA,
    report_path,
    save_report,
)
from mock_daq import SimDevice, load_preset


def _rig(**changes):
    """The cortex preset with ``barrel=(field, value)`` changes and ``faults=[...]``."""
    d = load_preset("cortex").model_dump(mode="json")
    for fault in changes.pop("faults", []):
        d["simulation"].setdefault("faults", []).append(fault)
    for barrel, (key, value) in changes.items():
        if key == "source_gain_nA_per_V":
            d["simulation"]["barrels"][barrel][key] = value
        else:
            next(b for b in d["pipette"]["barrels"] if b["name"] == barrel)[key] = value
    return parse_rig(d, "test rig")


def _check(rig, rig_path=None, **kw):
    dev = SimDevice(rig, seed=1, speed=None)
    check = RigCheck(rig.pipette, rig.rate_hz, **kw)
    eng = Engine(dev, rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s, sinks=[check.sink],
                 runner=check, stop_when_protocol_ends=True, monitor=None)
    eng.run()
    assert eng.error is None, eng.error
    assert np.allclose(dev.static_volts, rig.pipette.safe_volts()), "the check must end with every barrel on retain"
    return check.report(rig_path=rig_path), eng


def _with_source_gain(rig, barrel, gain_nA_per_V):
    sim = rig.simulation
    phys = {**sim["barrels"][barrel], "source_gain_nA_per_V": gain_nA_per_V}
    return rig.model_copy(update={"simulation": {**sim, "barrels": {**sim["barrels"], barrel: phys}}})


def _status(report):
    return {r.barrel: r.status for r in report.barrels}


def test_a_correctly_wired_rig_is_ok_on_every_barrel_balance_included():
    report, _ = _check(_rig())
    assert report.ok and report.completed
    assert _status(report) == {"glu": OK, "gaba": OK, "bic": OK, "nacl": OK, "bal": OK}


def test_a_100_nA_per_V_source_behind_a_20_nA_per_V_rig_file_is_a_gain_mismatch_naming_both_gains():
    rig = _with_source_gain(_rig(glu=("command_gain_nA_per_V", 20.0)), "glu", 100.0)
    report, _ = _check(rig)
    assert not report.ok
    glu = next(r for r in report.barrels if r.barrel == "glu")
    assert glu.status == GAIN
    assert glu.measured_gain_nA_per_V == pytest.approx(100.0, rel=0.02)
    assert "100 nA/V" in glu.message and "20 nA/V" in glu.message
    assert {r.barrel for r in report.barrels if not r.ok} == {"glu"}


def test_a_clogged_barrel_that_cannot_pass_the_test_current_is_clogged():
    # 100 V of compliance over 20 GΩ passes at most 5 nA of the 20-nA test current
    report, _ = _check(_rig(faults=[{"kind": "clog", "at_s": 0, "barrel": "gaba", "resistance_MOhm": 20000}]))
    assert _status(report)["gaba"] == CLOGGED
    assert {r.barrel for r in report.barrels if not r.ok} == {"gaba"}


def test_swapped_command_lines_name_both_barrels_and_where_the_current_went():
    report, _ = _check(_rig(faults=[{"kind": "swap", "barrels": ["glu", "bic"]}]))
    by = {r.barrel: r for r in report.barrels}
    assert by["glu"].status == SWAPPED and by["glu"].answered_on == "bic"
    assert by["bic"].status == SWAPPED and by["bic"].answered_on == "glu"
    assert {r.barrel for r in report.barrels if not r.ok} == {"glu", "bic"}


def test_an_open_barrel_is_open():
    report, _ = _check(_rig(faults=[{"kind": "open", "barrel": "nacl"}]))
    assert _status(report)["nacl"] == OPEN
    assert {r.barrel for r in report.barrels if not r.ok} == {"nacl"}


def test_a_source_of_the_opposite_polarity_is_sign_reversed():
    report, _ = _check(_with_source_gain(_rig(), "bic", -100.0))
    assert _status(report)["bic"] == SIGN
    assert {r.barrel for r in report.barrels if not r.ok} == {"bic"}


def test_a_source_beyond_the_barrels_limit_stops_the_check_at_once_on_retain():
    rig = _with_source_gain(_rig(gaba=("max_eject_nA", 50.0)), "gaba", 1000.0)  # 10x: 200 nA of a 20-nA test
    report, _ = _check(rig)
    assert not report.completed and "'gaba'" in report.stopped_because and "limit" in report.stopped_because
    assert not report.ok


def test_a_barrel_without_a_monitor_is_said_to_be_unchecked_not_failed():
    report, _ = _check(_rig(bic=("monitor_channel", None)))
    bic = next(r for r in report.barrels if r.barrel == "bic")
    assert bic.status == "not_checked" and "monitor" in bic.message
    assert report.ok


@settings(max_examples=200, deadline=None)
@given(retain=st.floats(0, 50), max_retain=st.floats(0, 100), max_eject=st.floats(1, 400),
       gain=st.sampled_from([10.0, 20.0, 100.0, 200.0]), polarity=st.sampled_from([1, -1]),
       test_nA=st.floats(0.1, 500), max_total=st.floats(1, 500))
def test_a_test_current_never_exceeds_a_limit_and_runs_against_the_drugs_polarity(
        retain, max_retain, max_eject, gain, polarity, test_nA, max_total):
    if retain > max_retain or max_eject / gain > 10:
        return
    pip = Pipette.model_validate({"max_total_nA": max_total, "barrels": [
        {"name": "d", "drug": "x", "polarity": polarity, "retain_nA": retain, "max_retain_nA": max_retain,
         "max_eject_nA": max_eject, "command_gain_nA_per_V": gain, "ao_channel": "a0"},
        {"name": "bal", "drug": "NaCl", "role": "balance", "max_eject_nA": 400, "ao_channel": "a1"}]})
    if pip.violations(pip.safe_currents_nA()):
        return
    t = probe_current_nA(pip.barrels[0], pip, test_nA)
    assert t * polarity <= 0  # retain direction (or none)
    assert abs(t) <= test_nA + 1e-9
    cur = np.array([t, 0.0])
    assert not pip.violations(pip.with_balance(cur))
    assert not pip.violations(pip.with_balance(cur / 2))


def test_the_report_is_kept_beside_the_rig_file_and_says_when_the_rig_file_changed_since(tmp_path):
    rig_file = tmp_path / "my-rig.yaml"
    rig_file.write_text("name: x\n", encoding="utf-8")
    report, _ = _check(_rig(), rig_path=rig_file)
    path = save_report(report, rig_file)
    assert path == report_path(rig_file) == tmp_path / "my-rig.rig-check.json"
    doc = load_for_recording(rig_file)
    assert doc["ok"] is True and doc["rig_changed_since"] is False and doc["time"]
    assert json.loads(path.read_text())["barrels"][0]["barrel"] == "glu"
    rig_file.write_text("name: y\n", encoding="utf-8")
    assert load_for_recording(rig_file)["rig_changed_since"] is True
    assert load_for_recording(tmp_path / "other.yaml") is None


def _with_voltage_outputs(rig):
    """Every barrel's source reports its barrel voltage at x0.1 (sim/ai7, ai8, ...)."""
    d = rig.model_dump(mode="json")
    for k, b in enumerate(d["pipette"]["barrels"]):
        b.update(voltage_monitor_channel=f"sim/ai{7 + k}", voltage_monitor_gain_V_per_V=0.1)
    return parse_rig(d, "test rig")


def test_where_the_source_reports_the_barrel_voltage_the_resistances_are_the_barrels():
    report, _ = _check(_with_voltage_outputs(_rig()))
    assert report.ok
    got = {r.barrel: r.resistance_MOhm for r in report.barrels if r.resistance_MOhm is not None}
    assert got == pytest.approx({"glu": 60, "gaba": 50, "bic": 80, "nacl": 30}, rel=0.02)  # the preset's


def test_a_1_GOhm_clog_that_still_passes_the_test_current_is_clogged_by_its_resistance():
    rig = _with_voltage_outputs(_rig(faults=[{"kind": "clog", "at_s": 0, "barrel": "gaba", "resistance_MOhm": 1000}]))
    report, _ = _check(rig)
    gaba = next(r for r in report.barrels if r.barrel == "gaba")
    assert gaba.status == CLOGGED and gaba.resistance_MOhm == pytest.approx(1000, rel=0.02)
    assert "1000 MΩ" in gaba.message
    assert {r.barrel for r in report.barrels if not r.ok} == {"gaba"}


def test_a_voltage_output_without_its_scale_is_one_line_naming_both_fields():
    d = load_preset("cortex").model_dump(mode="json")
    d["pipette"]["barrels"][0]["voltage_monitor_channel"] = "sim/ai7"
    with pytest.raises(ConfigError) as err:
        parse_rig(d, "rig.yaml")
    msg = str(err.value)
    assert msg.startswith("rig.yaml: pipette.barrels.0: ") and "voltage_monitor_gain_V_per_V" in msg
    assert "\n" not in msg


def test_a_rig_without_any_current_monitor_is_not_ok_because_nothing_was_checked():
    d = load_preset("cortex").model_dump(mode="json")
    for b in d["pipette"]["barrels"]:
        b["monitor_channel"] = None
    report, _ = _check(parse_rig(d, "no monitors"))
    assert report.completed and not report.checked and not report.ok


# --- samples lost during the check (an input overflow or output underflow restarts acquisition) ---
class _Control:
    """The engine's side of a check, in samples: what it scheduled, where it reads and writes."""

    def __init__(self, pipette, lead: int):
        self.pipette, self.lead = pipette, lead
        self.read_index = 0
        self.changes: list[tuple[int, str, float]] = []  # (sample, barrel, nA)

    @property
    def write_index(self) -> int:
        return self.read_index + self.lead

    def set_currents(self, currents, index, text=""):
        assert index >= self.write_index, "a current change must come after what the AO already holds"
        self.changes.extend((index, b, float(c)) for b, c in currents.items())

    def safe_all(self, index, text=""):
        self.changes.extend((index, b.name, b.safe_current_nA) for b in self.pipette.barrels)

    def request_stop(self):
        pass

    def currents(self, start: int, n: int) -> np.ndarray:
        """Each barrel's scheduled current at samples start .. start+n-1 (the balance barrel
        carrying the negated sum), as a perfect source and monitor would show it."""
        names = self.pipette.names
        out = np.tile(self.pipette.safe_currents_nA(), (n, 1)).astype(float)
        idx = np.arange(start, start + n)
        for at, b, nA in sorted(self.changes):
            out[idx >= at, names.index(b)] = nA
        bal = self.pipette.balance_index
        if bal is not None:
            out[:, bal] = -np.delete(out, bal, axis=1).sum(axis=1)
        return out


def _stream(pipette, rate_hz):
    from daq.types import AIChannel, ChannelKind, StreamInfo

    chans = tuple(AIChannel(f"{b.name}_mon", f"x/ai{i}", ChannelKind.CURRENT_MONITOR, units="nA", barrel=b.name)
                  for i, b in enumerate(pipette.barrels))
    n = len(chans)
    return StreamInfo(rate_hz=rate_hz, channels=chans, dtype=np.dtype(np.float64), scale_V=(1.0,) * n,
                      offset_V=(0.0,) * n)


def _run_with_lost_samples(spoil_window: int | None):
    """A whole check on a perfect rig, block by block; if ``spoil_window`` is given, the outputs
    go to the safe levels in the middle of that window (an output underflow, then the engine's
    safe levels while it restarts), 0.3 s of samples are lost, and the currents take the
    settling time to come back — what a restart on a real board does to the monitors."""
    from daq.types import Block

    rig = load_preset("cortex")
    fs, block = 10_000.0, 500
    check = RigCheck(rig.pipette, fs)
    ctl = _Control(rig.pipette, lead=4 * block)
    check.sink.start(_stream(rig.pipette, fs))
    check.on_start(ctl)
    halt = lost = None
    settle_until = 0
    if spoil_window is not None:
        w = check.windows[spoil_window]
        halt = (w.start + w.stop) // 2
        lost = round(0.3 * fs)
    pos = 0
    while not check.finished:
        data = ctl.currents(pos, block)
        if halt is not None and pos <= halt < pos + block:  # the outputs fall to safe, then samples are lost
            data[halt - pos:] = rig.pipette.safe_currents_nA()
            check.sink.on_block(Block(pos, data))
            ctl.read_index = pos + block
            check.on_block(Block(pos, data), ctl)
            pos += block + lost
            settle_until, halt = pos + check.settle, None
            continue
        if lost is not None and pos < settle_until:  # settling back: still near the safe levels
            data[: max(0, settle_until - pos)] = rig.pipette.safe_currents_nA()
        b = Block(pos, data)
        check.sink.on_block(b)
        ctl.read_index = pos + block
        check.on_block(b, ctl)
        pos += block
        assert pos < 10 * 60 * fs, "the check never ended"
    return check.report()


def test_a_perfect_rig_is_ok_through_the_harness():
    report = _run_with_lost_samples(None)
    assert report.completed and all(r.status == OK for r in report.barrels), [r.message for r in report.barrels]


@pytest.mark.parametrize("window", [2, 5, 7])  # glu's full step, gaba's full step, bic's half step
def test_a_barrel_whose_steps_lost_samples_is_stepped_again_and_judged_on_the_clean_steps(window):
    report = _run_with_lost_samples(window)
    assert report.completed, report.stopped_because
    assert all(r.status == OK for r in report.barrels), [r.message for r in report.barrels]
