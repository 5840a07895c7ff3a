"""``python -m ipt_formulate.fhir``: print the generated Questionnaire (to regenerate the files)."""

import sys

from ._questionnaire import questionnaire_json

sys.stdout.write(questionnaire_json())
