"""The Qt GUI (PyQt6 + pyqtgraph).  The only ionto package that imports Qt."""
