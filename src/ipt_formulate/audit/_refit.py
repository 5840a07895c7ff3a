"""Calibration's inner loop: a record's primary and areas present under new weights, fast.

``_rescore`` re-scores readings through ``score_groups``/``select_focus`` themselves, with
bounds, statuses and secondaries: right for influence and sensitivity. A calibration asks one
question millions of times (which area is primary under these weights?), so this module keeps
of each reading only what that answer needs, as tuples, and answers it directly.

Which rules fire on an inventory does not depend on any weight: conditions read facts,
options and findings, and findings are asserted whatever a rule's weight. Only scoring does
(``scoring.score_groups``): each (area, focus) group's score is the certainty-factor
combination of the weights of the rules that fired for it, rounded to 4 digits; the primary
is the best-ranked group scoring at least ``primary_min``, ranked by score, then the pack's
area order, then focus id, then focus kind; an area is present (as ``agreement`` counts it)
when one of its groups reaches the threshold.

So each record is run through the engine once, reduced to its groups (:func:`record_groups`),
and re-scored with any weights by :func:`primary_of` and :func:`present_areas`. Groups whose
weights are all negative never reach the threshold, and weights keep their sign when
calibrated, so provisional and "evidence against only" groups never matter here. A test
checks that re-scoring gives the primary of a full :func:`~ipt_formulate.formulate` with the
re-weighted pack, record for record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

from .._questions import scored_run
from ..inventory import Inventory
from ..limits import current_limits
from ..rulepack import RulePack
from ..scoring import _DIGITS, combine

__all__ = ["Group", "pack_weights", "present_areas", "primary_of", "record_groups"]


class Group(NamedTuple):
    """One (area, focus) hypothesis of a record: its ranking keys and the weighted rules that
    fired for it (sorted ids)."""

    area: str
    order: int  # the area's position in the pack
    focus_id: str  # "" for the network
    focus_kind: str
    rules: tuple[str, ...]


def record_groups(inv: Inventory, pack: RulePack) -> tuple[Group, ...]:
    """Run the engine once on ``inv`` (the audits' reading, compiled backend) and keep what
    scoring the primary needs (see the module doc)."""
    certain, _, _, _ = scored_run(inv, pack, current_limits().max_firings)
    order = {a.id: i for i, a in enumerate(pack.areas)}
    return tuple(
        sorted(
            Group(area, order.get(area, 99), fid, kind, tuple(sorted(by_rule)))
            for (area, kind, fid), by_rule in certain.items()
        )
    )


@lru_cache(maxsize=1 << 16)
def _rounded(ws: tuple[float, ...]) -> float:
    # calibration re-scores the same few weight combinations over and over
    return round(combine(ws), _DIGITS)


def _score(g: Group, weights: Mapping[str, float]) -> float:
    return _rounded(tuple([weights[r] for r in g.rules]))


def primary_of(
    groups: Sequence[Group], weights: Mapping[str, float], threshold: float
) -> Group | None:
    """The primary hypothesis under ``weights`` (rule id -> weight, every weighted rule)."""
    best: Group | None = None
    best_key: tuple[float, int, str, str] | None = None
    for g in groups:
        s = _score(g, weights)
        if s >= threshold:
            key = (-s, g.order, g.focus_id, g.focus_kind)
            if best_key is None or key < best_key:
                best, best_key = g, key
    return best


def present_areas(
    groups: Sequence[Group], weights: Mapping[str, float], threshold: float
) -> frozenset[str]:
    """Areas with a hypothesis scoring at least ``threshold`` under ``weights``."""
    return frozenset(g.area for g in groups if _score(g, weights) >= threshold)


def pack_weights(pack: RulePack) -> dict[str, float]:
    """Rule id -> weight of every rule that carries evidence."""
    return {r.id: r.weight for r in pack.rules if r.weight is not None}
