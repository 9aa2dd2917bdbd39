"""ForkedCall: a function run in a forked child, its result or its failure back."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from analysis.forked import ForkedCall, ForkedCallError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")


def test_the_child_sees_the_callers_memory_and_returns_a_result():
    big = np.arange(1_000_000)  # inherited, not pickled
    call = ForkedCall.start(lambda a, k: int(a[k]) * 2, big, 123_456)
    assert call is not None and call.result() == 246_912


def test_an_exception_in_the_child_is_raised_in_the_parent():
    def boom():
        raise ValueError("bad figure")

    with pytest.raises(ForkedCallError, match="ValueError: bad figure"):
        ForkedCall.start(boom).result()


def test_a_child_that_dies_is_an_error():
    with pytest.raises(ForkedCallError, match="died"):
        ForkedCall.start(os._exit, 3).result()
