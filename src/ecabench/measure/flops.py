"""FLOP counts in two columns that never mix conventions.

One trace of the model (fvcore's :class:`~fvcore.nn.FlopCountAnalysis`, batch size 1, eval mode)
feeds two columns:

``macs``
    Multiply-accumulates of the dense linear-algebra ops only, counted 1 per multiply-add exactly
    as fvcore counts them (fvcore's own handles): convolutions (``aten::_convolution``, any
    dimensionality, grouped and transposed too), ``linear``, ``addmm``, ``mm``, ``matmul``,
    ``bmm``, ``einsum``. Nothing else is in this column: fvcore's default handles for
    ``batch_norm``, the other norms, pooling and upsampling are moved out into ``elementwise_flops``.
    The accumulation's starting value (a bias) is not a multiply-add and is not counted here.

``elementwise_flops``
    Everything else that does arithmetic, counted by handles this module registers, one
    operation per scalar:

    * pointwise arithmetic (``add``/``add_``, ``sub``, ``mul``, ``div``, ``rsub`` ...):
      1 per output element (broadcasting counts the broadcast output);
    * bias additions of conv/linear/addmm (op name ``bias_add``): 1 per output element;
    * activations (``relu``, ``hardtanh`` = ReLU6, ``sigmoid``, ``hardsigmoid``, ``hardswish``,
      ``silu``, ``gelu``, ``tanh``, ``clamp`` ...): 1 per output element. ReLU *is* counted
      (as one comparison), consistently with the max-type reductions below, which count
      comparisons too; transcendental functions (sigmoid, tanh) also count 1, not their
      implementation's cost;
    * reductions (``mean``, ``sum``, ``amax``, ``amin``, ``max``/``min`` with a dim, and
      ``adaptive_avg_pool2d`` / ``adaptive_max_pool2d``): 1 per *input* element read
      (a mean over N values = N-1 adds + 1 divide, rounded to N); adaptive pools count the exact
      sum of their window sizes, which is the input size when the windows tile the input;
    * windowed pools (``max_pool2d``, ``avg_pool2d``): output elements x kernel area (every window
      element read, padded positions included), i.e. ``kh*kw`` per output;
    * ``batch_norm`` (eval, folded to a per-channel scale and shift): 2 per element; other norms
      (``layer_norm``, ``group_norm``, ``instance_norm``) keep fvcore's rough 5/4 per element;
      ``upsample_*`` and ``grid_sampler`` keep fvcore's per-output counts (1 nearest, 4 bilinear).

    Shape, copy and indexing ops (view, cat, pad, flatten, dropout in eval ...) cost 0. Any other
    op is reported in ``unsupported_ops`` (name -> number of calls) instead of being guessed.

All counts are for one image (batch size 1) and are Python ints.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections import Counter
from typing import Any, Callable

import torch

with warnings.catch_warnings():
    # fvcore.nn imports its focal loss, which calls torch.jit.script at import time (deprecated in torch 2.10+).
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import (
        addmm_flop_jit,
        bmm_flop_jit,
        conv_flop_count,
        einsum_flop_jit,
        elementwise_flop_counter,
        get_shape,
        linear_flop_jit,
        matmul_flop_jit,
        norm_flop_counter,
    )
from torch import nn

from ecabench.registry import iter_attention_modules

MACS = "macs"
ELEMENTWISE = "elementwise"
_SEP = ":"

Handle = Callable[[list, list], Counter]


def _prod(shape) -> int:
    return int(math.prod(int(s) for s in shape))


def _numel(value) -> int:
    shape = get_shape(value)
    if shape is None:
        raise ValueError(f"no complete tensor shape for jit value {value!r}")
    return _prod(shape)


def _is_tensor(value) -> bool:
    return get_shape(value) is not None


def _ivalue(value) -> Any:
    """A constant jit argument as a Python value (lists arrive as ``prim::ListConstruct``)."""
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        return [_ivalue(v) for v in node.inputs()]
    return value.toIValue()


def _key(column: str, op: str) -> str:
    return f"{column}{_SEP}{op}"


def _count(**by_key: int) -> Counter:
    return Counter({k: int(v) for k, v in by_key.items() if v})


# ----------------------------------------------------------------------------- MAC handles


def _wrap_mac(handle: Callable, op: str, bias_index: int | None = None) -> Handle:
    """fvcore's MAC handle for ``op``, plus the bias addition (elementwise) when a bias is given."""

    def counted(inputs, outputs):
        n = handle(inputs, outputs)
        if isinstance(n, Counter):  # fvcore's conv handle returns Counter({"conv": n})
            n = sum(n.values())
        out = Counter({_key(MACS, op): int(n)})
        if bias_index is not None and len(inputs) > bias_index and _is_tensor(inputs[bias_index]):
            out[_key(ELEMENTWISE, "bias_add")] += _numel(outputs[0])
        return out

    return counted


