"""The FHIR R4 Questionnaire of the interpersonal inventory, and QuestionnaireResponse ↔ inventory.

Plain JSON dicts in and out: ``fhir.resources`` (the ``[fhir]`` extra) is needed only to pass
its models in; the tests validate every resource built here against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, NoReturn

from ..errors import InventoryError, Issue, MalformedInputError
from ..formulation import DISCLAIMER
from ..inventory import SCHEMA_VERSION, Inventory, parse_inventory
from ..limits import Limits, current_limits
from ._spec import BASE_URL, Node, Vocabulary, spec_tree, walk

__all__ = [
    "QUESTIONNAIRE_URL",
    "QUESTIONNAIRE_VERSION",
    "QuestionnaireResponseError",
    "ResponseIssue",
    "build_questionnaire",
    "bundled_questionnaire",
    "inventory_from_questionnaire_response",
    "inventory_to_questionnaire_response",
    "questionnaire_json",
]

QUESTIONNAIRE_URL = f"{BASE_URL}/Questionnaire/interpersonal-inventory"
QUESTIONNAIRE_VERSION = f"{SCHEMA_VERSION}.0.0"
"""Follows the inventory's ``schema_version``; raise it whenever the generated file changes."""

_EXT_MIN = "http://hl7.org/fhir/StructureDefinition/minValue"
_EXT_MAX = "http://hl7.org/fhir/StructureDefinition/maxValue"
_VALUE_KEY = {
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "date": "valueDate",
    "string": "valueString",
    "text": "valueString",
    "choice": "valueCoding",
}


# ---------------------------------------------------------------- the Questionnaire
def _value_set(v: Vocabulary) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "id": v.name,
        "url": v.value_set,
        "version": QUESTIONNAIRE_VERSION,
        "name": "".join(p.capitalize() for p in v.name.split("-")),
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": v.system,
                    "concept": [{"code": c, "display": c.replace("_", " ")} for c in v.codes],
                }
            ]
        },
    }


def _bound_ext(url: str, kind: str, value: float) -> dict[str, Any]:
    if kind == "integer":
        return {"url": url, "valueInteger": int(value)}
    return {"url": url, "valueDecimal": value}


def _item(node: Node) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": node.link_id, "text": node.text, "type": node.type}
    ext = []
    if node.min_value is not None:
        ext.append(_bound_ext(_EXT_MIN, node.type, node.min_value))
    if node.max_value is not None:
        ext.append(_bound_ext(_EXT_MAX, node.type, node.max_value))
    if ext:
        item = {"extension": ext, **item}
    if node.enable_when:
        item["enableWhen"] = [
            {"question": q, "operator": "=", "answerCoding": {"system": s, "code": c}}
            for q, s, c in node.enable_when
        ]
        if len(node.enable_when) > 1:
            item["enableBehavior"] = "any"
    if node.required:
        item["required"] = True
    if node.repeats:
        item["repeats"] = True
    if node.max_length is not None:
        item["maxLength"] = node.max_length
    if node.vocabulary is not None:
        item["answerValueSet"] = f"#{node.vocabulary.name}"
    if node.children:
        item["item"] = [_item(c) for c in node.children.values()]
    return item


def build_questionnaire() -> dict[str, Any]:
    """Generate the Questionnaire from the inventory model (deterministic)."""
    root = spec_tree()
    vocabularies: dict[str, Vocabulary] = {}
    for n in walk(root):
        if n.vocabulary is not None:
            seen = vocabularies.setdefault(n.vocabulary.name, n.vocabulary)
            if seen != n.vocabulary:
                raise TypeError(f"two vocabularies named {n.vocabulary.name!r}")
    return {
        "resourceType": "Questionnaire",
        "id": "interpersonal-inventory",
        "contained": [_value_set(vocabularies[k]) for k in sorted(vocabularies)],
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "IPTInterpersonalInventory",
        "title": "IPT interpersonal inventory",
        "status": "active",
        "subjectType": ["Patient"],
        "description": (
            f"The interpersonal inventory of ipt-formulate (inventory schema_version "
            f"{SCHEMA_VERSION}), generated from its model. Each linkId is the inventory's JSON "
            "path without list indices; a missing answer means unknown, never 'no'. " + DISCLAIMER
        ),
        "item": [_item(c) for c in root.children.values()],
    }


def questionnaire_json() -> str:
    """The generated Questionnaire as committed (``python -m ipt_formulate.fhir`` prints it)."""
    return json.dumps(build_questionnaire(), indent=2, ensure_ascii=False) + "\n"


