"""Plain-Python models of the rig window's panels (napari's model/view split).

Nothing here imports Qt: the models are tested headless.  Each model declares its change
events as ``psygnal.Signal`` attributes (the event library napari's models use) and emits
them after its state has changed; the Qt widgets in ``app.gui`` take a model in their
constructor, connect to its events, call its methods on user actions and redraw from it.

Threads: every model method, and so every event, runs on the GUI thread, unless a
docstring says otherwise; engine events reach the models through the bridge
(``app.gui.bridge``), which delivers them on the GUI thread.  Per-frame data (new samples,
spike lists) is pulled by the views on their timer and emits nothing.
"""
