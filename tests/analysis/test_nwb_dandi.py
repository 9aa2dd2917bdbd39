"""A default ``ionto export-nwb`` of the demo recording — which holds the ndx-iontophoresis
extension's pipette, barrels, typed ejections and barrel current series, its spec cached in
the file — is DANDI-clean: ``nwbinspector --config dandi`` reports nothing above a
best-practice suggestion and ``dandi validate`` (after ``dandi organize``, as a DANDI upload
goes) finds no error; so is the export of a drug × stimulus run with its trials table.  Both
tools run as a user runs them, from the environment's command line."""

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


def test_the_demo_export_holds_the_extension_with_its_spec_cached(demo_export):
    import h5py

    with h5py.File(demo_export, "r") as f:
        assert "ndx-iontophoresis" in f["specifications"]
        types = {g.attrs.get("neurodata_type") for g in (f["general/devices/pipette"], f["general/devices/pipette/barrels"],
                                                         f["intervals/iontophoresis_ejections"])}
        assert types == {"IontophoresisPipette", "IontophoresisBarrelsTable", "IontophoresisEjectionsTable"}
        assert f["stimulus/presentation/commanded_current_glu"].attrs["neurodata_type"] == "CommandedCurrentSeries"
        assert f["stimulus/presentation/monitored_current_glu"].attrs["neurodata_type"] == "MonitoredCurrentSeries"


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


@pytest.fixture(scope="module")
def trials_export(tmp_path_factory) -> Path:
    """A short drug x stimulus run on the simulated gain rig, exported with its trials table."""
    import yaml

    from mock_daq import load_preset

    d = tmp_path_factory.mktemp("dandi_trials")
    doc = load_preset("gain").model_dump(mode="json", exclude_none=True)
    doc["simulation"]["stimulus"]["mode"] = "driven"
    (d / "rig.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (d / "p.yaml").write_text("plan: drug_trials\nparams: {barrel: ach, currents_nA: [60], trials_per_condition: 2, "
                              "discard_trials: 1, lead_s: 1, washout_s: 1, seed: 3, stimulus_values: [0, 90], "
                              "stimulus_s: 0.5, iti_s: 0.25}\n", encoding="utf-8")
    loaded = load_any_protocol(d / "p.yaml")
    res = run_protocol(loaded.factory(), loaded.info, d / "t.h5", device_url="sim:gain", rig_path=d / "rig.yaml",
                       speed=None, seed=1)
    assert res.error is None
    assert main(["export-nwb", str(d / "t.h5"), str(d / "t.nwb")]) == 0
    return d / "t.nwb"


def test_the_trials_export_passes_nwbinspector_and_dandi_validate(trials_export, tmp_path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(trials_export), "r") as io:
        assert len(io.read().trials) > 0
    r = tool("nwbinspector", "--config", "dandi", str(trials_export), cwd=trials_export.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    for level in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR"):
        assert f"- {level}" not in r.stdout, r.stdout
    dandiset = tmp_path / "dandiset"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text(DANDISET_YAML)
    r = tool("dandi", "organize", "-d", str(dandiset), "--files-mode", "copy", str(trials_export), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list(dandiset.rglob("*.nwb"))) == 1
    r = tool("dandi", "validate", str(dandiset), cwd=tmp_path)
    assert r.returncode == 0 and "No errors found." in r.stdout + r.stderr, r.stdout + r.stderr
