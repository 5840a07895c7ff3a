"""Agreement between the engine and clinicians' labels: Cohen's kappa per area and for the
primary focus, with confidence intervals, percent agreement, confusion matrices and the list
of disagreeing records with the rules behind the engine's call.

**Kappa.** For a square table of counts ``n_ij`` (rows: clinician, columns: engine) with
``n`` pairs, ``p_o = Σ n_ii / n`` is the observed agreement, ``p_e = Σ p_i. p_.i`` the
agreement expected by chance from the margins, and ``κ = (p_o - p_e) / (1 - p_e)``. These are
computed exactly, in rational arithmetic, from the integer counts (a hand-computed table is
reproduced exactly); κ is undefined (``None``) when ``p_e = 1`` (both raters used one
category only).

**Confidence interval.** ``κ ± 1.96·SE`` (clipped to [-1, 1]), with the large-sample
standard error of Fleiss, Cohen & Everitt (1969, Psychological Bulletin 72:323-327)::

    SE = sqrt( (A + B - C) / n ) / (1 - p_e)
    A  = Σ_i p_ii [1 - (p_i. + p_.i)(1 - κ)]²
    B  = (1 - κ)² Σ_{i≠j} p_ij (p_.i + p_j.)²
    C  = [κ - p_e (1 - κ)]²

It is an asymptotic formula: with a few dozen records the interval is only indicative.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError, IptFormulateError, Issue
from ..rulepack import RulePack

__all__ = [
    "AgreementReport",
    "Disagreement",
    "Kappa",
    "Label",
    "agreement",
    "cohen_kappa",
    "load_labels",
]

NONE = "none"  # the "no focus" category of the primary
_Z95 = 1.959963984540054


# ------------------------------------------------------------------ Cohen's kappa
@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa of one square table (rows: clinician, columns: engine)."""

    categories: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    n: int
    observed: Fraction | None  # p_o, the percent agreement as a fraction
    expected: Fraction | None  # p_e
    kappa_exact: Fraction | None
    se: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def kappa(self) -> float | None:
        return None if self.kappa_exact is None else float(self.kappa_exact)

    @property
    def percent_agreement(self) -> float | None:
        return None if self.observed is None else float(self.observed * 100)

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 6)

        return {
            "n": self.n,
            "kappa": r(self.kappa),
            "kappa_fraction": None if self.kappa_exact is None else str(self.kappa_exact),
            "se": r(self.se),
            "ci95": None if self.ci_low is None else [r(self.ci_low), r(self.ci_high)],
            "percent_agreement": r(self.percent_agreement),
            "expected_agreement": None if self.expected is None else r(float(self.expected)),
            "categories": list(self.categories),
            "confusion": {
                "rows": "clinician",
                "columns": "engine",
                "matrix": [list(row) for row in self.matrix],
            },
        }


