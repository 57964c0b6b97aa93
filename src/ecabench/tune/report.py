"""Report section for Optuna tuning studies (ecabench.tune): figures and a Markdown/HTML fragment.

``build_tuning_report(summary_path, out_md, out_html)`` reads a tuning summary
(``results/tuning/<tune>/summary.json``) and each variant's Optuna study from its storage, and writes

* ``<fig_dir>/<variant>__history.png``      Optuna's optimisation history (validation top-1 per trial);
* ``<fig_dir>/<variant>__importances.png``  parameter importances (Optuna's default evaluator);
* ``<fig_dir>/<variant>__contour.png``      γ×b contour when both are searched, else the first two
  searched parameters;

(``fig_dir`` defaults to ``<folder of out_md>/<tune>/``), all with Optuna's matplotlib plots on the Agg
backend. A plot that cannot be drawn yet (fewer than two finished trials, a single searched
parameter, an unreadable storage) is written as a placeholder PNG that says why, so the file list
is fixed. The fragment (Markdown and an HTML ``<section>``, no page wrapper) gives the best
parameters per variant with the resulting ECA kernel size per stage, trial counts and, for a
study with ``evaluate``, the test-split result of each variant's best setting over the seeds.
"""
from __future__ import annotations

import html
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")  # before pyplot (Optuna's matplotlib plots import it)
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402  (its matplotlib plots need the backend set above)
from optuna.trial import TrialState  # noqa: E402
from optuna.visualization import matplotlib as ovm  # noqa: E402

from ecabench.tune.objective import k_per_stage, run_config_for  # noqa: E402
from ecabench.tune.study import open_study  # noqa: E402
from ecabench.util import atomic_write, atomic_write_text  # noqa: E402

PLOTS = ("history", "importances", "contour")
CAPTIONS = {
    "history": "Optimisation history: validation top-1 (%) of every finished trial and the best so far.",
    "importances": "Parameter importances for the validation top-1 (Optuna's default evaluator).",
    "contour": "Validation top-1 over two searched parameters (γ×b when both are searched).",
}


def figure_paths(summary: Mapping, fig_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """``{variant: {plot: path}}`` of the PNGs :func:`build_tuning_report` writes."""
    fig_dir = Path(fig_dir)
    return {label: {p: fig_dir / f"{label}__{p}.png" for p in PLOTS} for label in summary["variants"]}


def _save_png(fig, path: Path) -> Path:
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"),
                            suffix=".tmp.png")
    finally:
        plt.close(fig)


def _placeholder(path: Path, title: str, why: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True, fontsize=10, color="0.35")
    return _save_png(fig, path)


def _figure_of(result) -> Any:
    ax = result.flat[0] if hasattr(result, "flat") else result
    return ax.figure


def _contour_params(search: Mapping) -> list[str] | None:
    names = list(search)
    if "gamma" in names and "b" in names:
        return ["gamma", "b"]
    return names[:2] if len(names) >= 2 else None


TARGET = "validation top-1 (%)"


def _draw(make, path: Path, what: str) -> str | None:
    """Draw one Optuna plot into ``path``; None, or why it could not be drawn (a report never fails on one plot)."""
    try:
        _save_png(_figure_of(make()), path)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"could not be {what} ({type(exc).__name__}: {exc})"


def _history(study, complete: list, search: Mapping, path: Path) -> str | None:
    if not complete:
        return "no finished trial yet"
    return _draw(lambda: ovm.plot_optimization_history(study, target_name=TARGET), path, "drawn")


def _importances(study, complete: list, search: Mapping, path: Path) -> str | None:
    if len(complete) < 2:
        return f"needs at least 2 finished trials ({len(complete)} so far)"
    if not [k for k in search if len({repr(t.params.get(k)) for t in complete}) > 1]:
        return "no searched parameter varies across the finished trials"
    return _draw(lambda: ovm.plot_param_importances(study, target_name=TARGET), path, "computed")


def _contour(study, complete: list, search: Mapping, path: Path) -> str | None:
    params = _contour_params(search)
    if params is None:
        return "only one parameter is searched: no contour"
    if len(complete) < 2 or any(len({repr(t.params.get(p)) for t in complete}) < 2 for p in params):
        return (f"needs at least 2 finished trials with different {params[0]} and {params[1]} "
                f"({len(complete)} finished so far)")
    return _draw(lambda: ovm.plot_contour(study, params=params, target_name=TARGET), path, "drawn")


