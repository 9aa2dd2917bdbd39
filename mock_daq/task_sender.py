"""The simulated task software: publishes the simulated task's trials as an LSL marker stream.

It plays what PsychoPy or Bonsai would do beside a real rig: at each stimulus onset and
offset it pushes ``trial_start trial=N code=C <name>=<value>`` / ``trial_stop trial=N
code=C`` (``daq.network_input``'s format), stamped with the LSL clock at the moment the
stimulus changed.  The trials are the simulated task's own (``mock_daq.stimulus``, task
mode): a second ``StimulusGenerator`` with the same model and seed gives the same onsets
and conditions, and the moment sample *i* is generated on this host is
``t0 + i / rate_hz`` (the simulated device's pace at real time, ``SimDevice._t0``).
``delay_s`` is how long after the event the message is sent (a task's own latency); the
timestamp is the event's time, as LSL senders stamp it.

In-process, the sender's LSL clock is ionto's (LSL's clock correction measures ≈ 0). Run as
a program (``python -m mock_daq.task_sender``) in a Linux time namespace with its monotonic
clock shifted (``unshare --user --time --fork --monotonic 7``), it is a sender with a
clock of its own, as on another computer: LSL measures the offset, and the test checks that
the trials still land on their samples (tests/daq/test_network_input.py).

Thread: ``start`` runs the sender on its own thread; ``close`` stops it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from mock_daq.stimulus import StimulusGenerator, StimulusModel


class TaskSender:
    """Publishes ``model``'s task trials (rate ``rate_hz``, ``seed``) on stream ``name``."""

    def __init__(self, name: str, model: StimulusModel, rate_hz: float, seed: int, *, delay_s: float = 0.002):
        import pylsl

        self._lsl = pylsl
        info = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, f"ionto-sim-{name}")
        self.outlet = pylsl.StreamOutlet(info)
        self._gen = StimulusGenerator(model, rate_hz, seed, 1, None)
        self.rate_hz = float(rate_hz)
        self.delay_s = delay_s
        self.sent: list[tuple[int, str]] = []  # (true sample index, message) as sent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_sim_device(cls, name: str, device, **kwargs) -> TaskSender:
        """A sender for a configured ``SimDevice`` whose simulation runs a task."""
        sim = device._sim
        if sim is None or sim.stimulus is None or sim.stimulus.model.mode != "task":
            raise ValueError("the simulated device runs no task (simulation.stimulus with mode: task)")
        return cls(name, sim.stimulus.model, device.rig.rate_hz, sim.seed, **kwargs)

    def trials_until(self, stop_index: int) -> list[tuple[int, str]]:
        """The task's events before sample ``stop_index``: (sample index, message)."""
        return [(e.sample_index, f"{e.kind.value} {e.text}") for e in self._gen.events_before(stop_index)]

    def start(self, t0_s: float, until_index: int) -> None:
        """Send every event before ``until_index``; sample 0 was taken at LSL time ``t0_s``."""
        events = self.trials_until(until_index)

        def run() -> None:
            for index, text in events:
                at = t0_s + index / self.rate_hz
                while not self._stop.is_set() and self._lsl.local_clock() < at + self.delay_s:
                    time.sleep(min(0.01, max(at + self.delay_s - self._lsl.local_clock(), 0.0)))
                if self._stop.is_set():
                    return
                self.outlet.push_sample([text], at)
                self.sent.append((index, text))

        self._thread = threading.Thread(target=run, name="simulated task sender", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def main(argv: list[str] | None = None) -> int:
    """A sender process: publishes the stream, prints ``ready``, reads one JSON line
    ``{"t0_s": ...}`` (sample 0 on *this process's* LSL clock) from stdin, sends the task's
    events before ``--until`` and prints ``done``."""
    from mock_daq.stimulus import StimulusModel

    p = argparse.ArgumentParser(prog="python -m mock_daq.task_sender")
    p.add_argument("name")
    p.add_argument("--stimulus", required=True, help="the simulation.stimulus mapping, as JSON")
    p.add_argument("--rate-hz", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--until", type=int, required=True, help="send the events before this sample")
    args = p.parse_args(argv)
    sender = TaskSender(args.name, StimulusModel.model_validate(json.loads(args.stimulus)), args.rate_hz, args.seed)
    print("ready", flush=True)
    t0_s = float(json.loads(sys.stdin.readline())["t0_s"])
    sender.start(t0_s, args.until)
    assert sender._thread is not None
    sender._thread.join()
    time.sleep(0.5)  # let the inlet take the last samples before the outlet goes
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
