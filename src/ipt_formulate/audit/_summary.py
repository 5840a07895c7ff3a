"""A compact, picklable summary of one formulation: what agreement and pack diffs compare.

Built from the formulation's JSON form, so it reads a :class:`Formulation` and a line of
batch output alike: schema 3 (primary and secondary by rank, keys with default values left
out) and schema 2 (primary and secondary as copies, every key present).
"""

from __future__ import annotations

from typing import Any

from ..formulation import Formulation

__all__ = ["summarize"]


def _key(h: dict[str, Any]) -> str:
    focus = h["focus"]
    area = h["area"]
    return f"{area}:network" if focus.get("id") is None else f"{area}:{focus['kind']}:{focus['id']}"


def _chosen(f: dict[str, Any], role: str) -> dict[str, Any] | None:
    """The primary or secondary hypothesis: by rank (schema 3) or a copy (schema 2)."""
    ref = f.get(role)
    if ref is None or isinstance(ref, dict):
        return ref
    found: dict[str, Any] = next(h for h in f["hypotheses"] if h["rank"] == ref)
    return found


def _choice(h: dict[str, Any] | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "key": _key(h),
        "area": h["area"],
        "focus": h["focus"].get("id"),
        "focus_name": h["focus"].get("name"),
        "score": h["score"],
    }


def summarize(formulation: Formulation | dict[str, Any]) -> dict[str, Any]:
    """``primary``/``secondary`` (key, area, focus, score), ``best`` score per area,
    ``evidence`` (hypothesis key -> rule id -> [weight, contribution]), ``why_not`` (area ->
    reason and rule checks) and the pack's identity."""
    f = formulation.to_dict() if isinstance(formulation, Formulation) else formulation
    best: dict[str, dict[str, Any]] = {}
    evidence: dict[str, dict[str, list[float]]] = {}
    for h in f["hypotheses"]:
        key = _key(h)
        evidence[key] = {
            e["rule_id"]: [e.get("weight"), e.get("contribution")]
            for e in (*h.get("support", ()), *h.get("against", ()))
        }
        if h["area"] not in best:  # hypotheses are ranked: the first of an area is its best
            best[h["area"]] = {"key": key, "score": h["score"]}
    return {
        "primary": _choice(_chosen(f, "primary")),
        "secondary": _choice(_chosen(f, "secondary")),
        "best": best,
        "evidence": evidence,
        "why_not": {
            w["area"]: {
                "reason": w["reason"],
                "checks": [[c["rule_id"], c["status"]] for c in w.get("rules", ())],
            }
            for w in f.get("not_chosen", ())
        },
        "pack": f"{f['provenance']['pack_name']}@{f['provenance']['pack_version']}",
    }
