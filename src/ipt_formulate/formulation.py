"""Stage 8: the output model — a ranked, explained, tentative formulation — and its renderers.

Everything here is data (frozen pydantic models) plus three renderers: canonical JSON
(:meth:`Formulation.to_json`, byte-identical for the same inventory and pack), Markdown and
plain text. Every rendering states that this is decision support, not a diagnosis.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

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
    "RuleInfo",
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


SCHEMA_VERSION: Literal["3"] = "3"
"""Version of the output format: 3 holds each cited rule once (:attr:`Formulation.rules`),
each unknown value once (:attr:`Formulation.unknowns`), refers to the primary and secondary
hypotheses by rank and omits keys with default or empty values; see docs/output.md."""

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


class RuleInfo(_Out):
    """What is the same wherever a rule appears in a formulation, held once per formulation
    (:attr:`Formulation.rules`): evidence, pending rules, advisories and findings refer to
    it by id."""

    id: str
    version: int
    title: str
    citations: tuple[Citation, ...] = ()


class Evidence(_Out):
    """One rule's contribution to a hypothesis (a rule counts once per hypothesis); its
    title, version and citations are in :attr:`Formulation.rules` (``f.rule(rule_id)``)."""

    rule_id: str = Field(description="Key into the formulation's rules.")
    weight: float
    contribution: float = Field(description="Score with this evidence minus score without it.")
    explanations: tuple[str, ...] = ()
    explanations_more: int = Field(
        default=0, description="Further matches of the rule not explained (after the first 20)."
    )
    matched: tuple[FactRef, ...] = ()
    matched_more: int = Field(default=0, description="Matched facts not listed (after 20).")


class OpenFact(_Out):
    """An unknown inventory value that a pending rule waits on (held once per formulation,
    :attr:`Formulation.unknowns`; pending rules refer to it by path)."""

    path: str = Field(description="JSON path in the inventory, e.g. $.events[1].onset_relation.")
    about: str = Field(description="Who or what the value is about (display name).")


class Pending(_Out):
    """A rule that may bear on the hypothesis once unknown values are known: it fires if
    they resolve in its favour (weight > 0 raises the score, < 0 lowers it)."""

    rule_id: str = Field(description="Key into the formulation's rules.")
    weight: float
    waits_on: tuple[str, ...] = Field(
        default=(), description="Paths of the unknown values it waits on (keys into unknowns)."
    )


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
    support: tuple[Evidence, ...] = ()
    against: tuple[Evidence, ...] = ()
    pending: tuple[Pending, ...] = Field(
        default=(), description="Rules that would count once unknown values are known."
    )
    findings: tuple[str, ...] = Field(
        default=(), description="Findings about this focus, e.g. a stage."
    )

    @model_validator(mode="before")
    @classmethod
    def _bounds_default_to_score(cls, data: Any) -> Any:
        """A bound the JSON leaves out equals the score (see :meth:`_omit_equal_bounds`)."""
        missing = isinstance(data, dict) and not {"lower_bound", "upper_bound"} <= data.keys()
        if missing and "score" in data:
            data = {"lower_bound": data["score"], "upper_bound": data["score"], **data}
        return data

    @model_serializer(mode="wrap")
    def _omit_equal_bounds(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A bound equal to the score is left out of the output: most hypotheses wait on no
        unknown value, and their bounds only repeat the score."""
        out = handler(self)
        if isinstance(out, dict):
            if self.lower_bound == self.score:
                out.pop("lower_bound", None)
            if self.upper_bound == self.score:
                out.pop("upper_bound", None)
        return out

    @property
    def waits_on(self) -> tuple[str, ...]:
        """Paths of every unknown value a supporting pending rule waits on (what would
        raise it), in document order; :meth:`Formulation.unknown` says what each is about."""
        seen = {path for p in self.pending if p.weight > 0 for path in p.waits_on}
        return tuple(sorted(seen, key=path_order))


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
    best_score: float | None = None
    reason: str
    rules: tuple[RuleCheck, ...] = ()


class Advisory(_Out):
    kind: Literal["safety", "clinical", "data"]
    level: Literal["urgent", "caution", "info"]
    message: str
    rule_id: str | None = Field(
        default=None, description="Key into the formulation's rules (its citations are there)."
    )


