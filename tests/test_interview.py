"""``ipt-formulate interview``, driven as a person would drive it: a real process, scripted
answers on standard input, the screen text and the completed inventory checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ipt_formulate import formulate, parse_inventory

UNDATED_CHANGE: dict[str, Any] = {
    "episode": {"assessment_date": "2026-03-01"},
    "events": [
        {
            "id": "e-migration",
            "kind": "migration",
            "onset_relation": "before",
            "response": "ongoing",
        }
    ],
}
HIDDEN_GRIEF: dict[str, Any] = {
    "episode": {"assessment_date": "2026-03-01"},
    "persons": [{"id": "dad", "role": "parent", "label": "Father", "deceased": True}],
    "events": [
        {"id": "e-death", "kind": "death", "subject": "dad", "response": "mourning_avoided"}
    ],
}


def interview(
    tmp_path: Path, doc: dict[str, Any], script: str, *extra: str
) -> tuple[int, str, str, Path]:
    src = tmp_path / "inventory.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "completed.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ipt_formulate", "interview", str(src), "-o", str(out), *extra],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr, out


def test_answering_establishes_the_focus_and_writes_the_inventory(tmp_path: Path) -> None:
    # the first question is the migration's timing; answer 2 = "in the months before"
    code, screen, err, out = interview(tmp_path, UNDATED_CHANGE, "2\n")
    assert code == 0, err
    assert "Decision support for clinicians, not a diagnosis." in screen
    assert screen.index("Provisional.") < screen.index("relative to the start of the depression")
    assert "Established. Primary: Role transition about migration" in screen
    assert "Nothing left to ask that could change the focus." in screen
    done = parse_inventory(out.read_text(encoding="utf-8"))
    assert done.events[0].onset_relation == "months_before"
    f = formulate(done)
    assert f.primary is not None and f.primary.focus.id == "e-migration"


def test_stop_keeps_what_was_answered(tmp_path: Path) -> None:
    # "inner" for the father's ring, then stop: the answer is kept, grief still provisional
    code, screen, _, out = interview(tmp_path, HIDDEN_GRIEF, "1\nq\n")
    assert code == 0
    assert "Stopped." in screen
    done = parse_inventory(out.read_text(encoding="utf-8"))
    assert done.persons[0].ring == "inner"
    assert formulate(done).status == "provisional"


def test_bad_replies_are_asked_again_and_skip_moves_on(tmp_path: Path) -> None:
    code, screen, _, out = interview(tmp_path, HIDDEN_GRIEF, "7\nmaybe\ns\n")
    assert code == 0
    assert screen.count("Please type one of the numbers, s or q.") == 2
    # after skipping the ring question the next one is asked; input then ends: stopped
    assert screen.count("Answer 1-") >= 4 and "Stopped." in screen
    assert parse_inventory(out.read_text(encoding="utf-8")).persons[0].ring is None


def test_output_over_the_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "inventory.json"
    original = json.dumps(HIDDEN_GRIEF)
    src.write_text(original, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ipt_formulate", "interview", str(src), "-o", str(src)],
        input="1\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "output.same_as_input" in proc.stderr and "Traceback" not in proc.stderr
    assert src.read_text(encoding="utf-8") == original


def test_labels_cannot_send_terminal_control_sequences(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HIDDEN_GRIEF))
    doc["persons"][0]["label"] = "Father\x1b[2J\x07"
    code, screen, _, _ = interview(tmp_path, doc, "q\n")
    assert code == 0
    assert "\x1b" not in screen and "\x07" not in screen
    assert "Father?[2J?" in screen
