"""Hypothesis strategies for interpersonal inventories, valid by construction.

``st.builds``/``st.from_type`` cannot see the cross-field checks of
:class:`~ipt_formulate.inventory.Inventory`, so most of their draws are rejected. These
strategies first draw a concrete timeline (assessment, onset, the true day of every death and
event), then render it as the inventory records it (full or partial dates, months before
onset, or unknown). Every draw is valid: no ``assume`` and no rejecting ``filter``.

Small things are drawn first (the number of persons and events), so failing examples shrink
to small, readable inventories.
"""

from __future__ import annotations

import copy
import functools
import inspect
import string
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations
from typing import Any, Concatenate, Literal, NamedTuple, ParamSpec, TypeVar, get_args

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..inventory import (
    DAYS_PER_MONTH,
    HAMD17,
    ICG,
    MAX_YEAR,
    MIN_YEAR,
    PATIENT_NODE,
    PG13R,
    PHQ9,
    SASSR,
    UCLA3,
    ContactFrequency,
    Course,
    DisputeStageEvidence,
    Episode,
    EventKind,
    EventResponse,
    Inventory,
    IsolationSince,
    Level,
    LifeEvent,
    Measure,
    Patient,
    PatientView,
    Person,
    PersonLink,
    Population,
    Quality,
    Ring,
    Risk,
    Role,
    SocialHistory,
    Valence,
    date_bounds,
)

__all__ = [
    "DEFAULT_ASSESSMENT_DATES",
    "INVALID_CODES",
    "TRANSITION_KINDS",
    "DateStyle",
    "InvalidInventory",
    "episodes",
    "has_death",
    "has_dispute",
    "has_recent_transition",
    "ids",
    "invalid_inventories",
    "inventories",
    "inventory_dicts",
    "json_values",
    "life_events",
    "patients",
    "person_links",
    "persons",
    "relationships",
]

T = TypeVar("T")
P = ParamSpec("P")
DateStyle = Literal["dates", "months", "mixed"]
"""How timings are written: calendar dates, months (before onset / assessment), or both."""

DEFAULT_ASSESSMENT_DATES = (date(2000, 1, 1), date(2030, 12, 31))
"""Range of assessment dates drawn unless ``assessment_dates`` is given."""

# Dates must fall in MIN_YEAR..MAX_YEAR; events go back up to 30 years before assessment.
_MIN_ASSESSMENT, _MAX_ASSESSMENT = date(MIN_YEAR + 31, 1, 1), date(MAX_YEAR, 12, 31)
_MAX_ONSET_MONTHS = 120  # onset at most 10 years before the assessment
_MAX_EVENT_MONTHS = 240  # events at most 20 years before onset
_RECENT_WINDOW, _TOLERANCE = 6.0, 1.0  # months, as in the facts stage defaults

_ROLES: tuple[Role, ...] = get_args(Role)
_RINGS: tuple[Ring, ...] = get_args(Ring)
_CONTACTS: tuple[ContactFrequency, ...] = get_args(ContactFrequency)
_LEVELS: tuple[Level, ...] = get_args(Level)
_QUALITIES: tuple[Quality, ...] = get_args(Quality)
_STAGES: tuple[DisputeStageEvidence, ...] = get_args(DisputeStageEvidence)
_KINDS: tuple[EventKind, ...] = get_args(EventKind)
_NON_DEATH_KINDS: tuple[EventKind, ...] = tuple(k for k in _KINDS if k != "death")
_VALENCES: tuple[Valence, ...] = get_args(Valence)
_RESPONSES: tuple[EventResponse, ...] = get_args(EventResponse)
_COURSES: tuple[Course, ...] = get_args(Course)
_POPULATIONS: tuple[Population, ...] = get_args(Population)
_ISOLATION: tuple[IsolationSince, ...] = get_args(IsolationSince)
_DATE_STYLES: tuple[DateStyle, ...] = get_args(DateStyle)

TRANSITION_KINDS: tuple[EventKind, ...] = (
    "job_loss",
    "new_job",
    "promotion",
    "retirement",
    "birth",
    "pregnancy",
    "move",
    "migration",
    "marriage",
    "divorce",
    "separation",
    "graduation",
    "illness_diagnosis_self",
    "caregiving",
    "children_leaving_home",
)
"""Event kinds used for the recent transition that ``with_recent_transition=True`` adds."""

# Age ranges that keep a patient's age coherent with their population tags.
_AGE_RANGES: dict[str, tuple[int, int]] = {
    "adult": (18, 64),
    "adolescent": (12, 18),
    "late_life": (60, 120),
    "perinatal": (15, 50),
}
_PRIMARY_POPULATIONS: tuple[Population, ...] = ("adult", "adolescent", "late_life")
_EXTRA_POPULATIONS: tuple[Population, ...] = tuple(
    p for p in _POPULATIONS if p not in _PRIMARY_POPULATIONS
)

# Measure instruments: model class and the inclusive range of each integer score.
_INT_MEASURES: dict[str, tuple[type[Any], dict[str, tuple[int, int]]]] = {
    "phq9": (PHQ9, {"total": (0, 27), "item9": (0, 3)}),
    "hamd17": (HAMD17, {"total": (0, 52), "item3": (0, 4)}),
    "icg": (ICG, {"total": (0, 76)}),
    "pg13r": (PG13R, {"total": (10, 50)}),
    "ucla3": (UCLA3, {"total": (3, 9)}),
}
_INSTRUMENTS: tuple[str, ...] = (*_INT_MEASURES, "sas_sr")
_SAS_MEANS = tuple(n / 10 for n in range(10, 51))  # SAS-SR mean item score 1.0-5.0

_ID_FIRST = string.ascii_letters + string.digits
_ID_REST = _ID_FIRST + "_.-"
_TEXT = st.text(max_size=20)


# ---------------------------------------------------------------- small helpers
# Building a strategy inside a composite costs more than drawing from it (hypothesis
# validates each new strategy object), so the strategies drawn per field are cached.
_CACHE: dict[tuple[Any, ...], st.SearchStrategy[Any]] = {}
_BOOL = st.booleans()
_BOOLS = (False, True)
_OPT_TEXT = st.none() | _TEXT
_TEXTS = st.lists(_TEXT, max_size=2)


def _typed(options: Sequence[Any]) -> tuple[tuple[type, Any], ...]:
    """A cache key that tells ``False`` from ``0`` (equal, and equal hashes, in Python)."""
    return tuple((type(o), o) for o in options)


def _cached(key: tuple[Any, ...], make: Callable[[], st.SearchStrategy[Any]]) -> Any:
    if key not in _CACHE:
        if len(_CACHE) > 20_000:
            _CACHE.clear()
        _CACHE[key] = make()
    return _CACHE[key]


def _one_of(options: Sequence[T]) -> st.SearchStrategy[T]:
    """``st.sampled_from(options)``, cached; shrinks towards the first option."""
    key = ("one_of", _typed(options))
    strategy: st.SearchStrategy[T] = _cached(key, lambda: st.sampled_from(tuple(options)))
    return strategy


def _maybe(options: Sequence[T], unknowns: bool) -> st.SearchStrategy[T | None]:
    """``None`` (unknown, first so it shrinks there) or one of ``options``; only an option
    if not ``unknowns``."""
    key = ("maybe", _typed(options), unknowns)
    values = _one_of(options)
    strategy: st.SearchStrategy[T | None] = _cached(
        key, lambda: st.none() | values if unknowns else values
    )
    return strategy


def _ints(lo: int, hi: int, unknowns: bool | None = None) -> st.SearchStrategy[int | None]:
    """Integers in [lo, hi]; with ``unknowns`` also None. Cached."""
    key = ("ints", lo, hi, unknowns)
    strategy: st.SearchStrategy[int | None] = _cached(
        key, lambda: st.none() | st.integers(lo, hi) if unknowns else st.integers(lo, hi)
    )
    return strategy


