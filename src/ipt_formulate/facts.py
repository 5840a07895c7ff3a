"""Stage 3: derive rule facts from the inventory and its relationship graph.

Rules never see the inventory itself; they see flat *facts*: one ``patient`` fact, one
``person`` fact per important person, one ``event`` fact per life event, one ``link`` fact per
person-to-person relationship, and the ``finding`` facts that rules assert while they run.
:data:`FACT_TYPES` documents every field; the rule-pack linter checks rules against it, so a
typo in a rule file is an error, not a rule that silently never fires.

Derived fields (timing relative to onset, non-reciprocity, change in relationship quality,
graph features) are computed here, once, in Python: aggregates are cheap here and expensive
inside a RETE network. Unknown stays unknown: every derived field is ``None`` when its inputs
do not settle it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, get_args

from .graph import inventory_features
from .inventory import DAYS_PER_MONTH, Inventory, LifeEvent, Person, Risk, Role

__all__ = [
    "FACT_TYPES",
    "FactSet",
    "FieldSpec",
    "SourceMap",
    "derive_facts",
    "item_path",
]

FieldType = Literal["bool", "int", "float", "str", "enum", "ids"]
Fact = dict[str, Any]


@dataclass(frozen=True)
class FieldSpec:
    """Type and meaning of one fact field, as the linter and the docs see it."""

    type: FieldType
    doc: str
    values: tuple[str, ...] = ()


def _e(doc: str, *values: str) -> FieldSpec:
    return FieldSpec("enum", doc, values)


_LEVEL = ("none", "low", "moderate", "high")
_ROLES: tuple[str, ...] = get_args(Role)
_QUALITY = ("poor", "fair", "good")
NON_DEATH_LOSS_KINDS = frozenset(
    {
        "separation",
        "divorce",
        "relationship_breakup",
        "pregnancy_loss",
        "job_loss",
        "illness_diagnosis_self",
        "illness_diagnosis_other",
        "children_leaving_home",
        "migration",
        "retirement",
    }
)
_EVENT_CATEGORY = {
    "death": "death",
    "separation": "relationship",
    "divorce": "relationship",
    "relationship_breakup": "relationship",
    "marriage": "relationship",
    "new_relationship": "relationship",
    "birth": "family",
    "pregnancy": "family",
    "pregnancy_loss": "family",
    "children_leaving_home": "family",
    "caregiving": "family",
    "move": "place",
    "migration": "place",
    "job_loss": "work",
    "new_job": "work",
    "promotion": "work",
    "retirement": "work",
    "graduation": "work",
    "illness_diagnosis_self": "health",
    "illness_diagnosis_other": "health",
    "trauma": "trauma",
    "other": "other",
}

FACT_TYPES: Mapping[str, Mapping[str, FieldSpec]] = {
    "patient": {
        "id": FieldSpec("str", "Always 'patient'."),
        "age": FieldSpec("int", "Age in years."),
        "populations": FieldSpec("ids", "Population tags (adult, adolescent, bipolar, ...)."),
        "course": _e("Course of illness.", "first_episode", "recurrent", "chronic"),
        "suicidal_ideation": FieldSpec("bool", "Suicidal ideation recorded."),
        "suicide_plan_or_intent": FieldSpec("bool", "Suicidal plan or intent recorded."),
        "suicide_attempt_history": FieldSpec("bool", "Past suicide attempt."),
        "self_harm": FieldSpec("bool", "Self-harm recorded."),
        "psychosis": FieldSpec("bool", "Psychotic features."),
        "mania_history": FieldSpec("bool", "History of mania/hypomania."),
        "substance_use": FieldSpec("bool", "Problematic substance use."),
        "phq9_total": FieldSpec("int", "PHQ-9 total, 0-27."),
        "phq9_item9": FieldSpec("int", "PHQ-9 item 9 (thoughts of death or self-harm), 0-3."),
        "hamd17_total": FieldSpec("int", "HAM-D-17 total, 0-52."),
        "hamd17_item3": FieldSpec("int", "HAM-D item 3 (suicide), 0-4."),
        "icg_total": FieldSpec("int", "Inventory of Complicated Grief total, 0-76."),
        "pg13r_total": FieldSpec("int", "PG-13-R symptom total, 10-50."),
        "ucla3_total": FieldSpec("int", "UCLA-3 loneliness total, 3-9."),
        "sas_sr_mean": FieldSpec("float", "SAS-SR mean item score, 1-5."),
        "onset_known": FieldSpec(
            "bool",
            "The onset of the episode can be placed in time (true; unknown, never false, "
            "when it is not recorded: recording it may settle rules that need it).",
        ),
        "long_standing_isolation": FieldSpec("bool", "Long-standing isolation recorded."),
        "isolated_since": _e(
            "Since when the patient has been isolated.",
            "childhood",
            "adolescence",
            "early_adulthood",
            "adulthood",
            "episode_onset",
        ),
        "isolation_predates_onset": FieldSpec(
            "bool",
            "Isolation began before the episode (isolated_since other than episode_onset).",
        ),
        "few_attachments_before_onset": FieldSpec("bool", "Few attachments before onset."),
        "confidants_reported": FieldSpec("int", "Number of confidants, as reported."),
        "prior_social_functioning": _e("Social functioning before the episode.", *_QUALITY),
        "inner_circle_size": FieldSpec("int", "Living persons in the inner ring."),
        "confidant_count": FieldSpec("int", "Living persons marked as confidants."),
        "confidant_unknown": FieldSpec("int", "Living persons whose confidant status is unknown."),
        "supportive_ties": FieldSpec("int", "Living persons giving moderate or high support."),
        "conflictual_close_ties": FieldSpec("int", "Inner/middle-ring ties with conflict."),
        "weakened_tie_count": FieldSpec("int", "Ties whose quality fell since before onset."),
        "lost_tie_count": FieldSpec("int", "Ties lost (death, or contact now none)."),
        "bridge_lost": FieldSpec("bool", "A lost person was the patient's bridge to others."),
        "network_size": FieldSpec("int", "Living important persons."),
        "density": FieldSpec("float", "Density of the relationship graph."),
    },
    "person": {
        "id": FieldSpec("str", "Person id."),
        "name": FieldSpec("str", "Display name: label, else role and id."),
        "role": _e("Role in the patient's life.", *_ROLES),
        "ring": _e("Closeness ring.", "inner", "middle", "outer"),
        "contact": _e("Contact frequency.", "daily", "weekly", "monthly", "rarely", "none"),
        "support": _e("Support received.", *_LEVEL),
        "confidant": FieldSpec("bool", "Patient confides in this person."),
        "conflict": _e("Conflict level.", *_LEVEL),
        "lives_with_patient": FieldSpec("bool", "Lives with the patient."),
        "deceased": FieldSpec("bool", "Has died (marked deceased, or subject of a death event)."),
        "knows_about_depression": FieldSpec("bool", "Knows about the depression."),
        "patient_expectations_met": FieldSpec(
            "bool", "The person meets the patient's expectations."
        ),
        "other_expectations_met": FieldSpec("bool", "The patient meets the person's expectations."),
        "non_reciprocal": FieldSpec(
            "bool", "Expectations are not reciprocal (either side's are unmet)."
        ),
        "dispute_stage_evidence": _e(
            "Observed dispute stage evidence.", "still_negotiating", "stalled", "moving_to_end"
        ),
        "changes_wanted": FieldSpec(
            "int", "Number of changes the patient wants (0 = none listed)."
        ),
        "quality_before_onset": _e("Relationship quality before onset.", *_QUALITY),
        "quality_now": _e("Relationship quality now.", *_QUALITY),
        "quality_change": _e("Change in quality since onset.", "worse", "same", "better"),
        "patient_priority": FieldSpec(
            "bool", "The patient names this relationship as mattering most."
        ),
        "bridge_lost": FieldSpec("bool", "This lost person was the patient's bridge to others."),
    },
    "event": {
        "id": FieldSpec("str", "Event id."),
        "name": FieldSpec(
            "str",
            "Display name: the kind in words and the date; undated, the kind and the first "
            "words of the description; else the kind and the id.",
        ),
        "kind": _e("Event kind.", *sorted(_EVENT_CATEGORY)),
        "category": _e("Broad category of the event.", *sorted(set(_EVENT_CATEGORY.values()))),
        "non_death_loss": FieldSpec("bool", "A loss without a death (divorce, job loss, ...)."),
        "valence": _e("Valence.", "positive", "negative", "mixed"),
        "response": _e(
            "Patient's response.", "mourning_avoided", "yearning", "adapting", "ongoing"
        ),
        "maintains_episode": FieldSpec("bool", "Clinician judges it keeps the episode going."),
        "months_before_onset": FieldSpec(
            "float", "Months from the event to onset (negative = after), when settled to 0.5."
        ),
        "timing": FieldSpec(
            "str",
            "When the event happened relative to onset, in words: 'about 3 months before "
            "onset, range 2 to 4' from month-level dates (the midpoint, then the range), "
            "else from onset_relation, else 'timing unknown'.",
        ),
        "recent": FieldSpec(
            "bool", "Falls in the recent window before onset (option recent_window_months)."
        ),
        "after_onset": FieldSpec("bool", "Happened after onset (beyond the dating tolerance)."),
        "linked_to_onset": FieldSpec(
            "bool", "Recent before onset, or judged to maintain the episode."
        ),
        "months_since_event": FieldSpec("float", "Months from the event to the assessment."),
        "subject": FieldSpec("str", "Id of the person the event is mainly about."),
        "subject_role": _e("Role of the subject.", *_ROLES),
        "subject_ring": _e("Closeness ring of the subject.", "inner", "middle", "outer"),
        "others": FieldSpec("ids", "Ids of other persons involved."),
        "patient_priority": FieldSpec("bool", "The patient names this event as mattering most."),
    },
    "link": {
        "id": FieldSpec("str", "'a~b', the two person ids sorted."),
        "a": FieldSpec("str", "First person id (sorted)."),
        "b": FieldSpec("str", "Second person id (sorted)."),
        "close": FieldSpec("bool", "The two are close."),
        "conflict": _e("Conflict between the two.", *_LEVEL),
    },
    "finding": {
        "id": FieldSpec("str", "'name' or 'name@focus'."),
        "name": FieldSpec("str", "Finding name, declared by the rule that asserts it."),
        "focus": FieldSpec("str", "Id of the person or event the finding is about, if any."),
    },
}

_GRAPH_PATIENT_FIELDS = {
    "inner_circle_size": "inner_circle_size",
    "confidant_count": "confidant_count",
    "confidant_unknown": "confidant_unknown",
    "supportive_ties": "supportive_ties",
    "conflictual_close_ties": "conflictual_close_ties",
    "network_size": "network_size",
    "density": "density",
}
_QUALITY_RANK = {"poor": 0, "fair": 1, "good": 2}


@dataclass(frozen=True)
class FactSet:
    """The facts derived from one inventory, grouped by type and sorted by id."""

    by_type: Mapping[str, tuple[Fact, ...]]
    graph_features: Mapping[str, Any] = field(default_factory=dict)

    def all(self) -> list[tuple[str, Fact]]:
        """Every fact as ``(type, fact)``, in a deterministic order."""
        return [(t, f) for t in sorted(self.by_type) for f in self.by_type[t]]

    def get(self, fact_type: str, fact_id: str) -> Fact | None:
        for f in self.by_type.get(fact_type, ()):
            if f["id"] == fact_id:
                return f
        return None


def _tri_and_not(a: bool | None, b: bool | None) -> bool | None:
    """``not (a and b)`` in three-valued logic: True if either is False."""
    if a is False or b is False:
        return True
    if a is True and b is True:
        return False
    return None


def _person_fact(p: Person, deceased: bool | None, priority: bool | None, bridge: bool) -> Fact:
    change: str | None = None
    if p.quality_before_onset is not None and p.quality_now is not None:
        d = _QUALITY_RANK[p.quality_now] - _QUALITY_RANK[p.quality_before_onset]
        change = "worse" if d < 0 else "better" if d > 0 else "same"
    return {
        "id": p.id,
        "name": p.label or f"{p.role.replace('_', ' ')} ({p.id})",
        "role": p.role,
        "ring": p.ring,
        "contact": p.contact,
        "support": p.support,
        "confidant": p.confidant,
        "conflict": p.conflict,
        "lives_with_patient": p.lives_with_patient,
        "deceased": deceased,
        "knows_about_depression": p.knows_about_depression,
        "patient_expectations_met": p.patient_expectations_met,
        "other_expectations_met": p.other_expectations_met,
        "non_reciprocal": _tri_and_not(p.patient_expectations_met, p.other_expectations_met),
        "dispute_stage_evidence": p.dispute_stage_evidence,
        "changes_wanted": len(p.changes_wanted),
        "quality_before_onset": p.quality_before_onset,
        "quality_now": p.quality_now,
        "quality_change": change,
        "patient_priority": priority,
        "bridge_lost": bridge,
    }


def _round_half(x: float) -> float:
    return round(x * 2) / 2


_RELATION_WORDS: Mapping[str, str] = {
    "long_before": "long before onset",
    "months_before": "in the months before onset",
    "before": "before onset (interval unknown)",
    "around": "around onset",
    "after": "after onset",
}


def _months(x: float) -> str:
    n = f"{x:g}"
    return f"{n} month" if n == "1" else f"{n} months"


def timing_phrase(span: tuple[float, float] | None, relation: str | None) -> str:
    """When an event happened relative to onset, in words. ``span`` is
    :meth:`Inventory.months_before_onset_span`: a range from month-level dates reads as its
    midpoint, rounded to the half month, with the whole months of the range after it."""
    if span is None:
        return _RELATION_WORDS[relation] if relation is not None else "timing unknown"
    lo, hi = span
    mid = _round_half((lo + hi) / 2)
    side = "before" if mid > 0 else "after"
    if abs(mid) < 0.5:
        text = "around onset"
    else:
        text = f"{'about ' if hi - lo > 1.0 else ''}{_months(abs(mid))} {side} onset"
    if hi - lo > 1.0:
        a, b = sorted((abs(round(lo)), abs(round(hi))))
        if lo < 0 < hi:
            text += f", range {round(-lo)} after to {round(hi)} before"
        elif a != b:
            text += f", range {a} to {b}"
    return text


_KIND_WORDS: Mapping[str, str] = {
    "illness_diagnosis_self": "own illness diagnosis",
    "illness_diagnosis_other": "illness diagnosis of someone close",
    "other": "event",
}
_MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)


def date_words(d: str) -> str:
    """A partial date in words: '2025-09' -> 'September 2025', '2025-06-14' -> '14 June 2025'."""
    parts = d.split("-")
    if len(parts) == 1:
        return parts[0]
    month = _MONTHS[int(parts[1]) - 1]
    return f"{month} {parts[0]}" if len(parts) == 2 else f"{int(parts[2])} {month} {parts[0]}"


def short_text(text: str, limit: int = 40) -> str:
    """The first clause of a free text, cut at a word to at most ``limit`` characters."""
    out = " ".join(text.split())
    for stop in (". ", "; ", ": "):
        out = out.split(stop, 1)[0]
    out = out.rstrip(".;: ")
    if len(out) > limit:
        out = out[:limit].rsplit(" ", 1)[0].rstrip(",;: ") + "…"
    return out


def event_name(e: LifeEvent) -> str:
    """Display name of an event: its kind in words with the date ('retirement (September
    2025)'); undated, with the first words of its description in quotes; else with its id."""
    kind = _KIND_WORDS.get(e.kind, e.kind.replace("_", " "))
    if e.date is not None:
        return f"{kind} ({date_words(e.date)})"
    if e.description and short_text(e.description):
        return f"{kind} (\u201c{short_text(e.description)}\u201d)"
    return f"{kind} ({e.id})"


