"""Sorting on SpikeInterface ground truth over several seeds (the tests run a few only):
prints, per case and seed, each ground-truth unit's SNR and accuracy and whether every unit
with SNR >= 8 reached 0.9 with no neuron found twice, then the pass rate per case.  Not part
of ``make test`` (minutes).  Grouped channels get the generator's probe positions, as in the
tests (``--no-positions``: the default layout, as for a file that gives none).

    .venv/bin/python tests/analysis/sorting_seeds.py [--seeds 0 1 2 3] [--cases 1x3 4x5 16x10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_sorting_ground_truth import comparison, sort_truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--cases", nargs="+", default=["1x3", "4x5", "16x10"], help="CHANNELSxUNITS")
    ap.add_argument("--no-positions", action="store_true", help="sort groups without the probe's positions")
    args = ap.parse_args()
    failed = 0
    for case in args.cases:
        n_channels, n_units = (int(v) for v in case.split("x"))
        passed = 0
        for seed in args.seeds:
            t0 = time.perf_counter()
            units, truth, snr = sort_truth(n_channels, n_units, duration_s=30.0, seed=seed, quality=False,
                                           positions=not args.no_positions)
            cmp = comparison(units, truth)
            acc = cmp.get_performance()["accuracy"].to_numpy(dtype=float)
            ok = bool(np.all(acc[snr >= 8] >= 0.9)) and cmp.count_redundant_units() == 0
            passed += ok
            pairs = ", ".join(f"{s:.1f}:{a:.3f}" for s, a in zip(snr, acc))
            print(f"{case} seed {seed}: {'OK  ' if ok else 'FAIL'} SNR:accuracy {pairs}; "
                  f"redundant {cmp.count_redundant_units()}; {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"{case}: {passed}/{len(args.seeds)} seeds pass", flush=True)
        failed += passed < len(args.seeds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
