"""Audit tooling: traces and derivation graphs, agreement statistics, pack diffs, synthesis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from conftest import EXAMPLES, example_text
from ipt_formulate import RulePack, formulate
from ipt_formulate.audit import derivation_graph, graph_to_dot, graph_to_json

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipt_formulate", *args],
        capture_output=True,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )


# ------------------------------------------------------------------ trace
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_trace_leaves_the_default_output_unchanged(name: str, core_pack: RulePack) -> None:
    plain = formulate(example_text(name), core_pack)
    traced = formulate(example_text(name), core_pack, trace=True)
    assert plain.trace is None and "trace" not in plain.to_json()
    assert "trace" not in plain.to_dict()
    assert traced.trace is not None and '"trace"' in traced.to_json()
    assert traced.model_copy(update={"trace": None}).to_json() == plain.to_json()


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_trace_order_is_canonical_and_scores_replay(name: str, core_pack: RulePack) -> None:
    f = formulate(example_text(name), core_pack, trace=True)
    assert f.trace is not None
    steps = f.trace.steps
    assert [s.order for s in steps] == list(range(1, len(steps) + 1))
    keys = [(s.stratum, s.rule_id, tuple((b.var, b.type, b.id) for b in s.bindings)) for s in steps]
    assert keys == sorted(keys)
    # every activation is in the trace: one step per firing of every evidence rule
    fired = {e.rule_id for h in f.hypotheses for e in (*h.support, *h.against)}
    assert fired <= {s.rule_id for s in steps}
    # scores chain per hypothesis and end at the formulation's score
    last: dict[str, float] = {}
    counted: dict[str, set[str]] = {}
    for s in steps:
        if s.hypothesis is None:
            assert s.score_before is None and s.weight is None
            continue
        assert s.score_before == last.get(s.hypothesis, 0.0)
        assert s.counted == (s.rule_id not in counted.get(s.hypothesis, set()))
        if not s.counted:
            assert s.score_after == s.score_before
        counted.setdefault(s.hypothesis, set()).add(s.rule_id)
        assert s.score_after is not None
        last[s.hypothesis] = s.score_after
    by_key = {h.key: h for h in f.trace.hypotheses}
    assert set(by_key) == set(last)
    for key, score in last.items():
        assert by_key[key].score == score
    for h in f.hypotheses:
        th = next(t for t in f.trace.hypotheses if t.rank == h.rank)
        assert (th.area, th.focus, th.score) == (h.area, h.focus, h.score)


def test_trace_names_findings_and_advisories(core_pack: RulePack) -> None:
    f = formulate(example_text("grief"), core_pack, trace=True)
    assert f.trace is not None
    asserted = {s.asserts for s in f.trace.steps if s.asserts}
    assert "significant_death@mother" in asserted
    assert {fd.name + "@" + str(fd.focus) for fd in f.findings} <= asserted
    risky = formulate(example_text("safety-risk"), core_pack, trace=True)
    assert risky.trace is not None
    assert any(s.advisory for s in risky.trace.steps)


def test_trace_does_not_depend_on_the_hash_seed() -> None:
    path = str(EXAMPLES / "mixed-dispute-transition.json")
    outs = {
        cli("formulate", path, "--trace", env={"PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outs) == 1
    assert json.loads(outs.pop())["trace"]["steps"]


def test_derivation_graph_links_findings_rules_and_evidence(core_pack: RulePack) -> None:
    f = formulate(example_text("grief"), core_pack, trace=True)
    g = derivation_graph(f)
    hyp = "hypothesis:grief:person:mother"
    assert g.nodes[hyp]["kind"] == "hypothesis" and g.nodes[hyp]["rank"] == 1
    # finding -> rule -> evidence: the asserted finding feeds a later rule
    assert g.has_edge("finding:significant_death@mother", "step:3")
    producer = next(u for u, _ in g.in_edges("finding:significant_death@mother"))
    assert g.nodes[producer]["rule_id"] == "grief.death-near-onset"
    assert nx.is_directed_acyclic_graph(g)
    sub = derivation_graph(f, "grief:person:mother")
    assert "hypothesis:interpersonal_deficits:network" not in sub
    assert "person:mother" in sub and hyp in sub
    data = graph_to_json(sub)
    assert set(data) == {"directed", "multigraph", "graph", "nodes", "edges"}
    assert data == graph_to_json(derivation_graph(f, "grief:person:mother"))
    rebuilt = nx.node_link_graph(data, edges="edges")
    assert set(rebuilt.edges) == set(sub.edges)
    dot = graph_to_dot(sub)
    assert dot.startswith('digraph "derivation" {') and '"person:mother" -> "step:2"' in dot
    with pytest.raises(KeyError):
        derivation_graph(f, "grief:person:nobody")
    with pytest.raises(ValueError, match="no trace"):
        derivation_graph(formulate(example_text("grief"), core_pack))


def test_cli_trace_text_and_graph_export(tmp_path: Path) -> None:
    out = tmp_path
    path = str(EXAMPLES / "grief.json")
    txt = cli("formulate", path, "--trace", "--format", "text")
    assert txt.returncode == 0, txt.stderr
    assert "Trace" in txt.stdout and "grief.death-near-onset" in txt.stdout.split("Trace")[-1]
    plain = cli("formulate", path, "--graph", str(out / "g.json"))
    assert plain.returncode == 0 and '"trace"' not in plain.stdout
    graph = json.loads((out / "g.json").read_text())
    assert any(n["kind"] == "rule" for n in graph["nodes"]) and graph["edges"]
    dot = cli("formulate", path, "--graph", str(out / "g.dot"), "--hypothesis", "nobody")
    assert dot.returncode == 2 and "trace.unknown_hypothesis" in dot.stderr