def _plot_variant(study, label: str, search: Mapping, paths: Mapping[str, Path]) -> dict[str, str | None]:
    """Draw the three plots; returns ``{plot: None | reason it is a placeholder}``."""
    complete = list(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning, too-few-trials warnings: handled below
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        try:
            notes = {plot: draw(study, complete, search, paths[plot])
                     for plot, draw in (("history", _history), ("importances", _importances), ("contour", _contour))}
        finally:
            optuna.logging.set_verbosity(verbosity)
    for plot, why in notes.items():
        if why is not None:
            _placeholder(paths[plot], f"{label}: {plot}", why)
    return notes


def _k_text(ks: Any) -> str:
    if not ks:
        return ""
    return ", ".join("/".join(str(x) for x in k) if isinstance(k, list) else str(k) for k in ks)


def _num(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}"


def _param_text(params: Mapping) -> str:
    out = []
    for k, v in params.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        out.append(f"{k}={v}")
    return ", ".join(out)


def _best_k(best: Mapping, task: Mapping | None) -> Any:
    if best.get("k_per_stage") is not None or task is None:
        return best.get("k_per_stage")
    try:
        return k_per_stage(run_config_for(task, best.get("params") or {}))
    except Exception:  # noqa: BLE001
        return None


def _table_md(header: list[str], rows: list[list[str]]) -> str:
    esc = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)


