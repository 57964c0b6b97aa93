"""The CPU fast paths of ECA, SE and CBAM against plain reference implementations written out here.

Random fp32 inputs: odd and even k, contiguous and channels-last inputs, both of ECA's
channel-convolution routes (small and large N*C), CBAM's maximum tree (small maps, no autograd) and
its ``amax`` route. Tolerances:

* outputs and input gradients match the plain fp32 reference to 1e-6
  (``assert_close(rtol=1e-6, atol=1e-6)``);
* parameter gradients are sums over N*H*W (or N*C) products with mixed signs, so no fp32
  evaluation, the plain reference's included, is good to 1e-6 of them (the plain reference is off
  from its own float64 evaluation by up to ~1e-5 relative, e.g. through oneDNN's ``conv1d``
  backward). The fast path must be as accurate as the plain fp32 reference: its largest deviation
  from the plain reference evaluated in float64 is at most twice the plain fp32 reference's own,
  plus 1e-6 of the gradient's largest entry. (SE's and CBAM's fast paths are bitwise equal to
  the plain reference; ECA's differs by rounding in the channel convolution.)

See docs/performance.md for why the fast paths look the way they do.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from ecabench.attention import CBAM, ECA, SE
from ecabench.attention.cbam import channel_max
from ecabench.attention.eca import (
    _NATIVE_CONV_MAX_NUMEL,
    channel_conv,
    fast_path,
    fast_path_enabled,
    spatial_mean,
)

TOL = dict(rtol=1e-6, atol=1e-6)
LAYOUTS = ["contiguous", "channels_last"]


# ----------------------------------------------------------------------------- plain references


def eca_plain(x, weight):
    """Global average pool -> zero pad (left (k-1)//2, right k//2) -> conv1d -> sigmoid -> scale."""
    n, c = x.shape[:2]
    k = weight.shape[-1]
    y = x.mean((2, 3)).view(n, 1, c)
    y = F.conv1d(F.pad(y, ((k - 1) // 2, k // 2)), weight)
    return x * torch.sigmoid(y).view(n, c, 1, 1)


def se_plain(x, w1, b1, w2, b2):
    n, c = x.shape[:2]
    s = torch.sigmoid(F.linear(F.relu(F.linear(x.mean((2, 3)), w1, b1)), w2, b2))
    return x * s.view(n, c, 1, 1)


def cbam_plain(x, w1, b1, w2, b2, conv_w, bn_w, bn_b, running_mean, running_var, training, eps=1e-5):
    n, c = x.shape[:2]

    def mlp(v):
        return F.linear(F.relu(F.linear(v, w1, b1)), w2, b2)

    x = x * torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3)))).view(n, c, 1, 1)
    pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], dim=1)
    z = F.conv2d(pooled, conv_w, padding=conv_w.shape[-1] // 2)
    z = F.batch_norm(z, running_mean, running_var, bn_w, bn_b, training=training, momentum=0.1, eps=eps)
    return x * torch.sigmoid(z)


# ----------------------------------------------------------------------------- helpers


def _input(shape, layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 2 + 0.5  # non-zero mean: pooled values are not ~0
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x


def _randomize(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def _grads(fn, x, params, seed=2):
    """Gradients of <fn(x), G> for a fixed random G, w.r.t. x and params (fresh leaves each call)."""
    x = x.detach().clone().requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in params]
    out = fn(x, params)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(memory_format=torch.contiguous_format)
    return out.detach(), torch.autograd.grad(out, [x, *params], g)


def _module_fn(module):
    """fn(x, params) that runs ``module`` with its parameters replaced by ``params``."""
    names = [n for n, _ in module.named_parameters()]

    def fn(x, params):
        return torch.func.functional_call(module, dict(zip(names, params)), (x,))

    return fn


def _check_grads(fn_fast, fn_plain, x, params):
    """Output and input gradient vs the plain fp32 reference (1e-6); parameter gradients at least as
    accurate as the plain fp32 reference's, judged against its float64 evaluation (module docstring)."""
    out_ref, g_ref = _grads(fn_plain, x, params)
    out, g = _grads(fn_fast, x, params)
    torch.testing.assert_close(out, out_ref, **TOL)
    torch.testing.assert_close(g[0], g_ref[0], **TOL)
    _, g64 = _grads(fn_plain, x.double(), [p.double() for p in params])
    for i, (got, plain, truth) in enumerate(zip(g[1:], g_ref[1:], g64[1:])):
        err_fast = (got.double() - truth).abs().max().item()
        err_plain = (plain.double() - truth).abs().max().item()
        allowed = 2 * err_plain + 1e-6 * truth.abs().max().item()
        assert err_fast <= allowed, (
            f"parameter {i}: fast path off by {err_fast:.3g} from float64, plain fp32 by {err_plain:.3g} "
            f"(allowed {allowed:.3g})"
        )


def _assert_same_layout(a, b):
    assert a.shape == b.shape
    assert a.is_contiguous(memory_format=torch.channels_last) == b.is_contiguous(memory_format=torch.channels_last)
    assert a.is_contiguous() == b.is_contiguous()


# ----------------------------------------------------------------------------- building blocks


def test_fast_path_gate():
    assert fast_path_enabled(torch.zeros(1, 2, 3, 3))
    assert not fast_path_enabled(torch.zeros(2, 3, 3))
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(fast_path_enabled(x))
            return x * 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace is deprecated; fvcore uses it
        torch.jit.trace(Probe(), torch.zeros(1, 2, 3, 3), check_trace=False)
    assert seen == [False]  # tracers (fvcore's FLOP count) see the reference formulation
    with fast_path(False):
        assert not fast_path_enabled(torch.zeros(1, 2, 3, 3))
        with fast_path(True):
            assert fast_path_enabled(torch.zeros(1, 2, 3, 3))
        assert not fast_path_enabled(torch.zeros(1, 2, 3, 3))
    assert fast_path_enabled(torch.zeros(1, 2, 3, 3))


def test_fast_path_off_is_the_reference_formulation():
    x = _input((2, 64, 7, 7), "contiguous")
    eca, se = _randomize(ECA(64, k=4)), _randomize(SE(64))
    with torch.no_grad(), fast_path(False):
        assert torch.equal(eca(x), eca_plain(x, eca.conv.weight))
        assert torch.equal(se(x), se_plain(x, se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias))


@pytest.mark.parametrize("cls", [ECA, SE, CBAM])
def test_still_scriptable(cls):
    """TorchScript compiles the reference branch only (the fast path is ``torch.jit.unused``)."""
    m = _randomize(cls(16)).eval()
    x = _input((2, 16, 5, 5), "contiguous")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(m)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), m(x), **TOL)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(2, 12, 5, 7), (8, 2048, 7, 7), (3, 64, 1, 1), (1, 16, 56, 56)])
