"""The composition root: device URLs → devices, and a run wired from all the packages.

This is the one place that knows every package: it opens a device (simulated, NI,
replay), builds the engine with its sinks in the fixed order (recorder, online detector,
display), hands it a protocol runner, and returns what happened.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.stopping import CHECK_BY_HAND, STOP_WAIT_S, StopSignals, wait_for_stop
from daq.device import Device
from daq.engine import BlockDone, Engine, EngineError, EngineEvent, EventLogged, MonitorLimits
from daq.errors import ConfigError
from daq.recording import ProtocolInfo, Recorder
from daq.recording.paths import refuse_recording_target
from daq.rig import RigConfig, load_rig
from daq.rig_check import rig_document
from daq.ring import DisplaySink
from protocols.commands import Plan
from protocols.loader import ResolvedProtocol
from protocols.loader import load as load_protocol_file
from protocols.runner import PlanRunner

DEVICE_URL_FORMS = "sim, sim:PRESET, ni:DEV, ni+grpc://HOST:PORT/DEV, replay:FILE.h5"


@dataclass(frozen=True)
class DeviceURL:
    scheme: str  # sim | ni | ni+grpc | replay
    target: str = ""  # preset, device name, or file
    host: str = ""
    port: int = 0


def parse_device_url(url: str) -> DeviceURL:
    """Parse a device URL; ``ConfigError`` says which forms are accepted."""
    # the simulator (and the detector, below) load when first used: the window opens sooner
    from mock_daq.presets import DEFAULT_PRESET

    url = (url or "sim").strip()
    if url == "sim":
        return DeviceURL("sim", DEFAULT_PRESET)
    if url.startswith("sim:"):
        return DeviceURL("sim", url[4:] or DEFAULT_PRESET)
    m = re.fullmatch(r"ni\+grpc://([^:/]+):(\d+)/([^/]+)", url)
    if m:
        return DeviceURL("ni+grpc", m.group(3), m.group(1), int(m.group(2)))
    if url.startswith("ni:") and len(url) > 3:
        return DeviceURL("ni", url[3:])
    if url.startswith("replay:") and len(url) > 7:
        return DeviceURL("replay", url[7:])
    raise ConfigError(f"device URL {url!r} is not understood; use one of: {DEVICE_URL_FORMS}")


def parse_speed(text: str | float | None) -> float | None:
    """'realtime' → 1.0, 'max' → None (as fast as possible), '10' → 10× real time."""
    if text is None or text == "max":
        return None
    if text == "realtime":
        return 1.0
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"--speed {text!r}: use 'realtime', 'max' or a factor such as 10") from None
    if not v > 0:
        raise ConfigError(f"--speed {text!r}: a factor must be > 0")
    return v


def resolve_rig(url: str = "sim", rig_path: str | os.PathLike[str] | None = None) -> RigConfig:
    """The rig a run uses: the rig file if given, else the simulator preset the URL names."""
    spec = parse_device_url(url)
    if spec.scheme in ("ni", "ni+grpc"):
        return _ni_rig(spec, url, rig_path)
    if rig_path:
        return load_rig(rig_path)
    if spec.scheme == "sim":
        from mock_daq import load_preset

        return load_preset(spec.target)
    if spec.scheme == "replay":
        from daq.errors import RecordingError
        from daq.recording import Recording

        path = Path(spec.target.partition("?")[0])
        try:
            with Recording(path) as rec:
                return _stored_rig(path, rec.rig)
        except RecordingError as exc:
            raise ConfigError(f"device {url!r}: {exc}") from None
    raise ConfigError(f"device {url!r}: give a rig file with --rig (channels, pipette, gains)")


def open_device(url: str = "sim", rig_path: str | os.PathLike[str] | None = None, *,
                seed: int | None = None, speed: float | None = 1.0) -> tuple[Device, RigConfig]:
    """Open the device a URL names, with its rig (from ``rig_path`` or the preset)."""
    spec = parse_device_url(url)
    if spec.scheme == "sim":
        from mock_daq import SimDevice

        rig = resolve_rig(url, rig_path)
        return SimDevice(rig, seed=seed, speed=speed, name=f"sim:{spec.target}"), rig
    if spec.scheme in ("ni", "ni+grpc"):
        return _open_ni(spec, url, rig_path)
    return _open_replay(spec, url, rig_path, speed)


def _ni_connection(spec: DeviceURL) -> Any:
    from daq.ni import NIConnection

    conn = NIConnection(spec.host, spec.port) if spec.scheme == "ni+grpc" else NIConnection()
    conn.wait_ready()
    return conn


def _ni_rig(spec: DeviceURL, url: str, rig_path: str | os.PathLike[str] | None, conn: Any = None) -> RigConfig:
    """The rig for an NI device: the rig file (its channels must be on the URL's device), or —
    for an ionto simulated device started from a preset — that preset moved onto the device."""
    from daq.ni import capabilities
    from daq.ni.rigs import check_rig_devices, rig_on_device
    from mock_daq.nigrpc.spec import is_simulated_rig, preset_of

    if rig_path:
        rig = load_rig(rig_path)
        check_rig_devices(rig, spec.target, str(rig_path))
        return rig
    conn = conn or _ni_connection(spec)
    product = capabilities(conn, spec.target).product
    preset = preset_of(product)
    if preset:
        from mock_daq import load_preset

        return rig_on_device(load_preset(preset), spec.target)
    if is_simulated_rig(product):
        raise ConfigError(f"device {url!r} simulates a rig from a rig file ({product}): pass the same file with --rig")
    raise ConfigError(
        f"device {url!r} ({product}): give a rig file with --rig saying which channels are wired where "
        "(electrodes, each barrel's AO and monitor channel) and the gains; see docs/ni-hardware.md"
    )


def _open_ni(spec: DeviceURL, url: str, rig_path: str | os.PathLike[str] | None) -> tuple[Device, RigConfig]:
    """An NI-DAQmx device through the local driver (``ni:``) or an NI gRPC device server."""
    from daq.ni import NIDevice

    conn = _ni_connection(spec)
    rig = _ni_rig(spec, url, rig_path, conn)
    pipette = rig.pipette
    device = NIDevice(spec.target, conn, safe_volts=pipette.safe_volts(), ao_limits_V=pipette.ao_limits_V(),
                      name=url, interlock=rig.interlock, rig_path=str(rig_path or ""),
                      trial_input=rig.trial_input if rig.trial_input and rig.trial_input.digital else None,
                      sync_out=rig.sync_out)
    return device, rig


def _open_replay(spec: DeviceURL, url: str, rig_path: str | os.PathLike[str] | None,
                 speed: float | None) -> tuple[Device, RigConfig]:
    """A recorded file played back as a device: ``replay:FILE.h5``; ``?loop`` plays it again
    and again; ``?noevents`` leaves out the recorded events (ejections, marks), e.g. to run a
    new protocol on recorded data.  The rig is the one stored in the recording unless
    ``rig_path`` is given."""
    from daq.errors import RecordingError
    from daq.replay import ReplayDevice

    target, _, query = spec.target.partition("?")
    options = {o for o in query.split("&") if o}
    if options - {"loop", "noevents"}:
        raise ConfigError(f"device URL {url!r}: a replay's only options are '?loop' and '?noevents' "
                          "(both: '?loop&noevents')")
    path = Path(target)
    if not path.exists():
        raise ConfigError(f"device URL {url!r}: no such recording {path}")
    try:
        device = ReplayDevice(path, speed=speed, loop="loop" in options, replay_events="noevents" not in options)
    except RecordingError as exc:
        raise ConfigError(f"device URL {url!r}: {exc}") from None
    try:
        rig = load_rig(rig_path) if rig_path else _stored_rig(path, device.recording.rig)
    except ConfigError:
        device.close()
        raise
    return device, rig


def _stored_rig(path: Path, stored: dict[str, Any]) -> RigConfig:
    """The rig a recording stores (what a replay of it runs with)."""
    from daq.rig import parse_rig

    if not stored.get("electrodes") or not stored.get("pipette"):
        raise ConfigError(f"{path}: the recording stores no complete rig; give one with --rig")
    return parse_rig(stored, f"{path}: stored rig")


LoadedPlan = ResolvedProtocol
"""A protocol ready to run: ``factory()`` makes a fresh plan generator, ``info`` is what
the recording stores (``protocols.loader.ResolvedProtocol``)."""


def load_plan_file(path: str | os.PathLike[str], params: dict[str, Any] | None = None) -> LoadedPlan:
    """A user's Python plan file: a generator function ``plan(...)`` whose keyword
    parameters are set by ``params`` (see docs/protocols.md)."""
    if Path(path).suffix != ".py":
        raise ConfigError(f"{path}: a Python plan file ends in .py")
    return load_protocol_file(path, params)


def load_any_protocol(path: str | os.PathLike[str], params: dict[str, Any] | None = None) -> LoadedPlan:
    """A YAML protocol or a Python plan file, validated and resolved (``params`` override
    the parameters of a Python plan or of a YAML ``plan:`` protocol)."""
    return load_protocol_file(path, params)


def default_recording_path(name: str, directory: str | os.PathLike[str] = "recordings") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "recording"
    return Path(directory) / f"{safe}-{stamp}.h5"


@dataclass
class RunResult:
    path: Path
    duration_s: float
    samples: int
    gaps: int
    lost_samples: int
    error: str | None
    events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    interrupted_by: str = ""  # the signal that stopped the run ("SIGINT", ...), if one did
    exit_status: int | None = None  # 128 + that signal
    safe_confirmed: bool = True  # the engine wrote the safe levels and stopped in time


def check_recording_target(out: Path, overwrite: bool) -> None:
    """One line, before any device is opened or current flows, if ``out`` cannot be recorded
    to: a FIFO, device or folder, a file another ionto is recording, or an existing file
    without ``overwrite``."""
    refuse_recording_target(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; choose another --out, or pass --overwrite to replace it")


def run_protocol(
    plan: Plan,
    info: ProtocolInfo,
    out: str | os.PathLike[str],
    *,
    device_url: str = "sim",
    rig_path: str | os.PathLike[str] | None = None,
    speed: float | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    on_event: Callable[[EngineEvent], None] | None = None,
    runner: PlanRunner | None = None,
    wrap_device: Callable[[Device], Device] | None = None,
) -> RunResult:
    """Run a plan on a device to its end, recording to ``out``.  Runs the engine on its own
    thread and waits on its ``stopped`` event; ``on_event`` is called on the engine thread.
    ``runner``: a ``PlanRunner`` already built around ``plan`` (to answer its prompts, read
    its status); by default one is made.  ``wrap_device``: wraps the opened device (a
    network trial input, ``daq.network_input.with_trial_input``).

    SIGINT, SIGTERM and SIGHUP (on the main thread) abort the protocol safely: every barrel
    to retain, the recording closed; the result says which signal came and whether the
    engine confirmed the safe levels in time (``app.stopping``)."""
    out = Path(out)
    check_recording_target(out, overwrite)
    device, rig = open_device(device_url, rig_path, seed=seed, speed=speed)
    if wrap_device is not None:
        device = wrap_device(device)
    config = rig.acquisition_config()
    rig_doc = rig_document(rig, rig_path)  # with the last 'ionto rig check' of the rig file, if any
    try:
        recorder = Recorder(out, pipette=rig.pipette, rig=rig_doc, protocol=info, overwrite=overwrite)
    except BaseException:
        device.close()
        raise
    from analysis.detect import StreamingDetector

    detector = StreamingDetector()
    runner = runner if runner is not None else PlanRunner(plan, info.name or "protocol")
    engine = Engine(device, config, rig.pipette, ao_lead_s=rig.ao_lead_s, recorder=recorder,
                    sinks=[detector, DisplaySink(seconds=10)], runner=runner, online=detector,
                    stop_when_protocol_ends=True, monitor=None if device_url.startswith("replay:") else MonitorLimits())
    n_events = 0

    def listen(ev: EngineEvent) -> None:
        nonlocal n_events
        if isinstance(ev, EventLogged):
            n_events += 1
        if on_event is not None:
            on_event(ev)

    engine.subscribe(listen)
    with StopSignals(engine.request_stop) as signals:
        engine.start()
        try:
            confirmed = wait_for_stop(engine.stopped, signals)
        except BaseException:  # anything unexpected on this thread: still stop safely, bounded
            engine.request_stop("the waiting thread failed")
            engine.wait_stopped(STOP_WAIT_S)
            raise
    if not confirmed:
        print(CHECK_BY_HAND, file=sys.stderr, flush=True)
    # what the file holds: less than was read if the recorder had to stop (a full disk)
    samples = min(engine.read_index, recorder.committed_samples)
    return RunResult(out, samples / config.rate_hz, samples, engine.gaps, engine.lost_samples, engine.error,
                     n_events, interrupted_by=signals.first_name, exit_status=signals.exit_status,
                     safe_confirmed=confirmed and engine.safe_levels_written)


__all__ = [
    "BlockDone", "DeviceURL", "EngineError", "RunResult", "check_recording_target", "default_recording_path",
    "load_any_protocol", "open_device", "parse_device_url", "parse_speed", "run_protocol",
]
