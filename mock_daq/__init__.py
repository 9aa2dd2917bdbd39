"""ionto.mock_daq — the simulated rig (the embedded default device).

A physiologically grounded simulation: iontophoretic release, diffusion to the neuron,
receptor pharmacology, a spiking neuron, electrode noise, current monitors, ground truth.
It implements the ``daq.device.Device`` protocol in-process (``SimDevice``).
"""

from mock_daq.device import SimDevice
from mock_daq.model import SimConfig
from mock_daq.presets import list_presets, load_preset

__all__ = ["SimConfig", "SimDevice", "list_presets", "load_preset"]
