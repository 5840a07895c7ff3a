"""The rule pack's public surface beyond loading errors: option values checked by
``with_options`` (every code of docs/rule-authoring.md's options section, bounds inclusive),
the JSON Schema, area and focus look-ups, ``extends`` outside the pack's folder, and the
line an error in a later rule of a file names."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ipt_formulate as ipt
from _packs import ALWAYS, rule, write_pack
from ipt_formulate.errors import (
    OptionError,
    RulePackError,
    RulePackReferenceError,
    RulePackSchemaError,
)
from ipt_formulate.rulepack import bundled_pack_path, rulepack_json_schema

OPTIONS = """\
[options.mode]
default = "x"
choices = ["x", "y"]
description = "A string option."

[options.window]
default = 6.0
min = 1.0
max = 12.0
description = "A float option."

[options.count]
default = 3
min = 0
max = 5
description = "An int option."

[options.flag]
default = false
description = "A switch."

[options.floor]
default = 2
min = 1
description = "Bounded below only."

[options.ceiling]
default = 2.5
max = 5.0
description = "Bounded above only."
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> ipt.RulePack:
    rules = [
        rule("a.net", area="a", weight=0.5, focus="network", where=ALWAYS),
        rule("b.person", area="b", weight=0.5, focus="p", fact="person", bind="p", where=[]),
        rule("c.event", area="c", weight=0.5, focus="e", fact="event", bind="e", where=[]),
        rule("d.flag", where=ALWAYS, asserts={"finding": "flag"}),
    ]
    return write_pack(tmp_path_factory.mktemp("api"), rules, areas="abc", options=OPTIONS)


ALL = "ceiling, count, flag, floor, mode, window"


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        ({"nope": 1}, "options.unknown", f"unknown option 'nope'; this pack's options are: {ALL}"),
        ({"floor": 0}, "options.range", "option 'floor' must be within 1..inf, got 0"),
        ({"ceiling": 5.5}, "options.range", "option 'ceiling' must be within -inf..5, got 5.5"),
        ({"window": True}, "options.type", "option 'window' takes a float, got True"),
        ({"count": True}, "options.type", "option 'count' takes a int, got True"),
        ({"count": 2.5}, "options.type", "option 'count' takes a int, got 2.5"),
        ({"flag": 1}, "options.type", "option 'flag' takes a bool, got 1"),
        ({"mode": "z"}, "options.choice", "option 'mode' must be one of ['x', 'y'], got 'z'"),
        ({"window": math.nan}, "options.range", "option 'window' must be a finite number"),
        ({"window": 12.5}, "options.range", "option 'window' must be within 1..12, got 12.5"),
        ({"window": 0.5}, "options.range", "option 'window' must be within 1..12, got 0.5"),
        ({"count": 6}, "options.range", "option 'count' must be within 0..5, got 6"),
        ({"count": -1}, "options.range", "option 'count' must be within 0..5, got -1"),
    ],
)  # fmt: skip
def test_bad_option_values(
    pack: ipt.RulePack, options: dict[str, Any], code: str, words: str
) -> None:
    _assert_option_error(lambda: pack.with_options(**options), code, words)


def _assert_option_error(call: Callable[[], object], code: str, words: str) -> None:
    with pytest.raises(OptionError) as info:
        call()
    assert info.value.code == code
    assert words in str(info.value)


@pytest.mark.parametrize(
    "options",
    [{"window": 12.0}, {"window": 1.0}, {"window": 7}, {"count": 0}, {"count": 5},
     {"mode": "y"}, {"flag": True}],
)  # fmt: skip
def test_option_values_at_their_bounds_are_accepted(
    pack: ipt.RulePack, options: dict[str, Any]
) -> None:
    changed = pack.with_options(**options)
    assert {k: changed.options[k] for k in options} == options
    assert changed.hash != pack.hash


def test_a_pack_without_options_says_so(tmp_path: Path) -> None:
    bare = write_pack(tmp_path, [rule("a.net", area="a", weight=0.5, focus="network")])
    with pytest.raises(OptionError, match=r"this pack's options are: -$") as info:
        bare.with_options(mode="x")
    assert info.value.code == "options.unknown"


def test_a_string_option_cannot_have_bounds(tmp_path: Path) -> None:
    bounded = '[options.mode]\ndefault = "x"\nmin = 1\ndescription = "Bounded text."\n'
    with pytest.raises(RulePackSchemaError, match="min and max apply to numbers only"):
        write_pack(tmp_path, [rule("a.net", area="a", weight=0.5, focus="network")],
                   options=bounded)  # fmt: skip


