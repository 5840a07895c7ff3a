"""Issue #13: the library as a new user meets it (outside the checkout, in code, on errors)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ipt_formulate as ipt
from conftest import EXAMPLES, ROOT, RULES
from test_check import SIGN_VIOLATION

HERE = Path(__file__).resolve().parent


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, input=stdin
    )


# ------------------------------------------------------------------ 1 bundled packs by name
def test_bundled_packs_load_by_name_from_any_folder(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    (user / "pack.toml").write_text(
        '[pack]\nname = "mine"\nversion = "0.1.0"\ndescription = "x"\nextends = ["ipt-core"]\n'
    )
    code = (
        "import ipt_formulate as ipt\n"
        "assert ipt.bundled_packs() == ('ipt-core', 'ipsrt'), ipt.bundled_packs()\n"
        "print(ipt.load_pack('ipsrt').name, ipt.load_pack('ipt-core').name,"
        " ipt.load_pack('mine').name, len(ipt.load_pack('mine').rules) > 40)\n"
    )
    res = _run(["-c", code], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ipsrt", "ipt-core", "mine", "True"]
    bip = str(EXAMPLES / "bipolar-lost-healthy-self.json")
    res = _run(["-m", "ipt_formulate", "formulate", bip, "--pack", "ipsrt"], tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["hypotheses"][out["primary"] - 1]["area"] == "lost_healthy_self"
    res = _run(["-m", "ipt_formulate", "rules", "list", "--pack", "ipsrt"], tmp_path)
    assert res.returncode == 0 and "ipsrt.lost-healthy-self" in res.stdout, res.stderr


def test_a_path_is_still_a_path_and_a_missing_one_names_the_bundled_packs(tmp_path: Path) -> None:
    assert ipt.load_pack(RULES / "ipsrt").name == "ipsrt"
    assert ipt.load_pack(str(RULES / "ipsrt")).hash == ipt.load_pack("ipsrt").hash
    with pytest.raises(ipt.RulePackError, match="by name: ipt-core, ipsrt"):
        ipt.load_pack(tmp_path)


def test_mania_advisory_says_how_to_use_the_ipsrt_pack() -> None:
    inv = json.loads((EXAMPLES / "bipolar-lost-healthy-self.json").read_text())
    advisories = ipt.formulate(inv).advisories
    msgs = [a.message for a in advisories if a.rule_id == "clinical.mania-history"]
    assert msgs and "--pack ipsrt" in msgs[0] and 'load_pack("ipsrt")' in msgs[0]
    # and what it says works
    assert ipt.formulate(inv, ipt.load_pack("ipsrt")).primary is not None


# ------------------------------------------------------------------ 2 inventories built in code
def test_inventory_built_in_code_like_a_dict() -> None:
    inv = ipt.Inventory(
        patient=ipt.Patient(age=52, populations=["adult"], risk=ipt.Risk(suicidal_ideation=False)),
        episode=ipt.Episode(
            assessment_date="2024-03-01", onset="2024-01", measures=[ipt.PHQ9(total=16)]
        ),
        persons=[ipt.Person(id="mum", role="parent", deceased=True, ring="inner")],
        events=[{"id": "e1", "kind": "death", "subject": "mum", "date": "2023-12"}],
    )
    assert inv.patient.populations == ("adult",)
    assert isinstance(inv.persons, tuple) and isinstance(inv.events, tuple)
    assert inv.episode.measures[0].instrument == "phq9"
    as_dict = ipt.parse_inventory(json.loads(inv.model_dump_json()))
    assert as_dict == inv
    assert ipt.formulate(inv).to_json() == ipt.formulate(as_dict).to_json()


@pytest.mark.parametrize(
    ("build", "path", "code", "cls"),
    [
        (lambda: ipt.Person(id="x", role="aunt"), "$.role", "inventory.unknown_value", None),
        (lambda: ipt.Patient(age="40"), "$.age", "inventory.wrong_type", None),
        (lambda: ipt.PHQ9(total=30), "$.total", "inventory.out_of_range", "InventoryRangeError"),
        (
            lambda: ipt.Inventory(
                episode={"assessment_date": "2024-01-01"},
                persons=[{"id": "a", "role": "aunt"}],
            ),
            "$.persons[0].role",
            "inventory.unknown_value",
            None,
        ),
        (
            lambda: ipt.Inventory(
                episode=ipt.Episode(assessment_date="2024-01-01"),
                events=[ipt.LifeEvent(id="e", kind="death", subject="nobody")],
            ),
            "$.events[0].subject",
            "inventory.unknown_person",
            "InventoryReferenceError",
        ),
        (lambda: ipt.Episode(assessment_date="2024-02-30"), "$.assessment_date", None, None),
    ],
)
def test_constructor_errors_are_the_librarys(
    build: Any, path: str, code: str | None, cls: str | None
) -> None:
    with pytest.raises(ipt.InventoryError) as info:
        build()
    assert info.value.issues[0].path == path
    if code is not None:
        assert info.value.code == code
    if cls is not None:
        assert type(info.value).__name__ == cls


def test_constructor_rejects_what_json_cannot_hold_with_a_typed_error() -> None:
    with pytest.raises(ipt.MalformedInputError):
        ipt.SASSR(mean=float("nan"))
    with pytest.raises(ipt.InventoryError):  # strict as JSON: 1 is not true
        ipt.Risk(self_harm=1)


# ------------------------------------------------------------------ 3 every issue on the CLI
def test_cli_prints_every_issue_one_per_line(tmp_path: Path) -> None:
    bad = {
        "episode": {"assessment_date": "2026-01-01"},
        "persons": [{"id": "x", "role": "aunt", "ring": 3}, {"id": "y"}],
        "foo": 1,
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    res = _run(["-m", "ipt_formulate", "formulate", str(path)], tmp_path)
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("ipt-formulate: error [inventory.unknown_field]: invalid inventory")
    assert "4 issues" in lines[0]
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == [
        "$.foo",
        "$.persons[0].ring",
        "$.persons[0].role",
        "$.persons[1].role",
    ]
    assert lines[4].endswith("[inventory.missing_field]")


def test_cli_caps_the_issue_lines_with_a_count(tmp_path: Path) -> None:
    bad = {"episode": {"assessment_date": "2026-01-01"}, **{f"k{i}": i for i in range(70)}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    res = _run(["-m", "ipt_formulate", "formulate", str(path)], tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 + 50 + 1, res.stderr
    assert lines[-1] == "  ... and 20 more issue(s)"


# ------------------------------------------------------------------ 4 testing your own pack
def _pasted_module() -> str:
    doc = (ROOT / "docs" / "testing-your-pack.md").read_text(encoding="utf-8")
    section = doc.split("A complete test module to paste")[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0] + "\n"


def test_the_pasted_test_module_runs_as_pasted(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_my_pack.py").write_text(_pasted_module())
    (tmp_path / "rules" / "my-pack").mkdir(parents=True)
    (tmp_path / "rules" / "my-pack" / "pack.toml").write_text(
        '[pack]\nname = "my-pack"\nversion = "0.1.0"\ndescription = "x"\nextends = ["ipt-core"]\n'
    )
    res = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 passed, 1 skipped" in res.stdout and "warning" not in res.stdout, res.stdout


def test_monotonicity_failure_shows_the_added_fact_and_a_deep_run_its_seed(
    tmp_path: Path,
) -> None:
    from ipt_formulate.testing import check_pack

    pack = tmp_path / "p"
    shutil.copytree(RULES / "ipt-core", pack)
    (pack / "mutant.toml").write_text(SIGN_VIOLATION)
    # a fixed seed: a deep run draws its own at random, and 20 examples do not always find
    # the mutant (this test was flaky); the seed drawn at random is covered below
    report = check_pack(pack, profile="deep", checks=["monotonicity"], max_examples=20, seed=3)
    assert report.seed == 3 and "seed=3" in str(report)
    drawn = check_pack(pack, profile="deep", checks=["monotonicity"], max_examples=1)
    assert drawn.seed is not None and f"seed={drawn.seed}" in str(drawn)
    (failure,) = report.failures
    assert failure.added is not None and '"kind": "death"' in failure.added
    assert "added: " in str(failure) and f"seed={report.seed}" in (failure.reproduce or "")
    again = check_pack(
        pack, profile="deep", checks=["monotonicity"], max_examples=20, seed=report.seed
    )
    assert again.failures == report.failures


# ------------------------------------------------------------------ 5 readable synthetic labels
def test_synthetic_person_labels_are_readable() -> None:
    from ipt_formulate.audit import synth_records

    labels = [
        p["label"] for line in synth_records(30, 1) for p in json.loads(line).get("persons", [])
    ]
    assert labels and all(re.fullmatch(r"[A-Z][a-z-]+( [a-z]+)?( [0-9]+)?", lb) for lb in labels)
    assert "Friend 2" in labels or any(lb.endswith(" 2") for lb in labels)


# ------------------------------------------------------------------ ties (#13 item 6)
TWO_DEATHS: dict[str, Any] = {
    "episode": {"assessment_date": "2026-03-01", "onset": "2025-12"},
    "persons": [
        {"id": "mum", "role": "parent", "label": "Mother", "ring": "inner", "deceased": True},
        {"id": "dad", "role": "parent", "label": "Father", "ring": "inner", "deceased": True},
    ],
    "events": [
        {"id": "e1", "kind": "death", "subject": "mum", "months_before_onset": 2,
         "response": "mourning_avoided"},
        {"id": "e2", "kind": "death", "subject": "dad", "months_before_onset": 2,
         "response": "mourning_avoided"},
    ],
}  # fmt: skip


def test_an_exact_tie_for_primary_is_marked_and_rendered() -> None:
    f = ipt.formulate(TWO_DEATHS)
    assert f.primary is not None and f.primary.focus.id == "dad"  # id order: "dad" < "mum"
    (tie,) = f.ties
    assert tie.role == "primary" and tie.chosen.id == "dad" and tie.score == f.primary.score
    assert tie.others == ("Grief (complicated bereavement): Mother",)
    assert "the clinician's" in tie.note
    from ipt_formulate import render_html

    for text in (f.to_text(), f.to_markdown(), render_html(f, ipt.parse_inventory(TWO_DEATHS))):
        assert "ties at" in text and "Mother" in text
    assert ipt.formulate(TWO_DEATHS, engine="compiled").ties == f.ties
    # renamed so that Mother's id sorts first: she becomes primary, and the tie still shows
    renamed = json.loads(json.dumps(TWO_DEATHS).replace('"mum"', '"a-mum"'))
    g = ipt.formulate(renamed)
    assert g.primary is not None and g.primary.focus.id == "a-mum"
    assert g.ties and g.ties[0].others == ("Grief (complicated bereavement): Father",)


def test_no_tie_no_mark() -> None:
    one = json.loads(json.dumps(TWO_DEATHS))
    one["events"][1]["response"] = "adapting"
    assert ipt.formulate(one).ties == ()
