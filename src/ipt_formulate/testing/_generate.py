"""The direct generator of synthetic inventories: plain ``random.Random``, no Hypothesis.

Same world model as :mod:`ipt_formulate.testing` (its docstring explains it): draw a concrete
timeline first (assessment day, onset, the true day of every death and event), then write it
down as a clinician would (full or partial dates, months before onset, a qualitative
``onset_relation``, or unknown). Every record is valid by construction; nothing is drawn and
then rejected. Vocabularies come from the inventory model's ``Literal`` types, so a value the
model gains is generated without a change here.

Each record is a function of ``random.Random(f"ipt-synth:{seed}:{index}")`` and the options
only: the cohort is reproducible and prefix-stable, whatever the number of workers.

The dicts are complete (every field of the model, ``None`` for unknown), i.e. what
``parse_inventory(record).model_dump(mode="json")`` gives back.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, TypeVar, get_args

from ..inventory import (
    DAYS_PER_MONTH,
    ContactFrequency,
    Course,
    DisputeStageEvidence,
    EventKind,
    EventResponse,
    IsolationSince,
    Level,
    OnsetRelation,
    Population,
    Quality,
    Ring,
    Risk,
    Role,
    Valence,
)

__all__ = ["DEFAULT_UNKNOWN_RATE", "GenOptions", "generate", "readable_labels"]

T = TypeVar("T")

DEFAULT_UNKNOWN_RATE: Final = 0.25
"""Share of clinical attributes left unknown (``None``) when unknowns are on."""

_ROLES: Final[tuple[Role, ...]] = get_args(Role)
_RINGS: Final[tuple[Ring, ...]] = get_args(Ring)
# The important persons of an inventory are mostly close: rings drawn 2:2:1 (inner first).
_RING_DRAWS: Final = (*_RINGS[:2], *_RINGS)
_CONTACTS: Final[tuple[ContactFrequency, ...]] = get_args(ContactFrequency)
_LEVELS: Final[tuple[Level, ...]] = get_args(Level)
_QUALITIES: Final[tuple[Quality, ...]] = get_args(Quality)
_STAGES: Final[tuple[DisputeStageEvidence, ...]] = get_args(DisputeStageEvidence)
_KINDS: Final[tuple[EventKind, ...]] = tuple(k for k in get_args(EventKind) if k != "death")
_VALENCES: Final[tuple[Valence, ...]] = get_args(Valence)
_RESPONSES: Final[tuple[EventResponse, ...]] = get_args(EventResponse)
_COURSES: Final[tuple[Course, ...]] = get_args(Course)
_ISOLATION: Final[tuple[IsolationSince, ...]] = get_args(IsolationSince)
_RISKS: Final[tuple[str, ...]] = tuple(Risk.model_fields)
_BOOLS: Final = (False, True)

# Patients: a primary population with its age range and share, plus up to two more tags.
_PRIMARY: Final[dict[Population, tuple[int, int]]] = {
    "adult": (18, 64),
    "adolescent": (12, 18),
    "late_life": (60, 120),
}
_PRIMARY_SHARES: Final = (0.6, 0.15, 0.25)
_EXTRA: Final[tuple[Population, ...]] = tuple(p for p in get_args(Population) if p not in _PRIMARY)
_PERINATAL_AGES: Final = (15, 50)

# Measures: instrument -> score fields and their inclusive ranges (sas_sr: a mean, 1.0-5.0).
_MEASURES: Final[dict[str, dict[str, tuple[int, int]]]] = {
    "phq9": {"total": (0, 27), "item9": (0, 3)},
    "hamd17": {"total": (0, 52), "item3": (0, 4)},
    "icg": {"total": (0, 76)},
    "pg13r": {"total": (10, 50)},
    "ucla3": {"total": (3, 9)},
    "sas_sr": {},
}

_FIRST_ASSESSMENT: Final = date(2000, 1, 1).toordinal()
_LAST_ASSESSMENT: Final = date(2030, 12, 31).toordinal()
_MAX_ONSET_MONTHS: Final = 120  # onset at most 10 years before the assessment
_MAX_EVENT_MONTHS: Final = 240  # events at most 20 years before onset
_RECENT: Final = 6  # months: the bundled packs' default recent window
_TOLERANCE: Final = 1  # months: their dating tolerance

_P_DIES: Final = 0.15  # a person has died by the assessment
_P_DEATH_EVENT: Final = 0.7  # a death is also recorded as an event
_P_RISK: Final = 0.2  # a known risk indicator is positive
_P_MEASURE: Final = 0.4  # each instrument is recorded
_P_GRIEF_MEASURE: Final = 0.8  # ICG, PG-13-R after a bereavement (else _P_MEASURE / 3)
_GRIEF_MEASURES: Final = frozenset({"icg", "pg13r"})
_P_GRIEF_HIGH: Final = 0.6  # ... and then in the upper half of their range
_P_TEXT: Final = 0.3  # an optional free-text field is filled
_P_RELATION: Final = 0.6  # an undated event still has the clinician's onset_relation

# Free text: plain phrases, plus some that renderers must escape (quotes, <, &, non-ASCII).
_TEXTS: Final = (
    "wants more time together",
    "expects help at home",
    "less criticism",
    "to be asked, not told",
    'said "it is over" <twice> & left',
    "Zoë's move abroad",
    "calls every Sunday",
    "money worries",
)
_ROLE_NAMES: Final[dict[str, str]] = {
    "spouse_partner": "Partner",
    "former_partner": "Former partner",
    "other_family": "Relative",
    "in_law": "In-law",
    "other": "Someone",
}


@dataclass(frozen=True)
class GenOptions:
    """The realism knobs (as :class:`~ipt_formulate.audit.SynthOptions`)."""

    min_persons: int = 0
    max_persons: int = 5
    max_events: int = 5
    max_relationships: int = 4
    unknown_rate: float = DEFAULT_UNKNOWN_RATE  # 0: no unknown clinical values
    date_style: str = "mixed"  # "dates", "months" or "mixed"


class _Draw:
    """One record's random choices: the knobs and its own ``random.Random``."""

    __slots__ = ("assessed", "onset", "onset_months", "opts", "r", "u")

    def __init__(self, rng: random.Random, opts: GenOptions) -> None:
        self.r, self.opts, self.u = rng, opts, opts.unknown_rate
        self.assessed = date.fromordinal(rng.randint(_FIRST_ASSESSMENT, _LAST_ASSESSMENT))
        self.onset_months = rng.randint(0, _MAX_ONSET_MONTHS)
        self.onset = _shift(self.assessed, self.onset_months)

    def _known(self) -> float | None:
        """None at the unknown rate, else a uniform number in [0, 1) to decide the value
        with (one draw per attribute: the generator spends most of its time here)."""
        x = self.r.random()
        return None if x < self.u else (x - self.u) / (1 - self.u)

    def maybe(self, options: Sequence[T]) -> T | None:
        """Unknown at the configured rate, else one of ``options``."""
        x = self._known()
        return None if x is None else options[min(int(x * len(options)), len(options) - 1)]

    def flag(self, p_true: float = 0.5) -> bool | None:
        x = self._known()
        return None if x is None else x < p_true

    def int_or_none(self, lo: int, hi: int) -> int | None:
        return None if self.r.random() < self.u else self.r.randint(lo, hi)

    def text(self) -> str | None:
        return self.r.choice(_TEXTS) if self.r.random() < _P_TEXT else None

    def timing(self) -> str | None:
        """How a timing is written: "date", "months" or None (unknown)."""
        if self.r.random() < self.u:
            return None
        style = self.opts.date_style
        return style if style != "mixed" else self.r.choice(("date", "months"))

    def render_date(self, day: date) -> str:
        """``day`` as a full date (most often), or its month, or its year."""
        x = self.r.random()
        if x < 0.55:
            return day.isoformat()
        return f"{day.year:04d}-{day.month:02d}" if x < 0.85 else f"{day.year:04d}"

    @property
    def min_months(self) -> int:
        """Most negative whole months before onset that stay on or before the assessment
        (``date - timedelta`` drops fractions of a day, so -onset_months may land a day late)."""
        return -max(self.onset_months - 1, 0)

    def event_months(self) -> int:
        """Months before onset: half the time near onset, where the clinically interesting
        cases are, else anywhere in 20 years; never after the assessment."""
        if self.r.random() < 0.5:
            return self.r.randint(max(self.min_months, -1), _RECENT)
        return self.r.randint(self.min_months, _MAX_EVENT_MONTHS)