def test_area_and_focus_look_ups(pack: ipt.RulePack) -> None:
    assert [pack.area(a).label for a in "cab"] == ["Area C", "Area A", "Area B"]
    with pytest.raises(KeyError, match="'z'"):
        pack.area("z")
    kinds = {r.id: r.focus_kind() for r in pack.rules}
    assert kinds == {"a.net": "network", "b.person": "person", "c.event": "event", "d.flag": None}


def test_the_json_schema_names_both_file_kinds() -> None:
    schema = rulepack_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "ipt-formulate rule pack"
    assert {"pack", "area"} <= set(schema["manifest"]["properties"])
    assert set(schema["rule_file"]["properties"]) == {"rule"}


def test_extends_outside_the_pack_folder(tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    write_pack(parent, [rule("a.net", area="a", weight=0.5, focus="network", where=ALWAYS)])
    child = tmp_path / "child"
    child.mkdir()
    manifest = (parent / "pack.toml").read_text(encoding="utf-8")
    manifest = manifest.replace('name = "t"\n', 'name = "child"\nextends = ["../parent"]\n')
    (child / "pack.toml").write_text(manifest, encoding="utf-8")
    with pytest.raises(RulePackReferenceError) as info:
        ipt.load_pack(child)
    err = info.value
    assert (err.key, err.file, err.line) == ("pack.extends", str(child / "pack.toml"), 3)
    assert "extend a bundled pack by name (ipt-core, ipsrt)" in str(err)
    assert str(err).endswith(
        "move the parent pack into this pack's folder, or load with "
        "load_pack(path, allow_outside=True)"
    )
    loaded = ipt.load_pack(child, allow_outside=True)
    assert [r.id for r in loaded.rules] == ["a.net"]


@pytest.mark.parametrize(
    ("bad_keys", "key"),
    [
        ({"advisory": {"kind": "gossip", "level": "info"}}, "advisory.kind"),
        ({"cite": []}, "cite"),  # the earlier rule has a cite line too
    ],
)
def test_an_error_in_a_later_rule_names_its_own_lines(
    tmp_path: Path, bad_keys: dict[str, Any], key: str
) -> None:
    good = rule("a.good", area="a", weight=0.5, focus="network", where=ALWAYS)
    bad = rule("a.bad", area="a", weight=0.5, focus="network", where=ALWAYS, **bad_keys)
    start = good.count("\n") + 2  # "\n".join puts a blank line between the rules
    with pytest.raises(RulePackSchemaError) as info:
        write_pack(tmp_path, [good, bad])
    err = info.value
    assert (err.rule_id, err.key) == ("a.bad", key)
    top = key.split(".")[0]
    key_line = start + bad.splitlines().index(
        next(line for line in bad.splitlines() if line.startswith(top))
    )
    assert err.line == key_line


def test_a_rule_without_an_id_names_its_own_header_not_the_next_rule(tmp_path: Path) -> None:
    # the key's line is looked for inside the rule only; the next rule's "id" is not it
    good = rule("a.good", area="a", weight=0.5, focus="network", where=ALWAYS)
    with pytest.raises(RulePackSchemaError) as info:
        write_pack(tmp_path, ['[[rule]]\ntitle = "No id"', good])
    assert (info.value.line, info.value.key, info.value.rule_id) == (1, "id", None)


def _finding_rule(rid: str, asserts: str, reads: str, *, negated: bool = False) -> str:
    text = rule(rid, fact="finding", where=[["name", "==", reads]], asserts={"finding": asserts})
    return text.replace('fact = "finding"', 'fact = "finding"\nexists = false') if negated else text


@pytest.mark.parametrize(
    ("rules", "culprit"),
    [
        ([("x.one", "f1", "f2"), ("x.two", "f2", "f1")], "x.one"),
        ([("x.self", "f1", "f1")], "x.self"),
    ],
)
def test_a_cycle_of_findings_is_a_load_error(
    tmp_path: Path, rules: list[tuple[str, str, str]], culprit: str
) -> None:
    texts = [_finding_rule(*r) for r in rules]
    with pytest.raises(RulePackReferenceError, match="findings form a cycle") as info:
        write_pack(tmp_path, texts)
    assert (info.value.rule_id, info.value.key) == (culprit, "when")
    assert str(info.value).endswith("key 'when': findings form a cycle through this rule")


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_chained_findings_run_in_strata(tmp_path: Path, order: tuple[int, ...]) -> None:
    # docs/rule-authoring.md (stratification): a rule reading a finding runs in the stratum
    # of the rules asserting it, one negating it strictly later (in ipt-core the negating
    # rules are in stratum 1, every other rule in 0); the order of the rules never matters
    texts = [
        rule("s.base", where=ALWAYS, asserts={"finding": "f0"}),
        _finding_rule("s.reads", "f1", "f0"),
        _finding_rule("s.negates", "f2", "f1", negated=True),
    ]
    strata = {r.id: r.stratum for r in write_pack(tmp_path, [texts[i] for i in order]).rules}
    assert strata == {"s.base": 0, "s.reads": 0, "s.negates": 1}


def test_with_rules_reweights_and_switches_rules_off(pack: ipt.RulePack) -> None:
    # docs (RulePack.with_rules): a switched-off rule stays, never fires, and WHY-NOT calls
    # it disabled; switching off accumulates over calls; weights are validated
    heavier = pack.with_rules(weights={"a.net": -0.25})
    assert {r.id: r.weight for r in heavier.rules}["a.net"] == -0.25
    assert heavier.hash != pack.hash and pack.rule("a.net").weight == 0.5
    off = pack.with_rules(disabled=["a.net"]).with_rules(disabled=["b.person"])
    assert off.disabled_rules == ("a.net", "b.person")
    assert [r.id for r in off.rules] == [r.id for r in pack.rules]
    f = ipt.formulate({"schema_version": "1", "patient": {"age": 30},
                       "episode": {"assessment_date": "2026-01-10"}}, off)  # fmt: skip
    assert f.hypotheses == ()
    (a,) = [w for w in f.not_chosen if w.area == "a"]
    assert [(c.rule_id, c.status) for c in a.rules] == [("a.net", "disabled")]
    assert off.rule("a.net").enabled is False
    assert "disabled_rules" in a.rules[0].detail, a.rules[0].detail


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"weights": {"z.none": 0.5}}, "options.rule", "no rule 'z.none' in pack t"),
        ({"disabled": ["z.none"]}, "options.rule", "no rule 'z.none' in pack t"),
        ({"weights": {"d.flag": 0.5}}, "options.rule",
         "rule 'd.flag' gives no evidence (no area): it has no weight to change"),
        ({"weights": {"a.net": 0}}, "options.range",
         "rule 'a.net': weight must be a non-zero number, got 0"),
        ({"weights": {"a.net": True}}, "options.range",
         "rule 'a.net': weight must be a non-zero number, got True"),
        ({"weights": {"a.net": 1.5}}, "options.range", "rule 'a.net': weight 1.5: "),
    ],
)  # fmt: skip
def test_with_rules_rejects_unknown_rules_and_bad_weights(
    pack: ipt.RulePack, change: dict[str, Any], code: str, words: str
) -> None:
    _assert_option_error(lambda: pack.with_rules(**change), code, words)


