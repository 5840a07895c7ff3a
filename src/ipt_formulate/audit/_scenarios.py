"""A labelled synthetic cohort whose truth does not come from the rules.

Each record is written from a *scenario*: the clinical picture of one IPT problem area as the
project's clinical basis (``/work/shared/clinical-basis.md``, §2 and §3.2) describes it, and
the label is the scenario's area. The generator never runs the engine and never reads a rule
pack, so agreement with these labels measures the rules against the clinical descriptions,
and a calibration fitted to them cannot have learnt the rules' own output.

Scenarios (section numbers of the clinical basis):

* ``bereavement`` (§2.1): the death of a close person near onset, mourning avoided or
  yearning (complicated grief: "holding emotions in, postponing and avoiding grief",
  Weissman/Markowitz/Klerman 2018); sometimes an Inventory of Complicated Grief above 25
  (Prigerson 1995, §4).
* ``dispute`` (§2.2): an unsatisfying relationship with one counterparty marked by
  non-reciprocal role expectations (ISIPT), conflict, worse since onset ("worsening marital
  strife", §1.1), at one of the three stages.
* ``transition`` (§2.3): a change of life circumstances near onset, positive or negative
  ("positive changes count"), that the patient has not settled into.
* ``isolation`` (§2.4): long-standing paucity of attachments, few supports, no acute event;
  the residual area ("none of the above", Guide ch. 8), isolation that predates the episode.
* ``mixed`` (§3.2): two of grief, dispute and transition; the primary is the one the
  scenario makes more pressing (closer to onset, and the one the patient names), the way
  the Casebook's perinatal case chose between a dispute and a transition.

**Noise** adds distractors that are clinically *not* a problem area: low conflict with a
peripheral person whose expectations are met, an old life event the patient has adapted to,
a death long ago. **Missing** drops optional clinical fields (and an event's timing) at the
given rate, as an incomplete inventory would. **Label noise** replaces the primary label by
another area at the given rate, as a second rater might.

Reproducible and prefix-stable: record ``i`` of seed ``S`` is drawn from
``random.Random(f"ipt-scenario:{S}:{i}")`` alone, so the same seed and options give the same
bytes and ``-n 100`` is the first 100 records of ``-n 1000``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, IptFormulateError

__all__ = [
    "AREAS",
    "SCENARIOS",
    "Scenario",
    "ScenarioOptions",
    "scenario_records",
    "write_scenarios",
]

AREAS = ("grief", "role_dispute", "role_transition", "interpersonal_deficits")
"""The label columns, in ``ipt-core``'s area order."""

SCENARIOS = ("bereavement", "dispute", "transition", "isolation", "mixed")
_AREA_OF = {
    "bereavement": "grief",
    "dispute": "role_dispute",
    "transition": "role_transition",
    "isolation": "interpersonal_deficits",
}
_DEFAULT_MIX = {"bereavement": 0.2, "dispute": 0.25, "transition": 0.25, "isolation": 0.15}
_DEFAULT_MIX["mixed"] = 0.15


@dataclass(frozen=True)
class ScenarioOptions:
    """How the cohort is drawn.

    ``mix``: relative frequency of each scenario (default roughly the late-life frequencies
    of §5.2, with room for isolation and mixed pictures; a design choice, not an estimate).
    ``noise``: probability of each of three distractors. ``missing``: probability that an
    optional field is left out. ``label_noise``: probability that the primary label is another
    area. All three in [0, 1].
    """

    mix: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_MIX))
    noise: float = 0.2
    missing: float = 0.1
    label_noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("noise", "missing", "label_noise"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 1):
                raise InputError(
                    f"{name} must be a number in [0, 1], got {v!r}", code="scenarios.options"
                )
        unknown = sorted(set(self.mix) - set(SCENARIOS))
        if unknown:
            raise InputError(
                f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
                code="scenarios.options",
            )
        ws = list(self.mix.values())
        if not ws or any(not math.isfinite(w) or w < 0 for w in ws) or sum(ws) <= 0:
            raise InputError(
                "mix weights must be finite, non-negative, and not all zero",
                code="scenarios.options",
            )


