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
  re-run with ``resume=True`` keeps the complete lines already written (a trailing partial
  line is dropped) and skips as many input lines.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any, Final, TypeAlias

from .._api import formulate
from ..errors import InputError, InputTooLargeError, IptFormulateError
from ..formulation import Formulation
from ..inventory import Inventory, parse_inventory
from ..limits import ENV_VAR, current_limits
from ..rulepack import RulePack, default_pack

__all__ = [
    "BatchResult",
    "BatchSummary",
    "batch_file",
    "default_engine",
    "formulate_many",
]

InventoryLike: TypeAlias = Inventory | dict[str, Any] | str | bytes
Item: TypeAlias = tuple[int, Any]  # (1-based line / position, raw input)

DEFAULT_CHUNKSIZE: Final = 16
CRASH_CODE: Final = "batch.worker_crashed"
_WARMUP: Final = '{"episode": {"assessment_date": "2020-01-01"}}'


def default_engine() -> str:
    """The engine batch runs use: ``engine.DEFAULT_BATCH_ENGINE`` if defined, else experta."""
    from .. import engine as engine_module

    return str(getattr(engine_module, "DEFAULT_BATCH_ENGINE", "experta"))


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ per-line work
@dataclass(frozen=True)
class _State:
    """What a worker needs: the packs (loaded once), the engine name, options."""

    packs: tuple[RulePack, ...]
    engine: str
    trace: bool = False


_WORKER: _State | None = None  # set in worker processes by _init_worker


def _init_worker(state: _State) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _WORKER = state
    _warm_up(state)


def _warm_up(state: _State) -> None:
    for pack in state.packs:  # compile each pack's engine once, before the first chunk
        with contextlib.suppress(IptFormulateError):
            formulate(_WARMUP, pack, engine=state.engine)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _parse(raw: Any) -> Inventory:
    """An inventory from one input item; a blank line is its own error."""
    if isinstance(raw, OversizedLine):
        raise InputTooLargeError(
            f"input too large: line of {raw.size:,} bytes, over the limit max_bytes="
            f"{raw.max_bytes:,}; raise it with {ENV_VAR}='max_bytes=N' or --limit max_bytes=N",
            limit="max_bytes",
            value=raw.max_bytes,
            actual=raw.size,
        )
    if isinstance(raw, bytes):
        with contextlib.suppress(UnicodeDecodeError):  # parse_inventory reports bad UTF-8
            raw = raw.decode("utf-8")
    if isinstance(raw, bytes | str) and not raw.strip():
        raise InputError(
            "blank line: expected one inventory (a JSON object) per line", code="input.blank"
        )
    return parse_inventory(raw)


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, IptFormulateError):
        return exc.to_dict()
    return _error("internal.error", f"{type(exc).__name__}: {exc}")


# JSON leaves these raw inside strings, but str.splitlines() (and JavaScript, before ES2019)
# reads them as line breaks: escaped, every record is one line for every reader.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _one_line(text: str) -> str:
    for char, escape in _LINE_BREAKS.items():
        if char in text:  # rare: a search is far cheaper than str.translate
            text = text.replace(char, escape)
    return text


def _json_line(line: int, inv_id: str | None, formulation_json: str) -> str:
    return _one_line(
        f'{{"line":{line},"id":{json.dumps(inv_id)},"formulation":{formulation_json}}}'
    )


def _error_line(line: int, error: dict[str, Any]) -> str:
    text = json.dumps({"line": line, "error": error}, ensure_ascii=False, separators=(",", ":"))
    return _one_line(text)


def _lines_job(state: _State, chunk: Sequence[Item]) -> list[tuple[str, str | None]]:
    """Batch records for one chunk: (JSON line, error code or None)."""
    out: list[tuple[str, str | None]] = []
    for n, raw in chunk:
        try:
            inv = _parse(raw)
            f = formulate(inv, state.packs[0], engine=state.engine, trace=state.trace)
            out.append((_json_line(n, inv.id, f.to_json(indent=None)), None))
        except Exception as exc:  # one bad line must never stop a batch
            err = _error_of(exc)
            out.append((_error_line(n, err), str(err["code"])))
    return out


def _lines_crash(n: int) -> tuple[str, str | None]:
    return _error_line(n, _error(CRASH_CODE, _CRASH_MESSAGE)), CRASH_CODE


_CRASH_MESSAGE = "a worker process died while formulating this line (crash or out of memory)"


@dataclass(frozen=True)
class BatchResult:
    """One item of :func:`formulate_many`: a formulation or an error, never both."""

    line: int
    id: str | None
    formulation: Formulation | None = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.formulation is not None

    def to_dict(self) -> dict[str, Any]:
        """The batch output record (the same as a line of :func:`batch_file`)."""
        if self.formulation is None:
            return {"line": self.line, "error": self.error}
        return {"line": self.line, "id": self.id, "formulation": self.formulation.to_dict()}


