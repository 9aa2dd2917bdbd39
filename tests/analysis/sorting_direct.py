"""SpikeInterface's ``run_sorter('tridesclous2')`` run directly on SpikeInterface's own ground
truth (saved as binary), scored like ``sorting_seeds.py``: tells a sorter's own misses from
ionto's post-processing.  Not part of ``make test`` (minutes per case).

    .venv/bin/python tests/analysis/sorting_direct.py [--cases 16x10:1 4x5:2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from si_truth import ground_truth


def main() -> int:
    import spikeinterface.sorters as ss
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["16x10:1", "4x5:2"], help="CHANNELSxUNITS:SEED")
    args = ap.parse_args()
    for case in args.cases:
        shape, seed = case.split(":")
        n_channels, n_units = (int(v) for v in shape.split("x"))
        rec, truth, snr = ground_truth(n_channels, n_units, duration_s=30.0, rate_hz=30000.0, seed=int(seed))
        with tempfile.TemporaryDirectory() as tmp:
            rec = rec.save(folder=Path(tmp) / "bin", format="binary", n_jobs=1, progress_bar=False)
            t0 = time.perf_counter()
            sorting = ss.run_sorter("tridesclous2", rec, folder=Path(tmp) / "sorter", remove_existing_folder=True,
                                    verbose=False, job_kwargs={"n_jobs": 1, "progress_bar": False}, seed=0)
            cmp = compare_sorter_to_ground_truth(truth, sorting, delta_time=0.5, exhaustive_gt=True)
            acc = cmp.get_performance()["accuracy"].to_numpy(dtype=float)
            pairs = ", ".join(f"{s:.1f}:{a:.3f}" for s, a in zip(snr, acc))
            print(f"{case} tridesclous2 directly: SNR:accuracy {pairs}; {len(sorting.unit_ids)} units, "
                  f"redundant {cmp.count_redundant_units()}; {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