@dataclass(frozen=True)
class Scenario:
    """One labelled record: the inventory (a JSON-ready dict) and its truth."""

    id: str
    scenario: str
    presence: Mapping[str, bool]
    primary: str
    inventory: dict[str, Any]

    def label_row(self) -> list[str]:
        return [
            self.id,
            *("1" if self.presence[a] else "0" for a in AREAS),
            self.primary,
            self.scenario,
        ]


LABEL_HEADER = ["id", *AREAS, "primary", "scenario"]

_CLOSE_ROLES = ("parent", "spouse_partner", "sibling", "child", "grandparent", "friend")
_DISPUTE_ROLES = ("spouse_partner", "parent", "child", "sibling", "coworker", "supervisor")
_BACKGROUND_ROLES = ("friend", "sibling", "coworker", "neighbour", "other_family", "parent")
_TRANSITIONS = (
    ("move", "mixed"),
    ("new_job", "positive"),
    ("job_loss", "negative"),
    ("retirement", "mixed"),
    ("birth", "positive"),
    ("divorce", "negative"),
    ("illness_diagnosis_self", "negative"),
    ("children_leaving_home", "mixed"),
    ("migration", "mixed"),
    ("promotion", "positive"),
    ("graduation", "positive"),
)


class _Builder:
    """Accumulates one inventory; optional fields go through :meth:`opt` (maybe missing)."""

    def __init__(self, rng: random.Random, missing: float) -> None:
        self.rng = rng
        self.missing = missing
        self.persons: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.social: dict[str, Any] = {}
        self.view: dict[str, Any] = {}
        self.measures: list[dict[str, Any]] = []

    def opt(self, d: dict[str, Any], **values: Any) -> dict[str, Any]:
        for k, v in values.items():
            if self.rng.random() >= self.missing:
                d[k] = v
        return d

    def person(self, pid: str, role: str, label: str, **values: Any) -> dict[str, Any]:
        p = self.opt({"id": pid, "role": role, "label": label}, **values)
        self.persons.append(p)
        return p

    def event(self, eid: str, kind: str, months: float, **values: Any) -> dict[str, Any]:
        e: dict[str, Any] = {"id": eid, "kind": kind}
        self.opt(e, months_before_onset=months)
        self.opt(e, **values)
        self.events.append(e)
        return e


def _months_near(rng: random.Random) -> float:
    """Months before onset of an event close in time to onset (§1.1, §1.4)."""
    return float(rng.choice((0, 0.5, 1, 1, 2, 2, 3, 4, 5)))


def _bereavement(b: _Builder, tag: str, near: bool = True) -> str:
    rng = b.rng
    role = rng.choice(_CLOSE_ROLES)
    pid = f"{tag}-deceased"
    b.person(
        pid,
        role,
        f"{role.replace('_', ' ').capitalize()}, died",
        deceased=True,
        ring=rng.choice(("inner", "inner", "middle")),
        confidant=rng.random() < 0.6,
        quality_before_onset=rng.choice(("good", "good", "fair")),
    )
    months = _months_near(rng) if near else float(rng.choice((6, 7, 8)))
    b.event(
        f"e-{tag}-death",
        "death",
        months,
        subject=pid,
        valence="negative",
        response=rng.choice(("mourning_avoided", "yearning", "mourning_avoided")),
    )
    if rng.random() < 0.5:
        b.measures.append({"instrument": "icg", "total": rng.randint(26, 55)})
    return pid


def _dispute(b: _Builder, tag: str, near: bool = True) -> str:
    rng = b.rng
    role = rng.choice(_DISPUTE_ROLES)
    pid = f"{tag}-other"
    unmet = rng.choice(((False, False), (False, True), (True, False)))
    b.person(
        pid,
        role,
        f"{role.replace('_', ' ').capitalize()} (dispute)",
        ring="inner" if role in ("spouse_partner", "parent", "child") else "middle",
        contact=rng.choice(("daily", "weekly")),
        support=rng.choice(("none", "low")),
        conflict=rng.choice(("moderate", "high", "high")),
        patient_expectations_met=unmet[0],
        other_expectations_met=unmet[1],
        dispute_stage_evidence=rng.choice(("still_negotiating", "stalled", "moving_to_end")),
        changes_wanted=[f"change {k + 1}" for k in range(rng.randint(1, 3))],
        quality_before_onset=rng.choice(("good", "fair")) if near else "poor",
        quality_now="poor",
    )
    return pid


