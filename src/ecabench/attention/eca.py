"""ECA: Efficient Channel Attention (Wang et al., CVPR 2020).

Global average pool -> 1-D convolution across channels (no bias) -> sigmoid -> scale. The kernel
size is fixed, given per backbone stage, or chosen from the channel count by the paper's Eq. 12.
Padding is explicit and asymmetric so even kernel sizes keep all C channels: the common
``padding=(k - 1) // 2`` returns C - 1 channels for even k and fails at the multiply.

Speed (CPU, eager): :meth:`ECA.forward` computes the same function as the plain pool -> pad ->
conv1d -> sigmoid -> scale (its reference branch) to within fp32 rounding (<= 1e-6, tested in
tests/test_attention_fast.py), but avoids two CPU slow spots found by profiling (docs/performance.md):

* ``nn.Conv1d`` on an (N, 1, C) input goes to oneDNN, whose 1-channel convolution costs
  ~50-120 us at N=8 and grows to ~20 ms at N=256, C=2048 — more than the passes over the
  activation. The channel convolution is instead one native conv2d over the (N, C) matrix seen as
  a single 1 x N x C image (im2col + GEMM, ~5-40 us) while N*C is small enough that ATen keeps it
  native, and k shifted multiply-adds beyond that (~1-3 ms at N=256, C=2048);
  ``F.pad`` is gone (symmetric padding k//2, and for even k the first output is dropped).
* the pool is ``sum`` + ``div_`` (:func:`spatial_mean`): bitwise ``mean``, but its backward does
  not materialise ``grad / (H*W)`` at full size (forward+backward ~25 % faster); in inference on
  a channels-last activation with >= 128 channels it is ``avg_pool2d`` (2-3x faster there).
* nothing else is materialised: the activation is read twice (pool, scale) and written once.

In inference (no autograd) on fp32 contiguous or channels-last input, a fused C kernel does all of
it in one call when it could be built (:mod:`ecabench.attention.kernels.eca_cpu`; the per-op
overheads above dominate at small maps such as layer4's 7x7); this ATen path is its fallback.

Under tracing (fvcore's FLOP count, ``torch.jit.trace``), ``torch.compile`` (measured: no faster
here), TorchScript and on non-CPU devices the module runs the reference formulation, so FLOP
counts and exported graphs are unchanged; ``with ecabench.attention.fast.fast_path(False):`` (or ``ECABENCH_FAST_ATTENTION=0``)
runs it everywhere (SE's and CBAM's too).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ecabench.attention.base import is_int, is_number
from ecabench.attention.fast import fast_path, fast_path_enabled, spatial_mean  # noqa: F401  (re-exported)
from ecabench.attention.kernels import eca_cpu
from ecabench.registry import register_attention


def adaptive_kernel_size(channels: int, gamma: float = 2, b: float = 1, odd: bool = True) -> int:
    """Eq. 12 as in the paper's code: t = int(|(log2(C) + b) / gamma|); odd rounds an even t up."""
    t = int(abs((math.log2(channels) + b) / gamma))
    if odd and t % 2 == 0:
        t += 1
    return max(t, 1)


def same_padding_1d(k: int) -> tuple[int, int]:
    """(left, right) padding that keeps the length for any k, odd or even."""
    return (k - 1) // 2, k // 2


# ATen runs conv2d natively (im2col + GEMM) for a single-image, single-channel input of at most this
# many elements (Convolution.cpp's use_mkldnn heuristic); above it, oneDNN, which is slow here.
_NATIVE_CONV_MAX_NUMEL = 20480


def channel_conv(y: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """1-D cross-correlation of every row of ``y`` (N, C) with ``weight`` (1, 1, k), zero padding
    ``padding`` = (left, right); returns (N, C). Same numbers as ``F.conv1d(F.pad(y[:, None], padding),
    weight)`` up to fp32 rounding, without oneDNN's slow single-channel convolution (module docstring).
    """
    n, c = y.shape
    k = weight.shape[-1]
    left, right = padding
    if n * c <= _NATIVE_CONV_MAX_NUMEL:
        # Rows of one 1 x N x C image; symmetric padding `right` both sides gives right - left extra
        # leading outputs (one for even k, none for odd k), dropped by the slice.
        out = F.conv2d(y.reshape(1, 1, n, c), weight.view(1, 1, 1, k), padding=(0, right))
        return out.view(n, c + right - left)[:, right - left:]
    padded = F.pad(y, (left, right))
    w = weight.reshape(k)
    out = padded[:, :c] * w[0]
    for j in range(1, k):
        out = torch.addcmul(out, padded[:, j:j + c], w[j])
    return out


def eca_fast(x: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """ECA's forward for eager CPU execution (see the module docstring)."""
    n, c = x.shape[:2]
    gate = torch.sigmoid(channel_conv(spatial_mean(x, exact=False), weight, padding))
    return x * gate.view(n, c, 1, 1)


@register_attention("eca")
class ECA(nn.Module):
    per_stage_params = ("k",)

    def __init__(self, channels: int, k: int | str = "adaptive", gamma: float = 2, b: float = 1,
                 odd: bool = True):
        super().__init__()
        self.check_params({"k": k, "gamma": gamma, "b": b, "odd": odd})
        self.channels = channels
        self.k = adaptive_kernel_size(channels, gamma, b, odd) if k == "adaptive" else int(k)
        self.padding = same_padding_1d(self.k)
        self.conv = nn.Conv1d(1, 1, kernel_size=self.k, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles only the reference branch
            if fast_path_enabled(x):
                return self._forward_fast(x)
        # The reference formulation (what tracers, FLOP counters and other devices see).
        n, c = x.shape[:2]
        y = self.conv(F.pad(x.mean((2, 3)).view(n, 1, c), self.padding))
        return x * torch.sigmoid(y).view(n, c, 1, 1)

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        out = eca_cpu.forward(x, self.conv.weight, self.padding)  # inference: the fused C kernel
        return out if out is not None else eca_fast(x, self.conv.weight, self.padding)

    def resolved_params(self) -> dict:
        return {"k": self.k}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, k={self.k}"

    @classmethod
    def check_params(cls, params: dict) -> None:
        k = params.get("k", "adaptive")
        ks = k if isinstance(k, (list, tuple)) else [k]
        for item in ks:
            if item == "adaptive" and not isinstance(k, (list, tuple)):
                continue
            if not is_int(item) or item < 1:
                raise ValueError(
                    f"eca: k must be 'adaptive', an integer >= 1, or a list with one integer >= 1 per "
                    f"stage; got k={k!r}"
                )
        gamma = params.get("gamma", 2)
        if not is_number(gamma) or not math.isfinite(gamma) or gamma <= 0:
            raise ValueError(f"eca: gamma must be a number > 0, got gamma={gamma!r}")
        b = params.get("b", 1)
        if not is_number(b) or not math.isfinite(b):
            raise ValueError(f"eca: b must be a finite number, got b={b!r}")
        if not isinstance(params.get("odd", True), bool):
            raise ValueError(f"eca: odd must be true or false, got odd={params['odd']!r}")

    @classmethod
    def normalize_params(cls, params: dict) -> dict:
        # gamma, b and odd only matter for the adaptive rule; with a fixed k they are noise in the id.
        if params["k"] != "adaptive":
            params = {**params, "gamma": 2, "b": 1, "odd": True}
        return params

    @classmethod
    def format_param(cls, name: str, value) -> str:
        if name == "odd":
            return "odd" if value else "even"
        if name == "k" and isinstance(value, (list, tuple)):
            return "k" + "_".join(str(v) for v in value)
        return {"gamma": "g"}.get(name, name) + str(value)
