"""The HTML report: one self-contained page (inline CSS and SVG, no network, A4 print).

Layout is computed here, deterministically (input order, fixed rounding); the page is written
by a Jinja2 template (``templates/report.html.j2``) with autoescaping on, so every text from
the inventory is escaped. Jinja2 is the optional extra ``[report]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from ._render import Footnotes, finding_label, humanize
from .errors import IptFormulateError
from .facts import date_words, event_name, short_text, timing_phrase

if TYPE_CHECKING:
    from datetime import date

    from jinja2 import Template

    from .formulation import Formulation, Hypothesis
    from .inventory import Inventory, LifeEvent, Person
    from .rulepack import RulePack

__all__ = ["render_html", "report"]

# ---------------------------------------------------------------- the interpersonal circle
CX, CY = 470.0, 320.0
RING_RADIUS = {"inner": 105.0, "middle": 190.0, "outer": 275.0}
RING_ORDER = ("inner", "middle", "outer")
NODE_R = 9.0
CIRCLE_W = 940
LABEL_MAX = 22  # characters of a label drawn in the SVG (the full label is in <title>)
LABELLED_PER_RING = 18  # beyond this, persons are drawn without labels (titles only)
UNKNOWN_PER_ROW = 4
UNKNOWN_ROW_H = 46.0
CONFLICT_STYLE = {  # conflict level -> (CSS class, legend)
    "none": "c-none",
    "low": "c-low",
    "moderate": "c-moderate",
    "high": "c-high",
}


def _f(x: float) -> str:
    """A coordinate, fixed to one decimal (deterministic bytes)."""
    return f"{x:.1f}"


@dataclass(frozen=True)
class Node:
    """One person placed on the circle."""

    id: str
    label: str
    short: str
    title: str
    ring: str
    x: str
    y: str
    lx: str
    ly: str
    anchor: str
    show_label: bool
    classes: str
    confidant: bool
    lives_with: bool
    deceased: bool
    death: str
    conflict: str
    support: str
    focus: str  # "", "primary" or "secondary"


@dataclass(frozen=True)
class Edge:
    x1: str
    y1: str
    x2: str
    y2: str
    classes: str
    title: str
    path: str = ""  # a curve (links between persons bend away from the centre)


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    """A quadratic curve from one person to another, bent away from the patient so that it
    does not run through the centre or along a spoke."""
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length, dx / length
    if (mx - CX) * nx + (my - CY) * ny < 0:
        nx, ny = -nx, -ny
    bend = max(40.0, 0.35 * length)
    qx, qy = mx + nx * bend, my + ny * bend
    return f"M {_f(x1)} {_f(y1)} Q {_f(qx)} {_f(qy)} {_f(x2)} {_f(y2)}"


@dataclass
class Circle:
    width: int
    height: int
    cx: str
    cy: str
    rings: list[tuple[str, str, str, str]]  # (name, radius, label x, label y)
    nodes: list[Node] = field(default_factory=list)
    spokes: list[Edge] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    unknown_y: str = ""
    has_unknown: bool = False


def _focus_of(h: Hypothesis | None, kind: str) -> str | None:
    return h.focus.id if h is not None and h.focus.kind == kind else None


def _person_label(p: Person) -> str:
    return p.label if p.label else p.id


@dataclass(frozen=True)
class _Spot:
    """A person's position and label position on the circle (floats, before rounding)."""

    x: float
    y: float
    lx: float
    ly: float
    anchor: str


def _by_ring(inv: Inventory) -> dict[str, list[Person]]:
    """The persons of each ring in input order (an unset or unknown ring goes to "unknown"),
    so that placement is deterministic."""
    by_ring: dict[str, list[Person]] = {r: [] for r in (*RING_ORDER, "unknown")}
    for p in inv.persons:
        by_ring[p.ring if p.ring in RING_RADIUS else "unknown"].append(p)
    return by_ring


