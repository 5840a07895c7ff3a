"""Sensitivity of a cohort's formulations to the pack's numbers: each rule weight, each
numeric option and each threshold swept over a grid; for every value, on how many records
the primary (and secondary) focus changes; the smallest tested change that changes any
record's primary (the stability margin); a tornado chart.

Cost. Which rules fire depends on neither weights nor thresholds, so each record is read
once (facts, compiled engine, possible firings: :mod:`._rescore`) and every weight and
threshold value is re-scored from that reading; a weight is re-scored only on the records
where its rule fires (certainly or possibly), the only ones it can change. An option changes
facts and conditions: each option value is a variant pack (``with_options``, no file read
again), built once, and the record is read again under it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import IptFormulateError, OptionError
from ..rulepack import RulePack, default_pack
from ._cohort import CohortReport, CohortSource, csv_text, map_cohort
from ._jobs import DEFAULT_CHUNKSIZE, Item, _error_of, _parse, state_of
from ._rescore import Focus, focus_of, read, reweighted, with_weight

__all__ = [
    "DEFAULT_DELTAS",
    "DEFAULT_FACTORS",
    "Parameter",
    "ParameterResult",
    "SensitivityReport",
    "sensitivity",
    "tornado_chart",
]

Kind = Literal["weight", "option", "threshold"]

DEFAULT_DELTAS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
"""Changes tried on each weight and threshold, both ways (clipped to the valid range)."""
DEFAULT_FACTORS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.25, 1.5, 2.0)
"""Multiples of a numeric option's value tried (clipped to its min and max)."""


@dataclass(frozen=True)
class Parameter:
    """One number of the pack and the values it is swept over (its own value excluded)."""

    kind: Kind
    name: str  # rule id, option name or threshold name
    base: float
    values: tuple[float, ...]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


# ------------------------------------------------------------------ the grid
def _clean(values: Iterable[float], base: float, lo: float, hi: float) -> tuple[float, ...]:
    out = {round(min(max(v, lo), hi), 6) for v in values}
    out.discard(round(base, 6))
    return tuple(sorted(out))


def _weight_values(w: float, deltas: Sequence[float]) -> tuple[float, ...]:
    # a sweep keeps the sign: evidence for an area never turns into evidence against it
    lo, hi = (0.01, 0.99) if w > 0 else (-0.99, -0.01)
    return _clean((w + s * d for d in deltas for s in (-1, 1)), w, lo, hi)


def _option_values(pack: RulePack, name: str, factors: Sequence[float]) -> tuple[float, ...]:
    spec = pack.option_specs[name]
    base = float(pack.options[name])
    lo = -math.inf if spec.min is None else spec.min
    hi = math.inf if spec.max is None else spec.max
    raw = [base * f for f in factors] if base else [0.5, 1.0, 2.0, 4.0]
    if isinstance(spec.default, int):
        raw = [float(round(v)) for v in raw]
    return _clean(raw, base, lo, hi)


