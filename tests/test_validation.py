"""Every rule-pack check, table-driven (exact class, code, file, line, rule id and key), and the
WHY-NOT reason text of every status (failed, unknown, opposed, disabled, below primary, below
secondary, too far below the primary, outranked, provisional)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import ipt_formulate as ipt
from ipt_formulate.errors import (
    RulePackError,
    RulePackReferenceError,
    RulePackSchemaError,
)
from ipt_formulate.facts import FACT_TYPES

MANIFEST = """\
[pack]
name = "demo"
version = "0.1.0"
description = "Broken-pack table."

[[area]]
id = "role_dispute"
label = "Role dispute"
focus_kind = "person"

[options.mode]
default = "x"
choices = ["x", "y"]
description = "A string option."

[sources.isipt]
text = "ISIPT key strategies."
"""

# The rule starts on line 1 of dispute.toml; the header line is what non-format errors name.
RULE = """\
[[rule]]
id = "demo.conflict"
version = 1
title = "Conflict with a close person"
area = "role_dispute"
weight = 0.4
focus = "other"
explain = "Conflict with {other.name} is {other.conflict}."
cite = [{ source = "isipt" }]
  [[rule.when]]
  fact = "person"
  bind = "other"
  where = [["ring", "==", "inner"], ["conflict", "in", ["moderate", "high"]]]
