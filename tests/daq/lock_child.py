"""A process that records a file with ``daq.recording.Recorder`` (every sample = VALUE,
protocol named ``proto VALUE``) for the lock tests.

Prints ``REFUSED <message>`` and exits 3 if the recorder refuses to start; else writes
BLOCKS blocks of 100 rows, prints ``WROTE <committed rows>`` once they are committed, waits
for a line on stdin (``stop``), writes BLOCKS more, stops and prints ``DONE <rows>``.

Usage: python tests/daq/lock_child.py OUT.h5 VALUE [BLOCKS]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from daq.errors import RecordingError
from daq.recording import ProtocolInfo, Recorder
from daq.types import AIChannel, Block, StreamInfo


def stream() -> StreamInfo:
    return StreamInfo(1000.0, (AIChannel("e", "x/ai0"), AIChannel("f", "x/ai1")), np.dtype(np.int16),
                      (1.0, 1.0), (0.0, 0.0))


def main(out: str, value: int, blocks: int) -> int:
    rec = Recorder(out, overwrite=True, protocol=ProtocolInfo(name=f"proto {value}"))
    try:
        rec.start(stream())
    except RecordingError as exc:
        print(f"REFUSED {exc}", flush=True)
        return 3
    at = 0
    for _ in range(blocks):
        rec.on_block(Block(at, np.full((100, 2), value, np.int16)))
        at += 100
    deadline = time.monotonic() + 60
    while rec.committed_samples < at and time.monotonic() < deadline:
        time.sleep(0.01)  # the writer commits within its flush interval
    print(f"WROTE {rec.committed_samples}", flush=True)
    sys.stdin.readline()
    for _ in range(blocks):
        rec.on_block(Block(at, np.full((100, 2), value, np.int16)))
        at += 100
    rec.stop()
    print(f"DONE {rec.committed_samples}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 20))
