"""The per-channel controls of the traces: which channel, its display gain, whether its lane
is shown.

Constructed with the connection's ``TraceModel`` (napari's split: a widget takes its model
and subscribes): the controls set the model's gain and visibility, and follow the model's
events whoever changed them (these controls, a workspace).  They are made anew on each
connection with its ``TracePlot`` (a new stream has other channels) and placed by the
``TracesView`` in its bar.
Thread: GUI thread only (the model's events are emitted on the GUI thread).
"""

from __future__ import annotations

from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QWidget

from app.gui.models.traces import TraceModel

GAINS = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]


class ChannelControls(QWidget):
    def __init__(self, model: TraceModel, selected_channel: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.channel = QComboBox()
        self.channel.setToolTip("The channel whose gain and visibility the next two controls set")
        for i, v in enumerate(model.channels):
            self.channel.addItem(v.name, i)
        self.channel.setCurrentIndex(selected_channel)
        self.channel.currentIndexChanged.connect(self._show_channel_settings)
        lay.addWidget(self.channel)
        self.gain = QComboBox()
        for g in GAINS:
            self.gain.addItem(f"×{g:g}", g)
        self.gain.setToolTip("Display gain of the chosen channel (y zoom)")
        self.gain.currentIndexChanged.connect(self._on_gain)
        lay.addWidget(self.gain)
        self.visible = QCheckBox("shown")
        self.visible.toggled.connect(self._on_visible)
        lay.addWidget(self.visible)
        model.gain_changed.connect(self._show_channel_settings)
        model.visibility_changed.connect(self._show_channel_settings)
        self._show_channel_settings()

    def detach(self) -> None:
        """Stop following the model (its connection is over)."""
        self.model.gain_changed.disconnect(self._show_channel_settings)
        self.model.visibility_changed.disconnect(self._show_channel_settings)

    def _selected(self) -> int | None:
        i = self.channel.currentData()
        return None if i is None else int(i)

    def _show_channel_settings(self, *_args: object) -> None:
        i = self._selected()
        if i is None:
            return
        v = self.model.channels[i]
        self.gain.blockSignals(True)
        self.gain.setCurrentIndex(min(range(len(GAINS)), key=lambda k: abs(GAINS[k] - v.gain)))
        self.gain.blockSignals(False)
        self.visible.blockSignals(True)
        self.visible.setChecked(v.visible)
        self.visible.blockSignals(False)

    def _on_gain(self, *_args: object) -> None:
        i = self._selected()
        if i is not None:
            self.model.set_gain(i, float(self.gain.currentData()))  # -> gain_changed

    def _on_visible(self, on: bool) -> None:
        i = self._selected()
        if i is not None:
            self.model.set_visible(i, on)  # -> visibility_changed