class Finding(_Out):
    name: str
    focus: str | None = Field(default=None, description="Absent: the finding has no focus.")
    rule_ids: tuple[str, ...] = Field(description="Keys into the formulation's rules.")


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
    rank: int | None = Field(
        default=None, description="Rank in the formulation; absent if only opposed."
    )


class Trace(_Out):
    """Every rule activation of one formulation, in a canonical (reproducible) order."""

    order: str = "stratum, then rule id, then bindings"
    steps: tuple[TraceStep, ...]
    hypotheses: tuple[TraceHypothesis, ...]


class Formulation(_Out):
    """The result of :func:`ipt_formulate.formulate`.

    The JSON refers to the primary and secondary hypotheses by rank (``"primary": 1``);
    in Python :attr:`primary` and :attr:`secondary` are the hypotheses themselves."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    # schema_version, detail and disclaimer have no default: every JSON states them (to_json
    # leaves out values equal to their default)
    schema_version: Literal["3"] = Field(
        description="Version of this output format (docs/output.md)."
    )
    detail: Detail = Field(
        description="Output level: full, standard (no per-rule WHY-NOT checks) or brief "
        "(established and provisional hypotheses with scores and rule ids, advisories, "
        "provenance); each a strict subset of the next.",
    )
    disclaimer: str
    status: FormulationStatus = Field(
        description="established: a primary focus reaches the threshold on certain evidence; "
        "provisional: none does, but a hypothesis could once unknown values are known (see "
        "questions); insufficient_data: neither. Every formulation stays tentative: the "
        "clinician decides, with the patient."
    )
    primary_rank: int | None = Field(
        default=None,
        validation_alias=AliasChoices("primary", "primary_rank"),
        serialization_alias="primary",
        description="Rank of the primary hypothesis (in hypotheses); absent: none.",
    )
    secondary_rank: int | None = Field(
        default=None,
        validation_alias=AliasChoices("secondary", "secondary_rank"),
        serialization_alias="secondary",
        description="Rank of the secondary hypothesis (in hypotheses); absent: none.",
    )
    hypotheses: tuple[Hypothesis, ...] = ()
    hypotheses_omitted: int = Field(
        default=0,
        description="Hypotheses left out at the brief level, which keeps each area's best "
        "established or provisional hypothesis, and the primary and secondary.",
    )
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
    not_chosen: tuple[WhyNot, ...] = ()
    findings: tuple[Finding, ...] = ()
    advisories: tuple[Advisory, ...] = ()
    provenance: Provenance
    finding_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Finding name -> the pack's human label (asserts.label), for renderings; "
        "only the findings this formulation holds.",
    )
    rules: tuple[RuleInfo, ...] = Field(
        default=(),
        description="Every rule that evidence, pending rules, advisories and findings refer "
        "to, once, by id: its version and title, and the citations of those that count "
        "(evidence, advisories).",
    )
    unknowns: tuple[OpenFact, ...] = Field(
        default=(),
        description="Every unknown value a pending rule waits on, once, in document order "
        "(pending rules refer to them by path).",
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

    @model_validator(mode="before")
    @classmethod
    def _hypotheses_to_ranks(cls, data: Any) -> Any:
        """``Formulation(primary=<Hypothesis>, ...)`` is taken as a reference to its rank."""
        if isinstance(data, dict):
            for key in ("primary", "secondary"):
                value = data.get(key)
                if isinstance(value, Hypothesis):
                    data = {**data, key: value.rank}
        return data

    def hypothesis(self, rank: int | None) -> Hypothesis | None:
        """The hypothesis with this rank (None for None; :class:`KeyError` if none has it)."""
        if rank is None:
            return None
        return self._by_rank[rank]

    @property
    def primary(self) -> Hypothesis | None:
        """The primary hypothesis (the JSON holds its rank), or None."""
        return self.hypothesis(self.primary_rank)

    @property
    def secondary(self) -> Hypothesis | None:
        """The secondary hypothesis (the JSON holds its rank), or None."""
        return self.hypothesis(self.secondary_rank)

    @cached_property
    def _by_rank(self) -> dict[int, Hypothesis]:
        return {h.rank: h for h in self.hypotheses}

    @cached_property
    def _rules_by_id(self) -> dict[str, RuleInfo]:
        return {r.id: r for r in self.rules}

    @cached_property
    def _unknowns_by_path(self) -> dict[str, OpenFact]:
        return {o.path: o for o in self.unknowns}

    def rule(self, rule_id: str) -> RuleInfo:
        """The referenced rule with this id (:class:`KeyError` if not referenced, e.g. at
        the brief level, which holds rule ids only)."""
        return self._rules_by_id[rule_id]

    def rule_title(self, rule_id: str) -> str:
        """The rule's title, or its id when this formulation does not hold the rule."""
        info = self._rules_by_id.get(rule_id)
        return rule_id if info is None else info.title

    def citations_of(self, rule_id: str | None) -> tuple[Citation, ...]:
        """The rule's citations (none when the formulation does not hold the rule)."""
        info = None if rule_id is None else self._rules_by_id.get(rule_id)
        return () if info is None else info.citations

    def unknown(self, path: str) -> OpenFact:
        """The unknown value at this path (:class:`KeyError` if no pending rule waits on
        it, or at the brief level)."""
        return self._unknowns_by_path[path]

    def about(self, path: str) -> str:
        """Who or what the unknown value at ``path`` is about (the path itself if the
        formulation does not hold it)."""
        o = self._unknowns_by_path.get(path)
        return path if o is None else o.about

    def source(self, key: str) -> Source:
        """The cited source with this key (:class:`KeyError` if none is cited)."""
        for s in self.sources:
            if s.key == key:
                return s
        raise KeyError(key)

    def sources_by_key(self) -> dict[str, Source]:
        """Key -> cited source."""
        return {s.key: s for s in self.sources}

    def to_json(self, *, indent: int | None = 2) -> str:
        """Canonical JSON: same inventory + same pack -> the same bytes. Keys whose value is
        the default (empty, zero, None) are left out; reading the JSON back restores them."""
        text = self.model_dump_json(
            indent=indent, exclude=_LEVEL_EXCLUDE[self.detail], exclude_defaults=True
        )
        return text + ("\n" if indent is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", exclude=_LEVEL_EXCLUDE[self.detail], exclude_defaults=True
        )

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
    "focus": {"name"},  # kind and id: a cohort joins them with its inventories
    "findings": True,
    "support": _BRIEF_EVIDENCE,
    "against": _BRIEF_EVIDENCE,
    "pending": {"__all__": set(Pending.model_fields) - {"rule_id"}},
}
_LEVEL_EXCLUDE: dict[str, dict[str, Any] | None] = {
    "full": None,
    # standard: WHY-NOT keeps each area's one-line reason, not the per-rule checks
    "standard": {"not_chosen": {"__all__": {"rules"}}},
    # brief: what a cohort needs (scores, bounds, rule ids, advisories, provenance); foci
    # by kind and id, without the inventory's display names
    "brief": {
        "hypotheses": {"__all__": _BRIEF_HYPOTHESIS},
        "ties": {"__all__": {"others": True, "note": True, "chosen": {"name"}}},
        "not_chosen": True,
        "findings": True,
        "finding_labels": True,
        "rules": True,
        "unknowns": True,
        "sources": True,
    },
}
"""What each output level leaves out of the JSON (the models hold empty values there)."""


def formulation_json_schema() -> dict[str, Any]:
    """JSON Schema of the formulation output."""
    schema = Formulation.model_json_schema(mode="serialization")
    # a hypothesis serialises through a wrap serializer (bounds equal to the score left out),
    # which pydantic cannot describe: its fields, with the bounds optional, are described
    hyp = Hypothesis.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    schema["$defs"].update(hyp.pop("$defs", {}))
    hyp["required"] = [r for r in hyp["required"] if r not in ("lower_bound", "upper_bound")]
    for key in ("lower_bound", "upper_bound"):
        hyp["properties"][key]["description"] += " Absent: equal to the score."
    schema["$defs"]["Hypothesis"] = hyp
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