def _shift(day: date, months_before: float) -> date:
    """``day`` moved ``months_before`` months earlier, computed as the inventory does."""
    return day - timedelta(days=months_before * DAYS_PER_MONTH)


def _relation(d: _Draw, months: int) -> OnsetRelation:
    """The clinician's qualitative timing, true to the drawn months."""
    if months < -_TOLERANCE:
        return "after"
    if months <= _TOLERANCE:
        return "around"
    if d.r.random() < 0.3:
        return "before"
    return "months_before" if months <= _RECENT else "long_before"


def _event_timing(d: _Draw, months: int) -> dict[str, Any]:
    """``date``, ``months_before_onset`` and ``onset_relation`` of an event ``months`` before
    the true onset."""
    out: dict[str, Any] = {"date": None, "months_before_onset": None, "onset_relation": None}
    how = d.timing()
    if how == "months":
        out["months_before_onset"] = float(months)
    elif how == "date":
        out["date"] = d.render_date(_shift(d.onset, months))
    elif d.r.random() < _P_RELATION:
        out["onset_relation"] = _relation(d, months)
    return out


@dataclass
class _Person:
    fields: dict[str, Any]
    death_day: date | None  # true day of death; None: alive at the assessment
    death_months: int | None
    death_event: bool


def _could_dispute(f: dict[str, Any]) -> bool:
    """Could this person be in a role dispute (unknown values filled adversarially)?"""
    return (
        f["deceased"] is not True
        and f["ring"] in ("inner", "middle", None)
        and f["conflict"] in ("moderate", "high", None)
        and (f["patient_expectations_met"] is not True or f["other_expectations_met"] is not True)
    )


