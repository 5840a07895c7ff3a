"""Stage 6: combine evidence into scored hypotheses, rank them, pick the focus.

**Combination (EMYCIN certainty factors, order-free form).** Each rule carries a certainty
factor ``w`` in [-0.99, 0.99]. For one hypothesis (area + focus), supporting weights combine
into a measure of belief ``MB = 1 - Π(1 - w)`` and opposing weights into a measure of
disbelief ``MD = 1 - Π(1 - |w|)``; the score is ``CF = (MB - MD) / (1 - min(MB, MD))``.
This is what EMYCIN's pairwise rule computes for same-signed evidence, but taken over the
multiset at once, so it is commutative and associative by construction, also in floating
point (folding the pairwise rule in different orders can differ in the last digits).
Scores stay in [-1, 1]. A rule counts once per
hypothesis, however many ways it matched.

**Ranking** is by score, then the pack's area order, then focus id: deterministic.
**Focus**: the primary is the best hypothesis scoring at least ``thresholds.primary_min``;
a secondary, of a different area, needs ``secondary_min`` and must lie within
``secondary_max_gap`` of the primary (IPT works on one, at most two, areas). Clinical
hierarchy ("deficits only when no acute area applies") lives in the rule pack, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

from pydantic import TypeAdapter

from ._bounds import OpenFacts
from ._evaluate import Firing
from ._memo import PackMemo, SharedParts
from .formulation import Citation, FactRef, Focus, Hypothesis, RuleInfo, Source, Tie
from .rulepack import Rule, RulePack

__all__ = [
    "Belief",
    "PossibleReading",
    "Scored",
    "combine",
    "focus_ties",
    "fragile_rules",
    "group_firings",
    "rank_hypotheses",
    "rule_table",
    "score_groups",
    "select_focus",
]

_DIGITS = 4


@dataclass(frozen=True)
class Belief:
    """Accumulated belief and disbelief; merging is commutative and associative."""

    mb: float = 0.0
    md: float = 0.0

    @staticmethod
    def of(weight: float) -> Belief:
        return Belief(mb=weight, md=0.0) if weight >= 0 else Belief(mb=0.0, md=-weight)

    def merge(self, other: Belief) -> Belief:
        return Belief(
            mb=1 - (1 - self.mb) * (1 - other.mb),
            md=1 - (1 - self.md) * (1 - other.md),
        )

    @property
    def cf(self) -> float:
        denom = 1 - min(self.mb, self.md)
        return 0.0 if denom <= 0 else (self.mb - self.md) / denom


def combine(weights: Iterable[float]) -> float:
    """Certainty factor of a multiset of weights (order does not matter)."""
    # a fixed order gives an identical floating-point result for any input order
    return _combine_sorted(tuple(sorted(weights)))


@lru_cache(maxsize=4096)
def _combine_sorted(ws: tuple[float, ...]) -> float:
    # packs have few distinct weights, so the same multisets recur on every formulation
    # float throughout (start=1.0): an empty product is 1.0, not the int 1
    mb = 1.0 - math.prod((1.0 - w for w in ws if w > 0), start=1.0)
    md = 1.0 - math.prod((1.0 + w for w in ws if w < 0), start=1.0)
    return Belief(mb, md).cf


def _show(v: Any) -> str:
    """How a fact value reads inside an explanation."""
    if type(v) is str:  # the common case first
        return v.replace("_", " ")
    if v is None:
        return "unknown"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple | list):
        return ", ".join(str(x) for x in v)
    return str(v).replace("_", " ")


Template = tuple[tuple[str, str, str], ...]  # (literal text, variable, field); "" = none


def compile_template(template: str) -> Template:
    """Split an explanation template into literal text and ``{var.field}`` slots, once."""
    from .rulepack import _PLACEHOLDER

    parts: list[tuple[str, str, str]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append((template[pos : m.start()], m.group(1), m.group(2)))
        pos = m.end()
    parts.append((template[pos:], "", ""))
    return tuple(parts)


def fill(
    template: Template,
    bindings: Sequence[tuple[str, str, str]],
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
) -> str:
    """The explanation text of one firing: every ``{var.field}`` slot replaced by the value
    of the fact bound to ``var`` (``unknown`` when it is missing or None)."""
    out = []
    for text, var, fld in template:
        out.append(text)
        if var:
            value = None
            for v, t, i in bindings:  # a rule binds one to three facts: a scan is cheapest
                if v == var:
                    fact = lookup.get((t, i))
                    value = None if fact is None else fact.get(fld)
                    break
            out.append(_show(value))
    return "".join(out)


@dataclass(frozen=True)
class RuleOutput:
    """What the output needs of a rule, prepared once per pack: its entry in a
    formulation's rules table (version, title, citations) and the compiled explanation
    template."""

    rule: Rule
    info: RuleInfo
    template: Template
    bare: RuleInfo  # without citations: a rule that only waits or only asserted a finding

    @property
    def citations(self) -> tuple[Citation, ...]:
        return self.info.citations


def _prepare(pack: RulePack) -> dict[str, RuleOutput]:
    out = {}
    for r in pack.rules:
        bare = RuleInfo(id=r.id, version=r.version, title=r.title)
        info = bare.model_copy(update={"citations": _resolve_citations(r, pack)})
        out[r.id] = RuleOutput(r, info, compile_template(r.explain), bare)
    return out


_PREPARED: PackMemo[dict[str, RuleOutput]] = PackMemo(_prepare)


def prepared(pack: RulePack) -> dict[str, RuleOutput]:
    """Rule id -> :class:`RuleOutput` for every rule of the pack (built once per pack hash)."""
    return _PREPARED(pack)


def _resolve_citations(rule: Rule, pack: RulePack) -> tuple[Citation, ...]:
    out = []
    for c in rule.cite:
        out.append(Citation(source=c.source, locator=c.locator, note=c.note))
    return tuple(out)


def rule_table(
    pack: RulePack, cited: Iterable[str], uncited: Iterable[str] = ()
) -> tuple[RuleInfo, ...]:
    """The rules table of a formulation, once each, by id (shared, frozen): the ``cited``
    rules with their citations (those that count: evidence, advisories), the ``uncited``
    ones with version and title only (a rule that only waits on unknown values, or only
    asserted a finding, is not a ground of the formulation)."""
    table = prepared(pack)
    with_cites = set(cited)
    ids = sorted(with_cites.union(uncited))
    return tuple(table[r].info if r in with_cites else table[r].bare for r in ids)


def _build_sources(pack: RulePack) -> dict[str, Source]:
    return {
        k: Source(key=k, text=s.text, url=s.url, quality=s.quality)
        for k, s in sorted(pack.sources.items())
    }


_SOURCES: PackMemo[dict[str, Source]] = PackMemo(_build_sources)


def cited_sources(pack: RulePack, keys: Iterable[str]) -> tuple[Source, ...]:
    """The pack's sources with these keys, once each, by key (shared, frozen models)."""
    table = _SOURCES(pack)
    return tuple(table[k] for k in sorted(set(keys)))


