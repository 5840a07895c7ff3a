"""Stage 7: explanations beyond the evidence lists — WHY-NOT and advisories.

* WHY-NOT: for every declared area that is neither primary nor secondary, each rule that
  could have supported it, and the first condition that failed or could not be evaluated
  because a value is unknown (evaluated one by one, from the pack's condition data).
* Advisories: those the pack's advisory rules raised (safety first), plus data advisories
  computed here: which supporting rules could not run for lack of data, and a note when no
  area reached the pack's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._evaluate import FactIndex, Firing, TruthFn, compile_truths, diagnose
from ._memo import PackMemo, SharedParts
from .formulation import Advisory, Hypothesis, RuleCheck, WhyNot
from .rulepack import Rule, RulePack
from .scoring import fill, prepared

__all__ = ["advisories", "area_checks", "why_not"]

_LEVEL_ORDER = {"urgent": 0, "caution": 1, "info": 2}
MAX_ADVISORIES_PER_RULE = 5
"""Advisories one rule may raise; more are counted in one last advisory (output stays
linear when a rule pairs many facts, as evidence does: docs/scoring.md)."""
_KIND_ORDER = {"safety": 0, "clinical": 1, "data": 2}


@dataclass(frozen=True)
class _AreaRule:
    """A rule bearing on an area, with the checks that do not depend on the inventory."""

    area: str
    rule: Rule
    if_fired: RuleCheck | None  # "fired" or "opposed"; None: an opposing rule that did not fire
    constant: RuleCheck | None  # "disabled": the same on every inventory
    truths: tuple[tuple[TruthFn, ...], ...] = ()  # its conditions, compiled for diagnose()


def _build_area_rules(pack: RulePack) -> tuple[_AreaRule, ...]:
    """The rules that bear on each declared area, in pack order."""
    areas = {a.id for a in pack.areas}
    out = []
    for rule in pack.rules:
        if rule.area is None or rule.status != "active" or rule.area not in areas:
            continue
        if rule.weight is not None and rule.weight < 0:
            detail = f"evidence against (weight {rule.weight:g})"
            opposed = RuleCheck(rule_id=rule.id, status="opposed", detail=detail)
            out.append(_AreaRule(rule.area, rule, opposed, None))
        elif not rule.enabled:
            opts = ", ".join(f"{k} = {v!r}" for k, v in rule.disabled_by)
            detail = f"disabled by pack option {opts}"
            disabled = RuleCheck(rule_id=rule.id, status="disabled", detail=detail)
            out.append(_AreaRule(rule.area, rule, None, disabled))
        else:
            fired = RuleCheck(rule_id=rule.id, status="fired", detail="fired")
            out.append(_AreaRule(rule.area, rule, fired, None, compile_truths(rule)))
    return tuple(out)


_area_rules: PackMemo[tuple[_AreaRule, ...]] = PackMemo(_build_area_rules)


def area_checks(
    pack: RulePack, firings: Sequence[Firing], index: FactIndex
) -> dict[str, tuple[RuleCheck, ...]]:
    """For every declared area, how each rule bearing on it fared (one diagnosis per rule)."""
    fired = {f.rule_id for f in firings}
    out: dict[str, list[RuleCheck]] = {a.id: [] for a in pack.areas}
    for entry in _area_rules(pack):
        checks = out[entry.area]
        if entry.constant is not None:
            checks.append(entry.constant)
        elif entry.rule.id in fired:
            assert entry.if_fired is not None
            checks.append(entry.if_fired)
        elif entry.if_fired is not None and entry.if_fired.status == "fired":
            d = diagnose(entry.rule, index, entry.truths)
            checks.append(_rule_check(entry.rule.id, d.status, d.pattern, d.condition, d.detail))
    return {k: tuple(v) for k, v in out.items()}


_CHECKS: SharedParts[tuple[str, str, str, str | None, str], RuleCheck] = SharedParts(1 << 12)


def _rule_check(
    rule_id: str, status: str, pattern: str, condition: str | None, detail: str
) -> RuleCheck:
    """A shared, frozen :class:`RuleCheck`: most diagnoses recur from one formulation to the
    next ("finding 'x' was not established"), so each is built once (~2 MB at most)."""
    key = (rule_id, status, pattern, condition, detail)
    return _CHECKS.get(key) or _CHECKS.add(
        key,
        RuleCheck.model_construct(
            rule_id=rule_id,
            status="unknown" if status == "unknown" else "failed",
            pattern=pattern,
            condition=condition,
            detail=detail,
        ),
    )


def why_not(
    pack: RulePack,
    hypotheses: Sequence[Hypothesis],
    chosen: Sequence[Hypothesis | None],
    checks_by_area: Mapping[str, Sequence[RuleCheck]],
) -> tuple[WhyNot, ...]:
    """One entry per declared area that was not chosen."""
    chosen_areas = {h.area for h in chosen if h is not None}
    primary = chosen[0] if chosen else None
    out = []
    for area in pack.areas:
        if area.id in chosen_areas:
            continue
        best = next((h for h in hypotheses if h.area == area.id), None)
        checks = checks_by_area.get(area.id, ())
        t = pack.thresholds
        if best is None:
            reason = "no rule supporting this area fired"
        elif best.status == "provisional":
            reason = (
                f"provisional: scores {best.score:g} on certain evidence and could reach "
                f"{best.upper_bound:g} once the unknown values it waits on are known"
            )
        elif primary is None:
            reason = f"best score {best.score:g} is below the primary threshold {t.primary_min:g}"
        elif best.score < t.secondary_min:
            reason = (
                f"best score {best.score:g} is below the secondary threshold {t.secondary_min:g}"
            )
        elif primary.score - best.score > t.secondary_max_gap:
            reason = (
                f"best score {best.score:g} is more than {t.secondary_max_gap:g} below "
                f"the primary ({primary.score:g})"
            )
        else:
            reason = "outranked: IPT works on at most two areas"
        out.append(
            WhyNot(
                area=area.id,
                area_label=area.label,
                best_score=None if best is None else best.score,
                reason=reason,
                rules=tuple(checks),
            )
        )
    return tuple(out)


def advisories(
    pack: RulePack,
    firings: Sequence[Firing],
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
    checks_by_area: Mapping[str, Sequence[RuleCheck]],
    primary: Hypothesis | None,
    hypotheses: Sequence[Hypothesis] = (),
) -> tuple[Advisory, ...]:
    """Advisories from advisory rules (which refer to their rule, and so to its citations,
    by id), plus data-quality advisories."""
    out: dict[tuple[str, str], Advisory] = {}
    by_rule: dict[str, list[Firing]] = {}
    for fr in firings:
        if pack.rule(fr.rule_id).advisory is not None:
            by_rule.setdefault(fr.rule_id, []).append(fr)
    for rule_id, frs in by_rule.items():
        rule = pack.rule(rule_id)
        assert rule.advisory is not None
        template = prepared(pack)[rule.id].template
        messages = sorted({fill(template, fr.bindings, lookup) for fr in frs})
        if len(messages) > MAX_ADVISORIES_PER_RULE:  # a rule that pairs many facts
            rest = len(messages) - MAX_ADVISORIES_PER_RULE + 1
            messages = messages[: MAX_ADVISORIES_PER_RULE - 1]
            messages.append(f"{rule.title}: {rest:,} more like the above (rule {rule.id}).")
        for msg in messages:
            out[(rule.id, msg)] = Advisory(
                kind=rule.advisory.kind,
                level=rule.advisory.level,
                message=msg,
                rule_id=rule.id,
            )
    unknown_rules = [
        f"{c.rule_id} ({c.detail})"
        for checks in checks_by_area.values()
        for c in checks
        if c.status == "unknown"
    ]
    if unknown_rules:
        msg = (
            "Insufficient data: these rules could not be evaluated because a value is "
            "unknown: " + "; ".join(sorted(set(unknown_rules))) + "."
        )
        out[("", msg)] = Advisory(kind="data", level="info", message=msg)
    provisional = [h for h in hypotheses if h.status == "provisional"]
    if primary is None and provisional:
        readings = "; ".join(f"{h.area_label} about {h.focus.name}" for h in provisional[:3])
        more = f" and {len(provisional) - 3} more" if len(provisional) > 3 else ""
        msg = (
            "No problem area is established yet: provisional reading(s) wait on unknown "
            f"values ({readings}{more}). Ask what they wait on (the questions, or the "
            "timeline and relationship details) before choosing a focus."
        )
        out[("", msg)] = Advisory(kind="data", level="caution", message=msg)
    elif primary is None:
        msg = (
            "No problem area reached the pack's threshold "
            f"({pack.thresholds.primary_min:g}). Complete the inventory (timeline, "
            "relationship quality before and since onset) before choosing a focus."
        )
        out[("", msg)] = Advisory(kind="data", level="caution", message=msg)
    return tuple(
        sorted(
            out.values(),
            key=lambda a: (_LEVEL_ORDER[a.level], _KIND_ORDER[a.kind], a.rule_id or "~", a.message),
        )
    )
