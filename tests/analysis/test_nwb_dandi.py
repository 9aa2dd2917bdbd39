"""A default ``ionto export-nwb`` of the demo recording is DANDI-clean: ``nwbinspector --config
dandi`` reports nothing above a best-practice suggestion and ``dandi validate`` (after ``dandi
organize``, as a DANDI upload goes) finds no error.  Both tools run as a user runs them, from
the environment's command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.demo import DEMO_DEVICE, example_protocol
from app.cli.main import main
from app.session import load_any_protocol, run_protocol

BIN = Path(sys.executable).parent
ENV = {**os.environ, "DANDI_NO_ET": "1"}  # no online check for a newer dandi
DANDISET_YAML = "identifier: DANDI:000000\nname: ionto export\ndescription: a default ionto NWB export\n"


def tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = BIN / name
    if not exe.exists():
        pytest.fail(f"{name} is not installed in {BIN} (pip install -e '.[dev]')")
    return subprocess.run([str(exe), *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory) -> Path:
    """The recording ``ionto demo`` makes (its protocol, device and seed), exported with no options."""
    d = tmp_path_factory.mktemp("dandi")
    loaded = load_any_protocol(example_protocol())
    res = run_protocol(loaded.factory(), loaded.info, d / "demo.h5", device_url=DEMO_DEVICE, speed=None, seed=1)
    assert res.error is None
    assert main(["export-nwb", str(d / "demo.h5"), str(d / "demo.nwb")]) == 0
    return d / "demo.nwb"


def test_nwbinspector_with_the_dandi_config_finds_only_suggestions(demo_export):
    r = tool("nwbinspector", "--config", "dandi", str(demo_export), cwd=demo_export.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "Scanned 1 file(s)" in out
    for level in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR"):
        assert f"- {level}" not in out, out


def test_dandi_validate_passes_on_the_organized_export(demo_export, tmp_path):
    dandiset = tmp_path / "dandiset"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text(DANDISET_YAML)
    r = tool("dandi", "organize", "-d", str(dandiset), "--files-mode", "copy", str(demo_export), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    organized = list(dandiset.rglob("*.nwb"))
    assert [p.relative_to(dandiset).as_posix() for p in organized] == ["sub-sim-cortex/sub-sim-cortex_ecephys.nwb"]
    r = tool("dandi", "validate", str(dandiset), cwd=tmp_path)
    assert r.returncode == 0 and "No errors found." in r.stdout + r.stderr, r.stdout + r.stderr


def test_dandi_validate_refuses_an_export_whose_subject_lost_its_species(demo_export, tmp_path):
    """The validator run above can fail: the same file without the subject's species does."""
    import h5py

    dandiset = tmp_path / "dandiset"
    (dandiset / "sub-sim-cortex").mkdir(parents=True)
    (dandiset / "dandiset.yaml").write_text(DANDISET_YAML)
    damaged = dandiset / "sub-sim-cortex" / "sub-sim-cortex_ecephys.nwb"
    damaged.write_bytes(demo_export.read_bytes())
    with h5py.File(damaged, "a") as f:
        del f["general/subject/species"]
    r = tool("dandi", "validate", str(dandiset), cwd=tmp_path)
    assert r.returncode == 1 and "check_subject_species_exists" in r.stdout + r.stderr, r.stdout + r.stderr
