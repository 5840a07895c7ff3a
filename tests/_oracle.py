"""An independent reference oracle for rule packs, written from docs/rule-authoring.md and
docs/inventory.md only.

It shares no code with the library's evaluators (``_evaluate``, ``_logic``,
``_compiled_backend``, ``_experta_backend``), its rule-pack compiler (``rulepack``) or its fact
derivation (``facts``, ``graph``): it reads the rule TOML itself with :mod:`tomllib` and
derives every fact field the bundled packs read from the public :class:`Inventory` model. It
is deliberately simple and slow: nested loops over facts, a fixpoint for findings, no
indexes. A bug in a shared lower layer therefore shows up as a disagreement between this
oracle and both engines.

Semantics, as documented:

* a condition is true, false or unknown; any comparison with an unknown value is unknown,
  except ``known``/``unknown``; ``!=`` and ``not_in`` are unknown too on an unknown value;
* a reference ``@var.field`` holds only when both sides are known and equal (a missing value
  on either side never joins), so it is never unknown;
* a fact binds a variable only when every field that later patterns join on (``@var.field``)
  is known: joins compare identities, never unknowns, in negated patterns too (so a death
  with an unknown subject never satisfies "no person who is this death's subject");
* a positive pattern matches a fact when every condition is true; a negated pattern is
  satisfied when no fact has all its conditions "not false";
* a rule runs when its status is ``active`` and every ``enabled_when`` option has that value;
* ``$NAME`` is the option's current value; ``extends`` merges parent rules first, a child rule
  with the same id replacing the parent's;
* findings: ``asserts`` adds ``{name, focus, id}``; strata make negation safe, so evaluating
  to a fixpoint stratum by stratum (a rule that negates a finding strictly after every rule
  that asserts it) gives the result.
"""

from __future__ import annotations

import calendar
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ipt_formulate import Inventory

Fact = dict[str, Any]
Firing = tuple[str, tuple[tuple[str, str, str], ...]]  # rule id, ((var, type, id), ...)

MONTH_DAYS = 365.25 / 12  # docs/inventory.md: "A month is counted as 365.25 / 12 days."
_RANK = {"poor": 0, "fair": 1, "good": 2}
# docs/inventory.md, "Qualitative timing": value -> (recent, after_onset)
_RELATION = {
    "long_before": (False, False),
    "months_before": (True, False),
    "before": (None, False),
    "around": (True, False),
    "after": (False, True),
}


# ------------------------------------------------------------------ the pack, read from TOML


@dataclass
class OraclePack:
    name: str
    options: dict[str, Any]
    rules: list[dict[str, Any]]


def _resolve_extends(entry: str, here: Path, rules_root: Path) -> Path:
    local = here / entry
    return local if (local / "pack.toml").is_file() else rules_root / entry


def read_pack(path: Path, rules_root: Path, **options: Any) -> OraclePack:
    """The pack at ``path``: parents first, options by name, rules by id."""
    manifest = tomllib.loads((path / "pack.toml").read_text(encoding="utf-8"))
    opts: dict[str, Any] = {}
    rules: dict[str, dict[str, Any]] = {}
    for parent in manifest["pack"].get("extends", []):
        p = read_pack(_resolve_extends(parent, path, rules_root), rules_root)
        opts.update(p.options)
        rules.update({r["id"]: r for r in p.rules})
    for name, spec in manifest.get("options", {}).items():
        opts[name] = spec["default"]
    for f in sorted(path.glob("*.toml")):
        if f.name == "pack.toml":
            continue
        for r in tomllib.loads(f.read_text(encoding="utf-8")).get("rule", []):
            rules[r["id"]] = r
    opts.update(options)
    return OraclePack(manifest["pack"]["name"], opts, list(rules.values()))


# ------------------------------------------------------------------ facts, from the inventory


def _day_range(value: str) -> tuple[date, date]:
    """First and last day a partial ISO date ``YYYY[-MM[-DD]]`` can mean."""
    parts = [int(x) for x in value.split("-")]
    if len(parts) == 1:
        return date(parts[0], 1, 1), date(parts[0], 12, 31)
    if len(parts) == 2:
        y, m = parts
        return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
    d = date(*parts)
    return d, d


def _onset_days(inv: Inventory) -> tuple[date, date] | None:
    ep = inv.episode
    if ep.onset is not None:
        return _day_range(ep.onset)
    if ep.onset_months_before_assessment is not None:
        d = date.fromordinal(
            ep.assessment_date.toordinal() - _days(ep.onset_months_before_assessment)
        )
        return d, d
    return None


def _days(months: float) -> int:
    """Whole days in a number of months: a date moves by whole days, so the fraction of a
    day is dropped (floored, as ``date - timedelta(days=x)`` does)."""
    return math.floor(months * MONTH_DAYS)


