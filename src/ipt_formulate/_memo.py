"""Values derived once per rule pack (prepared templates, WHY-NOT checks), keyed by the pack's
content hash: bounded and thread-safe, so a sweep over many pack variants stays small."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from .rulepack import RulePack

T = TypeVar("T")


class PackMemo(Generic[T]):
    """``memo(pack)``: ``build(pack)``, computed once per pack hash. At most ``size`` packs
    are kept (the oldest is dropped first); two threads may build the same value at once,
    which is harmless (the values are immutable and equal)."""

    def __init__(self, build: Callable[[RulePack], T], size: int = 64) -> None:
        self._build = build
        self._size = size
        self._values: dict[str, T] = {}
        self._lock = threading.Lock()

    def __call__(self, pack: RulePack) -> T:
        value = self._values.get(pack.hash)
        if value is None:
            value = self._build(pack)
            with self._lock:
                while pack.hash not in self._values and len(self._values) >= self._size:
                    del self._values[next(iter(self._values))]
                self._values[pack.hash] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedParts(Generic[K, V]):
    """Frozen output parts shared across formulations (the same ids and diagnoses recur in
    every formulation of a cohort). At most ``size`` entries: when full it is emptied, so
    memory stays bounded for cohorts with ever-new ids. Thread-safe enough: a race only
    builds an equal, immutable part twice."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._parts.get(key)

    def add(self, key: K, part: V) -> V:
        if len(self._parts) >= self.size:
            self._parts.clear()
        self._parts[key] = part
        return part

    def clear(self) -> None:
        self._parts.clear()

    def __len__(self) -> int:
        return len(self._parts)
