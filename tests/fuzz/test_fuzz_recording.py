"""Fuzzed recordings: a cleanly closed file, and a SWMR file left by a writer killed with
SIGKILL mid-recording, cut short at random points or with random bytes overwritten — in the
superblock, in object headers, B-trees and heaps (found by their signatures), in the samples,
and in the metadata HDF5 writes near the end of the file.  Every case must end in a
``RecordingError`` naming the file, or open and read fully (``read_worker.py``: everything
``ionto info`` and ``ionto analyze`` read) — never another exception, never a hang, never a
crash.  The reader runs in a child process, many cases per child, under a timeout per case.

CI runs a few hundred cases; ``-m long`` (``make fault``) runs thousands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli.main import main as ionto
from app.session import run_protocol
from protocols.loader import load
from tests.fuzz.worker import ROOT, Damaged, ReaderWorker

# signatures of HDF5's metadata structures (object headers and their continuations, v2
# B-trees, fractal heaps, free-space managers, extensible and fixed arrays: chunk indexes)
SIGNATURES = (b"OHDR", b"OCHK", b"BTHD", b"BTIN", b"BTLF", b"FRHP", b"FHDB", b"FHIB", b"FSHD", b"FSSE",
              b"EAHD", b"EAIB", b"EASB", b"EADB", b"FAHD", b"FADB", b"TREE", b"HEAP", b"SNOD", b"GCOL")
SUPERBLOCK = 96  # bytes: a version 2/3 superblock is 48, its extension follows
TAIL = 65536  # HDF5 writes the final metadata (heaps, B-trees, headers) near the end of the file

# a failed SWMR open takes ~0.3 s of HDF5's (bounded) metadata retries: fewer crashed cases
CI_CASES = {"clean": 100, "crashed": 50}
LONG_CASES = 2500


@dataclass(frozen=True)
class Sample:
    """A recording to damage: its bytes and where its metadata structures start."""

    name: str
    data: bytes
    metadata_at: tuple[int, ...]
    crashed: bool


def _sample(name: str, path: Path, crashed: bool) -> Sample:
    data = path.read_bytes()
    at = sorted({m.start() for s in SIGNATURES for m in re.finditer(re.escape(s), data)})
    assert len(at) > 10, f"{path}: too few HDF5 signatures found"
    return Sample(name, data, tuple(at), crashed)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Sample]:
    d = tmp_path_factory.mktemp("fuzz-rec")
    proto = d / "p.yaml"
    proto.write_text("name: short\nsteps:\n  - wait: 0.5\n  - eject: {barrel: glu, current_nA: 20}\n"
                     "  - wait: 1.5\n")
    plan = load(proto)
    clean = d / "clean.h5"
    res = run_protocol(plan.factory(), plan.info, clean, device_url="sim", seed=2, speed=None)
    assert res.error is None
    return {"clean": _sample("clean", clean, False), "crashed": _sample("crashed", killed_mid_recording(d), True)}


def killed_mid_recording(d: Path) -> Path:
    """A real recording process (``tests/daq/crash_child.py``) SIGKILLed about a second of
    recording after its first ejections."""
    out = d / "crashed.h5"
    p = subprocess.Popen([sys.executable, str(ROOT / "tests/daq/crash_child.py"), str(out), "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for line in p.stdout:
            if line.startswith("B") and int(line.split()[1]) > 120_000:  # past the first ejection
                break
        time.sleep(0.7)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL and out.exists()
    return out


@pytest.fixture(scope="module")
def worker():
    w = ReaderWorker()
    yield w
    w.close()


@st.composite
def damages(draw, sample: Sample) -> Damaged:
    """(a description, the damaged bytes): cut short, or 1–3 runs of bytes overwritten."""
    data = sample.data
    n = len(data)

    def where() -> int:
        kind = draw(st.sampled_from(["metadata", "metadata", "superblock", "tail", "anywhere"]))
        if kind == "metadata":
            return draw(st.sampled_from(sample.metadata_at)) + draw(st.integers(0, 160))
        if kind == "superblock":
            return draw(st.integers(0, SUPERBLOCK))
        if kind == "tail":
            return n - draw(st.integers(1, TAIL))
        return draw(st.integers(0, n - 1))

    if draw(st.integers(0, 3)) == 0:
        cut = min(max(where(), 0), n - 1)
        return Damaged(f"cut at {cut} of {n}", data[:cut])
    out = bytearray(data)
    runs = []
    for _ in range(draw(st.integers(1, 3))):
        length = draw(st.sampled_from([1, 1, 2, 4, 8, 16, 64, 256, 4096]))
        at = min(max(where(), 0), n - length)
        fill = draw(st.sampled_from(["random", "zeros", "ones", "flip"]))
        if fill == "random":
            new = draw(st.binary(min_size=length, max_size=length))
        elif fill == "flip":
            new = bytes(b ^ 0xFF for b in out[at:at + length])
        else:
            new = (b"\x00" if fill == "zeros" else b"\xff") * length
        out[at:at + length] = new
        runs.append(f"{length} {fill} bytes at {at}" + (f" ({new[:16].hex()})" if fill == "random" else ""))
    return Damaged(f"{'; '.join(runs)} of {n}", bytes(out))


def _check(worker: ReaderWorker, sample: Sample, path: Path, desc: str, data: bytes) -> str:
    path.write_bytes(data)
    r = worker.read(path, f"{sample.name} file, {desc}")
    assert r["result"] in ("opened", "error"), f"{sample.name} file, {desc}: {r['message']}\n{r.get('traceback')}"
    if r["result"] == "error":
        assert str(path) in r["message"], f"{sample.name} file, {desc}: the error does not name the file: {r}"
    elif desc.startswith("cut") and not sample.crashed:
        pytest.fail(f"a cleanly closed file cut short opened as if whole: {desc}")
    return r["result"]


def _fuzz(worker: ReaderWorker, sample: Sample, tmp: Path, n_cases: int) -> None:
    path = tmp / f"{sample.name}-damaged.h5"

    @settings(max_examples=n_cases, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=damages(sample))
    def one(case: Damaged) -> None:
        _check(worker, sample, path, *case)

    one()


@pytest.mark.parametrize("which", ["clean", "crashed"])
def test_damaged_recordings_give_a_clear_error_or_read_fully(samples, worker, tmp_path, which):
    _fuzz(worker, samples[which], tmp_path, CI_CASES[which])


@pytest.mark.long
@pytest.mark.parametrize("which", ["clean", "crashed"])
def test_damaged_recordings_long(samples, worker, tmp_path, which, request):
    if "long" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the long fuzz runs with -m long (make fault / make bench)")
    _fuzz(worker, samples[which], tmp_path, LONG_CASES)


def test_every_cut_of_the_metadata_regions(samples, worker, tmp_path):
    """Deterministic: the files cut at each of their first metadata structures and in the
    superblock — the places a partial copy most often ends."""
    for sample in samples.values():
        path = tmp_path / f"{sample.name}-cut.h5"
        cuts = sorted({0, 8, 40, 47, *sample.metadata_at[:12], *(a + 4 for a in sample.metadata_at[-12:])})
        for cut in cuts:
            assert _check(worker, sample, path, f"cut at {cut}", sample.data[:cut]) == "error"


# --- the command line on damaged files ----------------------------------------------------

def _damaged_files(samples: dict[str, Sample], d: Path) -> dict[str, Path]:
    clean, crashed = samples["clean"], samples["crashed"]
    files = {"cut-half": clean.data[: len(clean.data) // 2], "cut-superblock": clean.data[:30]}
    bad = bytearray(crashed.data)
    hdr = crashed.metadata_at[1]  # the first object header after the root group's
    bad[hdr + 8:hdr + 24] = bytes(16)
    files["crashed-header"] = bytes(bad)
    bad = bytearray(clean.data)
    bad[: 8] = b"NOTHDF5!"
    files["no-signature"] = bytes(bad)
    out = {}
    for name, data in files.items():
        (d / f"{name}.h5").write_bytes(data)
        out[name] = d / f"{name}.h5"
    return out


@pytest.mark.parametrize("verb", ["info", "analyze"])
def test_cli_on_damaged_files_says_one_clear_line(samples, tmp_path, capsys, verb):
    for name, path in _damaged_files(samples, tmp_path).items():
        argv = [verb, str(path)]
        if verb == "analyze":
            argv += ["--out", str(tmp_path / f"{name}-analysis"), "--no-progress"]
        code = ionto(argv)
        err = capsys.readouterr().err
        _assert_one_clear_line(code, err, verb, path)


def test_cli_in_a_process_of_its_own(samples, tmp_path):
    path = _damaged_files(samples, tmp_path)["crashed-header"]
    p = subprocess.run([sys.executable, "-m", "app.cli.main", "analyze", str(path), "--json", "--no-progress"],
                       capture_output=True, text=True, cwd=ROOT, timeout=180,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    _assert_one_clear_line(p.returncode, p.stderr, "analyze", path)
    assert str(path) in json.loads(p.stdout)["error"]


def _assert_one_clear_line(code: int, stderr: str, verb: str, path: Path) -> None:
    lines = stderr.strip().splitlines()
    assert code == 1, f"{path.name}: exit {code}\n{stderr[-2000:]}"
    assert "Traceback" not in stderr and len(lines) == 1, f"{path.name}: {stderr[-2000:]}"
    assert lines[0].startswith(f"ionto {verb}: error: {path}"), lines[0]


@pytest.mark.parametrize("which", ["clean", "crashed"])
def test_a_global_heap_object_size_that_wraps_is_refused(samples, worker, tmp_path, which):
    """Found by this fuzz: HDF5 loops forever on a global heap object whose size wraps its
    walk back onto itself (``daq.recording.heap_check``); the reader refuses the file first."""
    sample = samples[which]
    data = bytearray(sample.data)
    heap = data.index(b"GCOL")
    first_object_size = heap + 16 + 8  # collection header (16 bytes), then index, refs, reserved
    data[first_object_size:first_object_size + 8] = (2**64 - 16).to_bytes(8, "little")
    path = tmp_path / "wrapping-heap.h5"
    path.write_bytes(bytes(data))
    r = worker.read(path)
    assert r["result"] == "error" and str(path) in r["message"] and "global heap" in r["message"], r
