"""Keep Python's cyclic garbage collector from pausing the rig window for tens of milliseconds.

CPython's collector stops every thread while it walks a generation, holding the GIL (the
engine's thread included).  Its full passes walk every object alive: in the rig window that
is the imported modules, the Qt wrappers and numba's compiled code — a pass took 65–94 ms at
64 channels (``bench/bench_gui.py``'s window, timed with ``gc.callbacks``; the passes seen came
while the window started and connected, and they recur as a long session makes objects), long
enough by itself to put the samples of that moment past the 50-ms sample-to-screen target.  ``gc.freeze()`` moves
every object alive now into a permanent generation that later passes skip (the Python
documentation, ``gc.freeze``: "to avoid ... collections"), so a full pass walks only what
was made since.

``ionto gui`` asks for it once acquisition runs (``SessionController``, when
``freeze_collector`` is set): the window, the connection's models and every module
are built by then.  Objects frozen this way are still freed when their last reference goes;
only a frozen object that later becomes part of a reference cycle stays until the process
ends (a reconnection's old models, a few MB).  Tests, which build hundreds of windows in one
process, leave it off.

Thread: any (``gc`` is process-wide); the window calls it on the GUI thread.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> int:
    """Collect what is garbage now, then freeze everything alive.  Returns how many objects
    the permanent generation holds."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
