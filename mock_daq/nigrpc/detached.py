"""AI tasks the simulated preparation does not drive: NI's simulated-device signal.

The simulated preparation runs one continuous, sample-clocked acquisition at the rig's rates
(>= 5 kS/s).  Every other AI task — software-timed (on demand), finite, or at a rate the
preparation cannot run — reads what an NI-DAQmx *simulated device* reads: a sine wave between
the channel's requested minimum and maximum (NI-DAQmx Help, "Simulated Devices": analog input
returns a sine wave; nidaqmx-python's component tests rely on it staying inside [min, max]),
on its own clock from the task's start.  An internal ``_aoN_vs_aognd`` channel reads the level
the output holds.

Thread: called by ``Hardware`` with its lock held.
"""

from __future__ import annotations

import time

import numpy as np

from mock_daq.nigrpc import constants as K

PERIOD_SAMPLES = 1000  # one sine period per 1000 samples; channel k shifted by k/8 of a period


def start(task) -> None:
    task.detached, task.t_start, task.read_pos = True, time.monotonic(), 0
    task.state = "running"


def acquired(task, speed: float) -> int:
    """Samples the task's clock has produced (on demand: as many as asked, see ``read_count``)."""
    if task.timing != "sample_clock":
        return task.read_pos
    n = int((time.monotonic() - task.t_start) * task.rate_hz * speed)
    return min(n, task.samps_per_chan) if task.samp_mode == K.FINITE_SAMPS else n


def done(task, speed: float) -> bool:
    """A finite task is done once its samples are acquired; an on-demand one always is."""
    if task.state != "running" or task.timing != "sample_clock":
        return True
    return task.samp_mode == K.FINITE_SAMPS and acquired(task, speed) >= task.samps_per_chan


def signal(task, start_index: int, n: int, held_V: np.ndarray) -> np.ndarray:
    """(n_channels, n) volts: the sine between each channel's min and max; internal AO
    read-back channels read the held output level (``held_V`` by rig AO column)."""
    i = np.arange(start_index, start_index + n, dtype=np.float64)
    out = np.empty((len(task.channels), n))
    for k, c in enumerate(task.channels):
        if c.readback_ao is not None:
            out[k] = held_V[c.readback_ao]
            continue
        mid, half = (c.lo + c.hi) / 2, (c.hi - c.lo) / 2
        out[k] = mid + half * np.sin(2 * np.pi * (i / PERIOD_SAMPLES + k / 8))
    return out
