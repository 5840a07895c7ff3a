"""A batch output file that can be resumed safely.

Beside ``OUT`` a run keeps a *resume record*, ``OUT.resume.json``: what produced the output
(library version, pack content hash, engine, trace, output level) and a checkpoint (how many
input lines are done, the sha256 of those input lines, and the size and sha256 of the output
written for them). The record is replaced atomically after the output is flushed, so it never
claims more than the output holds. ``--resume`` continues only when the record proves that the
output belongs to this input, pack and options; otherwise it refuses, and never changes the
file.

For the whole run the output is held under an exclusive ``flock``: a second run on the same
output fails at once. The output is opened without truncation and checked against the input
(same file, through a symlink or a hard link) before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

from ..errors import IptFormulateError
from ._jobs import OversizedLine

__all__ = ["RECORD_SUFFIX", "Output", "open_output"]

RECORD_SUFFIX: Final = ".resume.json"
FORMAT: Final = "ipt-formulate-batch-resume/1"
SAVE_INTERVAL: Final = 0.5  # seconds between two checkpoints while a run goes on


def _fail(code: str, message: str) -> IptFormulateError:
    return IptFormulateError(message, code=code)


def line_digest_update(h: Any, raw: bytes | OversizedLine) -> None:
    """Add one input line (without its end of line) to a running input digest; a line over
    the size limit by its own digest (it was never held in memory)."""
    if isinstance(raw, OversizedLine):
        h.update(b"oversized" + raw.size.to_bytes(8, "little") + raw.digest)
        return
    h.update(len(raw).to_bytes(8, "little"))
    h.update(raw)


@dataclass
class Output:
    """An output file held under an exclusive lock, with its resume record."""

    path: Path
    fh: IO[str]
    identity: dict[str, Any]
    regular: bool  # a regular file (not /dev/full, a pipe, ...): truncated, checkpointed
    skip: int = 0  # input lines already done (resume)
    expected_input: str | None = None  # sha256 of those lines, from the record
    input_hash: Any = field(default_factory=hashlib.sha256)
    output_hash: Any = field(default_factory=hashlib.sha256)
    output_bytes: int = 0
    lines: int = 0
    keep: int = 0  # bytes of the existing output to keep (resume)
    tail_records: int = 0  # complete records after the checkpoint (resume), redone
    saved: float = 0.0
    started: bool = False  # the output is this run's: checkpoints may be written

    @property
    def record_path(self) -> Path:
        return self.path.with_name(self.path.name + RECORD_SUFFIX)

    def check_input_prefix(
        self, lines: Iterator[tuple[int, bytes | OversizedLine, int]]
    ) -> tuple[list[int], Iterator[tuple[int, bytes | OversizedLine, int]]]:
        """Read the ``skip`` input lines already done and prove they are the ones the output
        was made from; then cut the output back to its checkpoint. Returns their sizes, and
        the input lines still to do."""
        sizes: list[int] = []
        for _ in range(self.skip):
            nxt = next(lines, None)
            if nxt is None:
                raise self._longer(len(sizes), self.skip)
            line_digest_update(self.input_hash, nxt[1])
            sizes.append(nxt[2])
        if self.skip and self.input_hash.hexdigest() != self.expected_input:
            raise _fail(
                "batch.resume_mismatch",
                f"cannot resume: the first {self.skip:,} input lines are not those {self.path} "
                "was made from; write to a new output file instead",
            )
        # records after the checkpoint (redone below) must still be lines of this input
        ahead = list(itertools.islice(lines, self.tail_records))
        if len(ahead) < self.tail_records:
            raise self._longer(self.skip + len(ahead), self.skip + self.tail_records)
        self.lines = self.skip
        self.start(self.keep)  # drop what the checkpoint does not cover
        return sizes, itertools.chain(ahead, lines)

    def _longer(self, have: int, records: int) -> IptFormulateError:
        return _fail(
            "batch.resume_mismatch",
            f"cannot resume: {self.path} holds {records:,} records but the input has only "
            f"{have:,} lines; write to a new output file instead",
        )

    def start(self, size: int) -> None:
        """Cut the output to ``size`` bytes and write the first checkpoint."""
        self.fh.flush()
        if self.regular:
            os.ftruncate(self.fh.fileno(), size)
            self.started = True
            self.save()

    def wrote(self, raws: list[bytes | OversizedLine], text: str) -> None:
        """Account for a chunk just written and flushed; checkpoint now and then."""
        for raw in raws:
            line_digest_update(self.input_hash, raw)
        data = text.encode("utf-8")
        self.output_hash.update(data)
        self.output_bytes += len(data)
        self.lines += len(raws)
        if self.started and time.monotonic() - self.saved >= SAVE_INTERVAL:
            self.save()

    def save(self) -> None:
        """Write the resume record (atomically: a temporary file, then a rename)."""
        record = {
            **self.identity,
            "format": FORMAT,
            "lines": self.lines,
            "input_sha256": self.input_hash.hexdigest(),
            "output_bytes": self.output_bytes,
            "output_sha256": self.output_hash.hexdigest(),
        }
        tmp = self.record_path.with_name(self.record_path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.record_path)
        self.saved = time.monotonic()


@contextlib.contextmanager
def open_output(
    path: Path, identity: dict[str, Any], *, resume: bool, source: IO[bytes]
) -> Iterator[Output]:
    """The output, locked, checked against the input and (with ``resume``) its record."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError as exc:
        raise _fail("output.io", f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        info = os.fstat(fd)
        _refuse_same_file(path, info, source)
        _lock(path, fd)
        out = Output(path, fh, identity, regular=stat.S_ISREG(info.st_mode))
        if resume and out.regular:
            _load_checkpoint(out, info.st_size)  # check_input_prefix() then starts the run
        else:
            out.start(0)
        try:
            yield out
        finally:
            if out.started:
                with contextlib.suppress(OSError):  # never hide the error that stopped us
                    fh.flush()
                    out.save()


def _refuse_same_file(path: Path, info: os.stat_result, source: IO[bytes]) -> None:
    try:
        src = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return  # not a file: a stream in memory cannot be overwritten
    if stat.S_ISREG(info.st_mode) and (src.st_dev, src.st_ino) == (info.st_dev, info.st_ino):
        raise _fail(
            "batch.same_file",
            f"{path} is the input file itself (or a link to it): writing it would destroy the "
            "input; choose another output file",
        )


def _lock(path: Path, fd: int) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _fail(
            "batch.locked",
            f"{path} is being written by another batch run; wait for it to finish, or write "
            "to another output file",
        ) from None
    except OSError:  # pragma: no cover - a file system without locks
        return


_BEFORE = {"detail": "full", "schema": "2 or earlier"}
"""Identity values of records written before the key existed."""


def _load_checkpoint(out: Output, size: int) -> None:
    """Check the output against its record; set what to skip and what to keep."""
    if size == 0:
        return
    rec = _read_record(out)
    was = {k: rec.get(k, _BEFORE.get(k)) for k in out.identity}
    differs = [f"{k} {was[k]!r} (now {v!r})" for k, v in out.identity.items() if was[k] != v]
    if differs:
        raise _fail(
            "batch.resume_mismatch",
            f"cannot resume: {out.path} was made with other settings: {', '.join(differs)}; "
            "write to a new output file, or re-run with the same pack, options and engine",
        )
    keep = int(rec["output_bytes"])
    if size < keep:
        raise _fail(
            "batch.resume_corrupt",
            f"cannot resume: {out.path} is shorter ({size:,} bytes) than its resume record "
            f"says ({keep:,}); it was truncated or replaced",
        )
    with open(out.path, "rb") as fh:
        h = hashlib.sha256()
        left = keep
        while left > 0 and (block := fh.read(min(left, 1 << 20))):
            h.update(block)
            left -= len(block)
        tail = fh.read()
    if h.hexdigest() != rec["output_sha256"]:
        raise _fail(
            "batch.resume_corrupt",
            f"cannot resume: {out.path} has changed since it was written (a record within its "
            f"first {keep:,} bytes differs); write to a new output file instead",
        )
    out.tail_records = _check_tail(out.path, tail, int(rec["lines"]))
    out.skip, out.keep, out.expected_input = int(rec["lines"]), keep, str(rec["input_sha256"])
    out.output_hash, out.output_bytes = h, keep


def _read_record(out: Output) -> dict[str, Any]:
    try:
        rec = json.loads(out.record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(
            "batch.resume_mismatch",
            f"cannot resume: {out.path} has no resume record ({out.record_path.name}), so it "
            "cannot be shown to belong to this input; write to a new output file instead",
        ) from None
    except (OSError, ValueError) as exc:
        raise _fail(
            "batch.resume_corrupt", f"cannot resume: unreadable {out.record_path}: {exc}"
        ) from None
    keys = ("lines", "input_sha256", "output_bytes", "output_sha256")
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or any(k not in rec for k in keys):
        raise _fail("batch.resume_corrupt", f"cannot resume: {out.record_path} is not valid")
    return rec


def _check_tail(path: Path, tail: bytes, done: int) -> int:
    """Bytes after the checkpoint may only be records of the next lines, written after the
    last checkpoint, and one torn record at the very end; they are dropped and redone.
    Returns the number of complete records."""
    *complete, torn = tail.split(b"\n")
    expected = done
    for raw in complete:
        expected += 1
        with contextlib.suppress(ValueError):
            rec = json.loads(raw)
            if isinstance(rec, dict) and rec.get("line") == expected:
                continue
        raise _fail(
            "batch.resume_corrupt",
            f"cannot resume: {path} line {expected:,} is not the batch record of input line "
            f"{expected:,}; write to a new output file instead",
        )
    start = b'{"line":%d' % (expected + 1)
    if torn and not (start.startswith(torn) or torn.startswith((start + b",", start + b"}"))):
        raise _fail(
            "batch.resume_corrupt",
            f"cannot resume: {path} ends with text that is not part of a batch record",
        )
    return len(complete)
