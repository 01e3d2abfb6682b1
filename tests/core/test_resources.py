import numpy as np

from lmrec.resources import measure


def test_measure_sees_a_large_allocation_and_nesting_keeps_outer_peak():
    with measure() as outer:
        big = np.ones(40_000_000)  # 320 MB
        big[::4096] = 2
        del big
        with measure() as inner:
            small = np.ones(10)
            del small
    assert outer.seconds >= inner.seconds >= 0
    assert outer.peak_rss_mb > 300
    if inner.stage_peak:
        assert inner.peak_rss_mb < outer.peak_rss_mb
