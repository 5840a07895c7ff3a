"""Missing data, measured: degrade an inventory at random and see what the formulation keeps.

:func:`degraded` forgets each known clinical value of an inventory with probability ``p``
(the value becomes ``None``, *unknown*), as an inventory taken early in treatment or from
published case material would lack it. :func:`missing_data_report` degrades a set of
inventories at several ``p`` and counts how often the primary focus survives, becomes
provisional, changes or is lost; :func:`plot_missing_data` draws that as a PNG.
``benchmarks/bench_missing.py`` runs them and writes ``docs/missing-data.md``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from .._api import formulate, input_digest
from ..formulation import Formulation, Hypothesis
from ..inventory import Inventory, OnsetRelation, parse_inventory
from ..rulepack import RulePack, default_pack

__all__ = [
    "DEFAULT_PS",
    "KEPT_FIELDS",
    "OUTCOMES",
    "Outcome",
    "OutcomeRow",
    "classify",
    "degraded",
    "droppable_paths",
    "markdown_table",
    "missing_data_report",
    "plot_missing_data",
]

KEPT_FIELDS: frozenset[str] = frozenset(
    {
        # identity and references: the structure the clinical values hang on
        "id",
        "schema_version",
        "subject",
        "others",
        "a",
        "b",
        # free text: shown to the clinician, never read by a rule
        "label",
        "description",
        "note",
        "patient_expects",
        "other_expects",
    }
)
"""Optional fields :func:`degraded` never drops. Required fields (``role``, ``kind``,
``instrument``, ``assessment_date``) are always kept, and so are lists (``populations``,
``changes_wanted``, ``measures``): an empty list is a statement, not an unknown."""


def _item_key(item: BaseModel) -> tuple[str, ...]:
    """Canonical position of a list item: persons and events by id, measures by instrument,
    relationships by their (unordered) pair. Ids are unique, so this is a total order."""
    for name in ("id", "instrument"):
        value = getattr(item, name, None)
        if isinstance(value, str):
            return (value,)
    a, b = getattr(item, "a", None), getattr(item, "b", None)
    if isinstance(a, str) and isinstance(b, str):
        return tuple(sorted((a, b)))
    return (item.model_dump_json(),)  # pragma: no cover - every list of models has a key


def _walk(
    model: BaseModel, data: dict[str, Any], path: str
) -> Iterable[tuple[str, dict[str, Any], str]]:
    """Every known droppable value in canonical order: (path, the dict holding it, key).

    Fields in the model's declaration order; list items in :func:`_item_key` order, so the
    order of the input lists does not matter. Paths use the input's list indices."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _walk(value, data[name], f"{path}.{name}")
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            order = sorted(range(len(value)), key=lambda i: _item_key(value[i]))
            for i in order:
                yield from _walk(value[i], data[name][i], f"{path}.{name}[{i}]")
        elif (
            value is not None
            and not info.is_required()
            and info.default is None
            and name not in KEPT_FIELDS
        ):
            yield f"{path}.{name}", data, name


def droppable_paths(inventory: Inventory) -> tuple[str, ...]:
    """JSON paths of the values :func:`degraded` may drop, in the order it draws for them."""
    data = inventory.model_dump(mode="json")
    return tuple(path for path, _, _ in _walk(inventory, data, "$"))


