"""Stage 1 of the pipeline: the interpersonal inventory, as an immutable pydantic model.

The model follows what an IPT clinician records in the interpersonal inventory (see
``docs/inventory.md`` and the clinical basis it cites): the patient, the episode, the important
persons and the quality of each relationship, relationships between those persons, the life
events around onset, the social history and the patient's own view.

**Unknown is a value.** Every clinical attribute is optional and ``null``/``None`` means *not
known*; it is never read as "no". Rules see unknown values as unknown and WHY-NOT reports them.

Parse untrusted input with :func:`parse_inventory` (or :func:`ipt_formulate.formulate`, which
calls it): it accepts a model, a dict or JSON text and raises only the typed errors of
:mod:`ipt_formulate.errors`, each issue naming its JSON path.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal, NoReturn, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import (
    InputTooLargeError,
    InventoryError,
    InventoryRangeError,
    InventoryReferenceError,
    InventorySchemaError,
    InventoryTemporalError,
    Issue,
    MalformedInputError,
)
from .limits import ENV_VAR, Limits, current_limits

__all__ = [
    "DAYS_PER_MONTH",
    "HAMD17",
    "ICG",
    "PATIENT_NODE",
    "PG13R",
    "PHQ9",
    "SASSR",
    "SCHEMA_VERSION",
    "UCLA3",
    "ContactFrequency",
    "Course",
    "DisputeStageEvidence",
    "Episode",
    "EventKind",
    "EventResponse",
    "Inventory",
    "IsolationSince",
    "Level",
    "LifeEvent",
    "Measure",
    "OnsetRelation",
    "Patient",
    "PatientView",
    "Person",
    "PersonLink",
    "Population",
    "Quality",
    "Ring",
    "Risk",
    "Role",
    "SocialHistory",
    "Valence",
    "date_bounds",
    "inventory_json_schema",
    "parse_inventory",
]

SCHEMA_VERSION: Literal["1"] = "1"
PATIENT_NODE = "patient"

# ---------------------------------------------------------------- vocabularies
Population = Literal[
    "adult",
    "adolescent",
    "late_life",
    "perinatal",
    "bipolar",
    "dysthymia",
    "social_anxiety",
    "ptsd",
]
Course = Literal["first_episode", "recurrent", "chronic"]
Role = Literal[
    "spouse_partner",
    "former_partner",
    "parent",
    "child",
    "sibling",
    "grandparent",
    "grandchild",
    "other_family",
    "in_law",
    "friend",
    "coworker",
    "supervisor",
    "neighbour",
    "professional",
    "other",
]
Ring = Literal["inner", "middle", "outer"]
"""Closeness circle ring (Dietz, Weinberg & Mufson 2018): inner = closest."""
ContactFrequency = Literal["daily", "weekly", "monthly", "rarely", "none"]
Level = Literal["none", "low", "moderate", "high"]
Quality = Literal["poor", "fair", "good"]
DisputeStageEvidence = Literal["still_negotiating", "stalled", "moving_to_end"]
"""What the clinician observed: both still trying to change things / attempts stopped /
decision or movement to end the relationship (renegotiation / impasse / dissolution)."""
EventKind = Literal[
    "death",
    "separation",
    "divorce",
    "relationship_breakup",
    "marriage",
    "new_relationship",
    "birth",
    "pregnancy",
    "pregnancy_loss",
    "move",
    "migration",
    "job_loss",
    "new_job",
    "promotion",
    "retirement",
    "graduation",
    "illness_diagnosis_self",
    "illness_diagnosis_other",
    "caregiving",
    "children_leaving_home",
    "trauma",
    "other",
]
Valence = Literal["positive", "negative", "mixed"]
EventResponse = Literal["mourning_avoided", "yearning", "adapting", "ongoing"]
IsolationSince = Literal[
    "childhood", "adolescence", "early_adulthood", "adulthood", "episode_onset"
]
OnsetRelation = Literal["long_before", "months_before", "before", "around", "after"]
"""The clinician's judgement of when an event happened relative to the onset of the episode,
when no date settles it: long before (earlier than the pack's recent window), in the months
before (within the recent window), before (order known, interval not), around onset (within
the dating tolerance), after onset. See docs/inventory.md, "Qualitative timing"."""

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Id = Annotated[str, StringConstraints(pattern=_ID_RE)]
Text = Annotated[str, StringConstraints(max_length=2000)]

MIN_YEAR, MAX_YEAR = 1900, 2200
# ASCII digits only: ``\d`` would also match "٢٠١٩", which the published schema rejects
_PARTIAL_DATE_RE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$")


@lru_cache(maxsize=8192)
def date_bounds(value: str) -> tuple[date, date]:
    """First and last calendar day a full or partial ISO date (``YYYY[-MM[-DD]]``) can mean.

    Cached: validation and fact derivation ask for the same few dates many times."""
    m = _PARTIAL_DATE_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(m[1]), m[2], m[3]
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"{value!r}: year must be {MIN_YEAR}..{MAX_YEAR}")
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    mo = int(month)
    if not 1 <= mo <= 12:
        raise ValueError(f"{value!r}: month must be 01..12")
    if day is None:
        return date(year, mo, 1), date(year, mo, calendar.monthrange(year, mo)[1])
    d = date(year, mo, int(day))  # raises ValueError for 2023-02-30
    return d, d


def _check_partial_date(value: str) -> str:
    try:
        date_bounds(value)
    except ValueError as exc:
        raise PydanticCustomError("partial_date", "{error}", {"error": str(exc)}) from None
    return value


PartialDate = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$"),
    AfterValidator(_check_partial_date),
    Field(description="Full or partial ISO date: YYYY, YYYY-MM or YYYY-MM-DD."),
]


class _Model(BaseModel):
    """Strict, frozen; built in code with the same semantics as a JSON dict.

    ``Model(...)`` takes what JSON takes as well as Python's own types (lists or tuples, ISO
    strings or ``date`` objects, dicts or model instances) and raises the library's typed
    errors (:class:`~ipt_formulate.errors.InventoryError` with paths relative to the model
    built, :class:`~ipt_formulate.errors.MalformedInputError`), never pydantic's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def __init__(self, /, **data: Any) -> None:
        validator = self.__pydantic_validator__
        try:  # fast path: already Python's strict types (tuples, dates, models)
            validator.validate_python(data, self_instance=self)
            return
        except ValidationError:
            pass
        try:  # the path of a dict: through JSON, as parse_inventory validates it
            text = json.dumps(data, allow_nan=False, default=_json_default)
        except (TypeError, ValueError, RecursionError) as exc:
            raise MalformedInputError(
                f"{type(self).__name__}(...) arguments are not JSON-like: {exc}"
            ) from None
        try:
            validator.validate_json(text, self_instance=self)
        except ValidationError as exc:
            lim = current_limits()
            _raise_issues(*_issues_from(exc, lim.max_issues), lim, what=type(self).__name__)

    # nested models are validated by pydantic-core, not through this __init__ (paths stay whole)
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------- patient
class Risk(_Model):
    """Risk indicators. Any positive value raises a safety advisory before the formulation."""

    suicidal_ideation: bool | None = None
    suicide_plan_or_intent: bool | None = None
    suicide_attempt_history: bool | None = None
    self_harm: bool | None = None
    psychosis: bool | None = None
    mania_history: bool | None = None
    substance_use: bool | None = None


