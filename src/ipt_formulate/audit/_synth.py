"""Synthetic cohorts drawn from the testing strategies, reproducible from a seed.

Record ``i`` (1-based) of a cohort with seed ``S`` is one draw of
:func:`ipt_formulate.testing.inventory_dicts` (or, for a deliberately invalid record,
:func:`~ipt_formulate.testing.invalid_inventories`) made by Hypothesis' own choice provider
fed from ``random.Random(f"ipt-synth:{S}:{i}")``. So:

* the same seed, knobs and versions of ipt-formulate and Hypothesis give the same file, byte
  for byte, whatever the number of worker processes;
* record ``i`` does not depend on ``n``: ``-n 100`` is the first 100 lines of ``-n 10000``;
* draws are independent and identically distributed. ``strategy.example()`` is neither
  reproducible nor meant for data, and a ``@given`` run is biased towards small and
  previously seen examples, which is right for finding bugs and wrong for a cohort.

Valid records get the id ``synth-S-i`` (``i`` zero-padded to 6 digits) so labels and diffs can
refer to them; invalid records keep whatever the defect left.

Drawing uses ``ConjectureData`` and ``BuildContext``, internal to Hypothesis but the interface
its own ``find()`` is built on; :func:`draw` is the one place that touches them.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import IptFormulateError

__all__ = ["SynthOptions", "draw", "synth_records", "write_cohort"]

DateStyle = Literal["dates", "months", "mixed"]


@dataclass(frozen=True)
class SynthOptions:
    """The knobs of :func:`ipt_formulate.testing.inventories`, plus the invalid fraction."""

    min_persons: int = 0
    max_persons: int = 5
    max_events: int = 5
    max_relationships: int = 4
    unknowns: bool = True
    date_style: DateStyle = "mixed"
    invalid: float = 0.0  # fraction of records with exactly one defect


def _strategies(opts: SynthOptions) -> tuple[Any, Any]:
    try:
        from ..testing import invalid_inventories, inventory_dicts
    except ImportError as exc:
        raise IptFormulateError(
            "synthetic cohorts need hypothesis: pip install 'ipt-formulate[testing]'",
            code="synth.missing_dependency",
        ) from exc
    valid = inventory_dicts(
        min_persons=opts.min_persons,
        max_persons=opts.max_persons,
        max_events=opts.max_events,
        max_relationships=opts.max_relationships,
        unknowns=opts.unknowns,
        date_style=opts.date_style,
    )
    return valid, invalid_inventories()


_PROVIDER: list[type[Any]] = []


def _provider() -> type[Any]:
    """Hypothesis' provider without its "interesting constants".

    Hypothesis mixes into its draws constants harvested from whichever local modules happen
    to be imported (and caches them process-wide), so the same random seed would give
    different inventories from the command line and from a test run. Without them a draw
    depends on the random stream only.
    """
    if not _PROVIDER:
        from hypothesis.internal.conjecture.providers import HypothesisProvider

        class SynthProvider(HypothesisProvider):
            def _maybe_draw_constant(self, *args: Any, **kwargs: Any) -> None:
                return None

        _PROVIDER.append(SynthProvider)
    return _PROVIDER[0]


def _no_test() -> None:  # BuildContext wants the test it runs for; there is none
    return None


def draw(strategy: Any, rng: random.Random, *, max_choices: int = 200_000) -> Any:
    """One value of a Hypothesis strategy, fully determined by ``rng``'s state."""
    from hypothesis.control import BuildContext
    from hypothesis.errors import HypothesisWarning, StopTest
    from hypothesis.internal.conjecture.data import ConjectureData

    for _ in range(100):
        data = ConjectureData(random=rng, max_choices=max_choices, provider=_provider())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", HypothesisWarning)
                with BuildContext(data, wrapped_test=_no_test):
                    return data.draw(strategy)
        except StopTest:  # ran out of choices or a filter gave up: draw again from rng
            continue
    raise IptFormulateError("could not draw a synthetic inventory", code="synth.draw_failed")


def record(seed: int, index: int, opts: SynthOptions, strategies: tuple[Any, Any]) -> str:
    """Line ``index`` (1-based) of the cohort with ``seed``: one JSON object, no newline."""
    rng = random.Random(f"ipt-synth:{seed}:{index}")
    if opts.invalid > 0 and rng.random() < opts.invalid:
        data = draw(strategies[1], rng).data
    else:
        data = draw(strategies[0], rng)
        data["id"] = f"synth-{seed}-{index:06d}"
        _readable_labels(data)
    return json.dumps(data, sort_keys=False, ensure_ascii=True, separators=(",", ":"))


def _readable_labels(data: dict[str, Any]) -> None:
    """Person labels a reader can follow ("Friend", "Friend 2"), in place of the strategies'
    arbitrary text (which stays in the property tests, where it belongs)."""
    seen: dict[str, int] = {}
    for person in data.get("persons", ()):
        role = str(person.get("role", "other"))
        seen[role] = seen.get(role, 0) + 1
        name = _ROLE_NAMES.get(role, role.replace("_", " ").capitalize())
        person["label"] = name if seen[role] == 1 else f"{name} {seen[role]}"


_ROLE_NAMES = {
    "spouse_partner": "Partner",
    "former_partner": "Former partner",
    "other_family": "Relative",
    "in_law": "In-law",
    "other": "Someone",
}

_CACHE: dict[str, tuple[Any, Any]] = {}


def _synth_job(seed: int, opts_dict: dict[str, Any], indices: Sequence[int]) -> list[str]:
    opts = SynthOptions(**opts_dict)
    key = json.dumps(opts_dict, sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = _strategies(opts)
    return [record(seed, i, opts, _CACHE[key]) for i in indices]


def synth_records(
    n: int,
    seed: int,
    options: SynthOptions | None = None,
    *,
    workers: int = 1,
    chunksize: int = 50,
    mp_context: BaseContext | None = None,
) -> Iterator[str]:
    """The ``n`` lines of a synthetic cohort, in order (see the module docstring)."""
    opts = options or SynthOptions()
    if not 0 <= opts.invalid <= 1:
        raise IptFormulateError("invalid fraction must be in [0, 1]", code="synth.options")
    _strategies(opts)  # fail early on a missing dependency or bad knobs
    od = asdict(opts)
    chunks = [list(range(i, min(i + chunksize, n + 1))) for i in range(1, n + 1, chunksize)]
    if workers <= 1:
        for c in chunks:
            yield from _synth_job(seed, od, c)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp_context) as ex:
        # bounded: at most 4 chunks per worker in flight, consumed in order
        window = workers * 4
        futures = []
        for c in chunks:
            futures.append(ex.submit(_synth_job, seed, od, c))
            if len(futures) >= window:
                yield from futures.pop(0).result()
        for fut in futures:
            yield from fut.result()


def write_cohort(
    output: str | Path | IO[str],
    n: int,
    seed: int,
    options: SynthOptions | None = None,
    *,
    workers: int = 1,
) -> int:
    """Write a synthetic cohort as JSONL; returns the number of lines written."""
    count = 0
    if isinstance(output, str | Path) and str(output) != "-":
        with open(output, "w", encoding="utf-8") as fh:
            for line in synth_records(n, seed, options, workers=workers):
                fh.write(line + "\n")
                count += 1
        return count
    import sys

    stream = sys.stdout if isinstance(output, str | Path) else output
    for line in synth_records(n, seed, options, workers=workers):
        stream.write(line + "\n")
        count += 1
    stream.flush()
    return count
