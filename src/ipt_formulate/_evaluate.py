"""Pure-Python evaluation of rules over facts: matching, diagnosis (WHY-NOT) and a
stratified forward-chaining run.

This is the reference reading of the rule semantics in ``docs/rule-authoring.md``: the experta
backend must fire exactly the rules this module fires (the test suite checks it on every rule
example and on generated inventories).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._logic import Truth, truth
from .rulepack import Condition, Pattern, Rule, _finding_name

Fact = Mapping[str, Any]
Env = dict[str, tuple[str, Fact]]  # var -> (fact type, fact)


@dataclass(frozen=True, order=True)
class Firing:
    """One rule activation: the rule and the identity of each bound fact."""

    rule_id: str
    bindings: tuple[tuple[str, str, str], ...]  # (var, fact type, fact id), sorted by var

    def fact_id(self, var: str) -> str | None:
        for v, _, fid in self.bindings:
            if v == var:
                return fid
        return None


def finding_fact(name: str, focus: str | None) -> dict[str, Any]:
    return {"id": name if focus is None else f"{name}@{focus}", "name": name, "focus": focus}


def cond_truth(c: Condition, fact: Fact, env: Env) -> Truth:
    value = fact.get(c.field)
    if c.ref is not None:
        other = env[c.ref[0]][1].get(c.ref[1])
        # joins compare identities: a missing reference never joins (see rule-authoring.md)
        return value is not None and other is not None and value == other
    return truth(c.op, value, c.value)


class FactIndex:
    """Facts by type, mutable only by adding findings during a run."""

    def __init__(self, by_type: Mapping[str, Iterable[Fact]]) -> None:
        self.by_type: dict[str, list[Fact]] = {t: list(fs) for t, fs in by_type.items()}
        self._finding_ids: set[str] = {f["id"] for f in self.by_type.get("finding", [])}

    def facts(self, fact_type: str) -> list[Fact]:
        return self.by_type.get(fact_type, [])

    def add_finding(self, name: str, focus: str | None) -> bool:
        f = finding_fact(name, focus)
        if f["id"] in self._finding_ids:
            return False
        self._finding_ids.add(f["id"])
        self.by_type.setdefault("finding", []).append(f)
        return True


def _pattern_matches(p: Pattern, fact: Fact, env: Env) -> bool:
    return all(cond_truth(c, fact, env) is True for c in p.conditions)


def _pattern_blocks(p: Pattern, fact: Fact, env: Env) -> bool:
    return all(cond_truth(c, fact, env) is not False for c in p.conditions)


def match(rule: Rule, index: FactIndex) -> list[Env]:
    """Every complete binding of the rule's patterns (empty if it does not fire)."""
    out: list[Env] = []

    def go(i: int, env: Env) -> None:
        if i == len(rule.patterns):
            out.append(dict(env))
            return
        p = rule.patterns[i]
        facts = index.facts(p.fact)
        if not p.exists:
            if not any(_pattern_blocks(p, f, env) for f in facts):
                go(i + 1, env)
            return
        for f in facts:
            if _pattern_matches(p, f, env):
                env[p.var] = (p.fact, f)
                go(i + 1, env)
                del env[p.var]

    go(0, {})
    return out


def to_firing(rule: Rule, env: Env) -> Firing:
    return Firing(
        rule.id,
        tuple(sorted((v, t, str(f["id"])) for v, (t, f) in env.items())),
    )


def run(
    rules: Iterable[Rule], facts: Mapping[str, Iterable[Fact]]
) -> tuple[list[Firing], FactIndex]:
    """Stratified forward chaining to a fixpoint. Returns sorted firings and the final facts."""
    index = FactIndex(facts)
    by_stratum: dict[int, list[Rule]] = {}
    for r in rules:
        by_stratum.setdefault(r.stratum, []).append(r)
    fired: set[Firing] = set()
    for s in sorted(by_stratum):
        changed = True
        while changed:
            changed = False
            for r in by_stratum[s]:
                for env in match(r, index):
                    fr = to_firing(r, env)
                    if fr in fired:
                        continue
                    fired.add(fr)
                    if r.asserts is not None:
                        focus = None
                        if r.asserts.focus is not None:
                            focus = str(env[r.asserts.focus][1]["id"])
                        if index.add_finding(r.asserts.finding, focus):
                            changed = True
    return sorted(fired), index


