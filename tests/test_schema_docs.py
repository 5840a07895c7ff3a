"""The published inventory docs cannot drift from the model.

``docs/schema/inventory.schema.json`` must equal a fresh generation from the model, the example in
``docs/inventory.md`` must parse, and the error-code table must name each code with its class.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ipt_formulate import errors
from ipt_formulate.inventory import inventory_json_schema, parse_inventory

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "docs" / "schema" / "inventory.schema.json"
GUIDE = ROOT / "docs" / "inventory.md"

REGENERATE = (
    '.venv/bin/python -c "import json, ipt_formulate.inventory as m; '
    "open('docs/schema/inventory.schema.json', 'w')"
    ".write(json.dumps(m.inventory_json_schema(), indent=2, sort_keys=True) + '\\n')\""
)


def _fresh_schema_text() -> str:
    return json.dumps(inventory_json_schema(), indent=2, sort_keys=True) + "\n"


def test_committed_schema_matches_the_model() -> None:
    assert SCHEMA_FILE.is_file(), f"{SCHEMA_FILE} is missing; generate it with:\n  {REGENERATE}"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == _fresh_schema_text(), (
        "docs/schema/inventory.schema.json is out of date with the inventory model "
        "(src/ipt_formulate/inventory.py). Regenerate it from the repository root with:\n"
        f"  {REGENERATE}\n"
        "then review the diff and update docs/inventory.md if fields or vocabularies changed."
    )


def test_schema_is_draft_2020_12_and_closed() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["episode"]
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        assert definition.get("additionalProperties") is False, f"$defs.{name} is open"


def _json_blocks(markdown: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)


def test_guide_example_is_a_valid_inventory() -> None:
    blocks = _json_blocks(GUIDE.read_text(encoding="utf-8"))
    assert blocks, "docs/inventory.md has no ```json example"
    inv = parse_inventory(blocks[0])
    assert inv.episode.assessment_date.isoformat() == "2026-05-12"
    assert inv.persons
    assert inv.events


def _documented_codes() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_.]+)` \| `([A-Za-z]+)` \|", GUIDE.read_text("utf-8"), re.M)
    return dict(rows)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("input.malformed", errors.MalformedInputError),
        ("inventory.unknown_field", errors.InventorySchemaError),
        ("inventory.missing_field", errors.InventorySchemaError),
        ("inventory.wrong_type", errors.InventorySchemaError),
        ("inventory.unknown_value", errors.InventorySchemaError),
        ("inventory.bad_format", errors.InventorySchemaError),
        ("inventory.out_of_range", errors.InventoryRangeError),
        ("inventory.unknown_person", errors.InventoryReferenceError),
        ("inventory.unknown_event", errors.InventoryReferenceError),
        ("inventory.duplicate_id", errors.InventoryReferenceError),
        ("inventory.reserved_id", errors.InventoryReferenceError),
        ("inventory.duplicate_link", errors.InventoryReferenceError),
        ("inventory.self_link", errors.InventoryReferenceError),
        ("inventory.duplicate_measure", errors.InventoryReferenceError),
        ("inventory.after_assessment", errors.InventoryTemporalError),
        ("inventory.onset_after_assessment", errors.InventoryTemporalError),
        ("inventory.deceased_participant", errors.InventoryTemporalError),
        ("inventory.ambiguous_timing", errors.InventoryTemporalError),
        ("inventory.contradiction", errors.InventoryError),
    ],
)
def test_error_code_table(code: str, cls: type[errors.InputError]) -> None:
    """Each code raised by parse_inventory (see tests/test_inventory.py) is in the guide's table."""
    documented = _documented_codes()
    assert documented.get(code) == cls.__name__, (
        f"docs/inventory.md error table should list `{code}` with class `{cls.__name__}`"
    )
    assert issubclass(cls, errors.IptFormulateError)
