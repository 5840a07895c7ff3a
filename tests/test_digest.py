"""The input digest serialised from the models gives the bytes of the former model_dump path."""

from __future__ import annotations

import copy
import hashlib
import json

from hypothesis import given
from pydantic_core import to_json

from conftest import EXAMPLES, derandomized, example_text
from ipt_formulate import Inventory, parse_inventory
from ipt_formulate._api import input_digest
from ipt_formulate.testing import inventories


def _input_digest_by_dump(inv: Inventory) -> str:
    """The digest as it was computed before :func:`input_digest` (a full ``model_dump``):
    the reference the faster serialisation must match byte for byte."""
    d = inv.model_dump()
    d["patient"]["populations"] = sorted(set(d["patient"]["populations"]))
    d["episode"]["measures"] = sorted(d["episode"]["measures"], key=lambda m: m["instrument"])
    for p in d["persons"]:
        p["changes_wanted"] = sorted(p["changes_wanted"])
    d["persons"] = sorted(d["persons"], key=lambda p: p["id"])
    for r in d["relationships"]:
        r["a"], r["b"] = sorted((r["a"], r["b"]))
    d["relationships"] = sorted(d["relationships"], key=lambda r: (r["a"], r["b"]))
    for e in d["events"]:
        e["others"] = sorted(e["others"])
    d["events"] = sorted(d["events"], key=lambda e: e["id"])
    return "sha256:" + hashlib.sha256(to_json(d)).hexdigest()


def test_digest_unchanged_on_examples() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        inv = parse_inventory(example_text(path.stem))
        assert input_digest(inv) == _input_digest_by_dump(inv), path.name


@derandomized(100)
@given(inventories(max_persons=8, max_events=8))
def test_digest_unchanged_on_generated_inventories(inv: Inventory) -> None:
    assert input_digest(inv) == _input_digest_by_dump(inv)


def test_digest_ignores_list_order() -> None:
    data = json.loads(example_text("mixed-dispute-transition"))
    flipped = copy.deepcopy(data)
    flipped["episode"]["measures"].reverse()
    flipped["persons"].reverse()
    flipped["events"].reverse()
    for r in flipped["relationships"]:
        r["a"], r["b"] = r["b"], r["a"]
    one, two = parse_inventory(data), parse_inventory(flipped)
    assert one != two
    assert input_digest(one) == input_digest(two) == _input_digest_by_dump(two)
