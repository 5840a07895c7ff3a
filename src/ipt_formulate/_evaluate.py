"""Pure-Python evaluation of rules over facts: matching, diagnosis (WHY-NOT) and a
stratified forward-chaining run.

This is the reference reading of the rule semantics in ``docs/rule-authoring.md``: the experta
backend must fire exactly the rules this module fires (the test suite checks it on every rule
example and on generated inventories).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from ._logic import COMPARE, Truth, truth
from .rulepack import Condition, Pattern, Rule, _finding_name

Fact = Mapping[str, Any]
Env = dict[str, tuple[str, Fact]]  # var -> (fact type, fact)


class Firing(NamedTuple):
    """One rule activation: the rule and the identity of each bound fact.

    A named tuple: created, hashed, compared and sorted in C (every backend makes one per
    activation), ordered by rule id, then bindings.
    """

    rule_id: str
    bindings: tuple[tuple[str, str, str], ...]  # (var, fact type, fact id), sorted by var

    def fact_id(self, var: str) -> str | None:
        for v, _, fid in self.bindings:
            if v == var:
                return fid
        return None


class TooManyFirings(Exception):
    """A backend stopped: a run made more than ``limit`` rule activations (the engine layer
    turns this into :class:`~ipt_formulate.errors.InputTooLargeError`)."""

    def __init__(self, rule_id: str, limit: int) -> None:
        super().__init__(rule_id, limit)
        self.rule_id = rule_id
        self.limit = limit


def finding_fact(name: str, focus: str | None) -> dict[str, Any]:
    return {"id": name if focus is None else f"{name}@{focus}", "name": name, "focus": focus}


def cond_truth(c: Condition, fact: Fact, env: Env) -> Truth:
    value = fact.get(c.field)
    if c.ref is not None:
        other = env[c.ref[0]][1].get(c.ref[1])
        # joins compare identities: a missing reference never joins (see rule-authoring.md)
        return value is not None and other is not None and value == other
    return truth(c.op, value, c.value)


TruthFn = Callable[[Fact, Env], Truth]
"""A condition compiled to a closure: ``cond_truth(c, fact, env)`` without reading ``c``."""


def compile_condition(c: Condition) -> TruthFn:
    """``c`` as a closure with the same three-valued result as :func:`cond_truth`
    (:func:`._logic.truth` specialised on the operator, for WHY-NOT's inner loop)."""
    fld = c.field
    if c.ref is not None:
        var, other_fld = c.ref

        def joined(fact: Fact, env: Env) -> Truth:
            value = fact.get(fld)
            other = env[var][1].get(other_fld)
            return value is not None and other is not None and value == other

        return joined
    op, rhs = c.op, c.value
    if op == "known":
        return lambda fact, env: fact.get(fld) is not None
    if op == "unknown":
        return lambda fact, env: fact.get(fld) is None
    if rhs is None:  # comparing with an unknown constant is unknown
        return lambda fact, env: None
    cmp = COMPARE[op]

    def compare(fact: Fact, env: Env) -> Truth:
        value = fact.get(fld)
        return None if value is None else cmp(value, rhs)

    return compare


def compile_truths(rule: Rule) -> tuple[tuple[TruthFn, ...], ...]:
    """Every condition of every pattern of ``rule``, compiled (for :func:`diagnose`)."""
    return tuple(tuple(compile_condition(c) for c in p.conditions) for p in rule.patterns)


class FactIndex:
    """Facts by type, mutable only by adding findings during a run."""

    def __init__(self, by_type: Mapping[str, Iterable[Fact]]) -> None:
        self.by_type: dict[str, list[Fact]] = {t: list(fs) for t, fs in by_type.items()}
        self._finding_ids: set[str] = {f["id"] for f in self.by_type.get("finding", [])}
        # (type, field) -> (number of facts indexed, value -> [(position, fact)]) or None
        self._groups: dict[tuple[str, str], tuple[int, dict[Any, list[tuple[int, Fact]]] | None]]
        self._groups = {}

    def facts(self, fact_type: str) -> list[Fact]:
        return self.by_type.get(fact_type, [])

    def joined(self, fact_type: str, fld: str, value: Any) -> list[tuple[int, Fact]] | None:
        """``(position, fact)`` of the facts whose ``fld`` equals ``value``, in order: the
        facts a join ``fld == value`` keeps (none for ``None``). ``None`` when a value is
        unhashable (scan instead). The grouping is built once and rebuilt if facts were added.
        """
        facts = self.facts(fact_type)
        cached = self._groups.get((fact_type, fld))
        if cached is None or cached[0] != len(facts):
            groups: dict[Any, list[tuple[int, Fact]]] | None = {}
            try:
                for pos, f in enumerate(facts):
                    v = f.get(fld)
                    if v is not None and v == v:  # None never joins; NaN never equals
                        groups.setdefault(v, []).append((pos, f))  # type: ignore[union-attr]
            except TypeError:
                groups = None
            cached = self._groups[(fact_type, fld)] = (len(facts), groups)
        if value is None:
            return []
        if cached[1] is None:
            return None
        try:
            return cached[1].get(value, [])
        except TypeError:
            return None

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


def _pattern_may_match(p: Pattern, fact: Fact, env: Env) -> bool:
    return all(cond_truth(c, fact, env) is not False for c in p.conditions)


def _pattern_surely_blocks(p: Pattern, fact: Fact, env: Env) -> bool:
    return all(cond_truth(c, fact, env) is True for c in p.conditions)


def match(rule: Rule, index: FactIndex, *, certain: frozenset[str] | None = None) -> list[Env]:
    """Every complete binding of the rule's patterns (empty if it does not fire).

    ``certain`` switches to the *possible* reading (score bounds): the ids of the findings
    the certain run established. Every unknown condition is then read in the rule's favour
    (a fact matches unless a condition is False; only a fact whose conditions are all True
    blocks a negated pattern, and of findings only a certain one). Joins still need both
    values known.
    """
    out: list[Env] = []
    matches, blocks = _pattern_matches, _pattern_blocks
    if certain is not None:
        matches, blocks = _pattern_may_match, _pattern_surely_blocks

    def go(i: int, env: Env) -> None:
        if i == len(rule.patterns):
            out.append(dict(env))
            return
        p = rule.patterns[i]
        facts = index.facts(p.fact)
        if not p.exists:
            if certain is not None and p.fact == "finding":
                facts = [f for f in facts if f["id"] in certain]
            if not any(blocks(p, f, env) for f in facts):
                go(i + 1, env)
            return
        for f in facts:
            if matches(p, f, env):
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
    rules: Iterable[Rule],
    facts: Mapping[str, Iterable[Fact]],
    *,
    certain: frozenset[str] | None = None,
) -> tuple[list[Firing], FactIndex]:
    """Stratified forward chaining to a fixpoint. Returns sorted firings and the final facts.
    ``certain``: the possible reading, as in :func:`match` (``facts`` then hold the certain
    findings)."""
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
                for env in match(r, index, certain=certain):
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


