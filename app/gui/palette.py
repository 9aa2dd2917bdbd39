"""One colour per barrel, everywhere: the barrel panel, the safety strip, the current lanes of
the traces, the ejection bars, the protocol timeline and the dose–response series.

A barrel's colour is fixed by its place on the pipette (its index in ``Pipette.barrels``), so
the same barrel has the same colour in every view and in every run with the same rig file.
The colours are Okabe & Ito's colour-blind-safe set ("Color Universal Design", 2008), in an
order that keeps the first barrels (the drugs) far apart; the electrode trace is dark blue.
"""

from __future__ import annotations

from daq.pipette import Pipette
from daq.types import ChannelKind, StreamInfo

# Okabe-Ito (2008): orange, sky blue, bluish green, reddish purple, blue, vermillion, yellow, grey
BARREL_COLOURS = ("#e69f00", "#56b4e9", "#009e73", "#cc79a7", "#0072b2", "#d55e00", "#b8a000", "#7f7f7f")
ELECTRODE_COLOUR = "#1f4e79"  # the spike-band trace
OTHER_COLOUR = "#555555"  # a channel that belongs to no barrel (a stimulus monitor, a temperature)
SPIKE_COLOUR = "#e74c3c"  # spike marks and the threshold line
EJECT_COLOUR = "#e67e22"  # an "EJECT" state, whatever the barrel
RETAIN_COLOUR = "#2e7d32"  # a "retain" state and the ALL TO RETAIN button


def barrel_colour(index: int) -> str:
    """The colour of the barrel at ``index`` on the pipette."""
    return BARREL_COLOURS[index % len(BARREL_COLOURS)]


def barrel_colours(pipette: Pipette) -> dict[str, str]:
    """Barrel name -> its colour (by its place on the pipette)."""
    return {b.name: barrel_colour(i) for i, b in enumerate(pipette.barrels)}


def channel_colours(stream: StreamInfo, pipette: Pipette | None) -> list[str]:
    """The pen colour of each channel's lane: a current monitor is drawn in its barrel's
    colour, an electrode in ``ELECTRODE_COLOUR``, anything else in ``OTHER_COLOUR``."""
    by_barrel = barrel_colours(pipette) if pipette is not None else {}
    out = []
    for c in stream.channels:
        if c.barrel and c.barrel in by_barrel:
            out.append(by_barrel[c.barrel])
        elif c.kind == ChannelKind.ELECTRODE:
            out.append(ELECTRODE_COLOUR)
        else:
            out.append(OTHER_COLOUR)
    return out
