"""Metamorphic helpers: transform an inventory so that the formulation changes predictably.

Each helper is a pure function: it returns a new, re-validated :class:`Inventory` and leaves
its input alone. The docstring of each states the relation a test can check, e.g.::

    assert formulate(permuted(inv, rnd)) == formulate(inv)
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any, Literal, TypeVar, get_args

from ..inventory import DAYS_PER_MONTH, PATIENT_NODE, Inventory, Role, parse_inventory

__all__ = [
    "EVIDENCE_AREAS",
    "EvidenceArea",
    "permuted",
    "relabelled",
    "rename_ids",
    "with_added_evidence",
    "with_unrelated_acquaintance",
]

EvidenceArea = Literal["grief", "role_dispute", "role_transition"]
EVIDENCE_AREAS: tuple[EvidenceArea, ...] = get_args(EvidenceArea)
"""Problem areas :func:`with_added_evidence` can add evidence for."""

J = TypeVar("J")
_ID_REST = string.ascii_letters + string.digits + "_.-"


def _dump(inv: Inventory) -> dict[str, Any]:
    return inv.model_dump(mode="json")


def _used_ids(d: Mapping[str, Any]) -> set[str]:
    return {p["id"] for p in d["persons"]} | {e["id"] for e in d["events"]}


def _fresh_id(stem: str, used: set[str]) -> str:
    candidate, n = stem, 1
    while candidate in used or candidate == PATIENT_NODE:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate)
    return candidate


def permuted(inv: Inventory, rnd: random.Random, *, swap_link_ends: bool = True) -> Inventory:
    """Shuffle every order that carries no meaning.

    Shuffles persons, events, relationships, measures, population tags, each event's
    ``others`` and each person's ``changes_wanted``; with ``swap_link_ends`` also swaps the
    ends ``a``/``b`` of some relationships (the inventory treats links as undirected).

    Relation: the formulation must not change (same areas, scores and evidence; only
    the order of lists that are themselves unordered may differ).
    """
    d = _dump(inv)
    for key in ("persons", "events", "relationships"):
        rnd.shuffle(d[key])
    rnd.shuffle(d["episode"]["measures"])
    rnd.shuffle(d["patient"]["populations"])
    for person in d["persons"]:
        rnd.shuffle(person["changes_wanted"])
    for event in d["events"]:
        rnd.shuffle(event["others"])
    if swap_link_ends:
        for link in d["relationships"]:
            if rnd.random() < 0.5:
                link["a"], link["b"] = link["b"], link["a"]
    return parse_inventory(d)


def _random_id(rnd: random.Random) -> str:
    """A random id such as ``K7f_a.Z2``: a capital and a digit, then 4-10 id characters.

    Vocabulary values are lower case and no English word starts with a capital and a digit,
    so :func:`rename_ids` can find these ids anywhere, even inside text.
    """
    rest = "".join(rnd.choice(_ID_REST) for _ in range(rnd.randint(4, 10)))
    return rnd.choice(string.ascii_uppercase) + rnd.choice(string.digits) + rest


def rename_ids(value: J, mapping: Mapping[str, str], *, in_text: bool = False) -> J:
    """``value`` (JSON-like: dicts, lists, tuples, strings) with every string that is a key
    of ``mapping`` replaced, dict keys included. ``in_text=True`` also replaces ids inside
    longer strings (explanations name persons and events); use it only for distinctive ids,
    such as those :func:`relabelled` makes.

    To compare formulations up to renaming, map the *new* ids back:
    ``rename_ids(result_of_new, {v: k for k, v in mapping.items()}, in_text=True)``.
    """
    if in_text and mapping:
        pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
        return _rename(value, lambda s: pattern.sub(lambda m: mapping[m.group(0)], s))
    return _rename(value, lambda s: mapping.get(s, s))


def _rename(value: J, fix: Callable[[str], str]) -> J:
    if isinstance(value, str):
        return fix(value)  # type: ignore[return-value]
    if isinstance(value, Mapping):
        return {_rename(k, fix): _rename(v, fix) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        return type(value)(_rename(v, fix) for v in value)
    return value


def relabelled(inv: Inventory, rnd: random.Random) -> tuple[Inventory, dict[str, str]]:
    """Rename every person and event id consistently; return the new inventory and the
    mapping old id -> new id (a bijection onto fresh ids, none equal to an old one).

    Renames ``persons[].id``, ``events[].id``, ``subject``, ``others``, relationship ends
    ``a``/``b`` and the ``patient_view`` references; nothing else (labels, notes) changes.

    Relation: the formulation must be equal up to renaming (see :func:`rename_ids`).
    """
    d = _dump(inv)
    old = [p["id"] for p in d["persons"]] + [e["id"] for e in d["events"]]
    taken = set(old) | {PATIENT_NODE}
    mapping: dict[str, str] = {}
    for old_id in old:
        new_id = _random_id(rnd)
        while new_id in taken:
            new_id = _random_id(rnd)
        taken.add(new_id)
        mapping[old_id] = new_id
    for person in d["persons"]:
        person["id"] = mapping[person["id"]]
    for event in d["events"]:
        event["id"] = mapping[event["id"]]
        if event["subject"] is not None:
            event["subject"] = mapping[event["subject"]]
        event["others"] = [mapping[o] for o in event["others"]]
    for link in d["relationships"]:
        link["a"], link["b"] = mapping[link["a"]], mapping[link["b"]]
    view = d["patient_view"]
    if view is not None:
        for key in ("most_important_person", "most_important_event"):
            if view[key] is not None:
                view[key] = mapping[view[key]]
    return parse_inventory(d), mapping


_ACQUAINTANCE_ROLES: tuple[Role, ...] = ("neighbour", "coworker", "other")


def with_unrelated_acquaintance(inv: Inventory, rnd: random.Random | None = None) -> Inventory:
    """Add a neutral acquaintance: outer ring, rarely seen, no conflict, no support, not a
    confidant, alive, expectations met both ways, relationship ``fair`` before and now, in
    no event and no relationship. ``rnd`` picks the role and where the person is inserted
    (default: a neighbour, appended).

    Relation: the chosen problem area must not change; scores may move a little only if a
    rule counts persons.
    """
    d = _dump(inv)
    used = _used_ids(d)
    person = {
        "id": _fresh_id("acquaintance", used),
        "role": "neighbour" if rnd is None else rnd.choice(_ACQUAINTANCE_ROLES),
        "lives_with_patient": False,
        "deceased": False,
        "ring": "outer",
        "contact": "rarely",
        "support": "none",
        "confidant": False,
        "conflict": "none",
        "patient_expectations_met": True,
        "other_expectations_met": True,
        "quality_before_onset": "fair",
        "quality_now": "fair",
    }
    where = len(d["persons"]) if rnd is None else rnd.randint(0, len(d["persons"]))
    d["persons"].insert(where, person)
    return parse_inventory(d)


def _recent_timing(inv: Inventory, months: float) -> tuple[dict[str, Any], date]:
    """Timing ``months`` before onset (or before the assessment if onset is unknown) and
    the (earliest) day it means."""
    onset = inv.onset_bounds()
    if onset is not None:
        return {"months_before_onset": months}, onset[0] - timedelta(days=months * DAYS_PER_MONTH)
    day = inv.episode.assessment_date - timedelta(days=round(months * DAYS_PER_MONTH))
    return {"date": day.isoformat()}, day


def with_added_evidence(inv: Inventory, area: EvidenceArea) -> Inventory:
    """Add one new fact that supports ``area``:

    - ``"grief"``: a new inner-ring person (a parent) who died a month before onset, with
      a death event;
    - ``"role_dispute"``: a new living inner-ring person (partner, or other family if the
      patient already has one) with high conflict and expectations unmet both ways;
    - ``"role_transition"``: a job loss two months before onset that keeps the episode
      going (``maintains_episode``), so it is linked to the episode even when onset is
      unknown.

    Timings are relative to onset, or to the assessment when onset is unknown.

    Relation: the score of ``area`` must not go down (other areas may change).
    """
    if area not in EVIDENCE_AREAS:
        raise ValueError(f"area must be one of {EVIDENCE_AREAS}, got {area!r}")
    d = _dump(inv)
    used = _used_ids(d)
    if area == "grief":
        timing, day = _recent_timing(inv, 1.0)
        pid = _fresh_id("bereaved-parent", used)
        d["persons"].append(
            {
                "id": pid,
                "role": "parent",
                "deceased": True,
                "date_of_death": day.isoformat() if "date" in timing else None,
                "ring": "inner",
                "quality_before_onset": "good",
            }
        )
        d["events"].append(
            {
                "id": _fresh_id("bereavement", used),
                "kind": "death",
                "subject": pid,
                "valence": "negative",
                **timing,
            }
        )
    elif area == "role_dispute":
        has_partner = any(p["role"] == "spouse_partner" for p in d["persons"])
        d["persons"].append(
            {
                "id": _fresh_id("dispute-counterparty", used),
                "role": "other_family" if has_partner else "spouse_partner",
                "deceased": False,
                "ring": "inner",
                "contact": "daily",
                "conflict": "high",
                "patient_expectations_met": False,
                "other_expectations_met": False,
            }
        )
    else:
        timing, _day = _recent_timing(inv, 2.0)
        d["events"].append(
            {
                "id": _fresh_id("job-loss", used),
                "kind": "job_loss",
                "valence": "negative",
                # linked to the episode even when onset is unknown (the recency of an event
                # before an unknown onset is unknown, and unknown never supports an area)
                "maintains_episode": True,
                **timing,
            }
        )
    return parse_inventory(d)
