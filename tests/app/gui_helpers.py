"""Helpers for the GUI tests: a window on the simulated rig, a short protocol, and a tiny
replay device (the product's ``replay:`` device belongs to the recording package; this one
exists only to drive the GUI's replay path in tests)."""

from __future__ import annotations

from pathlib import Path

SHORT_PROTOCOL = """\
name: short dose-response
plan: dose_response
params:
  barrel: glu
  currents_nA: [10, 20, 40, 80]
  eject_s: {eject_s}
  recovery_s: {recovery_s}
  baseline_s: {baseline_s}
"""


def write_protocol(tmp_path: Path, eject_s: float = 1.0, recovery_s: float = 1.0, baseline_s: float = 1.0) -> Path:
    p = tmp_path / "short.yaml"
    p.write_text(SHORT_PROTOCOL.format(eject_s=eject_s, recovery_s=recovery_s, baseline_s=baseline_s))
    return p
