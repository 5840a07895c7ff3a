"""Documentation that is generated or quoted must match the code."""

from __future__ import annotations

import json
import re

from conftest import ROOT
from ipt_formulate import DISCLAIMER, formulate
from ipt_formulate._catalogue import catalogue_document


def test_rule_catalogue_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "rule-catalogue.md").read_text(encoding="utf-8")
    assert committed == catalogue_document(), (
        "docs/rule-catalogue.md is stale; regenerate with: python -c "
        '"from ipt_formulate._catalogue import write_catalogue; write_catalogue()"'
    )


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start (fresh machine)")[1].split("\n## ")[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_gives_exactly_two_fresh_machine_commands() -> None:
    install_and_run, tests = _readme_commands()
    assert "pip install ." in install_and_run and "ipt-formulate formulate examples/" in (
        install_and_run
    )
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def test_readme_and_every_rendering_say_decision_support() -> None:
    assert "not a diagnosis" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "not a diagnosis" in DISCLAIMER
    for example in sorted((ROOT / "examples").glob("*.json")):
        f = formulate(example.read_text(encoding="utf-8"))
        assert json.loads(f.to_json())["disclaimer"] == DISCLAIMER, example.name
        assert f.to_dict()["disclaimer"] == DISCLAIMER, example.name
        for rendering in (f.to_markdown(), f.to_text()):
            assert DISCLAIMER in " ".join(rendering.split()), example.name
