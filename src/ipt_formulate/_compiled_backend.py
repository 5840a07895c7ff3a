"""The compiled backend: a :class:`~ipt_formulate.rulepack.RulePack` turned into plain Python
closures over the derived facts. No code from a rule file is ever executed: the compiler reads
the pack's condition *data* (field, operator, value) and builds closures from a fixed set of
templates in this module.

Semantics are those of the reference evaluator (:func:`ipt_formulate._evaluate.run`):

* a positive pattern matches a fact only where every condition is True (three-valued logic,
  :mod:`._logic`); a negated pattern (``exists = false``) is *blocked* by any fact whose
  conditions are all True or unknown;
* a join (``field == @var.field``) never matches ``None``;
* stratified forward chaining: strata in order, each to a fixpoint; findings are deduplicated
  by id and firings collected as a set, so nothing depends on evaluation order.

How it is fast:

* every pattern's constant conditions are folded into one test closure, compiled once per pack
  (the pack is compiled once per process, keyed by its content hash);
* joins and constant ``==`` conditions become hash lookups: per run, the facts of a type are
  grouped by the joined field once (``dict`` keyed on the value), so a join costs one lookup
  instead of a scan;
* scans of the same filter shared by several rules are done once per run and cached;
* in a stratum, only rules that read findings are re-evaluated after the first pass (every
  other rule depends only on facts that cannot change inside the stratum), and of those only
  the ones reading a finding name that changed in the last pass.

The compiled object holds no mutable state: each :meth:`CompiledBackend.run` keeps its caches
in local objects, so one compiled pack is safely shared by every thread.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._evaluate import Firing, TooManyFirings, finding_fact
from .facts import OPEN_FIELDS, FactSet
from .rulepack import Condition, Pattern, Rule, RulePack

__all__ = ["CompiledBackend"]

Fact = Mapping[str, Any]
Test = Callable[[Fact], bool]
Env = list[Fact]  # the facts bound so far, by position of the rule's positive patterns

# value <op> rhs for a known value and a known rhs (the rhs is the condition's constant)
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
}


def _true(_: Fact) -> bool:
    return True


def _false(_: Fact) -> bool:
    return False


Reading = str  # "certain" (the engines'), "possible" or "robust" (score bounds, :mod:`._bounds`)


def _condition_test(
    c: Condition, negated: bool, reading: Reading = "certain", opened: bool = False
) -> Test:
    """One constant condition as a test of a fact.

    Positive pattern: the fact passes only where the condition is True. Negated pattern: the
    fact *blocks* unless the condition is False (an unknown value might hide a match).
    The *possible* reading (see :mod:`._bounds`) reads every unknown in the rule's favour: a
    fact passes unless the condition is False, and blocks only where it is True; the
    *robust* one against it (passes where True, blocks unless False). Both read ``known`` and
    ``unknown`` as unknown on an unknown value (it may become known) and, where ``opened``
    (a count of persons), the fact's open counts as unknown.
    """
    fld, op, rhs = c.field, c.op, c.value
    if reading != "certain" and (opened or op in ("known", "unknown")):
        return _open_test(c, (reading == "possible") == negated, opened)
    optimistic = reading == "possible"
    if op == "known":
        return lambda f: f.get(fld) is not None
    if op == "unknown":
        return lambda f: f.get(fld) is None
    if rhs is None:  # comparing with an unknown constant is unknown
        return _true if negated != optimistic else _false
    cmp = _BINARY[op]
    if optimistic:
        if negated:
            return lambda f: (v := f.get(fld)) is not None and cmp(v, rhs) is True
        return lambda f: (v := f.get(fld)) is None or cmp(v, rhs) is not False
    if negated:

        def blocks(f: Fact) -> bool:
            v = f.get(fld)
            return v is None or cmp(v, rhs) is not False

        return blocks
    if op == "==":
        return lambda f: (v := f.get(fld)) is not None and (v == rhs) is True
    if op == "in":
        return lambda f: (v := f.get(fld)) is not None and v in rhs

    def passes(f: Fact) -> bool:
        v = f.get(fld)
        return v is not None and cmp(v, rhs) is True

    return passes


def _open_test(c: Condition, want_true: bool, opened: bool) -> Test:
    """A condition of the possible or robust reading, three-valued with unknown-ness itself
    unknown: passes where it is True (``want_true``) or where it is not False."""
    fld, op, rhs = c.field, c.op, c.value
    truth: Callable[[Any], bool | None]
    if op == "known":
        truth = lambda v: True if v is not None else None  # noqa: E731
    elif op == "unknown":
        truth = lambda v: False if v is not None else None  # noqa: E731
    elif rhs is None:
        truth = lambda v: None  # noqa: E731
    else:
        cmp = _BINARY[op]
        truth = lambda v: None if v is None else cmp(v, rhs)  # noqa: E731

    def value(f: Fact) -> Any:
        return None if opened and fld in getattr(f, "opened", ()) else f.get(fld)

    if want_true:
        return lambda f: truth(value(f)) is True
    return lambda f: truth(value(f)) is not False


class _Opened(dict[str, Any]):
    """A fact some of whose counts are open (:attr:`.facts.FactSet.open`): ``opened``
    names them; the possible and robust readings read them as unknown."""

    __slots__ = ("opened",)

    def __init__(self, fact: Fact, opened: frozenset[str]) -> None:
        super().__init__(fact)
        self.opened = opened


def _is_opened(p: Pattern, c: Condition) -> bool:
    """Whether ``c`` reads a field :attr:`.facts.FactSet.open` may name (a count of persons,
    open while a counted value is unknown)."""
    return c.field in OPEN_FIELDS.get(p.fact, ())


def _fold(tests: Sequence[Test]) -> Test:
    """All of the tests, as one closure (no generator, no per-call allocation)."""
    if not tests:
        return _true
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        t0, t1 = tests
        return lambda f: t0(f) and t1(f)
    if len(tests) == 3:
        t0, t1, t2 = tests
        return lambda f: t0(f) and t1(f) and t2(f)
    ts = tuple(tests)
    return lambda f: all(t(f) for t in ts)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return bool(value == value)  # NaN never equals itself, so it can never be looked up


class _Run:
    """Per-run state: the facts, the findings so far, and the lookup and scan caches."""

    __slots__ = ("_cache", "_fgroups", "_fscans", "by_id", "cap", "facts", "findings")

    def __init__(self, by_type: Mapping[str, Iterable[Fact]], cap: float = float("inf")) -> None:
        self.cap = cap  # most bindings one rule may produce (the activation limit)
        self.facts: dict[str, Sequence[Fact]] = {
            t: fs if isinstance(fs, tuple | list) else tuple(fs) for t, fs in by_type.items()
        }
        self.findings: list[Fact] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        for f in self.facts.get("finding", ()):
            if f["id"] not in self.by_id:
                self.by_id[f["id"]] = f  # type: ignore[assignment]
                self.findings.append(f)
        self.facts["finding"] = self.findings
        self._cache: dict[Any, Any] = {}  # lookups and scans over base facts: whole run
        self._fgroups: dict[Any, Any] = {}  # finding groups: kept up to date as findings come
        self._fscans: dict[Any, Any] = {}  # finding scans: dropped whenever a finding comes

    def add_finding(self, name: str, focus: str | None, level: int | None = None) -> bool:
        """Add a finding; whether anything changed. ``level`` (the combined run of
        :meth:`CompiledBackend.run_both`): marks it certain (``_CERTAIN``), robust
        (``_ROBUST``) or possible only (0); a finding asserted again at a higher level is
        raised to it (a change)."""
        f = finding_fact(name, focus)
        old = self.by_id.get(f["id"])
        if old is not None:
            if level is not None and level & ~old["level"]:
                _mark(old, old["level"] | level)
                self._fscans.clear()  # scans that test certainty see the new value
                return True
            return False
        if level is not None:
            _mark(f, level)
        self.by_id[f["id"]] = f
        self.findings.append(f)
        self._fscans.clear()
        for (_, fld), groups in self._fgroups.items():
            v = f[fld]
            if groups is not None:  # finding fields are str or None
                groups.setdefault(_UNKNOWN if v is None else v, []).append(f)
        return True

    def lookup(self, key: tuple[str, str], value: Any) -> Sequence[Fact]:
        """Facts of type ``key[0]`` whose field ``key[1]`` equals ``value`` (not None).

        The facts are grouped by the field once per run, then looked up by hash. An
        unhashable value falls back to a scan with ``==``.
        """
        store = self._fgroups if key[0] == "finding" else self._cache
        groups = store.get(key, _MISSING)
        if groups is _MISSING:
            groups = store[key] = self._group(*key)
        if groups is not None:
            try:
                return groups.get(value, ())  # type: ignore[no-any-return]
            except TypeError:
                pass
        return [
            f
            for f in self.facts.get(key[0], ())
            if (v := f.get(key[1])) is not None and (v == value) is True
        ]

    def unknown(self, key: tuple[str, str]) -> Sequence[Fact]:
        """Facts of type ``key[0]`` whose field ``key[1]`` is unknown (None), from the same
        index as :meth:`lookup` (kept under a key no value can equal)."""
        store = self._fgroups if key[0] == "finding" else self._cache
        groups = store.get(key, _MISSING)
        if groups is _MISSING:
            groups = store[key] = self._group(*key)
        if groups is not None:
            return groups.get(_UNKNOWN, ())  # type: ignore[no-any-return]
        return [f for f in self.facts.get(key[0], ()) if f.get(key[1]) is None]

    def _group(self, fact_type: str, fld: str) -> dict[Any, list[Fact]] | None:
        groups: dict[Any, list[Fact]] = {}
        unknown: list[Fact] = []
        try:
            for f in self.facts.get(fact_type, ()):
                v = f.get(fld)
                if v is None:  # None never joins: kept apart for the optimistic reading
                    unknown.append(f)
                    continue
                if v != v:  # NaN never equals anything
                    continue
                g = groups.get(v)
                if g is None:
                    groups[v] = [f]
                else:
                    g.append(f)
        except TypeError:  # an unhashable value: no index for this field
            return None
        groups[_UNKNOWN] = unknown
        return groups

    def scan(self, key: tuple[Any, ...], fact_type: str, test: Test, exists: bool) -> Any:
        """Positive pattern: the facts passing ``test``. Negated: whether any fact blocks.
        Cached by ``key`` (the same constant conditions give the same answer)."""
        store = self._fscans if fact_type == "finding" else self._cache
        result = store.get(key, _MISSING)
        if result is _MISSING:
            facts = self.facts.get(fact_type, ())
            result = [f for f in facts if test(f)] if exists else any(test(f) for f in facts)
            store[key] = result
        return result


_CERTAIN, _ROBUST = 1, 2  # levels of a match or finding of the one-pass run (bits)


def _mark(f: dict[str, Any], level: int) -> None:
    f["level"] = level
    f["certain"] = bool(level & _CERTAIN)
    f["robust"] = bool(level & _ROBUST)


_MISSING: Any = object()
_UNKNOWN: Any = object()  # the key of the facts whose field is unknown, in an index
Candidates = Callable[[Env, _Run], Sequence[Fact]]
Step = Callable[[Env, _Run, list[tuple[Fact, ...]]], None]


def _with_refs(cands: Candidates, refs: Sequence[tuple[str, int, str]]) -> Candidates:
    """Filter candidates by further joins (``own field == env[pos][field]``, never None)."""
    if not refs:
        return cands

    def joined(env: Env, run: _Run) -> Sequence[Fact]:
        out = []
        for f in cands(env, run):
            for own, pos, fld in refs:
                v = f.get(own)
                other = env[pos].get(fld)
                if v is None or other is None or (v == other) is not True:
                    break
            else:
                out.append(f)
        return out

    return joined


def _compile_candidates(
    p: Pattern, positions: Mapping[str, int], reading: Reading = "certain", *, seeded: bool = False
) -> Candidates:
    """The facts that satisfy every condition of ``p`` given the bindings so far (for a
    negated pattern: the facts that block it).

    A join (``field == @var.field``) or, in a positive pattern, a hashable constant ``==``
    becomes a hash lookup; the other conditions are folded into one test closure. In the
    optimistic reading a join still needs both values known (identities are never guessed),
    an unknown value passes a constant ``==`` (a lookup by value, plus the facts whose value
    is unknown), and only *robust* findings block a negated finding pattern; ``seeded`` (the
    certain reading inside a combined run) counts only the findings marked certain; in the
    robust reading every finding blocks.
    """
    negated = not p.exists
    optimistic = reading == "possible"
    consts = [c for c in p.conditions if c.ref is None]
    refs = [(c.field, positions[c.ref[0]], c.ref[1]) for c in p.conditions if c.ref is not None]
    tests = [_condition_test(c, negated, reading, _is_opened(p, c)) for c in consts]
    if negated and p.fact == "finding" and optimistic:
        tests.append(_is_robust)
    elif negated and p.fact == "finding" and seeded:
        tests.append(_is_certain)
    if refs:
        return _with_refs(_by_join(p.fact, refs[0], _fold(tests)), refs[1:])
    if not negated:
        for i, c in enumerate(consts):
            if c.op == "==" and c.value is not None and _hashable(c.value) and not _is_opened(p, c):
                rest = consts[:i] + consts[i + 1 :]
                test = _fold([_condition_test(o, False, reading, _is_opened(p, o)) for o in rest])
                return _by_const((p.fact, c.field), c.value, test, optimistic)
    # the reading is part of the key: a combined run scans the same pattern in three readings
    key = (reading, p.fact, p.exists, tuple((c.field, c.op, repr(c.value)) for c in consts))
    return _by_scan(key, p.fact, _fold(tests), p.exists)


def _is_certain(f: Fact) -> bool:
    """A finding the certain reading established."""
    return f.get("certain") is True


def _is_robust(f: Fact) -> bool:
    """A finding the robust reading established (it holds whatever the unknowns are)."""
    return f.get("robust") is True


def _by_join(fact_type: str, ref: tuple[str, int, str], test: Test) -> Candidates:
    own, pos, fld = ref
    key = (fact_type, own)
    finding = fact_type == "finding"

    def by_join(env: Env, run: _Run) -> Sequence[Fact]:
        v = env[pos].get(fld)
        if v is None:  # a missing reference never joins
            return ()
        # the common case inline (the index is built and the value hashable): run.lookup
        groups = (run._fgroups if finding else run._cache).get(key)
        try:
            hits = run.lookup(key, v) if groups is None else groups.get(v, ())
        except TypeError:
            hits = run.lookup(key, v)
        return hits if test is _true else [f for f in hits if test(f)]

    return by_join


def _by_const(key: tuple[str, str], const: Any, test: Test, optimistic: bool) -> Candidates:
    """Facts whose field equals ``const`` (a hash lookup); in the optimistic reading, also
    those whose field is unknown (they might equal it). They do not depend on the bindings:
    computed once per run (for findings: until the next finding comes)."""
    finding = key[0] == "finding"
    mine = object()  # this candidate list's key in the run's caches

    def by_const(run: _Run) -> Sequence[Fact]:
        hits = run.lookup(key, const)
        return hits if test is _true else [f for f in hits if test(f)]

    def by_const_or_unknown(run: _Run) -> Sequence[Fact]:
        unknown = run.unknown(key)
        return [*by_const(run), *(f for f in unknown if test(f))]

    make = by_const_or_unknown if optimistic else by_const

    def cached(env: Env, run: _Run) -> Sequence[Fact]:
        store = run._fscans if finding else run._cache
        got = store.get(mine, _MISSING)
        if got is _MISSING:
            got = store[mine] = make(run)
        return got  # type: ignore[no-any-return]

    return cached


_BLOCKED: tuple[Fact, ...] = ({},)  # "some fact blocks", when the scan says only that


def _by_scan(key: tuple[Any, ...], fact_type: str, test: Test, exists: bool) -> Candidates:
    if exists:

        def by_scan(env: Env, run: _Run) -> Sequence[Fact]:
            return run.scan(key, fact_type, test, True)  # type: ignore[no-any-return]

        return by_scan

    def any_blocker(env: Env, run: _Run) -> Sequence[Fact]:
        return _BLOCKED if run.scan(key, fact_type, test, False) else ()

    return any_blocker


def _compile_steps(patterns: Sequence[Pattern]) -> Step:
    """The rule's patterns chained into nested loops, one closure per pattern."""
    positions: dict[str, int] = {}
    compiled: list[tuple[bool, Candidates]] = []
    for p in patterns:
        compiled.append((p.exists, _compile_candidates(p, positions)))
        if p.exists:
            positions[p.var] = len(positions)

    def done(env: Env, run: _Run, out: list[tuple[Fact, ...]]) -> None:
        if len(out) >= run.cap:  # stop enumerating: a rule pairing many facts
            raise TooManyFirings("", int(run.cap))
        out.append(tuple(env))

    step: Step = done
    for exists, cands in reversed(compiled):
        step = _positive_step(cands, step) if exists else _negated_step(cands, step)
    return step


