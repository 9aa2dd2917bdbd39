"""The live dose–response fitted as ``ionto analyze`` fits it: the same epochs, the same
groups (a drug alone and under each antagonist apart), the same points (one per ejection and
one at dose 0 per ejection from its own baseline) and the same fit, status and messages.

``live_fits`` runs ``analysis``'s own steps — ``find_epochs``, ``measure_epochs`` and the
pipeline's grouping and fitting — on the events the ``DoseResponseModel`` has collected and
the online detector's spikes, over the epochs that have finished.  Nothing here decides what
can be fitted; ``analysis`` does.  Thread: GUI thread (called when the model's points change:
a few fits of a few dozen points).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.gui.models.recording import DoseResponseModel


@dataclass
class LiveFits:
    """Per fit group (``barrel:drug``, or ``barrel:drug + other drug 40 nA`` under an
    antagonist): its points, its fit (``analysis.fit.FitResult``) or why there is none."""

    points: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    fits: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    barrels: dict[str, str] = field(default_factory=dict)  # group -> barrel
    points_label: str = ""

    @property
    def groups(self) -> list[str]:
        return list(self.points)


def live_fits(model: DoseResponseModel, spikes: np.ndarray, from_index: int, now_index: int) -> LiveFits:
    """Fit every group whose epochs have finished before ``now_index`` and whose baseline the
    spike list still covers (it starts at ``from_index``)."""
    from analysis.epochs import find_epochs, measure_epochs
    from analysis.pipeline import AnalysisParams, fit_groups, group_key, points_label

    params = AnalysisParams(baseline_s=model.baseline_s, response_s=model.response_s)
    first = max(from_index, min((ev.sample_index for ev in model.events), default=from_index))
    epochs = [ep for ep in find_epochs(model.events, model.pipette, model.rate_hz, first, now_index,
                                       params.epoch_params)
              if ep.offset < now_index and not any("still running" in n for n in ep.notes)
              and not any("before the recording" in f for f in ep.flags)]
    train = np.sort(np.asarray(spikes, dtype=np.int64))
    measure_epochs(epochs, train, params.epoch_params)
    fits, errors, points = fit_groups(epochs, train, params)
    out = LiveFits(points=points, fits=fits, errors=errors, points_label=points_label(params))
    for ep in epochs:
        out.barrels[group_key(ep)] = ep.barrel
    return out
