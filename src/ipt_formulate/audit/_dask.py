"""Optional Dask backend for batch runs (``pip install 'ipt-formulate[dask]'``).

* :func:`batch_dask`: :func:`~ipt_formulate.audit.batch_file` on a Dask cluster. The input is
  still read here, lazily, and sent to the cluster chunk by chunk with a bounded number of
  chunks in flight; results are written here, in input order; the rule packs are scattered
  to every worker once. Same output, same guarantees (one line per input line, resume).
* :func:`formulate_bag`: for data already in a :class:`dask.bag.Bag` — maps a bag of
  inventories (or ``(line, inventory)`` pairs) to a bag of batch records (dicts).
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import IptFormulateError
from ..rulepack import RulePack
from ._batch import (
    _JOBS,
    DEFAULT_CHUNKSIZE,
    BatchSummary,
    Item,
    _chunks,
    _State,
    _state,
    batch_file,
    top_up,
)

__all__ = ["batch_dask", "formulate_bag"]


def _require_distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise IptFormulateError(
            "the Dask backend needs dask and distributed: pip install 'ipt-formulate[dask]'",
            code="batch.missing_dependency",
        ) from exc


def _run_chunk(job: str, state: _State, chunk: list[Item]) -> list[Any]:
    return _JOBS[job][0](state, chunk)


def dask_ordered_map(
    job: str,
    items: Iterable[Item],
    state: _State,
    client: Any,
    *,
    chunksize: int = DEFAULT_CHUNKSIZE,
    window: int | None = None,
) -> Iterator[tuple[list[Item], list[Any]]]:
    """Like :func:`~ipt_formulate.audit._batch.ordered_map`, on a Dask client."""
    if window is None:
        nthreads = sum(client.nthreads().values()) or 1
        window = 4 * nthreads
    shared = client.scatter(state, broadcast=True)
    crash = _JOBS[job][1]
    pending: deque[tuple[list[Item], Any]] = deque()
    chunks = _chunks(items, chunksize)
    more = True

    def submit(chunk: list[Item]) -> Any:
        return client.submit(_run_chunk, job, shared, chunk, pure=False)

    try:
        while True:
            more = more and top_up(pending, chunks, window, submit)
            if not pending:
                return
            chunk, fut = pending.popleft()
            try:
                results = fut.result()
            except Exception:  # a worker died (KilledWorker) or the task could not run
                results = []
                for item in chunk:  # isolate the line(s) at fault
                    try:
                        results.extend(client.submit(_run_chunk, job, shared, [item]).result())
                    except Exception:
                        results.append(crash(item[0]))
            yield chunk, results
    finally:
        for _, fut in pending:
            fut.cancel()


def batch_dask(
    source: str | Path | IO[bytes],
    output: str | Path | IO[str],
    pack: RulePack | None = None,
    *,
    client: Any = None,
    address: str | None = None,
    **options: Any,
) -> BatchSummary:
    """:func:`~ipt_formulate.audit.batch_file` on a Dask cluster: pass a ``distributed``
    ``client`` or the scheduler ``address``. Other keywords as for ``batch_file`` (engine,
    trace, resume, chunksize, progress, ...)."""
    distributed = _require_distributed()
    own = None
    if client is None:
        if address is None:
            raise IptFormulateError("batch_dask needs a client or an address", code="batch.dask")
        own = client = distributed.Client(address)
    try:
        return batch_file(source, output, pack, dask_client=client, **options)
    finally:
        if own is not None:
            own.close()


def _bag_partition(
    part: Iterable[Any], packs: tuple[RulePack, ...], engine: str, trace: bool
) -> list[dict[str, Any]]:
    import json

    items = [x if isinstance(x, tuple) and len(x) == 2 else (0, x) for x in part]
    lines = _JOBS["lines"][0](_State(packs, engine, trace), items)
    out = []
    for (n, _), (text, _code) in zip(items, lines, strict=True):
        rec: dict[str, Any] = json.loads(text)
        if n == 0:
            rec["line"] = None  # the bag gave no line numbers
        out.append(rec)
    return out


def formulate_bag(
    bag: Any, pack: RulePack | None = None, *, engine: str | None = None, trace: bool = False
) -> Any:
    """A bag of batch records from a bag of inventories (JSON text, dicts or models), or of
    ``(line, inventory)`` pairs (then each record carries its line number)."""
    _require_distributed()
    state = _state(pack, engine, trace)
    return bag.map_partitions(_bag_partition, state.packs, state.engine, state.trace)
