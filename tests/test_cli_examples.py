"""Every documented ``ecabench`` command runs: README.md, docs/*.md and each subcommand's --help examples.

The commands are read from the files (a README edit that breaks a command fails here), then made
small before running: ``run`` trains one epoch on a 200-image subset of ``digits`` into a temporary
folder; ``measure`` times at most 32 px inputs, batch 2, 2 rounds, no warm-up and eager only
(``compile`` would spend minutes in inductor on a CPU box; the measure tests cover the rest); ``verify``
checks a clean results folder of its own (tests/test_integrity.py covers the problems it finds). The
README's plugin example (``myatt``) is run with the README's own plugin code as a plugin folder.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ecabench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE_RE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INLINE_RE = re.compile(r"`([^`]+)`")


def _commands_in_block(text: str) -> list[str]:
    """``ecabench ...`` lines of a code block: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [shlex.join(shlex.split(line, comments=True)) for line in joined.splitlines()
            if line.strip().startswith("ecabench ")]


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every ``ecabench`` command in the docs and the --help examples."""
    found: list[tuple[str, str]] = []
    for path in DOCS:
        text = path.read_text()
        for _lang, body in FENCE_RE.findall(text):
            found += [(path.name, c) for c in _commands_in_block(body)]
        prose = FENCE_RE.sub("", text)
        for span in INLINE_RE.findall(prose):
            # `ecabench run` alone names the command; an example has arguments
            if span.startswith("ecabench ") and len(shlex.split(span)) > 2:
                found.append((path.name, shlex.join(shlex.split(span))))
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        for line in (parser.epilog or "").splitlines():
            if line.strip().startswith("ecabench "):
                found.append((f"ecabench {name} --help", shlex.join(shlex.split(line))))
    seen, unique = set(), []
    for where, cmd in found:
        if cmd not in seen:
            seen.add(cmd)
            unique.append((where, cmd))
    return unique


def _set(argv: list[str], option: str, value: str) -> None:
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]


def small(argv: list[str], tmp_path: Path) -> list[str]:
    """The documented command at test size."""
    argv = list(argv)
    if argv[0] == "run":
        for option, value in (("--dataset", "digits"), ("--epochs", "1"), ("--subset", "200"),
                              ("--out", str(tmp_path / "runs"))):
            _set(argv, option, value)
        argv.append("--quiet")
    elif argv[0] == "measure":
        if "--input" in argv:
            c, h, w = (int(v) for v in argv[argv.index("--input") + 1].split("x"))
            _set(argv, "--input", f"{c}x{min(h, 32)}x{min(w, 32)}")
        elif "--dataset" not in argv:
            _set(argv, "--input", "3x32x32")
        if "--implementations" in argv:
            i = argv.index("--implementations") + 1
            while i < len(argv) and not argv[i].startswith("--"):
                if argv[i] == "compile":
                    del argv[i]
                else:
                    i += 1
        for option, value in (("--batch-size", "2"), ("--rounds", "2"), ("--warmup", "0"), ("--min-time-s", "0")):
            _set(argv, option, value)
    elif argv[0] == "verify":  # a clean results folder of its own (the checkout's results/ may hold anything)
        results = tmp_path / "results"
        results.mkdir(exist_ok=True)
        (results / "plan.json").write_text('{"runs": {}, "measurements": {}}')
        argv = ["verify", str(results)]
    return argv


def readme_plugin(folder: Path) -> Path:
    """The README's "Add your own attention variant" code, as a plugin file."""
    text = (ROOT / "README.md").read_text()
    (code,) = [body for lang, body in FENCE_RE.findall(text) if lang == "python" and "register_attention" in body]
    folder.mkdir()
    (folder / "readme_myatt.py").write_text(code)
    return folder


COMMANDS = documented_commands()


def test_the_docs_have_commands_of_every_kind():
    kinds = {shlex.split(c)[1] for _, c in COMMANDS}
    assert {"list", "describe", "run", "measure", "verify"} <= kinds, COMMANDS
    assert any(w == "README.md" and c.startswith("ecabench run ") for w, c in COMMANDS)
    assert all(shlex.split(c)[0] == "ecabench" for _, c in COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("where, command", COMMANDS, ids=[c[:60] for _, c in COMMANDS])
def test_documented_command_runs(where, command, tmp_path, capsys, clean_plugins):
    argv = small(shlex.split(command)[1:], tmp_path)
    if any("myatt" in a for a in argv):
        argv = ["--plugins", str(readme_plugin(tmp_path / "plugins")), *argv]
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, f"{where}: {command}\n(ran: ecabench {shlex.join(argv)})\n{captured.err[-2000:]}"
    assert captured.out.strip() and "Traceback" not in captured.err
    if argv[0] == "run":
        assert "status=ok" in captured.out
    if argv[0] == "measure" and "--no-throughput" not in argv and "--json" not in argv:
        assert "img/s" in captured.out
    if argv[0] == "describe" and "--json" not in argv:
        assert "params total" in captured.out
