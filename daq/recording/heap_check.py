"""Checking HDF5's global heap collections before HDF5 reads them.

Variable-length strings (the recording's text attributes, the channel table's names) live in
*global heap collections* (signature ``GCOL``).  HDF5 (2.0 included) walks the objects of a
collection by their stored sizes, ``next = this + 16 + align8(size)``, with no check that
``next`` moved forward: a damaged size near 2**64 wraps ``next`` back onto ``this`` and the
library loops forever inside C code — a reader that hangs, and that no Python code can stop.
Global heaps carry no checksum, so no read-attempt bound helps either.

``damaged_global_heap`` walks each collection the same way first and reports one whose walk
would not move forward or would leave the collection.  It looks where ionto's writer puts
them: the first and the last ``SCAN_BYTES`` of the file (the file's metadata at creation and
at close; the samples in between hold none).

Thread: any.
"""

from __future__ import annotations

import os

SIGNATURE = b"GCOL"
SCAN_BYTES = 1 << 20
_MIN_COLLECTION = 4096  # HDF5 never makes a smaller collection
_WRAP = 1 << 64


def damaged_global_heap(path: str | os.PathLike[str], size_of_lengths: int = 8) -> int | None:
    """The file offset of a global heap collection HDF5 would loop on forever, or None."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        n = fh.tell()
        regions = [(0, min(n, SCAN_BYTES))]
        if n > SCAN_BYTES:
            regions.append((max(SCAN_BYTES, n - SCAN_BYTES), n))
        for start, stop in regions:
            fh.seek(start)
            buf = fh.read(stop - start)
            at = buf.find(SIGNATURE)
            while at >= 0:
                if not _walks(fh, start + at, n, size_of_lengths):
                    return start + at
                at = buf.find(SIGNATURE, at + 1)
    return None


def _walks(fh, offset: int, file_size: int, lsize: int) -> bool:
    """False if the collection at ``offset`` is one HDF5 would walk forever (True for
    anything that is not a collection header: a chance match of the signature in data)."""
    fh.seek(offset)
    head = fh.read(8 + lsize)
    if len(head) < 8 + lsize or head[4] != 1 or head[5:8] != b"\0\0\0":
        return True
    size = int.from_bytes(head[8:8 + lsize], "little")
    if not _MIN_COLLECTION <= size <= file_size - offset:
        return True  # not a header HDF5 would accept either (it checks the collection size)
    fh.seek(offset)
    heap = fh.read(size)
    objhdr = 8 + lsize
    p = 8 + lsize
    while p < size:
        if p + objhdr > size:
            break  # the tail is free space, too small for an object header
        idx = int.from_bytes(heap[p:p + 2], "little")
        obj = int.from_bytes(heap[p + 8:p + 8 + lsize], "little")
        # HDF5's arithmetic, in size_t: it wraps
        need = obj if idx == 0 else (objhdr + (obj + 7) % _WRAP // 8 * 8) % _WRAP
        nxt = (p + need) % _WRAP
        if nxt <= p or nxt > size:
            return False
        p = nxt
    return True
