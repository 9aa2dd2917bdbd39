"""The HDF5 recorder: an engine sink that hands samples to a writer thread.

The engine thread only copies each block into a bounded queue (a few microseconds); a
writer thread batches what is queued, appends it to the file and commits at least every
``flush_interval_s`` of wall-clock time *and* of recorded time (``commit_rows``: at
``--speed max`` much more than 0.5 s is recorded in 0.5 s, and a kill would lose it all).  If the queue is full (the disk cannot keep up), ``on_block`` raises
``RecordingError``: the engine stops the run, safely and loudly; a sample is never dropped.
A failure of the writer thread (disk full, I/O error) is raised on the engine thread at
the next block for the same reason.

Free disk space is checked before the file is created and every ``disk_check_s`` while
recording: below ``low_disk_bytes`` a warning is queued for the engine to publish
(``drain_warnings``); below ``min_free_bytes`` the recording stops with an error before
the disk fills up.  Warnings nobody drained by the end are written into the file as WARNING
events before it closes, as is everything else queued before ``stop``.

The file is locked while it is written (``paths.acquire_writer_lock``): another process
cannot record or overwrite it meanwhile; FIFOs, devices and sockets are refused.

Thread: ``start``, ``on_block``, ``on_events``, ``on_truth``, ``stop``, ``drain_warnings``
run on the engine thread; the writing happens on the thread named ``ionto-recorder``.
``committed_samples`` may be read from any thread.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from daq.errors import RecordingError
from daq.pipette import Pipette
from daq.recording.h5file import RecordingFile, free_bytes
from daq.recording.metadata import ProtocolInfo, software_versions
from daq.recording.paths import refuse_special_file
from daq.types import Block, EventKind, LogEvent, StreamInfo

log = logging.getLogger(__name__)

__all__ = ["ProtocolInfo", "Recorder", "software_versions"]

_STOP = object()
MiB = 2**20


def _limit_margin(path: Path) -> int:
    """Bytes kept back from a size limit for what grows beside the samples: HDF5's chunk index
    and free-space records, the event log and the ground truth (1 MiB + 1/8 of the file)."""
    return MiB + _size(path) // 8


def _file_size_limit() -> int | None:
    """The largest file this process may write (``RLIMIT_FSIZE``), or None if unlimited."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _fit_batch(batch: list[Any], room_bytes: int, written_end: int) -> list[Any]:
    """What fits of a batch that would cross a limit: its first ``room_bytes`` of samples
    (the last block cut to whole rows), the items queued before a cut, and the events up to
    the end of the samples kept (``written_end``: the end of those already in the file) —
    not those of samples that will never be written; never the end marker."""
    out: list[Any] = []
    cut = False
    end = written_end
    for entry in batch:
        if entry is _STOP:
            continue
        item, nbytes = entry
        if item[0] == "block":
            if cut:
                continue
            _, start, data = item
            row_bytes = max(1, data.nbytes // max(1, data.shape[0]))
            keep = min(data.shape[0], room_bytes // row_bytes)
            room_bytes -= keep * row_bytes
            if keep:
                out.append((("block", start, data[:keep]), keep * row_bytes))
                end = max(end, start + keep)
            cut = keep < data.shape[0]
        elif item[0] == "events" or not cut:
            out.append(entry)
    fitted: list[Any] = []
    for item, nbytes in out:
        if item[0] != "events":
            fitted.append((item, nbytes))
        elif kept := [ev for ev in item[1] if ev.sample_index <= end]:
            fitted.append((("events", kept), nbytes))
    return fitted


def _split_batch(batch: list[Any], rows: int, uncommitted: int, chunk_rows: int,
                 commit_rows: int) -> list[tuple[list[Any], bool]]:
    """A batch cut into pieces, in order, each with whether a commit is due after it: a piece
    ends at a chunk boundary of the file (``rows`` are in it now) or when ``commit_rows`` rows
    are uncommitted (``uncommitted`` now), whichever comes first; the last piece may end
    short of both (no commit due).  A block is cut into row views; the items after it go with
    its last piece."""
    def room() -> int:
        return max(1, min(chunk_rows - rows % chunk_rows, commit_rows - uncommitted))

    left = room()
    pieces: list[tuple[list[Any], bool]] = []
    piece: list[Any] = []
    for entry in batch:
        if entry is _STOP or entry[0][0] != "block":
            piece.append(entry)
            continue
        _, start, data = entry[0]
        at = 0
        while at < data.shape[0]:
            if left == 0:  # the previous piece ended at a boundary: a commit is due after it
                pieces.append((piece, True))
                piece, uncommitted = [], 0
                left = room()
            take = min(left, data.shape[0] - at)
            part = data[at:at + take] if take < data.shape[0] else data
            piece.append((("block", start + at, part), part.nbytes))
            at += take
            rows += take
            uncommitted += take
            left -= take
    pieces.append((piece, left == 0))
    return pieces


def _append_truth(f: RecordingFile, truth: dict[str, list[np.ndarray]]) -> None:
    """Append ground-truth pieces gathered per dataset name (one append each), then forget them."""
    if truth:
        f.append_truth({k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in truth.items()})
        truth.clear()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _disk_full_reason(exc: BaseException | None) -> str | None:
    """'the disk is full' (ENOSPC) or 'the file is too large' (EFBIG), from an OSError or from
    the text of HDF5's error (h5py raises some write failures as RuntimeError with the errno)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOSPC or "No space left on device" in text or "errno = 28" in text:
        return "the disk is full (No space left on device)"
    if code == errno.EFBIG or "File too large" in text or "errno = 27" in text:
        return "the file reached the largest size this system allows (File too large)"
    return None


class Recorder:
    """Writes one recording file.  Create, then hand to the engine as its recorder."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pipette: Pipette | None = None,
        rig: Mapping[str, Any] | None = None,
        protocol: ProtocolInfo | None = None,
        truth_metadata: Mapping[str, Any] | None = None,
        notes: str = "",
        flush_interval_s: float = 0.5,
        chunk_s: float = 0.5,
        overwrite: bool = False,
        min_free_bytes: int = 200 * MiB,
        low_disk_bytes: int = 2048 * MiB,
        disk_check_s: float = 2.0,
        queue_s: float = 30.0,
        queue_min_bytes: int = 64 * MiB,
        batch_bytes: int = 8 * MiB,
    ):
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self.path = Path(path)
        self.pipette = pipette
        self.rig = dict(rig or {})
        self.protocol = protocol
        self.truth_metadata = dict(truth_metadata or {})
        self.notes = notes
        self.flush_interval_s = flush_interval_s
        self.chunk_s = chunk_s
        self.overwrite = overwrite
        self.min_free_bytes = min_free_bytes
        self.low_disk_bytes = max(low_disk_bytes, min_free_bytes)
        self.disk_check_s = disk_check_s
        self.queue_s = queue_s
        self.queue_min_bytes = queue_min_bytes
        self.batch_bytes = batch_bytes  # the writer wakes early when this much is waiting
        self.stream: StreamInfo | None = None
        self.max_queue_bytes = 0
        self._file: RecordingFile | None = None
        self._items: deque[Any] = deque()  # (item, nbytes) waiting for the writer thread
        self._queued_bytes = 0  # bytes accepted and not yet written (the bound applies to this)
        self._waiting_bytes = 0  # bytes in ``_items``
        self._waiting_rows = 0  # sample rows handed since the writer last took them
        self.commit_rows = 0  # commit at least every this many rows (flush_interval_s of recorded time)
        self._stop_requested = False
        self._slab: np.ndarray | None = None  # staging buffer the engine thread copies blocks into
        self._slab_start = 0  # sample index of the slab's first row
        self._slab_rows = 0  # rows filled
        self._slab_taken = 0  # rows already queued for the writer
        self._qlock = threading.Lock()
        self._cond = threading.Condition(self._qlock)
        self._taken = threading.Condition(self._qlock)  # the writer took what was waiting
        self._t_start = 0.0
        self._rows_handed = 0
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._warnings: list[str] = []
        self._committed_samples = 0
        self._committed_events = 0
        self._last_index = 0
        self._stopped = False
        self._last_disk_warning = -1e9
        self.disk_warn_every_s = 60.0

    # --- sink API (engine thread) -------------------------------------------------------------
    def start(self, stream: StreamInfo) -> None:
        """Check the disk, create the complete file, start the writer thread."""
        if self._thread is not None:
            raise RecordingError(f"{self.path}: this recorder was already started; make a new one")
        refuse_special_file(self.path)  # HDF5 would block on a FIFO forever, or write into a device
        if self.path.exists() and not self.overwrite:
            raise RecordingError(f"{self.path}: file exists; choose another name or allow overwrite")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"{self.path.parent}: cannot create the folder ({exc.strerror or exc})") from None
        free = free_bytes(self.path.parent)
        if free < self.min_free_bytes:
            raise RecordingError(
                f"{self.path.parent}: only {free / MiB:.0f} MiB free; at least "
                f"{self.min_free_bytes / MiB:.0f} MiB are needed to start a recording"
            )
        self.stream = stream
        bytes_per_s = stream.rate_hz * stream.n_channels * np.dtype(stream.dtype).itemsize
        self.max_queue_bytes = int(max(self.queue_min_bytes, self.queue_s * bytes_per_s))
        # commits are bounded in recorded time too: at --speed max, 0.5 s of wall time can be
        # many seconds of recording, all of which a kill would lose
        self.commit_rows = max(1, round(stream.rate_hz * self.flush_interval_s))
        self._t_start = time.monotonic()
        self._file = RecordingFile(
            self.path, stream, pipette=self.pipette, rig=self.rig, protocol=self.protocol,
            truth_metadata=self.truth_metadata, notes=self.notes, chunk_s=self.chunk_s, overwrite=self.overwrite,
        )
        if free < self.low_disk_bytes:
            self._last_disk_warning = time.monotonic()
            self._warn(self._low_disk_message(free))
        self._thread = threading.Thread(target=self._run, name="ionto-recorder", daemon=True)
        self._thread.start()

    def on_block(self, block: Block) -> None:
        """Copy the block into the current staging slab (the device may reuse its buffer);
        the writer thread takes slabs whole, so the samples are copied once before HDF5."""
        self._check_running()
        data = block.data
        n = int(data.shape[0])
        nbytes = int(data.nbytes)
        with self._cond:
            self._check_room(nbytes)
            slab = self._slab
            if (slab is None or block.start_index != self._slab_start + self._slab_rows
                    or self._slab_rows + n > slab.shape[0]):
                self._hand_slab()
                rows = max(n, self.batch_bytes // max(1, data.shape[1] * data.dtype.itemsize))
                slab = self._slab = np.empty((rows, data.shape[1]), dtype=data.dtype)
                self._slab_start, self._slab_rows, self._slab_taken = block.start_index, 0, 0
            slab[self._slab_rows:self._slab_rows + n] = data
            self._slab_rows += n
            self._queued_bytes += nbytes
            self._waiting_bytes += nbytes
            self._waiting_rows += n
            self._rows_handed += n
            self._last_index = block.end_index
            if self._waiting_bytes >= self.batch_bytes or self._waiting_rows >= self.commit_rows:
                self._cond.notify()  # else the writer wakes at its next commit time
                if self._waiting_rows >= 2 * self.commit_rows and self._faster_than_real_time():
                    # a device faster than real time (the simulator or a replay at --speed max)
                    # waits for a writer that fell a second of recording behind (a busy
                    # machine), so that a kill loses little; a real-time device never waits
                    self._taken.wait(0.1)

    def _faster_than_real_time(self) -> bool:
        """Samples came faster than a device acquiring in real time can give them (with 2 s of
        slack for a backlog read at the start)."""
        assert self.stream is not None
        elapsed = time.monotonic() - self._t_start
        return self._rows_handed > self.stream.rate_hz * (1.5 * elapsed + 2.0)

    def _hand_slab(self) -> None:
        """Queue the slab rows not yet taken by the writer (with ``_cond`` held)."""
        if self._slab is not None and self._slab_rows > self._slab_taken:
            a, b = self._slab_taken, self._slab_rows
            view = self._slab[a:b]
            self._items.append((("block", self._slab_start + a, view), view.nbytes))
            self._slab_taken = b

    def on_events(self, events: list[LogEvent]) -> None:
        if events:
            self._put(("events", list(events)), 200 * len(events))

    def on_truth_metadata(self, metadata: Mapping[str, Any]) -> None:
        """The simulator's model parameters (before ``start``)."""
        self.truth_metadata = dict(metadata)

    def on_truth(self, truth: Mapping[str, object]) -> None:
        arrays = {k: np.array(v, copy=True) for k, v in truth.items()}
        if arrays:
            self._put(("truth", arrays), sum(a.nbytes for a in arrays.values()))

    def stop(self) -> None:
        """Write everything queued, commit, and close the file cleanly.  Raises
        ``RecordingError`` if anything could not be written (the file then reads as crashed,
        with everything committed before the failure)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is None:
            return
        with self._cond:
            self._stop_requested = True
            self._cond.notify()
        # generous: the whole queue at a slow 5 MB/s, plus the final commit and close
        self._thread.join(60.0 + self._queued_bytes / 5e6)
        if self._thread.is_alive():
            raise RecordingError(f"{self.path}: the writer did not finish; the file holds what it committed")
        if self._error is not None:
            raise RecordingError(self._error_message()) from None

    # --- extras -------------------------------------------------------------------------------
    def set_protocol(self, protocol: ProtocolInfo | None) -> None:
        """Store (or replace) the protocol description; during a recording it is written
        by the writer thread."""
        self.protocol = protocol
        if self._thread is not None and not self._stopped:
            self._put(("protocol", protocol), 0)

    def add_note(self, text: str, sample_index: int | None = None) -> None:
        """An operator note: kept in the file's ``notes`` and, while recording, logged as a
        NOTE event (at ``sample_index``, or the newest sample handed to the recorder)."""
        self.notes = (self.notes + "\n" + text).strip()
        if self._thread is not None and not self._stopped:
            at = self._last_index if sample_index is None else sample_index
            self.on_events([LogEvent(at, EventKind.NOTE, text=text)])

    def drain_warnings(self) -> list[str]:
        """Warnings since the last call (low disk space).  Engine thread."""
        with self._qlock:
            out, self._warnings = self._warnings, []
        return out

    @property
    def committed_samples(self) -> int:
        """Rows committed to the file so far (any thread)."""
        return self._committed_samples

    @property
    def committed_events(self) -> int:
        return self._committed_events

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    # --- internals ----------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self._thread is None or self._stopped:
            raise RecordingError(f"{self.path}: the recorder is not running")
        if self._error is not None:
            raise RecordingError(self._error_message())

    def _check_room(self, nbytes: int) -> None:
        if self._queued_bytes + nbytes > self.max_queue_bytes:
            raise RecordingError(
                f"{self.path}: the recorder's queue is full ({self._queued_bytes / MiB:.0f} MiB waiting): the "
                "disk cannot keep up, so the run is stopped rather than dropping samples"
            )

    def _put(self, item: tuple[Any, ...], nbytes: int) -> None:
        """Queue a non-sample item (events, ground truth, protocol).  Samples and these go to
        different datasets and are committed together, so their relative order does not matter."""
        self._check_running()
        with self._cond:
            self._queued_bytes += nbytes
            self._waiting_bytes += nbytes
            self._items.append((item, nbytes))

    def _error_message(self) -> str:
        exc = self._error
        if isinstance(exc, RecordingError):
            return str(exc)
        full = _disk_full_reason(exc)
        if full:
            rate = self.stream.rate_hz if self.stream is not None else 0.0
            kept = f" ({self._committed_samples / rate:.1f} s)" if rate else ""
            return (f"{self.path}: {full}: the recording stopped; the file keeps the {self._committed_samples} "
                    f"samples{kept} committed before that. Free some space, then record to a new file")
        return f"{self.path}: writing failed: {type(exc).__name__}: {exc}"

    def _warn(self, message: str) -> None:
        with self._qlock:
            self._warnings.append(message)
        log.warning(message)

    def _low_disk_message(self, free: int) -> str:
        left_s = ""
        if self.stream is not None:
            bps = self.stream.rate_hz * self.stream.n_channels * np.dtype(self.stream.dtype).itemsize
            left_s = f" (about {(free - self.min_free_bytes) / bps / 60:.0f} min of recording left)"
        return f"{self.path.parent}: low disk space: {free / MiB:.0f} MiB free{left_s}"

    def _run(self) -> None:
        """The writer thread: batch, append, commit every ``flush_interval_s``."""
        f = self._file
        assert f is not None
        last_commit = last_truth = time.monotonic()
        next_disk_check = last_commit + self.disk_check_s
        dirty = False
        done = False
        # ground truth (the simulator's, many small datasets: costly to append) is written every
        # flush_interval_s of wall time, not at every commit of recorded time
        held_truth: dict[str, list[np.ndarray]] = {}
        try:
            while not done:
                deadline = last_commit + self.flush_interval_s
                with self._cond:
                    while (not self._stop_requested and self._waiting_bytes < self.batch_bytes
                           and self._waiting_rows < self.commit_rows):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    self._hand_slab()
                    batch = list(self._items)
                    self._items.clear()
                    self._waiting_bytes = 0
                    self._waiting_rows = 0
                    self._taken.notify_all()
                    if self._stop_requested:
                        batch.append(_STOP)
                # the room this batch needs (and one more chunk) is checked before it is written:
                # however fast the samples come, the disk never fills
                incoming = sum(e[1] for e in batch if e is not _STOP)
                now = time.monotonic()
                check = now >= next_disk_check or incoming > 0
                full = self._check_disk(incoming + f.chunk_bytes, warn=now >= next_disk_check) if check else None
                if now >= next_disk_check:
                    next_disk_check = now + self.disk_check_s
                if full:  # what fits of this batch is kept; the file says why it ends
                    self._error = RecordingError(full)
                    _append_truth(f, held_truth)
                    self._write_batch(f, _fit_batch(batch, self._room_bytes(f), max(f.last_index, 0)))
                    f.append_events([LogEvent(max(f.last_index, 0), EventKind.ERROR, text=full)])
                    break
                # in pieces that end at chunk boundaries and at most ``commit_rows`` apart, each
                # committed: a writer that fell behind (or a batch taken at --speed max) never
                # holds more than that uncommitted, and whole chunks go straight to the file
                for piece, due in _split_batch(batch, f.rows, f.rows - self._committed_samples, f.chunk_rows,
                                               self.commit_rows):
                    done = self._write_batch(f, piece, held_truth) or done
                    dirty = dirty or bool(piece)
                    now = time.monotonic()
                    if held_truth and (done or now - last_truth >= self.flush_interval_s):
                        _append_truth(f, held_truth)
                        last_truth = now
                    if (done or due or (dirty and now - last_commit >= self.flush_interval_s)
                            or now - last_commit >= 2.0):
                        f.commit()
                        self._committed_samples = f.rows
                        self._committed_events = f.n_events
                        last_commit = now
                        dirty = False
            _append_truth(f, held_truth)
            self._write_undrained_warnings(f)
            rows, n_events = f.rows, f.n_events
            f.close(self.notes)  # commits what the last batch wrote
            self._committed_samples, self._committed_events = rows, n_events
        except BaseException as exc:  # reported on the engine thread
            self._error = exc
            log.error("%s", self._error_message())
            f.abandon()

    def _write_undrained_warnings(self, f: RecordingFile) -> None:
        """Warnings nobody drained (``drain_warnings``) by the end: those queued after the engine's
        last look (a low-disk warning of the final batch, or one given at start of a recording
        stopped before its first block) go into the file as WARNING events, at its end.  They
        stay queued for a late ``drain_warnings``."""
        with self._qlock:
            undrained = list(self._warnings)
        if undrained:
            at = max(f.last_index, 0)
            f.append_events([LogEvent(at, EventKind.WARNING, text=m) for m in undrained])

    def _write_batch(self, f: RecordingFile, batch: list[Any],
                     hold_truth: dict[str, list[np.ndarray]] | None = None) -> bool:
        """Append a batch with as few HDF5 calls as possible: contiguous blocks become one
        write, and the batch's events and ground truth one append each (the ground truth is
        added to ``hold_truth`` instead, if given).  True at the end marker."""
        done = False
        run: list[np.ndarray] = []
        run_start = run_end = 0
        events: list[LogEvent] = []
        truth: dict[str, list[np.ndarray]] = {} if hold_truth is None else hold_truth
        freed = 0

        def flush_run() -> None:
            if run:
                f.append_samples(run_start, run[0] if len(run) == 1 else np.concatenate(run))
                run.clear()

        def flush_rest() -> None:
            flush_run()
            if events:
                f.append_events(events)
                events.clear()
            if hold_truth is None:
                _append_truth(f, truth)

        for entry in batch:
            if entry is _STOP:
                done = True
                continue
            item, nbytes = entry
            freed += nbytes
            kind = item[0]
            if kind == "block":
                _, start, data = item
                if not (run and start == run_end):
                    flush_run()
                    run_start = start
                run.append(data)
                run_end = start + data.shape[0]
            elif kind == "events":
                events.extend(item[1])
            elif kind == "truth":
                for name, a in item[1].items():
                    truth.setdefault(name, []).append(a)
            elif kind == "protocol":
                flush_rest()
                f.set_protocol(item[1])
        flush_rest()
        with self._qlock:
            self._queued_bytes -= freed
        return done

    def _room_bytes(self, f: RecordingFile) -> int:
        """Sample bytes that may still be written without crossing the file-size limit or
        the minimum free space.  HDF5 grows the file a whole chunk at a time: the rows left in
        the chunk being filled are free once it is counted (assumed not yet), further rows
        come in whole chunks; 1 MiB is held back for the event log and HDF5's own records."""
        room = free_bytes(self.path) - self.min_free_bytes
        limit = _file_size_limit()
        if limit is not None:
            room = min(room, limit - _size(self.path))
        c, chunk = f.chunk_rows, f.chunk_bytes
        in_chunk = -f.rows % c  # rows left in the chunk being filled
        # HDF5 adds chunk-index and free-space records as the file grows, and the ground truth
        # and event log grow beside the samples: keep 1 MiB plus 1/8 of the file back
        room -= _limit_margin(self.path) + (chunk if in_chunk else 0)
        if room < 0:
            return 0
        return (in_chunk + (room // chunk) * c) * (chunk // c)

    def _check_disk(self, incoming_bytes: int = 0, warn: bool = True) -> str | None:
        """Warn (at most once a minute) when space is low; the message to stop on when writing
        ``incoming_bytes`` would leave less than the minimum (the file is then closed cleanly,
        before the disk fills)."""
        limit = _file_size_limit()
        if limit is not None and _size(self.path) + incoming_bytes + _limit_margin(self.path) > limit:
            return (f"{self.path}: the file would outgrow the largest file this program may write "
                    f"({limit / MiB:.0f} MiB, RLIMIT_FSIZE): the recording was stopped and closed")
        free = free_bytes(self.path)
        if free - incoming_bytes < self.min_free_bytes:
            return (f"{self.path.parent}: disk almost full ({free / MiB:.0f} MiB free, the minimum is "
                    f"{self.min_free_bytes / MiB:.0f} MiB): the recording was stopped and closed")
        now = time.monotonic()
        if warn and free < self.low_disk_bytes and now - self._last_disk_warning >= self.disk_warn_every_s:
            self._last_disk_warning = now
            self._warn(self._low_disk_message(free))
        return None
