"""Errors of a pack's files: each names its class, code, file, line and key, and says what is
wrong (docs/rule-authoring.md: "Errors name the file, the line, the rule and the key")."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from _packs import ALWAYS, rule, write_pack
from ipt_formulate import load_pack
from ipt_formulate.errors import (
    RulePackError,
    RulePackReferenceError,
    RulePackSchemaError,
    RulePackSyntaxError,
)
from ipt_formulate.rulepack import MAX_EXTENDS_DEPTH, MAX_FILE_BYTES

RULE = rule("r.one", area="a", weight=0.5, focus="network", where=ALWAYS)


def _rules(text: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        (d / "rules.toml").write_text(text, encoding="utf-8")

    return edit


def _manifest(old: str, new: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        path = d / "pack.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


def _second_file_same_id(d: Path) -> None:
    (d / "zz.toml").write_text(RULE, encoding="utf-8")


def _bytes(d: Path) -> None:
    (d / "rules.toml").write_bytes(b"# ok\n# ok\n# \xff not UTF-8\n" + RULE.encode())


def _directory(d: Path) -> None:
    (d / "rules.toml").unlink()
    (d / "rules.toml").mkdir()


def _no_manifest(d: Path) -> None:
    (d / "pack.toml").unlink()


def _extends_self(d: Path) -> None:
    _manifest('name = "t"\n', 'name = "t"\nextends = ["."]\n')(d)


def _dangling_symlink(d: Path) -> None:
    (d / "ghost.toml").symlink_to(d / "nowhere.toml")


def _extends(name: str) -> Callable[[Path], None]:
    return _manifest('name = "t"\n', f'name = "t"\nextends = ["{name}"]\n')


def _load_error(tmp_path: Path, edit: Callable[[Path], None]) -> RulePackError:
    """The error of loading a pack, valid as written, after ``edit``."""
    d = tmp_path / "pack"
    write_pack(d, [RULE])
    edit(d)
    with pytest.raises(RulePackError) as info:
        load_pack(d)
    return info.value


BIG = "9" * 5000
LONG = "b" * 100  # names in messages are cut to 80 characters
UNKNOWN_FACT = RULE.replace('fact = "patient"', 'fact = "nope"')
# (id, edit, error class, code, file, line, key, words of the message)
_Case = tuple[str, Callable[[Path], None], type, str, str | None, int | None, str | None, str]
CASES: list[_Case] = [
    ("top-level key", _rules(f"# a rule file\nmeta = 1\n{RULE}"), RulePackSchemaError,
     "rulepack.schema", "rules.toml", 2, "meta", "unknown top-level key(s) ['meta']"),
    ("rule not an array", _rules("rule = 1\n"), RulePackSchemaError, "rulepack.schema",
     "rules.toml", None, "rule", "'rule' must be an array of tables ([[rule]])"),
    ("duplicate id", _second_file_same_id, RulePackSchemaError, "rulepack.schema", "zz.toml",
     None, "id", "duplicate rule id (also in rules.toml)"),
    ("not UTF-8", _bytes, RulePackSyntaxError, "rulepack.syntax", "rules.toml", 3, None,
     "not UTF-8 text: byte 0xff cannot be decoded"),
    ("not TOML", _rules(f"# fine\nid = = 1\n{RULE}"), RulePackSyntaxError, "rulepack.syntax",
     "rules.toml", 2, None, "not valid TOML"),
    ("huge integer", _rules(f"# fine\n# fine\n# fine\nmeta = {BIG}\n"), RulePackSyntaxError,
     "rulepack.syntax", "rules.toml", 4, None, "not usable TOML"),
    ("huge integer after a blank line", _rules(f"\n# fine\nmeta = {BIG}\n"),
     RulePackSyntaxError, "rulepack.syntax", "rules.toml", 3, None, "not usable TOML"),
    ("nested too deeply", _rules("x = " + "[" * 5000 + "]" * 5000 + "\n"), RulePackSyntaxError,
     "rulepack.syntax", "rules.toml", None, None,
     "not usable TOML: values are nested too deeply"),
    ("not TOML at the end", _rules(f"{RULE}meta = "), RulePackSyntaxError, "rulepack.syntax",
     "rules.toml", None, None, "not valid TOML: "),
    ("top-level key on line 1", _rules(f"meta = 1\n{RULE}"), RulePackSchemaError,
     "rulepack.schema", "rules.toml", 1, "meta", "unknown top-level key(s) ['meta']"),
    ("rule items not tables", _rules("rule = [1]\n"), RulePackSchemaError, "rulepack.schema",
     "rules.toml", 1, "", "rule: Input should be a valid dictionary"),
    ("pattern of an unknown fact", _rules(UNKNOWN_FACT), RulePackSchemaError,
     "rulepack.schema", "rules.toml", UNKNOWN_FACT.splitlines().index("[[rule.when]]") + 1,
     "when.0.fact", "when.0.fact: "),
    ("directory", _directory, RulePackError, "rulepack.io", "rules.toml", None, None,
     "not a regular file (a FIFO, device or directory cannot be a rule file)"),
    ("dangling symlink", _dangling_symlink, RulePackError, "rulepack.io", "ghost.toml", None,
     None, f"cannot read: {os.strerror(errno.ENOENT)}"),
    ("no manifest", _no_manifest, RulePackError, "rulepack.no_manifest", None, None, None,
     "no pack.toml manifest in this directory"),
    ("manifest key", _manifest("[thresholds]", 'colour = "red"\n[thresholds]'),
     RulePackSchemaError, "rulepack.schema", "pack.toml", None, None,
     "area.7.colour: Extra inputs are not permitted"),  # under the last of 8 [[area]] tables
    ("threshold", _manifest("primary_min = 0.3", "primary_min = 2"), RulePackSchemaError,
     "rulepack.schema", "pack.toml", None, "thresholds.primary_min", "thresholds:"),
    ("extends itself", _extends_self, RulePackReferenceError, "rulepack.reference", None, None,
     "pack.extends", "'extends' forms a cycle"),
    ("extends a blank name", _extends(LONG + "\\t"), RulePackReferenceError,
     "rulepack.reference", None, 3, "pack.extends",
     f"'extends' entry {LONG[:80]!r} is not a usable directory name"),
    ("extends outside", _extends(f"../{LONG}"), RulePackReferenceError, "rulepack.reference",
     None, 3, "pack.extends", f"'extends' entry {f'../{LONG}'[:80]!r} points outside the pack's "
     "folder"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "cls", "code", "file", "line", "key", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_file_errors_name_where_and_what(
    tmp_path: Path,
    edit: Callable[[Path], None],
    cls: type,
    code: str,
    file: str | None,
    line: int | None,
    key: str | None,
    words: str,
) -> None:
    err = _load_error(tmp_path, edit)
    assert type(err) is cls, err
    assert err.code == code, err
    if file is not None:
        assert err.file == file, err
    if line is not None:
        assert err.line == line, err
    if key is not None:
        assert err.key == key, err
    # after the "file:line, key ...: " prefix, the message says what is wrong
    assert err.message.partition(": ")[2].startswith(words), err


def test_the_extends_depth_limit_is_a_reference_error_naming_the_chain(tmp_path: Path) -> None:
    # p_k extends p_(k-1) ... p0: a chain of k + 1 packs; at most MAX_EXTENDS_DEPTH load
    (tmp_path / "p0").mkdir()
    write_pack(tmp_path / "p0", [RULE])
    for i in range(1, MAX_EXTENDS_DEPTH + 1):
        d = tmp_path / f"p{i}"
        write_pack(d, [RULE.replace("r.one", f"r.p{i}")])
        _manifest('name = "t"\n', f'name = "t{i}"\nextends = ["../p{i - 1}"]\n')(d)
    deepest = load_pack(tmp_path / f"p{MAX_EXTENDS_DEPTH - 1}", allow_outside=True)
    assert len(deepest.lineage) == MAX_EXTENDS_DEPTH
    with pytest.raises(RulePackReferenceError) as info:
        load_pack(tmp_path / f"p{MAX_EXTENDS_DEPTH}", allow_outside=True)
    err = info.value
    # the pack whose 'extends' goes one too deep, and the chain's start
    assert (err.key, err.file) == ("pack.extends", str(tmp_path.resolve() / "p1" / "pack.toml"))
    assert err.message.endswith(
        f"'extends' chain deeper than {MAX_EXTENDS_DEPTH} packs "
        f"(from {tmp_path.resolve() / f'p{MAX_EXTENDS_DEPTH}'})"
    )


def test_an_extends_cycle_names_the_packs_in_order(tmp_path: Path) -> None:
    outer, inner = tmp_path / "outer", tmp_path / "outer" / "inner"
    write_pack(inner, [RULE.replace("r.one", "r.inner")])
    _manifest('name = "t"\n', 'name = "inner"\nextends = [".."]\n')(inner)
    write_pack(outer, [RULE])
    _extends("inner")(outer)
    with pytest.raises(RulePackReferenceError) as info:
        load_pack(outer)
    err = info.value
    o, i = outer.resolve(), inner.resolve()
    assert (err.key, err.file) == ("pack.extends", str(o / "pack.toml"))
    assert err.message.endswith(f"'extends' forms a cycle: {o} -> {i} -> {o}")


def test_a_folder_without_a_manifest_is_named_with_the_bundled_packs(tmp_path: Path) -> None:
    err = _load_error(tmp_path, _no_manifest)
    d = (tmp_path / "pack").resolve()
    assert err.file == str(d)
    assert err.message == (
        f"{d}: no pack.toml manifest in this directory (a bundled pack is loaded by "
        "name: ipt-core, ipsrt)"
    )


def test_a_parent_pack_names_its_own_files(tmp_path: Path) -> None:
    # the parent's rules are listed as "<parent name>/<file>"; an error in the parent's
    # manifest names that manifest's full path (the child's is "pack.toml")
    child, parent = tmp_path / "child", tmp_path / "child" / "base"
    write_pack(parent, [RULE])
    _manifest('name = "t"\n', 'name = "base"\n')(parent)
    write_pack(child, [RULE.replace("r.one", "r.child")])
    _extends("base")(child)
    assert {r.id: r.file for r in load_pack(child).rules} == {
        "r.one": "base/rules.toml",
        "r.child": "rules.toml",
    }
    _manifest("[thresholds]", 'colour = "red"\n[thresholds]')(parent)
    with pytest.raises(RulePackSchemaError) as info:
        load_pack(child)
    assert info.value.file == str(parent.resolve() / "pack.toml")


def test_a_duplicate_rule_id_names_the_rule_and_both_files(tmp_path: Path) -> None:
    err = _load_error(tmp_path, _second_file_same_id)
    assert (type(err), err.file, err.rule_id, err.key) == (
        RulePackSchemaError,
        "zz.toml",
        "r.one",
        "id",
    )
    assert str(err) == "zz.toml, rule 'r.one', key 'id': duplicate rule id (also in rules.toml)"


def test_a_rule_file_without_rules_adds_nothing(tmp_path: Path) -> None:
    d = tmp_path / "pack"
    write_pack(d, [RULE])
    (d / "notes.toml").write_text("# rules to come\n", encoding="utf-8")
    assert [r.id for r in load_pack(d).rules] == ["r.one"]


def test_a_rule_file_of_exactly_the_size_limit_loads(tmp_path: Path) -> None:
    # the file ends without a newline, inside a rule: a file read short would not parse
    d = tmp_path / "pack"
    write_pack(d, [RULE])
    body = RULE.rstrip("\n").encode()
    pad = b"#" * (MAX_FILE_BYTES - len(body) - 1) + b"\n"
    (d / "rules.toml").write_bytes(pad + body)
    assert [r.id for r in load_pack(d).rules] == ["r.one"]
    (d / "rules.toml").write_bytes(b"#" + pad + body)
    with pytest.raises(RulePackError) as info:
        load_pack(d)
    assert (info.value.code, info.value.file) == ("rulepack.too_large", "rules.toml")
    assert info.value.message == (
        f"rules.toml: file too large: {MAX_FILE_BYTES + 1:,} bytes, "
        f"over the limit of {MAX_FILE_BYTES:,}"
    )


def test_a_path_with_a_nul_byte_is_a_typed_error(tmp_path: Path) -> None:
    # was a bare ValueError from os.path.realpath (found with the mutation survivors)
    path = f"{tmp_path}/a\x00b"
    with pytest.raises(RulePackError) as info:
        load_pack(path)
    assert info.value.code == "rulepack.io"
    assert info.value.message == f"{path!r} is not a usable directory name: embedded null byte"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("[thresholds]", 'colour = "red"\n[thresholds]', "area.7.colour"),  # in the last area
        ("[pack]", 'colour = "red"\n[pack]', "colour"),  # a top-level key on line 1
    ],
)
def test_a_manifest_error_names_the_key_and_its_line(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    err = _load_error(tmp_path, _manifest(old, new))
    lines = (tmp_path / "pack" / "pack.toml").read_text(encoding="utf-8").splitlines()
    assert type(err) is RulePackSchemaError
    assert (err.file, err.line, err.key) == ("pack.toml", lines.index('colour = "red"') + 1, key)
    assert err.message.endswith(f"key {key!r}: {key}: Extra inputs are not permitted")
