"""Advisories and WHY-NOT at their edges, on small packs with exact weights and thresholds:
the cap of five advisories per rule, the library's data advisories (insufficient data, no
primary, provisional readings), the documented sort order, citations by output level, and
the WHY-NOT reasons exactly at the secondary threshold and gap (docs/scoring.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ipt_formulate as ipt
from _packs import ALWAYS, inventory, rule, write_pack

ENGINES = ("experta", "compiled")
NETWORK = "the patient's social network"


def _persons(n: int) -> list[dict[str, Any]]:
    return [{"id": f"p{k}", "role": "friend", "label": f"Friend {k}"} for k in range(1, n + 1)]


@pytest.fixture(scope="module")
def advisory_pack(tmp_path_factory: pytest.TempPathFactory) -> ipt.RulePack:
    """One advisory rule that pairs with every person: one message per person."""
    ask = rule(
        "ask.person",
        fact="person",
        bind="p",
        title="Ask about a friend",
        explain="Ask about {p.name}.",
        advisory={"kind": "clinical", "level": "info"},
    )
    return write_pack(tmp_path_factory.mktemp("adv"), [ask], areas="a")


def _rule_messages(f: ipt.Formulation, rule_id: str) -> list[str]:
    return [a.message for a in f.advisories if a.rule_id == rule_id]


@pytest.mark.parametrize("engine", ENGINES)
def test_five_messages_are_all_shown(advisory_pack: ipt.RulePack, engine: str) -> None:
    inv = {**inventory(age=30), "persons": _persons(5)}
    f = ipt.formulate(inv, advisory_pack, engine=engine)
    assert _rule_messages(f, "ask.person") == [f"Ask about Friend {k}." for k in range(1, 6)]


@pytest.mark.parametrize(("n", "rest"), [(6, 2), (7, 3)])
def test_more_than_five_messages_keep_four_and_count_the_rest(
    advisory_pack: ipt.RulePack, n: int, rest: int
) -> None:
    # docs/scoring.md: the first four messages in sorted order, then one counting the rest
    inv = {**inventory(age=30), "persons": _persons(n)}
    f = ipt.formulate(inv, advisory_pack)
    messages = _rule_messages(f, "ask.person")
    assert messages[:4] == [f"Ask about Friend {k}." for k in range(1, 5)]
    assert messages[4:] == [f"Ask about a friend: {rest} more like the above (rule ask.person)."]


def test_rule_advisories_cite_their_sources_except_at_the_brief_level(
    advisory_pack: ipt.RulePack,
) -> None:
    inv = {**inventory(age=30), "persons": _persons(1)}
    f = ipt.formulate(inv, advisory_pack)
    (full,) = [a for a in f.advisories if a.rule_id]
    assert [c.source for c in f.rule(full.rule_id or "").citations] == ["s"]
    brief = ipt.formulate(inv, advisory_pack, detail="brief")
    assert [a.rule_id for a in brief.advisories if a.rule_id] == ["ask.person"]
    assert brief.rules == ()  # rule ids only: no citations


@pytest.fixture(scope="module")
def data_pack(tmp_path_factory: pytest.TempPathFactory) -> ipt.RulePack:
    """Evidence rules that wait on unknown risk values, and advisories of every level."""
    rules = [
        rule("a.ideation", area="a", weight=0.5, focus="network",
             where=[["suicidal_ideation", "==", True]]),
        rule("b.psychosis", area="b", weight=0.5, focus="network",
             where=[["psychosis", "==", True]]),
        rule("s.risk", where=ALWAYS, explain="Assess risk.",
             advisory={"kind": "safety", "level": "urgent"}),
        rule("c.note", where=ALWAYS, explain="A clinical note.",
             advisory={"kind": "clinical", "level": "caution"}),
        rule("z.note", where=ALWAYS, explain="A data note.",
             advisory={"kind": "data", "level": "info"}),
    ]  # fmt: skip
    return write_pack(tmp_path_factory.mktemp("data"), rules, areas="abcd")


INSUFFICIENT = (
    "Insufficient data: these rules could not be evaluated because a value is unknown: "
    "a.ideation (patient 'patient': suicidal_ideation is unknown); "
    "b.psychosis (patient 'patient': psychosis is unknown)."
)


@pytest.mark.parametrize("engine", ENGINES)
def test_provisional_readings_and_advisory_order(data_pack: ipt.RulePack, engine: str) -> None:
    f = ipt.formulate(inventory(age=30), data_pack, engine=engine)
    assert f.primary is None
    waiting = (
        "No problem area is established yet: provisional reading(s) wait on unknown values "
        f"(Area A about {NETWORK}; Area B about {NETWORK}). Ask what they wait on (the "
        "questions, or the timeline and relationship details) before choosing a focus."
    )
    # level (urgent, caution, info), then kind (safety, clinical, data), then rule id with
    # the library's own advisories after the rules', then message
    assert [(a.level, a.kind, a.rule_id, a.message) for a in f.advisories] == [
        ("urgent", "safety", "s.risk", "Assess risk."),
        ("caution", "clinical", "c.note", "A clinical note."),
        ("caution", "data", None, waiting),
        ("info", "data", "z.note", "A data note."),
        ("info", "data", None, INSUFFICIENT),
    ]


def test_no_primary_without_provisional_readings(data_pack: ipt.RulePack) -> None:
    # both risk values known and false: nothing fires, nothing could
    f = ipt.formulate(
        inventory(age=30, risk={"suicidal_ideation": False, "psychosis": False}), data_pack
    )
    assert [(a.level, a.kind, a.message) for a in f.advisories if a.rule_id is None] == [
        (
            "caution",
            "data",
            "No problem area reached the pack's threshold (0.3). Complete the inventory "
            "(timeline, relationship quality before and since onset) before choosing a focus.",
        )
    ]


def test_a_primary_means_no_library_advisory(data_pack: ipt.RulePack) -> None:
    f = ipt.formulate(
        inventory(age=30, risk={"suicidal_ideation": True, "psychosis": False}), data_pack
    )
    assert f.primary is not None and f.primary.area == "a"
    assert [a.rule_id for a in f.advisories] == ["s.risk", "c.note", "z.note"]


@pytest.mark.parametrize(
    ("areas", "named"),
    [
        # three readings: all named
        ("abc", f"(Area A about {NETWORK}; Area B about {NETWORK}; Area C about {NETWORK})."),
        # four or five: the first three, and a count of the rest
        ("abcd", f"(Area A about {NETWORK}; Area B about {NETWORK}; Area C about {NETWORK} "
                 "and 1 more)."),
        ("abcde", f"(Area A about {NETWORK}; Area B about {NETWORK}; Area C about {NETWORK} "
                  "and 2 more)."),
    ],
)  # fmt: skip
def test_the_first_three_provisional_readings_are_named(
    tmp_path: Path, areas: str, named: str
) -> None:
    pending = [["psychosis", "==", True]]
    rules = [
        rule(f"{a}.pending", area=a, weight=0.5, focus="network", where=pending) for a in areas
    ]
    f = ipt.formulate(inventory(age=30), write_pack(tmp_path, rules, areas=areas))
    (msg,) = [a.message for a in f.advisories if a.level == "caution"]
    assert named in msg


# WHY-NOT exactly at the thresholds: weights and thresholds are exact binary fractions, so a
# score equal to a threshold is equal in floating point too. primary_min 0.5,
# secondary_min 0.5, secondary_max_gap 0.25.
EDGE_RULES = [
    rule("a.main", area="a", weight=0.75, focus="network", where=ALWAYS),
    rule("b.second", area="b", weight=0.5, focus="network", where=ALWAYS),
    rule("c.tie", area="c", weight=0.5, focus="network", where=ALWAYS),
    rule("d.low", area="d", weight=0.25, focus="network", where=ALWAYS),
]


@pytest.fixture(scope="module")
def edge_pack(tmp_path_factory: pytest.TempPathFactory) -> ipt.RulePack:
    return write_pack(
        tmp_path_factory.mktemp("edge"), EDGE_RULES, areas="abcde", thresholds=(0.5, 0.5, 0.25)
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_why_not_exactly_at_the_secondary_threshold_and_gap(
    edge_pack: ipt.RulePack, engine: str
) -> None:
    f = ipt.formulate(inventory(age=30), edge_pack, engine=engine)
    why = {w.area: (w.best_score, w.reason) for w in f.not_chosen}
    # c scores exactly secondary_min, exactly secondary_max_gap below the primary: it
    # qualifies as a secondary and loses only to b, by area order
    assert why == {
        "c": (0.5, "outranked: IPT works on at most two areas"),
        "d": (0.25, "best score 0.25 is below the secondary threshold 0.5"),
        "e": (None, "no rule supporting this area fired"),
    }


def test_why_not_lists_a_rule_disabled_by_two_options(tmp_path: Path) -> None:
    options = (
        '[options.mode]\ndefault = "x"\nchoices = ["x", "y"]\ndescription = "A mode."\n\n'
        '[options.extra]\ndefault = false\ndescription = "A switch."\n'
    )
    rules = [
        rule("a.main", area="a", weight=0.8, focus="network", where=ALWAYS),
        rule("b.gated", area="b", weight=0.8, focus="network", where=ALWAYS,
             enabled_when={"mode": "y", "extra": True}),
    ]  # fmt: skip
    f = ipt.formulate(inventory(age=30), write_pack(tmp_path, rules, areas="ab", options=options))
    (b,) = [w for w in f.not_chosen if w.area == "b"]
    assert [(c.rule_id, c.status, c.detail) for c in b.rules] == [
        ("b.gated", "disabled", "disabled by pack option mode = 'x', extra = False")
    ]


def test_draft_and_retired_rules_are_not_diagnosed(tmp_path: Path) -> None:
    # docs/rule-authoring.md: draft and retired rules are loaded and checked, never run
    rules = [
        rule("a.main", area="a", weight=0.8, focus="network", where=ALWAYS),
        rule("b.draft", area="b", weight=0.8, focus="network", where=ALWAYS, status="draft"),
        rule("b.retired", area="b", weight=0.8, focus="network", where=ALWAYS, status="retired"),
        rule("b.live", area="b", weight=0.8, focus="network", where=[["age", "<", 0]]),
    ]
    f = ipt.formulate(inventory(age=30), write_pack(tmp_path, rules, areas="ab"))
    (b,) = [w for w in f.not_chosen if w.area == "b"]
    assert [(c.rule_id, c.status) for c in b.rules] == [("b.live", "failed")]
    assert b.reason == "no rule supporting this area fired"


def test_standard_level_keeps_reasons_without_rule_checks(edge_pack: ipt.RulePack) -> None:
    # docs/output.md: standard is full less WHY-NOT's per-rule checks
    f = ipt.formulate(inventory(age=30), edge_pack, detail="standard")
    assert [(w.area, w.reason, w.rules) for w in f.not_chosen] == [
        ("c", "outranked: IPT works on at most two areas", ()),
        ("d", "best score 0.25 is below the secondary threshold 0.5", ()),
        ("e", "no rule supporting this area fired", ()),
    ]
