"""benchmarks/ensemble_gain.py's variants: an ensemble, over the whole clip or in time windows."""

import argparse

import pytest


@pytest.fixture(scope="module")
def gain(load_benchmark):
    return load_benchmark("ensemble_gain")


def test_variant_names_give_the_infer_keys(gain):
    assert gain.variant("plain") == {"time_ensemble": False, "shift_ensemble": 1, "time_window": 0, "window_stride": 0}
    assert gain.variant("time+shift4@6/3") == {
        "time_ensemble": True, "shift_ensemble": 4, "time_window": 6, "window_stride": 3
    }


@pytest.mark.parametrize("name", ["shift3", "plain@6", "plain@6/x", "plain@3/4", "@6/3"])
def test_bad_variants_are_refused(gain, name):
    with pytest.raises(argparse.ArgumentTypeError, match="ENSEMBLE|stride"):
        gain.variant(name)
