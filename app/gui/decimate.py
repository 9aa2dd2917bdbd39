"""Min/max decimation for drawing: at most two points per pixel column, peaks preserved."""

from __future__ import annotations

import numpy as np


def minmax_decimate(t: np.ndarray, y: np.ndarray, n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (t, y) to 2·n_columns points, keeping each column's min and max."""
    n = len(y)
    if n <= 2 * n_columns or n_columns <= 0:
        return t, y
    per = n // n_columns
    m = per * n_columns
    yy = y[:m].reshape(n_columns, per)
    tt = t[:m].reshape(n_columns, per)
    lo = yy.min(axis=1)
    hi = yy.max(axis=1)
    out_y = np.empty(2 * n_columns)
    out_y[0::2] = lo
    out_y[1::2] = hi
    out_t = np.repeat(tt[:, 0], 2)
    return out_t, out_y
