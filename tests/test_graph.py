"""Tests for the relationship-graph stage: graph shape, each feature against hand-computed
values, unknown handling, the bridge definition, input-order independence and export."""

from __future__ import annotations

import json
import random
from typing import Any

import networkx as nx
import pytest
from hypothesis import given

from conftest import derandomized
from ipt_formulate.graph import (
    FEATURES,
    PATIENT,
    bridge_persons_lost,
    build_graph,
    compute_features,
    confidant_count,
    conflictual_close_ties,
    density,
    inner_circle_size,
    inventory_features,
    lost_ties,
    network_size,
    supportive_ties,
    to_json,
    unknown_count,
    weakened_ties,
)
from ipt_formulate.inventory import Inventory, parse_inventory
from ipt_formulate.testing import inventories

EPISODE = {"assessment_date": "2026-01-10", "onset": "2025-11"}


def inventory(
    persons: list[dict[str, Any]] | None = None,
    relationships: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Inventory:
    return parse_inventory(
        {
            "episode": EPISODE,
            "persons": persons or [],
            "relationships": relationships or [],
            "events": events or [],
        }
    )


# A hand-made network; expected values below are worked out by hand.
#   sp  deceased spouse (inner, confidant) - linked to the in-law il
#   gm  grandparent who died (death event only; Person.deceased unknown)
#   mo  mother: inner, confidant, moderate support, high conflict, good -> fair
#   fr  friend: middle, not confidant, low support, moderate conflict, fair -> fair
#   co  coworker: outer, confidant/support unknown, high conflict, good -> poor
#   il  in-law: ring/confidant/support/conflict unknown, contact none, quality before fair
#   br  brother: inner, contact none, quality before unknown, linked to mo
PERSONS: list[dict[str, Any]] = [
    {
        "id": "sp",
        "role": "spouse_partner",
        "deceased": True,
        "ring": "inner",
        "confidant": True,
        "support": "high",
        "quality_before_onset": "good",
    },
    {"id": "gm", "role": "grandparent", "ring": "middle", "confidant": True, "support": "moderate"},
    {
        "id": "mo",
        "role": "parent",
        "ring": "inner",
        "contact": "weekly",
        "confidant": True,
        "support": "moderate",
        "conflict": "high",
        "quality_before_onset": "good",
        "quality_now": "fair",
        "lives_with_patient": False,
    },
    {
        "id": "fr",
        "role": "friend",
        "ring": "middle",
        "contact": "monthly",
        "confidant": False,
        "support": "low",
        "conflict": "moderate",
        "quality_before_onset": "fair",
        "quality_now": "fair",
    },
    {
        "id": "co",
        "role": "coworker",
        "ring": "outer",
        "contact": "daily",
        "conflict": "high",
        "quality_before_onset": "good",
        "quality_now": "poor",
    },
    {"id": "il", "role": "in_law", "contact": "none", "quality_before_onset": "fair"},
    {
        "id": "br",
        "role": "sibling",
        "ring": "inner",
        "contact": "none",
        "confidant": False,
        "support": "none",
        "conflict": "low",
    },
]
LINKS: list[dict[str, Any]] = [
    {"a": "sp", "b": "il", "close": True},
    {"a": "mo", "b": "br", "conflict": "high"},
    {"a": "fr", "b": "co"},
]
EVENTS: list[dict[str, Any]] = [
    {"id": "ev1", "kind": "death", "subject": "gm", "date": "2025-09"},
    {"id": "ev2", "kind": "job_loss", "months_before_onset": 2},
]

EXPECTED: dict[str, Any] = {
    "bridge_persons_lost": ("sp",),
    "confidant_count": 1,  # mo (sp and gm are confidants but deceased)
    "confidant_unknown": 2,  # co, il
    "conflict_unknown": 1,  # il
    "conflictual_close_ties": 2,  # mo (inner, high), fr (middle, moderate)
    "density": 0.357143,  # 8 nodes, 7 ties + 3 links: 2 * 10 / (8 * 7)
    "inner_circle_size": 2,  # mo, br
    "lost_ties": ("gm", "il", "sp"),  # two deaths; il contact none with quality known
    "network_size": 5,  # mo, fr, co, il, br
    "ring_unknown": 1,  # il
    "support_unknown": 2,  # co, il
    "supportive_ties": 1,  # mo
    "weakened_ties": ("co", "mo"),
}


@pytest.fixture
def g() -> nx.Graph[str]:
    return build_graph(inventory(PERSONS, LINKS, EVENTS))


# ---------------------------------------------------------------- graph shape
def test_nodes_and_kinds(g: nx.Graph[str]) -> None:
    assert sorted(g.nodes) == ["br", "co", "fr", "gm", "il", "mo", PATIENT, "sp"]
    assert g.nodes[PATIENT] == {"kind": "patient"}
    assert {g.nodes[n]["kind"] for n in g.nodes if n != PATIENT} == {"person"}
    mo = g.nodes["mo"]
    assert mo["role"] == "parent"
    assert mo["ring"] == "inner"
    assert mo["contact"] == "weekly"
    assert mo["support"] == "moderate"
    assert mo["confidant"] is True
    assert mo["conflict"] == "high"
    assert mo["quality_before_onset"] == "good"
    assert mo["quality_now"] == "fair"
    assert mo["lives_with_patient"] is False
    assert "id" not in mo


def test_person_nodes_carry_exactly_the_dumped_fields() -> None:
    """build_graph copies a person's fields without model_dump (speed); that equals the dump
    only while Person has no nested models: this fails if one is ever added."""
    inv = inventory(PERSONS, LINKS, EVENTS)
    g = build_graph(inv)
    for p in inv.persons:
        attrs = {k: v for k, v in g.nodes[p.id].items() if k != "kind"}
        dumped = p.model_dump(exclude={"id"})
        if attrs.get("deceased") is True:  # set from a death event or date_of_death
            dumped["deceased"] = True
        assert attrs == dumped


def test_deceased_from_flag_or_death_event(g: nx.Graph[str]) -> None:
    assert g.nodes["sp"]["deceased"] is True  # Person.deceased
    assert g.nodes["gm"]["deceased"] is True  # subject of a death event
    assert g.nodes["mo"]["deceased"] is None  # unknown stays unknown


def test_edges(g: nx.Graph[str]) -> None:
    kinds = [(u, v, d["kind"]) for u, v, d in g.edges(data=True)]
    ties = sorted(v if u == PATIENT else u for u, v, k in kinds if k == "tie")
    assert ties == ["br", "co", "fr", "gm", "il", "mo", "sp"]
    links = sorted(tuple(sorted((u, v))) for u, v, k in kinds if k == "link")
    assert links == [("br", "mo"), ("co", "fr"), ("il", "sp")]
    tie = g.edges[PATIENT, "mo"]
    assert tie["ring"] == "inner"
    assert tie["contact"] == "weekly"
    assert tie["confidant"] is True
    assert tie["conflict"] == "high"
    assert tie["quality_now"] == "fair"
    assert g.edges["br", "mo"] == {"kind": "link", "close": None, "conflict": "high"}
    assert g.edges["il", "sp"] == {"kind": "link", "close": True, "conflict": None}


# ---------------------------------------------------------------- features
def test_each_feature_function(g: nx.Graph[str]) -> None:
    assert inner_circle_size(g) == 2
    assert confidant_count(g) == 1
    assert supportive_ties(g) == 1
    assert conflictual_close_ties(g) == 2
    assert weakened_ties(g) == ("co", "mo")
    assert lost_ties(g) == ("gm", "il", "sp")
    assert bridge_persons_lost(g) == ("sp",)
    assert network_size(g) == 5
    assert density(g) == pytest.approx(0.357143, abs=0)


def test_compute_features_all(g: nx.Graph[str]) -> None:
    out = compute_features(g)
    assert out == EXPECTED
    assert list(out) == sorted(FEATURES)


def test_compute_features_only_requested(g: nx.Graph[str]) -> None:
    assert compute_features(g, ["network_size", "density"]) == {
        "density": 0.357143,
        "network_size": 5,
    }
    assert compute_features(g, []) == {}


def test_unknown_feature_is_an_error(g: nx.Graph[str]) -> None:
    with pytest.raises(ValueError, match=r"'confidants'.*valid features:.*confidant_count"):
        compute_features(g, ["network_size", "confidants"])


def test_unknown_count(g: nx.Graph[str]) -> None:
    assert unknown_count(g, "confidant") == 2
    assert unknown_count(g, "ring") == 1
    assert unknown_count(g, "quality_now") == 2  # il, br (sp has none but is deceased)
    with pytest.raises(ValueError, match="'confident'"):
        unknown_count(g, "confident")


def test_unknown_is_not_no() -> None:
    """All-unknown persons count as neither confidant nor non-confidant, and so on."""
    inv = inventory([{"id": "a", "role": "friend"}, {"id": "b", "role": "friend"}])
    out = compute_features(build_graph(inv))
    assert out["confidant_count"] == 0
    assert out["confidant_unknown"] == 2
    assert out["ring_unknown"] == 2
    assert out["support_unknown"] == 2
    assert out["conflict_unknown"] == 2
    assert out["inner_circle_size"] == 0
    assert out["weakened_ties"] == ()
    assert out["lost_ties"] == ()
    assert out["bridge_persons_lost"] == ()
    assert out["network_size"] == 2
    # with known "no" values the unknown counts drop to 0
    known = inventory(
        [
            {"id": "a", "role": "friend", "confidant": False, "ring": "outer"},
            {"id": "b", "role": "friend", "confidant": False, "ring": "outer"},
        ]
    )
    out = compute_features(build_graph(known), ["confidant_count", "confidant_unknown"])
    assert out == {"confidant_count": 0, "confidant_unknown": 0}


def test_weakened_needs_both_qualities_and_a_living_person() -> None:
    inv = inventory(
        [
            {"id": "a", "role": "friend", "quality_before_onset": "good"},
            {"id": "b", "role": "friend", "quality_now": "poor"},
            {"id": "c", "role": "friend", "quality_before_onset": "fair", "quality_now": "good"},
            {"id": "d", "role": "friend", "quality_before_onset": "fair", "quality_now": "poor"},
            {
                "id": "e",
                "role": "friend",
                "deceased": True,
                "quality_before_onset": "good",
                "quality_now": "poor",
            },
        ]
    )
    assert weakened_ties(build_graph(inv)) == ("d",)


def test_lost_ties_contact_none_needs_known_quality_before() -> None:
    inv = inventory(
        [
            {"id": "a", "role": "friend", "contact": "none"},
            {"id": "b", "role": "friend", "contact": "none", "quality_before_onset": "poor"},
            {"id": "c", "role": "friend", "contact": "rarely", "quality_before_onset": "good"},
            {"id": "d", "role": "friend", "deceased": False, "quality_before_onset": "good"},
        ]
    )
    assert lost_ties(build_graph(inv)) == ("b",)


def test_empty_inventory() -> None:
    out = compute_features(build_graph(inventory()))
    assert out["network_size"] == 0
    assert out["density"] == 0.0
    assert out["bridge_persons_lost"] == ()
    assert out["confidant_unknown"] == 0


# ---------------------------------------------------------------- bridge definition
def _spouse_and_in_law(
    in_law: dict[str, Any], extra_links: list[dict[str, Any]] | None = None
) -> nx.Graph[str]:
    persons = [
        {"id": "sp", "role": "spouse_partner", "deceased": True},
        {"id": "il", "role": "in_law", **in_law},
        {"id": "fr", "role": "friend", "contact": "weekly"},
    ]
    links = [{"a": "sp", "b": "il"}, *(extra_links or [])]
    return build_graph(inventory(persons, links))


def test_bridge_positive_deceased_spouse_to_in_law() -> None:
    assert bridge_persons_lost(_spouse_and_in_law({"contact": "none"})) == ("sp",)


def test_bridge_negative_patient_still_in_contact() -> None:
    assert bridge_persons_lost(_spouse_and_in_law({"contact": "monthly"})) == ()


def test_bridge_negative_unknown_contact_counts_as_a_tie() -> None:
    assert bridge_persons_lost(_spouse_and_in_law({})) == ()


def test_bridge_negative_other_path_through_a_living_person() -> None:
    g = _spouse_and_in_law({"contact": "none"}, [{"a": "fr", "b": "il"}])
    assert bridge_persons_lost(g) == ()


def test_bridge_negative_only_deceased_beyond() -> None:
    persons = [
        {"id": "sp", "role": "spouse_partner", "deceased": True},
        {"id": "fil", "role": "in_law", "deceased": True},
    ]
    g = build_graph(inventory(persons, [{"a": "sp", "b": "fil"}]))
    assert bridge_persons_lost(g) == ()


def test_bridge_positive_living_estranged_person() -> None:
    # Estranged son (contact none) is the only way to the grandchild; the daughter knows the
    # son, so the grandchild, though lost too, bridges to no one new.
    persons = [
        {"id": "son", "role": "child", "contact": "none"},
        {"id": "gc", "role": "grandchild", "contact": "none"},
        {"id": "dau", "role": "child", "contact": "daily"},
    ]
    links = [{"a": "son", "b": "gc"}, {"a": "dau", "b": "son"}]
    assert bridge_persons_lost(build_graph(inventory(persons, links))) == ("son",)


def test_bridge_each_of_two_lost_paths_counts() -> None:
    persons = [
        {"id": "fa", "role": "parent", "deceased": True},
        {"id": "mo", "role": "parent", "deceased": True},
        {"id": "au", "role": "other_family", "contact": "none"},
    ]
    links = [{"a": "fa", "b": "au"}, {"a": "mo", "b": "au"}]
    assert bridge_persons_lost(build_graph(inventory(persons, links))) == ("fa", "mo")


def test_bridge_requires_a_lost_person() -> None:
    # A living, in-contact person is never in bridge_persons_lost, even as the only path.
    persons = [
        {"id": "sp", "role": "spouse_partner", "contact": "daily"},
        {"id": "il", "role": "in_law", "contact": "none"},
    ]
    g = build_graph(inventory(persons, [{"a": "sp", "b": "il"}]))
    assert bridge_persons_lost(g) == ()


# ---------------------------------------------------------------- determinism and export
def _node_edge_data(g: nx.Graph[str]) -> tuple[list[Any], list[Any]]:
    nodes = list(g.nodes(data=True))
    edges = [(u, v, d) for u, v, d in g.edges(data=True)]
    return nodes, edges


@pytest.mark.parametrize("seed", range(5))
def test_input_order_independence(seed: int) -> None:
    rng = random.Random(seed)
    persons = PERSONS[:]
    links = [dict(link) for link in LINKS]
    events = EVENTS[:]
    rng.shuffle(persons)
    rng.shuffle(links)
    rng.shuffle(events)
    for link in links:
        if rng.random() < 0.5:
            link["a"], link["b"] = link["b"], link["a"]
    shuffled = build_graph(inventory(persons, links, events))
    reference = build_graph(inventory(PERSONS, LINKS, EVENTS))
    assert _node_edge_data(shuffled) == _node_edge_data(reference)
    assert json.dumps(to_json(shuffled)) == json.dumps(to_json(reference))
    assert compute_features(shuffled) == EXPECTED


def test_to_json_is_sorted_and_round_trips(g: nx.Graph[str]) -> None:
    data = to_json(g)
    ids = [n["id"] for n in data["nodes"]]
    assert ids == [PATIENT, "br", "co", "fr", "gm", "il", "mo", "sp"]
    pairs = [(e["source"], e["target"]) for e in data["edges"]]
    assert pairs[:7] == [(PATIENT, i) for i in ids[1:]]
    assert pairs[7:] == [("br", "mo"), ("co", "fr"), ("il", "sp")]
    for item in [*data["nodes"], *data["edges"]]:
        assert list(item) == sorted(item)
    back = nx.node_link_graph(json.loads(json.dumps(data)), edges="edges")
    assert sorted(back.nodes) == sorted(g.nodes)
    assert back.number_of_edges() == g.number_of_edges() == 10
    assert back.nodes["mo"]["ring"] == "inner"
    assert back.edges["sp", "il"]["close"] is True


@derandomized(60)
@given(inventories(max_persons=8, max_events=6, max_relationships=6))
def test_features_without_the_graph_equal_the_graph_features(inv: Inventory) -> None:
    """``inventory_features`` (no networkx graph when every feature is per person) gives the
    features of the built graph, for every feature alone and for all of them together."""
    want = compute_features(build_graph(inv))
    for name in FEATURES:
        assert inventory_features(inv, [name]) == {name: want[name]}
    assert inventory_features(inv, FEATURES) == want
    per_person = [n for n in FEATURES if n not in {"bridge_persons_lost", "density"}]
    assert inventory_features(inv, per_person) == {n: want[n] for n in sorted(per_person)}