class Patient(_Model):
    """The patient: age, population tags, course of illness and risk indicators."""

    age: Annotated[int, Field(ge=0, le=120)] | None = None
    populations: tuple[Population, ...] = ()
    course: Course | None = None
    risk: Risk = Risk()


# ---------------------------------------------------------------- measures
class _MeasureBase(_Model):
    date: PartialDate | None = None

    def __init__(self, /, **data: Any) -> None:
        # in code the class already says which instrument: PHQ9(total=3)
        tag = get_args(type(self).model_fields["instrument"].annotation)[0]
        super().__init__(**{"instrument": tag, **data})

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class PHQ9(_MeasureBase):
    """Patient Health Questionnaire-9: total 0-27; item 9 (thoughts of death/self-harm) 0-3."""

    instrument: Literal["phq9"]
    total: Annotated[int, Field(ge=0, le=27)] | None = None
    item9: Annotated[int, Field(ge=0, le=3)] | None = None


class HAMD17(_MeasureBase):
    """Hamilton Depression Rating Scale, 17 items: total 0-52; item 3 (suicide) 0-4."""

    instrument: Literal["hamd17"]
    total: Annotated[int, Field(ge=0, le=52)] | None = None
    item3: Annotated[int, Field(ge=0, le=4)] | None = None


class ICG(_MeasureBase):
    """Inventory of Complicated Grief (Prigerson 1995), 19 items 0-4: total 0-76."""

    instrument: Literal["icg"]
    total: Annotated[int, Field(ge=0, le=76)] | None = None


class PG13R(_MeasureBase):
    """Prolonged Grief-13-Revised: symptom items total 10-50."""

    instrument: Literal["pg13r"]
    total: Annotated[int, Field(ge=10, le=50)] | None = None