def degraded(
    inventory: Inventory | dict[str, Any] | str,
    p: float,
    seed: int | str,
    *,
    keep_order: bool = False,
    recent_window_months: float = 6.0,
    onset_tolerance_months: float = 1.0,
) -> Inventory:
    """The inventory with each known clinical value dropped (made unknown) with probability
    ``p``, drawn from ``random.Random(seed)``.

    Kept: required fields, ids and references, free text and lists (:data:`KEPT_FIELDS`).
    Dropping only ever removes information, so the result is always a valid inventory (it
    is re-validated). One uniform number is drawn per droppable value, in a canonical order
    (:func:`droppable_paths`), and the value is dropped when it is below ``p``. Hence:

    * the same inventory, ``p`` and ``seed`` give the same result, whatever the order of the
      input lists (the output keeps the input's order);
    * with one seed, what is dropped at ``p`` is also dropped at every larger ``p``;
    * the draws do not depend on ``keep_order``, so both variants drop the same values.

    ``keep_order=True`` models a clinician who no longer knows *when* an event happened but
    still knows the order: an event that the dates placed relative to onset, and that they
    no longer place, gets the ``onset_relation`` that gives the same timing facts
    (``recent_window_months`` and ``onset_tolerance_months`` are the pack options of the same
    names). An ``onset_relation`` that was itself dropped stays dropped.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    inv = parse_inventory(inventory)
    data = inv.model_dump(mode="json")
    rng = random.Random(seed)
    dropped = False
    for _, holder, key in _walk(inv, data, "$"):
        if rng.random() < p:
            holder[key] = None
            dropped = True
    if not dropped:
        return inv
    out = parse_inventory(data)
    if not keep_order:
        return out
    events = []
    for before, after in zip(inv.events, out.events, strict=True):
        span = inv.months_before_onset_span(before)
        rel = None
        lost = after.onset_relation is None and out.months_before_onset_span(after) is None
        if span is not None and lost:
            rel = _relation(span, recent_window_months, onset_tolerance_months)
        events.append(after if rel is None else after.model_copy(update={"onset_relation": rel}))
    if all(a is b for a, b in zip(events, out.events, strict=True)):
        return out
    data["events"] = [e.model_dump(mode="json") for e in events]
    return parse_inventory(data)


def _relation(span: tuple[float, float], window: float, tol: float) -> OnsetRelation | None:
    """The ``onset_relation`` that gives the facts stage the timing the span gave it
    (``recent``, ``after_onset``; see ``facts._event_fact``), or None when the span straddles
    onset and no relation says as little as the dates did."""
    lo, hi = span
    if hi < -tol:
        return "after"
    if lo < -tol:
        return None
    if hi <= window:
        return "around" if hi <= tol else "months_before"
    if lo > window:
        return "long_before"
    return "before"


# ------------------------------------------------------------------ the report
Outcome = Literal["survives", "provisional", "changed", "lost"]
OUTCOMES: tuple[Outcome, ...] = ("survives", "provisional", "changed", "lost")
DEFAULT_PS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _focus_key(h: Hypothesis) -> tuple[str, str, str | None]:
    return h.area, h.focus.kind, h.focus.id


def classify(original: Hypothesis, degraded_result: Formulation) -> Outcome:
    """What became of the original primary (area and focus) in a degraded formulation.

    survives: it is still the established primary; changed: another hypothesis is the
    established primary; provisional: there is no established primary and it is among the
    provisional hypotheses; lost: neither (insufficient data, or only other provisional
    hypotheses)."""
    key = _focus_key(original)
    got = degraded_result.primary
    if got is not None:
        return "survives" if _focus_key(got) == key else "changed"
    if any(h.status == "provisional" and _focus_key(h) == key for h in degraded_result.hypotheses):
        return "provisional"
    return "lost"


@dataclass(frozen=True)
class OutcomeRow:
    """Counts of the four outcomes at one drop probability ``p``."""

    p: float
    survives: int = 0
    provisional: int = 0
    changed: int = 0
    lost: int = 0

    @property
    def n(self) -> int:
        return self.survives + self.provisional + self.changed + self.lost

    def share(self, outcome: Outcome) -> float:
        """The outcome's share of the runs at this ``p`` (0 when there were none)."""
        count: int = getattr(self, outcome)
        return count / self.n if self.n else 0.0

    def __add__(self, other: OutcomeRow) -> OutcomeRow:
        if other.p != self.p:
            raise ValueError(f"cannot add rows for p={self.p} and p={other.p}")
        return OutcomeRow(self.p, *(getattr(self, o) + getattr(other, o) for o in OUTCOMES))