def _circle_frame(by_ring: dict[str, list[Person]]) -> tuple[Circle, float]:
    """The empty picture (size, rings and their names) and the y below the circle where
    the persons with unknown ring start: the height grows with their rows."""
    unknown_rows = math.ceil(len(by_ring["unknown"]) / UNKNOWN_PER_ROW)
    base = CY + RING_RADIUS["outer"] + 45
    height = int(base + unknown_rows * UNKNOWN_ROW_H + (10 if unknown_rows else -5))
    c = Circle(
        width=CIRCLE_W,
        height=height,
        cx=_f(CX),
        cy=_f(CY),
        # ring names at 112.5 degrees (lower left), where few persons are placed
        rings=[
            (
                r,
                _f(RING_RADIUS[r]),
                _f(CX + (RING_RADIUS[r] - 4) * math.cos(math.radians(112.5))),
                _f(CY + (RING_RADIUS[r] - 4) * math.sin(math.radians(112.5))),
            )
            for r in RING_ORDER
        ],
        unknown_y=_f(base - 14),
        has_unknown=bool(by_ring["unknown"]),
    )
    return c, base


def _place(ring: str, k: int, i: int, n: int, base: float) -> _Spot:
    """Where the ``i``-th of ``n`` persons of ``ring`` (``k``-th ring) goes, and its label:
    even angles on a ring, staggered between rings; rows below the circle if unknown."""
    if ring == "unknown":
        col, row = i % UNKNOWN_PER_ROW, i // UNKNOWN_PER_ROW
        x = 40.0 + col * (CIRCLE_W - 60) / UNKNOWN_PER_ROW
        y = base + 12 + row * UNKNOWN_ROW_H
        return _Spot(x, y, x + NODE_R + 5, y + 4, "start")
    r = RING_RADIUS[ring]
    # stagger the rings so that persons on neighbouring rings do not line up
    angle = -math.pi / 2 + (i + 0.5 * (k % 2)) * 2 * math.pi / n
    x, y = CX + r * math.cos(angle), CY + r * math.sin(angle)
    cos = math.cos(angle)
    anchor = "start" if cos > 0.2 else "end" if cos < -0.2 else "middle"
    off = NODE_R + 6
    lx = x + (off if anchor == "start" else -off if anchor == "end" else 0)
    ly = y + (4 if anchor != "middle" else (NODE_R + 16 if y > CY else -NODE_R - 8))
    return _Spot(x, y, lx, ly, anchor)


def _person_node(p: Person, ring: str, at: _Spot, show_label: bool, dead: bool, focus: str) -> Node:
    """One person's drawn node: CSS classes from support, death and focus, and a title
    that says in words what the marks show (for screen readers and hover)."""
    label = _person_label(p)
    conflict = p.conflict or "unknown"
    support = p.support or "unknown"
    classes = " ".join(
        c
        for c in (
            "person",
            f"s-{support}",
            "deceased" if dead else "",
            f"focus-{focus}" if focus else "",
        )
        if c
    )
    marks = [
        f"ring {ring}" if ring != "unknown" else "ring unknown",
        f"conflict {conflict}",
        f"support {support}",
    ]
    if p.confidant:
        marks.append("confidant")
    if p.lives_with_patient:
        marks.append("lives with the patient")
    if dead:
        marks.append("died" + (f" {date_words(p.date_of_death)}" if p.date_of_death else ""))
    if focus:
        marks.append(f"{focus} focus")
    return Node(
        id=p.id,
        label=label,
        short=short_text(label, LABEL_MAX),
        title=f"{label}: {', '.join(marks)}",
        ring=ring,
        x=_f(at.x),
        y=_f(at.y),
        lx=_f(at.lx),
        ly=_f(at.ly),
        anchor=at.anchor,
        show_label=show_label,
        classes=classes,
        confidant=p.confidant is True,
        lives_with=p.lives_with_patient is True,
        deceased=dead,
        death=date_words(p.date_of_death) if p.date_of_death else "",
        conflict=conflict,
        support=support,
        focus=focus,
    )