class UCLA3(_MeasureBase):
    """UCLA Loneliness Scale, 3-item short form (Hughes 2004), items coded 1-3: total 3-9."""

    instrument: Literal["ucla3"]
    total: Annotated[int, Field(ge=3, le=9)] | None = None


class SASSR(_MeasureBase):
    """Social Adjustment Scale-Self Report: overall mean item score 1.0-5.0."""

    instrument: Literal["sas_sr"]
    mean: Annotated[float, Field(ge=1.0, le=5.0)] | None = None


Measure = Annotated[PHQ9 | HAMD17 | ICG | PG13R | UCLA3 | SASSR, Field(discriminator="instrument")]


class Episode(_Model):
    """The current depressive episode: onset, assessment date and severity measures.

    Give the onset as a (partial) date or as months before the assessment, not both.
    """

    assessment_date: Annotated[date, Field(ge=date(MIN_YEAR, 1, 1), le=date(MAX_YEAR, 12, 31))]
    onset: PartialDate | None = None
    onset_months_before_assessment: Annotated[float, Field(ge=0, le=1200)] | None = None
    measures: tuple[Measure, ...] = ()


# ---------------------------------------------------------------- persons
class Person(_Model):
    """An important person in the patient's life and the quality of the relationship."""

    id: Id
    role: Role
    label: Text | None = None
    lives_with_patient: bool | None = None
    deceased: bool | None = None
    date_of_death: PartialDate | None = None
    ring: Ring | None = None
    contact: ContactFrequency | None = None
    support: Level | None = Field(default=None, description="Support the patient receives.")
    confidant: bool | None = Field(
        default=None, description="The patient can talk to this person about what matters."
    )
    conflict: Level | None = None
    knows_about_depression: bool | None = None
    patient_expectations_met: bool | None = Field(
        default=None, description="Does this person meet the patient's expectations?"
    )
    other_expectations_met: bool | None = Field(
        default=None, description="Does the patient meet this person's expectations?"
    )
    patient_expects: Text | None = None
    other_expects: Text | None = None
    dispute_stage_evidence: DisputeStageEvidence | None = None
    changes_wanted: tuple[Text, ...] = ()
    quality_before_onset: Quality | None = None
    quality_now: Quality | None = None


class PersonLink(_Model):
    """A relationship between two persons other than the patient (e.g. spouse and in-law)."""

    a: Id
    b: Id
    close: bool | None = None
    conflict: Level | None = None
    note: Text | None = None


# ---------------------------------------------------------------- events
class LifeEvent(_Model):
    """A life event on the timeline around onset.

    Timing: a (partial) ``date`` or ``months_before_onset`` (negative = after onset), or
    neither when unknown. ``onset_relation`` records the clinician's judgement of the order
    ("she got depressed after the move") when no date settles it; it may stand alone, even
    with the onset undated, and must agree with any date given. ``subject`` is the person the
    event is mainly about (the person who died, the former partner); ``others`` are further
    persons involved.
    """

    id: Id
    kind: EventKind
    date: PartialDate | None = None
    months_before_onset: Annotated[float, Field(ge=-1200, le=1200)] | None = None
    onset_relation: OnsetRelation | None = Field(
        default=None,
        description="When no date settles it: the clinician's judgement of when the event "
        "happened relative to onset (long_before, months_before = within the recent window, "
        "before, around, after).",
    )
    subject: Id | None = None
    others: tuple[Id, ...] = ()
    valence: Valence | None = None
    response: EventResponse | None = None
    maintains_episode: bool | None = Field(
        default=None, description="The clinician judges that it keeps the episode going."
    )
    description: Text | None = None


class SocialHistory(_Model):
    """Long-standing social pattern, needed to tell deficits from depression-driven withdrawal."""

    long_standing_isolation: bool | None = None
    isolated_since: IsolationSince | None = None
    few_attachments_before_onset: bool | None = None
    confidants: Annotated[int, Field(ge=0, le=100)] | None = None
    prior_social_functioning: Quality | None = None


class PatientView(_Model):
    """What the patient says matters most (IPT's focus needs the patient's agreement)."""

    most_important_person: Id | None = None
    most_important_event: Id | None = None
    note: Text | None = None


