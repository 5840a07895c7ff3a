"""Traces: every rule activation of one formulation, and the derivation graph built from them.

**Canonical order.** experta fires equal-salience activations in hash order (it changes with
``PYTHONHASHSEED``), so the trace does not record the engine's firing order. It lists the
activations sorted by the rule's stratum (rules reading chained findings come after the rules
that assert them), then rule id, then bindings (variable, fact type, fact id). That order is
a function of the inventory and the pack only.

**Scores.** For each activation that carries evidence, ``score_before``/``score_after`` are
the certainty factor of its hypothesis (area + focus) before and after the rule's weight is
applied, applying evidence in the canonical order. A rule counts once per hypothesis however
many ways it matched (see :mod:`ipt_formulate.scoring`): a repeated match has
``counted = False`` and leaves the score unchanged. The last ``score_after`` of a hypothesis
equals its score in the formulation (the same :func:`~ipt_formulate.scoring.combine`, rounded
the same way).

**Derivation graph.** :func:`derivation_graph` turns a trace into a directed graph: fact and
finding nodes → rule activation nodes → hypothesis (evidence), finding (asserted) and advisory
nodes. Export it with :func:`graph_to_json` (networkx node-link data, ``edges="edges"``) or
:func:`graph_to_dot` (Graphviz DOT text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from .._evaluate import Firing
from ..formulation import Focus, Formulation, Hypothesis, Trace, TraceBinding, TraceHypothesis
from ..formulation import TraceStep as Step
from ..rulepack import RulePack
from ..scoring import _DIGITS, combine, focus_of

__all__ = [
    "build_trace",
    "derivation_graph",
    "graph_to_dot",
    "graph_to_json",
    "hypothesis_key",
]


def hypothesis_key(area: str, focus: Focus) -> str:
    """Stable key of a hypothesis: ``area:kind:id`` (``area:network`` for the network)."""
    return f"{area}:network" if focus.id is None else f"{area}:{focus.kind}:{focus.id}"


def canonical_order(pack: RulePack, firings: Sequence[Firing]) -> list[Firing]:
    """Firings sorted by (stratum, rule id, bindings): independent of the engine's order."""
    return sorted(firings, key=lambda f: (pack.rule(f.rule_id).stratum, f.rule_id, f.bindings))


def build_trace(
    pack: RulePack,
    firings: Sequence[Firing],
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
    hypotheses: Sequence[Hypothesis],
) -> Trace:
    """The trace of one run: see the module docstring for order and scores."""
    applied: dict[str, dict[str, float]] = {}  # hypothesis key -> rule id -> weight
    foci: dict[str, tuple[str, Focus]] = {}
    steps: list[Step] = []
    for i, fr in enumerate(canonical_order(pack, firings), start=1):
        rule = pack.rule(fr.rule_id)
        step: dict[str, Any] = {
            "order": i,
            "rule_id": rule.id,
            "rule_version": rule.version,
            "stratum": rule.stratum,
            "bindings": tuple(TraceBinding(var=v, type=t, id=fid) for v, t, fid in fr.bindings),
        }
        if rule.asserts is not None:
            focus_id = None if rule.asserts.focus is None else fr.fact_id(rule.asserts.focus)
            name = rule.asserts.finding
            step["asserts"] = name if focus_id is None else f"{name}@{focus_id}"
        if rule.advisory is not None:
            step["advisory"] = f"{rule.advisory.level} {rule.advisory.kind}"
        if rule.area is not None and rule.weight is not None:
            focus = focus_of(rule, fr, lookup)
            key = hypothesis_key(rule.area, focus)
            foci.setdefault(key, (rule.area, focus))
            weights = applied.setdefault(key, {})
            before = round(combine(weights.values()), _DIGITS)
            counted = rule.id not in weights
            if counted:
                weights[rule.id] = rule.weight
            step.update(
                hypothesis=key,
                weight=rule.weight,
                counted=counted,
                score_before=before,
                score_after=round(combine(weights.values()), _DIGITS),
            )
        steps.append(Step(**step))
    ranks = {hypothesis_key(h.area, h.focus): h.rank for h in hypotheses}
    summary = tuple(
        TraceHypothesis(
            key=key,
            area=area,
            focus=focus,
            score=round(combine(applied[key].values()), _DIGITS),
            rank=ranks.get(key),
        )
        for key, (area, focus) in sorted(foci.items())
    )
    return Trace(steps=tuple(steps), hypotheses=summary)


# ------------------------------------------------------------------ derivation graph
def _fact_node(fact_type: str, fact_id: str) -> str:
    return f"{fact_type}:{fact_id}"


