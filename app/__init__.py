"""ionto.app — the composition root (``session``), the command line and the Qt GUI."""