# ---------------------------------------------------------------- inventory
class Inventory(_Model):
    """A complete interpersonal inventory: the input of a formulation."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    id: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Optional record id (carried to batch output)."
    )
    patient: Patient = Patient()
    episode: Episode
    persons: tuple[Person, ...] = ()
    relationships: tuple[PersonLink, ...] = ()
    events: tuple[LifeEvent, ...] = ()
    social_history: SocialHistory = SocialHistory()
    patient_view: PatientView | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> Inventory:
        issues = _semantic_issues(self)
        if issues:
            raise PydanticCustomError(
                "ipt_semantic",
                "; ".join(str(i) for i in issues),
                {"issues": [(i.path, i.code, i.message) for i in issues]},
            )
        return self

    # -- derived timing, shared by the validator and the facts stage
    def onset_bounds(self) -> tuple[date, date] | None:
        """Earliest and latest possible onset day, or None when onset is unknown."""
        ep = self.episode
        if ep.onset is not None:
            return date_bounds(ep.onset)
        if ep.onset_months_before_assessment is not None:
            d = ep.assessment_date - timedelta(
                days=ep.onset_months_before_assessment * DAYS_PER_MONTH
            )
            return d, d
        return None

    def deceased_status(self) -> dict[str, bool | None]:
        """Person id -> has died: True when marked deceased, given a date of death, or the
        subject of a death event; otherwise the recorded ``deceased`` (False or unknown).
        The one definition the graph and the facts stage share."""
        died = {e.subject for e in self.events if e.kind == "death" and e.subject is not None}
        return {
            p.id: True
            if (p.deceased is True or p.date_of_death is not None or p.id in died)
            else p.deceased
            for p in self.persons
        }

    def months_before_onset_span(self, event: LifeEvent) -> tuple[float, float] | None:
        """How many months before onset the event happened, as an interval ``(lo, hi)``
        (negative = after onset), or None when dates do not place it relative to onset.
        The one definition validation and the facts stage share."""
        if event.months_before_onset is not None:
            return event.months_before_onset, event.months_before_onset
        onset, when = self.onset_bounds(), self.event_bounds(event)
        if onset is None or when is None:
            return None
        return (
            (onset[0] - when[1]).days / DAYS_PER_MONTH,
            (onset[1] - when[0]).days / DAYS_PER_MONTH,
        )

    def event_bounds(self, event: LifeEvent) -> tuple[date, date] | None:
        """Earliest and latest possible day of an event, or None when it cannot be placed."""
        if event.date is not None:
            return date_bounds(event.date)
        onset = self.onset_bounds()
        if event.months_before_onset is not None and onset is not None:
            delta = timedelta(days=event.months_before_onset * DAYS_PER_MONTH)
            return onset[0] - delta, onset[1] - delta
        return None


DAYS_PER_MONTH = 365.25 / 12


def _semantic_issues(inv: Inventory) -> list[Issue]:
    """Cross-field checks pydantic's per-field validation cannot express, in document order."""
    issues: list[Issue] = []
    person_ids = _id_issues(inv, issues.append)
    _reference_issues(inv, person_ids, issues.append)
    _measure_issues(inv, issues.append)
    _timing_issues(inv, issues.append)
    _death_issues(inv, person_ids, issues.append)
    issues.sort(key=issue_order)
    return issues


_Add = Callable[[Issue], None]


def _id_issues(inv: Inventory, add: _Add) -> dict[str, int]:
    """Ids unique and not the reserved patient node; returns person id -> first index."""
    person_ids: dict[str, int] = {}
    for i, p in enumerate(inv.persons):
        if p.id == PATIENT_NODE:
            add(Issue(f"$.persons[{i}].id", "inventory.reserved_id", f"{p.id!r} is reserved"))
        if p.id in person_ids:
            add(
                Issue(
                    f"$.persons[{i}].id",
                    "inventory.duplicate_id",
                    f"person id {p.id!r} already used at $.persons[{person_ids[p.id]}]",
                )
            )
        person_ids.setdefault(p.id, i)
    event_ids: set[str] = set()
    for i, e in enumerate(inv.events):
        if e.id == PATIENT_NODE:
            add(Issue(f"$.events[{i}].id", "inventory.reserved_id", f"{e.id!r} is reserved"))
        if e.id in event_ids or e.id in person_ids:
            add(Issue(f"$.events[{i}].id", "inventory.duplicate_id", f"id {e.id!r} already used"))
        event_ids.add(e.id)
    return person_ids


