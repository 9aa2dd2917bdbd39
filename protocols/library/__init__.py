"""The plan library.  Importing this package registers every library plan.

=========================  ======================================================
``dose_response``          a series of currents on one barrel (ordered, randomised
                           or a Latin square), repeats, recovery, optional
                           interleaved NaCl current controls
``current_controls``       NaCl current controls at matched currents and polarity
``antagonist_series``      an agonist series during an antagonist ejection, with
                           the antagonist's own baseline
``pulse_train``            trains of short ejection pulses
``wait_for_stable_baseline``  closed loop: until the firing rate is stable
``titrate``                closed loop: step the current to a target % change
``drug_trials``            drug blocks (off / on at given currents) during a
                           stimulus task, closed loop on valid trials per condition
``operator_prompt``        a message that waits for the operator
``note``                   a message that does not wait
=========================  ======================================================
"""

from protocols.library.antagonist import antagonist_series
from protocols.library.closed_loop import TitrationResult, titrate, wait_for_stable_baseline
from protocols.library.controls import current_controls
from protocols.library.dose_response import current_sequence, dose_response
from protocols.library.operator import note, operator_prompt
from protocols.library.pulses import pulse_train
from protocols.library.trials import drug_trials

__all__ = [
    "TitrationResult", "antagonist_series", "current_controls", "current_sequence", "dose_response", "drug_trials", "note",
    "operator_prompt", "pulse_train", "titrate", "wait_for_stable_baseline",
]
