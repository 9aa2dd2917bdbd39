"""Simulated rig: generation speed as a multiple of real time, on one core.

Targets (issue 3): ≥ 100× real time for 4 channels at 30 kHz, ≥ 20× for 32 channels at
30 kHz.  The run reads the simulated device in 50-ms blocks, as the engine does, while the
protocol switches barrels on and off (so pump, diffusion, receptors and neurons all work).
Reference, measured in the same run: drawing the same number of numpy normals (one per
sample per channel, ``default_rng().standard_normal``) in the same blocks — the cost of
the noise alone, the floor of any honest generator.

Run: ``.venv/bin/python -m bench --only bench_sim [--quick]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import BENCH_DIR, Row, command

CHILD = r"""
import json, sys, time
import numpy as np
from daq.rig import parse_rig
from daq.schedule import AOSchedule
from mock_daq import SimDevice
from mock_daq.presets import load_preset

n_el, n_mon, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
base = load_preset("cortex").model_dump(mode="json")
rate = 30000
barrels = base["pipette"]["barrels"]
mon = ["glu", "gaba", "nacl", "bal"][:n_mon] if n_mon <= 4 else [b["name"] for b in barrels]
for b in barrels:
    if b["name"] not in mon:
        b["monitor_channel"] = None
for i, name in enumerate(mon):
    next(b for b in barrels if b["name"] == name)["monitor_channel"] = f"sim/ai{n_el + i}"
base["rate_hz"] = rate
base["electrodes"] = [{"name": f"e{i}", "physical": f"sim/ai{i}", "gain": 1000, "range_V": 5} for i in range(n_el)]
sim = base["simulation"]
sim["neurons"] = [dict(sim["neurons"][0], electrode=i, distance_um=30 + (i * 7) % 60, amplitude_uV=60 + (i * 23) % 200)
                  for i in range(n_el)]
rig = parse_rig(base, "bench rig")
cfg = rig.acquisition_config()
assert len(cfg.ai) == n_el + n_mon, len(cfg.ai)
dev = SimDevice(rig, seed=1)
dev.configure(cfg)
n = int(seconds * rate)
block = round(0.05 * rate)
sched = AOSchedule(rig.pipette)
for k, t in enumerate(np.arange(2.0, seconds, 5.0)):
    sched.set_currents({"glu": -20.0 * (1 + k % 3), "gaba": 10.0 if k % 2 else -15.0}, int(t * rate))
    sched.set_currents({"glu": 15.0, "gaba": -15.0}, int((t + 3) * rate))
ao = sched.render_volts(0, n + block)
dev.write_ao(0, ao)
dev.start()
dev.read(block, 1.0)  # the first frame loads the compiled noise kernel (once per process)
t0 = time.perf_counter()
for i in range(block, n + block, block):
    dev.read(min(block, n + block - i), 1.0)
ours = time.perf_counter() - t0
truth = dev.drain_truth()
rng = np.random.default_rng(1)
t0 = time.perf_counter()
for i in range(0, n, block):
    rng.standard_normal((min(block, n - i), len(cfg.ai)))
ref = time.perf_counter() - t0
spikes = sum(len(v) for k, v in truth.items() if k.startswith("spike_index"))
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({"ours_s": ours, "ref_s": ref, "seconds": seconds, "channels": len(cfg.ai), "spikes": spikes,
                  "peak_MB": hwm}))
"""


def _measure(n_el: int, n_mon: int, seconds: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", CHILD, str(n_el), str(n_mon), str(seconds)]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]  # one core
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"bench_sim child failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    rows = []
    for n_el, n_mon, target in ((1, 3, 100.0), (28, 4, 20.0)):
        seconds = 20.0 if quick else 120.0
        m = _measure(n_el, n_mon, seconds)
        ours = m["seconds"] / m["ours_s"]
        ref = m["seconds"] / m["ref_s"]
        rows.append(Row(
            bench="sim", metric=f"generation, {m['channels']} ch @ 30 kHz ({n_el} electrode(s), {n_mon} monitors)",
            ours=ours, reference=ref, unit="× real time",
            reference_name="numpy normals alone (same samples, same blocks)", command=command("bench_sim", quick),
            higher_is_better=True, target=f"≥ {target:g}× real time", met=ours >= target,
            notes=f"{m['seconds']:g} s simulated in 50-ms blocks on one core (taskset), {m['spikes']} spikes; "
                  "pump, diffusion, receptors, neurons, 1/f noise, hum, ADC all on; the compiled noise kernel "
                  "is loaded by one block before timing",
            extra=m, peak_MB=m["peak_MB"],
        ))
    return rows
