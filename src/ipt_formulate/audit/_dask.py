"""Optional Dask backend for batch runs (``pip install 'ipt-formulate[dask]'``).

* :func:`dask_ordered_map`: the chunks of a batch run on a Dask client, in input order, with
  a bounded number in flight; the rule packs are scattered to every worker once.
  :func:`~ipt_formulate.audit.batch_dask` builds on it.
* :func:`formulate_bag`: for data already in a :class:`dask.bag.Bag` — maps a bag of
  inventories (or ``(line, inventory)`` pairs) to a bag of batch records (dicts).

Losing the scheduler is not a fault of a line: it raises ``batch.dask_lost`` (exit 2 from the
command line) as soon as the client stops running — it gives up reconnecting after Dask's
``distributed.comm.timeouts.connect`` — and never writes a line it did not compute.
"""

from __future__ import annotations

import importlib
import json
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError
from typing import Any, Final

from ..errors import IptFormulateError
from ..formulation import Detail
from ..rulepack import RulePack
from ._jobs import _JOBS, DEFAULT_CHUNKSIZE, Item, _chunks, _State, state_of, top_up

__all__ = [
    "DASK_CHUNKSIZE",
    "dask_ordered_map",
    "dask_window",
    "formulate_bag",
    "require_distributed",
]

POLL: Final = 0.5  # seconds between two checks of the client while waiting for a chunk
DASK_CHUNKSIZE: Final = 128
"""Lines per Dask task unless told otherwise: about a second of work per task at 15 persons,
well above Dask's per-task overhead. Measured on a local cluster (docs/performance.md, "Dask
chunk size"), Dask's CPU stayed 1.4-1.8x the local pool's from 16 to 256 lines per task and
rose to 2.4x at 1,000, while memory grew with the chunk (results held per task)."""


def dask_window(threads: int, chunksize: int) -> int:
    """Chunks in flight: at least two per worker thread (one running, one queued) and at
    least 64 lines per thread (four chunks of the pool's default), so large chunks on a
    large cluster do not multiply the lines the caller holds."""
    per_thread = max(2, -(-4 * DEFAULT_CHUNKSIZE // chunksize))
    return max(1, threads) * per_thread


def require_distributed() -> Any:
    """The ``distributed`` module, or a typed error naming the extra to install."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise IptFormulateError(
            "the Dask backend needs dask and distributed: pip install 'ipt-formulate[dask]'",
            code="batch.missing_dependency",
        ) from exc


def _run_chunk(job: str, state: _State, chunk: list[Item]) -> list[Any]:
    return _JOBS[job][0](state, chunk)


def _lost(client: Any, why: object) -> IptFormulateError:
    return IptFormulateError(
        f"lost the Dask scheduler ({why}); the lines written so far are complete: continue "
        "with --resume once the cluster is back",
        code="batch.dask_lost",
    )


def _result(client: Any, fut: Any) -> list[Any]:
    """A chunk's results; a lost scheduler raises ``batch.dask_lost`` instead of hanging."""
    while True:
        if client.status not in ("running", "connecting", "newly-created"):
            raise _lost(client, f"client {client.status}")
        try:
            result: list[Any] = fut.result(timeout=POLL)
            return result
        except TimeoutError:
            continue
        except (CancelledError, OSError) as exc:
            raise _lost(client, type(exc).__name__) from None
        except Exception:
            if client.status != "running":
                raise _lost(client, f"client {client.status}") from None
            raise  # the task failed or killed its worker: the caller isolates the lines


def dask_ordered_map(
    job: str,
    items: Iterable[Item],
    state: _State,
    client: Any,
    *,
    chunksize: int = DASK_CHUNKSIZE,
    window: int | None = None,
) -> Iterator[tuple[list[Item], list[Any]]]:
    """Like :func:`~ipt_formulate.audit._batch.ordered_map`, on a Dask client
    (``window``: chunks in flight, default :func:`dask_window`)."""
    try:
        if window is None:
            window = dask_window(sum(client.nthreads().values()), chunksize)
        # hash=False: a key of its own per run; a content-hashed key released by a run that
        # just ended (its futures cancelled) could drop the data a new run depends on
        shared = client.scatter(state, broadcast=True, hash=False)
    except OSError as exc:
        raise _lost(client, exc) from None
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
                results = _result(client, fut)
            except IptFormulateError:
                raise
            except Exception:  # a worker died (KilledWorker) or the task could not run
                results = []
                for item in chunk:  # isolate the line(s) at fault
                    try:
                        results.extend(_result(client, submit([item])))
                    except IptFormulateError:
                        raise
                    except Exception:
                        results.append(crash(item[0]))
            yield chunk, results
    finally:
        for _, fut in pending:
            fut.cancel()


def _bag_partition(
    part: Iterable[Any],
    packs: tuple[RulePack, ...],
    engine: str,
    trace: bool,
    detail: Detail = "full",
) -> list[dict[str, Any]]:
    items = [x if isinstance(x, tuple) and len(x) == 2 else (0, x) for x in part]
    lines = _JOBS["lines"][0](_State(packs, engine, trace, detail), items)
    out = []
    for (n, _), (text, _code) in zip(items, lines, strict=True):
        rec: dict[str, Any] = json.loads(text)
        if n == 0:
            rec["line"] = None  # the bag gave no line numbers
        out.append(rec)
    return out


def formulate_bag(
    bag: Any,
    pack: RulePack | None = None,
    *,
    engine: str | None = None,
    trace: bool = False,
    detail: Detail = "full",
) -> Any:
    """A bag of batch records from a bag of inventories (JSON text, dicts or models), or of
    ``(line, inventory)`` pairs (then each record carries its line number)."""
    require_distributed()
    state = state_of(pack, engine, trace, detail)
    return bag.map_partitions(_bag_partition, state.packs, state.engine, state.trace, state.detail)