# (pattern, condition, fact, in a negated pattern?)
_Unknown = tuple[Pattern, Condition, Fact, bool]


def diagnose(
    rule: Rule, index: FactIndex, truths: Sequence[Sequence[TruthFn]] | None = None
) -> Diagnosis:
    """Explain why ``rule`` has no complete binding (call only when it did not fire).

    First the rule is matched *optimistically*, reading every unknown condition as
    satisfiable. If even that fails, the unknowns do not matter: the result is ``failed``,
    with the first false condition of the binding that got furthest. Otherwise the rule was
    stopped only by unknown values: the result is ``unknown``, naming them.

    Texts are built lazily: a candidate diagnosis is a thunk, rendered only when it is the
    one reported (WHY-NOT runs for every rule that did not fire, on every formulation).
    ``truths``: the rule's conditions compiled by :func:`compile_truths` (callers that
    diagnose the same rule often compile them once).
    """
    search = _Diagnoser(rule.patterns, compile_truths(rule) if truths is None else truths, index)
    if search.go(0, {}, []) and search.unknowns:
        details = [_unknown_diagnosis(u) for u in search.unknowns]
        first = details[0]
        more = "; ".join(sorted({u.detail for u in details}))
        return Diagnosis("unknown", first.pattern, first.condition, more)
    if search.best is None:
        return Diagnosis("failed", "", None, "no binding satisfies the rule")
    return search.best[2]()


