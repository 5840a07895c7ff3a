"""A rule-pack loader that cannot hang or crash (issue #12), and packs that lint run on every
engine: hostile files, ``extends`` graphs, long finding chains, reserved bindings, wide rules,
and generated packs on which both engines must agree."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import ipt_formulate as ipt
from ipt_formulate.engine import run_engine
from ipt_formulate.errors import (
    RulePackError,
    RulePackReferenceError,
    RulePackSchemaError,
)
from ipt_formulate.facts import FACT_TYPES, FactSet
from ipt_formulate.rulepack import (
    MAX_EXTENDS_DEPTH,
    MAX_FILE_BYTES,
    MAX_PATTERNS_PER_RULE,
    RulePack,
    load_pack,
)

MANIFEST = """[pack]
name = "{name}"
version = "1.0.0"
description = "test pack"
extends = {extends}

[[area]]
id = "grief"
label = "Grief"
focus_kind = "person"

[sources.s]
text = "A source."
"""

RULE = """[[rule]]
id = "{rid}"
version = 1
title = "a test rule"
{head}
explain = "explained"
cite = [{{ source = "s" }}]
{when}
"""


def _pack(path: Path, name: str = "t", extends: list[str] | None = None, rules: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    ext = "[" + ", ".join(f'"{e}"' for e in (extends or [])) + "]"
    (path / "pack.toml").write_text(MANIFEST.format(name=name, extends=ext), encoding="utf-8")
    if rules:
        (path / "rules.toml").write_text(rules, encoding="utf-8")
    return path


def _rule(rid: str, when: str, head: str = 'area = "grief"\nweight = 0.5\nfocus = "p"') -> str:
    return RULE.format(rid=rid, head=head, when=when)


PERSON = '  [[rule.when]]\n  fact = "person"\n  bind = "p"\n  where = [["ring", "==", "inner"]]\n'


def _finishes(call: Callable[[], object], seconds: float = 120) -> object:
    """``call()``, in a thread that must end: a loader that hangs (a FIFO, an exponential
    extends graph) fails the test instead of hanging the suite. A hang detector with a
    generous bound, not a speed goal: times are measured by benchmarks/bench_limits.py."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def _quick(call: Callable[[], object]) -> RulePackError:
    with pytest.raises(RulePackError) as err:
        _finishes(call)
    return err.value


