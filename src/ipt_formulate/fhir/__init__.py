"""FHIR R4 and CDS Hooks integration: Questionnaire in, FHIR resources out.

Works on plain JSON dicts; install the ``[fhir]`` extra (``fhir.resources``) to pass its models
in or validate the output, and ``[server]`` for ``ipt-formulate serve``. Decision support for
clinicians, never a diagnosis: no ``Condition`` is ever emitted. See docs/integration.md.
"""

from ._bundle import formulation_to_fhir
from ._cds import SERVICE_ID, CdsError, cards_for, service_definition
from ._questionnaire import (
    QUESTIONNAIRE_URL,
    QUESTIONNAIRE_VERSION,
    QuestionnaireResponseError,
    ResponseIssue,
    build_questionnaire,
    bundled_questionnaire,
    inventory_from_questionnaire_response,
    inventory_to_questionnaire_response,
    questionnaire_json,
)

__all__ = [
    "QUESTIONNAIRE_URL",
    "QUESTIONNAIRE_VERSION",
    "SERVICE_ID",
    "CdsError",
    "QuestionnaireResponseError",
    "ResponseIssue",
    "build_questionnaire",
    "bundled_questionnaire",
    "cards_for",
    "formulation_to_fhir",
    "inventory_from_questionnaire_response",
    "inventory_to_questionnaire_response",
    "questionnaire_json",
    "service_definition",
]