def _transition(b: _Builder, tag: str, near: bool = True) -> str:
    rng = b.rng
    kind, valence = rng.choice(_TRANSITIONS)
    eid = f"e-{tag}-{kind.replace('_', '-')}"
    b.event(
        eid,
        kind,
        _months_near(rng) if near else float(rng.choice((6, 7, 8))),
        valence=valence,
        response=rng.choice(("ongoing", "ongoing", "yearning")),
        maintains_episode=rng.random() < 0.4,
    )
    return eid


def _isolation(b: _Builder) -> None:
    rng = b.rng
    b.opt(
        b.social,
        long_standing_isolation=True,
        isolated_since=rng.choice(("childhood", "adolescence", "early_adulthood")),
        few_attachments_before_onset=True,
        confidants=0,
        prior_social_functioning=rng.choice(("poor", "poor", "fair")),
    )
    for k in range(rng.randint(0, 2)):
        role = rng.choice(("parent", "sibling", "coworker", "neighbour"))
        b.person(
            f"acq-{k + 1}",
            role,
            f"{role.capitalize()} (distant)",
            ring="outer",
            contact=rng.choice(("monthly", "rarely")),
            support=rng.choice(("none", "low")),
            confidant=False,
            conflict="none",
            quality_before_onset="fair",
            quality_now="fair",
        )
    b.measures.append({"instrument": "ucla3", "total": rng.randint(7, 9)})


def _background(b: _Builder, n: int) -> None:
    """Supportive, conflict-free relationships that are no problem area."""
    rng = b.rng
    for k in range(n):
        role = rng.choice(_BACKGROUND_ROLES)
        b.person(
            f"bg-{k + 1}",
            role,
            f"{role.replace('_', ' ').capitalize()} {k + 1}",
            ring=rng.choice(("inner", "middle")),
            contact=rng.choice(("daily", "weekly", "monthly")),
            support=rng.choice(("moderate", "high")),
            confidant=rng.random() < 0.5,
            conflict=rng.choice(("none", "low")),
            patient_expectations_met=True,
            other_expectations_met=True,
            quality_before_onset="good",
            quality_now="good",
        )
    b.opt(
        b.social,
        long_standing_isolation=False,
        few_attachments_before_onset=False,
        confidants=sum(1 for p in b.persons if p.get("confidant")),
        prior_social_functioning="good",
    )


def _distractors(b: _Builder, noise: float) -> None:
    """Material that is clinically not a problem area (the module docstring)."""
    rng = b.rng
    if rng.random() < noise:
        b.person(
            "peripheral",
            rng.choice(("coworker", "neighbour", "in_law")),
            "Peripheral acquaintance",
            ring="outer",
            contact="monthly",
            conflict="low",
            patient_expectations_met=True,
            other_expectations_met=True,
            quality_before_onset="fair",
            quality_now="fair",
        )
    if rng.random() < noise:
        kind, valence = rng.choice(_TRANSITIONS)
        b.event("e-old-change", kind, float(rng.randint(24, 120)), valence=valence)
        b.opt(b.events[-1], response="adapting")
    if rng.random() < noise:
        b.person("old-loss", "grandparent", "Grandparent, died long ago", deceased=True)
        b.event("e-old-death", "death", float(rng.randint(36, 240)), subject="old-loss")
        b.opt(b.events[-1], response="adapting")


_MAKERS = {"bereavement": _bereavement, "dispute": _dispute, "transition": _transition}


