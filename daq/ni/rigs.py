"""Rig files on NI devices: move a rig's channels onto a named device, and check that a
rig's channels live on the device a URL names.

Thread: any.
"""

from __future__ import annotations

from daq.errors import ConfigError
from daq.rig import RigConfig


def _on(physical: str, device: str) -> str:
    return f"{device}/{physical.strip().lstrip('/').split('/', 1)[-1]}"


def rig_on_device(rig: RigConfig, device: str, ao_device: str | None = None,
                  line_device: str | None = None) -> RigConfig:
    """The same rig with every physical channel (``sim/ai1``) renamed onto ``device``
    (``Dev1/ai1``), keeping its number: electrodes, current and voltage monitors and the marker
    are inputs (on ``device``), barrel commands outputs (on ``ao_device``, default ``device``:
    a cDAQ's AO module), the interlock, trial input and sync lines digital lines (on
    ``line_device``, default ``device``: a chassis' own lines)."""
    ao_device = ao_device or device
    electrodes = [e.model_copy(update={"physical": _on(e.physical, device)}) for e in rig.electrodes]
    barrels = []
    for b in rig.pipette.barrels:
        upd = {}
        if b.ao_channel:
            upd["ao_channel"] = _on(b.ao_channel, ao_device)
        for field in ("monitor_channel", "voltage_monitor_channel"):
            if getattr(b, field):
                upd[field] = _on(getattr(b, field), device)
        barrels.append(b.model_copy(update=upd))
    update: dict = {"electrodes": tuple(electrodes),
                    "pipette": rig.pipette.model_copy(update={"barrels": tuple(barrels)})}
    if rig.marker is not None:
        update["marker"] = rig.marker.model_copy(update={"physical": _on(rig.marker.physical, device)})
    if rig.interlock is not None:
        update["interlock"] = rig.interlock.model_copy(update={"line": _on(rig.interlock.line, line_device or device)})
    lines = line_device or device
    if rig.trial_input is not None and rig.trial_input.digital:  # trial and sync lines: port 0 (daq.ni.digital)
        ti = rig.trial_input
        update["trial_input"] = ti.model_copy(update={
            "trial_line": _on(ti.trial_line, lines), "code_lines": tuple(_on(c, lines) for c in ti.code_lines),
            "strobe_line": None if ti.strobe_line is None else _on(ti.strobe_line, lines)})
    if rig.sync_out is not None:
        update["sync_out"] = rig.sync_out.model_copy(update={"line": _on(rig.sync_out.line, lines)})
    return rig.model_copy(update=update)


def check_rig_devices(rig: RigConfig, device: str, source: str) -> None:
    """Every channel of the rig must name a device; the URL's device must be among them."""
    chans = [e.physical for e in rig.electrodes]
    chans += [c for b in rig.pipette.barrels for c in (b.ao_channel, b.monitor_channel) if c]
    bare = [c for c in chans if "/" not in c.strip("/")]
    if bare:
        raise ConfigError(f"{source}: channels {bare} name no device; write them as {device}/ai0, {device}/ao0")
    devices = sorted({c.strip("/").split("/", 1)[0] for c in chans})
    if device not in devices:
        raise ConfigError(
            f"{source}: the rig's channels are on {devices}, not on {device!r} (the device URL's); "
            f"rename them (e.g. {device}/ai0) or use a URL naming {devices[0]}"
        )
