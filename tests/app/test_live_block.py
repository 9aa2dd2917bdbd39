"""The rig window's session: a shorter engine block unless the rig file sets one."""

from __future__ import annotations

import yaml

from app.live import LiveSession
from mock_daq import load_preset


def _block_samples(tmp_path, **kw) -> tuple[int, float]:
    s = LiveSession("sim", seed=1, speed=None, recordings_dir=tmp_path / "rec", **kw)
    s.connect()
    try:
        return s.engine.config.block_samples, s.rig.rate_hz
    finally:
        s.close()


def test_the_session_block_applies_when_the_rig_file_sets_none(tmp_path):
    n, rate = _block_samples(tmp_path, block_s=0.025)
    assert n == round(0.025 * rate)
    n, rate = _block_samples(tmp_path)  # no session block: the rig's default
    assert n == round(0.05 * rate)


def test_a_rig_file_that_sets_block_s_keeps_it(tmp_path):
    doc = load_preset("cortex").model_dump(mode="json")
    doc["block_s"] = 0.04
    rig = tmp_path / "rig.yaml"
    rig.write_text(yaml.safe_dump(doc, sort_keys=False))
    n, rate = _block_samples(tmp_path, block_s=0.025, rig_path=rig)
    assert n == round(0.04 * rate)


def test_while_a_sessions_engine_runs_the_gil_is_handed_over_within_a_millisecond(tmp_path):
    """The engine thread shares the interpreter with the window: while a session's engine runs,
    a thread waiting for the GIL waits at most 1 ms (CPython's default, 5 ms, delayed the
    engine's blocks behind the window's drawing); when the last engine stops, the interval is
    given back (the rest of the process is not changed for good)."""
    import sys

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        a = LiveSession("sim", seed=1, speed=None, recordings_dir=tmp_path / "a")
        b = LiveSession("sim", seed=2, speed=None, recordings_dir=tmp_path / "b")
        a.connect()
        assert sys.getswitchinterval() <= 0.001
        b.connect()
        a.close()
        assert sys.getswitchinterval() <= 0.001  # b's engine still runs
        b.close()
        assert sys.getswitchinterval() == 0.005
    finally:
        sys.setswitchinterval(before)
