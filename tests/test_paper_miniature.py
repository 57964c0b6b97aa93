"""config/paper.yaml run for real, in miniature, on the CPU: benchmarks/paper_miniature.py writes tiny real
data files (CIFAR-100 pickles in torchvision's layout, an ImageFolder of JPEGs) and an override that keeps
every study, backbone (with MobileNetV2's own recipe), dataset, implementation (eager and compile) and
measure mode (inference and train) paper.yaml names, and shrinks only sizes; Snakemake runs it to the report.

On the CPU the miniature uses float32 (paper.yaml's bf16 autocast is for CUDA; benchmarks/gpu_check.sh
runs the same miniature there in bf16).

torch.compile of the paper's backbones does not fit a CPU test: one ResNet-18 (32 px, batch 8) took 430 s
to compile and time for inference and train on the 2-core box this was written on (under load), and the
miniature's six measure jobs hold 36 architectures, i.e. 72 compiles. So the workflow run here measures
eager (inference and train, as paper.yaml's modes), and the compile path of the measure job
(``ecabench.measure.group.measure_group`` with paper.yaml's measure options, eager and compile) runs in
``test_paper_miniature_measure_job_compiles_a_small_model`` on a ResNet-20 at 8 px instead.

Measured on the 2-core box this was written on, shared with other jobs: the workflow (47 jobs, 36
training runs) took 880 s in this test at load ~3.5 and 40 min at load ~12, with 20 min of CPU (user +
sys) in all, i.e. about 10 min on an idle 2-core CI machine; the compile check with none and ECA took
1112 s at load ~12 (now the plain model only, not timed since).
"""
from __future__ import annotations

import importlib.util
import json
import pickle
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("paper_miniature", ROOT / "benchmarks" / "paper_miniature.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pm = _script()


def test_paper_miniature_data_are_in_the_loaders_formats(tmp_path, monkeypatch):
    from ecabench.data import load_dataset

    pm.write_cifar100(tmp_path)
    with open(tmp_path / "cifar-100-python" / "train", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert {"data", "fine_labels", "coarse_labels", "filenames", "batch_label"} <= set(entry)
    assert entry["data"].dtype.name == "uint8" and entry["data"].shape == (200, 3072)
    # torchvision's md5 table does not know these files: refused unless the test-only variable is set
    monkeypatch.delenv(pm.SKIP_MD5_ENV, raising=False)
    with pytest.raises(Exception, match="could not be read: train: checksum mismatch"):
        load_dataset("cifar100", root=tmp_path, val_size=100)
    monkeypatch.setenv(pm.SKIP_MD5_ENV, "1")
    bundle = load_dataset("cifar100", root=tmp_path, val_size=100)
    assert bundle.num_classes == 100 and len(bundle.train) == 100 and len(bundle.val) == 100
    assert len(bundle.test) == 100 and "md5 not checked" in bundle.source

    pm.write_imagefolder(tmp_path / "folder")
    folder = load_dataset("imagefolder", root=tmp_path / "folder", val_size=4, image_size=32, num_workers=0)
    assert folder.num_classes == len(pm.IMAGEFOLDER_CLASSES) and folder.image_size == (32, 32)
    assert len(folder.train) + len(folder.val) == 6 * len(pm.IMAGEFOLDER_CLASSES) and len(folder.val) == 4
    image = folder.test.eval_transform(folder.test.dataset[0][0])  # a JPEG decoded and cut to 32 px
    assert tuple(image.shape) == (3, 32, 32)


def test_paper_miniature_override_keeps_what_paper_yaml_names(tmp_path):
    paper = yaml.safe_load(pm.PAPER.read_text())
    over = pm.override(paper, tmp_path, "cpu")
    names = lambda entries: [e if isinstance(e, str) else e["name"] for e in entries]  # noqa: E731
    assert names(over["studies"]) == names(paper["studies"])
    assert names(over["backbones"]) == names(paper["backbones"])
    assert names(over["datasets"]) == names(paper["datasets"])
    assert over["backbones"][2]["train"]["lr"] == paper["backbones"][2]["train"]["lr"]  # MobileNetV2's recipe
    assert "implementations" not in over["measure"] and "modes" not in over["measure"]  # paper.yaml's: all four
    assert over["measure"]["dtype"] == "float32"
    folder = next(d for d in over["datasets"] if d["name"] == "imagefolder")
    assert folder["image_size"] == 32 and paper["datasets"][1]["image_size"] == 224  # paper.yaml's size, cut
    assert pm.override(paper, tmp_path, "cuda")["measure"]["dtype"] == "bfloat16"


def _workflow_config(tmp_path: Path) -> dict:
    """config.yaml <- paper.yaml <- the miniature, merged like Snakemake's --configfile (mappings key by key)."""
    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    paper = yaml.safe_load(pm.PAPER.read_text())
    cfg = merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), paper)
    return merge(cfg, pm.override(paper, tmp_path, "cpu"))