def _draw(seed: int, i: int, opts: ScenarioOptions) -> Scenario:
    rng = random.Random(f"ipt-scenario:{seed}:{i}")
    names = sorted(opts.mix)
    kind = rng.choices(names, weights=[opts.mix[k] for k in names])[0]
    b = _Builder(rng, opts.missing)
    presence = dict.fromkeys(AREAS, False)
    course = rng.choice(("first_episode", "recurrent"))
    if kind == "isolation":
        _isolation(b)
        course = rng.choice(("chronic", "recurrent"))
        primary = "interpersonal_deficits"
        presence[primary] = True
    else:
        _background(b, rng.randint(1, 4))
        if kind == "mixed":
            first, second = rng.sample(sorted(_MAKERS), 2)
            focus = _MAKERS[first](b, "a", True)
            _MAKERS[second](b, "b", False)
            b.opt(b.view, **{_view_key(first): focus})
            primary = _AREA_OF[first]
            presence[primary] = presence[_AREA_OF[second]] = True
        else:
            focus = _MAKERS[kind](b, "a", True)
            if rng.random() < 0.5:
                b.opt(b.view, **{_view_key(kind): focus})
            primary = _AREA_OF[kind]
            presence[primary] = True
    _distractors(b, opts.noise)
    if rng.random() < opts.label_noise:
        primary = rng.choice([a for a in AREAS if a != primary])
        presence[primary] = True
    rid = f"scenario-{seed}-{i:06d}"
    return Scenario(rid, kind, presence, primary, _inventory(b, rid, course))


def _view_key(kind: str) -> str:
    return "most_important_event" if kind == "transition" else "most_important_person"


def _inventory(b: _Builder, rid: str, course: str) -> dict[str, Any]:
    rng = b.rng
    age = rng.randint(19, 79)
    inv: dict[str, Any] = {
        "schema_version": "1",
        "id": rid,
        "patient": {
            "age": age,
            "populations": ["adult", "late_life"] if age >= 60 else ["adult"],
            "course": course,
            "risk": {"suicidal_ideation": False, "suicide_plan_or_intent": False},
        },
        "episode": {
            "assessment_date": "2026-03-02",
            "onset_months_before_assessment": float(rng.randint(2, 8)),
            "measures": [{**m, "date": "2026-03-02"} for m in b.measures],
        },
        "persons": b.persons,
        "events": b.events,
    }
    if b.social:
        inv["social_history"] = b.social
    if b.view:
        inv["patient_view"] = b.view
    return inv


def scenario_records(
    n: int, seed: int = 0, options: ScenarioOptions | None = None
) -> Iterator[Scenario]:
    """``n`` labelled scenarios, record ``i`` (1-based) drawn from its own seeded generator."""
    opts = options or ScenarioOptions()
    for i in range(1, n + 1):
        yield _draw(seed, i, opts)


def write_scenarios(
    output: str | Path | IO[str],
    labels: str | Path | IO[str] | None,
    n: int,
    seed: int = 0,
    options: ScenarioOptions | None = None,
) -> int:
    """Write ``n`` scenarios: inventories as JSON Lines to ``output``, labels as CSV (the
    format :func:`~ipt_formulate.audit.load_labels` reads, plus a ``scenario`` column) to
    ``labels``. Returns the number of records written."""
    with _opened(output) as out, _opened(labels) as lab:
        w = None if lab is None else csv.writer(lab, lineterminator="\n")
        if w is not None:
            w.writerow(LABEL_HEADER)
        for s in scenario_records(n, seed, options):
            assert out is not None
            out.write(json.dumps(s.inventory, ensure_ascii=False, separators=(",", ":")) + "\n")
            if w is not None:
                w.writerow(s.label_row())
    return n


@contextlib.contextmanager
def _opened(target: str | Path | IO[str] | None) -> Iterator[IO[str] | None]:
    """A text stream for a path (opened and closed here) or a stream given (left open)."""
    if target is None or not isinstance(target, str | Path):
        yield target
        return
    try:
        fh = open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        msg = f"cannot write {target}: {exc.strerror}"
        raise IptFormulateError(msg, code="output.io") from None
    with fh:
        yield fh