def _link_edges(inv: Inventory, pos: dict[str, tuple[float, float]]) -> list[Edge]:
    """The relationships between placed persons, as curves styled by closeness and
    conflict."""
    names = {p.id: _person_label(p) for p in inv.persons}
    edges: list[Edge] = []
    for link in inv.relationships:
        if link.a not in pos or link.b not in pos:
            continue
        (x1, y1), (x2, y2) = pos[link.a], pos[link.b]
        kinds = []
        if link.close:
            kinds.append("close")
        if link.conflict not in (None, "none"):
            kinds.append(f"conflict {link.conflict}")
        classes = "link" + (" close" if link.close else "")
        if link.conflict in ("low", "moderate", "high"):
            classes += f" link-{CONFLICT_STYLE[link.conflict]}"
        edges.append(
            Edge(
                _f(x1),
                _f(y1),
                _f(x2),
                _f(y2),
                classes,
                f"{names[link.a]} and {names[link.b]}: {', '.join(kinds) or 'linked'}",
                _curve(x1, y1, x2, y2),
            )
        )
    return edges


def circle_layout(inv: Inventory, f: Formulation) -> Circle:
    """Place each person on their ring (even angles, input order, rings staggered) and the
    persons with unknown ring in rows below the circle."""
    prim, sec = _focus_of(f.primary, "person"), _focus_of(f.secondary, "person")
    deceased = inv.deceased_status()
    by_ring = _by_ring(inv)
    c, base = _circle_frame(by_ring)
    pos: dict[str, tuple[float, float]] = {}
    for k, ring in enumerate((*RING_ORDER, "unknown")):
        people = by_ring[ring]
        n = len(people)
        for i, p in enumerate(people):
            at = _place(ring, k, i, n, base)
            pos[p.id] = (at.x, at.y)
            focus = "primary" if p.id == prim else "secondary" if p.id == sec else ""
            show = ring == "unknown" or n <= LABELLED_PER_RING
            c.nodes.append(_person_node(p, ring, at, show, deceased.get(p.id) is True, focus))
            if ring != "unknown":
                conflict = p.conflict or "unknown"
                c.spokes.append(
                    Edge(
                        _f(CX),
                        _f(CY),
                        _f(at.x),
                        _f(at.y),
                        f"spoke {CONFLICT_STYLE.get(conflict, 'c-unknown')}",
                        f"conflict with the patient: {conflict}",
                    )
                )
    c.edges = _link_edges(inv, pos)
    return c


# ---------------------------------------------------------------------------- the timeline
TL_W = 720
TL_LEFT, TL_RIGHT = 30.0, 690.0
TL_AXIS_Y = 40.0
TL_ROW_H = 34.0
CHAR_W = 6.6  # estimated label width per character at the timeline's font size
_RELATION_MONTHS = {  # where a qualitative onset_relation is drawn (months before onset)
    "long_before": None,  # at the left edge
    "months_before": "window_mid",
    "before": "window_mid",
    "around": 0.0,
    "after": "after",
}


@dataclass(frozen=True)
class TimelineEvent:
    id: str
    name: str
    kind: str
    when: str
    how: str  # "dated", "months", "qualitative"
    x: str
    x1: str
    x2: str
    y: str
    ly: str
    lx: str
    anchor: str
    classes: str
    title: str
    clipped: bool
    focus: str


@dataclass
class Timeline:
    width: int
    height: int
    axis_y: str
    left: str
    right: str
    onset_x: str
    window_x: str
    window_months: str
    assessment_x: str | None
    ticks: list[tuple[str, str]]
    events: list[TimelineEvent]
    undated: list[tuple[str, str, str]]  # (name, kind, description)
    onset_text: str
    onset_anchor: str
    onset_known: bool


def _event_months(
    inv: Inventory, e: LifeEvent, window: float, after: float
) -> tuple[float | None, float | None, str]:
    """(lo, hi) months before onset where the event is drawn, and how it was placed."""
    span = inv.months_before_onset_span(e)
    if span is not None:
        return span[0], span[1], "months" if e.date is None else "dated"
    if e.onset_relation is not None:
        rel = e.onset_relation
        if rel == "long_before":
            return math.inf, math.inf, "qualitative"
        if rel in ("months_before", "before"):
            return window / 2, window / 2, "qualitative"
        if rel == "around":
            return 0.0, 0.0, "qualitative"
        return -after / 2, -after / 2, "qualitative"
    return None, None, ""


