"""Honest controls and axis labels, for any input (hypothesis): a current box never lets a
value past the barrel's limit through, and never changes what was typed into something else
without saying so; time labels are seconds or m:ss, never kiloseconds."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("PyQt6")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from app.gui.barrel_panel import BarrelPanel
from app.gui.models.barrels import BarrelModel
from app.gui.time_axis import mmss, time_labels

TYPED = hs.one_of(
    hs.floats(min_value=0, max_value=5000, allow_nan=False).map(lambda v: f"{v:.{hs_decimals(v)}f}"),
    hs.from_regex(r"[0-9]{0,5}([.,][0-9]{0,3})?", fullmatch=True),
)


def hs_decimals(v: float) -> int:
    return 0 if v == int(v) else 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=TYPED)
def test_a_typed_eject_current_is_taken_exactly_or_refused_in_words(qtbot, pipette, typed):
    model = BarrelModel(pipette, 20000.0)
    panel = BarrelPanel(model)
    qtbot.addWidget(panel)
    sent, said = [], []
    panel.command.connect(sent.append)
    panel.error.connect(said.append)
    name = "glu"
    limit = model.eject_limit_nA(name)
    box = panel.eject_edits[name]
    before = model.row(name).eject_nA
    model.on_event(_eject_event(name, -before))  # glu is ejecting: a new set point is a command
    box.setText(typed)
    box.editingFinished.emit()
    text = typed.strip().replace(",", ".")
    value = float(text) if re.fullmatch(r"[0-9]*\.?[0-9]*", text) and text not in ("", ".") else None
    if value is not None and 0 <= value <= limit:
        assert model.row(name).eject_nA == value and box.value() == value and not said
        assert all(abs(c.current_nA) <= limit for c in sent)  # the command that applies it, within the limit
    else:
        assert model.row(name).eject_nA == before and box.value() == before and not sent
        assert len(said) == 1 and said[0].startswith("refused: ") and f"stays {before:g} nA" in said[0]
        assert panel.refusal.text() == said[0] and not panel.refusal.isHidden()


def _eject_event(name: str, current_nA: float):
    from daq.types import EventKind, LogEvent

    return LogEvent(100, EventKind.EJECT, name, current_nA)


@given(hs.lists(hs.floats(min_value=0, max_value=4 * 3600, allow_nan=False), min_size=1, max_size=8),
       hs.sampled_from([0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0, 120.0, 600.0, 1800.0]))
def test_time_labels_are_seconds_or_minutes_never_kiloseconds(values, spacing):
    labels = time_labels(values, spacing)
    assert len(labels) == len(values)
    for v, lab in zip(values, labels):
        assert "k" not in lab and "e" not in lab
        if ":" in lab:
            m, s = lab.split(":")
            assert int(m) * 60 + int(s) == round(v) and len(s) == 2
        else:
            assert float(lab) == pytest.approx(v, abs=spacing / 2 + 1e-9)


def test_mmss_of_negative_and_long_times():
    assert mmss(-75) == "-1:15" and mmss(3725) == "62:05"
