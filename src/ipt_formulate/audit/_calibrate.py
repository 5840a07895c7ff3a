"""Calibrating rule weights against clinicians' labels, with cross-validated evidence.

**What is fitted.** The weights of the pack's evidence rules (or of ``only`` those), with the
pack's options and thresholds fixed. A weight keeps its published sign (a rule that supports
an area keeps supporting it: its citation says so) and stays in ``[step, 0.99]`` in magnitude
(a pack cannot hold 0 or more than 0.99). The objective, on the training records, is Cohen's
kappa of the primary focus area against the labels' ``primary``, minus ``penalty`` times the
sum of ``|w - w_published|`` (regularisation toward the published weights).

**Why a coordinate search over a grid.** The primary focus changes only when a score crosses
the threshold or another score, i.e. at finitely many weight values: kappa is a step function
of the weights, with zero gradient almost everywhere. Gradient-based optimisers
(``scipy.optimize.minimize``) see a flat surface; derivative-free ones (Nelder-Mead, Powell)
wander between plateaus. A coordinate search tries, for one weight at a time, every value of
a grid (multiples of ``step``, plus the published value) and keeps the best; each trial only
re-scores the records the rule fired on, exactly (:mod:`._refit`). It is deterministic, and
the penalty makes it prefer, among equally good values, the one nearest the published weight.
It stops when a full pass over the weights changes nothing (or after ``max_passes``).

**Cross-validation.** Records with a labelled primary are split into ``folds`` folds,
stratified by the labelled area (seeded). For each fold the weights are fitted on the other
folds and the fold is predicted with them; the pooled held-out predictions are compared with
the labels. The base pack needs no fitting: its predictions are compared on the same records.
Kappa is reported for the primary and each area's presence, with percentile bootstrap 95%
intervals over records (``bootstrap`` resamples, seeded), and the gain (held-out calibrated
minus base) with a paired bootstrap interval. The weights written are then fitted on all
records; the per-fold values show how stable each one is.
"""

from __future__ import annotations

import io
import json
import math
import random
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, IptFormulateError, Issue
from ..rulepack import RulePack
from ._agreement import NONE, Label, cohen_kappa, load_labels
from ._refit import Group, pack_weights, present_areas, primary_of, record_groups

__all__ = [
    "CalibrationError",
    "CalibrationOptions",
    "CalibrationReport",
    "Estimate",
    "WeightChange",
    "calibrate",
]


class CalibrationError(InputError):
    """The labels cannot support a calibration (too few per area, a bad ``only`` rule, bad
    options); the message names what is missing."""

    code = "calibrate.invalid"


@dataclass(frozen=True)
class CalibrationOptions:
    """How weights are fitted and evaluated (the module docstring)."""

    folds: int = 5
    seed: int = 0
    penalty: float = 0.02
    step: float = 0.05
    bootstrap: int = 1000
    min_per_area: int = 10
    max_passes: int = 4
    only: tuple[str, ...] = ()

    def check(self) -> None:
        def bad(msg: str) -> CalibrationError:
            return CalibrationError(msg, code="calibrate.options")

        if self.folds < 2:
            raise bad(f"folds must be at least 2, got {self.folds}")
        if not (math.isfinite(self.penalty) and self.penalty >= 0):
            raise bad(f"penalty must be a finite number >= 0, got {self.penalty!r}")
        if not (math.isfinite(self.step) and 0.005 <= self.step <= 0.5):
            raise bad(f"step must be in [0.005, 0.5], got {self.step!r}")
        if self.bootstrap < 0 or self.min_per_area < 1 or self.max_passes < 1:
            raise bad("bootstrap must be >= 0, min_per_area and max_passes >= 1")


@dataclass(frozen=True)
class Estimate:
    """A statistic with a bootstrap 95% interval (``None`` when undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"n": self.n, "value": r(self.value), "ci95": [r(self.low), r(self.high)]}

    def show(self, signed: bool = False) -> str:
        spec = "+.2f" if signed else ".2f"
        if self.value is None:
            return "-"
        ci = "" if self.low is None else f" [{self.low:{spec}}, {self.high:{spec}}]"
        return f"{self.value:{spec}}{ci}"


@dataclass(frozen=True)
class WeightChange:
    """One fitted weight: the published value, the calibrated one, and each fold's fit."""

    rule_id: str
    area: str
    before: float
    after: float
    folds: tuple[float, ...]

    @property
    def changed(self) -> bool:
        return self.after != self.before