@dataclass(frozen=True)
class _Scale:
    """Months before onset to x: ``span_before`` months at the left edge, ``span_after``
    months after onset at the right edge."""

    span_before: float
    span_after: float
    total: float

    def x_of(self, months: float) -> tuple[float, bool]:
        """The x of ``months`` before onset, and whether it was clipped at the left edge."""
        if not math.isfinite(months) or months > self.span_before:
            return TL_LEFT, True
        return TL_LEFT + (self.span_before - months) / self.total * (TL_RIGHT - TL_LEFT), False


_Placed = tuple[float, float, str, "LifeEvent"]  # (lo, hi, how, event)


def _months_after_onset(inv: Inventory, onset: tuple[date, date] | None) -> float:
    """Months from the middle of the onset window to the assessment (0 if onset unknown):
    how far the picture reaches right of onset."""
    if onset is None:
        return 0.0
    mid = onset[0] + (onset[1] - onset[0]) / 2
    return max(0.0, (inv.episode.assessment_date - mid).days / (365.25 / 12))


def _focus_events(inv: Inventory, f: Formulation) -> dict[str | None, str]:
    """Event id -> "primary"/"secondary": the focus event, and the events about the focus
    person (a death in grief); the primary wins."""
    focus_ids: dict[str | None, str] = {}
    for h, word in ((f.secondary, "secondary"), (f.primary, "primary")):
        if h is not None and h.focus.kind == "event":
            focus_ids[h.focus.id] = word
        elif h is not None and h.focus.kind == "person":
            focus_ids.update({e.id: word for e in inv.events if e.subject == h.focus.id})
    return focus_ids


def _split_events(
    inv: Inventory, window: float, after: float, known_onset: bool
) -> tuple[list[_Placed], list[tuple[str, str, str]]]:
    """The events that can be drawn (with their months before onset) and the rest, listed
    apart: without a known onset only qualitative timings can be drawn."""
    placed: list[_Placed] = []
    undated: list[tuple[str, str, str]] = []
    for e in inv.events:
        lo, hi, how = _event_months(inv, e, window, max(after, 1.0))
        if lo is None or hi is None or (not known_onset and how != "qualitative"):
            undated.append((event_name(e), e.kind.replace("_", " "), e.description or ""))
            continue
        placed.append((lo, hi, how, e))
    return placed, undated


def _scale_for(placed: list[_Placed], window: float, after: float) -> _Scale:
    """A scale wide enough for the window, the assessment and every event up to five years
    before onset (older ones are clipped at the left edge)."""
    finite = [m for lo, hi, _, _ in placed for m in (lo, hi) if math.isfinite(m)]
    span_before = max([window * 1.5, 12.0, *[m for m in finite if m <= 60]])
    span_after = max([after, 2.0, *[-m for m in finite if m < 0]])
    return _Scale(span_before, span_after, span_before + span_after)


def _when(inv: Inventory, e: LifeEvent, how: str, lo: float, hi: float, clipped: bool) -> str:
    """The event's timing in words, saying so when it is drawn off the scale."""
    if how == "qualitative":
        when = timing_phrase(None, e.onset_relation)
    else:
        when = timing_phrase(inv.months_before_onset_span(e), None)
    if clipped and how != "qualitative":
        when = f"about {(lo + hi) / 2 / 12:.0f} years before onset (off the scale)"
    return when


def _stack_label(rows_end: list[float], x: float, width: float) -> tuple[float, int]:
    """The label's x (right of the dot if it fits, else left of it, else shifted to fit the
    picture) and the first row where it overlaps no other label; ``rows_end`` is updated."""
    lx = x + 7
    if lx + width > TL_W - 4:
        lx = x - 7 - width if x - 7 - width >= 4 else max(4.0, TL_W - 4 - width)
    start, end = lx, lx + width
    row = next((i for i, r in enumerate(rows_end) if r + 12 < start), len(rows_end))
    if row == len(rows_end):
        rows_end.append(end)
    else:
        rows_end[row] = end
    return lx, row


