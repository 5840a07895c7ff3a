"""The compiled backend equals experta: examples, rule examples, a differential hypothesis test
on generated inventories (both shipped packs), and a mutant that shows the differential check
catches a divergence.

``assert_backends_agree`` is the differential check: same firings, same findings and
byte-identical formulations (explanations included) except ``provenance.engine``.
Deeper runs: ``IPT_DIFFERENTIAL_EXAMPLES=2000 pytest tests/test_compiled.py``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import Phase, given, settings

from _packs import rule, toml_value
from conftest import EXAMPLES, RULES, derandomized, example_text, in_threads
from ipt_formulate import Formulation, Inventory, RulePack, formulate, load_pack, parse_inventory
from ipt_formulate import _compiled_backend as cb
from ipt_formulate import engine as engine_mod
from ipt_formulate._evaluate import TooManyFirings, readings
from ipt_formulate._evaluate import run as reference_run
from ipt_formulate.engine import DEFAULT_BATCH_ENGINE, ENGINES, backend, run_engine
from ipt_formulate.errors import InputTooLargeError
from ipt_formulate.facts import FactSet, derive_facts
from ipt_formulate.formulation import Detail
from ipt_formulate.lint import run_examples
from ipt_formulate.rulepack import Condition
from ipt_formulate.testing import inventories

PACKS = ("ipt-core", "ipsrt")
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
DETAILS: tuple[Detail, ...] = get_args(Detail)

# CI profile: deterministic, bounded, no per-example deadline (experta's first call builds
# its network). Raise the count locally with IPT_DIFFERENTIAL_EXAMPLES.
CI = derandomized(int(os.environ.get("IPT_DIFFERENTIAL_EXAMPLES", "50")))


@pytest.fixture(scope="module", params=PACKS)
def pack(request: pytest.FixtureRequest) -> RulePack:
    return load_pack(RULES / request.param)


def _as_experta(f: Formulation) -> str:
    """The formulation's JSON with ``provenance.engine`` set to experta's."""
    prov = f.provenance.model_copy(update={"engine": "experta"})
    return f.model_copy(update={"provenance": prov}).to_json()


def backend_disagreements(
    pack: RulePack, invs: Iterable[Inventory], engine: str = "compiled"
) -> list[str]:
    """Every way ``engine`` differs from experta on these inventories (empty: they agree)."""
    out = []
    for inv in invs:
        facts = derive_facts(inv, pack.options, fact_types=pack.fact_types_used())
        ref = run_engine(pack, facts, "experta")
        got = run_engine(pack, facts, engine)
        label = inv.id or inv.model_dump_json()[:2000]
        if got.firings != ref.firings:
            only_ref = sorted(set(ref.firings) - set(got.firings))
            only_got = sorted(set(got.firings) - set(ref.firings))
            out.append(
                f"{label}: firings differ; experta only {only_ref}; {engine} only {only_got}"
            )
            continue
        if got.findings != ref.findings:
            out.append(f"{label}: findings differ: {ref.findings} vs {got.findings}")
            continue
        for detail in DETAILS:  # every output level is byte-identical across engines
            a = formulate(inv, pack, engine="experta", detail=detail).to_json()
            b = formulate(inv, pack, engine=engine, detail=detail)
            if b.provenance.engine != engine:
                out.append(f"{label}: provenance.engine is {b.provenance.engine!r}")
            elif _as_experta(b) != a:
                out.append(f"{label}: {detail} formulations differ")
    return out


def assert_backends_agree(
    pack: RulePack, invs: Iterable[Inventory], engine: str = "compiled"
) -> None:
    problems = backend_disagreements(pack, invs, engine)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ wiring
def test_engine_names() -> None:
    assert ENGINES == ("experta", "compiled")
    assert DEFAULT_BATCH_ENGINE == "compiled"


def test_provenance_records_the_engine(pack: RulePack) -> None:
    text = example_text("grief")
    assert formulate(text, pack).provenance.engine == "experta"  # the default, for now
    assert formulate(text, pack, engine="compiled").provenance.engine == "compiled"


def test_compiled_once_per_pack_and_shared() -> None:
    core = load_pack(RULES / "ipt-core")
    again = load_pack(RULES / "ipt-core")
    assert backend(core, "compiled") is backend(again, "compiled")  # keyed by content hash
    broad = core.with_options(grief_scope="broad_loss")
    assert backend(broad, "compiled") is not backend(core, "compiled")


# ------------------------------------------------------------------ (a) bundled examples
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
@pytest.mark.parametrize("detail", DETAILS)
def test_examples_byte_identical(name: str, pack: RulePack, detail: Detail) -> None:
    experta = formulate(example_text(name), pack, engine="experta", detail=detail)
    compiled = formulate(example_text(name), pack, engine="compiled", detail=detail)
    assert compiled.provenance.engine == "compiled"
    assert _as_experta(compiled) == experta.to_json()
    assert compiled.to_markdown() == experta.to_markdown().replace("experta", "compiled")


def test_examples_agree_with_the_reference_evaluator(pack: RulePack) -> None:
    for name in EXAMPLE_NAMES:
        facts = derive_facts(parse_inventory(example_text(name)), pack.options)
        ref, _ = reference_run(pack.active_rules, facts.by_type)
        assert list(run_engine(pack, facts, "compiled").firings) == ref


# ------------------------------------------------------------------ (b) rule examples
def test_rule_examples_behave_the_same(pack: RulePack) -> None:
    experta = run_examples(pack, "experta")
    compiled = run_examples(pack, "compiled")
    assert compiled == experta
    assert all(r.ok for r in compiled), [r for r in compiled if not r.ok]


# ------------------------------------------------------------------ (c) differential test
def _differential(pack: RulePack, profile: settings = CI) -> Any:
    @profile
    @given(inventories(max_persons=6, max_events=6))
    def check(inv: Inventory) -> None:
        assert_backends_agree(pack, [inv])

    return check


def test_backends_agree_on_generated_inventories(pack: RulePack) -> None:
    _differential(pack)()


def test_compiled_equals_reference_semantics_on_generated_inventories(pack: RulePack) -> None:
    @CI
    @given(inventories(max_persons=6, max_events=6))
    def check(inv: Inventory) -> None:
        facts = derive_facts(inv, pack.options)
        ref, index = reference_run(pack.active_rules, facts.by_type)
        run = run_engine(pack, facts, "compiled")
        assert list(run.firings) == ref
        assert [f["id"] for f in run.findings] == sorted(f["id"] for f in index.facts("finding"))

    check()


# a deceased person who mattered, and a second death (of an outer-ring neighbour) whose
# mourning is avoided: complicated grief is about the neighbour's death only if the rule's
# join deceased.id == sd.focus is ignored
TWO_DEATHS: dict[str, Any] = {
    "id": "two-deaths",
    "episode": {"assessment_date": "2026-03-01", "onset": "2025-12"},
    "persons": [
        {"id": "mum", "role": "parent", "ring": "inner", "deceased": True},
        {"id": "ned", "role": "neighbour", "ring": "outer", "deceased": True},
    ],
    "events": [
        {"id": "e1", "kind": "death", "subject": "mum", "date": "2025-10", "response": "adapting"},
        {
            "id": "e2",
            "kind": "death",
            "subject": "ned",
            "date": "2020-01",
            "response": "mourning_avoided",
        },
    ],
}


def test_joins_chain_through_a_bound_field() -> None:
    # grief.mourning-avoided: sd -> deceased (id == sd.focus) -> death (subject == deceased.id)
    core = load_pack(RULES / "ipt-core")
    inv = parse_inventory(TWO_DEATHS)
    run = run_engine(core, derive_facts(inv, core.options), "compiled")
    assert "complicated_grief@ned" not in {f["id"] for f in run.findings}
    assert "grief.mourning-avoided" not in {f.rule_id for f in run.firings}


def test_experta_agrees_when_joins_chain_through_a_bound_field() -> None:
    # regression: experta once dropped the join deceased.id == @sd.focus because
    # death.subject == @deceased.id bound the same field (fixed in _experta_backend)
    core = load_pack(RULES / "ipt-core")
    assert_backends_agree(core, [parse_inventory(TWO_DEATHS)])


# ------------------------------------------------------------------ edge semantics, three engines
EDGE_PACK = """
[pack]
name = "edge"
version = "0.1.0"
description = "Joins in negated patterns, chains of findings, unknown values."

