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
from .formulation import DISCLAIMER, Formulation, Question, formulation_json_schema
from .inventory import (
    HAMD17,
    ICG,
    PG13R,
    PHQ9,
    SASSR,
    UCLA3,
    Episode,
    Inventory,
    LifeEvent,
    Patient,
    PatientView,
    Person,
    PersonLink,
    Risk,
    SocialHistory,
    inventory_json_schema,
    parse_inventory,
)
from .rulepack import RulePack, bundled_packs, default_pack, load_pack, rulepack_json_schema

__all__ = [
    "DISCLAIMER",
    "HAMD17",
    "ICG",
    "PG13R",
    "PHQ9",
    "SASSR",
    "UCLA3",
    "EngineError",
    "Episode",
    "Formulation",
    "InputError",
    "Inventory",
    "InventoryError",
    "IptFormulateError",
    "LifeEvent",
    "MalformedInputError",
    "OptionError",
    "Patient",
    "PatientView",
    "Person",
    "PersonLink",
    "Question",
    "Risk",
    "RulePack",
    "RulePackError",
    "SocialHistory",
    "__version__",
    "answer",
    "bundled_packs",
    "default_pack",
    "formulate",
    "formulation_json_schema",
    "inventory_json_schema",
    "load_pack",
    "next_questions",
    "parse_inventory",
    "render_html",
    "report",
    "rulepack_json_schema",
]