_RELATION_TIMING: Mapping[str, tuple[bool | None, bool | None]] = {
    # onset_relation -> (recent, after_onset) where the dates leave them open
    "long_before": (False, False),
    "months_before": (True, False),
    "before": (None, False),
    "around": (True, False),
    "after": (False, True),
}


def _event_fact(
    inv: Inventory,
    e: LifeEvent,
    persons: Mapping[str, Person],
    priority: bool | None,
    window: float,
    tolerance: float,
) -> Fact:
    """The event fact. Timing comes from the dates (or ``months_before_onset``) where they
    settle it, else from the clinician's ``onset_relation``: dates are exact, the judgement
    fills what they leave open (an event dated 2020 with onset in mid-2020 is "months
    before" only if the clinician says so)."""
    when = inv.event_bounds(e)
    span = inv.months_before_onset_span(e)
    recent: bool | None = None
    after: bool | None = None
    months: float | None = None
    if span is not None:
        lo, hi = span
        recent = (
            True
            if (lo >= -tolerance and hi <= window)
            else False
            if (hi < -tolerance or lo > window)
            else None
        )
        after = True if hi < -tolerance else False if lo >= -tolerance else None
        if hi - lo <= 1.0:
            months = _round_half((lo + hi) / 2)
    if e.onset_relation is not None:
        by_relation = _RELATION_TIMING[e.onset_relation]
        recent = by_relation[0] if recent is None else recent
        after = by_relation[1] if after is None else after
    since: float | None = None
    if when is not None:
        a = inv.episode.assessment_date
        s_lo, s_hi = (a - when[1]).days / DAYS_PER_MONTH, (a - when[0]).days / DAYS_PER_MONTH
        if s_hi - s_lo <= 1.0:
            since = _round_half((s_lo + s_hi) / 2)
    maintains = e.maintains_episode
    linked = (
        True
        if (recent is True or maintains is True)
        else False
        if (recent is False and maintains is False)
        else None
    )
    subj = persons.get(e.subject) if e.subject is not None else None
    return {
        "id": e.id,
        "name": event_name(e),
        "kind": e.kind,
        "category": _EVENT_CATEGORY[e.kind],
        "non_death_loss": e.kind in NON_DEATH_LOSS_KINDS,
        "valence": e.valence,
        "response": e.response,
        "maintains_episode": maintains,
        "months_before_onset": months,
        "timing": timing_phrase(span, e.onset_relation),
        "recent": recent,
        "after_onset": after,
        "linked_to_onset": linked,
        "months_since_event": since,
        "subject": e.subject,
        "subject_role": subj.role if subj else None,
        "subject_ring": subj.ring if subj else None,
        "others": tuple(sorted(e.others)),
        "patient_priority": priority,
    }


