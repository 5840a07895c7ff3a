"""Opt-in mutation testing of the core modules with mutmut (not part of ``.ci/run``).

    .venv/bin/pip install -e '.[test,mutation]'
    .venv/bin/python tools/mutation.py scoring          # one module, one worker
    .venv/bin/python tools/mutation.py --list           # the modules and their test subsets

Each module is mutated on its own, against a fast subset of the suite that exercises it
(``MODULES`` below), so one module's run stays well under 20 minutes on a loaded 2-core
machine. mutmut reads its settings only from ``pyproject.toml`` in its working directory, so
every module gets a scratch directory ``.mutation/<module>/`` holding a copy of the project's
``pyproject.toml`` plus a ``[tool.mutmut]`` section, and symlinks to ``src``, ``tests``,
``rules``, ``examples`` and ``docs``. mutmut copies those into ``mutants/`` there, puts
``mutants/src`` first on ``sys.path`` and drops ``src`` (the editable install's entry), so the
tests import the mutated code. Tests that start a subprocess see the unmutated package: they
can only under-count kills, never over-count them.

The script prints the module's counts (killed, survived, timeout, no tests) and the score
``(killed + timeout) / total``, and writes the surviving mutants' names to
``.mutation/<module>/survivors.txt``; ``mutmut show NAME`` (run in that directory) prints a
mutant's diff.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / ".mutation"
LINKED = ("src", "tests", "rules", "examples", "docs", "README.md")

# module -> (source file under src/ipt_formulate, the tests that exercise it)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "scoring": (
        "scoring.py",
        ("test_scoring.py", "test_explain.py", "test_validation.py"),
    ),
    "explain": ("explain.py", ("test_explain.py", "test_validation.py")),
    "facts": ("facts.py", ("test_oracle.py", "test_facts.py")),
    "rulepack": (
        "rulepack.py",
        ("test_validation.py", "test_rulepack.py", "test_rulepack_limits.py"),
    ),
    "_evaluate": ("_evaluate.py", ("test_oracle.py", "test_validation.py")),
    "_compiled_backend": ("_compiled_backend.py", ("test_oracle.py", "test_compiled.py")),
    "audit/_batch": ("audit/_batch.py", ("test_batch.py",)),
    "inventory": ("inventory.py", ("test_inventory.py",)),
}


def _config(source: str, tests: tuple[str, ...]) -> str:
    """The ``[tool.mutmut]`` section for one module (TOML, appended to the project's file)."""
    selection = ", ".join(json.dumps(f"tests/{t}") for t in tests)
    return f"""
[tool.mutmut]
source_paths = ["src/ipt_formulate"]
only_mutate = ["src/ipt_formulate/{source}"]
also_copy = ["rules", "examples", "docs", "README.md"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:cov"]
pytest_add_cli_args_test_selection = [{selection}]
# the scratch directory is not where the project's git history is
use_git_change_detection = false
"""


def _prepare(module: str) -> Path:
    source, tests = MODULES[module]
    missing = [t for t in tests if not (ROOT / "tests" / t).exists()]
    if missing:
        print(f"{module}: no {', '.join(missing)}: run without", file=sys.stderr)
        tests = tuple(t for t in tests if t not in missing)
    work = SCRATCH / module.replace("/", "_")
    if work.exists():
        shutil.rmtree(work)  # a fresh run: no cached verdicts from older code or tests
    work.mkdir(parents=True)
    for name in LINKED:
        (work / name).symlink_to(ROOT / name)
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(project + _config(source, tests), encoding="utf-8")
    return work


def run(module: str) -> dict[str, object]:
    """Mutate one module with one worker; its counts, score and wall time."""
    work = _prepare(module)
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONHASHSEED": "0", "IPT_MUTATION": "1"}
    start = time.monotonic()
    with (work / "mutmut.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [str(mutmut), "run", "--max-children", "1"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed on {module}: see {work / 'mutmut.log'}")
    subprocess.run([str(mutmut), "export-cicd-stats"], cwd=work, env=env, check=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))
    listing = subprocess.run(
        [str(mutmut), "results"], cwd=work, env=env, check=True, capture_output=True, text=True
    ).stdout
    survivors = sorted(line.strip() for line in listing.splitlines() if line.strip())
    (work / "survivors.txt").write_text("\n".join(survivors) + "\n", encoding="utf-8")
    killed, timeout, total = stats["killed"], stats["timeout"], stats["total"]
    score = (killed + timeout) / total if total else 0.0
    return {"module": module, **stats, "score": round(100 * score, 1), "seconds": round(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--list", action="store_true", help="the modules and their tests")
    args = parser.parse_args()
    if args.list or not args.modules:
        for name, (source, tests) in MODULES.items():
            print(f"{name:18} src/ipt_formulate/{source:20} {' '.join(tests)}")
        return
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    for module in args.modules:
        print(json.dumps(run(module)), flush=True)


if __name__ == "__main__":
    main()
