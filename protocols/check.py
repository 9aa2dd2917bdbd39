"""Check a protocol against a rig before any current flows: its static problems (barrels,
roles, limits per parameter), then a dry run (timeline, duration, charge per barrel,
every refused command with the step and time).  ``ionto protocol check`` prints it;
``ionto run`` refuses to start unless it is runnable; the GUI can preview it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daq.rig import RigConfig
from protocols.dryrun import DEFAULT_BUDGET, DryRunBudget, DryRunResult, dry_run_rig
from protocols.loader import ResolvedProtocol
from protocols.validation import MAX_PROTOCOL_S


@dataclass
class CheckReport:
    protocol: ResolvedProtocol
    rig_name: str
    device: str
    problems: list[str] = field(default_factory=list)
    dry: DryRunResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def warnings(self) -> list[str]:
        return list(self.dry.warnings) if self.dry else []

    def to_json(self, timeline: bool = True) -> dict[str, Any]:
        p = self.protocol
        doc: dict[str, Any] = {
            "ok": self.ok, "file": p.path, "name": p.name, "format": p.format, "device": self.device,
            "rig": self.rig_name, "params": p.params, "problems": self.problems, "warnings": self.warnings,
        }
        d = self.dry
        if d is not None:
            doc.update({
                "duration_s": d.duration_s, "samples": d.samples, "rate_hz": d.rate_hz,
                "duration_is_upper_bound": d.closed_loop, "prompts": d.prompts,
                "charge_nC": d.charge_nC, "eject_charge_nC": d.eject_charge_nC, "max_current_nA": d.max_current_nA,
                "ejections": [{"barrel": e.barrel, "start_s": e.start_s, "duration_s": e.duration_s,
                               "current_nA": e.current_nA, "charge_nC": e.charge_nC} for e in d.epochs],
            })
            if timeline:
                doc["timeline"] = d.timeline()
        return doc


def check_protocol(protocol: ResolvedProtocol, rig: RigConfig, device: str = "",
                   max_duration_s: float = MAX_PROTOCOL_S, budget: DryRunBudget = DEFAULT_BUDGET) -> CheckReport:
    """Static checks, then (if they pass) a dry run on the rig's clock, within ``budget``."""
    report = CheckReport(protocol, rig.name, device)
    report.problems = [f"{protocol.path}: {p}" for p in protocol.problems(rig.pipette)]
    if report.problems:
        return report
    inst = protocol.instantiate()
    report.dry = dry_run_rig(inst.plan, rig, protocol.name, locate=inst.locate, max_duration_s=max_duration_s,
                             budget=budget)
    report.problems = [f"{protocol.path}: {e}" for e in report.dry.errors]
    return report
