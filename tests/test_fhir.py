"""FHIR: the generated Questionnaire, QuestionnaireResponse <-> inventory, the output Bundle."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

import ipt_formulate as ipt
from ipt_formulate.fhir import (
    QUESTIONNAIRE_URL,
    QuestionnaireResponseError,
    build_questionnaire,
    bundled_questionnaire,
    cards_for,
    formulation_to_fhir,
    inventory_from_questionnaire_response,
    inventory_to_questionnaire_response,
    questionnaire_json,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
COMMITTED = (
    ROOT / "docs" / "fhir" / "interpersonal-inventory.questionnaire.json",
    ROOT / "src" / "ipt_formulate" / "fhir" / "questionnaire.json",
)


def _items(q: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], list(q["item"])
    while stack:
        it = stack.pop()
        out.append(it)
        stack.extend(it.get("item", []))
    return out


def test_committed_questionnaire_is_generated() -> None:
    text = questionnaire_json()
    for path in COMMITTED:
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: regenerate with python -m ipt_formulate.fhir > {path.name}"
        )
    assert bundled_questionnaire() == build_questionnaire()


def test_questionnaire_validates_and_covers_the_model() -> None:
    q = build_questionnaire()
    Questionnaire.model_validate(q)
    assert q["url"] == QUESTIONNAIRE_URL and q["version"]
    items = {i["linkId"]: i for i in _items(q)}
    for group in ("persons", "events", "relationships", "episode.measures"):
        assert items[group]["type"] == "group" and items[group]["repeats"] is True
    assert items["persons.role"]["answerValueSet"] == "#role"
    role_vs = next(v for v in q["contained"] if v["id"] == "role")
    codes = [c["code"] for c in role_vs["compose"]["include"][0]["concept"]]
    assert tuple(codes) == ipt.inventory.Role.__args__  # type: ignore[attr-defined]
    assert items["episode.assessment_date"]["type"] == "date"
    assert items["episode.assessment_date"]["required"] is True
    assert items["patient.populations"]["repeats"] is True
    assert items["episode.measures.item9"]["enableWhen"][0]["answerCoding"]["code"] == "phq9"
    # every inventory field (but the fixed schema_version) has an item
    for field in ipt.inventory.Person.model_fields:
        assert f"persons.{field}" in items


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_round_trip_every_example(path: Path) -> None:
    inv = ipt.parse_inventory(path.read_text(encoding="utf-8"))
    qr = inventory_to_questionnaire_response(inv)
    model = QuestionnaireResponse.model_validate(qr)
    assert inventory_from_questionnaire_response(qr) == inv
    assert inventory_from_questionnaire_response(json.dumps(qr)) == inv
    assert inventory_from_questionnaire_response(model) == inv


def _grief_qr() -> dict[str, Any]:
    return inventory_to_questionnaire_response((ROOT / "examples" / "grief.json").read_text())


def _find(items: list[dict[str, Any]], link_id: str) -> dict[str, Any]:
    return next(i for i in items if i["linkId"] == link_id)


def test_missing_answer_is_unknown_never_no() -> None:
    qr = _grief_qr()
    persons = [i for i in qr["item"] if i["linkId"] == "persons"]
    deceased = _find(persons[0]["item"], "persons.deceased")
    deceased.pop("answer")
    inv = inventory_from_questionnaire_response(qr)
    assert inv.persons[0].deceased is None


def test_unknown_link_id_is_an_error_with_both_paths() -> None:
    qr = _grief_qr()
    persons = [i for i in qr["item"] if i["linkId"] == "persons"]
    persons[1]["item"].append({"linkId": "persons.shoe_size", "answer": [{"valueInteger": 9}]})
    with pytest.raises(QuestionnaireResponseError) as info:
        inventory_from_questionnaire_response(qr)
    issue = info.value.issues[0]
    assert issue.code == "fhir.unknown_link_id"
    assert issue.path == "$.persons[1]"
    assert issue.link_path == "persons[1]/persons.shoe_size"  # type: ignore[attr-defined]


def test_inventory_errors_report_link_paths() -> None:
    qr = _grief_qr()
    persons = [i for i in qr["item"] if i["linkId"] == "persons"]
    _find(persons[2]["item"], "persons.id")["answer"] = [{"valueString": "bad id!"}]
    _find(persons[0]["item"], "persons.role")["answer"] = [
        {"valueCoding": {"system": "http://example.org/other", "code": "parent"}}
    ]
    with pytest.raises(QuestionnaireResponseError) as info:
        inventory_from_questionnaire_response(qr)
    by_code = {i.code: i for i in info.value.issues}
    assert by_code["fhir.unknown_code"].link_path == "persons[0]/persons.role"  # type: ignore[attr-defined]
    assert by_code["fhir.unknown_code"].path == "$.persons[0].role"
    # the structural issue comes first; fix it, then the inventory's own validation speaks
    _find(persons[0]["item"], "persons.role")["answer"][0]["valueCoding"].pop("system")
    with pytest.raises(QuestionnaireResponseError) as info:
        inventory_from_questionnaire_response(qr)
    issue = info.value.issues[0]
    assert (issue.path, issue.link_path) == ("$.persons[2].id", "persons[2]/persons.id")  # type: ignore[attr-defined]
    assert issue.code == "inventory.bad_format"
    assert "persons[2]/persons.id" in json.dumps(info.value.to_dict())


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda qr: qr.update(resourceType="Patient"), "fhir.wrong_resource"),
        (lambda qr: qr.update(questionnaire="http://x.org/Q"), "fhir.wrong_questionnaire"),
        (
            lambda qr: _find(qr["item"], "episode")["item"][0].update(
                answer=[{"valueString": "2026-01-01"}]
            ),
            "fhir.wrong_answer_type",
        ),
        (
            lambda qr: _find(qr["item"], "episode")["item"][0]["answer"].append(
                {"valueDate": "2026-01-02"}
            ),
            "fhir.too_many_answers",
        ),
        (
            lambda qr: qr["item"].append(copy.deepcopy(_find(qr["item"], "episode"))),
            "fhir.repeated_item",
        ),
        (lambda qr: qr["item"].append({"answer": []}), "fhir.bad_item"),
    ],
)
def test_structural_errors(mutate: Any, code: str) -> None:
    qr = _grief_qr()
    mutate(qr)
    with pytest.raises(QuestionnaireResponseError) as info:
        inventory_from_questionnaire_response(qr)
    assert info.value.issues[0].code == code


def test_malformed_response_is_typed() -> None:
    with pytest.raises(ipt.MalformedInputError):
        inventory_from_questionnaire_response("{nope")
    with pytest.raises(ipt.MalformedInputError):
        inventory_from_questionnaire_response("[]")


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_bundle_validates(path: Path) -> None:
    f = ipt.formulate(path.read_text(encoding="utf-8"), questions=3)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    bundle = formulation_to_fhir(f, subject="Patient/123", recorded=when)
    Bundle.model_validate(bundle)
    assert formulation_to_fhir(f, subject="Patient/123", recorded=when) == bundle  # stable
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "Condition" not in kinds and "ClinicalImpression" not in kinds
    (gr,) = _resources(bundle, "GuidanceResponse")
    assert (
        gr["status"]
        == {
            "established": "success",
            "provisional": "data-requested",
            "insufficient_data": "data-required",
        }[f.status]
    )
    (params,) = _resources(bundle, "Parameters")
    hyps = [p for p in params["parameter"] if p["name"] == "hypothesis"]
    assert len(hyps) == len(f.hypotheses)
    assert [h["part"][0]["valueInteger"] for h in hyps] == [h.rank for h in f.hypotheses]
    safety = [a for a in f.advisories if a.kind == "safety"]
    assert len(_resources(bundle, "DetectedIssue")) == len(safety)
    (prov,) = _resources(bundle, "Provenance")
    text = json.dumps(prov)
    p = f.provenance
    for needle in (p.pack_name, p.pack_version, p.pack_hash, p.engine, p.input_digest):
        assert needle in text
    assert len(prov["target"]) == len(bundle["entry"]) - 1


def test_safety_bundle_and_cards() -> None:
    f = ipt.formulate((ROOT / "examples" / "safety-risk.json").read_text())
    issues = _resources(formulation_to_fhir(f), "DetectedIssue")
    assert {i["severity"] for i in issues} == {"high"}
    assert all(i["status"] == "preliminary" for i in issues)
    cards = cards_for(f)
    assert [c["indicator"] for c in cards] == ["critical"] * 3 + ["info"]
    assert all(len(c["summary"]) < 140 for c in cards)
    assert cards[-1]["source"]["label"].endswith(f"ipt-core {ipt.default_pack().version}")
    assert "Role transition" in cards[-1]["summary"]
