"""``ionto info`` on an NWB series stored (channels, samples): the shape as analysed, with a note."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
import nwb_cases as cases


def test_info_shows_a_channels_first_series_as_samples_by_channels_with_a_note(tmp_path, capsys):
    path = cases.channels_first(tmp_path / "transposed.nwb", n_ch=4)
    n = int(cases.SECONDS * cases.RATE_HZ)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{n} samples × 4 columns, float32 (stored channels-first; read transposed)" in out
    assert f"4 samples × {n} columns" not in out
    assert main(["info", str(path), "--json"]) == 0
    (es,) = json.loads(capsys.readouterr().out)["electrical_series"]
    assert (es["samples"], es["columns"], es["stored_shape"]) == (n, 4, [4, n])
    # stored as NWB wants it: the shape as stored, no note
    path = cases.channels_first(tmp_path / "samples-first.nwb", n_ch=4, transposed=False)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{n} samples × 4 columns, float32\n" in out and "read transposed" not in out
