"""Documentation that is generated or quoted must match the code."""

from __future__ import annotations

import html
import json
import re

from conftest import ROOT
from ipt_formulate import DISCLAIMER, formulate, parse_inventory
from ipt_formulate._catalogue import catalogue_document
from ipt_formulate._html import render_html


def test_rule_catalogue_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "rule-catalogue.md").read_text(encoding="utf-8")
    assert committed == catalogue_document(), (
        "docs/rule-catalogue.md is stale; regenerate with: python -c "
        '"from ipt_formulate._catalogue import write_catalogue; write_catalogue()"'
    )


def test_readme_and_every_rendering_say_decision_support() -> None:
    assert "not a diagnosis" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "not a diagnosis" in DISCLAIMER
    for example in sorted((ROOT / "examples").glob("*.json")):
        f = formulate(example.read_text(encoding="utf-8"))
        assert json.loads(f.to_json())["disclaimer"] == DISCLAIMER, example.name
        assert f.to_dict()["disclaimer"] == DISCLAIMER, example.name
        inv = parse_inventory(example.read_text(encoding="utf-8"))
        page = html.unescape(re.sub(r"<[^>]+>", " ", render_html(f, inv)))
        for rendering in (f.to_markdown(), f.to_text(), page):
            assert DISCLAIMER in " ".join(rendering.split()), example.name
        assert "not a diagnosis" in f.to_summary(), example.name


def test_docs_quote_no_pack_hash_that_can_go_stale() -> None:
    # the generated catalogue is checked above; elsewhere a pack hash would go stale
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "rule-catalogue.md":
            text = page.read_text(encoding="utf-8")
            assert not re.search(r"sha256:[0-9a-f]{12}", text), page.name


def test_architecture_gives_formulates_current_signature() -> None:
    import inspect

    from ipt_formulate import formulate

    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    line = next(ln for ln in doc.splitlines() if ln.startswith("| `formulate` |"))
    for name, param in inspect.signature(formulate).parameters.items():
        default = "" if param.default is inspect.Parameter.empty else f"={param.default!r}"
        assert f"{name}{default}".replace("'", '"') in line, name


def test_formulation_schema_is_published() -> None:
    import json

    from ipt_formulate import formulation_json_schema

    committed = (ROOT / "docs" / "schema" / "formulation.schema.json").read_text(encoding="utf-8")
    assert committed == json.dumps(formulation_json_schema(), indent=2, sort_keys=True) + "\n", (
        'regenerate docs/schema/formulation.schema.json: python -c "import json, ipt_formulate '
        "as m; open('docs/schema/formulation.schema.json', 'w').write(json.dumps("
        "m.formulation_json_schema(), indent=2, sort_keys=True) + '\\n')\""
    )