def _objects_job(state: _State, chunk: Sequence[Item]) -> list[BatchResult]:
    out = []
    for n, raw in chunk:
        try:
            inv = _parse(raw)
            f = formulate(inv, state.packs[0], engine=state.engine, trace=state.trace)
            out.append(BatchResult(n, inv.id, formulation=f))
        except Exception as exc:
            out.append(BatchResult(n, None, error=_error_of(exc)))
    return out


def _objects_crash(n: int) -> BatchResult:
    return BatchResult(n, None, error=_error(CRASH_CODE, _CRASH_MESSAGE))


def _summaries_job(state: _State, chunk: Sequence[Item]) -> list[dict[str, Any]]:
    """Compact per-pack summaries (for agreement and pack diffs), one per item."""
    from ._summary import summarize

    out = []
    for n, raw in chunk:
        rec: dict[str, Any] = {"line": n, "id": None, "results": []}
        try:
            reuse = len(state.packs) == 1  # batch output holds one pack's formulations
            obj = None
            if reuse and isinstance(raw, bytes | str) and raw.lstrip()[:1] in ("{", b"{"):
                with contextlib.suppress(ValueError):  # not JSON: _parse says how
                    obj = json.loads(raw)
                if (
                    isinstance(obj, dict)
                    and "line" in obj
                    and ("formulation" in obj or "error" in obj)
                ):
                    # a line of batch output: use the formulation already computed
                    rec["id"] = obj.get("id")
                    res = (
                        {"error": obj["error"]} if "error" in obj else summarize(obj["formulation"])
                    )
                    rec["results"] = [res for _ in state.packs]
                    out.append(rec)
                    continue
            inv = _parse(raw)
            rec["id"] = inv.id
            for pack in state.packs:
                try:
                    rec["results"].append(summarize(formulate(inv, pack, engine=state.engine)))
                except Exception as exc:
                    rec["results"].append({"error": _error_of(exc)})
        except Exception as exc:
            rec["results"] = [{"error": _error_of(exc)} for _ in state.packs]
        out.append(rec)
    return out


def _summaries_crash(n: int) -> dict[str, Any]:
    return {"line": n, "id": None, "results": [{"error": _error(CRASH_CODE, _CRASH_MESSAGE)}]}


_JOBS: dict[str, tuple[Callable[[_State, Sequence[Item]], list[Any]], Callable[[int], Any]]] = {
    "lines": (_lines_job, _lines_crash),
    "objects": (_objects_job, _objects_crash),
    "summaries": (_summaries_job, _summaries_crash),
}


def _run_in_worker(job: str, chunk: Sequence[Item]) -> list[Any]:
    assert _WORKER is not None, "worker not initialised"
    return _JOBS[job][0](_WORKER, chunk)


# ------------------------------------------------------------------ ordered parallel map
def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
            initargs=(self.state,),
        )

    def submit(self, job: str, chunk: list[Item]) -> Future[list[Any]]:
        return self.executor.submit(_run_in_worker, job, chunk)

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


def top_up(
    pending: deque[tuple[list[Item], Any]],
    chunks: Iterator[list[Item]],
    window: int,
    submit: Callable[[list[Item]], Any],
) -> bool:
    """Submit chunks until ``window`` are in flight (bounded memory); False once the input
    is exhausted. Shared by the process pool and the Dask path."""
    while len(pending) < window:
        nxt = next(chunks, None)
        if nxt is None:
            return False
        pending.append((nxt, submit(nxt)))
    return True


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
def _state(
    pack: RulePack | Sequence[RulePack] | None, engine: str | None, trace: bool = False
) -> _State:
    packs: tuple[RulePack, ...]
    if pack is None:
        packs = (default_pack(),)
    elif isinstance(pack, RulePack):
        packs = (pack,)
    else:
        packs = tuple(pack)
    return _State(packs, engine or default_engine(), trace)


def formulate_many(
    inventories: Iterable[InventoryLike],
    pack: RulePack | None = None,
    *,
    workers: int = 1,
    engine: str | None = None,
    trace: bool = False,
    chunksize: int = DEFAULT_CHUNKSIZE,
    mp_context: BaseContext | None = None,
) -> Iterator[BatchResult]:
    """Formulate an iterable of inventories (models, dicts or JSON text), lazily, in order.

    Yields exactly one :class:`BatchResult` per input, numbered from 1, in input order:
    invalid inputs become results with an ``error`` instead of raising. ``workers > 1`` uses
    worker processes (``0`` = one per CPU); the input is consumed lazily with a bounded
    number of chunks in flight. ``engine`` defaults to :func:`default_engine`.
    """
    state = _state(pack, engine, trace)
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


