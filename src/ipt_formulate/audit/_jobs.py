"""What a batch worker does: one chunk of lines in, one record per line out.

The leaf of the batch modules (``_batch`` and ``_dask`` both build on it): the per-line jobs
(``lines``, ``objects``, ``summaries``), the worker initializer, chunking, and the window of
chunks in flight that the process pool and Dask share.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, get_args

from .._api import formulate
from ..errors import InputError, InputTooLargeError, IptFormulateError, OptionError
from ..formulation import Detail, Formulation
from ..inventory import Inventory, parse_inventory
from ..limits import ENV_VAR
from ..rulepack import RulePack, default_pack

Item: TypeAlias = tuple[int, Any]  # (1-based line / position, raw input)

DEFAULT_CHUNKSIZE: Final = 16
CRASH_CODE: Final = "batch.worker_crashed"
_WARMUP: Final = '{"episode": {"assessment_date": "2020-01-01"}}'


# ------------------------------------------------------------------ per-line work
@dataclass(frozen=True)
class _State:
    """What a worker needs: the packs (loaded once), the engine name, options."""

    packs: tuple[RulePack, ...]
    engine: str
    trace: bool = False
    detail: Detail = "full"
    params: Any = None  # job-specific, picklable (the sweep of a sensitivity audit)


_WORKER: _State | None = None  # set in worker processes by _init_worker


def _init_worker(state: _State, parent: int | None = None) -> None:
    """Worker initializer: exit with the parent, leave Ctrl-C to it, warm the engine up."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    _WORKER = state
    _warm_up(state)


_PR_SET_PDEATHSIG: Final = 1  # from <linux/prctl.h>
WATCHDOG_INTERVAL: Final = 0.5  # seconds between two checks of the parent process


def _die_with_parent(parent: int | None) -> None:
    """Make this worker exit when the process that started the batch dies (``kill -9``
    included): ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux, and a watchdog thread that
    checks the parent process id everywhere (the death signal follows the parent *thread*)."""
    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and not _alive(parent):
        os._exit(1)  # the parent died before the death signal was armed

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL)
            if os.getppid() != ppid or (parent is not None and not _alive(parent)):
                os._exit(1)

    threading.Thread(target=watch, name="ipt-formulate-parent-watchdog", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A process killed with ``kill -9`` lingers as a zombie
    until its own parent reaps it, and a zombie still answers ``kill(pid, 0)``: on Linux its
    state in /proc says it is dead (a worker starting just as the batch was killed must see
    that, or it would outlive it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - pid reused by another user's process
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(pid, 0) is all there is
    return state not in (b"Z", b"X")


def _warm_up(state: _State) -> None:
    for pack in state.packs:  # compile each pack's engine once, before the first chunk
        with contextlib.suppress(IptFormulateError):
            formulate(_WARMUP, pack, engine=state.engine)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


@dataclass(frozen=True)
class OversizedLine:
    """Stands for an input line longer than ``max_bytes``: it was never held in memory.
    ``digest``: sha256 of its bytes, hashed while it was read (resume proves the input)."""

    size: int
    max_bytes: int
    digest: bytes = b""


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
            f = formulate(
                inv, state.packs[0], engine=state.engine, trace=state.trace, detail=state.detail
            )
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
            f = formulate(
                inv, state.packs[0], engine=state.engine, trace=state.trace, detail=state.detail
            )
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


def _influence_job(state: _State, chunk: Sequence[Item]) -> list[dict[str, Any]]:
    from ._influence import influence_job

    return influence_job(state.packs[0], chunk)


def _sensitivity_job(state: _State, chunk: Sequence[Item]) -> list[dict[str, Any]]:
    from ._sensitivity import sensitivity_job

    return sensitivity_job(state.packs, state.params, chunk)


def _record_crash(n: int) -> dict[str, Any]:
    return {"line": n, "id": None, "error": _error(CRASH_CODE, _CRASH_MESSAGE)}


_JOBS: dict[str, tuple[Callable[[_State, Sequence[Item]], list[Any]], Callable[[int], Any]]] = {
    "lines": (_lines_job, _lines_crash),
    "objects": (_objects_job, _objects_crash),
    "summaries": (_summaries_job, _summaries_crash),
    "influence": (_influence_job, _record_crash),
    "sensitivity": (_sensitivity_job, _record_crash),
}


def _run_in_worker(job: str, chunk: Sequence[Item]) -> list[Any]:
    assert _WORKER is not None, "worker not initialised"
    return _JOBS[job][0](_WORKER, chunk)


def default_engine() -> str:
    """The engine batch runs use: ``engine.DEFAULT_BATCH_ENGINE`` if defined, else experta."""
    from .. import engine as engine_module

    return str(getattr(engine_module, "DEFAULT_BATCH_ENGINE", "experta"))


def state_of(
    pack: RulePack | Sequence[RulePack] | None,
    engine: str | None,
    trace: bool = False,
    detail: Detail = "full",
) -> _State:
    """What the workers need, from the caller's pack(s) (default: ipt-core), engine and
    output options."""
    packs: tuple[RulePack, ...]
    if pack is None:
        packs = (default_pack(),)
    elif isinstance(pack, RulePack):
        packs = (pack,)
    else:
        packs = tuple(pack)
    if detail not in get_args(Detail):
        raise OptionError(
            f"detail must be one of {', '.join(get_args(Detail))}, got {detail!r}",
            code="options.detail",
        )
    return _State(packs, engine or default_engine(), trace, detail)


# ------------------------------------------------------------------ chunks in flight
def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
