"""Compiled CPU kernels for the attention modules' inference fast paths (optional; built on first
use with the system C compiler, see :mod:`ecabench.attention.kernels.build`)."""
