"""The files recordings live in: refuse what is not a regular file, and lock a recording
while one process writes it.

**Special files.**  A FIFO, a character or block device or a socket given as a recording
(to read or to write) would make HDF5 block forever (a FIFO with no writer) or write into a
device.  ``refuse_special_file`` says so in one line, before anything opens the path; every
verb that reads or writes a recording calls it (the reader, the recorder, ``ionto info``,
``analyze``, ``analyze-batch``, ``export-nwb`` and the NWB reader).

**The writer's locks** (``WriterLock``; POSIX ``flock``, which the kernel drops when the
holding process dies, so a crashed writer never leaves a lock behind):

* a *sidecar* ``FILE.lock`` (next to the file it names, symlinks resolved), held
  exclusively for the whole recording, holding the writer's pid: no second ionto process
  can create, overwrite or record the same file meanwhile.  It is removed at the end of the
  recording; one left by a killed writer is stale (nobody holds it) and simply reused;
* a *shared* lock on the recording itself, as before: a reader tells a live writer from a
  dead one by probing it (``writer_alive``).  Shared, so that HDF5 readers with HDF5's own
  locking on (which take shared locks) still open a live file with ``swmr=True``.  A file
  to be overwritten must be unlocked: a writer of another ionto version or any program that
  holds a lock on it makes the overwrite refuse, naming the process.

Where ``fcntl`` does not exist (Windows) nothing is locked.

Thread: any.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path

from daq.errors import RecordingError

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterLock", "acquire_writer_lock", "lock_path_for", "recording_holder", "refuse_recording_target",
           "refuse_special_file", "special_file_kind", "writer_alive"]

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
# a reader's probe of the recording's lock holds it for microseconds: a writer retries this long
_TRANSIENT_S = 1.0


def special_file_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is if it is a FIFO, a device or a socket (symlinks followed); None for a
    regular file, a folder, a missing path or one that cannot be looked at (the caller's own
    open then says why).  Looks at the path without opening it (opening a FIFO blocks)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def refuse_special_file(path: str | os.PathLike[str], error: type[Exception] = RecordingError) -> None:
    """Raise ``error`` (one line naming the path) if ``path`` is a FIFO, a device or a socket."""
    kind = special_file_kind(path)
    if kind is not None:
        raise error(f"{path}: not a regular file but {kind}; ionto reads and writes only regular files")


def refuse_recording_target(path: str | os.PathLike[str]) -> None:
    """Before a run starts (``ionto run --out``): one line if ``path`` cannot be recorded to —
    not a regular file, a folder, or being recorded by another ionto process.  The recorder
    makes the same checks (holding the lock) when it starts; this says it before any device
    is opened or any current flows.  Whether an existing file may be overwritten is the
    caller's question."""
    refuse_special_file(path)
    if Path(path).is_dir():
        raise RecordingError(f"{path}: a folder; give a file name for the recording")
    pid = recording_holder(path)
    if pid is not None:
        raise RecordingError(f"{path}: being recorded by another ionto process ({_describe(pid or None)}); choose "
                             "another file (--out)")


