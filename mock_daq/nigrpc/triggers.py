"""Analog and reference triggers of the simulated board: their configuration, as DAQmx
stores it (the properties read back what ``DAQmxCfg…Trig`` set, terminals fully qualified:
``APFI0`` → ``/Dev1/APFI0``).

On the simulated board a configured trigger fires at once: the analog trigger inputs
(APFI 0/1 on X Series) carry no signal here, and, as we read NI-DAQmx Help ("Simulated
Devices"), NI's own simulated devices do not simulate trigger conditions either: a task that
waits for a trigger runs as if it had fired.  A real board waits for the signal.  Only the AI start trigger that clocks buffered AO
(``/Dev1/ai/StartTrigger``) has an effect (``hardware.py``).

Thread: called from the servicer under no lock; the attribute table has its own.
"""

from __future__ import annotations

from typing import Any

from mock_daq.nigrpc.attributes import AttributeTable

ANALOG_EDGE, ANALOG_WINDOW, DIGITAL_EDGE, NONE = 10099, 10103, 10150, 10230

# DAQmx attribute ids (nidaqmx ``task/triggering/_start_trigger.py`` / ``_reference_trigger.py``)
START = {"type": 0x1393, "edge_src": 0x1398, "edge_slope": 0x1397, "edge_lvl": 0x1396, "win_src": 0x1400,
         "win_when": 0x1401, "win_top": 0x1403, "win_btm": 0x1402}
REF = {"type": 0x1419, "pretrig": 0x1445, "edge_src": 0x1424, "edge_slope": 0x1423, "edge_lvl": 0x1422,
       "win_src": 0x1426, "win_when": 0x1427, "win_top": 0x1429, "win_btm": 0x1428, "dig_src": 0x1434,
       "dig_edge": 0x1430}


def terminal(source: str, device: str) -> str:
    """``APFI0`` → ``/Dev1/APFI0``; a qualified terminal stays as it is."""
    s = source.strip()
    return s if s.startswith("/") else f"/{device}/{s}"


def configure(table: AttributeTable, session: str, which: str, kind: int, **values: Any) -> None:
    """Store a trigger's configuration: ``which`` 'start' or 'ref'; ``values`` by the short
    names of ``START`` / ``REF`` (a reference trigger's pretrigger samples included)."""
    ids = START if which == "start" else REF
    key = {"task": session}
    table.set("Trig", key, ids["type"], kind)
    for name, value in values.items():
        table.set("Trig", key, ids[name], value)
