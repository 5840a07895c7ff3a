"""Properties of the public hypothesis strategies in ``ipt_formulate.testing``."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ipt_formulate.errors import InputError, InventoryError
from ipt_formulate.inventory import Inventory, date_bounds, parse_inventory
from ipt_formulate.testing import (
    INVALID_CODES,
    InvalidInventory,
    episodes,
    has_death,
    has_dispute,
    has_recent_transition,
    ids,
    invalid_inventories,
    inventories,
    inventory_dicts,
    json_values,
    life_events,
    patients,
    person_links,
    persons,
    relationships,
)

CI = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FAST = settings(CI, max_examples=60)


def roundtrip(inv: Inventory) -> Inventory:
    """What a user does: JSON text in, validated model out; must give back the same model."""
    parsed = parse_inventory(inv.model_dump_json())
    assert parsed == inv
    return parsed


def placeable_days(inv: Inventory) -> list[tuple[str, date, date]]:
    out = []
    for e in inv.events:
        bounds = inv.event_bounds(e)
        if bounds is not None:
            out.append((e.id, *bounds))
    return out


# ---------------------------------------------------------------- valid by construction
@CI
@given(inventories())
def test_inventories_parse(inv: Inventory) -> None:
    roundtrip(inv)


@CI
@given(inventories())
def test_inventories_respect_the_timeline(inv: Inventory) -> None:
    """Beyond the validator: nothing placed after the assessment, even via months, and
    nobody takes part in an event after their death."""
    assessed = inv.episode.assessment_date
    onset = inv.onset_bounds()
    assert onset is None or onset[0] <= assessed
    for _eid, lo, _hi in placeable_days(inv):
        assert lo <= assessed
    death: dict[str, date] = {}
    for e in inv.events:
        bounds = inv.event_bounds(e)
        if e.kind == "death" and e.subject is not None and bounds is not None:
            death[e.subject] = bounds[1]
    for p in inv.persons:
        if p.date_of_death is not None:
            death[p.id] = min(death.get(p.id, date.max), date_bounds(p.date_of_death)[1])
    for e in inv.events:
        bounds = inv.event_bounds(e)
        if e.kind == "death" or bounds is None:
            continue
        for pid in (e.subject, *e.others):
            assert pid not in death or bounds[0] <= death[pid], (e.id, pid)
    assert len({e.subject for e in inv.events if e.kind == "death"}) == sum(
        e.kind == "death" for e in inv.events
    ), "at most one death event per person"


@CI
@given(inventory_dicts(exclude_defaults=None))
def test_inventory_dicts_are_json_ready(data: dict[str, Any]) -> None:
    text = json.dumps(data, allow_nan=False)
    assert parse_inventory(data) == parse_inventory(text)


@FAST
@given(
    st.one_of(
        persons(),
        persons(deceased=True),
        persons(dispute=True, unknowns=False),
        life_events(person_ids=("a", "b")),
        person_links(["a", "b", "c"]),
        episodes(),
        patients(),
    )
)
def test_parts_are_valid_models(model: Any) -> None:
    assert type(model).model_validate_json(model.model_dump_json()) == model


@FAST
@given(relationships(["a", "b", "c", "d"]))
def test_relationships_are_valid(links: tuple[Any, ...]) -> None:
    pairs = [frozenset((link.a, link.b)) for link in links]
    assert all(len(p) == 2 for p in pairs)
    assert len(set(pairs)) == len(pairs)


@FAST
@given(ids())
def test_ids_are_valid(pid: str) -> None:
    persons_ = [{"id": pid, "role": "friend"}]
    parse_inventory({"episode": {"assessment_date": "2020-01-01"}, "persons": persons_})


# ---------------------------------------------------------------- knobs
@pytest.mark.parametrize("flag", [True, False])
def test_with_death(flag: bool) -> None:
    @FAST
    @given(inventories(with_death=flag))
    def check(inv: Inventory) -> None:
        roundtrip(inv)
        if flag:
            assert has_death(inv)
        else:
            assert not has_death(inv, certain=False)

    check()


@pytest.mark.parametrize("flag", [True, False])
def test_with_dispute(flag: bool) -> None:
    @FAST
    @given(inventories(with_dispute=flag))
    def check(inv: Inventory) -> None:
        roundtrip(inv)
        if flag:
            assert has_dispute(inv)
        else:
            assert not has_dispute(inv, certain=False)

    check()


@pytest.mark.parametrize("flag", [True, False])
def test_with_recent_transition(flag: bool) -> None:
    @FAST
    @given(inventories(with_recent_transition=flag))
    def check(inv: Inventory) -> None:
        roundtrip(inv)
        if flag:
            assert has_recent_transition(inv)
        else:
            assert not has_recent_transition(inv, certain=False)

    check()


@FAST
@given(inventories(with_death=True, with_dispute=True, with_recent_transition=True, max_persons=2))
def test_all_three_together(inv: Inventory) -> None:
    roundtrip(inv)
    assert has_death(inv) and has_dispute(inv) and has_recent_transition(inv)
    assert len(inv.persons) == 2


@FAST
@given(inventories(with_death=False, with_dispute=False, with_recent_transition=False))
def test_none_of_the_three(inv: Inventory) -> None:
    roundtrip(inv)
    assert not has_death(inv, certain=False)
    assert not has_dispute(inv, certain=False)
    assert not has_recent_transition(inv, certain=False)


@FAST
@given(inventories(min_persons=3, max_persons=4, max_events=2, max_relationships=1))
def test_size_knobs(inv: Inventory) -> None:
    assert 3 <= len(inv.persons) <= 4
    assert len(inv.events) <= 2
    assert len(inv.relationships) <= 1


_CLINICAL_NONE_OK = {
    # free text, references and structure may be absent even without unknowns
    "id",
    "label",
    "patient_expects",
    "other_expects",
    "note",
    "description",
    "subject",
    "most_important_person",
    "most_important_event",
    # given only when they apply
    "date_of_death",
    "dispute_stage_evidence",
    "isolated_since",
    "onset",
    "onset_months_before_assessment",
    "date",
    "months_before_onset",
    "onset_relation",  # the clinician's judgement: only where no date settles the timing
    "age",
}


def _none_fields(value: Any, key: str = "$") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _none_fields(v, k)]
    if isinstance(value, list):
        return [p for v in value for p in _none_fields(v, key)]
    return [key] if value is None else []


@FAST
@given(inventories(unknowns=False))
def test_no_unknowns(inv: Inventory) -> None:
    roundtrip(inv)
    assert set(_none_fields(inv.model_dump(mode="json"))) <= _CLINICAL_NONE_OK
    assert inv.onset_bounds() is not None
    assert all(p.deceased is not None for p in inv.persons)
    assert all(e.date is not None or e.months_before_onset is not None for e in inv.events)


@FAST
@given(inventories(date_style="months"))
def test_months_style_has_no_dates(inv: Inventory) -> None:
    d = inv.model_dump(mode="json")
    assert d["episode"]["onset"] is None
    assert all(e["date"] is None for e in d["events"])
    assert all(p["date_of_death"] is None for p in d["persons"])
    assert all(m["date"] is None for m in d["episode"]["measures"])


@FAST
@given(inventories(date_style="dates"))
def test_dates_style_has_no_months(inv: Inventory) -> None:
    assert inv.episode.onset_months_before_assessment is None
    assert all(e.months_before_onset is None for e in inv.events)


@FAST
@given(inventories(populations=("late_life", "bipolar")))
def test_fixed_populations(inv: Inventory) -> None:
    assert inv.patient.populations == ("late_life", "bipolar")
    assert inv.patient.age is None or inv.patient.age >= 60


@FAST
@given(inventories(populations=st.just(("adolescent",)), assessment_dates=date(2024, 3, 1)))
def test_population_strategy_and_fixed_assessment(inv: Inventory) -> None:
    assert inv.patient.populations == ("adolescent",)
    assert inv.patient.age is None or 12 <= inv.patient.age <= 18
    assert inv.episode.assessment_date == date(2024, 3, 1)


@FAST
@given(inventories(id_strategy=st.sampled_from("abcdefghijklmnopqrstuvwxyz"), max_persons=3))
def test_custom_ids(inv: Inventory) -> None:
    roundtrip(inv)
    assert all(len(p.id) == 1 for p in inv.persons)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_persons": 3, "max_persons": 2},
        {"max_persons": 1, "with_death": True, "with_dispute": True},
        {"max_events": 1, "with_death": True, "with_recent_transition": True},
        {"min_persons": -1},
        {"with_death": "yes"},
        {"date_style": "weeks"},
        {"populations": ("adult", "martian")},
        {"assessment_dates": date(1, 1, 1)},
    ],
)
def test_bad_knobs_fail_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        inventories(**kwargs)


def test_reprs_read_as_calls() -> None:
    assert repr(inventories()) == "inventories()"
    assert repr(inventories(with_death=True, max_persons=3)) == (
        "inventories(max_persons=3, with_death=True)"
    )
    assert repr(inventory_dicts(exclude_defaults=None)) == "inventory_dicts(exclude_defaults=None)"
    assert repr(persons(deceased=True)) == "persons(deceased=True)"
    assert repr(invalid_inventories()) == "invalid_inventories()"


def test_counterexamples_shrink_to_small_inventories() -> None:
    """A property failing on 'two persons, one in the inner ring' shrinks to just that."""
    inv = find(
        inventories(),
        lambda i: len(i.persons) >= 2 and any(p.ring == "inner" for p in i.persons),
        settings=settings(database=None, derandomize=True, max_examples=500),
    )
    assert [p.ring for p in inv.persons] == [None, "inner"]
    assert not inv.events and not inv.relationships and not inv.episode.measures
    assert inv.model_dump(mode="json", exclude_defaults=True) == {
        "patient": {"populations": ["adult"]},
        "episode": {"assessment_date": "2000-01-01"},
        "persons": [
            {"id": "a", "role": "spouse_partner"},
            {"id": "a-2", "role": "spouse_partner", "ring": "inner"},
        ],
    }


# ---------------------------------------------------------------- invalid inventories
@CI
@given(invalid_inventories())
def test_invalid_inventories_raise_exactly_the_expected_code(case: InvalidInventory) -> None:
    data, code = case
    with pytest.raises(InventoryError) as info:
        parse_inventory(data)
    assert info.value.code == code
    assert [i.code for i in info.value.issues] == [code], info.value.issues


@pytest.mark.parametrize("code", sorted(INVALID_CODES))
def test_every_code_is_reachable(code: str) -> None:
    @settings(FAST, max_examples=15)
    @given(invalid_inventories(codes=[code]))
    def check(case: InvalidInventory) -> None:
        assert case.code == code
        with pytest.raises(InventoryError) as info:
            parse_inventory(json.dumps(case.data))
        assert [i.code for i in info.value.issues] == [code], info.value.issues

    check()


def test_invalid_inventories_checks_codes() -> None:
    with pytest.raises(InvalidArgument):
        invalid_inventories(codes=["inventory.nonsense"])


@CI
@given(json_values())
def test_fuzzed_json_only_raises_input_errors(value: Any) -> None:
    with contextlib.suppress(InputError):
        parse_inventory(json.dumps(value))
    if isinstance(value, dict):
        with contextlib.suppress(InputError):
            parse_inventory(value)


# ---------------------------------------------------------------- rejection rate
def _discards(strategy: st.SearchStrategy[Any], n: int = 200) -> dict[str, int]:
    """Run ``n`` examples and count the draws hypothesis started but threw away.

    A counting wrapper sees every draw that starts; the test body every draw accepted.
    hypothesis's run statistics (``hypothesis.statistics.collector``, the data behind
    ``--hypothesis-show-statistics``) split the discards into *invalid* (a filter or
    ``assume`` rejected the draw) and *overrun* (the draw outgrew the size cap hypothesis
    puts on its first, deliberately small, examples).
    """
    counts = {"started": 0, "accepted": 0, "invalid": 0, "overrun": 0}
    stats: list[Any] = []

    @st.composite
    def counted(draw: st.DrawFn) -> Any:
        counts["started"] += 1
        return draw(strategy)

    @settings(max_examples=n, deadline=None, derandomize=True, database=None)
    @given(counted())
    def body(_value: Any) -> None:
        counts["accepted"] += 1

    try:
        from hypothesis.statistics import collector
    except ImportError:  # pragma: no cover - statistics internals moved
        body()
    else:
        with cast(Any, collector).with_value(stats.append):  # typed as holding None
            body()
    for run in stats:
        for case in run.get("generate-phase", {}).get("test-cases", []):
            if case["status"] in ("invalid", "overrun"):
                counts[case["status"]] += 1
    if not stats:  # pragma: no cover - no split available: count every discard as rejected
        counts["invalid"] = counts["started"] - counts["accepted"]
    return counts


@pytest.mark.parametrize(
    "strategy",
    [
        inventories(),
        inventories(with_death=True, with_dispute=True, with_recent_transition=True),
        inventories(with_death=False, with_dispute=False, with_recent_transition=False),
        inventories(unknowns=False, date_style="dates"),
        inventory_dicts(),
        invalid_inventories(),
    ],
    ids=repr,
)
def test_rejection_rate_below_5_percent(strategy: st.SearchStrategy[Any]) -> None:
    """No draw is rejected by a filter or ``assume``: the strategies are valid by
    construction (``st.builds`` on the models rejected 37 %)."""
    c = _discards(strategy)
    rejected = c["invalid"] / c["started"]
    discarded = (c["started"] - c["accepted"]) / c["started"]
    print(
        f"\n{strategy!r}: {c['started']} draws, {c['invalid']} rejected ({rejected:.1%}), "
        f"{c['overrun']} overrun, {c['started'] - c['accepted']} discarded ({discarded:.1%})"
    )
    assert rejected < 0.05
    # Overruns are hypothesis's own size control, not invalid data; bound them loosely.
    assert discarded < 0.10
