"""Batch formulation: many inventories, several processes, nothing lost, results in order.

* **One output line per input line**, in input order: ``{"line": N, "id": ..., "formulation":
  {...}}`` or ``{"line": N, "error": {"code": ..., "message": ...}}`` (blank lines get
  ``input.blank``, text that is not a JSON object ``input.malformed``, invalid inventories
  the inventory error codes, with the JSON path of each issue).
* **Bounded memory**: input is read lazily, in chunks of ``chunksize`` lines; at most
  ``window`` chunks are in flight; finished chunks are written in input order.
* **Worker processes** (:class:`concurrent.futures.ProcessPoolExecutor`) load the rule packs
  once, in their initializer, and warm the engine up. ``workers=1`` runs in this process.
* **Crash isolation**: if a worker process dies (out of memory, a crash in a C extension), the
  chunks in flight are re-run; lines that kill a worker again, alone, get a
  ``batch.worker_crashed`` error record.
* **Resume**: the output holds complete lines only for lines that are done, in order; a
  re-run with ``resume=True`` continues only when the resume record beside the output proves
  that it belongs to this input, pack, engine and options (see :mod:`._resume`); the output
  is locked for the whole run and never the input file itself.
* **Workers exit with the parent** (death signal on Linux, parent watchdog elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any, TypeAlias

from .._api import __version__
from ..errors import IptFormulateError
from ..formulation import SCHEMA_VERSION, Detail
from ..inventory import Inventory
from ..limits import current_limits
from ..rulepack import RulePack
from ._dask import DASK_CHUNKSIZE, dask_ordered_map, require_distributed
from ._jobs import (
    _JOBS,
    CRASH_CODE,
    DEFAULT_CHUNKSIZE,
    BatchResult,
    Item,
    OversizedLine,
    _chunks,
    _init_worker,
    _run_in_worker,
    _State,
    _warm_up,
    default_engine,
    state_of,
    top_up,
)
from ._resume import Output, open_output

_state = state_of  # the name the command line uses

__all__ = [
    "CRASH_CODE",
    "BatchResult",
    "BatchSummary",
    "batch_dask",
    "batch_file",
    "default_engine",
    "formulate_many",
]

InventoryLike: TypeAlias = Inventory | dict[str, Any] | str | bytes


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ ordered parallel map
class _Pool:
    """A process pool that survives worker crashes (see the module docstring)."""

    def __init__(self, state: _State, workers: int, mp_context: BaseContext | None) -> None:
        self.state, self.workers, self.mp_context = state, workers, mp_context
        self.executor = self._new(workers)

    def _new(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=self.mp_context,
            initializer=_init_worker,
            initargs=(self.state, os.getpid()),
        )

    def submit(self, job: str, chunk: list[Item]) -> Future[list[Any]]:
        """Submit a chunk. A pool broken by a worker that just died refuses new work: the
        chunk then gets a future that has already failed, which the caller handles like any
        chunk lost with the pool (isolated, or resubmitted to a fresh pool)."""
        try:
            return self.executor.submit(_run_in_worker, job, chunk)
        except BrokenProcessPool as exc:
            failed: Future[list[Any]] = Future()
            failed.set_exception(exc)
            return failed

    def restart(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._new(self.workers)

    def _solo(self, job: str, chunk: list[Item]) -> list[Any]:
        with self._new(1) as solo:
            return solo.submit(_run_in_worker, job, chunk).result()

    def isolated(self, job: str, chunk: list[Item]) -> list[Any]:
        """Re-run a chunk whose pool died: whole, in a fresh one-worker pool; if it kills
        that one too, line by line, so only the lines that crash a worker are lost."""
        crash = _JOBS[job][1]
        try:
            return self._solo(job, chunk)
        except BrokenProcessPool:
            pass
        out: list[Any] = []
        for item in chunk:
            try:
                out.extend(self._solo(job, [item]) if len(chunk) > 1 else [crash(item[0])])
            except BrokenProcessPool:
                out.append(crash(item[0]))
        return out

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=not cancel, cancel_futures=True)


def ordered_map(
    job: str,
    items: Iterable[Item],
    state: _State,
    *,
    workers: int = 1,
    chunksize: int = DEFAULT_CHUNKSIZE,
    window: int | None = None,
    mp_context: BaseContext | None = None,
) -> Iterator[tuple[list[Item], list[Any]]]:
    """``(chunk, results)`` pairs in input order; at most ``window`` chunks in flight."""
    if workers <= 1:
        _warm_up(state)
        fn = _JOBS[job][0]
        for chunk in _chunks(items, chunksize):
            yield chunk, fn(state, chunk)
        return
    window = window or workers * 4
    pool = _Pool(state, workers, mp_context)
    pending: deque[tuple[list[Item], Future[list[Any]]]] = deque()
    more = True
    try:
        chunks = _chunks(items, chunksize)
        while True:
            more = more and top_up(pending, chunks, window, lambda c: pool.submit(job, c))
            if not pending:
                break
            chunk, fut = pending.popleft()
            try:
                results = fut.result()
            except BrokenProcessPool:
                # every chunk in flight is lost with the pool: isolate this one, resubmit
                # the others to a fresh pool
                results = pool.isolated(job, chunk)
                pool.restart()
                pending = deque((c, pool.submit(job, c)) for c, _ in pending)
            yield chunk, results
        pool.close()
    except BaseException:
        pool.close(cancel=True)
        raise


# ------------------------------------------------------------------ Python API
def formulate_many(
    inventories: Iterable[InventoryLike],
    pack: RulePack | None = None,
    *,
    workers: int = 1,
    engine: str | None = None,
    trace: bool = False,
    chunksize: int = DEFAULT_CHUNKSIZE,
    mp_context: BaseContext | None = None,
    detail: Detail = "full",
) -> Iterator[BatchResult]:
    """Formulate an iterable of inventories (models, dicts or JSON text), lazily, in order.

    Yields exactly one :class:`BatchResult` per input, numbered from 1, in input order:
    invalid inputs become results with an ``error`` instead of raising. ``workers > 1`` uses
    worker processes (``0`` = one per CPU); the input is consumed lazily with a bounded
    number of chunks in flight. ``engine`` defaults to :func:`default_engine`; ``detail`` is
    the output level (:func:`ipt_formulate.formulate`).
    """
    state = state_of(pack, engine, trace, detail)
    workers = cpu_count() if workers == 0 else workers
    items = enumerate(inventories, start=1)
    for _, results in ordered_map(
        "objects", items, state, workers=workers, chunksize=chunksize, mp_context=mp_context
    ):
        yield from results


# ------------------------------------------------------------------ files
@dataclass
class BatchSummary:
    """What a :func:`batch_file` run did."""

    lines: int = 0  # output lines written by this run
    ok: int = 0
    errors: int = 0
    skipped: int = 0  # input lines skipped on resume (already in the output)
    seconds: float = 0.0
    error_codes: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        codes = ", ".join(f"{c} {n}" for c, n in sorted(self.error_codes.items()))
        resumed = f" (resumed after {self.skipped:,})" if self.skipped else ""
        return (
            f"{self.lines:,} line(s){resumed}: {self.ok:,} formulated, {self.errors:,} error(s)"
            + (f" ({codes})" if codes else "")
            + f" in {self.seconds:.1f} s ({self.rate:,.0f} lines/s)"
        )


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | OversizedLine, int]]:
    """``(line number, line without its end-of-line, bytes consumed)`` for each line.

    A line over the ``max_bytes`` limit (:func:`~ipt_formulate.limits.current_limits`) is
    read in bounded pieces and skipped: it comes as an :class:`OversizedLine`, so one huge
    line costs no more memory than the limit."""
    cap = current_limits().max_bytes + 2  # room for "\r\n"
    n = 0
    while True:
        raw = stream.readline(cap + 1)
        if not raw:
            return
        n += 1
        size = len(raw)
        if size > cap and not raw.endswith(b"\n"):
            digest = hashlib.sha256(raw)
            while raw and not raw.endswith(b"\n"):  # drain the rest of the line
                raw = stream.readline(1 << 20)
                size += len(raw)
                digest.update(raw)
            yield n, OversizedLine(size, cap - 2, digest.digest()), size
            continue
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield n, raw, size


class Progress:
    """A one-line progress bar with rate and ETA, written to a terminal only."""

    def __init__(
        self,
        stream: IO[str],
        *,
        enabled: bool,
        total_bytes: int | None,
        interval: float = 0.2,
    ) -> None:
        self.stream, self.enabled, self.total = stream, enabled, total_bytes
        self.interval = interval
        self.t0 = time.monotonic()
        self.last = 0.0
        self.lines = 0
        self.start_bytes = self.bytes = 0

    def skipped(self, nbytes: int) -> None:
        """Input already done before this run (resume): counts for progress, not for rate."""
        self.start_bytes += nbytes
        self.bytes += nbytes

    def update(self, lines: int, nbytes: int, *, force: bool = False) -> None:
        self.lines, self.bytes = self.lines + lines, self.bytes + nbytes
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < self.interval):
            return
        self.last = now
        self.stream.write("\r" + self.render(now - self.t0) + "\x1b[K")
        self.stream.flush()

    def render(self, elapsed: float) -> str:
        rate = self.lines / elapsed if elapsed > 0 else 0.0
        text = f"{self.lines:,} lines  {rate:,.0f} lines/s"
        if self.total:
            frac = min(self.bytes / self.total, 1.0)
            width = 24
            bar = "#" * int(frac * width)
            done = self.bytes - self.start_bytes
            eta = "--:--"
            if done > 0 and elapsed > 0:
                left = (self.total - self.bytes) / (done / elapsed)
                eta = f"{int(left // 60):02d}:{int(left % 60):02d}"
            text = f"{frac:4.0%} [{bar:<{width}}] {text}  ETA {eta}"
        return text

    def close(self) -> None:
        if self.enabled:
            self.update(0, 0, force=True)
            self.stream.write("\n")
            self.stream.flush()


def batch_file(
    source: str | Path | IO[bytes],
    output: str | Path | IO[str],
    pack: RulePack | None = None,
    *,
    workers: int = 1,
    engine: str | None = None,
    trace: bool = False,
    resume: bool = False,
    chunksize: int | None = None,
    progress: bool | None = None,
    progress_stream: IO[str] | None = None,
    mp_context: BaseContext | None = None,
    summary: BatchSummary | None = None,
    dask_client: Any = None,
    detail: Detail = "full",
) -> BatchSummary:
    """Formulate a JSONL file of inventories into a JSONL file of batch records.

    ``source``/``output``: paths (``"-"`` = stdin/stdout) or open streams. ``progress``:
    None = only when ``progress_stream`` (default stderr) is a terminal. ``resume`` needs an
    output path and its resume record (see :mod:`ipt_formulate.audit._resume`). ``summary``:
    filled in place as lines are written (still valid when the run is interrupted).
    ``dask_client``: run the chunks on a Dask cluster instead of local processes (see
    :func:`batch_dask`). ``chunksize``: lines per task (default 16 on local processes,
    128 on Dask). ``detail``: the output level; resuming with another is refused. See
    the module docstring for the record format and guarantees.
    """
    state = state_of(pack, engine, trace, detail)
    workers = cpu_count() if workers == 0 else workers
    pstream = progress_stream or sys.stderr
    enabled = pstream.isatty() if progress is None else progress
    summary = summary if summary is not None else BatchSummary()
    if resume and (not isinstance(output, str | Path) or str(output) == "-"):
        raise IptFormulateError("--resume needs an output file", code="batch.resume_output")
    identity = {
        "version": __version__,
        "pack": state.packs[0].hash,
        "engine": state.engine,
        "trace": state.trace,
        "detail": state.detail,
        "schema": SCHEMA_VERSION,  # the library's version may stay while the output changes
    }
    with _open_in(source) as (fin, total), _open_out(output, identity, resume, fin) as out:
        bar = Progress(pstream, enabled=enabled, total_bytes=total)
        done, lines = out.check_input_prefix(read_lines(fin))
        for size in done:  # resume: the lines already done
            summary.skipped += 1
            bar.skipped(size)
        sizes: dict[int, int] = {}

        def items() -> Iterator[Item]:
            for n, raw, size in lines:
                sizes[n] = size
                yield n, raw

        if dask_client is not None:
            on_dask = DASK_CHUNKSIZE if chunksize is None else chunksize
            chunked = dask_ordered_map("lines", items(), state, dask_client, chunksize=on_dask)
        else:
            chunked = ordered_map(
                "lines", items(), state, workers=workers,
                chunksize=DEFAULT_CHUNKSIZE if chunksize is None else chunksize,
                mp_context=mp_context,
            )  # fmt: skip
        t0 = time.perf_counter()
        try:
            for chunk, results in chunked:
                _write_chunk(out, chunk, results, summary)
                bar.update(len(results), sum(sizes.pop(n, 0) for n, _ in chunk))
        finally:
            summary.seconds = time.perf_counter() - t0
            bar.close()
    return summary


def _write_chunk(out: Output, chunk: list[Item], results: list[Any], summary: BatchSummary) -> None:
    """Write one finished chunk, flush it, then count it (and checkpoint the output)."""
    text = "".join(text + "\n" for text, _ in results)
    try:
        out.fh.write(text)
        out.fh.flush()
    except OSError as exc:
        raise IptFormulateError(
            f"cannot write {out.path}: {exc.strerror or exc}; the lines written before stay "
            "valid: free space, then continue with --resume",
            code="output.io",
        ) from None
    out.wrote([raw for _, raw in chunk], text)
    for _, code in results:
        if code is None:
            summary.ok += 1
        else:
            summary.errors += 1
            summary.error_codes[code] += 1
    summary.lines += len(results)


def batch_dask(
    source: str | Path | IO[bytes],
    output: str | Path | IO[str],
    pack: RulePack | None = None,
    *,
    client: Any = None,
    address: str | None = None,
    **options: Any,
) -> BatchSummary:
    """:func:`batch_file` on a Dask cluster: pass a ``distributed`` ``client`` or the
    scheduler ``address``. Other keywords as for ``batch_file`` (engine, trace, resume,
    chunksize, progress, ...). Losing the scheduler raises ``batch.dask_lost``."""
    distributed = require_distributed()
    own = None
    if client is None:
        if address is None:
            raise IptFormulateError("batch_dask needs a client or an address", code="batch.dask")
        try:
            own = client = distributed.Client(address)
        except OSError as exc:  # includes the time-out of the first connection
            raise IptFormulateError(
                f"cannot reach the Dask scheduler at {address}: {exc}", code="batch.dask_lost"
            ) from None
    try:
        return batch_file(source, output, pack, dask_client=client, **options)
    finally:
        if own is not None:
            with contextlib.suppress(Exception):  # a lost scheduler cannot be closed cleanly
                own.close(timeout=2)


@contextlib.contextmanager
def _open_in(source: str | Path | IO[bytes]) -> Iterator[tuple[IO[bytes], int | None]]:
    """The input as a binary stream, and its size in bytes if it is a regular file."""
    if isinstance(source, str | Path) and str(source) != "-":
        try:
            fh = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise IptFormulateError(
                f"cannot read {source}: {exc.strerror}", code="input.io"
            ) from None
        with fh:
            yield fh, _regular_size(fh)
        return
    stream = sys.stdin.buffer if isinstance(source, str | Path) else source
    yield stream, _regular_size(stream)


def _regular_size(fh: IO[bytes]) -> int | None:
    try:
        info = os.fstat(fh.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


@contextlib.contextmanager
def _open_out(
    output: str | Path | IO[str], identity: dict[str, Any], resume: bool, source: IO[bytes]
) -> Iterator[Output]:
    """A file output (locked, checked, resumable) or a stream (stdout, an open file)."""
    if isinstance(output, str | Path) and str(output) != "-":
        with open_output(Path(output), identity, resume=resume, source=source) as out:
            yield out
        return
    stream = sys.stdout if isinstance(output, str | Path) else output
    try:
        yield Output(Path("-"), stream, identity, regular=False)
    finally:
        stream.flush()