def _int(draw: st.DrawFn, lo: int, hi: int) -> int:
    value = draw(_ints(lo, hi))
    assert value is not None
    return value


def _indices(draw: st.DrawFn, n: int, max_size: int) -> list[int]:
    """Distinct indices into a sequence of ``n`` items, at most ``max_size``. Cached by size,
    so it works for any sequence (of ids, pairs...)."""
    if n == 0 or max_size == 0:
        return []
    key = ("indices", n, max_size)
    strategy = _cached(key, lambda: st.lists(_one_of(range(n)), unique=True, max_size=max_size))
    chosen: list[int] = draw(strategy)
    return chosen


def _maybe_item(draw: st.DrawFn, items: Sequence[T]) -> T | None:
    """None or one of ``items`` (by index, so the strategy is cached by length)."""
    if not items:
        return None
    i = draw(_maybe(range(len(items)), True))
    return None if i is None else items[i]


def _shift(day: date, months_before: float) -> date:
    """``day`` moved ``months_before`` months earlier, computed as the inventory does."""
    return day - timedelta(days=months_before * DAYS_PER_MONTH)


def _check_style(date_style: str) -> None:
    if date_style not in _DATE_STYLES:
        raise InvalidArgument(f"date_style must be one of {_DATE_STYLES}, got {date_style!r}")


def _check_bool_or_none(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be True, False or None, got {value!r}")


def _assessment_strategy(
    assessment_dates: date | st.SearchStrategy[date] | None,
) -> st.SearchStrategy[date]:
    if assessment_dates is None:
        return _DEFAULT_DATES
    if isinstance(assessment_dates, date):
        _check_assessment(assessment_dates)
        return st.just(assessment_dates)
    if isinstance(assessment_dates, st.SearchStrategy):
        return assessment_dates
    raise InvalidArgument(
        f"assessment_dates must be a date or a strategy of dates, got {assessment_dates!r}"
    )


def _check_assessment(day: object) -> date:
    if not isinstance(day, date) or not _MIN_ASSESSMENT <= day <= _MAX_ASSESSMENT:
        raise InvalidArgument(
            f"assessment dates must be dates in [{_MIN_ASSESSMENT}, {_MAX_ASSESSMENT}], got {day!r}"
        )
    return day


def _strategy(
    check: Callable[..., object],
) -> Callable[[Callable[Concatenate[st.DrawFn, P], T]], Callable[P, st.SearchStrategy[T]]]:
    """Make a public strategy from its draw function, with one signature for both.

    As with hypothesis's own strategies, bad arguments fail when the strategy is made
    (``InvalidArgument`` from ``check``, called with every argument, defaults included), not
    at the first draw; the strategy's repr is the user's call (``inventories(max_persons=3)``).
    """

    def wrap(draw_fn: Callable[Concatenate[st.DrawFn, P], T]) -> Callable[P, st.SearchStrategy[T]]:
        composite = st.composite(draw_fn)
        sig = inspect.signature(draw_fn)

        @functools.wraps(draw_fn)
        def public(*args: P.args, **kwargs: P.kwargs) -> st.SearchStrategy[T]:
            bound = sig.bind(None, *args, **kwargs)
            bound.apply_defaults()
            knobs = dict(bound.arguments)
            del knobs["draw"]
            check(**knobs)
            return composite(*args, **kwargs)

        public.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=list(sig.parameters.values())[1:],
            return_annotation=f"st.SearchStrategy[{sig.return_annotation}]",
        )
        return public

    return wrap


def ids() -> st.SearchStrategy[str]:
    """Valid person/event ids (``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``), never ``"patient"``.

    Built from characters, not ``st.from_regex`` (which filters, and so rejects draws).
    """
    return st.builds(
        lambda first, rest: _fresh_id(first + rest, ()),
        st.sampled_from(_ID_FIRST),
        st.text(alphabet=_ID_REST, max_size=63),
    )


