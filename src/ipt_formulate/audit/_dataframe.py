"""Formulations as a pandas DataFrame, one row per record (optional extra ``[dataframe]``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import IptFormulateError
from ..formulation import Formulation, Hypothesis
from ..rulepack import RulePack
from ._jobs import BatchResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["to_dataframe"]

Record = BatchResult | Formulation | tuple[str | None, Formulation]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise IptFormulateError(
            "to_dataframe needs pandas: pip install 'ipt-formulate[dataframe]'",
            code="extra.missing",
        ) from None
    return pandas


def _choice(h: Hypothesis | None) -> tuple[str | None, str | None, float | None]:
    return (None, None, None) if h is None else (h.area, h.focus.name, h.score)


def _row(line: int, ident: str | None, f: Formulation | None, error: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"line": line, "id": ident, "status": None if f is None else f.status}
    for role in ("primary", "secondary"):
        area, focus, score = _choice(None if f is None else getattr(f, role))
        row[role], row[f"{role}_focus"], row[f"{role}_score"] = area, focus, score
    best: dict[str, float] = {}
    rules: set[str] = set()
    if f is not None:
        for h in f.hypotheses:  # ranked: the first hypothesis of an area is its best
            best.setdefault(h.area, h.score)
            rules.update(e.rule_id for e in (*h.support, *h.against))
        rules.update(a.rule_id for a in f.advisories if a.rule_id)
    row["_best"] = best
    row["rules"] = tuple(sorted(rules))
    row["error"] = error
    return row


def _rows(results: Iterable[Record]) -> list[dict[str, Any]]:
    rows = []
    for n, r in enumerate(results, start=1):
        if isinstance(r, BatchResult):
            code = None if r.error is None else str(r.error.get("code"))
            rows.append(_row(r.line, r.id, r.formulation, code))
        elif isinstance(r, Formulation):
            rows.append(_row(n, None, r, None))
        elif isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], Formulation):
            rows.append(_row(n, r[0], r[1], None))
        else:
            raise TypeError(
                f"record {n}: expected a BatchResult, a Formulation or an (id, Formulation) "
                f"pair, got {type(r).__name__}"
            )
    return rows


def to_dataframe(results: Iterable[Record], pack: RulePack | None = None) -> pandas.DataFrame:
    """One row per record: ``line``, ``id``, ``status``, ``primary`` (area), ``primary_focus``
    (name), ``primary_score``, the same for ``secondary``, ``score_<area>`` (the best score of
    each area; NaN when the area has no hypothesis), ``rules`` (the ids of the rules behind
    the hypotheses and advisories, sorted) and ``error`` (the error code of a record that
    could not be formulated). ``results``: what :func:`formulate_many` yields, formulations,
    or ``(id, formulation)`` pairs. Score columns follow the areas of ``pack`` when given
    (then any other area, by name), else the areas seen, by name."""
    pd = _pandas()
    rows = _rows(results)
    seen = sorted({a for r in rows for a in r["_best"]})
    areas = [a.id for a in pack.areas] if pack is not None else []
    areas += [a for a in seen if a not in areas]
    records = []
    for r in rows:
        best = r.pop("_best")
        rules, error = r.pop("rules"), r.pop("error")
        records.append(
            {
                **r,
                **{f"score_{a}": best.get(a, float("nan")) for a in areas},
                "rules": rules,
                "error": error,
            }
        )
    columns = [
        "line", "id", "status", "primary", "primary_focus", "primary_score",
        "secondary", "secondary_focus", "secondary_score",
        *(f"score_{a}" for a in areas), "rules", "error",
    ]  # fmt: skip
    return pd.DataFrame.from_records(records, columns=columns)