def test_spatial_mean_is_mean_bitwise_value_and_gradient(shape, layout):
    x = _input(shape, layout).requires_grad_()
    g = torch.randn(shape[:2])
    assert torch.equal(spatial_mean(x), x.mean((2, 3)))  # ATen's mean is sum + div_
    (a,) = torch.autograd.grad(spatial_mean(x), x, g)
    (b,) = torch.autograd.grad(x.mean((2, 3)), x, g)
    assert torch.equal(a, b)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8, 9])
@pytest.mark.parametrize("n, c", [(1, 5), (2, 12), (8, 2048), (11, 2048)])
def test_channel_conv_matches_conv1d(n, c, k):
    g = torch.Generator().manual_seed(k)
    y = torch.randn(n, c, generator=g)
    w = torch.randn(1, 1, k, generator=g)
    padding = ((k - 1) // 2, k // 2)
    ref = F.conv1d(F.pad(y.view(n, 1, c), padding), w).view(n, c)
    got = channel_conv(y, w, padding)
    assert got.shape == (n, c)
    torch.testing.assert_close(got, ref, **TOL)


def test_channel_conv_covers_both_routes():
    assert 8 * 2048 <= _NATIVE_CONV_MAX_NUMEL < 11 * 2048


@pytest.mark.parametrize("c", [1, 2, 3, 5, 64, 255, 256, 257, 1000, 2048])
def test_channel_max_tree_is_exact(c):
    x = _input((2, c, 7, 7), "contiguous")
    with torch.no_grad():
        assert torch.equal(channel_max(x), x.amax(1, keepdim=True))


# ----------------------------------------------------------------------------- ECA


ECA_CASES = [
    # (shape, k): odd and even k; N*C below and above the native-conv limit (both conv routes)
    ((2, 12, 5, 7), 1), ((2, 12, 5, 7), 2), ((2, 12, 5, 7), 3), ((2, 12, 5, 7), 4),
    ((3, 64, 8, 8), 5), ((3, 64, 8, 8), 6), ((2, 256, 7, 7), 7), ((2, 256, 7, 7), 8),
    ((12, 2048, 2, 3), 7), ((12, 2048, 2, 3), 4), ((2, 16, 32, 32), 9),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape, k", ECA_CASES, ids=[f"{s}-k{k}" for s, k in ECA_CASES])
def test_eca_fast_matches_plain(shape, k, layout):
    m = _randomize(ECA(shape[1], k=k))
    x = _input(shape, layout)
    with torch.no_grad():
        ref = eca_plain(x, m.conv.weight)
        got = m(x)
    torch.testing.assert_close(got, ref, **TOL)
    _assert_same_layout(got, ref)
    with torch.inference_mode():
        torch.testing.assert_close(m(x), ref, **TOL)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape, k", ECA_CASES, ids=[f"{s}-k{k}" for s, k in ECA_CASES])
def test_eca_fast_gradients_match_plain(shape, k, layout):
    m = _randomize(ECA(shape[1], k=k))
    _check_grads(_module_fn(m), lambda x, p: eca_plain(x, p[0]), _input(shape, layout), [m.conv.weight])


def test_eca_adaptive_default_matches_plain():
    for c in (64, 256, 512, 1024, 2048):  # adaptive k = 3, 5, 5, 5, 7
        m = _randomize(ECA(c))
        x = _input((2, c, 3, 3), "contiguous")
        with torch.no_grad():
            torch.testing.assert_close(m(x), eca_plain(x, m.conv.weight), **TOL)


# ----------------------------------------------------------------------------- SE and CBAM

SHAPES = [(2, 32, 5, 7), (3, 64, 8, 8), (2, 256, 7, 7), (2, 300, 4, 4), (2, 64, 14, 14)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_se_fast_matches_plain(shape, layout):
    m = _randomize(SE(shape[1]))
    params = [m.fc1.weight, m.fc1.bias, m.fc2.weight, m.fc2.bias]
    x = _input(shape, layout)
    with torch.no_grad():
        ref = se_plain(x, *params)
        got = m(x)
    torch.testing.assert_close(got, ref, **TOL)
    _assert_same_layout(got, ref)
    _check_grads(_module_fn(m), lambda x, p: se_plain(x, *p), x, params)


def _cbam_params(m):
    return [m.mlp[0].weight, m.mlp[0].bias, m.mlp[2].weight, m.mlp[2].bias, m.spatial_conv.weight,
            m.spatial_bn.weight, m.spatial_bn.bias]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_cbam_fast_matches_plain_eval(shape, layout):
    m = _randomize(CBAM(shape[1])).eval()
    with torch.no_grad():
        m.spatial_bn.running_mean.fill_(0.3)
        m.spatial_bn.running_var.fill_(2.0)
    x = _input(shape, layout)
    bn = m.spatial_bn
    with torch.no_grad():
        ref = cbam_plain(x, *_cbam_params(m), bn.running_mean, bn.running_var, training=False, eps=bn.eps)
        got = m(x)  # no autograd: the maximum tree on maps of <= 64 positions
    torch.testing.assert_close(got, ref, **TOL)
    _assert_same_layout(got, ref)
    with torch.inference_mode():
        torch.testing.assert_close(m(x), ref, **TOL)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_cbam_fast_gradients_match_plain_train(shape, layout):
    m = _randomize(CBAM(shape[1])).train()
    bn = m.spatial_bn
    x = _input(shape, layout)
    mean0, var0 = bn.running_mean.clone(), bn.running_var.clone()

    def plain(x, p):  # fresh copies of the running statistics each call (training-mode BN updates them)
        return cbam_plain(x, *p, mean0.clone().to(x.dtype), var0.clone().to(x.dtype), training=True, eps=bn.eps)

    _check_grads(_module_fn(m), plain, x, _cbam_params(m))
    # one training-mode forward of the module updates the running statistics like the reference's
    stats = [mean0.clone(), var0.clone()]
    bn.running_mean.copy_(mean0)
    bn.running_var.copy_(var0)
    with torch.no_grad():
        cbam_plain(x, *_cbam_params(m), *stats, training=True, eps=bn.eps)
        m(x)
    torch.testing.assert_close(bn.running_mean, stats[0], **TOL)
    torch.testing.assert_close(bn.running_var, stats[1], **TOL)


@pytest.mark.parametrize("shape", [(2, 256, 7, 7), (3, 128, 5, 6), (1, 512, 14, 14)])
def test_spatial_mean_pools_nhwc_with_avg_pool_in_inference(shape, monkeypatch):
    from ecabench.attention import fast

    calls = []
    real = fast.F.avg_pool2d
    monkeypatch.setattr(fast.F, "avg_pool2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = _input(shape, "channels_last")
    with torch.no_grad():
        got = spatial_mean(x, exact=False)
    torch.testing.assert_close(got, x.mean((2, 3)), **TOL)
    assert calls == [1]
    # exact (SE, CBAM), NCHW, few channels, or under autograd: the bitwise sum path
    with torch.no_grad():
        assert torch.equal(spatial_mean(x), x.mean((2, 3)))
        spatial_mean(x.contiguous(), exact=False)
        spatial_mean(_input((2, 64, 7, 7), "channels_last"), exact=False)
    spatial_mean(x.clone().requires_grad_(), exact=False)
    assert calls == [1]
    # the modules built on it still match their plain formulation in inference
    m = _randomize(ECA(shape[1], k=5))
    with torch.inference_mode():
        torch.testing.assert_close(m(x), eca_plain(x, m.conv.weight), **TOL)
