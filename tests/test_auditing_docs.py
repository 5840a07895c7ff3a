"""Every documented influence and sensitivity example in docs/auditing.md is reproduced: the
test builds the cohort with the doc's own command, runs each documented command and compares
its output with the block the doc shows under it."""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "auditing.md"
AUDITS = ("ipt-formulate influence ", "ipt-formulate sensitivity ")


def _blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.S | re.M)


def _documented_runs() -> list[tuple[str, str]]:
    blocks = _blocks()
    runs = []
    for (lang, body), (next_lang, shown) in itertools.pairwise(blocks):
        command = body.strip()
        if lang == "sh" and command.startswith(AUDITS) and "\n" not in command:
            assert next_lang == "text", f"no output shown under {command!r}"
            runs.append((command, shown))
    return runs


RUNS = _documented_runs()


def test_the_doc_shows_both_audits() -> None:
    assert {c.split()[1] for c, _ in RUNS} == {"influence", "sensitivity"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the examples and the cohort the doc tells the reader to make."""
    work = tmp_path_factory.mktemp("auditing-doc")
    (work / "examples").symlink_to(ROOT / "examples")
    make = next(
        body.strip() for lang, body in _blocks() if lang == "sh" and "> cohort.jsonl" in body
    )
    assert make.startswith("python3 -c ")
    script = shlex.quote(sys.executable) + make.removeprefix("python3")
    subprocess.run(["bash", "-c", script], cwd=work, check=True)
    assert len((work / "cohort.jsonl").read_text(encoding="utf-8").splitlines()) == len(
        list((ROOT / "examples").glob("*.json"))
    )
    return work


@pytest.mark.parametrize(("command", "shown"), RUNS, ids=[c.split()[1] for c, _ in RUNS])
def test_documented_output_is_what_the_command_prints(
    command: str, shown: str, workdir: Path
) -> None:
    if "--chart" in command:
        pytest.importorskip("matplotlib")
    argv = shlex.split(command)
    r = subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *argv[1:]],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip("\n") == shown.rstrip("\n")
    if "--chart" in argv:
        chart = workdir / argv[argv.index("--chart") + 1]
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
