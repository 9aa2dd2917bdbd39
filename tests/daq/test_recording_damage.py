"""A damaged recording (cut short, or with bytes overwritten) gives a clear ``RecordingError``
or opens — it never hangs and never raises anything else.  The cases run in a child process
under a timeout, because a hang inside HDF5 cannot be interrupted from Python."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app.session import run_protocol
from protocols.loader import load

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, sys
    from daq.errors import RecordingError
    from daq.recording import Recording
    for path in sys.argv[1:]:
        print(json.dumps({"start": path}), flush=True)
        try:
            with Recording(path) as rec:
                rec.summary()
                rec.events
                for _ in rec.iter_rows(65536):
                    pass
            print(json.dumps({"path": path, "result": "opened"}), flush=True)
        except RecordingError as exc:
            print(json.dumps({"path": path, "result": "error", "message": str(exc)}), flush=True)
        except Exception as exc:
            print(json.dumps({"path": path, "result": "other", "message": f"{type(exc).__name__}: {exc}"}), flush=True)
""")


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("damage")
    proto = d / "p.yaml"
    proto.write_text("name: short\nsteps:\n  - wait: 0.5\n  - eject: {barrel: glu, current_nA: 20}\n"
                     "  - wait: 1.5\n")
    plan = load(proto)
    out = d / "good.h5"
    res = run_protocol(plan.factory(), plan.info, out, device_url="sim", seed=2, speed=None)
    assert res.error is None
    return out


def run_child(paths: list[Path], timeout_s: float = 120.0) -> list[dict]:
    p = subprocess.run([sys.executable, "-c", CHILD, *map(str, paths)], capture_output=True, text=True,
                       cwd=ROOT, timeout=timeout_s)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return [x for x in lines if "result" in x]


def test_truncated_files_give_a_clear_error(recording, tmp_path):
    data = recording.read_bytes()
    paths = []
    for frac in (0.0, 0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999):
        p = tmp_path / f"cut-{frac}.h5"
        p.write_bytes(data[: int(len(data) * frac)])
        paths.append(p)
    results = run_child(paths)
    assert len(results) == len(paths), "the reader hung on a truncated file"
    for r in results:
        assert r["result"] == "error", r
        assert r["path"] in r["message"]


def test_overwritten_bytes_give_a_clear_error_or_a_readable_file(recording, tmp_path):
    data = bytearray(recording.read_bytes())
    rng = np.random.default_rng(7)
    paths = []
    for k in range(24):
        d = bytearray(data)
        # the metadata lives near the start and the end; samples in between
        where = rng.choice([rng.integers(0, 4096), rng.integers(0, len(d) - 64), rng.integers(len(d) - 65536, len(d) - 64)])
        d[where:where + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        p = tmp_path / f"corrupt-{k}.h5"
        p.write_bytes(bytes(d))
        paths.append(p)
    results = run_child(paths, timeout_s=300.0)
    assert len(results) == len(paths), f"the reader hung on {paths[len(results)]}"
    others = [r for r in results if r["result"] == "other"]
    assert not others, others