FocusKey = tuple[str, str | None, str]  # (kind, id, display name)
_NETWORK: FocusKey = ("network", None, "the patient's social network")


def _focus_key(
    rule: Rule, firing: Firing, lookup: Mapping[tuple[str, str], Mapping[str, Any]]
) -> FocusKey:
    if rule.focus in (None, "network"):
        return _NETWORK
    for v, t, i in firing.bindings:
        if v == rule.focus:
            name = str(lookup.get((t, i), {}).get("name") or i)
            return ("person" if t == "person" else "event", i, name)
    raise AssertionError(f"focus {rule.focus} unbound in {rule.id}")  # lint forbids this


def focus_of(
    rule: Rule, firing: Firing, lookup: Mapping[tuple[str, str], Mapping[str, Any]]
) -> Focus:
    """The focus (person, event or network) a rule's firing bears on."""
    kind, ident, name = _focus_key(rule, firing, lookup)
    return Focus.model_construct(kind=kind, id=ident, name=name)


_HYPOTHESES: TypeAdapter[tuple[Hypothesis, ...]] = TypeAdapter(tuple[Hypothesis, ...])

_REFS: SharedParts[tuple[str, str], FactRef] = SharedParts(1 << 13)  # ~2 MB at most
_FOCI: SharedParts[tuple[str, str | None, str], Focus] = SharedParts(1 << 12)


def _fact_ref(fact_type: str, fact_id: str) -> FactRef:
    """A shared :class:`FactRef` (frozen): the same ids recur in every formulation of a
    cohort, and passing instances spares pydantic-core building ~50 models per formulation
    (and the garbage collector tracking them)."""
    key = (fact_type, fact_id)
    return _REFS.get(key) or _REFS.add(key, FactRef.model_construct(type=fact_type, id=fact_id))


def _focus(kind: str, ident: str | None, name: str) -> Focus:
    """A shared :class:`Focus` (frozen), like :func:`_fact_ref`."""
    key = (kind, ident, name)
    return _FOCI.get(key) or _FOCI.add(key, Focus.model_construct(kind=kind, id=ident, name=name))