def _positive_step(cands: Candidates, nxt: Step) -> Step:
    def step(env: Env, run: _Run, out: list[tuple[Fact, ...]]) -> None:
        for f in cands(env, run):
            env.append(f)
            nxt(env, run, out)
            env.pop()

    return step


def _negated_step(blockers: Candidates, nxt: Step) -> Step:
    def step(env: Env, run: _Run, out: list[tuple[Fact, ...]]) -> None:
        if not blockers(env, run):
            nxt(env, run, out)

    return step


# ------------------------------------------------------------------ three readings in one pass
Match2 = list[tuple[tuple[Fact, ...], int]]  # (bound facts, level: _CERTAIN | _ROBUST bits)
Step2 = Callable[[Env, _Run, Match2, int], None]


def _compile_steps_both(patterns: Sequence[Pattern]) -> Step2:
    """The rule's patterns as nested loops over the *possible* matches, each carrying whether
    it is also *certain* and *robust* (three-valued evaluation, one pass for the readings).

    A positive pattern enumerates the possible candidates (no condition False); the match
    stays certain while each bound fact passes the certain test (every condition True; a
    finding marked certain) and robust while it passes the robust test (every condition True
    with unknown-ness and open counts unknown; a finding marked robust). A negated pattern
    drops the match when the possible reading is blocked (a fact with every condition True, a
    robust finding); it is no longer certain when the certain reading is blocked (a fact with
    no condition False, a certain finding), and no longer robust when anything might block it
    (a fact with no condition False in the robust reading, any possible finding)."""
    positions: dict[str, int] = {}
    compiled: list[tuple[bool, Candidates, Any, Any]] = []
    for p in patterns:
        maybe = _compile_candidates(p, positions, "possible")
        if p.exists:
            consts = [c for c in p.conditions if c.ref is None]
            certain = [_condition_test(c, False) for c in consts]
            robust = [_condition_test(c, False, "robust", _is_opened(p, c)) for c in consts]
            if p.fact == "finding":
                certain.append(_is_certain)
                robust.append(_is_robust)
            # joins: the same in every reading
            compiled.append((True, maybe, _fold(certain), _fold(robust)))
            positions[p.var] = len(positions)
        else:
            sure = _compile_candidates(p, positions, seeded=True)
            compiled.append((False, maybe, sure, _compile_candidates(p, positions, "robust")))

    def done(env: Env, run: _Run, out: Match2, level: int) -> None:
        if len(out) >= run.cap:
            raise TooManyFirings("", int(run.cap))
        out.append((tuple(env), level))

    step: Step2 = done
    # by index, under names of their own: mypyc (benchmarks/bench_mypyc.py) fails on
    # reversed() of this list and types a loop variable by its first binding above
    for i in range(len(compiled) - 1, -1, -1):
        kind, cands, sure, firm = compiled[i]
        step = (_positive_both if kind else _negated_both)(cands, sure, firm, step)
    return step


