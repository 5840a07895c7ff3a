"""Safety advisories: every risk field of the inventory raises one, at its documented level."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import EXAMPLES
from ipt_formulate import RulePack, formulate
from ipt_formulate.engine import ENGINES
from ipt_formulate.inventory import Risk

# The level each true risk field raises in ipt-core, and why (see rules/ipt-core/safety.toml).
# A new field of Risk fails test_every_risk_field_has_a_declared_level until it is added here
# and given a rule.
RISK_LEVELS: dict[str, str] = {
    "suicidal_ideation": "urgent",  # basis rule of thumb 10; ipta_safety
    "suicide_plan_or_intent": "urgent",  # rule of thumb 10
    "suicide_attempt_history": "urgent",  # rule of thumb 10: any attempt
    "self_harm": "urgent",  # ipta_safety: self-injury led to a safety plan
    "psychosis": "caution",  # no source for a level: assess / consider referral
    "mania_history": "caution",  # no source for a level: assess for bipolar disorder
    "substance_use": "caution",  # no source for a level: assess / consider referral
}

BASE: dict[str, Any] = {"episode": {"assessment_date": "2026-01-01"}}


def _inventory(**risk: bool) -> dict[str, Any]:
    return {**BASE, "patient": {"risk": risk}}


def _reads(pack: RulePack, rule_id: str, field: str) -> bool:
    return any(
        c.field == field
        for p in pack.rule(rule_id).patterns
        if p.fact == "patient" and p.exists
        for c in p.conditions
    )


def test_every_risk_field_has_a_declared_level() -> None:
    assert set(Risk.model_fields) == set(RISK_LEVELS)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("field", sorted(Risk.model_fields))
def test_each_true_risk_field_raises_a_safety_advisory(
    field: str, engine: str, core_pack: RulePack
) -> None:
    f = formulate(_inventory(**{field: True}), core_pack, engine=engine)
    own = [a for a in f.advisories if a.rule_id and _reads(core_pack, a.rule_id, field)]
    assert own, f"no advisory reads risk.{field}"
    assert {(a.kind, a.level) for a in own} >= {("safety", RISK_LEVELS[field])}
    assert all(f.rule(a.rule_id).citations for a in own if a.rule_id)
    # false raises nothing about that field
    f = formulate(_inventory(**{field: False}), core_pack, engine=engine)
    assert not [a for a in f.advisories if a.rule_id and _reads(core_pack, a.rule_id, field)]


def test_safety_advisories_precede_the_others(core_pack: RulePack) -> None:
    f = formulate(_inventory(psychosis=True, substance_use=True), core_pack)
    kinds = [a.kind for a in f.advisories]
    assert kinds[:2] == ["safety", "safety"]


def test_suicide_risk_not_recorded(core_pack: RulePack) -> None:
    rule = "safety.suicide-risk-not-recorded"
    f = formulate(BASE, core_pack)
    (adv,) = [a for a in f.advisories if a.rule_id == rule]
    assert (adv.kind, adv.level) == ("safety", "caution")
    for inv in (
        _inventory(suicidal_ideation=False),
        _inventory(suicide_plan_or_intent=False),
        {"episode": {"assessment_date": "2026-01-01", "measures": [
            {"instrument": "phq9", "item9": 0}]}},
        {"episode": {"assessment_date": "2026-01-01", "measures": [
            {"instrument": "hamd17", "item3": 0}]}},
    ):  # fmt: skip
        assert rule not in {a.rule_id for a in formulate(inv, core_pack).advisories}, inv
    for path in sorted(EXAMPLES.glob("*.json")):  # every example records suicide risk
        assert rule not in {a.rule_id for a in formulate(path.read_text(), core_pack).advisories}


def test_prolonged_grief_asks_about_ideation(core_pack: RulePack) -> None:
    inv = json.loads((EXAMPLES / "grief.json").read_text())
    inv["patient"]["risk"] = {}
    inv["episode"]["onset"] = "2024-09"
    inv["episode"]["measures"] = [{"instrument": "pg13r", "total": 40}]
    inv["persons"][0]["date_of_death"] = "2024-06-14"  # 20 months before the assessment
    inv["persons"][0]["label"] = "Mother"
    inv["events"][0]["date"] = "2024-06-14"
    f = formulate(inv, core_pack)
    assert "prolonged_grief" in {x.name for x in f.findings}
    assert "safety.prolonged-grief-ask-ideation" in {a.rule_id for a in f.advisories}
    inv["patient"]["risk"] = {"suicidal_ideation": False}
    f = formulate(inv, core_pack)
    assert "safety.prolonged-grief-ask-ideation" not in {a.rule_id for a in f.advisories}
