"""Sorting on SpikeInterface ground truth over several seeds (the tests run a few only):
prints, per case and seed, each ground-truth unit's SNR and accuracy and whether every unit
with SNR >= 8 reached 0.9 with no neuron found twice, then the pass rate per case.  Not part
of ``make test`` (minutes).  Grouped channels get the generator's probe positions, as in the
tests (``--no-positions``: the default layout, as for a file that gives none).

``--burster K`` makes unit K a bursting cell (``test_sorting_bursts.burst_truth``: 60 % of its
events bursts of ``--burst-spikes`` spikes 3–6 ms apart, each ``--burst-factor`` × the one
before) on grouped channels, and prints its accuracy and how many found units hold it;
``--no-burst-guard`` measures the split pass without its burst guard.

    .venv/bin/python tests/analysis/sorting_seeds.py [--seeds 0 1 2 3] [--cases 1x3 4x5 16x10]
    .venv/bin/python tests/analysis/sorting_seeds.py --cases 4x5 --burster 4 [--burst-spikes 4] [--no-burst-guard]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_sorting_bursts import burst_parts, burst_truth, sort_recording
from test_sorting_ground_truth import comparison, sort_truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--cases", nargs="+", default=["1x3", "4x5", "16x10"], help="CHANNELSxUNITS")
    ap.add_argument("--no-positions", action="store_true", help="sort groups without the probe's positions")
    ap.add_argument("--burster", type=int, help="make this unit (0 = lowest SNR) a bursting cell (grouped channels)")
    ap.add_argument("--burst-spikes", type=int, default=3, help="spikes per burst")
    ap.add_argument("--burst-factor", type=float, default=0.8, help="each burst spike's amplitude × the one before")
    ap.add_argument("--no-burst-guard", action="store_true", help="split pass without its burst guard")
    args = ap.parse_args()
    if args.no_burst_guard:
        import analysis.sorting_split

        analysis.sorting_split.BURST_SHARE = 2.0  # no share reaches it: every split stands
    failed = 0
    for case in args.cases:
        n_channels, n_units = (int(v) for v in case.split("x"))
        passed = 0
        for seed in args.seeds:
            t0 = time.perf_counter()
            burst = ""
            if args.burster is None:
                units, truth, snr = sort_truth(n_channels, n_units, duration_s=30.0, seed=seed, quality=False,
                                               positions=not args.no_positions)
            else:
                rec, truth, snr = burst_truth(n_channels, n_units, args.burster, seed=seed,
                                              spikes=args.burst_spikes, factor=args.burst_factor)
                units = sort_recording(rec)
            cmp = comparison(units, truth)
            if args.burster is not None:
                parts = burst_parts(cmp, truth.unit_ids[args.burster])
                acc_b = cmp.get_performance()["accuracy"].to_numpy(dtype=float)[args.burster]
                burst = f"; burster (SNR {snr[args.burster]:.1f}) accuracy {acc_b:.3f} in {parts} unit(s)"
            acc = cmp.get_performance()["accuracy"].to_numpy(dtype=float)
            ok = bool(np.all(acc[snr >= 8] >= 0.9)) and cmp.count_redundant_units() == 0 and (not burst or parts == 1)
            passed += ok
            pairs = ", ".join(f"{s:.1f}:{a:.3f}" for s, a in zip(snr, acc))
            print(f"{case} seed {seed}: {'OK  ' if ok else 'FAIL'} SNR:accuracy {pairs}; "
                  f"redundant {cmp.count_redundant_units()}{burst}; {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"{case}: {passed}/{len(args.seeds)} seeds pass", flush=True)
        failed += passed < len(args.seeds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
