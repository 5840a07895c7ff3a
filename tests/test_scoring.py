"""Scoring as docs/scoring.md states it, on small packs with exact weights: the certainty-factor
combination and each rule's leave-one-out contribution, bounds and status, ranking, focus
selection exactly at the thresholds, ties, evidence summaries, pending rules and how values
read inside explanations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ipt_formulate as ipt
from _packs import ALWAYS, inventory, rule, write_pack
from ipt_formulate.scoring import Belief, combine

NETWORK = "the patient's social network"
UNKNOWN_PSYCHOSIS = [["psychosis", "==", True]]


def cf(mb: float, md: float) -> float:
    """docs/scoring.md: CF = (MB - MD) / (1 - min(MB, MD))."""
    return (mb - md) / (1 - min(mb, md))


def test_combine_is_the_documented_certainty_factor() -> None:
    assert combine([]) == 0.0
    assert combine([0.5]) == 0.5
    assert combine([0.5, 0.5]) == pytest.approx(0.75)  # MB = 1 - 0.5 * 0.5
    assert combine([-0.5, -0.5]) == pytest.approx(-0.75)
    assert combine([0.8, -0.4]) == pytest.approx(cf(0.8, 0.4))
    assert combine([0.6, 0.5, -0.3, -0.2]) == pytest.approx(cf(1 - 0.4 * 0.5, 1 - 0.7 * 0.8))
    assert combine([0.6, 0.5, -0.3, -0.2]) == combine([-0.2, 0.5, -0.3, 0.6])


def test_belief_merges_like_combine() -> None:
    assert Belief.of(0.6) == Belief(mb=0.6, md=0.0)
    assert Belief.of(-0.4) == Belief(mb=0.0, md=0.4)
    assert Belief.of(0.0) == Belief()
    merged = Belief.of(0.6).merge(Belief.of(-0.4)).merge(Belief.of(0.5))
    assert merged.mb == pytest.approx(0.8) and merged.md == pytest.approx(0.4)
    assert merged.cf == pytest.approx(combine([0.6, -0.4, 0.5]))
    assert Belief(mb=1.0, md=1.0).cf == 0.0  # total belief and disbelief cancel
    one = Belief.of(0.6).merge(Belief.of(0.5))  # MB = 1 - 0.4 * 0.5
    assert (one.mb, one.md) == (pytest.approx(0.8), 0.0)
    against = Belief.of(-0.6).merge(Belief.of(-0.5))
    assert (against.mb, against.md) == (0.0, pytest.approx(0.8))


def _pack(tmp: Path, rules: list[str], **kw: Any) -> ipt.RulePack:
    return write_pack(tmp, rules, **kw)


def test_score_contributions_and_bounds(tmp_path: Path) -> None:
    cite = [{"source": "s", "locator": "ch. 2", "note": "the rule's reading"}]
    rules = [
        rule("a.one", area="a", weight=0.8, focus="network", where=ALWAYS, cite=cite),
        rule("a.two", area="a", weight=-0.4, focus="network", where=ALWAYS, title="Against"),
        rule("a.maybe-for", area="a", weight=0.5, focus="network", where=UNKNOWN_PSYCHOSIS),
        rule("a.maybe-against", area="a", weight=-0.5, focus="network", where=UNKNOWN_PSYCHOSIS),
    ]
    for engine in ("experta", "compiled"):
        f = ipt.formulate(inventory(age=30), _pack(tmp_path, rules, areas="a"), engine=engine)
        (h,) = f.hypotheses
        assert (h.rank, h.area, h.area_label) == (1, "a", "Area A")
        assert (h.focus.kind, h.focus.id, h.focus.name) == ("network", None, NETWORK)
        assert h.status == "established"
        assert h.score == round(cf(0.8, 0.4), 4)
        assert h.upper_bound == round(cf(1 - 0.2 * 0.5, 0.4), 4)
        assert h.lower_bound == round(cf(0.8, 1 - 0.6 * 0.5), 4)
        # each rule's contribution: the score less the score without it
        assert [(e.rule_id, e.weight, e.contribution) for e in h.support] == [
            ("a.one", 0.8, round(cf(0.8, 0.4) - (-0.4), 4))
        ]
        one = h.support[0]
        assert (one.explanations, one.explanations_more, one.matched_more) == (
            ("a.one fired.",),
            0,
            0,
        )
        assert [(c.source, c.locator, c.note) for c in f.rule("a.one").citations] == [
            ("s", "ch. 2", "the rule's reading")
        ]
        assert [(e.rule_id, f.rule(e.rule_id).title, e.contribution) for e in h.against] == [
            ("a.two", "Against", round(cf(0.8, 0.4) - 0.8, 4))
        ]
        assert [(p.rule_id, p.weight) for p in h.pending] == [
            ("a.maybe-against", -0.5),
            ("a.maybe-for", 0.5),
        ]
        assert h.pending[1].waits_on == ("$.patient.risk.psychosis",)


def test_status_and_ranking(tmp_path: Path) -> None:
    # thresholds: primary 0.3, secondary 0.4, gap 0.3
    rules = [
        rule("a.low", area="a", weight=0.2, focus="network", where=ALWAYS),
        rule("b.pending", area="b", weight=0.5, focus="network", where=UNKNOWN_PSYCHOSIS),
        rule("c.pending", area="c", weight=0.6, focus="network", where=UNKNOWN_PSYCHOSIS),
        rule("d.main", area="d", weight=0.45, focus="network", where=ALWAYS),
        rule("e.main", area="e", weight=0.7, focus="network", where=ALWAYS),
        rule("f.small-pending", area="f", weight=0.1, focus="network", where=UNKNOWN_PSYCHOSIS),
        rule("g.against", area="g", weight=-0.5, focus="network", where=ALWAYS),
    ]
    f = ipt.formulate(inventory(age=30), _pack(tmp_path / "1", rules))
    # established by score, then provisional by upper bound, then the rest; f's pending
    # rule cannot reach the threshold and g has only evidence against: no hypothesis
    assert [(h.area, h.status, h.score, h.upper_bound) for h in f.hypotheses] == [
        ("e", "established", 0.7, 0.7),
        ("d", "established", 0.45, 0.45),
        ("c", "provisional", 0.0, 0.6),
        ("b", "provisional", 0.0, 0.5),
        ("a", "below_threshold", 0.2, 0.2),
    ]
    # established by score, not by what they could reach; equal upper bounds by score,
    # before the area order
    rules = [
        rule("a.main", area="a", weight=0.6, focus="network", where=ALWAYS),
        rule("b.main", area="b", weight=0.5, focus="network", where=ALWAYS),
        rule("b.maybe", area="b", weight=0.8, focus="network", where=UNKNOWN_PSYCHOSIS),
        rule("c.maybe", area="c", weight=0.6, focus="network", where=UNKNOWN_PSYCHOSIS),
        rule("d.low", area="d", weight=0.2, focus="network", where=ALWAYS),
        rule("d.maybe", area="d", weight=0.5, focus="network", where=UNKNOWN_PSYCHOSIS),
    ]
    g = ipt.formulate(inventory(age=30), _pack(tmp_path / "2", rules))
    assert [(h.area, h.score, h.upper_bound) for h in g.hypotheses] == [
        ("a", 0.6, 0.6),
        ("b", 0.5, 0.9),
        ("d", 0.2, 0.6),
        ("c", 0.0, 0.6),
    ]
    assert [h.rank for h in f.hypotheses] == [1, 2, 3, 4, 5]
    assert f.primary is not None and f.primary.area == "e"
    assert f.secondary is not None and f.secondary.area == "d"


EDGE = (0.5, 0.5, 0.25)  # primary_min, secondary_min, secondary_max_gap: exact in binary


def test_focus_exactly_at_the_thresholds(tmp_path: Path) -> None:
    rules = [
        rule("a.main", area="a", weight=0.75, focus="network", where=ALWAYS),
        rule("b.second", area="b", weight=0.5, focus="network", where=ALWAYS),
        rule("c.tie", area="c", weight=0.5, focus="network", where=ALWAYS),
    ]
    f = ipt.formulate(inventory(age=30), _pack(tmp_path / "1", rules, thresholds=EDGE))
    # b scores exactly secondary_min and lies exactly secondary_max_gap below the primary
    assert f.primary is not None and f.primary.area == "a"
    assert f.secondary is not None and f.secondary.area == "b"
    (tie,) = f.ties
    assert (tie.role, tie.score, tie.chosen_area, tie.others) == (
        "secondary",
        0.5,
        "b",
        (f"Area C: {NETWORK}",),
    )
    assert tie.note == (
        f"Area B: {NETWORK} is secondary by the pack's area order and id order only: it ties "
        f"at 0.5 with Area C: {NETWORK}. The choice between them is the clinician's, with the "
        "patient."
    )
    # exactly primary_min is enough for a primary
    only = [rule("b.second", area="b", weight=0.5, focus="network", where=ALWAYS)]
    g = ipt.formulate(inventory(age=30), _pack(tmp_path / "2", only, thresholds=EDGE))
    assert g.primary is not None and g.primary.area == "b" and g.ties == ()


def test_a_tie_for_the_primary(tmp_path: Path) -> None:
    rules = [
        rule("a.main", area="a", weight=0.6, focus="network", where=ALWAYS),
        rule("b.main", area="b", weight=0.6, focus="network", where=ALWAYS),
        rule("c.low", area="c", weight=0.2, focus="network", where=ALWAYS),
    ]
    f = ipt.formulate(inventory(age=30), _pack(tmp_path, rules))
    assert f.primary is not None and f.primary.area == "a"
    assert f.secondary is not None and f.secondary.area == "b"
    # b ties for the primary (and is the secondary); nothing else scores 0.6
    assert [(t.role, t.chosen_area, t.others) for t in f.ties] == [
        ("primary", "a", (f"Area B: {NETWORK}",))
    ]


def test_no_tie_with_a_secondary_of_the_primary_area(tmp_path: Path) -> None:
    # two persons tie at 0.5 in area a: one is primary; the other is of the primary's area
    # and cannot be a secondary, so it is no tie for the secondary b
    rules = [
        rule("a.friend", area="a", weight=0.5, focus="p", fact="person", bind="p", where=[]),
        rule("b.main", area="b", weight=0.5, focus="network", where=ALWAYS),
    ]
    inv = {
        **inventory(age=30),
        "persons": [
            {"id": "p1", "role": "friend", "label": "Ann"},
            {"id": "p2", "role": "friend"},
        ],
    }
    f = ipt.formulate(inv, _pack(tmp_path, rules, thresholds=EDGE))
    assert [(h.area, h.focus.kind, h.focus.id, h.focus.name) for h in f.hypotheses] == [
        ("a", "person", "p1", "Ann"),
        ("a", "person", "p2", "friend (p2)"),  # no label: role and id (rule-authoring.md)
        ("b", "network", None, NETWORK),
    ]
    assert f.primary is not None and f.primary.focus.id == "p1"
    assert f.secondary is not None and f.secondary.area == "b"
    assert [(t.role, t.others) for t in f.ties] == [
        ("primary", ("Area A: friend (p2)", f"Area B: {NETWORK}"))
    ]
    assert f"ties at 0.5 with Area A: friend (p2); Area B: {NETWORK}. The" in f.ties[0].note


def test_a_primary_tie_below_the_secondary_threshold(tmp_path: Path) -> None:
    # thresholds 0.3 / 0.4 / 0.3: two areas at 0.35 tie for the primary; neither could be
    # a secondary, but the tie for the primary is reported all the same
    rules = [
        rule("a.main", area="a", weight=0.35, focus="network", where=ALWAYS),
        rule("b.main", area="b", weight=0.35, focus="network", where=ALWAYS),
    ]
    f = ipt.formulate(inventory(age=30), _pack(tmp_path, rules))
    assert f.primary is not None and f.primary.area == "a" and f.secondary is None
    assert [(t.role, t.score, t.others) for t in f.ties] == [
        ("primary", 0.35, (f"Area B: {NETWORK}",))
    ]


def test_the_trace_names_each_hypothesis_focus(tmp_path: Path) -> None:
    rules = [
        rule("a.friend", area="a", weight=0.5, focus="p", fact="person", bind="p", where=[]),
        rule("b.main", area="b", weight=0.4, focus="network", where=ALWAYS),
        rule("b.event", area="b", weight=0.3, focus="e", fact="event", bind="e", where=[]),
    ]
    inv = {
        **inventory(age=30),
        "persons": [{"id": "p1", "role": "friend", "label": "Ann"}],
        "events": [{"id": "e1", "kind": "move", "date": "2025-12"}],
    }
    f = ipt.formulate(inv, _pack(tmp_path, rules), trace=True)
    assert f.trace is not None
    foci = {(h.area, h.focus.kind, h.focus.id, h.focus.name) for h in f.trace.hypotheses}
    assert foci == {(h.area, h.focus.kind, h.focus.id, h.focus.name) for h in f.hypotheses}
    assert foci == {
        ("a", "person", "p1", "Ann"),
        ("b", "network", None, NETWORK),
        ("b", "event", "e1", "move (December 2025)"),
    }


def test_evidence_lists_are_summarised_beyond_twenty(tmp_path: Path) -> None:
    rules = [
        rule("a.many", area="a", weight=0.5, focus="network", fact="person", bind="p",
             where=[], explain="{p.name} counts."),
    ]  # fmt: skip
    persons = [{"id": f"p{k:02}", "role": "friend", "label": f"F{k:02}"} for k in range(25)]
    f = ipt.formulate({**inventory(age=30), "persons": persons}, _pack(tmp_path, rules))
    (h,) = f.hypotheses
    (e,) = h.support
    assert h.score == 0.5  # a rule counts once per hypothesis however often it matched
    assert e.explanations == tuple(f"F{k:02} counts." for k in range(20))
    assert e.explanations_more == 5
    assert [(m.type, m.id) for m in e.matched] == [("person", f"p{k:02}") for k in range(20)]
    assert e.matched_more == 5
    assert [c.source for c in f.rule("a.many").citations] == ["s"]
    brief = ipt.formulate(
        {**inventory(age=30), "persons": persons}, _pack(tmp_path, rules), detail="brief"
    )
    (b,) = brief.hypotheses[0].support
    assert (b.rule_id, b.weight, b.explanations, b.matched) == ("a.many", 0.5, (), ())
    assert brief.rules == ()  # the brief level holds rule ids only


def test_pending_rules_list_at_most_ten_unknown_values(tmp_path: Path) -> None:
    rules = [
        rule("a.main", area="a", weight=0.5, focus="network", where=ALWAYS),
        rule("a.conflict", area="a", weight=0.3, focus="network", fact="person", bind="p",
             where=[["conflict", "==", "high"]]),
    ]  # fmt: skip
    persons = [{"id": f"p{k:02}", "role": "friend"} for k in range(12)]
    f = ipt.formulate({**inventory(age=30), "persons": persons}, _pack(tmp_path, rules))
    (h,) = f.hypotheses
    (p,) = h.pending
    assert (p.rule_id, f.rule(p.rule_id).title, p.weight) == ("a.conflict", "Rule a.conflict", 0.3)
    assert len(p.waits_on) == 10
    assert all(w.endswith(".conflict") for w in p.waits_on)
    brief = ipt.formulate(
        {**inventory(age=30), "persons": persons}, _pack(tmp_path, rules), detail="brief"
    )
    assert [(q.rule_id, q.waits_on) for q in brief.hypotheses[0].pending] == [("a.conflict", ())]


def test_how_values_read_in_an_explanation(tmp_path: Path) -> None:
    text = (
        "course {x.course}; populations {x.populations}; ideation {x.suicidal_ideation}; "
        "psychosis {x.psychosis}; self-harm {x.self_harm}; age {x.age}; sas {x.sas_sr_mean}"
    )
    rules = [rule("a.main", area="a", weight=0.5, focus="network", bind="x", where=ALWAYS,
                  explain=text)]  # fmt: skip
    inv = inventory(
        age=30,
        course="first_episode",
        populations=["adult", "perinatal"],
        risk={"suicidal_ideation": True, "psychosis": False},
    )
    inv["episode"]["measures"] = [{"instrument": "sas_sr", "date": "2026-01-10", "mean": 2.5}]
    f = ipt.formulate(inv, _pack(tmp_path, rules))
    # underscores read as spaces, booleans as yes/no, unknown as "unknown", lists joined
    assert f.hypotheses[0].support[0].explanations == (
        "course first episode; populations adult, perinatal; ideation yes; psychosis no; "
        "self-harm unknown; age 30; sas 2.5",
    )


def test_findings_about_the_focus(tmp_path: Path) -> None:
    rules = [
        rule("a.friend", area="a", weight=0.5, focus="p", fact="person", bind="p", where=[],
             asserts={"finding": "close_friend", "focus": "p"}),
        rule("a.flag", where=ALWAYS, asserts={"finding": "patient_flag"}),
    ]  # fmt: skip
    inv = {**inventory(age=30), "persons": [{"id": "p1", "role": "friend", "label": "Ann"}]}
    f = ipt.formulate(inv, _pack(tmp_path, rules))
    (h,) = f.hypotheses
    assert h.findings == ("close_friend",)
    assert ipt.formulate(inv, _pack(tmp_path, rules), detail="brief").hypotheses[0].findings == ()


def test_pending_person_readings_and_the_unknowns_they_wait_on(tmp_path: Path) -> None:
    # a person-focused rule that may fire: a provisional reading about that person, the
    # unknown values listed once in Formulation.unknowns (path and whom it is about); only
    # rules that count (evidence, advisories) carry citations (Formulation.rules)
    rules = [
        rule("a.conflict", area="a", weight=0.5, focus="p", fact="person", bind="p",
             where=[["conflict", "==", "high"]]),
        rule("b.main", area="b", weight=0.5, focus="network", where=ALWAYS),
    ]  # fmt: skip
    inv = {**inventory(age=30), "persons": [{"id": "ann", "role": "friend", "label": "Ann"}]}
    f = ipt.formulate(inv, _pack(tmp_path, rules))
    prov = [h for h in f.hypotheses if h.status == "provisional"]
    assert [(h.area, h.focus.kind, h.focus.id, h.focus.name) for h in prov] == [
        ("a", "person", "ann", "Ann")
    ]
    path = "$.persons[?@.id=='ann'].conflict"
    assert prov[0].pending[0].waits_on == (path,)
    assert [(u.path, u.about) for u in f.unknowns] == [(path, "Ann")]
    assert f.rule("a.conflict").citations == ()
    assert [c.source for c in f.rule("b.main").citations] == ["s"]
    assert [(s.key, s.text, s.url, s.quality) for s in f.sources] == [
        ("s", "A source.", "https://example.org/s", "manual/author")
    ]


def test_equal_scores_rank_by_area_order_then_focus_id(tmp_path: Path) -> None:
    # docs/scoring.md: ranking is by score, then the pack's area order, then focus id (not
    # the display name); a pending rule lifting the upper bound exactly to primary_min
    # makes a provisional reading
    rules = [
        rule("b.friend", area="b", weight=0.5, focus="p", fact="person", bind="p", where=[]),
        rule("a.friend", area="a", weight=0.5, focus="p", fact="person", bind="p", where=[]),
        rule("c.maybe", area="c", weight=0.3, focus="network", where=UNKNOWN_PSYCHOSIS),
    ]
    persons = [
        {"id": "p1", "role": "friend", "label": "Zed"},
        {"id": "p2", "role": "friend", "label": "Amy"},
    ]
    f = ipt.formulate({**inventory(age=30), "persons": persons}, _pack(tmp_path, rules))
    assert [(h.area, h.focus.id, h.status) for h in f.hypotheses] == [
        ("a", "p1", "established"),
        ("a", "p2", "established"),
        ("b", "p1", "established"),
        ("b", "p2", "established"),
        ("c", None, "provisional"),
    ]
    assert f.hypotheses[-1].upper_bound == 0.3


def test_certain_but_not_robust_evidence_counts_as_may_fire_in_the_bounds(
    tmp_path: Path,
) -> None:
    # docs/scoring.md "Bounds": a rule that fires only because a value is unknown (it tests
    # unknown-ness) fires for certain but not robustly: recording the value undoes it. The
    # score counts it; the bounds read it as a rule that *may* fire, so the lower bound
    # leaves out such support and the upper bound such evidence against
    unsure = [["psychosis", "unknown"]]
    rules = [
        rule("a.main", area="a", weight=0.5, focus="network", where=ALWAYS),
        rule("a.unsure-for", area="a", weight=0.4, focus="network", where=unsure),
        rule("a.unsure-against", area="a", weight=-0.3, focus="network", where=unsure),
        rule("b.friend", area="b", weight=0.6, focus="p", fact="person", bind="p", where=[]),
        rule("c.unsure", area="c", weight=0.45, focus="network", where=unsure),
    ]
    inv = {**inventory(age=30), "persons": [{"id": "ann", "role": "friend", "label": "Ann"}]}
    pack = _pack(tmp_path, rules, areas="abc")
    for engine in ("experta", "compiled"):
        f = ipt.formulate(inv, pack, engine=engine)
        bounds = {h.area: (h.lower_bound, h.score, h.upper_bound) for h in f.hypotheses}
        assert bounds == {
            "a": (
                round(cf(0.5, 1 - 0.7), 4),  # without a.unsure-for, with a.unsure-against
                round(cf(1 - 0.5 * 0.6, 0.3), 4),  # everything that fires
                round(1 - 0.5 * 0.6, 4),  # without a.unsure-against
            ),
            "b": (0.6, 0.6, 0.6),  # robust evidence: the bounds are the score
            "c": (0.0, 0.45, 0.45),  # nothing robust: recording psychosis may undo it all
        }
        # the complete inventory's score lies within those bounds (the soundness property)
        known = ipt.formulate({**inv, "patient": {"age": 30, "risk": {"psychosis": False}}}, pack)
        assert {h.area for h in known.hypotheses} == {"a", "b"}
        (a_known,) = [h for h in known.hypotheses if h.area == "a"]
        assert bounds["a"][0] <= a_known.score <= bounds["a"][2]


def test_a_network_focus_ranks_before_person_foci_at_equal_scores(tmp_path: Path) -> None:
    # docs/scoring.md "Ranking": score, area order, then focus id, where a network focus has
    # no id and sorts first, whatever the persons' ids (upper-case ones included): at a tie
    # the primary is the network reading
    rules = [
        rule("a.friend", area="a", weight=0.5, focus="p", fact="person", bind="p", where=[]),
        rule("a.net", area="a", weight=0.5, focus="network", where=ALWAYS),
    ]
    persons = [{"id": "zed", "role": "friend"}, {"id": "Ann", "role": "friend"}]
    f = ipt.formulate({**inventory(age=30), "persons": persons}, _pack(tmp_path, rules))
    assert [(h.focus.kind, h.focus.id) for h in f.hypotheses] == [
        ("network", None),
        ("person", "Ann"),
        ("person", "zed"),
    ]
    assert f.primary is not None and f.primary.focus.kind == "network"


def test_the_scoring_stage_on_its_own_gives_formulate_s_hypotheses(tmp_path: Path) -> None:
    # docs/architecture.md: the stage modules are importable for tools that need one stage.
    # Facts, engine and scoring run by hand, without a possible reading, give what formulate
    # gives on an inventory with nothing unknown to the rules: the same hypotheses, with
    # explanations and findings (the defaults), bounds equal to the scores, nothing pending
    from ipt_formulate.engine import run_engine
    from ipt_formulate.facts import derive_facts
    from ipt_formulate.scoring import rank_hypotheses

    rules = [
        rule("a.friend", area="a", weight=0.5, focus="p", fact="person", bind="p", where=[],
             explain="{p.name} is a friend.", asserts={"finding": "friend", "focus": "p"}),
        rule("a.against", area="a", weight=-0.2, focus="p", fact="person", bind="p",
             where=[["conflict", "==", "high"]]),
        rule("b.main", area="b", weight=0.4, focus="network", where=ALWAYS),
    ]  # fmt: skip
    pack = _pack(tmp_path, rules)
    inv = ipt.parse_inventory(
        {
            **inventory(age=30),
            "persons": [{"id": "ann", "role": "friend", "label": "Ann", "conflict": "high"}],
        }
    )
    run = run_engine(pack, derive_facts(inv, pack.options))
    lookup = {(t, str(f["id"])): f for t, fs in run.index.by_type.items() for f in fs}
    alone = rank_hypotheses(pack, run.firings, lookup, run.findings)
    assert alone == ipt.formulate(inv, pack).hypotheses
    assert [(h.area, h.focus.id, h.score, h.upper_bound, h.pending) for h in alone] == [
        ("b", None, 0.4, 0.4, ()),
        ("a", "ann", round(cf(0.5, 0.2), 4), round(cf(0.5, 0.2), 4), ()),
    ]
    assert alone[1].support[0].explanations == ("Ann is a friend.",)
    assert [e.rule_id for e in alone[1].against] == ["a.against"]
    assert alone[1].findings == ("friend",)