def _timeline_events(
    inv: Inventory, placed: list[_Placed], scale: _Scale, focus_ids: dict[str | None, str]
) -> tuple[list[TimelineEvent], int]:
    """The drawn events, oldest first, with their labels stacked in rows; and the number
    of rows (the picture's height)."""
    rows_end: list[float] = []
    events: list[TimelineEvent] = []
    for lo, hi, how, e in sorted(placed, key=lambda t: (-(t[0] + t[1]) / 2, t[3].id)):
        (xa, ca), (xb, cb) = scale.x_of(hi), scale.x_of(lo)
        x = (xa + xb) / 2 if not (ca or cb) else xa if ca and cb else (xa + xb) / 2
        clipped = ca or cb
        name = event_name(e)
        when = _when(inv, e, how, lo, hi, clipped)
        lx, row = _stack_label(rows_end, x, len(f"{name}: {when}") * CHAR_W)
        y = TL_AXIS_Y + 34 + row * TL_ROW_H
        focus = focus_ids.get(e.id, "")
        classes = " ".join(
            c
            for c in ("event", f"how-{how}", f"focus-{focus}" if focus else "", "clipped" * clipped)
            if c
        )
        events.append(
            TimelineEvent(
                id=e.id,
                name=name,
                kind=e.kind.replace("_", " "),
                when=when,
                how=how,
                x=_f(x),
                x1=_f(min(xa, xb)),
                x2=_f(max(xa, xb)),
                y=_f(y),
                ly=_f(y + 4),
                lx=_f(lx),
                anchor="start",
                classes=classes,
                title=f"{name} ({e.kind.replace('_', ' ')}): {when}"
                + (f"; {focus} focus" if focus else ""),
                clipped=clipped,
                focus=focus,
            )
        )
    return events, len(rows_end)


def _ticks(scale: _Scale, onset_x: float) -> list[tuple[str, str]]:
    """Tick marks every 3, 6 or 12 months (by the span), none too near an edge or onset."""
    ticks = []
    step = 3 if scale.total <= 36 else 6 if scale.total <= 72 else 12
    m = -math.floor(scale.span_after / step) * step
    while m <= scale.span_before:
        tx = scale.x_of(m)[0]
        if m != 0 and TL_LEFT + 30 <= tx <= TL_RIGHT - 30 and abs(tx - onset_x) > 30:
            word = f"{abs(m):g} mo {'before' if m > 0 else 'after'}"
            ticks.append((_f(tx), word))
        m += step
    return ticks


def _onset_text(inv: Inventory, known: bool) -> str:
    """The onset marker's words: its date, else months before assessment, else unknown."""
    if inv.episode.onset is not None:
        return f"onset {date_words(inv.episode.onset)}"
    if known:
        return f"onset ({inv.episode.onset_months_before_assessment:g} mo before assessment)"
    return "onset unknown"


def timeline_layout(inv: Inventory, f: Formulation, window: float) -> Timeline:
    """Onset at a fixed point; the recent window to its left; events placed by months before
    onset (dated or given), else by ``onset_relation``; labels stacked in rows so that none
    overlaps; undated events listed apart."""
    onset = inv.onset_bounds()
    after = _months_after_onset(inv, onset)
    placed, undated = _split_events(inv, window, after, onset is not None)
    scale = _scale_for(placed, window, after)
    onset_x = scale.x_of(0.0)[0]
    events, rows = _timeline_events(inv, placed, scale, _focus_events(inv, f))
    onset_text = _onset_text(inv, onset is not None)
    return Timeline(
        width=TL_W,
        height=int(TL_AXIS_Y + 34 + max(rows, 1) * TL_ROW_H + 10),
        axis_y=_f(TL_AXIS_Y),
        left=_f(TL_LEFT),
        right=_f(TL_RIGHT),
        onset_x=_f(onset_x),
        window_x=_f(scale.x_of(window)[0]),
        window_months=f"{window:g}",
        assessment_x=_f(scale.x_of(-after)[0]) if onset is not None else None,
        ticks=_ticks(scale, onset_x),
        events=events,
        undated=undated,
        onset_text=onset_text,
        onset_anchor="end" if onset_x + len(onset_text) * 7 + 4 > TL_RIGHT else "start",
        onset_known=onset is not None,
    )


