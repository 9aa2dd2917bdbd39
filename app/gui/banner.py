"""Non-modal error and warning banners at the top of the window, with details on demand.

Thread: GUI thread only.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

STYLES = {
    "error": "background:#fde2e1; border:1px solid #d9534f; color:#7a1f1d;",
    "warning": "background:#fff4d6; border:1px solid #e0a800; color:#6b4e00;",
    "info": "background:#e3f1fd; border:1px solid #3b8ed9; color:#12456e;",
}


class Banner(QFrame):
    """One message: a headline, an optional details text, a dismiss button."""

    def __init__(self, level: str, text: str, details: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.level, self.text, self.details = level, text, details
        self.setObjectName("banner")
        self.setStyleSheet(f"#banner {{{STYLES.get(level, STYLES['info'])} border-radius:4px;}}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        top = QHBoxLayout()
        self.label = QLabel(f"<b>{level.upper()}</b>  {text}")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.label, 1)
        self.details_label = QLabel(details)
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label.setVisible(False)
        if details:
            self.details_button = QPushButton("Details")
            self.details_button.setCheckable(True)
            self.details_button.toggled.connect(self.details_label.setVisible)
            top.addWidget(self.details_button)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.dismiss)
        top.addWidget(close)
        lay.addLayout(top)
        lay.addWidget(self.details_label)

    def dismiss(self) -> None:
        self.dismissed = True
        self.hide()
        self.deleteLater()

    dismissed = False


class BannerArea(QWidget):
    """A stack of banners; repeated messages are folded into one (with a count)."""

    def __init__(self, max_banners: int = 4, parent: QWidget | None = None):
        super().__init__(parent)
        self.max_banners = max_banners
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(4, 2, 4, 2)
        self._lay.setSpacing(2)
        self.history: list[tuple[str, str, str]] = []
        self._live: list[Banner] = []  # newest first

    def banners(self) -> list[Banner]:
        self._live = [b for b in self._live if not b.dismissed]
        return list(self._live)

    def show_message(self, level: str, text: str, details: str = "") -> Banner:
        self.history.append((level, text, details))
        for b in self.banners():
            if b.text == text and b.level == level:
                return b
        b = Banner(level, text, details, self)
        self._lay.insertWidget(0, b)
        b.show()
        self._live.insert(0, b)
        live = self.banners()
        for old in live[self.max_banners:]:
            old.dismiss()
        return b

    def clear(self) -> None:
        for b in self.banners():
            b.dismiss()
