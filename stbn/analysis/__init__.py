"""Measurements behind the benchmarks and figures (flow accuracy, warping statistics)."""