@pytest.mark.slow
def test_paper_miniature_measure_job_compiles_a_small_model(tmp_path):
    """The measure job's code with paper.yaml's measure options (eager and compile, inference and train)
    on a small model: ResNet-20 at 3x8x8, the plain reference only (see the module docstring for why
    not the paper's backbones; tests/test_measure.py compiles ECA beside it)."""
    from ecabench.measure.group import measure_group
    from ecabench.plan import build_plan, measure_job_config
    from ecabench.runtime import measure_options

    cfg = _workflow_config(tmp_path)
    options = measure_options(cfg)
    assert options["implementations"] == ["eager", "compile"] and options["modes"] == ["inference", "train"]
    cfg.update(backbones=["resnet20"], datasets=[{"name": "cifar100"}],
               studies=[{"name": "attention_zoo", "seeds": [0]}], seeds=[0])
    (group,) = build_plan(cfg, workdir=tmp_path, basedir=ROOT)["measurements"].values()
    group = measure_job_config(group)
    group["architectures"] = {k: v for k, v in group["architectures"].items() if v["spec"] == "none"}
    group["input_shape"] = [3, 8, 8]
    t0 = time.monotonic()
    result = measure_group(group, out_path=tmp_path / "measure.json", num_threads=2, **options)
    assert result["status"] == "ok", result["error"]
    assert {(r["implementation"], r["mode"], r["architecture_id"]) for r in result["throughput"]} == {
        (i, m, group["reference"]) for i in ("eager", "compile") for m in ("inference", "train")}
    print(f"measure job with compile, ResNet-20 at 8 px: {time.monotonic() - t0:.0f} s")


@pytest.mark.slow
def test_paper_miniature_runs_to_the_report(tmp_path):
    t0 = time.monotonic()
    assert pm.main(["--out", str(tmp_path), "--device", "cpu", "--cores", "2", "--implementations", "eager"]) == 0, \
        "\n".join(p.read_text()[-3000:] for p in sorted((tmp_path / "results" / "logs").rglob("*.log"))[-3:])
    elapsed = time.monotonic() - t0
    n_runs = check_outputs(tmp_path)
    print(f"paper miniature: {n_runs} runs, {elapsed:.0f} s")


def check_outputs(tmp_path: Path) -> int:
    """Every setting of paper.yaml trained and measured, every record ok, the report written."""
    plan = json.loads((tmp_path / "results" / "plan.json").read_text())
    paper = yaml.safe_load(pm.PAPER.read_text())

    # every (backbone, dataset) of paper.yaml was trained, and every run is ok
    runs = [json.loads(p.read_text()) for p in sorted((tmp_path / "results" / "runs").glob("*.json"))]
    assert len(runs) == len(plan["runs"]) and all(r["status"] == "ok" for r in runs), \
        [(r["run_id"], r["status"], r.get("error")) for r in runs if r["status"] != "ok"]
    settings = {(r["config"]["backbone"], r["config"]["dataset"]["name"]) for r in runs}
    assert len(settings) == 6 == len(paper["backbones"]) * len(paper["datasets"])
    # the jobs ran this checkout's loader (the md5 bypass names itself in the record's data source)
    cifar = [r for r in runs if r["config"]["dataset"]["name"] == "cifar100"]
    assert all(f"md5 not checked: {pm.SKIP_MD5_ENV}=1" in r["environment"]["data_source"] for r in cifar)
    mobilenet = [r for r in runs if r["config"]["backbone"] == "mobilenet_v2"]
    assert {r["config"]["train"]["lr"] for r in mobilenet} == {0.045}  # the backbone's own recipe

    # every measure job timed inference and train (eager: see the module docstring); none failed
    measured = [json.loads(p.read_text()) for p in sorted((tmp_path / "results" / "measure").glob("*.json"))]
    assert len(measured) == len(plan["measurements"]) == 6
    for m in measured:
        assert m["status"] == "ok", (m["measure_id"], m.get("error"))
        timed = {(r["implementation"], r["mode"]) for r in m["throughput"]}
        assert timed == {("eager", "inference"), ("eager", "train")}

    # the report names all six settings
    import pandas as pd

    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert (summary.drop_duplicates("run_id")["status"] == "ok").all()
    md = (tmp_path / "reports" / "index.md").read_text()
    for backbone, dataset in settings:  # the report's tables name each setting as "backbone / dataset"
        assert f"| {backbone} / {dataset} " in md
    return len(runs)


@pytest.mark.slow
def test_paper_miniature_cuda_override_plans(tmp_path, capfd):
    """The CUDA miniature (benchmarks/gpu_check.sh step 5) as far as a machine without CUDA goes: its
    override validates and plans every job (snakemake -n)."""
    assert pm.main(["--out", str(tmp_path), "--device", "cuda", "--cores", "16", "--implementations", "eager",
                    "--dry-run"]) == 0
    out = capfd.readouterr()
    assert "This was a dry-run" in out.out + out.err
    over = yaml.safe_load((tmp_path / "miniature.yaml").read_text())
    assert over["device"] == over["measure"]["device"] == "cuda" and over["train"]["amp"] is True
