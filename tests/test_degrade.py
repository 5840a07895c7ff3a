"""testing.degraded and the missing-data report: valid, deterministic, honest about timing."""

from __future__ import annotations

import itertools
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES
from ipt_formulate import Inventory, default_pack, formulate, parse_inventory
from ipt_formulate._api import input_digest
from ipt_formulate.facts import derive_facts
from ipt_formulate.testing import (
    CHECKS,
    KEPT_FIELDS,
    OPT_IN_CHECKS,
    OutcomeRow,
    check_pack,
    classify,
    degraded,
    droppable_paths,
    inventories,
    markdown_table,
    missing_data_report,
    permuted,
    plot_missing_data,
)

CONF = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
PS = st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
SEEDS = st.integers(0, 2**32)


def _example(name: str) -> Inventory:
    return parse_inventory((EXAMPLES / f"{name}.json").read_text())


def _skeleton(inv: Inventory) -> Any:
    """What must never be dropped: ids, roles, kinds, references, instruments, dates."""
    return (
        inv.id,
        inv.episode.assessment_date,
        [(p.id, p.role, p.label) for p in inv.persons],
        [(e.id, e.kind, e.subject, e.others, e.description) for e in inv.events],
        [(r.a, r.b) for r in inv.relationships],
        [m.instrument for m in inv.episode.measures],
        inv.patient.populations,
        [p.changes_wanted for p in inv.persons],
    )


def _known(inv: Inventory) -> set[str]:
    return set(droppable_paths(inv))


@CONF
@given(inventories(), PS, SEEDS)
def test_degraded_is_valid_and_only_forgets(inv: Inventory, p: float, seed: int) -> None:
    out = degraded(inv, p, seed)
    # valid: the JSON form parses again (degraded() itself validates too)
    assert parse_inventory(out.model_dump_json()) == out
    assert _skeleton(out) == _skeleton(inv)
    # only unknowns were added: every value still known is the original value
    assert _known(out) <= _known(inv)
    before, after = inv.model_dump(mode="json"), out.model_dump(mode="json")
    for path in _known(out):
        assert _at(after, path) == _at(before, path), path


def _at(data: Any, path: str) -> Any:
    for part in path[2:].replace("[", ".").replace("]", "").split("."):
        data = data[int(part)] if part.isdigit() else data[part]
    return data


@CONF
@given(inventories(), PS, SEEDS, st.randoms(use_true_random=False))
def test_degraded_is_deterministic_and_ignores_list_order(
    inv: Inventory, p: float, seed: int, rnd: random.Random
) -> None:
    out = degraded(inv, p, seed)
    assert degraded(inv, p, seed) == out
    assert input_digest(degraded(permuted(inv, rnd), p, seed)) == input_digest(out)


@CONF
@given(inventories(), SEEDS)
def test_what_is_dropped_at_p_is_dropped_at_every_larger_p(inv: Inventory, seed: int) -> None:
    known = [_known(degraded(inv, p, seed)) for p in (0.0, 0.2, 0.5, 0.8, 1.0)]
    assert known[0] == _known(inv)
    assert all(a >= b for a, b in itertools.pairwise(known))
    assert known[-1] == set()  # p = 1 drops every droppable value


def test_p_is_the_share_of_values_dropped() -> None:
    inv = _example("mixed-dispute-transition")
    total = len(droppable_paths(inv))
    assert total > 50
    for p in (0.1, 0.5, 0.8):
        kept = [len(droppable_paths(degraded(inv, p, s))) for s in range(40)]
        share = 1 - sum(kept) / (40 * total)
        assert abs(share - p) < 0.05, (p, share)
    assert degraded(inv, 0.0, 1) == inv


def test_kept_fields_are_never_offered() -> None:
    inv = _example("grief")
    names = {path.rsplit(".", 1)[1] for path in droppable_paths(inv)}
    assert not names & KEPT_FIELDS
    assert {"ring", "response", "onset", "deceased", "total"} <= names
    with pytest.raises(ValueError, match="p must be in"):
        degraded(inv, 1.5, 0)


def _timing(inv: Inventory) -> dict[str, tuple[Any, Any]]:
    facts = derive_facts(inv, default_pack().options).by_type["event"]
    return {f["id"]: (f["recent"], f["after_onset"]) for f in facts}


