"""The words facts carry for clinicians (event names, dates, timing relative to onset), as
FACT_TYPES, docs/reports.md and docs/rule-authoring.md describe them. The oracle
(tests/test_oracle.py) checks the values rules compute with; these check the texts."""

from __future__ import annotations

from typing import Any

import pytest

from ipt_formulate.facts import (
    FACT_TYPES,
    SourceMap,
    date_words,
    derive_facts,
    event_name,
    graph_features_for,
    short_text,
    timing_phrase,
)
from ipt_formulate.inventory import Inventory, LifeEvent, Person, parse_inventory


@pytest.mark.parametrize(
    ("span", "relation", "words"),
    [
        (None, None, "timing unknown"),
        (None, "long_before", "long before onset"),
        (None, "months_before", "in the months before onset"),
        (None, "before", "before onset (interval unknown)"),
        (None, "around", "around onset"),
        (None, "after", "after onset"),
        # exact dates: the months, one month singular
        ((3.0, 3.0), None, "3 months before onset"),
        ((1.0, 1.0), "months_before", "1 month before onset"),  # dates win over the relation
        ((-2.0, -2.0), None, "2 months after onset"),
        ((0.2, 0.3), None, "around onset"),  # under half a month from onset
        ((0.5, 0.5), None, "0.5 months before onset"),  # half a month is not "around"
        ((2.4, 3.2), None, "3 months before onset"),  # a range of at most a month: midpoint
        ((2.0, 3.0), None, "2.5 months before onset"),
        # month-level dates: "about" the midpoint, then the whole months of the range
        ((2.0, 4.0), None, "about 3 months before onset, range 2 to 4"),  # docs/reports.md
        ((-4.0, -2.0), None, "about 3 months after onset, range 2 to 4"),
        ((2.6, 3.8), None, "about 3 months before onset, range 3 to 4"),
        ((-1.0, 2.0), None, "about 0.5 months before onset, range 1 after to 2 before"),
        ((-2.0, 1.0), None, "about 0.5 months after onset, range 2 after to 1 before"),
        ((-1.0, 1.2), None, "around onset, range 1 after to 1 before"),
        ((-2.0, 0.0), None, "about 1 month after onset, range 0 to 2"),  # ends at onset
        ((0.0, 2.0), None, "about 1 month before onset, range 0 to 2"),  # starts at onset
    ],
)
def test_timing_in_words(
    span: tuple[float, float] | None, relation: str | None, words: str
) -> None:
    assert timing_phrase(span, relation) == words


@pytest.mark.parametrize(
    ("date", "words"),
    [
        ("2025", "2025"),
        ("2025-01", "January 2025"),
        ("2025-09", "September 2025"),
        ("2025-12", "December 2025"),
        ("2025-06-04", "4 June 2025"),
    ],
)
def test_partial_dates_in_words(date: str, words: str) -> None:
    assert date_words(date) == words


GREEK = "alpha beta gamma delta epsilon zeta eta"


@pytest.mark.parametrize(
    ("text", "limit", "short"),
    [
        ("Moved to Leeds. Started a new job there", 40, "Moved to Leeds"),
        ("Lost the job; money is tight", 40, "Lost the job"),
        ("Work: redundancy announced", 40, "Work"),
        ("  two   spaces\n apart  ", 40, "two spaces apart"),
        ("Ends with a stop.", 40, "Ends with a stop"),
        ("x" * 40, 40, "x" * 40),  # exactly the limit: kept whole
        (GREEK + " theta", 40, GREEK + "…"),  # 46 characters: cut before "theta"
        ("alpha beta, gamma", 12, "alpha beta…"),  # cut at a word, trailing comma dropped
        ("abc def", 5, "abc…"),
        # the first clause, however many follow; letters are never stripped, only stops
        ("Fire at home. Lost everything. Moved in with mum", 40, "Fire at home"),
        ("Started at SpaceX", 40, "Started at SpaceX"),
        ("Left a long and difficult job at SpaceX yesterday", 40,
         "Left a long and difficult job at SpaceX…"),
    ],
)  # fmt: skip
def test_short_text_is_the_first_clause_cut_at_a_word(text: str, limit: int, short: str) -> None:
    assert short_text(text, limit) == short


