"""The ndx-iontophoresis extension in ionto's NWB export: the spec is the builder's output, an
export round-trips through pynwb with the pipette, barrels, typed ejections and barrel current
series (also read without the extension installed, from the spec cached in the file), and
``ionto analyze`` of an export reads its epochs and barrels from the extension."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pynwb import NWBHDF5IO

from analysis.nwb_export import export_nwb
from analysis.nwb_file import NwbFormatError
from analysis.nwb_source import NwbSource
from analysis.nwb_stimulus import ejection_rows
from app.session import load_any_protocol, run_protocol
from daq.pipette import Barrel, Pipette
from daq.recording import Recording

NDX = Path(__file__).resolve().parents[2] / "ndx-iontophoresis"
PROTOCOL = """name: ndx test
steps:
  - wait: 2
  - eject: {barrel: glu, current_nA: 20}
  - wait: 2.5
  - retain: glu
  - wait: 1
  - eject: {barrel: gaba, current_nA: 40}
  - wait: 1.5
  - retain: gaba
  - wait: 0.7
  - eject: {barrel: nacl, current_nA: 30, polarity: 1}
  - wait: 1
  - retain: nacl
  - wait: 1
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    d = tmp_path_factory.mktemp("ndx")
    (d / "p.yaml").write_text(PROTOCOL)
    lp = load_any_protocol(d / "p.yaml")
    res = run_protocol(lp.factory(), lp.info, d / "rec.h5", speed=None, seed=3)
    assert res.error is None
    export_nwb(d / "rec.h5", d / "rec.nwb")
    return d / "rec.h5", d / "rec.nwb"