@dataclass
class CalibrationReport:
    """Everything :func:`calibrate` found; :meth:`to_text` and :meth:`to_json` render it."""

    base: str
    options: CalibrationOptions
    records: int = 0
    used: int = 0  # records with a labelled primary and a formulation
    errors: list[dict[str, Any]] = field(default_factory=list)
    unlabelled: int = 0
    questions: tuple[str, ...] = ()
    base_kappa: dict[str, Estimate] = field(default_factory=dict)
    fitted_kappa: dict[str, Estimate] = field(default_factory=dict)
    gain: dict[str, Estimate] = field(default_factory=dict)
    weights: tuple[WeightChange, ...] = ()
    primary_changes: int = 0  # records (all lines) whose primary focus the new weights change

    @property
    def changes(self) -> tuple[WeightChange, ...]:
        return tuple(w for w in self.weights if w.changed)

    def new_weights(self) -> dict[str, float]:
        return {w.rule_id: w.after for w in self.changes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "options": {**asdict(self.options), "only": list(self.options.only)},
            "records": self.records,
            "used": self.used,
            "unlabelled": self.unlabelled,
            "errors": self.errors,
            "held_out": {
                q: {
                    "base": self.base_kappa[q].to_dict(),
                    "calibrated": self.fitted_kappa[q].to_dict(),
                    "gain": self.gain[q].to_dict(),
                }
                for q in self.questions
            },
            "weights": [
                {**asdict(w), "folds": list(w.folds), "changed": w.changed} for w in self.weights
            ],
            "primary_changes": self.primary_changes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def summary_line(self, question: str = "primary") -> str:
        b, f, g = self.base_kappa[question], self.fitted_kappa[question], self.gain[question]
        return f"base {b.show()} -> calibrated {f.show()}; gain {g.show(signed=True)}"

    def to_text(self) -> str:
        o = self.options
        lines = [
            f"Calibration of {self.base}: {self.used} labelled record(s) of {self.records}; "
            f"{o.folds}-fold cross-validation (seed {o.seed}), {len(self.weights)} weight(s) "
            f"free, penalty {o.penalty:g}, grid step {o.step:g}",
            "",
            f"Held-out agreement (Cohen's kappa; bootstrap 95% CI, {o.bootstrap} resamples)",
            f"{'question':24} {'n':>5}  {'base':20}  {'calibrated':20}  gain",
        ]
        for q in self.questions:
            lines.append(
                f"{_QUESTION.get(q, q):24} {self.base_kappa[q].n:>5}  "
                f"{self.base_kappa[q].show():20}  {self.fitted_kappa[q].show():20}  "
                f"{self.gain[q].show(signed=True)}"
            )
        changed = self.changes
        lines += ["", f"Weights changed (fitted on all {self.used} records): {len(changed)}"]
        for w in changed:
            folds = " ".join(f"{x:g}" for x in w.folds)
            lines.append(f"  {w.rule_id:38} {w.before:+g} -> {w.after:+g}   folds: {folds}")
        lines += ["", f"Primary focus changed on {self.primary_changes} record(s) of the cohort."]
        notes = []
        if self.errors:
            notes.append(f"{len(self.errors)} record(s) could not be formulated")
        if self.unlabelled:
            notes.append(f"{self.unlabelled} record(s) without an id or a labelled primary")
        if notes:
            lines += ["", "Notes: " + "; ".join(notes) + "."]
        return "\n".join(lines) + "\n"


_QUESTION = {"primary": "primary focus"}


# ------------------------------------------------------------------ reading
@dataclass
class _Data:
    """The cohort reduced to what fitting needs, with labels matched by id."""

    areas: tuple[str, ...]  # presence columns of the labels
    groups: list[tuple[Group, ...]] = field(default_factory=list)  # every formulated record
    labelled: list[int] = field(default_factory=list)  # indices (into groups) with a primary
    primary: list[str] = field(default_factory=list)  # labelled primary, per labelled record
    presence: list[Mapping[str, bool | None]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    unlabelled: int = 0
    records: int = 0


def _read(
    cohort: str | Path | IO[bytes],
    by_id: Mapping[str, Label],
    areas: tuple[str, ...],
    pack: RulePack,
) -> _Data:
    """Run the engine once per cohort line (errors kept, never fatal) and match labels."""
    from ._batch import _open_in, read_lines
    from ._jobs import _error_of, _parse

    data = _Data(areas)
    with _open_in(cohort) as (fin, _):
        for line, raw, _ in read_lines(fin):
            data.records += 1
            try:
                inv = _parse(raw)
                groups = record_groups(inv, pack)
            except IptFormulateError as exc:
                data.errors.append({"line": line, **_error_of(exc)})
                continue
            data.groups.append(groups)
            label = None if inv.id is None else by_id.get(inv.id)
            if label is None or label.primary is None:
                data.unlabelled += 1
                continue
            data.labelled.append(len(data.groups) - 1)
            data.primary.append(label.primary)
            data.presence.append(label.presence)
    return data


# ------------------------------------------------------------------ checks
def _free_rules(pack: RulePack, only: Sequence[str]) -> tuple[str, ...]:
    """The rules whose weights are fitted: active evidence rules, or ``only`` those."""
    active = {r.id: r for r in pack.active_rules if r.weight is not None}
    if not only:
        return tuple(sorted(active))
    for rid in only:
        if rid not in active:
            why = (
                "is not in the pack"
                if rid not in {r.id for r in pack.rules}
                else "carries no weight or does not run (draft, retired or disabled)"
            )
            raise CalibrationError(
                f"--only {rid}: rule {why}; rules with a weight: {', '.join(sorted(active))}",
                code="calibrate.rule",
            )
    return tuple(sorted(set(only)))


def _check_enough(
    pack: RulePack, primaries: Sequence[str], free: Sequence[str], opts: CalibrationOptions
) -> None:
    """Refuse unless every area a free rule bears on has enough labelled primaries (checked
    on the label file first, then on the labels matched to formulated records)."""
    need = max(opts.min_per_area, opts.folds)
    counts = Counter(primaries)
    short: dict[str, list[str]] = {}
    for rid in free:
        area = pack.rule(rid).area
        if area is not None and counts[area] < need:
            short.setdefault(area, []).append(rid)
    if not short:
        return
    issues = tuple(
        Issue(
            f"primary={area}",
            "calibrate.too_few_labels",
            f"{counts[area]} record(s) labelled with this primary, {need} needed "
            f"(to fit {', '.join(rids)})",
        )
        for area, rids in sorted(short.items())
    )
    raise CalibrationError(
        f"too few labelled records to calibrate ({len(primaries)} labelled primaries; label "
        "more records of these areas, lower --min-per-area, or leave their rules out with "
        "--only): " + "; ".join(f"{i.path}: {i.message}" for i in issues),
        code="calibrate.too_few_labels",
        issues=issues,
    )


# ------------------------------------------------------------------ fitting
def _kappa(n: int, agree: int, rows: Sequence[int], cols: Sequence[int]) -> float:
    """Cohen's kappa from the diagonal and margins (floats: fast; 0 when undefined)."""
    if n == 0:
        return 0.0
    pe = sum(r * c for r, c in zip(rows, cols, strict=True)) / (n * n)
    return 0.0 if pe >= 1 else (agree / n - pe) / (1 - pe)


class _Fitter:
    """Coordinate search for one training set (the module docstring)."""

    def __init__(
        self,
        pack: RulePack,
        data: _Data,
        free: Sequence[str],
        opts: CalibrationOptions,
        cats: Mapping[str, int],
    ) -> None:
        self.threshold = pack.thresholds.primary_min
        self.w0 = pack_weights(pack)
        self.free = tuple(free)
        self.opts = opts
        self.cats = cats
        self.none = cats[NONE]
        self.groups = [data.groups[i] for i in data.labelled]
        self.label = [cats[p] for p in data.primary]
        self.rules_of = [frozenset(r for g in gs for r in g.rules) for gs in self.groups]
        steps = round(0.99 / opts.step)
        mags = {round(k * opts.step, 6) for k in range(1, steps + 1) if k * opts.step <= 0.99}
        self.grid = {
            r: sorted({math.copysign(m, self.w0[r]) for m in mags} | {self.w0[r]}) for r in free
        }

    def predict(self, i: int, w: Mapping[str, float]) -> int:
        g = primary_of(self.groups[i], w, self.threshold)
        return self.none if g is None else self.cats[g.area]

    def fit(self, train: Sequence[int]) -> dict[str, float]:
        w = dict(self.w0)
        k = len(self.cats)
        pred = {i: self.predict(i, w) for i in train}
        rows, cols = [0] * k, [0] * k
        for i in train:
            rows[self.label[i]] += 1
            cols[pred[i]] += 1
        agree = sum(pred[i] == self.label[i] for i in train)
        touched = {r: [i for i in train if r in self.rules_of[i]] for r in self.free}
        cost = 0.0
        obj = _kappa(len(train), agree, rows, cols)
        for _ in range(self.opts.max_passes):
            moved = False
            for r in self.free:
                aff = touched[r]
                if not aff:
                    continue
                current = w[r]
                base_cost = cost - abs(current - self.w0[r])
                best: tuple[float, float, float, list[tuple[int, int]], int, list[int]] | None
                best = None
                for v in self.grid[r]:
                    if v == current:
                        continue
                    w[r] = v
                    new = [(i, self.predict(i, w)) for i in aff]
                    a2, c2 = agree, list(cols)
                    for i, p in new:
                        old = pred[i]
                        if p != old:
                            a2 += (p == self.label[i]) - (old == self.label[i])
                            c2[old] -= 1
                            c2[p] += 1
                    cost2 = base_cost + abs(v - self.w0[r])
                    o2 = _kappa(len(train), a2, rows, c2) - self.opts.penalty * cost2
                    if o2 > (obj if best is None else best[0]) + 1e-12:
                        best = (o2, v, cost2, new, a2, c2)
                w[r] = current
                if best is not None:
                    obj, w[r], cost, new, agree, cols = best
                    pred.update(new)
                    moved = True
            if not moved:
                break
        return {r: w[r] for r in self.free}


def _folds(labels: Sequence[str], k: int, seed: int) -> list[int]:
    """Fold of each labelled record, stratified by labelled area, seeded."""
    rng = random.Random(f"ipt-calibrate:{seed}")
    fold = [0] * len(labels)
    offset = 0
    for cat in sorted(set(labels)):
        members = [i for i, c in enumerate(labels) if c == cat]
        rng.shuffle(members)
        for j, i in enumerate(members):
            fold[i] = (offset + j) % k
        offset += len(members)
    return fold


def _fit_all(fitter: _Fitter, trains: Sequence[list[int]], workers: int) -> list[dict[str, float]]:
    """One fit per training set, in order; in ``workers`` processes when more than one (each
    fit is deterministic, so the result does not depend on it)."""
    if workers <= 1 or len(trains) < 2:
        return [fitter.fit(t) for t in trains]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(trains))) as pool:
        return list(pool.map(fitter.fit, trains))


