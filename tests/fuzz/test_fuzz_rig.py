"""Fuzzed rig files: a valid rig (the cortex preset) with fields deleted, replaced by values of
the wrong type or out of range, and random YAML text.  Loading — the rig, its ``simulation:``
section, and a simulated device built on it — either works or raises ``ConfigError`` naming
the file; nothing else."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.errors import ConfigError
from daq.rig import load_rig
from mock_daq import SimDevice, load_preset

BASE = load_preset("cortex").model_dump(mode="json")

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                max_size=2))


def _paths(node, prefix=()):
    """Every (path, value) in a nested mapping/list."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p, _ in _paths(BASE) if p]


@st.composite
def mutated_rigs(draw):
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            if draw(st.booleans()):
                if isinstance(parent, dict):
                    parent.pop(path[-1], None)
                elif isinstance(parent, list) and path[-1] < len(parent):
                    parent.pop(path[-1])
            else:
                parent[path[-1]] = draw(odd_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this branch
    return doc


def _load(tmp_path, text: str) -> None:
    f = tmp_path / "rig.yaml"
    f.write_text(text, encoding="utf-8")
    try:
        rig = load_rig(f)
        SimDevice(rig).configure(rig.acquisition_config())
    except ConfigError as exc:
        assert str(f) in str(exc) or "rig" in str(exc), str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=mutated_rigs())
def test_mutated_rig_files_load_or_give_a_config_error(tmp_path, doc):
    _load(tmp_path, yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_text_as_a_rig_file_gives_a_config_error(tmp_path, text):
    _load(tmp_path, text)
