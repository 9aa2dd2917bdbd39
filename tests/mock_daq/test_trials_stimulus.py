"""The simulated stimulus (mock_daq.stimulus): trial events at their exact samples whatever the
blocks, tuning curves and the drug's gain and offset as the ground truth says."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.errors import ConfigError
from daq.rig import parse_rig
from daq.trials import parse_fields
from daq.types import EventKind
from mock_daq.model import parse_sim
from mock_daq.presets import load_preset
from mock_daq.simulation import Simulation
from mock_daq.stimulus import StimulusModel


def gain_rig(**stimulus):
    doc = load_preset("gain").model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"].update(stimulus)
    return parse_rig(doc, "test")


def simulation(rig, seed=3):
    return Simulation(rig, parse_sim(rig.simulation, "test", rig), rig.acquisition_config().ai, seed=seed)


def run(sim, n_samples, ach_nA, blocks=(1000,)):
    """Generate n_samples with a constant ACh current (others 0), in the given block sizes (cycled)."""
    cur = np.zeros(len(sim.barrels))
    cur[0] = ach_nA
    cur[-1] = -ach_nA
    i, k = 0, 0
    while i < n_samples:
        n = min(blocks[k % len(blocks)], n_samples - i)
        sim.generate(i, np.tile(cur, (n, 1)))
        i += n
        k += 1
    return sim.drain_events(), sim.drain_truth()


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 7000), min_size=1, max_size=6))
def test_trial_events_fall_on_their_exact_samples_whatever_the_block_sizes(blocks):
    rig = gain_rig(first_trial_s=0.25, stimulus_s=0.2, iti_s=0.1, n_trials=9)
    events, _ = run(simulation(rig), 60_000, -15.0, blocks)
    fs = rig.rate_hz
    starts = [e for e in events if e.kind == EventKind.TRIAL_START]
    stops = [e for e in events if e.kind == EventKind.TRIAL_STOP]
    assert [e.sample_index for e in starts] == [round(0.25 * fs) + k * round(0.3 * fs) for k in range(9)]
    assert [e.sample_index for e in stops] == [s.sample_index + round(0.2 * fs) for s in starts]
    # each repetition shows every orientation once (shuffled), codes = position + 1
    values = rig.simulation["stimulus"]["values"]
    codes = [int(parse_fields(e.text)["code"]) for e in starts]
    assert sorted(codes[:8]) == list(range(1, 9))
    for e, c in zip(starts, codes):
        assert float(parse_fields(e.text)["orientation_deg"]) == values[c - 1]


def test_the_same_seed_shows_the_same_sequence_and_another_seed_another():
    rig = gain_rig(first_trial_s=0.1, stimulus_s=0.1, iti_s=0.1, n_trials=16)
    a, _ = run(simulation(rig, seed=1), 70_000, -15.0)
    b, _ = run(simulation(rig, seed=1), 70_000, -15.0, (333,))
    c, _ = run(simulation(rig, seed=2), 70_000, -15.0)
    assert a == b
    assert [e.text for e in a] != [e.text for e in c]


def _trial_rates(events, truth, fs, latency_s):
    """Mean expected rate (truth) inside each trial's response window, by value."""
    idx, rate = truth["truth_index"], truth["expected_rate_hz"][:, 0]
    out = {}
    starts = [e for e in events if e.kind == EventKind.TRIAL_START]
    stops = {parse_fields(e.text)["trial"]: e.sample_index for e in events if e.kind == EventKind.TRIAL_STOP}
    lat = round(latency_s * fs)
    for e in starts:
        f = parse_fields(e.text)
        if f["trial"] not in stops or stops[f["trial"]] + lat > idx[-1]:
            continue  # not over within the generated samples
        sel = (idx >= e.sample_index + lat) & (idx < stops[f["trial"]] + lat)
        value = float(next(v for k, v in f.items() if k not in ("trial", "code")))
        out.setdefault(value, []).append(float(rate[sel].mean()))
    return {v: float(np.mean(r)) for v, r in out.items()}


def observed(lam, refractory_ms):
    return lam / (1 + lam * refractory_ms * 1e-3)


@pytest.mark.parametrize("kind,values", [("orientation", [0, 45, 90, 135]), ("contrast", [0.0, 0.1, 0.3, 1.0])])
def test_the_expected_rate_in_a_trial_follows_the_tuning_curve(kind, values):
    rig = gain_rig(kind=kind, values=values, first_trial_s=0.2, stimulus_s=0.3, iti_s=0.2, latency_ms=40)
    events, truth = run(simulation(rig), 20 * 10_000, -15.0)  # retained: no drug
    model = StimulusModel.model_validate(rig.simulation["stimulus"])
    neuron = rig.simulation["neurons"][0]
    got = _trial_rates(events, truth, rig.rate_hz, 0.04)
    assert set(got) == set(values)
    for v in values:
        want = observed(neuron["baseline_hz"] + model.response_hz(v), neuron["refractory_ms"])
        assert got[v] == pytest.approx(want, rel=1e-3), v


