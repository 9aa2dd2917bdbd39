"""Saved rig workspaces: a named set of the window's settings, kept as YAML in the user's
config folder and loaded from the File menu or with ``ionto gui --workspace NAME``.

A workspace holds the device URL and rig file, the simulator speed, the spike threshold,
the trace window length, per-channel gains and hidden lanes, the ratemeter's bin and span,
the recording folder and file-name template, and the window's layout (opaque strings the
window writes and reads back: Qt's saved dock state and geometry).  It does not hold
barrel currents: a loaded workspace never ejects anything.

Files live in ``platformdirs.user_config_dir("ionto")/workspaces/NAME.yaml``
(``~/.config/ionto/workspaces`` on Linux), or under ``$IONTO_CONFIG_DIR/workspaces`` when
that is set.  A bad file is refused in one line naming the file, the field and what would be
accepted (the workspace is then not applied at all).

API: ``save_workspace(name, workspace)``, ``load_workspace(name)``, ``list_workspaces()``,
``capture_workspace(...)`` (the live models → a ``Workspace``) and ``apply_workspace(ws,
...)`` (a ``Workspace`` → the live models; device, rig, recording and layout are applied by
the window and the command line, which own them).  Plain Python, no Qt: the GUI thread
calls these; saving writes a temporary file and renames it, so a crash never leaves half a
workspace.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.gui.models.raster import MAX_SPAN_S, MIN_SPAN_S
from app.gui.models.recording import DEFAULT_TEMPLATE, render_template
from daq.config_file import parse_yaml, read_text
from daq.errors import ConfigError
from daq.pipette import format_validation_error

if TYPE_CHECKING:
    from analysis.detect import StreamingDetector
    from app.gui.models.raster import RateModel
    from app.gui.models.traces import TraceModel

FORMAT_VERSION = 1
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
NAME_RULE = "1-64 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit"


class RatemeterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bin_s: float = Field(1.0, ge=0.01, le=60.0)
    span_s: float = Field(300.0, ge=MIN_SPAN_S, le=MAX_SPAN_S)
    follow_protocol: bool = True  # widen the span to show a whole loaded protocol


class RecordingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: str = "recordings"
    template: str = DEFAULT_TEMPLATE

    @field_validator("template")
    @classmethod
    def _known_fields(cls, v: str) -> str:
        render_template(v, ".", exists=lambda _p: False)  # ValueError names an unknown field
        return v


class Workspace(BaseModel):
    """Everything a workspace file holds (all fields optional in the file)."""

    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    device: str = "sim"
    rig: str | None = None  # rig file (YAML) path
    speed: float = Field(1.0, gt=0.0, le=1000.0)  # simulator / replay speed (1 = real time)
    threshold_uV: float | None = Field(None, gt=0.0, le=10_000.0)  # None: automatic, k·σ
    window_s: float = Field(5.0, ge=0.01, le=600.0)
    gains: dict[str, float] = Field(default_factory=dict)  # channel name -> y zoom (> 0)
    hidden_channels: list[str] = Field(default_factory=list)
    ratemeter: RatemeterSettings = Field(default_factory=RatemeterSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    layout: dict[str, str] = Field(default_factory=dict)  # the window's own (e.g. base64 dock state)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != FORMAT_VERSION:
            raise ValueError(f"workspace format {v} is not known to this ionto (it reads format {FORMAT_VERSION})")
        return v

    @field_validator("gains")
    @classmethod
    def _gains(cls, v: dict[str, float]) -> dict[str, float]:
        for name, g in v.items():
            if not 0.0 < g <= 1000.0:
                raise ValueError(f"gain of channel {name!r} must be > 0 and <= 1000, got {g}")
        return v


# --- where they live -------------------------------------------------------------------------
def workspace_dir() -> Path:
    """The folder holding the saved workspaces (not created here)."""
    base = os.environ.get("IONTO_CONFIG_DIR")
    if not base:
        from platformdirs import user_config_dir

        base = user_config_dir("ionto", appauthor=False)
    return Path(base) / "workspaces"


def check_name(name: str) -> str:
    """The name, stripped; ``ConfigError`` if it cannot name a workspace file."""
    n = name.strip()
    if not NAME_RE.fullmatch(n):
        raise ConfigError(f"workspace name {name!r}: use {NAME_RULE}")
    return n


def workspace_path(name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    d = Path(directory) if directory is not None else workspace_dir()
    return d / f"{check_name(name)}.yaml"


def list_workspaces(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the saved workspaces, sorted (case-insensitively)."""
    d = Path(directory) if directory is not None else workspace_dir()
    if not d.is_dir():
        return []
    return sorted((p.stem for p in d.glob("*.yaml") if p.is_file() and NAME_RE.fullmatch(p.stem)), key=str.lower)


