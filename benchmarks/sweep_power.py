"""How precise is a paired comparison at a given training recipe, and what does one run cost?

Trains the attention-zoo variants (or any specs) over several seeds with common random numbers,
``--jobs`` runs at a time with one torch thread each (as the workflow's train jobs run), and prints
per variant: mean test top-1, the sd of single runs, the sd of the paired difference to the baseline,
the 95% CI half-width of that difference and the seconds one run took. This is how the default
sweep's recipe was chosen (docs/statistics.md):

    python benchmarks/sweep_power.py --subset 4000 --batch-size 64 --seeds 0 1 2 3 4 5 --jobs 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def _one(args: tuple) -> dict:
    spec, seed, recipe, out_dir = args
    import torch

    torch.set_num_threads(1)
    from ecabench.experiment import run_experiment
    from ecabench.runconfig import make_run_config

    cfg = make_run_config(backbone=recipe["backbone"], attention=spec, dataset=recipe["dataset"],
                          dataset_options={"subset": recipe["subset"], "val_size": recipe["val_size"]},
                          train=recipe["train"], model=recipe.get("model") or {}, seed=seed)
    t0 = time.perf_counter()
    rec = run_experiment(cfg, out_dir=out_dir, device="cpu", progress=False, keep_checkpoint=True,
                         checkpoint_dir=out_dir)
    row = {"spec": spec, "seed": seed, "status": rec["status"], "top1": rec["metrics"].get("test_top1_pct"),
           "wall_s": time.perf_counter() - t0, "train_s": rec["timings"].get("train_time_s"),
           "eval_s": rec["timings"].get("eval_time_s")}
    if recipe.get("per_image"):
        row["correct"] = _per_image_correct(cfg, rec, out_dir)
    return row


def _per_image_correct(cfg: dict, rec: dict, out_dir: str) -> list[int]:
    """1/0 per test image for the trained weights (from the run's kept checkpoint)."""
    import torch

    from ecabench.data import load_dataset
    from ecabench.models import build_model

    ds = cfg["dataset"]
    bundle = load_dataset(ds["name"], val_size=ds["val_size"], subset=ds["subset"], seed=cfg["seed"])
    model = build_model(cfg["backbone"], cfg["attention"], num_classes=bundle.num_classes,
                        in_channels=ds["in_channels"], **cfg["model"])
    state = torch.load(os.path.join(out_dir, f"{rec['run_id']}.pt"), map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(bundle.test.x[i:i + 256]).argmax(1) for i in range(0, len(bundle.test), 256)])
    return (pred == bundle.test.y).int().tolist()


def _subset_sds(rows: list[dict], specs: list[str], seeds: list[int], sizes: list[int]) -> dict:
    """Paired sd of test top-1 vs the first spec when only a fixed random subset of the test split counts."""
    base = specs[0]
    correct = {(r["spec"], r["seed"]): np.asarray(r["correct"]) for r in rows}
    n_test = len(next(iter(correct.values())))
    rng = np.random.default_rng(0)
    out = {}
    for size in sizes:
        sds = {spec: [] for spec in specs[1:]}
        for _ in range(50 if size < n_test else 1):
            idx = rng.choice(n_test, size, replace=False) if size < n_test else np.arange(n_test)
            for spec in specs[1:]:
                d = [100 * (correct[(spec, s)][idx].mean() - correct[(base, s)][idx].mean()) for s in seeds]
                sds[spec].append(np.std(d, ddof=1))
        out[size] = {spec: float(np.sqrt(np.mean(np.square(v)))) for spec, v in sds.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--specs", nargs="+", default=["none", "eca", "se", "cbam"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--backbone", default="resnet20")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=4000)
    p.add_argument("--val-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--width-mult", type=float, default=None, help="mobilenet_v2's width_mult")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0005)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--per-image", action="store_true",
                   help="also score every test image, and print the paired sd on fixed random test subsets")
    p.add_argument("--json", help="write the per-run rows and the summary here")
    a = p.parse_args(argv)
    recipe = {"per_image": a.per_image, "backbone": a.backbone, "dataset": a.dataset, "subset": a.subset,
              "val_size": a.val_size,
              "model": {"width_mult": a.width_mult} if a.width_mult is not None else {},
              "train": {"epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr, "label_smoothing": 0.0,
                        "momentum": a.momentum, "weight_decay": a.weight_decay}}
    with tempfile.TemporaryDirectory() as out_dir:
        t0 = time.perf_counter()
        rows = _run_all([(s, seed, recipe, out_dir) for seed in a.seeds for s in a.specs], a.jobs)
        wall = time.perf_counter() - t0
    print(f"recipe {json.dumps(recipe)}; {len(rows)} runs in {wall:.0f} s with {a.jobs} jobs "
          f"({wall * a.jobs / len(rows):.1f} core-s per run)")
    summary = _summarise(rows, a.specs, a.seeds)
    if a.per_image:
        n_test = len(rows[0]["correct"])
        sizes = [n for n in (n_test, 7500, 5000, 2500) if n <= n_test]
        for size, sds in _subset_sds(rows, a.specs, a.seeds, sizes).items():
            print(f"test images {size:>6}: paired sd " + "  ".join(f"{k} {v:.2f}" for k, v in sds.items()))
        for r in rows:
            r.pop("correct", None)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"recipe": recipe, "wall_s": wall, "jobs": a.jobs, "runs": rows, "summary": summary}, fh,
                      indent=1)
    return 0


def _run_all(tasks: list, jobs: int) -> list[dict]:
    """Every run, ``jobs`` processes at a time (one thread each, as the workflow's train jobs)."""
    if jobs == 1:
        return [_one(t) for t in tasks]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(_one, tasks))


def _summarise(rows: list[dict], specs: list[str], seeds: list[int]) -> list[dict]:
    """Per spec: mean and sd of test top-1, the paired difference to the first spec, its CI, the cost."""
    from scipy import stats

    by = {(r["spec"], r["seed"]): r["top1"] for r in rows}
    print(f"{'spec':>10} {'mean':>7} {'sd':>6} {'d_mean':>7} {'d_sd':>6} {'ci_half':>7} {'run_s':>6} {'eval_s':>6}")
    summary = []
    for spec in specs:
        x = np.array([by[(spec, s)] for s in seeds], dtype=float)
        d = x - np.array([by[(specs[0], s)] for s in seeds], dtype=float)
        n = len(d)
        half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n) if spec != specs[0] else float("nan")
        secs = np.mean([r["wall_s"] for r in rows if r["spec"] == spec])
        ev = np.mean([r["eval_s"] or 0 for r in rows if r["spec"] == spec])
        summary.append({"spec": spec, "mean": x.mean(), "sd": x.std(ddof=1), "delta_mean": d.mean(),
                        "delta_sd": d.std(ddof=1), "ci_half": half, "run_s": secs, "eval_s": ev})
        print(f"{spec:>10} {x.mean():7.2f} {x.std(ddof=1):6.2f} {d.mean():+7.2f} {d.std(ddof=1):6.2f} "
              f"{half:7.2f} {secs:6.1f} {ev:6.1f}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