def _patient_fact(
    inv: Inventory, feats: Mapping[str, Any], onset: tuple[date, date] | None
) -> Fact:
    p, r, sh = inv.patient, inv.patient.risk, inv.social_history
    m: dict[str, Any] = {}
    for meas in inv.episode.measures:
        m[meas.instrument] = meas
    phq, ham = m.get("phq9"), m.get("hamd17")
    since = sh.isolated_since
    predates = None if since is None else since != "episode_onset"
    fact: Fact = {
        "id": "patient",
        "age": p.age,
        "populations": tuple(sorted(set(p.populations))),
        "course": p.course,
        "suicidal_ideation": r.suicidal_ideation,
        "suicide_plan_or_intent": r.suicide_plan_or_intent,
        "suicide_attempt_history": r.suicide_attempt_history,
        "self_harm": r.self_harm,
        "psychosis": r.psychosis,
        "mania_history": r.mania_history,
        "substance_use": r.substance_use,
        "phq9_total": phq.total if phq else None,
        "phq9_item9": phq.item9 if phq else None,
        "hamd17_total": ham.total if ham else None,
        "hamd17_item3": ham.item3 if ham else None,
        "icg_total": m["icg"].total if "icg" in m else None,
        "pg13r_total": m["pg13r"].total if "pg13r" in m else None,
        "ucla3_total": m["ucla3"].total if "ucla3" in m else None,
        "sas_sr_mean": m["sas_sr"].mean if "sas_sr" in m else None,
        "onset_known": True if onset is not None else None,
        "long_standing_isolation": sh.long_standing_isolation,
        "isolated_since": since,
        "isolation_predates_onset": predates,
        "few_attachments_before_onset": sh.few_attachments_before_onset,
        "confidants_reported": sh.confidants,
        "prior_social_functioning": sh.prior_social_functioning,
        "weakened_tie_count": len(feats.get("weakened_ties", ())),
        "lost_tie_count": len(feats.get("lost_ties", ())),
        "bridge_lost": bool(feats.get("bridge_persons_lost", ())),
    }
    for fact_key, feat in _GRAPH_PATIENT_FIELDS.items():
        fact[fact_key] = feats.get(feat)
    return fact


