"""Differential tests: both engines (and the facts stage) against the independent oracle in
``tests/_oracle.py``, which shares no code with the library's evaluators, rule-pack compiler or
fact derivation. The experta/compiled comparisons elsewhere cannot see a bug in the layers both
backends stand on; these can."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _oracle as oracle
from ipt_formulate import Inventory, RulePack, load_pack, parse_inventory
from ipt_formulate.engine import run_engine
from ipt_formulate.facts import derive_facts
from ipt_formulate.testing import inventories

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
ENGINES = ("experta", "compiled")
# option values the differential tests vary (choices from each pack.toml, the two month
# options around their defaults, 0 tolerance included)
VARIED = {
    "grief_scope": ("death_only", "broad_loss"),
    "deficits_mode": None,  # every choice, read from the manifest below
    "recent_window_months": (3.0, 6.0, 12.0),
    "onset_tolerance_months": (0.0, 1.0, 2.0),
}


@functools.cache
def _pack(name: str, options: tuple[tuple[str, Any], ...] = ()) -> RulePack:
    return load_pack(RULES / name, **dict(options))


@functools.cache
def _oracle_pack(name: str, options: tuple[tuple[str, Any], ...] = ()) -> oracle.OraclePack:
    return oracle.read_pack(RULES / name, RULES, **dict(options))


def _engine_firings(pack: RulePack, inv: Inventory, engine: str) -> set[oracle.Firing]:
    run = run_engine(pack, derive_facts(inv, pack.options), engine)
    return {
        (f.rule_id, tuple(b for b in f.bindings if not b[0].startswith("_"))) for f in run.firings
    }


def _engine_findings(pack: RulePack, inv: Inventory, engine: str) -> set[str]:
    run = run_engine(pack, derive_facts(inv, pack.options), engine)
    return {f["id"] for f in run.findings}


def _compare(name: str, inv: Inventory, options: tuple[tuple[str, Any], ...] = ()) -> None:
    pack, opack = _pack(name, options), _oracle_pack(name, options)
    expected, expected_findings = oracle.run(opack, inv)
    for engine in ENGINES:
        got = _engine_firings(pack, inv, engine)
        assert got == expected, (
            f"{engine} vs oracle on {name} {dict(options)}:\n"
            f"  only {engine}: {sorted(got - expected)}\n"
            f"  only oracle: {sorted(expected - got)}"
        )
        assert _engine_findings(pack, inv, engine) == expected_findings


def _compare_facts(inv: Inventory, options: dict[str, Any]) -> None:
    """Every field the oracle derives equals the facts stage's value."""
    mine = oracle.derive(inv, options)
    theirs = derive_facts(inv, options)
    for ftype, facts in mine.items():
        lib = {f["id"]: f for f in theirs.by_type[ftype]}
        assert set(lib) == {f["id"] for f in facts}, ftype
        for f in facts:
            for k, v in f.items():
                got = lib[f["id"]][k]
                if isinstance(v, tuple) or isinstance(got, tuple):
                    assert sorted(got) == sorted(v), (ftype, f["id"], k)
                else:
                    assert got == v and type(got) is type(v), (ftype, f["id"], k, got, v)


def test_oracle_covers_every_field_the_bundled_packs_read() -> None:
    for name in ("ipt-core", "ipsrt"):
        for ftype, fields in oracle.fields_read(_oracle_pack(name)).items():
            assert fields <= oracle.FIELDS[ftype], (name, ftype, fields - oracle.FIELDS[ftype])


def test_oracle_reads_the_same_rules_as_the_loader() -> None:
    for name in ("ipt-core", "ipsrt"):
        assert {r["id"] for r in _oracle_pack(name).rules} == {r.id for r in _pack(name).rules}


def _choices(name: str) -> dict[str, tuple[Any, ...]]:
    import tomllib

    m = tomllib.loads((RULES / "ipt-core" / "pack.toml").read_text(encoding="utf-8"))
    out: dict[str, tuple[Any, ...]] = {}
    for opt, values in VARIED.items():
        out[opt] = tuple(m["options"][opt]["choices"]) if values is None else values
    return out