[[area]]
id = "conflict"
label = "Conflict"
focus_kind = "person"

[sources.s]
text = "Test source for edge semantics."
"""

EDGE_RULES = """
[[rule]]
id = "edge.unvisited"
version = 1
title = "A close person no event is about"
area = "conflict"
weight = 0.3
focus = "p"
asserts = { finding = "unvisited", focus = "p" }
explain = "{p.name}"
cite = [{ source = "s" }]
  [[rule.when]]
  fact = "person"
  bind = "p"
  where = [["ring", "in", ["inner", "middle"]]]
  [[rule.when]]
  fact = "event"
  exists = false
  where = [["subject", "==", "@p.id"], ["valence", "!=", "positive"]]

[[rule]]
id = "edge.unvisited-in-conflict"
version = 1
title = "Chained: an unvisited person in high conflict"
area = "conflict"
weight = 0.4
focus = "q"
explain = "{q.name}"
cite = [{ source = "s" }]
  [[rule.when]]
  fact = "finding"
  bind = "u"
  where = [["name", "==", "unvisited"]]
  [[rule.when]]
  fact = "person"
  bind = "q"
  where = [["id", "==", "@u.focus"], ["conflict", "in", ["high"]], ["conflict", "!=", "none"]]

[[rule]]
id = "edge.nobody-unvisited"
version = 1
title = "Negated finding, later stratum"
advisory = { kind = "data", level = "info" }
explain = "nobody unvisited"
cite = [{ source = "s" }]
  [[rule.when]]
  fact = "patient"
  where = [["age", ">", 17]]
  [[rule.when]]
  fact = "finding"
  exists = false
  where = [["name", "==", "unvisited"]]
