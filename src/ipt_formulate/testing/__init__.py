"""Testing tools for ipt-formulate: hypothesis strategies and metamorphic helpers.

Strategies draw inventories that are valid by construction (:func:`inventories`,
:func:`inventory_dicts` and their parts), inventories with exactly one defect
(:func:`invalid_inventories`) and arbitrary JSON (:func:`json_values`). Metamorphic helpers
(:func:`permuted`, :func:`relabelled`, :func:`with_unrelated_acquaintance`,
:func:`with_added_evidence`) transform an inventory so the formulation changes predictably.
:func:`degraded` drops known values at random, and :func:`missing_data_report` measures what
the formulation keeps as more is dropped.
See ``docs/testing-strategies.md``.

Needs hypothesis: ``pip install 'ipt-formulate[testing]'``.
"""

from __future__ import annotations

try:
    import hypothesis as _hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ipt_formulate.testing needs hypothesis; install it with: "
        "pip install 'ipt-formulate[testing]'"
    ) from exc

from ._check import CHECKS, OPT_IN_CHECKS, PROFILES, PackReport, PropertyFailure, check_pack
from ._degrade import (
    DEFAULT_PS,
    KEPT_FIELDS,
    OUTCOMES,
    Outcome,
    OutcomeRow,
    classify,
    degraded,
    droppable_paths,
    markdown_table,
    missing_data_report,
    plot_missing_data,
)
from ._metamorphic import (
    EVIDENCE_AREAS,
    EvidenceArea,
    permuted,
    relabelled,
    rename_ids,
    with_added_evidence,
    with_unrelated_acquaintance,
)
from ._strategies import (
    DEFAULT_ASSESSMENT_DATES,
    INVALID_CODES,
    TRANSITION_KINDS,
    DateStyle,
    InvalidInventory,
    episodes,
    has_death,
    has_dispute,
    has_recent_transition,
    ids,
    invalid_inventories,
    inventories,
    inventory_dicts,
    json_values,
    life_events,
    patients,
    person_links,
    persons,
    relationships,
)

__all__ = [
    "CHECKS",
    "DEFAULT_ASSESSMENT_DATES",
    "DEFAULT_PS",
    "EVIDENCE_AREAS",
    "INVALID_CODES",
    "KEPT_FIELDS",
    "OPT_IN_CHECKS",
    "OUTCOMES",
    "PROFILES",
    "TRANSITION_KINDS",
    "DateStyle",
    "EvidenceArea",
    "InvalidInventory",
    "Outcome",
    "OutcomeRow",
    "PackReport",
    "PropertyFailure",
    "check_pack",
    "classify",
    "degraded",
    "droppable_paths",
    "episodes",
    "has_death",
    "has_dispute",
    "has_recent_transition",
    "ids",
    "invalid_inventories",
    "inventories",
    "inventory_dicts",
    "json_values",
    "life_events",
    "markdown_table",
    "missing_data_report",
    "patients",
    "permuted",
    "person_links",
    "persons",
    "plot_missing_data",
    "relabelled",
    "relationships",
    "rename_ids",
    "with_added_evidence",
    "with_unrelated_acquaintance",
]
