"""Small rule packs written from the rule-format documentation (docs/rule-authoring.md), for
tests that need exact thresholds and weights: one-pattern rules over network-level areas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipt_formulate as ipt


def toml_value(v: Any) -> str:
    """A Python value as a TOML literal (booleans, numbers, strings, lists, inline tables)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def rule(rid: str, *, fact: str = "patient", where: Any = (), **keys: Any) -> str:
    """One ``[[rule]]`` with a single pattern; ``keys`` are further rule keys (``area``,
    ``weight``, ``focus``, ``advisory``, ``enabled_when``, ``status``, ``bind``...)."""
    bind = keys.pop("bind", None)
    head = {
        "id": rid,
        "version": 1,
        "title": keys.pop("title", f"Rule {rid}"),
        "explain": keys.pop("explain", f"{rid} fired."),
        "cite": keys.pop("cite", [{"source": "s"}]),
        **keys,
    }
    lines = ["[[rule]]", *(f"{k} = {toml_value(v)}" for k, v in head.items()), "[[rule.when]]"]
    lines.append(f"fact = {toml_value(fact)}")
    if bind:
        lines.append(f"bind = {toml_value(bind)}")
    lines.append(f"where = {toml_value(list(where))}")
    return "\n".join(lines) + "\n"


def write_pack(
    d: Path,
    rules: list[str],
    *,
    areas: str = "abcdefgh",
    thresholds: tuple[float, float, float] = (0.3, 0.4, 0.3),
    options: str = "",
) -> ipt.RulePack:
    """Write and load a pack: areas ``a``, ``b``... labelled "Area A"..., network focus;
    ``thresholds`` = (primary_min, secondary_min, secondary_max_gap)."""
    d.mkdir(parents=True, exist_ok=True)
    area_tables = "".join(
        f'[[area]]\nid = "{a}"\nlabel = "Area {a.upper()}"\nfocus_kind = "network"\n\n'
        for a in areas
    )
    primary, secondary, gap = thresholds
    (d / "pack.toml").write_text(
        '[pack]\nname = "t"\nversion = "0.1.0"\ndescription = "A test pack."\n\n'
        + area_tables
        + f"[thresholds]\nprimary_min = {primary}\nsecondary_min = {secondary}\n"
        + f"secondary_max_gap = {gap}\n\n"
        + options
        + '\n[sources.s]\ntext = "A source."\nurl = "https://example.org/s"\n'
        + 'quality = "manual/author"\n',
        encoding="utf-8",
    )
    (d / "rules.toml").write_text("\n".join(rules), encoding="utf-8")
    return ipt.load_pack(d)


def inventory(**patient: Any) -> dict[str, Any]:
    """A minimal inventory: the patient's fields given, nothing else known."""
    return {
        "schema_version": "1",
        "patient": patient,
        "episode": {"assessment_date": "2026-01-10"},
    }


ALWAYS = [["age", ">=", 0]]
"""A condition true for every patient of known age."""