def _positive_both(cands: Candidates, certain: Test, robust: Test, nxt: Step2) -> Step2:
    if certain is _true and robust is _true:  # a candidate is as certain as the match

        def join(env: Env, run: _Run, out: Match2, level: int) -> None:
            for f in cands(env, run):
                env.append(f)
                nxt(env, run, out, level)
                env.pop()

        return join

    def step(env: Env, run: _Run, out: Match2, level: int) -> None:
        for f in cands(env, run):
            env.append(f)
            got = level
            if got & _CERTAIN and not certain(f):
                got &= ~_CERTAIN
            if got & _ROBUST and not robust(f):
                got &= ~_ROBUST
            nxt(env, run, out, got)
            env.pop()

    return step


def _negated_both(maybe: Candidates, certain: Candidates, robust: Candidates, nxt: Step2) -> Step2:
    def step(env: Env, run: _Run, out: Match2, level: int) -> None:
        if not maybe(env, run):
            if level & _CERTAIN and certain(env, run):
                level &= ~_CERTAIN
            if level & _ROBUST and robust(env, run):
                level &= ~_ROBUST
            nxt(env, run, out, level)

    return step


def _binder(rule_id: str, bindings: Sequence[tuple[str, str, int]]) -> Callable[[Any], Firing]:
    """The firing of a match (its bound facts by position), as one closure per rule."""
    if len(bindings) == 1:
        ((v, t, p),) = bindings
        return lambda env: Firing(rule_id, ((v, t, str(env[p]["id"])),))
    if len(bindings) == 2:
        (v0, t0, p0), (v1, t1, p1) = bindings
        return lambda env: Firing(
            rule_id, ((v0, t0, str(env[p0]["id"])), (v1, t1, str(env[p1]["id"])))
        )
    return lambda env: Firing(rule_id, tuple([(v, t, str(env[p]["id"])) for v, t, p in bindings]))


