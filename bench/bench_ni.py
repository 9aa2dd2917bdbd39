"""The NI-DAQmx backend over the simulated NI-DAQmx gRPC device, in real time.

4 AI channels (an electrode and three current monitors) at 30 kHz plus three barrels' AO
(glutamate, GABA, balance), run by the real engine through ``NIDevice`` → ``nidaqmx`` →
gRPC → ``ionto sim-server`` (its own process).  Measured in this process: CPU used (all
threads: engine, nidaqmx, gRPC) per wall second — the issue's target is < 1/4 of one core,
with no gap — and CPU per engine block, against the same engine driving the in-process
``SimDevice`` (which also computes the simulation itself) in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.common import BENCH_DIR, WORK_DIR, PeakMemory, Row, command
from daq.engine import Call, Engine
from daq.ni import NIConnection, NIDevice
from daq.rig import RigConfig, parse_rig
from mock_daq import SimDevice, load_preset

RATE_HZ = 30_000.0


def bench_rig(device: str) -> RigConfig:
    """Electrode on ai0, glutamate/GABA/balance barrels on ao0..2 with monitors on ai1..3."""
    base = load_preset("cortex").model_dump(mode="json")
    keep = {"glu": 1, "gaba": 2, "bal": 3}
    barrels = []
    for b in base["pipette"]["barrels"]:
        if b["name"] in keep:
            k = keep[b["name"]]
            barrels.append({**b, "ao_channel": f"{device}/ao{k - 1}", "monitor_channel": f"{device}/ai{k}"})
    base["pipette"]["barrels"] = barrels
    sim_barrels = base.get("simulation", {}).get("barrels") or {}
    for name in [n for n in sim_barrels if n not in keep]:  # the preset's other barrels are not on this pipette
        del sim_barrels[name]
    base["electrodes"] = [{**base["electrodes"][0], "physical": f"{device}/ai0"}]
    base.update(name="bench-4ai-30k", rate_hz=RATE_HZ)
    return parse_rig(base, "bench rig")


def _start_server(rig_file: Path) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-m", "app.cli.main", "sim-server", "--rig", str(rig_file), "--port", "0",
                          "--json", "--seed", "5"], stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR.parent)
    assert p.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("}"):
            return p, int(json.loads("".join(lines))["port"])
    p.kill()
    raise RuntimeError(f"sim-server did not start: {''.join(lines)}")


def _run(device, rig: RigConfig, seconds: float) -> dict:
    """Run the engine for ``seconds`` of samples with one ejection; CPU of this process."""
    cfg = rig.acquisition_config()
    n = int(seconds * RATE_HZ)
    eng = Engine(device, cfg, rig.pipette, ao_lead_s=rig.ao_lead_s, stop_after_samples=n)
    blocks = 0

    def count(ev) -> None:
        nonlocal blocks
        if type(ev).__name__ == "BlockDone":
            blocks += 1

    eng.subscribe(count)
    eng.submit(Call(lambda c: c.set_currents({"glu": -40.0}, int(RATE_HZ), "bench eject")))
    c0, w0 = time.process_time(), time.perf_counter()
    eng.run()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if eng.error:
        raise RuntimeError(eng.error)
    return {"cpu_s": cpu, "wall_s": wall, "blocks": blocks, "gaps": eng.gaps, "lost": eng.lost_samples,
            "core_fraction": cpu / wall, "cpu_per_block_ms": 1e3 * cpu / max(1, blocks)}


def run(quick: bool) -> list[Row]:
    seconds = 6.0 if quick else 30.0
    WORK_DIR.mkdir(exist_ok=True)
    rig_file = WORK_DIR / "bench_ni_rig.yaml"
    rig_file.write_text(yaml.safe_dump(bench_rig("Dev1").model_dump(mode="json"), sort_keys=False))
    rig = bench_rig("Dev1")
    server, port = _start_server(rig_file)
    try:
        with PeakMemory() as mem:
            ni = _run(NIDevice("Dev1", NIConnection("127.0.0.1", port), safe_volts=rig.pipette.safe_volts(),
                               ao_limits_V=rig.pipette.ao_limits_V()), rig, seconds)
    finally:
        server.terminate()
        server.wait(10)
    sim = _run(SimDevice(rig, seed=5, speed=1.0), rig, seconds)
    note = (f"{seconds:g} s at {RATE_HZ:g} Hz, block {rig.acquisition_config().block} samples; NI: "
            f"{ni['blocks']} blocks, {ni['gaps']} gaps; in-process SimDevice computes the simulation in the "
            "measured process, the NI run leaves it to the sim-server process")
    ok = ni["gaps"] == 0 and ni["core_fraction"] < 0.25
    cmd = command("bench_ni", quick)
    return [
        Row("ni", "CPU of the engine process, 4 AI @ 30 kHz + 3 AO, real time", ni["core_fraction"],
            sim["core_fraction"], "cores", "in-process SimDevice (same engine)", cmd,
            higher_is_better=False, target="< 0.25 core, no gap", met=ok, notes=note, extra={"ni": ni, "sim": sim},
            peak_MB=mem.peak_MB),
        Row("ni", "CPU per 50 ms block", ni["cpu_per_block_ms"], sim["cpu_per_block_ms"], "ms",
            "in-process SimDevice (same engine)", cmd, higher_is_better=False, peak_MB=mem.peak_MB),
    ]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r.metric, r.ours, r.reference, r.unit, r.met)
