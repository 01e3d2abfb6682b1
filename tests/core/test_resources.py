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


def test_process_peak_survives_the_stage_counter_resets():
    """`measure` resets the kernel's peak counter (and with it ru_maxrss); the process peak must still
    include a peak reached before a later stage began."""
    from lmrec.resources import process_peak_rss

    with measure():
        big = np.ones(40_000_000)  # 320 MB
        big[::4096] = 2
        del big
    with measure() as later:
        small = np.ones(10)
        del small
    assert process_peak_rss() / 2**20 > 300
    if later.stage_peak:  # the counter was reset: the later stage's own peak is far below
        assert later.peak_rss_mb < process_peak_rss() / 2**20 - 200