@pytest.mark.parametrize(
    ("keys", "key", "words"),
    [
        ({"focus": "nobody"}, "focus", "focus 'nobody' is not a bound variable"),
        ({"bind": "x", "focus": "x"}, "focus",
         "focus must be a person or event variable, or 'network'"),  # x is the patient
        ({"explain": "Hi {x.name}."}, "explain",
         "explain placeholder {x.name} names no bound variable field"),
        ({"where": [["age", "known", 5]]}, "when", "operator 'known' takes no value"),
        ({"where": [["age", ">="]]}, "when", "operator '>=' needs a value"),
        ({"where": [["course", "in", "recurrent"]]}, "when", "operator 'in' needs a list"),
    ],
)  # fmt: skip
def test_rule_errors_say_what_is_wrong(
    tmp_path: Path, keys: dict[str, Any], key: str, words: str
) -> None:
    text = rule("a.bad", **{"area": "a", "weight": 0.5, "focus": "network", **keys})
    with pytest.raises(RulePackError) as info:
        write_pack(tmp_path, [text])
    assert (info.value.rule_id, str(info.value.key).split(".")[0]) == ("a.bad", key)
    assert words in str(info.value)


def test_known_and_unknown_take_no_value(tmp_path: Path) -> None:
    rules = [
        rule("a.known", area="a", weight=0.5, focus="network", where=[["age", "known"]]),
        rule("b.unknown", area="b", weight=0.5, focus="network", where=[["course", "unknown"]]),
    ]
    f = ipt.formulate(
        {
            "schema_version": "1",
            "patient": {"age": 30},
            "episode": {"assessment_date": "2026-01-10"},
        },
        write_pack(tmp_path, rules),
    )
    assert [h.area for h in f.hypotheses] == ["a", "b"]


