"""Rule influence on a cohort: for each rule, on how many records it fires, and on how many
the primary (and secondary) focus changes when that rule alone is switched off
(leave-one-rule-out).

Only a rule that fires on a record, for certain or possibly, can change that record's focus
when switched off, so each record is re-scored for those rules only. A rule that gives
evidence and asserts no finding is re-scored from the record's reading (:mod:`._rescore`);
a rule that asserts a finding (which other rules may read, or negate) is switched off in a
variant pack (:meth:`RulePack.with_rules`) and the record read again under it. Either way
the focus is the one ``formulate`` would select under the variant: the test suite checks
that against full formulations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..inventory import Inventory
from ..rulepack import Rule, RulePack, default_pack
from ._cohort import CohortReport, CohortSource, csv_text, map_cohort
from ._jobs import DEFAULT_CHUNKSIZE, Item, _error_of, _parse, state_of
from ._rescore import Focus, Key, focus_of, read, without

__all__ = ["InfluenceReport", "RuleInfluence", "influence"]


# ------------------------------------------------------------------ per record (in workers)
_VARIANTS: dict[tuple[str, str], RulePack] = {}
_MAX_VARIANTS = 512


def _switched_off(pack: RulePack, rule_id: str) -> RulePack:
    """``pack`` without ``rule_id``, built once per process."""
    key = (pack.hash, rule_id)
    variant = _VARIANTS.get(key)
    if variant is None:
        if len(_VARIANTS) >= _MAX_VARIANTS:
            _VARIANTS.clear()
        variant = _VARIANTS[key] = pack.with_rules(disabled=[rule_id])
    return variant


def _area(k: Key | None) -> str:
    return "none" if k is None else k[0]


def _direction(a: Key | None, b: Key | None) -> str:
    """``area -> area`` of the primary; a change of focus within one area says so."""
    same = a is not None and b is not None and a[0] == b[0]
    return f"{_area(a)} -> {_area(b)}" + (" (another focus)" if same else "")


def _focus_without(inv: Inventory, pack: RulePack, rule: Rule, base: Any) -> Focus | None:
    """The focus with ``rule`` switched off; None for a rule that cannot change it."""
    if rule.asserts is not None:
        variant = _switched_off(pack, rule.id)
        r = read(inv, variant)
        return focus_of(variant, r.certain, r.maybe)
    if rule.area is not None and rule.weight:
        return focus_of(pack, without(base.certain, rule.id), without(base.maybe, rule.id))
    return None  # an advisory only: the focus does not depend on it


def record_influence(inv: Inventory, pack: RulePack) -> dict[str, Any]:
    """``fired``: the rules that fired; ``changed``: rule id -> [primary changed, secondary
    changed, direction of the primary] for each rule whose removal changes the focus."""
    base = read(inv, pack)
    f0 = focus_of(pack, base.certain, base.maybe)
    changed: dict[str, list[Any]] = {}
    for rid in sorted(base.touched):
        f = _focus_without(inv, pack, pack.rule(rid), base)
        if f is not None and f != f0:
            changed[rid] = [f[0] != f0[0], f[1] != f0[1], _direction(f0[0], f[0])]
    return {"fired": sorted(base.fired), "changed": changed}


def influence_job(pack: RulePack, chunk: Sequence[Item]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, raw in chunk:
        try:
            inv = _parse(raw)
            out.append({"line": n, "id": inv.id, **record_influence(inv, pack)})
        except Exception as exc:  # one bad record must never stop an audit
            out.append({"line": n, "id": None, "error": _error_of(exc)})
    return out


# ------------------------------------------------------------------ the report
def _kind(rule: Rule) -> str:
    parts = [
        name
        for name, present in (
            ("evidence", rule.area is not None),
            ("finding", rule.asserts is not None),
            ("advisory", rule.advisory is not None),
        )
        if present
    ]
    return "+".join(parts)


@dataclass(frozen=True)
class RuleInfluence:
    """One rule's influence on the cohort."""

    rule_id: str
    area: str | None
    kind: str  # evidence, finding, advisory, or a combination joined by "+"
    fired: int  # records on which it fired
    primary_changed: int  # records whose primary focus changes without it
    secondary_changed: int
    directions: dict[str, int]  # "area -> area" of the primary, most common first

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "area": self.area,
            "kind": self.kind,
            "fired": self.fired,
            "primary_changed": self.primary_changed,
            "secondary_changed": self.secondary_changed,
            "directions": self.directions,
        }