def _reference_issues(inv: Inventory, person_ids: Mapping[str, int], add: _Add) -> None:
    """Every person or event a link, an event or the patient's view names exists."""

    def person_ref(path: str, pid: str | None) -> None:
        if pid is not None and pid not in person_ids:
            add(Issue(path, "inventory.unknown_person", f"no person with id {pid!r}"))

    seen_pairs: set[frozenset[str]] = set()
    for i, link in enumerate(inv.relationships):
        person_ref(f"$.relationships[{i}].a", link.a)
        person_ref(f"$.relationships[{i}].b", link.b)
        pair = frozenset((link.a, link.b))
        if link.a == link.b:
            add(Issue(f"$.relationships[{i}]", "inventory.self_link", "a and b are the same"))
        elif pair in seen_pairs:
            add(Issue(f"$.relationships[{i}]", "inventory.duplicate_link", "pair listed twice"))
        seen_pairs.add(pair)
    for i, e in enumerate(inv.events):
        person_ref(f"$.events[{i}].subject", e.subject)
        for j, o in enumerate(e.others):
            person_ref(f"$.events[{i}].others[{j}]", o)
    if inv.patient_view is not None:
        person_ref("$.patient_view.most_important_person", inv.patient_view.most_important_person)
        ev = inv.patient_view.most_important_event
        if ev is not None and ev not in {e.id for e in inv.events}:
            add(
                Issue(
                    "$.patient_view.most_important_event",
                    "inventory.unknown_event",
                    f"no event with id {ev!r}",
                )
            )


def _measure_issues(inv: Inventory, add: _Add) -> None:
    """One measure per instrument, none dated after the assessment."""
    seen_instr: dict[str, int] = {}
    for i, m in enumerate(inv.episode.measures):
        if m.instrument in seen_instr:
            add(
                Issue(
                    f"$.episode.measures[{i}]",
                    "inventory.duplicate_measure",
                    f"instrument {m.instrument!r} given twice",
                )
            )
        seen_instr.setdefault(m.instrument, i)
        if m.date is not None and date_bounds(m.date)[0] > inv.episode.assessment_date:
            add(
                Issue(
                    f"$.episode.measures[{i}].date",
                    "inventory.after_assessment",
                    "measure dated after the assessment",
                )
            )


def _timing_issues(inv: Inventory, add: _Add) -> None:
    """Onset and event timing: one form each, nothing after the assessment, and a clinician's
    ``onset_relation`` that agrees with the dates."""
    ep, assessed = inv.episode, inv.episode.assessment_date
    if ep.onset is not None and ep.onset_months_before_assessment is not None:
        add(
            Issue(
                "$.episode",
                "inventory.ambiguous_timing",
                "give onset or onset_months_before_assessment, not both",
            )
        )
    if ep.onset is not None and date_bounds(ep.onset)[0] > assessed:
        add(
            Issue(
                "$.episode.onset",
                "inventory.onset_after_assessment",
                f"onset {ep.onset} is after the assessment date {assessed}",
            )
        )
    for i, e in enumerate(inv.events):
        if e.date is not None and e.months_before_onset is not None:
            add(
                Issue(
                    f"$.events[{i}]",
                    "inventory.ambiguous_timing",
                    "give date or months_before_onset, not both",
                )
            )
        if e.date is not None and date_bounds(e.date)[0] > assessed:
            add(
                Issue(
                    f"$.events[{i}].date",
                    "inventory.after_assessment",
                    f"event dated {e.date}, after the assessment date {assessed}",
                )
            )
        elif e.date is None and e.months_before_onset is not None:
            placed = inv.event_bounds(e)
            # one day of slack: months are converted to days with fractions dropped
            if placed is not None and placed[0] > assessed + timedelta(days=1):
                add(
                    Issue(
                        f"$.events[{i}].months_before_onset",
                        "inventory.after_assessment",
                        f"{e.months_before_onset} months before onset falls after the "
                        f"assessment date {assessed}",
                    )
                )
        if e.onset_relation is not None:
            _relation_issue(inv, i, e, add)


def _relation_issue(inv: Inventory, i: int, e: LifeEvent, add: _Add) -> None:
    """``onset_relation`` against the event's timing: only the *order* is checked (before vs
    after onset), because how long "long before" is depends on the pack's recent window."""
    span = inv.months_before_onset_span(e)
    if span is None:
        return
    lo, hi = span
    rel = e.onset_relation
    if rel == "after" and lo > 0:
        said = "before onset"
    elif rel in ("long_before", "months_before", "before") and hi < 0:
        said = "after onset"
    else:
        return
    add(
        Issue(
            f"$.events[{i}].onset_relation",
            "inventory.contradiction",
            f"onset_relation {rel!r} contradicts the event's timing, which places it {said}",
        )
    )


