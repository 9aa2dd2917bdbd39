"""Rig files on NI devices: move a rig's channels onto a named device, and check that a
rig's channels live on the device a URL names.

Thread: any.
"""

from __future__ import annotations

from daq.errors import ConfigError
from daq.rig import RigConfig


def _on(physical: str, device: str) -> str:
    return f"{device}/{physical.strip().lstrip('/').split('/', 1)[-1]}"


def rig_on_device(rig: RigConfig, device: str) -> RigConfig:
    """The same rig with every physical channel (``sim/ai1``) renamed onto ``device`` (``Dev1/ai1``)."""
    electrodes = [e.model_copy(update={"physical": _on(e.physical, device)}) for e in rig.electrodes]
    barrels = []
    for b in rig.pipette.barrels:
        upd = {}
        if b.ao_channel:
            upd["ao_channel"] = _on(b.ao_channel, device)
        if b.monitor_channel:
            upd["monitor_channel"] = _on(b.monitor_channel, device)
        barrels.append(b.model_copy(update=upd))
    pipette = rig.pipette.model_copy(update={"barrels": tuple(barrels)})
    return rig.model_copy(update={"electrodes": tuple(electrodes), "pipette": pipette})


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
