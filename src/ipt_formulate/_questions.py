"""Questions to ask next: the unknown inventory values whose answer could change the focus.

Value of information, computed exactly rather than estimated: for each unknown value that a
pending rule waits on (:mod:`._bounds`) and that has a finite set of answers in the
inventory model (a ``Literal`` vocabulary or a yes/no), the inventory is re-formulated with
each answer in turn and the *top* of the formulation compared with today's: its status, the
primary focus and the secondary focus. A question is kept only if some answer changes the
top; questions are ranked by what the most decisive answer changes (the primary before the
secondary, before the leading reading's score), then by how many answers change the focus,
then by the rank of the hypothesis that waits on them. A value the leading provisional
reading waits on is kept even when no answer alone changes anything (a death needs its
timing *and* its closeness): answered, it brings the reading closer to settled. The
re-formulations score hypotheses only (no explanations, no WHY-NOT), on the compiled
backend (proven equal to experta), and their number is capped (:data:`MAX_CANDIDATES`
values), so the cost per formulation is bounded.

:func:`answer` applies one answer to an inventory, validated; the interview loop
(``ipt-formulate interview``) and clinical tools build on the two.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from ._bounds import certain_and_possible
from ._evaluate import Firing
from .errors import InputError
from .facts import derive_facts
from .formulation import Answer, Hypothesis, Question, path_order
from .inventory import (
    Inventory,
    LifeEvent,
    Patient,
    Person,
    PersonLink,
    Risk,
    SocialHistory,
    _semantic_issues,
    parse_inventory,
)
from .limits import current_limits
from .rulepack import RulePack
from .scoring import (
    Groups,
    Scored,
    group_firings,
    prepared,
    score_groups,
    select_focus,
)

__all__ = ["MAX_CANDIDATES", "Top", "answer", "questions_for", "top_of_hypotheses"]

MAX_CANDIDATES = 12
"""Unknown values tried per formulation (each costs one re-formulation per answer)."""

# ------------------------------------------------------------------ paths
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]|\[\?([^\]]*)\]")
_TEST = re.compile(r"@\.([A-Za-z_][A-Za-z0-9_]*)=='([^']*)'")
_MODELS: Mapping[str, type[BaseModel]] = {
    "persons": Person,
    "events": LifeEvent,
    "relationships": PersonLink,
    "risk": Risk,
    "social_history": SocialHistory,
    "patient": Patient,
}


def _segments(path: str) -> list[tuple[str, Any]]:
    """``$.persons[?@.id=='mum'].ring`` -> [("key", "persons"), ("filter", {...}), ...]."""
    if not path.startswith("$"):
        raise _bad_path(path, "a path starts with '$'")
    out: list[tuple[str, Any]] = []
    pos = 1
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None:
            raise _bad_path(path, f"cannot read it from character {pos + 1}")
        if m[1] is not None:
            out.append(("key", m[1]))
        elif m[2] is not None:
            out.append(("index", int(m[2])))
        else:
            tests = [t.strip() for t in m[3].split("&&")]
            pairs = [_TEST.fullmatch(t) for t in tests]
            if not all(pairs):
                raise _bad_path(path, "a filter reads [?@.key=='value' && ...]")
            out.append(("filter", {p[1]: p[2] for p in pairs if p is not None}))
        pos = m.end()
    if not out or out[-1][0] != "key":
        raise _bad_path(path, "a path ends with a field name")
    return out


def _bad_path(path: str, why: str) -> InputError:
    return InputError(f"cannot answer {path[:200]!r}: {why}", code="answer.bad_path")


def _find(items: list[Any], test: Mapping[str, str], path: str) -> Any:
    """The one list item the filter names (a relationship's two ids in either order)."""

    def hit(item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        if set(test) == {"a", "b"}:
            return {item.get("a"), item.get("b")} == {test["a"], test["b"]}
        return all(item.get(k) == v for k, v in test.items())

    found = [i for i in items if hit(i)]
    if len(found) != 1:
        raise _bad_path(path, f"{len(found)} items match the filter, not one")
    return found[0]


def answer(inventory: Inventory | dict[str, Any] | str | bytes, path: str, value: Any) -> Inventory:
    """The inventory with the value at ``path`` (a question's path) set to ``value``,
    validated like any inventory: an answer that contradicts the rest (an event "after
    onset" that is dated before it) raises the usual :class:`~.errors.InventoryError`; a
    path that names nothing raises :class:`~.errors.InputError` (``answer.bad_path``)."""
    inv = parse_inventory(inventory)
    data: dict[str, Any] = inv.model_dump(mode="json")
    node: Any = data
    segments = _segments(path)
    for kind, arg in segments[:-1]:
        if kind == "key":
            if not isinstance(node, dict) or arg not in node:
                raise _bad_path(path, f"no field {arg!r} there")
            if node[arg] is None:
                node[arg] = {}  # e.g. $.patient_view, not recorded yet
            node = node[arg]
        elif not isinstance(node, list):
            raise _bad_path(path, "a filter or index applies to a list")
        elif kind == "index":
            if not 0 <= arg < len(node):
                raise _bad_path(path, f"no item {arg}")
            node = node[arg]
        else:
            node = _find(node, arg, path)
    if not isinstance(node, dict):
        raise _bad_path(path, "the last field belongs to no object")
    node[segments[-1][1]] = value
    return parse_inventory(data)


class _Unsupported(Exception):
    """A path shape the copy-based answer does not handle (then the JSON round trip does)."""


def _answered(inv: Inventory, path: str, value: str | bool) -> Inventory | None:
    """:func:`answer` for a value drawn from the field's own vocabulary, without the JSON
    round trip where it can: the models are copied with the one value replaced and the
    cross-field checks run as validation would run them. None when the answer contradicts
    the rest of the inventory."""

    def replace(obj: Any, segments: Sequence[tuple[str, Any]]) -> Any:
        arg = segments[0][1]
        if len(segments) == 1:
            return obj.model_copy(update={arg: value})
        child = getattr(obj, arg)
        kind, test = segments[1]
        if kind == "filter" and isinstance(child, tuple):
            items = list(child)
            found = [i for i, x in enumerate(items) if _matches(x, test)]
            if len(found) != 1:
                raise _Unsupported
            items[found[0]] = replace(items[found[0]], segments[2:])
            return obj.model_copy(update={arg: tuple(items)})
        if child is None or kind != "key":
            raise _Unsupported
        return obj.model_copy(update={arg: replace(child, segments[1:])})

    try:
        new: Inventory = replace(inv, _segments(path))
    except _Unsupported:
        try:
            return answer(inv, path, value)
        except InputError:
            return None
    return None if _semantic_issues(new) else new


def _matches(item: BaseModel, test: Mapping[str, str]) -> bool:
    if set(test) == {"a", "b"}:
        return {getattr(item, "a", None), getattr(item, "b", None)} == {test["a"], test["b"]}
    return all(getattr(item, k, None) == v for k, v in test.items())


def _choices(path: str) -> tuple[str | bool, ...]:
    """The answers the inventory model allows at ``path``: a vocabulary or yes/no; empty
    when the value is free (a date, a number, an id)."""
    try:
        segments = _segments(path)
    except InputError:
        return ()
    keys = [arg for kind, arg in segments if kind == "key"]
    owner = _MODELS.get(keys[-2]) if len(keys) >= 2 else None
    if owner is None:
        return ()
    field = owner.model_fields.get(keys[-1])
    if field is None:
        return ()
    options: list[str | bool] = []
    for arg in get_args(field.annotation) or (field.annotation,):
        if arg is bool:
            options += [True, False]
        elif get_origin(arg) is Literal:
            options += list(get_args(arg))
        elif get_origin(arg) in (typing.Union, types.UnionType):
            return ()
    return tuple(options)


# ------------------------------------------------------------------ the top of a formulation
@dataclass(frozen=True)
class Top:
    """What a question may change: the status, the primary and the secondary (area, focus);
    with no established primary, the leading provisional reading stands in the primary's
    place. ``bounds``: the score and upper bound of that primary or leading reading."""

    status: str
    primary: tuple[str, str, str] | None  # (area, focus id, focus name)
    secondary: tuple[str, str, str] | None
    bounds: tuple[float, float] = (0.0, 0.0)

    def describe(self, other: Top, pack: RulePack) -> tuple[int, str]:
        """How ``other`` differs from this top: 4 when the status or primary changes, 3 when
        only the secondary does, 2 when only the leading reading's score or bound moves, 0
        for no change; and the change in plain words."""

        def name(h: tuple[str, str, str]) -> str:
            return f"{pack.area(h[0]).label} about {h[2]}"

        impact, out = 0, []
        if (other.status, other.primary) != (self.status, self.primary):
            impact = 4
            if other.primary is None:
                out.append("no focus would be established or provisional")
            elif other.status == "established":
                out.append(f"{name(other.primary)} becomes the primary focus")
            else:
                out.append(f"{name(other.primary)} becomes the leading provisional reading")
        if other.secondary != self.secondary:
            impact = max(impact, 3)
            if other.secondary is None:
                out.append("no secondary focus")
            else:
                out.append(f"{name(other.secondary)} becomes the secondary focus")
        if not out and other.primary is not None and other.bounds != self.bounds:
            impact = 2
            score, upper = other.bounds
            out.append(
                f"{name(other.primary)} stays {other.status}, now scoring {score:g} "
                f"(at most {upper:g})"
            )
        return impact, "; ".join(out) if out else "no change to the focus"


def _key(area: str, focus: tuple[str, str | None, str]) -> tuple[str, str, str]:
    return (area, focus[1] or "", focus[2])


def _focus_key(h: Hypothesis | Scored) -> tuple[str, str, str]:
    if isinstance(h, Hypothesis):
        return _key(h.area, (h.focus.kind, h.focus.id, h.focus.name))
    return _key(h.area, h.focus)


def _bounds(h: Hypothesis | Scored) -> tuple[float, float]:
    return (h.score, h.upper_bound if isinstance(h, Hypothesis) else h.upper)


def top_of_hypotheses(pack: RulePack, hypotheses: Sequence[Hypothesis | Scored]) -> Top:
    """The top of a formulation's ranked hypotheses (models, or scored groups)."""
    primary, secondary = select_focus(pack, hypotheses)
    if primary is not None:
        second = None if secondary is None else _focus_key(secondary)
        return Top("established", _focus_key(primary), second, _bounds(primary))
    lead = next((h for h in hypotheses if h.status == "provisional"), None)
    if lead is None:
        return Top("insufficient_data", None, None)
    return Top("provisional", _focus_key(lead), None, _bounds(lead))


def scored_run(
    inv: Inventory, pack: RulePack, cap: int
) -> tuple[Groups, Groups, tuple[Firing, ...], list[Firing]]:
    """What the scores of ``inv`` depend on: the certain and the possible-but-not-certain
    evidence firings grouped by hypothesis, the certain firings and the possible ones
    (compiled backend, at most ``cap`` rule activations per run). Also the audits' reading
    (``audit._rescore``)."""
    facts = derive_facts(
        inv, pack.options, fact_types=pack.fact_types_used(), features=pack.graph_features_used()
    )
    run, possible, _ = certain_and_possible(pack, facts, cap)
    lookup = {(t, str(f["id"])): f for t, fs in run.index.by_type.items() for f in fs}
    rules = prepared(pack)
    maybe = group_firings(rules, set(possible).difference(run.firings), lookup)
    return group_firings(rules, run.firings, lookup), maybe, run.firings, possible


def _top(inv: Inventory, pack: RulePack, cap: int) -> Top:
    """The top of the formulation of ``inv``: scores and bounds only."""
    certain, maybe, _, _ = scored_run(inv, pack, cap)
    return top_of_hypotheses(pack, score_groups(pack, certain, maybe))


# ------------------------------------------------------------------ questions
_ASK: Mapping[str, str] = {
    "onset_relation": "When did {about} happen relative to the start of the depression: long "
    "before, in the months before, before (not sure how long), around the time it started, "
    "or after?",
    "maintains_episode": "Does {about} keep the depression going now?",
    "response": "How is the patient responding to {about}: avoiding mourning, yearning, "
    "adapting, or still struggling?",
    "valence": "Does the patient experience {about} as positive, negative or mixed?",
    "ring": "How close is {about} to the patient: inner circle, middle or outer ring?",
    "conflict": "How much conflict is there with {about}: none, low, moderate or high?",
    "support": "How much support does the patient get from {about}?",
    "confidant": "Can the patient talk to {about} about what matters to them?",
    "contact": "How often is the patient in contact with {about}?",
    "deceased": "Has {about} died?",
    "lives_with_patient": "Does {about} live with the patient?",
    "knows_about_depression": "Does {about} know about the depression?",
    "patient_expectations_met": "Does {about} meet the patient's expectations of the relationship?",
    "other_expectations_met": "Does the patient meet {about}'s expectations of the relationship?",
    "dispute_stage_evidence": "Are the patient and {about} still negotiating, stalled, or "
    "moving to end the relationship?",
    "quality_before_onset": "How good was the relationship with {about} before the "
    "depression began: poor, fair or good?",
    "quality_now": "How good is the relationship with {about} now: poor, fair or good?",
    "course": "Is this a first episode, a recurrent depression, or a chronic course?",
    "isolated_since": "Since when has the patient been isolated: childhood, adolescence, early "
    "adulthood, adulthood, or only since the episode began?",
    "long_standing_isolation": "Has the patient been socially isolated for a long time?",
    "few_attachments_before_onset": "Before the episode, did the patient have few close "
    "attachments?",
    "prior_social_functioning": "How was the patient's social life before the episode: poor, "
    "fair or good?",
    "close": "Are {about} close to each other?",
}


def _ask(path: str, about: str) -> str:
    fld = path.rsplit(".", 1)[-1]
    template = _ASK.get(fld, "What is the {field} of {about}?")
    return template.format(about=about, field=fld.replace("_", " "))


def _candidates(
    hypotheses: Sequence[Hypothesis], about: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Unknown values pending rules wait on: those of the best-ranked hypotheses first, and
    for each, what would raise it before what would lower it."""
    seen: dict[str, str] = {}
    for h in hypotheses:
        for raising in (True, False):
            waits = {path for p in h.pending if (p.weight > 0) == raising for path in p.waits_on}
            for path in sorted(waits, key=path_order):
                seen.setdefault(path, about.get(path, path))
    return [(p, a) for p, a in seen.items() if _choices(p)][:MAX_CANDIDATES]


def questions_for(
    inv: Inventory,
    pack: RulePack,
    hypotheses: Sequence[Hypothesis],
    limit: int = 5,
    *,
    max_firings: int | None = None,
    unknowns: Mapping[str, str] | None = None,
) -> tuple[Question, ...]:
    """The questions for a formulated inventory (its ranked ``hypotheses``), at most
    ``limit``, most decisive first (see the module docstring); ``unknowns``: path of each
    unknown value -> who or what it is about (the formulation's ``unknowns``)."""
    if limit <= 0:
        return ()
    base = top_of_hypotheses(pack, hypotheses)
    cap = max_firings if max_firings is not None else current_limits().max_firings
    lead = next((h for h in hypotheses if h.status == "provisional"), None)
    # what the leading provisional reading waits on: each is needed to establish it, even
    # where no answer alone changes anything (a death needs its timing *and* closeness)
    needed = set() if lead is None or base.status != "provisional" else set(lead.waits_on)
    ranked = []
    for order, (path, about) in enumerate(_candidates(hypotheses, unknowns or {})):
        answers: list[tuple[str | bool, int, str]] = []
        for value in _choices(path):
            answered = _answered(inv, path, value)
            if answered is None:
                continue  # this answer would contradict the rest of the inventory
            impact, effect = base.describe(_top(answered, pack, cap), pack)
            answers.append((value, impact, effect))
        impact = max((i for _, i, _ in answers), default=0)
        if impact == 0 and path in needed and lead is not None and answers:
            impact = 1
            alone = (
                f"no change on its own: {lead.area_label} about {lead.focus.name} still "
                "waits on other unknown values"
            )
            answers = [(v, i, alone) for v, i, _ in answers]
        if impact == 0:
            continue
        question = Question(
            path=path,
            about=about,
            question=_ask(path, about),
            answers=tuple(Answer(value=v, effect=e, changes_focus=i > 2) for v, i, e in answers),
        )
        moving = sum(i > 2 for _, i, _ in answers)  # answers that change the focus
        ranked.append(((-impact, -moving, order), question))
    ranked.sort(key=lambda t: t[0])
    return tuple(q for _, q in ranked[:limit])