"""


def _edge_pack(tmp_path: Path) -> RulePack:
    root = tmp_path / "edge"
    root.mkdir()
    (root / "pack.toml").write_text(EDGE_PACK, encoding="utf-8")
    (root / "rules.toml").write_text(EDGE_RULES, encoding="utf-8")
    return load_pack(root)


def _person(pid: str, **kw: Any) -> dict[str, Any]:
    from ipt_formulate.facts import FACT_TYPES

    return {**dict.fromkeys(FACT_TYPES["person"]), "id": pid, "name": pid, **kw}


def _event(eid: str, **kw: Any) -> dict[str, Any]:
    from ipt_formulate.facts import FACT_TYPES

    return {**dict.fromkeys(FACT_TYPES["event"]), "id": eid, "name": eid, **kw}


EDGE_FACTS: list[dict[str, tuple[dict[str, Any], ...]]] = [
    {},
    {"patient": ({"id": "patient", "age": 40},)},
    {"patient": ({"id": "patient", "age": None},)},
    {
        "patient": ({"id": "patient", "age": 40},),
        "person": (
            _person("a", ring="inner", conflict="high"),
            _person("b", ring="middle", conflict=None),  # unknown: no conflict rule
            _person("c", ring=None, conflict="high"),  # ring unknown: never "close"
            _person("d", ring="inner", conflict="low"),
        ),
        "event": (
            _event("e1", subject="d", valence="negative"),  # d is visited
            _event("e2", subject="a", valence="positive"),  # does not count
            _event("e3", subject="b", valence=None),  # might count: blocks b
            _event("e4", subject=None, valence="negative"),  # about nobody: blocks no one
        ),
    },
    {  # unhashable and NaN values: no hash index, the scan fallback must agree
        "patient": ({"id": "patient", "age": float("nan")},),
        "person": (
            _person("a", ring="inner", conflict="high"),
            _person("x", ring=["inner"], conflict=float("nan")),
        ),
        "event": (_event("e1", subject=["a"], valence="negative"),),
        "finding": ({"id": "unvisited@x", "name": "unvisited", "focus": "x"},),
    },
    {  # a NaN subject before the event that visits d: the index skips only the NaN
        "patient": ({"id": "patient", "age": 40},),
        "person": (_person("a", ring="inner"), _person("d", ring="inner")),
        "event": (
            _event("e0", subject=float("nan"), valence="negative"),
            _event("e1", subject="d", valence="negative"),
        ),
    },
]


# Ids that are lists: only raw facts have them (experta renders them its own way), but the
# compiled backend's unhashable fallback must still find what the reference evaluator finds.
UNHASHABLE_IDS: list[dict[str, tuple[dict[str, Any], ...]]] = [
    {  # an unhashable id joined against an index of hashable subjects: the scan fallback
        "patient": ({"id": "patient", "age": 40},),
        "person": (_person("a", ring="inner"), _person(["y"], ring="inner")),
        "event": (_event("e1", subject="a", valence="negative"),),
    },
    {  # an unhashable subject (no index) that equals the person's id: ["z"] is visited
        "patient": ({"id": "patient", "age": 40},),
        "person": (_person(["z"], ring="inner"),),
        "event": (_event("e1", subject=["z"], valence="negative"),),
    },
    {  # an unhashable id and no event at all
        "patient": ({"id": "patient", "age": 40},),
        "person": (_person(["z"], ring="inner"),),
    },
]


@pytest.mark.parametrize("case", range(len(EDGE_FACTS)))
def test_edge_semantics_agree_on_three_engines(case: int, tmp_path: Path) -> None:
    from ipt_formulate.facts import FactSet

    pack = _edge_pack(tmp_path)
    by_type = EDGE_FACTS[case]
    ref, index = reference_run(pack.active_rules, by_type)
    for engine in ENGINES:
        run = run_engine(pack, FactSet(by_type=by_type), engine)
        assert list(run.firings) == ref, engine
        assert [f["id"] for f in run.findings] == sorted(f["id"] for f in index.facts("finding"))


@pytest.mark.parametrize("case", range(len(UNHASHABLE_IDS)))
def test_unhashable_join_values_agree_with_the_reference(case: int, tmp_path: Path) -> None:
    from ipt_formulate.facts import FactSet

    pack = _edge_pack(tmp_path)
    by_type = UNHASHABLE_IDS[case]
    ref, index = reference_run(pack.active_rules, by_type)
    run = run_engine(pack, FactSet(by_type=by_type), "compiled")
    assert list(run.firings) == ref
    assert [f["id"] for f in run.findings] == sorted(f["id"] for f in index.facts("finding"))


def test_edge_semantics_expected_firings(tmp_path: Path) -> None:
    from ipt_formulate.facts import FactSet

    pack = _edge_pack(tmp_path)
    run = run_engine(pack, FactSet(by_type=EDGE_FACTS[3]), "compiled")
    fired = {(f.rule_id, f.fact_id("p") or f.fact_id("q")) for f in run.firings}
    assert fired == {("edge.unvisited", "a"), ("edge.unvisited-in-conflict", "a")}


# ------------------------------------------------------------------ one-pass readings, limits
DATA = {"kind": "data", "level": "info"}  # a data advisory: a rule giving no evidence


def _advisory(rid: str, title: str, patterns: list[tuple[str, str | None, list[Any]]]) -> str:
    """A data advisory rule (no evidence) over ``patterns``: (fact, bind, where) each."""
    lines = [
        "[[rule]]",
        f'id = "{rid}"',
        "version = 1",
        f'title = "{title}"',
        f"advisory = {toml_value(DATA)}",
        f'explain = "{title}"',
        'cite = [{ source = "s" }]',
    ]
    for fact, bind, where in patterns:
        lines += ["  [[rule.when]]", f'  fact = "{fact}"']
        lines += [f'  bind = "{bind}"'] if bind else []
        lines.append(f"  where = {toml_value(where)}")
    return "\n".join(lines) + "\n"


# The edge rules and rules for the readings (score bounds): a reader of a finding that runs
# before its producer (rules run in id order) and whose first condition is not the name, two
# joins in one pattern, ``unknown``, a constant ``==`` on a value that may be unknown, and
# counts that may be open.
READINGS_RULES = EDGE_RULES + "".join(
    [
        _advisory(
            "x.close-confirmed",
            "A person a finding calls close",
            [
                ("finding", "u", [["focus", "!=", "nobody"], ["name", "==", "close"]]),
                ("person", "q", [["id", "==", "@u.focus"]]),
            ],
        ),
        rule(
            "x.ring-inner",
            fact="person",
            bind="p",
            where=[["ring", "==", "inner"]],
            area="conflict",
            weight=0.2,
            focus="p",
            asserts={"finding": "close", "focus": "p"},
            explain="{p.name}",
        ),
        _advisory(
            "x.event-about-close",
            "An event about a close person, rings agreeing",
            [
                ("person", "p", [["ring", "in", ["inner", "middle"]]]),
                ("event", "e", [["subject", "==", "@p.id"], ["subject_ring", "==", "@p.ring"]]),
            ],
        ),
        rule(
            "x.conflict-unrecorded",
            fact="person",
            bind="p",
            where=[["conflict", "unknown"]],
            advisory=DATA,
        ),
        rule("x.no-confidant", where=[["confidant_count", "==", 0]], advisory=DATA),
        rule("x.a-confidant", where=[["confidant_count", ">=", 1]], advisory=DATA),
        rule(
            "x.bridge-lost",
            fact="person",
            bind="p",
            where=[["bridge_lost", "==", True]],
            advisory=DATA,
        ),
    ]
)


def _readings_pack(tmp_path: Path) -> RulePack:
    root = tmp_path / "readings"
    root.mkdir()
    (root / "pack.toml").write_text(EDGE_PACK.replace('"edge"', '"readings"'), encoding="utf-8")
    (root / "rules.toml").write_text(READINGS_RULES, encoding="utf-8")
    return load_pack(root)


def _facts(
    by_type: dict[str, tuple[dict[str, Any], ...]], open_: dict[tuple[str, str], Any] | None = None
) -> FactSet:
    return FactSet(by_type=by_type, open={k: frozenset(v) for k, v in (open_ or {}).items()})


_PEOPLE = {
    "patient": ({"id": "patient", "age": 40, "confidant_count": 0},),
    "person": (
        _person("a", ring="inner", conflict="high", bridge_lost=True),
        _person("b", ring=None, conflict=None, bridge_lost=True),  # ring unknown: maybe close
        _person("c", ring="middle", conflict="low"),
    ),
    "event": (
        _event("e1", subject="a", subject_ring="inner", valence="negative"),
        _event("e2", subject="c", subject_ring="inner", valence=None),  # rings disagree
        _event("e3", subject="b", valence=None),
    ),
}
READINGS_FACTS: list[FactSet] = [
    # derived facts hold no findings (rules make them): the edge cases without one
    *(_facts(by_type) for by_type in EDGE_FACTS if "finding" not in by_type),
    _facts(_PEOPLE),
    # the patient's confidant count and b's bridge are open (unknown values feed them)
    _facts(
        _PEOPLE, {("patient", "patient"): {"confidant_count"}, ("person", "b"): {"bridge_lost"}}
    ),
    _facts(  # b is unvisited only possibly: the certain reading finds nobody unvisited
        {
            "patient": ({"id": "patient", "age": 40},),
            "person": (_person("b", ring="middle"),),
            "event": (_event("e3", subject="b", valence=None),),
        }
    ),
]


@pytest.mark.parametrize("case", range(len(READINGS_FACTS)))
def test_one_pass_readings_equal_the_reference_evaluator(case: int, tmp_path: Path) -> None:
    # run_both (score bounds): its certain reading is run's, its possible and robust readings
    # the reference evaluator's (_evaluate.readings)
    pack = _readings_pack(tmp_path)
    facts = READINGS_FACTS[case]
    be = backend(pack, "compiled", both=True)
    assert isinstance(be, cb.CompiledBackend)
    certain, certain_findings, possible, possible_findings, robust = be.run_both(facts)
    ref, index = reference_run(pack.active_rules, facts.by_type)
    assert certain == ref
    assert [f["id"] for f in certain_findings] == sorted(f["id"] for f in index.facts("finding"))
    assert be.run(facts) == (certain, certain_findings)
    ref_possible, possible_index, ref_robust, _ = readings(
        pack.active_rules, facts.by_type, facts.open
    )
    assert possible == ref_possible
    assert [f["id"] for f in possible_findings] == sorted(
        f["id"] for f in possible_index.facts("finding")
    )
    assert robust == ref_robust
    assert set(robust) <= set(certain) <= set(possible)


def test_activation_limit_is_exact_on_both_runs(tmp_path: Path) -> None:
    # at the number of activations the run is the same; one fewer is input.too_large
    pack = _readings_pack(tmp_path)
    facts = READINGS_FACTS[-2]  # several rules fire, none alone more than twice
    be = backend(pack, "compiled", both=True)
    assert isinstance(be, cb.CompiledBackend)
    firings = run_engine(pack, facts, "compiled").firings
    n = len(firings)
    assert run_engine(pack, facts, "compiled", max_firings=n).firings == firings
    for engine in ENGINES:
        with pytest.raises(InputTooLargeError) as err:
            run_engine(pack, facts, engine, max_firings=n - 1)
        assert (err.value.limit, err.value.value) == ("max_firings", n - 1)
    full = be.run_both(facts)
    m = len(full[2])  # the cap counts possible activations
    assert be.run_both(facts, m) == full
    with pytest.raises(TooManyFirings) as stop:
        be.run_both(facts, m - 1)
    assert stop.value.limit == m - 1 and stop.value.rule_id in {r.id for r in pack.active_rules}


def test_activation_limit_stops_a_rule_with_too_many_matches(tmp_path: Path) -> None:
    # five close persons nobody visits: edge.unvisited, first in the pack, alone passes 2
    pack = _readings_pack(tmp_path)
    people = tuple(_person(f"p{i}", ring="inner") for i in range(5))
    facts = _facts({"patient": ({"id": "patient", "age": 40},), "person": people})
    with pytest.raises(InputTooLargeError) as err:
        run_engine(pack, facts, "compiled", max_firings=2)
    assert err.value.limit == "max_firings" and err.value.value == 2
    assert "rule edge.unvisited " in err.value.message
    be = backend(pack, "compiled", both=True)
    assert isinstance(be, cb.CompiledBackend)
    with pytest.raises(TooManyFirings) as stop:
        be.run_both(facts, 2)
    assert (stop.value.rule_id, stop.value.limit) == ("edge.unvisited", 2)


# ------------------------------------------------------------------ (d) the check catches a mutant
def _mutant_pack(tmp_path: Path) -> RulePack:
    """A copy of ipt-core with its own version (so its own hash and compiled cache entry)."""
    root = tmp_path / "ipt-core-mutant"
    shutil.copytree(RULES / "ipt-core", root)
    manifest = root / "pack.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        re.sub(r'(?m)^version = "([^"]+)"', r'version = "\1-mutant"', text, count=1)
    )
    return load_pack(root)


def _unknown_counts_as_true(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: in positive patterns, ``in`` on an unknown value counts as True."""
    original = cb._condition_test

    def buggy(
        c: Condition, negated: bool, reading: str = "certain", opened: bool = False
    ) -> cb.Test:
        test = original(c, negated, reading, opened)
        if negated or reading != "certain" or c.op != "in":
            return test
        fld = c.field
        return lambda f: f.get(fld) is None or test(f)

    monkeypatch.setattr(cb, "_condition_test", buggy)
    monkeypatch.setattr(engine_mod, "_CACHE", {})  # compile afresh, forget the mutant after


