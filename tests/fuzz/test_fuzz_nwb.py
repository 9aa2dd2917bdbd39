"""Fuzzed and odd NWB files through the NWB import (``analysis.source.open_source``) and
``ionto analyze FILE.nwb``: an ``ionto export-nwb`` of a short simulated recording and a file
written directly with pynwb, cut short or with bytes overwritten (hypothesis; the reader in a
child process under a timeout), and files that are valid HDF5 but odd NWB — an empty
ElectricalSeries, NaN timestamps, electrodes that do not match the data's columns, an
intervals table without its time columns, 3-D or text data, a zero or NaN rate, a NaN or
infinite starting time or scaling, timestamps jittered beyond the tolerance, no electrodes
table or region.  Every case
ends in a ``RecordingError`` naming the file (exit 1 with one line from the CLI) or reads
fully — never another exception, never a hang.

(Covered elsewhere: no ElectricalSeries, non-NWB HDF5 and text named .nwb, backwards
timestamps — ``tests/analysis/test_nwb_source.py``.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli.main import main as ionto
from app.session import load_any_protocol, run_protocol
from tests.analysis.test_nwb_source import _foreign
from tests.fuzz.worker import Damaged, ReaderWorker

CI_CASES = 60
LONG_CASES = 1500
PROTOCOL = "name: s\nsteps:\n  - wait: 0.5\n  - eject: {barrel: glu, current_nA: 20}\n  - wait: 1.0\n"


@pytest.fixture(scope="module")
def nwb_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz-nwb")
    (d / "p.yaml").write_text(PROTOCOL)
    lp = load_any_protocol(d / "p.yaml")
    assert run_protocol(lp.factory(), lp.info, d / "rec.h5", speed=None, seed=4).error is None
    assert ionto(["export-nwb", str(d / "rec.h5"), str(d / "export.nwb")]) == 0
    return {"export": d / "export.nwb", "foreign": _foreign(d / "foreign.nwb", tables=("epochs", "drug"))}


@pytest.fixture(scope="module")
def worker():
    w = ReaderWorker(nwb=True)
    yield w
    w.close()


def _check(worker: ReaderWorker, path: Path, what: str) -> str:
    r = worker.read(path, what)
    assert r["result"] in ("opened", "error"), f"{what}: {r['message']}\n{r.get('traceback')}"
    if r["result"] == "error":
        assert str(path) in r["message"], f"{what}: the error does not name the file: {r['message']}"
    return r["result"]


@st.composite
def damages(draw, data: bytes, metadata_at: tuple[int, ...]) -> Damaged:
    n = len(data)
    at = draw(st.one_of(st.sampled_from(metadata_at).map(lambda a: a + draw(st.integers(0, 160))),
                        st.integers(0, 96), st.integers(0, n - 1), st.integers(max(0, n - 65536), n - 1)))
    if draw(st.integers(0, 3)) == 0:
        return Damaged(f"cut at {at}", data[:at])
    length = draw(st.sampled_from([1, 2, 8, 64, 512]))
    at = min(at, n - length)
    new = draw(st.one_of(st.binary(min_size=length, max_size=length), st.just(b"\xff" * length),
                         st.just(bytes(length))))
    return Damaged(f"{length} bytes at {at}: {new[:16].hex()}", data[:at] + new + data[at + length:])


def _fuzz(worker: ReaderWorker, nwb_files: dict[str, Path], which: str, tmp: Path, n_cases: int) -> None:
    data = nwb_files[which].read_bytes()
    metadata_at = tuple(sorted({m.start() for m in re.finditer(rb"OHDR|BTHD|BTLF|FRHP|FHDB|GCOL|TREE|HEAP|SNOD",
                                                                  data)}))
    path = tmp / f"{which}-damaged.nwb"

    @settings(max_examples=n_cases, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=damages(data, metadata_at))
    def one(case: Damaged) -> None:
        desc, damaged = case
        path.write_bytes(damaged)
        _check(worker, path, f"{which}: {desc}")

    one()


@pytest.mark.parametrize("which", ["export", "foreign"])
def test_damaged_nwb_files_give_a_clear_error_or_read_fully(nwb_files, worker, tmp_path, which):
    _fuzz(worker, nwb_files, which, tmp_path, CI_CASES)


@pytest.mark.long
@pytest.mark.parametrize("which", ["export", "foreign"])
def test_damaged_nwb_files_long(nwb_files, worker, tmp_path, which, request):
    if "long" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the long fuzz runs with -m long (make fault / make bench)")
    _fuzz(worker, nwb_files, which, tmp_path, LONG_CASES)


# --- valid HDF5, odd NWB ------------------------------------------------------------------

def _replace(f: h5py.File, name: str, data: np.ndarray) -> None:
    attrs = dict(f[name].attrs)
    del f[name]
    f[name] = data
    f[name].attrs.update(attrs)


ODD: dict[str, Callable[[h5py.File], None]] = {
    "empty ElectricalSeries": lambda f: _replace(f, "acquisition/raw/data", np.zeros((0, 2), np.float32)),
    "NaN timestamps": lambda f: f["acquisition/raw/timestamps"].__setitem__(slice(50, 60), np.nan),
    "all-NaN timestamps": lambda f: _replace(f, "acquisition/raw/timestamps", np.full(30000, np.nan)),
    "infinite timestamps": lambda f: f["acquisition/raw/timestamps"].__setitem__(slice(29990, None), np.inf),
    "fewer timestamps than samples": lambda f: _replace(f, "acquisition/raw/timestamps",
                                                        np.arange(100) / 1e4),
    "one electrode for two columns": lambda f: _replace(f, "acquisition/raw/electrodes", np.array([0])),
    "three electrodes for two columns": lambda f: _replace(f, "acquisition/raw/electrodes", np.array([0, 1, 1])),
    "electrode row out of range": lambda f: _replace(f, "acquisition/raw/electrodes", np.array([0, 7])),
    "negative electrode row": lambda f: _replace(f, "acquisition/raw/electrodes", np.array([-1, 0])),
    "intervals table without start_time": lambda f: f.__delitem__("intervals/drug_application/start_time"),
    "intervals table without stop_time": lambda f: f.__delitem__("intervals/drug_application/stop_time"),
    "intervals column shorter than the table": lambda f: _replace(f, "intervals/drug_application/current_nA",
                                                                  np.array([-25.0])),
    "NaN interval times": lambda f: f["intervals/drug_application/start_time"].__setitem__(0, np.nan),
    "epochs without tags": lambda f: f.__delitem__("intervals/epochs/tags"),
    "3-D data": lambda f: _replace(f, "acquisition/raw/data", np.zeros((100, 2, 2), np.float32)),
    "text data": lambda f: _replace(f, "acquisition/raw/data", np.array([b"a", b"b"] * 50)),
    "NaN conversion": lambda f: f["acquisition/raw/data"].attrs.__setitem__("conversion", np.nan),
    "zero conversion": lambda f: f["acquisition/raw/data"].attrs.__setitem__("conversion", 0.0),
    "infinite offset": lambda f: f["acquisition/raw/data"].attrs.__setitem__("offset", np.inf),
    "channel_conversion for 3 columns": lambda f: f["acquisition/raw"].create_dataset(
        "channel_conversion", data=np.ones(3, np.float32)).attrs.update({"axis": 1}),
    "jittered timestamps beyond the tolerance": lambda f: f["acquisition/raw/timestamps"].__setitem__(
        slice(0, 30000, 2), f["acquisition/raw/timestamps"][0:30000:2] + 0.4e-4),
    "timestamps from 1e300 s": lambda f: _replace(f, "acquisition/raw/timestamps",
                                                  1e300 + np.arange(30000) * 1e280),  # index 1e20
    "an interval ending at 1e300 s": lambda f: f["intervals/drug_application/stop_time"].__setitem__(0, 1e300),
    "no electrodes table": lambda f: f.__delitem__("general/extracellular_ephys/electrodes"),
    "no electrodes region": lambda f: f.__delitem__("acquisition/raw/electrodes"),
}


def _odd_files(tmp: Path) -> dict[str, Path]:
    out = {}
    for k, (name, edit) in enumerate(ODD.items()):
        path = _foreign(tmp / f"odd{k}.nwb", tables=("epochs", "drug"))
        with h5py.File(path, "a") as f:
            edit(f)
        out[name] = path
    rate_base = {"zero rate": 0.0, "NaN rate": np.nan, "negative rate": -10.0}
    for name, rate in rate_base.items():
        path = _foreign(tmp / f"{name.replace(' ', '-')}.nwb", timestamps=False)
        with h5py.File(path, "a") as f:
            f["acquisition/raw/starting_time"].attrs["rate"] = rate
        out[name] = path
    start_base = {"infinite starting_time": np.inf, "NaN starting_time": np.nan, "starting_time 1e300 s": 1e300}
    for name, start in start_base.items():  # starting_time × rate was an uncaught OverflowError
        path = _foreign(tmp / f"{name.replace(' ', '-')}.nwb", timestamps=False)
        with h5py.File(path, "a") as f:
            f["acquisition/raw/starting_time"][()] = start
        out[name] = path
    return out


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory) -> dict[str, Path]:
    return _odd_files(tmp_path_factory.mktemp("odd-nwb"))


def test_odd_nwb_files_give_a_clear_error_or_read_fully(odd_files, worker):
    results = {name: _check(worker, path, name) for name, path in odd_files.items()}
    # what cannot be analysed must not read as if it could (an empty series reads, as an ionto
    # recording with nothing committed does; the analysis says there is nothing to analyse)
    for name in ("all-NaN timestamps", "zero rate", "NaN rate", "negative rate",
                 "3-D data", "text data", "fewer timestamps than samples", "one electrode for two columns",
                 "three electrodes for two columns", "electrode row out of range", "negative electrode row",
                 "NaN conversion", "zero conversion", "infinite offset", "channel_conversion for 3 columns",
                 "jittered timestamps beyond the tolerance", "no electrodes table", "no electrodes region",
                 "infinite starting_time", "NaN starting_time", "starting_time 1e300 s",
                 "timestamps from 1e300 s", "an interval ending at 1e300 s"):
        assert results[name] == "error", f"{name}: read as if valid"


def test_ionto_analyze_on_odd_and_damaged_nwb_files(odd_files, nwb_files, tmp_path, capsys):
    cut = tmp_path / "cut.nwb"
    cut.write_bytes(nwb_files["export"].read_bytes()[:5000])
    files = {**odd_files, "cut short": cut}
    for name, path in files.items():
        code = ionto(["analyze", str(path), "--out", str(tmp_path / f"a{abs(hash(name))}"), "--no-progress",
                      "--baseline-s", "0.4", "--response-s", "0.3"])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code in (0, 1), f"{name}: exit {code}: {err[-2000:]}"
        assert "Traceback" not in err and "internal error" not in err, f"{name}: {err[-2000:]}"
        if code == 1:
            assert len(lines) == 1 and lines[0].startswith(f"ionto analyze: error: {path}"), f"{name}: {err}"
