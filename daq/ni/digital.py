"""Digital lines on the AI sample clock: trial events in (rig ``trial_input:``) and the sync
pulse train out (rig ``sync_out:``), docs/trials.md.

* ``TrialInput``: a buffered DI task on the trial, code and strobe lines of port 0, clocked by
  ``/DEV/ai/SampleClock`` and started before AI, so DI sample *i* is latched with AI sample *i*
  (NI, "DI Sample Clock Signal", e.g. ni.com/docs/en-US/bundle/cdaq-9183/page/
  di-sample-clock-signal.html and the S Series Help: AI Sample Clock is one of its internal
  sources, and the same clock for AI and DI correlates their samples in time; the task as in
  nidaqmx-python ``examples/digital_in/cont_acq_dig_lines_int_clk.py`` with
  ``timing.cfg_samp_clk_timing(source="/DEV/ai/SampleClock")``).  One channel for all its lines
  (``LineGrouping.CHAN_FOR_ALL_LINES``), read as 32-bit port words (``DigitalSingleChannelReader
  .read_many_sample_port_uint32``: bit *k* is line *k* of the port), after each AI block, the
  same number of samples; ``daq.trials.DigitalTrialDecoder`` turns them into trial events at
  the edge's sample.
* ``SyncOutput``: a buffered DO task on one port 0 line, clocked by ``/DEV/ai/SampleClock``,
  regeneration off, written ``LEAD_S`` ahead of the AI read after every read (like AO; the
  train never repeats, so it cannot be a regenerated buffer); running out is an output
  underflow, which the engine handles as for AO (restart, gap).  Its ``sync`` events come
  from the same schedule (``daq.sync.SyncTrain``), logged once the AI read passes their sample.

Both tasks start before AI and stop after everything else: a stop writes the retain levels
first (``NIDevice.write_safe``), these tasks play no part in that.

Thread: the engine thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nidaqmx.constants import AcquisitionType, LineGrouping, OverwriteMode, RegenerationMode
from nidaqmx.stream_readers import DigitalSingleChannelReader
from nidaqmx.stream_writers import DigitalSingleChannelWriter

from daq.errors import DeviceError
from daq.ni.connection import NIConnection
from daq.ni.errors import NI_ERRORS, close_tasks, translate
from daq.rig import port0_line
from daq.sync import SyncTrain
from daq.trials import DigitalTrialDecoder
from daq.types import LogEvent

LEAD_S = 1.0  # the sync line is written this far ahead of the AI read


class TrialInput:
    """The trial lines of ``config`` (a ``daq.rig.TrialInputConfig``).  The decoder lives as long
    as the device, across restarts (a trial open at an overflow stays open)."""

    def __init__(self, conn: NIConnection, config: Any, where: str):
        self.conn = conn
        self.config = config
        self.where = where
        trial, codes, strobe = config.line_numbers()
        self.decoder = DigitalTrialDecoder(trial, codes, strobe,
                                           {int(k): dict(v) for k, v in config.conditions.items()})
        self.task: Any = None
        self._reader: DigitalSingleChannelReader | None = None
        self._buf = np.zeros(0, dtype=np.uint32)

    def create(self, name: str, terminal_device: str, rate_hz: float, buffer_samples: int) -> None:
        self.task = self.conn.task(name)
        self.task.di_channels.add_di_chan(",".join(self.config.lines), name_to_assign_to_lines="trials",
                                          line_grouping=LineGrouping.CHAN_FOR_ALL_LINES)
        self.task.timing.cfg_samp_clk_timing(rate_hz, source=f"/{terminal_device}/ai/SampleClock",
                                             sample_mode=AcquisitionType.CONTINUOUS, samps_per_chan=buffer_samples)
        self.task.in_stream.input_buf_size = buffer_samples
        self.task.in_stream.overwrite = OverwriteMode.DO_NOT_OVERWRITE_UNREAD_SAMPLES
        self._reader = DigitalSingleChannelReader(self.task.in_stream)
        self._reader.verify_array_shape = False

    def start(self) -> None:
        self.task.start()

    def read(self, first_index: int, n_samples: int, timeout_s: float) -> list[LogEvent]:
        """The words of the samples the AI block just read (``first_index`` = its first sample)
        → trial events."""
        if self._reader is None:
            return []
        if self._buf.shape[0] != n_samples:
            self._buf = np.zeros(n_samples, dtype=np.uint32)
        try:
            got = self._reader.read_many_sample_port_uint32(self._buf, n_samples, timeout_s)
        except NI_ERRORS as exc:
            raise translate(exc, self.where, "reading the trial input lines") from None
        if got != n_samples:
            raise DeviceError(f"{self.where}: asked the trial input lines for {n_samples} samples, got {got}")
        return self.decoder.feed(first_index, self._buf)

    def close(self) -> None:
        close_tasks([self.task], self.where, "the trial input task")
        self.task, self._reader = None, None


class SyncOutput:
    """The sync train of ``config`` (a ``daq.rig.SyncOutConfig``) on its line.  One train for
    the run, on run sample indices: after a restart the task goes on with the train where the
    run is (the pulses of the gap are neither generated nor logged), so a pulse number is
    never reused."""

    def __init__(self, conn: NIConnection, config: Any, where: str, lead_s: float = LEAD_S):
        self.conn = conn
        self.config = config
        self.where = where
        self.lead_s = lead_s
        self.train: SyncTrain | None = None
        self.task: Any = None
        self._writer: DigitalSingleChannelWriter | None = None
        self._shift = np.uint32(port0_line(config.line)[1])
        self._lead = 0
        self._origin = 0  # the run's sample index of the task's sample 0
        self._written = 0  # task samples written
        self._logged_to = 0  # sync events are logged for run samples below this

    def create(self, name: str, terminal_device: str, rate_hz: float) -> None:
        if self.train is None or self.train.rate_hz != rate_hz:
            self.train = SyncTrain(self.config, rate_hz)
        self._lead = max(1000, round(self.lead_s * rate_hz))
        self.task = self.conn.task(name)
        self.task.do_channels.add_do_chan(self.config.line, name_to_assign_to_lines="sync",
                                          line_grouping=LineGrouping.CHAN_FOR_ALL_LINES)
        self.task.timing.cfg_samp_clk_timing(rate_hz, source=f"/{terminal_device}/ai/SampleClock",
                                             sample_mode=AcquisitionType.CONTINUOUS, samps_per_chan=3 * self._lead)
        self.task.out_stream.regen_mode = RegenerationMode.DONT_ALLOW_REGENERATION
        self.task.out_stream.output_buf_size = 3 * self._lead
        self._writer = DigitalSingleChannelWriter(self.task.out_stream, auto_start=False)
        self._writer.verify_array_shape = False
        self._written = 0

    def start(self, first_index: int) -> None:
        """``first_index``: the run's sample index of the task's sample 0 (the AI's); the line's
        first ``lead_s`` are written before the start."""
        self._origin = first_index
        self._logged_to = max(self._logged_to, first_index)
        self._write_to(self._lead)
        self.task.start()

    def _write_to(self, task_samples: int) -> None:
        n = task_samples - self._written
        if n <= 0 or self.train is None or self._writer is None:
            return
        words = self.train.levels(self._origin + self._written, n, since=self._origin).astype(np.uint32) \
            << self._shift
        try:
            self._writer.write_many_sample_port_uint32(words, timeout=10.0)
        except NI_ERRORS as exc:
            raise translate(exc, self.where, "writing the sync output line") from None
        self._written += n

    def after_read(self, stop_index: int) -> list[LogEvent]:
        """After an AI read up to ``stop_index``: keep the line written ``lead_s`` ahead, and
        the ``sync`` events of the rises below ``stop_index`` not logged yet."""
        if self.train is None or stop_index <= self._logged_to:
            return []
        self._write_to(stop_index - self._origin + self._lead)
        out = self.train.events(self._logged_to, stop_index)
        self._logged_to = stop_index
        return out

    def close(self) -> None:
        close_tasks([self.task], self.where, "the sync output task")
        self.task, self._writer = None, None