def _person(d: _Draw, pid: str, death_events_left: int) -> _Person:
    r = d.r
    dies = r.random() < _P_DIES
    event = dies and death_events_left > 0 and r.random() < _P_DEATH_EVENT
    deceased = d.maybe((True,)) if dies else d.maybe((False,))
    death_day = death_months = None
    dod = None
    if dies:
        death_months = d.event_months()
        death_day = _shift(d.onset, death_months)
        if deceased is True and d.opts.date_style != "months" and r.random() < 0.5:
            dod = d.render_date(death_day)
    f: dict[str, Any] = {
        "id": pid,
        "role": r.choice(_ROLES),
        "label": None,
        "lives_with_patient": d.flag(0.3),
        "deceased": deceased,
        "date_of_death": dod,
        "ring": d.maybe(_RING_DRAWS),
        "contact": d.maybe(("none",)) if dies else d.maybe(_CONTACTS),
        "support": d.maybe(_LEVELS),
        "confidant": d.flag(0.4),
        "conflict": d.maybe(_LEVELS),
        "knows_about_depression": d.flag(),
        "patient_expectations_met": d.flag(0.6),
        "other_expectations_met": d.flag(0.6),
        "patient_expects": d.text(),
        "other_expects": d.text(),
        "dispute_stage_evidence": None,
        "changes_wanted": r.sample(_TEXTS, r.choice((0, 0, 0, 1, 1, 2))),
        "quality_before_onset": d.maybe(_QUALITIES),
        "quality_now": d.maybe(_QUALITIES),
    }
    if _could_dispute(f):  # stage evidence only where a dispute is possible
        f["dispute_stage_evidence"] = d.maybe(_STAGES)
    return _Person(f, death_day, death_months, event)


def _participants(d: _Draw, alive: Sequence[str]) -> dict[str, Any]:
    """A subject (or none) and up to two others among the persons alive at the time."""
    if not alive:
        return {"subject": None, "others": []}
    subject = None if d.r.random() < 0.3 else d.r.choice(alive)
    rest = [p for p in alive if p != subject]
    k = min(len(rest), d.r.choice((0, 0, 1, 2)))
    return {"subject": subject, "others": d.r.sample(rest, k) if k else []}


def _event(d: _Draw, eid: str, kind: str, months: int, who: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": eid,
        "kind": kind,
        **_event_timing(d, months),
        **who,
        "valence": d.maybe(_VALENCES),
        "response": d.maybe(_RESPONSES),
        "maintains_episode": d.flag(),
        "description": d.text(),
    }


def _events(d: _Draw, pids: list[str], people: list[_Person]) -> list[dict[str, Any]]:
    """Death events first (one per person whose death is recorded so), then other events
    naming only persons alive on the day."""

    def alive_on(day: date, exclude: str | None = None) -> list[str]:
        return [
            pid
            for pid, p in zip(pids, people, strict=True)
            if pid != exclude and (p.death_day is None or day <= p.death_day)
        ]

    events: list[dict[str, Any]] = []
    for pid, p in zip(pids, people, strict=True):
        if p.death_event and p.death_day is not None and p.death_months is not None:
            present = alive_on(p.death_day, exclude=pid)
            others = d.r.sample(present, min(len(present), d.r.choice((0, 0, 1))))
            who = {"subject": pid, "others": others}
            events.append(_event(d, f"e{len(events) + 1}", "death", p.death_months, who))
    n_other = d.r.randint(0, max(d.opts.max_events - len(events), 0))
    for _ in range(n_other):
        months = d.event_months()
        who = _participants(d, alive_on(_shift(d.onset, months)))
        events.append(_event(d, f"e{len(events) + 1}", d.r.choice(_KINDS), months, who))
    return events


