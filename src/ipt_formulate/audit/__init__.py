"""Audit tooling for researchers: traces, batch runs, agreement with clinicians, pack diffs
and synthetic cohorts. See ``docs/auditing.md``.
"""

from __future__ import annotations

from ._trace import (
    build_trace,
    derivation_graph,
    graph_to_dot,
    graph_to_json,
    hypothesis_key,
)

__all__ = [
    "build_trace",
    "derivation_graph",
    "graph_to_dot",
    "graph_to_json",
    "hypothesis_key",
]