_FEATURES_FOR_FIELD = {
    "weakened_tie_count": ("weakened_ties",),
    "lost_tie_count": ("lost_ties",),
    "bridge_lost": ("bridge_persons_lost",),
    **{k: (v,) for k, v in _GRAPH_PATIENT_FIELDS.items()},
}


def graph_features_for(fields: Collection[str]) -> frozenset[str]:
    """Graph features needed to fill the given patient/person fact fields."""
    out: set[str] = set()
    for f in fields:
        out.update(_FEATURES_FOR_FIELD.get(f, ()))
    return frozenset(out)


def derive_facts(
    inv: Inventory,
    options: Mapping[str, Any] | None = None,
    *,
    fact_types: Collection[str] | None = None,
    features: Collection[str] | None = None,
) -> FactSet:
    """Derive the rule facts of one inventory.

    ``options`` supplies ``recent_window_months`` (default 6) and
    ``onset_tolerance_months`` (default 1). ``fact_types`` and ``features`` restrict the work
    to what a rule pack uses (``None`` = everything).
    """
    opts = dict(options or {})
    window = float(opts.get("recent_window_months", 6))
    tolerance = float(opts.get("onset_tolerance_months", 1))
    wanted = set(FACT_TYPES) if fact_types is None else set(fact_types)
    feats: dict[str, Any] = {}
    need = (
        frozenset(
            {"weakened_ties", "lost_ties", "bridge_persons_lost", *_GRAPH_PATIENT_FIELDS.values()}
        )
        if features is None
        else frozenset(features)
    )
    if need and ({"patient", "person"} & wanted):
        feats = inventory_features(inv, need)
    bridges = set(feats.get("bridge_persons_lost", ()))

    persons = {p.id: p for p in inv.persons}
    view = inv.patient_view
    fp = None if view is None else view.most_important_person
    fe = None if view is None else view.most_important_event

    onset = inv.onset_bounds()

    def priority(target: str | None, oid: str) -> bool | None:
        if target is None:
            return None
        return target == oid

    by_type: dict[str, tuple[Fact, ...]] = {}
    if "patient" in wanted:
        by_type["patient"] = (_patient_fact(inv, feats, onset),)
    if "person" in wanted:
        deceased = inv.deceased_status()
        by_type["person"] = tuple(
            _person_fact(
                p,
                deceased[p.id],
                priority(fp, p.id),
                p.id in bridges,
            )
            for p in sorted(inv.persons, key=lambda p: p.id)
        )
    if "event" in wanted:
        by_type["event"] = tuple(
            _event_fact(inv, e, persons, priority(fe, e.id), window, tolerance)
            for e in sorted(inv.events, key=lambda e: e.id)
        )
    if "link" in wanted:
        links = []
        for link in inv.relationships:
            a, b = sorted((link.a, link.b))
            links.append(
                {"id": f"{a}~{b}", "a": a, "b": b, "close": link.close, "conflict": link.conflict}
            )
        by_type["link"] = tuple(sorted(links, key=lambda f: f["id"]))
    return FactSet(by_type=by_type, graph_features=feats)


