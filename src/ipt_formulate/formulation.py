"""Stage 8: the output model — a ranked, explained, tentative formulation — and its renderers.

Everything here is data (frozen pydantic models) plus three renderers: canonical JSON
(:meth:`Formulation.to_json`, byte-identical for the same inventory and pack), Markdown and
plain text. Every rendering states that this is decision support, not a diagnosis.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DISCLAIMER",
    "Advisory",
    "Citation",
    "Evidence",
    "FactRef",
    "Finding",
    "Focus",
    "Formulation",
    "Hypothesis",
    "Provenance",
    "RuleCheck",
    "WhyNot",
    "formulation_json_schema",
]

DISCLAIMER = (
    "Decision support for clinicians, not a diagnosis. This formulation is a tentative, "
    "rule-based reading of the interpersonal inventory; the clinician decides, and in IPT the "
    "focus is agreed with the patient."
)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Citation(_Out):
    source: str
    text: str
    url: str | None = None
    locator: str | None = None
    note: str | None = None


class FactRef(_Out):
    """A fact a rule matched: its type and id (never an engine-internal id)."""

    type: str
    id: str


class Focus(_Out):
    kind: Literal["person", "event", "network"]
    id: str | None = None
    name: str


class Evidence(_Out):
    """One rule's contribution to a hypothesis (a rule counts once per hypothesis)."""

    rule_id: str
    rule_version: int
    title: str
    weight: float
    contribution: float = Field(description="Score with this evidence minus score without it.")
    explanations: tuple[str, ...]
    matched: tuple[FactRef, ...]
    citations: tuple[Citation, ...]


class Hypothesis(_Out):
    rank: int
    area: str
    area_label: str
    focus: Focus
    score: float = Field(ge=-1, le=1)
    support: tuple[Evidence, ...]
    against: tuple[Evidence, ...]
    findings: tuple[str, ...] = Field(description="Findings about this focus, e.g. a stage.")


class RuleCheck(_Out):
    """How one rule that could have supported an area fared."""

    rule_id: str
    status: Literal["fired", "failed", "unknown", "disabled", "opposed"]
    pattern: str | None = None
    condition: str | None = None
    detail: str


class WhyNot(_Out):
    area: str
    area_label: str
    best_score: float | None
    reason: str
    rules: tuple[RuleCheck, ...]


class Advisory(_Out):
    kind: Literal["safety", "clinical", "data"]
    level: Literal["urgent", "caution", "info"]
    message: str
    rule_id: str | None = None
    citations: tuple[Citation, ...] = ()


class Finding(_Out):
    name: str
    focus: str | None
    rule_ids: tuple[str, ...]


class Provenance(_Out):
    pack_name: str
    pack_version: str
    pack_hash: str
    pack_lineage: tuple[str, ...]
    options: dict[str, str | int | float | bool]
    library_version: str
    engine: str
    input_digest: str


class Formulation(_Out):
    """The result of :func:`ipt_formulate.formulate`."""

    disclaimer: str = DISCLAIMER
    status: Literal["tentative"] = "tentative"
    primary: Hypothesis | None
    secondary: Hypothesis | None
    hypotheses: tuple[Hypothesis, ...]
    not_chosen: tuple[WhyNot, ...]
    findings: tuple[Finding, ...]
    advisories: tuple[Advisory, ...]
    provenance: Provenance

    def to_json(self, *, indent: int | None = 2) -> str:
        """Canonical JSON: same inventory + same pack -> the same bytes."""
        return self.model_dump_json(indent=indent) + ("\n" if indent is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_markdown(self) -> str:
        from ._render import render_markdown

        return render_markdown(self)

    def to_text(self) -> str:
        from ._render import render_text

        return render_text(self)


def formulation_json_schema() -> dict[str, Any]:
    """JSON Schema of the formulation output."""
    schema = Formulation.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