@lru_cache(maxsize=4096)
def _scores(weights: tuple[tuple[str, float], ...]) -> tuple[float, Mapping[str, float]]:
    """Score of a hypothesis and each rule's leave-one-out contribution, rounded; memoised
    (the same sets of rules recur across the formulations of a cohort)."""
    exact = combine(w for _, w in weights)
    contributions = {
        rid: round(exact - combine(w for r2, w in weights if r2 != rid), _DIGITS)
        for rid, _ in weights
    }
    return round(exact, _DIGITS), contributions


EVIDENCE_MAX = 20
"""Most explanations (firings explained) and matched facts listed per evidence entry; the
rest are counted in ``explanations_more`` and ``matched_more``."""

Groups = dict[tuple[str, str, str], dict[str, tuple[Rule, FocusKey, list[Firing]]]]
"""(area, focus kind, focus id) -> rule id -> (rule, focus, its firings for that focus)."""


def group_firings(
    rules: Mapping[str, RuleOutput],
    firings: Iterable[Firing],
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
) -> Groups:
    groups: Groups = {}
    for fr in firings:
        rule = rules[fr.rule_id].rule
        if rule.area is None or not rule.weight:
            continue  # a zero weight neither supports nor opposes
        focus = _focus_key(rule, fr, lookup)
        by_rule = groups.setdefault((rule.area, focus[0], focus[1] or ""), {})
        entry = by_rule.get(fr.rule_id)
        if entry is None:
            by_rule[fr.rule_id] = (rule, focus, [fr])
        else:
            entry[2].append(fr)
    return groups


@dataclass(frozen=True)
class PossibleReading:
    """The possible reading of one inventory (:mod:`._bounds`): its firings, and what each
    firing that is possible but not certain waits on."""

    firings: frozenset[Firing]
    open: OpenFacts
    robust: frozenset[Firing] = frozenset()  # the certain firings no unknown can undo


_MAX_WAITS = 10  # unknown values listed per pending rule


class Scored(NamedTuple):
    """One hypothesis as numbers, before any output is built: what ranking, focus selection
    and the questions' re-formulations need."""

    sort_key: tuple[Any, ...]
    area: str
    focus: FocusKey
    status: str
    score: float
    lower: float
    upper: float
    certain: Mapping[str, tuple[Rule, FocusKey, list[Firing]]]
    extra: Mapping[str, tuple[Rule, FocusKey, list[Firing]]]
    contributions: Mapping[str, float]


@lru_cache(maxsize=4096)
def _group_numbers(
    weights: tuple[tuple[str, float], ...], more: tuple[float, ...], fragile: frozenset[str]
) -> tuple[bool, float, Mapping[str, float], float, float] | None:
    """(some certain rule supports, score, contributions, lower bound, upper bound) of a
    group with these certain (rule, weight) pairs, possible-only weights and ``fragile``
    certain rules (an unknown value may undo them: they count as "may fire" only); None
    when no rule, certain or possible, supports it. Memoised like :func:`_scores`."""
    certain = [w for _, w in weights]
    if not any(w > 0 for w in (*certain, *more)):
        return None
    score, contributions = _scores(weights)
    up = [w for rid, w in weights if w > 0 or rid not in fragile]
    down = [w for rid, w in weights if w < 0 or rid not in fragile]
    upper = round(combine([*up, *(w for w in more if w > 0)]), _DIGITS)
    lower = round(combine([*down, *(w for w in more if w < 0)]), _DIGITS)
    return any(w > 0 for w in certain), score, contributions, lower, upper


Fragile = Mapping[tuple[str, str, str], frozenset[str]]
"""Per group: the rules that fire for certain but not robustly (:func:`fragile_rules`)."""

_NONE_FRAGILE: frozenset[str] = frozenset()


def fragile_rules(certain: Groups, robust: Groups) -> Fragile:
    """Per group, the certain rules none of whose firings is robust: an unknown value may
    undo them (a negated pattern a possible fact could block, a test of unknown-ness, a
    count over unknown values), so the bounds count them as rules that *may* fire."""
    out = {}
    for key, by_rule in certain.items():
        firm = robust.get(key, {})
        shaky = frozenset(rid for rid in by_rule if rid not in firm)
        if shaky:
            out[key] = shaky
    return out