def missing_data_report(
    inventories: Iterable[Inventory],
    pack: RulePack | None = None,
    *,
    ps: Sequence[float] = DEFAULT_PS,
    seeds: int = 5,
    keep_order: bool = False,
    engine: str = "compiled",
) -> tuple[OutcomeRow, ...]:
    """For each ``p``: degrade every inventory that has a primary focus ``seeds`` times
    (:func:`degraded`) and count the outcomes (:func:`classify`). Inventories without a
    primary are skipped. The seed of run ``s`` of an inventory is ``"<input digest>:<s>"``:
    independent of list order and of the other inventories, and the same for every ``p``
    and for both values of ``keep_order``, so those comparisons are paired."""
    pack = pack if pack is not None else default_pack()
    window = float(pack.options.get("recent_window_months", 6.0))
    tol = float(pack.options.get("onset_tolerance_months", 1.0))
    counts: dict[float, dict[Outcome, int]] = {p: dict.fromkeys(OUTCOMES, 0) for p in ps}
    for inv in inventories:
        base = formulate(inv, pack, engine=engine).primary
        if base is None:
            continue
        digest = input_digest(inv)
        for s in range(seeds):
            for p in ps:
                worse = degraded(
                    inv,
                    p,
                    f"{digest}:{s}",
                    keep_order=keep_order,
                    recent_window_months=window,
                    onset_tolerance_months=tol,
                )
                counts[p][classify(base, formulate(worse, pack, engine=engine))] += 1
    return tuple(OutcomeRow(p, **counts[p]) for p in ps)


def markdown_table(rows: Sequence[OutcomeRow]) -> str:
    """The rows as a Markdown table of shares (percent), one line per ``p``."""
    lines = [
        "| p | runs | survives | provisional | changed | lost |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        shares = " | ".join(f"{100 * r.share(o):.1f} %" for o in OUTCOMES)
        lines.append(f"| {r.p:.1f} | {r.n} | {shares} |")
    return "\n".join(lines) + "\n"


def plot_missing_data(
    panels: Mapping[str, Sequence[OutcomeRow]],
    path: str | Path,
    *,
    dashed: Mapping[str, Sequence[OutcomeRow]] | None = None,
) -> Path:
    """Draw the four shares against ``p``, one panel per entry of ``panels``, to a PNG.

    ``dashed`` (same keys) adds a second series per panel in dashed lines (e.g. the same
    report with ``keep_order=True``). Deterministic: Agg backend, fixed size and dpi, no
    software or date metadata. Needs matplotlib (``pip install 'ipt-formulate[plot]'``)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    colours = {
        "survives": "#1b7837",
        "provisional": "#e08214",
        "changed": "#762a83",
        "lost": "#b2182b",
    }
    fig = Figure(figsize=(4.2 * len(panels), 3.6), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, rows) in zip(axes, panels.items(), strict=True):
        xs = [r.p for r in rows]
        for o in OUTCOMES:
            ax.plot(xs, [r.share(o) for r in rows], marker="o", ms=3, color=colours[o], label=o)
            if dashed is not None and title in dashed:
                other = dashed[title]
                ax.plot(
                    [r.p for r in other],
                    [r.share(o) for r in other],
                    ls="--",
                    color=colours[o],
                    alpha=0.8,
                )
        n = rows[0].n if rows else 0
        ax.set_title(f"{title} ({n} runs per p)", fontsize=9)
        ax.set_xlabel("p (share of known values dropped)", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(min(xs, default=0.0) - 0.02, max(xs, default=1.0) + 0.02)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("share of runs", fontsize=8)
    axes[0].legend(fontsize=7, loc="center left")
    if dashed:
        fig.text(
            0.5,
            0.005,
            "dashed: dropped timing replaced by the clinician's onset_relation",
            ha="center",
            fontsize=7,
        )
    fig.tight_layout(rect=(0, 0.03 if dashed else 0, 1, 1))
    out = Path(path)
    fig.savefig(out, format="png", dpi=100, metadata={"Software": None})
    return out
