"""The experta backend: compiles a :class:`~ipt_formulate.rulepack.RulePack` into an experta
``KnowledgeEngine`` subclass. The only module that touches experta's rule API.

* **Compiled once per pack** (keyed by the pack's content hash); each thread gets its own
  engine instance (experta engines are not thread-safe), built once and ``reset()`` per call.
* **Determinism**: experta fires equal-salience activations in hash order. Nothing here
  depends on that order: firings are collected as a set and sorted, findings are facts whose
  identity is their content, and salience only encodes the strata of chained findings (a rule
  that negates a finding runs after every rule that can assert it).
* **Unknown values**: each condition becomes a ``P()`` test that is true only when the
  three-valued condition is True (or, inside ``NOT``, not False) — see :mod:`._logic`.
* All facts are declared in one ``declare(*facts)`` call (experta#10: declaring one at a time
  can leave stale activations of rules with ``NOT``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._evaluate import Firing, TooManyFirings, finding_fact
from ._experta_compat import experta
from ._logic import all_of, predicate
from .facts import FactSet
from .rulepack import Pattern, Rule, RulePack

Fact = experta.Fact
KnowledgeEngine = experta.KnowledgeEngine

_FACT_CLASSES: dict[str, Any] = {
    name: type(f"{name.capitalize()}Fact", (Fact,), {})
    for name in ("patient", "person", "event", "link", "finding")
}


def _not_none(v: Any) -> bool:
    return v is not None


def _join_name(var: str, field: str) -> str:
    # upper case: a rule's own variables are lower case, so the two can never clash
    return f"J_{var}_{field}"


def _compile_pattern(p: Pattern, joins: Mapping[tuple[str, str], str]) -> Any:
    """One experta pattern for one rule pattern."""
    tests: dict[str, list[Callable[[Any], bool]]] = {}
    match_on: dict[str, str] = {}
    for c in p.conditions:
        if c.ref is not None:
            match_on[c.field] = joins[c.ref]
        elif c.op == "known" and (p.var, c.field) in joins:
            continue  # the MATCH binding below already requires a known value
        else:
            tests.setdefault(c.field, []).append(
                predicate(c.op, c.value, negated_pattern=not p.exists)
            )
    # fields that other patterns join on are bound as MATCH variables
    for (var, fld), mname in joins.items():
        if var == p.var:
            match_on[fld] = mname
    kwargs: dict[str, Any] = {}
    for fld in sorted(set(tests) | set(match_on)):
        constraint = None
        if fld in match_on:
            constraint = getattr(experta.MATCH, match_on[fld]) & experta.P(_not_none)
        if fld in tests:
            pc = experta.P(all_of(tests[fld]))
            constraint = pc if constraint is None else constraint & pc
        kwargs[fld] = constraint
    fact = _FACT_CLASSES[p.fact](**kwargs)
    if p.exists:
        return getattr(experta.AS, p.var) << fact
    return experta.NOT(fact)


def _make_rhs(rule: Rule, vars_: tuple[str, ...]) -> Callable[..., None]:
    asserts = rule.asserts

    def rhs(engine: Any, /, **ctx: Any) -> None:
        bindings = tuple(
            sorted((v, ctx[v].__class__.__name__[:-4].lower(), str(ctx[v]["id"])) for v in vars_)
        )
        engine.ipt_firings.add(Firing(rule.id, bindings))
        if len(engine.ipt_firings) > engine.ipt_max_firings:
            raise TooManyFirings(rule.id, engine.ipt_max_firings)
        if asserts is not None:
            focus = None if asserts.focus is None else str(ctx[asserts.focus]["id"])
            engine.declare(_FACT_CLASSES["finding"](**finding_fact(asserts.finding, focus)))

    rhs.__name__ = rule.id.replace(".", "_").replace("-", "_")
    return rhs


def _compile_rule(rule: Rule, salience: int) -> Any:
    # One MATCH name per joined value. A field joined to an earlier variable's field shares
    # that name, so a later join on it cannot overwrite the earlier one (a chain
    # sd.focus == deceased.id == death.subject is one MATCH variable).
    joins: dict[tuple[str, str], str] = {}
    for p in rule.patterns:
        for c in p.conditions:
            if c.ref is not None:
                name = joins.setdefault(c.ref, _join_name(*c.ref))
                joins.setdefault((p.var, c.field), name)
    # experta itself prepends InitialFact when the first pattern is a NOT
    ces = [_compile_pattern(p, joins) for p in rule.patterns]
    vars_ = tuple(p.var for p in rule.patterns if p.exists)
    return experta.Rule(experta.AND(*ces), salience=salience)(_make_rhs(rule, vars_))


class ExpertaBackend:
    """A pack compiled onto experta; :meth:`run` is thread-safe."""

    name = "experta"

    def __init__(self, pack: RulePack) -> None:
        rules = pack.active_rules
        top = max((r.stratum for r in rules), default=0)
        attrs = {f"rule_{i}": _compile_rule(r, top - r.stratum) for i, r in enumerate(rules)}
        self._engine_cls: type = type("IptPackEngine", (KnowledgeEngine,), attrs)
        self._fact_types = sorted(pack.fact_types_used() - {"finding"})
        self._local = threading.local()

    def _engine(self) -> Any:
        eng = getattr(self._local, "engine", None)
        if eng is None:
            eng = self._engine_cls()
            self._local.engine = eng
        return eng

    def run(
        self, facts: FactSet | Mapping[str, Any], max_firings: int | None = None
    ) -> tuple[list[Firing], list[dict[str, Any]]]:
        """Fire the pack on the facts; returns (sorted firings, sorted findings). Raises
        :class:`._evaluate.TooManyFirings` past ``max_firings`` activations."""
        by_type = facts.by_type if isinstance(facts, FactSet) else facts
        eng = self._engine()
        eng.reset()
        eng.ipt_firings = set()
        eng.ipt_max_firings = max_firings if max_firings is not None else float("inf")
        declared = [
            _FACT_CLASSES[t](**f) for t in sorted(by_type) if t in _FACT_CLASSES for f in by_type[t]
        ]
        if declared:
            eng.declare(*declared)
        eng.run()
        findings = sorted(
            (
                {"id": f["id"], "name": f["name"], "focus": f["focus"]}
                for f in eng.facts.values()
                if isinstance(f, _FACT_CLASSES["finding"])
            ),
            key=lambda f: f["id"],
        )
        firings = sorted(eng.ipt_firings)
        eng.ipt_firings = set()
        return firings, findings