# ---------------------------------------------------------------- hostile files
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_rule_file_symlinked_to_dev_zero_is_refused(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p")
    (pack / "x.toml").symlink_to("/dev/zero")
    err = _quick(lambda: load_pack(pack))
    assert (err.code, err.file) == ("rulepack.io", "x.toml")
    assert "not a regular file" in err.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("name", ["x.toml", "pack.toml"])
def test_fifo_never_hangs_the_loader(tmp_path: Path, name: str) -> None:
    pack = _pack(tmp_path / "p")
    if name == "pack.toml":
        (pack / name).unlink()
    os.mkfifo(pack / name)
    err = _quick(lambda: load_pack(pack))
    assert err.code in {"rulepack.io", "rulepack.no_manifest"}


def test_oversized_rule_file_is_refused(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p")
    (pack / "big.toml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    err = _quick(lambda: load_pack(pack))
    assert (err.code, err.file) == ("rulepack.too_large", "big.toml")


def test_symlink_loops_are_errors(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p", extends=["loop"])
    (pack / "loop").symlink_to(pack / "loop")
    err = _quick(lambda: load_pack(pack))
    assert isinstance(err, RulePackError)
    (pack / "pack.toml").write_text(MANIFEST.format(name="t", extends="[]"), encoding="utf-8")
    (pack / "x.toml").symlink_to(pack / "x.toml")
    err = _quick(lambda: load_pack(pack))
    assert (err.code, err.file) == ("rulepack.io", "x.toml")


def test_nul_byte_in_extends_names_file_and_line(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p", extends=["a\\u0000b"])
    err = _quick(lambda: load_pack(pack))
    assert isinstance(err, RulePackReferenceError)
    assert err.file is not None and err.file.endswith("pack.toml")
    assert err.line == 5 and err.key == "pack.extends"


# ---------------------------------------------------------------- extends
def test_extends_is_confined_unless_the_caller_opts_in(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "p", extends=["/etc"])
    err = _quick(lambda: load_pack(pack))
    assert "outside the pack's folder" in err.message and err.line == 5
    _pack(tmp_path / "sibling", name="sib")
    pack = _pack(tmp_path / "p", extends=["../sibling"])
    _quick(lambda: load_pack(pack))
    assert load_pack(pack, allow_outside=True).lineage == ("sib@1.0.0", "t@1.0.0")
    pack = _pack(tmp_path / "q", extends=["/etc"])
    err = _quick(lambda: load_pack(pack, allow_outside=True))
    assert err.code == "rulepack.no_manifest"


def test_bundled_pack_by_name_from_anywhere(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "mine", name="mine", extends=["ipt-core"])
    loaded = load_pack(pack)
    assert loaded.lineage == ("ipt-core@1.1.0", "mine@1.0.0")
    assert {r.id for r in ipt.default_pack().rules} <= {r.id for r in loaded.rules}


def test_diamond_extends_loads_each_pack_once(tmp_path: Path) -> None:
    # 14 levels, two packs per level, each extending both packs of the next level: 2**14
    # paths, each pack loaded once
    root = tmp_path / "root"
    levels = 14
    for lvl in range(levels):
        for side in "ab":
            nxt = [f"../l{lvl + 1}a", f"../l{lvl + 1}b"] if lvl + 1 < levels else []
            rid = f"r.l{lvl}{side}"
            _pack(
                root / f"l{lvl}{side}", name=f"l{lvl}{side}", extends=nxt, rules=_rule(rid, PERSON)
            )
    _pack(root, name="top", extends=["l0a", "l0b"])
    pack = _finishes(lambda: load_pack(root))  # 2**14 loads without the memo
    assert isinstance(pack, RulePack)
    assert len(pack.rules) == 2 * levels
    assert len(pack.lineage) == 2 * levels + 1


def test_deep_extends_chain_gets_the_depth_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _pack(root, name="top", extends=["p1"])
    for i in range(1, 1200):
        _pack(root / f"p{i}", name=f"p{i}", extends=[f"../p{i + 1}"])
    err = _quick(lambda: load_pack(root))
    assert isinstance(err, RulePackReferenceError)
    assert f"deeper than {MAX_EXTENDS_DEPTH}" in err.message
    assert "nested" not in err.message


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _pack(root, name="top", extends=["a"])
    _pack(root / "a", name="a", extends=["../b"])
    _pack(root / "b", name="b", extends=["../a"])
    err = _quick(lambda: load_pack(root))
    assert "cycle" in err.message


# ---------------------------------------------------------------- chains of findings
def _chain(n: int, cycle: bool = False) -> str:
    """Rule k asserts f{k} when there is no f{k+1}; the last reads nothing (or f0: a cycle).
    Declared in reverse order of the strata (rule k in stratum n-1-k)."""
    out = []
    for k in range(n):
        reads = k + 1 if k + 1 < n else (0 if cycle else None)
        when = PERSON
        if reads is not None:
            when += (
                '  [[rule.when]]\n  fact = "finding"\n  exists = false\n'
                f'  where = [["name", "==", "f{reads}"]]\n'
            )
        head = f'asserts = {{ finding = "f{k}" }}'
        out.append(_rule(f"c.r{k:04d}", when, head))
    return "".join(out)


def test_long_chain_of_findings_stratifies_and_runs(tmp_path: Path) -> None:
    pack = load_pack(_pack(tmp_path / "p", rules=_chain(1200)))
    strata = {r.id: r.stratum for r in pack.rules}
    assert strata["c.r1199"] == 0 and strata["c.r0000"] == 1199
    facts = FactSet(
        by_type={"person": ({**dict.fromkeys(FACT_TYPES["person"]), "id": "x", "ring": "inner"},)}
    )
    run = run_engine(pack, facts, "compiled")
    assert len(run.findings) == 600  # every other rule is blocked by the one before


def test_chain_of_findings_needs_no_recursion(tmp_path: Path) -> None:
    pack = load_pack(_pack(tmp_path / "p", rules=_chain(400)))
    assert max(r.stratum for r in pack.rules) == 399
    err = _quick(lambda: load_pack(_pack(tmp_path / "q", rules=_chain(400, cycle=True))))
    assert isinstance(err, RulePackReferenceError) and "cycle" in err.message
    assert err.file == "rules.toml" and err.line is not None


# ---------------------------------------------------------------- what the engines can run
@pytest.mark.parametrize("name", ["engine", "self", "network"])
def test_reserved_binding_names_are_rejected_at_load(tmp_path: Path, name: str) -> None:
    rules = _rule(
        "r.x", PERSON.replace('bind = "p"', f'bind = "{name}"'), 'asserts = { finding = "f" }'
    )
    err = _quick(lambda: load_pack(_pack(tmp_path / "p", rules=rules)))
    assert (err.file, err.line, err.key) == ("rules.toml", 1, "when.0.bind")
    assert "reserved" in err.message


def test_rule_wider_than_the_engines_is_a_load_error(tmp_path: Path) -> None:
    neg = (
        '  [[rule.when]]\n  fact = "event"\n  exists = false\n  where = [["kind", "==", "move"]]\n'
    )
    ok = _rule("r.ok", PERSON + neg * (MAX_PATTERNS_PER_RULE - 1))
    pack = load_pack(_pack(tmp_path / "ok", rules=ok))
    facts = FactSet(
        by_type={"person": ({**dict.fromkeys(FACT_TYPES["person"]), "id": "x", "ring": "inner"},)}
    )
    for engine in ("experta", "compiled"):
        assert [f.rule_id for f in run_engine(pack, facts, engine).firings] == ["r.ok"]
    wide = _rule("r.wide", PERSON + neg * 500)
    err = _quick(lambda: load_pack(_pack(tmp_path / "wide", rules=wide)))
    assert isinstance(err, RulePackSchemaError)
    assert (err.file, err.line, err.key) == ("rules.toml", 1, "when")
    assert str(MAX_PATTERNS_PER_RULE) in err.message