def _event(**kw: Any) -> LifeEvent:
    return LifeEvent.model_validate({"id": "e1", **kw})


def test_event_names() -> None:
    # FACT_TYPES: the kind in words and the date; undated, the kind and the first words of
    # the description; else the kind and the id
    assert event_name(_event(kind="retirement", date="2025-09")) == "retirement (September 2025)"
    assert event_name(_event(kind="job_loss", date="2025-06-14")) == "job loss (14 June 2025)"
    assert event_name(_event(kind="illness_diagnosis_self", date="2024")) == (
        "own illness diagnosis (2024)"
    )
    assert event_name(_event(kind="illness_diagnosis_other")) == (
        "illness diagnosis of someone close (e1)"
    )
    assert event_name(_event(kind="other", description="Fire at home. Lost everything")) == (
        "event (\u201cFire at home\u201d)"
    )
    assert event_name(_event(kind="move", description="...")) == "move (e1)"
    # the description's words are cut to at most 40 characters before the ellipsis
    long = _event(kind="other", description="alpha beta gamma delta epsilon zeta theta")
    assert event_name(long) == "event (\u201calpha beta gamma delta epsilon zeta…\u201d)"
    assert event_name(_event(kind="other", description="x" * 50)) == (
        f"event (\u201c{'x' * 40}…\u201d)"
    )


