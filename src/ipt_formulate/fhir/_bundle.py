"""A formulation as FHIR R4 resources: GuidanceResponse, Parameters, DetectedIssue, Provenance.

Why ``GuidanceResponse`` and not ``ClinicalImpression``: a GuidanceResponse is, by definition,
the output of a decision-support module evaluated on a subject's data; it names the module
(the rule pack), reports ``data-requested``/``data-required`` when more data would change the
guidance (provisional / insufficient formulations) and lists what data it needs. A
ClinicalImpression records a clinician's own assessment; emitting one would present the rule
pack's reading as the clinician's. No ``Condition`` is ever emitted: this is not a diagnosis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ..formulation import DISCLAIMER, Formulation, Hypothesis
from ._questionnaire import QUESTIONNAIRE_URL
from ._spec import BASE_URL

__all__ = ["formulation_to_fhir", "pack_uri"]

_STATUS = {
    "established": "success",
    "provisional": "data-requested",
    "insufficient_data": "data-required",
}
_SEVERITY = {"urgent": "high", "caution": "moderate", "info": "low"}
_AREA_SYSTEM = f"{BASE_URL}/CodeSystem/problem-area"
_RULE_SYSTEM = f"{BASE_URL}/CodeSystem/rule"
_STATUS_SYSTEM = f"{BASE_URL}/CodeSystem/formulation-status"


def pack_uri(f: Formulation) -> str:
    """The rule pack as the GuidanceResponse's module: name and version (hash in Provenance)."""
    p = f.provenance
    return f"urn:ipt-formulate:rulepack:{p.pack_name}:{p.pack_version}"


def _urn(seed: str, what: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{seed}/{what}')}"


def short_reason(f: Formulation, h: Hypothesis) -> str:
    """The strongest supporting explanation (else its rule's title), or the pending evidence
    it waits on."""
    if h.support:
        best = max(h.support, key=lambda e: (e.contribution, e.rule_id))
        return best.explanations[0] if best.explanations else f.rule_title(best.rule_id)
    if h.pending:
        return "waits on: " + ", ".join(h.waits_on[:3])
    return "no supporting evidence"


def _hypothesis_param(f: Formulation, h: Hypothesis) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "rank", "valueInteger": h.rank},
        {
            "name": "area",
            "valueCoding": {"system": _AREA_SYSTEM, "code": h.area, "display": h.area_label},
        },
        {"name": "focus", "valueString": h.focus.name},
        {"name": "status", "valueCode": h.status},
        {"name": "score", "valueDecimal": h.score},
        {"name": "lowerBound", "valueDecimal": h.lower_bound},
        {"name": "upperBound", "valueDecimal": h.upper_bound},
        {"name": "reason", "valueString": short_reason(f, h)},
    ]
    parts.extend(
        {"name": "supportingRule", "valueCoding": {"system": _RULE_SYSTEM, "code": e.rule_id}}
        for e in h.support
    )
    return {"name": "hypothesis", "part": parts}


def _focus_param(name: str, h: Hypothesis | None) -> list[dict[str, Any]]:
    if h is None:
        return []
    return [{"name": name, "valueString": f"{h.area_label}: {h.focus.name} (rank {h.rank})"}]


def _parameters(f: Formulation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {
            "name": "status",
            "valueCoding": {"system": _STATUS_SYSTEM, "code": f.status},
        },
        *_focus_param("primary", f.primary),
        *_focus_param("secondary", f.secondary),
        *(_hypothesis_param(f, h) for h in f.hypotheses),
        *(
            {
                "name": "advisory",
                "part": [
                    {"name": "kind", "valueCode": a.kind},
                    {"name": "level", "valueCode": a.level},
                    {"name": "message", "valueString": a.message},
                ],
            }
            for a in f.advisories
            if a.kind != "safety"
        ),
        *(
            {
                "name": "question",
                "part": [
                    {"name": "path", "valueString": q.path},
                    {"name": "text", "valueString": q.question},
                ],
            }
            for q in f.questions
        ),
        {"name": "disclaimer", "valueString": DISCLAIMER},
    ]
    return {"resourceType": "Parameters", "parameter": params}


def _link_id(path: str) -> str:
    """``$.persons[1].deceased`` → the Questionnaire linkId ``persons.deceased``."""
    out, depth = [], 0
    for ch in path.removeprefix("$."):
        depth += ch == "["
        if depth == 0:
            out.append(ch)
        depth -= ch == "]"
    return "".join(out)


