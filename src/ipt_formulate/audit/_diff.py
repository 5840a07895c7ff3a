"""Comparing two rule packs: statically (rules added, removed, changed) and on a cohort (which
primary focuses change, in which direction, and which rules account for each change).

**Which rules account for a change.** A record's primary focus changes from hypothesis X
(under pack A) to Y (under pack B; either may be "none"). Only the scores of X and Y, the
thresholds and the area order decide that, so the rules named are those whose evidence on X
or Y differs between the two runs: fired under one pack only, or with another weight. (A rule
that fired with the same weight under both is not named even though its contribution moved:
certainty factors do not add up.) A rule the static diff reports as changed is marked so; an
unchanged rule can be named when it fires differently because a changed rule asserts a
finding it reads. When no evidence differs, the cause is a changed threshold or area order,
reported as such.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..rulepack import Rule, RulePack

__all__ = ["CohortDiff", "FocusChange", "PackDiff", "RuleCause", "cohort_diff", "diff_packs"]


# ------------------------------------------------------------------ static diff
_RULE_FIELDS = (
    "version",
    "status",
    "title",
    "area",
    "weight",
    "focus",
    "asserts",
    "advisory",
    "conditions",
    "enabled",
    "explain",
    "cite",
)


def _rule_view(r: Rule) -> dict[str, Any]:
    return {
        "version": r.version,
        "status": r.status,
        "title": r.title,
        "area": r.area,
        "weight": r.weight,
        "focus": r.focus,
        "asserts": None if r.asserts is None else r.asserts.model_dump(),
        "advisory": None if r.advisory is None else r.advisory.model_dump(),
        "conditions": [p.text for p in r.patterns],
        "enabled": r.enabled,
        "explain": r.explain,
        "cite": [c.model_dump() for c in r.cite],
    }


@dataclass(frozen=True)
class PackDiff:
    """What differs between two packs, as resolved with their options."""

    a: str
    b: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: dict[str, dict[str, tuple[Any, Any]]]  # rule id -> field -> (A, B)
    options: dict[str, tuple[Any, Any]]
    thresholds: dict[str, tuple[Any, Any]]
    areas: dict[str, tuple[Any, Any]]

    @property
    def empty(self) -> bool:
        return (
            not (self.added or self.removed or self.changed or self.options or self.thresholds)
            and not self.areas
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "rules_added": list(self.added),
            "rules_removed": list(self.removed),
            "rules_changed": {
                rid: {k: {"a": a, "b": b} for k, (a, b) in fields.items()}
                for rid, fields in self.changed.items()
            },
            "options": {k: {"a": a, "b": b} for k, (a, b) in self.options.items()},
            "thresholds": {k: {"a": a, "b": b} for k, (a, b) in self.thresholds.items()},
            "areas": {k: {"a": a, "b": b} for k, (a, b) in self.areas.items()},
        }

    def to_text(self) -> str:
        lines = [f"Pack diff: A = {self.a}, B = {self.b}"]
        if self.empty:
            return lines[0] + "\n  no differences\n"
        for rid in self.added:
            lines.append(f"  + {rid} (only in B)")
        for rid in self.removed:
            lines.append(f"  - {rid} (only in A)")
        for rid, fields in self.changed.items():
            for k, (a, b) in fields.items():
                lines.append(f"  ~ {rid}: {k}: {_short(a)} -> {_short(b)}")
        for title, d in (
            ("option", self.options),
            ("threshold", self.thresholds),
            ("area", self.areas),
        ):
            for k, (a, b) in d.items():
                lines.append(f"  ~ {title} {k}: {_short(a)} -> {_short(b)}")
        return "\n".join(lines) + "\n"


def _short(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def _dict_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def diff_packs(a: RulePack, b: RulePack) -> PackDiff:
    """Rules added, removed and changed (field by field), and changed options, thresholds
    and areas. Conditions are compared as resolved (option values substituted)."""
    ra = {r.id: r for r in a.rules}
    rb = {r.id: r for r in b.rules}
    changed: dict[str, dict[str, tuple[Any, Any]]] = {}
    for rid in sorted(set(ra) & set(rb)):
        va, vb = _rule_view(ra[rid]), _rule_view(rb[rid])
        fields = {k: (va[k], vb[k]) for k in _RULE_FIELDS if va[k] != vb[k]}
        if fields:
            changed[rid] = fields
    return PackDiff(
        a=f"{a.name}@{a.version} ({a.hash[:19]})",
        b=f"{b.name}@{b.version} ({b.hash[:19]})",
        added=tuple(sorted(set(rb) - set(ra))),
        removed=tuple(sorted(set(ra) - set(rb))),
        changed=changed,
        options=_dict_diff(dict(a.options), dict(b.options)),
        thresholds=_dict_diff(a.thresholds.model_dump(), b.thresholds.model_dump()),
        areas=_dict_diff(
            {x.id: x.model_dump() for x in a.areas}, {x.id: x.model_dump() for x in b.areas}
        ),
    )


# ------------------------------------------------------------------ cohort diff
@dataclass(frozen=True)
class RuleCause:
    """A rule whose evidence on the hypotheses involved differs between A and B."""

    rule_id: str
    hypothesis: str
    a: float | None  # weight under A (None: did not fire)
    b: float | None
    static_change: tuple[str, ...]  # fields the static diff reports as changed

    def describe(self) -> str:
        if self.a is None:
            what = f"fires only under B ({self.b:+g})"
        elif self.b is None:
            what = f"fires only under A ({self.a:+g})"
        else:
            what = f"weight {self.a:+g} -> {self.b:+g}"
        changed = f"; changed in B: {', '.join(self.static_change)}" if self.static_change else ""
        return f"{self.rule_id} on {self.hypothesis}: {what}{changed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "hypothesis": self.hypothesis,
            "weight_a": self.a,
            "weight_b": self.b,
            "static_change": list(self.static_change),
            "description": self.describe(),
        }


@dataclass(frozen=True)
class FocusChange:
    line: int
    id: str | None
    a: dict[str, Any] | None  # primary under A: key, area, focus, focus_name, score
    b: dict[str, Any] | None
    causes: tuple[RuleCause, ...]
    other_causes: tuple[str, ...]

    @property
    def direction(self) -> str:
        return f"{_area(self.a)} -> {_area(self.b)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "id": self.id,
            "direction": self.direction,
            "a": self.a,
            "b": self.b,
            "rules": [c.to_dict() for c in self.causes],
            "other_causes": list(self.other_causes),
        }


def _area(p: dict[str, Any] | None) -> str:
    return "none" if p is None else str(p["area"])


def _focus(p: dict[str, Any] | None) -> str:
    return "none" if p is None else f"{p['area']} ({p['focus_name']}, {p['score']:g})"


@dataclass
class CohortDiff:
    static: PackDiff
    records: int = 0
    compared: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    changes: list[FocusChange] = field(default_factory=list)

    @property
    def directions(self) -> Counter[str]:
        return Counter(c.direction for c in self.changes)

    @property
    def rules(self) -> Counter[str]:
        return Counter(r for c in self.changes for r in sorted({x.rule_id for x in c.causes}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "static": self.static.to_dict(),
            "records": self.records,
            "compared": self.compared,
            "primary_changed": len(self.changes),
            "directions": dict(sorted(self.directions.items())),
            "rules": dict(self.rules.most_common()),
            "changes": [c.to_dict() for c in self.changes],
            "errors": self.errors,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_text(self, max_changes: int = 30) -> str:
        lines = [self.static.to_text().rstrip("\n"), ""]
        share = f" ({len(self.changes) / self.compared:.1%})" if self.compared else ""
        lines.append(
            f"Cohort: {self.records} record(s), {self.compared} compared, "
            f"{len(self.errors)} error(s); primary focus changed in {len(self.changes)}{share}"
        )
        if self.changes:
            lines += ["", "Direction (A -> B):"]
            lines += [f"  {d:50} {n:>6}" for d, n in self.directions.most_common()]
            lines += ["", "Rules accounting for the changes (records):"]
            lines += [f"  {r:50} {n:>6}" for r, n in self.rules.most_common()]
            lines += ["", "Changed records:"]
            for c in self.changes[:max_changes]:
                lines.append(f"  line {c.line} {c.id or '-'}: {_focus(c.a)} -> {_focus(c.b)}")
                for cause in c.causes:
                    lines.append(f"      {cause.describe()}")
                for other in c.other_causes:
                    lines.append(f"      {other}")
            if len(self.changes) > max_changes:
                lines.append(f"  ... {len(self.changes) - max_changes} more (use --format json)")
        return "\n".join(lines) + "\n"


def _causes(
    sa: dict[str, Any], sb: dict[str, Any], static: PackDiff
) -> tuple[tuple[RuleCause, ...], tuple[str, ...]]:
    keys = sorted({p["key"] for p in (sa["primary"], sb["primary"]) if p is not None})
    causes = []
    for key in keys:
        ea, eb = sa["evidence"].get(key, {}), sb["evidence"].get(key, {})
        for rid in sorted(set(ea) | set(eb)):
            wa = ea[rid][0] if rid in ea else None
            wb = eb[rid][0] if rid in eb else None
            if wa == wb:  # same rule, same weight: its contribution may move, but it is not
                continue  # a cause (the combination is not additive)
            causes.append(RuleCause(rid, key, wa, wb, tuple(static.changed.get(rid, {}))))
    other = []
    if not causes:
        if static.thresholds:
            other.append("thresholds changed: " + ", ".join(static.thresholds))
        if static.areas:
            other.append("areas changed: " + ", ".join(static.areas))
        if not other:
            other.append("ranking among equal scores")
    return tuple(causes), tuple(other)


def cohort_diff(summaries: Iterable[dict[str, Any]], static: PackDiff) -> CohortDiff:
    """Primary focus changes from summaries with two results each (pack A, pack B)."""
    out = CohortDiff(static)
    for rec in summaries:
        out.records += 1
        ra, rb = rec["results"][0], rec["results"][-1]
        if "error" in ra or "error" in rb:
            err = ra.get("error") or rb.get("error") or {}
            out.errors.append({"line": rec["line"], "id": rec["id"], **err})
            continue
        out.compared += 1
        pa, pb = ra["primary"], rb["primary"]
        same = (pa is None and pb is None) or (
            pa is not None and pb is not None and pa["key"] == pb["key"]
        )
        if same:
            continue
        causes, other = _causes(ra, rb, static)
        out.changes.append(FocusChange(rec["line"], rec["id"], pa, pb, causes, other))
    return out