def _links(d: _Draw, pids: list[str]) -> list[dict[str, Any]]:
    """Up to ``max_relationships`` distinct pairs of persons, in either direction."""
    n = len(pids)
    k = d.r.randint(0, min(d.opts.max_relationships, n * (n - 1) // 2))
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    while len(pairs) < k:  # k is at most half the pairs' count or small: few repeats
        a, b = d.r.sample(range(n), 2)
        if (min(a, b), max(a, b)) not in seen:
            seen.add((min(a, b), max(a, b)))
            pairs.append((a, b))
    return [
        {
            "a": pids[a],
            "b": pids[b],
            "close": d.flag(),
            "conflict": d.maybe(_LEVELS),
            "note": d.text(),
        }
        for a, b in pairs
    ]


def _measures(d: _Draw, bereaved: bool) -> list[dict[str, Any]]:
    """At most one measure per instrument; grief scales mostly after a bereavement."""
    out = []
    for instrument, scores in _MEASURES.items():
        p = _P_MEASURE
        if instrument in _GRIEF_MEASURES:
            p = _P_GRIEF_MEASURE if bereaved else _P_MEASURE / 3
        if d.r.random() >= p:
            continue
        m: dict[str, Any] = {"date": None, "instrument": instrument}
        if d.opts.date_style != "months" and (d.u == 0 or d.r.random() < 0.5):
            m["date"] = d.render_date(d.assessed - timedelta(days=d.r.randint(0, 90)))
        if not scores:
            m["mean"] = None if d.r.random() < d.u else d.r.randint(10, 50) / 10
        for name, (lo, hi) in scores.items():
            if bereaved and instrument in _GRIEF_MEASURES and d.r.random() < _P_GRIEF_HIGH:
                lo = (lo + hi) // 2  # grief scores run high after a loss
            m[name] = d.int_or_none(lo, hi)
        out.append(m)
    return out


def _episode(d: _Draw, bereaved: bool) -> dict[str, Any]:
    ep: dict[str, Any] = {
        "assessment_date": d.assessed.isoformat(),
        "onset": None,
        "onset_months_before_assessment": None,
        "measures": _measures(d, bereaved),
    }
    how = d.timing()
    if how == "months":
        ep["onset_months_before_assessment"] = float(d.onset_months)
    elif how == "date":
        ep["onset"] = d.render_date(d.onset)
    return ep


def _patient(d: _Draw) -> dict[str, Any]:
    r = d.r
    primary = r.choices(tuple(_PRIMARY), _PRIMARY_SHARES)[0]
    lo, hi = _PRIMARY[primary]
    extras = [p for p in _EXTRA if not (primary == "late_life" and p == "perinatal")]
    tags = [primary, *r.sample(extras, r.choice((0, 0, 1, 1, 2)))]
    if "perinatal" in tags:
        lo, hi = max(lo, _PERINATAL_AGES[0]), min(hi, _PERINATAL_AGES[1])
    return {
        "age": d.int_or_none(lo, hi),
        "populations": tags,
        "course": d.maybe(_COURSES),
        "risk": {name: d.flag(_P_RISK) for name in _RISKS},
    }


def _social_history(d: _Draw) -> dict[str, Any]:
    isolation = d.flag(0.3)
    return {
        "long_standing_isolation": isolation,
        "isolated_since": None if isolation is False else d.maybe(_ISOLATION),
        "few_attachments_before_onset": d.flag(0.3),
        "confidants": d.int_or_none(0, 10),
        "prior_social_functioning": d.maybe(_QUALITIES),
    }


def readable_labels(persons: Sequence[dict[str, Any]]) -> None:
    """Labels a reader can follow, from the roles ("Friend", "Friend 2"), set in place, so
    reports on a synthetic cohort can be followed."""
    seen: dict[str, int] = {}
    for person in persons:
        role = str(person.get("role", "other"))
        seen[role] = seen.get(role, 0) + 1
        name = _ROLE_NAMES.get(role, role.replace("_", " ").capitalize())
        person["label"] = name if seen[role] == 1 else f"{name} {seen[role]}"


def generate(rng: random.Random, opts: GenOptions, record_id: str) -> dict[str, Any]:
    """One valid inventory as a complete JSON-ready dict, drawn from ``rng`` only."""
    d = _Draw(rng, opts)
    n = d.r.randint(opts.min_persons, opts.max_persons)
    pids = [f"p{i + 1}" for i in range(n)]
    people: list[_Person] = []
    for pid in pids:
        used = sum(p.death_event for p in people)
        people.append(_person(d, pid, opts.max_events - used))
    readable_labels([p.fields for p in people])
    events = _events(d, pids, people)
    view = None
    if d.u == 0 or d.r.random() < 0.5:
        view = {
            "most_important_person": d.r.choice(pids) if pids and d.r.random() < 0.7 else None,
            "most_important_event": (
                d.r.choice(events)["id"] if events and d.r.random() < 0.5 else None
            ),
            "note": d.text(),
        }
    return {
        "schema_version": "1",
        "id": record_id,
        "patient": _patient(d),
        "episode": _episode(d, any(p.death_day is not None for p in people)),
        "persons": [p.fields for p in people],
        "relationships": _links(d, pids),
        "events": events,
        "social_history": _social_history(d),
        "patient_view": view,
    }
