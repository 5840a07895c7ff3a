"""Deliberate defects for synthetic cohorts (``synth --invalid F``), without Hypothesis.

Each defect turns a valid record of the direct generator
(:mod:`~ipt_formulate.testing._generate`) into one that
``parse_inventory`` rejects with exactly one issue, of a known code: the codes of
:data:`ipt_formulate.testing.INVALID_CODES` (a test checks both). The record keeps its id, so
a batch's error lines can be traced to the cohort. Added persons and events get ids ``x1``,
``x2``... (the generator's are ``p1``..., ``e1``...), so they never collide by accident.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Final

__all__ = ["DEFECTS", "add_defect"]

_Record = dict[str, Any]


def _day(d: _Record, days_before: int) -> str:
    """The ISO day ``days_before`` the assessment (negative: after it)."""
    assessed = date.fromisoformat(d["episode"]["assessment_date"])
    return (assessed - timedelta(days=days_before)).isoformat()


def _person(d: _Record, **fields: Any) -> str:
    pid = f"x{len(d['persons']) + len(d['events']) + 1}"
    d["persons"].append({"id": pid, "role": "friend", **fields})
    return pid


def _event(d: _Record, **fields: Any) -> None:
    eid = f"x{len(d['persons']) + len(d['events']) + 1}"
    d["events"].append({"id": eid, "kind": "move", **fields})


def _a_person(d: _Record) -> str:
    return str(d["persons"][0]["id"]) if d["persons"] else _person(d)


def _duplicate_link(d: _Record) -> None:
    if d["relationships"]:
        first = d["relationships"][0]
        d["relationships"].append({"a": first["b"], "b": first["a"]})
        return
    a, b = _person(d), _person(d)
    d["relationships"] += [{"a": a, "b": b}, {"a": b, "b": a}]


def _duplicate_measure(d: _Record) -> None:
    measures = d["episode"]["measures"]
    if not measures:
        measures.append({"instrument": "phq9"})
    measures.append({"instrument": measures[0]["instrument"]})


def _onset_after_assessment(d: _Record) -> None:
    """Onset moved after the assessment; event timings relative to onset are dropped (they
    would now fall after the assessment too: a second issue)."""
    d["episode"]["onset"] = _day(d, -40)
    d["episode"]["onset_months_before_assessment"] = None
    for e in d["events"]:
        e["months_before_onset"] = None


def _out_of_range(d: _Record, r: random.Random) -> None:
    if r.random() < 0.5:
        d["patient"]["age"] = 121 + r.randint(0, 100)
    else:
        d["social_history"]["confidants"] = -r.randint(1, 100)


def _self_link(d: _Record, r: random.Random) -> None:
    pid = _a_person(d)
    d["relationships"].append({"a": pid, "b": pid})


def _deceased_participant(d: _Record, r: random.Random) -> None:
    dead = _person(d, deceased=True, date_of_death=_day(d, r.randint(60, 900)))
    _event(d, date=_day(d, r.randint(0, 30)), subject=dead)


def _ambiguous_timing(d: _Record, r: random.Random) -> None:
    _event(d, date=_day(d, r.randint(30, 900)), months_before_onset=float(r.randint(0, 24)))


_Defect = Callable[[_Record, random.Random], None]

DEFECTS: Final[dict[str, _Defect]] = {
    "inventory.unknown_person": lambda d, r: d.update(patient_view={"most_important_person": "x"}),
    "inventory.unknown_event": lambda d, r: d.update(patient_view={"most_important_event": "x"}),
    "inventory.duplicate_id": lambda d, r: d["persons"].append(
        {"id": _a_person(d), "role": "friend"}
    ),
    "inventory.duplicate_measure": lambda d, r: _duplicate_measure(d),
    "inventory.reserved_id": lambda d, r: d["persons"].append({"id": "patient", "role": "friend"}),
    "inventory.self_link": _self_link,
    "inventory.duplicate_link": lambda d, r: _duplicate_link(d),
    "inventory.after_assessment": lambda d, r: _event(d, date=_day(d, -r.randint(1, 400))),
    "inventory.onset_after_assessment": lambda d, r: _onset_after_assessment(d),
    "inventory.ambiguous_timing": _ambiguous_timing,
    "inventory.deceased_participant": _deceased_participant,
    "inventory.contradiction": lambda d, r: _event(
        d, kind="death", subject=_person(d, deceased=False)
    ),
    "inventory.out_of_range": _out_of_range,
    "inventory.too_long": lambda d, r: _event(d, description="x" * (2001 + r.randint(0, 99))),
    "inventory.unknown_field": lambda d, r: d["patient"].update(notes="unknown field"),
    "inventory.wrong_type": lambda d, r: d["patient"].update(age=str(r.randint(18, 90))),
    "inventory.missing_field": lambda d, r: d["persons"].append({"id": "x0"}),
    "inventory.unknown_value": lambda d, r: d["persons"].append({"id": "x0", "role": "wizard"}),
    "inventory.bad_format": lambda d, r: _event(d, date=r.choice(("2020-13", "2021-02-30"))),
}
"""Issue code -> the change that makes a valid record raise exactly that issue."""


def add_defect(data: _Record, rng: random.Random) -> str:
    """Give ``data`` one defect chosen by ``rng``; returns the issue code it must raise."""
    code = rng.choice(sorted(DEFECTS))
    DEFECTS[code](data, rng)
    return code