def _death_issues(inv: Inventory, person_ids: Mapping[str, int], add: _Add) -> None:
    """Deaths: agree with the persons' records, one per person, nobody active after death."""
    assessed = inv.episode.assessment_date
    death_day: dict[str, date] = {}
    for i, p in enumerate(inv.persons):
        if p.date_of_death is not None:
            lo, hi = date_bounds(p.date_of_death)
            if p.deceased is False:
                add(
                    Issue(
                        f"$.persons[{i}].date_of_death",
                        "inventory.contradiction",
                        "date_of_death given for a person marked deceased=false",
                    )
                )
            if lo > assessed:
                add(
                    Issue(
                        f"$.persons[{i}].date_of_death",
                        "inventory.after_assessment",
                        "date of death after the assessment date",
                    )
                )
            death_day[p.id] = hi
    died_in: dict[str, int] = {}
    for i, e in enumerate(inv.events):
        if e.kind != "death" or e.subject is None:
            continue
        k = person_ids.get(e.subject)
        if k is not None and inv.persons[k].deceased is False:
            add(
                Issue(
                    f"$.events[{i}].subject",
                    "inventory.contradiction",
                    f"death event for {e.subject!r}, who is marked deceased=false",
                )
            )
        if e.subject in died_in:
            add(
                Issue(
                    f"$.events[{i}].subject",
                    "inventory.contradiction",
                    f"{e.subject!r} already has a death event at $.events[{died_in[e.subject]}]",
                )
            )
        died_in.setdefault(e.subject, i)
        dod = inv.persons[k].date_of_death if k is not None else None
        placed = inv.event_bounds(e)
        if dod is not None and placed is not None:
            lo, hi = date_bounds(dod)
            if placed[1] < lo - timedelta(days=1) or placed[0] > hi + timedelta(days=1):
                add(
                    Issue(
                        f"$.events[{i}]",
                        "inventory.contradiction",
                        f"death event timing disagrees with {e.subject!r}'s date_of_death {dod}",
                    )
                )
    _participant_issues(inv, death_day, add)


def _participant_issues(inv: Inventory, death_day: dict[str, date], add: _Add) -> None:
    """A deceased person cannot take part in an event after their death (date of death from
    the person or from a placeable death event, whichever is known to be earliest)."""
    for e in inv.events:
        when = inv.event_bounds(e) if e.kind == "death" and e.subject is not None else None
        if when is not None and e.subject is not None:
            death_day[e.subject] = min(death_day.get(e.subject, when[1]), when[1])
    for i, e in enumerate(inv.events):
        placed = inv.event_bounds(e)
        if e.kind == "death" or placed is None:
            continue
        for pid in (e.subject, *e.others):
            if pid in death_day and placed[0] > death_day[pid]:
                add(
                    Issue(
                        f"$.events[{i}]",
                        "inventory.deceased_participant",
                        f"{pid!r} died before this event but is listed in it",
                    )
                )


# ---------------------------------------------------------------- parsing
_RANGE_TYPES = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
}
_TEMPORAL_CODES = {
    "inventory.after_assessment",
    "inventory.onset_after_assessment",
    "inventory.deceased_participant",
    "inventory.ambiguous_timing",
}
_REFERENCE_CODES = {
    "inventory.unknown_person",
    "inventory.unknown_event",
    "inventory.duplicate_id",
    "inventory.reserved_id",
    "inventory.duplicate_link",
    "inventory.self_link",
    "inventory.duplicate_measure",
}


def issue_order(issue: Issue) -> tuple[Any, ...]:
    """Document order: ``$.persons[2]`` before ``$.persons[10]``."""
    # split on ASCII digit runs only: paths can hold any key a user sent (e.g. "x¹"), and
    # every odd part is then a run of digits, every even part text, so keys compare alike
    parts = re.split(r"([0-9]+)", issue.path)
    key = tuple(int(p) if i % 2 else p for i, p in enumerate(parts))
    return (key, issue.code, issue.message)


_ECHO_MAX = 64  # characters of a user's key echoed in a JSON path


def _short(key: str) -> str:
    """A key as echoed in a path: long keys are cut (a 10 MB key must not be echoed)."""
    if len(key) <= _ECHO_MAX:
        return key
    return f"{key[: _ECHO_MAX // 2]}…({len(key):,} chars)"


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"phq9", "hamd17", "icg", "pg13r", "ucla3", "sas_sr"}:
            continue  # discriminated-union tag, not a JSON key
        else:
            out += f".{_short(part)}"
    return out