# --- save / load ---------------------------------------------------------------------------
def save_workspace(name: str, workspace: Workspace, directory: str | os.PathLike[str] | None = None) -> Path:
    """Write ``workspace`` as ``NAME.yaml`` (replacing a workspace of that name); returns the path."""
    path = workspace_path(name, directory)
    doc = workspace.model_dump(mode="json")
    text = f"# ionto rig workspace {check_name(name)!r} (ionto gui --workspace NAME, File > Load workspace)\n"
    text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot save the workspace ({exc.strerror or exc})") from None
    return path


def parse_workspace(data: Any, source: str) -> Workspace:
    """Validate parsed YAML; ``ConfigError`` in one line naming ``source`` and the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a workspace file must be a YAML mapping of settings "
                          f"({', '.join(Workspace.model_fields)}), got {type(data).__name__}")
    try:
        return Workspace.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_error(exc, source).splitlines()
        more = f" (and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''})" if len(lines) > 1 else ""
        raise ConfigError(lines[0] + more) from None


def load_workspace(name: str, directory: str | os.PathLike[str] | None = None) -> Workspace:
    """The saved workspace ``name`` (or a workspace file given by its path, ending in .yaml)."""
    if name.lower().endswith((".yaml", ".yml")) and (os.sep in name or Path(name).is_file()):
        path = Path(name)
    else:
        path = workspace_path(name, directory)
    if not path.is_file():
        saved = list_workspaces(path.parent)
        raise ConfigError(f"no workspace named {name!r} in {path.parent}; "
                          + (f"saved workspaces: {', '.join(saved)}" if saved else "none is saved yet"))
    return parse_workspace(parse_yaml(read_text(path, "the workspace file"), str(path)), str(path))


# --- the live models <-> a workspace ---------------------------------------------------------
def capture_workspace(*, device: str = "sim", rig: str | os.PathLike[str] | None = None, speed: float | None = 1.0,
                      trace_model: TraceModel | None = None, rate_model: RateModel | None = None,
                      threshold_uV: float | None = None, recording: RecordingSettings | None = None,
                      layout: dict[str, str] | None = None) -> Workspace:
    """A workspace holding the window's settings now (what is not given keeps its default;
    ``threshold_uV`` None: the automatic k·σ threshold)."""
    ws: dict[str, Any] = {"device": device, "rig": str(rig) if rig else None, "speed": speed or 1.0,
                          "layout": dict(layout or {})}
    if recording is not None:
        ws["recording"] = recording
    if trace_model is not None:
        ws["window_s"] = trace_model.window_s
        ws["gains"] = {c.name: c.gain for c in trace_model.channels if c.gain != 1.0}
        ws["hidden_channels"] = [c.name for c in trace_model.channels if not c.visible]
    if rate_model is not None:
        ws["ratemeter"] = RatemeterSettings(bin_s=rate_model.bin_s, span_s=rate_model.span_s,
                                            follow_protocol=rate_model.follows_protocol)
    if threshold_uV is not None:
        ws["threshold_uV"] = abs(threshold_uV)
    try:
        return Workspace.model_validate(ws)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "this window's settings").splitlines()[0]) from None


def apply_workspace(ws: Workspace, *, trace_model: TraceModel | None = None, rate_model: RateModel | None = None,
                    detector: StreamingDetector | None = None) -> list[str]:
    """Apply the settings that live in the models (window, gains, hidden lanes, ratemeter,
    threshold); each model emits its change events.  Returns notes for what could not be
    applied here (a channel this device does not have)."""
    notes: list[str] = []
    if trace_model is not None:
        trace_model.set_window(ws.window_s)
        index = {c.name: i for i, c in enumerate(trace_model.channels)}
        for name, gain in ws.gains.items():
            if name in index:
                trace_model.set_gain(index[name], gain)
            else:
                notes.append(f"no channel {name!r} on this device: its gain is not applied")
        for name, i in index.items():
            trace_model.set_visible(i, name not in ws.hidden_channels)
        for name in ws.hidden_channels:
            if name not in index:
                notes.append(f"no channel {name!r} on this device: nothing to hide")
    if rate_model is not None:
        rate_model.set_bin(ws.ratemeter.bin_s)
        rate_model.set_span(ws.ratemeter.span_s)
        rate_model.follows_protocol = ws.ratemeter.follow_protocol
    if detector is not None:  # an electrode's physical unit is V
        detector.set_threshold(None if ws.threshold_uV is None else ws.threshold_uV * 1e-6)
    return notes