def _safety_issues(
    f: Formulation, seed: str, ref: dict[str, str] | None
) -> list[tuple[str, dict[str, Any]]]:
    """One ``DetectedIssue`` (with its entry URL) per safety advisory, in order, citing the
    rule's first source: safety findings are issues to act on, not output parameters."""
    issues: list[tuple[str, dict[str, Any]]] = []
    for i, a in enumerate(x for x in f.advisories if x.kind == "safety"):
        di: dict[str, Any] = {
            "resourceType": "DetectedIssue",
            "status": "preliminary",
            "code": {
                "coding": [{"system": _RULE_SYSTEM, "code": a.rule_id or "safety"}],
                "text": "Safety advisory",
            },
            "severity": _SEVERITY[a.level],
            "detail": a.message,
        }
        if ref:
            di["patient"] = ref
        cited = f.citations_of(a.rule_id)
        url = f.source(cited[0].source).url if cited else None
        if url:
            di["reference"] = url
        issues.append((_urn(seed, f"issue/{i}"), di))
    return issues


def _guidance_response(
    f: Formulation, seed: str, when: str, ref: dict[str, str] | None, params_url: str
) -> dict[str, Any]:
    """The ``GuidanceResponse``: status, module (the pack), the primary and secondary areas
    as reasons, and the Questionnaire items that would help (when there are questions)."""
    gr: dict[str, Any] = {
        "resourceType": "GuidanceResponse",
        "identifier": [{"system": f"{BASE_URL}/formulation", "value": seed}],
        "moduleUri": pack_uri(f),
        "status": _STATUS[f.status],
        "occurrenceDateTime": when,
        "note": [{"text": DISCLAIMER}],
        "outputParameters": {"reference": params_url},
    }
    if ref:
        gr["subject"] = ref
    for h in (f.primary, f.secondary):
        if h is not None:
            gr.setdefault("reasonCode", []).append(
                {
                    "coding": [{"system": _AREA_SYSTEM, "code": h.area, "display": h.area_label}],
                    "text": f"{h.area_label} ({h.status}): {short_reason(f, h)}"[:1000],
                }
            )
    if f.questions:
        gr["dataRequirement"] = [
            {
                "type": "QuestionnaireResponse",
                "profile": [QUESTIONNAIRE_URL],
                "mustSupport": sorted({_link_id(q.path) for q in f.questions}),
            }
        ]
    return gr


def _provenance(f: Formulation, when: str, targets: list[str]) -> dict[str, Any]:
    """The ``Provenance`` of every other entry: the library and engine that assembled them,
    from the input (by digest) and the rule pack (by hash), so a result can be re-derived."""
    p = f.provenance
    return {
        "resourceType": "Provenance",
        "target": [{"reference": u} for u in targets],
        "recorded": when,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                        }
                    ]
                },
                "who": {"display": f"ipt-formulate {p.library_version} (engine {p.engine})"},
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": f"{BASE_URL}/input-digest", "value": p.input_digest},
                    "display": "interpersonal inventory (canonical sha256 digest)",
                },
            },
            {
                "role": "derivation",
                "what": {
                    "identifier": {"system": f"{BASE_URL}/rulepack-hash", "value": p.pack_hash},
                    "display": f"rule pack {p.pack_name} {p.pack_version}",
                },
            },
        ],
    }


def formulation_to_fhir(
    f: Formulation,
    *,
    subject: str | None = None,
    recorded: datetime | None = None,
) -> dict[str, Any]:
    """A FHIR R4 ``Bundle`` (type ``collection``) for one formulation.

    Entries: a ``GuidanceResponse`` (status, module = rule pack, the ranked hypotheses in an
    output ``Parameters``, what data would help), one ``DetectedIssue`` per safety advisory,
    and a ``Provenance`` naming pack name, version and hash, engine and input digest.
    ``subject`` is an optional reference (``"Patient/123"``); ``recorded`` defaults to now
    (pass it for byte-identical output). Entry ids derive from the input digest and pack hash.
    """
    p = f.provenance
    seed = f"{p.input_digest}/{p.pack_hash}/{p.engine}"
    when = (recorded or datetime.now(UTC)).isoformat(timespec="seconds")
    ref = {"reference": subject} if subject else None
    gr_url, params_url = _urn(seed, "guidance"), _urn(seed, "parameters")
    issues = _safety_issues(f, seed, ref)
    targets = [gr_url, params_url, *(u for u, _ in issues)]
    entries = [
        (gr_url, _guidance_response(f, seed, when, ref, params_url)),
        (params_url, _parameters(f)),
        *issues,
        (_urn(seed, "provenance"), _provenance(f, when, targets)),
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": u, "resource": r} for u, r in entries],
    }
