"""Rule catalogue: a pack's metadata rendered as Markdown (docs/rule-catalogue.md)."""

from __future__ import annotations

from .rulepack import Rule, RulePack


def _effect(r: Rule) -> str:
    parts = []
    if r.area is not None and r.weight is not None:
        parts.append(f"{r.area} {r.weight:+g} (focus: {r.focus})")
    if r.asserts is not None:
        about = f" about {r.asserts.focus}" if r.asserts.focus else ""
        parts.append(f"asserts `{r.asserts.finding}`{about}")
    if r.advisory is not None:
        parts.append(f"{r.advisory.level} {r.advisory.kind} advisory")
    return "; ".join(parts)


def rule_markdown(pack: RulePack, r: Rule) -> str:
    lines = [f"### `{r.id}` (v{r.version}, {r.status}) — {r.title}", ""]
    lines.append(f"- effect: {_effect(r)}")
    if r.options_used:
        lines.append(
            f"- options: {', '.join(r.options_used)}"
            + ("" if r.enabled else f" (disabled now: {dict(r.disabled_by)})")
        )
    lines.append(f"- defined in: `{r.file}` line {r.line}")
    lines.append("- when:")
    for p in r.patterns:
        lines.append(f"  - {p.text}")
    lines.append(f"- explanation: {r.explain}")
    lines.append("- sources:")
    for c in r.cite:
        src = pack.sources[c.source]
        loc = f", {c.locator}" if c.locator else ""
        note = f" — {c.note}" if c.note else ""
        url = f" <{src.url}>" if src.url else ""
        lines.append(f"  - {src.text}{loc}{note}{url}")
    lines.append(
        f"- examples: {sum(e.fires for e in r.examples)} firing, "
        f"{sum(not e.fires for e in r.examples)} not firing"
    )
    return "\n".join(lines) + "\n"


def pack_markdown(pack: RulePack) -> str:
    lines = [
        f"## Pack `{pack.name}` {pack.version}",
        "",
        pack.description,
        "",
        f"Lineage: {' → '.join(pack.lineage)}. Content hash: `{pack.hash}`.",
        "",
        "| area | label | usual focus |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{a.id}` | {a.label} | {a.focus_kind} |" for a in pack.areas]
    lines += ["", "| option | default | meaning |", "| --- | --- | --- |"]
    for k, o in sorted(pack.option_specs.items()):
        choices = f" (one of {', '.join(map(str, o.choices))})" if o.choices else ""
        if o.min is not None or o.max is not None:
            lo = "" if o.min is None else f"{o.min:g} ≤ "
            hi = "" if o.max is None else f" ≤ {o.max:g}"
            choices += f" ({lo}x{hi})"
        lines.append(f"| `{k}` | `{o.default}`{choices} | {o.description} |")
    t = pack.thresholds
    lines += [
        "",
        f"Thresholds: primary ≥ {t.primary_min:g}; secondary ≥ {t.secondary_min:g} "
        f"and within {t.secondary_max_gap:g} of the primary.",
        "",
    ]
    groups = [(a.id, a.label) for a in pack.areas] + [(None, "Findings and advisories")]
    for area, label in groups:
        rules = [r for r in pack.rules if r.area == area]
        if not rules:
            continue
        lines += [f"### {label}", ""]
        for r in rules:
            lines.append(rule_markdown(pack, r).replace("### ", "#### ", 1))
    return "\n".join(lines).rstrip() + "\n"


CATALOGUE_HEADER = """# Rule catalogue

Generated from the bundled packs' metadata by
`python -c "from ipt_formulate._catalogue import write_catalogue; write_catalogue()"`;
`tests/test_docs.py` fails when it is out of date. Decision support for clinicians, not a
diagnosis: every rule cites the source it encodes.

"""


def catalogue_document() -> str:
    """The whole catalogue page: ipt-core, then ipsrt."""
    from .rulepack import bundled_pack_path, load_pack

    parts = [CATALOGUE_HEADER]
    for name in ("ipt-core", "ipsrt"):
        parts.append(pack_markdown(load_pack(bundled_pack_path(name))))
        parts.append("\n")
    return "".join(parts).rstrip() + "\n"


def write_catalogue(path: str = "docs/rule-catalogue.md") -> None:
    from pathlib import Path

    Path(path).write_text(catalogue_document(), encoding="utf-8")
