"""Scores-only readings of one inventory, and what-if re-scoring without the engine.

What influence and sensitivity audits repeat thousands of times. A *reading* is the engine's
firings grouped by hypothesis (certain, and possible but not certain), on the compiled
backend. Which rules fire does not depend on any rule's weight, and an evidence rule that
asserts no finding changes nothing but its own hypothesis's score: so switching such a rule
off, or giving any rule another weight, is re-scored from the reading (``score_groups`` and
``select_focus``, the functions :func:`ipt_formulate.formulate` uses) without running the
engine again. Switching off a rule that asserts a finding, or changing an option, needs a new
reading under the variant pack. Tests prove both paths equal to a full ``formulate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from .._questions import scored_run
from ..inventory import Inventory
from ..limits import current_limits
from ..rulepack import Rule, RulePack
from ..scoring import Groups, Scored, score_groups, select_focus

__all__ = ["Focus", "Key", "Reading", "focus_of", "read", "reweighted", "without"]

Key = tuple[str, str, str]
"""A hypothesis: (area, focus kind, focus id; "" for the network)."""
Focus = tuple[Key | None, Key | None]
"""Primary and secondary hypothesis (None: no focus)."""


@dataclass(frozen=True)
class Reading:
    """One inventory under one pack, as far as the focus depends on it."""

    certain: Groups
    maybe: Groups
    fired: frozenset[str]  # rules that fired for certain (evidence, findings, advisories)
    touched: frozenset[str]  # rules that fired for certain or possibly


def read(inv: Inventory, pack: RulePack) -> Reading:
    """The reading of ``inv`` under ``pack``: facts, compiled engine, possible firings."""
    certain, maybe, firings, possible = scored_run(inv, pack, current_limits().max_firings)
    fired = frozenset(f.rule_id for f in firings)
    return Reading(certain, maybe, fired, fired | {f.rule_id for f in possible})


def _key(h: Scored | None) -> Key | None:
    return None if h is None else (h.area, h.focus[0], h.focus[1] or "")


def focus_of(pack: RulePack, certain: Groups, maybe: Groups) -> Focus:
    """Primary and secondary, as ``formulate`` selects them (thresholds of ``pack``)."""
    primary, secondary = select_focus(pack, score_groups(pack, certain, maybe))
    return _key(primary), _key(secondary)


def without(groups: Groups, rule_id: str) -> Groups:
    """``groups`` as if ``rule_id`` had not fired (only for a rule asserting no finding)."""
    out: Groups = {}
    for key, by_rule in groups.items():
        if rule_id in by_rule:
            by_rule = {rid: v for rid, v in by_rule.items() if rid != rule_id}
            if not by_rule:
                continue
        out[key] = by_rule
    return out


def reweighted(groups: Groups, rules: Mapping[str, Rule]) -> Groups:
    """``groups`` with the rules of ``rules`` (id -> rule with another weight) in place."""
    out: Groups = {}
    for key, by_rule in groups.items():
        if any(rid in rules for rid in by_rule):
            by_rule = {
                rid: (rules[rid], focus, frs) if rid in rules else (rule, focus, frs)
                for rid, (rule, focus, frs) in by_rule.items()
            }
        out[key] = by_rule
    return out


def with_weight(rule: Rule, weight: float) -> Rule:
    """``rule`` with another weight (for re-scoring only; a pack is never built from it)."""
    return replace(rule, weight=weight)
