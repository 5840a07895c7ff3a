"""Output levels (formulate(..., detail=...)): each a strict subset of the next, deterministic,
renderable, and a level does not do the work it leaves out. Engines agree at every level
(tests/test_compiled.py)."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from conftest import EXAMPLES, RULES, derandomized, example_text
from ipt_formulate import (
    Inventory,
    OptionError,
    RulePack,
    formulate,
    load_pack,
    parse_inventory,
    render_html,
)
from ipt_formulate.audit import batch_file
from ipt_formulate.audit._synth import synth_records
from ipt_formulate.explain import area_checks, why_not
from ipt_formulate.formulation import Detail
from ipt_formulate.testing import inventories

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
ORDER: tuple[Detail, ...] = ("brief", "standard", "full")


def within(small: Any, big: Any, path: str = "$") -> list[str]:
    """Where ``small`` is not contained in ``big``: objects by key (``small``'s keys are
    ``big``'s, values contained), lists as subsequences (items contained, in order), other
    values equal. Empty: contained."""
    if isinstance(small, dict) and isinstance(big, dict):
        out = [f"{path}.{k}: not in the larger level" for k in small if k not in big]
        for k in small:
            if k in big:
                out += within(small[k], big[k], f"{path}.{k}")
        return out
    if isinstance(small, list) and isinstance(big, list):
        rest = iter(enumerate(big))
        for i, item in enumerate(small):
            if not any(not within(item, other) for _, other in rest):
                return [f"{path}[{i}]: no matching item in order"]
        return []
    return [] if small == big else [f"{path}: {small!r} != {big!r}"]


def assert_levels_nest(inv: Inventory | str, pack: RulePack, engine: str = "compiled") -> None:
    """brief within standard within full, each strictly smaller (``detail`` and brief's count
    of the hypotheses it leaves out aside)."""
    outs = {d: formulate(inv, pack, engine=engine, detail=d) for d in ORDER}
    data = {d: f.to_dict() for d, f in outs.items()}
    for d, f in outs.items():
        assert data[d].pop("detail") == d == f.detail
    omitted = data["brief"].pop("hypotheses_omitted", 0)
    assert omitted == len(outs["full"].hypotheses) - len(outs["brief"].hypotheses)
    assert "hypotheses_omitted" not in data["standard"] and "hypotheses_omitted" not in data["full"]
    for small, big in itertools.pairwise(ORDER):
        assert not within(data[small], data[big]), (small, big, within(data[small], data[big]))
        assert len(json.dumps(data[small])) < len(json.dumps(data[big])), (small, big)
    full = formulate(inv, pack, engine=engine)
    assert outs["full"].to_json() == full.to_json()  # full is the default and today's output


@pytest.fixture(scope="module", params=("ipt-core", "ipsrt"))
def pack(request: pytest.FixtureRequest) -> RulePack:
    return load_pack(RULES / request.param)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_levels_nest_on_every_example(name: str, pack: RulePack) -> None:
    assert_levels_nest(example_text(name), pack)


@derandomized(40)
@given(inventories(max_persons=8, max_events=8))
def test_levels_nest_on_generated_inventories(inv: Inventory) -> None:
    assert_levels_nest(inv, load_pack(RULES / "ipt-core"))


def test_within_catches_a_difference() -> None:
    assert within({"a": [1, 3]}, {"a": [1, 2, 3], "b": 0}) == []
    assert within({"a": [3, 1]}, {"a": [1, 2, 3]})  # order matters
    assert within({"c": 1}, {"a": 1})
    assert within({"a": {"x": 1}}, {"a": {"x": 2}})


def test_levels_leave_out_what_they_say(core_pack: RulePack) -> None:
    text = example_text("mixed-dispute-transition")
    full = formulate(text, core_pack, engine="compiled").to_dict()
    std = formulate(text, core_pack, engine="compiled", detail="standard").to_dict()
    brief = formulate(text, core_pack, engine="compiled", detail="brief").to_dict()
    assert any(w["rules"] for w in full["not_chosen"])
    assert all("rules" not in w and w["reason"] for w in std["not_chosen"])
    assert [w["reason"] for w in std["not_chosen"]] == [w["reason"] for w in full["not_chosen"]]
    assert full["sources"] and std["sources"] == full["sources"]
    for key in ("not_chosen", "findings", "finding_labels", "rules", "unknowns", "sources"):
        assert key not in brief, key
    allowed = {"rank", "area", "focus", "status", "score", "lower_bound", "upper_bound"}
    allowed |= {"support", "against", "pending"}
    assert all(set(h) <= allowed for h in brief["hypotheses"])
    assert all(set(e) == {"rule_id"} for h in brief["hypotheses"] for e in h.get("support", ()))
    assert all(set(p) == {"rule_id"} for h in brief["hypotheses"] for p in h.get("pending", ()))
    assert brief["advisories"] and all("citations" not in a for a in brief["advisories"])
    assert brief["provenance"] == full["provenance"]
    assert brief["schema_version"] == "3"


def test_brief_keeps_each_areas_best_and_the_chosen_hypotheses(core_pack: RulePack) -> None:
    """Brief keeps, per area, the best-ranked established or provisional hypothesis, and the
    primary and secondary; it counts the others."""
    seen_omitted = False
    texts = [example_text(n) for n in EXAMPLE_NAMES]
    cohort = list(synth_records(30, 14))
    for name, text in zip(
        [*EXAMPLE_NAMES, *(f"synth {i}" for i in range(30))], texts + cohort, strict=True
    ):
        full = formulate(text, core_pack, engine="compiled")
        brief = formulate(text, core_pack, engine="compiled", detail="brief")
        chosen = {full.primary_rank, full.secondary_rank} - {None}
        best: dict[str, int] = {}
        for h in full.hypotheses:
            if h.status != "below_threshold":
                best[h.area] = min(best.get(h.area, h.rank), h.rank)
        kept = sorted(set(best.values()) | chosen)
        assert [h.rank for h in brief.hypotheses] == kept, name
        assert brief.hypotheses_omitted == len(full.hypotheses) - len(kept), name
        assert (brief.primary_rank, brief.secondary_rank) == (
            full.primary_rank,
            full.secondary_rank,
        )
        for h in (brief.primary, brief.secondary):
            assert h is None or (h.area, h.focus) == (full.hypothesis(h.rank).area, h.focus), name
        seen_omitted |= brief.hypotheses_omitted > 0
        data = json.loads(brief.to_json())
        assert ("hypotheses_omitted" in data) == (brief.hypotheses_omitted > 0), name
    assert seen_omitted  # the cohort exercises the omission


def test_work_a_level_leaves_out_is_not_done(
    core_pack: RulePack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipt_formulate._api as api
    import ipt_formulate.scoring as scoring

    calls: list[str] = []

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            calls.append(name)
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(api, "area_checks", spy("area_checks", area_checks))
    monkeypatch.setattr(api, "why_not", spy("why_not", why_not))
    monkeypatch.setattr(scoring, "fill", spy("fill", scoring.fill))
    text = example_text("mixed-dispute-transition")
    formulate(text, core_pack, engine="compiled", detail="standard")
    assert "area_checks" not in calls and "why_not" in calls and "fill" in calls
    calls.clear()
    formulate(text, core_pack, engine="compiled", detail="brief")
    assert calls == []  # no WHY-NOT, no explanation filled
    formulate(text, core_pack, engine="compiled")
    assert "area_checks" in calls


def test_every_level_renders(core_pack: RulePack) -> None:
    inv = parse_inventory(example_text("grief"))
    for d in ORDER:
        f = formulate(inv, core_pack, engine="compiled", detail=d)
        assert "not a diagnosis" in f.to_markdown() and f.to_text() and f.to_summary()
        assert "not a diagnosis" in render_html(f, inv)
        again = formulate(example_text("grief"), core_pack, engine="experta", detail=d)
        assert f.to_markdown() == again.to_markdown().replace("experta", "compiled")


def test_unknown_level_is_refused(core_pack: RulePack) -> None:
    with pytest.raises(OptionError, match="detail") as err:
        formulate(example_text("grief"), core_pack, detail="tiny")  # type: ignore[arg-type]
    assert err.value.code == "options.detail"


def test_cli_detail(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(r + "\n" for r in synth_records(4, 5)), encoding="utf-8")
    run = [sys.executable, "-m", "ipt_formulate"]
    one = subprocess.run(
        [*run, "formulate", str(EXAMPLES / "grief.json"), "--detail", "brief"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(one.stdout)["detail"] == "brief"
    out = tmp_path / "out.jsonl"
    subprocess.run(
        [*run, "batch", str(src), "-o", str(out), "--detail", "standard", "-q"], check=True
    )
    recs = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(recs) == 4 and {r["formulation"]["detail"] for r in recs} == {"standard"}


def test_batch_levels_match_formulate(tmp_path: Path, core_pack: RulePack) -> None:
    records = list(synth_records(6, 9))
    src = tmp_path / "in.jsonl"
    src.write_text("".join(r + "\n" for r in records), encoding="utf-8")
    for workers in (1, 2):
        buf = io.StringIO()
        batch_file(src, buf, core_pack, detail="brief", workers=workers, engine="compiled")
        got = [json.loads(x)["formulation"] for x in buf.getvalue().splitlines()]
        want = [
            formulate(r, core_pack, engine="compiled", detail="brief").to_dict() for r in records
        ]
        assert got == want


def test_brief_asks_the_same_questions(core_pack: RulePack) -> None:
    asked = 0
    for name in EXAMPLE_NAMES:
        text = example_text(name)
        full = formulate(text, core_pack, engine="compiled", questions=5)
        brief = formulate(text, core_pack, engine="compiled", questions=5, detail="brief")
        assert brief.questions == full.questions, name
        asked += len(full.questions)
    assert asked  # some example has questions (the waits they need are computed for brief)
