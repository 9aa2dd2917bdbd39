"""ionto.analysis — spikes, rates, epochs, dose–response fits, reports.

Reads recordings through ``daq.recording``; never imports Qt, the app, the protocols or
the simulator.
"""