# ------------------------------------------------------------------ evaluation
Codes = tuple[int, list[int | None], list[int | None]]  # categories, base and fitted codes


def _codes(
    fitter: _Fitter, data: _Data, folds: Sequence[int], fold_w: Sequence[Mapping[str, float]]
) -> dict[str, Codes]:
    """Per question, each labelled record's (label, prediction) pair as one code
    ``label * K + prediction``, under the base pack and under its held-out fold's weights."""
    k = len(fitter.cats)
    thr = fitter.threshold
    out: dict[str, Codes] = {"primary": (k, [], [])}
    for a in data.areas:
        out[a] = (2, [], [])
    for i, groups in enumerate(fitter.groups):
        w = {**fitter.w0, **fold_w[folds[i]]}
        lab = fitter.label[i]
        out["primary"][1].append(lab * k + fitter.predict(i, fitter.w0))
        out["primary"][2].append(lab * k + fitter.predict(i, w))
        base_present = present_areas(groups, fitter.w0, thr)
        fit_present = present_areas(groups, w, thr)
        for a in data.areas:
            clin = data.presence[i].get(a)
            if clin is None:
                out[a][1].append(None)
                out[a][2].append(None)
            else:
                out[a][1].append(int(clin) * 2 + (a in base_present))
                out[a][2].append(int(clin) * 2 + (a in fit_present))
    return out


