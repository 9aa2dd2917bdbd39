"""How much recorded time a SIGKILL at ``--speed max`` loses: a recording child
(``tests/daq/crash_child.py``) is killed at random moments; the lag is what it had handed to
the recorder minus what the file holds afterwards (the promise: about 0.5 s).

    .venv/bin/python tests/faults/kill_lag.py [--kills 20] [--seed 5]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from daq.recording import Recording  # noqa: E402


def one_kill(out: Path, at_s: float) -> float:
    p = subprocess.Popen([sys.executable, "tests/daq/crash_child.py", str(out), "max"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    handed = 0
    assert p.stdout is not None
    while handed < at_s * 20000:  # crash_child records at 20 kHz and prints "B <samples handed over>"
        line = p.stdout.readline()
        if not line:
            raise SystemExit("the recording child ended early")
        if line.startswith("B"):
            handed = int(line.split()[1])
    p.send_signal(signal.SIGKILL)
    rest, _ = p.communicate()
    for line in rest.splitlines():
        if line.startswith("B"):
            handed = int(line.split()[1])
    with Recording(out) as r:
        return (handed - r.n_samples) / r.rate_hz


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lags = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.kills):
            lags.append(one_kill(Path(d) / f"k{i}.h5", rng.uniform(1, 30)))
    print(f"{len(lags)} kills at --speed max: recorded time lost median {statistics.median(lags):.2f} s, "
          f"max {max(lags):.2f} s (load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