def _months_before_onset_span(inv: Inventory, e: Any) -> tuple[float, float] | None:
    if e.months_before_onset is not None:
        return float(e.months_before_onset), float(e.months_before_onset)
    onset = _onset_days(inv)
    if onset is None or e.date is None:
        return None
    first, last = _day_range(e.date)
    return (onset[0] - last).days / MONTH_DAYS, (onset[1] - first).days / MONTH_DAYS


def _event_days(inv: Inventory, e: Any) -> tuple[date, date] | None:
    if e.date is not None:
        return _day_range(e.date)
    onset = _onset_days(inv)
    if e.months_before_onset is None or onset is None:
        return None
    k = _days(e.months_before_onset)
    return (
        date.fromordinal(onset[0].toordinal() - k),
        date.fromordinal(onset[1].toordinal() - k),
    )


def _half(x: float) -> float:
    return round(x * 2) / 2


def _timing(inv: Inventory, e: Any, window: float, tol: float) -> dict[str, Any]:
    """recent / after_onset / months_before_onset / linked_to_onset / months_since_event.

    recent: every possible position of the event lies in [-tol, window] months before onset
    (true), none does (false), else unknown; after_onset: every position lies more than
    ``tol`` after onset (true), none does (false). Where dates leave it open the clinician's
    ``onset_relation`` fills it. A span is "settled" when it is at most one month wide; its
    midpoint is given to the nearest half month."""
    recent: bool | None = None
    after: bool | None = None
    months: float | None = None
    span = _months_before_onset_span(inv, e)
    if span is not None:
        lo, hi = span
        if -tol <= lo and hi <= window:
            recent = True
        elif hi < -tol or lo > window:
            recent = False
        if hi < -tol:
            after = True
        elif lo >= -tol:
            after = False
        if hi - lo <= 1.0:
            months = _half((lo + hi) / 2)
    if e.onset_relation is not None:
        r, a = _RELATION[e.onset_relation]
        recent = r if recent is None else recent
        after = a if after is None else after
    since: float | None = None
    days = _event_days(inv, e)
    if days is not None:
        assess = inv.episode.assessment_date
        s_lo = (assess - days[1]).days / MONTH_DAYS
        s_hi = (assess - days[0]).days / MONTH_DAYS
        if s_hi - s_lo <= 1.0:
            since = _half((s_lo + s_hi) / 2)
    m = e.maintains_episode
    linked: bool | None = None
    if recent is True or m is True:
        linked = True
    elif recent is False and m is False:
        linked = False
    return {
        "recent": recent,
        "after_onset": after,
        "months_before_onset": months,
        "linked_to_onset": linked,
        "months_since_event": since,
    }


def derive(inv: Inventory, options: Mapping[str, Any]) -> dict[str, list[Fact]]:
    """The fact fields the bundled packs read (see ``FIELDS``), from the inventory."""
    window = float(options.get("recent_window_months", 6))
    tol = float(options.get("onset_tolerance_months", 1))
    died_in_event = {e.subject for e in inv.events if e.kind == "death" and e.subject}

    def dead(p: Any) -> bool | None:
        if p.deceased is True or p.date_of_death is not None or p.id in died_in_event:
            return True
        return p.deceased  # type: ignore[no-any-return]

    view = inv.patient_view
    persons: list[Fact] = []
    for p in inv.persons:
        pm, om = p.patient_expectations_met, p.other_expectations_met
        nonrec = True if (pm is False or om is False) else False if (pm and om) else None
        change = None
        if p.quality_before_onset is not None and p.quality_now is not None:
            d = _RANK[p.quality_now] - _RANK[p.quality_before_onset]
            change = "worse" if d < 0 else "same" if d == 0 else "better"
        persons.append(
            {
                "id": p.id,
                "role": p.role,
                "ring": p.ring,
                "conflict": p.conflict,
                "deceased": dead(p),
                "dispute_stage_evidence": p.dispute_stage_evidence,
                "patient_expectations_met": pm,
                "other_expectations_met": om,
                "non_reciprocal": nonrec,
                "changes_wanted": len(p.changes_wanted),
                "quality_before_onset": p.quality_before_onset,
                "quality_now": p.quality_now,
                "quality_change": change,
                "patient_priority": None
                if view is None or view.most_important_person is None
                else view.most_important_person == p.id,
            }
        )
    living = [p for p, f in zip(inv.persons, persons, strict=True) if f["deceased"] is not True]
    events: list[Fact] = []
    for e in inv.events:
        events.append(
            {
                "id": e.id,
                "kind": e.kind,
                "valence": e.valence,
                "response": e.response,
                "subject": e.subject,
                "maintains_episode": e.maintains_episode,
                "patient_priority": None
                if view is None or view.most_important_event is None
                else view.most_important_event == e.id,
                **_timing(inv, e, window, tol),
            }
        )
    r, sh = inv.patient.risk, inv.social_history
    by_instr = {m.instrument: m for m in inv.episode.measures}

    def measure(instr: str, item: str) -> Any:
        m = by_instr.get(instr)
        return None if m is None else getattr(m, item)

    patient: Fact = {
        "id": "patient",
        "age": inv.patient.age,
        "populations": tuple(inv.patient.populations),
        "course": inv.patient.course,
        **{k: getattr(r, k) for k in type(r).model_fields},
        "phq9_total": measure("phq9", "total"),
        "phq9_item9": measure("phq9", "item9"),
        "hamd17_total": measure("hamd17", "total"),
        "hamd17_item3": measure("hamd17", "item3"),
        "icg_total": measure("icg", "total"),
        "pg13r_total": measure("pg13r", "total"),
        "onset_known": True if _onset_days(inv) is not None else None,
        "isolated_since": sh.isolated_since,
        "isolation_predates_onset": None
        if sh.isolated_since is None
        else sh.isolated_since != "episode_onset",
        "long_standing_isolation": sh.long_standing_isolation,
        "few_attachments_before_onset": sh.few_attachments_before_onset,
        "prior_social_functioning": sh.prior_social_functioning,
        "network_size": len(living),
        "confidant_count": sum(1 for p in living if p.confidant is True),
        "confidant_unknown": sum(1 for p in living if p.confidant is None),
        "weakened_tie_count": sum(
            1
            for p in living
            if p.quality_before_onset is not None
            and p.quality_now is not None
            and _RANK[p.quality_now] < _RANK[p.quality_before_onset]
        ),
    }
    links = [
        {
            "id": "~".join(sorted((k.a, k.b))),
            "a": min(k.a, k.b),
            "b": max(k.a, k.b),
            "close": k.close,
            "conflict": k.conflict,
        }
        for k in inv.relationships
    ]
    return {"patient": [patient], "person": persons, "event": events, "link": links}