def _kappa_of(counts: Mapping[int | None, int], k: int, exact: bool = False) -> float | None:
    """Kappa of a table given as counts of codes (None: not rated, left out); ``exact``
    through :func:`cohen_kappa` (rational arithmetic), else in floats (bootstrap)."""
    matrix = [[counts.get(r * k + c, 0) for c in range(k)] for r in range(k)]
    if exact:
        return cohen_kappa(matrix=matrix).kappa
    n = sum(map(sum, matrix))
    rows = [sum(row) for row in matrix]
    cols = [sum(row[c] for row in matrix) for c in range(k)]
    if n == 0 or sum(r * c for r, c in zip(rows, cols, strict=True)) == n * n:
        return None
    return _kappa(n, sum(matrix[i][i] for i in range(k)), rows, cols)


def _interval(values: list[float]) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    cuts = statistics.quantiles(values, n=40, method="inclusive")
    return cuts[0], cuts[-1]


def _estimates(
    codes: Mapping[str, Codes], resamples: int, seed: int
) -> dict[str, tuple[Estimate, Estimate, Estimate]]:
    """Base kappa, held-out calibrated kappa and their difference per question, each with a
    percentile bootstrap 95% interval (paired: the same resampled records for all three)."""
    n = len(next(iter(codes.values()))[1])
    samples: dict[str, tuple[list[float], list[float], list[float]]] = {
        q: ([], [], []) for q in codes
    }
    rng = random.Random(f"ipt-calibrate-bootstrap:{seed}")
    population = range(n)
    for _ in range(resamples):
        idx = rng.choices(population, k=n)
        for q, (k, base, fit) in codes.items():
            kb = _kappa_of(Counter(map(base.__getitem__, idx)), k)
            kf = _kappa_of(Counter(map(fit.__getitem__, idx)), k)
            sb, sf, sg = samples[q]
            if kb is not None:
                sb.append(kb)
            if kf is not None:
                sf.append(kf)
            if kb is not None and kf is not None:
                sg.append(kf - kb)
    out = {}
    for q, (k, base, fit) in codes.items():
        rated = sum(c is not None for c in base)
        kb = _kappa_of(Counter(base), k, exact=True)
        kf = _kappa_of(Counter(fit), k, exact=True)
        gain = None if kb is None or kf is None else kf - kb
        sb, sf, sg = samples[q]
        out[q] = (
            Estimate(kb, *_interval(sb), n=rated),
            Estimate(kf, *_interval(sf), n=rated),
            Estimate(gain, *_interval(sg), n=rated),
        )
    return out


