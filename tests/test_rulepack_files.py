"""Errors of a pack's files: each names its class, code, file, line and key, and says what is
wrong (docs/rule-authoring.md: "Errors name the file, the line, the rule and the key")."""

from __future__ import annotations

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
from ipt_formulate.rulepack import MAX_EXTENDS_DEPTH

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


BIG = "9" * 5000
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
    ("directory", _directory, RulePackError, "rulepack.io", "rules.toml", None, None,
     "not a regular file"),
    ("no manifest", _no_manifest, RulePackError, "rulepack.no_manifest", None, None, None,
     "no pack.toml manifest in this directory"),
    ("manifest key", _manifest("[thresholds]", 'colour = "red"\n[thresholds]'),
     RulePackSchemaError, "rulepack.schema", "pack.toml", None, None, "colour"),
    ("threshold", _manifest("primary_min = 0.3", "primary_min = 2"), RulePackSchemaError,
     "rulepack.schema", "pack.toml", None, "thresholds.primary_min", "thresholds:"),
    ("extends itself", _extends_self, RulePackReferenceError, "rulepack.reference", None, None,
     "pack.extends", "'extends' forms a cycle"),
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
    d = tmp_path / "pack"
    write_pack(d, [RULE])  # valid as written
    edit(d)
    with pytest.raises(RulePackError) as info:
        load_pack(d)
    err = info.value
    assert type(err) is cls, err
    assert err.code == code, err
    if file is not None:
        assert err.file == file, err
    if line is not None:
        assert err.line == line, err
    if key is not None:
        assert err.key == key, err
    assert words in err.message, err


def test_the_extends_depth_limit_is_a_reference_error_naming_the_chain(tmp_path: Path) -> None:
    (tmp_path / "p0").mkdir()
    write_pack(tmp_path / "p0", [RULE])
    for i in range(1, MAX_EXTENDS_DEPTH + 2):
        d = tmp_path / f"p{i}"
        write_pack(d, [RULE.replace("r.one", f"r.p{i}")])
        _manifest('name = "t"\n', f'name = "t{i}"\nextends = ["../p{i - 1}"]\n')(d)
    with pytest.raises(RulePackReferenceError) as info:
        load_pack(tmp_path / f"p{MAX_EXTENDS_DEPTH + 1}", allow_outside=True)
    assert info.value.key == "pack.extends"
    assert f"deeper than {MAX_EXTENDS_DEPTH} packs" in info.value.message
