"""``python -m bench [--quick] [--only NAME ...] [--out DIR]``: run the benchmarks, write the results.

Without ``--only`` the results go to ``bench/results.md`` and ``bench/results.json``; with it
to ``results-NAME….md/.json`` (so a partial run never overwrites the full table).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from bench.common import BENCH_DIR, WORK_DIR, Row, write_results


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short versions (seconds, not minutes)")
    ap.add_argument("--only", nargs="*", help="benchmark module names (e.g. bench_sim)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR, help="folder for results*.md/json (default: bench/)")
    args = ap.parse_args(argv)
    known = discover()
    names = [n if n.startswith("bench_") else f"bench_{n}" for n in (args.only or known)]
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"python -m bench: no benchmark {', '.join(unknown)}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    WORK_DIR.mkdir(exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    rows: list[Row] = []
    failed = []
    for mod_name in names:
        print(f"== {mod_name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"bench.{mod_name}")
            new = mod.run(quick=args.quick)
        except Exception:  # one failing bench must not lose the others' figures
            traceback.print_exc()
            failed.append(mod_name)
            continue
        for r in new:
            print(f"   {r.metric}: ours {r.ours:.4g} {r.unit}, {r.reference_name} {r.reference:.4g} "
                  f"(ratio {r.ratio:.3g}){'' if r.met is None else ('  met' if r.met else '  NOT MET')}",
                  file=sys.stderr, flush=True)
        print(f"   ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        rows.extend(new)
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {_cpu_name()}, {os.cpu_count()} CPUs",
            "mode": "quick" if args.quick else "full", "failed": failed,
            "wall_s": time.perf_counter() - t_start, "load_end": f"{os.getloadavg()[0]:.1f}"}
    suffix = "" if not args.only else "-" + "-".join(n.removeprefix("bench_") for n in names)
    write_results(rows, args.out / f"results{suffix}.md", args.out / f"results{suffix}.json", meta)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