def cohen_kappa(
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    categories: Sequence[str] | None = None,
    matrix: Sequence[Sequence[int]] | None = None,
) -> Kappa:
    """Kappa from ``(clinician, engine)`` pairs or from a square ``matrix`` of counts.

    ``categories`` fixes the order of rows and columns (categories seen in ``pairs`` but not
    listed are appended in sorted order).
    """
    if matrix is not None:
        k = len(matrix)
        cats = tuple(categories) if categories is not None else tuple(str(i) for i in range(k))
        if len(cats) != k or any(len(row) != k for row in matrix):
            raise ValueError("matrix must be square, one row and column per category")
        counts = [[int(x) for x in row] for row in matrix]
    else:
        pairs = list(pairs or ())
        seen = sorted({c for p in pairs for c in p} - set(categories or ()))
        cats = (*(categories or ()), *seen)
        index = {c: i for i, c in enumerate(cats)}
        counts = [[0] * len(cats) for _ in cats]
        for clin, eng in pairs:
            counts[index[clin]][index[eng]] += 1
    k = len(cats)
    n = sum(map(sum, counts))
    table = tuple(tuple(row) for row in counts)
    if n == 0:
        return Kappa(cats, table, 0, None, None, None, None, None, None)
    p = [[Fraction(counts[i][j], n) for j in range(k)] for i in range(k)]
    rows = [sum(p[i]) for i in range(k)]
    cols = [sum(p[i][j] for i in range(k)) for j in range(k)]
    po = Fraction(sum((p[i][i] for i in range(k)), Fraction(0)))
    pe = Fraction(sum((rows[i] * cols[i] for i in range(k)), Fraction(0)))
    if pe == 1:
        return Kappa(cats, table, n, po, pe, None, None, None, None)
    kappa = (po - pe) / (1 - pe)
    a = sum((p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(k)), Fraction(0))
    b = (1 - kappa) ** 2 * sum(
        (p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(k) for j in range(k) if i != j),
        Fraction(0),
    )
    c = (kappa - pe * (1 - kappa)) ** 2
    var = (a + b - c) / n
    se = math.sqrt(max(float(var), 0.0)) / float(1 - pe)
    kf = float(kappa)
    return Kappa(
        cats,
        table,
        n,
        po,
        pe,
        kappa,
        se,
        max(-1.0, kf - _Z95 * se),
        min(1.0, kf + _Z95 * se),
    )


# ------------------------------------------------------------------ labels
@dataclass(frozen=True)
class Label:
    """One clinician's call on one record."""

    id: str
    row: int
    presence: Mapping[str, bool | None]  # area -> present? (None: not rated)
    primary: str | None  # an area id, "none", or None when not rated


_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}