def _facts(inv: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    facts = derive_facts(parse_inventory(inv))
    return {(t, f["id"]): dict(f) for t, f in facts.all()}


BASE = {
    "schema_version": "1",
    "patient": {"age": 40},
    "episode": {"assessment_date": "2026-01-15", "onset": "2025-10-15"},
}


def test_person_names_and_quality_change() -> None:
    persons = [
        {"id": "ann", "role": "friend", "label": "Ann",
         "quality_before_onset": "good", "quality_now": "poor"},
        {"id": "bo", "role": "spouse_partner",
         "quality_before_onset": "poor", "quality_now": "fair"},
        {"id": "cy", "role": "sibling", "quality_before_onset": "fair", "quality_now": "fair"},
        {"id": "di", "role": "parent", "quality_now": "good"},
    ]  # fmt: skip
    facts = _facts({**BASE, "persons": persons})
    got = {i: (f["name"], f["quality_change"]) for (t, i), f in facts.items() if t == "person"}
    assert got == {
        "ann": ("Ann", "worse"),
        "bo": ("spouse partner (bo)", "better"),  # docs: label, else role and id
        "cy": ("sibling (cy)", "same"),
        "di": ("parent (di)", None),  # quality before onset unknown
    }
    assert Person.model_validate(persons[0]).label == "Ann"


def test_event_timing_and_months_since() -> None:
    events = [
        {"id": "exact", "kind": "move", "date": "2025-07-15"},  # 3 months before onset
        # a month-level date: July spans just under a month, so it reads as its midpoint
        {"id": "month", "kind": "new_job", "date": "2025-07"},
        {"id": "judged", "kind": "retirement", "onset_relation": "months_before"},
        {"id": "late", "kind": "promotion", "date": "2025-12-15"},  # 2 months after onset
    ]
    facts = _facts({**BASE, "events": events})
    got = {
        i: (f["timing"], f["months_before_onset"], f["months_since_event"], f["recent"],
            f["after_onset"])
        for (t, i), f in facts.items()
        if t == "event"
    }  # fmt: skip
    assert got == {
        "exact": ("3 months before onset", 3.0, 6.0, True, False),
        "month": ("3 months before onset", 3.0, 6.0, True, False),
        "judged": ("in the months before onset", None, None, True, False),
        "late": ("2 months after onset", -2.0, 1.0, False, True),
    }


SOURCED = {
    **BASE,
    "episode": {"assessment_date": "2026-01-15"},  # onset unknown
    "persons": [{"id": "mum", "role": "parent"}, {"id": "bo", "role": "friend"}],
    "events": [
        {"id": "move", "kind": "move", "date": "2025-09", "subject": "mum"},
        {"id": "loss", "kind": "job_loss"},
        {"id": "old", "kind": "retirement", "months_before_onset": 30, "maintains_episode": False},
        {"id": "judged", "kind": "move", "onset_relation": "months_before"},
    ],
    "relationships": [{"a": "mum", "b": "bo"}],
}
MUM, MOVE = "$.persons[?@.id=='mum']", "$.events[?@.id=='move']"
LOSS, OLD = "$.events[?@.id=='loss']", "$.events[?@.id=='old']"


@pytest.mark.parametrize(
    ("fact_type", "fact_id", "fld", "paths"),
    [
        # person fields: the field itself, or the recorded fields a derived one comes from
        ("person", "mum", "ring", (f"{MUM}.ring",)),
        ("person", "mum", "non_reciprocal",
         (f"{MUM}.patient_expectations_met", f"{MUM}.other_expectations_met")),
        ("person", "mum", "quality_change", (f"{MUM}.quality_before_onset", f"{MUM}.quality_now")),
        ("person", "mum", "patient_priority", ("$.patient_view.most_important_person",)),
        # a graph feature, open while any person's death or contact is unknown (both
        # persons' here; docs/scoring.md, counts over unknown values)
        ("person", "mum", "bridge_lost", tuple(
            f"$.persons[?@.id=='{pid}'].{f}" for pid in ("bo", "mum")
            for f in ("deceased", "contact")
        )),
        ("person", "nobody", "ring", ()),
        # event timing with the onset unknown: the clinician's judgement, or the onset date
        ("event", "move", "recent", (f"{MOVE}.onset_relation", "$.episode.onset")),
        ("event", "move", "linked_to_onset",
         (f"{MOVE}.onset_relation", "$.episode.onset", f"{MOVE}.maintains_episode")),
        ("event", "loss", "after_onset", (f"{LOSS}.onset_relation",)),  # undated
        ("event", "old", "recent", ()),  # 30 months before onset: settled
        ("event", "old", "linked_to_onset", ()),  # not recent, does not maintain it
        ("event", "old", "after_onset", ()),  # settled by the months
        # the judgement is recorded: nothing more to ask about the order
        ("event", "judged", "months_before_onset", ()),
        ("event", "judged", "after_onset", ()),
        ("event", "move", "months_since_event", (f"{MOVE}.date",)),
        ("event", "move", "subject_ring", (f"{MUM}.ring",)),
        ("event", "move", "subject_role", (f"{MUM}.role",)),
        ("event", "loss", "subject_ring", (f"{LOSS}.subject",)),  # no subject recorded
        ("event", "move", "patient_priority", ("$.patient_view.most_important_event",)),
        ("event", "move", "valence", (f"{MOVE}.valence",)),
        ("event", "move", "category", ()),  # derived from the kind
        ("event", "nobody", "valence", ()),
        # patient fields
        ("patient", "patient", "age", ("$.patient.age",)),
        ("patient", "patient", "isolation_predates_onset", ("$.social_history.isolated_since",)),
        ("patient", "patient", "phq9_item9",
         ("$.episode.measures[?@.instrument=='phq9'].item9",)),
        ("patient", "patient", "psychosis", ("$.patient.risk.psychosis",)),
        ("patient", "patient", "density", ()),
        # the patient's bridge_lost reads the same unknowns as the persons'
        ("patient", "patient", "bridge_lost", tuple(
            f"$.persons[?@.id=='{pid}'].{f}" for pid in ("bo", "mum")
            for f in ("deceased", "contact")
        )),
        # links are named by their sorted ends
        ("link", "bo~mum", "close", ("$.relationships[?@.a=='bo' && @.b=='mum'].close",)),
        ("link", "bo~zed", "close", ()),
    ],
)  # fmt: skip
def test_where_an_unknown_value_is_recorded(
    fact_type: str, fact_id: str, fld: str, paths: tuple[str, ...]
) -> None:
    # docs/incomplete-inventories.md: paths name list items by id, RFC 9535 filter syntax
    inv = parse_inventory(SOURCED)
    fact = derive_facts(inv).get(fact_type, fact_id) or {}
    assert SourceMap(inv).paths(fact_type, fact_id, fld, fact) == paths


def test_graph_features_for_fields() -> None:
    assert graph_features_for(["weakened_tie_count", "bridge_lost", "age"]) == {
        "weakened_ties",
        "bridge_persons_lost",
    }
    assert graph_features_for([]) == frozenset()


def test_every_fact_has_exactly_the_documented_fields() -> None:
    # FACT_TYPES is what the loader checks rules against and what the docs tables list:
    # each derived fact carries exactly those fields, with the recorded values as given
    assert {spec.type for fields in FACT_TYPES.values() for spec in fields.values()} <= {
        "bool", "int", "float", "str", "enum", "ids"
    }  # fmt: skip
    for fields in FACT_TYPES.values():
        for name, spec in fields.items():
            assert (spec.type == "enum") == bool(spec.values), name
            assert isinstance(spec.doc, str) and spec.doc, name  # the docs tables' text
    inv = parse_inventory(FULL)
    facts = derive_facts(inv)
    for fact_type, fact in facts.all():
        assert set(fact) == set(FACT_TYPES[fact_type]), fact_type
    person = facts.get("person", "mum")
    assert person is not None
    recorded = FULL["persons"][0]
    for fld, value in recorded.items():
        if fld in FACT_TYPES["person"] and fld != "changes_wanted":
            assert person[fld] == value, fld
    patient = facts.get("patient", "patient")
    assert patient is not None and patient["ucla3_total"] == 7
    event = facts.get("event", "move")
    assert event is not None
    assert (event["subject"], event["subject_role"], event["subject_ring"]) == (
        "mum",
        "parent",
        "inner",
    )
    assert (event["others"], event["name"]) == (("al", "bo"), "move (September 2025)")
    assert event["category"] in FACT_TYPES["event"]["category"].values


FULL: dict[str, Any] = {
    **BASE,
    "persons": [
        {"id": "mum", "role": "parent", "label": "Mum", "lives_with_patient": True,
         "ring": "inner", "contact": "weekly", "support": "high", "confidant": True,
         "conflict": "low", "knows_about_depression": False, "deceased": False,
         "patient_expectations_met": True, "other_expectations_met": False,
         "dispute_stage_evidence": "stalled", "quality_before_onset": "good",
         "quality_now": "fair"},
        {"id": "bo", "role": "friend"},
        {"id": "al", "role": "sibling"},
    ],
    "events": [
        {"id": "move", "kind": "move", "date": "2025-09", "subject": "mum", "others": ["bo", "al"],
         "valence": "negative", "maintains_episode": True},
    ],
    "relationships": [{"a": "mum", "b": "bo", "close": True}],
}  # fmt: skip
FULL["episode"] = {
    **BASE["episode"],
    "measures": [{"instrument": "ucla3", "date": "2026-01-15", "total": 7}],
}


def test_only_the_fact_types_and_graph_features_asked_for() -> None:
    # the engine derives only what a pack reads (pack.fact_types_used, graph_features_used);
    # a graph feature not computed reads as unknown, never as a guessed count
    inv = parse_inventory(FULL)
    everything = derive_facts(inv)
    patient = everything.get("patient", "patient")
    assert patient is not None and patient["network_size"] == 3
    only = derive_facts(inv, fact_types=["patient", "event"], features=[])
    assert sorted(only.by_type) == ["event", "patient"]
    bare = only.get("patient", "patient")
    assert bare is not None
    assert (bare["network_size"], bare["density"], bare["bridge_lost"]) == (None, None, False)
    sized = derive_facts(inv, fact_types=["patient"], features=["network_size"])
    assert sorted(sized.by_type) == ["patient"]
    assert sized.by_type["patient"][0]["network_size"] == 3
    assert sized.by_type["patient"][0]["density"] is None  # not asked for: not computed


# ---------------------------------------------------------------- open fields (sound bounds)
def _person(pid: str, **known: object) -> dict[str, object]:
    return {"id": pid, "role": "friend", **known}


def test_bridge_lost_is_open_exactly_while_a_death_or_contact_is_unknown() -> None:
    # docs/scoring.md: bridge_lost (patient and persons) is open while any person's death or
    # contact is unknown; it is a graph feature, so only when the feature is derived
    settled = {"deceased": False, "contact": "weekly"}
    complete = {**BASE, "persons": [_person("ana", **settled), _person("bo", **settled)]}
    partial = {**BASE, "persons": [_person("ana", **settled), _person("bo", deceased=False)]}
    everything = derive_facts(parse_inventory(partial))
    assert everything.open[("person", "ana")] == {"bridge_lost"}
    assert everything.open[("person", "bo")] == {"bridge_lost"}
    assert "bridge_lost" in everything.open[("patient", "patient")]
    assert not any(
        "bridge_lost" in v for v in derive_facts(parse_inventory(complete)).open.values()
    )
    counts_only = derive_facts(parse_inventory(partial), features=["confidant_count"])
    assert not any("bridge_lost" in v for v in counts_only.open.values())
    assert derive_facts(parse_inventory(partial), features=[]).open == {}
    no_patient = derive_facts(parse_inventory(partial), fact_types=["person"])
    assert ("patient", "patient") not in no_patient.open
    # a pack that reads only patient facts: the patient's bridge_lost is open, and no
    # person fact that was not derived is named
    patient_only = derive_facts(parse_inventory(partial), fact_types=["patient"])
    assert "bridge_lost" in patient_only.open[("patient", "patient")]
    assert {t for t, _ in patient_only.open} == {"patient"}


def test_a_path_names_the_person_it_is_about() -> None:
    inv = parse_inventory({**BASE, "persons": [_person("mum"), _person("mum2")]})
    sources = SourceMap(inv)
    assert sources.person_of("$.persons[?@.id=='mum'].ring") == "mum"
    assert sources.person_of("$.persons[?@.id=='mum2'].contact") == "mum2"
    assert sources.person_of("$.persons[?@.id=='nobody'].ring") is None
    assert sources.person_of("$.events[?@.id=='mum'].date") is None
    assert sources.person_of("$.patient_view.most_important_person") is None


def _open_patient_counts(inv: Inventory) -> frozenset[str]:
    return derive_facts(inv).open.get(("patient", "patient"), frozenset())


# every person value known except those named: which patient counts may still change
KNOWN = {"deceased": False, "contact": "weekly", "ring": "outer", "confidant": False,
         "support": "none", "conflict": "none", "quality_before_onset": "fair",
         "quality_now": "fair"}  # fmt: skip
COUNTED = {
    **BASE,
    "persons": [
        _person("ana", **KNOWN),
        # confidant and quality now unknown: whether bo is a confidant (counted, or counted
        # as unknown) and whether the tie weakened (fair before) are open
        _person("bo", **{**KNOWN, "confidant": None, "quality_now": None}),
        # dead: unknown ring, confidant or support change no count of the living
        _person("cy", deceased=True, contact="none", quality_before_onset="good"),
        # no contact now, quality before onset unknown: a lost tie once that is recorded
        _person("dee", **{**KNOWN, "contact": "none", "quality_before_onset": None}),
    ],
}


def test_a_count_is_open_exactly_where_an_unknown_person_value_may_change_it() -> None:
    # docs/scoring.md, counts over unknown values: the possible reading widens only the
    # counts an unknown value can move; a known value, or a dead person's unknowns for a
    # count of the living, never opens one
    inv = parse_inventory(COUNTED)
    assert _open_patient_counts(inv) == {
        "confidant_count", "confidant_unknown", "weakened_tie_count", "lost_tie_count"
    }  # fmt: skip
    settled = {**COUNTED, "persons": [_person("ana", **KNOWN)]}
    assert _open_patient_counts(parse_inventory(settled)) == frozenset()
    # an unknown death opens the count of the living and of the lost (and the bridges,
    # which read deaths), not the counts of an outer, unsupportive non-confidant
    unsure = {**COUNTED, "persons": [_person("ana", **{**KNOWN, "deceased": None})]}
    assert _open_patient_counts(parse_inventory(unsure)) == {
        "network_size", "lost_tie_count", "bridge_lost"
    }  # fmt: skip


BO, DEE = "$.persons[?@.id=='bo']", "$.persons[?@.id=='dee']"


@pytest.mark.parametrize(
    ("fld", "paths"),
    [
        ("confidant_count", (f"{BO}.confidant",)),  # bo's death is known: not asked
        ("confidant_unknown", (f"{BO}.confidant",)),
        # dee's tie, fair now, weakened if it was good before
        ("weakened_tie_count", (f"{BO}.quality_now", f"{DEE}.quality_before_onset")),
        ("lost_tie_count", (f"{DEE}.quality_before_onset",)),
        ("network_size", ()),  # every death known
        ("inner_circle_size", ()),
    ],
)
def test_a_count_is_recorded_by_the_unknown_values_behind_it(
    fld: str, paths: tuple[str, ...]
) -> None:
    # docs/incomplete-inventories.md: what to record to settle a count is each unknown value
    # of the persons it may count, and nothing already known
    inv = parse_inventory(COUNTED)
    fact = derive_facts(inv).get("patient", "patient") or {}
    assert SourceMap(inv).paths("patient", "patient", fld, fact) == paths


BRIDGED = {
    **BASE,
    "persons": [
        # the late spouse was the patient's only link to her family
        _person("sam", role="spouse_partner", deceased=True, contact="none"),
        _person("ila", role="other_family", deceased=False, contact="none"),
        _person("bo", deceased=False, contact="weekly"),
    ],
    "relationships": [{"a": "sam", "b": "ila"}],
}


def test_a_lost_bridge_is_named_on_the_patient_and_on_the_person() -> None:
    # FACT_TYPES: bridge_lost, "a lost person was the patient's bridge to others"
    # (graph.bridge_persons_lost): the late spouse was the only way to the in-law
    inv = parse_inventory(BRIDGED)
    facts = derive_facts(inv)
    assert facts.graph_features["bridge_persons_lost"] == ("sam",)
    patient = facts.get("patient", "patient")
    assert patient is not None and patient["bridge_lost"] is True
    assert {f["id"]: f["bridge_lost"] for f in facts.by_type["person"]} == {
        "bo": False, "ila": False, "sam": True
    }  # fmt: skip
    # the facts of a type do not depend on which other types a pack reads
    for fact_type in ("patient", "person", "event", "link"):
        alone = derive_facts(inv, fact_types=[fact_type])
        assert alone.by_type == {fact_type: facts.by_type[fact_type]}, fact_type
    # a pack reading neither patient nor person facts needs no graph features
    assert derive_facts(inv, fact_types=["event", "link"]).graph_features == {}
    # a fact type not derived has no facts
    assert alone.get("patient", "patient") is None


def test_events_and_measures_carry_what_was_recorded() -> None:
    inv = parse_inventory(
        {
            **BASE,
            "episode": {
                **BASE["episode"],
                "measures": [{"instrument": "sas_sr", "date": "2026-01-15", "mean": 2.5}],
            },
            "events": [
                {"id": "div", "kind": "divorce"},
                {"id": "job", "kind": "job_loss"},
                {"id": "wed", "kind": "marriage"},
                {"id": "gone", "kind": "death"},
                # the dates settle the order: the clinician's "around onset" fills only what
                # they leave open (3 months after onset is after it)
                {"id": "late", "kind": "move", "months_before_onset": -3,
                 "onset_relation": "around"},
            ],
        }
    )  # fmt: skip
    facts = derive_facts(inv)
    patient = facts.get("patient", "patient")
    assert patient is not None and patient["sas_sr_mean"] == 2.5
    events = {f["id"]: f for f in facts.by_type["event"]}
    # FACT_TYPES: non_death_loss, "a loss without a death (divorce, job loss, ...)"
    assert {i: f["non_death_loss"] for i, f in events.items()} == {
        "div": True, "job": True, "wed": False, "gone": False, "late": False
    }  # fmt: skip
    assert (events["late"]["recent"], events["late"]["after_onset"]) == (False, True)


def test_with_no_tolerance_an_event_on_the_last_possible_onset_day_is_not_placed() -> None:
    # onset some day in October; the event on 31 October may be before or on the onset day:
    # neither recent nor not, neither after onset nor not (unknown stays unknown)
    inv = parse_inventory(
        {
            **BASE,
            "episode": {**BASE["episode"], "onset": "2025-10"},
            "events": [{"id": "e", "kind": "move", "date": "2025-10-31"}],
        }
    )
    event = derive_facts(inv, {"onset_tolerance_months": 0}).get("event", "e")
    assert event is not None
    assert (event["recent"], event["after_onset"]) == (None, None)
