"""Human-readable renderings of a formulation (Markdown and plain text).

Order: disclaimer, advisories (safety first), the focus, provisional readings and the
questions to ask next, the ranked hypotheses with their evidence, WHY-NOT, provenance.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: formulation.py imports this module to render itself
    from .formulation import (
        Citation,
        Evidence,
        Formulation,
        Hypothesis,
        Source,
        Trace,
        TraceStep,
    )

FOOTNOTE_WIDTH = 100
"""Footnotes are wrapped at this width: no rendered line carries more citation text."""


class Footnotes:
    """Citations numbered in order of first use, each source (key and locator) once; the
    sources are the formulation's (citations refer to them by key)."""

    def __init__(self, sources: Mapping[str, Source]) -> None:
        self.sources = sources
        self.entries: dict[tuple[str, str | None], int] = {}
        self.cited: list[Citation] = []

    def refs(self, citations: Iterable[Citation]) -> list[int]:
        """The footnote numbers of ``citations``, numbering new ones."""
        out = []
        for c in citations:
            key = (c.source, c.locator)
            if key not in self.entries:
                self.entries[key] = len(self.cited) + 1
                self.cited.append(c)
            n = self.entries[key]
            if n not in out:
                out.append(n)
        return out

    def mark(self, citations: Iterable[Citation]) -> str:
        return "".join(f"[{n}]" for n in sorted(self.refs(citations)))

    def lines(self) -> list[str]:
        """Each footnote, wrapped at :data:`FOOTNOTE_WIDTH` with a hanging indent."""
        out: list[str] = []
        for i, c in enumerate(self.cited, start=1):
            src = self.sources[c.source]
            text = src.text + (f", {c.locator}" if c.locator else "")
            text += f" <{src.url}>" if src.url else ""
            head = f"[{i}] "
            out += textwrap.wrap(
                head + text,
                FOOTNOTE_WIDTH,
                subsequent_indent=" " * len(head),
                break_long_words=True,
                break_on_hyphens=False,
            )
        return out


_FINDING_REF = re.compile(r"finding '([a-z][a-z0-9_]*)'")


def finding_label(name: str, labels: Mapping[str, str]) -> str:
    """A finding's human label, else its name with spaces."""
    return labels.get(name, name.replace("_", " "))


def humanize(detail: str, labels: Mapping[str, str]) -> str:
    """Replace ``finding 'name'`` in a WHY-NOT detail by the finding's label."""
    return _FINDING_REF.sub(lambda m: f'finding "{finding_label(m.group(1), labels)}"', detail)


def _hyp_line(h: Hypothesis, labels: Mapping[str, str] | None = None) -> str:
    names = [finding_label(n, labels or {}) for n in h.findings]
    extra = f" — noted: {'; '.join(names)}" if names else ""
    bounds = (
        f"; {h.lower_bound:g} to {h.upper_bound:g} as unknown values resolve"
        if (h.lower_bound, h.upper_bound) != (h.score, h.score)
        else ""
    )
    return f"{h.area_label} — focus: {h.focus.name} (score {h.score:g}{bounds}){extra}"


def _provisional_lines(f: Formulation) -> list[str]:
    """Provisional readings with what each waits on, then the questions to ask next."""
    lines: list[str] = []
    provisional = [h for h in f.hypotheses if h.status == "provisional"]
    if provisional:
        lines += ["## Provisional (waiting on unknown values)", ""]
        for h in provisional:
            lines.append(
                f"- **{h.area_label}** — focus: {h.focus.name}: score {h.score:g} now, up to "
                f"{h.upper_bound:g}; waits on:"
            )
            lines += [f"  - {f.about(path)}: `{path}`" for path in h.waits_on]
        lines.append("")
    if f.questions:
        lines += ["## Questions to ask next", ""]
        for i, q in enumerate(f.questions, start=1):
            lines.append(f"{i}. {q.question} (`{q.path}`)")
            for a in q.answers:
                value = ("yes" if a.value else "no") if isinstance(a.value, bool) else a.value
                lines.append(f"   - {value}: {a.effect}")
        lines.append("")
    return lines


def _evidence_lines(
    f: Formulation, ev: tuple[Evidence, ...], sign: str, notes: Footnotes
) -> list[str]:
    out = []
    for e in ev:
        mark = notes.mark(f.citations_of(e.rule_id))
        rule = f.rule(e.rule_id) if e.explanations else None  # explained: the rule is held
        version = "" if rule is None else f" v{rule.version}"
        for text in e.explanations:
            out.append(
                f"  {sign} {text} {mark} (rule {e.rule_id}{version}, weight "
                f"{e.weight:+g}, contribution {e.contribution:+g})"
            )
    return out