_CHOICES = _choices("ipt-core")
_OPTIONS = st.tuples(
    *(st.tuples(st.just(k), st.sampled_from(v)) for k, v in sorted(_CHOICES.items()))
)


@pytest.mark.parametrize("name", ["ipt-core", "ipsrt"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=inventories(max_persons=4, max_events=4), options=_OPTIONS)
def test_both_engines_match_the_oracle_on_generated_inventories(
    name: str, inv: Inventory, options: tuple[tuple[str, Any], ...]
) -> None:
    _compare_facts(inv, dict(_pack(name, options).options))
    _compare(name, inv, options)


@pytest.mark.parametrize("name", ["ipt-core", "ipsrt"])
@pytest.mark.parametrize("example", sorted(p.stem for p in (ROOT / "examples").glob("*.json")))
def test_both_engines_match_the_oracle_on_the_examples(name: str, example: str) -> None:
    inv = parse_inventory((ROOT / "examples" / f"{example}.json").read_text(encoding="utf-8"))
    _compare_facts(inv, dict(_pack(name).options))
    _compare(name, inv)


# --------------------------------------------------------------- events at the window edges


def _timed(event: dict[str, Any], onset: str | None = "2025-07-15", **episode: Any) -> Inventory:
    ep: dict[str, Any] = {"assessment_date": "2026-01-10", **episode}
    if onset is not None:
        ep["onset"] = onset
    return parse_inventory(
        {
            "schema_version": "1",
            "patient": {"age": 40},
            "episode": ep,
            "persons": [
                {"id": "mum", "role": "parent", "ring": "inner", "conflict": "high"},
                {"id": "tom", "role": "spouse_partner", "ring": "inner"},
            ],
            "events": [{"id": "e1", "subject": "mum", **event}],
        }
    )


# (event, expected recent, expected after_onset) under the default window 6, tolerance 1
EDGES: list[tuple[dict[str, Any], bool | None, bool | None]] = [
    ({"kind": "death", "months_before_onset": 6}, True, False),  # exactly the window
    ({"kind": "death", "months_before_onset": 6.5}, False, False),
    ({"kind": "death", "months_before_onset": 7}, False, False),  # window + tolerance
    ({"kind": "new_job", "months_before_onset": 0}, True, False),  # the day of onset
    ({"kind": "new_job", "months_before_onset": -1}, True, False),  # exactly the tolerance
    ({"kind": "new_job", "months_before_onset": -1.5}, False, True),
    ({"kind": "new_job", "months_before_onset": -0.5, "maintains_episode": False}, True, False),
    ({"kind": "death", "date": "2025-07-15"}, True, False),  # the day of onset, dated
    # month-level dates straddling the edges (onset 2025-07-15): January spans ~5.5-6.5 months
    ({"kind": "death", "date": "2025-01"}, None, False),
    ({"kind": "death", "date": "2025-01", "onset_relation": "months_before"}, True, False),
    ({"kind": "death", "date": "2025-01", "onset_relation": "long_before"}, False, False),
    ({"kind": "death", "date": "2025-02"}, True, False),  # ~4.5-5.5: inside
    ({"kind": "death", "date": "2024-12"}, False, False),  # ~6.5-7.5: outside
    ({"kind": "new_job", "date": "2025-08"}, None, None),  # straddles the tolerance after onset
    ({"kind": "new_job", "date": "2025-09"}, False, True),
    ({"kind": "new_job", "date": "2025"}, None, None),  # a whole year around onset
    ({"kind": "new_job", "onset_relation": "before"}, None, False),
    ({"kind": "new_job", "maintains_episode": True}, None, None),
]


@pytest.mark.parametrize(("event", "recent", "after"), EDGES)
def test_timing_at_the_window_edges(
    event: dict[str, Any], recent: bool | None, after: bool | None
) -> None:
    inv = _timed(event)
    fact = derive_facts(inv).by_type["event"][0]
    assert (fact["recent"], fact["after_onset"]) == (recent, after)
    assert oracle.derive(inv, {})["event"][0]["recent"] == recent
    _compare_facts(inv, {})
    for name in ("ipt-core", "ipsrt"):
        _compare(name, inv)


@pytest.mark.parametrize(("event", "recent", "after"), EDGES)
@pytest.mark.parametrize(
    "options",
    [
        (("onset_tolerance_months", 0.0), ("recent_window_months", 6.0)),
        (("onset_tolerance_months", 1.0), ("recent_window_months", 7.0)),
        (("onset_tolerance_months", 2.0), ("recent_window_months", 5.5)),
    ],
)
def test_edges_under_other_windows(
    event: dict[str, Any], recent: Any, after: Any, options: tuple[tuple[str, Any], ...]
) -> None:
    inv = _timed(event)
    _compare_facts(inv, dict(options))
    _compare("ipt-core", inv, options)


def test_onset_given_in_months_before_assessment() -> None:
    for months in (0, 5.5, 6, 7, 12.25):
        inv = _timed(
            {"kind": "death", "months_before_onset": 3.3},
            onset=None,
            onset_months_before_assessment=months,
        )
        _compare_facts(inv, {})
        _compare("ipt-core", inv)


# --------------------------------------------------------------- joins on unknown fields

_JOIN_PACK = {
    "pack.toml": """
        [pack]
        name = "joins"
        version = "0.1.0"
        description = "Joins on unknown fields."

        [[area]]
        id = "grief"
        label = "Grief"
        focus_kind = "person"

        [sources.s]
        text = "A source."
        """,
    "joins.toml": """
        [[rule]]
        id = "j.subject"
        version = 1
        title = "Death of a known subject"
        area = "grief"
        weight = 0.5
        focus = "p"
        asserts = { finding = "dead", focus = "p" }
        explain = "{p.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "event"
          bind = "e"
          where = [["kind", "==", "death"]]
          [[rule.when]]
          fact = "person"
          bind = "p"
          where = [["id", "==", "@e.subject"]]

        [[rule]]
        id = "j.same-subject"
        version = 1
        title = "Two events about the same person"
        advisory = { kind = "data", level = "info" }
        explain = "{a.id} {b.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "event"
          bind = "a"
          [[rule.when]]
          fact = "event"
          bind = "b"
          where = [["subject", "==", "@a.subject"]]

        [[rule]]
        id = "j.same-valence"
        version = 1
        title = "Two events of the same valence"
        advisory = { kind = "data", level = "info" }
        explain = "{a.id} {b.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "event"
          bind = "a"
          [[rule.when]]
          fact = "event"
          bind = "b"
          where = [["valence", "==", "@a.valence"], ["kind", "!=", "death"]]

        [[rule]]
        id = "j.ring-as-subject-ring"
        version = 1
        title = "A person in the same ring as an event's subject"
        advisory = { kind = "data", level = "info" }
        explain = "{p.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "event"
          bind = "e"
          where = [["subject", "known"]]
          [[rule.when]]
          fact = "person"
          bind = "q"
          where = [["id", "==", "@e.subject"]]
          [[rule.when]]
          fact = "person"
          bind = "p"
          where = [["ring", "==", "@q.ring"], ["conflict", "in", ["moderate", "high"]]]

        [[rule]]
        id = "j.no-death-about"
        version = 1
        title = "A close person no death event is about"
        advisory = { kind = "data", level = "info" }
        explain = "{p.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "person"
          bind = "p"
          where = [["ring", "==", "inner"]]
          [[rule.when]]
          fact = "event"
          exists = false
          where = [["subject", "==", "@p.id"], ["kind", "==", "death"]]

        [[rule]]
        id = "j.death-of-no-outsider"
        version = 1
        title = "A death that is not about an outer-ring person"
        advisory = { kind = "data", level = "info" }
        explain = "{d.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "event"
          bind = "d"
          where = [["kind", "==", "death"]]
          [[rule.when]]
          fact = "person"
          exists = false
          where = [["id", "==", "@d.subject"], ["ring", "==", "outer"]]

        [[rule]]
        id = "j.finding-focus"
        version = 1
        title = "A person a finding is about"
        advisory = { kind = "data", level = "info" }
        explain = "{p.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "finding"
          bind = "d"
          where = [["name", "==", "dead"]]
          [[rule.when]]
          fact = "person"
          bind = "p"
          where = [["id", "==", "@d.focus"], ["conflict", "!=", "none"]]

        [[rule]]
        id = "j.link"
        version = 1
        title = "A link from a close person, conflict known"
        advisory = { kind = "data", level = "info" }
        explain = "{p.id}"
        cite = [{ source = "s" }]
          [[rule.when]]
          fact = "person"
          bind = "p"
          [[rule.when]]
          fact = "link"
          bind = "l"
          where = [["a", "==", "@p.id"], ["conflict", "not_in", ["none"]]]
        """,
}


@pytest.fixture(scope="module")
def join_pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("joins")
    for fname, text in _JOIN_PACK.items():
        (d / fname).write_text(textwrap.dedent(text), encoding="utf-8")
    return d


def _join_inventory(**overrides: Any) -> Inventory:
    data: dict[str, Any] = {
        "schema_version": "1",
        "episode": {"assessment_date": "2026-01-10", "onset": "2025-07"},
        "persons": [
            {"id": "mum", "role": "parent"},  # ring and conflict unknown
            {"id": "dad", "role": "parent", "ring": "inner", "conflict": "high"},
            {"id": "amy", "role": "friend", "ring": "inner"},
        ],
        "relationships": [{"a": "mum", "b": "dad"}, {"a": "amy", "b": "dad", "conflict": "low"}],
        "events": [
            {"id": "e1", "kind": "death"},  # subject unknown
            {"id": "e2", "kind": "move"},  # subject and valence unknown
            {"id": "e3", "kind": "death", "subject": "dad", "valence": "negative"},
            {"id": "e4", "kind": "new_job", "valence": "mixed"},
        ],
    }
    data.update(overrides)
    return parse_inventory(data)


def _compare_dir(path: Path, inv: Inventory) -> set[oracle.Firing]:
    pack = load_pack(path)
    expected, _ = oracle.run(oracle.read_pack(path, RULES), inv)
    for engine in ENGINES:
        assert _engine_firings(pack, inv, engine) == expected, engine
    return expected


def test_joins_on_unknown_fields_never_join(join_pack_dir: Path) -> None:
    fired = _compare_dir(join_pack_dir, _join_inventory())
    ids = {(r, b) for r, b in fired}
    # e1 and e2 have no subject: they join with nothing, not even each other or themselves
    same_subject = {tuple(x[2] for x in b) for r, b in ids if r == "j.same-subject"}
    assert same_subject == {("e3", "e3")}
    # e2's valence is unknown: it is never "the same valence" as itself
    same_valence = {tuple(x[2] for x in b) for r, b in ids if r == "j.same-valence"}
    assert same_valence == {("e4", "e4")}
    # mum's ring is unknown: not in dad's ring
    assert {b for r, b in ids if r == "j.ring-as-subject-ring"} == {
        (("e", "event", "e3"), ("p", "person", "dad"), ("q", "person", "dad"))
    }
    # the death with an unknown subject does not block amy (documented); dad is blocked
    assert {b[0][2] for r, b in ids if r == "j.no-death-about"} == {"amy"}
    # a referenced field must be known to bind: e1's subject is unknown, so e1 never binds d
    # (the loader's automatic "known" guard), even though no person could block it
    assert {b for r, b in ids if r == "j.death-of-no-outsider"} == {(("d", "event", "e3"),)}
    # link mum~dad has conflict unknown: "not_in" is unknown, no firing
    assert {b for r, b in ids if r == "j.link"} == {
        (("l", "link", "amy~dad"), ("p", "person", "amy"))
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=inventories(max_persons=4, max_events=4, max_relationships=4))
def test_join_pack_matches_the_oracle_on_generated_inventories(
    join_pack_dir: Path, inv: Inventory
) -> None:
    _compare_dir(join_pack_dir, inv)