def load_labels(
    source: str | Path | io.TextIOBase, pack: RulePack
) -> tuple[dict[str, Label], tuple[str, ...], tuple[str, ...]]:
    """Read a label CSV: ``(labels by id, area columns compared, columns ignored)``.

    Header: ``id``, then one column per area (``0``/``1``; empty = not rated), then
    ``primary`` (an area id, ``none`` for no focus; empty = not rated). Area columns that
    the pack does not declare, and any other column, are ignored (listed in the report).
    """
    name = str(source) if isinstance(source, str | Path) else "labels"
    try:
        text = (
            Path(source).read_text(encoding="utf-8-sig")
            if isinstance(source, str | Path)
            else source.read()
        )
    except OSError as exc:
        raise IptFormulateError(f"cannot read {name}: {exc.strerror}", code="input.io") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            code="input.malformed",
        ) from None
    reader = csv.DictReader(io.StringIO(str(text)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header

    def fail(code: str, row: int, message: str) -> IptFormulateError:
        return InputError(
            f"{name}:{row}: {message}",
            code=code,
            issues=(Issue(path=f"{name}:{row}", code=code, message=message),),
        )

    if "id" not in header:
        raise fail("labels.header", 1, "the header needs an 'id' column")
    pack_areas = [a.id for a in pack.areas]
    areas = tuple(a for a in pack_areas if a in header)
    ignored = tuple(h for h in header if h not in {"id", "primary", *areas})
    if not areas and "primary" not in header:
        raise fail(
            "labels.header",
            1,
            f"no column names an area of pack {pack.name} ({', '.join(pack_areas)}) "
            "and there is no 'primary' column",
        )
    # a primary may name an area of the pack, or one of this file's other area columns
    # (an area of another pack, which this engine can never choose)
    label_areas = {*pack_areas, *ignored}
    out: dict[str, Label] = {}
    rows = enumerate(reader, start=2)
    while True:
        try:
            row, rec = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the csv module's limit (128 KiB)
            raise fail("labels.csv", reader.line_num, f"not a readable CSV row: {exc}") from None
        rid = (rec.get("id") or "").strip()
        if not rid:
            if not any((v or "").strip() for v in rec.values()):
                continue  # a blank line
            raise fail("labels.id", row, "missing id")
        if rid in out:
            raise fail("labels.duplicate_id", row, f"id {rid!r} also on line {out[rid].row}")
        presence, primary = _label_row(
            rec, row, areas, pack_areas, label_areas, "primary" in header, fail
        )
        out[rid] = Label(rid, row, presence, primary)
    return out, areas, ignored


def _label_row(
    rec: Mapping[str, str | None],
    row: int,
    areas: Sequence[str],
    pack_areas: Sequence[str],
    label_areas: set[str],
    has_primary: bool,
    fail: Callable[[str, int, str], IptFormulateError],
) -> tuple[dict[str, bool | None], str | None]:
    """One label row: presence per area (None = not rated) and the primary (None = not rated)."""
    presence: dict[str, bool | None] = {}
    for area in areas:
        v = (rec.get(area) or "").strip().lower()
        if v in _TRUE:
            presence[area] = True
        elif v in _FALSE:
            presence[area] = False
        elif v == "":
            presence[area] = None
        else:
            raise fail("labels.value", row, f"{area} must be 0 or 1, got {v!r}")
    primary: str | None = None
    if has_primary:
        v = (rec.get("primary") or "").strip()
        if v.lower() == NONE:
            primary = NONE
        elif v:
            if v not in label_areas:
                raise fail(
                    "labels.primary",
                    row,
                    f"primary {v!r} is not an area ({', '.join(pack_areas)}) or 'none'",
                )
            primary = v
    return presence, primary


# ------------------------------------------------------------------ agreement
@dataclass(frozen=True)
class Disagreement:
    """A record where the engine and the clinician differ on one question."""

    line: int
    id: str
    question: str  # an area id (presence) or "primary"
    clinician: str
    engine: str
    engine_score: float | None
    rules: tuple[str, ...]  # the rules behind the engine's call
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "id": self.id,
            "question": self.question,
            "clinician": self.clinician,
            "engine": self.engine,
            "engine_score": self.engine_score,
            "rules": list(self.rules),
            "note": self.note,
        }


@dataclass
class AgreementReport:
    pack: str
    presence_threshold: float
    records: int = 0  # cohort lines read
    matched: int = 0  # records with a label and a formulation
    areas: dict[str, Kappa] = field(default_factory=dict)
    primary: Kappa | None = None
    disagreements: list[Disagreement] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # formulation errors
    unlabelled: list[str] = field(default_factory=list)  # cohort ids without a label
    no_id_lines: list[int] = field(default_factory=list)
    labels_without_record: list[str] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "presence_threshold": self.presence_threshold,
            "records": self.records,
            "matched": self.matched,
            "areas": {a: k.to_dict() for a, k in self.areas.items()},
            "primary": None if self.primary is None else self.primary.to_dict(),
            "disagreements": [d.to_dict() for d in self.disagreements],
            "errors": self.errors,
            "unlabelled_ids": self.unlabelled,
            "lines_without_id": self.no_id_lines,
            "labels_without_record": self.labels_without_record,
            "ignored_columns": list(self.ignored_columns),
        }

    def to_json(self) -> str:
        # allow_nan=False: NaN and infinities are not JSON; none can reach here
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def _rows(self) -> list[tuple[str, Kappa]]:
        rows = list(self.areas.items())
        if self.primary is not None:
            rows.append(("primary focus", self.primary))
        return rows

    def to_csv(self) -> str:
        """One row per question: n, kappa, its 95% CI and SE, percent agreement."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["question", "n", "kappa", "ci95_low", "ci95_high", "se", "percent_agreement"])
        for name, k in self._rows():
            w.writerow(
                [
                    name,
                    k.n,
                    *(
                        "" if x is None else f"{x:.4f}"
                        for x in (k.kappa, k.ci_low, k.ci_high, k.se, k.percent_agreement)
                    ),
                ]
            )
        return buf.getvalue()

    def disagreements_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["line", "id", "question", "clinician", "engine", "engine_score", "rules"])
        for d in self.disagreements:
            score = "" if d.engine_score is None else f"{d.engine_score:g}"
            w.writerow([d.line, d.id, d.question, d.clinician, d.engine, score, " ".join(d.rules)])
        return buf.getvalue()

    def to_table(self, max_disagreements: int = 20) -> str:
        def f(x: float | None, spec: str = ".2f") -> str:
            return "-" if x is None else format(x, spec)

        lines = [
            f"Agreement with clinician labels: pack {self.pack}, {self.matched} matched record(s) "
            f"of {self.records}; area present = best score >= {self.presence_threshold:g}",
            "",
            f"{'question':26} {'n':>5} {'kappa':>6} {'95% CI':>15} {'agree':>7}",
        ]
        for name, k in self._rows():
            ci = "-" if k.ci_low is None else f"[{k.ci_low:.2f}, {k.ci_high:.2f}]"
            pct = "-" if k.percent_agreement is None else f"{k.percent_agreement:.1f}%"
            lines.append(f"{name:26} {k.n:>5} {f(k.kappa):>6} {ci:>15} {pct:>7}")
        for name, k in self._rows():
            lines += ["", f"Confusion matrix, {name} (rows: clinician, columns: engine)"]
            width = max(8, *(len(c) for c in k.categories))
            lines.append(" " * width + "".join(f" {c:>{width}}" for c in k.categories))
            for c, row in zip(k.categories, k.matrix, strict=True):
                lines.append(f"{c:>{width}}" + "".join(f" {x:>{width}}" for x in row))
        lines += ["", f"Disagreements: {len(self.disagreements)}"]
        for d in self.disagreements[:max_disagreements]:
            score = "" if d.engine_score is None else f" (score {d.engine_score:g})"
            lines.append(
                f"  line {d.line} {d.id}: {d.question}: clinician {d.clinician}, engine "
                f"{d.engine}{score}; rules: {', '.join(d.rules) or '-'}"
            )
        if len(self.disagreements) > max_disagreements:
            lines.append(f"  ... {len(self.disagreements) - max_disagreements} more (use JSON)")
        notes = []
        if self.errors:
            notes.append(f"{len(self.errors)} record(s) could not be formulated")
        if self.unlabelled:
            notes.append(f"{len(self.unlabelled)} record(s) have no label")
        if self.no_id_lines:
            notes.append(f"{len(self.no_id_lines)} record(s) have no id")
        if self.labels_without_record:
            notes.append(f"{len(self.labels_without_record)} label(s) match no record")
        if self.ignored_columns:
            notes.append(f"ignored columns: {', '.join(self.ignored_columns)}")
        if notes:
            lines += ["", "Notes: " + "; ".join(notes) + "."]
        return "\n".join(lines) + "\n"


def _presence_rules(summary: dict[str, Any], area: str, present: bool) -> tuple[str, ...]:
    """The rules behind the engine's presence call for an area."""
    best = summary["best"].get(area)
    if present and best is not None:
        ev = summary["evidence"][best["key"]]
        return tuple(sorted(ev, key=lambda r: (-ev[r][1], r)))
    wn = summary["why_not"].get(area)
    below = []
    if best is not None:  # a hypothesis below the threshold: its evidence
        ev = summary["evidence"][best["key"]]
        below = sorted(ev, key=lambda r: (-ev[r][1], r))
    checks = [] if wn is None else [f"{r} ({s})" for r, s in wn["checks"] if s != "fired"]
    return tuple(below + checks)


