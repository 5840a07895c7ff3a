"""ipt-formulate: auditable, rule-based decision support for IPT problem-area formulation.

Decision support for clinicians, not a diagnosis. The pipeline, one module per stage:
``inventory`` → ``graph`` → ``facts`` → ``rulepack`` → ``engine`` → ``scoring`` → ``explain``
→ ``formulation``.
"""

from ._api import __version__, formulate, next_questions
from ._html import render_html, report
from ._questions import answer
from .errors import (
    EngineError,
    InputError,
    InventoryError,
    IptFormulateError,
    MalformedInputError,
    OptionError,
    RulePackError,
)
from .formulation import DISCLAIMER, Formulation, Question
from .inventory import Inventory, inventory_json_schema, parse_inventory
from .rulepack import RulePack, default_pack, load_pack, rulepack_json_schema

__all__ = [
    "DISCLAIMER",
    "EngineError",
    "Formulation",
    "InputError",
    "Inventory",
    "InventoryError",
    "IptFormulateError",
    "MalformedInputError",
    "OptionError",
    "Question",
    "RulePack",
    "RulePackError",
    "__version__",
    "answer",
    "default_pack",
    "formulate",
    "inventory_json_schema",
    "load_pack",
    "next_questions",
    "parse_inventory",
    "render_html",
    "report",
    "rulepack_json_schema",
]
