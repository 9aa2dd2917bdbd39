"""The ``ionto`` command.  One module per verb; ``main`` dispatches."""
