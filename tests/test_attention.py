"""Attention modules: numerics against hand computations, shapes, parameter counts."""
import math

import pytest
import torch

from ecabench.attention import CBAM, ECA, SE, NoAttention, adaptive_kernel_size


def eca_by_hand(x, weight):
    """Pool, 1-D conv with explicit zero padding (left (k-1)//2, right k//2), sigmoid, scale — loops only."""
    n, c, h, w = x.shape
    k = weight.numel()
    left = (k - 1) // 2
    out = torch.empty_like(x)
    for i in range(n):
        pooled = [x[i, ch].sum().item() / (h * w) for ch in range(c)]
        for ch in range(c):
            s = 0.0
            for j in range(k):
                src = ch - left + j
                if 0 <= src < c:
                    s += weight[j].item() * pooled[src]
            out[i, ch] = x[i, ch] * (1.0 / (1.0 + math.exp(-s)))
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_eca_matches_hand_computation(k):
    torch.manual_seed(k)
    x = torch.randn(2, 12, 3, 4, dtype=torch.float64)
    m = ECA(12, k=k).double()
    with torch.no_grad():
        m.conv.weight.copy_(torch.randn_like(m.conv.weight))
    assert m.k == k
    torch.testing.assert_close(m(x), eca_by_hand(x, m.conv.weight.view(-1)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_even_k_keeps_all_channels(k):
    x = torch.randn(2, 64, 5, 5)
    y = ECA(64, k=k)(x)
    assert y.shape == x.shape


@pytest.mark.parametrize(
    "channels,gamma,b,odd,expected",
    [
        (256, 2, 1, True, 5),   # (8+1)/2 = 4.5 -> 4 -> odd 5
        (512, 2, 1, True, 5),   # (9+1)/2 = 5
        (2048, 2, 1, True, 7),  # (11+1)/2 = 6 -> 7
        (256, 2, 1, False, 4),
        (2048, 2, 1, False, 6),
        (16, 2, 1, True, 3),    # (4+1)/2 = 2.5 -> 2 -> 3
        (16, 4, 0, False, 1),   # 4/4 = 1
        (2, 4, 0, False, 1),    # t = 0 -> k = 1
        (64, 3, 0, True, 3),    # 6/3 = 2 -> 3
    ],
)
def test_adaptive_kernel_size(channels, gamma, b, odd, expected):
    assert adaptive_kernel_size(channels, gamma, b, odd) == expected
    assert ECA(channels, gamma=gamma, b=b, odd=odd).k == expected


def test_eca_parameter_count_is_k():
    assert sum(p.numel() for p in ECA(2048).parameters()) == 7
    assert sum(p.numel() for p in ECA(64, k=4).parameters()) == 4


def test_se_matches_hand_computation():
    torch.manual_seed(0)
    x = torch.randn(3, 32, 4, 4, dtype=torch.float64)
    m = SE(32, r=8).double()
    s = x.mean((2, 3))
    z = torch.relu(s @ m.fc1.weight.T + m.fc1.bias)
    w = torch.sigmoid(z @ m.fc2.weight.T + m.fc2.bias)
    torch.testing.assert_close(m(x), x * w[:, :, None, None])
    # C*C/r weights + C/r biases, twice over (both FCs carry a bias, as in the reference)
    assert sum(p.numel() for p in m.parameters()) == 32 * 4 + 4 + 4 * 32 + 32


def test_cbam_matches_hand_computation():
    torch.manual_seed(0)
    x = torch.randn(2, 32, 6, 5, dtype=torch.float64)
    m = CBAM(32, r=16).double().eval()
    with torch.no_grad():
        m.spatial_bn.running_mean.fill_(0.3)
        m.spatial_bn.running_var.fill_(2.0)
        m.spatial_bn.weight.fill_(1.5)
        m.spatial_bn.bias.fill_(-0.2)

    def mlp(v):
        return m.mlp[2](torch.relu(m.mlp[0](v)))

    xc = x * torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]
    pooled = torch.cat([xc.amax(1, keepdim=True), xc.mean(1, keepdim=True)], 1)
    conv = torch.nn.functional.conv2d(pooled, m.spatial_conv.weight, padding=3)
    bn = (conv - 0.3) / math.sqrt(2.0 + m.spatial_bn.eps) * 1.5 - 0.2
    torch.testing.assert_close(m(x), xc * torch.sigmoid(bn))
    # shared MLP with biases + 7x7x2 conv without bias + BN affine (2)
    assert sum(p.numel() for p in m.parameters()) == (32 * 2 + 2 + 2 * 32 + 32) + 98 + 2


@pytest.mark.parametrize("cls", [NoAttention, ECA, SE, CBAM])
def test_shape_preserved_and_backward(cls):
    x = torch.randn(2, 64, 7, 7, requires_grad=True)
    y = cls(64)(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("cls", [ECA, SE, CBAM])
def test_modules_are_plain_pytorch_that_torchscript_compiles(cls):
    """One formulation on every device: TorchScript (which rejects data-dependent fast paths)
    compiles the module and gives the same numbers."""
    import warnings

    torch.manual_seed(0)
    m = cls(16).eval()
    x = torch.randn(2, 16, 5, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(m)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), m(x), rtol=0, atol=0)