def _threshold(pack: RulePack, value: float | None) -> float:
    """The presence threshold: the pack's ``primary_min`` unless given; finite, in (0, 1]."""
    threshold = pack.thresholds.primary_min if value is None else value
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and 0 < threshold <= 1):
        raise InputError(
            f"presence threshold must be a number in (0, 1], got {threshold!r}",
            code="agreement.threshold",
        )
    return float(threshold)


def agreement(
    summaries: Iterable[dict[str, Any]],
    labels: Mapping[str, Label],
    pack: RulePack,
    *,
    areas: Sequence[str],
    presence_threshold: float | None = None,
    ignored_columns: Sequence[str] = (),
) -> AgreementReport:
    """Compare engine summaries (from the batch ``summaries`` job) with labels.

    ``presence_threshold`` must be a finite number in (0, 1]: scores are certainty factors
    below 1, and a report never carries a non-finite number (it would not be valid JSON).
    """
    threshold = _threshold(pack, presence_threshold)
    report = AgreementReport(
        pack=f"{pack.name}@{pack.version}",
        presence_threshold=threshold,
        ignored_columns=tuple(ignored_columns),
    )
    presence_pairs: dict[str, list[tuple[str, str]]] = {a: [] for a in areas}
    primary_pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for rec in summaries:
        report.records += 1
        res = rec["results"][0]
        rid = rec["id"]
        if "error" in res:
            report.errors.append({"line": rec["line"], "id": rid, **res["error"]})
            continue
        if rid is None:
            report.no_id_lines.append(rec["line"])
            continue
        label = labels.get(rid)
        if label is None:
            report.unlabelled.append(rid)
            continue
        seen.add(rid)
        report.matched += 1
        for area in areas:
            clin = label.presence.get(area)
            if clin is not None:
                eng = _compare_presence(report, rec, area, clin, threshold)
                presence_pairs[area].append((str(int(clin)), str(int(eng))))
        if label.primary is not None:
            primary_pairs.append((label.primary, _compare_primary(report, rec, label.primary)))
    report.labels_without_record = sorted(set(labels) - seen - set(report.unlabelled))
    report.areas = {a: cohen_kappa(presence_pairs[a], categories=("0", "1")) for a in areas}
    if any(lb.primary is not None for lb in labels.values()):
        cats = (*(a.id for a in pack.areas), NONE)
        report.primary = cohen_kappa(primary_pairs, categories=cats)
    return report


