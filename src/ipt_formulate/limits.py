"""Input limits: what one inventory may hold before any heavy work is done.

The defaults are far above any real interpersonal inventory (a clinician records a few dozen
persons and events) and keep the cost of one formulation bounded (see
``docs/inventory.md#input-limits`` and ``docs/performance.md``). Input over a limit raises
:class:`~ipt_formulate.errors.InputTooLargeError` (``input.too_large``) naming the limit and
how to raise it.

Override them per call (``parse_inventory(text, limits=Limits(max_persons=5000))``, the same
keyword on :func:`ipt_formulate.formulate`), for the whole process with the environment
variable ``IPT_FORMULATE_LIMITS`` (``"max_persons=5000,max_bytes=20000000"``; read when a call
passes no ``limits``, so batch worker processes inherit it), or on the command line with
``--limit NAME=VALUE``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Final

from .errors import InputError

__all__ = ["DEFAULT_LIMITS", "ENV_VAR", "Limits", "current_limits"]

ENV_VAR: Final = "IPT_FORMULATE_LIMITS"


@dataclass(frozen=True)
class Limits:
    """Limits on one inventory; every value is a positive integer."""

    max_bytes: int = 5_000_000
    """UTF-8 size of the JSON text (a dict is measured as compact JSON)."""
    max_persons: int = 1_000
    """Entries of ``persons``."""
    max_events: int = 2_000
    """Entries of ``events``."""
    max_relationships: int = 5_000
    """Entries of ``relationships``."""
    max_issues: int = 100
    """Issues listed in one error (the rest are counted, not listed)."""
    max_firings: int = 20_000
    """Rule activations in one run of a rule pack. A rule that pairs facts (every stalled
    dispute with every life change linked to onset) fires on the product of their counts; a
    real inventory makes a few hundred. Checked as the engine runs (the experta engine is
    guarded by a compiled run first on large inventories), so cost stays bounded."""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(
                    f"limit {f.name} must be a positive integer, got {v!r}", code="limits.invalid"
                )

    def with_overrides(self, spec: str) -> Limits:
        """A copy with ``"name=value,name=value"`` applied (the syntax of the env variable)."""
        names = {f.name for f in fields(self)}
        changes: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep or name not in names:
                raise InputError(
                    f"bad limit {part[:80]!r}: expected NAME=VALUE with NAME one of "
                    f"{', '.join(sorted(names))}",
                    code="limits.invalid",
                )
            try:
                changes[name] = int(raw.strip().replace("_", ""))
            except ValueError:
                raise InputError(
                    f"bad limit {part[:80]!r}: {name} takes a whole number", code="limits.invalid"
                ) from None
        return replace(self, **changes)


DEFAULT_LIMITS: Final = Limits()

_FROM_ENV: dict[str, Limits] = {}


def current_limits() -> Limits:
    """The defaults with ``IPT_FORMULATE_LIMITS`` applied (parsed once per distinct value)."""
    spec = os.environ.get(ENV_VAR, "")
    if not spec:
        return DEFAULT_LIMITS
    got = _FROM_ENV.get(spec)
    if got is None:
        got = DEFAULT_LIMITS.with_overrides(spec)
        if len(_FROM_ENV) < 16:
            _FROM_ENV[spec] = got
    return got
