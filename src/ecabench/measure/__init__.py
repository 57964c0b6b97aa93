"""Measurements: parameters, FLOPs, throughput (one model, or several in alternating rounds), environment.

The measure job of the workflow (every architecture of one backbone and input) is
:func:`ecabench.measure.group.measure_group`.
"""
from ecabench.measure.environment import environment
from ecabench.measure.flops import count_flops
from ecabench.measure.interleaved import measure_interleaved
from ecabench.measure.params import count_model, count_params
from ecabench.measure.throughput import measure_throughput

__all__ = ["count_model", "count_params", "count_flops", "measure_interleaved", "measure_throughput", "environment"]