def parameters(
    pack: RulePack,
    *,
    deltas: Sequence[float] = DEFAULT_DELTAS,
    factors: Sequence[float] = DEFAULT_FACTORS,
    kinds: Iterable[Kind] = ("weight", "option", "threshold"),
) -> tuple[Parameter, ...]:
    """The parameters of ``pack`` and their grids: the weight of every active evidence rule,
    every numeric option, every threshold."""
    if not deltas or any(not (isinstance(d, int | float) and 0 < d < 2) for d in deltas):
        raise OptionError(
            f"deltas must be numbers in (0, 2), got {list(deltas)}", code="options.range"
        )
    if not factors or any(
        not (isinstance(f, int | float) and math.isfinite(f) and f >= 0) for f in factors
    ):
        raise OptionError(
            f"factors must be finite numbers >= 0, got {list(factors)}", code="options.range"
        )
    kinds = set(kinds)
    if not kinds or not kinds <= {"weight", "option", "threshold"}:
        raise OptionError(
            f"kinds must be among weight, option, threshold, got {sorted(kinds)}",
            code="options.choice",
        )
    out: list[Parameter] = []
    if "weight" in kinds:
        for r in pack.active_rules:
            if r.area is not None and r.weight:
                out.append(Parameter("weight", r.id, r.weight, _weight_values(r.weight, deltas)))
    if "option" in kinds:
        for name, value in sorted(pack.options.items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append(
                    Parameter("option", name, float(value), _option_values(pack, name, factors))
                )
    if "threshold" in kinds:
        for name, value in sorted(pack.thresholds.model_dump().items()):
            lo = 0.0 if name == "secondary_max_gap" else 0.01
            hi = 1.0 if name == "secondary_max_gap" else 0.99
            vals = _clean((value + s * d for d in deltas for s in (-1, 1)), value, lo, hi)
            out.append(Parameter("threshold", name, value, vals))
    return tuple(p for p in out if p.values)


def _option_packs(pack: RulePack, params: Sequence[Parameter]) -> tuple[RulePack, ...]:
    """One variant pack per option value, in the order of ``params``."""
    out = []
    for p in params:
        if p.kind == "option":
            spec = pack.option_specs[p.name]
            for v in p.values:
                value = int(v) if isinstance(spec.default, int) else v
                out.append(pack.with_options(**{p.name: value}))
    return tuple(out)


# ------------------------------------------------------------------ per record (in workers)
def _changed(f0: Focus, f: Focus) -> tuple[bool, bool]:
    return f[0] != f0[0], f[1] != f0[1]


def record_sensitivity(
    inv: Any, packs: Sequence[RulePack], params: Sequence[Parameter]
) -> list[list[Any]]:
    """``[parameter index, value index, primary changed, secondary changed]`` for every
    parameter value that changes the focus of ``inv``."""
    pack = packs[0]
    base = read(inv, pack)
    f0 = focus_of(pack, base.certain, base.maybe)
    flips: list[list[Any]] = []
    variants = iter(packs[1:])
    for i, p in enumerate(params):
        for j, v in enumerate(p.values):
            if p.kind == "weight":
                if p.name not in base.touched:
                    break  # the rule does not fire here: its weight cannot matter
                g = {p.name: with_weight(pack.rule(p.name), v)}
                f = focus_of(pack, reweighted(base.certain, g), reweighted(base.maybe, g))
            elif p.kind == "threshold":
                tp = replace(pack, thresholds=pack.thresholds.model_copy(update={p.name: v}))
                f = focus_of(tp, base.certain, base.maybe)
            else:
                variant = next(variants)
                r = read(inv, variant)
                f = focus_of(variant, r.certain, r.maybe)
            p_changed, s_changed = _changed(f0, f)
            if p_changed or s_changed:
                flips.append([i, j, p_changed, s_changed])
    return flips


def sensitivity_job(
    packs: Sequence[RulePack], params: Sequence[Parameter], chunk: Sequence[Item]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, raw in chunk:
        try:
            inv = _parse(raw)
            out.append({"line": n, "id": inv.id, "flips": record_sensitivity(inv, packs, params)})
        except Exception as exc:  # one bad record must never stop an audit
            out.append({"line": n, "id": None, "error": _error_of(exc)})
    return out


# ------------------------------------------------------------------ the report
@dataclass(frozen=True)
class ParameterResult:
    """A parameter's sweep: per value, the records whose primary / secondary focus changes."""

    parameter: Parameter
    primary: tuple[int, ...]  # per value of parameter.values
    secondary: tuple[int, ...]

    def _margin(self, sign: int) -> float | None:
        p = self.parameter
        deltas = [
            abs(v - p.base)
            for v, n in zip(p.values, self.primary, strict=True)
            if n and (v - p.base) * sign > 0
        ]
        return round(min(deltas), 6) if deltas else None

    @property
    def margin_down(self) -> float | None:
        """Smallest tested decrease that changes any record's primary (None: none does)."""
        return self._margin(-1)

    @property
    def margin_up(self) -> float | None:
        return self._margin(1)

    @property
    def margin(self) -> float | None:
        """The stability margin: the smallest tested change, either way, that changes any
        record's primary focus."""
        both = [m for m in (self.margin_down, self.margin_up) if m is not None]
        return min(both) if both else None

    def _most(self, sign: int) -> int:
        p = self.parameter
        return max(
            (n for v, n in zip(p.values, self.primary, strict=True) if (v - p.base) * sign > 0),
            default=0,
        )

    @property
    def most_down(self) -> int:
        """Most records whose primary changes at any tested lower value."""
        return self._most(-1)

    @property
    def most_up(self) -> int:
        return self._most(1)

    def to_dict(self) -> dict[str, Any]:
        p = self.parameter
        return {
            "kind": p.kind,
            "name": p.name,
            "base": p.base,
            "margin": self.margin,
            "margin_down": self.margin_down,
            "margin_up": self.margin_up,
            "most_changed_down": self.most_down,
            "most_changed_up": self.most_up,
            "grid": [
                {"value": v, "primary_changed": a, "secondary_changed": b}
                for v, a, b in zip(p.values, self.primary, self.secondary, strict=True)
            ],
        }


def _rank(r: ParameterResult) -> tuple[Any, ...]:
    m = r.margin
    return (m is None, m if m is not None else 0.0, -max(r.most_down, r.most_up), r.parameter.label)


CSV_FIELDS = ("kind", "name", "base", "value", "delta", "primary_changed", "secondary_changed")


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


@dataclass
class SensitivityReport(CohortReport):
    """The sweep of every parameter on a cohort, ranked: least stable (smallest margin)
    first; parameters that change no record last."""

    results: tuple[ParameterResult, ...] = ()

    def top(self, n: int) -> SensitivityReport:
        """The same report with the ``n`` least stable parameters only (the chart of the
        whole report shows the parameters that change the most records)."""
        return replace(self, results=self.results[:n])

    def to_dict(self) -> dict[str, Any]:
        return {**self.head(), "parameters": [r.to_dict() for r in self.results]}

    def to_csv(self) -> str:
        """One row per parameter value."""
        return csv_text(
            CSV_FIELDS,
            (
                [p.kind, p.name, f"{p.base:g}", f"{v:g}", f"{v - p.base:+.6g}", a, b]
                for r in self.results
                for p in (r.parameter,)
                for v, a, b in zip(p.values, r.primary, r.secondary, strict=True)
            ),
        )

    def to_table(self) -> str:
        lines = [
            f"Sensitivity: pack {self.pack}, {self.records} record(s), {self.formulated} "
            f"formulated, {len(self.errors)} error(s)",
            "margin: the smallest tested change that changes any record's primary focus; "
            "down/up: most records changed by a lower/higher value",
            "",
            f"{'parameter':50} {'base':>6} {'margin':>7} {'down':>6} {'up':>6}  grid",
        ]
        for r in self.results:
            p = r.parameter
            grid = f"{p.values[0]:g}..{p.values[-1]:g} ({len(p.values)})"
            lines.append(
                f"{p.label:50} {p.base:>6g} {_num(r.margin):>7} {r.most_down:>6} "
                f"{r.most_up:>6}  {grid}"
            )
        return "\n".join([*lines, *self.error_lines()]) + "\n"


def _aggregate(
    pack: RulePack, params: Sequence[Parameter], records: Iterable[dict[str, Any]]
) -> SensitivityReport:
    report = SensitivityReport(pack=f"{pack.name}@{pack.version}")
    primary = [[0] * len(p.values) for p in params]
    secondary = [[0] * len(p.values) for p in params]
    for rec in records:
        if not report.count(rec):
            continue
        for i, j, pc, sc in rec["flips"]:
            primary[i][j] += pc
            secondary[i][j] += sc
    results = [
        ParameterResult(p, tuple(a), tuple(b))
        for p, a, b in zip(params, primary, secondary, strict=True)
    ]
    report.results = tuple(sorted(results, key=_rank))
    return report


def sensitivity(
    source: CohortSource,
    pack: RulePack | None = None,
    *,
    deltas: Sequence[float] = DEFAULT_DELTAS,
    factors: Sequence[float] = DEFAULT_FACTORS,
    kinds: Iterable[Kind] = ("weight", "option", "threshold"),
    workers: int = 1,
    chunksize: int = DEFAULT_CHUNKSIZE,
) -> SensitivityReport:
    """Sweep every weight, numeric option and threshold of ``pack`` (default ``ipt-core``)
    on a cohort (a JSONL path or an iterable of inventories): weights and thresholds by
    ``deltas`` both ways, options by ``factors`` times their value, within their valid
    ranges. ``kinds`` limits the sweep; ``workers`` processes (0 = one per CPU)."""
    pack = pack if pack is not None else default_pack()
    params = parameters(pack, deltas=deltas, factors=factors, kinds=kinds)
    state = replace(state_of((pack, *_option_packs(pack, params)), "compiled"), params=params)
    records = map_cohort("sensitivity", source, state, workers=workers, chunksize=chunksize)
    return _aggregate(pack, params, records)


# ------------------------------------------------------------------ the chart
def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only), or a clear error without the
    ``[plot]`` extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise IptFormulateError(
            "the tornado chart needs matplotlib: pip install 'ipt-formulate[plot]'",
            code="extra.missing",
        ) from None
    return plt


def tornado_chart(report: SensitivityReport, path: str | Path, *, top: int = 20) -> None:
    """A tornado chart (PNG) of the ``top`` parameters that change the most records: for
    each, the most records whose primary focus changes at a lower value (left) and at a
    higher value (right). Needs matplotlib (the ``[plot]`` extra)."""
    data = png_bytes(report, top=top)
    from ._output import write_report

    write_report(path, data)


def png_bytes(report: SensitivityReport, *, top: int = 20) -> bytes:
    """The tornado chart as PNG bytes (see :func:`tornado_chart`)."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rows = sorted(
        (r for r in report.results if r.most_down or r.most_up),
        key=lambda r: (-(r.most_down + r.most_up), r.parameter.label),
    )[:top]
    rows.reverse()  # the largest bar at the top
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * max(len(rows), 1)))
    try:
        y = range(len(rows))
        ax.barh(y, [-r.most_down for r in rows], color="#4c72b0", label="lower value")
        ax.barh(y, [r.most_up for r in rows], color="#dd8452", label="higher value")
        ax.set_yticks(list(y), [f"{r.parameter.label} ({r.parameter.base:g})" for r in rows])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{abs(x):g}"))
        ax.set_xlabel(f"records whose primary focus changes (of {report.formulated})")
        ax.set_title(f"Sensitivity of the primary focus: {report.pack}")
        if rows:
            ax.legend(loc="lower right")
        else:
            ax.text(0.5, 0.5, "no tested change moves any primary focus", ha="center")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        return buf.getvalue()
    finally:
        plt.close(fig)