def _compare_presence(
    report: AgreementReport, rec: dict[str, Any], area: str, clin: bool, threshold: float
) -> bool:
    """Whether the engine finds ``area`` present in the record; a disagreement is added to
    ``report`` with the rules behind the engine's call."""
    res = rec["results"][0]
    best = res["best"].get(area)
    score = None if best is None else best["score"]
    eng = score is not None and score >= threshold
    if eng != clin:
        report.disagreements.append(
            Disagreement(
                rec["line"],
                rec["id"],
                area,
                "present" if clin else "absent",
                "present" if eng else "absent",
                score,
                _presence_rules(res, area, eng),
                "" if best is not None else "no hypothesis for this area",
            )
        )
    return eng


def _compare_primary(report: AgreementReport, rec: dict[str, Any], labelled: str) -> str:
    """The engine's primary area (or ``none``); a disagreement is added to ``report`` with
    the rules for the engine's primary and the WHY-NOT checks of the labelled area."""
    res = rec["results"][0]
    prim = res["primary"]
    eng_p = NONE if prim is None else prim["area"]
    if eng_p != labelled:
        rules: list[str] = []
        if prim is not None:
            ev = res["evidence"][prim["key"]]
            rules += sorted(ev, key=lambda r: (-ev[r][1], r))
        if labelled != NONE:
            rules += [f"{r} ({s})" for r, s in _why_not_checks(res, labelled)]
        wn = res["why_not"].get(labelled)
        report.disagreements.append(
            Disagreement(
                rec["line"],
                rec["id"],
                "primary",
                labelled,
                eng_p if prim is None else f"{eng_p} ({prim['focus_name']})",
                None if prim is None else prim["score"],
                tuple(rules),
                "" if wn is None else f"{labelled}: {wn['reason']}",
            )
        )
    return eng_p


def _why_not_checks(summary: dict[str, Any], area: str) -> list[tuple[str, str]]:
    wn = summary["why_not"].get(area)
    if wn is None:
        return []
    return [(r, s) for r, s in wn["checks"] if s != "fired"]
