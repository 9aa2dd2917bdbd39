"""ionto.daq — devices, the pipette current model, the AO schedule, the engine, the recording format.

The only ionto package every other one may import. It never imports Qt, the app,
the analysis, the protocols or the simulator (see DESIGN.md §2).
"""

__version__ = "0.1.0"
