"""Stage 8: the output model — a ranked, explained, tentative formulation — and its renderers.

Everything here is data (frozen pydantic models) plus three renderers: canonical JSON
(:meth:`Formulation.to_json`, byte-identical for the same inventory and pack), Markdown and
plain text. Every rendering states that this is decision support, not a diagnosis.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DISCLAIMER",
    "SCHEMA_VERSION",
    "Advisory",
    "Answer",
    "Citation",
    "Detail",
    "Evidence",
    "FactRef",
    "Finding",
    "Focus",
    "Formulation",
    "Hypothesis",
    "OpenFact",
    "Pending",
    "Provenance",
    "Question",
    "RuleCheck",
    "Source",
    "Tie",
    "Trace",
    "TraceBinding",
    "TraceHypothesis",
    "TraceStep",
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


SCHEMA_VERSION: Literal["2"] = "2"
"""Version of the output format: 2 holds each cited source once (:attr:`Formulation.sources`)
and has output levels (:data:`Detail`); see docs/output.md."""

Detail = Literal["full", "standard", "brief"]
"""Output levels, each a strict subset of the next: see :func:`ipt_formulate.formulate`."""


class Source(_Out):
    """A cited source, held once per formulation; citations refer to it by key."""

    key: str
    text: str = Field(description="Full reference.")
    url: str | None = None
    quality: str | None = Field(default=None, description="manual/author, peer-reviewed, ...")


class Citation(_Out):
    """A reference to a source of :attr:`Formulation.sources`, with where in it and why."""

    source: str = Field(description="Key into the formulation's sources.")
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
    explanations_more: int = Field(
        default=0, description="Further matches of the rule not explained (after the first 20)."
    )
    matched: tuple[FactRef, ...]
    matched_more: int = Field(default=0, description="Matched facts not listed (after 20).")
    citations: tuple[Citation, ...]


class OpenFact(_Out):
    """An unknown inventory value that a pending rule waits on."""

    path: str = Field(description="JSON path in the inventory, e.g. $.events[1].onset_relation.")
    about: str = Field(description="Who or what the value is about (display name).")


class Pending(_Out):
    """A rule that may bear on the hypothesis once unknown values are known: it fires if
    they resolve in its favour (weight > 0 raises the score, < 0 lowers it)."""

    rule_id: str
    title: str
    weight: float
    waits_on: tuple[OpenFact, ...]


FormulationStatus = Literal["established", "provisional", "insufficient_data"]
HypothesisStatus = Literal["established", "provisional", "below_threshold"]


class Hypothesis(_Out):
    rank: int
    area: str
    area_label: str
    focus: Focus
    status: HypothesisStatus = Field(
        description="established: the certain score reaches the primary threshold; "
        "provisional: only the upper bound does (it waits on unknown values); "
        "below_threshold: neither."
    )
    score: float = Field(ge=-1, le=1, description="Score from certain evidence.")
    lower_bound: float = Field(
        ge=-1, le=1, description="Score if every unknown value resolves against it."
    )
    upper_bound: float = Field(
        ge=-1, le=1, description="Score if every unknown value resolves in its favour."
    )
    support: tuple[Evidence, ...]
    against: tuple[Evidence, ...]
    pending: tuple[Pending, ...] = Field(
        description="Rules that would count once unknown values are known."
    )
    findings: tuple[str, ...] = Field(description="Findings about this focus, e.g. a stage.")

    @property
    def waits_on(self) -> tuple[OpenFact, ...]:
        """Every unknown value a supporting pending rule waits on (what would raise it)."""
        seen = {o.path: o for p in self.pending if p.weight > 0 for o in p.waits_on}
        return tuple(seen[k] for k in sorted(seen, key=path_order))


@lru_cache(maxsize=1 << 13)
def path_order(path: str) -> tuple[Any, ...]:
    """Document order of JSON paths: ``$.persons[2]`` before ``$.persons[10]`` (cached:
    the same few paths are sorted on every formulation)."""
    parts = re.split(r"([0-9]+)", path)
    return tuple((0, int(p)) if i % 2 else (1, p) for i, p in enumerate(parts))


class Tie(_Out):
    """The primary or secondary was chosen among hypotheses with exactly the same score: by
    the pack's area order, then focus id. Nothing clinical decides between them."""

    role: Literal["primary", "secondary"]
    score: float
    chosen: Focus
    chosen_area: str
    others: tuple[str, ...] = Field(description="The tied alternatives, as 'area: focus name'.")
    note: str


class Answer(_Out):
    """One possible answer to a question and what it would do to the formulation."""

    value: str | bool
    effect: str = Field(description="What this answer changes, in plain words.")
    changes_focus: bool


class Question(_Out):
    """An unknown inventory value whose answer could change the primary or secondary focus."""

    path: str
    about: str
    question: str = Field(description="What a clinician can ask the patient.")
    answers: tuple[Answer, ...]


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


class TraceBinding(_Out):
    """A fact a rule pattern bound: the rule's variable, the fact's type and id."""

    var: str
    type: str
    id: str


class TraceStep(_Out):
    """One rule activation, in canonical order, and what it did."""

    order: int = Field(description="1-based position in the canonical order.")
    rule_id: str
    rule_version: int
    stratum: int = Field(description="Stratum of the rule (chained findings run later).")
    bindings: tuple[TraceBinding, ...]
    asserts: str | None = Field(
        default=None, description="Id of the finding the rule asserted, e.g. 'grief_risk@mum'."
    )
    advisory: str | None = Field(default=None, description="Advisory raised: 'level kind'.")
    hypothesis: str | None = Field(
        default=None, description="Key of the hypothesis the evidence bears on (area:kind:id)."
    )
    weight: float | None = None
    counted: bool | None = Field(
        default=None,
        description="False when the rule already counted for this hypothesis (a rule counts "
        "once per hypothesis, however many ways it matched).",
    )
    score_before: float | None = Field(
        default=None, description="Certainty factor of the hypothesis before this step."
    )
    score_after: float | None = Field(
        default=None, description="Certainty factor of the hypothesis after this step."
    )