class _Diagnoser:
    """The optimistic backtracking search of :func:`diagnose` and what it found: the
    furthest failure (pattern index, conditions passed, thunk; the first one on ties) and
    the unknown conditions of the complete binding, if there is one."""

    def __init__(
        self, patterns: Sequence[Pattern], truths: Sequence[Sequence[TruthFn]], index: FactIndex
    ) -> None:
        self.patterns = patterns
        self.truths = truths
        self.index = index
        self.best: tuple[int, int, Callable[[], Diagnosis]] | None = None
        self.unknowns: list[_Unknown] = []

    def consider(self, i: int, passed: int, make: Callable[[], Diagnosis]) -> None:
        best = self.best
        if best is None or (i, passed) > (best[0], best[1]):
            self.best = (i, passed, make)

    def go(self, i: int, env: Env, pending: list[_Unknown]) -> bool:
        """Bind patterns ``i``... optimistically; True once a complete binding is found."""
        if i == len(self.patterns):
            self.unknowns.extend(pending)
            return True
        p = self.patterns[i]
        ts = self.truths[i]
        facts = self.index.by_type.get(p.fact, ())
        if not p.exists:
            return self._negated(i, p, ts, facts, env, pending)
        if p.fact == "finding":
            wanted = _finding_name(p)
            facts = [f for f in facts if f.get("name") == wanted]
            if not facts:
                self.consider(i, 0, partial(_finding_failure, p, wanted))
                return False
        if not facts:
            self.consider(i, 0, partial(_no_facts, p))
            return False
        conds = p.conditions
        todo, miss = self._candidates(p, facts, env)
        for pos, f in todo:
            if 0 <= miss < pos:
                self.consider(i, 0, partial(_condition_failure, p, conds[0], facts[miss]))
                miss = -1
            passed = 0
            unknown_here: list[_Unknown] = []
            for c, truth_of in zip(conds, ts, strict=True):
                t = truth_of(f, env)
                if t is None:
                    unknown_here.append((p, c, f, False))
                    continue
                if t is False:
                    self.consider(i, passed, partial(_condition_failure, p, c, f))
                    break
                passed += 1
            else:
                env[p.var] = (p.fact, f)
                found = self.go(i + 1, env, pending + unknown_here)
                del env[p.var]
                if found:
                    return True
        if miss >= 0:
            self.consider(i, 0, partial(_condition_failure, p, conds[0], facts[miss]))
        return False

    def _negated(
        self,
        i: int,
        p: Pattern,
        ts: Sequence[TruthFn],
        facts: Sequence[Fact],
        env: Env,
        pending: list[_Unknown],
    ) -> bool:
        """A negated pattern blocks when a fact surely matches; the first fact that might
        match adds its unknown conditions to what the binding waits on."""
        sure = [f for f in facts if all(t(f, env) is True for t in ts)]
        if sure:
            self.consider(i, 0, partial(_exists_failure, p, sure[0]))
            return False
        extra: list[_Unknown] = []
        for f in facts:
            if all(t(f, env) is not False for t in ts):  # the first fact that might block
                extra = [
                    (p, c, f, True)
                    for c, t in zip(p.conditions, ts, strict=True)
                    if t(f, env) is None
                ]
                break
        return self.go(i + 1, env, pending + extra)

    def _candidates(
        self, p: Pattern, facts: Sequence[Fact], env: Env
    ) -> tuple[Iterable[tuple[int, Fact]], int]:
        """The facts to visit, with their positions, and the position of the first fact a
        join rejects (-1: none).

        A pattern whose first condition is a join visits only the facts the join keeps (a
        hash lookup, not a scan: WHY-NOT stays linear). Every other fact fails on that first
        condition; only the first of them can matter (ties keep the first diagnosis), so it
        is considered at its place in the scan order.
        """
        c0 = p.conditions[0] if p.conditions else None
        if c0 is None or c0.ref is None or p.fact == "finding":
            return enumerate(facts), -1
        hits = self.index.joined(p.fact, c0.field, env[c0.ref[0]][1].get(c0.ref[1]))
        if hits is None:
            return enumerate(facts), -1
        miss = len(hits)
        for k, (pos, _) in enumerate(hits):
            if pos != k:
                miss = k
                break
        return hits, -1 if miss >= len(facts) else miss


def _unknown_diagnosis(u: _Unknown) -> Diagnosis:
    p, c, f, negated = u
    if negated:
        detail = f"cannot rule out {p.fact} {_name(f)!r}: {c.field} is unknown"
    else:
        detail = f"{p.fact} {_name(f)!r}: {c.field} is unknown"
    return Diagnosis("unknown", p.text, c.text, detail)


def _exists_failure(p: Pattern, f: Fact) -> Diagnosis:
    return Diagnosis(
        "failed", p.text, None, f"{p.fact} {_name(f)!r} exists, and the rule needs none"
    )


def _no_facts(p: Pattern) -> Diagnosis:
    return Diagnosis("failed", p.text, None, f"no {p.fact} facts recorded")


def _finding_failure(p: Pattern, wanted: str | None) -> Diagnosis:
    return Diagnosis(
        "failed", p.text, f"name == {wanted!r}", f"finding {wanted!r} was not established"
    )


def _condition_failure(p: Pattern, c: Condition, f: Fact) -> Diagnosis:
    return Diagnosis(
        "failed",
        p.text,
        c.text,
        f"{p.fact} {_name(f)!r}: {c.field} = {f.get(c.field)!r}, needs {c.text}",
    )