def test_differential_check_catches_a_mutant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutant = _mutant_pack(tmp_path)
    assert mutant.hash != load_pack(RULES / "ipt-core").hash
    assert_backends_agree(mutant, [parse_inventory(example_text(n)) for n in EXAMPLE_NAMES])
    _unknown_counts_as_true(monkeypatch)
    # the bundled examples happen not to expose it (no close person with unknown conflict
    # and unmet expectations) ...
    assert_backends_agree(mutant, [parse_inventory(example_text(n)) for n in EXAMPLE_NAMES])
    # ... the differential hypothesis test does: it fails (and shrinks to a small inventory)
    with pytest.raises(AssertionError, match="firings differ"):
        _differential(mutant, settings(CI, phases=[Phase.explicit, Phase.generate]))()


def test_compiled_backend_is_thread_safe() -> None:
    core = load_pack(RULES / "ipt-core")
    names = EXAMPLE_NAMES
    expected = {n: formulate(example_text(n), core, engine="compiled").to_json() for n in names}

    def work(offset: int) -> list[str]:
        ns = [names[(i + offset) % len(names)] for i in range(20)]
        return [
            n
            for n in ns
            if formulate(example_text(n), core, engine="compiled").to_json() != expected[n]
        ]

    assert in_threads(work) == []