# ------------------------------------------------------------------ entry point
def calibrate(
    cohort: str | Path | IO[bytes],
    labels: str | Path | io.TextIOBase,
    pack: RulePack,
    *,
    options: CalibrationOptions | None = None,
    workers: int = 1,
) -> CalibrationReport:
    """Fit ``pack``'s rule weights to the labels with k-fold cross-validation (module doc).

    ``workers > 1`` fits the folds in that many processes; the report is the same. Records
    are read on the compiled backend (proven equal to experta, ``docs/performance.md``).

    ``cohort``: JSONL of inventories with ids; ``labels``: the CSV of
    :func:`~ipt_formulate.audit.load_labels` (its ``primary`` column is the target). Raises
    :class:`CalibrationError` (``calibrate.too_few_labels``) when an area whose rules are
    fitted has fewer than ``max(min_per_area, folds)`` labelled primaries.
    """
    opts = options or CalibrationOptions()
    opts.check()
    free = _free_rules(pack, opts.only)
    by_id, areas, _ = load_labels(labels, pack)
    _check_enough(pack, [lb.primary for lb in by_id.values() if lb.primary], free, opts)
    data = _read(cohort, by_id, areas, pack)
    _check_enough(pack, data.primary, free, opts)
    cats = {a.id: i for i, a in enumerate(pack.areas)}
    for c in sorted({*data.primary, NONE} - set(cats)):
        cats[c] = len(cats)
    fitter = _Fitter(pack, data, free, opts, cats)
    n = len(data.labelled)
    folds = _folds(data.primary, opts.folds, opts.seed)
    trains = [[i for i in range(n) if folds[i] != f] for f in range(opts.folds)]
    *fold_w, final = _fit_all(fitter, [*trains, list(range(n))], workers)
    stats = _estimates(_codes(fitter, data, folds, fold_w), opts.bootstrap, opts.seed)
    new = {**fitter.w0, **final}
    return CalibrationReport(
        base=f"{pack.name}@{pack.version} ({pack.hash[:19]})",
        options=opts,
        records=data.records,
        used=n,
        errors=data.errors,
        unlabelled=data.unlabelled,
        questions=tuple(stats),
        base_kappa={q: s[0] for q, s in stats.items()},
        fitted_kappa={q: s[1] for q, s in stats.items()},
        gain={q: s[2] for q, s in stats.items()},
        weights=tuple(
            WeightChange(
                r,
                str(pack.rule(r).area),
                fitter.w0[r],
                final[r],
                tuple(fw[r] for fw in fold_w),
            )
            for r in free
        ),
        primary_changes=sum(
            primary_of(g, fitter.w0, fitter.threshold) != primary_of(g, new, fitter.threshold)
            for g in data.groups
        ),
    )
