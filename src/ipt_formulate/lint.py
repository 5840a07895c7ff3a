"""Checks on a rule pack beyond loading: rule examples ("doctests for rules") and lint.

Loading (:func:`ipt_formulate.load_pack`) already rejects broken packs: unknown fact fields,
dangling findings, missing or unknown citations, bad values. :func:`lint_pack` adds what needs
running: every rule's examples must behave as declared on the experta engine *and* on the
pure-Python reference evaluator, every active rule needs an example that fires it and one that
does not, and unused sources or options are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._evaluate import run as reference_run
from .engine import run_engine
from .errors import OptionError, RulePackError
from .facts import FACT_TYPES, FactSet
from .rulepack import Rule, RulePack, load_pack

__all__ = ["ExampleResult", "LintMessage", "lint_pack", "run_examples"]


@dataclass(frozen=True)
class ExampleResult:
    rule_id: str
    name: str
    expected: bool
    fired: bool
    reference_fired: bool

    @property
    def ok(self) -> bool:
        return self.expected == self.fired == self.reference_fired


@dataclass(frozen=True)
class LintMessage:
    level: Literal["error", "warning"]
    rule_id: str | None
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ":".join(p for p in (self.file, str(self.line) if self.line else None) if p)
        rule = f" rule {self.rule_id!r}" if self.rule_id else ""
        return f"{self.level}: {where}{rule}: {self.message}".replace(": :", ":")


def _example_error(rule: Rule, message: str, key: str = "examples") -> RulePackError:
    return RulePackError(
        message, code="rulepack.example", file=rule.file, line=rule.line, rule_id=rule.id, key=key
    )


def _example_facts(
    rule: Rule, facts: tuple[dict[str, Any], ...]
) -> dict[str, tuple[dict[str, Any], ...]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for i, raw in enumerate(facts):
        kind = str(raw.get("fact"))
        if kind not in FACT_TYPES:
            raise _example_error(
                rule, f"example fact {i}: 'fact' must be one of {sorted(FACT_TYPES)}, got {kind!r}"
            )
        fields = FACT_TYPES[kind]
        unknown = sorted(set(raw) - set(fields) - {"fact"})
        if unknown:
            raise _example_error(rule, f"example fact {i} ({kind}): unknown field(s) {unknown}")
        fact: dict[str, Any] = dict.fromkeys(fields)
        fact.update(
            {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k != "fact"}
        )
        if fact.get("id") is None:
            fact["id"] = "patient" if kind == "patient" else f"{kind}-{i}"
        by_type.setdefault(kind, []).append(fact)
    return {t: tuple(fs) for t, fs in by_type.items()}


def run_examples(pack: RulePack, engine: str = "experta") -> list[ExampleResult]:
    """Run every example of every non-retired rule; report fired vs expected."""
    out: list[ExampleResult] = []
    variants: dict[tuple[tuple[str, Any], ...], RulePack] = {}
    for rule in pack.rules:
        if rule.status == "retired":
            continue
        for ex in rule.examples:
            key = tuple(sorted(ex.options.items()))
            if key not in variants:
                try:
                    variants[key] = pack.with_options(**ex.options) if ex.options else pack
                except OptionError as exc:
                    raise _example_error(
                        rule, f"example {ex.name!r}: {exc}", "examples.options"
                    ) from None
            variant = variants[key]
            facts = _example_facts(rule, ex.facts)
            target = variant.rule(rule.id)
            fired = ref = False
            if target.enabled:
                # drafts do not run in packs: the reference evaluator checks them as if active
                rules = [r for r in variant.active_rules if r.id != rule.id] + [target]
                ref = any(f.rule_id == rule.id for f in reference_run(rules, facts)[0])
                fired = ref
                if rule.status == "active":
                    run = run_engine(variant, FactSet(by_type=facts), engine)
                    fired = any(f.rule_id == rule.id for f in run.firings)
            out.append(ExampleResult(rule.id, ex.name, ex.fires, fired, ref))
    return out


def lint_pack(pack_or_path: RulePack | str | Path) -> list[LintMessage]:
    """Load (if given a path) and lint a pack; errors first. Loading errors raise."""
    pack = pack_or_path if isinstance(pack_or_path, RulePack) else load_pack(pack_or_path)
    msgs: list[LintMessage] = []
    for rule in pack.rules:
        if rule.status != "active":
            continue
        kinds = {ex.fires for ex in rule.examples}
        for want, word in ((True, "fires"), (False, "does not fire")):
            if want not in kinds:
                msgs.append(
                    LintMessage(
                        "error",
                        rule.id,
                        f"needs an example on which it {word}",
                        rule.file,
                        rule.line,
                    )
                )
    try:
        results = run_examples(pack)
    except RulePackError as exc:
        msgs.append(LintMessage("error", exc.rule_id, exc.message, exc.file, exc.line))
        results = []
    for r in results:
        if not r.ok:
            rule = pack.rule(r.rule_id)
            msgs.append(
                LintMessage(
                    "error",
                    r.rule_id,
                    f"example {r.name!r}: expected {'to fire' if r.expected else 'not to fire'}, "
                    f"experta {'fired' if r.fired else 'did not fire'}, reference evaluator "
                    f"{'fired' if r.reference_fired else 'did not fire'}",
                    rule.file,
                    rule.line,
                )
            )
    used_sources = {c.source for r in pack.rules for c in r.cite}
    used_sources |= {o.source for o in pack.option_specs.values() if o.source}
    for key in sorted(set(pack.sources) - used_sources):
        msgs.append(
            LintMessage("warning", None, f"source {key!r} is cited by no rule", "pack.toml")
        )
    used_options = {k for r in pack.rules for k in r.options_used}
    for key in sorted(set(pack.option_specs) - used_options - _FACT_STAGE_OPTIONS):
        msgs.append(LintMessage("warning", None, f"option {key!r} is used by no rule", "pack.toml"))
    msgs.sort(key=lambda m: (m.level != "error", m.file or "", m.line or 0, m.message))
    return msgs


# options read by the facts stage rather than by rule conditions
_FACT_STAGE_OPTIONS = frozenset({"recent_window_months", "onset_tolerance_months"})
