"""The command-line interface as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, RULES
from ipt_formulate import Formulation


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *args], capture_output=True, text=True, input=stdin
    )


def test_formulate_json_markdown_text() -> None:
    res = cli("formulate", str(EXAMPLES / "grief.json"))
    assert res.returncode == 0, res.stderr
    f = Formulation.model_validate_json(res.stdout)
    assert f.primary is not None and f.primary.area == "grief"
    md = cli("formulate", str(EXAMPLES / "grief.json"), "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("# IPT formulation")
    assert "not a diagnosis" in md.stdout
    txt = cli("formulate", "-", "--format", "text", stdin=(EXAMPLES / "grief.json").read_text())
    assert txt.returncode == 0 and "not a diagnosis" in txt.stdout and "**" not in txt.stdout


def test_formulate_with_pack_and_option() -> None:
    res = cli(
        "formulate",
        str(EXAMPLES / "bipolar-lost-healthy-self.json"),
        "--pack",
        str(RULES / "ipsrt"),
        "--option",
        "recent_window_months=6",
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["primary"]["area"] == "lost_healthy_self"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("", "input.malformed"),
        ("{not json", "input.malformed"),
        (
            '{"episode": {"assessment_date": "2026-01-01"}, "persons": [{"id": "x"}]}',
            "inventory.missing_field",
        ),
    ],
)
def test_invalid_input_exit_2_one_paragraph(tmp_path: Path, content: str, code: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(content)
    res = cli("formulate", str(path))
    assert res.returncode == 2
    assert res.stdout == ""
    assert f"[{code}]" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unknown_option_and_missing_file() -> None:
    res = cli("formulate", str(EXAMPLES / "grief.json"), "--option", "grief_scope=all")
    assert res.returncode == 2 and "options.choice" in res.stderr
    res = cli("formulate", "/nonexistent/x.json")
    assert res.returncode == 2 and "cannot read" in res.stderr


def test_rules_list_show_catalogue() -> None:
    res = cli("rules", "list")
    assert res.returncode == 0 and "grief.death-near-onset" in res.stdout
    res = cli("rules", "show", "grief.death-near-onset")
    assert res.returncode == 0 and "Weissman" in res.stdout and "grief.toml" in res.stdout
    res = cli("rules", "show", "no.such-rule")
    assert res.returncode == 2
    res = cli("rules", "catalogue", "--pack", str(RULES / "ipsrt"))
    assert res.returncode == 0 and "lost_healthy_self" in res.stdout


def test_rules_lint(tmp_path: Path) -> None:
    res = cli("rules", "lint", str(RULES / "ipt-core"))
    assert res.returncode == 0, res.stdout
    broken = tmp_path / "core"
    shutil.copytree(RULES / "ipt-core", broken)
    p = broken / "grief.toml"
    p.write_text(
        p.read_text().replace(
            '["ring", "in", ["inner", "middle"]]', '["rign", "in", ["inner", "middle"]]', 1
        )
    )
    res = cli("rules", "lint", str(broken))
    assert res.returncode == 2 and "rign" in res.stderr and "grief.toml" in res.stderr


@pytest.mark.parametrize("which", ["inventory", "rules", "formulation"])
def test_schema(which: str) -> None:
    res = cli("schema", which)
    assert res.returncode == 0
    assert "$schema" in json.loads(res.stdout)
