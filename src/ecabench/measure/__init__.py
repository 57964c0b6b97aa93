"""Measurements every run record carries: parameters, FLOPs, throughput and the environment."""
from ecabench.measure.environment import environment
from ecabench.measure.flops import count_flops
from ecabench.measure.params import count_params
from ecabench.measure.throughput import measure_throughput, paired_inference_ratio

__all__ = ["count_params", "count_flops", "measure_throughput", "paired_inference_ratio", "environment"]