def _issue_code(kind: str) -> str:
    if kind in _RANGE_TYPES:
        return "inventory.out_of_range"
    if kind in {"string_too_long", "too_long", "too_short"}:
        return "inventory.too_long"
    if kind == "extra_forbidden":
        return "inventory.unknown_field"
    if kind == "missing":
        return "inventory.missing_field"
    if kind in {"literal_error", "union_tag_invalid", "enum"}:
        return "inventory.unknown_value"
    if kind in {
        "string_pattern_mismatch",
        "partial_date",
        "date_from_datetime_parsing",
        "date_parsing",
        "value_error",
    }:
        return "inventory.bad_format"
    return "inventory.wrong_type"


def _issues_from(exc: ValidationError, cap: int | None = None) -> tuple[list[Issue], int]:
    """The issues of a validation error in document order, and how many there are.

    With ``cap``, only issues among the first ``cap`` errors are kept (200,000 unknown keys
    are counted, not all turned into issues and sorted)."""
    issues: list[Issue] = []
    total = 0
    for err in exc.errors(include_url=False, include_input=False):
        if err["type"] == "ipt_semantic":
            ctx = err.get("ctx") or {}
            total += len(ctx["issues"])
            issues.extend(Issue(*t) for t in ctx["issues"])
            continue
        total += 1
        if cap is None or len(issues) < cap:
            path = _json_path(tuple(err["loc"]))
            issues.append(Issue(path, _issue_code(err["type"]), err["msg"]))
    unique = sorted(set(issues), key=issue_order)
    return unique, total - (len(issues) - len(unique))


def _capped(issues: list[Issue], total: int, limits: Limits) -> tuple[Issue, ...]:
    """At most ``max_issues`` issues; a last ``inventory.more_issues`` entry counts the rest."""
    cap = limits.max_issues
    if total <= cap:
        return tuple(issues)
    more = Issue(
        "$",
        "inventory.more_issues",
        f"{total - cap:,} more issue(s) not listed (limit max_issues={cap}; raise it with "
        f"Limits(max_issues=...), {ENV_VAR} or --limit max_issues=N)",
    )
    return (*issues[:cap], more)


def _error_class(code: str) -> type[InventoryError]:
    if code == "inventory.out_of_range":
        return InventoryRangeError
    if code in _TEMPORAL_CODES:
        return InventoryTemporalError
    if code in _REFERENCE_CODES:
        return InventoryReferenceError
    if code == "inventory.contradiction":
        return InventoryError
    return InventorySchemaError


def _raise_issues(
    issues: list[Issue], total: int, limits: Limits, what: str = "inventory"
) -> NoReturn:
    listed = _capped(issues, total, limits)
    first = listed[0]
    more = f" (and {total - 1:,} more issue(s))" if total > 1 else ""
    raise _error_class(first.code)(f"invalid {what}: {first}{more}", code=first.code, issues=listed)


def _reject_constant(name: str) -> Any:
    raise MalformedInputError(f"input is not valid JSON: {name} is not a JSON number")


