"""Output schema 3 (docs/output.md): each rule, unknown value and source held once per
formulation and referred to by key; primary and secondary by rank; keys with default values
left out. Checked on every example with both packs, at every level."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import EXAMPLES, RULES, example_text
from ipt_formulate import Formulation, RulePack, formulate, load_pack
from ipt_formulate.audit._summary import summarize
from ipt_formulate.formulation import path_order

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


@pytest.fixture(scope="module", params=("ipt-core", "ipsrt"))
def pack(request: pytest.FixtureRequest) -> RulePack:
    return load_pack(RULES / request.param)


def _empties(data: Any, path: str = "$") -> list[str]:
    """Where the JSON holds an empty list or object, or null."""
    if data is None or data == [] or data == {}:
        return [path]
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _empties(v, f"{path}.{k}")]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _empties(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_tables_hold_what_is_referred_to_once(name: str, pack: RulePack) -> None:
    f = formulate(example_text(name), pack, engine="compiled", questions=3)
    ids = [r.id for r in f.rules]
    assert ids == sorted(set(ids))
    counted = {e.rule_id for h in f.hypotheses for e in (*h.support, *h.against)}
    counted |= {a.rule_id for a in f.advisories if a.rule_id}
    waiting = {p.rule_id for h in f.hypotheses for p in h.pending}
    asserting = {r for x in f.findings for r in x.rule_ids}
    assert set(ids) == counted | waiting | asserting
    for r in f.rules:
        rule = pack.rule(r.id)
        assert (r.version, r.title) == (rule.version, rule.title)
        # citations where the rule counts, as the pack gives them; none where it only waits
        expected = [(c.source, c.locator, c.note) for c in rule.cite] if r.id in counted else []
        assert [(c.source, c.locator, c.note) for c in r.citations] == expected, r.id
    assert [s.key for s in f.sources] == sorted({c.source for r in f.rules for c in r.citations})
    paths = [o.path for o in f.unknowns]
    assert paths == sorted(set(paths), key=path_order)
    assert set(paths) == {p for h in f.hypotheses for pe in h.pending for p in pe.waits_on}
    assert all(f.unknown(p).about for p in paths)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_primary_and_secondary_are_ranks_and_round_trip(name: str, pack: RulePack) -> None:
    for detail in ("full", "standard"):
        f = formulate(example_text(name), pack, engine="compiled", detail=detail, questions=2)
        data = json.loads(f.to_json())
        for role in ("primary", "secondary"):
            h = getattr(f, role)
            assert data.get(role) == (None if h is None else h.rank)
            if h is not None:
                assert data["hypotheses"][h.rank - 1]["focus"] == h.focus.model_dump(
                    exclude_defaults=True
                )
        back = Formulation.model_validate_json(f.to_json())
        assert back == f and back.to_json() == f.to_json()
        assert back.primary == f.primary and back.secondary == f.secondary


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_no_default_values_in_the_json(name: str, pack: RulePack) -> None:
    for detail in ("full", "standard", "brief"):
        f = formulate(example_text(name), pack, engine="compiled", detail=detail)
        data = json.loads(f.to_json())
        assert _empties(data) == [], detail
        assert data["schema_version"] == "3" and data["detail"] == detail
        assert data["disclaimer"] == f.disclaimer  # always stated, though a constant
        for h, out in zip(f.hypotheses, data["hypotheses"], strict=True):
            assert ("lower_bound" in out) == (h.lower_bound != h.score)
            assert ("upper_bound" in out) == (h.upper_bound != h.score)


def test_audit_summary_reads_schema_2_and_3_alike(core_pack: RulePack) -> None:
    """A batch file written before schema 3 still summarises: primary and secondary were
    copies of their hypotheses then."""
    f = formulate(example_text("mixed-dispute-transition"), core_pack, engine="compiled")
    assert f.primary is not None and f.secondary is not None
    v3 = json.loads(f.to_json())
    v2 = dict(v3, schema_version="2")
    for role in ("primary", "secondary"):
        h = v3["hypotheses"][v3[role] - 1]
        v2[role] = dict(h, lower_bound=h["score"], upper_bound=h["score"])
    assert summarize(v2) == summarize(v3) == summarize(f)
    assert summarize(f)["primary"]["area"] == f.primary.area
