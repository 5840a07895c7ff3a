"""Shared fixtures: the bundled packs and example inventories."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from ipt_formulate import RulePack, load_pack


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


if os.environ.get("IPT_MUTATION"):
    # tools/mutation.py: every generated example the same on every run, so that a mutant's
    # verdict does not depend on the draw (explicit @settings still set their own counts)
    settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
    settings.load_profile("mutation")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under tools/mutation.py, empty the library's memo caches: mutmut forks each mutant's
    test run from a process that already ran the tests on the original code, and a cached
    value (a prepared pack, a compiled backend) would hide the mutant from the tests."""
    if not os.environ.get("IPT_MUTATION"):
        return
    import sys

    from ipt_formulate._memo import PackMemo, SharedParts

    for name, module in list(sys.modules.items()):
        if not name.startswith("ipt_formulate"):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, PackMemo | SharedParts):
                value.clear()
            elif callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
            elif attr in ("_CACHE", "_DEFAULT") and isinstance(value, dict):
                value.clear()  # engine backends by pack, the bundled packs by name


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RULES = ROOT / "rules"


def sigint_default() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a shell without job control starts
    background jobs with SIGINT ignored, children inherit that, and Python then keeps it
    ignored, so an interrupt test run from ``cmd &`` would hang or check nothing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def in_threads(work: Callable[[int], list[str]], threads: int = 4) -> list[str]:
    """Run ``work(offset)`` in several threads at once; the problems each reports, plus any
    exception a thread raised (an exception in a thread would not fail the test by itself)."""
    problems: list[str] = []

    def run(offset: int) -> None:
        try:
            problems.extend(work(offset))
        except Exception as exc:
            problems.append(f"thread {offset}: {exc!r}")

    pool = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return problems


def example_text(name: str) -> str:
    return (EXAMPLES / f"{name}.json").read_text(encoding="utf-8")


def example_dict(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example_text(name))
    return data


@pytest.fixture(scope="session")
def core_pack() -> RulePack:
    return load_pack(RULES / "ipt-core")


@pytest.fixture(scope="session")
def ipsrt_pack() -> RulePack:
    return load_pack(RULES / "ipsrt")


def open_fifo_writer(fifo: Path) -> int:
    """Open a FIFO for writing once a reader has it open (polls: never blocks for good)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def derandomized(max_examples: int) -> settings:
    """The suite's hypothesis profile for generated inventories: the same examples on every
    run, no per-example deadline (experta's first call builds its network)."""
    return settings(
        derandomize=True,
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
