"""Rule packs: loading, validation errors that name file/line/rule/key, examples, lint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import RULES
from ipt_formulate import RulePack, RulePackError, load_pack
from ipt_formulate.errors import RulePackReferenceError, RulePackSchemaError, RulePackSyntaxError
from ipt_formulate.lint import lint_pack, run_examples
from ipt_formulate.scoring import Belief, combine

PACKS = ["ipt-core", "ipsrt"]


def _examples(name: str) -> list[tuple[str, str]]:
    pack = load_pack(RULES / name)
    return [(r.id, ex.name) for r in pack.rules for ex in r.examples]


@pytest.mark.parametrize("pack_name", PACKS)
def test_every_rule_cites_a_declared_source_and_has_both_examples(pack_name: str) -> None:
    pack = load_pack(RULES / pack_name)
    for r in pack.rules:
        assert r.cite, r.id
        for c in r.cite:
            assert c.source in pack.sources and pack.sources[c.source].url, r.id
        assert {ex.fires for ex in r.examples} == {True, False}, r.id


@pytest.mark.parametrize("pack_name", PACKS)
def test_rule_examples_pass_on_both_evaluators(pack_name: str) -> None:
    """Doctests for rules: each example fires (or not) on experta and on the reference."""
    results = run_examples(load_pack(RULES / pack_name))
    assert len(results) >= 2 * len(load_pack(RULES / pack_name).rules) - 2
    failing = [
        (r.rule_id, r.name, r.expected, r.fired, r.reference_fired) for r in results if not r.ok
    ]
    assert failing == []


@pytest.mark.parametrize("pack_name", PACKS)
def test_shipped_packs_lint_clean(pack_name: str) -> None:
    assert [str(m) for m in lint_pack(RULES / pack_name)] == []


def test_ipsrt_composes_with_core(core_pack: RulePack, ipsrt_pack: RulePack) -> None:
    assert ipsrt_pack.lineage == ("ipt-core@1.1.0", "ipsrt@1.1.0")
    assert [a.id for a in ipsrt_pack.areas] == [a.id for a in core_pack.areas] + [
        "lost_healthy_self"
    ]
    core_ids = {r.id for r in core_pack.rules}
    assert core_ids < {r.id for r in ipsrt_pack.rules}
    # a child rule replaces the parent's rule of the same id
    assert "--pack ipsrt" in core_pack.rule("clinical.mania-history").explain
    assert ipsrt_pack.rule("clinical.mania-history").file.startswith("lost-self.toml")


def test_chained_findings_are_stratified(core_pack: RulePack) -> None:
    gate = core_pack.rule("deficits.no-acute-area")
    producers = [
        core_pack.rule(i)
        for i in (
            "grief.death-near-onset",
            "dispute.non-reciprocal-conflict",
            "transition.change-near-onset",
        )
    ]
    assert all(gate.stratum > p.stratum for p in producers)
    assert core_pack.rule("deficits.probe-hidden-death").stratum >= gate.stratum


# ------------------------------------------------------------------ broken packs
@pytest.fixture
def pack_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "ipt-core"
    shutil.copytree(RULES / "ipt-core", dst)
    return dst


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def test_unknown_fact_field(pack_copy: Path) -> None:
    _edit(
        pack_copy / "dispute.toml",
        '["conflict", "in", ["moderate", "high"]]',
        '["conflcit", "in", ["moderate", "high"]]',
    )
    with pytest.raises(RulePackReferenceError) as info:
        load_pack(pack_copy)
    e = info.value
    assert e.file == "dispute.toml" and e.rule_id == "dispute.non-reciprocal-conflict"
    assert e.key == "when.0.where.1" and "conflcit" in e.message
    assert (
        e.line is not None
        and 'id = "dispute.non-reciprocal-conflict"'
        in ((pack_copy / "dispute.toml").read_text().splitlines()[e.line])
    )


def test_bad_enum_value(pack_copy: Path) -> None:
    _edit(pack_copy / "grief.toml", '["kind", "==", "death"]', '["kind", "==", "daeth"]')
    with pytest.raises(RulePackSchemaError, match="'daeth' is not a value of 'kind'"):
        load_pack(pack_copy)


def test_dangling_finding(pack_copy: Path) -> None:
    _edit(
        pack_copy / "dispute.toml",
        'asserts = { finding = "dispute_candidate", focus = "other", '
        'label = "a possible role dispute" }',
        "",
        count=2,  # two rules assert it since #17 (close-ring and outer-ring disputes)
    )
    with pytest.raises(RulePackReferenceError, match="dangling finding") as info:
        load_pack(pack_copy)
    assert "'dispute_candidate'" in info.value.message
    assert info.value.file in {"deficits.toml", "dispute.toml"}
    assert info.value.rule_id is not None and info.value.line


def test_missing_citation(pack_copy: Path) -> None:
    _edit(
        pack_copy / "safety.toml",
        'cite = [{ source = "kroenke2001", note = "Item 9 asks about thoughts of death or '
        'self-harm." }]',
        "",
    )
    with pytest.raises(RulePackSchemaError) as info:
        load_pack(pack_copy)
    assert info.value.rule_id == "safety.phq9-item9" and info.value.key == "cite"
    assert info.value.file == "safety.toml" and info.value.line


def test_unknown_source(pack_copy: Path) -> None:
    _edit(pack_copy / "safety.toml", 'source = "kroenke2001"', 'source = "kroenke2099"')
    with pytest.raises(RulePackReferenceError, match="kroenke2099"):
        load_pack(pack_copy)


def test_toml_syntax_error_names_the_line(pack_copy: Path) -> None:
    path = pack_copy / "grief.toml"
    lines = path.read_text().splitlines()
    lines[9] = "weight = = 0.6"
    path.write_text("\n".join(lines))
    with pytest.raises(RulePackSyntaxError) as info:
        load_pack(pack_copy)
    assert info.value.line == 10 and info.value.file == "grief.toml"


def test_undecodable_rule_file_names_the_line(pack_copy: Path) -> None:
    path = pack_copy / "grief.toml"
    lines = path.read_bytes().split(b"\n")
    lines[4] += b"  # caf\xe9"  # Latin-1, not UTF-8
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(RulePackSyntaxError, match="not UTF-8") as info:
        load_pack(pack_copy)
    assert info.value.line == 5 and info.value.file == "grief.toml"


@pytest.mark.parametrize(
    ("addition", "line_known"),
    [("x = " + "[" * 5000 + "]" * 5000, False), ("x = 1" + "0" * 5000, True)],
    ids=["nested-too-deeply", "integer-beyond-python-limit"],
)
def test_toml_that_python_cannot_hold_is_a_syntax_error(
    pack_copy: Path, addition: str, line_known: bool
) -> None:
    path = pack_copy / "pack.toml"
    text = path.read_text()
    path.write_text(addition + "\n" + text)  # top of the file: a top-level key
    with pytest.raises(RulePackSyntaxError) as info:
        load_pack(pack_copy)
    assert info.value.file == "pack.toml"
    assert info.value.line == (1 if line_known else None)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("default = 6.0\nmin = 0.0", "default = -6.0\nmin = 0.0"),  # default out of bounds
        ("default = 6.0\nmin = 0.0", "default = 6.0\nmax = 3.0"),
        ('default = "death_only"', 'default = "death_only"\nmin = 0.0'),  # bounds on a str
    ],
    ids=["default-below-min", "default-above-max", "bounds-on-a-choice"],
)
def test_option_bounds_are_checked_at_load(pack_copy: Path, old: str, new: str) -> None:
    _edit(pack_copy / "pack.toml", old, new)
    with pytest.raises(RulePackSchemaError) as info:
        load_pack(pack_copy)
    assert info.value.file == "pack.toml" and str(info.value.key).startswith("options.")


def test_negation_cycle_is_rejected(pack_copy: Path) -> None:
    (pack_copy / "cycle.toml").write_text(
        """
