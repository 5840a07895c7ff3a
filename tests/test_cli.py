"""The command-line interface as a user runs it (a real subprocess)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLES, RULES, open_fifo_writer, sigint_default
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
    out = json.loads(res.stdout)
    assert out["hypotheses"][out["primary"] - 1]["area"] == "lost_healthy_self"


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
    """The printed schema is exactly the library's, and describes the document it names."""
    from ipt_formulate import inventory_json_schema, rulepack_json_schema
    from ipt_formulate.formulation import formulation_json_schema

    res = cli("schema", which)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    expected = {
        "inventory": inventory_json_schema,
        "rules": rulepack_json_schema,
        "formulation": formulation_json_schema,
    }[which]()
    assert printed == json.loads(json.dumps(expected))
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    if which == "inventory":
        assert printed["required"] == ["episode"]
        assert {"patient", "episode", "persons", "events", "relationships"} <= set(
            printed["properties"]
        )
    elif which == "rules":
        assert printed["manifest"]["required"] == ["pack"]
        assert set(printed["rule_file"]["properties"]) == {"rule"}
    else:
        assert {"primary", "secondary", "not_chosen", "provenance", "disclaimer"} <= set(
            printed["properties"]
        )


# ------------------------------------------------------------------ expected failures (issue 11)
def _one_paragraph(res: subprocess.CompletedProcess[str], code: str, exit_code: int = 2) -> None:
    assert res.returncode == exit_code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert code in res.stderr, res.stderr


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *args], capture_output=True, text=True, **kw
    )


def test_non_utf8_input(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"id": "Jos\xe9"}'.encode("latin-1"))
    _one_paragraph(cli("formulate", str(path)), "[input.malformed]")
    res = subprocess.run(
        [sys.executable, "-m", "ipt_formulate", "formulate", "-"],
        input=path.read_bytes(), capture_output=True,
    )  # fmt: skip
    _one_paragraph(
        subprocess.CompletedProcess(res.args, res.returncode, "", res.stderr.decode()),
        "[input.malformed]",
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text((EXAMPLES / "grief.json").read_text().replace("\n", " ") + "\n")
    _one_paragraph(cli("batch", str(src), "-o", "/dev/full"), "[output.io]")
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [sys.executable, "-m", "ipt_formulate", "formulate", str(EXAMPLES / "grief.json")],
            stdout=full, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "[io.error]" in res.stderr and "No space left" in res.stderr


def test_resume_onto_a_directory_or_an_unwritable_file(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n")
    _one_paragraph(cli("batch", str(src), "-o", str(tmp_path), "--resume"), "[output.io]")
    out = tmp_path / "out.jsonl"
    out.write_text("")
    out.chmod(0o444)  # root ignores that: the run drops its power to override permissions
    res = _run(["batch", str(src), "-o", str(out), "--resume"], preexec_fn=_no_dac_override)
    _one_paragraph(res, "[output.io]")
    assert "Permission denied" in res.stderr


def _no_dac_override() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    capability bounding set, so that even root gets EACCES on a read-only file."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_label_csv_field_over_128_kib(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.jsonl"
    cohort.write_text((EXAMPLES / "grief.json").read_text().replace("\n", " ") + "\n")
    labels = tmp_path / "labels.csv"
    labels.write_text('id,grief,note\ngrief,1,"' + "x" * (129 * 1024) + '"\n')
    _one_paragraph(cli("agreement", str(cohort), str(labels)), "[labels.csv]")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS")
def test_out_of_memory() -> None:
    import resource

    def limit() -> None:  # 200 MB of address space: the 150 MB input cannot be read
        resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))

    big = b'{"episode": {"assessment_date": "2026-01-01"}, "id": "' + b"x" * (150 << 20) + b'"}'
    res = subprocess.run(
        [sys.executable, "-m", "ipt_formulate", "formulate", "-"],
        input=big, capture_output=True, preexec_fn=limit,
    )  # fmt: skip
    err = res.stderr.decode()
    assert res.returncode == 2 and "Traceback" not in err, err
    assert "[internal.memory]" in err and err.count("\n") == 1


START_UP_INTERRUPT = """
import os, signal
import ipt_formulate.audit as audit
real = audit.default_engine
def interrupted_default_engine():  # Ctrl-C while the parser is being built
    os.kill(os.getpid(), signal.SIGINT)
    return real()
audit.default_engine = interrupted_default_engine
from ipt_formulate.cli import main
raise SystemExit(main(["schema", "inventory"]))
"""


def test_ctrl_c_during_start_up(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", START_UP_INTERRUPT],
        capture_output=True, text=True, preexec_fn=sigint_default,
    )  # fmt: skip
    _one_paragraph(res, "interrupted", exit_code=130)
    # blocked opening its input (a FIFO nobody writes): Ctrl-C, then SIGTERM
    for sig, word, code in (
        (signal.SIGINT, "interrupted", 130),
        (signal.SIGTERM, "terminated", 143),
    ):
        fifo = tmp_path / f"in-{sig}.fifo"
        os.mkfifo(fifo)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ipt_formulate", "batch", str(fifo), "-o", str(tmp_path / "o")],
            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default,
        )  # fmt: skip
        writer = open_fifo_writer(fifo)  # the run has opened its input; it waits for lines
        time.sleep(0.3)  # ... in its start-up (pack, workers)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        os.close(writer)
        assert proc.returncode == code and word in err, err
        assert "Traceback" not in err
