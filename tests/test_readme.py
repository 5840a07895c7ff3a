"""README's two fresh-machine commands are what CI (.ci/run) runs."""

from __future__ import annotations

import re

from conftest import ROOT


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start (fresh machine)")[1].split("\n## ")[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def _ci_lines() -> list[str]:
    return (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_readme_gives_exactly_two_fresh_machine_commands() -> None:
    install_and_run, tests = _readme_commands()
    assert "pip install ." in install_and_run and "ipt-formulate formulate examples/" in (
        install_and_run
    )
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    assert tests in _ci_lines()


def test_ci_runs_the_readme_formulate_command() -> None:
    install_and_run, _ = _readme_commands()
    venv, install, run = (part.strip() for part in install_and_run.split("&&"))
    ci = _ci_lines()
    assert any(line.startswith(run) for line in ci), run  # the same command and example
    assert any(line.startswith(venv) for line in ci)
    assert install.startswith(".venv/bin/pip install .")
    assert (ROOT / run.split()[2]).is_file()
