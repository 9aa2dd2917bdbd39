"""The rig window's frame clock: the timer that pulls new samples from the display ring into
the trace model and draws them, and the slower refreshes that ride on it (barrels, status,
protocol progress ~10 Hz; ratemeter, raster and waveforms ~4 Hz; dose-response and trials ~1 Hz;
the slow work is spread over frames so that no one frame carries it all).

Samples never cross threads through Qt signals (DESIGN.md §3, step 5): the clock reads
``LiveSession.read_since`` — a snapshot of the ring — each frame.  The pacing (``FRAME_MS``,
``POLL_MS``, ``_tick``) is tuned for the frames/s target (docs/gui.md, Speed): a block is drawn
as soon as it is in the ring, and between blocks the view scrolls at the frame pace.

Thread: everything here runs on the GUI thread (``_tick`` is a ``QTimer`` slot).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import Qt, QTimer

from app.gui import trial_view
from app.gui.models.raster import spike_waveforms
from app.gui.palette import barrel_colour

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

FRAME_MS = 15  # the frame pace between blocks: ~65 Hz asked, so that ≥ 60 frames/s are drawn
POLL_MS = 5  # how often the frame timer looks for new samples (a cheap index comparison)
SLOW_EVERY = 6  # barrels, status, protocol progress: every 6th frame (~10 Hz)
RATE_EVERY = 15  # ratemeter, raster, waveforms: every 15th frame (~4 Hz)
GUI_BLOCK_S = 0.015  # engine block of a rig-window session when the rig file sets none (50 ms otherwise)


class FrameClock:
    """The window's frame timer and what it draws.  ``frames`` counts the frames drawn."""

    def __init__(self, win: MainWindow, frame_ms: int = FRAME_MS):
        self.win = win
        self.frame_ms = frame_ms
        self.frames = 0
        self.reingest = False  # re-read recent history at the next frame (new columns)
        self._last_frame_s = 0.0
        # the dose-response fits' spikes (detector's kept spikes, from, to): read by its view
        self.dose_spikes: tuple[np.ndarray, int, int] = (np.zeros(0, dtype=np.int64), 0, 0)
        self.timer = QTimer(win)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(min(POLL_MS, frame_ms))
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        """A new connection's models are in: draw them."""
        self.dose_spikes = (np.zeros(0, dtype=np.int64), 0, 0)
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def on_columns_reset(self) -> None:
        """The trace model rebuilt its columns (a new window length): re-read recent history."""
        self.reingest = True

    def _tick(self) -> None:
        """The frame timer (every ``POLL_MS``): draw as soon as new samples are in the display
        ring — a block then waits for no frame period before it is on screen — and otherwise
        at the frame pace (``frame_ms``), which keeps the view scrolling between blocks."""
        now = time.monotonic()
        m = self.win.controller.trace_model
        fresh = m is None or m.next_index is None or self.reingest or self.win.session.end_index > m.next_index
        if not fresh and now - self._last_frame_s < self.frame_ms / 1000.0:
            return
        self._last_frame_s = now
        self.refresh()

    def refresh(self) -> None:
        """One frame: the new samples into the trace model, the traces drawn."""
        m, session = self.win.controller.trace_model, self.win.session
        if m is None:
            return
        cap = int(m.needs_history_s * m.rate_hz)  # after a stall, catch up with at most this much
        if m.next_index is None or self.reingest:
            start = max(0, session.end_index - int(m.needs_history_s * m.rate_hz))
            self.reingest = False
        else:
            start = m.next_index
        got = session.read_since(start, cap)
        if got is not None:
            m.ingest(*got)
        self.win.traces.refresh()
        self.frames += 1
        now = m.end_index
        if self.frames % SLOW_EVERY == 0:
            self._refresh_slow(now)
        phase = self.frames % RATE_EVERY  # the ~4-Hz work, spread over three frames so none carries it all
        if phase == 0:
            self._refresh_rates(now)
        elif phase == RATE_EVERY // 3:
            self._refresh_waveforms()
        elif self.frames % (RATE_EVERY * 4) == 2 * RATE_EVERY // 3:
            self._refresh_fits(now)

    def _refresh_slow(self, now: int) -> None:
        win, c = self.win, self.win.controller
        if c.barrel_model is not None:
            for name in c.barrel_model.update_monitors(win.session.monitor_currents(), now):
                win.banners.show_message("error", f"barrel {name}: {c.barrel_model.row(name).alarm}",
                                         "The monitored current does not follow the command: the current "
                                         "source is at its compliance voltage (a blocked or broken barrel).")
            win.barrels.refresh(now)
            win.safety.refresh()
        win.device_bar.show_status(win.session.status())
        if c.replay_control is not None:
            c.replay_control.refresh()  # -> the overview's position line and readout
        win.protocol_panel.refresh(now)

    def _rate_spikes(self, now: int) -> np.ndarray:
        """The detected spikes of the ratemeter's span (and a minute before it)."""
        rm = self.win.controller.rate_model
        return self.win.session.spike_indices(max(0, now - int((rm.span_s + 60) * rm.rate_hz)))

    def _refresh_rates(self, now: int) -> None:
        """The ratemeter, the ejection bars on the traces and the cursors' read-out (~4 Hz)."""
        win = self.win
        win.rates.refresh(self._rate_spikes(now), now)
        self.show_trace_bars(now)
        if win.traces.plot_view is not None:
            win.traces.plot_view.update_cursor_readout()

    def _refresh_waveforms(self) -> None:
        """The last second's spike waveforms (~4 Hz, a third of a cycle after the ratemeter)."""
        win, rm = self.win, self.win.controller.rate_model
        snap = win.session.electrode_snapshot(1.0)
        if snap is not None:
            t, uV = snap
            start = round(t[0] * rm.rate_hz)
            win.rates.show_waveforms(*spike_waveforms(uV, start, win.session.spike_indices(start), rm.rate_hz))

    def _refresh_fits(self, now: int) -> None:
        """The dose-response points and the trials (~1 Hz, in a frame of their own)."""
        win, c = self.win, self.win.controller
        if c.dose_model is None:
            return
        session, rm = win.session, c.rate_model
        keep = session.detector.keep_s if session.detector is not None else 0
        since = max(0, now - int(keep * rm.rate_hz))
        self.dose_spikes = (session.spike_indices(since), since, now)  # the fits' spikes
        c.dose_model.update(self._rate_spikes(now), now, since)  # -> points_changed -> the view refits
        trial_view.refresh(win, now)

    def show_trace_bars(self, now: int) -> None:
        """The ejections of the scroll-back history as bars on the traces (at once when a
        current changes, and with the ratemeter a few times a second)."""
        c = self.win.controller
        plot, rm = self.win.traces.plot_view, c.rate_model
        if plot is None or c.trace_model is None:
            return
        ann = plot.annotations
        history = int(c.trace_model.history_s * rm.rate_hz)
        n_barrels = len(rm.pipette.barrels) if rm.pipette is not None else 0
        ann.show_bars([b for b in rm.visible_bars(now) if b[2] * rm.rate_hz >= now - history],
                      {i: barrel_colour(i) for i in range(n_barrels)})
        ann.prune(max(0.0, (now - history) / rm.rate_hz))
