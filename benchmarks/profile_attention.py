"""Where an attention module's time goes: torch.profiler's operator table for one module and shape,
with its CPU fast path on and off (``ecabench.attention.fast.fast_path``), side by side.

    python benchmarks/profile_attention.py eca --shape 8 2048 7 7 --threads 1
    python benchmarks/profile_attention.py cbam --shape 8 2048 7 7 --threads 1
    python benchmarks/profile_attention.py eca --shape 256 2048 7 7 --threads 1 --iters 3
    python benchmarks/profile_attention.py eca --shape 8 2048 7 7 --backward

Forward: eval mode under ``torch.inference_mode``; ``--backward``: train mode, forward +
``torch.autograd.grad`` w.r.t. input and parameters. After ``--warmup`` untimed calls the profiler
records ``--iters`` calls; the table is sorted by self CPU time (per-call averages in the last columns).
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from ecabench.attention.fast import fast_path
from ecabench.registry import ATTENTION


def profile_module(name: str, shape: tuple[int, ...], *, backward: bool = False, fast: bool = True,
                   iters: int = 20, warmup: int = 5, rows: int = 12) -> str:
    torch.manual_seed(0)
    module = ATTENTION.get(name)(shape[1])
    x = torch.randn(shape)
    if backward:
        module.train()
        x.requires_grad_()
        g = torch.randn(shape)
        params = [p for p in module.parameters() if p.requires_grad]

        def step():
            torch.autograd.grad(module(x), [x, *params], g, allow_unused=True)
        context = torch.enable_grad
    else:
        module.eval()

        def step():
            module(x)
        context = torch.inference_mode
    with fast_path(fast), context():
        for _ in range(warmup):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(iters):
                step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variant", help="registered attention name (eca, se, cbam, or a plugin)")
    ap.add_argument("--shape", type=int, nargs=4, default=[8, 2048, 7, 7], metavar=("N", "C", "H", "W"))
    ap.add_argument("--backward", action="store_true")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--only", choices=["fast", "plain"], default=None, help="profile one path only")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for fast in (True, False):
        if args.only and args.only != ("fast" if fast else "plain"):
            continue
        print(f"\n=== {args.variant} {tuple(args.shape)} {'forward+backward' if args.backward else 'forward'}, "
              f"fast path {'on' if fast else 'off (plain reference formulation)'}, threads {torch.get_num_threads()}, "
              f"{args.iters} calls ===")
        print(profile_module(args.variant, tuple(args.shape), backward=args.backward, fast=fast, iters=args.iters,
                             warmup=args.warmup, rows=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