def _conv(transposed_index: int | None) -> Handle:
    """``aten::_convolution`` / ``aten::convolution`` (transposed flag at ``transposed_index``) and
    ``aten::conv{1,2,3}d`` (never transposed): fvcore's ``conv_flop_count`` + bias adds."""

    def counted(inputs, outputs):
        x, w = get_shape(inputs[0]), get_shape(inputs[1])
        out_shape = get_shape(outputs[0])
        transposed = bool(_ivalue(inputs[transposed_index])) if transposed_index is not None else False
        macs = conv_flop_count(x, w, out_shape, transposed=transposed)
        out = Counter({_key(MACS, "conv"): int(macs)})
        if _is_tensor(inputs[2]):
            out[_key(ELEMENTWISE, "bias_add")] += _prod(out_shape)
        return out

    return counted


def _mac_handles() -> dict[str, Handle]:
    return {
        "aten::_convolution": _conv(6),
        "aten::convolution": _conv(6),
        "aten::conv1d": _conv(None),
        "aten::conv2d": _conv(None),
        "aten::conv3d": _conv(None),
        "aten::linear": _wrap_mac(linear_flop_jit, "linear", bias_index=2),
        "aten::addmm": _wrap_mac(addmm_flop_jit, "addmm", bias_index=0),
        "aten::mm": _wrap_mac(matmul_flop_jit, "mm"),
        "aten::matmul": _wrap_mac(matmul_flop_jit, "matmul"),
        "aten::bmm": _wrap_mac(bmm_flop_jit, "bmm"),
        "aten::einsum": _wrap_mac(einsum_flop_jit, "einsum"),
    }


# ----------------------------------------------------------------------------- elementwise handles


def _per_output(op: str, scale: int = 1) -> Handle:
    def counted(inputs, outputs):
        return _count(**{_key(ELEMENTWISE, op): scale * _numel(outputs[0])})

    return counted


def _per_input(op: str, scale: int = 1) -> Handle:
    def counted(inputs, outputs):
        return _count(**{_key(ELEMENTWISE, op): scale * _numel(inputs[0])})

    return counted


def _max_like(op: str) -> Handle:
    """``aten::max``/``aten::min``: a reduction (1 per input element) unless it is the binary
    elementwise form ``max(a, b)`` (1 per output element)."""

    def counted(inputs, outputs):
        binary = len(inputs) == 2 and _is_tensor(inputs[0]) and _is_tensor(inputs[1])
        n = _numel(outputs[0]) if binary else _numel(inputs[0])
        return _count(**{_key(ELEMENTWISE, op): n})

    return counted