# ------------------------------------------------------------------ where a fact field comes from
_PERSON_SOURCES: Mapping[str, tuple[str, ...]] = {
    "non_reciprocal": ("patient_expectations_met", "other_expectations_met"),
    "quality_change": ("quality_before_onset", "quality_now"),
    "deceased": ("deceased",),
}
_EVENT_TIMING = frozenset({"recent", "after_onset", "months_before_onset", "linked_to_onset"})
_PATIENT_SOURCES: Mapping[str, str] = {
    "age": "$.patient.age",
    "onset_known": "$.episode.onset",
    "course": "$.patient.course",
    "long_standing_isolation": "$.social_history.long_standing_isolation",
    "isolated_since": "$.social_history.isolated_since",
    "isolation_predates_onset": "$.social_history.isolated_since",
    "few_attachments_before_onset": "$.social_history.few_attachments_before_onset",
    "confidants_reported": "$.social_history.confidants",
    "prior_social_functioning": "$.social_history.prior_social_functioning",
}
_MEASURE_SOURCES: Mapping[str, tuple[str, str]] = {
    "phq9_total": ("phq9", "total"),
    "phq9_item9": ("phq9", "item9"),
    "hamd17_total": ("hamd17", "total"),
    "hamd17_item3": ("hamd17", "item3"),
    "icg_total": ("icg", "total"),
    "pg13r_total": ("pg13r", "total"),
    "ucla3_total": ("ucla3", "total"),
    "sas_sr_mean": ("sas_sr", "mean"),
}


