"""Bounded cost on hostile input (issue #12): input limits, duplicate keys, ASCII dates,
linear graph features. Rule-pack loader limits are in tests/test_rulepack_limits.py."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ipt_formulate as ipt
from ipt_formulate.errors import (
    InputError,
    InputTooLargeError,
    InventorySchemaError,
    MalformedInputError,
)
from ipt_formulate.graph import PATIENT, bridge_persons_lost, build_graph
from ipt_formulate.limits import DEFAULT_LIMITS, ENV_VAR, Limits, current_limits
from ipt_formulate.testing import inventories

ROOT = Path(__file__).resolve().parents[1]
GRIEF = (ROOT / "examples" / "grief.json").read_text(encoding="utf-8")


def _grief() -> dict[str, Any]:
    return json.loads(GRIEF)  # type: ignore[no-any-return]


def _persons(n: int) -> list[dict[str, Any]]:
    return [{"id": f"p{i}", "ring": "outer"} for i in range(n)]


# ---------------------------------------------------------------- limits
def test_defaults_are_documented_values() -> None:
    documented = Limits(
        max_bytes=5_000_000,
        max_persons=1_000,
        max_events=2_000,
        max_relationships=5_000,
        max_issues=100,
    )
    assert documented == DEFAULT_LIMITS


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_bytes_over_limit_is_rejected_before_parsing(kind: str) -> None:
    text = " " * 6_000_000 + "{"  # not even JSON: the size is checked first
    data: str | bytes = text if kind == "str" else text.encode()
    with pytest.raises(InputTooLargeError) as err:
        ipt.parse_inventory(data)
    e = err.value
    assert (e.code, e.limit, e.value, e.actual) == (
        "input.too_large",
        "max_bytes",
        5_000_000,
        6_000_001,
    )
    assert isinstance(e, InputError)
    assert "Limits(max_bytes=...)" in e.message and "--limit max_bytes=N" in e.message
    assert e.to_dict()["limit"] == "max_bytes"


def test_multibyte_text_is_measured_in_utf8_bytes() -> None:
    d = _grief()
    d["patient_view"] = {"note": "é" * 1_500}  # 1,500 characters, 3,000 bytes
    text = json.dumps(d, ensure_ascii=False)
    size = len(text.encode())
    ipt.parse_inventory(text, limits=Limits(max_bytes=size))
    with pytest.raises(InputTooLargeError):
        ipt.parse_inventory(text, limits=Limits(max_bytes=size - 1))


@pytest.mark.parametrize(
    ("key", "limit"),
    [("persons", "max_persons"), ("events", "max_events"), ("relationships", "max_relationships")],
)
@pytest.mark.parametrize("as_text", [True, False])
def test_list_lengths_over_limit(key: str, limit: str, as_text: bool) -> None:
    d = _grief()
    d[key] = [{}] * 11  # invalid items: the count is checked before validation
    with pytest.raises(InputTooLargeError) as err:
        ipt.parse_inventory(json.dumps(d) if as_text else d, limits=Limits(**{limit: 10}))
    assert (err.value.limit, err.value.actual) == (limit, 11)


def test_limit_raised_per_call_and_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    d = _grief()
    n = len(d["persons"])
    with pytest.raises(InputTooLargeError):
        ipt.parse_inventory(d, limits=Limits(max_persons=n - 1))
    monkeypatch.setenv(ENV_VAR, f"max_persons={n - 1}, max_issues=5")
    assert current_limits() == Limits(max_persons=n - 1, max_issues=5)
    with pytest.raises(InputTooLargeError):
        ipt.formulate(d)
    assert ipt.formulate(d, limits=Limits()).primary is not None
    monkeypatch.setenv(ENV_VAR, "max_persons=lots")
    with pytest.raises(InputError, match="whole number") as err:
        ipt.parse_inventory(d)
    assert err.value.code == "limits.invalid"


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(bad: Any) -> None:
    with pytest.raises(InputError, match="positive integer"):
        Limits(max_persons=bad)


def test_huge_unknown_key_is_not_echoed() -> None:
    d = _grief()
    d["k" * 1_000_000] = 1
    with pytest.raises(InventorySchemaError) as err:
        ipt.parse_inventory(json.dumps(d))
    assert len(str(err.value)) < 500
    assert err.value.issues[0].path == "$." + "k" * 32 + "…(1,000,000 chars)"


def test_many_unknown_keys_are_reported_fast_and_capped() -> None:
    d = _grief()
    for i in range(200_000):
        d[f"k{i}"] = 0
    text = json.dumps(d)
    with pytest.raises(InventorySchemaError) as err:  # time: benchmarks/bench_limits.py
        ipt.parse_inventory(text)
    issues = err.value.issues
    assert len(issues) == 101
    assert issues[0].path == "$.k0"
    assert issues[-1].code == "inventory.more_issues"
    assert "199,900 more issue(s)" in issues[-1].message
    assert "(and 199,999 more issue(s))" in err.value.message


# ---------------------------------------------------------------- duplicate keys, dates
def test_duplicate_keys_are_an_error_with_their_path() -> None:
    text = GRIEF.replace('"persons": [', '"persons": [{"id": "x", "id": "y"}, ', 1)
    text = text.replace("{", '{"id": "a", "id": "a", ', 1)
    with pytest.raises(InventorySchemaError) as err:
        ipt.parse_inventory(text)
    assert err.value.code == "inventory.duplicate_key"
    assert [(i.path, i.code) for i in err.value.issues] == [
        ("$.id", "inventory.duplicate_key"),
        ("$.persons[0].id", "inventory.duplicate_key"),
    ]


def test_duplicate_keys_deep_in_the_input_do_not_recurse() -> None:
    text = '{"a": ' * 900 + '{"k": 1, "k": 2}' + "}" * 900
    with pytest.raises(InventorySchemaError) as err:  # the walk is iterative
        ipt.parse_inventory(text)
    assert err.value.issues[0].path == "$" + ".a" * 900 + ".k"
    with pytest.raises(MalformedInputError, match="nested too deeply"):
        ipt.parse_inventory('{"a": ' * 100_000 + "1" + "}" * 100_000)


@pytest.mark.parametrize(
    "day",
    ["\u0662\u0660\u0661\u0669", "\uff12\uff10\uff11\uff19-01", "2019-\u0660\u0661-01"],
)
def test_dates_accept_ascii_digits_only(day: str) -> None:
    d = _grief()
    d["episode"]["onset"] = day
    with pytest.raises(InventorySchemaError) as err:
        ipt.parse_inventory(json.dumps(d, ensure_ascii=False))
    assert (err.value.issues[0].path, err.value.code) == ("$.episode.onset", "inventory.bad_format")


def test_schema_date_pattern_is_ascii() -> None:
    schema = json.dumps(ipt.inventory_json_schema())
    assert "[0-9]{4}" in schema and "\\\\d" not in schema


# ---------------------------------------------------------------- graph: bridge_persons_lost
def _bridge_by_copies(g: nx.Graph[str]) -> tuple[str, ...]:
    """The definition as first written: one copy of the graph per lost person (quadratic)."""
    living = {
        n
        for n, d in g.nodes(data=True)
        if d.get("kind") == "person" and d.get("deceased") is not True
    }
    base: nx.Graph[str] = nx.Graph()
    base.add_node(PATIENT)
    for n in sorted(living):
        base.add_node(n)
        if g.nodes[n].get("contact") != "none":
            base.add_edge(PATIENT, n)
    for u, v, data in g.edges(data=True):
        if data.get("kind") == "link" and u in living and v in living:
            base.add_edge(u, v)
    out = []
    for lost in sorted(g.nodes):
        d = g.nodes[lost]
        if d.get("kind") != "person" or not (
            d.get("deceased") is True or d.get("contact") == "none"
        ):
            continue
        without = base.subgraph(n for n in base if n != lost)
        reach_without = nx.node_connected_component(without, PATIENT)
        restored: nx.Graph[str] = nx.Graph(without)
        restored.add_edge(PATIENT, lost)
        for other in g.neighbors(lost):
            if other in living and g.edges[lost, other].get("kind") == "link":
                restored.add_edge(lost, other)
        if nx.node_connected_component(restored, PATIENT) - reach_without - {lost}:
            out.append(lost)
    return tuple(out)


def _random_graph(rnd: random.Random, n: int, p_link: float) -> nx.Graph[str]:
    g: nx.Graph[str] = nx.Graph()
    g.add_node(PATIENT, kind="patient")
    ids = [f"p{i:03d}" for i in range(n)]
    for pid in ids:
        g.add_node(
            pid,
            kind="person",
            deceased=rnd.choice([True, False, None, None]),
            contact=rnd.choice(["none", "none", "weekly", None]),
        )
        g.add_edge(PATIENT, pid, kind="tie")
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if rnd.random() < p_link:
                g.add_edge(a, b, kind="link")
    return g


@pytest.mark.parametrize("seed", range(60))
def test_bridge_matches_the_copying_definition_on_random_graphs(seed: int) -> None:
    rnd = random.Random(seed)
    g = _random_graph(rnd, rnd.randint(1, 25), rnd.choice([0.03, 0.08, 0.15, 0.3]))
    assert bridge_persons_lost(g) == _bridge_by_copies(g)


@settings(max_examples=60, deadline=None)
@given(inventories())
def test_bridge_matches_the_copying_definition_on_inventories(inv: ipt.Inventory) -> None:
    g = build_graph(inv)
    assert bridge_persons_lost(g) == _bridge_by_copies(g)


def _chain_graph(n: int) -> nx.Graph[str]:
    """Half the persons lost (contact none), linked in a chain: the old code's worst case."""
    g: nx.Graph[str] = nx.Graph()
    g.add_node(PATIENT, kind="patient")
    for i in range(n):
        g.add_node(f"p{i}", kind="person", deceased=False, contact="none" if i % 2 else "weekly")
        g.add_edge(PATIENT, f"p{i}", kind="tie")
        if i:
            g.add_edge(f"p{i - 1}", f"p{i}", kind="link")
    return g