def render_markdown(f: Formulation) -> str:
    labels = f.finding_labels
    notes = Footnotes(f.sources_by_key())
    lines = ["# IPT formulation (tentative)", "", f"> {f.disclaimer}", ""]
    for a in f.advisories:
        mark = notes.mark(f.citations_of(a.rule_id))
        lines.append(f"> **{a.level.upper()} ({a.kind})**: {a.message}{' ' + mark if mark else ''}")
    if f.advisories:
        lines.append("")
    lines.append("## Focus")
    lines.append("")
    if f.primary is not None:
        lines.append(f"- **Primary**: {_hyp_line(f.primary, labels)}")
        if f.secondary is not None:
            lines.append(f"- **Secondary**: {_hyp_line(f.secondary, labels)}")
        lines += [f"- **Tie**: {t.note}" for t in f.ties]
    elif f.status == "provisional":
        lines.append(
            "No problem area is established yet: the readings below are provisional, "
            "not a formulation."
        )
    else:
        lines.append("No problem area reached the pack's threshold.")
    lines.append("")
    lines += _provisional_lines(f)
    lines += ["## Hypotheses (ranked)", ""]
    if not any(h.support for h in f.hypotheses):
        lines += ["No rule supports a hypothesis on certain evidence yet.", ""]
    for h in f.hypotheses:
        if not h.support:  # provisional only: listed above, no evidence yet
            continue
        lines.append(f"### {h.rank}. {_hyp_line(h, labels)}")
        lines.append("")
        lines.extend(_evidence_lines(f, h.support, "+", notes))
        lines.extend(_evidence_lines(f, h.against, "-", notes))
        lines.append("")
    lines += ["## Why not the other areas", ""]
    for w in f.not_chosen:
        lines.append(f"- **{w.area_label}**: {w.reason}")
        for c in w.rules:
            lines.append(f"  - `{c.rule_id}` {c.status}: {humanize(c.detail, labels)}")
    if notes.cited:
        lines += ["", "## Sources", ""]
        lines += notes.lines()
    p = f.provenance
    lines += [
        "",
        "## Provenance",
        "",
        f"- rule pack: {p.pack_name} {p.pack_version} ({p.pack_hash})",
        f"- options: {', '.join(f'{k}={v}' for k, v in p.options.items()) or '-'}",
        f"- engine: {p.engine}; ipt-formulate {p.library_version}",
        f"- input: {p.input_digest}",
        "",
    ]
    if f.trace is not None:
        lines += render_trace_lines(f.trace)
    return "\n".join(lines)


def _step_line(s: TraceStep) -> str:
    binds = ", ".join(f"{b.var}={b.type}:{b.id}" for b in s.bindings) or "-"
    out = f"{s.order}. `{s.rule_id}` v{s.rule_version} [stratum {s.stratum}] ({binds})"
    effects = []
    if s.hypothesis is not None and s.weight is not None:
        repeat = "" if s.counted else ", already counted"
        effects.append(
            f"{s.hypothesis} {s.weight:+g}: {s.score_before:g} -> {s.score_after:g}{repeat}"
        )
    if s.asserts is not None:
        effects.append(f"asserts {s.asserts}")
    if s.advisory is not None:
        effects.append(f"advisory ({s.advisory})")
    return out + (" => " + "; ".join(effects) if effects else "")


def render_trace_lines(t: Trace) -> list[str]:
    """The trace as Markdown lines (a numbered list of activations, then hypotheses)."""
    lines = ["## Trace", "", f"Rule activations in canonical order ({t.order}).", ""]
    lines += [_step_line(s) for s in t.steps] or ["No rule fired."]
    lines += ["", "Hypotheses touched (final score, rank):", ""]
    for h in t.hypotheses:
        rank = "not listed (evidence against only)" if h.rank is None else f"rank {h.rank}"
        lines.append(f"- {h.key}: {h.score:g}, {rank}")
    lines.append("")
    return lines


def render_trace_text(t: Trace) -> str:
    """The trace alone as plain text."""
    out = []
    for ln in render_trace_lines(t):
        ln = ln.replace("`", "")
        out.append(ln.lstrip("#").strip() if ln.startswith("#") else ln)
    return "\n".join(out) + "\n"


def render_text(f: Formulation) -> str:
    md = render_markdown(f)
    out = []
    for ln in md.splitlines():
        ln = ln.replace("**", "").replace("`", "")
        if ln.startswith("> "):
            ln = ln[2:]
        ln = ln.lstrip("#").strip() if ln.startswith("#") else ln
        out.append(ln)
    return "\n".join(out) + "\n"


def _reason(f: Formulation, e: Evidence) -> str:
    return e.explanations[0] if e.explanations else f.rule_title(e.rule_id)


def render_summary(f: Formulation) -> str:
    """At most about eight lines: safety, primary and secondary with focus and score, the one
    or two strongest reasons of each, the top open question."""
    safety = [a for a in f.advisories if a.kind == "safety"]
    if safety:
        top = min(safety, key=lambda a: ("urgent", "caution", "info").index(a.level))
        lines = [f"SAFETY ({top.level}): {textwrap.shorten(top.message, 140)}"]
    else:
        lines = ["Safety: no safety advisory raised by the rules (the clinician still assesses)."]
    chosen: list[tuple[str, Hypothesis | None]] = [
        ("Primary", f.primary),
        ("Secondary", f.secondary),
    ]
    if f.primary is None:
        provisional = [h for h in f.hypotheses if h.status == "provisional"][:1]
        chosen = [("Provisional", h) for h in provisional]
        if not chosen:
            lines.append("No problem area reached the pack's threshold.")
    for title, h in chosen:
        if h is None:
            continue
        lines.append(f"{title}: {h.area_label} — {h.focus.name} (score {h.score:g})")
        strongest = sorted(h.support, key=lambda e: (-e.contribution, e.rule_id))[:2]
        lines += [f"  - {textwrap.shorten(_reason(f, e), 150)}" for e in strongest]
    if f.questions:
        lines.append(f"Ask next: {textwrap.shorten(f.questions[0].question, 150)}")
    lines.append("Decision support, not a diagnosis: the clinician decides, with the patient.")
    return "\n".join(lines) + "\n"
