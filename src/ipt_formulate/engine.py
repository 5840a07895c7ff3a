"""Stage 5: run a rule pack over the facts of one inventory.

The backend is chosen by name; ``"experta"`` (the reference engine) compiles the pack onto an
experta ``KnowledgeEngine`` once per process and pack; ``"compiled"`` compiles it into plain
Python closures (:mod:`._compiled_backend`), proven equal to experta by differential tests
(``docs/performance.md``). Whatever the backend, the result is the same data: the sorted
firings, the findings asserted, and the final fact index that WHY-NOT diagnoses against.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ._evaluate import FactIndex, Firing, TooManyFirings
from .errors import EngineError, InputTooLargeError, OptionError
from .facts import FactSet
from .rulepack import RulePack

__all__ = ["DEFAULT_BATCH_ENGINE", "ENGINES", "EngineName", "EngineRun", "run_engine"]

EngineName = Literal["experta", "compiled"]
ENGINES: tuple[str, ...] = ("experta", "compiled")
DEFAULT_BATCH_ENGINE: EngineName = "compiled"
"""Engine for batch runs and property checks: the fast backend (see ``docs/performance.md``).
Single :func:`~ipt_formulate.formulate` calls keep the reference engine ``"experta"``."""


@dataclass(frozen=True)
class EngineRun:
    """What a backend produced for one inventory."""

    engine: str
    firings: tuple[Firing, ...]
    findings: tuple[dict[str, Any], ...]
    index: FactIndex


class _Backend(Protocol):
    def run(
        self, facts: FactSet, max_firings: int | None = None
    ) -> tuple[list[Firing], list[dict[str, Any]]]: ...


_CACHE: dict[tuple[str, str, bool, bool], _Backend] = {}
_MAX_BACKENDS = 32
"""Backends kept per process (oldest dropped first): a sensitivity sweep over hundreds of
pack variants must not keep hundreds of experta networks alive."""
_CACHE_LOCK = threading.Lock()


def too_many_firings(exc: TooManyFirings) -> InputTooLargeError:
    """The typed error for a run that passed the activation limit."""
    return InputTooLargeError(
        f"input too large: rule {exc.rule_id} and the others made more than {exc.limit:,} "
        "activations (rules that pair facts grow with the product of their counts); raise the "
        "limit with Limits(max_firings=N), IPT_FORMULATE_LIMITS='max_firings=N' or --limit "
        "max_firings=N",
        limit="max_firings",
        value=exc.limit,
        actual=exc.limit + 1,
    )


def backend(
    pack: RulePack, engine: str, *, optimistic: bool = False, both: bool = False
) -> _Backend:
    """The named backend compiled for ``pack``, built once per process and pack content hash
    (experta's network build is the slow part). Backends are safe to share across threads.
    ``optimistic``: the compiled backend's possible reading (score bounds, :mod:`._bounds`);
    ``both``: the compiled backend with its one-pass certain and possible run."""
    key = (engine, pack.hash, optimistic, both)
    be = _CACHE.get(key)
    if be is None:
        with _CACHE_LOCK:
            be = _CACHE.get(key)
            if be is None:
                if engine == "compiled":
                    from ._compiled_backend import CompiledBackend

                    be = CompiledBackend(pack, optimistic=optimistic, both=both)
                else:
                    from ._experta_backend import ExpertaBackend

                    be = ExpertaBackend(pack)
                while len(_CACHE) >= _MAX_BACKENDS:  # a sweep over many pack variants
                    del _CACHE[next(iter(_CACHE))]  # the oldest; callers holding it keep it
                _CACHE[key] = be
    return be


_GUARD_FACTS = 300
"""From this many facts on, the experta engine runs only after a compiled run (the same
firings, proven) has shown the activations stay under the limit: experta builds every
activation in memory before it fires any."""


def run_engine(
    pack: RulePack, facts: FactSet, engine: str = "experta", *, max_firings: int | None = None
) -> EngineRun:
    """Fire ``pack`` on ``facts`` with the named backend, at most ``max_firings`` rule
    activations (:class:`~ipt_formulate.limits.Limits`; more is ``input.too_large``)."""
    if engine not in ENGINES:
        raise OptionError(
            f"unknown engine {engine!r}; choose one of {list(ENGINES)}", code="options.engine"
        )
    try:
        if (
            engine == "experta"
            and max_firings is not None
            and sum(map(len, facts.by_type.values())) >= _GUARD_FACTS
        ):
            backend(pack, "compiled").run(facts, max_firings)
        firings, findings = backend(pack, engine).run(facts, max_firings)
    except TooManyFirings as exc:
        raise too_many_firings(exc) from None
    except Exception as exc:  # backend internals must not leak: wrap as our own error
        raise EngineError(f"the {engine} backend failed: {type(exc).__name__}: {exc}") from exc
    return engine_run(engine, facts, firings, findings)


def engine_run(
    engine: str, facts: FactSet, firings: list[Firing], findings: list[dict[str, Any]]
) -> EngineRun:
    """The :class:`EngineRun` of a backend's sorted firings and findings on ``facts``."""
    index = FactIndex(facts.by_type)
    for f in findings:
        index.add_finding(f["name"], f["focus"])
    return EngineRun(engine, tuple(firings), tuple(findings), index)