@pytest.mark.parametrize("gain,offset_hz", [(0.6, 0.0), (1.0, 8.0), (1.5, -3.0)])
def test_the_drug_at_saturation_scales_the_rate_by_g_and_shifts_it_by_a(gain, offset_hz):
    rig = gain_rig(first_trial_s=4.0, stimulus_s=0.3, iti_s=0.2,
                   modulation={"drug": "ACh", "gain": gain, "offset_hz": offset_hz, "ec50_uM": 100, "hill": 2})
    ctrl_events, ctrl = run(simulation(rig), 12 * 20_000, -15.0)
    drug_events, drug = run(simulation(rig), 12 * 20_000, 80.0)
    f = drug["drug_fraction"][:, 0]
    assert f[-100:].min() > 0.99 and ctrl["drug_fraction"].max() < 0.01
    neuron = rig.simulation["neurons"][0]
    model = StimulusModel.model_validate(rig.simulation["stimulus"])
    c = _trial_rates(ctrl_events, ctrl, rig.rate_hz, 0.04)
    d = _trial_rates(drug_events, drug, rig.rate_hz, 0.04)
    fr = float(f[-100:].mean())
    for v in c:
        lam = neuron["baseline_hz"] + model.response_hz(v)
        want = observed(lam * (1 + (gain - 1) * fr) + offset_hz * fr, neuron["refractory_ms"])
        assert d[v] == pytest.approx(want, rel=5e-3), v


def test_a_modulating_drug_the_simulation_does_not_have_is_one_clear_error():
    doc = load_preset("gain").model_dump(mode="json", exclude_none=True)
    bad = copy.deepcopy(doc)
    bad["simulation"]["stimulus"]["modulation"]["drug"] = "dopamine"
    rig = parse_rig(bad, "test")
    with pytest.raises(ConfigError) as exc:
        parse_sim(rig.simulation, "rig.yaml: simulation", rig)
    msg = str(exc.value)
    assert "stimulus.modulation.drug" in msg and "dopamine" in msg and "\n" not in msg


def test_contrasts_outside_0_to_1_are_refused_naming_the_field():
    doc = load_preset("gain").model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"].update(kind="contrast", values=[0.1, 2.0])
    rig = parse_rig(doc, "test")
    with pytest.raises(ConfigError, match=r"contrast values must lie in 0\.\.1"):
        parse_sim(rig.simulation, "rig.yaml: simulation", rig)


def test_a_driven_stimulus_shows_what_it_is_asked_at_the_samples_asked():
    from daq.trials import StimulusRequest

    rig = gain_rig(mode="driven", latency_ms=40)
    sim = simulation(rig)
    asks = [StimulusRequest(0, 4321, 10_321, 5, (("orientation_deg", 90.0),)),
            StimulusRequest(1, 20_000, 26_000, 1, ())]  # no value: the code's (values[0] = 0°)
    for r in asks:
        sim.show_stimulus(r)
    events, truth = run(sim, 40_000, -15.0, (777,))
    assert [(e.sample_index, e.kind, e.text) for e in events] == [
        (4321, EventKind.TRIAL_START, "trial=0 code=5 orientation_deg=90"),
        (10_321, EventKind.TRIAL_STOP, "trial=0 code=5"),
        (20_000, EventKind.TRIAL_START, "trial=1 code=1 orientation_deg=0"),
        (26_000, EventKind.TRIAL_STOP, "trial=1 code=1")]
    got = _trial_rates(events, truth, rig.rate_hz, 0.04)
    model = StimulusModel.model_validate(rig.simulation["stimulus"])
    neuron = rig.simulation["neurons"][0]
    for v in (90.0, 0.0):  # the partial model steps at the window's ends are weighted by overlap
        want = observed(neuron["baseline_hz"] + model.response_hz(v), neuron["refractory_ms"])
        assert got[v] == pytest.approx(want, rel=0.02), v


def test_asking_a_task_that_runs_itself_to_show_a_stimulus_is_one_clear_error():
    from daq.trials import StimulusRequest

    sim = simulation(gain_rig())
    with pytest.raises(ConfigError, match="set mode: driven"):
        sim.show_stimulus(StimulusRequest(0, 100, 200, 1))
