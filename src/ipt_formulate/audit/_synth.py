"""Synthetic cohorts, reproducible from a seed.

Record ``i`` (1-based) of a cohort with seed ``S`` is drawn from
``random.Random(f"ipt-synth:{S}:{i}")`` and the options only. So:

* the same seed and knobs give the same file, byte for byte, whatever the number of worker
  processes (for the same version of ipt-formulate, and of Hypothesis for its generator);
* record ``i`` does not depend on ``n``: ``-n 100`` is the first 100 lines of ``-n 10000``;
* records are independent and identically distributed.

Two generators share the world model of :mod:`ipt_formulate.testing`:

* ``"direct"`` (default): :mod:`~ipt_formulate.testing._generate`, plain ``random`` calls,
  thousands of records a second, inventories up to the 1,000-person limit, an
  ``unknown_rate`` knob.
* ``"hypothesis"``: one draw of :func:`ipt_formulate.testing.inventory_dicts` made by
  Hypothesis' own choice provider fed from the same ``random.Random`` — the generator of
  earlier versions, kept so cohorts drawn with it can be drawn again. About 20 records a
  second; large inventories can fail (``synth.draw_failed``). ``strategy.example()`` is
  neither reproducible nor meant for data, and a ``@given`` run is biased towards small and
  previously seen examples, which is right for finding bugs and wrong for a cohort.

Deliberately invalid records (``invalid``) are valid records given one defect
(:mod:`._defects`) by the direct generator, and drawn from
:func:`~ipt_formulate.testing.invalid_inventories` by the Hypothesis one.

Records get the id ``synth-S-i`` (``i`` zero-padded to 6 digits) so labels and diffs can
refer to them; the Hypothesis generator's invalid records keep whatever the defect left.

Hypothesis draws use ``ConjectureData`` and ``BuildContext``, internal to Hypothesis but the
interface its own ``find()`` is built on; :func:`draw` is the one place that touches them.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any, Literal, get_args

from ..errors import IptFormulateError
from ..testing._generate import DEFAULT_UNKNOWN_RATE, GenOptions, generate, readable_labels
from ._defects import add_defect

__all__ = ["SynthOptions", "draw", "synth_records", "write_cohort"]

DateStyle = Literal["dates", "months", "mixed"]
Generator = Literal["direct", "hypothesis"]


@dataclass(frozen=True)
class SynthOptions:
    """The knobs of :func:`ipt_formulate.testing.inventories`, the invalid fraction, and
    which generator draws the valid records.

    ``unknown_rate``: the share of clinical attributes left unknown when ``unknowns`` is on
    (direct generator only; None = its default, 0.25). ``unknowns=False``: none unknown.
    """

    min_persons: int = 0
    max_persons: int = 5
    max_events: int = 5
    max_relationships: int = 4
    unknowns: bool = True
    date_style: DateStyle = "mixed"
    invalid: float = 0.0  # fraction of records with exactly one defect
    unknown_rate: float | None = None
    generator: Generator = "direct"

    def gen_options(self) -> GenOptions:
        """The direct generator's knobs."""
        rate = DEFAULT_UNKNOWN_RATE if self.unknown_rate is None else self.unknown_rate
        return GenOptions(
            min_persons=self.min_persons,
            max_persons=self.max_persons,
            max_events=self.max_events,
            max_relationships=self.max_relationships,
            unknown_rate=rate if self.unknowns else 0.0,
            date_style=self.date_style,
        )


def check_options(opts: SynthOptions) -> None:
    """Knobs out of range raise ``synth.options``, naming the knob."""

    def bad(message: str) -> IptFormulateError:
        return IptFormulateError(message, code="synth.options")

    for name in ("min_persons", "max_persons", "max_events", "max_relationships"):
        value = getattr(opts, name)
        if not isinstance(value, int) or value < 0:
            raise bad(f"{name} must be a non-negative integer, got {value!r}")
    if opts.min_persons > opts.max_persons:
        raise bad(f"min_persons={opts.min_persons} > max_persons={opts.max_persons}")
    if not 0 <= opts.invalid <= 1:
        raise bad("invalid fraction must be in [0, 1]")
    if opts.date_style not in get_args(DateStyle):
        raise bad(f"date_style must be one of {get_args(DateStyle)}, got {opts.date_style!r}")
    if opts.generator not in get_args(Generator):
        raise bad(f"generator must be one of {get_args(Generator)}, got {opts.generator!r}")
    if opts.unknown_rate is not None:
        if opts.generator != "direct":
            raise bad("unknown_rate is a knob of the direct generator only")
        if not 0 <= opts.unknown_rate < 1:
            raise bad(f"unknown_rate must be in [0, 1), got {opts.unknown_rate!r}")


def _strategies(opts: SynthOptions) -> tuple[Any, Any]:
    """(valid, invalid) Hypothesis strategies; only what the options need is built."""
    if opts.generator == "direct":
        return None, None
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
    if opts.generator == "direct":
        broken = opts.invalid > 0 and rng.random() < opts.invalid
        data = generate(rng, opts.gen_options(), f"synth-{seed}-{index:06d}")
        if broken:
            add_defect(data, rng)
    elif opts.invalid > 0 and rng.random() < opts.invalid:
        data = draw(strategies[1], rng).data
    else:
        data = draw(strategies[0], rng)
        data["id"] = f"synth-{seed}-{index:06d}"
        readable_labels(data.get("persons", ()))
    return json.dumps(data, sort_keys=False, ensure_ascii=True, separators=(",", ":"))


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
    check_options(opts)
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
