"""Attention modules against the memory-bandwidth bound, interleaved: the steadier twin of
``pytest tests/benchmarks --benchmark-only`` for a shared, noisy machine.

For every tensor shape, each of ``--rounds`` rounds times, back to back and in a fresh random
order each round (seeded; so no callable always follows the same one), the copy reference
(``out.copy_(x)`` into a preallocated buffer: one read, one write) and every variant's forward (eval mode, ``torch.inference_mode``; with
``--backward``: train-mode forward + ``torch.autograd.grad`` w.r.t. input and parameters). With
``--aten``, each variant's forward also runs with ECA's fused C kernel off
(``ecabench.attention.kernels.eca_cpu.cpu_kernel(False)``: the ATen fast path), and ECA's kernel is
also called directly (``eca_cpu.forward``: its time without the ``nn.Module`` call). With
``--plain``, each variant also runs with its CPU fast path switched off
(``ecabench.attention.fast.fast_path(False)``: the plain reference formulation), so the speed-up is
measured in the same run. A timing repeats the call L times and divides, L the same for every
callable of a shape (the fastest one lasts >= 2 ms).

Bound (same definition as tests/benchmarks/test_attention_bench.py): a gated rescale reads its input
at least twice and writes it once, 3 passes = 1.5 copies, ``bound = 1.5 x copy time`` for the
forward; forward + backward: 7 passes, ``bound = 3.5 x copy time``. Per round, ratio = time / bound
with the copy timed in the same round; reported: the median of the per-round ratios [p25, p75].

    python benchmarks/attention_bound.py --threads 1                      # ResNet-50 stage shapes
    python benchmarks/attention_bound.py --threads 1 --plain --shapes all # + CIFAR shapes, vs plain
    python benchmarks/attention_bound.py --threads 1 --backward

The glibc allocator keeps freed memory (``--malloc tuned``, the default, as in tests/benchmarks):
otherwise fresh multi-MB outputs page-fault on first touch, which is allocator policy, not the module.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from ecabench.attention.fast import fast_path
from ecabench.attention.kernels import eca_cpu
from ecabench.attention.kernels.eca_cpu import cpu_kernel, status as kernel_status
from ecabench.measure.allocator import keep_freed_memory
from ecabench.registry import ATTENTION

SHAPES = {
    "resnet50": [("resnet50.layer1", (256, 56, 56)), ("resnet50.layer2", (512, 28, 28)),
                 ("resnet50.layer3", (1024, 14, 14)), ("resnet50.layer4", (2048, 7, 7))],
    "cifar": [("cifar.stage1", (16, 32, 32)), ("cifar.stage2", (32, 16, 16)), ("cifar.stage3", (64, 8, 8))],
}
SHAPES["all"] = SHAPES["resnet50"] + SHAPES["cifar"]


def _time(fn, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - start) / loops


def _loops(fn, min_s: float) -> int:
    fn()
    return max(1, int(min_s / max(_time(fn, 1), 1e-7)) + 1)


def _callables(variants, chw, n, backward, channels_last, plain, device, aten=False):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((n, *chw), generator=gen).to(device).contiguous(memory_format=fmt)
    buf = torch.empty_like(x)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def copy():
        buf.copy_(x)
        sync()

    fns = {"copy": copy}
    for name in variants:
        module = ATTENTION.get(name)(chw[0]).to(device)
        if backward:
            module.train()
            xg = x.detach().clone().requires_grad_()
            g = torch.randn(x.shape, generator=gen).to(device).contiguous(memory_format=fmt)
            params = [p for p in module.parameters() if p.requires_grad]

            def run(module=module, xg=xg, g=g, params=params):
                torch.autograd.grad(module(xg), [xg, *params], g, allow_unused=True)
                sync()
        else:
            module.eval()

            def run(module=module):
                with torch.inference_mode():
                    module(x)
                sync()

        fns[name] = run
        if aten and not backward:
            def run_aten(run=run):
                with cpu_kernel(False):
                    run()

            fns[f"{name} (aten)"] = run_aten
            if name == "eca":  # the C kernel's own time: no nn.Module call, no fallback checks in ECA
                weight, padding = module.conv.weight, module.padding

                def run_kernel(weight=weight, padding=padding):
                    with torch.inference_mode():
                        eca_cpu.forward(x, weight, padding)

                fns["eca (kernel call)"] = run_kernel
        if plain:
            def run_plain(run=run):
                with fast_path(False):
                    run()

            fns[f"{name} (plain)"] = run_plain
    return fns


def measure(variants, shapes, *, batch_size=8, rounds=15, backward=False, channels_last=False, plain=False,
            aten=False, device="cpu", min_s=2e-3, log=print) -> dict:
    passes = 7 if backward else 3
    out = {}
    for label, chw in shapes:
        fns = _callables(variants, chw, batch_size, backward, channels_last, plain, device, aten)
        # One loop count for every callable of a shape (enough for the fastest to last min_s): each
        # timing then pays the cost of coming back to a cache the previous callable used equally.
        common = max(_loops(f, min_s) for f in fns.values())
        loops = {k: common for k in fns}
        times = {k: [] for k in fns}
        names = list(fns)
        shuffler = random.Random(0)
        for _ in range(rounds):
            order = names[:]
            shuffler.shuffle(order)  # a new order (and new neighbours: caches) every round
            for k in order:
                times[k].append(_time(fns[k], loops[k]))
        rows = {}
        for k in names:
            ratios = [t / (passes / 2 * c) for t, c in zip(times[k], times["copy"])]
            q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
            rows[k] = {"median_s": statistics.median(times[k]), "ratio": statistics.median(ratios),
                       "ratio_p25": q[0], "ratio_p75": q[2], "samples_s": times[k]}
            if plain and f"{k} (plain)" in times:
                rows[k]["speedup_vs_plain"] = statistics.median(
                    [p / f for f, p in zip(times[k], times[f"{k} (plain)"])])
        out[label] = {"shape": [batch_size, *chw], "rows": rows}
        log(f"  {label} {tuple([batch_size, *chw])}: " + ", ".join(
            f"{k} {rows[k]['ratio']:.2f}" for k in names if k != "copy"), flush=True)
    return {"passes": passes, "backward": backward, "results": out}


def table(result: dict) -> str:
    first = next(iter(result["results"].values()))["rows"]
    names = [k for k in first if k != "copy"]
    head = ["shape", "copy (median)"] + [f"{k}: time / bound [p25, p75]" for k in names]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for label, res in result["results"].items():
        rows = res["rows"]
        cells = [f"{label} {tuple(res['shape'])}", f"{rows['copy']['median_s'] * 1e6:.0f} us"]
        for k in names:
            r = rows[k]
            cell = f"{r['ratio']:.2f} [{r['ratio_p25']:.2f}, {r['ratio_p75']:.2f}]"
            if "speedup_vs_plain" in r:
                cell += f", {r['speedup_vs_plain']:.2f}x vs plain"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="+", default=["eca", "se", "cbam"])
    ap.add_argument("--shapes", choices=sorted(SHAPES), default="resnet50")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--backward", action="store_true", help="forward + backward (bound: 7 passes)")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--plain", action="store_true", help="also time each variant with its fast path off")
    ap.add_argument("--aten", action="store_true",
                    help="also time each variant's forward with the fused C kernel off (ECA's ATen fast path)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--malloc", choices=["tuned", "default"], default="tuned")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    allocator = keep_freed_memory() if args.malloc == "tuned" else "default"
    print(f"{'forward+backward' if args.backward else 'forward'}, batch {args.batch_size}, "
          f"{'channels_last' if args.channels_last else 'contiguous'}, {args.device}, threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}, {args.rounds} interleaved rounds, "
          f"allocator: {allocator}, ECA CPU kernel: {kernel_status()}", flush=True)
    result = measure(args.variants, SHAPES[args.shapes], batch_size=args.batch_size, rounds=args.rounds,
                     backward=args.backward, channels_last=args.channels_last, plain=args.plain,
                     aten=args.aten, device=args.device)
    print()
    print(table(result))
    if args.json:
        result.update(threads=torch.get_num_threads(), allocator=allocator, torch=torch.__version__,
                      eca_cpu_kernel=kernel_status(),
                      memory_format="channels_last" if args.channels_last else "contiguous")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
