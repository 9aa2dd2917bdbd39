"""Plain-Python models of the rig window's panels (napari's model/view split).

Nothing here imports Qt: the models are tested headless; the Qt widgets in ``app.gui``
take a model in their constructor, call its methods on user actions and redraw from it.
Every model method runs on the GUI thread unless its docstring says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Emitter:
    """A minimal callback list: ``connect(fn)``, ``emit(*args)`` (on the caller's thread)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def emit(self, *args: Any) -> None:
        for cb in list(self._callbacks):
            cb(*args)