[[rule]]
id = "x.a"
version = 1
title = "a then not b"
asserts = { finding = "fa" }
explain = "a holds"
cite = [{ source = "isipt" }]
  [[rule.when]]
  fact = "finding"
  exists = false
  where = [["name", "==", "fb"]]

[[rule]]
id = "x.b"
version = 1
title = "b then not a"
asserts = { finding = "fb" }
explain = "b holds"
cite = [{ source = "isipt" }]
  [[rule.when]]
  fact = "finding"
  exists = false
  where = [["name", "==", "fa"]]
"""
    )
    with pytest.raises(RulePackReferenceError, match="cycle"):
        load_pack(pack_copy)


def test_rule_files_are_data_not_code(pack_copy: Path) -> None:
    marker = pack_copy / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    (pack_copy / "evil.toml").write_text(
        "[[rule]]\n"
        'id = "evil.x"\n'
        "version = 1\n"
        f'title = "{payload}"\n'
        'explain = "{__import__}"\n'
        'cite = [{ source = "isipt" }]\n'
        'advisory = { kind = "data", level = "info" }\n'
        "  [[rule.when]]\n"
        '  fact = "patient"\n'
        f'  where = [["age", ">", "{payload}"]]\n'
    )
    with pytest.raises(RulePackError):
        load_pack(pack_copy)
    assert not marker.exists()


def test_lint_reports_failing_examples(pack_copy: Path) -> None:
    _edit(
        pack_copy / "safety.toml",
        'facts = [{ fact = "patient", id = "patient", phq9_item9 = 0 }]',
        'facts = [{ fact = "patient", id = "patient", phq9_item9 = 1 }]',
    )
    msgs = lint_pack(pack_copy)
    assert any(
        m.level == "error" and m.rule_id == "safety.phq9-item9" and "item 9 = 0" in m.message
        for m in msgs
    )


def test_lint_rejects_unknown_example_fields(pack_copy: Path) -> None:
    _edit(pack_copy / "safety.toml", "phq9_item9 = 2 }", "phq9_itme9 = 2 }")
    msgs = lint_pack(pack_copy)
    assert any(m.level == "error" and "phq9_itme9" in m.message for m in msgs)


# ------------------------------------------------------------------ scoring algebra
def test_certainty_factor_combination() -> None:
    assert combine([0.6, 0.4]) == pytest.approx(0.76)
    assert combine([0.5, -0.5]) == pytest.approx(0.0)
    assert combine([-0.6, -0.4]) == pytest.approx(-0.76)
    assert combine([0.8, -0.4]) == pytest.approx((0.8 - 0.4) / (1 - 0.4))
    ws = [0.55, -0.25, 0.2, 0.15, -0.3]
    assert combine(ws) == combine(list(reversed(ws)))
    a, b, c = (Belief.of(w) for w in (0.5, -0.3, 0.7))
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    assert (left.mb, left.md) == pytest.approx((right.mb, right.md))
    assert -1 <= combine([0.99] * 20 + [-0.5]) <= 1
