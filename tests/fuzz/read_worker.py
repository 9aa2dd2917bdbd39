"""A reader in a process of its own, for the fuzz tests: it reads one path per line on stdin,
reads that recording through everything ``ionto info`` and ``ionto analyze`` touch, and
answers one JSON line per path on stdout:

* ``{"result": "opened", ...}`` — the file opened and every part of it was read;
* ``{"result": "error", "message": ...}`` — a ``RecordingError`` (the clear error we promise);
* ``{"result": "other", "message": ..., "traceback": ...}`` — anything else (a bug).

A hang or a crash of this process is seen by the test driving it (``ReaderWorker``), which
reads each answer under a timeout.  Usage: ``python read_worker.py [--nwb]``; with ``--nwb``
the paths are opened with ``analysis.source.open_source`` (NWB files) instead.
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings

from daq.errors import RecordingError


def read_recording(path: str) -> dict:
    from daq.recording import Recording

    with Recording(path) as rec:
        summary = rec.summary()
        rec.commanded_currents()
        _ = rec.rig, rec.protocol, rec.truth_metadata, rec.status
        for name in rec.truth_names():
            rec.truth(name)
        rows = 0
        for _, block in rec.iter_rows(1 << 16):
            rows += len(block)
        rec.refresh()
        return {"samples": summary["committed_samples"], "rows": rows, "events": len(rec.events),
                "status": summary["status"]}


def read_source(path: str) -> dict:
    from analysis.source import open_source

    with open_source(path) as src:
        rows = 0
        for start in range(0, src.n_samples, 1 << 16):
            rows += len(src.raw(start, start + (1 << 16)))
        return {"samples": src.n_samples, "rows": rows, "events": len(src.events), "rate_hz": src.rate_hz,
                "channels": [c.name for c in src.channels], "gaps": len(src.gaps),
                "pipette": None if src.pipette is None else list(src.pipette.names)}


def main() -> None:
    read = read_source if "--nwb" in sys.argv[1:] else read_recording
    warnings.simplefilter("ignore")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        try:
            out = {"result": "opened", **read(path)}
        except RecordingError as exc:
            out = {"result": "error", "message": str(exc)}
        except Exception as exc:  # the point of the worker: report what a reader must never raise
            out = {"result": "other", "message": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc()}
        print(json.dumps({"path": path, **out}), flush=True)


if __name__ == "__main__":
    main()
