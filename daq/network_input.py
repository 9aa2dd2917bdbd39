"""Trial events from task software over Lab Streaming Layer, aligned to the AI sample clock.

The task software (PsychoPy, Bonsai, MonkeyLogic, or ``mock_daq.task_sender``) publishes an
LSL *marker* stream: one string channel, irregular rate, one sample per event, stamped with
the sender's LSL clock at the moment the stimulus came on or went off::

    trial_start trial=3 code=5 orientation_deg=45
    trial_stop trial=3 code=5

(the texts of ``daq.trials``: the first word is the kind, the rest is logged as the event's
text).  Alignment, in two steps (docs/trials.md, "Network input"):

1. sender clock → this host's clock: LSL's ``time_correction()`` (liblsl measures the
   offset between the two machines' clocks with NTP-like probes and keeps it up to date;
   0 on one host);
2. this host's clock → sample index: ``daq.clock_fit.SampleClockFit``, the lower envelope of
   the host times at which AI blocks arrived.

Each message becomes a ``trial_start``/``trial_stop`` ``LogEvent`` at its aligned sample,
released once that sample has been read (a message can arrive before the block holding its
sample), with a NOTE saying how it was aligned and how well.  ``TrialInputDevice`` wraps the
device so that the engine drains both through ``drain_events`` (``EventSource``); the device's
own trial events are dropped there — the network is the trial source of such a run.

Threads: a reader thread pulls the LSL inlet (blocking pulls never reach the engine);
``TrialInputDevice`` and ``LslTrialInput.events_before`` run on the engine thread.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from daq.clock_fit import SampleClockFit
from daq.errors import ConfigError
from daq.types import EventKind, LogEvent

KINDS = {"trial_start": EventKind.TRIAL_START, "trial_stop": EventKind.TRIAL_STOP}
SILENT_WARNING_S = 30.0  # one warning when no message came in this long from the start


@dataclass(frozen=True)
class TrialMessage:
    """One message as received: its kind, text, the sender's timestamp and LSL's clock
    correction at the time (host time of the event = ``sender_s + correction_s``)."""

    kind: EventKind
    text: str
    sender_s: float
    correction_s: float

    @property
    def host_s(self) -> float:
        return self.sender_s + self.correction_s


def _quiet_liblsl() -> None:
    """liblsl logs INFO lines to stderr; with no LSL configuration of the user's (liblsl reads
    $LSLAPICFG, ./lsl_api.cfg, ~/lsl_api/lsl_api.cfg, /etc/lsl_api/lsl_api.cfg, in this order),
    point it at one that logs errors only.  Before pylsl loads liblsl."""
    places = [Path("lsl_api.cfg"), Path.home() / "lsl_api" / "lsl_api.cfg", Path("/etc/lsl_api/lsl_api.cfg")]
    if "LSLAPICFG" in os.environ or any(p.is_file() for p in places):
        return
    cfg = Path(tempfile.gettempdir()) / f"ionto-lsl-{os.getuid() if hasattr(os, 'getuid') else 0}.cfg"
    if not cfg.is_file():
        cfg.write_text("[log]\nlevel = -2\n")
    os.environ["LSLAPICFG"] = str(cfg)


def network_stream_name(spec: str) -> str:
    """``"lsl:STREAMNAME"`` → ``"STREAMNAME"``: the one form a network trial input is written in
    (``--trials-from``, and the rig file's ``trial_input: {network: ...}``); ``ValueError`` (one
    line saying what is accepted; the caller names the value) for anything else."""
    scheme, _, name = str(spec).strip().partition(":")
    if scheme != "lsl" or not name.strip():
        raise ValueError("expected lsl:STREAMNAME (a Lab Streaming Layer marker stream)")
    return name.strip()


def open_trial_input(spec: str, *, resolve_timeout_s: float = 5.0, where: str = "--trials-from") -> LslTrialInput:
    """The trial input ``spec`` names (``lsl:STREAMNAME``); ``where`` says where it was written
    (the option, or the rig file's field) in the one-line error."""
    try:
        name = network_stream_name(spec)
    except ValueError as exc:
        raise ConfigError(f"{where} {spec!r}: {exc}") from None
    try:
        return LslTrialInput(name, resolve_timeout_s=resolve_timeout_s)
    except ConfigError as exc:  # no such stream, or not a marker stream: say where it was named
        raise ConfigError(f"{where}: {exc}") from None


def parse_message(raw: str, source: str) -> tuple[EventKind, str]:
    """``"trial_start trial=3 code=5 ..."`` → (kind, text); one line naming what is accepted."""
    word, _, rest = raw.strip().partition(" ")
    if word not in KINDS:
        raise ConfigError(f"{source}: message {raw[:80]!r} does not start with one of {sorted(KINDS)}")
    return KINDS[word], rest.strip()


class LslTrialInput:
    """Reads a task's LSL marker stream named ``stream_name`` (a thread) and aligns its
    messages to the sample clock.  Raises ``ConfigError`` (one line) when no such stream is
    found within ``resolve_timeout_s``.  ``close()`` stops the thread."""

    def __init__(self, stream_name: str, *, resolve_timeout_s: float = 5.0, correction_every_s: float = 2.0):
        _quiet_liblsl()
        import pylsl

        self._lsl = pylsl
        self.source = f"lsl:{stream_name}"
        found = pylsl.resolve_byprop("name", stream_name, minimum=1, timeout=resolve_timeout_s)
        if not found:
            raise ConfigError(f"{self.source}: no Lab Streaming Layer stream named {stream_name!r} found within "
                              f"{resolve_timeout_s:g} s; start the task software's marker stream first")
        info = found[0]
        if info.channel_format() != pylsl.cf_string or info.channel_count() != 1:
            raise ConfigError(f"{self.source}: the stream must be a marker stream (1 string channel), got "
                              f"{info.channel_count()} channel(s) of format {info.channel_format()}")
        self._inlet = pylsl.StreamInlet(info, max_buflen=60)
        self._inlet.open_stream(timeout=resolve_timeout_s)
        self.correction_s = self._inlet.time_correction(timeout=resolve_timeout_s)
        self._correction_every_s = correction_every_s
        self._lock = threading.Lock()
        self._received: deque[TrialMessage] = deque()
        self._held: list[TrialMessage] = []  # received, sample not read yet (engine thread)
        self.problems: list[str] = []
        self.aligned = 0
        self.max_bound_s = 0.0
        self._fit: SampleClockFit | None = None  # the fit of the last alignment (for the summary)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pull, name=f"{self.source} reader", daemon=True)
        self._thread.start()

    # --- the reader thread ---------------------------------------------------------------
    def _pull(self) -> None:
        next_correction = self._lsl.local_clock() + self._correction_every_s
        while not self._stop.is_set():
            try:
                sample, ts = self._inlet.pull_sample(timeout=0.1)
                if self._lsl.local_clock() >= next_correction:
                    self.correction_s = self._inlet.time_correction(timeout=0.5)
                    next_correction = self._lsl.local_clock() + self._correction_every_s
            except (TimeoutError, self._lsl.LostError) as exc:  # the sender went away: say so once, read on
                with self._lock:
                    self.problems.append(f"{self.source}: {exc or type(exc).__name__}")
                continue
            if sample is None:
                continue
            try:
                kind, text = parse_message(sample[0], self.source)
            except ConfigError as exc:
                with self._lock:
                    self.problems.append(str(exc))
                continue
            with self._lock:
                self._received.append(TrialMessage(kind, text, float(ts), float(self.correction_s)))

    # --- the engine thread ---------------------------------------------------------------
    def events_before(self, read_end: int, fit: SampleClockFit) -> list[LogEvent]:
        """Trial events (and their alignment notes, and problems as warnings) whose aligned
        sample is below ``read_end``, the end of the block just read."""
        with self._lock:
            self._held.extend(self._received)
            self._received.clear()
            problems, self.problems = self.problems, []
        out = [LogEvent(max(read_end - 1, 0), EventKind.WARNING, text=p) for p in problems]
        self._fit = fit
        if not self._held or fit.blocks < fit.window_blocks:  # the first blocks may come late (start-up)
            return out
        keep: list[TrialMessage] = []
        for m in self._held:
            index = round(fit.sample_at(m.host_s))
            if index >= read_end:
                keep.append(m)
                continue
            index = max(index, 0)
            bound = fit.error_bound_s
            self.max_bound_s = max(self.max_bound_s, bound)
            self.aligned += 1
            out.append(LogEvent(index, m.kind, text=m.text))
            out.append(LogEvent(index, EventKind.NOTE, text=(
                f"{m.kind.value} from {self.source}: sender t={m.sender_s:.6f} s, LSL clock correction "
                f"{m.correction_s * 1e3:.3f} ms, sample clock fit within {bound * 1e3:.3f} ms ({fit.blocks} blocks)")))
        self._held = keep
        return out

    def summary(self) -> dict:
        """For the run summary: messages aligned, the largest fit spread, the last correction,
        and how many acquisition-count brackets the fit took (0: block arrivals alone bound the
        clock) with their mean width (the count query's round trip)."""
        fit = self._fit
        counts = fit.counts if fit is not None else 0
        return {"source": self.source, "messages_aligned": self.aligned, "held": len(self._held),
                "max_fit_error_bound_ms": self.max_bound_s * 1e3, "lsl_clock_correction_ms": self.correction_s * 1e3,
                "count_brackets": counts,
                "count_round_trip_ms_mean": fit.count_width_s_sum / counts * 1e3 if counts else None}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._inlet.close_stream()


class TrialInputDevice:
    """A device whose trial events come from a network input (see the module docstring).

    Forwards the ``Device`` protocol to ``inner``; stamps each block's arrival on the host
    clock (``clock``, by default LSL's ``local_clock``) for the sample clock fit, with the
    device's live acquisition count when it has one (``samples_acquired()``: the simulated
    rig's pace; on NI, ``TotalSampPerChanAcquired``, ``daq.ni.device.NIDevice``); drains the
    inner device's events (except its trial events) and the input's aligned events.  Build it
    with ``with_trial_input`` so that the inner device's optional protocols stay visible.
    All methods: the engine thread."""

    def __init__(self, inner, trial_input: LslTrialInput, clock: Callable[[], float] | None = None):
        self.inner = inner
        self.name = inner.name
        self.trial_input = trial_input
        if clock is None:
            import pylsl

            clock = pylsl.local_clock
        self._clock = clock
        self.fit: SampleClockFit | None = None
        self._read_end = 0
        self._started_at: float | None = None
        self._warned_silent = False
        self._count: Callable[[], int] | None = getattr(inner, "samples_acquired", None)

    def describe(self):
        return self.inner.describe()

    def configure(self, config):
        self.fit = SampleClockFit(config.rate_hz)
        return self.inner.configure(config)

    def start(self) -> None:
        self.inner.start()
        self._started_at = self._clock()

    def read(self, n_samples: int, timeout_s: float):
        block = self.inner.read(n_samples, timeout_s)
        arrived = self._clock()
        assert self.fit is not None
        if self._count is not None:  # the device's live acquisition count: a bracket on the clock
            asked = self._clock()
            acquired = self._count()
            self.fit.add_count(acquired, asked, self._clock())
        self.fit.add_block(block.end_index, arrived)
        self._read_end = block.end_index
        return block

    @property
    def ao_write_index(self) -> int:
        return self.inner.ao_write_index

    def write_ao(self, start_index, volts) -> None:
        self.inner.write_ao(start_index, volts)

    def write_safe(self, volts) -> None:
        self.inner.write_safe(volts)

    def stop(self) -> None:
        self.inner.stop()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.trial_input.close()

    def drain_events(self) -> list[LogEvent]:
        own = getattr(self.inner, "drain_events", None)
        out = [e for e in (own() if own else []) if e.kind not in KINDS.values()]
        if self.fit is not None:
            out.extend(self.trial_input.events_before(self._read_end, self.fit))
        if (not self._warned_silent and self._started_at is not None and self.trial_input.aligned == 0
                and not self.trial_input._held and self._clock() - self._started_at > SILENT_WARNING_S):
            self._warned_silent = True
            out.append(LogEvent(max(self._read_end - 1, 0), EventKind.WARNING, text=(
                f"{self.trial_input.source}: no trial message received in the first {SILENT_WARNING_S:g} s of the "
                "run; is the task software sending?")))
        out.sort(key=lambda e: e.sample_index)
        return out


_OPTIONAL = {"Restartable": ("rearm",), "AOStatus": ("ao_generated_index", "ao_space"),
             "TruthSource": ("drain_truth", "truth_metadata"), "StimulusOutput": ("show_stimulus",)}


def _forward(method: str):
    def call(self, *args, **kwargs):
        return getattr(self.inner, method)(*args, **kwargs)

    call.__name__ = method
    return call


def with_trial_input(device, trial_input: LslTrialInput, clock: Callable[[], float] | None = None) -> TrialInputDevice:
    """Wrap ``device`` so its trial events come from ``trial_input``; the optional protocols
    the device implements (``daq.device``: Restartable, AOStatus, TruthSource,
    StimulusOutput) are forwarded, the others stay absent."""
    import daq.device as protocols

    methods = {m: _forward(m) for proto, ms in _OPTIONAL.items()
               if isinstance(device, getattr(protocols, proto)) for m in ms}
    cls = type("TrialInputDevice", (TrialInputDevice,), methods)
    return cls(device, trial_input, clock)
