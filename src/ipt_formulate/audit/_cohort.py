"""A cohort through the batch pool, one compact record per input, in order: what the
influence and sensitivity audits share (their per-line work is in ``_jobs``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._batch import InventoryLike, _open_in, cpu_count, ordered_map, read_lines
from ._jobs import DEFAULT_CHUNKSIZE, _State

__all__ = ["CohortReport", "CohortSource", "csv_text", "map_cohort"]

CohortSource = str | Path | Iterable[InventoryLike]
"""A JSONL file (path, or ``-`` for stdin), or an iterable of inventories."""


def map_cohort(
    job: str,
    source: CohortSource,
    state: _State,
    *,
    workers: int = 1,
    chunksize: int = DEFAULT_CHUNKSIZE,
) -> Iterator[dict[str, Any]]:
    """Run ``job`` on every record of ``source``; ``workers`` processes (0 = one per CPU)."""
    workers = cpu_count() if workers == 0 else workers
    if isinstance(source, str | Path):
        with _open_in(source) as (fin, _):
            items: Iterable[tuple[int, Any]] = ((n, raw) for n, raw, _ in read_lines(fin))
            for _, results in ordered_map(job, items, state, workers=workers, chunksize=chunksize):
                yield from results
        return
    for _, results in ordered_map(
        job, enumerate(source, start=1), state, workers=workers, chunksize=chunksize
    ):
        yield from results


@dataclass
class CohortReport:
    """What every cohort audit report has: the pack, the records read, those formulated, the
    errors (each record that could not be formulated: counted and listed, never dropped)."""

    pack: str
    records: int = 0
    formulated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def count(self, rec: dict[str, Any]) -> bool:
        """Count one record; False for an error record (then listed under ``errors``)."""
        self.records += 1
        if "error" in rec:
            self.errors.append({"line": rec["line"], "id": rec["id"], **rec["error"]})
            return False
        self.formulated += 1
        return True

    def head(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "records": self.records,
            "formulated": self.formulated,
            "errors": self.errors,
        }

    def to_dict(self) -> dict[str, Any]:
        return self.head()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def error_lines(self, limit: int = 10) -> list[str]:
        lines = [
            f"  line {e['line']}: error [{e.get('code')}] {e.get('message', '')}"
            for e in self.errors[:limit]
        ]
        if len(self.errors) > limit:
            lines.append(f"  ... {len(self.errors) - limit} more error(s) (use --format json)")
        return lines


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
