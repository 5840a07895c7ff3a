"""Stage 2 of the pipeline: the patient's relationship graph and its features.

The interpersonal inventory is a network: the patient, the important persons around them and
the relationships among those persons. IPT reads problem areas partly off the shape of that
network (few confidants, ties weakened since onset, a lost person who was the patient's link
to others), so this stage turns an :class:`~ipt_formulate.inventory.Inventory` into a
:mod:`networkx` graph and offers each network feature as a small pure function of the graph.

Features are computed lazily through :func:`compute_features`, which evaluates only the
features asked for (building the graph and computing features costs more than validation and
rule evaluation together, see ``docs/graph.md``).

**Unknown is a value.** An unknown attribute (``None``) is never counted as "no": a person
whose confidant status is unknown is not counted as a non-confidant, and
:func:`unknown_count` (features ``confidant_unknown``, ``ring_unknown``, ...) lets rules tell
"0 confidants" from "confidants unknown".

**Living persons.** A person is *deceased* when ``Person.deceased`` is true, a
``date_of_death`` is given, or a life event of kind ``death`` names them as ``subject``; every
other person (including ``deceased`` unknown) counts as *living*, since the inventory lists the
patient's current important persons and a death is recorded explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

import networkx as nx

from .inventory import PATIENT_NODE, Inventory, Person

__all__ = [
    "FEATURES",
    "LINK_ATTRS",
    "PATIENT",
    "TIE_ATTRS",
    "FeatureValue",
    "bridge_persons_lost",
    "build_graph",
    "compute_features",
    "confidant_count",
    "conflictual_close_ties",
    "density",
    "inner_circle_size",
    "inventory_features",
    "lost_ties",
    "network_size",
    "supportive_ties",
    "to_json",
    "unknown_count",
    "weakened_ties",
]

PATIENT = PATIENT_NODE
"""Id of the patient node (reserved: no person may use it)."""

TIE_ATTRS: tuple[str, ...] = (
    "ring",
    "contact",
    "support",
    "confidant",
    "conflict",
    "lives_with_patient",
    "knows_about_depression",
    "patient_expectations_met",
    "other_expectations_met",
    "dispute_stage_evidence",
    "quality_before_onset",
    "quality_now",
)
"""Relationship attributes copied onto each patient-person ``tie`` edge."""

LINK_ATTRS: tuple[str, ...] = ("close", "conflict")
"""Attributes of each person-person ``link`` edge."""

FeatureValue: TypeAlias = int | float | tuple[str, ...]

_PERSON_ATTRS: frozenset[str] = frozenset(Person.model_fields) - {"id"}
_QUALITY_RANK = {"poor": 0, "fair": 1, "good": 2}
_SUPPORTIVE = frozenset({"moderate", "high"})
_CONFLICTUAL = frozenset({"moderate", "high"})
_CLOSE_RINGS = frozenset({"inner", "middle"})


# ---------------------------------------------------------------- building
def build_graph(inv: Inventory) -> nx.Graph[str]:
    """Build the relationship graph of an inventory.

    Nodes: ``"patient"`` (``kind="patient"``) and one node per person, keyed by person id
    (``kind="person"`` plus every attribute of :class:`~ipt_formulate.inventory.Person` except
    ``id``; ``deceased`` is True when the person is marked deceased or is the subject of a
    death event). Edges: a ``kind="tie"`` edge from the patient to every person carrying
    :data:`TIE_ATTRS`, and a ``kind="link"`` edge per person link carrying :data:`LINK_ATTRS`.
    Nodes and edges are added in sorted id order, so the graph does not depend on the order of
    the input lists.
    """
    g: nx.Graph[str] = nx.Graph()
    g.add_node(PATIENT, kind="patient")
    persons = _person_nodes(inv)
    for pid, attrs in persons:
        g.add_node(pid, kind="person", **attrs)
    for pid, _ in persons:
        node = g.nodes[pid]
        g.add_edge(PATIENT, pid, kind="tie", **{k: node[k] for k in TIE_ATTRS})
    links = sorted(inv.relationships, key=lambda link: tuple(sorted((link.a, link.b))))
    for link in links:
        a, b = sorted((link.a, link.b))
        g.add_edge(a, b, kind="link", **{k: getattr(link, k) for k in LINK_ATTRS})
    return g


PersonNodes: TypeAlias = tuple[tuple[str, dict[str, Any]], ...]
"""The person nodes of a graph without the graph: ``(id, data)`` in sorted id order, data as
:func:`build_graph` puts on each node (less ``kind``)."""

Nodes: TypeAlias = "nx.Graph[str] | PersonNodes"
"""What a per-person feature reads: the graph, or just its person nodes."""


def _person_nodes(inv: Inventory) -> PersonNodes:
    """Each person's node data (every field except ``id``; ``deceased`` as resolved by
    :meth:`Inventory.deceased_status`), in sorted id order."""
    deceased = inv.deceased_status()
    out = []
    for p in sorted(inv.persons, key=lambda p: p.id):
        attrs: dict[str, Any] = dict(p.__dict__)  # the fields: scalars and tuples only
        del attrs["id"]
        attrs["deceased"] = deceased[p.id]
        out.append((p.id, attrs))
    return tuple(out)


def _persons(g: Nodes) -> Iterator[tuple[str, dict[str, Any]]]:
    """Person nodes ``(id, data)`` in sorted id order."""
    if isinstance(g, tuple):
        yield from g
        return
    for node in sorted(g.nodes):
        data = g.nodes[node]
        if data.get("kind") == "person":
            yield node, data


def _is_living(data: Mapping[str, Any]) -> bool:
    return data.get("deceased") is not True


def _living(g: Nodes) -> Iterator[tuple[str, dict[str, Any]]]:
    return ((n, d) for n, d in _persons(g) if _is_living(d))


def _is_lost(data: Mapping[str, Any]) -> bool:
    """Deceased, or contact now ``"none"`` (the bridge definition's notion of lost)."""
    return data.get("deceased") is True or data.get("contact") == "none"


# ---------------------------------------------------------------- features
def inner_circle_size(g: Nodes) -> int:
    """Living persons in the inner closeness ring.

    The closest people are the patient's main source of intimacy and support; a small or empty
    inner circle points towards interpersonal deficits.
    """
    return sum(1 for _, d in _living(g) if d.get("ring") == "inner")


def confidant_count(g: Nodes) -> int:
    """Living persons the patient confides in (``confidant`` is True).

    Having no confiding relationship is a classic risk factor for depression and a marker of
    isolation; unknown status is not counted (see ``confidant_unknown``).
    """
    return sum(1 for _, d in _living(g) if d.get("confidant") is True)


def supportive_ties(g: Nodes) -> int:
    """Living persons giving moderate or high support.

    Social support buffers life changes: few supportive ties make a role transition or a loss
    harder to bear and are a treatment target.
    """
    return sum(1 for _, d in _living(g) if d.get("support") in _SUPPORTIVE)


def conflictual_close_ties(g: Nodes) -> int:
    """Living persons in the inner or middle ring with moderate or high conflict.

    Conflict in a close relationship is the raw material of a role dispute.
    """
    return sum(
        1
        for _, d in _living(g)
        if d.get("ring") in _CLOSE_RINGS and d.get("conflict") in _CONFLICTUAL
    )


def weakened_ties(g: Nodes) -> tuple[str, ...]:
    """Sorted ids of living persons whose quality now is lower than before onset.

    Order: poor < fair < good; a person with either quality unknown is not included.
    Relationships that worsened around onset link the episode to the interpersonal context
    (a dispute, or withdrawal that the depression caused).
    """
    out = []
    for n, d in _living(g):
        before = _QUALITY_RANK.get(d.get("quality_before_onset") or "")
        now = _QUALITY_RANK.get(d.get("quality_now") or "")
        if before is not None and now is not None and now < before:
            out.append(n)
    return tuple(out)


def lost_ties(g: Nodes) -> tuple[str, ...]:
    """Sorted ids of persons who died, or whose contact is now ``"none"`` while their
    ``quality_before_onset`` is known (a relationship that existed and has ended).

    Losses by death point to grief; ties ended without a death point to a role transition or
    a dispute at dissolution.
    """
    return tuple(
        n
        for n, d in _persons(g)
        if d.get("deceased") is True
        or (d.get("contact") == "none" and d.get("quality_before_onset") is not None)
    )


def bridge_persons_lost(g: nx.Graph[str]) -> tuple[str, ...]:
    """Sorted ids of lost persons who were the patient's bridge to others.

    A person is *lost* when deceased or when their ``contact`` is ``"none"``. The *current
    network* N has the patient and every living person as nodes, an edge patient-p for every
    living person p whose contact is not ``"none"`` (unknown contact counts as a tie: unknown
    is never read as "no"), and every person link between two living persons (whatever its
    ``close``/``conflict``). A lost person L is a bridge when some living person Q other than
    L is reachable from the patient in ``N - L`` plus L with a tie to the patient and L's
    links to living persons, but not in ``N - L``: every path from the patient to Q runs
    through L. Typical case: the deceased spouse who was the link to the in-laws.

    Losing a bridge shrinks the network beyond the single loss, which deepens grief or makes a
    transition harder.

    Linear time: one articulation-point pass over N (no copy of the graph per person). With
    C the patient's component of N: a deceased L is a bridge when one of its living link
    neighbours is outside C; a living L (contact ``"none"``, so no tie in N) outside C is a
    bridge when it has a living link neighbour; a living L inside C is a bridge exactly when
    it is an articulation point of N (removing it cuts some neighbour off the patient).
    """
    living = {n for n, _ in _living(g)}
    base: nx.Graph[str] = nx.Graph()
    base.add_node(PATIENT)
    for n in sorted(living):
        base.add_node(n)
        if g.nodes[n].get("contact") != "none":
            base.add_edge(PATIENT, n)
    for u, v, data in g.edges(data=True):
        if data.get("kind") == "link" and u in living and v in living:
            base.add_edge(u, v)
    reach = nx.node_connected_component(base, PATIENT)
    cut: set[str] | None = None  # articulation points, computed on first need
    out = []
    for lost, d in _persons(g):
        if not _is_lost(d):
            continue
        others = [
            o
            for o in g.neighbors(lost)
            if o != lost and o in living and g.edges[lost, o].get("kind") == "link"
        ]
        if lost not in living:
            bridge = any(o not in reach for o in others)
        elif lost not in reach:
            bridge = bool(others)
        else:
            if cut is None:
                cut = set(nx.articulation_points(base.subgraph(reach)))
            bridge = lost in cut
        if bridge:
            out.append(lost)
    return tuple(out)


def network_size(g: Nodes) -> int:
    """Number of living important persons.

    A small network is a marker of isolation (interpersonal deficits) and limits the support
    available for any problem area.
    """
    return sum(1 for _ in _living(g))


def density(g: nx.Graph[str]) -> float:
    """:func:`networkx.density` of the whole graph (patient, all persons, ties and links),
    rounded to 6 decimals so the output is byte-stable.

    A dense network means the important persons know each other, which supports the patient
    but also spreads the effects of a dispute or a loss.
    """
    return round(float(nx.density(g)), 6)


def unknown_count(g: Nodes, attribute: str) -> int:
    """Number of living persons whose ``attribute`` is unknown (``None``).

    Lets a rule tell "0 confidants" from "confidants unknown". Raises :class:`ValueError` when
    ``attribute`` is not a person attribute.
    """
    if attribute not in _PERSON_ATTRS:
        raise ValueError(
            f"unknown person attribute {attribute!r}; valid: {', '.join(sorted(_PERSON_ATTRS))}"
        )
    return sum(1 for _, d in _living(g) if d.get(attribute) is None)


def _unknown_feature(attribute: str) -> Callable[[Nodes], int]:
    def feature(g: Nodes) -> int:
        return unknown_count(g, attribute)

    feature.__name__ = f"{attribute}_unknown"
    feature.__doc__ = f"Living persons whose {attribute} is unknown (see :func:`unknown_count`)."
    return feature


_PER_PERSON: Mapping[str, Callable[[Nodes], FeatureValue]] = MappingProxyType(
    {
        "confidant_count": confidant_count,
        "confidant_unknown": _unknown_feature("confidant"),
        "conflict_unknown": _unknown_feature("conflict"),
        "conflictual_close_ties": conflictual_close_ties,
        "inner_circle_size": inner_circle_size,
        "lost_ties": lost_ties,
        "network_size": network_size,
        "ring_unknown": _unknown_feature("ring"),
        "support_unknown": _unknown_feature("support"),
        "supportive_ties": supportive_ties,
        "weakened_ties": weakened_ties,
    }
)
"""The features that read only each person's own node: computable without the graph."""

FEATURES: Mapping[str, Callable[[nx.Graph[str]], FeatureValue]] = MappingProxyType(
    dict(
        sorted(
            {
                **_PER_PERSON,
                "bridge_persons_lost": bridge_persons_lost,
                "density": density,
            }.items()
        )
    )
)
"""Registry of graph features by name: each is a pure function of the graph."""


def compute_features(
    g: nx.Graph[str], names: Collection[str] | None = None
) -> dict[str, FeatureValue]:
    """Compute the named features (all of :data:`FEATURES` when ``names`` is None).

    Only the requested features are computed. The result is keyed by feature name in sorted
    order. Raises :class:`ValueError` naming any unknown feature and listing the valid ones.
    """
    wanted = sorted(FEATURES) if names is None else sorted(set(names))
    unknown = [n for n in wanted if n not in FEATURES]
    if unknown:
        raise ValueError(
            f"unknown graph feature(s): {', '.join(map(repr, unknown))}; "
            f"valid features: {', '.join(sorted(FEATURES))}"
        )
    return {name: FEATURES[name](g) for name in wanted}


def inventory_features(inv: Inventory, names: Collection[str]) -> dict[str, FeatureValue]:
    """:func:`compute_features` of ``build_graph(inv)``, the same values, without building the
    graph when every feature asked reads only the persons' own nodes (all but
    ``bridge_persons_lost`` and ``density``): most packs need no network structure, and the
    networkx graph costs more than those features."""
    if all(name in _PER_PERSON for name in names):
        nodes = _person_nodes(inv)
        return {name: _PER_PERSON[name](nodes) for name in sorted(set(names))}
    return compute_features(build_graph(inv), names)


# ---------------------------------------------------------------- export
def _node_key(node: Any) -> tuple[bool, str]:
    """Patient first, then the other nodes by id."""
    return (node != PATIENT, str(node))


def to_json(g: nx.Graph[str]) -> dict[str, Any]:
    """The graph as deterministic node-link JSON data.

    Uses :func:`networkx.node_link_data` with ``edges="edges"``; nodes are sorted (patient
    first, then by id), each edge is oriented and the edges sorted the same way, and the keys
    of every node and edge object are sorted, so equal graphs give byte-identical JSON.
    """
    data = nx.node_link_data(g, edges="edges")
    nodes = sorted(data["nodes"], key=lambda n: _node_key(n["id"]))
    edges = []
    for raw in data["edges"]:
        e = dict(raw)
        if not g.is_directed() and _node_key(e["target"]) < _node_key(e["source"]):
            e["source"], e["target"] = e["target"], e["source"]
        edges.append(e)
    edges.sort(key=lambda e: (_node_key(e["source"]), _node_key(e["target"])))
    return {
        "directed": data["directed"],
        "multigraph": data["multigraph"],
        "graph": dict(sorted(data["graph"].items())),
        "nodes": [dict(sorted(n.items())) for n in nodes],
        "edges": [dict(sorted(e.items())) for e in edges],
    }