@CONF
@given(inventories(with_recent_transition=True), PS, SEEDS)
def test_keep_order_gives_back_the_timing_the_dates_gave(
    inv: Inventory, p: float, seed: int
) -> None:
    plain = degraded(inv, p, seed)
    kept = degraded(inv, p, seed, keep_order=True)
    # the same draws: the two differ in onset_relation only
    strip = {"events": {"__all__": {"onset_relation"}}}
    assert kept.model_dump(exclude=strip) == plain.model_dump(exclude=strip)
    original, got = _timing(inv), _timing(kept)
    for before, lost, after in zip(inv.events, plain.events, kept.events, strict=True):
        placed = inv.months_before_onset_span(before) is not None
        if placed:
            assert got[after.id] == original[after.id], after
        if after.onset_relation != lost.onset_relation:
            # filled in only where the dates placed the event and no longer do
            assert placed and lost.onset_relation is None and after.onset_relation is not None
            assert plain.months_before_onset_span(lost) is None


def test_keep_order_on_an_example() -> None:
    inv = _example("grief")  # mother died in June, onset in September: months before
    plain = degraded(inv, 1.0, 0)
    kept = degraded(inv, 1.0, 0, keep_order=True)
    assert plain.events[0].onset_relation is None
    assert kept.events[0].onset_relation == "months_before"
    assert _timing(plain)["e-death-mother"] == (None, None)
    assert _timing(kept)["e-death-mother"] == (True, False)


def test_classify() -> None:
    inv = _example("grief")
    base = formulate(inv, engine="compiled")
    assert base.primary is not None
    assert classify(base.primary, base) == "survives"
    other = formulate(_example("role-dispute"), engine="compiled")
    assert classify(base.primary, other) == "changed"
    # everything that links the death to the episode is forgotten: grief is provisional
    worse = formulate(degraded(inv, 1.0, 0), engine="compiled")
    assert worse.primary is None
    outcome = classify(base.primary, worse)
    grief_provisional = any(
        h.status == "provisional" and h.area == "grief" and h.focus.id == "mother"
        for h in worse.hypotheses
    )
    assert outcome == ("provisional" if grief_provisional else "lost")


def test_report_on_a_tiny_cohort() -> None:
    invs = [_example("grief"), _example("role-dispute")]
    rows = missing_data_report(invs, ps=(0.0, 0.5, 1.0), seeds=2)
    assert [r.p for r in rows] == [0.0, 0.5, 1.0]
    assert all(r.n == 4 for r in rows)
    assert rows[0] == OutcomeRow(0.0, survives=4)
    assert rows[2].survives == 0  # nothing clinical left: no established primary
    assert missing_data_report(list(reversed(invs)), ps=(0.0, 0.5, 1.0), seeds=2) == rows
    table = markdown_table(rows)
    assert "| 0.0 | 4 | 100.0 % | 0.0 % | 0.0 % | 0.0 % |" in table
    # an inventory without a primary is not counted
    empty = parse_inventory({"episode": {"assessment_date": "2024-01-01"}})
    assert missing_data_report([empty], ps=(0.0,), seeds=2) == (OutcomeRow(0.0),)


def test_rows_add_up() -> None:
    a, b = OutcomeRow(0.1, 1, 2, 3, 4), OutcomeRow(0.1, 4, 3, 2, 1)
    assert a + b == OutcomeRow(0.1, 5, 5, 5, 5)
    assert (a + b).share("lost") == 0.25 and OutcomeRow(0.3).share("lost") == 0.0
    with pytest.raises(ValueError, match="cannot add"):
        a + OutcomeRow(0.2)


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        assert (
            zlib.crc32(data[i + 4 : i + 8 + n])
            == struct.unpack(">I", data[i + 8 + n : i + 12 + n])[0]
        )
        out.append(kind + data[i + 8 : i + 8 + n][:40])
        i += 12 + n
    return out


