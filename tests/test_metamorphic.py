"""The metamorphic helpers of ``ipt_formulate.testing``: valid output, the stated changes
and nothing else."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipt_formulate.inventory import Inventory, parse_inventory
from ipt_formulate.testing import (
    EVIDENCE_AREAS,
    has_death,
    has_dispute,
    has_recent_transition,
    inventories,
    permuted,
    relabelled,
    rename_ids,
    with_added_evidence,
    with_unrelated_acquaintance,
)

CI = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
RANDOMS = st.randoms(use_true_random=True)  # one seed per example, cheap to shrink
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))


def valid(inv: Inventory) -> Inventory:
    assert parse_inventory(inv.model_dump_json()) == inv
    return inv


def canonical(inv: Inventory) -> dict[str, Any]:
    """The inventory with every meaningless order removed."""
    d = inv.model_dump(mode="json")
    for p in d["persons"]:
        p["changes_wanted"] = sorted(p["changes_wanted"])
    for e in d["events"]:
        e["others"] = sorted(e["others"])
    for link in d["relationships"]:
        link["a"], link["b"] = sorted((link["a"], link["b"]))
    d["persons"].sort(key=lambda p: p["id"])
    d["events"].sort(key=lambda e: e["id"])
    d["relationships"].sort(key=lambda link: (link["a"], link["b"]))
    d["episode"]["measures"].sort(key=lambda m: m["instrument"])
    d["patient"]["populations"].sort()
    return d


def ids_of(inv: Inventory) -> set[str]:
    return {p.id for p in inv.persons} | {e.id for e in inv.events}


def referenced_ids(inv: Inventory) -> set[str]:
    refs = {r for link in inv.relationships for r in (link.a, link.b)}
    for e in inv.events:
        refs |= set(e.others) | ({e.subject} if e.subject else set())
    if inv.patient_view is not None:
        view = inv.patient_view
        refs |= {r for r in (view.most_important_person, view.most_important_event) if r}
    return refs


def signature(inv: Inventory) -> tuple[bool, ...]:
    return tuple(
        f(inv, certain=c)
        for f in (has_death, has_dispute, has_recent_transition)
        for c in (True, False)
    )


@pytest.fixture(params=[p.stem for p in EXAMPLES])
def example(request: pytest.FixtureRequest) -> Inventory:
    path = next(p for p in EXAMPLES if p.stem == request.param)
    return parse_inventory(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- permuted
@CI
@given(inventories(max_persons=6, max_events=6), RANDOMS)
def test_permuted_only_reorders(inv: Inventory, rnd: random.Random) -> None:
    new = valid(permuted(inv, rnd))
    assert canonical(new) == canonical(inv)
    assert signature(new) == signature(inv)


@CI
@given(inventories(min_persons=2), RANDOMS)
def test_permuted_can_keep_link_ends(inv: Inventory, rnd: random.Random) -> None:
    new = permuted(inv, rnd, swap_link_ends=False)
    assert {(x.a, x.b) for x in new.relationships} == {(x.a, x.b) for x in inv.relationships}


def test_permuted_really_shuffles() -> None:
    inv = parse_inventory(
        {
            "episode": {"assessment_date": "2024-01-01"},
            "persons": [{"id": f"p{i}", "role": "friend"} for i in range(8)],
        }
    )
    orders = {tuple(p.id for p in permuted(inv, random.Random(seed)).persons) for seed in range(5)}
    assert len(orders) > 1


# ---------------------------------------------------------------- relabelled
@CI
@given(inventories(max_persons=6, max_events=6), RANDOMS)
def test_relabelled_renames_every_id_everywhere(inv: Inventory, rnd: random.Random) -> None:
    new, mapping = relabelled(inv, rnd)
    valid(new)
    old_ids = ids_of(inv)
    # a bijection from the old ids onto fresh ones
    assert set(mapping) == old_ids
    assert len(set(mapping.values())) == len(mapping)
    assert not set(mapping.values()) & old_ids
    assert ids_of(new) == set(mapping.values())
    # applied everywhere: no reference is left behind, and renaming back restores the input
    assert referenced_ids(new) <= ids_of(new)
    inverse = {v: k for k, v in mapping.items()}
    assert rename_ids(new.model_dump(mode="json"), inverse) == inv.model_dump(mode="json")
    assert signature(new) == signature(inv)


def test_relabelled_is_reproducible(example: Inventory) -> None:
    a = relabelled(example, random.Random(7))
    b = relabelled(example, random.Random(7))
    assert a == b
    assert a[0] != example or not ids_of(example)


def test_rename_ids_handles_nested_values() -> None:
    value = {"p1": ["p1", ("e1", 3)], "x": {"y": "p1x"}}
    assert rename_ids(value, {"p1": "A", "e1": "B"}) == {"A": ["A", ("B", 3)], "x": {"y": "p1x"}}


# ---------------------------------------------------------------- acquaintance
@CI
@given(inventories(), RANDOMS | st.none())
def test_unrelated_acquaintance(inv: Inventory, rnd: random.Random | None) -> None:
    new = valid(with_unrelated_acquaintance(inv, rnd))
    (added,) = [p for p in new.persons if p.id not in ids_of(inv)]
    assert (added.ring, added.contact, added.conflict, added.deceased) == (
        "outer",
        "rarely",
        "none",
        False,
    )
    assert added.id not in referenced_ids(new)
    assert [p for p in new.persons if p.id != added.id] == list(inv.persons)
    assert (new.events, new.relationships) == (inv.events, inv.relationships)
    assert signature(new) == signature(inv)
    if rnd is None:
        assert new.persons[-1] == added and added.role == "neighbour"


# ---------------------------------------------------------------- added evidence
@CI
@given(inventories(), st.sampled_from(EVIDENCE_AREAS))
def test_added_evidence_adds_one_supporting_fact(inv: Inventory, area: Any) -> None:
    new = valid(with_added_evidence(inv, area))
    old, now = inv.model_dump(mode="json"), new.model_dump(mode="json")
    added_persons = now["persons"][len(old["persons"]) :]
    added_events = now["events"][len(old["events"]) :]
    # the original facts are all still there, unchanged
    assert now["persons"][: len(old["persons"])] == old["persons"]
    assert now["events"][: len(old["events"])] == old["events"]
    assert {k: v for k, v in now.items() if k not in ("persons", "events")} == {
        k: v for k, v in old.items() if k not in ("persons", "events")
    }
    if area == "grief":
        assert [p["ring"] for p in added_persons] == ["inner"]
        assert [e["kind"] for e in added_events] == ["death"]
        assert has_death(new)
    elif area == "role_dispute":
        assert len(added_persons) == 1 and not added_events
        assert has_dispute(new)
    else:
        assert not added_persons and [e["kind"] for e in added_events] == ["job_loss"]
        assert has_recent_transition(new) or inv.onset_bounds() is None
        assert added_events[0]["maintains_episode"] is True  # linked even without onset


@pytest.mark.parametrize("pack_name", ["ipt-core", "ipsrt"])
def test_added_transition_evidence_supports_even_without_onset(pack_name: str) -> None:
    """Regression (found by the deep check_pack profile on ipsrt): with onset unknown, a job
    loss of unknown recency blocked the iatrogenic-transition rule without supporting any
    transition rule, so "adding evidence" lowered the area's score from 0.35 to nothing."""
    from ipt_formulate import formulate, load_pack

    pack = load_pack(Path(__file__).resolve().parents[1] / "rules" / pack_name)
    inv = parse_inventory(
        {"patient": {"course": "chronic"}, "episode": {"assessment_date": "2000-01-01"}}
    )

    def best(i: Inventory) -> float | None:
        f = formulate(i, pack, engine="compiled")
        return next((h.score for h in f.hypotheses if h.area == "role_transition"), None)

    before, after = best(inv), best(with_added_evidence(inv, "role_transition"))
    assert after is not None and (before is None or after >= before)