# The fields derive() fills, per fact type: a pack reading any other field is out of scope.
FIELDS = {
    "patient": {
        "id", "age", "populations", "course", "suicidal_ideation", "suicide_plan_or_intent",
        "suicide_attempt_history", "self_harm", "psychosis", "mania_history", "substance_use",
        "phq9_total", "phq9_item9", "hamd17_total", "hamd17_item3", "icg_total", "pg13r_total",
        "onset_known", "isolated_since", "isolation_predates_onset", "long_standing_isolation",
        "few_attachments_before_onset", "prior_social_functioning", "network_size",
        "confidant_count", "confidant_unknown", "weakened_tie_count",
    },
    "person": {
        "id", "role", "ring", "conflict", "deceased", "dispute_stage_evidence",
        "patient_expectations_met", "other_expectations_met", "non_reciprocal",
        "changes_wanted", "quality_before_onset", "quality_now", "quality_change",
        "patient_priority",
    },
    "event": {
        "id", "kind", "valence", "response", "subject", "maintains_episode", "patient_priority",
        "recent", "after_onset", "months_before_onset", "linked_to_onset", "months_since_event",
    },
    "link": {"id", "a", "b", "close", "conflict"},
    "finding": {"id", "name", "focus"},
}  # fmt: skip


def fields_read(pack: OraclePack) -> dict[str, set[str]]:
    """Every (fact type, field) a pack's conditions read, including the far side of joins."""
    out: dict[str, set[str]] = {}
    for rule in pack.rules:
        types = {p.get("bind"): p["fact"] for p in rule["when"]}
        for p in rule["when"]:
            for cond in p.get("where", []):
                out.setdefault(p["fact"], set()).add(cond[0])
                v = cond[2] if len(cond) > 2 else None
                if isinstance(v, str) and v.startswith("@"):
                    var, fld = v[1:].split(".", 1)
                    out.setdefault(types[var], set()).add(fld)
    return out


# ------------------------------------------------------------------ evaluation


def _truth(value: Any, op: str, rhs: Any) -> bool | None:
    if op == "known":
        return value is not None
    if op == "unknown":
        return value is None
    if value is None:
        return None
    if op == "==":
        return bool(value == rhs)
    if op == "!=":
        return bool(value != rhs)
    if op == "<":
        return bool(value < rhs)
    if op == "<=":
        return bool(value <= rhs)
    if op == ">":
        return bool(value > rhs)
    if op == ">=":
        return bool(value >= rhs)
    if op == "in":
        return value in rhs
    if op == "not_in":
        return value not in rhs
    if op == "contains":
        return rhs in value
    raise AssertionError(f"operator {op!r} is not in the documentation")


