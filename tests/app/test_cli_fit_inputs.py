"""``ionto fit`` given what is not a dose,response table: one clear line, exit 1, never an
internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main

RECORDING = Path(__file__).resolve().parents[1] / "data" / "recording_v1.h5"


def _fit(capsys, path, *args):
    code = main(["fit", str(path), *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return code, err.strip()


def test_a_recording_is_not_a_table(capsys):
    """Was: "needs at least 2 columns for the response; columns are ['\\ufffdHDF']"."""
    code, err = _fit(capsys, RECORDING)
    assert code == 1 and len(err.splitlines()) == 1
    assert f"{RECORDING} is an HDF5 file (an ionto recording or an NWB file)" in err
    assert f"use `ionto analyze {RECORDING}`" in err


def test_an_hdf5_file_with_a_user_block_is_recognised(tmp_path, capsys):
    f = tmp_path / "ub.nwb"
    f.write_bytes(b"x" * 512 + RECORDING.read_bytes()[:4096])
    assert "is an HDF5 file" in _fit(capsys, f)[1]


def test_a_directory_is_not_a_table(tmp_path, capsys):
    """Was: internal error: IsADirectoryError."""
    code, err = _fit(capsys, tmp_path)
    assert code == 1 and f"{tmp_path}: is a directory; give a dose,response table (CSV)" in err


@pytest.mark.parametrize("content, message", [
    (b"", "the table is empty"),
    (b"\n\n  \n", "the table is empty"),
    (b"dose,response\n", "no rows with both a dose and a response"),
    (b"dose,response\nlow,high\n", "line 2, column 'dose': 'low' is not a number"),
    (b"dose,response\n1,inf\n2,3\n", "line 2, column 'response': response 'inf' must be a finite number"),
    (b"dose,response\n1,1e400\n", "line 2, column 'response': response '1e400' must be a finite number"),
    (b"\x00\x01\x02\xff" * 100, "not a text table (it holds binary data, or UTF-16 text)"),
    ("dose,response\n1,2\n".encode("utf-16"), "not a text table"),
])
def test_bad_tables_are_one_clear_line(tmp_path, capsys, content, message):
    f = tmp_path / "t.csv"
    f.write_bytes(content)
    code, err = _fit(capsys, f)
    assert code == 1 and message in err and len(err.splitlines()) == 1


def test_a_windows_export_with_a_micro_sign_is_still_read(tmp_path, capsys):
    f = tmp_path / "t.csv"
    rows = ["current (\u00b5A),response"] + [f"{d},{r}" for d, r in
                                              [(0, 100), (1, 98), (3, 90), (10, 60), (30, 25), (100, 8), (300, 5)]]
    f.write_bytes("\n".join(rows).encode("cp1252"))
    code, err = _fit(capsys, f, "--dose-col", "1")
    assert code == 0, err