# ------------------------------------------------------------------------------ the page
def _template() -> Template:
    try:
        from jinja2 import Environment, StrictUndefined
    except ImportError:  # pragma: no cover - depends on the environment
        raise IptFormulateError(
            "the HTML report needs Jinja2: pip install 'ipt-formulate[report]'",
            code="report.needs_jinja2",
        ) from None
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    text = resources.files("ipt_formulate").joinpath("templates/report.html.j2").read_text("utf-8")
    return env.from_string(text)


def _hypothesis_view(
    f: Formulation, h: Hypothesis, notes: Footnotes, labels: dict[str, str]
) -> dict[str, Any]:
    """One hypothesis for the template, its rules and unknown values resolved through the
    formulation's tables."""

    def ev(items: Any) -> list[dict[str, Any]]:
        out = []
        for e in items:
            version = next((f" v{r.version}" for r in f.rules if r.id == e.rule_id), "")
            out.append(
                {
                    "texts": e.explanations,
                    "title": f.rule_title(e.rule_id),
                    "rule": f"{e.rule_id}{version}",
                    "weight": f"{e.weight:+g}",
                    "contribution": f"{e.contribution:+g}",
                    "notes": notes.refs(f.citations_of(e.rule_id)),
                }
            )
        return out

    return {
        "rank": h.rank,
        "area": h.area_label,
        "focus": h.focus.name,
        "status": h.status.replace("_", " "),
        "score": f"{h.score:g}",
        "bounds": (
            f"{h.lower_bound:g} to {h.upper_bound:g}"
            if (h.lower_bound, h.upper_bound) != (h.score, h.score)
            else ""
        ),
        "findings": [finding_label(n, labels) for n in h.findings],
        "support": ev(h.support),
        "against": ev(h.against),
        "waits_on": [(f.about(path), path) for path in h.waits_on],
    }


def render_html(f: Formulation, inventory: Inventory, *, recent_window_months: float = 6.0) -> str:
    """The report page for a formulation of ``inventory``. ``recent_window_months`` is the
    pack's option of that name (the formulation's provenance carries it; it wins)."""
    opt = f.provenance.options.get("recent_window_months", recent_window_months)
    window = float(opt) if isinstance(opt, int | float) and not isinstance(opt, bool) else 6.0
    labels = dict(f.finding_labels)
    notes = Footnotes(f.sources_by_key())
    advisories = [
        {
            "level": a.level,
            "kind": a.kind,
            "message": a.message,
            "notes": notes.refs(f.citations_of(a.rule_id)),
        }
        for a in sorted(
            f.advisories,
            key=lambda a: (a.kind != "safety", ("urgent", "caution", "info").index(a.level)),
        )
    ]
    hyps = [_hypothesis_view(f, h, notes, labels) for h in f.hypotheses if h.support]
    provisional = [
        _hypothesis_view(f, h, notes, labels) for h in f.hypotheses if h.status == "provisional"
    ]
    questions = [
        {
            "question": q.question,
            "about": q.about,
            "path": q.path,
            "answers": [
                (
                    ("yes" if a.value else "no") if isinstance(a.value, bool) else a.value,
                    a.effect,
                )
                for a in q.answers
            ],
        }
        for q in f.questions
    ]
    why_not = [
        {
            "area": w.area_label,
            "reason": w.reason,
            "rules": [(c.rule_id, c.status, humanize(c.detail, labels)) for c in w.rules],
        }
        for w in f.not_chosen
    ]
    footnotes = [
        {
            "n": i,
            "text": notes.sources[c.source].text + (f", {c.locator}" if c.locator else ""),
            "url": notes.sources[c.source].url or "",
        }
        for i, c in enumerate(notes.cited, start=1)
    ]
    p = f.provenance
    return _template().render(
        title=f"IPT formulation (tentative){': ' + inventory.id if inventory.id else ''}",
        inventory_id=inventory.id or "",
        assessment=date_words(inventory.episode.assessment_date.isoformat()),
        disclaimer=f.disclaimer,
        status=f.status.replace("_", " "),
        advisories=advisories,
        primary=_hypothesis_view(f, f.primary, notes, labels) if f.primary else None,
        secondary=_hypothesis_view(f, f.secondary, notes, labels) if f.secondary else None,
        circle=circle_layout(inventory, f),
        timeline=timeline_layout(inventory, f, window),
        hypotheses=hyps,
        provisional=provisional,
        ties=[t.note for t in f.ties],
        questions=questions,
        why_not=why_not,
        footnotes=footnotes,
        provenance={
            "pack": f"{p.pack_name} {p.pack_version}",
            "hash": p.pack_hash,
            "options": ", ".join(f"{k}={v}" for k, v in p.options.items()) or "-",
            "engine": f"{p.engine}; ipt-formulate {p.library_version}",
            "input": p.input_digest,
        },
    )