def _json_default(value: Any) -> Any:
    """JSON form of what a model may be built from in code: models, dates, tuples."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | frozenset | set):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    return _iso_date(value)


def _iso_date(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


_TOO_DEEP = "input is nested too deeply to be an inventory (an inventory is a few levels deep)"


def _too_large(limit: str, value: int, actual: int, what: str) -> InputTooLargeError:
    return InputTooLargeError(
        f"input too large: {what} {actual:,}, over the limit {limit}={value:,}; raise it with "
        f"Limits({limit}=...) (keyword 'limits' of parse_inventory/formulate), the environment "
        f"variable {ENV_VAR}='{limit}=N' or the command-line option --limit {limit}=N",
        limit=limit,
        value=value,
        actual=actual,
    )


def _check_bytes(nbytes: int, limits: Limits) -> None:
    if nbytes > limits.max_bytes:
        raise _too_large("max_bytes", limits.max_bytes, nbytes, "size in bytes")


def _check_counts(obj: dict[str, Any], limits: Limits) -> None:
    """List lengths, checked on the plain JSON data before the model validates it."""
    for key, limit in (
        ("persons", "max_persons"),
        ("events", "max_events"),
        ("relationships", "max_relationships"),
    ):
        items = obj.get(key)
        if isinstance(items, list | tuple) and len(items) > getattr(limits, limit):
            raise _too_large(limit, getattr(limits, limit), len(items), f"{key}:")


class _DupDict(dict[str, Any]):
    """A JSON object that had repeated keys (``dups``, in order of first repeat)."""

    __slots__ = ("dups",)
    dups: tuple[str, ...]


def _pairs_hook(found: list[None]) -> Any:
    def pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) == len(pairs):
            return d
        found.append(None)
        out = _DupDict(d)
        seen: set[str] = set()
        dups: dict[str, None] = {}
        for k, _ in pairs:
            if k in seen:
                dups[k] = None
            seen.add(k)
        out.dups = tuple(dups)
        return out

    return pairs


def _duplicate_issues(obj: Any) -> list[Issue]:
    """Every repeated key with its JSON path (an iterative walk: no recursion limit)."""
    issues: list[Issue] = []
    stack: list[tuple[str, Any]] = [("$", obj)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _DupDict):
                issues.extend(
                    Issue(
                        f"{path}.{_short(k)}",
                        "inventory.duplicate_key",
                        "key given more than once in the same object (JSON is ambiguous here: "
                        "which value is meant?)",
                    )
                    for k in node.dups
                )
            stack.extend((f"{path}.{_short(k)}", v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(node))
    return sorted(issues, key=issue_order)


def _load_json(text: str) -> tuple[Any, bool]:
    """Parse JSON text with Python's parser: (data, whether some object repeats a key).

    Objects with repeated keys are marked (:class:`_DupDict`)."""
    found: list[None] = []
    try:
        obj = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_pairs_hook(found)
        )
    except json.JSONDecodeError as exc:
        raise MalformedInputError(
            f"input is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise MalformedInputError(_TOO_DEEP) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise MalformedInputError(f"input is not usable JSON: {exc}") from None
    return obj, bool(found)


def parse_inventory(
    data: Inventory | dict[str, Any] | str | bytes, *, limits: Limits | None = None
) -> Inventory:
    """Validate an inventory given as a model, a JSON-like dict, or JSON text.

    Raises :class:`~ipt_formulate.errors.InputTooLargeError` when the input is over a limit
    (``limits``, default :func:`~ipt_formulate.limits.current_limits`; checked before the
    model validates anything), :class:`~ipt_formulate.errors.MalformedInputError` when the
    text is empty or not a JSON object, and a subclass of
    :class:`~ipt_formulate.errors.InventoryError` (chosen by the first issue) listing the
    issues with their JSON paths otherwise (at most ``limits.max_issues``, then a count).
    A key repeated in one JSON object is the issue ``inventory.duplicate_key``.
    """
    if isinstance(data, Inventory):
        return data
    lim = limits if limits is not None else current_limits()
    if isinstance(data, bytes | bytearray):
        _check_bytes(len(data), lim)
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInputError(f"input is not UTF-8 text: {exc}") from None
    if isinstance(data, str):
        if len(data) > lim.max_bytes:  # at least as many bytes as characters
            _check_bytes(len(data), lim)
        if len(data) * 4 > lim.max_bytes:  # only then can the UTF-8 size matter
            _check_bytes(len(data.encode("utf-8", "surrogatepass")), lim)
        if not data.strip():
            raise MalformedInputError("input is empty: expected a JSON object (an inventory)")
        obj, has_dups = _load_json(data)
        text = data
    else:
        obj, has_dups = data, False  # a dict cannot repeat a key
        if isinstance(obj, dict):
            _check_counts(obj, lim)
        try:
            # One code path for dicts and JSON text: dicts go through JSON, so both are
            # validated with identical (strict, JSON-mode) semantics.
            text = json.dumps(obj, allow_nan=False, default=_iso_date)
        except (TypeError, ValueError) as exc:
            raise MalformedInputError(f"inventory dict is not JSON-serialisable: {exc}") from None
        except RecursionError:
            raise MalformedInputError(_TOO_DEEP) from None
        _check_bytes(len(text), lim)  # ensure_ascii: one byte per character
    if not isinstance(obj, dict):
        raise MalformedInputError(
            f"expected a JSON object (an inventory), got {type(obj).__name__}"
        )
    _check_counts(obj, lim)
    if has_dups:
        dups = _duplicate_issues(obj)
        _raise_issues(dups, len(dups), lim)
    try:
        return Inventory.model_validate_json(text)
    except ValidationError as exc:
        bad_json = next(
            (e for e in exc.errors(include_url=False) if e["type"] == "json_invalid"), None
        )
        if bad_json is not None:  # JSON that Python's parser accepts and pydantic's does not
            raise MalformedInputError(f"input is not valid JSON: {bad_json['msg']}") from None
        _raise_issues(*_issues_from(exc, lim.max_issues), lim)


def inventory_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the inventory, as published in docs/."""
    schema = Inventory.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "IPT interpersonal inventory"
    return schema
