"""What every benchmark shares: the result row, timing, peak memory in a child process."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "_work"


@dataclass
class Row:
    """One measured figure: ours, the reference measured in the same run, their ratio.

    ``higher_is_better`` says how to read the ratio (ours/reference): for throughput a
    ratio > 1 is good; for times and memory a ratio < 1 is good.  ``target`` states the
    issue's goal in words, ``met`` whether this run meets it (None if no target)."""

    bench: str
    metric: str
    ours: float
    reference: float
    unit: str
    reference_name: str
    command: str
    higher_is_better: bool = True
    target: str = ""
    met: bool | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    peak_MB: float | None = None  # peak resident memory of the process that measured "ours"

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference else float("nan")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (s) and the last result."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def child_peak_rss_mb(code: str, *args: str, timeout: float = 3600) -> tuple[float, str]:
    """Run ``python -c code args`` in a fresh interpreter; return (its peak RSS in MB, stdout)."""
    env = {**os.environ, "PYTHONPATH": str(BENCH_DIR.parent)}
    # VmHWM is this process's own high-water mark; ru_maxrss on Linux also carries the RSS
    # the forked parent had before exec, which would inflate a small child's figure
    wrapper = (
        "import resource, sys\n"
        + code
        + "\ntry:\n"
        "    _kb = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "except (OSError, StopIteration):\n"
        "    _kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print('__PEAK_RSS_KB__', _kb, file=sys.stderr)\n"
    )
    p = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {p.stderr[-2000:]}")
    kb = 0
    for line in p.stderr.splitlines():
        if line.startswith("__PEAK_RSS_KB__"):
            kb = int(line.split()[1])
    return kb / 1024.0, p.stdout


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak resident memory of this process while a ``with`` block runs (MB, in ``peak_MB``).

    Linux: the high-water mark is reset on entry (``/proc/self/clear_refs``, value 5) and read
    on exit, so earlier work in the process does not count; elsewhere it falls back to the
    process's lifetime peak."""

    def __init__(self) -> None:
        self.peak_MB = float("nan")
        self.start_MB = float("nan")

    def __enter__(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass
        self.start_MB = _status_mb("VmRSS") or float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_mb("VmHWM")
        self.peak_MB = peak if peak is not None else self_peak_rss_mb()


def _fmt(x: float | None) -> str:
    if x is None or x != x:
        return ""
    return f"{x:.4g}"


def write_results(rows: list[Row], path_md: Path, path_json: Path, meta: dict[str, Any]) -> None:
    path_json.write_text(json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]}, indent=2, default=str))
    lines = [
        "# ionto benchmark results",
        "",
        f"Machine: {meta.get('machine', '')}; Python {meta.get('python', '')}; run {meta.get('date', '')}; "
        f"mode: {meta.get('mode', '')}; wall time of the run {meta.get('wall_s', 0) / 60:.1f} min; "
        f"1-min load average at the end {meta.get('load_end', '')}.",
        "",
        "Each row: our figure, the reference figure measured in the same run, ours/reference, the "
        "issue's target and whether this run meets it, the peak resident memory (RSS) of the "
        "process that measured ours, and the command that measures it.  For times and memory a "
        "ratio below 1 is good; for throughput and × real time above 1.",
        "",
        "| bench | metric | ours | reference | ratio | unit | reference is | target | met | peak RSS (MB) | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            f"| {r.bench} | {r.metric} | {r.ours:.4g} | {r.reference:.4g} | {r.ratio:.3g} | {r.unit} | "
            f"{r.reference_name} | {r.target} | {met} | {_fmt(r.peak_MB)} | `{r.command}` |"
        )
    if meta.get("failed"):
        lines += ["", f"**Benchmarks that failed in this run:** {', '.join(meta['failed'])}"]
    notes = [f"- **{r.bench} / {r.metric}**: {r.notes}" for r in rows if r.notes]
    if notes:
        lines += ["", "## Notes", "", *notes]
    path_md.write_text("\n".join(lines) + "\n")


def command(bench: str, quick: bool) -> str:
    """The exact command that measures a bench's rows."""
    return f".venv/bin/python -m bench --only {bench}" + (" --quick" if quick else "")
