"""Collect what benchmarks/gpu_check.sh wrote into one JSON and a Markdown page.

    python benchmarks/gpu_check_summary.py results/gpu_check

Reads ``steps.tsv`` (step, exit status, seconds), ``cuda_tests.xml`` (pytest's JUnit report),
``inference.json`` and ``train.json`` (``ecabench measure --json``), the run record under
``resnet20_fashion_mnist/`` and the run and measure records of ``paper_miniature/results/``; a
missing or broken file becomes that step's error, never a crash, so a failed step still leaves a
page saying what failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from ecabench.util import atomic_write_json, atomic_write_text


def _steps(folder: Path) -> list[dict]:
    rows = []
    path = folder / "steps.tsv"
    for line in path.read_text().splitlines() if path.exists() else []:
        name, rc, seconds = line.split("\t")
        rows.append({"step": name, "exit_status": int(rc), "seconds": float(seconds),
                     "timed_out": int(rc) in (124, 137)})
    return rows


def _tests(folder: Path) -> dict:
    root = ET.parse(folder / "cuda_tests.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


def _throughput(folder: Path, name: str) -> dict:
    data = json.loads((folder / f"{name}.json").read_text())
    params = {a["spec"]: a for a in data["architectures"]}
    rows = [{"spec": r["key"], "implementation": r["implementation"], "mode": r["mode"],
             "images_per_s": r["images_per_s"], "rel_none": r["rel"], "rel_ci_low": r["rel_ci_low"],
             "rel_ci_high": r["rel_ci_high"], "peak_memory_mb": r["peak_memory_mb"],
             "params_total": params[r["key"]]["params_total"], "macs": params[r["key"]]["macs"]}
            for r in data["rows"]]
    return {"setup": data["setup"], "rows": rows}


def _training(folder: Path) -> dict:
    (record_path,) = sorted((folder / "resnet20_fashion_mnist").glob("*.json"))
    record = json.loads(record_path.read_text())
    return {"status": record["status"], "metrics": record["metrics"], "timings": record["timings"],
            "device": record["environment"]["device"], "record": str(record_path)}


def _paper_miniature(folder: Path) -> dict:
    """config/paper.yaml in miniature (benchmarks/paper_miniature.py): run and measure statuses, settings."""
    results = folder / "paper_miniature" / "results"
    runs = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]
    if not runs:
        raise FileNotFoundError(f"no run records in {results / 'runs'}")
    measured = [json.loads(p.read_text()) for p in sorted((results / "measure").glob("*.json"))]
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {"runs": len(runs), "run_status": statuses,
            "settings": sorted({f"{r['config']['backbone']}/{r['config']['dataset']['name']}" for r in runs}),
            "measure_jobs": len(measured), "measure_ok": sum(m["status"] == "ok" for m in measured),
            "timed": sorted({f"{t['implementation']}/{t['mode']}" for m in measured for t in m["throughput"]}),
            "report": (folder / "paper_miniature" / "reports" / "index.html").is_file()}


def collect(folder: Path) -> dict:
    summary: dict = {"steps": _steps(folder)}
    for key, read in (("cuda_tests", _tests), ("inference", lambda f: _throughput(f, "inference")),
                      ("train", lambda f: _throughput(f, "train")), ("resnet20_fashion_mnist", _training),
                      ("paper_miniature", _paper_miniature)):
        try:
            summary[key] = read(folder)
        except Exception as exc:  # a step that failed left nothing (or garbage): say so in the page
            summary[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return summary


def _table(section: dict) -> list[str]:
    if "error" in section:
        return [f"not available: {section['error']}", ""]
    s = section["setup"]
    lines = [f"{s['device_name']}, batch {s['batch_size']}, {s['dtype']}, {s['memory_format']}, "
             f"{s['rounds']} interleaved rounds ({s['timer']}); relative to `none` with its 95% CI.", "",
             "| spec | implementation | images/s | rel. none [95% CI] | peak MB | params | MACs |",
             "|---|---|---:|---|---:|---:|---:|"]
    for r in section["rows"]:
        peak = f"{r['peak_memory_mb']:.0f}" if r["peak_memory_mb"] is not None else "-"
        lines.append(f"| {r['spec']} | {r['implementation']} | {r['images_per_s']:.0f} | {r['rel_none']:.3f} "
                     f"[{r['rel_ci_low']:.3f}, {r['rel_ci_high']:.3f}] | {peak} | {r['params_total']:,} "
                     f"| {r['macs']:,} |")
    return [*lines, ""]


def markdown(summary: dict) -> str:
    lines = ["# GPU check", "", "| step | exit status | seconds |", "|---|---:|---:|"]
    lines += [f"| {s['step']} | {s['exit_status']}{' (timed out)' if s['timed_out'] else ''} | {s['seconds']:.0f} |"
              for s in summary["steps"]]
    tests = summary["cuda_tests"]
    lines += ["", "## CUDA tests (`pytest -m cuda`)", "",
              tests.get("error") or f"{tests['tests']} tests: {tests['failures']} failed, {tests['errors']} errors, "
                                    f"{tests['skipped']} skipped", ""]
    lines += ["## ResNet-50 inference", "", *_table(summary["inference"])]
    lines += ["## ResNet-50 training step", "", *_table(summary["train"])]
    run = summary["resnet20_fashion_mnist"]
    lines += ["## ResNet-20 + ECA, Fashion-MNIST, 2 epochs on CUDA", ""]
    if "error" in run:
        lines.append(f"not available: {run['error']}")
    else:
        m = run["metrics"]
        lines.append(f"status {run['status']}: test top-1 {m['test_top1_pct']:.2f}%, "
                     f"training {run['timings'].get('train_time_s', float('nan')):.1f} s")
    mini = summary["paper_miniature"]
    lines += ["", "## config/paper.yaml in miniature (benchmarks/paper_miniature.py)", ""]
    if "error" in mini:
        lines.append(f"not available: {mini['error']}")
    else:
        status = ", ".join(f"{n} {s}" for s, n in sorted(mini["run_status"].items()))
        lines.append(f"{mini['runs']} runs ({status}) over {len(mini['settings'])} settings "
                     f"({', '.join(mini['settings'])}); {mini['measure_ok']} of {mini['measure_jobs']} measure jobs ok "
                     f"({', '.join(mini['timed'])}); report {'written' if mini['report'] else 'missing'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    summary = collect(args.folder)
    atomic_write_json(args.folder / "gpu_check.json", summary)
    atomic_write_text(args.folder / "gpu_check.md", markdown(summary))
    failed = [s["step"] for s in summary["steps"] if s["exit_status"] != 0]
    failed += [k for k, v in summary.items() if isinstance(v, dict) and "error" in v]
    mini = summary["paper_miniature"]
    if "error" not in mini and (set(mini["run_status"]) != {"ok"} or mini["measure_ok"] < mini["measure_jobs"]):
        failed.append("paper_miniature")
    print(f"gpu_check: wrote {args.folder / 'gpu_check.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
