"""What the file says equals what the device got: ``/currents/commanded_nA``, expanded to one
row per sample, is sample for sample the current the AO volts written to the device ask for —
over random protocols, including changes at t = 0 and back-to-back changes at one sample.
Also: `protocol check` counts the ejection a protocol makes at t = 0."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.engine import Engine
from daq.nulldevice import NullDevice
from daq.recording import Recorder, Recording
from mock_daq import load_preset
from protocols.commands import Eject, Retain, RetainAll, SetCurrent, Wait
from protocols.dryrun import dry_run_rig
from protocols.runner import PlanRunner

RIG = load_preset("cortex").model_copy(update={"rate_hz": 1000.0, "block_s": 0.05, "ao_lead_s": 0.1})
DRUGS = {"glu": 200.0, "gaba": 150.0, "bic": 100.0}

step = st.one_of(
    st.tuples(st.just("eject"), st.sampled_from(sorted(DRUGS)), st.floats(0, 1)),
    st.tuples(st.just("retain"), st.sampled_from(sorted(DRUGS)), st.just(0.0)),
    st.tuples(st.just("retain_all"), st.just(""), st.just(0.0)),
    st.tuples(st.just("nacl"), st.just("nacl"), st.floats(-1, 1)),
    st.tuples(st.just("wait"), st.just(""), st.sampled_from([0.0, 0.001, 0.013, 0.05, 0.2])),
)


def _plan(steps):
    for kind, barrel, x in steps:
        if kind == "eject":
            yield Eject(barrel, round(x * 0.45 * DRUGS[barrel], 1))
        elif kind == "retain":
            yield Retain(barrel)
        elif kind == "retain_all":
            yield RetainAll()
        elif kind == "nacl":
            yield SetCurrent("nacl", round(x * 60, 1))
        else:
            yield Wait(x)
    yield Wait(0.1)


def _expand(idx: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Per-sample currents from (index, row) pairs: a row holds from its index until the next;
    of several rows at one index the last holds."""
    out = np.empty((n, rows.shape[1]))
    for k in range(len(idx)):
        start = int(idx[k])
        stop = int(idx[k + 1]) if k + 1 < len(idx) else n
        if start < n:
            out[start:min(stop, n)] = rows[k]
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(step, min_size=1, max_size=12))
def test_commanded_currents_in_the_file_equal_what_was_written_to_the_device(tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("eq") / "r.h5"
    dev = NullDevice(keep_ao=True)
    rec = Recorder(path, pipette=RIG.pipette, rig=RIG.model_dump(mode="json"))
    eng = Engine(dev, RIG.acquisition_config(), RIG.pipette, ao_lead_s=RIG.ao_lead_s, recorder=rec,
                 runner=PlanRunner(_plan(steps), "random"), stop_when_protocol_ends=True, monitor=None)
    eng.run()
    assert eng.error is None, eng.error
    n = eng.read_index
    volts = np.concatenate(dev.ao_chunks)[:n]
    gains = np.array([b.command_gain_nA_per_V for b in RIG.pipette.barrels])
    device_nA = volts * gains
    with Recording(path) as r:
        idx, rows, names = r.commanded_currents()
    assert list(names) == list(RIG.pipette.names)
    file_nA = _expand(idx, rows, n)
    bad = np.nonzero(np.abs(file_nA - device_nA).max(axis=1) > 1e-6)[0]
    assert bad.size == 0, (f"{bad.size} of {n} samples differ, first at {bad[0]}: file {file_nA[bad[0]]} "
                           f"vs device {device_nA[bad[0]]}")
    assert np.allclose(rows[-1], RIG.pipette.safe_currents_nA())  # and the file ends on retain


def test_an_ejection_at_t0_is_in_the_file_and_counted_by_the_dry_run(tmp_path):
    def plan():
        yield Eject("glu", 20.0)
        yield Wait(0.5)
        yield Retain("glu")
        yield Wait(0.2)

    dry = dry_run_rig(plan(), RIG, "t0")
    assert dry.ok, dry.errors
    ejections = [e for e in dry.events if e.kind == "eject"]
    assert [e.sample_index for e in ejections] == [0]
    path = tmp_path / "t0.h5"
    dev = NullDevice(keep_ao=True)
    eng = Engine(dev, RIG.acquisition_config(), RIG.pipette, ao_lead_s=RIG.ao_lead_s,
                 recorder=Recorder(path, pipette=RIG.pipette, rig=RIG.model_dump(mode="json")),
                 runner=PlanRunner(plan(), "t0"), stop_when_protocol_ends=True, monitor=None)
    eng.run()
    with Recording(path) as r:
        idx, rows, names = r.commanded_currents()
        glu = list(names).index("glu")
        file_nA = _expand(idx, rows, eng.read_index)
        events = [e for e in r.events if e.barrel == "glu" and e.kind == "eject"]
    assert file_nA[0, glu] == -20.0 and file_nA[499, glu] == -20.0 and file_nA[500, glu] == 15.0
    assert [e.sample_index for e in events] == [0]
