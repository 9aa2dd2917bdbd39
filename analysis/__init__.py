"""ionto.analysis — spikes, units, rates, epochs, dose–response fits, reports.

Reads recordings through the ``analysis.source.RecordingLike`` surface (the HDF5 reader of
``daq.recording``, an NWB reader, or samples in memory); never imports Qt, the app, the
protocols or the simulator.  See docs/analysis.md.

Modules: ``filters`` and ``peaks`` (the detector's kernels), ``detect`` (batch and
streaming detection), ``detect_file`` (whole recordings in bounded memory), ``waveforms``
(snippets, features), ``units``, ``rates``, ``epochs``, ``ll4``/``fit``/``fit_profile``/
``fit_compare`` (dose–response), ``pipeline`` (``analyze``), ``tables``, ``report``,
``html_report``, ``truth`` (simulator ground truth).
"""