def derivation_graph(
    formulation: Formulation | Trace, hypothesis: str | None = None
) -> nx.DiGraph[str]:
    """The derivation of every hypothesis as a directed graph (finding → rule → evidence).

    Nodes (attribute ``kind``): ``fact`` (``person:mum``, ``event:e1``, ``patient:patient``,
    ...), ``finding`` (``finding:significant_death@mum``), ``rule`` (one per activation,
    ``step:3``), ``hypothesis`` (``hypothesis:grief:person:mum``) and ``advisory``
    (``advisory:<rule id>``). Edges: fact/finding → rule (``role="matched"``, ``var``), rule →
    finding (``role="asserts"``), rule → hypothesis (``role="evidence"``, weight, counted,
    score before/after), rule → advisory (``role="raises"``).

    ``hypothesis``: keep only the derivation of that hypothesis key (its ancestors).
    """
    trace = formulation.trace if isinstance(formulation, Formulation) else formulation
    if trace is None:
        raise ValueError("this formulation has no trace: call formulate(..., trace=True)")
    g: nx.DiGraph[str] = nx.DiGraph()
    for h in trace.hypotheses:
        g.add_node(
            f"hypothesis:{h.key}",
            kind="hypothesis",
            label=f"{h.area} / {h.focus.name} ({h.score:g})",
            area=h.area,
            score=h.score,
            rank=h.rank,
        )
    for s in trace.steps:
        node = f"step:{s.order}"
        g.add_node(
            node,
            kind="rule",
            label=f"{s.rule_id} #{s.order}",
            rule_id=s.rule_id,
            rule_version=s.rule_version,
            order=s.order,
            stratum=s.stratum,
        )
        for b in s.bindings:
            src = _fact_node(b.type, b.id)
            g.add_node(src, kind="finding" if b.type == "finding" else "fact", label=src)
            g.add_edge(src, node, role="matched", var=b.var)
        if s.asserts is not None:
            dst = _fact_node("finding", s.asserts)
            g.add_node(dst, kind="finding", label=dst)
            g.add_edge(node, dst, role="asserts")
        if s.advisory is not None:
            dst = f"advisory:{s.rule_id}"
            g.add_node(dst, kind="advisory", label=f"{s.advisory} ({s.rule_id})")
            g.add_edge(node, dst, role="raises")
        if s.hypothesis is not None:
            g.add_edge(
                node,
                f"hypothesis:{s.hypothesis}",
                role="evidence",
                weight=s.weight,
                counted=s.counted,
                score_before=s.score_before,
                score_after=s.score_after,
            )
    if hypothesis is not None:
        target = hypothesis if hypothesis.startswith("hypothesis:") else f"hypothesis:{hypothesis}"
        if target not in g:
            known = ", ".join(h.key for h in trace.hypotheses) or "-"
            raise KeyError(f"no hypothesis {hypothesis!r} in the trace; known: {known}")
        g = nx.DiGraph(g.subgraph(nx.ancestors(g, target) | {target}))
    return g


def graph_to_json(g: nx.DiGraph[str]) -> dict[str, Any]:
    """Deterministic node-link data (``networkx.node_link_data(g, edges="edges")``)."""
    data = nx.node_link_data(g, edges="edges")
    return {
        "directed": data["directed"],
        "multigraph": data["multigraph"],
        "graph": dict(sorted(data["graph"].items())),
        "nodes": [dict(sorted(n.items())) for n in sorted(data["nodes"], key=lambda n: n["id"])],
        "edges": [
            dict(sorted(e.items()))
            for e in sorted(data["edges"], key=lambda e: (e["source"], e["target"]))
        ],
    }


_DOT_SHAPES = {
    "fact": "ellipse",
    "finding": "diamond",
    "rule": "box",
    "hypothesis": "doubleoctagon",
    "advisory": "note",
}


def _dot_id(text: str) -> str:
    return json.dumps(text)  # a double-quoted string with escapes: a valid DOT ID


def graph_to_dot(g: nx.DiGraph[str], name: str = "derivation") -> str:
    """Graphviz DOT text of a derivation graph (no pydot/pygraphviz needed)."""
    lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;"]
    for node in sorted(g.nodes):
        data = g.nodes[node]
        shape = _DOT_SHAPES.get(str(data.get("kind")), "ellipse")
        label = str(data.get("label", node))
        lines.append(f"  {_dot_id(node)} [label={_dot_id(label)}, shape={shape}];")
    for u, v in sorted(g.edges):
        data = g.edges[u, v]
        attrs = [f"label={_dot_id(str(data.get('role', '')))}"]
        if data.get("role") == "evidence":
            attrs = [
                "label="
                + _dot_id(
                    f"{data['weight']:+g}: {data['score_before']:g} -> {data['score_after']:g}"
                    + ("" if data.get("counted") else " (repeat)")
                )
            ]
        lines.append(f"  {_dot_id(u)} -> {_dot_id(v)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
