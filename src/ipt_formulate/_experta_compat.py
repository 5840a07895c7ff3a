"""Import experta 1.9.4 safely. The only module that imports experta directly.

experta is dormant (last release 2019) and has two import-time problems on Python >= 3.10:

* it pins ``frozendict==1.2``, which uses ``collections.Mapping`` (removed in Python 3.10).
  We add the alias ``collections.Mapping = collections.abc.Mapping`` *only if it is missing*,
  before the first experta import. That keeps ``pip check`` clean with the pinned
  dependency; the alias points at the very object Python 3.9 exported under that name.
* ``experta.engine`` and ``experta.watchers`` call ``logging.basicConfig()`` at import, which
  would add a handler to the host application's root logger. We snapshot the root logger's
  handlers and level around the import and restore them, so importing ipt_formulate never
  changes the host's logging.
"""

from __future__ import annotations

import collections
import collections.abc
import logging
from typing import Any


def _import_experta() -> Any:
    if not hasattr(collections, "Mapping"):
        collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import experta
        import experta.engine
        import experta.watchers
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return experta


experta: Any = _import_experta()
