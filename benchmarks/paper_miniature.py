"""config/paper.yaml in miniature: tiny real data files, a small override on top of paper.yaml, the workflow.

    python benchmarks/paper_miniature.py --out DIR [--device cpu|cuda] [--cores N] [--dry-run]

Writes into DIR:

* ``data/cifar-100-python/{train,test,meta}``: CIFAR-100 in torchvision's on-disk format (pickles with
  the real keys), 2 training and 1 test image per class of random pixels;
* ``data/imagefolder/{train,val}/<class>/*.JPEG``: an ImageNet-layout folder of random-pixel JPEGs
  (4 classes, so a 4-class head instead of ImageNet's 1000);
* ``miniature.yaml``: the override layered on paper.yaml (``--configfile config/paper.yaml miniature.yaml``);

then runs Snakemake in DIR to the report. The override keeps everything paper.yaml names (its
studies, every backbone with its own recipe, both datasets, eager and compile, inference and train,
the dtype, channels-last) and shrinks only sizes: one seed, one epoch, small batches, ImageFolder
images cut to 32 px (at 16 px ResNet-50 diverged on the random-pixel images),
few measure rounds, and each study's grid cut to its first values (:data:`GRIDS`).

The CIFAR files are not torchvision's, so their md5 sums do not match torchvision's table: the
Snakemake jobs run with ``ECABENCH_TEST_SKIP_CIFAR_MD5=1``, which makes the CIFAR loader check that
the files exist instead (see ``ecabench.data.sources``). Used by tests/test_paper_miniature.py (CPU)
and benchmarks/gpu_check.sh (CUDA).
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"

#: The environment variable that lets the CIFAR loader accept files whose md5 is not torchvision's.
SKIP_MD5_ENV = "ECABENCH_TEST_SKIP_CIFAR_MD5"

CIFAR_CLASSES = 100
IMAGEFOLDER_CLASSES = ("n01440764", "n01443537", "n01484850", "n01491361")  # a handful of ImageNet ids

#: Each study's grid in miniature (the study list itself is paper.yaml's); a study not named here keeps
#: its own grid. One fixed k; gamma x b at the adaptive rule's own (2, 1), which is the `eca` run under
#: another name (an alias: no run of its own); the odd rule at (2, 1), where it changes k on every
#: backbone here. So each (backbone, dataset) trains 6 architectures: none, eca, se, cbam, eca(k=3),
#: eca(odd=false).
GRIDS = {
    "eca_kernel": {"k": [3]},
    "eca_gamma_b": {"gamma": [2], "b": [1]},
    "eca_odd_rule": {"gamma": [2], "b": [1]},
}

#: The miniature's sizes per device. CPU: float32 (bf16 autocast runs on a CPU but is slow there,
#: without the matmul units that make it the GPU's choice); CUDA: paper.yaml's bf16.
SIZES = {
    "cpu": {"batch_size": 16, "measure_batch": 8, "rounds": 3, "warmup": 1, "min_time_s": 0.01,
            "dtype": "float32", "amp": False, "image_size": 32},
    "cuda": {"batch_size": 32, "measure_batch": 32, "rounds": 5, "warmup": 2, "min_time_s": 0.05,
             "dtype": "bfloat16", "amp": True, "image_size": 32},
}


# ------------------------------------------------------------------------------------------- data
def write_cifar100(root: Path, *, train_per_class: int = 2, test_per_class: int = 1, seed: int = 0) -> Path:
    """``root/cifar-100-python/{train,test,meta}`` as torchvision reads them (random pixels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        fine = np.repeat(np.arange(CIFAR_CLASSES), per_class)
        rng.shuffle(fine)
        entry = {
            "batch_label": f"{name} batch 1 of 1",
            "filenames": [f"{name}_{i:05d}.png" for i in range(len(fine))],
            "fine_labels": fine.tolist(),
            "coarse_labels": (fine // 5).tolist(),
            "data": rng.integers(0, 256, size=(len(fine), 3072), dtype=np.uint8),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    meta = {"fine_label_names": [f"class_{i:02d}" for i in range(CIFAR_CLASSES)],
            "coarse_label_names": [f"super_{i:02d}" for i in range(CIFAR_CLASSES // 5)]}
    with open(folder / "meta", "wb") as f:
        pickle.dump(meta, f)
    return folder


def write_imagefolder(root: Path, *, train_per_class: int = 6, val_per_class: int = 2, size: int = 48,
                      seed: int = 0) -> Path:
    """``root/{train,val}/<class>/*.JPEG`` of random pixels (``size`` x ``size``, RGB)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        for cls in IMAGEFOLDER_CLASSES:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{cls}_{i:04d}.JPEG", format="JPEG")
    return root


# --------------------------------------------------------------------------------------- override
def _shrink_recipe(train: dict, sizes: dict) -> dict:
    """A recipe with one epoch and a small batch; everything else (lr, wd, nesterov, ...) kept."""
    out = dict(train)
    out.update(epochs=1, batch_size=sizes["batch_size"], warmup_epochs=0)
    return out


def _study(entry) -> dict:
    study = dict(entry) if isinstance(entry, dict) else {"name": entry}
    if study["name"] in GRIDS:
        study["grid"] = GRIDS[study["name"]]
    study["seeds"] = [0]
    return study


def _dataset(entry: dict, data: Path, image_size: int) -> dict:
    ds = dict(entry)
    if ds["name"] == "cifar100":
        ds.update(root=str(data), download=False, val_size=CIFAR_CLASSES)  # one validation image per class
    elif ds["name"] == "imagefolder":  # paper.yaml's 224 px cut to the miniature's size
        ds.update(root=str(data / "imagefolder"), image_size=image_size, val_size=len(IMAGEFOLDER_CLASSES))
    ds["subset"] = None
    return ds


def override(paper: dict, data: Path, device: str) -> dict:
    """The keys layered on ``paper`` (paper.yaml as read): lists in full (Snakemake replaces them),
    mappings only where they change (Snakemake merges them key by key)."""
    sizes = SIZES[device]
    backbones = []
    for entry in paper["backbones"]:
        if isinstance(entry, dict) and "train" in entry:
            entry = {**entry, "train": _shrink_recipe(entry["train"], sizes)}
        backbones.append(copy.deepcopy(entry))
    datasets = []
    for entry in paper["datasets"]:
        ds = _dataset(entry, data, sizes["image_size"])
        if "train" in ds:
            ds["train"] = _shrink_recipe(ds["train"], sizes)
        datasets.append(ds)
    return {
        "studies": [_study(s) for s in paper["studies"]],
        "backbones": backbones,
        "datasets": datasets,
        "seeds": [0],
        "device": device,
        "train": {**_shrink_recipe({}, sizes), "amp": sizes["amp"]},
        "measure": {"device": device, "batch_size": sizes["measure_batch"], "dtype": sizes["dtype"],
                    "rounds": sizes["rounds"], "warmup": sizes["warmup"], "min_time_s": sizes["min_time_s"]},
        "resources": {"train": {"threads": 1, "mem_mb": 2000, "runtime": 30, "gpu": 0},  # tiny runs share a GPU
                      "measure": {"threads": 2, "mem_mb": 4000, "runtime": 30, "gpu": int(device == "cuda")}},
    }


def prepare(out: Path, device: str, implementations: list[str] | None = None) -> Path:
    """Write the data and the override under ``out``; returns the override's path."""
    data = out / "data"
    write_cifar100(data)
    write_imagefolder(data / "imagefolder")
    paper = yaml.safe_load(PAPER.read_text())
    path = out / "miniature.yaml"
    keys = override(paper, data, device)
    if implementations:
        keys["measure"]["implementations"] = list(implementations)
    path.write_text(yaml.safe_dump(keys, sort_keys=False))
    return path


def snakemake_command(out: Path, config: Path, cores: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(out),
            "--cores", str(cores), "--configfile", str(PAPER), str(config), *extra]


def job_env() -> dict:
    """The environment of the Snakemake run: the md5 bypass for the test's CIFAR files, and this
    checkout's ``src`` first on PYTHONPATH so every job imports this code."""
    env = dict(os.environ, **{SKIP_MD5_ENV: "1"})
    env.pop("SNAKEMAKE_PROFILE", None)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="working directory (data, override, results)")
    ap.add_argument("--device", choices=sorted(SIZES), default="cpu")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="plan only (snakemake -n)")
    ap.add_argument("--implementations", nargs="+", choices=("eager", "compile"),
                    help="measure only these (default: paper.yaml's, eager and compile)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = prepare(out, args.device, args.implementations)
    extra = ["-n"] if args.dry_run else []
    if args.device == "cuda":
        extra += ["--resources", "gpu=1"]
    cmd = snakemake_command(out, config, args.cores, *extra)
    print("paper_miniature:", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=job_env(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