"""

WHERE = '  where = [["ring", "==", "inner"], ["conflict", "in", ["moderate", "high"]]]\n'
EVENT = '  [[rule.when]]\n  fact = "event"\n'
S, R = RulePackSchemaError, RulePackReferenceError

# (case id, (old, new) edits of RULE or "pack:" edits of MANIFEST, class, line, key)
CASES: list[tuple[str, list[tuple[str, str]], type[RulePackError], int | None, str]] = [
    ("weight zero", [("weight = 0.4", "weight = 0.0")], S, 1, "weight"),
    ("area without weight", [("weight = 0.4\n", "")], S, 1, "weight"),
    ("weight without area", [('area = "role_dispute"\n', "")], S, 1, "weight"),
    ("area without focus", [('focus = "other"\n', "")], S, 1, "focus"),
    (
        "does nothing",
        [('area = "role_dispute"\n', ""), ("weight = 0.4\n", ""), ('focus = "other"\n', "")],
        S,
        1,
        "area",
    ),
    ("unknown area", [('area = "role_dispute"', 'area = "grief"')], R, 1, "area"),
    ("unknown source", [('source = "isipt"', 'source = "weissman"')], R, 1, "cite.0.source"),
    (
        "enabled_when unknown option",
        [("cite =", "enabled_when = { nope = true }\ncite =")],
        R,
        1,
        "enabled_when.nope",
    ),
    (
        "enabled_when value of the wrong type",
        [("cite =", "enabled_when = { mode = 3 }\ncite =")],
        S,
        1,
        "enabled_when.mode",
    ),
    (
        "enabled_when value not a choice",
        [("cite =", 'enabled_when = { mode = "z" }\ncite =')],
        S,
        1,
        "enabled_when.mode",
    ),
    (
        "variable bound twice",
        [(WHERE, WHERE + '  [[rule.when]]\n  fact = "event"\n  bind = "other"\n')],
        R,
        1,
        "when.1.bind",
    ),
    ("reserved variable", [('bind = "other"', 'bind = "self"')], R, 1, "when.0.bind"),
    (
        "negated pattern binds",
        [(WHERE, WHERE + EVENT + '  exists = false\n  bind = "ev"\n')],
        S,
        1,
        "when.1.bind",
    ),
    (
        "unary operator with a value",
        [('["ring", "==", "inner"]', '["ring", "known", "inner"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "binary operator without a value",
        [('["ring", "==", "inner"]', '["ring", "=="]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "reference to an unbound variable",
        [('["ring", "==", "inner"]', '["id", "==", "@nobody.id"]')],
        R,
        1,
        "when.0.where.0",
    ),
    (
        "reference to a missing field",
        [(WHERE, WHERE + EVENT + '  where = [["subject", "==", "@other.nope"]]\n')],
        R,
        1,
        "when.1.where.0",
    ),
    (
        "reference with !=",
        [(WHERE, WHERE + EVENT + '  where = [["subject", "!=", "@other.id"]]\n')],
        S,
        1,
        "when.1.where.0",
    ),
    (
        "field joined twice",
        [
            (
                WHERE,
                WHERE
                + EVENT
                + '  where = [["subject", "==", "@other.id"], ["subject", "==", "@other.name"]]\n',
            )
        ],
        S,
        1,
        "when.1.where.1",
    ),
    (
        "unknown $option",
        [('["ring", "==", "inner"]', '["ring", "==", "$closeness"]')],
        R,
        1,
        "when.0.where.0",
    ),
    (
        "$option value of the wrong kind",
        [('["ring", "==", "inner"]', '["ring", "==", "$mode"]')],
        S,
        1,
        "when.0.where.0",
    ),
    ("focus not bound", [('focus = "other"', 'focus = "nobody"')], R, 1, "focus"),
    (
        "focus on a link",
        [
            ('focus = "other"', 'focus = "l"'),
            (WHERE, WHERE + '  [[rule.when]]\n  fact = "link"\n  bind = "l"\n'),
        ],
        R,
        1,
        "focus",
    ),
    (
        "asserts focus not bound",
        [("cite =", 'asserts = { finding = "x", focus = "nobody" }\ncite =')],
        R,
        1,
        "asserts.focus",
    ),
    ("misspelt placeholder", [("{other.conflict}", "{other.conflit}")], R, 1, "explain"),
    ("placeholder of an unbound variable", [("{other.name}", "{them.name}")], R, 1, "explain"),
    (
        "unknown field",
        [('["ring", "==", "inner"]', '["closeness", "==", "inner"]')],
        R,
        1,
        "when.0.where.0",
    ),
    ("enum value out of vocabulary", [('"high"]]', '"severe"]]')], S, 1, "when.0.where.1"),
    (
        "ordered operator on an enum",
        [('["ring", "==", "inner"]', '["ring", ">", "inner"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "bool field given a string",
        [('["ring", "==", "inner"]', '["confidant", "==", "yes"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "number field given a string",
        [('["ring", "==", "inner"]', '["changes_wanted", ">", "two"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "in without a list",
        [('["ring", "==", "inner"]', '["ring", "in", "inner"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "not_in without a list",
        [('["ring", "==", "inner"]', '["ring", "not_in", "inner"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "contains on a field that is not a list",
        [('["ring", "==", "inner"]', '["ring", "contains", "inner"]')],
        S,
        1,
        "when.0.where.0",
    ),
    (
        "float field given a string",
        [(WHERE, WHERE + EVENT + '  where = [["months_since_event", ">", "soon"]]\n')],
        S,
        1,
        "when.1.where.0",
    ),
    (
        "reference with a dotted field",
        [(WHERE, WHERE + EVENT + '  where = [["subject", "==", "@other.id.x"]]\n')],
        R,
        1,
        "when.1.where.0",
    ),
    (
        "finding pattern without a name",
        [(WHERE, WHERE + '  [[rule.when]]\n  fact = "finding"\n  where = [["focus", "known"]]\n')],
        S,
        1,
        "when.1.where",
    ),
    (
        "dangling finding",
        [
            (
                WHERE,
                WHERE + '  [[rule.when]]\n  fact = "finding"\n'
                '  where = [["name", "==", "dispute_candidate"]]\n',
            )
        ],
        R,
        1,
        "when",
    ),
    ("misspelt key (line of the key)", [("weight = 0.4", "wieght = 0.4")], S, 6, "wieght"),
    ("empty cite (line of the key)", [('[{ source = "isipt" }]', "[]")], S, 9, "cite"),
    (
        "too many patterns",
        [(WHERE, WHERE + '  [[rule.when]]\n  fact = "patient"\n' * 32)],
        S,
        1,
        "when",
    ),
    (
        "pack: threshold out of range",
        [("[sources.isipt]", "[thresholds]\nprimary_min = 1.5\n\n[sources.isipt]")],
        S,
        None,
        "thresholds.primary_min",
    ),
    (
        "pack: option default not a choice",
        [('default = "x"', 'default = "z"')],
        S,
        None,
        "options.mode",
    ),
    (
        "pack: option source undeclared",
        [('description = "A string option."', 'description = "A string option."\nsource = "no"')],
        R,
        None,
        "options.mode.source",
    ),
]

# What each message says, after the "file:line, rule 'id', key 'key': " prefix (its start:
# the fixed wording where it is fixed, the names it gives where it is composed)
RESERVED = "(reserved: engine, network, self)"
MESSAGES: dict[str, str] = {
    "weight zero": "weight 0 carries no evidence",
    "area without weight": "'area' and 'weight' go together",
    "weight without area": "'area' and 'weight' go together",
    "area without focus": "a rule with an area needs a 'focus' (a bound variable or 'network')",
    "does nothing": "a rule must give evidence (area + weight), assert a finding, or raise an "
    "advisory",
    "unknown area": "unknown area 'grief'; declared areas: ['role_dispute']",
    "unknown source": "unknown source 'weissman'; add it to [sources] in pack.toml",
    "enabled_when unknown option": "unknown option 'nope'",
    "enabled_when value of the wrong type": "option 'mode' takes a str, got 3",
    "enabled_when value not a choice": "option 'mode' must be one of ['x', 'y'], got 'z'",
    "variable bound twice": f"variable 'other' bound twice or reserved {RESERVED}",
    "reserved variable": f"variable 'self' bound twice or reserved {RESERVED}",
    "negated pattern binds": "a negated pattern (exists = false) cannot bind a variable",
    "unary operator with a value": "operator 'known' takes no value",
    "binary operator without a value": "operator '==' needs a value",
    "reference to an unbound variable": "reference '@nobody.id' names no earlier bound variable",
    "reference to a missing field": "person facts have no field 'nope'",
    "reference with !=": "references (joins) support only '=='",
    "field joined twice": "field 'subject' is already joined in this pattern",
    "unknown $option": "unknown option 'closeness' in '$closeness'",
    "$option value of the wrong kind": "'x' is not a value of 'ring'; expected one of [",
    "focus not bound": "focus 'nobody' is not a bound variable",
    "focus on a link": "focus must be a person or event variable, or 'network'",
    "asserts focus not bound": "asserts.focus 'nobody' is not a bound person/event variable",
    "misspelt placeholder": "explain placeholder {other.conflit} names no bound variable field",
    "placeholder of an unbound variable": "explain placeholder {them.name} names no bound "
    "variable field",
    "unknown field": "person facts have no field 'closeness'; fields: "
    + ", ".join(sorted(FACT_TYPES["person"])),
    "enum value out of vocabulary": "'severe' is not a value of 'conflict'; expected one of [",
    "ordered operator on an enum": "operator '>' needs a number field; 'ring' is enum",
    "bool field given a string": "'confidant' is true/false, got 'yes'",
    "number field given a string": "'changes_wanted' is a number, got 'two'",
    "in without a list": "operator 'in' needs a list",
    "not_in without a list": "operator 'not_in' needs a list",
    "contains on a field that is not a list": "'contains' needs a list field; 'ring' is enum",
    "float field given a string": "'months_since_event' is a number, got 'soon'",
    "reference with a dotted field": "person facts have no field 'id.x'",
    "finding pattern without a name": 'a finding pattern needs a condition ["name", "==", "..."]',
    "dangling finding": "reads finding 'dispute_candidate', which no active rule asserts "
    "(dangling finding)",
    "misspelt key (line of the key)": "wieght: Extra inputs are not permitted",
    "empty cite (line of the key)": "cite: ",
    "too many patterns": "33 patterns in one rule; the most an engine is guaranteed to run is 32",
    "pack: threshold out of range": "thresholds: ",
    "pack: option default not a choice": "option 'mode' must be one of ['x', 'y'], got 'z'",
    "pack: option source undeclared": "unknown source 'no'",
}


def test_every_check_has_its_message() -> None:
    assert set(MESSAGES) == {c[0] for c in CASES}


def _write(tmp: Path, edits: list[tuple[str, str]], pack_edits: bool) -> Path:
    rule, manifest = RULE, MANIFEST
    for old, new in edits:
        if pack_edits:
            assert old in manifest, old
            manifest = manifest.replace(old, new, 1)
        else:
            assert old in rule, old
            rule = rule.replace(old, new, 1)
    (tmp / "pack.toml").write_text(manifest, encoding="utf-8")
    (tmp / "dispute.toml").write_text(rule, encoding="utf-8")
    return tmp


def test_the_unbroken_pack_loads(tmp_path: Path) -> None:
    pack = ipt.load_pack(_write(tmp_path, [], False))
    assert [r.id for r in pack.rules] == ["demo.conflict"]


@pytest.mark.parametrize(
    ("edits", "cls", "line", "key"),
    [pytest.param(e, c, ln, k, id=name) for name, e, c, ln, k in CASES],
)
def test_every_pack_check_names_code_file_line_rule_and_key(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    edits: list[tuple[str, str]],
    cls: type[RulePackError],
    line: int | None,
    key: str,
) -> None:
    in_pack = request.node.callspec.id.startswith("pack:")
    with pytest.raises(RulePackError) as info:
        ipt.load_pack(_write(tmp_path, edits, in_pack))
    err = info.value
    assert type(err) is cls, str(err)
    assert err.code == {S: "rulepack.schema", R: "rulepack.reference"}[cls]
    assert err.file == ("pack.toml" if in_pack else "dispute.toml"), str(err)
    assert err.line == line, str(err)
    assert err.rule_id == (None if in_pack else "demo.conflict"), str(err)
    assert err.key == key, str(err)
    # the message starts with the same information
    where = f"{err.file}:{line}" if line else err.file
    assert str(err).startswith(str(where)), str(err)
    assert f"key {key!r}" in str(err)
    # ... and then says what is wrong
    rule = "" if in_pack else ", rule 'demo.conflict'"
    prefix = f"{where}{rule}, key {key!r}: "
    assert str(err).startswith(prefix + MESSAGES[request.node.callspec.id]), str(err)


# ------------------------------------------------------------------ WHY-NOT reasons

# One area per reason. Thresholds: primary 0.3, secondary 0.4, gap 0.3. With a known age,
# course "chronic" and unknown ideation/psychosis, A (0.8) is primary and D (0.7) secondary.
WN_MANIFEST = """\
[pack]
name = "whynot"
version = "0.1.0"
description = "One area per WHY-NOT reason."