def bundled_questionnaire() -> dict[str, Any]:
    """The Questionnaire as shipped with the package (``questionnaire.json``)."""
    text = resources.files(__package__).joinpath("questionnaire.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# ---------------------------------------------------------------- inventory -> response
def _answers(node: Node, value: Any) -> list[dict[str, Any]]:
    values = value if node.repeats else [value]
    key = _VALUE_KEY[node.type]
    out = []
    for v in values:
        if node.vocabulary is not None:
            code = str(v)
            coding = {"system": node.vocabulary.system, "code": code}
            out.append({key: {**coding, "display": code.replace("_", " ")}})
        else:
            out.append({key: v})
    return out


def _response_items(node: Node, data: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for key, value in data.items():
        child = node.children.get(key)
        if child is None or value is None or value == [] or key == "schema_version":
            continue
        if child.type == "group":
            for inst in value if child.repeats else [value]:
                sub = _response_items(child, inst)
                if sub:
                    items.append({"linkId": child.link_id, "item": sub})
                elif child.optional_group:  # present but empty: keep it (not the same as None)
                    items.append({"linkId": child.link_id})
        else:
            items.append({"linkId": child.link_id, "answer": _answers(child, value)})
    return items


def inventory_to_questionnaire_response(
    inventory: Inventory | dict[str, Any] | str, *, status: str = "completed"
) -> dict[str, Any]:
    """The QuestionnaireResponse that answers the Questionnaire with this inventory."""
    inv = parse_inventory(inventory)
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}",
        "status": status,
        "item": _response_items(spec_tree(), inv.model_dump(mode="json")),
    }
    return qr


# ---------------------------------------------------------------- response -> inventory
@dataclass(frozen=True, order=True)
class ResponseIssue(Issue):
    """An issue of a QuestionnaireResponse: the inventory path and the linkId path."""

    link_path: str = ""

    def __str__(self) -> str:
        return f"{self.link_path} ({self.path}): {self.message} [{self.code}]"


class QuestionnaireResponseError(InventoryError):
    """A QuestionnaireResponse that does not make a valid inventory (issues name both paths)."""

    code = "fhir.invalid_response"

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["issues"] = [
            {
                "path": i.path,
                "link_path": i.link_path if isinstance(i, ResponseIssue) else None,
                "code": i.code,
                "message": i.message,
            }
            for i in self.issues
        ]
        return out