CSV_FIELDS = (
    "rule_id",
    "area",
    "kind",
    "fired",
    "primary_changed",
    "secondary_changed",
    "directions",
)


@dataclass
class InfluenceReport(CohortReport):
    """Leave-one-rule-out influence of every active rule of a pack on a cohort, ranked:
    most primary changes first, then secondary changes, then firings, then rule id."""

    rules: tuple[RuleInfluence, ...] = ()

    def top(self, n: int) -> InfluenceReport:
        """The same report with the ``n`` most influential rules only."""
        return replace(self, rules=self.rules[:n])

    def to_dict(self) -> dict[str, Any]:
        return {**self.head(), "rules": [r.to_dict() for r in self.rules]}

    def to_csv(self) -> str:
        return csv_text(
            CSV_FIELDS,
            (
                [r.rule_id, r.area or "", r.kind, r.fired, r.primary_changed,
                 r.secondary_changed, "; ".join(f"{k}: {v}" for k, v in r.directions.items())]
                for r in self.rules
            ),
        )  # fmt: skip

    def to_table(self) -> str:
        lines = [
            f"Rule influence (leave-one-rule-out): pack {self.pack}, {self.records} record(s), "
            f"{self.formulated} formulated, {len(self.errors)} error(s)",
            "",
            f"{'rule':44} {'kind':16} {'fired':>6} {'primary':>8} {'secondary':>9}  "
            "primary without the rule",
        ]
        for r in self.rules:
            top = ", ".join(f"{k} ({v})" for k, v in list(r.directions.items())[:2])
            lines.append(
                f"{r.rule_id:44} {r.kind:16} {r.fired:>6} {r.primary_changed:>8} "
                f"{r.secondary_changed:>9}  {top}".rstrip()
            )
        return "\n".join([*lines, *self.error_lines()]) + "\n"


def _aggregate(pack: RulePack, records: Iterable[dict[str, Any]]) -> InfluenceReport:
    report = InfluenceReport(pack=f"{pack.name}@{pack.version}")
    fired: Counter[str] = Counter()
    primary: Counter[str] = Counter()
    secondary: Counter[str] = Counter()
    directions: dict[str, Counter[str]] = {}
    for rec in records:
        if not report.count(rec):
            continue
        fired.update(rec["fired"])
        for rid, (p, s, direction) in rec["changed"].items():
            primary[rid] += p
            secondary[rid] += s
            if p:
                directions.setdefault(rid, Counter())[direction] += 1
    rows = [
        RuleInfluence(
            rule_id=r.id,
            area=r.area,
            kind=_kind(r),
            fired=fired[r.id],
            primary_changed=primary[r.id],
            secondary_changed=secondary[r.id],
            directions=dict(
                sorted(directions.get(r.id, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))
            ),
        )
        for r in pack.active_rules
    ]
    rows.sort(key=lambda r: (-r.primary_changed, -r.secondary_changed, -r.fired, r.rule_id))
    report.rules = tuple(rows)
    return report


def influence(
    source: CohortSource,
    pack: RulePack | None = None,
    *,
    workers: int = 1,
    chunksize: int = DEFAULT_CHUNKSIZE,
) -> InfluenceReport:
    """Leave-one-rule-out influence of each active rule of ``pack`` (default ``ipt-core``)
    on a cohort: a JSONL file (path) or an iterable of inventories. Records that cannot be
    formulated are counted as errors, never dropped. ``workers`` processes (0 = per CPU)."""
    pack = pack if pack is not None else default_pack()
    state = state_of(pack, "compiled")
    return _aggregate(
        pack, map_cohort("influence", source, state, workers=workers, chunksize=chunksize)
    )
