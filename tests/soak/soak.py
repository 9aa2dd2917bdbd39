"""Soak: hours of simulated recording, as fast as the machine goes, through the full engine
(simulated rig → recorder → online detector → display ring → protocol runner) with a long
protocol of many ejections.  At every checkpoint it notes the process's RSS and the file's
size; nothing may grow beyond the data itself.

    python tests/soak/soak.py --hours 8 --docs docs/reliability.md   # make soak

Run as a script (``make soak``) or through ``run_soak`` (the CI test runs a few minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis.detect import StreamingDetector  # noqa: E402
from daq.engine import BlockDone, Engine  # noqa: E402
from daq.recording import ProtocolInfo, Recorder, Recording  # noqa: E402
from daq.ring import DisplaySink  # noqa: E402
from mock_daq import SimDevice, load_preset  # noqa: E402
from protocols.commands import Checkpoint, Eject, Retain, Wait  # noqa: E402
from protocols.runner import PlanRunner  # noqa: E402

MiB = 2**20


def endless_dose_response(currents_nA=(5, 10, 20, 40, 80), eject_s: float = 20.0, recovery_s: float = 40.0):
    """Glutamate ejections at ascending currents, again and again (one a minute)."""
    yield Wait(30.0)
    k = 0
    while True:
        cur = currents_nA[k % len(currents_nA)]
        yield Checkpoint(f"glu {cur} nA #{k}")
        yield Eject("glu", cur)
        yield Wait(eject_s)
        yield Retain("glu")
        yield Wait(recovery_s)
        k += 1


@dataclass
class Checkpoint_:
    sim_s: float
    wall_s: float
    rss_MiB: float
    file_MiB: float
    committed_samples: int


def run_soak(simulated_s: float, checkpoint_s: float, out_dir: Path, seed: int = 11) -> dict:
    """Record ``simulated_s`` of the cortex preset at full speed; a checkpoint every ``checkpoint_s``."""
    rig = load_preset("cortex")
    path = out_dir / "soak.h5"
    device = SimDevice(rig, seed=seed, speed=None)
    recorder = Recorder(path, pipette=rig.pipette, rig=rig.model_dump(mode="json"),
                        protocol=ProtocolInfo(name="soak", format="python"))
    detector = StreamingDetector()
    engine = Engine(device, rig.acquisition_config(), rig.pipette, ao_lead_s=rig.ao_lead_s, recorder=recorder,
                    sinks=[detector, DisplaySink(seconds=10)], runner=PlanRunner(endless_dose_response(), "soak"),
                    online=detector, stop_after_samples=round(simulated_s * rig.rate_hz))
    proc = psutil.Process()
    points: list[Checkpoint_] = []
    step = round(checkpoint_s * rig.rate_hz)
    next_at = [step]
    t0 = time.monotonic()

    def watch(ev) -> None:  # engine thread: cheap look-ups only
        if isinstance(ev, BlockDone) and ev.read_index >= next_at[0]:
            next_at[0] += step
            size = path.stat().st_size if path.exists() else 0
            points.append(Checkpoint_(ev.read_index / rig.rate_hz, time.monotonic() - t0,
                                      proc.memory_info().rss / MiB, size / MiB, recorder.committed_samples))

    engine.subscribe(watch)
    engine.run()
    wall = time.monotonic() - t0
    stream = engine.stream
    assert stream is not None
    row_bytes = stream.n_channels * stream.dtype.itemsize
    with Recording(path) as rec:
        n = rec.n_samples
        events = len(rec.events)
        status = rec.status
    with h5py.File(path, "r", locking=False) as f:
        stored: dict[str, int] = {}
        f.visititems(lambda name, obj: stored.__setitem__(name, obj.id.get_storage_size())
                     if isinstance(obj, h5py.Dataset) else None)
    size = path.stat().st_size
    samples_bytes = stored.get("acquisition/samples", 0)
    return {
        "simulated_s": simulated_s, "wall_s": wall, "speed_x": simulated_s / wall, "error": engine.error,
        "status": status, "samples": n, "events": events, "channels": stream.n_channels,
        "rate_hz": stream.rate_hz, "file_bytes": size, "raw_sample_bytes": n * row_bytes,
        "samples_dataset_bytes": samples_bytes, "other_datasets_bytes": sum(stored.values()) - samples_bytes,
        "unaccounted_bytes": size - sum(stored.values()), "points": [asdict(p) for p in points],
        "path": str(path),
    }


def rss_growth_after_warmup(result: dict, warmup_points: int = 1) -> float:
    rss = [p["rss_MiB"] for p in result["points"]]
    return max(rss[warmup_points:]) - rss[warmup_points - 1] if len(rss) > warmup_points else 0.0


def markdown(result: dict, command: str) -> str:
    unit = 3600.0 if result["simulated_s"] >= 3600 else 60.0
    label = "hour" if unit == 3600.0 else "minute"
    lines = [
        f"Measured with `{command}` on this 2-core machine: {result['simulated_s'] / 3600:.2f} simulated hours "
        f"of the cortex preset ({result['channels']} channels at {result['rate_hz'] / 1000:g} kHz, one glutamate "
        f"ejection a minute: {result['events']} events) in {result['wall_s'] / 60:.1f} min "
        f"({result['speed_x']:.0f}× real time); run error: {result['error'] or 'none'}; file {result['status']}.",
        "",
        f"| simulated {label} | RSS (MiB) | file (MiB) | committed samples | wall clock (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in result["points"]:
        lines.append(f"| {p['sim_s'] / unit:.0f} | {p['rss_MiB']:.0f} | {p['file_MiB']:.0f} | "
                     f"{p['committed_samples']:,} | {p['wall_s']:.0f} |")
    lines += [
        "",
        f"Final file: {result['file_bytes'] / MiB:.1f} MiB = samples {result['samples_dataset_bytes'] / MiB:.1f} MiB "
        f"(raw int16 data {result['raw_sample_bytes'] / MiB:.1f} MiB; the rest of the last chunk) + event log, "
        f"commanded currents and ground truth {result['other_datasets_bytes'] / MiB:.1f} MiB + HDF5 structure "
        f"{result['unaccounted_bytes'] / MiB:.2f} MiB.  RSS grew {rss_growth_after_warmup(result):.0f} MiB "
        f"after the first {label}.",
    ]
    return "\n".join(lines)


def write_section(doc: Path, name: str, text: str) -> None:
    """Replace the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in ``doc``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    body = doc.read_text(encoding="utf-8")
    a, b = body.index(begin) + len(begin), body.index(end)
    doc.write_text(body[:a] + "\n" + text.strip() + "\n" + body[b:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--checkpoint-s", type=float, default=3600.0)
    ap.add_argument("--dir", help="where to write the recording (default: a temporary folder, removed)")
    ap.add_argument("--docs", help="write the table into this markdown file (between soak markers)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = run_soak(args.hours * 3600.0, args.checkpoint_s, Path(tmp))
    cmd = f"make soak  # python tests/soak/soak.py --hours {args.hours:g}"
    text = markdown(result, cmd)
    print(text)
    if args.docs:
        write_section(Path(args.docs), "soak", text)
    growth = rss_growth_after_warmup(result)
    ok = result["error"] is None and result["status"] == "closed" and growth < 64
    if not ok:
        print(f"SOAK FAILED: error={result['error']}, status={result['status']}, RSS growth {growth:.0f} MiB",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.exit(main())
