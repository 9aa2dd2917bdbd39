"""Disk full.  On a small file system (a tmpfs of a few MiB, mounted here as root) the recorder
warns when space runs low and stops the recording cleanly before the disk is full; when the
disk fills anyway (the minimum-free check turned off, as if another program filled it) the
run stops with a readable file.  A file-size limit (``RLIMIT_FSIZE``, in a child process) gives
the same failure on any POSIX machine, mount or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import assert_clear, check_ends_safe, ejection_plan, info_in_child, run_under_fault

from daq.recording import Recorder, Recording
from daq.recording.h5file import free_bytes
from daq.types import EventKind
from mock_daq import load_preset

MiB = 2**20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_fs(request, tmp_path):
    """A tmpfs of ``request.param`` MiB (default 16) mounted under tmp_path."""
    size = getattr(request, "param", 16)
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a {size} MiB tmpfs here ({(r.stderr or 'mount failed').strip()}); "
                    "test_file_size_limit covers a full disk without mounting")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _recorder(path: Path, **kw) -> Recorder:
    rig = load_preset("cortex")
    return Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"), **kw)


def test_low_space_warns_then_stops_cleanly_before_the_disk_is_full(small_fs):
    # the space is checked at every batch (disk_check_s=0) and batches stay small, so the
    # warning cannot be skipped however the writer thread is scheduled: between the warning
    # (12 MiB free) and the stop (5 MiB free) lie 7 MiB, about 30 s of this rig's samples
    rec = _recorder(small_fs / "low.h5", min_free_bytes=5 * MiB, low_disk_bytes=12 * MiB, disk_check_s=0.0,
                    flush_interval_s=0.05, batch_bytes=256 * 1024)
    run = run_under_fault(small_fs, recorder=rec, plan=ejection_plan((10, 20, 40, 80) * 8), speed=10.0)
    info = check_ends_safe(run, expect_error=r"disk almost full .*the recording was stopped and closed",
                           expect_warning=r"low disk space: \d+ MiB free")
    assert info["status"] == "closed"  # an ordinary, cleanly closed file
    assert free_bytes(small_fs) > 0  # it never filled
    with Recording(run.path) as r:
        assert r.n_samples == rec.committed_samples > 0
        assert r.events[-1].kind == EventKind.ERROR  # the file says why it ends
        warned = [e.sample_index for e in r.events if e.kind == EventKind.WARNING and "low disk space" in e.text]
        assert warned and 0 < warned[0] < r.events[-1].sample_index  # warned while recording, before the stop


def _child(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(__file__).with_name("disk_child.py")), str(directory), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_file_size_limit(tmp_path):
    """A size limit on the file (``RLIMIT_FSIZE``; works without mounting anything): the
    recorder sees the limit coming and closes the file before a write is refused."""
    p = _child(tmp_path, "limit", str(6 * MiB))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    assert out["state"] == "error" and out["safe"]
    assert "would outgrow the largest file this program may write (6 MiB, RLIMIT_FSIZE)" in out["error"]
    for m in out["errors"]:
        assert_clear(m)
    info = info_in_child(Path(out["path"]))
    assert info["status"] == "closed" and info["committed_samples"] > 0
    assert any(e["kind"] == "error" and "RLIMIT_FSIZE" in e["text"] for e in info["event_list"])


@pytest.mark.parametrize("small_fs", [8], indirect=True)
def test_disk_filled_behind_the_recorders_back_keeps_every_committed_sample(small_fs):
    """Another program fills the disk between two of the recorder's checks, so HDF5 itself
    meets ENOSPC.  HDF5 (1.14) cannot recover from a failed flush in SWMR mode and may take the
    process down; the file must still open, from a new process, with what was committed."""
    p = _child(small_fs, "fill")
    root = Path(__file__).resolve().parents[2]
    q = subprocess.run([sys.executable, "-m", "app.cli.main", "info", "--json", str(small_fs / "rec.h5")],
                       capture_output=True, text=True, cwd=root, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert "Traceback" not in q.stderr
    if q.returncode != 0:  # HDF5 left its write flag set: a clear way out is given (h5clear -s)
        assert "h5clear -s" in q.stderr, q.stderr
        return
    info = json.loads(q.stdout)
    assert info["status"] in ("crashed", "closed")
    assert info["committed_samples"] > 0  # what the last commit vouched for (commits are wall-clock timed)
    if p.returncode == 0:  # it survived: then it said so clearly, with safe barrels
        out = json.loads(p.stdout.splitlines()[-1])
        assert out["safe"] and "the disk is full (No space left on device)" in out["error"]
    else:  # HDF5 took it down (SIGBUS, SIGSEGV, abort): a signal, not a Python exception of ours (exit 1)
        assert p.returncode < 0, (p.returncode, p.stderr[-3000:])