def report(
    inventory: Inventory | dict[str, Any] | str | bytes,
    pack: RulePack | None = None,
    *,
    engine: str = "experta",
    questions: int = 5,
) -> str:
    """Formulate ``inventory`` and return the HTML report: one self-contained page."""
    from ._api import formulate
    from .inventory import parse_inventory

    inv = parse_inventory(inventory)
    f = formulate(inv, pack, engine=engine, questions=questions)
    return render_html(f, inv)


# ------------------------------------------------------------------ notebook fragment
_LEVELS = ("urgent", "caution", "info")


def render_fragment(f: Formulation) -> str:
    """A compact HTML fragment of a formulation, for Jupyter (``Formulation._repr_html_``):
    status, advisories (safety first), the ranked hypotheses with their rules, provenance and
    the disclaimer. Not the whole report page: a notebook cell needs no page, no footnotes,
    and the circle and timeline need the inventory, which a formulation does not carry
    (``render_html`` draws them). Needs no extra; every text is escaped."""
    from html import escape

    def row(h: Hypothesis) -> str:
        role = (
            "primary"
            if f.primary is not None and h.rank == f.primary.rank
            else "secondary"
            if f.secondary is not None and h.rank == f.secondary.rank
            else ""
        )
        bounds = (
            f"{h.lower_bound:g} to {h.upper_bound:g}"
            if (h.lower_bound, h.upper_bound) != (h.score, h.score)
            else ""
        )
        rules = ", ".join(e.rule_id for e in (*h.support, *h.against))
        cells = (h.rank, role, h.area_label, h.focus.name, h.status.replace("_", " "),
                 f"{h.score:g}", bounds, rules)  # fmt: skip
        style = ' style="font-weight:bold"' if role == "primary" else ""
        return f"<tr{style}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"

    notes = sorted(
        f.advisories, key=lambda a: (a.kind != "safety", _LEVELS.index(a.level), a.message)
    )
    head = "".join(
        f"<th>{t}</th>"
        for t in ("#", "role", "area", "focus", "status", "score", "bounds", "rules")
    )
    p = f.provenance
    parts = [
        '<div class="ipt-formulation">',
        f"<p><strong>IPT formulation (tentative)</strong>: {escape(f.status.replace('_', ' '))}"
        "</p>",
        *(
            f"<p><strong>{escape(a.level)} {escape(a.kind)}</strong>: {escape(a.message)}</p>"
            for a in notes
        ),
        f"<table><thead><tr>{head}</tr></thead><tbody>",
        *(row(h) for h in f.hypotheses),
        "</tbody></table>",
        f"<p><small>{escape(p.pack_name)} {escape(p.pack_version)}, engine "
        f"{escape(p.engine)}. {escape(f.disclaimer)}</small></p>",
        "</div>",
    ]
    return "\n".join(parts) + "\n"
