"""The device bar: which device (simulated rig + preset, NI device, NI gRPC server, a file to
replay), connect/disconnect, what it acquires, and live acquisition status.

Thread: GUI thread only.  ``connect_requested`` / ``disconnect_requested`` are emitted for
the window, which opens the device on a worker thread.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QWidget,
)

from app.live import LiveStatus, sim_presets
from daq.types import StreamInfo

KINDS = [("sim", "Simulated rig"), ("ni", "NI device"), ("ni+grpc", "NI gRPC server"), ("replay", "Replay file")]
SPEEDS = [("1× real time", 1.0), ("2×", 2.0), ("5×", 5.0), ("10×", 10.0), ("20×", 20.0)]


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


class DeviceBar(QWidget):
    connect_requested = pyqtSignal()
    disconnect_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.kind.setToolTip("Which device to acquire from")
        lay.addWidget(self.kind)
        self.stack = QStackedWidget()
        self.preset = QComboBox()
        self.preset.addItems(sim_presets())  # (not mock_daq.list_presets: the simulator loads scipy, numba)
        self.preset.setToolTip("Simulated rig preset (mock_daq/presets)")
        self.ni_device = QLineEdit("Dev1")
        self.ni_device.setToolTip("NI-DAQmx device name, as in NI MAX")
        self.grpc_url = QLineEdit("ni+grpc://localhost:31763/Dev1")
        self.grpc_url.setToolTip("ni+grpc://HOST:PORT/DEVICE of an NI gRPC device server")
        replay = QWidget()
        rl = QHBoxLayout(replay)
        rl.setContentsMargins(0, 0, 0, 0)
        self.replay_path = QLineEdit()
        self.replay_path.setPlaceholderText("recording.h5")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_replay)
        rl.addWidget(self.replay_path, 1)
        rl.addWidget(browse)
        for w in (self.preset, self.ni_device, self.grpc_url, replay):
            self.stack.addWidget(w)
        self.stack.setMinimumWidth(150)
        lay.addWidget(self.stack)
        self.rig_path = QLineEdit()
        self.rig_path.setPlaceholderText("rig file (NI)")
        self.rig_path.setToolTip("Rig YAML (channels, pipette, gains); needed for NI devices")
        self.rig_path.setMaximumWidth(160)
        lay.addWidget(self.rig_path)
        self.speed = QComboBox()
        for label, v in SPEEDS:
            self.speed.addItem(label, v)
        self.speed.setToolTip("Simulation / replay speed")
        lay.addWidget(self.speed)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setCheckable(False)
        self.connect_button.clicked.connect(self._on_button)
        lay.addWidget(self.connect_button)
        self.info = QLabel("not connected")
        lay.addWidget(self.info)
        self.status = QLabel("")  # as wide as the bar leaves: a long status never widens the window
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMinimumWidth(120)
        lay.addWidget(self.status, 1)
        self.kind.currentIndexChanged.connect(self._on_kind)
        self._connected = False
        self._on_kind(0)

    # --- what the user chose ---------------------------------------------------------------
    def url(self) -> str:
        k = self.kind.currentData()
        if k == "sim":
            return f"sim:{self.preset.currentText()}"
        if k == "ni":
            return f"ni:{self.ni_device.text().strip()}"
        if k == "ni+grpc":
            return self.grpc_url.text().strip()
        return f"replay:{self.replay_path.text().strip()}"

    def set_url(self, url: str) -> None:
        if url.startswith("sim"):
            self.kind.setCurrentIndex(0)
            if ":" in url:
                self.preset.setCurrentText(url.split(":", 1)[1])
        elif url.startswith("ni+grpc"):
            self.kind.setCurrentIndex(2)
            self.grpc_url.setText(url)
        elif url.startswith("ni:"):
            self.kind.setCurrentIndex(1)
            self.ni_device.setText(url[3:])
        elif url.startswith("replay:"):
            self.kind.setCurrentIndex(3)
            self.replay_path.setText(url[7:])

    def rig(self) -> str | None:
        return self.rig_path.text().strip() or None

    def speed_factor(self) -> float:
        return float(self.speed.currentData())

    def set_speed(self, factor: float | None) -> None:
        """Select a speed factor (added to the list if it is not there; None/0 = real time)."""
        factor = float(factor or 1.0)
        i = self.speed.findData(factor)
        if i < 0:
            self.speed.addItem(f"{factor:g}×", factor)
            i = self.speed.count() - 1
        self.speed.setCurrentIndex(i)

    def _on_kind(self, i: int) -> None:
        self.stack.setCurrentIndex(i)
        k = self.kind.currentData()
        self.speed.setEnabled(k in ("sim", "replay"))
        self.rig_path.setEnabled(k != "replay")

    def _browse_replay(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Replay a recording", "", "ionto recordings (*.h5 *.hdf5)")
        if path:
            self.replay_path.setText(path)

    def _on_button(self) -> None:
        if self._connected:
            self.disconnect_requested.emit()
        else:
            self.connect_requested.emit()

    # --- what the window tells it ------------------------------------------------------------
    def set_connecting(self) -> None:
        self.connect_button.setEnabled(False)
        self.info.setText("connecting…")

    def set_connected(self, connected: bool, stream: StreamInfo | None = None) -> None:
        self._connected = connected
        self.connect_button.setEnabled(True)
        self.connect_button.setText("Disconnect" if connected else "Connect")
        for w in (self.kind, self.stack, self.rig_path):
            w.setEnabled(not connected)
        self.speed.setEnabled(not connected and self.kind.currentData() in ("sim", "replay"))
        if connected and stream is not None:
            self.info.setText(f"<b>{stream.rate_hz / 1000:g} kHz</b> · {stream.n_channels} channels")
        elif not connected:
            self.info.setText("not connected")
            self.status.setText("")
            self.status.setToolTip("")

    def show_status(self, s: LiveStatus) -> None:
        lost = f"<span style='color:#c0392b'><b>{s.gaps} gaps, {s.lost_samples} lost</b></span>" \
            if s.gaps else "no gaps"
        rec = (f"<span style='color:#c0392b'>● REC</span> {human_bytes(s.recording_bytes)}"
               if s.recording_path else "not recording")
        text = (f"{s.state} · t = {s.time_s:7.1f} s · AO buffer {100 * s.ao_lead_fill:3.0f} % · "
                f"history {s.ring_fill_s:.0f}/{s.ring_capacity_s:.0f} s · {lost} · {rec} · "
                f"free {human_bytes(s.free_bytes)}")
        self.status.setText(text)
        self.status.setToolTip(text)  # the whole line, where the bar is too narrow to show it
