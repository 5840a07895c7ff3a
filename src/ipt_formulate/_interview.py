"""``ipt-formulate interview``: complete an inventory by answering the questions that matter.

The loop a clinician runs after the first sessions: show where the formulation stands, ask
the most decisive open question (:func:`~ipt_formulate.next_questions`), apply the answer
(:func:`~ipt_formulate.answer`, validated), re-formulate, until the user stops or nothing
left could change the focus; then write the completed inventory. Plain terminal I/O (one
line per answer), so it works anywhere and can be driven by scripted input.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import TextIO

from ._api import formulate
from ._questions import answer
from .errors import IptFormulateError
from .formulation import Formulation, Question
from .inventory import Inventory
from .rulepack import RulePack

__all__ = ["run_interview"]


def _clean(text: str) -> str:
    """Inventory text as the terminal should show it: control characters made visible."""
    return "".join(
        "?" if unicodedata.category(ch).startswith("C") and ch != " " else ch for ch in text
    )


def _where(f: Formulation) -> str:
    def name(h: object) -> str:
        area = getattr(h, "area_label", "")
        focus = getattr(getattr(h, "focus", None), "name", "")
        return _clean(f"{area} about {focus} (score {getattr(h, 'score', 0):g})")

    if f.primary is not None:
        second = f"; secondary: {name(f.secondary)}" if f.secondary is not None else ""
        return f"Established. Primary: {name(f.primary)}{second}."
    lead = next((h for h in f.hypotheses if h.status == "provisional"), None)
    if lead is not None:
        return (
            f"Provisional. Leading reading: {name(lead)}, up to {lead.upper_bound:g} "
            "once what it waits on is known."
        )
    return "Insufficient data: no problem area reaches the threshold, even provisionally."


def _show_answer(value: str | bool) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else value.replace("_", " ")


def _ask(q: Question, out: TextIO, inp: TextIO) -> str | bool | None:
    """One question; the chosen value, ``None`` to skip it. Raises EOFError to stop."""
    out.write(f"\n{_clean(q.question)}\n  ({q.path})\n")
    for i, a in enumerate(q.answers, start=1):
        out.write(f"  {i}. {_show_answer(a.value)}: {_clean(a.effect)}\n")
    while True:
        out.write(f"Answer 1-{len(q.answers)}, s to skip, q to stop: ")
        out.flush()
        line = inp.readline()
        if not line:
            raise EOFError
        reply = line.strip().lower()
        if reply in ("q", "quit"):
            raise EOFError
        if reply in ("s", "skip"):
            return None
        if reply.isdigit() and 1 <= int(reply) <= len(q.answers):
            return q.answers[int(reply) - 1].value
        out.write("Please type one of the numbers, s or q.\n")


def _write(inv: Inventory, target: Path) -> None:
    """Write the inventory atomically: a reader never sees half a file, and an interrupted
    write leaves the previous file in place."""
    text = json.dumps(inv.model_dump(mode="json", exclude_none=True), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_interview(
    inv: Inventory,
    pack: RulePack,
    *,
    inp: TextIO,
    out: TextIO,
    target: Path | None = None,
    limit: int = 5,
) -> Inventory:
    """Run the question loop on ``inv``; returns (and writes to ``target``) the inventory
    as completed so far, also when the user stops early or input ends."""
    skipped: set[str] = set()
    out.write("Decision support for clinicians, not a diagnosis.\n")
    while True:
        f = formulate(inv, pack, engine="compiled", questions=limit + len(skipped))
        for a in f.advisories:
            if a.kind == "safety":
                out.write(f"{a.level.upper()} (safety): {_clean(a.message)}\n")
        out.write(_where(f) + "\n")
        open_questions = [q for q in f.questions if q.path not in skipped]
        if not open_questions:
            out.write("Nothing left to ask that could change the focus.\n")
            break
        q = open_questions[0]
        try:
            value = _ask(q, out, inp)
        except EOFError:
            out.write("\nStopped.\n")
            break
        if value is None:
            skipped.add(q.path)
            continue
        try:
            inv = answer(inv, q.path, value)
        except IptFormulateError as exc:  # the answer contradicts the rest: keep asking
            out.write(f"That answer does not fit the inventory: {_clean(str(exc))}\n")
            skipped.add(q.path)
    if target is not None:
        _write(inv, target)
        out.write(f"Completed inventory written to {target}\n")
    return inv