def score_groups(
    pack: RulePack, certain: Groups, maybe: Groups, fragile: Fragile | None = None
) -> list[Scored]:
    """Score and bound every (area, focus) group; ranked: established first (by score), then
    provisional (by upper bound), then the rest. A group needs a supporting rule that fires,
    or one that may fire and lifts its upper bound to the primary threshold. ``fragile``
    (:func:`fragile_rules`; default none): certain rules the bounds read as "may fire"."""
    area_order = {a.id: i for i, a in enumerate(pack.areas)}
    threshold = pack.thresholds.primary_min
    out: list[Scored] = []
    for key in certain.keys() | maybe.keys():
        area, kind, fid = key
        by_rule = certain.get(key, {})
        extra = {rid: v for rid, v in maybe.get(key, {}).items() if rid not in by_rule}
        weights = tuple(sorted((rid, r.weight or 0.0) for rid, (r, _, _) in by_rule.items()))
        more = tuple(sorted(r.weight or 0.0 for r, _, _ in extra.values()))
        shaky = fragile.get(key, _NONE_FRAGILE) if fragile else _NONE_FRAGILE
        numbers = _group_numbers(weights, more, shaky)
        if numbers is None:
            continue  # only evidence against: reported under WHY-NOT, not as a hypothesis
        supported, score, contributions, lower, upper = numbers
        if not supported and upper < threshold:
            continue  # nothing supports it for certain, and nothing could make it count
        status = (
            "established"
            if score >= threshold
            else "provisional"
            if upper >= threshold
            else "below_threshold"
        )
        group = {"established": 0, "provisional": 1}.get(status, 2)
        lead = -upper if status == "provisional" else -score
        sort_key = (group, lead, -score, area_order.get(area, 99), fid, kind)
        focus = next(iter({**by_rule, **extra}.values()))[1]
        out.append(
            Scored(
                sort_key, area, focus, status, score, lower, upper, by_rule, extra, contributions
            )
        )
    out.sort(key=lambda s: s.sort_key)
    return out


def rank_hypotheses(
    pack: RulePack,
    firings: Sequence[Firing],
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
    findings: Sequence[Mapping[str, Any]],
    possible: PossibleReading | None = None,
    *,
    explain: bool = True,
    waits: bool = True,
    unknowns: dict[str, str] | None = None,
) -> tuple[Hypothesis, ...]:
    """Group evidence firings by (area, focus), score, bound and rank them
    (:func:`score_groups`), with the evidence, explanations and pending rules of each.

    Evidence that only counts against an area appears in WHY-NOT as an ``opposed`` rule
    check. The output is assembled as plain data (with shared, frozen ``FactRef`` and
    ``Focus`` instances) and validated into models in one pydantic-core call: much cheaper
    than building ~100 small models one by one in Python, and every new value is checked.

    ``explain=False`` (the brief output level) leaves out what only the full and standard
    levels show: explanations, matched facts, citations and findings (left empty, not
    computed); ``waits=False``, the unknown values pending rules wait on. Pending rules
    refer to those values by path; ``unknowns`` (when given) receives path -> what the value
    is about, for the formulation's table of unknown values.
    """
    rules = prepared(pack)
    maybe = group_firings(rules, possible.firings.difference(firings), lookup) if possible else {}
    certain = group_firings(rules, firings, lookup)
    fragile = None
    if possible is not None and len(possible.robust) < len(firings):
        fragile = fragile_rules(certain, group_firings(rules, possible.robust, lookup))
    scored = score_groups(pack, certain, maybe, fragile)
    findings_by_focus: dict[str, set[str]] = {}
    for f in findings:
        if f["focus"] is not None:
            findings_by_focus.setdefault(str(f["focus"]), set()).add(str(f["name"]))
    out = []
    for rank, h in enumerate(scored, start=1):
        fkind, fident, fname = h.focus
        out.append(
            {
                "rank": rank,
                "area": h.area,
                "area_label": pack.area(h.area).label,
                "focus": _focus(fkind, fident, fname),
                "status": h.status,
                "score": h.score,
                "lower_bound": h.lower,
                "upper_bound": h.upper,
                **_evidence(rules, h.certain, h.contributions, lookup, explain=explain),
                "pending": _pending(h.extra, possible, unknowns, waits=waits),
                "findings": sorted(findings_by_focus.get(fident, ())) if fident and explain else (),
            }
        )
    return _HYPOTHESES.validate_python(out)