@dataclass(frozen=True)
class OversizedLine:
    """Stands for an input line longer than ``max_bytes``: it was never held in memory."""

    size: int
    max_bytes: int


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
            while raw and not raw.endswith(b"\n"):  # drain the rest of the line
                raw = stream.readline(1 << 20)
                size += len(raw)
            yield n, OversizedLine(size, cap - 2), size
            continue
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield n, raw, size


def resume_point(path: Path) -> int:
    """Complete lines already in a batch output (a trailing partial line is cut off).

    Checks that the last complete line is the record of that line number, so a resume never
    continues an output that belongs to another input.
    """
    if not path.exists():
        return 0
    count, last_end, prev_end = 0, 0, 0
    with path.open("rb") as fh:
        pos = 0
        while block := fh.read(1 << 20):
            start = 0
            while (i := block.find(b"\n", start)) != -1:
                count += 1
                prev_end, last_end = last_end, pos + i + 1
                start = i + 1
            pos += len(block)
    if pos != last_end:
        with path.open("r+b") as fh:
            fh.truncate(last_end)
    if count:
        with path.open("rb") as fh:
            fh.seek(prev_end)
            tail = fh.read(last_end - prev_end)
        try:
            rec = json.loads(tail)
            ok = isinstance(rec, dict) and rec.get("line") == count
        except ValueError:
            ok = False
        if not ok:
            raise IptFormulateError(
                f"cannot resume: {path} line {count} is not the batch record of input line "
                f"{count}; write to a new output file instead",
                code="batch.resume_mismatch",
            )
    return count


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
    chunksize: int = DEFAULT_CHUNKSIZE,
    progress: bool | None = None,
    progress_stream: IO[str] | None = None,
    mp_context: BaseContext | None = None,
    summary: BatchSummary | None = None,
    dask_client: Any = None,
) -> BatchSummary:
    """Formulate a JSONL file of inventories into a JSONL file of batch records.

    ``source``/``output``: paths (``"-"`` = stdin/stdout) or open streams. ``progress``:
    None = only when ``progress_stream`` (default stderr) is a terminal. ``resume`` needs an
    output path. ``summary``: filled in place as lines are written (still valid when the run
    is interrupted). ``dask_client``: run the chunks on a Dask cluster instead of local
    processes (see :func:`ipt_formulate.audit.batch_dask`). See the module docstring for the
    record format and guarantees.
    """
    state = _state(pack, engine, trace)
    workers = cpu_count() if workers == 0 else workers
    pstream = progress_stream or sys.stderr
    enabled = pstream.isatty() if progress is None else progress
    summary = summary if summary is not None else BatchSummary()
    skip = 0
    if resume:
        if not isinstance(output, str | Path) or str(output) == "-":
            raise IptFormulateError("--resume needs an output file", code="batch.resume_output")
        skip = resume_point(Path(output))
    with _open_in(source) as (fin, total), _open_out(output, append=resume) as fout:
        bar = Progress(pstream, enabled=enabled, total_bytes=total)
        sizes: dict[int, int] = {}

        def items() -> Iterator[Item]:
            for n, raw, size in read_lines(fin):
                if n <= skip:
                    summary.skipped += 1
                    bar.skipped(size)
                    continue
                sizes[n] = size
                yield n, raw

        t0 = time.perf_counter()
        if dask_client is not None:
            from ._dask import dask_ordered_map

            chunked = dask_ordered_map("lines", items(), state, dask_client, chunksize=chunksize)
        else:
            chunked = ordered_map(
                "lines", items(), state, workers=workers, chunksize=chunksize,
                mp_context=mp_context,
            )  # fmt: skip
        try:
            for chunk, results in chunked:
                fout.write("".join(text + "\n" for text, _ in results))
                fout.flush()
                for _, code in results:
                    if code is None:
                        summary.ok += 1
                    else:
                        summary.errors += 1
                        summary.error_codes[code] += 1
                summary.lines += len(results)
                bar.update(len(results), sum(sizes.pop(n, 0) for n, _ in chunk))
        finally:
            summary.seconds = time.perf_counter() - t0
            bar.close()
    return summary


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
def _open_out(output: str | Path | IO[str], *, append: bool) -> Iterator[IO[str]]:
    if isinstance(output, str | Path) and str(output) != "-":
        try:
            fh = open(output, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise IptFormulateError(
                f"cannot write {output}: {exc.strerror}", code="output.io"
            ) from None
        with fh:
            yield fh
        return
    stream = sys.stdout if isinstance(output, str | Path) else output
    try:
        yield stream
    finally:
        stream.flush()
