"""The pipeline, end to end: inventory -> graph/facts -> engine -> scoring -> explain."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json

from ._bounds import OpenFacts, certain_and_possible, possible_run, robust_findings
from ._evaluate import Firing
from ._questions import questions_for
from .engine import EngineRun, run_engine
from .errors import OptionError
from .explain import advisories, area_checks, why_not
from .facts import FactSet, SourceMap, derive_facts
from .formulation import (
    DISCLAIMER,
    SCHEMA_VERSION,
    Advisory,
    Detail,
    Finding,
    Formulation,
    FormulationStatus,
    Hypothesis,
    OpenFact,
    Provenance,
    Question,
    RuleInfo,
    path_order,
)
from .inventory import Inventory, parse_inventory
from .limits import Limits, current_limits
from .rulepack import RulePack, default_pack
from .scoring import (
    PossibleReading,
    cited_sources,
    focus_ties,
    rank_hypotheses,
    rule_table,
    select_focus,
)

try:
    __version__ = version("ipt-formulate")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0+unknown"


_FINDINGS: TypeAdapter[tuple[Finding, ...]] = TypeAdapter(tuple[Finding, ...])


def input_digest(inv: Inventory) -> str:
    """sha256 of the inventory's canonical JSON: every order-free list sorted (so permuting
    input lists does not change it), fields in the model's order, no whitespace.

    Serialised from the models themselves (pydantic-core), not through a ``model_dump`` copy:
    only a part whose order-free list is out of order is copied (:func:`_ordered`)."""
    d: dict[str, Any] = {name: getattr(inv, name) for name in type(inv).model_fields}
    d["patient"] = _ordered(inv.patient, "populations", tuple(sorted(set(inv.patient.populations))))
    episode = inv.episode
    d["episode"] = _ordered(
        episode, "measures", tuple(sorted(episode.measures, key=lambda m: m.instrument))
    )
    persons = (_ordered(p, "changes_wanted", tuple(sorted(p.changes_wanted))) for p in inv.persons)
    d["persons"] = sorted(persons, key=lambda p: p.id)
    links = (
        r if r.a <= r.b else r.model_copy(update={"a": r.b, "b": r.a}) for r in inv.relationships
    )
    d["relationships"] = sorted(links, key=lambda r: (r.a, r.b))
    events = (_ordered(e, "others", tuple(sorted(e.others))) for e in inv.events)
    d["events"] = sorted(events, key=lambda e: e.id)
    # pydantic-core's serializer: compact UTF-8 JSON, several times faster than json.dumps
    return "sha256:" + hashlib.sha256(to_json(d)).hexdigest()


M = TypeVar("M", bound=BaseModel)


def _ordered(model: M, name: str, value: tuple[Any, ...]) -> M:
    """``model`` with field ``name`` set to ``value`` (itself when it already is)."""
    return model if getattr(model, name) == value else model.model_copy(update={name: value})


def _runs(
    pack: RulePack, facts: FactSet, engine: str, max_firings: int
) -> tuple[EngineRun, list[Firing], list[dict[str, Any]], list[Firing]]:
    """The engine's (certain) run, the possible reading's firings and findings, and the
    robust firings: one three-valued pass on the compiled engine; experta's run, then the
    compiled one-pass run for the others."""
    if engine == "compiled":
        return certain_and_possible(pack, facts, max_firings)
    run = run_engine(pack, facts, engine, max_firings=max_firings)
    return (run, *possible_run(pack, facts, run.findings, max_firings))


def _possible(
    inv: Inventory,
    pack: RulePack,
    facts: FactSet,
    lookup: Mapping[tuple[str, str], Mapping[str, Any]],
    reading: tuple[list[Firing], list[dict[str, Any]], list[Firing]],
) -> PossibleReading:
    """The possible reading of the inventory (score bounds, what pending rules wait on) from
    its possible firings and findings and its robust firings."""
    firings, findings, robust = reading
    firm = robust_findings(pack, robust)
    open_facts = OpenFacts(pack, facts, lookup, firings, firm, findings, SourceMap(inv))
    return PossibleReading(frozenset(firings), open_facts, frozenset(robust))


def formulate(
    inventory: Inventory | dict[str, Any] | str | bytes,
    pack: RulePack | None = None,
    *,
    engine: str = "experta",
    trace: bool = False,
    questions: int = 0,
    limits: Limits | None = None,
    detail: Detail = "full",
) -> Formulation:
    """Formulate one inventory with a rule pack (default: the bundled ``ipt-core``).

    ``inventory`` may be a model, a JSON-like dict or JSON text. Raises only the library's
    typed errors (:mod:`ipt_formulate.errors`). Thread-safe; deterministic: the same
    inventory and pack give byte-identical :meth:`Formulation.to_json`, whatever the order
    of the input lists.

    ``questions``: at most this many questions to ask next (unknown values whose answer
    could change the primary or secondary focus, :mod:`._questions`). Off by default: each
    costs a few re-formulations (see docs/incomplete-inventories.md); 5 is a good number.

    ``trace=True`` adds :attr:`Formulation.trace`: every rule activation in a canonical order
    with the hypothesis score before and after it (see :mod:`ipt_formulate.audit`). Without
    it the output does not mention traces at all.

    ``limits`` bounds the input (see :class:`~ipt_formulate.limits.Limits`; default: the
    defaults with ``IPT_FORMULATE_LIMITS`` applied).

    ``detail`` is the output level (docs/output.md), each a strict subset of the next:
    ``"full"``; ``"standard"``, without WHY-NOT's per-rule checks (and the data advisory
    built from them); ``"brief"``, hypotheses as area, focus, status, score, bounds and rule
    ids, with advisories and provenance. What a level leaves out is not computed.
    """
    _check_arguments(pack, detail)
    inv = parse_inventory(inventory, limits=limits)
    pack = pack if pack is not None else default_pack()
    max_firings = (limits or current_limits()).max_firings
    run, lookup, possible = _read(inv, pack, engine, max_firings)
    brief = detail == "brief"
    unknowns: dict[str, str] = {}
    hyps = rank_hypotheses(
        pack,
        run.firings,
        lookup,
        run.findings,
        possible,
        explain=not brief,
        waits=not brief or questions > 0,
        unknowns=unknowns,
    )
    primary, secondary = select_focus(pack, hyps)
    checks = area_checks(pack, run.firings, run.index) if detail == "full" else {}
    notes = advisories(pack, run.firings, lookup, checks, primary, hyps)
    recorded = None
    if trace:
        from .audit._trace import build_trace

        recorded = build_trace(pack, run.firings, lookup, hyps)
    found = () if brief else _findings(pack, run)
    rules = () if brief else _rules(pack, hyps, notes, found)
    shown = _brief_hypotheses(hyps, primary, secondary) if brief else hyps
    return Formulation(
        schema_version=SCHEMA_VERSION,
        detail=detail,
        disclaimer=DISCLAIMER,
        status=_status(primary, hyps),
        primary_rank=None if primary is None else primary.rank,
        secondary_rank=None if secondary is None else secondary.rank,
        hypotheses=shown,
        hypotheses_omitted=len(hyps) - len(shown),
        not_chosen=() if brief else why_not(pack, hyps, (primary, secondary), checks),
        findings=found,
        advisories=notes,
        provenance=_provenance(inv, pack, run),
        finding_labels=_finding_labels(pack, found),
        rules=rules,
        unknowns=() if brief else _unknowns(unknowns),
        sources=cited_sources(pack, (c.source for r in rules for c in r.citations)),
        trace=recorded,
        ties=focus_ties(pack, hyps, primary, secondary),
        questions=questions_for(
            inv, pack, hyps, questions, max_firings=max_firings, unknowns=unknowns
        ),
    )


_DETAILS: tuple[str, ...] = get_args(Detail)


def _check_arguments(pack: object, detail: object) -> None:
    """The arguments no model validates: a clear error before any work."""
    if pack is not None and not isinstance(pack, RulePack):
        raise TypeError(
            f"pack must be a RulePack, got {type(pack).__name__}: load one with "
            "ipt_formulate.load_pack(path), or pass None for the bundled default pack"
        )
    if detail not in _DETAILS:
        raise OptionError(
            f"detail must be one of {', '.join(_DETAILS)}, got {detail!r}", code="options.detail"
        )


def _read(
    inv: Inventory, pack: RulePack, engine: str, max_firings: int
) -> tuple[EngineRun, dict[tuple[str, str], Mapping[str, Any]], PossibleReading]:
    """The facts read by the pack: the engine's (certain) run, its facts by (type, id), and
    the possible reading (bounds, what pending rules wait on)."""
    facts = derive_facts(
        inv, pack.options, fact_types=pack.fact_types_used(), features=pack.graph_features_used()
    )
    run, maybe, maybe_findings, robust = _runs(pack, facts, engine, max_firings)
    lookup = {(t, str(f["id"])): f for t, fs in run.index.by_type.items() for f in fs}
    return run, lookup, _possible(inv, pack, facts, lookup, (maybe, maybe_findings, robust))


def _status(primary: Hypothesis | None, hyps: Sequence[Hypothesis]) -> FormulationStatus:
    """Established with a primary focus; provisional while a hypothesis could still reach
    the threshold; otherwise insufficient data."""
    if primary is not None:
        return "established"
    if any(h.status == "provisional" for h in hyps):
        return "provisional"
    return "insufficient_data"


def _findings(pack: RulePack, run: EngineRun) -> tuple[Finding, ...]:
    """The findings the engine asserted, each with the rules that asserted it."""
    producers: dict[str, set[str]] = {}
    for fr in run.firings:
        rule = pack.rule(fr.rule_id)
        if rule.asserts is not None:
            focus = None if rule.asserts.focus is None else fr.fact_id(rule.asserts.focus)
            producers.setdefault(f"{rule.asserts.finding}@{focus}", set()).add(rule.id)
    return _FINDINGS.validate_python(
        [
            {
                "name": f["name"],
                "focus": f["focus"],
                "rule_ids": sorted(producers.get(f"{f['name']}@{f['focus']}", ())),
            }
            for f in run.findings
        ]
    )


def _provenance(inv: Inventory, pack: RulePack, run: EngineRun) -> Provenance:
    """Where the formulation comes from: the pack, its options, the engine, the input."""
    return Provenance(
        pack_name=pack.name,
        pack_version=pack.version,
        pack_hash=pack.hash,
        pack_lineage=pack.lineage,
        options=dict(pack.options),
        library_version=__version__,
        engine=run.engine,
        input_digest=input_digest(inv),
    )


def _brief_hypotheses(
    hyps: tuple[Hypothesis, ...], primary: Hypothesis | None, secondary: Hypothesis | None
) -> tuple[Hypothesis, ...]:
    """What brief keeps: for each area, its best-ranked hypothesis that is established or
    provisional; and the primary and secondary. What a cohort compares across records (the
    focus, each area's best score and status, the rules behind them) at a size independent
    of the network's size; the other hypotheses are counted in ``hypotheses_omitted``."""
    seen: set[str] = set()
    keep: list[Hypothesis] = []
    for h in hyps:  # in rank order: an area's first is its best
        best = h.status != "below_threshold" and h.area not in seen
        if best:
            seen.add(h.area)
        if best or h is primary or h is secondary:
            keep.append(h)
    return tuple(keep)


def _rules(
    pack: RulePack,
    hyps: tuple[Hypothesis, ...],
    notes: tuple[Advisory, ...],
    found: tuple[Finding, ...],
) -> tuple[RuleInfo, ...]:
    """The rules table: every rule that evidence, pending rules, advisories and findings
    refer to, once; with citations where it counts (evidence, advisories)."""
    cited = {e.rule_id for h in hyps for e in (*h.support, *h.against)}
    cited.update(a.rule_id for a in notes if a.rule_id is not None)
    other = {p.rule_id for h in hyps for p in h.pending}
    other.update(r for f in found for r in f.rule_ids)
    return rule_table(pack, cited, other)


def _unknowns(about: Mapping[str, str]) -> tuple[OpenFact, ...]:
    """The table of unknown values pending rules wait on, in document order."""
    return tuple(OpenFact(path=p, about=about[p]) for p in sorted(about, key=path_order))


def _finding_labels(pack: RulePack, found: tuple[Finding, ...]) -> dict[str, str]:
    """The pack's labels of the findings this formulation holds."""
    names = {f.name for f in found}
    return {k: v for k, v in pack.finding_labels.items() if k in names}


def next_questions(
    inventory: Inventory | dict[str, Any] | str | bytes,
    pack: RulePack | None = None,
    *,
    limit: int = 5,
) -> tuple[Question, ...]:
    """The questions to ask next about ``inventory``, most decisive first: what
    :func:`formulate` lists under ``questions``. Apply an answer with
    :func:`~ipt_formulate.answer` and ask again (the ``interview`` command's loop)."""
    return formulate(inventory, pack, engine="compiled", questions=limit).questions