class TraceHypothesis(_Out):
    """Every hypothesis the trace touched, with its final score and rank."""

    key: str
    area: str
    focus: Focus
    score: float
    rank: int | None = Field(description="Rank in the formulation; None if only opposed.")


class Trace(_Out):
    """Every rule activation of one formulation, in a canonical (reproducible) order."""

    order: str = "stratum, then rule id, then bindings"
    steps: tuple[TraceStep, ...]
    hypotheses: tuple[TraceHypothesis, ...]


class Formulation(_Out):
    """The result of :func:`ipt_formulate.formulate`."""

    schema_version: Literal["2"] = Field(
        default=SCHEMA_VERSION, description="Version of this output format (docs/output.md)."
    )
    detail: Detail = Field(
        default="full",
        description="Output level: full, standard (no per-rule WHY-NOT checks) or brief "
        "(scores, rule ids, advisories, provenance); each a strict subset of the next.",
    )
    disclaimer: str = DISCLAIMER
    status: FormulationStatus = Field(
        description="established: a primary focus reaches the threshold on certain evidence; "
        "provisional: none does, but a hypothesis could once unknown values are known (see "
        "questions); insufficient_data: neither. Every formulation stays tentative: the "
        "clinician decides, with the patient."
    )
    primary: Hypothesis | None
    secondary: Hypothesis | None
    hypotheses: tuple[Hypothesis, ...]
    ties: tuple[Tie, ...] = Field(
        default=(),
        description="Where the primary or secondary was chosen among equal scores by id order "
        "(the choice between them is the clinician's, with the patient).",
    )
    questions: tuple[Question, ...] = Field(
        default=(),
        description="Unknown values whose answer could change the primary or secondary focus, "
        "most decisive first.",
    )
    not_chosen: tuple[WhyNot, ...]
    findings: tuple[Finding, ...]
    advisories: tuple[Advisory, ...]
    provenance: Provenance
    finding_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Finding name -> the pack's human label (asserts.label), for renderings.",
    )
    sources: tuple[Source, ...] = Field(
        default=(),
        description="Every source cited in this formulation, once, by key (citations refer "
        "to them by key).",
    )
    trace: Trace | None = Field(
        default=None,
        description="Rule activations, only when requested (formulate(..., trace=True)).",
    )

    def source(self, key: str) -> Source:
        """The cited source with this key (:class:`KeyError` if none is cited)."""
        for s in self.sources:
            if s.key == key:
                return s
        raise KeyError(key)

    def sources_by_key(self) -> dict[str, Source]:
        """Key -> cited source."""
        return {s.key: s for s in self.sources}

    def _exclude(self) -> dict[str, Any] | None:
        # without a trace, the output is exactly what it was before traces existed
        out = dict(_LEVEL_EXCLUDE[self.detail])
        if self.trace is None:
            out["trace"] = True
        return out or None

    def to_json(self, *, indent: int | None = 2) -> str:
        """Canonical JSON: same inventory + same pack -> the same bytes."""
        text = self.model_dump_json(indent=indent, exclude=self._exclude())
        return text + ("\n" if indent is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=self._exclude())

    def to_markdown(self) -> str:
        from ._render import render_markdown

        return render_markdown(self)

    def to_text(self) -> str:
        from ._render import render_text

        return render_text(self)

    def _repr_html_(self) -> str:
        """Jupyter's rendering: a compact fragment (status, advisories, ranked hypotheses),
        not the whole report page (see :func:`ipt_formulate.render_html` for that)."""
        from ._html import render_fragment

        return render_fragment(self)

    def to_summary(self) -> str:
        """At most about eight lines: safety, the focus with the strongest reasons, the top
        open question."""
        from ._render import render_summary

        return render_summary(self)


_BRIEF_EVIDENCE = {"__all__": set(Evidence.model_fields) - {"rule_id"}}  # rule ids only
_BRIEF_HYPOTHESIS: dict[str, Any] = {
    "area_label": True,
    "findings": True,
    "support": _BRIEF_EVIDENCE,
    "against": _BRIEF_EVIDENCE,
    "pending": {"__all__": set(Pending.model_fields) - {"rule_id"}},
}
_LEVEL_EXCLUDE: dict[str, dict[str, Any]] = {
    "full": {},
    # standard: WHY-NOT keeps each area's one-line reason, not the per-rule checks
    "standard": {"not_chosen": {"__all__": {"rules"}}},
    # brief: what a cohort needs (scores, bounds, rule ids, advisories, provenance)
    "brief": {
        "primary": _BRIEF_HYPOTHESIS,
        "secondary": _BRIEF_HYPOTHESIS,
        "hypotheses": {"__all__": _BRIEF_HYPOTHESIS},
        "ties": {"__all__": {"others", "note"}},
        "not_chosen": True,
        "findings": True,
        "advisories": {"__all__": {"citations"}},
        "finding_labels": True,
        "sources": True,
    },
}
"""What each output level leaves out of the JSON (the models hold empty values there)."""


def formulation_json_schema() -> dict[str, Any]:
    """JSON Schema of the formulation output."""
    schema = Formulation.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