def _adaptive_window_sum(size_in: int, size_out: int) -> int:
    # PyTorch's adaptive pooling window i is [floor(i*In/Out), ceil((i+1)*In/Out)).
    return sum(
        -((-(i + 1) * size_in) // size_out) - (i * size_in) // size_out for i in range(size_out)
    )


def _adaptive_pool(op: str, spatial: int) -> Handle:
    def counted(inputs, outputs):
        x, y = get_shape(inputs[0]), get_shape(outputs[0])
        reads = _prod(x[:-spatial])
        for s_in, s_out in zip(x[-spatial:], y[-spatial:]):
            reads *= _adaptive_window_sum(int(s_in), int(s_out))
        return _count(**{_key(ELEMENTWISE, op): reads})

    return counted


def _window_pool(op: str) -> Handle:
    """``max_pool2d`` / ``avg_pool2d``: output elements x kernel area (inputs[1] = kernel_size)."""

    def counted(inputs, outputs):
        kernel = _ivalue(inputs[1])
        kernel = [kernel] if isinstance(kernel, int) else list(kernel)
        if len(kernel) == 1:
            kernel = kernel * 2
        return _count(**{_key(ELEMENTWISE, op): _numel(outputs[0]) * _prod(kernel)})

    return counted


def _batch_norm(inputs, outputs):
    # Counted in eval mode, where BN folds into y = x * scale + shift: 2 per element.
    # (In training mode it would also compute the batch statistics; fvcore's rough count is used.)
    training = bool(_ivalue(inputs[5]))
    if training:
        n = norm_flop_counter(1)(inputs, outputs)
    else:
        n = 2 * _numel(inputs[0])
    return _count(**{_key(ELEMENTWISE, "batch_norm"): n})


def _renamed(handle: Callable, op: str) -> Handle:
    def counted(inputs, outputs):
        return _count(**{_key(ELEMENTWISE, op): int(handle(inputs, outputs))})

    return counted


POINTWISE_OPS = (
    "add", "sub", "mul", "div", "rsub", "neg", "reciprocal", "sqrt", "rsqrt", "exp", "log", "pow",
    "abs", "square", "maximum", "minimum", "where",
)  # fmt: skip
ACTIVATION_OPS = (
    "relu", "relu6", "leaky_relu", "hardtanh", "sigmoid", "hardsigmoid", "hardswish", "silu", "gelu",
    "tanh", "elu", "mish", "softplus", "clamp", "clamp_min", "clamp_max",
)  # fmt: skip
REDUCTION_OPS = ("mean", "sum", "amax", "amin")
# Ops that move or view data without arithmetic, beyond fvcore's own ignore list.
ZERO_COST_OPS = (
    "aten::pad", "aten::constant_pad_nd", "aten::reflection_pad2d", "aten::replicate_pad2d",
    "aten::expand_as", "aten::view_as", "aten::reshape_as", "aten::flatten", "aten::unflatten",
    "aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::alpha_dropout",
    "aten::contiguous", "aten::clone", "aten::repeat", "aten::chunk", "aten::cat", "aten::stack",
    "aten::ones_like", "aten::zeros_like", "aten::empty_like", "aten::detach", "aten::identity",
    "aten::channel_shuffle", "aten::pixel_shuffle", "aten::type_as", "aten::to",
)  # fmt: skip


def _elementwise_handles() -> dict[str, Handle]:
    handles: dict[str, Handle] = {}
    for op in POINTWISE_OPS + ACTIVATION_OPS:
        handles[f"aten::{op}"] = _per_output(op)
        handles[f"aten::{op}_"] = _per_output(op)
    for op in REDUCTION_OPS:
        handles[f"aten::{op}"] = _per_input(op)
    for op in ("max", "min"):
        handles[f"aten::{op}"] = _max_like(op)
    handles["aten::adaptive_avg_pool1d"] = _adaptive_pool("adaptive_avg_pool1d", 1)
    handles["aten::adaptive_avg_pool2d"] = _adaptive_pool("adaptive_avg_pool2d", 2)
    handles["aten::adaptive_max_pool1d"] = _adaptive_pool("adaptive_max_pool1d", 1)
    handles["aten::adaptive_max_pool2d"] = _adaptive_pool("adaptive_max_pool2d", 2)
    handles["aten::max_pool2d"] = _window_pool("max_pool2d")
    handles["aten::avg_pool2d"] = _window_pool("avg_pool2d")
    handles["aten::batch_norm"] = _batch_norm
    handles["aten::layer_norm"] = _renamed(norm_flop_counter(2), "layer_norm")
    handles["aten::group_norm"] = _renamed(norm_flop_counter(2), "group_norm")
    handles["aten::instance_norm"] = _renamed(norm_flop_counter(1), "instance_norm")
    handles["aten::upsample_nearest2d"] = _renamed(elementwise_flop_counter(0, 1), "upsample_nearest2d")
    handles["aten::upsample_bilinear2d"] = _renamed(elementwise_flop_counter(0, 4), "upsample_bilinear2d")
    handles["aten::grid_sampler"] = _renamed(elementwise_flop_counter(0, 4), "grid_sampler")
    return handles


def op_handles() -> dict[str, Handle]:
    """All handles :func:`count_flops` registers (jit op name -> handle), for reuse and inspection."""
    return {**_elementwise_handles(), **_mac_handles()}


# ----------------------------------------------------------------------------- public API


def _check_input_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in shape
    ):
        raise ValueError(
            f"input_shape must be (channels, height, width) with positive ints, got {input_shape!r}"
        )
    return tuple(int(s) for s in shape)