@pytest.mark.parametrize("area", EVIDENCE_AREAS)
def test_added_evidence_on_the_examples(example: Inventory, area: Any) -> None:
    new = valid(with_added_evidence(example, area))
    assert len(new.persons) + len(new.events) > len(example.persons) + len(example.events)
    twice = valid(with_added_evidence(new, area))  # fresh ids again, still valid
    assert len(ids_of(twice)) > len(ids_of(new))


def test_added_evidence_rejects_unknown_areas(example: Inventory) -> None:
    with pytest.raises(ValueError, match="area must be one of"):
        with_added_evidence(example, "interpersonal_deficits")  # type: ignore[arg-type]


# ---------------------------------------------------------------- all helpers
def test_helpers_leave_their_input_alone(example: Inventory) -> None:
    before = example.model_dump(mode="json")
    rnd = random.Random(1)
    permuted(example, rnd)
    relabelled(example, rnd)
    with_unrelated_acquaintance(example, rnd)
    for area in EVIDENCE_AREAS:
        with_added_evidence(example, area)
    assert example.model_dump(mode="json") == before


@CI
@given(inventories(), RANDOMS)
def test_helpers_compose(inv: Inventory, rnd: random.Random) -> None:
    new = with_added_evidence(with_unrelated_acquaintance(permuted(inv, rnd), rnd), "grief")
    renamed, mapping = relabelled(new, rnd)
    valid(renamed)
    assert len(mapping) == len(ids_of(inv)) + 3
