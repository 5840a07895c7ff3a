"""Opt-in mutation testing of the core modules with mutmut (not part of ``.ci/run``).

    .venv/bin/pip install -e '.[test,mutation]'
    .venv/bin/python tests/mutation.py scoring          # one module, one worker
    .venv/bin/python tests/mutation.py --sample 5 facts # every 5th mutant: a quick estimate
    .venv/bin/python tests/mutation.py --list           # the modules and their test subsets

Each module is mutated on its own, against a fast subset of the suite that exercises it
(``MODULES`` below), so one module's run stays well under 20 minutes on a loaded 2-core
machine. mutmut reads its settings only from ``pyproject.toml`` in its working directory, so
every module gets a scratch directory ``.mutation/<module>/`` holding a copy of the project's
``pyproject.toml`` plus a ``[tool.mutmut]`` section, and symlinks to ``src``, ``tests``,
``rules``, ``examples`` and ``docs``. mutmut copies those into ``mutants/`` there, puts
``mutants/src`` first on ``sys.path`` and drops ``src`` (the editable install's entry), so the
tests import the mutated code. Tests that start a subprocess see the unmutated package: they
can only under-count kills, never over-count them. mutmut forks each mutant's test run from a
process that already ran the tests, so ``IPT_MUTATION=1`` makes ``tests/conftest.py`` empty
the library's memo caches at the start of every session (a cached prepared pack would hide a
mutant) and load a derandomised hypothesis profile (a verdict must not depend on the draw).

The script prints the module's counts and the score ``(killed + timeout) / tested``; a
mutant no selected test reaches ("no tests") counts as not killed. The names of the mutants
not killed go to ``.mutation/<module>/survivors.txt``; ``mutmut show NAME`` (run in that
directory) prints a mutant's diff.
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

# module -> (source file under src/ipt_formulate, the tests that exercise it: files, or
# file::test node ids)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "scoring": (
        "scoring.py",
        ("test_scoring.py", "test_explain.py", "test_validation.py"),
    ),
    "explain": ("explain.py", ("test_explain.py", "test_validation.py")),
    "facts": ("facts.py", ("test_oracle.py", "test_facts.py")),
    "rulepack": (
        "rulepack.py",
        (
            "test_rulepack_api.py",
            "test_rulepack_files.py",
            "test_validation.py",
            "test_rulepack.py",
            "test_rulepack_limits.py",
            # the automatic "known" guard on joined fields (one test of the oracle's)
            "test_oracle.py::test_joins_on_unknown_fields_never_join",
        ),
    ),
    # the reference evaluator: explain's diagnosis, the experta path's possible reading,
    # lint and the pack checker read through it
    "_evaluate": (
        "_evaluate.py",
        (
            "test_oracle.py",
            "test_validation.py",
            "test_explain.py",
            "test_incomplete.py",
            "test_engine.py",
        ),
    ),
    "_compiled_backend": (
        "_compiled_backend.py",
        ("test_oracle.py", "test_compiled.py", "test_incomplete.py"),
    ),
    "audit/_batch": ("audit/_batch.py", ("test_batch.py",)),
    # validation and its errors: the inventory tests, the limits, the documented schema
    # and the error messages users see
    "inventory": (
        "inventory.py",
        ("test_inventory.py", "test_limits.py", "test_schema_docs.py", "test_usability.py"),
    ),
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
    missing = [t for t in tests if not (ROOT / "tests" / t.split("::")[0]).exists()]
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


def _mutmut(work: Path, args: list[str], log: Path) -> int:
    """Run ``mutmut ARGS`` in ``work`` (one worker), its output appended to ``log``."""
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONHASHSEED": "0", "IPT_MUTATION": "1"}
    with log.open("a", encoding="utf-8") as out:
        return subprocess.run(
            [str(mutmut), *args], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode


def _verdicts(work: Path, source: str) -> dict[str, str]:
    """Mutant name -> status ("killed", "survived", "timeout", "no tests", "not checked")."""
    from mutmut.stats import status_by_exit_code

    meta = work / "mutants" / "src" / "ipt_formulate" / f"{source}.meta"
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in sorted(codes.items())}


def run(module: str, sample: int = 1) -> dict[str, object]:
    """Mutate one module with one worker (every ``sample``-th mutant by name); its counts,
    score and wall time. Survivors and mutants no test reached go to survivors.txt."""
    source, _ = MODULES[module]
    work = _prepare(module)
    log = work / "mutmut.log"
    start = time.monotonic()
    names: list[str] = []
    if sample > 1:
        # a first run that matches no mutant generates them all and records which tests
        # reach which function, then stops; the second tests the sample
        _mutmut(work, ["run", "--max-children", "1", "no-such-mutant"], log)
        names = list(_verdicts(work, source))[::sample]
    if _mutmut(work, ["run", "--max-children", "1", *names], log) != 0:
        raise SystemExit(f"mutmut failed on {module}: see {log}")
    seconds = time.monotonic() - start
    verdicts = _verdicts(work, source)
    tested = {n: v for n, v in verdicts.items() if v != "not checked"}
    counts = {k: sum(v == k for v in tested.values()) for k in ("killed", "timeout")}
    counts["survived"] = sum(v == "survived" for v in tested.values())
    counts["no_tests"] = sum(v == "no tests" for v in tested.values())
    other = len(tested) - sum(counts.values())
    lost = sorted(n for n, v in tested.items() if v not in ("killed", "timeout"))
    (work / "survivors.txt").write_text("".join(f"{n}\n" for n in lost), encoding="utf-8")
    score = (counts["killed"] + counts["timeout"]) / len(tested) if tested else 0.0
    return {
        "module": module,
        "mutants": len(verdicts),
        "tested": len(tested),
        **counts,
        "other": other,
        "score": round(100 * score, 1),
        "seconds": round(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--list", action="store_true", help="the modules and their tests")
    parser.add_argument(
        "--sample", type=int, default=1, help="test every N-th mutant by name (default: all)"
    )
    args = parser.parse_args()
    if args.list or not args.modules:
        for name, (source, tests) in MODULES.items():
            print(f"{name:18} src/ipt_formulate/{source:20} {' '.join(tests)}")
        return
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    for module in args.modules:
        print(json.dumps(run(module, args.sample)), flush=True)


if __name__ == "__main__":
    main()