@dataclass(frozen=True)
class _CRule:
    rule_id: str
    match: Step
    bindings: tuple[tuple[str, str, int], ...]  # (var, fact type, env position), sorted by var
    asserts: str | None  # finding name
    asserts_focus: int | None  # env position of the finding's focus
    reads_findings: bool  # has a positive finding pattern: re-run until the stratum settles
    reads: frozenset[str] | None  # the finding names it reads (None: any finding)
    firing: Callable[[Any], Firing]  # the firing of a match
    match_both: Step2 | None = None  # both readings in one pass (``CompiledBackend(both=True)``)


def _finding_names(rule: Rule) -> frozenset[str] | None:
    """The names of the findings a rule's positive finding patterns can bind (``name ==``
    a constant), or None when one of them can bind any finding."""
    names: set[str] = set()
    for p in rule.patterns:
        if p.fact == "finding" and p.exists:
            name = next(
                (
                    c.value
                    for c in p.conditions
                    if c.field == "name" and c.op == "==" and c.ref is None and type(c.value) is str
                ),
                None,
            )
            if name is None:
                return None
            names.add(name)
    return frozenset(names)


def _rerun(rules: Sequence[_CRule], changed: set[str]) -> tuple[_CRule, ...]:
    """The rules to run again after these finding names changed: only those whose matches
    can have changed (a rule that reads only other findings would find the same)."""
    return tuple(r for r in rules if r.reads is None or not r.reads.isdisjoint(changed))


