"""CDS Hooks: the service definition and the cards of a formulation (pure; no web stack)."""

from __future__ import annotations

import uuid
from typing import Any

from ..errors import InputError, IptFormulateError
from ..formulation import DISCLAIMER, Formulation
from ..rulepack import RulePack
from ._bundle import short_reason
from ._questionnaire import QUESTIONNAIRE_URL, inventory_from_questionnaire_response

__all__ = ["SERVICE_ID", "CdsError", "cards_for", "find_response", "service_definition"]

SERVICE_ID = "ipt-formulation"
SUMMARY_MAX = 139  # CDS Hooks: "<140 characters"
_INDICATOR = {"urgent": "critical", "caution": "warning", "info": "warning"}


class CdsError(IptFormulateError):
    """A CDS Hooks request the service cannot use (HTTP status, code, message, path)."""

    def __init__(
        self, status: int, code: str, message: str, path: str = "$", issues: Any = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.path = path
        self.issues = issues

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message, "path": self.path}
        if self.issues:
            out["issues"] = self.issues
        return out


def service_definition() -> dict[str, Any]:
    """One entry of ``GET /cds-services``."""
    return {
        "hook": "patient-view",
        "id": SERVICE_ID,
        "title": "IPT problem-area formulation",
        "description": (
            "Ranks IPT problem areas from the interpersonal inventory (a QuestionnaireResponse "
            f"to {QUESTIONNAIRE_URL}) and raises safety advisories. Decision support, not a "
            "diagnosis."
        ),
        "prefetch": {
            "inventory": "QuestionnaireResponse?patient={{context.patientId}}"
            f"&questionnaire={QUESTIONNAIRE_URL}&_sort=-authored&_count=1"
        },
        "usageRequirements": "Prefetch 'inventory': the latest inventory QuestionnaireResponse.",
    }


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CdsError(400, "cds.bad_request", "expected a JSON object", path)
    return value


def find_response(body: Any) -> tuple[dict[str, Any], str]:
    """The QuestionnaireResponse of a hook request and where it was found.

    From ``prefetch.inventory`` (the resource, or a search Bundle holding it), else
    ``context.questionnaireResponse``. None there: 412, as the CDS Hooks spec asks of a
    service that cannot fetch what it needs."""
    req = _object(body, "$")
    for key in ("hook", "hookInstance"):
        if not isinstance(req.get(key), str):
            raise CdsError(400, "cds.bad_request", f"'{key}' must be a string", f"$.{key}")
    candidates: list[tuple[Any, str]] = []
    if req.get("prefetch") is not None:
        pre = _object(req["prefetch"], "$.prefetch")
        candidates.append((pre.get("inventory"), "$.prefetch.inventory"))
    if req.get("context") is not None:
        ctx = _object(req["context"], "$.context")
        candidates.append((ctx.get("questionnaireResponse"), "$.context.questionnaireResponse"))
    for res, path in candidates:
        if res is None:
            continue
        res = _object(res, path)
        if res.get("resourceType") == "Bundle":
            entries = res.get("entry") or []
            if not isinstance(entries, list):
                raise CdsError(400, "cds.bad_request", "'entry' must be a list", f"{path}.entry")
            for i, e in enumerate(entries):
                r = e.get("resource") if isinstance(e, dict) else None
                if isinstance(r, dict) and r.get("resourceType") == "QuestionnaireResponse":
                    return r, f"{path}.entry[{i}].resource"
            continue
        return res, path
    raise CdsError(
        412,
        "cds.prefetch_missing",
        "no QuestionnaireResponse in prefetch.inventory or context.questionnaireResponse",
        "$.prefetch.inventory",
    )


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def cards_for(f: Formulation, seed: str = "") -> list[dict[str, Any]]:
    """Safety advisories as critical/warning cards first, then the formulation (info)."""
    p = f.provenance
    source = {"label": f"ipt-formulate rule pack {p.pack_name} {p.pack_version}"}
    cards: list[dict[str, Any]] = []

    def card_uuid(what: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{p.input_digest}/{what}"))

    safety = [a for a in f.advisories if a.kind == "safety"]
    order = {"urgent": 0, "caution": 1, "info": 2}
    for i, a in enumerate(sorted(safety, key=lambda a: order[a.level])):
        cards.append(
            {
                "uuid": card_uuid(f"safety/{i}"),
                "summary": _summary(f"Safety: {a.message}"),
                "indicator": _INDICATOR[a.level],
                "detail": a.message + (f"\n\nRule: `{a.rule_id}`" if a.rule_id else ""),
                "source": source,
            }
        )
    lines = [f"**Formulation status:** {f.status.replace('_', ' ')}"]
    if f.primary is None:
        summary = f"IPT focus: none reaches the threshold ({f.status.replace('_', ' ')})"
    else:
        pri = f.primary
        summary = f"IPT focus ({f.status}): {pri.area_label} - {pri.focus.name}"
        if f.secondary is not None:
            summary += f"; then {f.secondary.area_label}"
    for label, h in (("Primary", f.primary), ("Secondary", f.secondary)):
        if h is not None:
            lines.append(
                f"**{label}:** {h.area_label}, {h.focus.name} ({h.status}, score "
                f"{h.score:.2f}). {short_reason(f, h)}"
            )
    if f.questions:
        lines.append("**Ask next:** " + " ".join(q.question for q in f.questions[:3]))
    others = [a for a in f.advisories if a.kind != "safety"]
    lines.extend(f"*{a.kind} ({a.level}):* {a.message}" for a in others)
    lines.append(f"_{DISCLAIMER}_")
    cards.append(
        {
            "uuid": card_uuid("formulation"),
            "summary": _summary(summary),
            "indicator": "info",
            "detail": "\n\n".join(lines),
            "source": source,
        }
    )
    return cards


def handle_hook(body: Any, pack: RulePack) -> dict[str, Any]:
    """A parsed hook request → the CDS Hooks response (raises :class:`CdsError`)."""
    from .._api import formulate

    qr, path = find_response(body)
    try:
        inv = inventory_from_questionnaire_response(qr)
        f = formulate(inv, pack)
    except InputError as exc:
        first = exc.issues[0] if exc.issues else None
        link = getattr(first, "link_path", None)
        where = path if first is None else f"{path} {link or ''} ({first.path})".strip()
        status = 413 if exc.code == "input.too_large" else 400
        raise CdsError(status, exc.code, exc.message, where, exc.to_dict().get("issues")) from None
    return {"cards": cards_for(f, str(body.get("hookInstance", "")))}
