"""ECA's fused C kernel (ecabench.attention.kernels): numbers, when it is used, and how it is built.

The reference is written out here (pool -> zero pad -> conv1d -> sigmoid -> scale, ATen ops); the
kernel must match it to 1e-6 (fp32) for odd and even k, both layouts, shapes that take each of the
kernel's code paths (256-channel register blocks and their tail, short and long rows, aligned
vector scale and per-row scale, streaming stores) and 1 or 2 threads.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from ecabench.attention import ECA
from ecabench.attention import eca as eca_module
from ecabench.attention.fast import fast_path
from ecabench.attention.kernels import build, eca_cpu

TOL = dict(rtol=1e-6, atol=1e-6)
HAVE_CC = build.find_compiler() is not None
needs_kernel = pytest.mark.skipif(not HAVE_CC, reason="no C compiler: the kernel cannot be built here")

SHAPES = [
    (2, 2048, 7, 7),   # ResNet-50 layer4: full 256-channel blocks, 49-float rows
    (3, 256, 14, 14),  # one block per pixel, rows a multiple of 16 floats
    (2, 300, 9, 9),    # one block + a 44-channel tail
    (2, 100, 5, 5),    # no full block; rows shorter than a vector
    (4, 64, 17, 3),    # odd row length 51
    (2, 48, 6, 6),     # 3-vector register block
    (1, 8, 32, 32),    # few channels, long rows
    (1, 16, 1, 1),     # 1x1 map: both layouts are the same memory
]


def eca_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    n, c = x.shape[:2]
    k = weight.shape[-1]
    y = F.conv1d(F.pad(x.mean((2, 3)).view(n, 1, c), ((k - 1) // 2, k // 2)), weight)
    return x * torch.sigmoid(y).view(n, c, 1, 1)


def _input(shape, layout, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x


def _weight(k, seed=1):
    return torch.randn(1, 1, k, generator=torch.Generator().manual_seed(seed))


def _padding(k):
    return ((k - 1) // 2, k // 2)


def test_the_kernel_builds_wherever_there_is_a_compiler():
    lib = eca_cpu.library()
    if not HAVE_CC:
        assert lib.lib is None and "no C compiler" in lib.reason
        return
    assert lib.lib is not None, lib.reason
    assert lib.path is not None and lib.path.is_file()
    assert eca_cpu.status().startswith("fused C kernel (")


@needs_kernel
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 9])
def test_kernel_matches_the_reference(shape, layout, k):
    x, w = _input(shape, layout), _weight(k)
    with torch.no_grad():
        out = eca_cpu.forward(x, w, _padding(k))
        ref = eca_reference(x, w)
    assert out is not None
    assert out.shape == x.shape and out.stride() == x.stride()
    torch.testing.assert_close(out, ref, **TOL)


@needs_kernel
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", [(4, 512, 12, 12), (4, 96, 20, 20), (1, 256, 32, 32)])
def test_streaming_stores_and_threads_give_the_same_numbers(layout, shape, monkeypatch):
    """> and <= one register block; whole images per thread (N >= threads) and passes split over
    threads (N = 1). Every shape has >= 2 * GRAIN elements, so 2 threads get work."""
    x, w = _input(shape, layout), _weight(5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            one = eca_cpu.forward(x, w, _padding(5))
        torch.set_num_threads(2)
        monkeypatch.setattr(eca_cpu, "STREAM_MIN_BYTES", 0)  # streaming stores on
        with torch.no_grad():
            two = eca_cpu.forward(x, w, _padding(5))
    finally:
        torch.set_num_threads(threads)
    assert one is not None and two is not None
    assert torch.equal(one, two)  # each mean and output element is computed the same way
    torch.testing.assert_close(two, eca_reference(x, w), **TOL)


@needs_kernel
def test_eca_inference_uses_the_kernel_and_training_does_not(monkeypatch):
    calls = []
    real = eca_module.eca_fast
    monkeypatch.setattr(eca_module, "eca_fast", lambda *a: calls.append(1) or real(*a))
    m = ECA(256, k=3)
    x = _input((2, 256, 7, 7), "channels_last")
    m.eval()
    with torch.inference_mode():
        out = m(x)
    assert calls == []  # the kernel did it
    torch.testing.assert_close(out, eca_reference(x, m.conv.weight.detach()), **TOL)
    with torch.no_grad(), eca_cpu.cpu_kernel(False):
        m(x)
    assert calls == [1]  # switched off: the ATen fast path
    m.train()
    y = m(x.requires_grad_())  # autograd needed: ATen
    assert calls == [1, 1] and y.requires_grad
    with fast_path(False), torch.no_grad():
        m(x)
    assert calls == [1, 1]  # the plain reference, neither fast path


@needs_kernel
def test_non_finite_input_falls_back_to_the_reference():
    m = ECA(64, k=3).eval()
    x = _input((2, 64, 5, 5), "channels_last")
    x[0, 3, 1, 1] = float("nan")
    x[1, 10, 0, 0] = float("inf")
    w = m.conv.weight.detach()
    with torch.no_grad():
        assert eca_cpu.forward(x, w, m.padding) is None  # the kernel declines
        out = m(x)
        ref = eca_reference(x, w)
    torch.testing.assert_close(out, ref, equal_nan=True, **TOL)
    assert out.isnan().any()


@needs_kernel
def test_layouts_and_dtypes_the_kernel_does_not_take():
    w = _weight(3)
    x = _input((2, 32, 8, 8), "contiguous")
    with torch.no_grad():
        assert eca_cpu.forward(x[:, :, ::2], w, _padding(3)) is None  # strided view
        assert eca_cpu.forward(x.double(), w.double(), _padding(3)) is None
        assert eca_cpu.forward(x.to(torch.bfloat16), w, _padding(3)) is None
    assert eca_cpu.forward(x.requires_grad_(), w, _padding(3)) is None  # autograd needs ATen


def test_a_failing_build_is_reported_not_raised(tmp_path):
    lib = build.load_library.__wrapped__("eca_cpu", cc="/bin/false", cache=str(tmp_path))
    assert lib.lib is None
    assert "false -O3 -march=native -fopenmp failed" in lib.reason
    assert lib.describe().startswith("unavailable: ")
    assert list(tmp_path.iterdir()) == []  # no half-written library left behind


def test_cc_naming_a_missing_program_means_no_compiler(monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-ecabench")
    assert build.find_compiler() is None
    lib = build.load_library.__wrapped__("eca_cpu")
    assert lib.lib is None and "no C compiler found" in lib.reason


@needs_kernel
def test_the_build_is_cached_per_machine(tmp_path, monkeypatch):
    first = build.load_library.__wrapped__("eca_cpu", cache=str(tmp_path))
    assert first.lib is not None and first.path.parent == tmp_path
    assert first.path.name.startswith("eca_cpu-") and first.path.suffix == ".so"
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary files left

    def no_build(*args):
        raise AssertionError("rebuilt a cached library")

    monkeypatch.setattr(build, "_build", no_build)
    again = build.load_library.__wrapped__("eca_cpu", cache=str(tmp_path))
    assert again.path == first.path and again.lib is not None


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ECABENCH_KERNEL_CACHE", str(tmp_path / "k"))
    assert build.cache_dir() == tmp_path / "k"
    monkeypatch.delenv("ECABENCH_KERNEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build.cache_dir() == tmp_path / "xdg" / "ecabench" / "kernels"


def test_run_records_say_whether_the_kernel_ran():
    from ecabench.measure.environment import environment

    env = environment()
    assert env["eca_cpu_kernel"] == eca_cpu.status()
    with eca_cpu.cpu_kernel(False):
        assert eca_cpu.status().startswith("off")
    if os.environ.get("ECABENCH_CPU_KERNEL") != "0" and HAVE_CC:
        assert env["eca_cpu_kernel"].startswith("fused C kernel")


@needs_kernel
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 instruction-set levels")
@pytest.mark.parametrize("march", ["x86-64-v2", "x86-64-v3"])  # no AVX; AVX2 (no AVX-512 paths)
def test_the_portable_code_paths_match_the_reference(march, tmp_path):
    """What machines without AVX-512 run: the plain-C loops the compiler vectorises itself."""
    import ctypes

    target = tmp_path / f"eca_cpu_{march}.so"
    source = os.path.join(os.path.dirname(build.__file__), "eca_cpu.c")
    error = build._build(__import__("pathlib").Path(source), target, build.find_compiler(),
                         ("-O3", f"-march={march}", "-fopenmp"))
    assert error is None, error
    fn = ctypes.CDLL(str(target)).ecabench_eca_forward
    fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3 + [ctypes.c_int] * 5
    for shape in [(2, 2048, 7, 7), (2, 300, 9, 9), (4, 64, 17, 3), (1, 8, 32, 32), (2, 48, 6, 6)]:
        for layout, channels_last in (("contiguous", 0), ("channels_last", 1)):
            for k in (2, 5):
                x, w = _input(shape, layout), _weight(k)
                out = torch.empty_like(x)
                n, c, h, wd = shape
                for stream in (0, 1):
                    rc = fn(x.data_ptr(), out.data_ptr(), w.data_ptr(), n, c, h * wd, k, (k - 1) // 2,
                            channels_last, stream, 2)
                    assert rc == 0
                    torch.testing.assert_close(out, eca_reference(x, w), **TOL)


@needs_kernel
def test_an_unwritable_cache_falls_back_to_a_temporary_folder(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    lib = build.load_library.__wrapped__("eca_cpu", cache=str(blocked / "kernels"))
    assert lib.lib is not None, lib.reason
    assert lib.path.parent.name.startswith("ecabench-kernels-")
