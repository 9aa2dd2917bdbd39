"""Hypothesis strategies shared by the pipette and schedule tests."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from daq.pipette import Barrel, Pipette


@st.composite
def pipettes(draw, slew: bool | None = None) -> Pipette:
    """Random, valid pipettes: 1-5 drug/control barrels, maybe a balance barrel, random
    gains (either sign), limits, retain currents, safe states and an optional slew limit."""
    n = draw(st.integers(1, 5))
    barrels = []
    for i in range(n):
        role = draw(st.sampled_from(["drug", "drug", "control"]))
        max_eject = draw(st.floats(1, 300))
        max_retain = draw(st.floats(0, 60)) if role == "drug" else 50.0
        gain = draw(st.floats(max(max_eject, max_retain) / 10 + 0.01, 2000)) * draw(st.sampled_from([1, -1]))
        barrels.append(Barrel(
            name=f"b{i}", drug="x" if role == "drug" else "NaCl", role=role,
            polarity=draw(st.sampled_from([1, -1])) if role == "drug" else 0,
            retain_nA=draw(st.floats(0, max_retain)) if role == "drug" else 0.0,
            max_eject_nA=max_eject, max_retain_nA=max_retain, command_gain_nA_per_V=gain,
            ao_channel=f"Dev1/ao{i}", safe_state=draw(st.sampled_from(["retain", "zero"])),
            monitor_gain_V_per_nA=draw(st.sampled_from([None, 0.01, 0.05])),
        ))
    if draw(st.booleans()):
        barrels.append(Barrel(name="bal", drug="NaCl", role="balance", max_eject_nA=draw(st.floats(20, 600)),
                              command_gain_nA_per_V=100, ao_channel=f"Dev1/ao{n}"))
    use_slew = draw(st.booleans()) if slew is None else slew
    p = Pipette(barrels=tuple(barrels), max_total_nA=draw(st.floats(20, 1000)),
                slew_limit_nA_per_ms=draw(st.floats(0.5, 50)) if use_slew else None)
    assume(not p.violations(p.safe_currents_nA()))
    return p