# focus and advisory; a join on two fields (the "known" guard added once); an option in a
# condition; a finding read after another "==" condition (e.note never fires: no finding
# has the id "x")
LINKED = """\
[[rule]]
id = "c.linked"
version = 1
title = "Two linked persons"
explain = "{p.id} and {q.id} are linked."
cite = [{ source = "s" }]
area = "c"
weight = 0.5
focus = "p"
[[rule.when]]
fact = "person"
bind = "p"
where = [["id", "known"]]
[[rule.when]]
fact = "person"
bind = "q"
[[rule.when]]
fact = "link"
where = [["a", "==", "@p.id"], ["b", "==", "@q.id"]]
"""
WIRED = [
    rule("b.parent", area="b", weight=0.5, focus="p", fact="person", bind="p",
         where=[["role", "==", "parent"]]),
    LINKED,
    rule("a.age", area="a", weight=0.5, focus="network", where=[["age", ">=", "$count"]]),
    rule("d.flag", where=ALWAYS, asserts={"finding": "flag"},
         advisory={"kind": "data", "level": "info"}),
    rule("e.note", fact="finding", where=[["id", "==", "x"], ["name", "==", "flag"]],
         advisory={"kind": "clinical", "level": "caution"}),
]  # fmt: skip


def test_loaded_rules_carry_focus_advisory_joins_and_options(tmp_path: Path) -> None:
    wired = write_pack(tmp_path, WIRED, areas="abc", options=OPTIONS)
    linked = wired.rule("c.linked")
    assert [p.text for p in linked.patterns] == [
        "person p where id is known",  # written by the author: not added twice
        "person q where id is known",  # added: q.id is joined on
        "link _2 where a == p.id and b == q.id",
    ]
    assert wired.rule("a.age").patterns[0].conditions[0].value == 3  # the option's default
    assert wired.rule("a.age").options_used == ("count",)
    assert wired.rule("e.note").reads_findings == (("flag", True),)
    assert {"a", "b"} <= wired.fields_used("link") and "age" in wired.fields_used("patient")
    inv = {
        "schema_version": "1",
        "patient": {"age": 4},
        "episode": {"assessment_date": "2026-01-10"},
        "persons": [{"id": "mum", "role": "parent"}, {"id": "amy", "role": "friend"}],
        "relationships": [{"a": "mum", "b": "amy"}],
    }
    f = ipt.formulate(inv, wired)
    focus = {h.area: (h.focus.kind, h.focus.id) for h in f.hypotheses}
    # a link's ends are in id order: a = amy, b = mum
    assert focus == {"a": ("network", None), "b": ("person", "mum"), "c": ("person", "amy")}
    assert [(a.rule_id, a.kind, a.level) for a in f.advisories] == [("d.flag", "data", "info")]
    stricter = ipt.formulate(inv, wired.with_options(count=5))  # age 4 < 5
    assert {h.area for h in stricter.hypotheses} == {"b", "c"}


def test_a_pack_and_its_variants_keep_description_root_and_lineage(tmp_path: Path) -> None:
    loaded = write_pack(tmp_path / "p", [rule("a.net", area="a", weight=0.5, focus="network",
                                              where=ALWAYS)], options=OPTIONS)  # fmt: skip
    assert (loaded.description, loaded.root) == ("A test pack.", str((tmp_path / "p").resolve()))
    for variant in (loaded.with_options(count=4), loaded.with_rules(weights={"a.net": 0.25})):
        assert (variant.description, variant.root, variant.lineage) == (
            loaded.description,
            loaded.root,
            loaded.lineage,
        )


def test_the_default_pack_is_loaded_once() -> None:
    assert ipt.default_pack() is ipt.default_pack()
    assert ipt.default_pack().name == "ipt-core"


def test_bundled_packs_load_by_name_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs (load_pack): a bundled pack's name loads it from any working directory; any
    # other string is a directory
    monkeypatch.chdir(tmp_path)
    assert ipt.load_pack("ipsrt").name == "ipsrt"
    assert bundled_pack_path() == bundled_pack_path("ipt-core")
    assert bundled_pack_path().name == "ipt-core"
    with pytest.raises(RulePackError) as info:
        ipt.load_pack(str(tmp_path / "ipsrt"))  # a folder of that name, not the bundled pack
    assert info.value.code == "rulepack.no_manifest"
    with pytest.raises(RulePackError) as info:
        bundled_pack_path("nope")
    assert (info.value.code, info.value.message) == (
        "rulepack.not_found",
        "bundled rule pack 'nope' not found",
    )


def test_load_pack_sets_and_checks_options(tmp_path: Path) -> None:
    write_pack(tmp_path, [rule("a.net", area="a", weight=0.5, focus="network")], options=OPTIONS)
    loaded = ipt.load_pack(tmp_path, count=4, mode="y")
    assert {k: loaded.options[k] for k in ("count", "mode", "window")} == {
        "count": 4,
        "mode": "y",
        "window": 6.0,  # the default
    }
    _assert_option_error(lambda: ipt.load_pack(tmp_path, count=9), "options.range",
                         "option 'count' must be within 0..5, got 9")  # fmt: skip
    _assert_option_error(lambda: ipt.load_pack(tmp_path, nope=1), "options.unknown",
                         "unknown option 'nope'")  # fmt: skip