def test_plot_is_a_deterministic_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = (OutcomeRow(0.0, 4), OutcomeRow(0.5, 1, 2, 1, 0), OutcomeRow(1.0, 0, 1, 0, 3))
    other = (OutcomeRow(0.0, 4), OutcomeRow(0.5, 2, 2, 0, 0), OutcomeRow(1.0, 1, 1, 0, 2))
    a = plot_missing_data(
        {"examples": rows, "cohort": rows}, tmp_path / "a.png", dashed={"examples": other}
    )
    b = plot_missing_data(
        {"examples": rows, "cohort": rows}, tmp_path / "b.png", dashed={"examples": other}
    )
    data = a.read_bytes()
    assert data == b.read_bytes()
    chunks = _png_chunks(data)
    assert not any(c.startswith((b"tEXt", b"iTXt", b"zTXt", b"tIME")) for c in chunks), chunks


# ------------------------------------------------------------------ check_pack: unknowns
def _corrupting(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Make check_pack see formulations whose first hypothesis ``change`` rewrites."""
    from ipt_formulate.testing import _check

    real = _check.formulate

    def fake(inv: Any, pack: Any = None, **kw: Any) -> Any:
        f = real(inv, pack, **kw)
        if not f.hypotheses:
            return f
        first = f.hypotheses[0].model_copy(update=change(f.hypotheses[0]))
        return f.model_copy(update={"hypotheses": (first, *f.hypotheses[1:])})

    monkeypatch.setattr(_check, "formulate", fake)


def test_unknowns_check_passes_the_default_pack() -> None:
    report = check_pack(default_pack(), checks=["unknowns"])
    report.raise_for_failures()
    assert report.checks == ("unknowns",)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: {"upper_bound": h.score - 0.1}, "bounds out of order"),
        (lambda h: {"status": "provisional"}, "status provisional"),
        (lambda h: {"pending": (), "lower_bound": h.score - 0.1}, "waits on nothing"),
    ],
)
def test_unknowns_check_finds_dishonest_bounds(
    monkeypatch: pytest.MonkeyPatch, change: Any, reason: str
) -> None:
    _corrupting(monkeypatch, change)
    report = check_pack(default_pack(), checks=["unknowns"], max_examples=60)
    assert not report.ok
    failure = report.failures[0]
    assert failure.check == "unknowns" and reason in failure.reason, failure
    assert failure.inventory is not None


def test_soundness_passes_the_default_pack() -> None:
    # it failed while a forgotten onset made onset_known false (not unknown): a deficits
    # focus established on the complete inventory vanished, not even provisional
    check_pack(default_pack(), checks=["soundness"], max_examples=60).raise_for_failures()


def test_soundness_finds_forgotten_certainty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "soundness" in CHECKS and not OPT_IN_CHECKS
    # a formulation that forgets every hypothesis once anything is unknown is unsound
    from ipt_formulate.testing import _check

    real = _check.formulate

    def forgetful(inv: Any, pack: Any = None, **kw: Any) -> Any:
        f = real(inv, pack, **kw)
        if any(h.pending for h in f.hypotheses):
            return f.model_copy(
                update={"hypotheses": (), "primary_rank": None, "status": "insufficient_data"}
            )
        return f

    monkeypatch.setattr(_check, "formulate", forgetful)
    report = check_pack(default_pack(), checks=["soundness"], max_examples=60)
    assert not report.ok
    assert "forgotten: $." in report.failures[0].reason
    with pytest.raises(ValueError, match="unknown checks"):
        check_pack(default_pack(), checks=["sound"])  # type: ignore[list-item]


# ------------------------------------------------------------------ check_pack: questions
def test_questions_check_passes_the_default_pack() -> None:
    check_pack(default_pack(), checks=["questions"], max_examples=15).raise_for_failures()


def test_questions_check_finds_a_dishonest_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer whose changes_focus is flipped is caught, with the question's path."""
    from ipt_formulate.testing import _check

    real = _check.formulate

    def lying(inv: Any, pack: Any = None, **kw: Any) -> Any:
        f = real(inv, pack, **kw)
        if not f.questions:
            return f
        q = f.questions[0]
        first = q.answers[0].model_copy(update={"changes_focus": not q.answers[0].changes_focus})
        q = q.model_copy(update={"answers": (first, *q.answers[1:])})
        return f.model_copy(update={"questions": (q, *f.questions[1:])})

    monkeypatch.setattr(_check, "formulate", lying)
    report = check_pack(default_pack(), checks=["questions"], max_examples=30)
    assert not report.ok
    failure = report.failures[0]
    assert failure.check == "questions" and "changes_focus=" in failure.reason, failure
    assert "question $." in failure.reason and failure.inventory is not None
