"""The strip-chart lanes (app/gui/strip_image.py): what reaches the screen, drawn incrementally."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from app.gui.strip_image import Lane, StripImage

RATE_HZ = 30_000.0
SPC = 200  # samples per model column
INK = "#1f4e79"


def _plot(qtbot, n_lanes: int, width: int = 500, height: int = 400):
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(width, height)
    w.setBackground("w")
    p = w.getPlotItem()
    p.hideAxis("left")
    p.hideAxis("bottom")
    p.setMouseEnabled(x=False, y=False)
    strip = StripImage()
    p.addItem(strip, ignoreBounds=True)
    lanes = [Lane(i, -0.5 - i, 0.45, 1.1, -float(i), -float(i) - 1.0, pg.mkColor(INK)) for i in range(n_lanes)]
    strip.set_lanes(lanes, 0.0, -float(n_lanes))
    p.setYRange(-float(n_lanes), 0.0, padding=0)
    w.show()
    qtbot.waitExposed(w)
    return w, p, strip


def _show(p, strip, cs, lo, hi, window_s: float) -> None:
    """One frame: the view ends at the newest column (as the trace view's live view does)."""
    end = (cs[-1] + SPC) / RATE_HZ
    p.setXRange(end - window_s, end, padding=0)
    strip.update_columns(cs, lo, hi, RATE_HZ, window_s)


def _pixels(w) -> np.ndarray:
    img = w.viewport().grab().toImage()
    return np.array([[img.pixel(x, y) for x in range(img.width())] for y in range(img.height())], dtype=np.uint32)


def _columns(n: int, n_ch: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cs = np.arange(n, dtype=np.int64) * SPC
    lo = rng.uniform(-1.0, 0.0, (n, n_ch)).astype(np.float32)
    hi = lo + rng.uniform(0.0, 0.8, (n, n_ch)).astype(np.float32)
    return cs, lo, hi


def test_a_flat_lane_with_one_spike_is_one_joined_trace_that_reaches_the_spike(qtbot):
    """More model columns than pixels (3000 over ~500 px): the spike, in one column only, is
    still drawn, and every pixel column of the trace has ink (joined, no gaps)."""
    w, p, strip = _plot(qtbot, 1)
    window_s = 3000 * SPC / RATE_HZ
    cs = np.arange(3000, dtype=np.int64) * SPC
    lo, hi = np.zeros((3000, 1), np.float32), np.zeros((3000, 1), np.float32)
    lo[1501, 0] = -1.0  # one column's minimum: a spike down to -1
    _show(p, strip, cs, lo, hi, window_s)
    px = _pixels(w)
    ink = pg.mkColor(INK).rgb()
    inked = (px == ink).any(axis=0)
    assert inked[2:-2].all(), np.flatnonzero(~inked[2:-2])
    tip = w.mapFromScene(p.vb.mapViewToScene(pg.Point((cs[1501] + SPC / 2) / RATE_HZ, -0.5 - 0.45)))
    rows = np.flatnonzero((px[:, int(tip.x()) - 2:int(tip.x()) + 3] == ink).any(axis=1))
    assert rows.max() >= tip.y() - 2  # ink reaches the spike's depth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drawing_block_by_block_shows_what_drawing_at_once_shows(qtbot, seed):
    """The incremental path (only the newest pixels recomputed each frame) ends with the same
    pixels as one update with every column: nothing is lost or left stale at block edges.
    (Two strips in one plot: the same view, width and height for both.)"""
    n_ch = 4
    window_s = 1200 * SPC / RATE_HZ
    cs, lo, hi = _columns(2000, n_ch, seed)
    _w, p, step = _plot(qtbot, n_ch)
    once = StripImage()
    p.addItem(once, ignoreBounds=True)
    once.set_lanes(step._lanes, 0.0, -float(n_ch))
    rng = np.random.default_rng(seed + 100)
    end = 300
    while end < 2000:
        k0 = max(0, end - 1200)
        _show(p, step, cs[k0:end], lo[k0:end], hi[k0:end], window_s)
        end += int(rng.integers(1, 40))
    _show(p, step, cs[800:2000], lo[800:2000], hi[800:2000], window_s)
    _show(p, once, cs[800:2000], lo[800:2000], hi[800:2000], window_s)
    assert step.pixels_drawn < 2 * 2000  # each pixel drawn about once, not every frame
    assert step.newest_pixel == once.newest_pixel
    newest = once.newest_pixel
    first = int(cs[800] / RATE_HZ / once.dt_s) + 1  # (the leftmost pixel: part of its columns are out of view)
    assert newest - first > 100
    for px in range(first, newest + 1):
        a, b = step.pixel_column(px), once.pixel_column(px)
        assert a is not None and b is not None and np.array_equal(a, b), px


def test_a_frame_with_a_few_new_columns_draws_a_few_pixels_not_the_view(qtbot):
    _w, p, strip = _plot(qtbot, 8)
    window_s = 1000 * SPC / RATE_HZ
    cs, lo, hi = _columns(1100, 8, 3)
    _show(p, strip, cs[:1000], lo[:1000], hi[:1000], window_s)
    before = strip.pixels_drawn
    _show(p, strip, cs[5:1005], lo[5:1005], hi[5:1005], window_s)
    assert 1 <= strip.pixels_drawn - before <= 5


def test_a_new_lane_scale_redraws_the_held_pixels_without_new_data(qtbot):
    """A gain change: the lanes' pixels are redrawn from the held min/max at the new scale."""
    w, p, strip = _plot(qtbot, 1)
    window_s = 500 * SPC / RATE_HZ
    cs = np.arange(500, dtype=np.int64) * SPC
    lo = np.full((500, 1), -0.5, np.float32)
    hi = np.full((500, 1), 0.5, np.float32)
    _show(p, strip, cs, lo, hi, window_s)
    ink = pg.mkColor(INK).rgb()
    tall = int(((_pixels(w) == ink).sum(axis=0)).max())
    strip.set_lanes([Lane(0, -0.5, 0.2, 1.1, 0.0, -1.0, pg.mkColor(INK))], 0.0, -1.0)
    w.viewport().repaint()
    short = int(((_pixels(w) == ink).sum(axis=0)).max())
    assert short < 0.6 * tall


def test_pixels_with_no_samples_stay_empty(qtbot):
    """Samples lost (a gap in the columns): the gap is not bridged by stale pixels or a line."""
    w, p, strip = _plot(qtbot, 1)
    window_s = 1000 * SPC / RATE_HZ
    cs = np.r_[np.arange(0, 450), np.arange(550, 1000)].astype(np.int64) * SPC
    lo = np.full((len(cs), 1), -0.3, np.float32)
    hi = np.full((len(cs), 1), 0.3, np.float32)
    _show(p, strip, cs, lo, hi, window_s)
    ink = pg.mkColor(INK).rgb()
    inked = (_pixels(w) == ink).any(axis=0)
    x_in_gap = int(w.mapFromScene(p.vb.mapViewToScene(pg.Point(500 * SPC / RATE_HZ, 0))).x())
    x_before = int(w.mapFromScene(p.vb.mapViewToScene(pg.Point(300 * SPC / RATE_HZ, 0))).x())
    assert inked[x_before] and not inked[x_in_gap - 3:x_in_gap + 4].any()


def test_a_view_that_goes_back_shows_the_earlier_columns(qtbot):
    """A frozen view scrolled back: the columns handed over are older than those drawn."""
    w, p, strip = _plot(qtbot, 1)
    window_s = 500 * SPC / RATE_HZ
    cs = np.arange(2000, dtype=np.int64) * SPC
    lo = np.zeros((2000, 1), np.float32)
    hi = np.zeros((2000, 1), np.float32)
    lo[:1000, 0] = -1.0  # the early part is tall, the late part flat
    _show(p, strip, cs[1500:], lo[1500:], hi[1500:], window_s)
    ink = pg.mkColor(INK).rgb()
    flat = int(((_pixels(w) == ink).sum(axis=0)).max())
    _show(p, strip, cs[200:700], lo[200:700], hi[200:700], window_s)
    tall = int(((_pixels(w) == ink).sum(axis=0)).max())
    assert tall > 5 * max(1, flat)


def test_a_trace_that_jumps_between_pixels_is_joined_by_vertical_spans(qtbot):
    """Samples alternating between -1 and +1 from one pixel to the next: each pixel's span is
    stretched to meet the previous pixel's, so every pixel column is inked across the swing
    (a line, not two rows of dots)."""
    w, p, strip = _plot(qtbot, 1, width=300)
    vb_px = round(p.vb.width())
    window_s = vb_px * SPC / RATE_HZ  # one model column per pixel
    n = vb_px
    cs = np.arange(n, dtype=np.int64) * SPC
    v = np.where(np.arange(n) % 2 == 0, -1.0, 1.0).astype(np.float32)[:, None]
    _show(p, strip, cs, v, v, window_s)
    px = _pixels(w) == pg.mkColor(INK).rgb()
    y_hi = int(w.mapFromScene(p.vb.mapViewToScene(pg.Point(0, -0.5 + 0.4))).y())
    y_lo = int(w.mapFromScene(p.vb.mapViewToScene(pg.Point(0, -0.5 - 0.4))).y())
    inner = px[:, 4:-4]
    assert inner[y_hi:y_lo].all(axis=0).mean() > 0.98  # each column inked from +0.4 to -0.4 at least


def test_before_the_first_samples_the_view_is_empty_not_old_or_uninitialised_pixels(qtbot):
    """At the start of a session the window is wider than the data: the part before the first
    column shows nothing.  So does the part before a view that jumped back (a frozen scroll)."""
    w, p, strip = _plot(qtbot, 1)
    window_s = 1000 * SPC / RATE_HZ
    cs = np.arange(2000, dtype=np.int64) * SPC
    lo = np.full((2000, 1), -0.8, np.float32)
    hi = np.full((2000, 1), 0.8, np.float32)
    ink = pg.mkColor(INK).rgb()

    def inked_fraction_left_of(x_s: float) -> float:
        x = int(w.mapFromScene(p.vb.mapViewToScene(pg.Point(x_s, 0))).x())
        px = _pixels(w)[:, 2:x - 2] == ink
        return float(px.any(axis=0).mean()) if px.shape[1] else 0.0

    # the first 300 columns at the right of a 1000-column window (as a session that just started)
    end = 300
    p.setXRange((cs[end - 1] + SPC) / RATE_HZ - window_s, (cs[end - 1] + SPC) / RATE_HZ, padding=0)
    strip.update_columns(cs[:end], lo[:end], hi[:end], RATE_HZ, window_s)
    assert inked_fraction_left_of(cs[0] / RATE_HZ) == 0.0
    assert strip.drawn_span_s()[0] == pytest.approx(0.0, abs=strip.dt_s)
    # the live view goes on, then jumps back to show columns 100..600 only from 100 on
    _show(p, strip, cs[1000:2000], lo[1000:2000], hi[1000:2000], window_s)
    p.setXRange(cs[0] / RATE_HZ, cs[0] / RATE_HZ + window_s, padding=0)
    strip.update_columns(cs[100:600], lo[100:600], hi[100:600], RATE_HZ, window_s)
    assert inked_fraction_left_of(cs[100] / RATE_HZ) == 0.0