def _evidence(
    rules: Mapping[str, RuleOutput],
    by_rule: Mapping[str, tuple[Rule, FocusKey, list[Firing]]],
    contributions: Mapping[str, float],
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    explain: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """The support and against evidence lists of one hypothesis, as plain data."""
    support: list[dict[str, Any]] = []
    against: list[dict[str, Any]] = []
    for rid in sorted(by_rule):
        rule, _, frs = by_rule[rid]
        prep = rules[rid]
        weight = rule.weight or 0.0
        entry: dict[str, Any] = {
            "rule_id": rid,
            "weight": weight,
            "contribution": contributions[rid],
        }
        if explain:  # not at the brief level (rule ids and numbers only)
            # summarised: a rule matching N*M combinations stays one bounded entry; the first
            # combinations in firing order are explained (the same for both engines)
            listed = frs if len(frs) <= EVIDENCE_MAX else sorted(frs)[:EVIDENCE_MAX]
            explained = {fill(prep.template, f.bindings, lookup) for f in listed}
            matched = sorted({(t, i) for f in frs for _, t, i in f.bindings})
            entry.update(
                explanations=sorted(explained),
                explanations_more=max(0, len(frs) - EVIDENCE_MAX),
                matched=[_fact_ref(t, i) for t, i in matched[:EVIDENCE_MAX]],
                matched_more=max(0, len(matched) - EVIDENCE_MAX),
            )
        (support if weight > 0 else against).append(entry)
    return {"support": support, "against": against}


def _pending(
    extra: Mapping[str, tuple[Rule, FocusKey, list[Firing]]],
    possible: PossibleReading | None,
    unknowns: dict[str, str] | None,
    *,
    waits: bool = True,
) -> list[dict[str, Any]]:
    """Rules that may fire for this hypothesis, each with the paths of the unknown values
    it waits on (what each is about goes to ``unknowns``, once per path)."""
    if possible is None:
        return []
    out = []
    for rid in sorted(extra):
        rule, _, frs = extra[rid]
        entry: dict[str, Any] = {"rule_id": rid, "weight": rule.weight}
        if waits:
            keys = set().union(*(possible.open.of_firing(fr) for fr in frs))
            paths = possible.open.paths(keys)[:_MAX_WAITS]
            entry["waits_on"] = [p for p, _ in paths]
            if unknowns is not None:
                for p, a in paths:
                    unknowns.setdefault(p, a)
        out.append(entry)
    return out


class _Ranked(Protocol):
    @property
    def area(self) -> str: ...
    @property
    def score(self) -> float: ...


R = TypeVar("R", bound=_Ranked)


def focus_ties(
    pack: RulePack,
    hypotheses: Sequence[Hypothesis],
    primary: Hypothesis | None,
    secondary: Hypothesis | None,
) -> tuple[Tie, ...]:
    """Ties that ranking broke by area order and focus id: for the primary, other
    established hypotheses with exactly its score; for the secondary, other hypotheses that
    qualify as secondary with exactly its score."""
    t = pack.thresholds
    out = []
    roles: tuple[tuple[Literal["primary", "secondary"], Hypothesis | None], ...] = (
        ("primary", primary),
        ("secondary", secondary),
    )
    for role, chosen in roles:
        if chosen is None:
            continue
        others = [
            h
            for h in hypotheses
            if h is not chosen
            and h.score == chosen.score
            and h.status == "established"
            and (role == "primary" or (primary is not None and h.area != primary.area))
            and (role == "primary" or h.score >= t.secondary_min)
        ]
        if not others:
            continue
        names = tuple(f"{h.area_label}: {h.focus.name}" for h in others)
        out.append(
            Tie(
                role=role,
                score=chosen.score,
                chosen=chosen.focus,
                chosen_area=chosen.area,
                others=names,
                note=(
                    f"{chosen.area_label}: {chosen.focus.name} is {role} by the pack's area "
                    f"order and id order only: it ties at {chosen.score:g} with "
                    f"{'; '.join(names)}. The choice between them is the clinician's, with "
                    "the patient."
                ),
            )
        )
    return tuple(out)


def select_focus(pack: RulePack, hypotheses: Sequence[R]) -> tuple[R | None, R | None]:
    """Primary and optional secondary hypothesis under the pack's thresholds (of ranked
    :class:`Hypothesis` models, or of :class:`Scored` groups)."""
    t = pack.thresholds
    primary = next((h for h in hypotheses if h.score >= t.primary_min), None)
    if primary is None:
        return None, None
    secondary = next(
        (
            h
            for h in hypotheses
            if h.area != primary.area
            and h.score >= t.secondary_min
            and primary.score - h.score <= t.secondary_max_gap
        ),
        None,
    )
    return primary, secondary