def _fresh_id(stem: str, used: Collection[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... whichever is not used yet (nor reserved)."""
    candidate, n = stem, 1
    while candidate in used or candidate == PATIENT_NODE:
        n += 1
        candidate = f"{stem[:56]}-{n}"
    return candidate


def _unique_ids(raw: Sequence[str]) -> list[str]:
    """``raw`` made unique by construction: a repeated id gets a ``-2``, ``-3``... suffix."""
    used: set[str] = set()
    out = []
    for stem in raw:
        out.append(_fresh_id(stem, used))
        used.add(out[-1])
    return out


# ---------------------------------------------------------------- timing
@dataclass(frozen=True)
class _Timeline:
    """The true days of the generated world; rendering decides what the inventory records."""

    assessed: date
    onset_day: date
    onset_months: int  # onset, in whole months before the assessment
    style: DateStyle
    unknowns: bool

    @property
    def min_months(self) -> int:
        """Most negative whole months before onset that stay on or before the assessment.

        ``date - timedelta`` drops fractions of a day, so -onset_months may land a day late.
        """
        return -max(self.onset_months - 1, 0)

    def day(self, months_before_onset: float) -> date:
        return _shift(self.onset_day, months_before_onset)


def _months_interval(e_lo: date, e_hi: date, o_lo: date, o_hi: date) -> tuple[float, float]:
    """Months before onset of an event, as an interval (as the facts stage computes it)."""
    return (o_lo - e_hi).days / DAYS_PER_MONTH, (o_hi - e_lo).days / DAYS_PER_MONTH


def _recent(lo: float, hi: float) -> bool | None:
    """True: certainly in the recent window before onset; False: certainly not; None: maybe."""
    if lo >= -_TOLERANCE and hi <= _RECENT_WINDOW:
        return True
    if hi < -_TOLERANCE or lo > _RECENT_WINDOW:
        return False
    return None


def _render_date(draw: st.DrawFn, day: date, ok: Callable[[date, date], bool] | None = None) -> str:
    """``day`` as a full date, or as its month or year when ``ok(lo, hi)`` allows it."""
    options = [day.isoformat()]
    for partial in (f"{day.year:04d}-{day.month:02d}", f"{day.year:04d}"):
        if ok is None or ok(*date_bounds(partial)):
            options.append(partial)
    return draw(_one_of(options))


_Timing = Literal["date", "months"] | None


def _draw_timing(draw: st.DrawFn, style: DateStyle, unknowns: bool, required: bool) -> _Timing:
    options: list[_Timing] = [] if required or not unknowns else [None]
    if style in ("dates", "mixed"):
        options.append("date")
    if style in ("months", "mixed"):
        options.append("months")
    return draw(_one_of(options))


def _draw_timeline(
    draw: st.DrawFn,
    assessment: st.SearchStrategy[date],
    style: DateStyle,
    unknowns: bool,
    precise_onset: bool,
) -> tuple[_Timeline, dict[str, Any]]:
    """A timeline and the episode's onset fields (``onset`` or months before assessment)."""
    assessed = _check_assessment(draw(assessment))
    onset_months = _int(draw, 0, _MAX_ONSET_MONTHS)
    tl = _Timeline(assessed, _shift(assessed, onset_months), onset_months, style, unknowns)
    how = _draw_timing(draw, style, unknowns, required=precise_onset)
    if how == "months":
        return tl, {"onset_months_before_assessment": float(onset_months)}
    if how == "date":
        onset = tl.onset_day.isoformat() if precise_onset else _render_date(draw, tl.onset_day)
        return tl, {"onset": onset}
    return tl, {}


def _draw_months(draw: st.DrawFn, tl: _Timeline, recent: bool | None) -> int:
    """Months before onset of an event: anywhere, certainly recent, or certainly not recent.

    Never after the assessment; ``recent=False`` keeps a margin past the tolerance.
    """
    if recent is True:
        return _int(draw, 0, 5)
    if recent is False:
        lo, hi = int(_RECENT_WINDOW) + 1, _MAX_EVENT_MONTHS
        if tl.min_months <= -2:
            key = ("not_recent", tl.min_months)
            either = _cached(key, lambda: _ints(lo, hi) | _ints(tl.min_months, -2))
            months: int = draw(either)
            return months
        return _int(draw, lo, hi)
    return _any_months(draw, tl)


def _any_months(draw: st.DrawFn, tl: _Timeline) -> int:
    """Months before onset, half the time near onset (where the clinically interesting
    cases are: a uniform draw over 20 years almost never lands there), never after the
    assessment."""
    near_lo = max(tl.min_months, -1)
    key = ("any_months", tl.min_months)
    either = _cached(
        key, lambda: _ints(near_lo, int(_RECENT_WINDOW)) | _ints(tl.min_months, _MAX_EVENT_MONTHS)
    )
    months: int = draw(either)
    return months


def _render_event_timing(
    draw: st.DrawFn, tl: _Timeline, months: int, *, recent: bool | None, required: bool
) -> dict[str, Any]:
    """``date`` or ``months_before_onset`` of an event ``months`` before the true onset.

    With ``recent`` set, a partial date is used only if it keeps the event certainly
    (True) or certainly not (False) recent; onset is then precise, so a full date always does.
    """
    how = _draw_timing(draw, tl.style, tl.unknowns, required=required)
    if how == "months":
        return {"months_before_onset": float(months)}
    if how == "date":
        o = tl.onset_day

        def ok(lo: date, hi: date) -> bool:
            return recent is None or _recent(*_months_interval(lo, hi, o, o)) is recent

        return {"date": _render_date(draw, tl.day(months), ok)}
    # undated: the clinician may still know the order (qualitative timing, true to the
    # drawn months; only the order, which no recent-window choice can contradict)
    if abs(months) > 1 and draw(st.booleans()):
        return {"onset_relation": "before" if months > 0 else "after"}
    return {}


# ---------------------------------------------------------------- persons
_DeathMode = Literal["must", "never", "any"]


@dataclass
class _PersonDraft:
    fields: dict[str, Any]
    death_day: date | None  # true day of death, None if alive in the generated world
    death_months: int | None
    death_event: bool


def _could_dispute(f: dict[str, Any]) -> bool:
    """Could this person be in a role dispute if unknown values were filled adversarially?"""
    return (
        f.get("deceased") is not True
        and f.get("ring") in ("inner", "middle", None)
        and f.get("conflict") in ("moderate", "high", None)
        and (
            f.get("patient_expectations_met") is not True
            or f.get("other_expectations_met") is not True
        )
    )


def _draw_person_draft(
    draw: st.DrawFn,
    tl: _Timeline,
    *,
    death: _DeathMode,
    dispute: bool | None,
    death_events_left: int,
) -> _PersonDraft:
    u = tl.unknowns
    f: dict[str, Any] = {"role": draw(_one_of(_ROLES))}
    f["label"] = draw(_OPT_TEXT)
    f["lives_with_patient"] = draw(_maybe(_BOOLS, u))
    dies, event = False, False
    if death == "must":
        f["deceased"] = draw(_maybe((True,), u))
        dies = event = True
    elif death == "never":
        f["deceased"] = False if dispute else draw(_maybe((False,), u))
    else:
        f["deceased"] = draw(_maybe(_BOOLS, u))
        if f["deceased"] is True:
            dies = True
            event = death_events_left > 0 and draw(_BOOL)
        elif f["deceased"] is None and death_events_left > 0:
            dies = event = draw(_BOOL)  # unknown status, but a death event says so
    death_day = death_months = None
    if dies:
        death_months = _any_months(draw, tl)
        death_day = tl.day(death_months)
        if f["deceased"] is True and tl.style != "months" and (not u or draw(_BOOL)):
            f["date_of_death"] = _render_date(draw, death_day)
    f["ring"] = draw(_maybe(_RINGS, u))
    f["contact"] = draw(_maybe(_CONTACTS, u))
    f["support"] = draw(_maybe(_LEVELS, u))
    f["confidant"] = draw(_maybe(_BOOLS, u))
    f["conflict"] = draw(_maybe(_LEVELS, u))
    f["knows_about_depression"] = draw(_maybe(_BOOLS, u))
    f["patient_expectations_met"] = draw(_maybe(_BOOLS, u))
    f["other_expectations_met"] = draw(_maybe(_BOOLS, u))
    if dispute:
        f["ring"] = draw(_one_of(("inner", "middle")))
        f["conflict"] = draw(_one_of(("moderate", "high")))
        unmet = draw(_one_of(("patient", "other", "both")))
        if unmet in ("patient", "both"):
            f["patient_expectations_met"] = False
        if unmet in ("other", "both"):
            f["other_expectations_met"] = False
    elif dispute is False and _could_dispute(f):
        breaker = draw(_one_of(("ring", "conflict", "expectations")))
        if breaker == "ring":
            f["ring"] = "outer"
        elif breaker == "conflict":
            f["conflict"] = draw(_one_of(("none", "low")))
        else:
            f["patient_expectations_met"] = f["other_expectations_met"] = True
    f["patient_expects"] = draw(_OPT_TEXT)
    f["other_expects"] = draw(_OPT_TEXT)
    if _could_dispute(f):  # stage evidence only where a dispute is possible
        f["dispute_stage_evidence"] = draw(_maybe(_STAGES, u))
    f["changes_wanted"] = tuple(draw(_TEXTS))
    f["quality_before_onset"] = draw(_maybe(_QUALITIES, u))
    f["quality_now"] = draw(_maybe(_QUALITIES, u))
    if dispute:
        # a requested dispute is linked to the episode by a worsening (the bundled packs'
        # timing gate, issue #17); unlinked disputes still come from the other persons
        f["quality_before_onset"], f["quality_now"] = "fair", "poor"
    return _PersonDraft(f, death_day, death_months, event)


# ---------------------------------------------------------------- events, links, measures
def _event_details(draw: st.DrawFn, unknowns: bool) -> dict[str, Any]:
    return {
        "valence": draw(_maybe(_VALENCES, unknowns)),
        "response": draw(_maybe(_RESPONSES, unknowns)),
        "maintains_episode": draw(_maybe(_BOOLS, unknowns)),
        "description": draw(_OPT_TEXT),
    }


def _draw_participants(
    draw: st.DrawFn, candidates: Sequence[str], with_subject: bool = True
) -> dict[str, Any]:
    if not candidates:
        return {}
    subject = _maybe_item(draw, candidates) if with_subject else None
    rest = [c for c in candidates if c != subject]
    return {"subject": subject, "others": tuple(rest[i] for i in _indices(draw, len(rest), 2))}


def _draw_link(draw: st.DrawFn, a: str, b: str, unknowns: bool) -> PersonLink:
    if draw(_BOOL):
        a, b = b, a
    return PersonLink(
        a=a,
        b=b,
        close=draw(_maybe(_BOOLS, unknowns)),
        conflict=draw(_maybe(_LEVELS, unknowns)),
        note=draw(_OPT_TEXT),
    )


def _draw_links(
    draw: st.DrawFn, person_ids: Sequence[str], max_size: int, unknowns: bool
) -> tuple[PersonLink, ...]:
    pairs = list(combinations(person_ids, 2))
    if not pairs or max_size == 0:
        return ()
    chosen = [pairs[i] for i in _indices(draw, len(pairs), max_size)]
    return tuple(_draw_link(draw, a, b, unknowns) for a, b in chosen)


def _draw_measures(draw: st.DrawFn, tl: _Timeline) -> tuple[Measure, ...]:
    out: list[Measure] = []
    for instrument in (_INSTRUMENTS[i] for i in _indices(draw, len(_INSTRUMENTS), 6)):
        fields: dict[str, Any] = {"instrument": instrument}
        if tl.style != "months" and (not tl.unknowns or draw(_BOOL)):
            fields["date"] = _render_date(draw, tl.assessed - timedelta(days=_int(draw, 0, 90)))
        if instrument == "sas_sr":
            fields["mean"] = draw(_maybe(_SAS_MEANS, tl.unknowns))
            out.append(SASSR(**fields))
            continue
        cls, ranges = _INT_MEASURES[instrument]
        for name, (lo, hi) in ranges.items():
            fields[name] = draw(_ints(lo, hi, tl.unknowns))
        out.append(cls(**fields))
    return tuple(out)


# ---------------------------------------------------------------- patient, social history
def _default_populations() -> st.SearchStrategy[tuple[Population, ...]]:
    @st.composite
    def draw_tags(draw: st.DrawFn) -> tuple[Population, ...]:
        primary = draw(_one_of(_PRIMARY_POPULATIONS))
        extras = [
            p for p in _EXTRA_POPULATIONS if not (primary == "late_life" and p == "perinatal")
        ]
        return (primary, *(extras[i] for i in _indices(draw, len(extras), 2)))

    return draw_tags()


def _populations_strategy(
    populations: st.SearchStrategy[tuple[Population, ...]] | Sequence[Population] | None,
) -> st.SearchStrategy[tuple[Population, ...]]:
    if populations is None:
        return _DEFAULT_POPULATIONS
    if isinstance(populations, st.SearchStrategy):
        return populations
    fixed = tuple(populations)
    bad = [p for p in fixed if p not in _POPULATIONS]
    if bad or isinstance(populations, str):
        raise InvalidArgument(
            f"populations must be a strategy or a tuple of {_POPULATIONS}, got {populations!r}"
        )
    return st.just(fixed)


def _draw_patient(
    draw: st.DrawFn, populations: st.SearchStrategy[tuple[Population, ...]], unknowns: bool
) -> Patient:
    tags = tuple(draw(populations))
    lo, hi = 0, 120
    for tag in tags:
        tag_lo, tag_hi = _AGE_RANGES.get(tag, (0, 120))
        lo, hi = max(lo, tag_lo), min(hi, tag_hi)
    age = draw(_ints(lo, hi, unknowns)) if lo <= hi else None
    risk = Risk(**{name: draw(_maybe(_BOOLS, unknowns)) for name in Risk.model_fields})
    return Patient(
        age=age,
        populations=tags,
        course=draw(_maybe(_COURSES, unknowns)),
        risk=risk,
    )


def _draw_social_history(draw: st.DrawFn, unknowns: bool) -> SocialHistory:
    isolation = draw(_maybe(_BOOLS, unknowns))
    since = draw(_maybe(_ISOLATION, unknowns)) if isolation is not False else None
    if isolation is None and not unknowns:
        since = None
    return SocialHistory(
        long_standing_isolation=isolation,
        isolated_since=since,
        few_attachments_before_onset=draw(_maybe(_BOOLS, unknowns)),
        confidants=draw(_ints(0, 10, unknowns)),
        prior_social_functioning=draw(_maybe(_QUALITIES, unknowns)),
    )


# ---------------------------------------------------------------- public: parts
# Each public strategy is its draw function under @_strategy: one signature, its arguments
# checked when the strategy is made.
_IDS = ids()
_DEFAULT_POPULATIONS = _default_populations()
_DEFAULT_DATES = st.dates(*DEFAULT_ASSESSMENT_DATES)
_Populations = st.SearchStrategy[tuple[Population, ...]] | Sequence[Population] | None
_AssessmentDates = date | st.SearchStrategy[date] | None


def _check_person(
    *, deceased: object, dispute: object, date_style: str, latest_date: object, **_: object
) -> None:
    _check_style(date_style)
    _check_bool_or_none("deceased", deceased)
    _check_bool_or_none("dispute", dispute)
    _check_assessment(latest_date)
    if deceased and dispute:
        raise InvalidArgument("a deceased person cannot be a dispute counterparty")


@_strategy(_check_person)
def persons(
    draw: st.DrawFn,
    *,
    id_strategy: st.SearchStrategy[str] | None = None,
    unknowns: bool = True,
    deceased: bool | None = None,
    dispute: bool | None = None,
    date_style: DateStyle = "mixed",
    latest_date: date = DEFAULT_ASSESSMENT_DATES[1],
) -> Person:
    """One :class:`Person`. ``deceased``: True = died on or before ``latest_date``, False =
    alive (``deceased=False``), None = either, or unknown. ``dispute``: True = a role dispute
    counterparty (see :func:`has_dispute`), False = certainly not one, None = either."""
    tl = _Timeline(latest_date, latest_date, 0, date_style, unknowns)
    mode: _DeathMode = "any" if deceased is None else "must" if deceased else "never"
    draft = _draw_person_draft(draw, tl, death=mode, dispute=dispute, death_events_left=0)
    if deceased is not None:
        draft.fields["deceased"] = deceased
    return Person(id=draw(_IDS if id_strategy is None else id_strategy), **draft.fields)


def _check_life_event(
    *, kinds: Sequence[str] | None, date_style: str, latest_date: object, **_: object
) -> None:
    _check_style(date_style)
    _check_assessment(latest_date)
    if kinds is not None and (not kinds or any(k not in _KINDS for k in kinds)):
        raise InvalidArgument(f"kinds must be a non-empty sequence of {_KINDS}, got {kinds!r}")


@_strategy(_check_life_event)
def life_events(
    draw: st.DrawFn,
    *,
    id_strategy: st.SearchStrategy[str] | None = None,
    person_ids: Sequence[str] = (),
    kinds: Sequence[EventKind] | None = None,
    unknowns: bool = True,
    date_style: DateStyle = "mixed",
    latest_date: date = DEFAULT_ASSESSMENT_DATES[1],
) -> LifeEvent:
    """One :class:`LifeEvent`, dated on or before ``latest_date`` or placed before onset,
    naming persons of ``person_ids``. For events that must agree with the rest of an
    inventory (deaths, dates of death, who is alive when) use :func:`inventories`."""
    tl = _Timeline(latest_date, latest_date, 0, date_style, unknowns)
    kind = draw(_one_of(_KINDS if kinds is None else tuple(kinds)))
    months = _any_months(draw, tl)
    timing = _render_event_timing(draw, tl, months, recent=None, required=not unknowns)
    return LifeEvent(
        id=draw(_IDS if id_strategy is None else id_strategy),
        kind=kind,
        **timing,
        **_draw_participants(draw, tuple(dict.fromkeys(person_ids))),
        **_event_details(draw, unknowns),
    )


def _check_two_persons(*, person_ids: Sequence[str], **_: object) -> None:
    if len(set(person_ids)) < 2:
        raise InvalidArgument(f"person_links needs two distinct person ids, got {person_ids!r}")


@_strategy(_check_two_persons)
def person_links(
    draw: st.DrawFn, person_ids: Sequence[str], *, unknowns: bool = True
) -> PersonLink:
    """One :class:`PersonLink` between two different persons of ``person_ids``."""
    a, b = draw(st.sampled_from(list(combinations(dict.fromkeys(person_ids), 2))))
    return _draw_link(draw, a, b, unknowns)


def _check_max_size(*, max_size: int | None, **_: object) -> None:
    if max_size is not None:
        _check_count("max_size", max_size)


@_strategy(_check_max_size)
def relationships(
    draw: st.DrawFn,
    person_ids: Sequence[str],
    *,
    max_size: int | None = None,
    unknowns: bool = True,
) -> tuple[PersonLink, ...]:
    """A valid ``Inventory.relationships`` tuple over ``person_ids``: no self-links and no
    pair twice, in either direction."""
    distinct = tuple(dict.fromkeys(person_ids))
    limit = len(distinct) * (len(distinct) - 1) // 2
    return _draw_links(draw, distinct, limit if max_size is None else max_size, unknowns)


def _check_episode(*, assessment_dates: _AssessmentDates, date_style: str, **_: object) -> None:
    _check_style(date_style)
    _assessment_strategy(assessment_dates)


@_strategy(_check_episode)
def episodes(
    draw: st.DrawFn,
    *,
    assessment_dates: _AssessmentDates = None,
    date_style: DateStyle = "mixed",
    unknowns: bool = True,
) -> Episode:
    """One :class:`Episode`: the assessment date, an onset not after it, and at most one
    measure per instrument, none dated after the assessment."""
    assessment = _assessment_strategy(assessment_dates)
    tl, onset = _draw_timeline(draw, assessment, date_style, unknowns, precise_onset=False)
    return Episode(assessment_date=tl.assessed, **onset, measures=_draw_measures(draw, tl))


def _check_populations(*, populations: _Populations, **_: object) -> None:
    _populations_strategy(populations)


@_strategy(_check_populations)
def patients(
    draw: st.DrawFn, *, populations: _Populations = None, unknowns: bool = True
) -> Patient:
    """One :class:`Patient`. ``populations``: a strategy or a fixed tuple of population tags
    (default: adult, adolescent or late_life plus up to two more); the age fits the tags."""
    return _draw_patient(draw, _populations_strategy(populations), unknowns)


# ---------------------------------------------------------------- public: inventories
def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(f"{name} must be a non-negative int, got {value!r}")


def _check_inventory_knobs(
    *,
    min_persons: int,
    max_persons: int,
    max_events: int,
    max_relationships: int,
    with_death: bool | None,
    with_dispute: bool | None,
    with_recent_transition: bool | None,
    populations: _Populations,
    date_style: DateStyle,
    assessment_dates: _AssessmentDates,
    exclude_defaults: bool | None = None,
    **_: object,
) -> None:
    for name, value in (
        ("min_persons", min_persons),
        ("max_persons", max_persons),
        ("max_events", max_events),
        ("max_relationships", max_relationships),
    ):
        _check_count(name, value)
    for name, flag in (
        ("with_death", with_death),
        ("with_dispute", with_dispute),
        ("with_recent_transition", with_recent_transition),
        ("exclude_defaults", exclude_defaults),
    ):
        _check_bool_or_none(name, flag)
    _check_style(date_style)
    _populations_strategy(populations)
    _assessment_strategy(assessment_dates)
    if min_persons > max_persons:
        raise InvalidArgument(f"min_persons={min_persons} > max_persons={max_persons}")
    need_persons = (with_death is True) + (with_dispute is True)
    if max_persons < need_persons:
        raise InvalidArgument(
            f"max_persons={max_persons} is too small: the death and the dispute need "
            f"{need_persons} different person(s)"
        )
    need_events = (with_death is True) + (with_recent_transition is True)
    if max_events < need_events:
        raise InvalidArgument(
            f"max_events={max_events} is too small: the death and the transition need "
            f"{need_events} event(s)"
        )


def _draw_drafts(
    draw: st.DrawFn,
    tl: _Timeline,
    n_persons: int,
    death_budget: int,
    with_death: bool | None,
    with_dispute: bool | None,
) -> list[_PersonDraft]:
    """The persons' drafts; the person who dies and the dispute counterparty differ."""
    death_idx = _int(draw, 0, n_persons - 1) if with_death else None
    dispute_idx = None
    if with_dispute:
        dispute_idx = draw(_one_of([i for i in range(n_persons) if i != death_idx]))
    drafts: list[_PersonDraft] = []
    for i in range(n_persons):
        mode: _DeathMode = "any"
        if i == death_idx:
            mode = "must"
        elif with_death is False or i == dispute_idx:
            mode = "never"
        used = sum(d.death_event for d in drafts)
        reserved = int(death_idx is not None and i < death_idx)
        drafts.append(
            _draw_person_draft(
                draw,
                tl,
                death=mode,
                dispute=True if i == dispute_idx else False if with_dispute is False else None,
                death_events_left=death_budget - used - reserved,
            )
        )
    return drafts


@dataclass
class _Cast:
    """The persons of an inventory being drawn, and who is alive when."""

    pids: list[str]
    drafts: list[_PersonDraft]

    def alive_on(self, day: date, exclude: str | None = None) -> list[str]:
        return [
            pid
            for pid, d in zip(self.pids, self.drafts, strict=True)
            if pid != exclude and (d.death_day is None or day <= d.death_day)
        ]


def _death_events(
    draw: st.DrawFn, tl: _Timeline, cast: _Cast, new_id: Callable[[], str], unknowns: bool
) -> list[LifeEvent]:
    events: list[LifeEvent] = []
    for pid, d in zip(cast.pids, cast.drafts, strict=True):
        if d.death_event and d.death_day is not None and d.death_months is not None:
            timing = _render_event_timing(
                draw, tl, d.death_months, recent=None, required=not unknowns
            )
            present = cast.alive_on(d.death_day, exclude=pid)
            others = [present[i] for i in _indices(draw, len(present), 2)]
            events.append(
                LifeEvent(
                    id=new_id(),
                    kind="death",
                    subject=pid,
                    others=tuple(others),
                    **timing,
                    **_event_details(draw, unknowns),
                )
            )
    return events


def _other_events(
    draw: st.DrawFn,
    tl: _Timeline,
    cast: _Cast,
    new_id: Callable[[], str],
    n_other: int,
    with_recent_transition: bool | None,
    unknowns: bool,
) -> list[LifeEvent]:
    events: list[LifeEvent] = []
    for i in range(n_other):
        forced = with_recent_transition is True and i == 0
        recent = True if forced else False if with_recent_transition is False else None
        kind = draw(_one_of(TRANSITION_KINDS if forced else _NON_DEATH_KINDS))
        months = _draw_months(draw, tl, recent)
        timing = _render_event_timing(
            draw, tl, months, recent=recent, required=recent is not None or not unknowns
        )
        events.append(
            LifeEvent(
                id=new_id(),
                kind=kind,
                **timing,
                **_draw_participants(draw, cast.alive_on(tl.day(months))),
                **_event_details(draw, unknowns),
            )
        )
    return events


def _draw_ids(draw: st.DrawFn, n: int, id_strategy: st.SearchStrategy[str] | None) -> list[str]:
    if id_strategy is None:  # unique by construction: no rejected draws
        return _unique_ids(draw(st.lists(_IDS, min_size=n, max_size=n)))
    # the user's ids, unique by hypothesis (which retries duplicates)
    users = id_strategy.filter(lambda s: s != PATIENT_NODE)
    return draw(st.lists(users, unique=True, min_size=n, max_size=n))


@_strategy(_check_inventory_knobs)
def inventories(
    draw: st.DrawFn,
    *,
    min_persons: int = 0,
    max_persons: int = 5,
    max_events: int = 5,
    max_relationships: int = 4,
    with_death: bool | None = None,
    with_dispute: bool | None = None,
    with_recent_transition: bool | None = None,
    unknowns: bool = True,
    populations: _Populations = None,
    date_style: DateStyle = "mixed",
    assessment_dates: _AssessmentDates = None,
    id_strategy: st.SearchStrategy[str] | None = None,
) -> Inventory:
    """Valid :class:`Inventory` models: every draw passes ``parse_inventory``.

    ``with_death``, ``with_dispute``, ``with_recent_transition``: True = at least one, False
    = none even if unknown values were filled in, None = maybe (definitions:
    :func:`has_death`, :func:`has_dispute`, :func:`has_recent_transition`). Deciding
    ``with_recent_transition`` makes the onset precise and, if False, every non-death event
    timed. ``unknowns=False``: no clinical attribute is None; free text, references and
    timings that ``date_style`` cannot express may still be absent.
    """
    # Counts first: they shrink first, to small readable inventories.
    n_persons = _int(
        draw, max(min_persons, (with_death is True) + (with_dispute is True)), max_persons
    )
    tl, onset = _draw_timeline(
        draw,
        _assessment_strategy(assessment_dates),
        date_style,
        unknowns,
        precise_onset=with_recent_transition is not None,
    )
    death_budget = max_events - (with_recent_transition is True)
    drafts = _draw_drafts(draw, tl, n_persons, death_budget, with_death, with_dispute)
    n_death = sum(d.death_event for d in drafts)
    n_other = _int(draw, int(with_recent_transition is True), max_events - n_death)
    all_ids = _draw_ids(draw, n_persons + n_death + n_other, id_strategy)
    cast = _Cast(all_ids[:n_persons], drafts)
    new_id = iter(all_ids[n_persons:]).__next__
    events = _death_events(draw, tl, cast, new_id, unknowns)
    events += _other_events(draw, tl, cast, new_id, n_other, with_recent_transition, unknowns)
    view = None
    if not unknowns or draw(_BOOL):
        view = PatientView(
            most_important_person=_maybe_item(draw, cast.pids),
            most_important_event=_maybe_item(draw, [e.id for e in events]),
            note=draw(_OPT_TEXT),
        )
    return Inventory(
        id=draw(_OPT_TEXT),
        patient=_draw_patient(draw, _populations_strategy(populations), unknowns),
        episode=Episode(assessment_date=tl.assessed, **onset, measures=_draw_measures(draw, tl)),
        persons=tuple(Person(id=p, **d.fields) for p, d in zip(cast.pids, drafts, strict=True)),
        relationships=_draw_links(draw, cast.pids, max_relationships, unknowns),
        events=tuple(events),
        social_history=_draw_social_history(draw, unknowns),
        patient_view=view,
    )


@_strategy(_check_inventory_knobs)
def inventory_dicts(
    draw: st.DrawFn,
    *,
    min_persons: int = 0,
    max_persons: int = 5,
    max_events: int = 5,
    max_relationships: int = 4,
    with_death: bool | None = None,
    with_dispute: bool | None = None,
    with_recent_transition: bool | None = None,
    unknowns: bool = True,
    populations: _Populations = None,
    date_style: DateStyle = "mixed",
    assessment_dates: _AssessmentDates = None,
    id_strategy: st.SearchStrategy[str] | None = None,
    exclude_defaults: bool | None = False,
) -> dict[str, Any]:
    """JSON-ready dicts of valid inventories (``model_dump(mode="json")``), with the knobs
    of :func:`inventories`. ``exclude_defaults``: leave out fields at their default (None =
    sometimes), as hand-written input often does."""
    inv = draw(
        inventories(
            min_persons=min_persons,
            max_persons=max_persons,
            max_events=max_events,
            max_relationships=max_relationships,
            with_death=with_death,
            with_dispute=with_dispute,
            with_recent_transition=with_recent_transition,
            unknowns=unknowns,
            populations=populations,
            date_style=date_style,
            assessment_dates=assessment_dates,
            id_strategy=id_strategy,
        )
    )
    exclude = draw(_BOOL) if exclude_defaults is None else exclude_defaults
    return inv.model_dump(mode="json", exclude_defaults=exclude)


# ---------------------------------------------------------------- predicates
def has_death(inv: Inventory, *, certain: bool = True) -> bool:
    """A death: a death event whose subject is a person not marked ``deceased=False``.

    ``certain=False`` also counts any death event, ``deceased=True`` or a date of death.
    """
    status = {p.id: p.deceased for p in inv.persons}
    if any(
        e.kind == "death" and e.subject in status and status[e.subject] is not False
        for e in inv.events
    ):
        return True
    if certain:
        return False
    return any(e.kind == "death" for e in inv.events) or any(
        p.deceased is True or p.date_of_death is not None for p in inv.persons
    )


def has_dispute(inv: Inventory, *, certain: bool = True) -> bool:
    """A role dispute: a living person in the inner or middle ring, moderate or high
    conflict, and expectations unmet on at least one side.

    ``certain=False``: could be one if unknown values were filled in (``deceased`` not True,
    ring/conflict unknown or matching, an expectation not known to be met).
    """
    if certain:
        return any(
            p.deceased is False
            and p.ring in ("inner", "middle")
            and p.conflict in ("moderate", "high")
            and (p.patient_expectations_met is False or p.other_expectations_met is False)
            for p in inv.persons
        )
    return any(_could_dispute(p.model_dump()) for p in inv.persons)


def has_recent_transition(inv: Inventory, *, certain: bool = True) -> bool:
    """A non-death event 0-6 months before onset (1 month of tolerance after onset, as the
    facts stage defaults to). ``certain=False`` also counts events that might be recent: an
    imprecise date or onset, or no timing at all."""
    onset = inv.onset_bounds()
    for e in inv.events:
        if e.kind == "death":
            continue
        recent: bool | None = None
        if e.months_before_onset is not None:
            recent = _recent(e.months_before_onset, e.months_before_onset)
        elif e.date is not None and onset is not None:
            recent = _recent(*_months_interval(*date_bounds(e.date), *onset))
        if recent is True or (recent is None and not certain):
            return True
    return False


# ---------------------------------------------------------------- invalid inventories
class InvalidInventory(NamedTuple):
    """An inventory dict with exactly one defect and the issue code it must raise."""

    data: dict[str, Any]
    code: str


_Mutator = Callable[[st.DrawFn, dict[str, Any]], None]


@dataclass(frozen=True)
class _Defect:
    code: str
    min_persons: int
    mutate: _Mutator
    dates_only: bool = False  # the defect moves onset: keep events off months-before-onset


def _used_ids(d: dict[str, Any]) -> set[str]:
    return {p["id"] for p in d["persons"]} | {e["id"] for e in d["events"]}


def _new_id(draw: st.DrawFn, d: dict[str, Any]) -> str:
    return _fresh_id(draw(ids()), _used_ids(d))


def _assessed(d: dict[str, Any]) -> date:
    return date.fromisoformat(d["episode"]["assessment_date"])


def _pick(draw: st.DrawFn, items: Sequence[T]) -> T:
    return draw(st.sampled_from(items))


def _later_date(draw: st.DrawFn, d: dict[str, Any]) -> str:
    """A (partial) date that starts after the assessment."""
    after = _assessed(d) + timedelta(days=_int(draw, 1, 800))
    return _render_date(draw, after, lambda lo, _hi: lo > _assessed(d))


def _earlier_day(draw: st.DrawFn, d: dict[str, Any]) -> date:
    return _assessed(d) - timedelta(days=_int(draw, 0, 3000))


def _unknown_person(draw: st.DrawFn, d: dict[str, Any]) -> None:
    ghost = _new_id(draw, d)
    where = _pick(
        draw,
        ["event_subject", "event_other", "link", "view"]
        if d["persons"]
        else ["event_subject", "event_other", "view"],
    )
    if where == "link":
        d["relationships"].append({"a": _pick(draw, [p["id"] for p in d["persons"]]), "b": ghost})
    elif where == "view":
        d["patient_view"] = {**(d["patient_view"] or {}), "most_important_person": ghost}
    else:
        key = "subject" if where == "event_subject" else "others"
        value: Any = ghost if key == "subject" else [ghost]
        d["events"].append(
            {
                "id": _fresh_id(ghost + "-e", _used_ids(d) | {ghost}),
                "kind": _pick(draw, _KINDS),
                key: value,
            }
        )


def _unknown_event(draw: st.DrawFn, d: dict[str, Any]) -> None:
    d["patient_view"] = {**(d["patient_view"] or {}), "most_important_event": _new_id(draw, d)}


def _duplicate_id(draw: st.DrawFn, d: dict[str, Any]) -> None:
    taken = sorted(_used_ids(d))
    if draw(_BOOL) and d["persons"]:
        d["persons"].append(
            {"id": _pick(draw, [p["id"] for p in d["persons"]]), "role": _pick(draw, _ROLES)}
        )
    else:
        d["events"].append({"id": _pick(draw, taken), "kind": _pick(draw, _NON_DEATH_KINDS)})


def _duplicate_measure(draw: st.DrawFn, d: dict[str, Any]) -> None:
    measures = d["episode"]["measures"]
    if not measures:
        measures.append({"instrument": _pick(draw, _INSTRUMENTS)})
    measures.append({"instrument": _pick(draw, measures)["instrument"]})


def _reserved_id(draw: st.DrawFn, d: dict[str, Any]) -> None:
    if draw(_BOOL):
        d["persons"].append({"id": PATIENT_NODE, "role": _pick(draw, _ROLES)})
    else:
        d["events"].append({"id": PATIENT_NODE, "kind": _pick(draw, _NON_DEATH_KINDS)})


def _self_link(draw: st.DrawFn, d: dict[str, Any]) -> None:
    pid = _pick(draw, [p["id"] for p in d["persons"]])
    d["relationships"].append({"a": pid, "b": pid})


def _duplicate_link(draw: st.DrawFn, d: dict[str, Any]) -> None:
    links = d["relationships"]
    if not links:
        a, b = d["persons"][0]["id"], d["persons"][1]["id"]
        links.append({"a": a, "b": b})
    link = _pick(draw, links)
    a, b = (link["b"], link["a"]) if draw(_BOOL) else (link["a"], link["b"])
    links.append({"a": a, "b": b})


def _after_assessment(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(draw, ["event", "measure", "date_of_death"])
    later = _later_date(draw, d)
    if where == "event":
        d["events"].append({"id": _new_id(draw, d), "kind": _pick(draw, _KINDS), "date": later})
    elif where == "measure":
        taken = {m["instrument"] for m in d["episode"]["measures"]}
        free = [i for i in _INSTRUMENTS if i not in taken]
        if free:
            d["episode"]["measures"].append({"instrument": _pick(draw, free), "date": later})
        else:
            _pick(draw, d["episode"]["measures"])["date"] = later
    else:
        d["persons"].append(
            {
                "id": _new_id(draw, d),
                "role": _pick(draw, _ROLES),
                "deceased": _pick(draw, [True, None]),
                "date_of_death": later,
            }
        )


def _onset_after_assessment(draw: st.DrawFn, d: dict[str, Any]) -> None:
    d["episode"].pop("onset_months_before_assessment", None)
    d["episode"]["onset"] = _later_date(draw, d)


def _ambiguous_timing(draw: st.DrawFn, d: dict[str, Any]) -> None:
    if draw(_BOOL):
        d["episode"]["onset"] = _earlier_day(draw, d).isoformat()
        d["episode"]["onset_months_before_assessment"] = float(_int(draw, 0, 120))
    else:
        d["events"].append(
            {
                "id": _new_id(draw, d),
                "kind": _pick(draw, _NON_DEATH_KINDS),
                "date": _earlier_day(draw, d).isoformat(),
                "months_before_onset": float(_int(draw, -12, 120)),
            }
        )


def _deceased_participant(draw: st.DrawFn, d: dict[str, Any]) -> None:
    event_day = _assessed(d) - timedelta(days=_int(draw, 0, 1000))
    death_day = event_day - timedelta(days=_int(draw, 1, 1000))
    pid = _new_id(draw, d)
    d["persons"].append(
        {
            "id": pid,
            "role": _pick(draw, _ROLES),
            "deceased": True,
            "date_of_death": death_day.isoformat(),
        }
    )
    key = _pick(draw, ["subject", "others"])
    d["events"].append(
        {
            "id": _fresh_id(pid + "-e", _used_ids(d)),
            "kind": _pick(draw, _NON_DEATH_KINDS),
            "date": event_day.isoformat(),
            key: pid if key == "subject" else [pid],
        }
    )


def _contradiction(draw: st.DrawFn, d: dict[str, Any]) -> None:
    pid = _new_id(draw, d)
    person: dict[str, Any] = {"id": pid, "role": _pick(draw, _ROLES), "deceased": False}
    d["persons"].append(person)
    if draw(_BOOL):
        person["date_of_death"] = _earlier_day(draw, d).isoformat()
    else:
        d["events"].append(
            {"id": _fresh_id(pid + "-e", _used_ids(d)), "kind": "death", "subject": pid}
        )


def _out_of_range(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(
        draw, ["measure", "age", "confidants", "onset_months", "event_months", "assessment_date"]
    )
    beyond = st.integers(1, 1000)
    if where == "measure":
        instrument = _pick(draw, _INSTRUMENTS)
        d["episode"]["measures"] = [
            m for m in d["episode"]["measures"] if m["instrument"] != instrument
        ]
        if instrument == "sas_sr":
            value: Any = draw(st.sampled_from([0.9, 0.0, 5.1, 6.0, -1.0]))
            d["episode"]["measures"].append({"instrument": instrument, "mean": value})
            return
        _cls, ranges = _INT_MEASURES[instrument]
        name = _pick(draw, list(ranges))
        lo, hi = ranges[name]
        value = hi + draw(beyond) if draw(_BOOL) else lo - draw(beyond)
        d["episode"]["measures"].append({"instrument": instrument, name: value})
    elif where == "age":
        d["patient"]["age"] = _pick(draw, [121 + draw(beyond), -draw(beyond)])
    elif where == "confidants":
        d["social_history"]["confidants"] = _pick(draw, [101 + draw(beyond), -draw(beyond)])
    elif where == "onset_months":
        d["episode"]["onset_months_before_assessment"] = float(
            _pick(draw, [1200 + draw(beyond), -draw(beyond)])
        )
    elif where == "event_months":
        months = float(_pick(draw, [1200 + draw(beyond), -1200 - draw(beyond)]))
        d["events"].append(
            {"id": _new_id(draw, d), "kind": _pick(draw, _KINDS), "months_before_onset": months}
        )
    else:
        too_early = date(MIN_YEAR, 1, 1) - timedelta(days=draw(beyond))
        too_late = date(MAX_YEAR, 12, 31) + timedelta(days=draw(beyond))
        d["episode"]["assessment_date"] = _pick(draw, [too_early, too_late]).isoformat()


def _too_long(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(draw, ["label", "description", "record_id"])
    extra = _int(draw, 1, 100)
    if where == "label":
        new = {"id": _new_id(draw, d), "role": _pick(draw, _ROLES), "label": "x" * (2000 + extra)}
        d["persons"].append(new)
    elif where == "description":
        text = "y" * (2000 + extra)
        d["events"].append({"id": _new_id(draw, d), "kind": "other", "description": text})
    else:
        d["id"] = "r" * (200 + extra)


def _unknown_field(draw: st.DrawFn, d: dict[str, Any]) -> None:
    targets: list[dict[str, Any]] = [
        d,
        d["patient"],
        d["patient"]["risk"],
        d["episode"],
        d["social_history"],
    ]
    targets += d["persons"] + d["events"] + d["relationships"] + list(d["episode"]["measures"])
    if d["patient_view"] is not None:
        targets.append(d["patient_view"])
    target = _pick(draw, targets)
    stem = draw(
        st.sampled_from(["extra", "Ring", "personId", "notes"])
        | st.from_regex(r"x_[a-z]{1,8}", fullmatch=True)
    )
    key = stem
    while key in target:
        key += "_"
    target[key] = draw(st.none() | st.booleans() | st.integers() | _TEXT)


def _wrong_type(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(
        draw, ["age", "bool", "label", "persons", "assessment_date", "events", "measure_total"]
    )
    if where == "age":
        d["patient"]["age"] = _pick(draw, ["42", 42.5, [42], True])
    elif where == "bool":
        d["patient"]["risk"][_pick(draw, sorted(Risk.model_fields))] = _pick(
            draw, ["yes", 1, 0, "true", []]
        )
    elif where == "label":
        d["persons"].append(
            {
                "id": _new_id(draw, d),
                "role": _pick(draw, _ROLES),
                "label": _pick(draw, [5, True, ["a"], {"a": 1}]),
            }
        )
    elif where == "persons":
        d["persons"] = _pick(draw, [{}, "p1", 3])
    elif where == "assessment_date":
        d["episode"]["assessment_date"] = _pick(draw, [20200101, 2020.5, None, ["2020-01-01"]])
    elif where == "events":
        d["events"] = _pick(draw, [{"id": "e"}, "e1", True])
    else:
        instrument = _pick(draw, list(_INT_MEASURES))
        d["episode"]["measures"] = [
            m for m in d["episode"]["measures"] if m["instrument"] != instrument
        ]
        d["episode"]["measures"].append(
            {"instrument": instrument, "total": _pick(draw, ["5", 5.5, [5]])}
        )


def _missing_field(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(
        draw,
        [
            "episode",
            "assessment_date",
            "person_role",
            "person_id",
            "event_kind",
            "event_id",
            "link_end",
        ],
    )
    if where == "episode":
        del d["episode"]
    elif where == "assessment_date":
        del d["episode"]["assessment_date"]
    elif where.startswith("person"):
        person: dict[str, Any] = {"id": _new_id(draw, d), "role": _pick(draw, _ROLES)}
        del person[where.removeprefix("person_")]
        d["persons"].append(person)
    elif where.startswith("event"):
        event: dict[str, Any] = {"id": _new_id(draw, d), "kind": _pick(draw, _NON_DEATH_KINDS)}
        del event[where.removeprefix("event_")]
        d["events"].append(event)
    else:
        d["relationships"].append({_pick(draw, ["a", "b"]): d["persons"][0]["id"]})


def _unknown_value(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(
        draw, ["role", "ring", "kind", "course", "population", "instrument", "schema_version"]
    )
    bogus = draw(st.sampled_from(["wizard", "Inner", "acute", "", "child ", "bdi2"]))
    if where in ("role", "ring"):
        d["persons"].append(
            {
                "id": _new_id(draw, d),
                "role": bogus if where == "role" else "friend",
                **({"ring": bogus} if where == "ring" else {}),
            }
        )
    elif where == "kind":
        d["events"].append({"id": _new_id(draw, d), "kind": bogus})
    elif where == "course":
        d["patient"]["course"] = bogus
    elif where == "population":
        d["patient"]["populations"] = [*d["patient"]["populations"], bogus]
    elif where == "instrument":
        d["episode"]["measures"].append({"instrument": bogus})
    else:
        d["schema_version"] = _pick(draw, ["2", "1.0", "v1"])


def _bad_format(draw: st.DrawFn, d: dict[str, Any]) -> None:
    where = _pick(
        draw, ["event_date", "onset", "date_of_death", "measure_date", "assessment_date", "id"]
    )
    bad_partial = draw(
        st.sampled_from(
            [
                "2020-13",
                "2021-02-30",
                "2020/01",
                "20201",
                "2020-1",
                "99",
                "2020-00",
                "2020-01-32",
                "2020-1-1",
                f"{MIN_YEAR - 1}",
                f"{MAX_YEAR + 1}-01",
            ]
        )
    )
    if where == "event_date":
        d["events"].append(
            {"id": _new_id(draw, d), "kind": _pick(draw, _NON_DEATH_KINDS), "date": bad_partial}
        )
    elif where == "onset":
        d["episode"].pop("onset_months_before_assessment", None)
        d["episode"]["onset"] = bad_partial
    elif where == "date_of_death":
        d["persons"].append(
            {
                "id": _new_id(draw, d),
                "role": _pick(draw, _ROLES),
                "deceased": True,
                "date_of_death": bad_partial,
            }
        )
    elif where == "measure_date":
        instrument = _pick(draw, _INSTRUMENTS)
        d["episode"]["measures"] = [
            m for m in d["episode"]["measures"] if m["instrument"] != instrument
        ]
        d["episode"]["measures"].append({"instrument": instrument, "date": bad_partial})
    elif where == "assessment_date":
        d["episode"]["assessment_date"] = _pick(
            draw, ["2020", "2020-13-01", "2021-02-30", "01/02/2020", "2020-01"]
        )
    else:
        bad_id = draw(st.sampled_from(["", "bad id", "-x", "_x", "é", "x" * 65, "a/b"]))
        d["persons"].append({"id": bad_id, "role": _pick(draw, _ROLES)})


_DEFECTS: tuple[_Defect, ...] = (
    _Defect("inventory.unknown_person", 0, _unknown_person),
    _Defect("inventory.unknown_event", 0, _unknown_event),
    _Defect("inventory.duplicate_id", 1, _duplicate_id),
    _Defect("inventory.duplicate_measure", 0, _duplicate_measure),
    _Defect("inventory.reserved_id", 0, _reserved_id),
    _Defect("inventory.self_link", 1, _self_link),
    _Defect("inventory.duplicate_link", 2, _duplicate_link),
    _Defect("inventory.after_assessment", 0, _after_assessment),
    _Defect("inventory.onset_after_assessment", 0, _onset_after_assessment, dates_only=True),
    _Defect("inventory.ambiguous_timing", 0, _ambiguous_timing, dates_only=True),
    _Defect("inventory.deceased_participant", 0, _deceased_participant),
    _Defect("inventory.contradiction", 0, _contradiction),
    _Defect("inventory.out_of_range", 0, _out_of_range),
    _Defect("inventory.too_long", 0, _too_long),
    _Defect("inventory.unknown_field", 0, _unknown_field),
    _Defect("inventory.wrong_type", 0, _wrong_type),
    _Defect("inventory.missing_field", 1, _missing_field),
    _Defect("inventory.unknown_value", 0, _unknown_value),
    _Defect("inventory.bad_format", 0, _bad_format),
)

INVALID_CODES: frozenset[str] = frozenset(d.code for d in _DEFECTS)
"""Issue codes that :func:`invalid_inventories` can produce."""


def _check_codes(*, codes: Collection[str] | None) -> None:
    wanted = INVALID_CODES if codes is None else frozenset(codes)
    if isinstance(codes, str) or not wanted or not wanted <= INVALID_CODES:
        raise InvalidArgument(
            f"codes must be a non-empty collection of {sorted(INVALID_CODES)}, got {codes!r}"
        )


@_strategy(_check_codes)
def invalid_inventories(
    draw: st.DrawFn, *, codes: Collection[str] | None = None
) -> InvalidInventory:
    """``(data, code)`` pairs: a valid inventory dict given exactly one defect, and the
    ``code`` that ``parse_inventory(data)`` must raise. ``codes`` restricts the defects
    (default: all of :data:`INVALID_CODES`)."""
    defect = draw(st.sampled_from([d for d in _DEFECTS if codes is None or d.code in codes]))
    base = draw(
        inventories(
            min_persons=defect.min_persons,
            max_persons=3,
            max_events=3,
            date_style="dates" if defect.dates_only else "mixed",
        )
    )
    data = copy.deepcopy(base.model_dump(mode="json"))
    defect.mutate(draw, data)
    return InvalidInventory(data, defect.code)


# ---------------------------------------------------------------- arbitrary JSON
def _field_names() -> tuple[str, ...]:
    models: tuple[type[Any], ...] = (
        Inventory, Patient, Risk, Episode, Person, PersonLink, LifeEvent, SocialHistory,
        PatientView, PHQ9, HAMD17, ICG, PG13R, UCLA3, SASSR,
    )  # fmt: skip
    return tuple(sorted({name for m in models for name in m.model_fields}))


def json_values(*, max_leaves: int = 30, inventory_keys: bool = True) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values for fuzzing parsers. ``inventory_keys`` mixes the inventory's
    field names into object keys, so fuzzing reaches past the top-level checks."""
    if not isinstance(max_leaves, int) or max_leaves < 1:
        raise InvalidArgument(f"max_leaves must be a positive int, got {max_leaves!r}")
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    keys = st.sampled_from(_field_names()) | st.text() if inventory_keys else st.text()
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )
