"""A cohort through the batch pool, one compact record per input, in order: what the
influence and sensitivity audits share (their per-line work is in ``_jobs``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ._batch import InventoryLike, _open_in, cpu_count, ordered_map, read_lines
from ._jobs import DEFAULT_CHUNKSIZE, _State

__all__ = ["CohortSource", "map_cohort"]

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