def recording_holder(path: str | os.PathLike[str]) -> int | None:
    """The pid of the ionto process recording ``path`` now (0 if unknown), or None if none is
    (or where ``flock`` does not exist).  Probes the sidecar lock without creating it."""
    if fcntl is None:
        return None
    try:
        fd = os.open(lock_path_for(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a writer holds it exclusively
    except BlockingIOError:
        return _read_pid(fd) or 0
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def lock_path_for(path: str | os.PathLike[str]) -> Path:
    """The sidecar lock file of a recording: ``FILE.lock`` next to the real file."""
    real = Path(path).resolve()
    return real.with_name(real.name + ".lock")


def writer_alive(path: str | os.PathLike[str]) -> bool | None:
    """True if a process holds a lock on the recording (its writer, while it lives); None if
    unknown (no ``flock``, or the file cannot be opened)."""
    if fcntl is None or special_file_kind(path) is not None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops our probe lock
    return False


def lock_holders(fd: int) -> list[int]:
    """Pids holding ``flock`` locks on the file open as ``fd`` (Linux ``/proc/locks``), else []."""
    st = os.fstat(fd)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids: list[int] = []
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                parts = line.split()
                if "->" in parts:  # a process waiting for the lock, not holding it
                    continue
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == dev and parts[4].lstrip("-").isdigit():
                    pid = int(parts[4])
                    if pid > 0 and pid not in pids:
                        pids.append(pid)
    except OSError:
        pass
    return pids


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _describe(pid: int | None) -> str:
    if pid is None:
        return "pid unknown"
    if pid == os.getpid():
        return f"pid {pid}, this process"
    return f"pid {pid}"


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _flock_retrying(fd: int, how: int, seconds: float) -> bool:
    """``flock(fd, how | LOCK_NB)``, retried for ``seconds`` (a reader's probe is momentary)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


class WriterLock:
    """The locks of one recording being written (see the module docstring).  ``release``
    drops them; the kernel drops them anyway when the process dies."""

    def __init__(self, path: Path, lock_path: Path | None, lock_fd: int | None, data_fd: int | None,
                 created: bool):
        self.path = path
        self.lock_path = lock_path
        self._lock_fd = lock_fd
        self._data_fd = data_fd
        self.created = created  # True if the recording did not exist before: this writer made it

    @property
    def held(self) -> bool:
        return self._lock_fd is not None

    def release(self) -> None:
        """Drop the lock on the recording, then remove and drop the sidecar."""
        if self._data_fd is not None:
            os.close(self._data_fd)
            self._data_fd = None
        if self._lock_fd is not None:
            if self.lock_path is not None and _same_file(self._lock_fd, self.lock_path):
                with contextlib.suppress(OSError):
                    self.lock_path.unlink()  # while still held: a waiting opener sees a stale inode
            os.close(self._lock_fd)
            self._lock_fd = None


def _sidecar(path: Path) -> tuple[Path, int]:
    """Hold the sidecar lock of ``path`` exclusively, or raise naming its holder."""
    lock_path = lock_path_for(path)
    deadline = time.monotonic() + 10 * _TRANSIENT_S
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RecordingError(f"{path}: cannot create its lock file {lock_path.name} "
                                 f"({exc.strerror or exc})") from None
        if not _flock_retrying(fd, fcntl.LOCK_EX, _TRANSIENT_S):
            pid = _read_pid(fd)
            os.close(fd)
            raise RecordingError(f"{path}: being recorded by another ionto process ({_describe(pid)}); choose "
                                 "another file (--out)")
        if _same_file(fd, lock_path):
            return lock_path, fd
        os.close(fd)  # its holder removed it as we opened it: take the new one
        if time.monotonic() > deadline:
            raise RecordingError(f"{path}: its lock file {lock_path.name} keeps changing; is another program "
                                 "removing it?")


def acquire_writer_lock(path: str | os.PathLike[str], overwrite: bool) -> WriterLock:
    """Lock ``path`` for writing a recording (create it empty if it does not exist, keep it
    as it is otherwise: the caller truncates it).  Raises ``RecordingError`` (one line) if it
    is not a regular file, exists and ``overwrite`` is false, or another process records it
    or has it locked."""
    path = Path(path)
    refuse_special_file(path)
    if path.is_dir():
        raise RecordingError(f"{path}: a folder; give a file name for the recording")
    if fcntl is None:
        if path.exists() and not overwrite:
            raise RecordingError(f"{path}: file exists; choose another name or allow overwrite")
        return WriterLock(path, None, None, None, created=not path.exists())
    lock_path, lock_fd = _sidecar(path)
    try:
        data_fd, created = _lock_recording(path, overwrite)
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except BaseException:
        WriterLock(path, lock_path, lock_fd, None, False).release()
        raise
    return WriterLock(path, lock_path, lock_fd, data_fd, created)


def _lock_recording(path: Path, overwrite: bool) -> tuple[int, bool]:
    """(fd holding a shared lock on the recording, whether it was created); the sidecar is held."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        created = True
    except FileExistsError:
        fd, created = -1, False
    except OSError as exc:
        raise RecordingError(f"{path}: cannot create the recording ({exc.strerror or exc})") from None
    if not created:
        if not overwrite:
            raise RecordingError(f"{path}: file exists; choose another name or allow overwrite")
        refuse_special_file(path)  # it may have become one since the first look
        try:  # O_NONBLOCK: a FIFO put there in between must not block this open
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise RecordingError(f"{path}: cannot overwrite it ({exc.strerror or exc})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            refuse_special_file(path)
            raise RecordingError(f"{path}: not a regular file; ionto writes recordings only as regular files")
    # nobody else may hold a lock on a file about to be overwritten: its writer (of an ionto
    # without the sidecar) or another program that has it open with HDF5's locking on
    if not _flock_retrying(fd, fcntl.LOCK_EX, _TRANSIENT_S):
        holders = [p for p in lock_holders(fd) if p != os.getpid()] or lock_holders(fd)
        os.close(fd)
        who = ", ".join(f"{_describe(p)} {_process_name(p)}".strip() for p in holders) or "pid unknown"
        raise RecordingError(f"{path}: in use by another process ({who}): it is being recorded or read; close "
                             "it there or choose another file (--out)")
    # shared from here on (readers probe it); the sidecar keeps other writers out meanwhile
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd, created
