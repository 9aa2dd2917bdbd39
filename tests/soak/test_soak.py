"""The soak's short version (CI): a few simulated minutes through the full engine at full speed;
memory flat after the first minute, the file no bigger than its data plus bounded overhead.
``make soak`` runs 8 simulated hours (``tests/soak/soak.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from soak import rss_growth_after_warmup, run_soak


def test_soak_short(tmp_path):
    res = run_soak(240.0, 60.0, tmp_path)
    assert res["error"] is None and res["status"] == "closed"
    assert res["samples"] == round(240.0 * res["rate_hz"])
    assert len(res["points"]) == 4
    # the samples dataset is the raw data rounded up to whole chunks (at most one partial chunk)
    assert res["raw_sample_bytes"] <= res["samples_dataset_bytes"] <= res["raw_sample_bytes"] + 4 * 2**20
    assert res["other_datasets_bytes"] < 0.1 * res["raw_sample_bytes"]  # events, currents, ground truth
    assert res["unaccounted_bytes"] < 2**20  # HDF5's own structure
    assert rss_growth_after_warmup(res) < 64  # MiB