def test_bridge_is_linear_at_ten_thousand_persons(monkeypatch: pytest.MonkeyPatch) -> None:
    # linear by construction: one connected-component and one articulation-point pass,
    # never a graph copy per lost person (5,000 of them here); times: bench_limits.py
    calls = {"articulation_points": 0, "copy": 0}
    real_ap, real_copy = nx.articulation_points, nx.Graph.copy

    def ap(*args: Any, **kwargs: Any) -> Any:
        calls["articulation_points"] += 1
        return real_ap(*args, **kwargs)

    def copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["copy"] += 1
        return real_copy(self, *args, **kwargs)

    monkeypatch.setattr(nx, "articulation_points", ap)
    monkeypatch.setattr(nx.Graph, "copy", copy)
    g = _chain_graph(10_000)
    out = bridge_persons_lost(g)
    assert calls == {"articulation_points": 1, "copy": 0}
    assert out == ()  # every other person keeps a tie: nobody is cut off
    g.nodes["p9998"]["contact"] = "none"  # p9998 and p9999 now reach the patient via p9997
    assert bridge_persons_lost(g) == ("p9997", "p9998")


@st.composite
def _link_lists(draw: st.DrawFn) -> nx.Graph[str]:
    rnd = random.Random(draw(st.integers(0, 2**32)))
    return _random_graph(rnd, draw(st.integers(0, 12)), draw(st.sampled_from([0.1, 0.25, 0.5])))