def _stale(rule: _CRule, ran_at: int, changed: Mapping[str, int]) -> bool:
    """Whether a finding the rule reads changed since it last ran (at step ``ran_at``; its
    own changes carry that step, made after it matched)."""
    if not rule.reads_findings:
        return False
    if rule.reads is None:
        return any(at >= ran_at for at in changed.values())
    return any(changed.get(name, 0) >= ran_at for name in rule.reads)


def _producers_first(rules: Sequence[_CRule]) -> tuple[_CRule, ...]:
    """The rules of a stratum ordered so that a rule runs after the rules asserting the
    findings it reads (pack order otherwise, and within a cycle): fewer re-runs."""
    todo = list(rules)
    out: list[_CRule] = []
    while todo:
        pending = {r.asserts for r in todo if r.asserts is not None}
        ready = next(
            (
                r
                for r in todo
                if not r.reads_findings
                or (r.reads is not None and r.reads.isdisjoint(pending - {r.asserts}))
            ),
            todo[0],  # a cycle (or a rule reading any finding): pack order
        )
        todo.remove(ready)
        out.append(ready)
    return tuple(out)


def _compile_rule(rule: Rule, both: bool = False) -> _CRule:
    positions: dict[str, int] = {}
    for p in rule.patterns:
        if p.exists:
            positions[p.var] = len(positions)
    a = rule.asserts
    bindings = tuple(sorted((p.var, p.fact, positions[p.var]) for p in rule.patterns if p.exists))
    return _CRule(
        rule_id=rule.id,
        match=_compile_steps(rule.patterns),
        bindings=bindings,
        asserts=None if a is None else a.finding,
        asserts_focus=None if a is None or a.focus is None else positions[a.focus],
        reads_findings=any(p.fact == "finding" and p.exists for p in rule.patterns),
        reads=_finding_names(rule),
        firing=_binder(rule.id, bindings),
        match_both=_compile_steps_both(rule.patterns) if both else None,
    )


