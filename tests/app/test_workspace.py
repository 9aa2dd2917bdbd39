"""Saved rig workspaces (issue 16, item 4): save, list, load, apply to the live models, and
one clear line for every bad workspace file or name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as hs

from analysis.detect import StreamingDetector
from app.gui.models.raster import RateModel
from app.gui.models.traces import TraceModel
from app.gui.workspace import (
    RecordingSettings,
    Workspace,
    apply_workspace,
    capture_workspace,
    list_workspaces,
    load_workspace,
    parse_workspace,
    save_workspace,
    workspace_dir,
)
from daq.errors import ConfigError
from daq.types import AIChannel, Block, ChannelKind, StreamInfo

ROOT = Path(__file__).resolve().parents[2]


def _stream() -> StreamInfo:
    ch = (AIChannel("e0", "x/ai0", ChannelKind.ELECTRODE, 5.0, "default", "V", 1000.0),
          AIChannel("e1", "x/ai1", ChannelKind.ELECTRODE, 5.0, "default", "V", 1000.0),
          AIChannel("glu_mon", "x/ai2", ChannelKind.CURRENT_MONITOR, 5.0, "default", "nA", 1.0, barrel="glu"))
    return StreamInfo(20000.0, ch, np.dtype(np.int16), (5.0 / 32768,) * 3, (0.0,) * 3)


def _models() -> tuple[TraceModel, RateModel, StreamingDetector]:
    det = StreamingDetector()
    det.start(_stream())
    return TraceModel(_stream()), RateModel(None, 20000.0), det


def test_a_saved_workspace_comes_back_and_restores_the_models(tmp_path):
    traces, rates, _det = _models()
    traces.set_window(20.0)
    traces.set_gain(1, 4.0)
    traces.set_visible(2, False)
    rates.set_bin(0.5)
    rates.set_span(900.0)
    rates.follows_protocol = False
    ws = capture_workspace(device="sim:cortex", rig="rigs/my_rig.yaml", speed=2.0, trace_model=traces,
                           rate_model=rates, threshold_uV=-45.0,
                           recording=RecordingSettings(directory="/data/cells", template="cell_{n}.h5"),
                           layout={"dock_state": "AAAA/w==", "geometry": "AdnQyw=="})
    path = save_workspace("rig 2 - patch", ws, tmp_path)
    assert path == tmp_path / "rig 2 - patch.yaml" and list_workspaces(tmp_path) == ["rig 2 - patch"]
    back = load_workspace("rig 2 - patch", tmp_path)
    assert back == ws and back.threshold_uV == 45.0 and back.gains == {"e1": 4.0}
    assert back.hidden_channels == ["glu_mon"] and back.layout["dock_state"] == "AAAA/w=="

    fresh_traces, fresh_rates, fresh_det = _models()
    events: list[str] = []
    fresh_traces.window_changed.connect(lambda w: events.append(f"window {w:g}"))
    fresh_rates.span_changed.connect(lambda s: events.append(f"span {s:g}"))
    notes = apply_workspace(back, trace_model=fresh_traces, rate_model=fresh_rates, detector=fresh_det)
    assert notes == []
    assert fresh_traces.window_s == 20.0 and fresh_traces.channels[1].gain == 4.0
    assert [c.visible for c in fresh_traces.channels] == [True, True, False]
    assert (fresh_rates.bin_s, fresh_rates.span_s, fresh_rates.follows_protocol) == (0.5, 900.0, False)
    assert fresh_rates.follow_protocol(3600.0) == 900.0  # following a protocol was turned off
    assert fresh_det.threshold is None  # no data yet; the manual threshold applies from the first block
    fresh_det.on_block(Block(0, np.zeros((100, 3), np.int16)))
    assert fresh_det.threshold == pytest.approx(45e-6)
    assert events == ["window 20", "span 900"]


def test_a_workspace_from_another_rig_says_which_channels_it_could_not_apply(tmp_path):
    ws = Workspace(gains={"e0": 2.0, "e7": 3.0}, hidden_channels=["aux"])
    traces, _, _ = _models()
    notes = apply_workspace(ws, trace_model=traces)
    assert traces.channels[0].gain == 2.0
    assert notes == ["no channel 'e7' on this device: its gain is not applied",
                     "no channel 'aux' on this device: nothing to hide"]


def test_saving_replaces_a_workspace_of_that_name_and_leaves_no_temporary_file(tmp_path):
    save_workspace("a", Workspace(window_s=2.0), tmp_path)
    save_workspace("a", Workspace(window_s=3.0), tmp_path)
    assert load_workspace("a", tmp_path).window_s == 3.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]


def test_the_config_dir_can_be_moved_with_IONTO_CONFIG_DIR(tmp_path, monkeypatch):
    monkeypatch.setenv("IONTO_CONFIG_DIR", str(tmp_path / "cfg"))
    assert workspace_dir() == tmp_path / "cfg" / "workspaces"
    save_workspace("x", Workspace())
    assert list_workspaces() == ["x"] and (tmp_path / "cfg" / "workspaces" / "x.yaml").is_file()


@pytest.mark.parametrize(("text", "expect"), [
    ("window_s: [1, 2\n", "not valid YAML at line"),
    ("- 1\n- 2\n", "must be a YAML mapping"),
    ("windw_s: 5\n", "windw_s: Extra inputs are not permitted"),
    ("window_s: five\n", "window_s: Input should be a valid number"),
    ("window_s: 0\n", "window_s: Input should be greater than or equal to 0.01"),
    ("gains: {e0: -2}\n", "gain of channel 'e0' must be > 0"),
    ("ratemeter: {span_s: 5}\n", "ratemeter.span_s"),
    ("recording: {template: '{date}_{cell}.h5'}\n", "unknown field(s) ['cell']"),
    ("version: 2\n", "workspace format 2 is not known"),
    ("speed: 1\nspeed: 2\n", "speed"),
    ("window_s: x\nspeed: -1\n", "(and 1 more problem)"),
])
def test_a_bad_workspace_file_is_one_line_naming_file_and_field(tmp_path, text, expect):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as e:
        load_workspace("bad", tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "bad.yaml") in msg and expect in msg, msg


def test_names_and_missing_workspaces_are_one_line(tmp_path):
    for bad in ("", "../etc/passwd", "a/b", ".hidden", "x" * 65):
        with pytest.raises(ConfigError, match=r"workspace name .*: use 1-64 letters"):
            save_workspace(bad, Workspace(), tmp_path)
    save_workspace("rig A", Workspace(), tmp_path)
    with pytest.raises(ConfigError, match=r"no workspace named 'rig B' in .*; saved workspaces: rig A$"):
        load_workspace("rig B", tmp_path)
    with pytest.raises(ConfigError, match="none is saved yet"):
        load_workspace("x", tmp_path / "empty")


VALUES = hs.one_of(hs.none(), hs.booleans(), hs.integers(-10**6, 10**6), hs.floats(allow_nan=True),
                   hs.text(max_size=12), hs.lists(hs.integers(), max_size=3),
                   hs.dictionaries(hs.text(max_size=5), hs.floats(allow_nan=True), max_size=3))
KEYS = hs.sampled_from([*Workspace.model_fields, "bogus"])


@settings(max_examples=300, deadline=None)
@given(hs.dictionaries(KEYS, VALUES, max_size=6))
def test_any_mapping_either_loads_or_is_refused_in_one_line(data):
    try:
        ws = parse_workspace(data, "w.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("w.yaml")
        return
    assert 0.01 <= ws.window_s <= 600 and all(0 < g <= 1000 for g in ws.gains.values())
    assert yaml.safe_load(yaml.safe_dump(ws.model_dump(mode="json"))) == ws.model_dump(mode="json")


def _ionto_gui(args: list[str], cfg: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "IONTO_CONFIG_DIR": str(cfg), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli.main", "gui", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_ionto_gui_with_a_bad_or_missing_workspace_says_so_in_one_line(tmp_path):
    (tmp_path / "workspaces").mkdir()
    (tmp_path / "workspaces" / "lab.yaml").write_text("window_s: -1\n")
    p = _ionto_gui(["--workspace", "lab"], tmp_path)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "lab.yaml: window_s:" in p.stderr
    p = _ionto_gui(["--workspace", "nope"], tmp_path)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "no workspace named 'nope'" in p.stderr and "saved workspaces: lab" in p.stderr