def item_path(collection: str, key: str, value: str) -> str:
    """An order-free JSON path to one item of a list: RFC 9535 filter syntax,
    ``$.persons[?@.id=='mum']`` (an index would change when the input lists are permuted).
    Ids and instrument names are validated to ``[A-Za-z0-9_.-]``: no quoting is needed."""
    return f"{collection}[?@.{key}=='{value}']"


class SourceMap:
    """Where the value of a fact field comes from in the inventory, as JSON paths: what a
    clinician would have to record to settle an unknown value
    (``$.persons[?@.id=='mum'].ring``). Paths name items by id, never by position, so they
    do not depend on the order of the input lists."""

    def __init__(self, inv: Inventory) -> None:
        self._inv = inv
        self._persons = {p.id for p in inv.persons}
        self._events = {e.id: e for e in inv.events}
        self._links = {"~".join(sorted((r.a, r.b))) for r in inv.relationships}

    def paths(
        self, fact_type: str, fact_id: str, fld: str, fact: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """The inventory paths behind ``fld`` of one fact (empty when it is derived from
        something that is never unknown, e.g. a graph count)."""
        if fact_type == "person" and fact_id in self._persons:
            base = item_path("$.persons", "id", fact_id)
            if fld == "patient_priority":
                return ("$.patient_view.most_important_person",)
            if fld in _PERSON_SOURCES:
                return tuple(f"{base}.{f}" for f in _PERSON_SOURCES[fld])
            return (f"{base}.{fld}",) if fld in Person.model_fields else ()
        if fact_type == "event" and fact_id in self._events:
            return self._event_paths(self._events[fact_id], fld, fact)
        if fact_type == "patient":
            return self._patient_paths(fld)
        if fact_type == "link" and fact_id in self._links:
            a, b = fact_id.split("~", 1)
            return (f"$.relationships[?@.a=='{a}' && @.b=='{b}'].{fld}",)
        return ()

    def _event_paths(self, e: LifeEvent, fld: str, fact: Mapping[str, Any]) -> tuple[str, ...]:
        base = item_path("$.events", "id", e.id)
        if fld in _EVENT_TIMING:
            # what settles the timing: the clinician's judgement of the order (or the onset
            # date, for a dated event), unless the dates settle it already; then, for the
            # link to onset, whether the event keeps the episode going
            out = []
            if fact.get("recent") is None or (fld == "after_onset" and fact.get(fld) is None):
                out.append(f"{base}.onset_relation")
                if e.date is not None and self._inv.onset_bounds() is None:
                    out.append("$.episode.onset")
            if fld == "linked_to_onset" and e.maintains_episode is None:
                out.append(f"{base}.maintains_episode")
            return tuple(out)
        if fld == "months_since_event":
            return (f"{base}.date",)
        if fld in ("subject_role", "subject_ring"):
            if e.subject is None or e.subject not in self._persons:
                return (f"{base}.subject",)
            person = item_path("$.persons", "id", e.subject)
            return (f"{person}.{fld.removeprefix('subject_')}",)
        if fld == "patient_priority":
            return ("$.patient_view.most_important_event",)
        return (f"{base}.{fld}",) if fld in LifeEvent.model_fields else ()

    def _patient_paths(self, fld: str) -> tuple[str, ...]:
        if fld in _PATIENT_SOURCES:
            return (_PATIENT_SOURCES[fld],)
        if fld in _MEASURE_SOURCES:
            instrument, item = _MEASURE_SOURCES[fld]
            return (f"{item_path('$.episode.measures', 'instrument', instrument)}.{item}",)
        if fld in Risk.model_fields:
            return (f"$.patient.risk.{fld}",)
        return ()