def _cond(fact: Fact, cond: list[Any], env: Mapping[str, Fact], opts: Mapping[str, Any]) -> Any:
    fld, op = cond[0], cond[1]
    value = fact.get(fld)
    if op in ("known", "unknown"):
        return _truth(value, op, None)
    rhs = cond[2]
    if isinstance(rhs, str) and rhs.startswith("@"):
        var, other = rhs[1:].split(".", 1)
        theirs = env[var].get(other)
        return value is not None and theirs is not None and value == theirs
    if isinstance(rhs, str) and rhs.startswith("$"):
        rhs = opts[rhs[1:]]
    return _truth(value, op, rhs)


def _matches(
    rule: Mapping[str, Any],
    facts: Mapping[str, list[Fact]],
    opts: Mapping[str, Any],
) -> Iterator[dict[str, tuple[str, Fact]]]:
    """Every assignment of facts to the rule's positive patterns that satisfies the rule."""
    pats = rule["when"]
    joined = {
        tuple(c[2][1:].split(".", 1))
        for p in pats
        for c in p.get("where", [])
        if len(c) > 2 and isinstance(c[2], str) and c[2].startswith("@")
    }

    def go(i: int, env: dict[str, tuple[str, Fact]]) -> Iterator[dict[str, tuple[str, Fact]]]:
        if i == len(pats):
            yield dict(env)
            return
        p = pats[i]
        flat = {k: f for k, (_, f) in env.items()}
        where = p.get("where", [])
        if p.get("exists", True) is False:
            blocked = any(
                all(_cond(f, c, flat, opts) is not False for c in where)
                for f in facts.get(p["fact"], [])
            )
            if not blocked:
                yield from go(i + 1, env)
            return
        for f in facts.get(p["fact"], []):
            guards = [f.get(fld) is not None for var, fld in joined if var == p.get("bind")]
            if all(guards) and all(_cond(f, c, flat, opts) is True for c in where):
                key = p.get("bind", f"#anon{i}")
                env[key] = (p["fact"], f)
                yield from go(i + 1, env)
                del env[key]

    yield from go(0, {})


def _runs(rule: Mapping[str, Any], opts: Mapping[str, Any]) -> bool:
    if rule.get("status", "active") != "active":
        return False
    return all(opts.get(k) == v for k, v in rule.get("enabled_when", {}).items())


def _findings_read(rule: Mapping[str, Any], negated: bool) -> set[str]:
    out = set()
    for p in rule["when"]:
        if p["fact"] == "finding" and (p.get("exists", True) is False) == negated:
            out |= {c[2] for c in p.get("where", []) if c[0] == "name" and c[1] == "=="}
    return out


def _strata(rules: list[Mapping[str, Any]]) -> dict[str, int]:
    asserters: dict[str, list[str]] = {}
    for r in rules:
        if "asserts" in r:
            asserters.setdefault(r["asserts"]["finding"], []).append(r["id"])
    level = {r["id"]: 0 for r in rules}
    for _ in range(len(rules) + 1):
        changed = False
        for r in rules:
            need = 0
            for name in _findings_read(r, negated=False):
                need = max([need, *(level[a] for a in asserters.get(name, []))])
            for name in _findings_read(r, negated=True):
                need = max([need, *(level[a] + 1 for a in asserters.get(name, []))])
            if need > level[r["id"]]:
                level[r["id"]], changed = need, True
        if not changed:
            return level
    raise AssertionError("findings form a cycle")


def run(pack: OraclePack, inv: Inventory) -> tuple[set[Firing], set[str]]:
    """The firings (named bindings only) and the ids of the findings asserted."""
    opts = pack.options
    facts: dict[str, list[Fact]] = derive(inv, opts)
    facts["finding"] = []
    rules = [r for r in pack.rules if _runs(r, opts)]
    strata = _strata(rules)
    for s in sorted(set(strata.values())):
        while True:
            new = []
            have = {f["id"] for f in facts["finding"]}
            for r in rules:
                if strata[r["id"]] != s or "asserts" not in r:
                    continue
                for env in _matches(r, facts, opts):
                    name = r["asserts"]["finding"]
                    var = r["asserts"].get("focus")
                    focus = env[var][1]["id"] if var else None
                    fid = f"{name}@{focus}" if focus else name
                    if fid not in have:
                        have.add(fid)
                        new.append({"id": fid, "name": name, "focus": focus})
            if not new:
                break
            facts["finding"].extend(new)
    firings: set[Firing] = set()
    for r in rules:
        for env in _matches(r, facts, opts):
            firings.add(
                (
                    r["id"],
                    tuple(
                        sorted(
                            (v, t, f["id"]) for v, (t, f) in env.items() if not v.startswith("#")
                        )
                    ),
                )
            )
    return firings, {f["id"] for f in facts["finding"]}