# ------------------------------------------------------------------ diagnosis (WHY-NOT)
@dataclass(frozen=True)
class Diagnosis:
    """Why a rule did not fire: the first pattern and condition that failed or was unknown."""

    status: str  # "failed" | "unknown"
    pattern: str
    condition: str | None
    detail: str


def _name(fact: Fact) -> str:
    return str(fact.get("name") or fact.get("id"))


def diagnose(rule: Rule, index: FactIndex) -> Diagnosis:
    """Explain why ``rule`` has no complete binding (call only when it did not fire).

    First the rule is matched *optimistically*, reading every unknown condition as
    satisfiable. If even that fails, the unknowns do not matter: the result is ``failed``,
    with the first false condition of the binding that got furthest. Otherwise the rule was
    stopped only by unknown values: the result is ``unknown``, naming them.
    """
    best: tuple[int, int, Diagnosis] | None = None  # (pattern index, conds passed, diagnosis)

    def consider(i: int, passed: int, d: Diagnosis) -> None:
        nonlocal best
        if best is None or (i, passed) > (best[0], best[1]):
            best = (i, passed, d)

    unknowns: list[Diagnosis] = []

    def go(i: int, env: Env, pending: list[Diagnosis]) -> bool:
        if i == len(rule.patterns):
            unknowns.extend(pending)
            return True
        p = rule.patterns[i]
        facts = index.facts(p.fact)
        if not p.exists:
            sure = [f for f in facts if _pattern_matches(p, f, env)]
            if sure:
                consider(
                    i,
                    0,
                    Diagnosis(
                        "failed",
                        p.text,
                        None,
                        f"{p.fact} {_name(sure[0])!r} exists, and the rule needs none",
                    ),
                )
                return False
            maybe = [f for f in facts if _pattern_blocks(p, f, env)]
            extra = [
                Diagnosis(
                    "unknown",
                    p.text,
                    c.text,
                    f"cannot rule out {p.fact} {_name(f)!r}: {c.field} is unknown",
                )
                for f in maybe[:1]
                for c in p.conditions
                if cond_truth(c, f, env) is None
            ]
            return go(i + 1, env, pending + extra)
        if p.fact == "finding":
            wanted = _finding_name(p)
            facts = [f for f in facts if f.get("name") == wanted]
            if not facts:
                consider(
                    i,
                    0,
                    Diagnosis(
                        "failed",
                        p.text,
                        f"name == {wanted!r}",
                        f"finding {wanted!r} was not established",
                    ),
                )
                return False
        if not facts:
            consider(i, 0, Diagnosis("failed", p.text, None, f"no {p.fact} facts recorded"))
            return False
        for f in facts:
            passed = 0
            unknown_here: list[Diagnosis] = []
            for c in p.conditions:
                t = cond_truth(c, f, env)
                if t is None:
                    unknown_here.append(
                        Diagnosis(
                            "unknown",
                            p.text,
                            c.text,
                            f"{p.fact} {_name(f)!r}: {c.field} is unknown",
                        )
                    )
                    continue
                if t is False:
                    consider(
                        i,
                        passed,
                        Diagnosis(
                            "failed",
                            p.text,
                            c.text,
                            f"{p.fact} {_name(f)!r}: {c.field} = {f.get(c.field)!r}, "
                            f"needs {c.text}",
                        ),
                    )
                    break
                passed += 1
            else:
                env[p.var] = (p.fact, f)
                found = go(i + 1, env, pending + unknown_here)
                del env[p.var]
                if found:
                    return True
        return False

    if go(0, {}, []) and unknowns:
        first = unknowns[0]
        more = "; ".join(sorted({u.detail for u in unknowns}))
        return Diagnosis("unknown", first.pattern, first.condition, more)
    if best is None:
        return Diagnosis("failed", "", None, "no binding satisfies the rule")
    return best[2]
