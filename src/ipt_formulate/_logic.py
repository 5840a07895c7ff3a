"""Three-valued condition logic shared by every backend, WHY-NOT and the rule examples.

A condition is True, False or None (unknown). Comparisons with an unknown value are unknown;
only ``known`` / ``unknown`` look at unknown-ness itself. A rule fires only on True.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Truth = bool | None


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
}
"""The two-valued comparisons, built once (truth() runs for every condition evaluated)."""


def truth(op: str, value: Any, rhs: Any) -> Truth:
    """Evaluate ``value <op> rhs`` in three-valued logic."""
    if op == "known":
        return value is not None
    if op == "unknown":
        return value is None
    if value is None or rhs is None:
        return None
    return COMPARE[op](value, rhs)


def predicate(op: str, rhs: Any, *, negated_pattern: bool) -> Callable[[Any], bool]:
    """A one-argument test for a field value.

    In a positive pattern a fact matches only where the condition is True. Inside a negated
    pattern (``exists = false``) a fact *blocks* the rule unless the condition is False, so an
    unknown value never counts as "no": "no death recorded" does not hold while a death
    might be hidden behind an unknown value.
    """
    if negated_pattern:
        return lambda v: truth(op, v, rhs) is not False
    return lambda v: truth(op, v, rhs) is True


def all_of(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if len(tests) == 1:
        return tests[0]
    return lambda v: all(t(v) for t in tests)