{areas}
[thresholds]
primary_min = 0.3
secondary_min = 0.4
secondary_max_gap = 0.3

[options.extra]
default = false
description = "Turns on f.disabled."

[sources.s]
text = "A source."
"""
WN_RULES: list[tuple[str, float, list[Any], bool]] = [
    ("a.main", 0.8, [["age", ">=", 0]], False),
    ("b.below-secondary", 0.35, [["age", ">=", 0]], False),
    ("c.gap", 0.45, [["age", ">=", 0]], False),
    ("d.second", 0.7, [["age", ">=", 0]], False),
    ("e.third", 0.6, [["age", ">=", 0]], False),
    ("f.failed", 0.5, [["course", "==", "recurrent"]], False),
    ("f.unknown", 0.5, [["suicidal_ideation", "==", True]], False),
    ("f.opposed", -0.4, [["age", ">=", 0]], False),
    ("f.disabled", 0.5, [["age", ">=", 0]], True),
    ("g.certain", 0.2, [["age", ">=", 0]], False),
    ("g.pending", 0.5, [["psychosis", "==", True]], False),
    ("h.low", 0.2, [["populations", "contains", "adolescent"]], False),
]


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


@pytest.fixture(scope="module")
def wn_pack(tmp_path_factory: pytest.TempPathFactory) -> ipt.RulePack:
    d = tmp_path_factory.mktemp("whynot")
    areas = "".join(
        f'[[area]]\nid = "{a}"\nlabel = "Area {a.upper()}"\nfocus_kind = "network"\n\n'
        for a in "abcdefgh"
    )
    (d / "pack.toml").write_text(WN_MANIFEST.format(areas=areas), encoding="utf-8")
    rules = []
    for rid, w, where, gated in WN_RULES:
        rules.append(
            textwrap.dedent(
                f"""\
                [[rule]]
                id = "{rid}"
                version = 1
                title = "Rule {rid}"
                area = "{rid[0]}"
                weight = {w}
                focus = "network"
                explain = "{rid} fired."
                cite = [{{ source = "s" }}]
                {"enabled_when = { extra = true }" if gated else ""}
                  [[rule.when]]
                  fact = "patient"
                  where = {_toml(where)}
                """
            )
        )
    (d / "rules.toml").write_text("\n".join(rules), encoding="utf-8")
    return ipt.load_pack(d)


def _why(f: ipt.Formulation) -> dict[str, Any]:
    return {w.area: w for w in f.not_chosen}


def test_why_not_reason_of_every_status(wn_pack: ipt.RulePack) -> None:
    inv = {
        "schema_version": "1",
        "patient": {"age": 40, "course": "chronic"},
        "episode": {"assessment_date": "2026-01-10"},
    }
    for engine in ("experta", "compiled"):
        f = ipt.formulate(inv, wn_pack, engine=engine)
        assert f.primary is not None and f.primary.area == "a"
        assert f.secondary is not None and f.secondary.area == "d"
        why = _why(f)
        assert set(why) == set("bcefgh")
        # 0.35 is above primary_min (0.3) and below secondary_min (0.4): the secondary branch
        assert why["b"].reason == "best score 0.35 is below the secondary threshold 0.4"
        assert why["c"].reason == "best score 0.45 is more than 0.3 below the primary (0.8)"
        assert why["e"].reason == "outranked: IPT works on at most two areas"
        assert why["f"].reason == "no rule supporting this area fired"
        assert why["f"].best_score is None
        assert why["g"].reason == (
            "provisional: scores 0.2 on certain evidence and could reach 0.6 once the unknown "
            "values it waits on are known"
        )
        checks = {c.rule_id: c for c in why["f"].rules}
        assert [c.rule_id for c in why["f"].rules] == [
            "f.disabled",
            "f.failed",
            "f.opposed",
            "f.unknown",
        ]
        failed, unknown = checks["f.failed"], checks["f.unknown"]
        assert (failed.status, failed.pattern, failed.condition, failed.detail) == (
            "failed",
            'patient _0 where course == "recurrent"',
            'course == "recurrent"',
            "patient 'patient': course = 'chronic', needs course == \"recurrent\"",
        )
        assert (unknown.status, unknown.condition, unknown.detail) == (
            "unknown",
            "suicidal_ideation == true",
            "patient 'patient': suicidal_ideation is unknown",
        )
        assert (checks["f.opposed"].status, checks["f.opposed"].detail) == (
            "opposed",
            "evidence against (weight -0.4)",
        )
        assert (checks["f.disabled"].status, checks["f.disabled"].detail) == (
            "disabled",
            "disabled by pack option extra = False",
        )
        assert [(c.rule_id, c.status, c.detail) for c in why["b"].rules] == [
            ("b.below-secondary", "fired", "fired")
        ]
        g = {c.rule_id: c.status for c in why["g"].rules}
        assert g == {"g.certain": "fired", "g.pending": "unknown"}


def test_why_not_below_the_primary_threshold(wn_pack: ipt.RulePack) -> None:
    inv = {
        "schema_version": "1",
        "patient": {"populations": ["adolescent"], "risk": {"psychosis": False}},
        "episode": {"assessment_date": "2026-01-10"},
    }
    f = ipt.formulate(inv, wn_pack)
    assert f.primary is None
    assert _why(f)["h"].reason == "best score 0.2 is below the primary threshold 0.3"


def test_the_disabled_rule_fires_when_its_option_is_set(wn_pack: ipt.RulePack) -> None:
    inv = {
        "schema_version": "1",
        "patient": {"age": 40, "course": "chronic"},
        "episode": {"assessment_date": "2026-01-10"},
    }
    f = ipt.formulate(inv, wn_pack.with_options(extra=True))
    checks = {c.rule_id: c.status for w in f.not_chosen for c in w.rules}
    assert checks["f.disabled"] == "fired"
