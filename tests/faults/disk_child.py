"""A recorded run in a process of its own, for the disk faults that can take a process down:

* ``limit BYTES`` — the file may not grow beyond BYTES (``RLIMIT_FSIZE``): the kernel refuses
  writes past it with EFBIG, as a full disk refuses them with ENOSPC;
* ``fill`` — another program fills the disk (DIR on a small file system) while the recorder's
  free-space check is blind to it, so HDF5 itself meets ENOSPC.

Prints one JSON line with the outcome (if it survives).  The file is read by the parent, in
another process.

Usage: python tests/faults/disk_child.py DIR limit BYTES | DIR fill
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import ejection_plan, outputs_safe_or_zero, run_under_fault

from daq.recording import Recorder
from daq.recording.h5file import free_bytes
from mock_daq import load_preset


class OtherProgram:
    """Fills the disk to its last 64 KiB once acquisition passes sample 100 000."""

    def __init__(self, directory: Path):
        self.directory = directory

    def start(self, stream):
        pass

    def on_block(self, block):
        if block.start_index == 100_000:
            with open(self.directory / "other.bin", "wb") as fh:
                fh.write(b"x" * max(0, free_bytes(self.directory) - 64 * 1024))

    def on_events(self, events):
        pass

    def stop(self):
        pass


def main(directory: Path, mode: str, limit: int) -> None:
    rig = load_preset("cortex")
    sinks = []
    if mode == "limit":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not kills
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    else:
        Recorder._check_disk = lambda self, *a, **kw: None  # blind to the other program
        sinks = [OtherProgram(directory)]
    rec = Recorder(directory / "rec.h5", pipette=rig.pipette, rig=rig.model_dump(mode="json"), min_free_bytes=0,
                   low_disk_bytes=0)
    # 10x real time: the recorder commits every 0.5 s of wall-clock time, as in a real run
    run = run_under_fault(directory, recorder=rec, sinks=sinks, plan=ejection_plan((10, 20, 40, 80) * 4), speed=10.0)
    print(json.dumps({"path": str(run.path), "state": str(run.engine.state), "error": run.engine.error,
                      "errors": run.errors, "safe": outputs_safe_or_zero(run.device.static_volts, run.rig),
                      "read_index": run.engine.read_index}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
