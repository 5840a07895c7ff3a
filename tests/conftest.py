"""Shared fixtures: the bundled packs and example inventories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipt_formulate import RulePack, load_pack


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RULES = ROOT / "rules"


def example_text(name: str) -> str:
    return (EXAMPLES / f"{name}.json").read_text(encoding="utf-8")


def example_dict(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example_text(name))
    return data


@pytest.fixture(scope="session")
def core_pack() -> RulePack:
    return load_pack(RULES / "ipt-core")


@pytest.fixture(scope="session")
def ipsrt_pack() -> RulePack:
    return load_pack(RULES / "ipsrt")
