"""What the rig window does for recording: start (to a path or the panel's file-name
template), show the state the engine confirmed, and add notes to the running file.

The panel says "recording" only once the engine has started the file: it follows the
``SessionModel``, which the bridge feeds with the engine's ``RecordingChanged``; a recorder
that cannot start reports its error as a banner.  Thread: GUI thread only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from app.gui.models.recording import render_template
from daq.errors import IontoError

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def start_recording(win: MainWindow, path: str | os.PathLike[str] | None = None) -> None:
    """Ask the engine to record (to ``path``, else the panel's template)."""
    p = win.recording_panel
    try:
        if path is None:
            loaded = win.protocol_model.loaded
            name = loaded.plan.info.name if (loaded and loaded.plan) else "manual"
            path = render_template(p.template.text(), p.directory.text() or ".", protocol=name,
                                   device=win.session.device_url.split(":")[0])
        win.session.start_recording(path, notes=p.notes.toPlainText())
    except (IontoError, ValueError) as exc:
        win.banners.show_message("error", "could not start recording", str(exc))
        return
    if win.session.recording_starting:
        win.statusBar().showMessage(f"starting the recording to {path} ...", 10000)


def add_note(win: MainWindow, text: str) -> None:
    """Add the notes to the running file; drawn on the traces where they were added (the
    recorder keeps notes as text, not as logged events)."""
    if not win.session.recording or not text.strip():
        win.statusBar().showMessage("notes go into a running recording: start recording first", 5000)
        return
    try:
        win.session.add_note(text)
    except RuntimeError as exc:
        win.banners.show_message("warning", str(exc))
        return
    m, plot = win.trace_model, win.traces.plot_view
    if m is not None and plot is not None:
        plot.annotations.add(m.end_index / m.rate_hz, "note", text)