def test_the_committed_spec_is_what_the_spec_builder_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("create_extension_spec", NDX / "src/spec/create_extension_spec.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(str(tmp_path))
    for name in ("ndx-iontophoresis.namespace.yaml", "ndx-iontophoresis.extensions.yaml"):
        assert (tmp_path / name).read_text() == (NDX / "spec" / name).read_text(), name


def test_the_pipette_and_its_barrels_round_trip(export):
    h5, nwb_path = export
    with Recording(h5) as rec, NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        pip = nwb.devices["pipette"]
        assert pip.neurodata_type == "IontophoresisPipette"
        assert pip.max_total_current_nA == rec.pipette.max_total_nA
        table = pip.barrels.to_dataframe()
        assert list(table["barrel"]) == [b.name for b in rec.pipette.barrels]
        assert list(table["drug"]) == [b.drug for b in rec.pipette.barrels]
        assert list(table["role"]) == [b.role for b in rec.pipette.barrels]
        assert list(table["polarity"]) == [b.polarity for b in rec.pipette.barrels]
        assert list(table["concentration_mM"]) == [b.concentration_mM for b in rec.pipette.barrels]
        assert list(table["retain_current_nA"]) == [b.retain_current_nA for b in rec.pipette.barrels]
        assert list(table["max_eject_nA"]) == [b.max_eject_nA for b in rec.pipette.barrels]
        glu = table.index[table["barrel"] == "glu"][0]
        assert table.loc[glu, "polarity"] == -1 and table.loc[glu, "retain_current_nA"] > 0  # an anion, retained +


def test_typed_ejections_equal_the_event_log_and_refer_to_their_barrels(export):
    h5, nwb_path = export
    with Recording(h5) as rec, NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        expected = ejection_rows(rec.events, rec.pipette, rec.rate_hz, rec.end_index, rec.gaps)
        assert [e.barrel for e in expected] == ["glu", "gaba", "nacl"]
        typed = nwb.intervals["iontophoresis_ejections"]
        assert typed.neurodata_type == "IontophoresisEjectionsTable"
        barrels = typed["barrel"].table
        assert barrels is nwb.devices["pipette"].barrels
        names = [barrels["barrel"][int(k)] for k in typed["barrel"].data[:]]
        assert names == [e.barrel for e in expected]
        np.testing.assert_allclose(typed["start_time"].data[:], [e.start_s for e in expected])
        np.testing.assert_allclose(typed["stop_time"].data[:], [e.stop_s for e in expected])
        np.testing.assert_allclose(typed["current_nA"].data[:], [e.current_nA for e in expected])
        np.testing.assert_allclose(typed["charge_nC"].data[:], [e.charge_nC for e in expected])
        # the plain table is still there, with the same rows, for readers without the extension
        plain = nwb.intervals["iontophoresis"].to_dataframe()
        assert list(plain["barrel"]) == names
        np.testing.assert_allclose(plain["current_nA"], typed["current_nA"].data[:])


def test_each_barrels_commanded_and_monitored_current_refers_to_its_barrel(export):
    h5, nwb_path = export
    with Recording(h5) as rec, NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        barrels = nwb.devices["pipette"].barrels
        for b in rec.pipette.barrels:
            for kind, typ in (("commanded", "CommandedCurrentSeries"), ("monitored", "MonitoredCurrentSeries")):
                ts = nwb.stimulus[f"{kind}_current_{b.name}"]
                assert ts.neurodata_type == typ and ts.unit == "A"
                assert ts.barrel.table is barrels
                assert [barrels["barrel"][int(k)] for k in ts.barrel.data[:]] == [b.name]


def test_pynwb_reads_the_extension_without_the_package_from_the_cached_spec(export):
    _, nwb_path = export
    with h5py.File(nwb_path, "r") as f:
        assert "ndx-iontophoresis" in f["specifications"]
    code = (
        "import sys; sys.modules['ndx_iontophoresis'] = None\n"  # importing the package would fail
        "from pynwb import NWBHDF5IO\n"
        f"with NWBHDF5IO({str(nwb_path)!r}, 'r') as io:\n"
        "    nwb = io.read()\n"
        "    t = nwb.intervals['iontophoresis_ejections']\n"
        "    print(t.neurodata_type, [t['barrel'].table['drug'][int(k)] for k in t['barrel'].data[:]])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[0] == "IontophoresisEjectionsTable ['glutamate', 'GABA', 'NaCl']"


def test_the_import_reads_epochs_and_barrels_from_the_extension(export, tmp_path):
    h5, nwb_path = export
    only_typed = tmp_path / "typed.nwb"
    only_typed.write_bytes(nwb_path.read_bytes())
    with h5py.File(only_typed, "a") as f:
        del f["intervals/iontophoresis"]  # so the epochs can come only from the extension's table
    with Recording(h5) as rec, NwbSource(only_typed) as src:
        expected = ejection_rows(rec.events, rec.pipette, rec.rate_hz, rec.end_index, rec.gaps)
        assert src.ejections == sorted(expected, key=lambda e: e.start_s)
        # the barrels as the rig file had them (an import from the plain table must guess these)
        got = {b.name: (b.drug, b.role, b.polarity, b.retain_nA, b.max_eject_nA) for b in src.pipette.barrels}
        assert got == {b.name: (b.drug, b.role, b.polarity, b.retain_nA, b.max_eject_nA) for b in rec.pipette.barrels}
        assert src.pipette.max_total_nA == rec.pipette.max_total_nA


def test_a_barrels_table_ionto_cannot_hold_is_one_line_naming_the_file(export, tmp_path):
    _, nwb_path = export
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(nwb_path.read_bytes())
    with h5py.File(bad, "a") as f:
        pol = f["general/devices/pipette/barrels/polarity"]
        pol[0] = 0  # glutamate, a drug barrel, without a polarity
    with NwbSource(bad) as src, pytest.raises(NwbFormatError) as err:
        _ = src.pipette
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "polarity" in msg


def test_the_docs_example_reads_barrels_ejections_and_traces_without_the_package(export):
    """docs/nwb.md's example for other tools, run as written on an export (package blocked)."""
    import re

    docs = (Path(__file__).resolve().parents[2] / "docs" / "nwb.md").read_text()
    at = docs.index("Reading the barrels and ejections from another tool")
    example = re.search(r"```python\n(.*?)```", docs[at:], re.S).group(1)
    code = "import sys; sys.modules['ndx_iontophoresis'] = None\n" + example.replace('"rec.nwb"', repr(str(export[1])))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [ln.split("s  ")[1] for ln in lines[:3]] == ["glu (glutamate, drug) -20 nA, 50 nC",
                                                       "gaba (GABA, drug) +40 nA, 60 nC",
                                                       "nacl (NaCl, control) +30 nA, 30 nC"]
    assert "commanded_current_glu CommandedCurrentSeries glu glutamate" in lines
    assert "monitored_current_bal MonitoredCurrentSeries bal NaCl" in lines


def test_an_ejection_referring_to_a_barrel_row_outside_the_table_is_one_line(export, tmp_path):
    _, nwb_path = export
    bad = tmp_path / "outside.nwb"
    bad.write_bytes(nwb_path.read_bytes())
    with h5py.File(bad, "a") as f:
        f["intervals/iontophoresis_ejections/barrel"][1] = 9  # the pipette has 5 barrels
    with NwbSource(bad) as src, pytest.raises(NwbFormatError) as err:
        _ = src.ejections
    assert str(err.value) == (f"{bad}: row 1 of the ejections table 'iontophoresis_ejections' refers to barrel row 9, "
                              "but the barrels table has 5 row(s); each ejection must name a row of it")


barrel_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(str.strip)


@st.composite
def pipettes(draw):
    names = draw(st.lists(barrel_text, min_size=1, max_size=7, unique=True))
    barrels = []
    for k, name in enumerate(names):
        role = "drug" if k == 0 else draw(st.sampled_from(["drug", "control", "balance"] if k == 1 else
                                                          ["drug", "control"]))
        top = draw(st.floats(1.0, 1000.0))
        barrels.append(Barrel(
            name=name, drug=draw(barrel_text), role=role, polarity=draw(st.sampled_from([-1, 1])) if role == "drug" else 0,
            concentration_mM=draw(st.floats(0.0, 2000.0)), max_eject_nA=top,
            retain_nA=draw(st.floats(0.0, 50.0)) if role == "drug" else 0.0, command_gain_nA_per_V=max(100.0, top / 10)))
    return Pipette(barrels=tuple(barrels), max_total_nA=draw(st.floats(1.0, 5000.0)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pip=pipettes())
def test_any_pipette_round_trips_through_the_barrels_table_and_back_to_ionto(pip, tmp_path):
    import datetime as dt

    from pynwb import NWBFile

    from analysis.nwb_ndx import add_pipette, pipette_from_barrels, read_barrels

    nwb = NWBFile(session_description="t", identifier="t", session_start_time=dt.datetime.now(dt.UTC))
    add_pipette(nwb, pip)
    path = tmp_path / "p.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with NWBHDF5IO(str(path), "r") as io:
        dev = io.read().devices["pipette"]
        back = pipette_from_barrels(read_barrels(dev.barrels), [], "back", dev.max_total_current_nA)
    assert back.max_total_nA == pip.max_total_nA
    keep = ("name", "drug", "role", "polarity", "concentration_mM", "retain_nA", "max_eject_nA")
    assert [tuple(getattr(b, k) for k in keep) for b in back.barrels] == \
        [tuple(getattr(b, k) for k in keep) for b in pip.barrels]