@settings(max_examples=100, deadline=None)
@given(_link_lists())
def test_bridge_matches_on_small_dense_graphs(g: nx.Graph[str]) -> None:
    assert bridge_persons_lost(g) == _bridge_by_copies(g)


# ---------------------------------------------------------------- rules that pair facts
def _pairs(n: int) -> dict[str, Any]:
    """n stalled disputes and n life changes linked to onset: the impasse-beside-transition
    advisory pairs every dispute with every change (n * n activations)."""
    person = {
        "role": "friend",
        "ring": "inner",
        "conflict": "high",
        "patient_expectations_met": False,
        "other_expectations_met": False,
        "dispute_stage_evidence": "stalled",
        "quality_before_onset": "good",
        "quality_now": "poor",
    }
    return {
        "episode": {"assessment_date": "2026-01-01", "onset": "2025-10"},
        "persons": [{"id": f"p{i}", **person} for i in range(n)],
        "events": [
            {"id": f"e{i}", "kind": "move", "months_before_onset": 1, "response": "ongoing"}
            for i in range(n)
        ],
    }


@pytest.mark.parametrize("engine", ["compiled", "experta"])
def test_activations_past_the_limit_are_input_too_large(engine: str) -> None:
    # 140 x 140 pairs; under 300 facts, so experta itself stops (no compiled guard run)
    with pytest.raises(InputTooLargeError) as err:
        ipt.formulate(_pairs(140), engine=engine, limits=Limits(max_firings=5_000))
    assert err.value.code == "input.too_large" and err.value.limit == "max_firings"
    assert "dispute.impasse-beside-transition" in err.value.message
    assert "max_firings=N" in err.value.message


def test_experta_is_guarded_before_it_builds_every_activation() -> None:
    # 1,000 x 1,000 pairs would take experta minutes and gigabytes; the compiled guard
    # (same firings) stops it first
    with pytest.raises(InputTooLargeError) as err:
        ipt.formulate(_pairs(1_000), engine="experta")
    assert err.value.limit == "max_firings"  # time and memory: benchmarks/bench_limits.py


def test_advisories_of_a_pairing_rule_are_capped() -> None:
    from ipt_formulate.explain import MAX_ADVISORIES_PER_RULE

    f = ipt.formulate(_pairs(40), engine="compiled")  # 1,600 pairs: under the limit
    impasse = [a for a in f.advisories if a.rule_id == "dispute.impasse-beside-transition"]
    assert len(impasse) == MAX_ADVISORIES_PER_RULE
    (summary,) = [a for a in impasse if "more like the above" in a.message]
    assert summary.message == (
        "An impasse-stage dispute beside an acute life change: choose with the patient: "
        f"{40 * 40 - MAX_ADVISORIES_PER_RULE + 1:,} more like the above "
        "(rule dispute.impasse-beside-transition)."
    )
    small = ipt.formulate(_pairs(2), engine="compiled")
    assert len([a for a in small.advisories if a.rule_id == impasse[0].rule_id]) == 4
