"""``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, write the results."""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import platform
import sys
import traceback

from bench.common import BENCH_DIR, WORK_DIR, Row, write_results


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short versions (seconds, not minutes)")
    ap.add_argument("--only", nargs="*", help="benchmark module names (e.g. bench_sim)")
    args = ap.parse_args(argv)
    WORK_DIR.mkdir(exist_ok=True)
    names = args.only or discover()
    rows: list[Row] = []
    failed = []
    for name in names:
        mod_name = name if name.startswith("bench_") else f"bench_{name}"
        print(f"== {mod_name}", file=sys.stderr, flush=True)
        try:
            mod = importlib.import_module(f"bench.{mod_name}")
            new = mod.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(mod_name)
            continue
        for r in new:
            print(f"   {r.metric}: ours {r.ours:.4g} {r.unit}, {r.reference_name} {r.reference:.4g} "
                  f"(ratio {r.ratio:.3g}){'' if r.met is None else ('  met' if r.met else '  NOT MET')}",
                  file=sys.stderr, flush=True)
        rows.extend(new)
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": platform.python_version(), "machine": f"{platform.machine()} {platform.processor()}",
            "mode": "quick" if args.quick else "full", "failed": failed}
    if args.only:
        suffix = "-" + "-".join(n.removeprefix("bench_") for n in names)
        write_results(rows, BENCH_DIR / f"results{suffix}.md", BENCH_DIR / f"results{suffix}.json", meta)
    else:
        write_results(rows, BENCH_DIR / "results.md", BENCH_DIR / "results.json", meta)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