def _split(counter: Counter) -> tuple[dict[str, int], dict[str, int]]:
    macs, elementwise = {}, {}
    for key, value in sorted(counter.items()):
        column, _, op = str(key).partition(_SEP)
        target = macs if column == MACS else elementwise
        target[op] = target.get(op, 0) + int(value)
    return macs, elementwise


def _outermost_attention_names(model: nn.Module) -> list[str]:
    names: list[str] = []
    for name, _module in iter_attention_modules(model):
        if not any(name == n or name.startswith(n + ".") for n in names if n):
            names.append(name)
    return names


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    """Count one image's MACs and elementwise FLOPs (see the module docstring for conventions).

    ``input_shape`` is ``(C, H, W)``; batch size is 1. The model is traced in eval mode and every
    submodule's ``training`` flag is restored afterwards. Returns::

        {"macs": int, "elementwise_flops": int,
         "macs_by_op": {op: int}, "elementwise_by_op": {op: int},
         "macs_attention": int, "elementwise_flops_attention": int,   # inside attention modules
         "unsupported_ops": {jit op name: number of calls}}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_flops expects an nn.Module, got {type(model).__name__}")
    shape = _check_input_shape(input_shape)
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None else torch.float32
    x = torch.zeros((1, *shape), device=device, dtype=dtype)

    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, (x,))
        analysis.clear_op_handles()  # drop fvcore's defaults; ours cover them with our conventions
        analysis.set_op_handle(**op_handles())
        analysis.set_op_handle(**{op: None for op in ZERO_COST_OPS})
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        with torch.no_grad():
            macs_by_op, ew_by_op = _split(analysis.by_operator())
            unsupported = dict(sorted(analysis.unsupported_ops().items()))
            per_module = analysis.by_module_and_operator()
        macs_att = ew_att = 0
        for name in _outermost_attention_names(model):
            m, e = _split(per_module.get(analysis.canonical_module_name(name), Counter()))
            macs_att += sum(m.values())
            ew_att += sum(e.values())
    finally:
        for module, training in modes.items():
            module.training = training
    return {
        "macs": int(sum(macs_by_op.values())),
        "elementwise_flops": int(sum(ew_by_op.values())),
        "macs_by_op": macs_by_op,
        "elementwise_by_op": ew_by_op,
        "macs_attention": int(macs_att),
        "elementwise_flops_attention": int(ew_att),
        "unsupported_ops": {str(k): int(v) for k, v in unsupported.items()},
    }