class CompiledBackend:
    """A pack compiled to closures; :meth:`run` is thread-safe (no shared mutable state).

    ``both=True`` also compiles :meth:`run_both`: the certain, possible and robust readings
    (score bounds, :mod:`._bounds`) in one pass.
    """

    name = "compiled"

    def __init__(self, pack: RulePack, *, both: bool = False) -> None:
        strata: dict[int, list[_CRule]] = {}
        for r in pack.active_rules:
            strata.setdefault(r.stratum, []).append(_compile_rule(r, both))
        # per stratum: every rule, and the rules re-run while findings keep appearing
        self._strata: tuple[tuple[tuple[_CRule, ...], tuple[_CRule, ...]], ...] = tuple(
            (tuple(strata[s]), tuple(r for r in strata[s] if r.reads_findings))
            for s in sorted(strata)
        )
        # the one-pass run orders each stratum producers first (its errors are never shown:
        # past the activation limit the caller repeats the separate runs)
        self._ordered = tuple(_producers_first(every) for every, _ in self._strata)

    def run(
        self, facts: FactSet | Mapping[str, Any], max_firings: int | None = None
    ) -> tuple[list[Firing], list[dict[str, Any]]]:
        """Fire the pack on the facts; returns (sorted firings, findings sorted by id).
        Raises :class:`._evaluate.TooManyFirings` past ``max_firings`` activations."""
        cap = max_firings if max_firings is not None else -1
        by_type = facts.by_type if isinstance(facts, FactSet) else facts
        run = _Run(by_type, max_firings if max_firings is not None else float("inf"))
        fired: set[Firing] = set()
        for every, rerun in self._strata:
            todo = every
            while todo:
                changed: set[str] = set()
                for rule in todo:
                    envs: list[tuple[Fact, ...]] = []
                    try:
                        rule.match([], run, envs)
                    except TooManyFirings as exc:
                        raise TooManyFirings(rule.rule_id, exc.limit) from None
                    for env in envs:
                        fr = rule.firing(env)
                        if fr in fired:
                            continue
                        fired.add(fr)
                        if len(fired) == cap + 1:
                            raise TooManyFirings(rule.rule_id, cap)
                        if rule.asserts is not None:
                            pos = rule.asserts_focus
                            focus = None if pos is None else str(env[pos]["id"])
                            if run.add_finding(rule.asserts, focus):
                                changed.add(rule.asserts)
                todo = _rerun(rerun, changed) if changed else ()
        findings = sorted(
            ({"id": f["id"], "name": f["name"], "focus": f["focus"]} for f in run.findings),
            key=lambda f: f["id"],
        )
        return sorted(fired), findings

    def run_both(self, facts: FactSet, max_firings: int | None = None) -> Readings:
        """The certain, possible and robust readings in one pass (needs ``both=True``):
        (certain firings, certain findings, possible firings, possible findings, robust
        firings), each sorted as :meth:`run` sorts them; the certain ones the same as
        :meth:`run`. Each possible match carries whether it is certain and robust; a firing or
        finding first seen at a lower level is raised when a match produces it again at a
        higher one (a change: the stratum runs on). Raises :class:`._evaluate.TooManyFirings`
        past ``max_firings`` *possible* activations."""
        cap = max_firings if max_firings is not None else -1
        run = _Run(_with_open(facts), max_firings if max_firings is not None else float("inf"))
        fired: dict[Firing, int] = {}
        for every in self._ordered:
            todo = every
            step = 0
            ran: dict[str, int] = {}  # rule id -> step it last ran at
            changed: dict[str, int] = {}  # finding name -> step it last changed at
            while todo:
                for rule in todo:
                    step += 1
                    ran[rule.rule_id] = step
                    matches: Match2 = []
                    try:
                        rule.match_both([], run, matches, _CERTAIN | _ROBUST)  # type: ignore[misc]
                    except TooManyFirings as exc:
                        raise TooManyFirings(rule.rule_id, exc.limit) from None
                    for env, level in matches:
                        fr = rule.firing(env)
                        was = fired.get(fr)
                        if was is None:
                            fired[fr] = level
                            if len(fired) == cap + 1:
                                raise TooManyFirings(rule.rule_id, cap)
                        elif level & ~was:
                            level = fired[fr] = was | level
                        else:
                            continue
                        if rule.asserts is not None:
                            pos = rule.asserts_focus
                            focus = None if pos is None else str(env[pos]["id"])
                            if run.add_finding(rule.asserts, focus, level):
                                changed[rule.asserts] = step
                todo = tuple(r for r in every if _stale(r, ran[r.rule_id], changed))
        possible = sorted(
            ({"id": f["id"], "name": f["name"], "focus": f["focus"]} for f in run.findings),
            key=lambda f: f["id"],
        )
        certain = [f for f in possible if run.by_id[f["id"]]["certain"]]
        return (
            sorted(fr for fr, level in fired.items() if level & _CERTAIN),
            certain,
            sorted(fired),
            possible,
            sorted(fr for fr, level in fired.items() if level & _ROBUST),
        )


Readings = tuple[
    list[Firing], list[dict[str, Any]], list[Firing], list[dict[str, Any]], list[Firing]
]


def _with_open(facts: FactSet) -> Mapping[str, Sequence[Fact]]:
    """The facts, with those having open counts (:attr:`.facts.FactSet.open`) marked."""
    if not facts.open:
        return facts.by_type
    by_type = dict(facts.by_type)
    for (t, i), opened in facts.open.items():
        by_type[t] = tuple(_Opened(f, opened) if f["id"] == i else f for f in by_type[t])
    return by_type