class _Reader:
    """Walks a response against the spec tree, building inventory JSON and a path map."""

    def __init__(self) -> None:
        self.issues: list[ResponseIssue] = []
        self.paths: dict[str, str] = {"$": "QuestionnaireResponse"}

    def bad(self, inv_path: str, link_path: str, code: str, message: str) -> None:
        self.issues.append(ResponseIssue(inv_path, code, message, link_path))

    def group(self, node: Node, items: Any, inv_path: str, link_path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if items is None:
            return out
        if not isinstance(items, list):
            self.bad(inv_path, link_path, "fhir.wrong_type", "'item' must be a list")
            return out
        by_key = {c.link_id: c for c in node.children.values()}
        for pos, item in enumerate(items):
            where = f"{link_path}/item[{pos}]" if link_path else f"item[{pos}]"
            if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
                self.bad(
                    inv_path, where, "fhir.bad_item", "an item must be an object with a linkId"
                )
                continue
            link_id = item["linkId"]
            child = by_key.get(link_id)
            if child is None:
                self.bad(
                    inv_path,
                    f"{link_path}/{link_id}" if link_path else link_id,
                    "fhir.unknown_link_id",
                    f"unknown linkId {link_id[:64]!r} here (see the Questionnaire "
                    f"{QUESTIONNAIRE_URL})",
                )
                continue
            self.child(child, item, out, inv_path, link_path)
        return out

    def child(
        self, node: Node, item: dict[str, Any], out: dict[str, Any], inv_path: str, link: str
    ) -> None:
        key = node.key
        sub_inv = f"{inv_path}.{key}"
        sub_link = f"{link}/{node.link_id}" if link else node.link_id
        if node.type == "group":
            if "answer" in item:
                self.bad(sub_inv, sub_link, "fhir.bad_item", "a group item has no answer")
                return
            if node.repeats:
                lst = out.setdefault(key, [])
                sub_inv, sub_link = f"{sub_inv}[{len(lst)}]", f"{sub_link}[{len(lst)}]"
                self.paths[sub_inv] = sub_link
                lst.append(self.group(node, item.get("item"), sub_inv, sub_link))
            elif key in out:
                self.bad(sub_inv, sub_link, "fhir.repeated_item", "this group does not repeat")
            else:
                self.paths[sub_inv] = sub_link
                out[key] = self.group(node, item.get("item"), sub_inv, sub_link)
            return
        self.paths[sub_inv] = sub_link
        if "item" in item:
            self.bad(sub_inv, sub_link, "fhir.bad_item", "this question has no nested items")
            return
        if key in out:
            self.bad(sub_inv, sub_link, "fhir.repeated_item", "question answered in two items")
            return
        answers = item.get("answer")
        if answers is None or answers == []:
            return  # no answer: unknown, never "no"
        if not isinstance(answers, list):
            self.bad(sub_inv, sub_link, "fhir.wrong_type", "'answer' must be a list")
            return
        if len(answers) > 1 and not node.repeats:
            self.bad(sub_inv, sub_link, "fhir.too_many_answers", "this question takes one answer")
            return
        values = []
        for j, ans in enumerate(answers):
            path = f"{sub_inv}[{j}]" if node.repeats else sub_inv
            if node.repeats:
                self.paths[path] = f"{sub_link}/answer[{j}]"
            ok, value = self.value(node, ans, path, self.paths[path])
            if ok:
                values.append(value)
        if len(values) == len(answers):
            out[key] = values if node.repeats else values[0]

    def value(self, node: Node, ans: Any, inv_path: str, link: str) -> tuple[bool, Any]:
        want = _VALUE_KEY[node.type]
        keys = [k for k in ans if k.startswith("value")] if isinstance(ans, dict) else []
        if not isinstance(ans, dict) or "item" in ans or keys != [want]:
            got = ", ".join(keys) or "no value"
            self.bad(inv_path, link, "fhir.wrong_answer_type", f"expected {want}, got {got}")
            return False, None
        value = ans[want]
        if node.vocabulary is None:
            return True, value
        v = node.vocabulary
        if not isinstance(value, dict) or not isinstance(value.get("code"), str):
            self.bad(inv_path, link, "fhir.wrong_answer_type", "valueCoding needs a code")
            return False, None
        system = value.get("system")
        if system is not None and system != v.system:
            self.bad(inv_path, link, "fhir.unknown_code", f"code system must be {v.system}")
            return False, None
        if value["code"] not in v.codes:
            self.bad(
                inv_path,
                link,
                "fhir.unknown_code",
                f"{value['code'][:64]!r} is not in the value set {v.value_set} "
                f"({', '.join(v.codes)})",
            )
            return False, None
        return True, value["code"]

    def link_of(self, inv_path: str) -> str:
        """The linkId path of an inventory path (its nearest recorded ancestor)."""
        p = inv_path
        while p not in self.paths:
            cut = max(p.rfind("."), p.rfind("["))
            if cut <= 0:
                return self.paths["$"]
            p = p[:cut]
        return self.paths[p]


def _as_dict(qr: Any, limits: Limits) -> dict[str, Any]:
    if hasattr(qr, "model_dump_json") and hasattr(qr, "get_resource_type"):
        qr = qr.model_dump_json()  # a fhir.resources model
    if isinstance(qr, bytes | bytearray | str):
        size = len(qr)
        if size > 4 * limits.max_bytes:  # a response is a few times larger than the inventory
            from ..inventory import _too_large

            raise _too_large("max_bytes", 4 * limits.max_bytes, size, "response size in bytes")
        try:
            qr = json.loads(qr)
        except (ValueError, RecursionError) as exc:
            raise MalformedInputError(f"QuestionnaireResponse is not valid JSON: {exc}") from None
    if not isinstance(qr, dict):
        raise MalformedInputError(
            f"expected a QuestionnaireResponse object, got {type(qr).__name__}"
        )
    return qr


def inventory_from_questionnaire_response(qr: Any, *, limits: Limits | None = None) -> Inventory:
    """An :class:`~ipt_formulate.inventory.Inventory` from a QuestionnaireResponse.

    ``qr`` is a dict, JSON text or a ``fhir.resources`` model. Unknown linkIds are errors;
    an item without an answer is unknown (never "no"). Every problem is a
    :class:`ResponseIssue` naming the linkId path and the inventory path, raised together
    as :class:`QuestionnaireResponseError`.
    """
    lim = limits if limits is not None else current_limits()
    data = _as_dict(qr, lim)
    reader = _Reader()
    if data.get("resourceType") != "QuestionnaireResponse":
        reader.bad(
            "$", "QuestionnaireResponse", "fhir.wrong_resource", "not a QuestionnaireResponse"
        )
    canonical = data.get("questionnaire")
    if canonical is not None and (
        not isinstance(canonical, str) or canonical.partition("|")[0] != QUESTIONNAIRE_URL
    ):
        reader.bad(
            "$",
            "QuestionnaireResponse.questionnaire",
            "fhir.wrong_questionnaire",
            f"answers {str(canonical)[:100]!r}, not {QUESTIONNAIRE_URL}",
        )
    inv = reader.group(spec_tree(), data.get("item"), "$", "")
    if reader.issues:
        _raise(sorted(set(reader.issues)))
    try:
        result = parse_inventory(inv, limits=lim)
    except InventoryError as exc:
        _raise(
            [ResponseIssue(i.path, i.code, i.message, reader.link_of(i.path)) for i in exc.issues]
        )
    return result


def _raise(issues: list[ResponseIssue]) -> NoReturn:
    first = issues[0]
    more = f" (and {len(issues) - 1} more issue(s))" if len(issues) > 1 else ""
    raise QuestionnaireResponseError(
        f"invalid QuestionnaireResponse: {first}{more}", code=first.code, issues=tuple(issues)
    )