def _table_html(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="ecabench-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _plots(summary: Mapping, paths: dict, config: Mapping | None) -> dict[str, dict]:
    """Every variant's plots, drawn from its study; placeholders saying why where it cannot be read."""
    tasks = summary.get("tasks") or {}
    notes: dict[str, dict] = {}
    for label, v in summary["variants"].items():
        task = tasks.get(label)
        try:
            if task is None:
                raise ValueError("the summary holds no task for this variant")
            study = open_study(task, config=config, load_only=True)
        except Exception as exc:  # noqa: BLE001 - the storage may be gone; say so
            why = f"study not readable ({type(exc).__name__}: {exc})"
            for plot in PLOTS:
                _placeholder(paths[label][plot], f"{label}: {plot}", why)
            notes[label] = {p: why for p in PLOTS}
            continue
        with matplotlib.rc_context():  # Optuna's plots switch the global style to ggplot: keep it local
            notes[label] = _plot_variant(study, label, v.get("search") or (task or {}).get("search") or {},
                                         paths[label])
    return notes


BEST_HEADER = ["variant", "spec searched", "finished", "pruned", "failed", "best val top-1 (%)", "best parameters",
               "best spec", "k per stage"]
EVAL_HEADER = ["variant", "best spec", "tuned recipe", "test top-1 (%) mean ± std", "n seeds", "run ids", "note"]


def _best_rows(summary: Mapping) -> list[list[str]]:
    tasks = summary.get("tasks") or {}
    rows = []
    for label, v in summary["variants"].items():
        best, trials = v.get("best") or {}, v.get("trials") or {}
        rows.append([label, v.get("spec", ""), str(trials.get("complete", "–")), str(trials.get("pruned", "–")),
                     str(trials.get("fail", "–")), _num(best.get("value")), _param_text(best.get("params") or {}),
                     best.get("spec", ""), _k_text(_best_k(best, tasks.get(label)))])
    return rows


def _eval_rows(summary: Mapping) -> list[list[str]]:
    rows = []
    for label, v in summary["variants"].items() if summary.get("evaluate_seeds") else ():
        best = v.get("best") or {}
        mean, std = v.get("test_top1_mean"), v.get("test_top1_std")
        failed = [e for e in v.get("evaluation") or [] if e.get("status") != "ok"]
        rows.append([label, best.get("spec", ""), _param_text(best.get("train") or {}),
                     _num(mean) + (f" ± {_num(std)}" if std is not None else ""), str(v.get("n", 0)),
                     ", ".join(e["run_id"] for e in v.get("evaluation") or []),
                     f"{len(failed)} failed" if failed else ""])
    return rows


def _intro(summary: Mapping) -> str:
    intro = (f"Optuna TPE search, {summary['budget']} trials (finished + pruned) per variant, maximising the "
             "validation top-1 of the final epoch (validation split carved from the training set; the test "
             "split is not used for tuning). Pruned trials were stopped by the median pruner on the per-epoch "
             "validation accuracy.")
    if summary.get("fair"):
        intro += (" Fair comparison: every variant had the same trial budget and the same recipe search; its best "
                  f"setting was then trained with seeds {summary['evaluate_seeds']} and reported on the test split.")
    elif summary.get("evaluate_seeds"):
        intro += f" The best setting was trained with seeds {summary['evaluate_seeds']} and reported on the test split."
    return intro


def _relative(paths: dict, folder: Path) -> dict:
    return {label: {p: os.path.relpath(path, folder) for p, path in ps.items()} for label, ps in paths.items()}


def _markdown(summary: Mapping, title: str, tables: dict, notes: dict, rel: dict) -> str:
    md = [f"## Tuning: {title}", ""]
    if summary.get("description"):
        md += [summary["description"], ""]
    md += [tables["intro"], "", f"Study file: `{summary.get('file', '')}`.", "", "### Best settings (validation)", "",
           _table_md(BEST_HEADER, tables["best"]), ""]
    if tables["eval"]:
        md += ["### Best settings on the test split", "", _table_md(EVAL_HEADER, tables["eval"]), ""]
    for label in summary["variants"]:
        md += [f"### {label}", ""]
        for plot in PLOTS:
            note = notes[label].get(plot)
            md += [f"![{label} {plot}]({rel[label][plot]})", "",
                   CAPTIONS[plot] + (f" *(placeholder: {note})*" if note else ""), ""]
    return "\n".join(md).rstrip() + "\n"


def _html(summary: Mapping, title: str, tables: dict, notes: dict, rel: dict) -> str:
    e = html.escape
    parts = [f'<section class="ecabench-tuning" id="tuning-{e(summary["tune"])}">', f"<h2>Tuning: {e(title)}</h2>"]
    if summary.get("description"):
        parts.append(f"<p>{e(summary['description'])}</p>")
    parts += [f"<p>{e(tables['intro'])}</p>", f"<p>Study file: <code>{e(str(summary.get('file', '')))}</code>.</p>",
              "<h3>Best settings (validation)</h3>", _table_html(BEST_HEADER, tables["best"])]
    if tables["eval"]:
        parts += ["<h3>Best settings on the test split</h3>", _table_html(EVAL_HEADER, tables["eval"])]
    for label in summary["variants"]:
        parts.append(f"<h3>{e(label)}</h3>")
        for plot in PLOTS:
            note = notes[label].get(plot)
            caption = CAPTIONS[plot] + (f" (placeholder: {note})" if note else "")
            parts.append(f'<figure><img src="{e(rel[label][plot])}" alt="{e(label)} {plot}" style="max-width:100%">'
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(parts) + "\n"


def build_tuning_report(summary_path: str | os.PathLike | Mapping, *, out_md: str | os.PathLike,
                        out_html: str | os.PathLike | None = None, fig_dir: str | os.PathLike | None = None,
                        config: Mapping | None = None) -> dict:
    """Figures and the Markdown (and HTML) fragment of one tuning study; returns what was written."""
    summary = dict(summary_path) if isinstance(summary_path, Mapping) else json.loads(Path(summary_path).read_text())
    out_md = Path(out_md)
    fig_dir = Path(fig_dir) if fig_dir is not None else out_md.parent / summary["tune"]
    paths = figure_paths(summary, fig_dir)
    notes = _plots(summary, paths, config)
    tables = {"intro": _intro(summary), "best": _best_rows(summary), "eval": _eval_rows(summary)}
    title = summary.get("title") or summary["tune"]
    atomic_write_text(out_md, _markdown(summary, title, tables, notes, _relative(paths, out_md.parent)))
    if out_html is not None:
        out_html = Path(out_html)
        atomic_write_text(out_html, _html(summary, title, tables, notes, _relative(paths, out_html.parent)))
    return {"md": str(out_md), "html": str(out_html) if out_html else None,
            "figures": {label: {p: str(path) for p, path in ps.items()} for label, ps in paths.items()},
            "placeholders": {label: {p: n for p, n in ns.items() if n} for label, ns in notes.items()}}
