"""Score bounds under unknown values: the *possible* reading of a rule pack.

The engines fire a rule only where every condition is True (three-valued logic, unknown is
never "yes"). That reading gives each hypothesis its *certain* score. This module adds the
optimistic reading: every unknown condition resolved in the rule's favour (a fact matches
unless a condition is False; a negated pattern is blocked only by a fact whose conditions are
all True, and of findings only by one the certain run established). Its firings are a
superset of the certain ones, and from the two sets each hypothesis gets

* ``upper_bound``: supporting rules that *may* fire plus opposing rules that *do* fire;
* ``lower_bound``: supporting rules that do fire plus opposing rules that may fire;

both with the same certainty-factor combination as the score (monotone in each weight, so
they are true bounds). Joins still need both values known: an unknown identity (whose death
was it?) is never guessed.

The possible reading always runs on the compiled backend (proven equal to experta by the
differential tests, and to the reference evaluator's possible reading by
``tests/test_bounds.py``), so bounds are identical whichever engine produced the certain run.

:class:`OpenFacts` then names, for a firing that is possible but not certain, the unknown
fact fields it waits on, traced back to inventory paths by :class:`~.facts.SourceMap`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._compiled_backend import CompiledBackend
from ._evaluate import Env, Fact, Firing, TooManyFirings, cond_truth
from .engine import EngineRun, backend, engine_run, run_engine, too_many_firings
from .errors import EngineError
from .facts import FactSet, SourceMap
from .formulation import path_order
from .rulepack import RulePack

OpenKey = tuple[str, str, str]  # (fact type, fact id, field): one unknown value


def possible_run(
    pack: RulePack,
    facts: FactSet,
    certain_findings: Sequence[Mapping[str, Any]],
    max_firings: int | None = None,
) -> tuple[list[Firing], list[dict[str, Any]]]:
    """Firings and findings of the possible reading (compiled backend, optimistic mode), at
    most ``max_firings`` activations (more is ``input.too_large``)."""
    by_type = dict(facts.by_type)
    by_type["finding"] = tuple({**f, "certain": True} for f in certain_findings)
    try:
        return backend(pack, "compiled", optimistic=True).run(FactSet(by_type), max_firings)
    except TooManyFirings as exc:
        raise too_many_firings(exc) from None


def certain_and_possible(
    pack: RulePack, facts: FactSet, max_firings: int | None = None
) -> tuple[EngineRun, list[Firing], list[dict[str, Any]]]:
    """The compiled engine's certain run and the possible reading, in one three-valued pass
    (:meth:`~._compiled_backend.CompiledBackend.run_both`): the same results as
    ``run_engine(pack, facts, "compiled")`` followed by :func:`possible_run`, at about the
    cost of the possible run alone. Past the activation limit it repeats the two separate
    runs, so the error (which run, which rule) is exactly theirs."""
    be = backend(pack, "compiled", both=True)
    assert isinstance(be, CompiledBackend)
    try:
        firings, findings, maybe, maybe_findings = be.run_both(facts, max_firings)
    except TooManyFirings:
        run = run_engine(pack, facts, "compiled", max_firings=max_firings)
        return (run, *possible_run(pack, facts, run.findings, max_firings))
    except Exception as exc:  # backend internals must not leak: wrap as our own error
        raise EngineError(f"the compiled backend failed: {type(exc).__name__}: {exc}") from exc
    return engine_run("compiled", facts, firings, findings), maybe, maybe_findings


class OpenFacts:
    """What a possible-but-not-certain firing waits on: the unknown values that stand
    between it and a certain firing (computed on demand, memoised per firing; its indexes
    are built on the first question, so a formulation that lists no waits pays nothing)."""

    def __init__(
        self,
        pack: RulePack,
        facts: FactSet,
        lookup: Mapping[tuple[str, str], Fact],
        possible: Iterable[Firing],
        certain_ids: frozenset[str],
        possible_findings: Iterable[Mapping[str, Any]],
        sources: SourceMap,
    ) -> None:
        self._pack = pack
        self._sources = sources
        self._certain = certain_ids
        self._args = (facts, lookup, possible, possible_findings)
        self._ready = False
        self._facts: dict[str, Sequence[Fact]] = {}
        self._lookup: dict[tuple[str, str], Fact] = {}  # the possible findings
        self._base: Mapping[tuple[str, str], Fact] = {}
        self._producers: dict[str, list[Firing]] = {}
        self._memo: dict[Any, frozenset[OpenKey]] = {}
        self._paths: dict[OpenKey, tuple[tuple[str, str], ...]] = {}
        self._joins: dict[tuple[str, str], dict[Any, list[Fact]] | None] = {}

    def _index(self) -> None:
        """Build the indexes (once, on first use)."""
        facts, lookup, possible, possible_findings = self._args
        self._facts.update(facts.by_type)
        self._facts["finding"] = tuple(possible_findings)
        self._base = lookup  # not copied: the possible findings are looked up first
        self._lookup.update((("finding", str(f["id"])), f) for f in self._facts["finding"])
        for fr in possible:
            rule = self._pack.rule(fr.rule_id)
            if rule.asserts is not None:
                focus = None if rule.asserts.focus is None else fr.fact_id(rule.asserts.focus)
                fid = rule.asserts.finding if focus is None else f"{rule.asserts.finding}@{focus}"
                self._producers.setdefault(fid, []).append(fr)
        self._ready = True

    def of_firing(self, firing: Firing) -> frozenset[OpenKey]:
        """The unknown values a possible firing depends on (empty if it is certain)."""
        if not self._ready:
            self._index()
        got = self._memo.get(firing)
        if got is None:
            self._memo[firing] = frozenset()  # a cycle through findings adds nothing
            got = self._memo[firing] = frozenset(self._walk(firing))
        return got

    def _walk(self, firing: Firing) -> set[OpenKey]:
        rule = self._pack.rule(firing.rule_id)
        env: Env = {}
        for var, t, i in firing.bindings:
            fact = self._fact(t, i)
            if fact is not None:
                env[var] = (t, fact)
        out: set[OpenKey] = set()
        for k, p in enumerate(rule.patterns):
            if p.exists:
                if p.var in env:
                    out |= self._unknowns(rule.id, k, p, env[p.var][1])
                continue
            refs = any(c.ref is not None for c in p.conditions)
            key = None if refs else (rule.id, k)
            cached = self._memo.get(key) if key is not None else None
            if cached is None:
                cached = frozenset(self._blockers(p, env))
                if key is not None:
                    self._memo[key] = cached
            out |= cached
        return out

    def _fact(self, fact_type: str, fact_id: str) -> Fact | None:
        return self._lookup.get((fact_type, fact_id)) or self._base.get((fact_type, fact_id))

    def _unknowns(self, rule_id: str, k: int, p: Any, fact: Fact) -> frozenset[OpenKey]:
        """The unknowns of a positive pattern's fact: its conditions that are unknown, and
        what the finding waits on when it is possible only. Joins are never unknown, so the
        conditions' part depends on the fact alone (memoised per rule, pattern and fact); a
        possible finding's part is asked anew (a cycle through findings may still be open)."""
        fid = str(fact["id"])
        key = (rule_id, k, fid)
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = frozenset(
                (p.fact, fid, c.field)
                for c in p.conditions
                if c.ref is None and cond_truth(c, fact, {}) is None
            )
        if p.fact == "finding" and fid not in self._certain:
            return got | self._of_finding(fid)
        return got

    def _blockers(self, p: Any, env: Env) -> set[OpenKey]:
        """Facts that might block a negated pattern, and the unknowns that decide it."""
        out: set[OpenKey] = set()
        for fact in self._candidates(p, env):
            fid = str(fact["id"])
            if p.fact == "finding" and fid in self._certain:
                continue  # a certain blocker would have stopped the possible firing too
            truths = [cond_truth(c, fact, env) for c in p.conditions]
            if any(t is False for t in truths):
                continue
            if p.fact == "finding":
                out |= self._of_finding(fid)
            out.update(
                (p.fact, fid, c.field)
                for c, t in zip(p.conditions, truths, strict=True)
                if t is None
            )
        return out

    def _candidates(self, p: Any, env: Env) -> Sequence[Fact]:
        """The facts of a negated pattern that its first join does not rule out: a join is
        True or False, never unknown (:func:`._evaluate.cond_truth`), so only the facts whose
        field equals the bound value can block; looked up in an index, not scanned."""
        facts = self._facts.get(p.fact, ())
        c = next((c for c in p.conditions if c.ref is not None), None)
        if c is None or c.ref[0] not in env:
            return facts
        other = env[c.ref[0]][1].get(c.ref[1])
        if other is None or other != other:  # never joins (NaN equals nothing)
            return ()
        key = (p.fact, c.field)
        index = self._joins.get(key, _NO_INDEX)
        if index is _NO_INDEX:
            index = self._joins[key] = _index_by(facts, c.field)
        if index is None:
            return facts
        try:
            hits: Sequence[Fact] = index.get(other, ())
        except TypeError:  # an unhashable value: scan
            return facts
        return hits

    def _of_finding(self, fid: str) -> frozenset[OpenKey]:
        out: set[OpenKey] = set()
        for fr in self._producers.get(fid, ()):
            out |= self.of_firing(fr)
        return frozenset(out)

    def paths(self, keys: Iterable[OpenKey]) -> list[tuple[str, str]]:
        """``(inventory path, display name of the fact)`` for each unknown, sorted."""
        if not self._ready:
            self._index()
        out: set[tuple[str, str]] = set()
        for key in keys:
            got = self._paths.get(key)
            if got is None:
                t, i, fld = key
                fact = self._fact(t, i) or {}
                about = str(fact.get("name") or ("the patient" if t == "patient" else i))
                got = self._paths[key] = tuple(
                    (path, about) for path in self._sources.paths(t, i, fld, fact)
                )
            out.update(got)
        return sorted(out, key=lambda pa: (path_order(pa[0]), pa[1]))


_NO_INDEX: Any = object()


def _index_by(facts: Iterable[Fact], fld: str) -> dict[Any, list[Fact]] | None:
    """Facts by the value of ``fld`` (None and NaN left out: they never join); None when a
    value is unhashable."""
    index: dict[Any, list[Fact]] = {}
    try:
        for f in facts:
            v = f.get(fld)
            if v is not None and v == v:
                index.setdefault(v, []).append(f)
    except TypeError:
        return None
    return index
