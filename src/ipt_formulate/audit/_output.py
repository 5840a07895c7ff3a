"""Writing an audit report to a file: atomically, and never over an input."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import IptFormulateError

__all__ = ["refuse_inputs", "write_report"]


def refuse_inputs(target: str | Path, inputs: Sequence[str | Path]) -> None:
    """``output.same_as_input`` when ``target`` is one of ``inputs`` (by any link). Called
    before any work too, so that nothing is computed for a report that cannot be written."""
    path = Path(target)
    if str(target) == "-" or not path.exists():
        return
    for src in inputs:
        if str(src) != "-" and Path(src).exists() and os.path.samefile(path, src):
            raise IptFormulateError(
                f"-o {target} is the input file {src}: write the report to a new file, "
                "so the input stays as it was",
                code="output.same_as_input",
            )


def write_report(target: str | Path, data: str | bytes, inputs: Sequence[str | Path] = ()) -> None:
    """Write ``data`` to ``target`` (``-``: stdout). A reader never sees half a file; an
    interrupted write leaves the previous file in place; a target that is one of ``inputs``
    is refused before anything is written (:func:`refuse_inputs`)."""
    if str(target) == "-":
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    refuse_inputs(target, inputs)
    path = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise IptFormulateError(
            f"cannot write {target}: {exc.strerror}", code="output.io"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise IptFormulateError(
            f"cannot write {target}: {exc.strerror}", code="output.io"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
